//! What went wrong, as a kind with its facts: the reports say it in words ([`Display`], the
//! words every format prints), and a reader of the report can tell one cause from another
//! (the server's refusal with its status, a wait that ran out, a signal, a file that could not
//! be written) without parsing a sentence.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::api::model::TaskState;
use crate::api::{ApiError, Service};
use crate::duration::human;
use crate::outcome::Signal;
use crate::results::TestsProblem;
use crate::text::size;

/// Why a step or a task ended as it did, or what went wrong around it.
#[derive(Debug, Clone)]
pub enum Problem {
    /// No API key, and `on-missing-key: skip`: nothing ran (in the config's words).
    Skipped(&'static str),
    /// An input that could not be used, said before anything was sent.
    BadInput {
        input: &'static str,
        problem: String,
    },
    /// A file to send could not be read.
    Unreadable {
        path: PathBuf,
        error: Arc<std::io::Error>,
    },
    /// A request failed: refused by the server (with its status), or the server unreachable
    /// past the retry budget.
    Api(ApiError),
    /// The place file's upload failed.
    PlaceUpload { path: PathBuf, error: ApiError },
    /// The local emulator could not start.
    EmulatorStart(String),
    /// The binary input was created without a URI to upload it to.
    NoUploadUri,
    /// The task completed without the binary output URI it was asked for.
    NoBinaryOutputUri(Service),
    /// Creates were refused (429) until `wait-timeout` passed.
    CreateTimeout { waited: Duration, error: ApiError },
    /// `wait-timeout` passed with the task still running.
    WaitTimeout {
        waited: Duration,
        last: TaskState,
        left: LeftRunning,
    },
    /// `wait-timeout` passed while the binary output was downloading.
    DownloadTimeout { waited: Duration, path: PathBuf },
    /// `wait-timeout` passed while the unit waited its turn.
    NeverStarted { waited: Duration, parallel: usize },
    /// The task ended in a state this tool does not know.
    UnknownState(TaskState),
    /// A task created at head behind a `game.PlaceVersion` guard booted another version; its
    /// guard stopped it before the script (see `place_reuse`).
    WrongPlaceVersion { expected: u64, found: u64 },
    /// A signal stopped the run; what it leaves behind depends on when it came.
    Interrupted { signal: Signal, at: Interruption },
    /// The task's logs could not be read.
    LogsUnreadable(ApiError),
    /// `wait-timeout` passed before the task's logs were read.
    LogsTimedOut { waited: Duration },
    /// Only part of the logs was read: the server misbehaved.
    LogsCut(LogsCut),
    /// A directory for a file to write could not be made on this machine.
    CannotCreate {
        path: PathBuf,
        error: Arc<std::io::Error>,
    },
    /// A report file could not be written on this machine.
    WriteFailed {
        what: &'static str,
        path: PathBuf,
        error: Arc<std::io::Error>,
    },
    /// A completed task's tests fail the run: failed, none found or matched, a suite that
    /// could not run, results that cannot be read.
    Tests(TestsProblem),
    /// Tasks of a step did not succeed: each one's label and headline.
    TasksFailed { failed: Vec<String>, total: usize },
    /// Tasks last seen unfinished on Open Cloud, which has no cancel.
    StillRunning(Vec<String>),
    /// Coverage is below `coverage-threshold`, or could not be measured, in the gate's words.
    CoverageBelowThreshold(String),
    /// How the step had ended, before a later problem (`FAILED (SCRIPT_ERROR) (1)`).
    Ended { headline: String, exit_code: u8 },
    /// One problem, then another after it (a report not written after a failed run).
    Then(Box<Problem>, Box<Problem>),
    /// One problem, and another beside it (tasks left running beside the step's failure).
    Also(Box<Problem>, Box<Problem>),
    /// The last test a task said it started (`live-progress`), when the run ended before it.
    LastTestStarted(String),
}

/// Where a task that may still run lives, in its backend's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftRunning {
    pub service: Service,
    pub path: String,
}

/// When a signal came: what it leaves behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interruption {
    /// Uploads; no task exists.
    BeforeCreate,
    /// The create request was in flight: a task may exist.
    WhileCreating(Service),
    /// The task exists; it had ended (with this state) or may still run.
    Following {
        ended: Option<TaskState>,
        left: LeftRunning,
    },
    /// Following a task whose path is unknown.
    FollowingUnknown,
    /// The step's place upload, before any task.
    UploadingPlace,
    /// A unit of a step that had not started yet.
    NeverStarted,
}

/// Why the logs were read only in part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogsCut {
    /// More text than any task can log.
    TooMuchText { max_bytes: usize },
    /// The listing repeated a page token.
    TokenCycle,
    /// The listing kept answering with more pages.
    TooManyPages { pages: usize },
}

impl Problem {
    /// This problem, then `later` after it.
    pub fn then(self, later: Problem) -> Self {
        Self::Then(Box::new(self), Box::new(later))
    }

    /// This problem, and `beside` with it.
    pub fn also(self, beside: Problem) -> Self {
        Self::Also(Box::new(self), Box::new(beside))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Skipped(why) => f.write_str(why),
            Self::BadInput { input, problem } => write!(f, "input `{input}`: {problem}"),
            Self::Unreadable { path, error } => {
                write!(f, "cannot read `{}`: {error}", path.display())
            }
            Self::Api(error) => write!(f, "{error}"),
            Self::PlaceUpload { path, error } => {
                write!(f, "place file `{}`: {error}", path.display())
            }
            Self::EmulatorStart(error) => write!(f, "cannot start the local emulator: {error}"),
            Self::NoUploadUri => f.write_str("the binary input was created without an upload URI"),
            Self::NoBinaryOutputUri(service) => write!(
                f,
                "{service} completed the task without a binary output URI (did the script return {{ BinaryOutput = buffer }}?)"
            ),
            Self::CreateTimeout { waited, error } => write!(
                f,
                "wait-timeout ({}) passed before a task could be created: {error}",
                human(*waited)
            ),
            Self::WaitTimeout { waited, last, left } => wait_timeout(f, *waited, last, left),
            Self::DownloadTimeout { waited, path } => write!(
                f,
                "the task completed, but its binary output was still downloading when wait-timeout ({}) passed; `{}` was not written",
                human(*waited),
                path.display()
            ),
            Self::NeverStarted { waited, parallel } => write!(
                f,
                "never started: wait-timeout ({}) passed while it waited its turn ({parallel} tasks at a time, ten a place)",
                human(*waited)
            ),
            Self::UnknownState(state) => write!(
                f,
                "the task ended in a state this tool does not know: {state}"
            ),
            Self::WrongPlaceVersion { expected, found } => write!(
                f,
                "the task ran on place version {found}, not {expected} (the place's head moved while it started); no test ran on it, and the run stops rather than report another build"
            ),
            Self::Interrupted { signal, at } => interruption(f, signal.name(), at),
            Self::LogsUnreadable(error) => write!(f, "the task's logs could not be read: {error}"),
            Self::LogsTimedOut { waited } => write!(
                f,
                "the task's logs were not read: wait-timeout ({}) passed first",
                human(*waited)
            ),
            Self::LogsCut(cut) => write!(f, "{cut}"),
            Self::CannotCreate { path, error } => write!(
                f,
                "cannot create `{}` on this machine: {error}",
                path.display()
            ),
            Self::WriteFailed { what, path, error } => write!(
                f,
                "cannot write the {what} `{}` on this machine: {error}",
                path.display()
            ),
            Self::Tests(problem) => write!(f, "{problem}"),
            Self::CoverageBelowThreshold(words) => f.write_str(words),
            Self::TasksFailed { failed, total } => {
                let (count, names) = (failed.len(), failed.join("; "));
                write!(f, "{count} of {total} tasks did not succeed: {names}")
            }
            Self::StillRunning(paths) => {
                let paths = paths.join(", ");
                write!(
                    f,
                    "tasks that may still run on Roblox (Open Cloud has no cancel): {paths}"
                )
            }
            Self::Ended {
                headline,
                exit_code,
            } => write!(f, "{headline} ({exit_code})"),
            Self::Then(first, later) => write!(f, "{first}; then {later}"),
            Self::Also(first, beside) => write!(f, "{first}. {beside}"),
            Self::LastTestStarted(name) => write!(
                f,
                "The last test it started (live progress): {}",
                crate::text::cut(&name.replace(['\n', '\r'], " "), 200)
            ),
        }
    }
}

/// A wait that ran out, and where the task may still run; on Open Cloud a task stuck in
/// PROCESSING is most often a place version Roblox could not load.
fn wait_timeout(
    f: &mut fmt::Formatter<'_>,
    waited: Duration,
    last: &TaskState,
    left: &LeftRunning,
) -> fmt::Result {
    write!(
        f,
        "gave up waiting after {} (wait-timeout) with the task still {last}; {left}",
        human(waited)
    )?;
    if *last == TaskState::Processing && left.service == Service::OpenCloud {
        f.write_str(". A task that never leaves PROCESSING often means a place version Roblox could not load.")?;
    }
    Ok(())
}

/// What an interruption at a point leaves behind, in words.
fn interruption(f: &mut fmt::Formatter<'_>, name: &str, at: &Interruption) -> fmt::Result {
    match at {
        Interruption::BeforeCreate => write!(
            f,
            "interrupted by {name} before a task was created; nothing was started"
        ),
        Interruption::WhileCreating(Service::OpenCloud) => write!(
            f,
            "interrupted by {name} while the task was being created: it may exist and run on Roblox, which has no way to list or cancel tasks"
        ),
        Interruption::WhileCreating(Service::LocalEmulator) => write!(
            f,
            "interrupted by {name} while the task was being created; the local emulator stops with luau-exec"
        ),
        Interruption::Following { ended, left } => {
            write!(f, "interrupted by {name}")?;
            if let Some(state) = ended {
                write!(f, " after the task ended ({state})")?;
            }
            write!(f, "; {left}")
        }
        Interruption::FollowingUnknown => write!(f, "interrupted by {name}"),
        Interruption::UploadingPlace => write!(
            f,
            "interrupted by {name} while uploading the place; no task was started"
        ),
        Interruption::NeverStarted => write!(
            f,
            "never started: interrupted by {name} first; nothing was created for it"
        ),
    }
}

impl fmt::Display for LeftRunning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.service {
            Service::OpenCloud => write!(
                f,
                "it may still run on Roblox (Open Cloud has no cancel): GET /cloud/v2/{}",
                self.path
            ),
            Service::LocalEmulator => write!(
                f,
                "the local emulator stops with luau-exec, and the task with it: {}",
                self.path
            ),
        }
    }
}

impl fmt::Display for LogsCut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooMuchText { max_bytes } => write!(
                f,
                "the logs were cut after {} of text: more than any task can log, so the server misbehaved",
                size(*max_bytes as u64)
            ),
            Self::TokenCycle => f.write_str(
                "the log listing repeated a page token (a cycle), so reading stopped there",
            ),
            Self::TooManyPages { pages } => write!(
                f,
                "the logs were cut after {pages} pages: the server kept answering with more"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Operation;

    fn io(text: &str) -> Arc<std::io::Error> {
        Arc::new(std::io::Error::other(text.to_owned()))
    }

    fn refused() -> ApiError {
        ApiError::Rejected {
            service: Service::OpenCloud,
            operation: Operation::CreateTask,
            status: 403,
            detail: "forbidden".into(),
            hint: None,
        }
    }

    fn left(service: Service) -> LeftRunning {
        LeftRunning {
            service,
            path: "universes/1/places/2/luau-execution-session-tasks/t".into(),
        }
    }

    /// Each problem says its words.
    fn check(cases: Vec<(Problem, String)>) {
        for (problem, words) in cases {
            assert_eq!(problem.to_string(), words, "{problem:?}");
        }
    }

    #[test]
    fn an_api_error_says_the_servers_refusal_with_its_status() {
        assert_eq!(
            refused().to_string(),
            "Open Cloud rejected the request to create the task (HTTP 403): forbidden"
        );
    }

    /// Inputs, requests and the place: each in the words the reports have always printed.
    #[test]
    fn the_problems_before_a_task_say_what_they_always_said() {
        let minute = Duration::from_secs(60);
        let refused_words = refused().to_string();
        let cases: Vec<(Problem, String)> = vec![
            (
                Problem::Skipped("no API key was given, so the Luau run was skipped"),
                "no API key was given, so the Luau run was skipped".into(),
            ),
            (
                Problem::BadInput { input: "api-key", problem: "is required".into() },
                "input `api-key`: is required".into(),
            ),
            (
                Problem::Unreadable { path: "in.bin".into(), error: io("gone") },
                "cannot read `in.bin`: gone".into(),
            ),
            (Problem::Api(refused()), refused_words.clone()),
            (
                Problem::PlaceUpload { path: "game.rbxl".into(), error: refused() },
                format!("place file `game.rbxl`: {refused_words}"),
            ),
            (
                Problem::EmulatorStart("no port".into()),
                "cannot start the local emulator: no port".into(),
            ),
            (
                Problem::NoUploadUri,
                "the binary input was created without an upload URI".into(),
            ),
            (
                Problem::NoBinaryOutputUri(Service::OpenCloud),
                "Open Cloud completed the task without a binary output URI (did the script return { BinaryOutput = buffer }?)".into(),
            ),
            (
                Problem::CreateTimeout { waited: minute, error: refused() },
                format!("wait-timeout (1m00s) passed before a task could be created: {refused_words}"),
            ),
        ];
        check(cases);
    }

    /// Waits, logs and files on this machine: each in the words the reports have always printed.
    #[test]
    fn waits_logs_and_files_say_what_they_always_said() {
        let minute = Duration::from_secs(60);
        let refused_words = refused().to_string();
        let cases: Vec<(Problem, String)> = vec![
            (
                Problem::DownloadTimeout { waited: minute, path: "out.bin".into() },
                "the task completed, but its binary output was still downloading when wait-timeout (1m00s) passed; `out.bin` was not written".into(),
            ),
            (
                Problem::NeverStarted { waited: minute, parallel: 4 },
                "never started: wait-timeout (1m00s) passed while it waited its turn (4 tasks at a time, ten a place)".into(),
            ),
            (
                Problem::UnknownState(TaskState::Unspecified),
                "the task ended in a state this tool does not know: STATE_UNSPECIFIED".into(),
            ),
            (
                Problem::LogsUnreadable(refused()),
                format!("the task's logs could not be read: {refused_words}"),
            ),
            (
                Problem::LogsTimedOut { waited: minute },
                "the task's logs were not read: wait-timeout (1m00s) passed first".into(),
            ),
            (
                Problem::CannotCreate { path: "out".into(), error: io("read-only") },
                "cannot create `out` on this machine: read-only".into(),
            ),
            (
                Problem::WriteFailed { what: "JUnit report", path: "j.xml".into(), error: io("full") },
                "cannot write the JUnit report `j.xml` on this machine: full".into(),
            ),
            (
                Problem::Tests(TestsProblem::Malformed(
                    crate::results::EnvelopeError::UnknownVersion("x@9".into()),
                )),
                "the test results could not be read: the first return value is a malformed `luau-exec/test-results@1` envelope: `kind` is `x@9`, a version of the test-results envelope this luau-exec does not read (it reads `luau-exec/test-results@1`)".into(),
            ),
        ];
        check(cases);
    }

    /// Tests, a step's tasks, and one problem after or beside another.
    #[test]
    fn tests_steps_and_their_combinations_say_what_they_always_said() {
        let cases: Vec<(Problem, String)> = vec![
            (
                Problem::Tests(TestsProblem::NoEnvelope),
                "the test bootstrap did not return a `luau-exec/test-results@1` envelope".into(),
            ),
            (
                Problem::Tests(TestsProblem::CouldNotRun("no TestEZ".into())),
                "no TestEZ".into(),
            ),
            (
                Problem::Tests(TestsProblem::NoneFound("none here".into())),
                "none here".into(),
            ),
            (
                Problem::Tests(TestsProblem::NoneMatched("no match".into())),
                "no match".into(),
            ),
            (Problem::CoverageBelowThreshold("50% < 80%".into()), "50% < 80%".into()),
            (
                Problem::Tests(TestsProblem::Failed { failed: 2, total: 5 }),
                "2 of 5 tests failed".into(),
            ),
            (
                Problem::TasksFailed {
                    failed: vec!["a.luau FAILED (SCRIPT_ERROR)".into(), "b.luau WAIT TIMEOUT".into()],
                    total: 3,
                },
                "2 of 3 tasks did not succeed: a.luau FAILED (SCRIPT_ERROR); b.luau WAIT TIMEOUT".into(),
            ),
            (
                Problem::StillRunning(vec!["t/1".into(), "t/2".into()]),
                "tasks that may still run on Roblox (Open Cloud has no cancel): t/1, t/2".into(),
            ),
            (
                Problem::Ended { headline: "FAILED (SCRIPT_ERROR)".into(), exit_code: 1 },
                "FAILED (SCRIPT_ERROR) (1)".into(),
            ),
            (
                Problem::Tests(TestsProblem::NoEnvelope).then(Problem::NoUploadUri),
                "the test bootstrap did not return a `luau-exec/test-results@1` envelope; then the binary input was created without an upload URI".into(),
            ),
            (
                Problem::Tests(TestsProblem::Failed { failed: 1, total: 1 }).also(Problem::StillRunning(vec!["t".into()])),
                "1 of 1 tests failed. tasks that may still run on Roblox (Open Cloud has no cancel): t".into(),
            ),
        ];
        check(cases);
    }

    #[test]
    fn a_wait_timeout_names_the_task_and_suspects_the_place_only_on_open_cloud() {
        let waited = Duration::from_secs(30);
        let on = |service, last| Problem::WaitTimeout {
            waited,
            last,
            left: left(service),
        };
        assert_eq!(
            on(Service::OpenCloud, TaskState::Queued).to_string(),
            "gave up waiting after 30.0s (wait-timeout) with the task still QUEUED; it may still run on Roblox (Open Cloud has no cancel): GET /cloud/v2/universes/1/places/2/luau-execution-session-tasks/t"
        );
        assert_eq!(
            on(Service::OpenCloud, TaskState::Processing).to_string(),
            "gave up waiting after 30.0s (wait-timeout) with the task still PROCESSING; it may still run on Roblox (Open Cloud has no cancel): GET /cloud/v2/universes/1/places/2/luau-execution-session-tasks/t. A task that never leaves PROCESSING often means a place version Roblox could not load."
        );
        assert_eq!(
            on(Service::LocalEmulator, TaskState::Processing).to_string(),
            "gave up waiting after 30.0s (wait-timeout) with the task still PROCESSING; the local emulator stops with luau-exec, and the task with it: universes/1/places/2/luau-execution-session-tasks/t"
        );
    }

    #[test]
    fn an_interruption_says_what_it_leaves_behind() {
        let at = |at| {
            Problem::Interrupted {
                signal: Signal::Interrupt,
                at,
            }
            .to_string()
        };
        assert_eq!(
            at(Interruption::BeforeCreate),
            "interrupted by SIGINT before a task was created; nothing was started"
        );
        assert_eq!(
            at(Interruption::WhileCreating(Service::OpenCloud)),
            "interrupted by SIGINT while the task was being created: it may exist and run on Roblox, which has no way to list or cancel tasks"
        );
        assert_eq!(
            at(Interruption::WhileCreating(Service::LocalEmulator)),
            "interrupted by SIGINT while the task was being created; the local emulator stops with luau-exec"
        );
        assert_eq!(
            at(Interruption::Following {
                ended: Some(TaskState::Complete),
                left: left(Service::LocalEmulator),
            }),
            "interrupted by SIGINT after the task ended (COMPLETE); the local emulator stops with luau-exec, and the task with it: universes/1/places/2/luau-execution-session-tasks/t"
        );
        assert_eq!(
            at(Interruption::Following {
                ended: None,
                left: left(Service::OpenCloud),
            }),
            "interrupted by SIGINT; it may still run on Roblox (Open Cloud has no cancel): GET /cloud/v2/universes/1/places/2/luau-execution-session-tasks/t"
        );
        assert_eq!(at(Interruption::FollowingUnknown), "interrupted by SIGINT");
        assert_eq!(
            at(Interruption::UploadingPlace),
            "interrupted by SIGINT while uploading the place; no task was started"
        );
        assert_eq!(
            at(Interruption::NeverStarted),
            "never started: interrupted by SIGINT first; nothing was created for it"
        );
    }

    #[test]
    fn a_cut_log_says_why_reading_stopped() {
        assert_eq!(
            Problem::LogsCut(LogsCut::TooMuchText {
                max_bytes: 1_800_000
            })
            .to_string(),
            format!(
                "the logs were cut after {} of text: more than any task can log, so the server misbehaved",
                size(1_800_000)
            )
        );
        assert_eq!(
            Problem::LogsCut(LogsCut::TokenCycle).to_string(),
            "the log listing repeated a page token (a cycle), so reading stopped there"
        );
        assert_eq!(
            Problem::LogsCut(LogsCut::TooManyPages { pages: 1000 }).to_string(),
            "the logs were cut after 1000 pages: the server kept answering with more"
        );
    }
}
