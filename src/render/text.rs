//! The headline wording, in one place: what every presenter, the step outputs and the job
//! summary call a step's or a task's end (`COMPLETE`, `FAILED (SCRIPT_ERROR)`,
//! `TESTS FAILED (…) in 4 tasks`).

use crate::api::Service;
use crate::api::model::{TaskErrorCode, TaskState};
use crate::outcome::Outcome;
use crate::report::StepReport;
use crate::results::TestRun;

/// The headline of one task's end (or of a step that ran one): `COMPLETE`,
/// `FAILED (SCRIPT_ERROR)`, or what stopped it.
pub fn headline(
    outcome: Outcome,
    state: Option<&TaskState>,
    error_code: Option<&TaskErrorCode>,
    tests: Option<&TestRun>,
    service: Service,
) -> String {
    let service_name = || service.to_string().to_uppercase();
    match (outcome, state) {
        (Outcome::CoverageBelowThreshold, _) => "COVERAGE BELOW THRESHOLD".to_owned(),
        (Outcome::Skipped, _) => "SKIPPED (no API key)".to_owned(),
        (Outcome::WaitTimeout, Some(state)) => format!("WAIT TIMEOUT (task still {state})"),
        (Outcome::WaitTimeout, None) => "WAIT TIMEOUT".to_owned(),
        (Outcome::Interrupted(signal), _) => format!("INTERRUPTED ({})", signal.name()),
        (Outcome::Rejected, _) => format!("REJECTED BY {}", service_name()),
        (Outcome::Unavailable, Some(state)) if state.is_terminal() => {
            format!("{state}, then {} UNAVAILABLE", service_name())
        }
        (Outcome::Unavailable, _) => format!("{} UNAVAILABLE", service_name()),
        (Outcome::BadInput, _) => "BAD INPUT".to_owned(),
        (Outcome::LocalWriteFailed, Some(state)) => {
            format!("{state}, then A LOCAL WRITE FAILED")
        }
        (Outcome::LocalWriteFailed, None) => "LOCAL WRITE FAILED".to_owned(),
        (Outcome::TestsFailed, _) => match tests {
            Some(run) => run.failed_headline(),
            None => "TEST RESULTS UNREADABLE".to_owned(),
        },
        (_, Some(state)) => match error_code {
            Some(code) if *state == TaskState::Failed => format!("{state} ({code})"),
            _ => state.to_string(),
        },
        (_, None) => "NOT RUN".to_owned(),
    }
}

/// The headline of a step: its own task's end, or for a step of many tasks
/// `COMPLETE (4 tasks)`, `TESTS FAILED (…) in 4 tasks`, or the most serious task's headline and
/// how many did not succeed.
pub fn step_headline(step: &StepReport) -> String {
    let total = step.labelled_tasks().count();
    if total == 0 || step.outcome == Outcome::CoverageBelowThreshold {
        return headline(
            step.outcome,
            step.state(),
            step.error_code(),
            step.tests.as_ref(),
            step.service,
        );
    }
    if step.outcome.is_success() {
        return format!("COMPLETE ({total} tasks)");
    }
    if let (Outcome::TestsFailed, Some(run)) = (step.outcome, &step.tests) {
        return format!("{} in {total} tasks", run.failed_headline());
    }
    let failed = step
        .labelled_tasks()
        .filter(|task| !task.outcome.is_success())
        .count();
    let worst = step
        .labelled_tasks()
        .find(|task| task.outcome == step.outcome)
        .map(|task| task.headline())
        .unwrap_or_else(|| format!("EXIT {}", step.outcome.exit_code()));
    format!("{worst}; {failed} of {total} tasks did not succeed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Signal;
    use crate::report::TaskReport;

    /// The headline of a task on Open Cloud that ended so, with no tests.
    fn on_open_cloud(outcome: Outcome, state: Option<TaskState>) -> String {
        headline(outcome, state.as_ref(), None, None, Service::OpenCloud)
    }

    /// Every headline a task's end can have, in the words the outputs and presenters print.
    #[test]
    fn each_end_has_its_headline() {
        use TaskState::{Cancelled, Complete, Processing, Queued};
        let cases = [
            (Outcome::Complete, Some(Complete), "COMPLETE"),
            (Outcome::Cancelled, Some(Cancelled), "CANCELLED"),
            (Outcome::Skipped, None, "SKIPPED (no API key)"),
            (
                Outcome::WaitTimeout,
                Some(Queued),
                "WAIT TIMEOUT (task still QUEUED)",
            ),
            (Outcome::WaitTimeout, None, "WAIT TIMEOUT"),
            (
                Outcome::Interrupted(Signal::Terminate),
                None,
                "INTERRUPTED (SIGTERM)",
            ),
            (Outcome::Rejected, None, "REJECTED BY OPEN CLOUD"),
            (
                Outcome::Unavailable,
                Some(Complete),
                "COMPLETE, then OPEN CLOUD UNAVAILABLE",
            ),
            (
                Outcome::Unavailable,
                Some(Processing),
                "OPEN CLOUD UNAVAILABLE",
            ),
            (Outcome::BadInput, None, "BAD INPUT"),
            (
                Outcome::LocalWriteFailed,
                Some(Complete),
                "COMPLETE, then A LOCAL WRITE FAILED",
            ),
            (Outcome::LocalWriteFailed, None, "LOCAL WRITE FAILED"),
            (
                Outcome::TestsFailed,
                Some(Complete),
                "TEST RESULTS UNREADABLE",
            ),
            (
                Outcome::CoverageBelowThreshold,
                Some(Complete),
                "COVERAGE BELOW THRESHOLD",
            ),
            (Outcome::Complete, None, "NOT RUN"),
        ];
        for (outcome, state, words) in cases {
            assert_eq!(on_open_cloud(outcome, state), words, "{outcome:?}");
        }
        let failed = Some(&TaskState::Failed);
        let code = Some(&TaskErrorCode::ScriptError);
        let local = Service::LocalEmulator;
        assert_eq!(
            headline(Outcome::ScriptError, failed, code, None, local),
            "FAILED (SCRIPT_ERROR)"
        );
        assert_eq!(
            headline(Outcome::Rejected, None, None, None, local),
            "REJECTED BY THE LOCAL EMULATOR"
        );
    }

    /// A step of one says its task's end; a step of many counts its tasks.
    #[test]
    fn a_step_of_one_reads_as_its_task_and_a_step_of_many_counts() {
        let task = |outcome| TaskReport::new(outcome, Service::OpenCloud);
        assert_eq!(
            StepReport::of_one(task(Outcome::WaitTimeout)).headline(),
            "WAIT TIMEOUT"
        );
        let mut step = StepReport::new(Outcome::Complete);
        step.tasks = vec![
            task(Outcome::Complete).labelled("a.luau", 1),
            task(Outcome::Complete).labelled("b.luau", 1),
        ];
        assert_eq!(step.headline(), "COMPLETE (2 tasks)");
        step.outcome = Outcome::WaitTimeout;
        step.tasks[1].outcome = Outcome::WaitTimeout;
        assert_eq!(
            step.headline(),
            "WAIT TIMEOUT; 1 of 2 tasks did not succeed"
        );
        step.outcome = Outcome::CoverageBelowThreshold;
        assert_eq!(step.headline(), "COVERAGE BELOW THRESHOLD");
    }
}
