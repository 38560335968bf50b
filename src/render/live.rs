//! Live progress as lines (`live-progress: true`): a test that failed while its task ran, with
//! the log lines it printed, and a progress line of the counts so far. Everything in them comes
//! from the task, so every line is prefixed and defanged as the rest of the logs are; the
//! GitHub presenter annotates the failure besides (and not again in the final report).

use std::time::Duration;

use super::plain::{failure_place, label_text, log_message};
use super::{level_tag, prefixed_lines, split_lines};
use crate::api::model::LogMessage;
use crate::duration::human;
use crate::results::{Counts, TestCase};

/// Continuation lines, as the plain presenter marks them.
const CONTINUATION: &str = "          | ";
/// Lines of the message shown (the annotation and the final list have the rest).
const MESSAGE_LINES: usize = 6;

/// `label: ` for a task of a step of many, nothing for the step's own.
fn of(label: Option<&str>) -> String {
    label
        .map(|label| format!("{}: ", label_text(label)))
        .unwrap_or_default()
}

/// `FAIL <test> — <file:line>`, the start of its message, then the lines it printed.
pub fn failure_lines(out: &mut String, label: Option<&str>, test: &TestCase, logs: &[LogMessage]) {
    let place = failure_place(test);
    prefixed_lines(
        out,
        &format!("live: {}FAIL ", of(label)),
        CONTINUATION,
        &format!("{} — {place}", test.title()),
    );
    if let Some(message) = test.brief_text() {
        let start: Vec<&str> = split_lines(&message)
            .into_iter()
            .take(MESSAGE_LINES)
            .collect();
        prefixed_lines(out, CONTINUATION, CONTINUATION, &start.join("\n"));
    }
    for line in logs {
        log_message(
            out,
            line,
            &format!("{CONTINUATION}{}", level_tag(&line.message_type)),
        );
    }
}

/// `live: 12 passed, 1 failed, 0 skipped so far (34s); running: <test>`.
pub fn progress_line(
    out: &mut String,
    label: Option<&str>,
    counts: &Counts,
    running: Option<&str>,
    elapsed: Duration,
) {
    let running = running
        .map(|name| format!("; running: {}", name.replace(['\n', '\r'], " ")))
        .unwrap_or_default();
    prefixed_lines(
        out,
        &format!("live: {}", of(label)),
        CONTINUATION,
        &format!("{counts} so far ({}){running}", human(elapsed)),
    );
}
