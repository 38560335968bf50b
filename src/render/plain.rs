//! Readable lines for any CI or a terminal: level prefixes, colour only when asked (a terminal
//! without `NO_COLOR`), no workflow commands. The GitHub presenter reuses these lines inside its
//! stop-commands bracket.

use super::{Event, Renderer, level_tag, prefixed_lines};
use crate::api::model::{LogMessage, MessageType};
use crate::duration::human;
use crate::report::{StepReport, TaskReport};
use crate::results::TestCase;

pub struct PlainRenderer {
    color: bool,
}

impl PlainRenderer {
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// Continuation lines of a multi-line message.
const CONTINUATION: &str = "          | ";

/// One log message as lines: `[LEVEL]  text`, continuation lines marked with `|`.
pub fn log_message(out: &mut String, message: &LogMessage, tag: &str) {
    prefixed_lines(out, &format!("{tag} "), CONTINUATION, &message.message);
}

/// How many failed tests the log lists, each with its place and the start of its message.
const LISTED_FAILURES: usize = 50;
/// Lines of each failure's message in that list (the framework's frames left out).
const MESSAGE_LINES: usize = 6;

/// The test counts and a compact list of failures with file:line.
pub fn test_lines(out: &mut String, report: &StepReport) {
    let Some(run) = &report.tests else {
        return;
    };
    out.push_str(&format!(
        "Tests: {} ({})\n",
        run.counts(),
        run.framework.replace(['\n', '\r'], " ")
    ));
    for test in run.failures().take(LISTED_FAILURES) {
        let place = failure_place(test);
        prefixed_lines(
            out,
            "  FAIL ",
            CONTINUATION,
            &format!("{} — {place}", test.title()),
        );
        if let Some(message) = test.brief_text() {
            let start: Vec<&str> = super::split_lines(&message)
                .into_iter()
                .take(MESSAGE_LINES)
                .collect();
            prefixed_lines(out, CONTINUATION, CONTINUATION, &start.join("\n"));
        }
    }
    let more = run.counts().failed.saturating_sub(LISTED_FAILURES);
    if more > 0 {
        out.push_str(&format!("  … and {more} more failed tests\n"));
    }
    if let Some(omission) = run.omission() {
        prefixed_lines(out, "Tests: ", CONTINUATION, &omission);
    }
    if let Some(notes) = &run.notes {
        prefixed_lines(out, "Tests: ", CONTINUATION, notes);
    }
}

/// The lines after the logs: tests, coverage, each labelled task, the outcome, then the step's
/// own task's error, results and place.
pub fn result_lines(out: &mut String, report: &StepReport, headline: &str) {
    test_lines(out, report);
    if let Some(coverage) = &report.coverage {
        let figure = crate::coverage::headline(coverage);
        prefixed_lines(out, "Coverage: ", CONTINUATION, &figure);
        for note in &coverage.notes {
            prefixed_lines(out, "Coverage: ", CONTINUATION, note);
        }
    }
    for task in report.labelled_tasks() {
        labelled_task_lines(out, task);
    }
    let duration = if report.ran() {
        format!(" after {}", human(report.duration))
    } else {
        String::new()
    };
    let summary = format!("{headline}{duration} (exit {})", report.outcome.exit_code());
    prefixed_lines(out, "Result: ", CONTINUATION, &summary);
    if let Some(message) = report.error_message() {
        prefixed_lines(out, "Error: ", CONTINUATION, message);
    }
    if let Some(place) = report.error_location() {
        prefixed_lines(
            out,
            "At: ",
            CONTINUATION,
            &format!("{}:{}", place.path, place.line),
        );
    }
    if let Some(problem) = &report.problem {
        prefixed_lines(out, "Problem: ", CONTINUATION, &problem.to_string());
    }
    for problem in [report.logs_problem(), report.logs_cut()]
        .into_iter()
        .flatten()
    {
        prefixed_lines(out, "Logs: ", CONTINUATION, &problem.to_string());
    }
    // With tests, the results are the envelope the lines above already show (and it can be
    // megabytes); the `results` output and the JSON format keep it whole.
    if let (Some(results), None) = (report.results_json(), &report.tests) {
        prefixed_lines(out, "Results: ", CONTINUATION, &results);
    }
    if let Some(version) = report.place_version {
        out.push_str(&format!("Place version: {version}\n"));
    }
    if let Some(path) = report.binary_output_path() {
        prefixed_lines(
            out,
            "Binary output: ",
            CONTINUATION,
            &path.display().to_string(),
        );
    }
    if let Some(path) = report.task_path() {
        prefixed_lines(out, "Task: ", CONTINUATION, path);
    }
}

/// One task of a step of many: its headline under its label, then its error and problems.
fn labelled_task_lines(out: &mut String, task: &TaskReport) {
    let path = task
        .task_path()
        .map(|path| format!(" — {path}"))
        .unwrap_or_default();
    let took = if task.task.is_some() {
        format!(" after {}", human(task.duration))
    } else {
        String::new()
    };
    prefixed_lines(
        out,
        "Task: ",
        CONTINUATION,
        &format!(
            "{}: {}{took} (exit {}){path}",
            task.name(),
            task.headline(),
            task.outcome.exit_code()
        ),
    );
    if let Some(message) = task.error_message() {
        prefixed_lines(out, "  Error: ", CONTINUATION, message);
    }
    if let Some(problem) = &task.problem {
        prefixed_lines(out, "  Problem: ", CONTINUATION, &problem.to_string());
    }
    for problem in [&task.logs_problem, &task.logs_cut].into_iter().flatten() {
        prefixed_lines(out, "  Logs: ", CONTINUATION, &problem.to_string());
    }
}

/// One line's worth of a label of the user's (a path, `shard 2/4`), defanged.
pub fn label_text(label: &str) -> String {
    crate::text::defang(&label.replace(['\n', '\r'], " "))
}

impl PlainRenderer {
    /// A task's logs between markers, under its label when it has one.
    fn log_lines(&self, out: &mut String, task: &TaskReport) {
        if task.logs.is_empty() {
            return;
        }
        let of = task
            .label
            .as_deref()
            .map(|label| format!(" of {}", label_text(label)))
            .unwrap_or_default();
        out.push_str(&format!(
            "--- logs{of} ({}) ---\n",
            crate::text::count(task.logs.len(), "message", "messages")
        ));
        for message in &task.logs {
            let tag = level_tag(&message.message_type);
            let tag = match message.message_type {
                MessageType::Error => self.paint("31", tag),
                MessageType::Warning => self.paint("33", tag),
                _ => tag.to_owned(),
            };
            log_message(out, message, &tag);
        }
        out.push_str("--- end of logs ---\n");
    }
}

impl Renderer for PlainRenderer {
    fn render(&mut self, event: &Event<'_>) -> String {
        let mut out = String::new();
        match event {
            Event::Begin => {}
            Event::ForTask { label, event } => {
                // The label is the user's own (a path, `shard 2/4`): one line, defanged.
                let label = label_text(label);
                match event {
                    Event::Note(text) => prefixed_lines(
                        &mut out,
                        &format!("luau-exec: {label}: "),
                        CONTINUATION,
                        text,
                    ),
                    Event::StateChanged { state, elapsed } => prefixed_lines(
                        &mut out,
                        &format!("[{:>6}] {label}: state: ", human(*elapsed)),
                        CONTINUATION,
                        state.as_str(),
                    ),
                    Event::LiveFailure { test, logs } => {
                        super::live::failure_lines(&mut out, Some(&label), test, logs)
                    }
                    Event::LiveProgress {
                        counts,
                        running,
                        elapsed,
                    } => super::live::progress_line(
                        &mut out,
                        Some(&label),
                        counts,
                        *running,
                        *elapsed,
                    ),
                    // A step's tasks have one heartbeat, the step's own.
                    _ => {}
                }
            }
            Event::Note(text) => prefixed_lines(&mut out, "luau-exec: ", CONTINUATION, text),
            Event::LiveFailure { test, logs } => {
                super::live::failure_lines(&mut out, None, test, logs)
            }
            Event::LiveProgress {
                counts,
                running,
                elapsed,
            } => super::live::progress_line(&mut out, None, counts, *running, *elapsed),
            Event::StateChanged { state, elapsed } => {
                prefixed_lines(
                    &mut out,
                    &format!("[{:>6}] state: ", human(*elapsed)),
                    CONTINUATION,
                    state.as_str(),
                );
            }
            Event::Heartbeat { state, elapsed } => {
                prefixed_lines(
                    &mut out,
                    &format!("[{:>6}] still ", human(*elapsed)),
                    CONTINUATION,
                    state.as_str(),
                );
            }
            Event::Finished(report) => {
                for task in &report.tasks {
                    self.log_lines(&mut out, task);
                }
                let headline = report.headline();
                let headline = if report.outcome.is_success() {
                    self.paint("32", &headline)
                } else {
                    self.paint("31", &headline)
                };
                result_lines(&mut out, report, &headline);
            }
        }
        out
    }
}

/// Where a failed test failed, as the console says it: its repository file and line, else the
/// place the framework named, else that there is none.
pub(super) fn failure_place(test: &TestCase) -> String {
    test.file
        .as_ref()
        .map(|f| format!("{}:{}", f.path, f.line))
        .or_else(|| test.location.clone())
        .unwrap_or_else(|| "(no location)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::{Task, TaskState};
    use crate::outcome::Outcome;

    fn failed_task() -> TaskReport {
        let mut report = TaskReport::new(Outcome::ScriptError, crate::api::Service::OpenCloud);
        report.task = Some(Task {
            state: TaskState::Failed,
            ..Task::default()
        });
        report.logs = vec![LogMessage {
            message: "boom".into(),
            create_time: None,
            message_type: MessageType::Error,
        }];
        report
    }

    fn failed_report() -> StepReport {
        StepReport::of_one(failed_task())
    }

    #[test]
    fn colour_only_when_asked() {
        let report = failed_report();
        let coloured = PlainRenderer::new(true).render(&Event::Finished(&report));
        assert!(
            coloured.contains("\x1b[31m[ERROR]  \x1b[0m boom"),
            "{coloured:?}"
        );
        let plain = PlainRenderer::new(false).render(&Event::Finished(&report));
        assert!(!plain.contains('\x1b'), "{plain:?}");
        assert!(plain.contains("[ERROR]   boom"), "{plain:?}");
        let mut report = failed_report();
        report.tasks[0].logs[0].message_type = MessageType::Warning;
        let coloured = PlainRenderer::new(true).render(&Event::Finished(&report));
        assert!(
            coloured.contains("\x1b[33m[WARNING]\x1b[0m boom"),
            "{coloured:?}"
        );
    }

    #[test]
    fn a_steps_tasks_speak_under_their_labels() {
        let mut renderer = PlainRenderer::new(false);
        let note = Event::Note("created task t");
        let state = Event::StateChanged {
            state: &TaskState::Processing,
            elapsed: std::time::Duration::from_millis(1500),
        };
        let label = "tasks/a.luau";
        let text = [&note, &state]
            .map(|event| renderer.render(&Event::ForTask { label, event }))
            .concat();
        assert_eq!(
            text,
            "luau-exec: tasks/a.luau: created task t\n[  1.5s] tasks/a.luau: state: PROCESSING\n"
        );
        // The step ran for a time even without a task of its own.
        let mut report = StepReport::new(Outcome::ScriptError);
        report.duration = std::time::Duration::from_secs(2);
        report.tasks = vec![failed_task().labelled(label, 2)];
        let text = renderer.render(&Event::Finished(&report));
        assert!(text.contains(" after 2.0s (exit 1)"), "{text}");
    }

    #[test]
    fn failed_tests_past_the_list_are_counted() {
        let mut report = crate::render::junit::tests::report_with_tests();
        let run = report.tests.as_mut().unwrap();
        let failed = run.tests[1].clone();
        run.tests = vec![failed; LISTED_FAILURES + 2];
        let text = PlainRenderer::new(false).render(&Event::Finished(&report));
        assert_eq!(text.matches("  FAIL ").count(), LISTED_FAILURES);
        assert!(text.contains("  … and 2 more failed tests\n"), "{text}");
        report
            .tests
            .as_mut()
            .unwrap()
            .tests
            .truncate(LISTED_FAILURES);
        let text = PlainRenderer::new(false).render(&Event::Finished(&report));
        assert!(!text.contains("more failed tests"), "{text}");
    }
}
