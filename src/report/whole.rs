//! A suite the step split across the machine's cores on its own (the local backend, TestEZ,
//! `shards` not given) reads as the one run the user asked for: its shards' reports folded
//! into one task's, so every presenter shows what a run of one shows, whatever the number of
//! cores. Nothing here names a shard; a user who wants them named gives `shards`.

use std::collections::VecDeque;
use std::time::Duration;

use super::merge::merge;
use super::{Problem, StepReport, TaskReport};
use crate::api::Service;
use crate::api::model::TaskOutput;
use crate::config::Plan;
use crate::outcome::Outcome;
use crate::results::TestCase;

/// The step's report for shards the user did not ask for: one unlabelled task whose tests,
/// coverage and logs are every shard's (tests in the order one task runs them, the rest in the
/// order of the shards), whose outcome is the most
/// serious, and whose problem is what a run of one would say.
pub fn fold(config: &Plan, tasks: Vec<TaskReport>, wall: Duration, service: Service) -> StepReport {
    let lengths: Vec<usize> = tasks
        .iter()
        .map(|t| t.tests.as_ref().map_or(1, |run| run.tests.len()))
        .collect();
    let mut step = merge(config, tasks, wall, service);
    if let Some(run) = step.tests.as_mut()
        && lengths.iter().sum::<usize>() == run.tests.len()
    {
        run.tests = in_run_order(std::mem::take(&mut run.tests), &lengths);
    }
    let mut shards = std::mem::take(&mut step.tasks).into_iter();
    let Some(first) = shards.next() else {
        return step;
    };
    let mut whole = first;
    // The shard that says how the run ended: the first of the most serious.
    let mut speaker_outcome = whole.outcome;
    let all_completed = |outcome: Outcome| outcome.is_success() || outcome == Outcome::TestsFailed;
    let mut completed = all_completed(whole.outcome);
    for shard in shards {
        completed &= all_completed(shard.outcome);
        if Outcome::fold([speaker_outcome, shard.outcome]) != speaker_outcome {
            speaker_outcome = shard.outcome;
            take_speech(&mut whole, &shard);
        }
        absorb(&mut whole, shard);
    }
    whole.label = None;
    whole.outcome = step.outcome;
    whole.tests = step.tests.take();
    whole.coverage = step.coverage.take();
    whole.place_version = step.place_version;
    whole.reported_as_test = false;
    // A run of one whose tasks all completed says what its tests say (`3 of 25 tests
    // failed`), not which shard failed; otherwise the speaking shard's own problem stands.
    if completed {
        whole.problem = match (&step.problem, &whole.tests) {
            (Some(Problem::TasksFailed { .. }) | None, Some(run)) => run
                .problem(config.suite.as_ref(), true, config.github_actions)
                .map(Problem::Tests),
            (problem, _) => problem.clone(),
        };
    }
    StepReport::of_one(whole)
}

/// Every shard's tests (one after the other, `lengths` of them each) in the order one task
/// would have run them. TestEZ runs its spec modules sorted by their path (lowercased names
/// joined by spaces, root first), and the shards deal those modules out in turn, so each
/// shard's list is in that order already; no module is split across shards, so two tests of
/// different shards compare as their modules do, which their whole paths compared the same way
/// decide.
fn in_run_order(tests: Vec<TestCase>, lengths: &[usize]) -> Vec<TestCase> {
    let mut shards: Vec<VecDeque<TestCase>> = Vec::with_capacity(lengths.len());
    let mut rest = tests;
    for &length in lengths {
        let tail = rest.split_off(length.min(rest.len()));
        shards.push(std::mem::replace(&mut rest, tail).into());
    }
    let mut ordered = Vec::with_capacity(lengths.iter().sum());
    loop {
        let mut first: Option<(usize, &TestCase)> = None;
        for (index, shard) in shards.iter().enumerate() {
            if let Some(head) = shard.front()
                && first.is_none_or(|(_, best)| sort_key(head).cmp(sort_key(best)).is_lt())
            {
                first = Some((index, head));
            }
        }
        let Some((index, _)) = first else {
            break;
        };
        ordered.extend(shards[index].pop_front());
    }
    ordered
}

/// TestEZ's sort key of spec modules, read from a test's path: its names lowercased (ASCII, as
/// Lua's `string.lower`) and joined by spaces, compared byte by byte.
fn sort_key(test: &TestCase) -> impl Iterator<Item = u8> + '_ {
    test.path.iter().enumerate().flat_map(|(i, name)| {
        (i > 0)
            .then_some(b' ')
            .into_iter()
            .chain(name.bytes().map(|b| b.to_ascii_lowercase()))
    })
}

/// The speaking shard's words become the run's: its task (state, error, path) and problem.
fn take_speech(whole: &mut TaskReport, shard: &TaskReport) {
    let output = whole.task.as_mut().and_then(|task| task.output.take());
    whole.task = shard.task.clone();
    if let Some(task) = whole.task.as_mut() {
        task.output = output;
    }
    whole.problem = shard.problem.clone();
    whole.error_location = shard.error_location.clone();
}

/// What every shard adds to the run: its logs after the others', its returned values, the
/// longest duration, and the first binary output and log problem.
fn absorb(whole: &mut TaskReport, mut shard: TaskReport) {
    whole.logs.append(&mut shard.logs);
    whole.duration = whole.duration.max(shard.duration);
    whole.logs_problem = whole.logs_problem.take().or(shard.logs_problem);
    whole.logs_cut = whole.logs_cut.take().or(shard.logs_cut);
    whole.binary_output_path = whole.binary_output_path.take().or(shard.binary_output_path);
    let values = shard
        .task
        .as_mut()
        .and_then(|task| task.output.take())
        .map(|output| output.results)
        .unwrap_or_default();
    if let Some(task) = whole.task.as_mut() {
        let output = task.output.get_or_insert_with(|| TaskOutput {
            results: Vec::new(),
        });
        output.results.extend(values);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::{LogMessage, MessageType, Task, TaskError, TaskErrorCode, TaskState};
    use crate::results::{TestCase, TestRun, TestStatus};

    /// A TestEZ suite in two shards on the local backend.
    fn two_shards() -> Plan {
        crate::config::from_pairs(&[
            ("INPUT_BACKEND", "local"),
            ("INPUT_TEST_FRAMEWORK", "testez"),
            ("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests"),
            ("INPUT_SHARDS", "2"),
            ("INPUT_PLACE_VERSION", "1"),
        ])
    }

    /// A shard that ended in `state` with `tests`, one log line and one returned value.
    fn shard(index: usize, outcome: Outcome, state: TaskState, tests: Vec<TestCase>) -> TaskReport {
        let mut report = TaskReport::new(outcome, Service::LocalEmulator)
            .labelled(format!("shard {index}/2"), 1);
        report.tests = Some(TestRun {
            framework: "testez".into(),
            tests,
            notes: None,
            error: None,
            totals: None,
        });
        report.task = Some(Task {
            path: format!("universes/1/places/1/tasks/{index}"),
            state,
            output: Some(TaskOutput::from_json_texts(vec![format!("{index}")])),
            ..Task::default()
        });
        report.logs = vec![LogMessage {
            message: format!("from shard {index}"),
            create_time: None,
            message_type: MessageType::Output,
        }];
        report.duration = Duration::from_millis(100 * index as u64);
        report
    }

    fn folded(shards: Vec<TaskReport>) -> StepReport {
        fold(
            &two_shards(),
            shards,
            Duration::from_secs(1),
            Service::LocalEmulator,
        )
    }

    #[test]
    fn completed_shards_read_as_one_run() {
        let step = folded(vec![
            shard(
                1,
                Outcome::TestsFailed,
                TaskState::Complete,
                vec![
                    TestCase::in_tests("a", TestStatus::Passed),
                    TestCase::in_tests("b", TestStatus::Failed),
                ],
            ),
            shard(
                2,
                Outcome::Complete,
                TaskState::Complete,
                vec![TestCase::in_tests("c", TestStatus::Passed)],
            ),
        ]);
        assert_eq!(step.outcome, Outcome::TestsFailed);
        assert_eq!(
            step.headline(),
            "TESTS FAILED (2 passed, 1 failed, 0 skipped)"
        );
        assert_eq!(
            step.problem.as_ref().map(ToString::to_string).as_deref(),
            Some("1 of 3 tests failed")
        );
        assert_eq!(step.tasks.len(), 1);
        let own = step.own_task().expect("the run's one task");
        assert_eq!(own.label, None);
        let names: Vec<&str> = step
            .tests
            .iter()
            .flat_map(|run| run.tests.iter().map(|t| t.path[1].as_str()))
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        let logs: Vec<&str> = own.logs.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(logs, ["from shard 1", "from shard 2"]);
        let values: Vec<&str> = own
            .task
            .iter()
            .flat_map(|t| {
                t.output
                    .iter()
                    .flat_map(|o| o.results.iter().map(|v| v.get()))
            })
            .collect();
        assert_eq!(values, ["1", "2"]);
        assert_eq!(step.duration, Duration::from_millis(200));
        assert_eq!(
            own.task.as_ref().map(|t| t.state.clone()),
            Some(TaskState::Complete)
        );
    }

    /// TestEZ runs modules sorted (`feature0`, `feature1`, `feature10`, `feature11`) and the
    /// shards deal them out in turn; the run lists them as one task would, each module's
    /// tests in the order they ran.
    #[test]
    fn the_tests_are_listed_as_one_task_runs_them() {
        let case = |module: &str, name: &str| TestCase {
            path: vec!["Tests".into(), "Group".into(), module.into(), name.into()],
            ..TestCase::in_tests("x", TestStatus::Passed)
        };
        let step = folded(vec![
            shard(
                1,
                Outcome::Complete,
                TaskState::Complete,
                vec![
                    case("feature0", "z"),
                    case("feature0", "a"),
                    case("Feature10", "b"),
                ],
            ),
            shard(
                2,
                Outcome::Complete,
                TaskState::Complete,
                vec![case("feature1", "y"), case("feature11", "c")],
            ),
        ]);
        let order: Vec<String> = step
            .tests
            .iter()
            .flat_map(|run| run.tests.iter().map(|t| t.path[2..].join("/")))
            .collect();
        assert_eq!(
            order,
            [
                "feature0/z",
                "feature0/a",
                "feature1/y",
                "Feature10/b",
                "feature11/c"
            ]
        );
    }

    #[test]
    fn a_shard_that_crashed_speaks_for_the_run() {
        let mut crashed = shard(2, Outcome::ScriptError, TaskState::Failed, Vec::new());
        crashed.tests = None;
        if let Some(task) = crashed.task.as_mut() {
            task.error = Some(TaskError {
                code: TaskErrorCode::parse("SCRIPT_ERROR"),
                message: "TaskScript:3: broke".into(),
            });
        }
        let step = folded(vec![
            shard(
                1,
                Outcome::Complete,
                TaskState::Complete,
                vec![TestCase::in_tests("a", TestStatus::Passed)],
            ),
            crashed,
        ]);
        assert_eq!(step.outcome, Outcome::ScriptError);
        let own = step.own_task().expect("the run's one task");
        assert_eq!(
            own.task.as_ref().map(|t| t.state.clone()),
            Some(TaskState::Failed)
        );
        assert_eq!(
            own.task
                .as_ref()
                .and_then(|t| t.error.as_ref())
                .map(|e| e.message.as_str()),
            Some("TaskScript:3: broke")
        );
        // The shard's tests that never ran are still a failed test, not a passing run.
        let counts = step.tests.as_ref().map(TestRun::counts);
        assert_eq!(counts.map(|c| (c.passed, c.failed)), Some((1, 1)));
        let values = own
            .task
            .as_ref()
            .and_then(|t| t.output.as_ref())
            .map(|o| o.results.len());
        assert_eq!(values, Some(2), "every shard's returned values are kept");
    }
}
