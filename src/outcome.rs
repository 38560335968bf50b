//! How a run ended, and the one place that turns it into an exit code.
//!
//! Every exit code and its meaning is written once, in [`EXIT_CODES`]: `--help` prints it, and a
//! test holds the README's table and [`Outcome::exit_code`] to it.
//!
//! A step that ran several tasks exits with the most serious of their outcomes
//! ([`Outcome::fold`]).

use crate::api::ApiError;
use crate::api::model::{Task, TaskErrorCode, TaskState};

/// Every exit code with what it means, in order: the one copy `--help` prints and the README's
/// "Exit codes" table is checked against.
pub const EXIT_CODES: &[(&str, &str)] = &[
    (
        "0",
        "COMPLETE (or skipped: no API key and on-missing-key=skip)",
    ),
    ("1", "FAILED with SCRIPT_ERROR"),
    ("2", "bad input; nothing was sent"),
    ("3", "FAILED with DEADLINE_EXCEEDED"),
    ("4", "FAILED with OUTPUT_SIZE_LIMIT_EXCEEDED"),
    (
        "5",
        "FAILED with INTERNAL_ERROR, ERROR_CODE_UNSPECIFIED or an unknown code; unknown terminal state",
    ),
    ("6", "CANCELLED"),
    (
        "7",
        "Open Cloud (or the local emulator) rejected a request (400, 401, 403, 404, 409, a redirect)",
    ),
    (
        "8",
        "Open Cloud unreachable or failing past the retry budget; a create of unknown fate",
    ),
    (
        "9",
        "wait-timeout passed with the task still running (or its binary output downloading, or no task could be created: the place stayed full)",
    ),
    (
        "10",
        "COMPLETE, but tests failed, none were found or matched test-name-pattern, the framework or a test root is not in the place, or their results could not be read",
    ),
    (
        "11",
        "a file could not be written on this machine (binary-output, junit-path, coverage reports)",
    ),
    (
        "12",
        "everything else passed, but the share of lines run is below coverage-threshold, or coverage could not be measured",
    ),
    ("130", "interrupted by SIGINT"),
    ("143", "interrupted by SIGTERM"),
];

/// A signal that stopped the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The task completed.
    Complete,
    /// No API key and `on-missing-key: skip`: nothing ran.
    Skipped,
    /// The script raised an unhandled error.
    ScriptError,
    DeadlineExceeded,
    OutputSizeLimitExceeded,
    /// `INTERNAL_ERROR`, `ERROR_CODE_UNSPECIFIED`, a code we do not know, or a terminal state we
    /// do not know.
    TaskFailed,
    Cancelled,
    /// An input was refused; nothing was sent.
    BadInput,
    /// Open Cloud answered 4xx.
    Rejected,
    /// Open Cloud could not be reached or kept failing.
    Unavailable,
    /// `wait-timeout` passed while the task was still running.
    WaitTimeout,
    /// The task completed and reported failing tests, no tests at all (or none the name
    /// pattern matched), a suite that could not run (no framework or root in the place), or
    /// results that could not be read: distinct from a script that crashed (exit 1).
    TestsFailed,
    /// A file could not be written on this machine (disk full, permissions): not the task's
    /// fault, nor the server's.
    LocalWriteFailed,
    /// Everything passed, but coverage is below `coverage-threshold` (or was not measured):
    /// its own code, so a gate on coverage reads apart from failing tests.
    CoverageBelowThreshold,
    Interrupted(Signal),
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Complete | Self::Skipped => 0,
            Self::ScriptError => 1,
            Self::BadInput => 2,
            Self::DeadlineExceeded => 3,
            Self::OutputSizeLimitExceeded => 4,
            Self::TaskFailed => 5,
            Self::Cancelled => 6,
            Self::Rejected => 7,
            Self::Unavailable => 8,
            Self::WaitTimeout => 9,
            Self::TestsFailed => 10,
            Self::LocalWriteFailed => 11,
            Self::CoverageBelowThreshold => 12,
            Self::Interrupted(Signal::Interrupt) => 130,
            Self::Interrupted(Signal::Terminate) => 143,
        }
    }

    /// The outcome of a task in a terminal state.
    pub fn of_task(task: &Task) -> Self {
        match &task.state {
            TaskState::Complete => Self::Complete,
            TaskState::Cancelled => Self::Cancelled,
            TaskState::Failed => match task.error.as_ref().map(|e| &e.code) {
                Some(TaskErrorCode::ScriptError) => Self::ScriptError,
                Some(TaskErrorCode::DeadlineExceeded) => Self::DeadlineExceeded,
                Some(TaskErrorCode::OutputSizeLimitExceeded) => Self::OutputSizeLimitExceeded,
                _ => Self::TaskFailed,
            },
            _ => Self::TaskFailed,
        }
    }

    pub fn of_api_error(error: &ApiError) -> Self {
        match error {
            ApiError::Rejected { .. } => Self::Rejected,
            ApiError::Unavailable { .. }
            | ApiError::AmbiguousCreate { .. }
            | ApiError::BadResponse { .. }
            | ApiError::Client(_) => Self::Unavailable,
            ApiError::LocalWrite { .. } => Self::LocalWriteFailed,
        }
    }

    /// Whether the run succeeded.
    pub fn is_success(self) -> bool {
        self.exit_code() == 0
    }

    /// How serious an outcome is, when a step ran many tasks and exits with one code: the
    /// step's own end (a signal, bad input) first, then what kept tasks from a result (the
    /// service, the wait), then tasks that crashed, then failing tests, then success.
    fn severity(self) -> u8 {
        match self {
            Self::Interrupted(_) => 14,
            Self::BadInput => 13,
            Self::Rejected => 12,
            Self::Unavailable => 11,
            Self::WaitTimeout => 10,
            Self::LocalWriteFailed => 9,
            Self::TaskFailed => 8,
            Self::Cancelled => 7,
            Self::DeadlineExceeded => 6,
            Self::OutputSizeLimitExceeded => 5,
            Self::ScriptError => 4,
            Self::TestsFailed => 3,
            Self::CoverageBelowThreshold => 2,
            Self::Complete => 1,
            Self::Skipped => 0,
        }
    }

    /// The most serious of many tasks' outcomes; `Complete` for none.
    pub fn fold(outcomes: impl IntoIterator<Item = Outcome>) -> Outcome {
        outcomes
            .into_iter()
            .max_by_key(|outcome| outcome.severity())
            .unwrap_or(Self::Complete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::TaskError;

    /// Every outcome; a new variant fails to compile in `exit_code` first, then here.
    const ALL: [Outcome; 16] = [
        Outcome::Complete,
        Outcome::Skipped,
        Outcome::ScriptError,
        Outcome::DeadlineExceeded,
        Outcome::OutputSizeLimitExceeded,
        Outcome::TaskFailed,
        Outcome::Cancelled,
        Outcome::BadInput,
        Outcome::Rejected,
        Outcome::Unavailable,
        Outcome::WaitTimeout,
        Outcome::TestsFailed,
        Outcome::LocalWriteFailed,
        Outcome::CoverageBelowThreshold,
        Outcome::Interrupted(Signal::Interrupt),
        Outcome::Interrupted(Signal::Terminate),
    ];

    fn documented_codes() -> std::collections::BTreeSet<u8> {
        EXIT_CODES
            .iter()
            .map(|(code, _)| code.parse().expect("EXIT_CODES holds numbers"))
            .collect()
    }

    #[test]
    fn every_exit_code_is_documented_once_and_every_documented_code_is_used() {
        let used: std::collections::BTreeSet<u8> = ALL.iter().map(|o| o.exit_code()).collect();
        assert_eq!(used, documented_codes());
        assert_eq!(
            documented_codes().len(),
            EXIT_CODES.len(),
            "a code is listed twice"
        );
    }

    #[test]
    fn the_readmes_exit_code_table_lists_exactly_the_documented_codes() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("the README is beside Cargo.toml");
        let section = readme
            .split("\n## Exit codes\n")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("the README has an Exit codes section");
        let in_readme: std::collections::BTreeSet<u8> = section
            .lines()
            .filter_map(|line| line.strip_prefix("| "))
            .filter_map(|row| row.split(" |").next())
            .flat_map(|cell| cell.split(" / ").map(str::to_owned).collect::<Vec<_>>())
            .filter_map(|code| code.trim().parse().ok())
            .collect();
        assert_eq!(in_readme, documented_codes());
    }

    #[test]
    fn help_prints_the_table() {
        let help = crate::cli::after_help();
        for (code, meaning) in EXIT_CODES {
            assert!(
                help.contains(&format!("  {code:<4} {meaning}")),
                "{code} missing from --help"
            );
        }
    }

    fn failed(code: &str) -> Task {
        Task {
            state: TaskState::Failed,
            error: Some(TaskError {
                code: TaskErrorCode::parse(code),
                message: String::new(),
            }),
            ..Task::default()
        }
    }

    #[test]
    fn task_outcomes_map_to_documented_codes() {
        let complete = Task {
            state: TaskState::Complete,
            ..Task::default()
        };
        assert_eq!(Outcome::of_task(&complete).exit_code(), 0);
        assert_eq!(Outcome::of_task(&failed("SCRIPT_ERROR")).exit_code(), 1);
        assert_eq!(
            Outcome::of_task(&failed("DEADLINE_EXCEEDED")).exit_code(),
            3
        );
        assert_eq!(
            Outcome::of_task(&failed("OUTPUT_SIZE_LIMIT_EXCEEDED")).exit_code(),
            4
        );
        assert_eq!(Outcome::of_task(&failed("INTERNAL_ERROR")).exit_code(), 5);
        assert_eq!(
            Outcome::of_task(&failed("ERROR_CODE_UNSPECIFIED")).exit_code(),
            5
        );
        assert_eq!(Outcome::of_task(&failed("SOMETHING_NEW")).exit_code(), 5);
        let no_error = Task {
            state: TaskState::Failed,
            ..Task::default()
        };
        assert_eq!(Outcome::of_task(&no_error).exit_code(), 5);
        let cancelled = Task {
            state: TaskState::Cancelled,
            ..Task::default()
        };
        assert_eq!(Outcome::of_task(&cancelled).exit_code(), 6);
    }

    #[test]
    fn a_step_of_many_tasks_exits_with_the_most_serious_outcome() {
        use Outcome::*;
        let table: &[(&[Outcome], Outcome)] = &[
            (&[], Complete),
            (&[Complete, Complete], Complete),
            (&[Complete, TestsFailed, Complete], TestsFailed),
            (&[TestsFailed, ScriptError], ScriptError),
            (
                &[ScriptError, DeadlineExceeded, TestsFailed],
                DeadlineExceeded,
            ),
            (&[DeadlineExceeded, WaitTimeout], WaitTimeout),
            (&[WaitTimeout, Unavailable, Complete], Unavailable),
            (&[Unavailable, Rejected], Rejected),
            (
                &[Rejected, Interrupted(Signal::Terminate)],
                Interrupted(Signal::Terminate),
            ),
            (&[Skipped, Complete], Complete),
            (&[Complete, CoverageBelowThreshold], CoverageBelowThreshold),
            (&[CoverageBelowThreshold, TestsFailed], TestsFailed),
            (
                &[OutputSizeLimitExceeded, Cancelled, TaskFailed],
                TaskFailed,
            ),
        ];
        for (outcomes, expected) in table {
            assert_eq!(
                Outcome::fold(outcomes.iter().copied()),
                *expected,
                "{outcomes:?}"
            );
        }
    }

    #[test]
    fn every_outcome_has_its_own_code_but_a_skip_which_shares_success() {
        let codes: Vec<u8> = ALL
            .iter()
            .filter(|o| **o != Outcome::Skipped)
            .map(|o| o.exit_code())
            .collect();
        assert_eq!(
            codes,
            vec![0, 1, 3, 4, 5, 6, 2, 7, 8, 9, 10, 11, 12, 130, 143]
        );
        assert_eq!(Outcome::Skipped.exit_code(), 0);
    }

    #[test]
    fn signals_are_named_as_the_shell_names_them() {
        // The headline (`INTERRUPTED (SIGTERM)`) and the interruption messages name them.
        assert_eq!(Signal::Interrupt.name(), "SIGINT");
        assert_eq!(Signal::Terminate.name(), "SIGTERM");
    }
}
