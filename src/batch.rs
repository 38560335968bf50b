//! The step: its tasks, run through the one client and one schedule. A run of one script or
//! suite is a step of one task, presented as the step itself; a step of several units
//! (several scripts, or a suite's shards) shows them as labelled tasks and merges their
//! reports into one. What differs between the two is data of the step (`Shape`, read once
//! from the plan's [`Presentation`]), never a second code path.
//!
//! - The place file is uploaded (or reused, see [`crate::place_reuse`]) once per place used,
//!   before any task. Tasks of an uploaded version are pinned to it; tasks of a reused one are
//!   tried at head first, behind a `game.PlaceVersion` guard, and re-created pinned when head
//!   has moved.
//! - At most `parallel` tasks run at once, and at most ten unfinished on each place; a place's
//!   slot is reused only after Roblox's ~10 s lag, so our own creates never meet a full place
//!   (but after a wrong head-first guess, whose guard task holds a slot the schedule does not
//!   count). A 429 from a full place waits its turn until the step's deadline (the client's
//!   patience): it is never a failure, and never a second task.
//! - Every request goes through the one client and its rate limiter, and polls take turns from
//!   the step's GET budget, shared by the tasks still polled (see [`crate::api::PollBudget`]).
//! - `wait-timeout` and signals cover the whole step: a unit not started by then is reported
//!   as never started, and every task still running is named with its path.
//! - Each task's progress is printed as it happens (labelled, in a step of several); the end
//!   of the step is one report: every task's logs in its own group, the tests of every shard
//!   together (a shard that died is a failed test that says which tests never ran), the most
//!   serious outcome.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

use crate::api::model::TaskState;
use crate::api::{OpenCloud, Service, TaskApi};
use crate::config::{Plan, Presentation};
use crate::duration::human;
use crate::interrupt::Interrupt;
use crate::outcome::Outcome;
use crate::poller::HEARTBEAT;
use crate::render::{Event, Sink};
use crate::report::merge::{merge, never_started};
use crate::report::problem::Interruption;
use crate::report::whole;
use crate::report::{Problem, StepReport, TaskReport};
use crate::roblox::{SLOT_LAG, TASKS_PER_PLACE};
use crate::runner::{self, TaskRun};

/// Where a task runs: a place, the version it is pinned to, and whether that version is tried
/// at head first (reused, not uploaded by this step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PlaceAt {
    id: u64,
    version: Option<u64>,
    reused: bool,
}

/// One place's slots: tasks of ours running there, and slots that are freeing.
struct Place {
    at: PlaceAt,
    running: usize,
    /// When each recently freed slot is usable again.
    freeing: Vec<Instant>,
}

impl Place {
    fn new(at: PlaceAt) -> Self {
        Self {
            at,
            running: 0,
            freeing: Vec::new(),
        }
    }

    fn taken(&mut self, now: Instant) -> usize {
        self.freeing.retain(|free_at| *free_at > now);
        self.running + self.freeing.len()
    }
}

/// What differs between a step presented as its one task and a step of labelled tasks, as
/// data decided once from the plan: the schedule reads these, never the number of units.
struct Shape {
    /// Whether the step's first line says how many tasks run, how many at once, and where.
    announce: bool,
    /// Whether each task's end is said under its label, with its exit code.
    end_notes: bool,
    /// Where each task's events go.
    events: TaskEvents,
    /// What the step beats every [`HEARTBEAT`] for all its tasks, if anything. Without a step
    /// heartbeat the one task's poller beats, its heartbeats passing straight to the console.
    step_heartbeat: Option<StepBeat>,
    /// Whether every task shares the step's deadline (`wait-timeout` from the step's start
    /// after the upload), or counts `wait-timeout` from its own creation.
    shared_deadline: bool,
    /// What a signal during the place upload interrupted: the one task, before its creation,
    /// or the step's upload.
    upload_interrupted_at: Interruption,
    /// The step's report: its one task's, or every task's merged.
    report: Reporting,
}

impl Shape {
    fn of(presentation: Presentation) -> Self {
        match presentation {
            Presentation::OneTask => Self {
                announce: false,
                end_notes: false,
                events: TaskEvents::AsTheStep,
                step_heartbeat: None,
                shared_deadline: false,
                upload_interrupted_at: Interruption::BeforeCreate,
                report: Reporting::OneTask,
            },
            Presentation::Labelled => Self {
                announce: true,
                end_notes: true,
                events: TaskEvents::UnderLabels,
                step_heartbeat: Some(StepBeat::Progress),
                shared_deadline: true,
                upload_interrupted_at: Interruption::UploadingPlace,
                report: Reporting::Merged,
            },
            // Shards the step chose itself: the one run the user asked for, with none named.
            Presentation::Whole => Self {
                announce: false,
                end_notes: false,
                events: TaskEvents::Hidden,
                step_heartbeat: Some(StepBeat::StillRunning),
                shared_deadline: true,
                upload_interrupted_at: Interruption::BeforeCreate,
                report: Reporting::Whole,
            },
        }
    }
}

/// The step's heartbeat line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepBeat {
    /// How many tasks run, wait and are done.
    Progress,
    /// What one task's poller says (`still PROCESSING`): the tasks are one run.
    StillRunning,
}

/// How the step's report is made of its tasks'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reporting {
    /// The one task's report is the step's ([`StepReport::of_one`]).
    OneTask,
    /// The tasks' reports merged ([`merge`]).
    Merged,
    /// The tasks' reports folded into one task's ([`whole::fold`]).
    Whole,
}

impl Reporting {
    /// The step's report once every unit has one.
    fn of_tasks(
        self,
        config: &Plan,
        mut tasks: Vec<TaskReport>,
        wall: Duration,
        service: Service,
    ) -> StepReport {
        // A one-task step has exactly one unit (the plan says so); were it ever otherwise, the
        // reports are merged rather than any dropped.
        match (self, tasks.pop()) {
            (Self::OneTask, Some(task)) if tasks.is_empty() => StepReport::of_one(task),
            (Self::Whole, last) => {
                tasks.extend(last);
                whole::fold(config, tasks, wall, service)
            }
            (_, last) => {
                tasks.extend(last);
                merge(config, tasks, wall, service)
            }
        }
    }

    /// The step's report when its place upload failed, before any task: the one task's
    /// failure, or the step's alone.
    fn of_failed_upload(
        self,
        config: &Plan,
        (outcome, problem): (Outcome, Problem),
        started: Instant,
        service: Service,
    ) -> StepReport {
        match self {
            Self::OneTask | Self::Whole => {
                let mut task = TaskReport::new(outcome, service);
                task.place_id = config.place_id;
                task.place_version = config.place_version;
                task.duration = started.elapsed();
                task.problem = Some(problem);
                StepReport::of_one(task)
            }
            Self::Merged => {
                let mut step = StepReport::new(outcome);
                step.service = service;
                step.problem = Some(problem);
                step
            }
        }
    }
}

/// Where a task's events go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskEvents {
    /// Every event as it comes: the step's one task speaks as the step.
    AsTheStep,
    /// Notes and state changes under the task's label; heartbeats are the step's (one line for
    /// every task), not each task's.
    UnderLabels,
    /// Only what a test says live (`live-progress`), as the step's: the tasks are shards of one
    /// run, which the step's heartbeat and report speak for.
    Hidden,
}

/// A task's share of the console, as the step's [`TaskEvents`] say.
struct UnitSink<'a, 'c> {
    console: &'a RefCell<&'c mut dyn Sink>,
    events: TaskEvents,
    label: &'a str,
}

impl Sink for UnitSink<'_, '_> {
    fn emit(&mut self, event: Event<'_>) {
        match self.events {
            TaskEvents::AsTheStep => self.console.borrow_mut().emit(event),
            TaskEvents::UnderLabels
                if matches!(
                    event,
                    Event::Note(_)
                        | Event::StateChanged { .. }
                        | Event::LiveFailure { .. }
                        | Event::LiveProgress { .. }
                ) =>
            {
                self.console.borrow_mut().emit(Event::ForTask {
                    label: self.label,
                    event: &event,
                });
            }
            // A run the step split: its failures and progress as the one run's
            // (live_progress::AsOneRun takes the labels off).
            TaskEvents::Hidden
                if matches!(
                    event,
                    Event::LiveFailure { .. } | Event::LiveProgress { .. }
                ) =>
            {
                self.console.borrow_mut().emit(Event::ForTask {
                    label: self.label,
                    event: &event,
                });
            }
            TaskEvents::UnderLabels | TaskEvents::Hidden => {}
        }
    }
}

/// Runs the step's tasks and returns the step's report.
pub async fn step(
    config: &Plan,
    api: &OpenCloud,
    console: &mut dyn Sink,
    interrupt: &mut Interrupt,
) -> StepReport {
    let shape = Shape::of(config.presentation);
    let started = Instant::now();
    if shape.announce {
        console.emit(Event::Note(&announcement(config)));
    }
    let places = match upload_places(config, &shape, api, console, interrupt).await {
        Ok(places) => places,
        Err(failure) => {
            return shape
                .report
                .of_failed_upload(config, failure, started, api.service());
        }
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
    let tasks = schedule(config, &shape, places, api, console, interrupt, started).await;
    crate::work_queue::clean_up(config, api).await;
    // Which task ran what is said only where the step speaks of its tasks: a suite split
    // without the user asking reads as one run.
    if shape.end_notes
        && let Some(line) = crate::work_queue::distribution(config, &tasks)
    {
        console.emit(Event::Note(&line));
    }
    shape
        .report
        .of_tasks(config, tasks, started.elapsed(), api.service())
}

/// Runs every unit of `config` as a task on `places`, side by side within the limits; each
/// unit's report, in the order of the units.
async fn schedule(
    config: &Plan,
    shape: &Shape,
    places: Vec<Place>,
    api: &OpenCloud,
    console: &mut dyn Sink,
    interrupt: &mut Interrupt,
    started: Instant,
) -> Vec<TaskReport> {
    let deadline = Instant::now() + config.wait_timeout;
    let lag = match api.service() {
        Service::OpenCloud => config.timing.scaled(SLOT_LAG),
        // The embedded emulator frees a slot at once.
        Service::LocalEmulator => Duration::ZERO,
    };
    let mut slots = Slots::new(config.units.len(), lag, places);
    let every = config.timing.scaled(crate::live_progress::PROGRESS_EVERY);
    let mut as_one_run;
    let console: &mut dyn Sink = match shape.events {
        TaskEvents::Hidden => {
            as_one_run = crate::live_progress::AsOneRun::new(console, every);
            &mut as_one_run
        }
        _ => console,
    };
    let console = RefCell::new(console);
    let mut running = FuturesUnordered::new();
    let beat = config.timing.scaled(HEARTBEAT);
    let mut heartbeat = tokio::time::interval_at(started + beat, beat);
    let mut signals = interrupt.clone();
    loop {
        let now = Instant::now();
        slots.check_stop(interrupt, now, deadline);
        while let Some((index, at)) = slots.next_start(now, running.len(), config.parallel) {
            let task = TaskRun {
                spec: &config.units[index],
                place_id: at.id,
                version: at.version,
                optimistic: at.reused,
                deadline: shape.shared_deadline.then_some(deadline),
            };
            let sink = (&console, shape.events);
            running.push(run_unit(config, index, task, api, sink, interrupt));
        }
        if running.is_empty() && slots.starts_no_more() {
            break;
        }
        tokio::select! {
            Some((index, place_id, report)) = running.next() => {
                slots.finished(config, shape, (index, place_id), report, &console);
            }
            _ = tokio::time::sleep_until(slots.wake_at(now, deadline)) => {}
            signal = signals.signalled(), if slots.stop.is_none() => {
                // Each running task reports the signal itself; nothing more is started.
                slots.stop = Some(Outcome::Interrupted(signal));
            }
            _ = heartbeat.tick(), if shape.step_heartbeat.is_some() => {
                let mut console = console.borrow_mut();
                match shape.step_heartbeat {
                    Some(StepBeat::StillRunning) => console.emit(Event::Heartbeat {
                        state: &TaskState::Processing,
                        elapsed: started.elapsed(),
                    }),
                    _ => console.emit(Event::Note(&slots.progress(config, running.len(), started))),
                }
            }
        }
    }
    slots.never_started(config, api.service());
    slots.reports.into_iter().flatten().collect()
}

/// The step's first line: how many tasks, how many at once, on which places.
fn announcement(config: &Plan) -> String {
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

/// Each place the step's tasks can use, with the version they run on: the place file uploaded
/// (or reused) once per place, or `place-version`. An upload that fails ends the step, with
/// its outcome and problem.
///
/// The places used are the first `units` of them: the schedule always starts a task on the
/// emptiest place, the first of equals, so a place further down is used only once every place
/// before it holds a task of ours.
async fn upload_places(
    config: &Plan,
    shape: &Shape,
    api: &OpenCloud,
    console: &mut dyn Sink,
    interrupt: &mut Interrupt,
) -> Result<Vec<Place>, (Outcome, Problem)> {
    let used = config.place_ids.iter().take(config.units.len().max(1));
    let mut places = Vec::with_capacity(config.place_ids.len());
    for &id in used {
        let at = match &config.place_file {
            Some(place) => {
                let interrupted_at = shape.upload_interrupted_at.clone();
                let uploaded = (place, id);
                let placed =
                    runner::upload_place(config, api, uploaded, interrupted_at, console, interrupt)
                        .await?;
                PlaceAt {
                    id,
                    version: Some(placed.version),
                    reused: placed.reused,
                }
            }
            None => PlaceAt {
                id,
                version: config.place_version,
                reused: false,
            },
        };
        places.push(Place::new(at));
    }
    Ok(places)
}

/// One task, its events in its share of the console; its index and place come back with its
/// report.
fn run_unit<'a, A: TaskApi>(
    config: &'a Plan,
    index: usize,
    task: TaskRun<'a>,
    api: &'a A,
    (console, events): (&'a RefCell<&mut dyn Sink>, TaskEvents),
    interrupt: &Interrupt,
) -> impl Future<Output = (usize, u64, TaskReport)> + 'a {
    let mut interrupt = interrupt.clone();
    async move {
        let label = task.spec.name();
        let mut sink = UnitSink {
            console,
            events,
            label,
        };
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

    /// The next unit to start and where, when the limits allow one: the place with the fewest
    /// slots taken (the first of equals).
    fn next_start(
        &mut self,
        now: Instant,
        running: usize,
        parallel: usize,
    ) -> Option<(usize, PlaceAt)> {
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
        Some((index, place.at))
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

    /// A task ended: its slot frees after the lag, and (as the shape says) its end is said
    /// under its label.
    fn finished(
        &mut self,
        config: &Plan,
        shape: &Shape,
        (index, place_id): (usize, u64),
        report: TaskReport,
        console: &RefCell<&mut dyn Sink>,
    ) {
        self.free(place_id, Instant::now());
        if shape.end_notes {
            console.borrow_mut().emit(Event::ForTask {
                label: config.units[index].name(),
                event: &Event::Note(&format!(
                    "{} (exit {})",
                    report.headline(),
                    report.outcome.exit_code()
                )),
            });
        }
        self.reports[index] = Some(report);
    }

    /// A task on `place_id` ended at `now`: its slot is usable again after the lag.
    fn free(&mut self, place_id: u64, now: Instant) {
        if let Some(place) = self.places.iter_mut().find(|p| p.at.id == place_id) {
            place.running -= 1;
            place.freeing.push(now + self.lag);
        }
    }

    /// The heartbeat's line: one for the whole step.
    fn progress(&self, config: &Plan, running: usize, started: Instant) -> String {
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
    fn never_started(&mut self, config: &Plan, service: Service) {
        for index in std::mem::take(&mut self.queue) {
            let label = config.units[index].label.as_deref();
            self.reports[index] = Some(never_started(config, label, self.stop, service));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Signal;

    /// A plan on the local backend, `return 1` unless `extra` says otherwise.
    fn config(extra: &[(&str, &str)]) -> Plan {
        let mut pairs = vec![("INPUT_BACKEND", "local"), ("INPUT_SCRIPT", "return 1")];
        pairs.extend_from_slice(extra);
        crate::config::from_pairs(&pairs)
    }

    /// A signal during the place upload, in the words of each shape.
    fn interrupted_upload(config: &Plan) -> StepReport {
        let shape = Shape::of(config.presentation);
        let signal = Signal::Interrupt;
        let problem = Problem::Interrupted {
            signal,
            at: shape.upload_interrupted_at.clone(),
        };
        let failure = (Outcome::Interrupted(signal), problem);
        shape
            .report
            .of_failed_upload(config, failure, Instant::now(), Service::OpenCloud)
    }

    #[test]
    fn a_failed_upload_is_the_one_tasks_failure_or_the_steps() {
        let one = config(&[]);
        assert_eq!(one.presentation, Presentation::OneTask);
        let step = interrupted_upload(&one);
        let task = step.own_task().expect("the step's one task");
        assert_eq!(task.place_id, one.place_id);
        assert_eq!(
            step.problem.map(|p| p.to_string()).as_deref(),
            Some("interrupted by SIGINT before a task was created; nothing was started")
        );

        let many = config(&[("INPUT_SCRIPT", ""), ("INPUT_SCRIPT_PATH", "src/*.rs")]);
        assert_eq!(many.presentation, Presentation::Labelled);
        let step = interrupted_upload(&many);
        assert!(step.tasks.is_empty(), "no task was started");
        assert_eq!(
            step.problem.map(|p| p.to_string()).as_deref(),
            Some("interrupted by SIGINT while uploading the place; no task was started")
        );
    }

    #[test]
    fn one_tasks_report_is_the_steps_and_labelled_tasks_are_merged() {
        let one = config(&[]);
        let mut task = TaskReport::new(Outcome::Complete, Service::LocalEmulator);
        task.duration = Duration::from_secs(2);
        let wall = Duration::from_secs(5);
        let step = Reporting::OneTask.of_tasks(&one, vec![task.clone()], wall, task.service);
        // The task's time (from its creation), not the step's wall time.
        assert_eq!(step.duration, Duration::from_secs(2));
        assert!(step.own_task().is_some());

        let many = config(&[("INPUT_SCRIPT", ""), ("INPUT_SCRIPT_PATH", "src/*.rs")]);
        let tasks: Vec<TaskReport> = many
            .units
            .iter()
            .map(|unit| task.clone().labelled(unit.name(), 1))
            .collect();
        let count = tasks.len();
        let step = Reporting::Merged.of_tasks(&many, tasks, wall, task.service);
        assert_eq!(step.duration, wall);
        assert!(step.own_task().is_none());
        assert_eq!(step.headline(), format!("COMPLETE ({count} tasks)"));
    }

    fn place(id: u64) -> Place {
        Place::new(PlaceAt {
            id,
            version: Some(7),
            reused: false,
        })
    }

    /// Every start the limits allow at `now`, as (unit, place).
    fn starts(
        slots: &mut Slots,
        now: Instant,
        running: usize,
        parallel: usize,
    ) -> Vec<(usize, u64)> {
        let mut started = Vec::new();
        while let Some((index, at)) = slots.next_start(now, running + started.len(), parallel) {
            assert_eq!(
                at.version,
                Some(7),
                "every task is pinned to its place's version"
            );
            started.push((index, at.id));
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
