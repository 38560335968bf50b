//! What a run produced, as data: the presenters, step outputs and job summary all render from
//! a [`RunReport`], and none of them does I/O.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::value::RawValue;

use crate::api::Service;
use crate::api::model::{LogMessage, Task, TaskErrorCode, TaskState};
use crate::outcome::Outcome;
use crate::results::{FileLine, TestRun};

/// Everything a run learned: how it ended, the task as last seen, its logs, and what went
/// wrong around it.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub outcome: Outcome,
    /// The task as last seen (terminal unless the run ended early).
    pub task: Option<Task>,
    /// Why the run ended without a task result, or what went wrong after it (our words, which
    /// may quote a server's error body).
    pub problem: Option<String>,
    /// Every log message, in order.
    pub logs: Vec<LogMessage>,
    /// Set when the logs could not be read; the outcome still follows the task.
    pub logs_problem: Option<String>,
    /// Set when only part of the logs was read (a misbehaving server), and why.
    pub logs_cut: Option<String>,
    /// From task creation to the terminal state (or to the end of the run).
    pub duration: Duration,
    /// The Saved version the run uploaded, or the version it was pinned to.
    pub place_version: Option<u64>,
    pub binary_output_path: Option<PathBuf>,
    /// The tests the task reported (its first return value was the results envelope).
    pub tests: Option<TestRun>,
    /// Whom the run talked to, for the headline.
    pub service: Service,
    /// Where the task's own error points in the repository (`TaskScript:3` → `script-path`,
    /// or an instance path through the sourcemap).
    pub error_location: Option<FileLine>,
    /// When the step ran many tasks: each one's own report, in the order of the units. The
    /// step's report then holds the merged tests and the most serious outcome, and no task of
    /// its own.
    pub units: Vec<UnitReport>,
    /// With coverage asked for: what the task (every task of the step) measured, by repository
    /// file, or why nothing.
    pub coverage: Option<crate::coverage::Coverage>,
}

/// One task of a step that ran many.
#[derive(Debug, Clone)]
pub struct UnitReport {
    /// The script's path, or `shard 2/4`.
    pub label: String,
    pub place_id: u64,
    pub report: RunReport,
    /// Whether the step's tests stand for this task's failure: a shard of a suite that did not
    /// report its tests is a failed test named after it. A script that crashed is a failed
    /// task, not a test.
    pub reported_as_test: bool,
}

impl UnitReport {
    /// Whether this task failed in a way its tests do not already say: a crash, a deadline,
    /// a suite that could not run. Such a task is shown as a failed task.
    pub fn failed_beyond_its_tests(&self) -> bool {
        let tests_say_it = self
            .report
            .tests
            .as_ref()
            .is_some_and(|run| run.counts().failed > 0 && run.error.is_none());
        !self.report.outcome.is_success() && !self.reported_as_test && !tests_say_it
    }
}

/// One task's logs, as the presenters group them.
#[derive(Debug, Clone, Copy)]
pub struct LogGroup<'a> {
    /// The task's label when the step ran many.
    pub label: Option<&'a str>,
    /// The task's own report: its logs, its error (annotated already), its log problems.
    pub report: &'a RunReport,
}

impl RunReport {
    pub fn new(outcome: Outcome) -> Self {
        Self {
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
            error_location: None,
            service: Service::OpenCloud,
            units: Vec::new(),
            coverage: None,
        }
    }

    /// Each task's logs with its label: one group without a label for a run of one task.
    pub fn log_groups(&self) -> Vec<LogGroup<'_>> {
        if self.units.is_empty() {
            return vec![LogGroup {
                label: None,
                report: self,
            }];
        }
        self.units
            .iter()
            .map(|unit| LogGroup {
                label: Some(&unit.label),
                report: &unit.report,
            })
            .collect()
    }

    /// The tasks of a step that failed in a way the step's tests do not say (a script that
    /// crashed, a deadline), shown as failed tasks. A suite that could not run is the step's
    /// to say once, not each shard's.
    pub fn failed_tasks(&self) -> impl Iterator<Item = &UnitReport> {
        self.units.iter().filter(|unit| {
            unit.failed_beyond_its_tests()
                && unit.report.tests.as_ref().is_none_or(|t| t.error.is_none())
        })
    }

    /// Every task's path: this run's, or each of the step's tasks'.
    pub fn task_paths(&self) -> Vec<&str> {
        if self.units.is_empty() {
            return self.task_path().into_iter().collect();
        }
        self.units
            .iter()
            .filter_map(|unit| unit.report.task_path())
            .collect()
    }

    /// How many log messages every task of the run left.
    pub fn log_count(&self) -> usize {
        self.log_groups().iter().map(|g| g.report.logs.len()).sum()
    }

    /// Whether some task's logs were only partly read.
    pub fn logs_truncated(&self) -> bool {
        self.log_groups()
            .iter()
            .any(|g| g.report.logs_cut.is_some())
    }

    pub fn task_path(&self) -> Option<&str> {
        self.task
            .as_ref()
            .map(|t| t.path.as_str())
            .filter(|p| !p.is_empty())
    }

    pub fn state(&self) -> Option<&TaskState> {
        self.task.as_ref().map(|t| &t.state)
    }

    pub fn error_code(&self) -> Option<&TaskErrorCode> {
        self.task
            .as_ref()
            .and_then(|t| t.error.as_ref())
            .map(|e| &e.code)
    }

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

    /// The headline of a step that ran many tasks: `COMPLETE (4 tasks)`,
    /// `TESTS FAILED (…) in 4 tasks`, or the most serious task's headline and how many failed.
    fn step_headline(&self) -> String {
        let total = self.units.len();
        let failed = self
            .units
            .iter()
            .filter(|u| !u.report.outcome.is_success())
            .count();
        if self.outcome.is_success() {
            return format!("COMPLETE ({total} tasks)");
        }
        if let (Outcome::TestsFailed, Some(run)) = (self.outcome, &self.tests) {
            return format!("{} in {total} tasks", run.failed_headline());
        }
        let worst = self
            .units
            .iter()
            .find(|u| u.report.outcome == self.outcome)
            .map(|u| u.report.headline())
            .unwrap_or_else(|| format!("EXIT {}", self.outcome.exit_code()));
        format!("{worst}; {failed} of {total} tasks did not succeed")
    }

    fn service_name(&self) -> String {
        self.service.to_string().to_uppercase()
    }

    /// A one-line headline: `COMPLETE`, `FAILED (SCRIPT_ERROR)`, or what stopped the run.
    pub fn headline(&self) -> String {
        if self.outcome == Outcome::CoverageBelowThreshold {
            return "COVERAGE BELOW THRESHOLD".to_owned();
        }
        if !self.units.is_empty() {
            return self.step_headline();
        }
        match (&self.outcome, self.state()) {
            (Outcome::Skipped, _) => "SKIPPED (no API key)".to_owned(),
            (Outcome::WaitTimeout, Some(state)) => format!("WAIT TIMEOUT (task still {state})"),
            (Outcome::WaitTimeout, None) => "WAIT TIMEOUT".to_owned(),
            (Outcome::Interrupted(signal), _) => format!("INTERRUPTED ({})", signal.name()),
            (Outcome::Rejected, _) => format!("REJECTED BY {}", self.service_name()),
            (Outcome::Unavailable, Some(state)) if state.is_terminal() => {
                format!("{state}, then {} UNAVAILABLE", self.service_name())
            }
            (Outcome::Unavailable, _) => format!("{} UNAVAILABLE", self.service_name()),
            (Outcome::BadInput, _) => "BAD INPUT".to_owned(),
            (Outcome::LocalWriteFailed, Some(state)) => {
                format!("{state}, then A LOCAL WRITE FAILED")
            }
            (Outcome::LocalWriteFailed, None) => "LOCAL WRITE FAILED".to_owned(),
            (Outcome::TestsFailed, _) => match &self.tests {
                Some(run) => run.failed_headline(),
                None => "TEST RESULTS UNREADABLE".to_owned(),
            },
            (_, Some(state)) => match self.error_code() {
                Some(code) if *state == TaskState::Failed => format!("{state} ({code})"),
                _ => state.to_string(),
            },
            (_, None) => "NOT RUN".to_owned(),
        }
    }
}
