//! The job summary for `GITHUB_STEP_SUMMARY`: outcome, error, duration, results and the tail of
//! the log, as Markdown.
//!
//! Untrusted text never reaches Markdown as Markdown: short values in the table are
//! HTML-escaped (and have Markdown's punctuation neutralised), longer text goes into fenced code
//! blocks whose fence is longer than any backtick run inside. The whole summary stays under
//! 1 MiB, past which GitHub drops it, whatever the log size.

use std::fmt::Write;

use crate::duration::human;
use crate::report::RunReport;
use crate::text::prefix_bytes;

/// GitHub's limit is 1 MiB per step; we stay well under it.
pub const MAX_SUMMARY_BYTES: usize = 1024 * 1024;
/// The log tail shown: at most this many messages…
const TAIL_MESSAGES: usize = 200;
/// …and at most this many bytes.
const TAIL_BYTES: usize = 256 * 1024;
const MAX_BLOCK_BYTES: usize = 128 * 1024;

/// Escapes text for an HTML/Markdown table cell: entities for `& < > " '`, and backslash or
/// entity forms for Markdown punctuation and the cell separator.
pub fn escape_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '|' => out.push_str("&#124;"),
            '\n' | '\r' => out.push(' '),
            // Terminal escapes and other control characters mean nothing in Markdown.
            c if c.is_control() => {}
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '!' | '~' | '{' | '}' | '+'
            | '-' | '.' => {
                out.push('\\');
                out.push(c);
            }
            other => out.push(other),
        }
    }
    out
}

/// A fenced code block that no content can close early.
pub fn fenced(text: &str, info: &str) -> String {
    let text = prefix_bytes(text, MAX_BLOCK_BYTES);
    let longest_run = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat((longest_run + 1).max(3));
    format!("{fence}{info}\n{text}\n{fence}\n")
}

/// Failed tests listed in the summary's table.
const LISTED_FAILURES: usize = 100;

/// The tests: counts, then a table of failures, each linked to its line on GitHub when the
/// file is known (`blob_base` is `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/blob/$GITHUB_SHA`).
fn tests_section(out: &mut String, report: &RunReport, blob_base: Option<&str>) {
    let Some(run) = &report.tests else {
        return;
    };
    let counts = run.counts();
    let _ = writeln!(
        out,
        "**Tests** ({}): {} passed, {} failed, {} skipped, {} in all\n",
        escape_inline(&run.framework),
        counts.passed,
        counts.failed,
        counts.skipped,
        counts.total
    );
    if let Some(notes) = &run.notes {
        let _ = writeln!(out, "_{}_\n", escape_inline(notes));
    }
    if counts.failed == 0 {
        return;
    }
    out.push_str("| Failed test | Where | Message |\n|---|---|---|\n");
    for test in run.failures().take(LISTED_FAILURES) {
        let place = match (&test.file, blob_base) {
            (Some(file), Some(base)) => format!(
                "[{}]({base}/{}#L{})",
                escape_inline(&format!("{}:{}", file.path, file.line)),
                file.path
                    .split('/')
                    .map(url_path_segment)
                    .collect::<Vec<_>>()
                    .join("/"),
                file.line
            ),
            (Some(file), None) => escape_inline(&format!("{}:{}", file.path, file.line)),
            (None, _) => test
                .location
                .as_deref()
                .map(escape_inline)
                .unwrap_or_default(),
        };
        let message = test
            .message
            .as_deref()
            .and_then(|m| m.lines().next())
            .map(|line| escape_inline(&crate::text::cut(line, 200)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {place} | {message} |",
            escape_inline(&test.title())
        );
    }
    if counts.failed > LISTED_FAILURES {
        let _ = writeln!(
            out,
            "\n…and {} more failed tests (see the step log or the JUnit report).",
            counts.failed - LISTED_FAILURES
        );
    }
    out.push('\n');
}

/// A path segment as it may stand in a URL: unreserved characters kept, the rest escaped.
fn url_path_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A step of many tasks: one row per task (the first 100; the rest are counted).
fn tasks_section(out: &mut String, report: &RunReport) {
    const MAX_ROWS: usize = 100;
    if report.units.is_empty() {
        return;
    }
    out.push_str(
        "| Task | Outcome | Exit | Duration | Path |
|---|---|---|---|---|
",
    );
    for unit in report.units.iter().take(MAX_ROWS) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            escape_inline(&unit.label),
            escape_inline(&unit.report.headline()),
            unit.report.outcome.exit_code(),
            human(unit.report.duration),
            escape_inline(unit.report.task_path().unwrap_or("")),
        );
    }
    if report.units.len() > MAX_ROWS {
        let _ = writeln!(
            out,
            "
{} more tasks",
            report.units.len() - MAX_ROWS
        );
    }
    out.push('\n');
}

pub fn render_summary(report: &RunReport, blob_base: Option<&str>) -> String {
    let mut out = String::new();
    let icon = if report.outcome.is_success() {
        "✅"
    } else {
        "❌"
    };
    let _ = writeln!(
        out,
        "### {icon} Luau: {}\n",
        escape_inline(&report.headline())
    );
    out.push_str("| | |\n|---|---|\n");
    let _ = writeln!(out, "| Exit code | {} |", report.outcome.exit_code());
    if let Some(state) = report.state() {
        let _ = writeln!(out, "| State | {} |", escape_inline(state.as_str()));
    }
    if let Some(code) = report.error_code() {
        let _ = writeln!(out, "| Error code | {} |", escape_inline(code.as_str()));
    }
    if report.task.is_some() || !report.units.is_empty() {
        let _ = writeln!(out, "| Duration | {} |", human(report.duration));
    }
    if let Some(version) = report.place_version {
        let _ = writeln!(out, "| Place version | {version} |");
    }
    if let Some(path) = report.task_path() {
        let _ = writeln!(out, "| Task | {} |", escape_inline(path));
    }
    let _ = writeln!(out, "| Log messages | {} |", report.log_count());
    if let Some(place) = &report.error_location {
        let _ = writeln!(
            out,
            "| Error at | {} |",
            escape_inline(&format!("{}:{}", place.path, place.line))
        );
    }
    if let Some(cut) = &report.logs_cut {
        let _ = writeln!(out, "| Logs cut | {} |", escape_inline(cut));
    }
    out.push('\n');
    tasks_section(&mut out, report);
    tests_section(&mut out, report, blob_base);

    if let Some(message) = report.error_message() {
        out.push_str("**Error**\n\n");
        out.push_str(&fenced(message, ""));
        out.push('\n');
    }
    if let Some(problem) = &report.problem {
        out.push_str("**Problem**\n\n");
        out.push_str(&fenced(problem, ""));
        out.push('\n');
    }
    if let (Some(results), None) = (report.results_json(), &report.tests) {
        out.push_str("**Results**\n\n");
        // Pretty-printing means parsing: only for results small enough to read anyway.
        let pretty = (results.len() <= MAX_BLOCK_BYTES)
            .then(|| serde_json::from_str::<serde_json::Value>(&results).ok())
            .flatten()
            .and_then(|value| serde_json::to_string_pretty(&value).ok())
            .unwrap_or(results);
        out.push_str(&fenced(&pretty, "json"));
        out.push('\n');
    }
    if !report.logs.is_empty() {
        let mut tail: Vec<String> = Vec::new();
        let mut bytes = 0;
        for message in report.logs.iter().rev().take(TAIL_MESSAGES) {
            let line = format!("[{}] {}", message.message_type, message.message);
            if bytes + line.len() > TAIL_BYTES {
                break;
            }
            bytes += line.len() + 1;
            tail.push(line);
        }
        tail.reverse();
        let _ = writeln!(
            out,
            "<details><summary>Log tail ({} of {} messages)</summary>\n",
            tail.len(),
            report.logs.len()
        );
        out.push_str(&fenced(&tail.join("\n"), ""));
        out.push_str("\n</details>\n");
    }
    if out.len() > MAX_SUMMARY_BYTES {
        // Unreachable with the caps above; kept so the bound holds if they change.
        out = format!(
            "{}\n\n(summary cut)\n",
            prefix_bytes(&out, MAX_SUMMARY_BYTES - 64)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_outgrow_backtick_runs() {
        let block = fenced("a ```` b", "");
        assert!(block.starts_with("`````\n"));
        assert!(block.ends_with("\n`````\n"));
        assert!(fenced("plain", "json").starts_with("```json\n"));
    }

    #[test]
    fn inline_text_cannot_be_markup() {
        let escaped = escape_inline("<img src=x> | **bold** [link](http://x)");
        assert!(!escaped.contains('<'));
        assert!(!escaped.contains('|'));
        assert!(!escaped.contains("**"));
        assert!(escaped.contains("&lt;img"));
    }
}

#[cfg(test)]
mod golden {
    use super::*;

    use crate::api::model::{LogMessage, MessageType, Task, TaskError, TaskErrorCode, TaskOutput};
    use crate::outcome::Outcome;
    use crate::results::FileLine;

    fn log(level: MessageType, text: &str) -> LogMessage {
        LogMessage {
            message: text.into(),
            create_time: None,
            message_type: level,
        }
    }

    #[test]
    fn golden_failed_run() {
        let mut report = RunReport::new(Outcome::ScriptError);
        report.task = Some(Task {
            path: "universes/1/places/2/versions/3/luau-execution-sessions/s/tasks/s".into(),
            state: crate::api::model::TaskState::Failed,
            error: Some(TaskError {
                code: TaskErrorCode::ScriptError,
                message: "TaskScript:2: boom <b>".into(),
            }),
            ..Task::default()
        });
        report.duration = std::time::Duration::from_millis(3200);
        report.place_version = Some(3);
        report.error_location = Some(FileLine {
            path: "tasks/run.luau".into(),
            line: 2,
        });
        report.logs_cut = Some("the server kept paging".into());
        report.problem = Some("and then some".into());
        report.logs = vec![
            log(MessageType::Output, "hello"),
            log(MessageType::Error, "TaskScript:2: boom <b>"),
        ];
        let expected = "\
### ❌ Luau: FAILED \\(SCRIPT\\_ERROR\\)

| | |
|---|---|
| Exit code | 1 |
| State | FAILED |
| Error code | SCRIPT\\_ERROR |
| Duration | 3.2s |
| Place version | 3 |
| Task | universes/1/places/2/versions/3/luau\\-execution\\-sessions/s/tasks/s |
| Log messages | 2 |
| Error at | tasks/run\\.luau:2 |
| Logs cut | the server kept paging |

**Error**

```
TaskScript:2: boom <b>
```

**Problem**

```
and then some
```

<details><summary>Log tail (2 of 2 messages)</summary>

```
[OUTPUT] hello
[ERROR] TaskScript:2: boom <b>
```

</details>
";
        assert_eq!(render_summary(&report, None), expected);
    }

    #[test]
    fn golden_complete_run_with_results() {
        let mut report = RunReport::new(Outcome::Complete);
        report.task = Some(Task {
            state: crate::api::model::TaskState::Complete,
            output: Some(TaskOutput::from_values(&[serde_json::json!({"ok": true})])),
            ..Task::default()
        });
        let expected = "\
### ✅ Luau: COMPLETE

| | |
|---|---|
| Exit code | 0 |
| State | COMPLETE |
| Duration | 0ms |
| Log messages | 0 |

**Results**

```json
[
  {
    \"ok\": true
  }
]
```

";
        assert_eq!(render_summary(&report, None), expected);
        // Without a task, nothing ran: no duration.
        let skipped = render_summary(&RunReport::new(Outcome::Skipped), None);
        assert!(!skipped.contains("Duration"), "{skipped}");
    }

    #[test]
    fn long_sections_are_cut_where_they_say() {
        // The log tail: the last 200 messages…
        let mut report = RunReport::new(Outcome::Complete);
        report.logs = (0..250)
            .map(|i| log(MessageType::Output, &format!("line {i}")))
            .collect();
        let out = render_summary(&report, None);
        assert!(out.contains("Log tail (200 of 250 messages)"), "{out}");
        assert!(out.contains("[OUTPUT] line 50\n") && !out.contains("[OUTPUT] line 49\n"));
        // …within 256 KiB: three messages of 100 KB leave room for two.
        report.logs = (0..3)
            .map(|i| log(MessageType::Output, &format!("{i}{}", "x".repeat(100_000))))
            .collect();
        let out = render_summary(&report, None);
        assert!(
            out.contains("Log tail (2 of 3 messages)"),
            "{}",
            &out[..200]
        );
        assert!(!out.contains("(summary cut)"));
        // Results up to 128 KiB are pretty-printed; over it, shown as sent.
        let mut report = RunReport::new(Outcome::Complete);
        let mid = serde_json::json!([{"k": "v".repeat(10_000)}]);
        report.task = Some(Task {
            state: crate::api::model::TaskState::Complete,
            output: Some(TaskOutput::from_values(&[mid])),
            ..Task::default()
        });
        let out = render_summary(&report, None);
        assert!(
            out.contains("\"k\": \"vvv"),
            "{}",
            crate::text::cut(&out, 300)
        );
        let mut report = RunReport::new(Outcome::Complete);
        let big = serde_json::json!([{"k": "v".repeat(140_000)}]);
        report.task = Some(Task {
            state: crate::api::model::TaskState::Complete,
            output: Some(TaskOutput::from_values(&[big])),
            ..Task::default()
        });
        let out = render_summary(&report, None);
        assert!(
            out.contains("[[{\"k\":\"vvv"),
            "{}",
            crate::text::cut(&out, 300)
        );
        assert!(out.len() < MAX_SUMMARY_BYTES);
    }

    #[test]
    fn a_hundred_rows_then_a_count() {
        let unit = |i: usize| crate::report::UnitReport {
            label: format!("tasks/{i}.luau"),
            place_id: 2,
            report: RunReport::new(Outcome::Complete),
        };
        let mut report = RunReport::new(Outcome::Complete);
        report.units = (0..102).map(unit).collect();
        let out = render_summary(&report, None);
        assert!(
            out.contains("| Duration |"),
            "a step of many tasks ran for a time"
        );
        assert_eq!(out.matches("| tasks/").count(), 100);
        assert!(out.contains("\n2 more tasks\n"), "{out}");
        report.units.truncate(100);
        assert!(!render_summary(&report, None).contains("more tasks"));

        let mut report = crate::render::junit::tests::report_with_tests();
        let run = report.tests.as_mut().unwrap();
        let failed = run.tests[1].clone();
        run.tests = vec![failed; 101];
        let out = render_summary(&report, None);
        assert_eq!(out.matches("| Tests › math › divides |").count(), 100);
        assert!(out.contains("…and 1 more failed tests"), "{out}");
        report.tests.as_mut().unwrap().tests.truncate(100);
        assert!(!render_summary(&report, None).contains("more failed tests"));
    }

    #[test]
    fn golden_tests_section() {
        let report = crate::render::junit::tests::report_with_tests();
        let mut out = String::new();
        tests_section(
            &mut out,
            &report,
            Some("https://github.com/octo/game/blob/abc123"),
        );
        let expected = "\
**Tests** (testez): 1 passed, 1 failed, 1 skipped, 3 in all

| Failed test | Where | Message |
|---|---|---|
| Tests › math › divides | [src/tests/math\\.spec\\.luau:7](https://github.com/octo/game/blob/abc123/src/tests/math.spec.luau#L7) | ReplicatedStorage\\.Tests\\.math\\.spec:7: Expected 2, got &lt;3&gt; &amp; \\[31m |

";
        assert_eq!(out, expected);
    }
}
