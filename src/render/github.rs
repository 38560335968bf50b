//! The GitHub Actions presenter: masks the key, keeps every untrusted line inside a
//! `::stop-commands::` bracket, and reopens it only to emit its own commands.
//!
//! Annotation order matters: GitHub keeps 10 error annotations per step. The task's own failure
//! is emitted first; log ERRORs fill what is left of the budget, the rest stay plain log lines,
//! and a notice says how many were not annotated.

use std::collections::HashSet;

use super::plain::{log_message, result_lines};
use super::workflow::{Level, annotation, annotation_at, escape_data};
use super::{Event, Renderer, level_tag};
use crate::api::model::{LogMessage, MessageType, TaskErrorCode};
use crate::outcome::Outcome;
use crate::random::random_token;
use crate::report::{StepReport, TaskReport};
use crate::results::{FileLine, TestCase};
use crate::secret::ApiKey;

/// GitHub turns at most this many annotations of each kind into annotations, per step.
pub const ANNOTATIONS_PER_KIND: usize = 10;

pub struct GithubRenderer {
    mask: Option<ApiKey>,
    tokens: Box<dyn FnMut() -> String + Send>,
    /// The token commands are stopped with, while they are.
    stopped: Option<String>,
    /// Progress lines are plain lines, printed inside the bracket.
    plain: super::plain::PlainRenderer,
    /// Failures annotated while their tasks ran (`live-progress`), by title and place: the
    /// final report does not annotate them again, and they count against GitHub's budget.
    live_annotated: Vec<(String, Option<FileLine>)>,
    /// How many error annotations those took.
    live_spent: usize,
}

impl GithubRenderer {
    pub fn new(mask: Option<ApiKey>) -> Self {
        Self::with_tokens(mask, Box::new(|| random_token("luau-exec-")))
    }

    /// With a token source of the caller's (deterministic tokens for golden tests).
    pub fn with_tokens(mask: Option<ApiKey>, tokens: Box<dyn FnMut() -> String + Send>) -> Self {
        Self {
            mask,
            tokens,
            stopped: None,
            plain: super::plain::PlainRenderer::new(false),
            live_annotated: Vec::new(),
            live_spent: 0,
        }
    }

    /// Emits our own command lines: resumes commands if stopped, writes them, stops again with
    /// a fresh token.
    fn commands(&mut self, out: &mut String, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        if let Some(token) = self.stopped.take() {
            out.push_str(&format!("::{token}::\n"));
        }
        for line in lines {
            out.push_str(line);
            out.push('\n');
        }
        self.stop(out);
    }

    fn stop(&mut self, out: &mut String) {
        let token = (self.tokens)();
        out.push_str(&format!("::stop-commands::{token}\n"));
        self.stopped = Some(token);
    }

    /// Each task of a step that failed in a way its tests do not say (a script that crashed),
    /// under its label; then, if none did and no failed test says it, the step's own failure.
    fn task_failures(
        &mut self,
        out: &mut String,
        report: &StepReport,
        tests_say_it: bool,
        errors_left: &mut usize,
    ) {
        let mut failures: Vec<String> = report
            .failed_tasks()
            .filter_map(|task| failure_annotation(&Ending::of_task(task)))
            .collect();
        if failures.is_empty() && !tests_say_it {
            failures.extend(failure_annotation(&Ending::of_step(report)));
        }
        let mut unannotated_tasks = 0;
        for failure in failures {
            if failure.starts_with("::error") && !take_one(errors_left) {
                unannotated_tasks += 1;
                continue;
            }
            self.commands(out, &[failure]);
        }
        self.more(out, "More failed tasks", unannotated_tasks, "failed tasks");
    }

    /// A notice that `count` more failures are not annotated, when some are not.
    fn more(&mut self, out: &mut String, title: &str, count: usize, what: &str) {
        if count == 0 {
            return;
        }
        let text = format!(
            "{count} more {what} are listed in the step log and the job summary, not annotated: GitHub shows {ANNOTATIONS_PER_KIND} error annotations per step"
        );
        self.commands(out, &[annotation(Level::Notice, Some(title), &text)]);
    }

    /// Each failed test on its file and line, while the error budget lasts; the texts of
    /// every failure (their log lines are not annotated again) and how many were left out.
    fn test_failures<'r>(
        &mut self,
        out: &mut String,
        report: &'r StepReport,
        errors_left: &mut usize,
    ) -> (HashSet<&'r str>, usize) {
        let mut unannotated = 0;
        let mut texts: HashSet<&str> = HashSet::new();
        for test in report.tests.iter().flat_map(|run| run.failures()) {
            if let Some(message) = test.message.as_deref() {
                texts.insert(message);
            }
            if self.annotated_live(test) {
                continue;
            }
            if !take_one(errors_left) {
                unannotated += 1;
                continue;
            }
            self.commands(out, &[failed_test_annotation(test)]);
        }
        (texts, unannotated)
    }

    /// A task's logs in a group (labelled when the task is), ERROR and WARNING lines
    /// annotated while the budgets last; how many errors and warnings were not.
    fn task_logs(
        &mut self,
        out: &mut String,
        task: &TaskReport,
        failure_texts: &HashSet<&str>,
        budgets: &mut Budgets,
    ) -> (usize, usize) {
        let (mut errors, mut warnings) = (0, 0);
        if task.logs.is_empty() {
            return (errors, warnings);
        }
        let failure_message = task.error_message();
        let of = task
            .label
            .as_deref()
            .map(|label| format!(" of {}", escape_data(label)))
            .unwrap_or_default();
        self.commands(
            out,
            &[format!(
                "::group::Task logs{of} ({})",
                crate::text::count(task.logs.len(), "message", "messages")
            )],
        );
        for message in &task.logs {
            let is_error = message.message_type == MessageType::Error;
            let is_warning = message.message_type == MessageType::Warning;
            // Roblox logs the unhandled error too, and frameworks log each test failure
            // (TestEZ's `TestService:Error`): those are annotated already.
            let duplicate = is_error
                && (failure_message == Some(message.message.as_str())
                    || failure_texts.contains(message.message.as_str()));
            let annotated = if is_error && !duplicate {
                take_one(&mut budgets.errors).then_some((Level::Error, "Luau error"))
            } else if is_warning {
                take_one(&mut budgets.warnings).then_some((Level::Warning, "Luau warning"))
            } else {
                None
            };
            match annotated {
                Some((level, title)) => {
                    let line = annotation(level, Some(title), &message.message);
                    self.commands(out, &[line]);
                }
                None => {
                    errors += usize::from(is_error && !duplicate);
                    warnings += usize::from(is_warning);
                    log_message(out, message, level_tag(&message.message_type));
                }
            }
        }
        self.commands(out, &["::endgroup::".to_owned()]);
        (errors, warnings)
    }

    /// Warnings for the step's own logs that could not be read whole, and a notice when
    /// coverage could not be measured.
    fn log_and_coverage_notices(&mut self, out: &mut String, report: &StepReport) {
        if let Some(problem) = report.logs_problem() {
            let line = annotation(
                Level::Warning,
                Some("Logs unavailable"),
                &problem.to_string(),
            );
            self.commands(out, &[line]);
        }
        if let Some(cut) = report.logs_cut() {
            let line = annotation(Level::Warning, Some("Logs cut"), &cut.to_string());
            self.commands(out, &[line]);
        }
        if let Some(why) = report.coverage.as_ref().and_then(|c| c.missing.as_ref()) {
            let notice = annotation(Level::Notice, Some("Coverage not available"), why);
            self.commands(out, &[notice]);
        }
    }

    /// Annotates a failure as its task reports it (`live-progress`), while the budget lasts,
    /// then shows it and its log lines in the log.
    fn live_failure(
        &mut self,
        out: &mut String,
        label: Option<&str>,
        test: &TestCase,
        logs: &[LogMessage],
    ) {
        if self.live_spent < ANNOTATIONS_PER_KIND {
            self.live_spent += 1;
            self.commands(out, &[failed_test_annotation(test)]);
            self.live_annotated.push((test.title(), test.file.clone()));
        }
        super::live::failure_lines(out, label, test, logs);
    }

    /// Whether `test` was annotated while its task ran; each live annotation stands for one
    /// failure of the final report.
    fn annotated_live(&mut self, test: &TestCase) -> bool {
        let key = (test.title(), test.file.clone());
        match self.live_annotated.iter().position(|seen| *seen == key) {
            Some(at) => {
                self.live_annotated.swap_remove(at);
                true
            }
            None => false,
        }
    }

    fn finished(&mut self, out: &mut String, report: &StepReport) {
        let mut budgets = Budgets {
            // Live annotations came out of the same budget.
            errors: ANNOTATIONS_PER_KIND.saturating_sub(self.live_spent),
            warnings: ANNOTATIONS_PER_KIND,
        };
        // Failures first, so no number of logged errors can push them out of sight: each
        // failed test on its file and line, or else the run's own failure.
        let (failure_texts, unannotated_tests) =
            self.test_failures(out, report, &mut budgets.errors);
        let tests_say_it = report
            .tests
            .as_ref()
            .is_some_and(|run| run.counts().failed > 0);
        self.task_failures(out, report, tests_say_it, &mut budgets.errors);
        self.more(out, "More failed tests", unannotated_tests, "failed tests");

        let (mut errors, mut warnings) = (0, 0);
        for task in &report.tasks {
            let (e, w) = self.task_logs(out, task, &failure_texts, &mut budgets);
            errors += e;
            warnings += w;
        }
        if errors + warnings > 0 {
            let text = format!(
                "{errors} more ERROR and {warnings} more WARNING messages are in the step log, not annotated: GitHub shows {ANNOTATIONS_PER_KIND} annotations of each kind per step"
            );
            self.commands(
                out,
                &[annotation(Level::Notice, Some("More log messages"), &text)],
            );
        }
        self.log_and_coverage_notices(out, report);
        result_lines(out, report, &report.headline());
        // Leave the step with commands working again.
        if let Some(token) = self.stopped.take() {
            out.push_str(&format!("::{token}::\n"));
        }
    }
}

/// The annotations of each kind still to spend.
struct Budgets {
    errors: usize,
    warnings: usize,
}

/// Spends one annotation of a kind, if any are left.
fn take_one(left: &mut usize) -> bool {
    let available = *left > 0;
    if available {
        *left -= 1;
    }
    available
}

/// How a task, or the step, ended: what its failure annotation says.
struct Ending<'a> {
    outcome: Outcome,
    headline: String,
    problem: Option<String>,
    error_message: Option<&'a str>,
    error_code: Option<&'a TaskErrorCode>,
    task_path: Option<&'a str>,
    error_location: Option<&'a FileLine>,
    /// The task's label, when the step ran many.
    label: Option<&'a str>,
}

impl<'a> Ending<'a> {
    fn of_task(task: &'a TaskReport) -> Self {
        Self {
            outcome: task.outcome,
            headline: task.headline(),
            problem: task.problem.as_ref().map(ToString::to_string),
            error_message: task.error_message(),
            error_code: task.error_code(),
            task_path: task.task_path(),
            error_location: task.error_location.as_ref(),
            label: task.label.as_deref(),
        }
    }

    /// The step's own end: its problem, with its own task's error.
    fn of_step(step: &'a StepReport) -> Self {
        Self {
            outcome: step.outcome,
            headline: step.headline(),
            problem: step.problem.as_ref().map(ToString::to_string),
            error_message: step.error_message(),
            error_code: step.error_code(),
            task_path: step.task_path(),
            error_location: step.error_location(),
            label: None,
        }
    }
}

/// The error annotation for a run that did not succeed, titled with what happened (and with
/// the task's label, when the step ran many).
fn failure_annotation(ending: &Ending<'_>) -> Option<String> {
    if ending.outcome.is_success() {
        return match (ending.outcome, &ending.problem) {
            (Outcome::Skipped, Some(problem)) => {
                Some(annotation(Level::Notice, Some("Luau run skipped"), problem))
            }
            _ => None,
        };
    }
    let of = ending
        .label
        .map(|label| format!(" ({label})"))
        .unwrap_or_default();
    let title = match ending.error_code {
        Some(code) => format!("Luau task failed{of}: {code}"),
        None => format!("Luau task{of}: {}", ending.headline),
    };
    let mut message = ending
        .error_message
        .or(ending.problem.as_deref())
        .unwrap_or("the task ended without a result")
        .to_owned();
    if let (Some(path), false) = (ending.task_path, ending.error_message.is_some()) {
        message.push_str(&format!("\nTask: {path}"));
    }
    Some(annotation_at(
        Level::Error,
        Some(&title),
        ending.error_location,
        &message,
    ))
}

impl Renderer for GithubRenderer {
    fn render(&mut self, event: &Event<'_>) -> String {
        let mut out = String::new();
        match event {
            Event::Begin => {
                // The very first line: from here on the runner masks the key everywhere.
                if let Some(key) = &self.mask {
                    out.push_str(&format!("::add-mask::{}\n", escape_data(key.expose())));
                }
                self.stop(&mut out);
            }
            Event::Finished(report) => self.finished(&mut out, report),
            Event::LiveFailure { test, logs } => self.live_failure(&mut out, None, test, logs),
            Event::ForTask {
                label,
                event: Event::LiveFailure { test, logs },
            } => self.live_failure(&mut out, Some(label), test, logs),
            other => out.push_str(&self.plain.render(other)),
        }
        out
    }
}

/// A failed test's annotation, at its file and line when known: its title and the message as
/// it reads first (the framework's frames are left to JUnit). The same live and at the end.
fn failed_test_annotation(test: &TestCase) -> String {
    let message = test
        .brief_text()
        .unwrap_or_else(|| "the test failed".to_owned());
    annotation_at(
        Level::Error,
        Some(&test.title()),
        test.file.as_ref(),
        &message,
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::api::model::{LogMessage, Task, TaskError, TaskErrorCode, TaskState};
    use crate::report::Problem;

    fn renderer() -> GithubRenderer {
        let mut n = 0;
        GithubRenderer::with_tokens(
            Some(ApiKey::new("k%ey".into())),
            Box::new(move || {
                n += 1;
                format!("tok{n}")
            }),
        )
    }

    fn message(level: MessageType, text: &str) -> LogMessage {
        LogMessage {
            message: text.into(),
            create_time: None,
            message_type: level,
        }
    }

    #[test]
    fn golden_failed_run() {
        let mut renderer = renderer();
        let mut report = StepReport::new(Outcome::ScriptError);
        report.own_task_mut().task = Some(Task {
            path: "universes/1/places/2/versions/3/luau-execution-sessions/s/tasks/s".into(),
            state: TaskState::Failed,
            error: Some(TaskError {
                code: TaskErrorCode::ScriptError,
                message: "TaskScript:2: boom".into(),
            }),
            ..Task::default()
        });
        report.duration = Duration::from_millis(3200);
        report.own_task_mut().logs = vec![
            message(MessageType::Output, "hello\n::error::not a command"),
            message(MessageType::Info, "info ##[warning]x"),
            message(MessageType::Warning, "careful: 50%"),
            message(MessageType::Error, "TaskScript:2: boom"),
        ];
        let mut out = renderer.render(&Event::Begin);
        out.push_str(&renderer.render(&Event::StateChanged {
            state: &TaskState::Processing,
            elapsed: Duration::from_millis(500),
        }));
        out.push_str(&renderer.render(&Event::Finished(&report)));
        let expected = "\
::add-mask::k%25ey
::stop-commands::tok1
[ 500ms] state: PROCESSING
::tok1::
::error title=Luau task failed%3A SCRIPT_ERROR::TaskScript:2: boom
::stop-commands::tok2
::tok2::
::group::Task logs (4 messages)
::stop-commands::tok3
[OUTPUT]  hello
          | ::error::not a command
[INFO]    info ##\u{2060}[warning]x
::tok3::
::warning title=Luau warning::careful: 50%25
::stop-commands::tok4
[ERROR]   TaskScript:2: boom
::tok4::
::endgroup::
::stop-commands::tok5
Result: FAILED (SCRIPT_ERROR) after 3.2s (exit 1)
Error: TaskScript:2: boom
Task: universes/1/places/2/versions/3/luau-execution-sessions/s/tasks/s
::tok5::
";
        assert_eq!(out, expected);
    }

    #[test]
    fn golden_failed_tests() {
        let mut renderer = renderer();
        let mut report = crate::render::junit::tests::report_with_tests();
        // Each failure read as `TestRun::locate` reads it: located on its own line.
        if let Some(run) = &mut report.tests {
            for test in run.tests.iter_mut().filter(|t| t.message.is_some()) {
                test.location = Some("ReplicatedStorage.Tests.math.spec:7".into());
                test.brief = test.message.as_deref().map(|m| {
                    crate::results::Brief::of(
                        m,
                        test.file.as_ref(),
                        test.location.as_deref(),
                        &crate::results::Locator::default(),
                    )
                });
            }
        }
        report.tasks[0].logs = vec![message(
            MessageType::Error,
            "ReplicatedStorage.Tests.math.spec:7: Expected 2, got <3> & \u{1b}[31m\nstack",
        )];
        let mut out = renderer.render(&Event::Begin);
        out.push_str(&renderer.render(&Event::Finished(&report)));
        let expected = "\
::add-mask::k%25ey
::stop-commands::tok1
::tok1::
::error file=src/tests/math.spec.luau,line=7,title=Tests › math › divides::Expected 2, got <3> & \u{1b}[31m%0Astack
::stop-commands::tok2
::tok2::
::group::Task logs (1 message)
::stop-commands::tok3
[ERROR]   ReplicatedStorage.Tests.math.spec:7: Expected 2, got <3> & \u{1b}[31m
          | stack
::tok3::
::endgroup::
::stop-commands::tok4
Tests: 1 passed, 1 failed, 1 skipped (testez)
  FAIL Tests › math › divides — src/tests/math.spec.luau:7
          | Expected 2, got <3> & \u{1b}[31m
          | stack
Result: TESTS FAILED (1 passed, 1 failed, 1 skipped) after 1.5s (exit 10)
Problem: 1 of 3 tests failed
Task: universes/1/places/2/versions/3/luau-execution-sessions/s/tasks/s
::tok4::
";
        assert_eq!(out, expected);
    }

    /// The error annotation lines of a finished run.
    fn errors(report: &StepReport) -> Vec<String> {
        finished(report)
            .lines()
            .filter(|line| line.starts_with("::error "))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_failing_run_without_a_failed_test_still_gets_its_error() {
        // NO TESTS FOUND: a test run with nothing in it.
        let mut report = StepReport::new(Outcome::TestsFailed);
        report.problem = Some(Problem::Tests(crate::results::TestsProblem::NoneFound(
            "no tests were found under ReplicatedStorage.Tests".into(),
        )));
        report.tests = Some(crate::render::junit::tests::empty_run());
        assert_eq!(
            errors(&report),
            [format!(
                "::error title=Luau task%3A {}::no tests were found under ReplicatedStorage.Tests",
                report.headline()
            )]
        );
        // Every test passed, then the binary output could not be fetched.
        let mut report = crate::render::junit::tests::report_with_tests();
        let run = report.tests.as_mut().unwrap();
        run.tests
            .retain(|t| t.status != crate::results::TestStatus::Failed);
        report.outcome = Outcome::Unavailable;
        report.problem = Some(Problem::NoBinaryOutputUri(crate::api::Service::OpenCloud));
        let errors = errors(&report);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("::Open Cloud completed the task without a binary output URI"),
            "{errors:?}"
        );
    }

    /// What a finished run prints.
    fn finished(report: &StepReport) -> String {
        renderer().render(&Event::Finished(report))
    }

    /// How many lines start with `prefix`.
    fn lines_starting(out: &str, prefix: &str) -> usize {
        out.lines().filter(|l| l.starts_with(prefix)).count()
    }

    #[test]
    fn log_messages_past_the_budget_are_counted() {
        let mut report = StepReport::new(Outcome::Complete);
        let warnings = (0..12).map(|i| message(MessageType::Warning, &format!("careful {i}")));
        report.own_task_mut().logs = warnings.clone().collect();
        let out = finished(&report);
        assert_eq!(
            lines_starting(&out, "::warning title=Luau warning::"),
            ANNOTATIONS_PER_KIND
        );
        assert!(
            out.contains("::notice title=More log messages::0 more ERROR and 2 more WARNING messages are in the step log"),
            "{out}"
        );
        // Those past the budget stay plain lines.
        assert!(out.contains("[WARNING] careful 11"), "{out}");

        report.tasks[0].logs = warnings
            .chain((0..13).map(|i| message(MessageType::Error, &format!("bad {i}"))))
            .collect();
        let out = finished(&report);
        assert_eq!(
            lines_starting(&out, "::error title=Luau error::"),
            ANNOTATIONS_PER_KIND
        );
        assert!(
            out.contains("::notice title=More log messages::3 more ERROR and 2 more WARNING messages are in the step log"),
            "{out}"
        );
        assert!(out.contains("[ERROR]   bad 12"), "{out}");
        // Within the budget, no notice.
        report.tasks[0].logs.truncate(3);
        assert!(!finished(&report).contains("More log messages"));
    }

    #[test]
    fn failed_tests_past_the_budget_are_counted() {
        let mut report = crate::render::junit::tests::report_with_tests();
        let run = report.tests.as_mut().unwrap();
        let failed = run.tests[1].clone();
        run.tests = vec![failed; 12];
        let out = finished(&report);
        assert_eq!(
            lines_starting(&out, "::error file=src/tests/math.spec.luau,line=7,"),
            ANNOTATIONS_PER_KIND
        );
        assert!(
            out.contains("::notice title=More failed tests::2 more failed tests are listed"),
            "{out}"
        );
        report.tests.as_mut().unwrap().tests.truncate(10);
        assert!(!finished(&report).contains("More failed tests"));
    }

    #[test]
    fn failed_tasks_past_the_budget_are_counted() {
        let mut report = StepReport::new(Outcome::ScriptError);
        let unit = |i: usize, outcome| {
            TaskReport::new(outcome, crate::api::Service::OpenCloud)
                .labelled(format!("tasks/{i}.luau"), 2)
        };
        report.tasks = (0..12)
            .map(|i| unit(i, Outcome::ScriptError))
            .chain([unit(12, Outcome::Complete)])
            .collect();
        let out = finished(&report);
        assert_eq!(
            lines_starting(&out, "::error title=Luau task (tasks/"),
            ANNOTATIONS_PER_KIND
        );
        assert!(
            out.contains("::notice title=More failed tasks::2 more failed tasks are listed"),
            "{out}"
        );
        report.tasks.truncate(3);
        let out = finished(&report);
        assert_eq!(lines_starting(&out, "::error "), 3);
        assert!(!out.contains("More failed tasks"), "{out}");
    }

    #[test]
    fn a_skipped_run_says_why_in_a_notice() {
        let mut report = StepReport::new(Outcome::Skipped);
        report.problem = Some(Problem::Skipped("no API key was given"));
        let out = finished(&report);
        assert!(
            out.contains("::notice title=Luau run skipped::no API key was given"),
            "{out}"
        );
        assert_eq!(lines_starting(&out, "::error"), 0);
    }

    #[test]
    fn golden_complete_run_without_logs() {
        let mut renderer = renderer();
        let mut report = StepReport::new(Outcome::Complete);
        report.own_task_mut().task = Some(Task {
            path: "universes/1/places/2/versions/3/luau-execution-sessions/s/tasks/s".into(),
            state: TaskState::Complete,
            output: Some(crate::api::model::TaskOutput::from_values(&[
                serde_json::json!(7),
            ])),
            ..Task::default()
        });
        let mut out = renderer.render(&Event::Begin);
        out.push_str(&renderer.render(&Event::Finished(&report)));
        let expected = "\
::add-mask::k%25ey
::stop-commands::tok1
Result: COMPLETE after 0ms (exit 0)
Results: [7]
Task: universes/1/places/2/versions/3/luau-execution-sessions/s/tasks/s
::tok1::
";
        assert_eq!(out, expected);
    }

    /// Failures shown live, then the final report with the same failures.
    fn live_then_finished(live: usize, report: &StepReport) -> String {
        let mut renderer = renderer();
        let failed = report.tests.as_ref().unwrap().tests[1].clone();
        let mut out = String::new();
        for _ in 0..live {
            out.push_str(&renderer.render(&Event::LiveFailure {
                test: &failed,
                logs: &[],
            }));
        }
        out.push_str(&renderer.render(&Event::Finished(report)));
        out
    }

    #[test]
    fn a_failure_annotated_live_is_not_annotated_again() {
        let report = crate::render::junit::tests::report_with_tests();
        let out = live_then_finished(1, &report);
        assert_eq!(
            lines_starting(&out, "::error file=src/tests/math.spec.luau,line=7,"),
            1,
            "{out}"
        );
        // Still listed with the run's tests.
        assert!(out.contains("  FAIL "), "{out}");
        // Live annotations spend the same budget: 10 live, 12 in the report, two noticed.
        let mut report = crate::render::junit::tests::report_with_tests();
        let run = report.tests.as_mut().unwrap();
        run.tests = vec![run.tests[1].clone(); 12];
        let out = live_then_finished(10, &report);
        assert_eq!(
            lines_starting(&out, "::error file=src/tests/math.spec.luau,line=7,"),
            ANNOTATIONS_PER_KIND,
            "{out}"
        );
        assert!(
            out.contains("::notice title=More failed tests::2 more failed tests are listed"),
            "{out}"
        );
    }

    #[test]
    fn live_lines_from_the_task_cannot_issue_commands() {
        let test = TestCase {
            path: vec!["a\n::error::forged".into(), "b ##[warning]x".into()],
            status: crate::results::TestStatus::Failed,
            duration: None,
            message: Some("boom\n::error::forged too".into()),
            location: None,
            file: None,
            brief: None,
        };
        let logs = [message(MessageType::Output, "printed\n::warning::forged")];
        let mut renderer = renderer();
        let mut out = renderer.render(&Event::Begin);
        out.push_str(&renderer.render(&Event::LiveFailure {
            test: &test,
            logs: &logs,
        }));
        out.push_str(&renderer.render(&Event::LiveProgress {
            counts: &crate::results::Counts::default(),
            running: Some("x\n::error::forged"),
            elapsed: Duration::from_secs(1),
        }));
        // Our one annotation, its data escaped; every other line is ours or prefixed.
        let commands: Vec<&str> = out.lines().filter(|l| l.starts_with("::")).collect();
        assert_eq!(commands.len(), 5, "{out}");
        assert!(
            commands[3].starts_with(
                "::error title=a%0A%3A%3Aerror%3A%3Aforged › b ##[warning]x::boom%0A::error::forged too"
            ),
            "{out}"
        );
        assert!(!out.contains("\n::error::forged"), "{out}");
        assert!(!out.contains("\n::warning::forged"), "{out}");
        // The step log's lines (the annotation is the final report's own encoding).
        assert!(
            out.lines()
                .filter(|l| !l.starts_with("::"))
                .all(|l| !l.contains("##[")),
            "{out}"
        );
    }
}
