//! What a step produced, as data: the presenters, step outputs and job summary all render from
//! a [`StepReport`], and none of them does I/O.
//!
//! A step is one or more tasks: a run of one script is a step with one [`TaskReport`], shown
//! without a label; a step of many (several scripts, a suite's shards) holds one labelled
//! report per task, and the step's merged tests and most serious outcome ([`merge`]). No
//! presenter asks how many tasks there were: each walks [`StepReport::tasks`], and a task
//! without a label is the step's own (its error, its results and its path are the step's).

pub mod merge;
pub mod problem;
pub mod whole;

pub use problem::Problem;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::value::RawValue;

use crate::api::Service;
use crate::api::model::{LogMessage, Task, TaskErrorCode, TaskState};
use crate::coverage::Coverage;
use crate::outcome::Outcome;
use crate::results::{FileLine, TestRun};

/// Everything a step learned: how it ended, its tests, its coverage, what went wrong around
/// it, and each task's own report.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub outcome: Outcome,
    /// Why the step ended as it did, when its tasks do not say it alone (our words, which may
    /// quote a server's error body): a run of one's task's problem, the merge's summary of a
    /// step of many, a coverage gate, a report that could not be written.
    pub problem: Option<Problem>,
    /// The tests every task reported, together (a shard that reported none is a failed test).
    pub tests: Option<TestRun>,
    /// With coverage asked for: what every task measured, by repository file, or why nothing.
    pub coverage: Option<Coverage>,
    /// From the task's creation to its end for a run of one; the step's wall time for many.
    pub duration: Duration,
    /// The Saved version every task ran against, when they all ran against the same one.
    pub place_version: Option<u64>,
    /// Whom the step talked to, for the headline.
    pub service: Service,
    /// Each task's report, in the order of the step's units (none when nothing was started).
    pub tasks: Vec<TaskReport>,
}

/// What one task left: the task as last seen, its logs, its tests and what went wrong.
#[derive(Debug, Clone)]
pub struct TaskReport {
    /// The script's path, or `shard 2/4`; `None` for the step's only task, shown unlabelled.
    pub label: Option<String>,
    pub place_id: u64,
    pub outcome: Outcome,
    /// The task as last seen (terminal unless the run ended early).
    pub task: Option<Task>,
    /// Why the task ended without a result, or what went wrong after it.
    pub problem: Option<Problem>,
    /// Every log message, in order.
    pub logs: Vec<LogMessage>,
    /// Set when the logs could not be read; the outcome still follows the task.
    pub logs_problem: Option<Problem>,
    /// Set when only part of the logs was read (a misbehaving server), and why.
    pub logs_cut: Option<Problem>,
    /// From task creation to the terminal state (or to the end of the run).
    pub duration: Duration,
    /// The Saved version the task ran against: uploaded, or pinned.
    pub place_version: Option<u64>,
    pub binary_output_path: Option<PathBuf>,
    /// The tests the task reported (its first return value was the results envelope).
    pub tests: Option<TestRun>,
    /// With coverage asked for: what the task measured, or why nothing.
    pub coverage: Option<Coverage>,
    /// Where the task's own error points in the repository (`TaskScript:3` → `script-path`,
    /// or an instance path through the sourcemap).
    pub error_location: Option<FileLine>,
    pub service: Service,
    /// Whether the step's tests stand for this task's failure: a shard of a suite that did not
    /// report its tests is a failed test named after it. A script that crashed is a failed
    /// task, not a test.
    pub reported_as_test: bool,
    /// What the task says it ran of a work-stealing step (its envelope's `work`), read with
    /// its results; `None` when it says nothing (no results, or not a work-stealing step).
    pub work: Option<crate::work_queue::WorkLog>,
}

impl TaskReport {
    /// A task's report that has learned nothing yet.
    pub fn new(outcome: Outcome, service: Service) -> Self {
        Self {
            label: None,
            place_id: 0,
            outcome,
            task: None,
            problem: None,
            logs: Vec::new(),
            logs_problem: None,
            logs_cut: None,
            duration: Duration::ZERO,
            place_version: None,
            binary_output_path: None,
            tests: None,
            coverage: None,
            error_location: None,
            service,
            reported_as_test: false,
            work: None,
        }
    }

    /// This report as one task of a step of many, under its label, on its place.
    pub fn labelled(mut self, label: impl Into<String>, place_id: u64) -> Self {
        self.label = Some(label.into());
        self.place_id = place_id;
        self
    }

    /// The label, or nothing for a step's only task.
    pub fn name(&self) -> &str {
        self.label.as_deref().unwrap_or_default()
    }

    /// Whether this task failed in a way its tests do not already say: a crash, a deadline,
    /// a suite that could not run. Such a task is shown as a failed task.
    pub fn failed_beyond_its_tests(&self) -> bool {
        let tests_say_it = self
            .tests
            .as_ref()
            .is_some_and(|run| run.counts().failed > 0 && run.error.is_none());
        !self.outcome.is_success() && !self.reported_as_test && !tests_say_it
    }

    /// The task's resource path, once it was created.
    pub fn task_path(&self) -> Option<&str> {
        self.task
            .as_ref()
            .map(|t| t.path.as_str())
            .filter(|p| !p.is_empty())
    }

    /// The task's state as last seen.
    pub fn state(&self) -> Option<&TaskState> {
        self.task.as_ref().map(|t| &t.state)
    }

    /// The code of the task's own error, when it failed.
    pub fn error_code(&self) -> Option<&TaskErrorCode> {
        self.task
            .as_ref()
            .and_then(|t| t.error.as_ref())
            .map(|e| &e.code)
    }

    /// The task's own error message (the script's error), when it has one.
    pub fn error_message(&self) -> Option<&str> {
        self.task
            .as_ref()
            .and_then(|t| t.error.as_ref())
            .map(|e| e.message.as_str())
            .filter(|m| !m.is_empty())
    }

    /// The returned values, when the task completed.
    pub fn results(&self) -> Option<&[Box<RawValue>]> {
        self.task
            .as_ref()
            .filter(|t| t.state == TaskState::Complete)
            .map(|t| {
                t.output
                    .as_ref()
                    .map(|o| o.results.as_slice())
                    .unwrap_or(&[])
            })
    }

    /// The results as compact JSON (`[]` when the script returned nothing).
    pub fn results_json(&self) -> Option<String> {
        self.results()
            .map(|r| serde_json::to_string(r).unwrap_or_else(|_| "[]".to_owned()))
    }

    /// A one-line headline: `COMPLETE`, `FAILED (SCRIPT_ERROR)`, or what stopped the task.
    pub fn headline(&self) -> String {
        crate::render::text::headline(
            self.outcome,
            self.state(),
            self.error_code(),
            self.tests.as_ref(),
            self.service,
        )
    }
}

impl StepReport {
    /// A step that ended before any task: nothing learned but how it ended.
    pub fn new(outcome: Outcome) -> Self {
        Self {
            outcome,
            problem: None,
            tests: None,
            coverage: None,
            duration: Duration::ZERO,
            place_version: None,
            service: Service::OpenCloud,
            tasks: Vec::new(),
        }
    }

    /// A step of one task: its outcome, problem, tests and figures are the task's.
    ///
    /// The task's tests and coverage move to the step (a suite's tests are the largest part of
    /// a report, and nothing reads them from the step's own task), so they are held once.
    pub fn of_one(mut task: TaskReport) -> Self {
        Self {
            outcome: task.outcome,
            problem: task.problem.clone(),
            tests: task.tests.take(),
            coverage: task.coverage.take(),
            duration: task.duration,
            place_version: task.place_version,
            service: task.service,
            tasks: vec![task],
        }
    }

    /// The step's own task: the one shown without a label, whose error, results and path are
    /// the step's (a run of one). `None` for a step of many, or one that started no task.
    pub fn own_task(&self) -> Option<&TaskReport> {
        self.tasks.iter().find(|task| task.label.is_none())
    }

    /// The step's own task, made if it has none (tests build reports with it).
    #[cfg(test)]
    pub(crate) fn own_task_mut(&mut self) -> &mut TaskReport {
        let at = match self.tasks.iter().position(|task| task.label.is_none()) {
            Some(at) => at,
            None => {
                let task = TaskReport::new(self.outcome, self.service);
                self.tasks.insert(0, task);
                0
            }
        };
        &mut self.tasks[at]
    }

    /// The tasks shown under their labels (a step of many).
    pub fn labelled_tasks(&self) -> impl Iterator<Item = &TaskReport> {
        self.tasks.iter().filter(|task| task.label.is_some())
    }

    /// The labelled tasks that failed in a way the step's tests do not say (a script that
    /// crashed, a deadline), shown as failed tasks. A suite that could not run is the step's
    /// to say once, not each shard's.
    pub fn failed_tasks(&self) -> impl Iterator<Item = &TaskReport> {
        self.labelled_tasks().filter(|task| {
            task.failed_beyond_its_tests() && task.tests.as_ref().is_none_or(|t| t.error.is_none())
        })
    }

    /// Whether the step ran for a time worth saying: a task was created, or tasks were run.
    pub fn ran(&self) -> bool {
        self.tasks
            .iter()
            .any(|task| task.label.is_some() || task.task.is_some())
    }

    /// Every task's path, in the order of the tasks.
    pub fn task_paths(&self) -> Vec<&str> {
        self.tasks
            .iter()
            .filter_map(TaskReport::task_path)
            .collect()
    }

    /// How many log messages every task of the step left.
    pub fn log_count(&self) -> usize {
        self.tasks.iter().map(|task| task.logs.len()).sum()
    }

    /// Whether some task's logs were only partly read.
    pub fn logs_truncated(&self) -> bool {
        self.tasks.iter().any(|task| task.logs_cut.is_some())
    }

    /// The step's own task's path.
    pub fn task_path(&self) -> Option<&str> {
        self.own_task().and_then(TaskReport::task_path)
    }

    /// The step's own task's state as last seen.
    pub fn state(&self) -> Option<&TaskState> {
        self.own_task().and_then(TaskReport::state)
    }

    /// The step's own task's error code.
    pub fn error_code(&self) -> Option<&TaskErrorCode> {
        self.own_task().and_then(TaskReport::error_code)
    }

    /// The step's own task's error message.
    pub fn error_message(&self) -> Option<&str> {
        self.own_task().and_then(TaskReport::error_message)
    }

    /// Where the step's own task's error points in the repository.
    pub fn error_location(&self) -> Option<&FileLine> {
        self.own_task()
            .and_then(|task| task.error_location.as_ref())
    }

    /// The step's own task's returned values, when it completed.
    pub fn results(&self) -> Option<&[Box<RawValue>]> {
        self.own_task().and_then(TaskReport::results)
    }

    /// The step's own task's returned values as compact JSON.
    pub fn results_json(&self) -> Option<String> {
        self.own_task().and_then(TaskReport::results_json)
    }

    /// Why the step's own task's logs could not be read.
    pub fn logs_problem(&self) -> Option<&Problem> {
        self.own_task().and_then(|task| task.logs_problem.as_ref())
    }

    /// Why the step's own task's logs were cut.
    pub fn logs_cut(&self) -> Option<&Problem> {
        self.own_task().and_then(|task| task.logs_cut.as_ref())
    }

    /// Where the step's own task's binary output was written.
    pub fn binary_output_path(&self) -> Option<&PathBuf> {
        self.own_task()
            .and_then(|task| task.binary_output_path.as_ref())
    }

    /// A one-line headline: `COMPLETE`, `FAILED (SCRIPT_ERROR)`, `COMPLETE (4 tasks)`, or what
    /// stopped the step.
    pub fn headline(&self) -> String {
        crate::render::text::step_headline(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::TaskError;

    fn crashed() -> TaskReport {
        let mut task = TaskReport::new(Outcome::ScriptError, Service::OpenCloud);
        task.task = Some(Task {
            path: "universes/1/places/2/luau-execution-session-tasks/t".into(),
            state: TaskState::Failed,
            error: Some(TaskError {
                code: TaskErrorCode::ScriptError,
                message: "TaskScript:1: boom".into(),
            }),
            ..Task::default()
        });
        task.duration = Duration::from_secs(2);
        task.problem = Some(Problem::NoUploadUri);
        task
    }

    /// A run of one is a step with one unlabelled task: the step's lines are its task's.
    #[test]
    fn a_run_of_one_is_a_step_whose_own_task_it_is() {
        let step = StepReport::of_one(crashed());
        assert_eq!(step.outcome, Outcome::ScriptError);
        assert_eq!(step.duration, Duration::from_secs(2));
        assert!(matches!(step.problem, Some(Problem::NoUploadUri)));
        assert_eq!(step.error_message(), Some("TaskScript:1: boom"));
        assert_eq!(
            step.task_paths(),
            ["universes/1/places/2/luau-execution-session-tasks/t"]
        );
        assert!(step.ran());
        // Its failure is the step's own to say, not a failed task of a step of many.
        assert_eq!(step.labelled_tasks().count(), 0);
        assert_eq!(step.failed_tasks().count(), 0);
    }

    /// A step of many has no task of its own: each is shown under its label.
    #[test]
    fn a_step_of_many_shows_each_task_under_its_label() {
        let mut step = StepReport::new(Outcome::ScriptError);
        step.tasks = vec![
            crashed().labelled("a.luau", 2),
            TaskReport::new(Outcome::Complete, Service::OpenCloud).labelled("b.luau", 2),
        ];
        assert!(step.own_task().is_none());
        assert_eq!(step.error_message(), None);
        assert_eq!(step.labelled_tasks().count(), 2);
        let failed: Vec<&str> = step.failed_tasks().map(TaskReport::name).collect();
        assert_eq!(failed, ["a.luau"]);
        // A task that never started still made the step run for a time.
        assert!(step.ran());
        assert!(!StepReport::new(Outcome::BadInput).ran());
    }
}
