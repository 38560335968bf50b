//! How a finished task's results are read and judged: its first return value as the results
//! envelope (parsed, located on the repository's files, scrubbed of the key), where the task's
//! own error points, and whether its tests fail the run. A completed task whose tests failed,
//! found nothing, or cannot be read is a failure of its tests ([`TestsProblem`]), distinct from
//! a script that crashed.

use std::fmt;

use super::bootstrap::Suite;
use super::{ENVELOPE_KIND, EnvelopeError, FileLine, Locator, TestRun, parse_envelope};
use crate::secret::Redactor;

/// Why a completed task's tests fail the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestsProblem {
    /// The suite could not run (no framework, a root missing from the place), in its words.
    CouldNotRun(String),
    /// No tests were found, in the suite's words.
    NoneFound(String),
    /// `test-name-pattern` matched no test, in the suite's words.
    NoneMatched(String),
    /// Some tests failed.
    Failed { failed: usize, total: usize },
    /// The first return value claims to be the envelope but cannot be read.
    Malformed(EnvelopeError),
    /// A suite's bootstrap returned no envelope.
    NoEnvelope,
}

impl fmt::Display for TestsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CouldNotRun(words) | Self::NoneFound(words) | Self::NoneMatched(words) => {
                f.write_str(words)
            }
            Self::Failed { failed, total } => write!(f, "{failed} of {total} tests failed"),
            Self::Malformed(error) => write!(
                f,
                "the test results could not be read: the first return value is a malformed `{ENVELOPE_KIND}` envelope: {error}"
            ),
            Self::NoEnvelope => write!(
                f,
                "the test bootstrap did not return a `{ENVELOPE_KIND}` envelope"
            ),
        }
    }
}

/// What the judge knows: the repository's files, the suite asked for, how inputs are named.
/// Owned, so that a task's results can be read off the thread that follows the task.
pub struct Judge {
    pub locator: Locator,
    pub suite: Option<Suite>,
    /// Inputs are named as an action's (`test-roots`) or as environment variables.
    pub github_actions: bool,
    pub redactor: Redactor,
}

/// What a task's results say.
#[derive(Debug, Default)]
pub struct Reading {
    /// The tests the task reported, located and scrubbed.
    pub tests: Option<TestRun>,
    /// Why they fail the run, if they do (it counts only for a task that completed).
    pub problem: Option<TestsProblem>,
    /// Where the task's own error points in the repository.
    pub error_location: Option<FileLine>,
}

impl Judge {
    /// Reads a finished task: its error message (if it failed) and its first return value (if
    /// it completed and returned one).
    pub fn read(&self, error_message: Option<&str>, first: Option<&str>) -> Reading {
        let error_location = error_message.and_then(|message| self.locator.find_in(message));
        let (tests, problem) = match first.map(|raw| parse_envelope(raw, &self.redactor)) {
            Some(Ok(Some(mut run))) => {
                run.locate(&self.locator);
                run.redact_with(&self.redactor);
                // One shard of a suite may hold no spec modules, or no test the pattern
                // matches; the step judges the whole.
                let sharded = self.suite.as_ref().is_some_and(|s| s.shard.is_some());
                let problem = run.problem(self.suite.as_ref(), !sharded, self.github_actions);
                (Some(run), problem)
            }
            Some(Err(error)) => (None, Some(TestsProblem::Malformed(error))),
            _ if self.suite.is_some() => (None, Some(TestsProblem::NoEnvelope)),
            _ => (None, None),
        };
        Reading {
            tests,
            problem,
            error_location,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(locator: &Locator, redactor: &Redactor) -> Judge {
        Judge {
            locator: locator.clone(),
            suite: None,
            github_actions: false,
            redactor: redactor.clone(),
        }
    }

    #[test]
    fn a_plain_scripts_results_are_not_tests() {
        let (locator, redactor) = (Locator::default(), Redactor::default());
        let reading = judge(&locator, &redactor).read(None, Some("[1,2]"));
        assert!(reading.tests.is_none());
        assert!(reading.problem.is_none());
        let reading = judge(&locator, &redactor).read(None, None);
        assert!(reading.tests.is_none() && reading.problem.is_none());
    }

    #[test]
    fn failing_or_unreadable_tests_say_so() {
        let (locator, redactor) = (Locator::default(), Redactor::default());
        let failed = r#"{"kind":"luau-exec/test-results@1","framework":"testez","tests":[{"path":["S","a"],"status":"failed","message":"no"},{"path":["S","b"],"status":"passed"}]}"#;
        let reading = judge(&locator, &redactor).read(None, Some(failed));
        assert_eq!(
            reading.problem,
            Some(TestsProblem::Failed {
                failed: 1,
                total: 2
            })
        );
        assert_eq!(reading.tests.map(|run| run.tests.len()), Some(2));
        let empty = r#"{"kind":"luau-exec/test-results@1","framework":"testez","tests":[]}"#;
        let reading = judge(&locator, &redactor).read(None, Some(empty));
        assert_eq!(
            reading.problem.map(|p| p.to_string()).as_deref(),
            Some("the results envelope lists no tests")
        );
        let future = r#"{"kind":"luau-exec/test-results@9","tests":[]}"#;
        let reading = judge(&locator, &redactor).read(None, Some(future));
        assert!(
            matches!(reading.problem, Some(TestsProblem::Malformed(_))),
            "{:?}",
            reading.problem
        );
        assert!(reading.tests.is_none());
    }

    #[test]
    fn tests_problems_say_what_they_always_said() {
        assert_eq!(
            TestsProblem::Failed {
                failed: 2,
                total: 5
            }
            .to_string(),
            "2 of 5 tests failed"
        );
        assert_eq!(
            TestsProblem::NoEnvelope.to_string(),
            "the test bootstrap did not return a `luau-exec/test-results@1` envelope"
        );
        assert_eq!(
            TestsProblem::Malformed(EnvelopeError::UnknownVersion("x@9".into())).to_string(),
            "the test results could not be read: the first return value is a malformed `luau-exec/test-results@1` envelope: `kind` is `x@9`, a version of the test-results envelope this luau-exec does not read (it reads `luau-exec/test-results@1`)"
        );
        for words in ["no TestEZ", "none found", "none matched"] {
            for problem in [
                TestsProblem::CouldNotRun(words.into()),
                TestsProblem::NoneFound(words.into()),
                TestsProblem::NoneMatched(words.into()),
            ] {
                assert_eq!(problem.to_string(), words);
            }
        }
    }
}
