//! One step's report out of its tasks' reports: the most serious outcome, every shard's tests
//! together (a shard that did not report its tests is a failed test that says which tests
//! never ran; with work stealing, so is any spec module no task reported), every shard's
//! coverage added up, and what the step as a whole has to say (a suite with no tests, the
//! tasks that failed, the tasks that may still run on Roblox).

use std::time::Duration;

use super::problem::Interruption;
use super::{Problem, StepReport, TaskReport};
use crate::api::Service;
use crate::config::{Plan, TaskSpec};
use crate::outcome::Outcome;
use crate::results::bootstrap::{Framework, Suite};
use crate::results::{Counts, Locator, TestCase, TestRun, TestStatus, TestsProblem};
use crate::work_queue::Ledger;

/// The step's report: the most serious outcome, every shard's tests together, and each task's
/// own report. `tasks` holds one report for each of `config.units`, in their order.
pub fn merge(
    config: &Plan,
    mut tasks: Vec<TaskReport>,
    wall: Duration,
    service: Service,
) -> StepReport {
    let mut step = StepReport::new(Outcome::fold(tasks.iter().map(|t| t.outcome)));
    step.service = service;
    step.duration = wall;
    step.place_version = common_place_version(&tasks);
    if config.suite.is_some() || tasks.iter().any(|t| t.tests.is_some()) {
        let run = merged_tests(config, &mut tasks);
        judge_suite(config, &tasks, &run, &mut step);
        never_green_with_a_gap(&run, &mut step);
        step.tests = Some(run);
    }
    // Every shard's hits added up, line by line.
    step.coverage = config.coverage.as_ref().map(|_| {
        crate::coverage::merge_units(tasks.iter().map(|t| (t.name(), t.coverage.as_ref())))
    });
    if step.problem.is_none() {
        step.problem = failed_tasks_problem(&tasks);
    }
    if service == Service::OpenCloud {
        say_still_running(&tasks, &mut step.problem);
    }
    step.tasks = tasks;
    step
}

/// The one place version every task ran against, if they agree.
fn common_place_version(tasks: &[TaskReport]) -> Option<u64> {
    let versions: Vec<Option<u64>> = tasks.iter().map(|t| t.place_version).collect();
    versions
        .windows(2)
        .all(|pair| pair[0] == pair[1])
        .then(|| versions.first().copied().flatten())
        .flatten()
}

/// Every task's tests in one run, in the order of the tasks. A shard of a suite that did not
/// report its tests becomes a failed test that says so (and is marked as reported by it).
fn merged_tests(config: &Plan, tasks: &mut [TaskReport]) -> TestRun {
    let mut run = TestRun {
        framework: String::new(),
        tests: Vec::new(),
        notes: None,
        error: None,
        totals: None,
    };
    let mut notes = Vec::new();
    let mut unlisted = Counts::default();
    let stolen = StolenWork::of(config, tasks);
    // `tasks` are in the order of `config.units`, one for each.
    for (task, unit) in tasks.iter_mut().zip(config.units.iter()) {
        match &mut task.tests {
            Some(tests) => {
                if run.framework.is_empty() {
                    run.framework = tests.framework.clone();
                }
                // Every shard of a suite that cannot run says so alike: once is enough.
                if run.error.is_none() {
                    run.error = tests.error.clone();
                }
                unlisted = unlisted.plus(tests.unlisted());
                // The tests move to the step (a suite's tests are the largest part of a
                // report): the task keeps its counts, which is all that is read of it after.
                tests.totals = Some(tests.counts());
                run.tests.append(&mut tests.tests);
                if let Some(note) = &tests.notes {
                    let name = task.label.as_deref().unwrap_or_default();
                    notes.push(format!("{name}: {note}"));
                }
            }
            // With work stealing, a task that died when the others had reported every module
            // (it never started, or claimed nothing) lost no test: it is a failed task.
            None if stolen.as_ref().is_some_and(StolenWork::all_reported) => {}
            // No reader may take a missing shard for a passing one. A plain script that
            // crashed is a failed task, not a test: tests come from test results.
            None if config.suite.is_some() => {
                let never_ran = match &stolen {
                    Some(stolen) => stolen.never_ran.clone(),
                    None => unit_spec_modules(config, unit),
                };
                run.tests.push(unreported(task, &never_ran));
                task.reported_as_test = true;
            }
            None => {}
        }
    }
    if run.framework.is_empty() {
        run.framework = config
            .suite
            .as_ref()
            .map_or("tests", |s| s.framework.name())
            .to_owned();
    }
    if let Some(stolen) = &stolen {
        stolen.account(tasks, &mut run, &mut notes);
    }
    run.notes = (!notes.is_empty()).then(|| notes.join("\n"));
    // The tests each task counted but did not list (its results were trimmed) count in the
    // step's totals too.
    run.totals = (unlisted.total > 0).then(|| run.listed().plus(unlisted));
    run
}

/// What the tasks of a work-stealing step ran, against what the suite holds.
struct StolenWork {
    ledger: Ledger,
    /// The spec modules no task reported, named (with their files) as far as the sourcemap
    /// knows them.
    never_ran: Vec<String>,
}

impl StolenWork {
    fn of(config: &Plan, tasks: &[TaskReport]) -> Option<Self> {
        crate::work_queue::map_of(config)?;
        let ledger = Ledger::of(tasks);
        let expected = config
            .suite
            .as_ref()
            .map(|suite| suite_spec_modules(suite, &config.locator))
            .unwrap_or_default();
        let never_ran = ledger
            .never_ran(&expected)
            .into_iter()
            .map(|name| with_file(name, &config.locator))
            .collect();
        Some(Self { ledger, never_ran })
    }

    /// Whether the tasks that reported ran every module they listed.
    fn all_reported(&self) -> bool {
        self.ledger.unreported() == Some(0)
    }

    /// Every task reported, yet some modules are in none of their reports (claiming failed,
    /// or the tasks listed different modules): a failed test that names them. A task that did
    /// not report names them itself. A module two tasks ran is a note.
    fn account(&self, tasks: &[TaskReport], run: &mut TestRun, notes: &mut Vec<String>) {
        let twice = self.ledger.ran_twice();
        if !twice.is_empty() {
            notes.push(format!(
                "work stealing: {} ran in more than one task (the step's counter was lost mid-step): {}",
                crate::text::count(twice.len(), "spec module", "spec modules"),
                twice.join(", ")
            ));
        }
        let missing = self.ledger.unreported().unwrap_or(0);
        if missing == 0 || tasks.iter().any(|t| t.reported_as_test) {
            return;
        }
        let mut message = format!(
            "{} of the {} listed by the tasks ran in no task, so their tests did not run",
            crate::text::count(missing, "spec module", "spec modules"),
            self.ledger.total.unwrap_or(0)
        );
        if !self.never_ran.is_empty() {
            message.push_str(&format!(": {}", self.never_ran.join(", ")));
        }
        if !self.ledger.stopped.is_empty() {
            message.push_str(&format!(
                "\nTasks that stopped claiming: {}",
                self.ledger.stopped.join("; ")
            ));
        }
        run.tests.push(TestCase {
            path: vec!["work stealing".to_owned(), "(never ran)".to_owned()],
            status: TestStatus::Failed,
            duration: None,
            message: Some(message),
            location: None,
            file: None,
            brief: None,
        });
    }
}

/// A step whose tests have a failure no task's outcome carries (spec modules no task ran) is
/// not green.
fn never_green_with_a_gap(run: &TestRun, step: &mut StepReport) {
    let counts = run.counts();
    if step.outcome.is_success() && counts.failed > 0 {
        step.outcome = Outcome::TestsFailed;
        if step.problem.is_none() {
            step.problem = Some(Problem::Tests(TestsProblem::Failed {
                failed: counts.failed,
                total: counts.total,
            }));
        }
    }
}

/// The step judges the whole suite once every task completed: no tests found, a pattern that
/// matched none, or a suite that could not run (its tests' failures are each task's own to
/// say).
fn judge_suite(config: &Plan, tasks: &[TaskReport], run: &TestRun, step: &mut StepReport) {
    let counts = run.counts();
    let all_completed = tasks
        .iter()
        .all(|t| t.outcome.is_success() || t.outcome == Outcome::TestsFailed);
    let matched_none = counts.passed + counts.failed == 0
        && config
            .suite
            .as_ref()
            .is_some_and(|s| s.name_pattern.is_some());
    let not_run = run.error.is_some() || counts.total == 0 || matched_none;
    if !(all_completed && not_run) {
        return;
    }
    if step.outcome.is_success() {
        step.outcome = Outcome::TestsFailed;
    }
    step.problem = match (&config.suite, counts.total) {
        (None, 0) => Some(TestsProblem::NoneFound(
            "the tasks' results envelopes list no tests".to_owned(),
        )),
        (suite, _) => run.problem(suite.as_ref(), true, config.github_actions),
    }
    .map(Problem::Tests);
}

/// `2 of 5 tasks did not succeed: a.luau FAILED (SCRIPT_ERROR); …`, when some did not.
fn failed_tasks_problem(tasks: &[TaskReport]) -> Option<Problem> {
    let failed: Vec<String> = tasks
        .iter()
        .filter(|t| !t.outcome.is_success())
        .map(|t| format!("{} {}", t.name(), t.headline()))
        .collect();
    (!failed.is_empty()).then_some(Problem::TasksFailed {
        failed,
        total: tasks.len(),
    })
}

/// Names the tasks last seen unfinished: Open Cloud has no cancel, so they may still run.
fn say_still_running(tasks: &[TaskReport], problem: &mut Option<Problem>) {
    let still_running: Vec<String> = tasks
        .iter()
        .filter(|t| t.state().is_some_and(|s| !s.is_terminal()))
        .filter_map(TaskReport::task_path)
        .map(str::to_owned)
        .collect();
    if still_running.is_empty() {
        return;
    }
    let left = Problem::StillRunning(still_running);
    *problem = Some(match problem.take() {
        Some(before) => before.also(left),
        None => left,
    });
}

/// The report of a unit the step never started: its deadline passed, or a signal came, while
/// it waited its turn.
pub fn never_started(
    config: &Plan,
    label: Option<&str>,
    stop: Option<Outcome>,
    service: Service,
) -> TaskReport {
    let mut task = TaskReport::new(stop.unwrap_or(Outcome::WaitTimeout), service);
    task.label = label.map(str::to_owned);
    task.place_id = config.place_id;
    task.problem = Some(match stop {
        Some(Outcome::Interrupted(signal)) => Problem::Interrupted {
            signal,
            at: Interruption::NeverStarted,
        },
        _ => Problem::NeverStarted {
            waited: config.wait_timeout,
            parallel: config.parallel,
        },
    });
    task
}

/// The spec modules of a unit's TestEZ shard, as the sourcemap lists them (each with its
/// file): empty without a sourcemap, for a unit without a suite, or for Jest-Lua, which is
/// split by roots.
fn unit_spec_modules(config: &Plan, unit: &TaskSpec) -> Vec<String> {
    unit.suite
        .as_ref()
        .map(|suite| spec_modules_of(suite, &config.locator))
        .unwrap_or_default()
}

fn spec_modules_of(suite: &Suite, locator: &Locator) -> Vec<String> {
    let Some(shard) = suite.shard else {
        return Vec::new();
    };
    shard
        .share_of(suite_spec_modules(suite, locator))
        .into_iter()
        .map(|name| with_file(&name, locator))
        .collect()
}

/// Every TestEZ spec module under the suite's roots, as the sourcemap lists them, sorted:
/// empty without a sourcemap, or for Jest-Lua.
fn suite_spec_modules(suite: &Suite, locator: &Locator) -> Vec<String> {
    let (Some(sourcemap), Framework::TestEz) = (locator.sourcemap(), suite.framework) else {
        return Vec::new();
    };
    let mut names: Vec<String> = suite
        .roots
        .iter()
        .flat_map(|root| sourcemap.spec_modules_under(root))
        .collect();
    names.sort();
    names
}

/// `ReplicatedStorage.Tests.a.spec (src/a.spec.luau)`, when the sourcemap knows its file.
fn with_file(name: &str, locator: &Locator) -> String {
    match locator.sourcemap().and_then(|map| map.file_of(name)) {
        Some(file) => format!("{name} ({file})"),
        None => name.to_owned(),
    }
}

/// The failed test that stands for a task that did not report its tests, naming the spec
/// modules that did not run when they are known.
fn unreported(task: &TaskReport, never_ran: &[String]) -> TestCase {
    let why = match (task.error_message(), &task.problem) {
        (Some(message), _) => message.to_owned(),
        (None, Some(problem)) => problem.to_string(),
        (None, None) => "it returned no results envelope".to_owned(),
    };
    let mut message = format!(
        "{} ended {} and reported no tests, so the tests it holds did not run (or their results were lost): {why}",
        task.name(),
        task.headline()
    );
    if !never_ran.is_empty() {
        message.push_str(&format!(
            "\nSpec modules that did not report: {}",
            never_ran.join(", ")
        ));
    }
    if let Some(path) = task.task_path() {
        message.push_str(&format!("\nTask: {path}"));
    }
    TestCase {
        path: vec![task.name().to_owned(), "(did not report)".to_owned()],
        status: TestStatus::Failed,
        duration: Some(task.duration.as_secs_f64()),
        message: Some(message),
        location: None,
        file: task.error_location.clone(),
        brief: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::{Task, TaskError, TaskErrorCode, TaskState};

    /// A TestEZ suite in `shards` shards on the local backend.
    fn suite_config(shards: &str) -> Plan {
        crate::config::from_pairs(&[
            ("INPUT_BACKEND", "local"),
            ("INPUT_TEST_FRAMEWORK", "testez"),
            ("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests"),
            ("INPUT_SHARDS", shards),
            // A suite needs a place: the emulator's empty one holds no tests.
            ("INPUT_PLACE_VERSION", "1"),
        ])
    }

    fn unit(label: &str, outcome: Outcome, tests: Option<Vec<TestCase>>) -> TaskReport {
        let mut report = TaskReport::new(outcome, Service::LocalEmulator).labelled(label, 1);
        report.tests = tests.map(|tests| TestRun {
            framework: "testez".into(),
            tests,
            notes: None,
            error: None,
            totals: None,
        });
        if outcome == Outcome::ScriptError {
            report.task = Some(Task {
                path: "universes/1/places/1/tasks/x".into(),
                state: TaskState::Failed,
                error: Some(TaskError {
                    code: TaskErrorCode::parse("SCRIPT_ERROR"),
                    message: "TaskScript:3: broke".into(),
                }),
                ..Task::default()
            });
        }
        report
    }

    fn merged(config: &Plan, tasks: Vec<TaskReport>) -> StepReport {
        merge(
            config,
            tasks,
            Duration::from_secs(1),
            Service::LocalEmulator,
        )
    }

    #[test]
    fn the_config_makes_one_unit_per_shard() {
        let config = suite_config("3");
        let labels: Vec<&str> = config.units.iter().map(|u| u.name()).collect();
        assert_eq!(labels, ["shard 1/3", "shard 2/3", "shard 3/3"]);
        assert!(
            config.units[1]
                .script
                .contains("shard = { index = 2, count = 3 },")
        );
        assert_eq!(config.parallel, 3);
    }

    #[test]
    fn shards_that_found_no_tests_are_a_suite_with_no_tests() {
        let config = suite_config("2");
        let step = merged(
            &config,
            vec![
                unit("shard 1/2", Outcome::Complete, Some(Vec::new())),
                unit("shard 2/2", Outcome::Complete, Some(Vec::new())),
            ],
        );
        assert_eq!(step.outcome, Outcome::TestsFailed);
        assert_eq!(step.headline(), "NO TESTS FOUND in 2 tasks");
        assert!(step.problem.as_ref().is_some_and(|p| {
            p.to_string()
                .starts_with("no tests were found under ReplicatedStorage.Tests")
        }));
    }

    /// The step's list holds every shard's tests once; each shard still says what its own
    /// tests say (its headline, and that its failure is its tests', not a crash).
    #[test]
    fn a_shards_tests_move_to_the_step_and_its_counts_stay_with_it() {
        let config = suite_config("2");
        let step = merged(
            &config,
            vec![
                unit(
                    "shard 1/2",
                    Outcome::TestsFailed,
                    Some(vec![
                        TestCase::in_tests("a", TestStatus::Passed),
                        TestCase::in_tests("b", TestStatus::Failed),
                    ]),
                ),
                unit(
                    "shard 2/2",
                    Outcome::Complete,
                    Some(vec![TestCase::in_tests("c", TestStatus::Passed)]),
                ),
            ],
        );
        let listed = step.tests.as_ref().map(|run| run.tests.len());
        assert_eq!(listed, Some(3));
        assert_eq!(
            step.tasks[0].headline(),
            "TESTS FAILED (1 passed, 1 failed, 0 skipped)",
            "the shard keeps its own counts"
        );
        assert_eq!(step.failed_tasks().count(), 0, "the failure is the tests'");
    }

    /// Shards whose results were trimmed: the step's totals are the sum of theirs, the list
    /// what they listed, and a shard that listed everything adds its list.
    #[test]
    fn the_totals_of_trimmed_shards_add_up() {
        let config = suite_config("3");
        let trimmed = |label: &str, passed: usize| {
            let mut unit = unit(
                label,
                Outcome::TestsFailed,
                Some(vec![TestCase::in_tests("x", TestStatus::Failed)]),
            );
            if let Some(run) = unit.tests.as_mut() {
                run.totals = Some(Counts {
                    total: passed + 1,
                    passed,
                    failed: 1,
                    skipped: 0,
                });
            }
            unit
        };
        let step = merged(
            &config,
            vec![
                trimmed("shard 1/3", 9000),
                trimmed("shard 2/3", 500),
                unit(
                    "shard 3/3",
                    Outcome::Complete,
                    Some(vec![TestCase::in_tests("y", TestStatus::Skipped)]),
                ),
            ],
        );
        let run = step.tests.as_ref().expect("tests");
        assert_eq!(
            run.counts(),
            Counts {
                total: 9503,
                passed: 9500,
                failed: 2,
                skipped: 1
            }
        );
        assert_eq!((run.tests.len(), run.omitted()), (3, 9500));
        // Untrimmed shards add no totals of their own: the list is the count.
        let step = merged(
            &config,
            vec![
                unit(
                    "shard 1/3",
                    Outcome::Complete,
                    Some(vec![TestCase::in_tests("a", TestStatus::Passed)]),
                ),
                unit(
                    "shard 2/3",
                    Outcome::Complete,
                    Some(vec![TestCase::in_tests("b", TestStatus::Passed)]),
                ),
                unit("shard 3/3", Outcome::Complete, Some(Vec::new())),
            ],
        );
        let run = step.tests.as_ref().expect("tests");
        assert_eq!(
            (run.totals, run.counts().total, run.omitted()),
            (None, 2, 0)
        );
        assert_eq!(step.outcome, Outcome::Complete);
    }

    #[test]
    fn a_shard_that_crashed_is_a_failed_test_beside_the_others() {
        let config = suite_config("2");
        let step = merged(
            &config,
            vec![
                unit(
                    "shard 1/2",
                    Outcome::Complete,
                    Some(vec![
                        TestCase::in_tests("a", TestStatus::Passed),
                        TestCase::in_tests("b", TestStatus::Skipped),
                    ]),
                ),
                unit("shard 2/2", Outcome::ScriptError, None),
            ],
        );
        assert_eq!(step.outcome, Outcome::ScriptError);
        let run = step.tests.as_ref().expect("tests");
        let counts = run.counts();
        assert_eq!(
            (counts.total, counts.passed, counts.failed, counts.skipped),
            (3, 1, 1, 1)
        );
        let lost = run.failures().next().expect("a failure");
        assert_eq!(lost.path, ["shard 2/2", "(did not report)"]);
        let message = lost.message.as_deref().unwrap_or_default();
        assert!(
            message.starts_with(
                "shard 2/2 ended FAILED (SCRIPT_ERROR) and reported no tests, so the tests it holds did not run (or their results were lost): TaskScript:3: broke"
            ),
            "{message}"
        );
        assert!(
            message.ends_with("\nTask: universes/1/places/1/tasks/x"),
            "{message}"
        );
        // The crashed shard is the failed test, so it is not a failed task besides.
        assert_eq!(step.tasks.len(), 2);
        assert!(step.tasks[1].reported_as_test);
        assert_eq!(step.failed_tasks().count(), 0);
        assert_eq!(
            step.headline(),
            "FAILED (SCRIPT_ERROR); 1 of 2 tasks did not succeed"
        );
        assert_eq!(
            step.problem.map(|p| p.to_string()).as_deref(),
            Some("1 of 2 tasks did not succeed: shard 2/2 FAILED (SCRIPT_ERROR)")
        );
    }

    /// The outcome, the counts and the step's words do not depend on the order the tasks are
    /// merged in: only the order of the tests follows the tasks'.
    #[test]
    fn the_merge_does_not_depend_on_the_order_of_the_tasks() {
        let config = suite_config("3");
        let tasks = || {
            vec![
                unit(
                    "shard 1/3",
                    Outcome::TestsFailed,
                    Some(vec![
                        TestCase::in_tests("a", TestStatus::Failed),
                        TestCase::in_tests("b", TestStatus::Passed),
                    ]),
                ),
                unit(
                    "shard 2/3",
                    Outcome::Complete,
                    Some(vec![TestCase::in_tests("c", TestStatus::Skipped)]),
                ),
                unit(
                    "shard 3/3",
                    Outcome::Complete,
                    Some(vec![TestCase::in_tests("d", TestStatus::Passed)]),
                ),
            ]
        };
        let forward = merged(&config, tasks());
        let mut reversed = tasks();
        reversed.reverse();
        let backward = merged(&config, reversed);
        for step in [&forward, &backward] {
            assert_eq!(step.outcome, Outcome::TestsFailed);
            let counts = step.tests.as_ref().expect("tests").counts();
            assert_eq!(
                (counts.total, counts.passed, counts.failed, counts.skipped),
                (4, 2, 1, 1)
            );
            assert_eq!(
                step.headline(),
                "TESTS FAILED (2 passed, 1 failed, 1 skipped) in 3 tasks"
            );
            assert_eq!(step.tasks.len(), 3);
        }
        let words = |step: &StepReport| step.problem.as_ref().map(ToString::to_string);
        assert_eq!(words(&forward), words(&backward));
    }

    /// A shard whose envelope says what it claimed and ran (the bootstrap's `work`).
    fn stealing(label: &str, tests: Vec<TestCase>, work: &str) -> TaskReport {
        let mut report = unit(label, Outcome::Complete, Some(tests));
        let envelope = format!(
            r#"{{"kind":"luau-exec/test-results@1","framework":"testez","tests":[],"work":{work}}}"#
        );
        report.work = crate::work_queue::WorkLog::from_envelope(&envelope);
        report.task = Some(Task {
            state: TaskState::Complete,
            output: serde_json::from_str(&format!(r#"{{"results":[{envelope}]}}"#)).ok(),
            ..Task::default()
        });
        report
    }

    /// Every task completed, but one stopped claiming and no task ran the third module: the
    /// step is not green, and a failed test says which module and why.
    #[test]
    fn a_module_no_stealing_task_ran_is_a_failed_test_even_when_every_task_completed() {
        let config = suite_config("2");
        assert!(
            crate::work_queue::map_of(&config).is_some(),
            "stealing is the default"
        );
        let tasks = vec![
            stealing(
                "shard 1/2",
                vec![TestCase::in_tests("a", TestStatus::Passed)],
                r#"{"total":3,"ran":["T.a.spec"],"claims":1,"stopped":"claiming the next spec module failed: RequestThrottled"}"#,
            ),
            stealing(
                "shard 2/2",
                vec![TestCase::in_tests("b", TestStatus::Passed)],
                r#"{"total":3,"ran":["T.b.spec"],"claims":2}"#,
            ),
        ];
        let step = merged(&config, tasks.clone());
        assert_eq!(step.outcome, Outcome::TestsFailed);
        let run = step.tests.as_ref().expect("tests");
        let gap = run.failures().next().expect("a failure");
        assert_eq!(gap.path, ["work stealing", "(never ran)"]);
        assert_eq!(
            gap.message.as_deref(),
            Some(
                "1 spec module of the 3 listed by the tasks ran in no task, so their tests did not run\nTasks that stopped claiming: shard 1/2: claiming the next spec module failed: RequestThrottled"
            )
        );
        assert_eq!(
            step.problem.map(|p| p.to_string()).as_deref(),
            Some("1 of 3 tests failed")
        );
        // When the tasks ran every module they listed, nothing is missing.
        let mut whole = tasks;
        whole[1] = stealing(
            "shard 2/2",
            vec![TestCase::in_tests("b", TestStatus::Passed)],
            r#"{"total":3,"ran":["T.b.spec","T.c.spec"],"claims":3}"#,
        );
        let step = merged(&config, whole.clone());
        assert_eq!(step.outcome, Outcome::Complete);
        // A third task that died having claimed nothing lost no test: a failed task, not a
        // failed test, and the step is still red.
        let config3 = suite_config("3");
        let mut three = whole.clone();
        for (i, task) in three.iter_mut().enumerate() {
            task.label = Some(format!("shard {}/3", i + 1));
        }
        three.push(unit("shard 3/3", Outcome::ScriptError, None));
        let step = merged(&config3, three);
        assert_eq!(step.outcome, Outcome::ScriptError);
        let run = step.tests.as_ref().expect("tests");
        assert_eq!(run.failures().count(), 0);
        assert!(!step.tasks[2].reported_as_test);
        assert_eq!(step.failed_tasks().count(), 1);
        // A module two tasks ran is said.
        whole[0] = stealing(
            "shard 1/2",
            vec![TestCase::in_tests("a", TestStatus::Passed)],
            r#"{"total":3,"ran":["T.a.spec","T.c.spec"],"claims":2}"#,
        );
        let step = merged(&config, whole);
        let notes = step.tests.and_then(|t| t.notes).unwrap_or_default();
        assert!(
            notes.contains("1 spec module ran in more than one task (the step's counter was lost mid-step): T.c.spec"),
            "{notes}"
        );
    }

    #[test]
    fn a_step_that_passed_says_nothing_and_keeps_the_common_version() {
        let config = suite_config("2");
        let mut tasks = vec![
            unit(
                "shard 1/2",
                Outcome::Complete,
                Some(vec![TestCase::in_tests("a", TestStatus::Passed)]),
            ),
            unit(
                "shard 2/2",
                Outcome::Complete,
                Some(vec![TestCase::in_tests("b", TestStatus::Passed)]),
            ),
        ];
        for task in &mut tasks {
            task.place_version = Some(7);
        }
        let step = merged(&config, tasks.clone());
        assert_eq!(step.outcome, Outcome::Complete);
        assert!(step.problem.is_none());
        assert_eq!(step.place_version, Some(7));
        assert_eq!(step.headline(), "COMPLETE (2 tasks)");
        tasks[1].place_version = Some(8);
        assert_eq!(merged(&config, tasks).place_version, None);
    }

    #[test]
    fn tasks_left_running_on_open_cloud_are_named() {
        let config = suite_config("2");
        let mut running = unit("shard 2/2", Outcome::WaitTimeout, None);
        running.task = Some(Task {
            path: "universes/1/places/1/tasks/y".into(),
            state: TaskState::Processing,
            ..Task::default()
        });
        let tasks = vec![
            unit(
                "shard 1/2",
                Outcome::Complete,
                Some(vec![TestCase::in_tests("a", TestStatus::Passed)]),
            ),
            running,
        ];
        let step = merge(&config, tasks.clone(), Duration::ZERO, Service::OpenCloud);
        let problem = step.problem.map(|p| p.to_string()).unwrap_or_default();
        assert!(
            problem.ends_with(". tasks that may still run on Roblox (Open Cloud has no cancel): universes/1/places/1/tasks/y"),
            "{problem}"
        );
        // The emulator stops with luau-exec: nothing is left running.
        let step = merged(&config, tasks);
        let problem = step.problem.map(|p| p.to_string()).unwrap_or_default();
        assert!(!problem.contains("may still run"), "{problem}");
    }

    #[test]
    fn a_unit_never_started_says_why() {
        let config = suite_config("2");
        let late = never_started(&config, Some("shard 2/2"), None, Service::OpenCloud);
        assert_eq!(late.outcome, Outcome::WaitTimeout);
        assert_eq!(late.label.as_deref(), Some("shard 2/2"));
        let words = late.problem.map(|p| p.to_string()).unwrap_or_default();
        assert!(
            words.starts_with("never started: wait-timeout (")
                && words
                    .ends_with("passed while it waited its turn (2 tasks at a time, ten a place)"),
            "{words}"
        );
        let signal = Outcome::Interrupted(crate::outcome::Signal::Terminate);
        let stopped = never_started(&config, Some("shard 2/2"), Some(signal), Service::OpenCloud);
        assert_eq!(stopped.outcome, signal);
        assert_eq!(
            stopped.problem.map(|p| p.to_string()).as_deref(),
            Some("never started: interrupted by SIGTERM first; nothing was created for it")
        );
    }
}
