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
