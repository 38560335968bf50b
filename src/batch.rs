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
use crate::report::merge::{merge, never_started};
use crate::report::{StepReport, TaskReport};
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
) -> StepReport {
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
    let mut reports: Vec<Option<TaskReport>> = vec![None; config.units.len()];
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
                reports[index] = Some(report.labelled(label, place_id));
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
        let label = &config.units[index].label;
        reports[index] = Some(never_started(config, label, stop, api.service()));
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
