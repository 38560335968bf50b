//! The job summary for `GITHUB_STEP_SUMMARY`, as Markdown, in the order a reader wants it: the
//! verdict and counts in one line, then what failed (each test on a link to its line, with its
//! message), then the results of a plain script, and the rest folded away (task details, the
//! tail of the log).
//!
//! Untrusted text never reaches Markdown as Markdown: short values in the table are
//! HTML-escaped (and have Markdown's punctuation neutralised), longer text goes into fenced code
//! blocks whose fence is longer than any backtick run inside. The whole summary stays under
//! 1 MiB, past which GitHub drops it, whatever the log size.

use std::fmt::Write;

use crate::duration::human;
use crate::report::{StepReport, TaskReport};
use crate::results::{Brief, FileLine, Locator};
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
/// Tasks listed in a table.
const LISTED_TASKS: usize = 100;

/// The verdict, one line: the counts first when tests ran (`2 failed, 3 passed, 1 skipped`),
/// else the headline; tasks that failed beyond their tests; how long it took.
fn verdict(report: &StepReport) -> String {
    let counted = report
        .tests
        .as_ref()
        .filter(|run| run.error.is_none() && run.counts().passed + run.counts().failed > 0);
    let mut line = match counted {
        Some(run) => {
            let counts = run.counts();
            let mut parts = Vec::new();
            if counts.failed > 0 {
                parts.push(format!("{} failed", counts.failed));
            }
            parts.push(format!("{} passed", counts.passed));
            if counts.skipped > 0 {
                parts.push(format!("{} skipped", counts.skipped));
            }
            parts.join(", ")
        }
        None => report.headline(),
    };
    let failed_tasks = report.failed_tasks().count();
    if counted.is_some() && failed_tasks > 0 {
        line.push_str(&format!(
            " · {failed_tasks} of {} tasks failed",
            report.labelled_tasks().count()
        ));
    }
    if report.ran() {
        line.push_str(&format!(" — {}", human(report.duration)));
    }
    line
}

/// A repository file and line as a link to its line on GitHub (`blob_base` is
/// `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/blob/$GITHUB_SHA`), or as text.
fn file_link(file: &FileLine, blob_base: Option<&str>) -> String {
    let text = escape_inline(&format!("{}:{}", file.path, file.line));
    match blob_base {
        Some(base) => format!(
            "[{text}]({base}/{}#L{})",
            file.path
                .split('/')
                .map(url_path_segment)
                .collect::<Vec<_>>()
                .join("/"),
            file.line
        ),
        None => text,
    }
}

/// The failed tests: each with its place and its message as it reads first (without the
/// location it starts with, with where a helper raised it).
fn failures_section(out: &mut String, report: &StepReport, blob_base: Option<&str>) {
    let Some(run) = &report.tests else {
        return;
    };
    if let Some(omission) = run.omission() {
        let _ = writeln!(out, "_{}_\n", escape_inline(&omission));
    }
    if let Some(notes) = &run.notes {
        let _ = writeln!(out, "_{}_\n", escape_inline(notes));
    }
    let failed = run.counts().failed;
    if failed == 0 {
        return;
    }
    out.push_str("| Failed test | Where | Message |\n|:--|:--|:--|\n");
    for test in run.failures().take(LISTED_FAILURES) {
        let place = match &test.file {
            Some(file) => file_link(file, blob_base),
            None => test
                .location
                .as_deref()
                .map(escape_inline)
                .unwrap_or_default(),
        };
        let message = match &test.brief {
            Some(brief) => brief.one_line(),
            None => test
                .message
                .as_deref()
                .and_then(|m| m.lines().next())
                .unwrap_or_default()
                .to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {place} | {} |",
            escape_inline(&test.title()),
            escape_inline(&crate::text::cut(&message, 200))
        );
    }
    if failed > LISTED_FAILURES {
        let _ = writeln!(
            out,
            "\n…and {} more failed tests (see the step log or the JUnit report).",
            failed - LISTED_FAILURES
        );
    }
    out.push('\n');
}

/// How many of the least covered files the summary lists.
const LEAST_COVERED: usize = 10;

/// Coverage: the total, what was cut, then the files with the least coverage, each linked to
/// its first line that never ran.
fn coverage_section(out: &mut String, report: &StepReport, blob_base: Option<&str>) {
    let Some(coverage) = &report.coverage else {
        return;
    };
    let figure = crate::coverage::headline(coverage);
    let _ = writeln!(
        out,
        "**Coverage:** {}
",
        escape_inline(&figure)
    );
    for note in &coverage.notes {
        let _ = writeln!(
            out,
            "_{}_
",
            escape_inline(note)
        );
    }
    let least = coverage.least_covered(LEAST_COVERED);
    if least.is_empty() {
        return;
    }
    out.push_str("| Least covered | Lines run | Missed |\n|:--|--:|--:|\n");
    for (path, file, totals) in least {
        let place = match file.first_missed() {
            Some(line) => {
                let at = FileLine {
                    path: path.to_owned(),
                    line,
                };
                file_link(&at, blob_base)
            }
            None => escape_inline(path),
        };
        let percent = totals
            .percent()
            .map_or_else(String::new, crate::coverage::format_percent);
        let _ = writeln!(
            out,
            "| {place} | {percent}% ({} of {}) | {} |",
            totals.lines_hit,
            totals.lines_found,
            totals.lines_found - totals.lines_hit
        );
    }
    out.push('\n');
}

/// The tasks of a step that failed beyond their tests (a script that crashed), each with its
/// error and where it points.
fn failed_tasks_section(out: &mut String, report: &StepReport, blob_base: Option<&str>) {
    let failed: Vec<_> = report.failed_tasks().collect();
    if failed.is_empty() {
        return;
    }
    out.push_str("| Failed task | Outcome | Where | Error |\n|:--|:--|:--|:--|\n");
    for task in failed.iter().take(LISTED_TASKS) {
        failed_task_row(out, task, blob_base);
    }
    if failed.len() > LISTED_TASKS {
        let _ = writeln!(
            out,
            "\n…and {} more failed tasks.",
            failed.len() - LISTED_TASKS
        );
    }
    out.push('\n');
}

/// A failed task's row: its label, headline, where its error points, and the error.
fn failed_task_row(out: &mut String, task: &TaskReport, blob_base: Option<&str>) {
    let error = task
        .error_message()
        .map(str::to_owned)
        .or_else(|| task.problem.as_ref().map(ToString::to_string))
        .unwrap_or_default();
    // Its location stands in the Where column: the message without it, as for a test.
    let error = match &task.error_location {
        Some(_) => Brief::of(&error, None, None, &Locator::default()).headline,
        None => error.lines().next().unwrap_or_default().to_owned(),
    };
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} |",
        escape_inline(task.name()),
        escape_inline(&task.headline()),
        task.error_location
            .as_ref()
            .map(|file| file_link(file, blob_base))
            .unwrap_or_default(),
        escape_inline(&crate::text::cut(&error, 200)),
    );
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

/// What went wrong when no failed test or task says it: the task's error (with where it
/// points), or what stopped the run, in full.
fn problem_section(out: &mut String, report: &StepReport, blob_base: Option<&str>) {
    let tests_say_it = report
        .tests
        .as_ref()
        .is_some_and(|run| run.counts().failed > 0 && run.error.is_none());
    if tests_say_it || report.failed_tasks().next().is_some() {
        return;
    }
    if let Some(message) = report.error_message() {
        out.push_str(&fenced(message, ""));
        if let Some(place) = report.error_location() {
            let _ = writeln!(out, "\nat {}", file_link(place, blob_base));
        }
        out.push('\n');
    }
    if let Some(problem) = &report.problem {
        out.push_str(&fenced(&problem.to_string(), ""));
        out.push('\n');
    }
}

/// The rest, folded away: the task's metadata (or each task's, for a step of many).
fn details_section(out: &mut String, report: &StepReport) {
    let _ = writeln!(out, "<details><summary>Task details</summary>\n");
    // The outcome is the table's header row: no empty stripe above the rows.
    let _ = writeln!(
        out,
        "| Outcome | {} (exit {}) |\n|:--|:--|",
        escape_inline(&report.headline()),
        report.outcome.exit_code()
    );
    if let Some(state) = report.state() {
        let _ = writeln!(out, "| State | {} |", escape_inline(state.as_str()));
    }
    if let Some(code) = report.error_code() {
        let _ = writeln!(out, "| Error code | {} |", escape_inline(code.as_str()));
    }
    if let Some(run) = &report.tests {
        let _ = writeln!(
            out,
            "| Tests | {} ({}, {} in all) |",
            run.counts(),
            escape_inline(&run.framework),
            run.counts().total
        );
    }
    if report.ran() {
        let _ = writeln!(out, "| Duration | {} |", human(report.duration));
    }
    if let Some(version) = report.place_version {
        let _ = writeln!(out, "| Place version | {version} |");
    }
    if let Some(path) = report.task_path() {
        let _ = writeln!(out, "| Task | {} |", escape_inline(path));
    }
    let _ = writeln!(out, "| Log messages | {} |", report.log_count());
    if let Some(cut) = report.logs_cut() {
        let _ = writeln!(out, "| Logs cut | {} |", escape_inline(&cut.to_string()));
    }
    out.push('\n');
    tasks_table(out, report);
    out.push_str("</details>\n\n");
}

/// A step of many tasks: one row per task (the first 100; the rest are counted).
fn tasks_table(out: &mut String, report: &StepReport) {
    let total = report.labelled_tasks().count();
    if total == 0 {
        return;
    }
    out.push_str("| Task | Outcome | Exit | Duration | Path |\n|:--|:--|--:|--:|:--|\n");
    for task in report.labelled_tasks().take(LISTED_TASKS) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            escape_inline(task.name()),
            escape_inline(&task.headline()),
            task.outcome.exit_code(),
            human(task.duration),
            escape_inline(task.task_path().unwrap_or("")),
        );
    }
    if total > LISTED_TASKS {
        let _ = writeln!(out, "\n{} more tasks", total - LISTED_TASKS);
    }
    out.push('\n');
}

/// The last log lines, folded away.
fn log_tail_section(out: &mut String, report: &StepReport) {
    let Some(logs) = report
        .own_task()
        .map(|task| &task.logs)
        .filter(|logs| !logs.is_empty())
    else {
        return;
    };
    let mut tail: Vec<String> = Vec::new();
    let mut bytes = 0;
    for message in logs.iter().rev().take(TAIL_MESSAGES) {
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
        logs.len()
    );
    out.push_str(&fenced(&tail.join("\n"), ""));
    out.push_str("\n</details>\n");
}

/// The summary: the verdict first, then what failed (tests, tasks, or the run's own error),
/// the results of a plain script, and the rest folded away (task details, log tail).
pub fn render_summary(report: &StepReport, blob_base: Option<&str>) -> String {
    let mut out = String::new();
    let icon = if report.outcome.is_success() {
        "✅"
    } else {
        "❌"
    };
    let _ = writeln!(out, "### {icon} {}\n", escape_inline(&verdict(report)));
    failures_section(&mut out, report, blob_base);
    failed_tasks_section(&mut out, report, blob_base);
    problem_section(&mut out, report, blob_base);
    coverage_section(&mut out, report, blob_base);
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
    details_section(&mut out, report);
    log_tail_section(&mut out, report);
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

    /// The shared fixture, with each failure read as `TestRun::locate` reads it.
    fn report() -> StepReport {
        let mut report = crate::render::junit::tests::report_with_tests();
        if let Some(run) = &mut report.tests {
            for test in &mut run.tests {
                test.location = test
                    .message
                    .as_ref()
                    .map(|_| "ReplicatedStorage.Tests.math.spec:7".to_owned());
                test.brief = test.message.as_deref().map(|message| {
                    Brief::of(
                        message,
                        test.file.as_ref(),
                        test.location.as_deref(),
                        &Locator::default(),
                    )
                });
            }
        }
        report
    }

    use crate::api::model::{LogMessage, MessageType, Task, TaskOutput};
    use crate::outcome::Outcome;

    fn log(level: MessageType, text: &str) -> LogMessage {
        LogMessage {
            message: text.into(),
            create_time: None,
            message_type: level,
        }
    }

    #[test]
    fn long_sections_are_cut_where_they_say() {
        // The log tail: the last 200 messages…
        let mut report = StepReport::new(Outcome::Complete);
        report.own_task_mut().logs = (0..250)
            .map(|i| log(MessageType::Output, &format!("line {i}")))
            .collect();
        let out = render_summary(&report, None);
        assert!(out.contains("Log tail (200 of 250 messages)"), "{out}");
        assert!(out.contains("[OUTPUT] line 50\n") && !out.contains("[OUTPUT] line 49\n"));
        // …within 256 KiB: three messages of 100 KB leave room for two.
        report.tasks[0].logs = (0..3)
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
        let mut report = StepReport::new(Outcome::Complete);
        let mid = serde_json::json!([{"k": "v".repeat(10_000)}]);
        report.own_task_mut().task = Some(Task {
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
        let mut report = StepReport::new(Outcome::Complete);
        let big = serde_json::json!([{"k": "v".repeat(140_000)}]);
        report.own_task_mut().task = Some(Task {
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

    fn unit(label: &str, report: TaskReport) -> TaskReport {
        report.labelled(label, 2)
    }

    fn complete() -> TaskReport {
        TaskReport::new(Outcome::Complete, crate::api::Service::OpenCloud)
    }

    fn crashed(message: &str) -> TaskReport {
        let mut report = TaskReport::new(Outcome::ScriptError, crate::api::Service::OpenCloud);
        report.task = Some(Task {
            state: crate::api::model::TaskState::Failed,
            error: Some(crate::api::model::TaskError {
                code: crate::api::model::TaskErrorCode::ScriptError,
                message: message.into(),
            }),
            ..Task::default()
        });
        report
    }

    fn first_line(out: &str) -> &str {
        out.lines().next().unwrap_or_default()
    }

    #[test]
    fn the_verdict_counts_each_kind_and_the_tasks_that_failed_beyond_their_tests() {
        let mut report = report();
        let out = render_summary(&report, None);
        assert!(
            first_line(&out).starts_with("### ❌ 1 failed, 1 passed, 1 skipped — "),
            "{out}"
        );
        // A task that crashed beside the tests is counted in the verdict and listed.
        report.tasks.extend([
            unit("tasks/a.luau", complete()),
            unit("tasks/b.luau", crashed("TaskScript:3: boom")),
        ]);
        let out = render_summary(&report, None);
        assert!(
            first_line(&out).contains(" · 1 of 2 tasks failed — "),
            "{out}"
        );
        assert!(out.contains("| Failed task |"), "{out}");
        assert!(
            out.lines()
                .any(|l| l.starts_with("| tasks/b\\.luau |") && l.contains("boom")),
            "{out}"
        );
        // Passing only: no failed or skipped part, and no task table.
        let mut passing = crate::render::junit::tests::report_with_tests();
        passing.outcome = Outcome::Complete;
        for test in &mut passing.tests.as_mut().unwrap().tests {
            test.status = crate::results::TestStatus::Passed;
        }
        let out = render_summary(&passing, None);
        assert!(first_line(&out).starts_with("### ✅ 3 passed — "), "{out}");
        assert!(!out.contains("Failed task"), "{out}");
    }

    #[test]
    fn the_runs_own_error_shows_only_when_no_test_or_task_says_it() {
        let out = render_summary(
            &StepReport::of_one(crashed("TaskScript:2: the script's own error")),
            None,
        );
        assert!(
            out.contains("```\nTaskScript:2: the script's own error\n```"),
            "{out}"
        );
        // A failed test says what failed: the run's problem is not repeated as a block.
        let mut report = report();
        report.problem = Some(crate::report::Problem::Tests(
            crate::results::TestsProblem::Failed {
                failed: 1,
                total: 3,
            },
        ));
        assert!(!render_summary(&report, None).contains("```\n1 of 3 tests failed"));
    }

    #[test]
    fn failed_tasks_past_a_hundred_are_counted() {
        let mut report = StepReport::new(Outcome::ScriptError);
        report.tasks = (0..101)
            .map(|i| unit(&format!("tasks/{i}.luau"), crashed("TaskScript:1: x")))
            .collect();
        let out = render_summary(&report, None);
        // The failed-task table's rows end with the error; the details table's do not.
        assert_eq!(out.matches("|  | TaskScript:1: x |").count(), 100, "{out}");
        assert!(out.contains("…and 1 more failed tasks."), "{out}");
        report.tasks.truncate(100);
        assert!(!render_summary(&report, None).contains("more failed tasks"));
    }

    #[test]
    fn a_hundred_rows_then_a_count() {
        let unit = |i: usize| unit(&format!("tasks/{i}.luau"), complete());
        let mut report = StepReport::new(Outcome::Complete);
        report.tasks = (0..102).map(unit).collect();
        let out = render_summary(&report, None);
        assert!(
            out.contains("| Duration |"),
            "a step of many tasks ran for a time"
        );
        assert_eq!(out.matches("| tasks/").count(), 100);
        assert!(out.contains("\n2 more tasks\n"), "{out}");
        report.tasks.truncate(100);
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
    fn hostile_names_and_messages_stay_text() {
        let mut report = report();
        if let Some(run) = &mut report.tests {
            for test in &mut run.tests {
                test.path = vec!["<img src=x>|**b**".into(), "[l](http://x)".into()];
                if let Some(brief) = &mut test.brief {
                    brief.headline = "<script>`x`</script> | # h".into();
                    brief.raised_at = Some("a|b<i>".into());
                }
            }
        }
        let out = render_summary(&report, None);
        let row = out
            .lines()
            .find(|l| l.contains("script"))
            .expect("the failure's row");
        assert!(
            !row.contains('<') && !row.contains("**") && !row.contains("]("),
            "{row}"
        );
        // Four cell separators, none from the text.
        assert_eq!(row.matches('|').count(), 4, "{row}");
    }

    #[test]
    fn golden_failed_tests() {
        let out = render_summary(&report(), Some("https://github.com/octo/game/blob/abc123"));
        let expected = "\
### ❌ 1 failed, 1 passed, 1 skipped — 1\\.5s

| Failed test | Where | Message |
|:--|:--|:--|
| Tests › math › divides | [src/tests/math\\.spec\\.luau:7](https://github.com/octo/game/blob/abc123/src/tests/math.spec.luau#L7) | Expected 2, got &lt;3&gt; &amp; \\[31m |

<details><summary>Task details</summary>

| Outcome | TESTS FAILED \\(1 passed, 1 failed, 1 skipped\\) (exit 10) |
|:--|:--|
| State | COMPLETE |
| Tests | 1 passed, 1 failed, 1 skipped (testez, 3 in all) |
| Duration | 1.5s |
| Task | universes/1/places/2/versions/3/luau\\-execution\\-sessions/s/tasks/s |
| Log messages | 0 |

</details>

";
        assert_eq!(out, expected);
    }
}
