//! Many tasks, one step: the step's units of work (several scripts, or a suite's shards) run as
//! tasks side by side, inside Roblox's limits, and their reports merge into one.
//!
//! - The place file is uploaded once per place, and every task is pinned to that version.
//! - At most `parallel` tasks run at once, and at most ten unfinished on each place; a place's
//!   slot is reused only after Roblox's ~10 s lag, so our own creates never meet a full place.
//!   A 429 from someone else's tasks waits its turn until the step's deadline (the client's
//!   patience): it is never a failure, and never a second task.
//! - Every request goes through the one client and its rate limiter, and the poll schedule
//!   stretches with the number of tasks polled (see [`crate::api::Limiter`]).
//! - `wait-timeout` and signals cover the whole step: a unit not started by then is reported
//!   as never started, and every task still running is named with its path.
//! - Each task's progress is printed as it happens, labelled; the end of the step is one
//!   report: every task's logs in its own group, the tests of every shard together (a shard
//!   that died is a failed test that says which tests never ran), the most serious outcome.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

use crate::api::{OpenCloud, Service, TaskApi};
use crate::config::{Config, Unit};
use crate::duration::human;
use crate::interrupt::Interrupt;
use crate::outcome::Outcome;
use crate::poller::HEARTBEAT;
use crate::render::{Event, Sink};
use crate::report::{RunReport, UnitReport};
use crate::results::bootstrap::{Framework, Suite};
use crate::results::{Counts, Locator, TestCase, TestRun, TestStatus};
use crate::roblox::{SLOT_LAG, TASKS_PER_PLACE};
use crate::runner;

/// One place's slots: tasks of ours running there, and slots that are freeing.
struct Place {
    id: u64,
    version: Option<u64>,
    running: usize,
    /// When each recently freed slot is usable again.
    freeing: Vec<Instant>,
}

impl Place {
    fn taken(&mut self, now: Instant) -> usize {
        self.freeing.retain(|free_at| *free_at > now);
        self.running + self.freeing.len()
    }
}

/// A unit's share of the console: its notes and state changes under its label. Heartbeats are the step's
/// (one line for every task), not each task's.
struct UnitSink<'a, 'c> {
    console: &'a RefCell<&'c mut dyn Sink>,
    label: &'a str,
}

impl Sink for UnitSink<'_, '_> {
    fn emit(&mut self, event: Event<'_>) {
        if matches!(event, Event::Note(_) | Event::StateChanged { .. }) {
            self.console.borrow_mut().emit(Event::ForTask {
                label: self.label,
                event: &event,
            });
        }
    }
}

/// Runs every unit of `config` and merges their reports.
pub async fn run(
    config: &Config,
    api: &OpenCloud,
    console: &mut dyn Sink,
    interrupt: &mut Interrupt,
) -> RunReport {
    let started = Instant::now();
    let lag = match api.service() {
        Service::OpenCloud => config.timing.scaled(SLOT_LAG),
        // The embedded emulator frees a slot at once.
        Service::LocalEmulator => Duration::ZERO,
    };
    console.emit(Event::Note(&format!(
        "running {} tasks, {} at a time, on {} ({})",
        config.units.len(),
        config.parallel,
        crate::text::count(config.place_ids.len(), "place", "places"),
        config
            .place_ids
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )));

    // The place file once per place; every task is pinned to the version it made.
    let mut places = Vec::with_capacity(config.place_ids.len());
    for &id in &config.place_ids {
        let version = match &config.place_file {
            Some(place) => {
                match runner::upload_place_version(config, api, place, id, console, interrupt).await
                {
                    Ok(version) => Some(version),
                    Err(report) => return report,
                }
            }
            None => config.place_version,
        };
        places.push(Place {
            id,
            version,
            running: 0,
            freeing: Vec::new(),
        });
    }

    let deadline = Instant::now() + config.wait_timeout;
    let console = RefCell::new(console);
    let mut queue: VecDeque<usize> = (0..config.units.len()).collect();
    let mut reports: Vec<Option<UnitReport>> = vec![None; config.units.len()];
    let mut running = FuturesUnordered::new();
    let mut stop: Option<Outcome> = None;
    let mut heartbeat = tokio::time::interval_at(
        started + config.timing.scaled(HEARTBEAT),
        config.timing.scaled(HEARTBEAT),
    );
    let mut signals = interrupt.clone();

    loop {
        let now = Instant::now();
        // A signal ends the step: a task that just ended on it must not make room for another.
        if let (None, Some(signal)) = (stop, interrupt.received()) {
            stop = Some(Outcome::Interrupted(signal));
        }
        if stop.is_none() && now >= deadline && !queue.is_empty() {
            stop = Some(Outcome::WaitTimeout);
        }
        // Start what the limits allow.
        while stop.is_none() && running.len() < config.parallel && !queue.is_empty() {
            let Some(place) = places
                .iter_mut()
                .filter_map(|p| {
                    let taken = p.taken(now);
                    (taken < TASKS_PER_PLACE).then_some((taken, p))
                })
                .min_by_key(|(taken, _)| *taken)
                .map(|(_, p)| p)
            else {
                break;
            };
            let Some(index) = queue.pop_front() else {
                break;
            };
            place.running += 1;
            let unit = &config.units[index];
            let unit_config = unit_config(config, unit, place.id, place.version);
            let (place_id, label) = (place.id, unit.label.as_str());
            let console = &console;
            let mut unit_interrupt = interrupt.clone();
            running.push(async move {
                let mut sink = UnitSink { console, label };
                let report = runner::run_until(
                    &unit_config,
                    api,
                    &mut sink,
                    &mut unit_interrupt,
                    Some(deadline),
                )
                .await;
                (index, place_id, report)
            });
        }
        if let Some(limiter) = api.limiter() {
            limiter.set_pollers(running.len());
        }
        if running.is_empty() && (queue.is_empty() || stop.is_some()) {
            break;
        }
        // Wake for a finished task, a freed slot, the deadline, a signal or the heartbeat.
        let next_free = places
            .iter()
            .filter(|p| p.running < TASKS_PER_PLACE)
            .flat_map(|p| p.freeing.iter().copied())
            .min();
        let wake_at = match (next_free, queue.is_empty() || stop.is_some()) {
            (Some(at), false) => at.min(deadline),
            (None, false) => deadline,
            _ => deadline.max(now) + Duration::from_secs(3600),
        };
        tokio::select! {
            Some((index, place_id, report)) = running.next() => {
                if let Some(place) = places.iter_mut().find(|p| p.id == place_id) {
                    place.running -= 1;
                    place.freeing.push(Instant::now() + lag);
                }
                let label = config.units[index].label.clone();
                console.borrow_mut().emit(Event::ForTask {
                    label: &label,
                    event: &Event::Note(&format!(
                        "{} (exit {})",
                        report.headline(),
                        report.outcome.exit_code()
                    )),
                });
                reports[index] = Some(UnitReport { label, place_id, report, reported_as_test: false });
            }
            _ = tokio::time::sleep_until(wake_at) => {}
            signal = signals.signalled(), if stop.is_none() => {
                // Each running task reports the signal itself; nothing more is started.
                stop = Some(Outcome::Interrupted(signal));
            }
            _ = heartbeat.tick() => {
                let done = reports.iter().filter(|r| r.is_some()).count();
                console.borrow_mut().emit(Event::Note(&format!(
                    "{} running, {} waiting, {} of {} done after {}",
                    running.len(),
                    queue.len(),
                    done,
                    config.units.len(),
                    human(started.elapsed())
                )));
            }
        }
    }

    // Units never started: said so, in the step's words.
    for index in queue {
        let mut report = RunReport::new(stop.unwrap_or(Outcome::WaitTimeout));
        report.service = api.service();
        report.problem = Some(match stop {
            Some(Outcome::Interrupted(signal)) => format!(
                "never started: interrupted by {} first; nothing was created for it",
                signal.name()
            ),
            _ => format!(
                "never started: wait-timeout ({}) passed while it waited its turn ({} tasks at a time, ten a place)",
                human(config.wait_timeout),
                config.parallel
            ),
        });
        reports[index] = Some(UnitReport {
            label: config.units[index].label.clone(),
            place_id: config.place_id,
            report,
            reported_as_test: false,
        });
    }
    let units = reports.into_iter().flatten().collect();
    merge(config, units, started.elapsed(), api.service())
}

/// The config one unit's task runs with: its script, its shard, its place and version.
fn unit_config(config: &Config, unit: &Unit, place_id: u64, version: Option<u64>) -> Config {
    let mut unit_config = config.clone();
    unit_config.script = unit.script.clone();
    unit_config.script_path = unit.script_path.clone();
    unit_config.suite = unit.suite.clone();
    unit_config.locator = config.locator.for_script(
        unit.script_path
            .as_ref()
            .map(|p| p.display().to_string().replace('\\', "/")),
    );
    unit_config.place_id = place_id;
    unit_config.place_version = version;
    // Uploaded once for the step, above.
    unit_config.place_file = None;
    unit_config
}

/// The step's report: the most serious outcome, every shard's tests together, and each task's
/// own report. `units` holds one report for each of `config.units`, in their order.
pub fn merge(
    config: &Config,
    mut units: Vec<UnitReport>,
    wall: Duration,
    service: Service,
) -> RunReport {
    let mut merged = RunReport::new(Outcome::fold(units.iter().map(|u| u.report.outcome)));
    merged.service = service;
    merged.duration = wall;
    let versions: Vec<Option<u64>> = units.iter().map(|u| u.report.place_version).collect();
    if versions.windows(2).all(|pair| pair[0] == pair[1]) {
        merged.place_version = versions.first().copied().flatten();
    }

    let reported_tests = units.iter().any(|u| u.report.tests.is_some());
    if config.suite.is_some() || reported_tests {
        let mut run = TestRun {
            framework: String::new(),
            tests: Vec::new(),
            notes: None,
            error: None,
            totals: None,
        };
        let mut notes = Vec::new();
        // `units` are in the order of `config.units`, one for each.
        for (unit, spec) in units.iter_mut().zip(config.units.iter()) {
            match &unit.report.tests {
                Some(tests) => {
                    if run.framework.is_empty() {
                        run.framework = tests.framework.clone();
                    }
                    // Every shard of a suite that cannot run says so alike: once is enough.
                    if run.error.is_none() {
                        run.error = tests.error.clone();
                    }
                    run.tests.extend(tests.tests.iter().cloned());
                    if let Some(note) = &tests.notes {
                        notes.push(format!("{}: {note}", unit.label));
                    }
                }
                // A shard that did not report its tests: a failed test that says so, so no
                // reader takes a missing shard for a passing one. A plain script that crashed
                // is a failed task, not a test: tests come from test results.
                None if config.suite.is_some() => {
                    let never_ran = spec
                        .suite
                        .as_ref()
                        .map(|suite| spec_modules_of(suite, &config.locator))
                        .unwrap_or_default();
                    run.tests.push(unreported(unit, &never_ran));
                    unit.reported_as_test = true;
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
        run.notes = (!notes.is_empty()).then(|| notes.join("\n"));
        // The tests each unit counted but did not list (its results were trimmed) count in
        // the step's totals too.
        let unlisted = units
            .iter()
            .filter_map(|u| u.report.tests.as_ref())
            .fold(Counts::default(), |sum, tests| sum.plus(tests.unlisted()));
        if unlisted.total > 0 {
            run.totals = Some(run.listed().plus(unlisted));
        }
        let counts = run.counts();
        let all_completed = units
            .iter()
            .all(|u| u.report.outcome.is_success() || u.report.outcome == Outcome::TestsFailed);
        // The step judges the whole suite: no tests found, a pattern that matched none, or a
        // suite that could not run (its tests' failures are each task's own to say).
        let not_run = run.error.is_some()
            || counts.total == 0
            || (counts.passed + counts.failed == 0
                && config
                    .suite
                    .as_ref()
                    .is_some_and(|s| s.name_pattern.is_some()));
        if all_completed && not_run {
            if merged.outcome.is_success() {
                merged.outcome = Outcome::TestsFailed;
            }
            merged.problem = Some(match (&config.suite, counts.total) {
                (None, 0) => "the tasks' results envelopes list no tests".to_owned(),
                (suite, _) => run
                    .problem(suite.as_ref(), true, config.github_actions)
                    .unwrap_or_default(),
            });
        }
        merged.tests = Some(run);
    }

    // Every shard's hits added up, line by line.
    merged.coverage = config.coverage.as_ref().map(|_| {
        crate::coverage::merge_units(
            units
                .iter()
                .map(|u| (u.label.as_str(), u.report.coverage.as_ref())),
        )
    });
    let failed: Vec<String> = units
        .iter()
        .filter(|u| !u.report.outcome.is_success())
        .map(|u| format!("{} {}", u.label, u.report.headline()))
        .collect();
    if merged.problem.is_none() && !failed.is_empty() {
        merged.problem = Some(format!(
            "{} of {} tasks did not succeed: {}",
            failed.len(),
            units.len(),
            failed.join("; ")
        ));
    }
    let still_running: Vec<&str> = units
        .iter()
        .filter(|u| u.report.state().is_some_and(|s| !s.is_terminal()))
        .filter_map(|u| u.report.task_path())
        .collect();
    if !still_running.is_empty() && service == Service::OpenCloud {
        let problem = merged.problem.get_or_insert_with(String::new);
        problem.push_str(&format!(
            "{}tasks that may still run on Roblox (Open Cloud has no cancel): {}",
            if problem.is_empty() { "" } else { ". " },
            still_running.join(", ")
        ));
    }
    merged.units = units;
    merged
}

/// The spec modules a TestEZ shard holds, as the sourcemap lists them (each with its file):
/// empty without a sourcemap, or for Jest-Lua, which is split by roots.
fn spec_modules_of(suite: &Suite, locator: &Locator) -> Vec<String> {
    let (Some(shard), Some(sourcemap), Framework::TestEz) =
        (suite.shard, locator.sourcemap(), suite.framework)
    else {
        return Vec::new();
    };
    let names = suite
        .roots
        .iter()
        .flat_map(|root| sourcemap.spec_modules_under(root))
        .collect();
    shard
        .share_of(names)
        .into_iter()
        .map(|name| match sourcemap.file_of(&name) {
            Some(file) => format!("{name} ({file})"),
            None => name,
        })
        .collect()
}

/// The failed test that stands for a task that did not report its tests, naming the spec
/// modules that did not run when they are known.
fn unreported(unit: &UnitReport, never_ran: &[String]) -> TestCase {
    let report = &unit.report;
    let why = report
        .error_message()
        .or(report.problem.as_deref())
        .unwrap_or("it returned no results envelope");
    let mut message = format!(
        "{} ended {} and reported no tests, so the tests it holds did not run (or their results were lost): {why}",
        unit.label,
        report.headline()
    );
    if !never_ran.is_empty() {
        message.push_str(&format!(
            "\nSpec modules that did not report: {}",
            never_ran.join(", ")
        ));
    }
    if let Some(path) = report.task_path() {
        message.push_str(&format!("\nTask: {path}"));
    }
    TestCase {
        path: vec![unit.label.clone(), "(did not report)".to_owned()],
        status: TestStatus::Failed,
        duration: Some(report.duration.as_secs_f64()),
        message: Some(message),
        location: None,
        file: report.error_location.clone(),
        brief: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::{Task, TaskError, TaskErrorCode, TaskState};
    use crate::config::{Inputs, RunArgs, load};

    /// A TestEZ suite in `shards` shards on the local backend.
    fn suite_config(shards: &str) -> Config {
        let env = |name: &str| {
            match name {
                "INPUT_BACKEND" => Some("local"),
                "INPUT_TEST_FRAMEWORK" => Some("testez"),
                "INPUT_TEST_ROOTS" => Some("ReplicatedStorage.Tests"),
                "INPUT_SHARDS" => Some(shards),
                // A suite needs a place: the emulator's empty one holds no tests.
                "INPUT_PLACE_VERSION" => Some("1"),
                _ => None,
            }
            .map(str::to_owned)
        };
        load(&Inputs::new(&RunArgs::default(), &env)).expect("a valid config")
    }

    fn unit(label: &str, outcome: Outcome, tests: Option<Vec<TestCase>>) -> UnitReport {
        let mut report = RunReport::new(outcome);
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
        UnitReport {
            label: label.into(),
            place_id: 1,
            report,
            reported_as_test: false,
        }
    }

    fn test(name: &str, status: TestStatus) -> TestCase {
        TestCase {
            path: vec!["Tests".into(), name.into()],
            status,
            duration: None,
            message: None,
            location: None,
            file: None,
            brief: None,
        }
    }

    #[test]
    fn the_config_makes_one_unit_per_shard() {
        let config = suite_config("3");
        let labels: Vec<&str> = config.units.iter().map(|u| u.label.as_str()).collect();
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
        let merged = merge(
            &config,
            vec![
                unit("shard 1/2", Outcome::Complete, Some(Vec::new())),
                unit("shard 2/2", Outcome::Complete, Some(Vec::new())),
            ],
            Duration::from_secs(1),
            Service::LocalEmulator,
        );
        assert_eq!(merged.outcome, Outcome::TestsFailed);
        assert_eq!(merged.headline(), "NO TESTS FOUND in 2 tasks");
        assert!(
            merged
                .problem
                .as_deref()
                .is_some_and(|p| p.starts_with("no tests were found under ReplicatedStorage.Tests"))
        );
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
                Some(vec![test("x", TestStatus::Failed)]),
            );
            if let Some(run) = unit.report.tests.as_mut() {
                run.totals = Some(Counts {
                    total: passed + 1,
                    passed,
                    failed: 1,
                    skipped: 0,
                });
            }
            unit
        };
        let merged = merge(
            &config,
            vec![
                trimmed("shard 1/3", 9000),
                trimmed("shard 2/3", 500),
                unit(
                    "shard 3/3",
                    Outcome::Complete,
                    Some(vec![test("y", TestStatus::Skipped)]),
                ),
            ],
            Duration::from_secs(1),
            Service::LocalEmulator,
        );
        let run = merged.tests.as_ref().expect("tests");
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
    }

    #[test]
    fn a_shard_that_crashed_is_a_failed_test_beside_the_others() {
        let config = suite_config("2");
        let merged = merge(
            &config,
            vec![
                unit(
                    "shard 1/2",
                    Outcome::Complete,
                    Some(vec![
                        test("a", TestStatus::Passed),
                        test("b", TestStatus::Skipped),
                    ]),
                ),
                unit("shard 2/2", Outcome::ScriptError, None),
            ],
            Duration::from_secs(1),
            Service::LocalEmulator,
        );
        assert_eq!(merged.outcome, Outcome::ScriptError);
        let run = merged.tests.as_ref().expect("tests");
        let counts = run.counts();
        assert_eq!(
            (counts.total, counts.passed, counts.failed, counts.skipped),
            (3, 1, 1, 1)
        );
        let lost = run.failures().next().expect("a failure");
        assert_eq!(lost.path, ["shard 2/2", "(did not report)"]);
        let message = lost.message.as_deref().unwrap_or_default();
        assert!(message.contains("TaskScript:3: broke"), "{message}");
        assert!(
            message.contains("Task: universes/1/places/1/tasks/x"),
            "{message}"
        );
        assert_eq!(merged.units.len(), 2);
        assert_eq!(
            merged.headline(),
            "FAILED (SCRIPT_ERROR); 1 of 2 tasks did not succeed"
        );
    }
}
