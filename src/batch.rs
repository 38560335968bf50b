//! The step: its tasks, run through the one client. The step's own task (a run of one script
//! or suite) runs as the step itself; a step of several units (several scripts, or a suite's
//! shards) runs them as tasks side by side, inside Roblox's limits, and merges their reports
//! into one.
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
use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

use crate::api::{OpenCloud, Service, TaskApi};
use crate::config::Config;
use crate::duration::human;
use crate::interrupt::Interrupt;
use crate::outcome::Outcome;
use crate::poller::HEARTBEAT;
use crate::render::{Event, Sink};
use crate::report::merge::{merge, never_started};
use crate::report::{StepReport, TaskReport};
use crate::roblox::{SLOT_LAG, TASKS_PER_PLACE};
use crate::runner::{self, TaskRun};

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

/// Runs the step's tasks and returns the step's report.
pub async fn step(
    config: &Config,
    api: &OpenCloud,
    console: &mut dyn Sink,
    interrupt: &mut Interrupt,
) -> StepReport {
    match config.units.as_slice() {
        // The step's own task (unlabelled): it is the step, on the console, uploading its place
        // itself and waiting `wait-timeout` from its creation.
        [own] if own.label.is_none() => {
            let task = TaskRun::own(config, own);
            StepReport::of_one(runner::run_task(config, task, api, console, interrupt).await)
        }
        _ => schedule(config, api, console, interrupt).await,
    }
}

/// Runs every unit of `config` as a task, side by side within the limits, and merges their
/// reports.
async fn schedule(
    config: &Config,
    api: &OpenCloud,
    console: &mut dyn Sink,
    interrupt: &mut Interrupt,
) -> StepReport {
    let started = Instant::now();
    console.emit(Event::Note(&announcement(config)));
    let places = match upload_places(config, api, console, interrupt).await {
        Ok(places) => places,
        Err(report) => return report,
    };
    // Work stealing needs the universe's memory stores: without them, the static deal.
    let fallback = crate::work_queue::check_scopes(config, api).await;
    let config = match &fallback {
        Some((dealt, note)) => {
            console.emit(Event::Note(note));
            dealt
        }
        None => config,
    };
    let deadline = Instant::now() + config.wait_timeout;
    let lag = match api.service() {
        Service::OpenCloud => config.timing.scaled(SLOT_LAG),
        // The embedded emulator frees a slot at once.
        Service::LocalEmulator => Duration::ZERO,
    };
    let mut slots = Slots::new(config.units.len(), lag, places);
    let console = RefCell::new(console);
    let mut running = FuturesUnordered::new();
    let beat = config.timing.scaled(HEARTBEAT);
    let mut heartbeat = tokio::time::interval_at(started + beat, beat);
    let mut signals = interrupt.clone();
    loop {
        let now = Instant::now();
        slots.check_stop(interrupt, now, deadline);
        while let Some((index, place)) = slots.next_start(now, running.len(), config.parallel) {
            let task = TaskRun {
                spec: &config.units[index],
                place_id: place.0,
                version: place.1,
                // Uploaded once per place, above.
                upload: None,
                deadline: Some(deadline),
            };
            running.push(run_labelled(config, index, task, api, &console, interrupt));
        }
        if let Some(limiter) = api.limiter() {
            limiter.set_pollers(running.len());
        }
        if running.is_empty() && slots.starts_no_more() {
            break;
        }
        tokio::select! {
            Some((index, place_id, report)) = running.next() => {
                slots.finished(config, index, place_id, report, &console);
            }
            _ = tokio::time::sleep_until(slots.wake_at(now, deadline)) => {}
            signal = signals.signalled(), if slots.stop.is_none() => {
                // Each running task reports the signal itself; nothing more is started.
                slots.stop = Some(Outcome::Interrupted(signal));
            }
            _ = heartbeat.tick() => {
                let line = slots.progress(config, running.len(), started);
                console.borrow_mut().emit(Event::Note(&line));
            }
        }
    }
    slots.never_started(config, api.service());
    let tasks: Vec<TaskReport> = slots.reports.into_iter().flatten().collect();
    crate::work_queue::clean_up(config, api).await;
    if let Some(line) = crate::work_queue::distribution(config, &tasks) {
        console.borrow_mut().emit(Event::Note(&line));
    }
    merge(config, tasks, started.elapsed(), api.service())
}

/// The step's first line: how many tasks, how many at once, on which places.
fn announcement(config: &Config) -> String {
    format!(
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
    )
}

/// Each place of the step, with the version its tasks are pinned to: the place file uploaded
/// once per place, or `place-version`. An upload that fails is the step's report.
async fn upload_places(
    config: &Config,
    api: &OpenCloud,
    console: &mut dyn Sink,
    interrupt: &mut Interrupt,
) -> Result<Vec<Place>, StepReport> {
    let mut places = Vec::with_capacity(config.place_ids.len());
    for &id in &config.place_ids {
        let version = match &config.place_file {
            Some(place) => Some(
                runner::upload_place_version(config, api, place, id, console, interrupt).await?,
            ),
            None => config.place_version,
        };
        places.push(Place {
            id,
            version,
            running: 0,
            freeing: Vec::new(),
        });
    }
    Ok(places)
}

/// One labelled task, its events under its label; its index and place come back with its
/// report.
fn run_labelled<'a, A: TaskApi>(
    config: &'a Config,
    index: usize,
    task: TaskRun<'a>,
    api: &'a A,
    console: &'a RefCell<&mut dyn Sink>,
    interrupt: &Interrupt,
) -> impl Future<Output = (usize, u64, TaskReport)> + 'a {
    let mut interrupt = interrupt.clone();
    async move {
        let label = task.spec.name();
        let mut sink = UnitSink { console, label };
        let report = runner::run_task(config, task, api, &mut sink, &mut interrupt).await;
        (index, task.place_id, report)
    }
}

/// The step's bookkeeping: each place's slots, the units waiting their turn, the reports so
/// far, and why nothing more starts.
struct Slots {
    places: Vec<Place>,
    /// How long a finished task's slot stays taken.
    lag: Duration,
    queue: VecDeque<usize>,
    reports: Vec<Option<TaskReport>>,
    stop: Option<Outcome>,
}

impl Slots {
    /// `units` waiting their turn on `places`; a finished task's slot is taken for `lag` more.
    fn new(units: usize, lag: Duration, places: Vec<Place>) -> Self {
        Self {
            places,
            lag,
            queue: (0..units).collect(),
            reports: vec![None; units],
            stop: None,
        }
    }

    /// A signal, or the deadline with units still waiting, ends the step's starts.
    fn check_stop(&mut self, interrupt: &Interrupt, now: Instant, deadline: Instant) {
        // A task that just ended on a signal must not make room for another.
        if let (None, Some(signal)) = (self.stop, interrupt.received()) {
            self.stop = Some(Outcome::Interrupted(signal));
        }
        if self.stop.is_none() && now >= deadline && !self.queue.is_empty() {
            self.stop = Some(Outcome::WaitTimeout);
        }
    }

    /// The next unit to start and its place (id, version), when the limits allow one: the
    /// place with the fewest slots taken.
    fn next_start(
        &mut self,
        now: Instant,
        running: usize,
        parallel: usize,
    ) -> Option<(usize, (u64, Option<u64>))> {
        if self.stop.is_some() || running >= parallel || self.queue.is_empty() {
            return None;
        }
        let place = self
            .places
            .iter_mut()
            .filter_map(|p| {
                let taken = p.taken(now);
                (taken < TASKS_PER_PLACE).then_some((taken, p))
            })
            .min_by_key(|(taken, _)| *taken)
            .map(|(_, p)| p)?;
        let index = self.queue.pop_front()?;
        place.running += 1;
        Some((index, (place.id, place.version)))
    }

    fn starts_no_more(&self) -> bool {
        self.queue.is_empty() || self.stop.is_some()
    }

    /// When to look again: a freed slot, the deadline, or (nothing left to start) only when a
    /// task ends, a signal comes or the heartbeat beats.
    fn wake_at(&self, now: Instant, deadline: Instant) -> Instant {
        let next_free = self
            .places
            .iter()
            .filter(|p| p.running < TASKS_PER_PLACE)
            .flat_map(|p| p.freeing.iter().copied())
            .min();
        match (next_free, self.starts_no_more()) {
            (Some(at), false) => at.min(deadline),
            (None, false) => deadline,
            _ => deadline.max(now) + Duration::from_secs(3600),
        }
    }

    /// A task ended: its slot frees after the lag, its end is said under its label.
    fn finished(
        &mut self,
        config: &Config,
        index: usize,
        place_id: u64,
        report: TaskReport,
        console: &RefCell<&mut dyn Sink>,
    ) {
        self.free(place_id, Instant::now());
        let label = config.units[index].name().to_owned();
        console.borrow_mut().emit(Event::ForTask {
            label: &label,
            event: &Event::Note(&format!(
                "{} (exit {})",
                report.headline(),
                report.outcome.exit_code()
            )),
        });
        self.reports[index] = Some(report.labelled(label, place_id));
    }

    /// A task on `place_id` ended at `now`: its slot is usable again after the lag.
    fn free(&mut self, place_id: u64, now: Instant) {
        if let Some(place) = self.places.iter_mut().find(|p| p.id == place_id) {
            place.running -= 1;
            place.freeing.push(now + self.lag);
        }
    }

    /// The heartbeat's line: one for the whole step.
    fn progress(&self, config: &Config, running: usize, started: Instant) -> String {
        let done = self.reports.iter().filter(|r| r.is_some()).count();
        format!(
            "{} running, {} waiting, {} of {} done after {}",
            running,
            self.queue.len(),
            done,
            config.units.len(),
            human(started.elapsed())
        )
    }

    /// Units never started: said so, in the step's words.
    fn never_started(&mut self, config: &Config, service: Service) {
        for index in std::mem::take(&mut self.queue) {
            let label = config.units[index].name();
            self.reports[index] = Some(never_started(config, label, self.stop, service));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(id: u64) -> Place {
        Place {
            id,
            version: Some(7),
            running: 0,
            freeing: Vec::new(),
        }
    }

    /// Every start the limits allow at `now`, as (unit, place).
    fn starts(
        slots: &mut Slots,
        now: Instant,
        running: usize,
        parallel: usize,
    ) -> Vec<(usize, u64)> {
        let mut started = Vec::new();
        while let Some((index, (id, version))) =
            slots.next_start(now, running + started.len(), parallel)
        {
            assert_eq!(
                version,
                Some(7),
                "every task is pinned to its place's version"
            );
            started.push((index, id));
        }
        started
    }

    #[test]
    fn starts_go_to_the_emptiest_place_in_unit_order_within_parallel() {
        let now = Instant::now();
        let mut slots = Slots::new(5, Duration::ZERO, vec![place(1), place(2)]);
        assert_eq!(
            starts(&mut slots, now, 0, 3),
            [(0, 1), (1, 2), (2, 1)],
            "three at a time, spread over both places"
        );
        assert_eq!(starts(&mut slots, now, 3, 3), []);
        assert!(!slots.starts_no_more());
    }

    #[test]
    fn a_place_holds_ten_tasks_and_a_freed_slot_waits_out_the_lag() {
        let lag = Duration::from_secs(10);
        let now = Instant::now();
        let mut slots = Slots::new(TASKS_PER_PLACE + 1, lag, vec![place(1)]);
        assert_eq!(starts(&mut slots, now, 0, 100).len(), TASKS_PER_PLACE);
        slots.free(1, now);
        // The slot is still Roblox's for the lag: nothing starts, and the step wakes when it
        // frees (before a later deadline).
        assert_eq!(starts(&mut slots, now, TASKS_PER_PLACE - 1, 100), []);
        let deadline = now + Duration::from_secs(60);
        assert_eq!(slots.wake_at(now, deadline), now + lag);
        assert_eq!(
            starts(&mut slots, now + lag, TASKS_PER_PLACE - 1, 100),
            [(TASKS_PER_PLACE, 1)]
        );
        assert!(slots.starts_no_more());
    }

    #[test]
    fn the_deadline_stops_starts_only_while_units_wait() {
        let now = Instant::now();
        let deadline = now + Duration::from_secs(5);
        let never = Interrupt::never();
        let mut slots = Slots::new(2, Duration::ZERO, vec![place(1)]);
        slots.check_stop(&never, now, deadline);
        assert_eq!(slots.stop, None);
        assert_eq!(starts(&mut slots, now, 0, 1), [(0, 1)]);
        slots.check_stop(&never, deadline, deadline);
        assert_eq!(slots.stop, Some(Outcome::WaitTimeout));
        assert_eq!(starts(&mut slots, deadline, 0, 1), []);

        let mut all_started = Slots::new(1, Duration::ZERO, vec![place(1)]);
        assert_eq!(starts(&mut all_started, now, 0, 1), [(0, 1)]);
        all_started.check_stop(&never, deadline, deadline);
        assert_eq!(
            all_started.stop, None,
            "a running task has the deadline as its own"
        );
    }
}
