//! Step outputs for `GITHUB_OUTPUT`, in the heredoc form with a random delimiter that is checked
//! not to occur in the value, so no value can end early and forge another output.

use crate::random::random_token;
use crate::report::StepReport;
use crate::text::prefix_bytes;

/// GitHub allows 1 MB of outputs per job; `results` can be 4 MB. Larger results are left out
/// of the output (with a note) rather than break the step.
pub const MAX_RESULTS_OUTPUT_BYTES: usize = 512 * 1024;
/// An error message can be as large as a script makes it; the output keeps its start.
pub const MAX_ERROR_MESSAGE_OUTPUT_BYTES: usize = 64 * 1024;

/// The outputs, as (name, value) pairs. Every name is always written, empty when not known, so
/// later steps can test them without `|| ''`.
pub fn outputs(report: &StepReport) -> Vec<(&'static str, String)> {
    let results = report.results_json().unwrap_or_default();
    let (results, results_truncated) = if results.len() > MAX_RESULTS_OUTPUT_BYTES {
        (String::new(), "true")
    } else {
        (results, "false")
    };
    vec![
        ("exit-code", report.outcome.exit_code().to_string()),
        ("outcome", report.headline()),
        (
            "state",
            report.state().map(|s| s.to_string()).unwrap_or_default(),
        ),
        (
            "error-code",
            report
                .error_code()
                .map(|c| c.to_string())
                .unwrap_or_default(),
        ),
        (
            "error-message",
            capped(
                &report
                    .error_message()
                    .map(str::to_owned)
                    .or_else(|| report.problem.as_ref().map(ToString::to_string))
                    .unwrap_or_default(),
                MAX_ERROR_MESSAGE_OUTPUT_BYTES,
            ),
        ),
        ("results", results),
        ("results-too-large", results_truncated.to_owned()),
        // One path a line when the step ran many tasks.
        ("task-path", report.task_paths().join("\n")),
        ("duration", format!("{:.3}", report.duration.as_secs_f64())),
        ("log-count", report.log_count().to_string()),
        ("tests-total", test_count(report, |c| c.total)),
        ("tests-passed", test_count(report, |c| c.passed)),
        ("tests-failed", test_count(report, |c| c.failed)),
        ("tests-skipped", test_count(report, |c| c.skipped)),
        // Counted in the totals above but not listed (the results were trimmed to fit).
        (
            "tests-omitted",
            report
                .tests
                .as_ref()
                .map(|run| run.omitted().to_string())
                .unwrap_or_default(),
        ),
        // The share of lines run, in percent (`82.5`); empty without coverage.
        (
            "coverage-lines",
            report
                .coverage
                .as_ref()
                .filter(|c| c.missing.is_none())
                .and_then(|c| c.totals().percent())
                .map(crate::coverage::format_percent)
                .unwrap_or_default(),
        ),
        ("logs-truncated", report.logs_truncated().to_string()),
        ("tasks", tasks_json(report)),
        (
            "place-version",
            report
                .place_version
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ),
        (
            "binary-output-path",
            report
                .binary_output_path()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
    ]
}

/// The labelled tasks as JSON, empty for a step without any (a run of one).
fn tasks_json(report: &StepReport) -> String {
    let tasks = super::json::task_values(report);
    if tasks.is_empty() {
        return String::new();
    }
    serde_json::to_string(&tasks).unwrap_or_default()
}

/// One of the test counts, empty when the task reported no tests.
fn test_count(report: &StepReport, pick: impl Fn(crate::results::Counts) -> usize) -> String {
    report
        .tests
        .as_ref()
        .map(|run| pick(run.counts()).to_string())
        .unwrap_or_default()
}

/// The text, or its first `max` bytes with a marker saying it was cut.
fn capped(text: &str, max: usize) -> String {
    if text.len() <= max {
        text.to_owned()
    } else {
        format!(
            "{}… (cut at {}; the whole text is in the step log)",
            prefix_bytes(text, max),
            crate::text::size(max as u64)
        )
    }
}

/// The file text for all outputs, each as `name<<DELIM\nvalue\nDELIM\n`.
pub fn render_outputs(pairs: &[(&str, String)], mut delimiter: impl FnMut() -> String) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        // A delimiter that appears anywhere in the value is re-rolled (stricter than the
        // runner's whole-line match).
        let mut delim = delimiter();
        while value.contains(&delim) || delim.is_empty() {
            delim = delimiter();
        }
        out.push_str(&format!("{name}<<{delim}\n{value}\n{delim}\n"));
    }
    out
}

/// The production delimiter: the toolkit's shape, with 128 random bits.
pub fn random_delimiter() -> String {
    random_token("ghadelimiter_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::{Task, TaskOutput, TaskState};
    use crate::outcome::Outcome;

    #[test]
    fn a_delimiter_found_in_the_value_is_rerolled() {
        let mut candidates = vec!["D2".to_owned(), "D1".to_owned()];
        let pairs = [("error-message", "line\nD1\nstate=COMPLETE".to_owned())];
        let text = render_outputs(&pairs, || candidates.pop().unwrap_or_default());
        assert_eq!(text, "error-message<<D2\nline\nD1\nstate=COMPLETE\nD2\n");
    }

    fn value<'a>(pairs: &'a [(&str, String)], name: &str) -> &'a str {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("(missing)", |(_, v)| v.as_str())
    }

    #[test]
    fn oversized_results_are_left_out_and_flagged() {
        let mut report = StepReport::new(Outcome::Complete);
        report.own_task_mut().task = Some(Task {
            state: TaskState::Complete,
            output: Some(TaskOutput::from_values(&[serde_json::Value::String(
                "x".repeat(MAX_RESULTS_OUTPUT_BYTES),
            )])),
            ..Task::default()
        });
        let pairs = outputs(&report);
        assert_eq!(value(&pairs, "results"), "");
        assert_eq!(value(&pairs, "results-too-large"), "true");

        report.tasks[0].task.as_mut().unwrap().output =
            Some(TaskOutput::from_values(&[serde_json::json!(1)]));
        let pairs = outputs(&report);
        assert_eq!(value(&pairs, "results"), "[1]");
        assert_eq!(value(&pairs, "results-too-large"), "false");

        // Exactly 512 KiB (`["…"]` adds four bytes) is still given.
        let edge = "x".repeat(MAX_RESULTS_OUTPUT_BYTES - 4);
        report.tasks[0].task.as_mut().unwrap().output =
            Some(TaskOutput::from_values(&[serde_json::json!(edge)]));
        let pairs = outputs(&report);
        assert_eq!(value(&pairs, "results").len(), MAX_RESULTS_OUTPUT_BYTES);
        assert_eq!(value(&pairs, "results-too-large"), "false");

        // The README's figure: results up to 512 KiB are given whole.
        let big = "x".repeat(500_000);
        report.tasks[0].task.as_mut().unwrap().output =
            Some(TaskOutput::from_values(&[serde_json::json!(big)]));
        let pairs = outputs(&report);
        assert_eq!(value(&pairs, "results"), format!("[\"{big}\"]"));
        assert_eq!(value(&pairs, "results-too-large"), "false");
    }

    #[test]
    fn test_counts_are_outputs_when_tests_ran() {
        let report = crate::render::junit::tests::report_with_tests();
        let pairs = outputs(&report);
        let counts: Vec<&str> = [
            "tests-total",
            "tests-passed",
            "tests-failed",
            "tests-skipped",
        ]
        .iter()
        .map(|name| value(&pairs, name))
        .collect();
        assert_eq!(counts, ["3", "1", "1", "1"]);
        let pairs = outputs(&StepReport::new(Outcome::Complete));
        assert_eq!(value(&pairs, "tests-total"), "", "no tests: empty, not 0");
    }

    /// A container action's step exposes only the outputs its action.yml declares: every
    /// output written must be there, or a workflow reads it as empty.
    #[test]
    fn every_output_is_declared_in_the_action() {
        // Read, not compiled in: action.yml is not part of the published crate.
        let action = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml"))
            .expect("action.yml");
        let declared = action
            .split("\noutputs:\n")
            .nth(1)
            .expect("an outputs section");
        for (name, _) in outputs(&crate::render::junit::tests::report_with_tests()) {
            assert!(
                declared.contains(&format!("\n  {name}:\n"))
                    || declared.starts_with(&format!("  {name}:\n")),
                "output `{name}` is not declared in action.yml"
            );
        }
    }

    #[test]
    fn delimiters_are_fresh_and_shaped_like_the_toolkits() {
        let (a, b) = (random_delimiter(), random_delimiter());
        assert!(a.starts_with("ghadelimiter_") && a.len() > 40, "{a}");
        assert_ne!(a, b, "a script cannot know the next one");
    }

    #[test]
    fn a_huge_error_message_is_capped() {
        let mut report = StepReport::new(Outcome::ScriptError);
        report.own_task_mut().task = Some(Task {
            state: TaskState::Failed,
            error: Some(crate::api::model::TaskError {
                code: crate::api::model::TaskErrorCode::ScriptError,
                message: "é".repeat(MAX_ERROR_MESSAGE_OUTPUT_BYTES),
            }),
            ..Task::default()
        });
        let pairs = outputs(&report);
        let message = value(&pairs, "error-message");
        assert!(
            message.len() < MAX_ERROR_MESSAGE_OUTPUT_BYTES + 100,
            "{}",
            message.len()
        );
        assert!(message.ends_with("the whole text is in the step log)"));
        assert_eq!(value(&pairs, "logs-truncated"), "false");

        // The README's figure: the first 64 KiB are kept, so a 60,000-byte message is whole.
        let long = "m".repeat(60_000);
        report.tasks[0]
            .task
            .as_mut()
            .unwrap()
            .error
            .as_mut()
            .unwrap()
            .message = long.clone();
        assert_eq!(value(&outputs(&report), "error-message"), long);
    }
}
