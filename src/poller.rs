//! Waits for a task to reach a terminal state, reporting each state change and a heartbeat
//! while nothing changes, so a CI log never looks hung.
//!
//! The cadence is the poller's own and not configurable: 0.5 s for the first 30 s (most CI
//! scripts end there, and the median delay between the task ending and us noticing is a
//! quarter of the interval), 1 s to one minute, 2 s to three minutes, 5 s after. The first
//! minute costs 90 GETs, under the 120/min this tool allows itself, and a five-minute task about
//! 180 in all, so parallel jobs sharing one key stay inside Open Cloud's 200 GET/min per owner.
//! When one step polls many tasks at once, each poll the cadence says is due waits for a turn
//! from the step's [`PollBudget`] (the source's), so that together they stay inside that budget
//! too, and the tasks still polled share what the finished ones left.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::api::model::{Task, TaskState};
use crate::api::{ApiError, PollBudget};
use crate::clock::Timing;

/// The seam between the poller and the network, so its timing can be tested with paused time.
pub trait TaskSource {
    fn get_task(&self, path: &str) -> impl Future<Output = Result<Task, ApiError>>;

    /// The steady interval between two polls of one task when every task of the step is due at
    /// once: what other readers beside the poll (live progress) space their reads by.
    fn poll_floor(&self) -> Duration {
        Duration::ZERO
    }

    /// The step's poll turns, when its polls share a GET budget (Open Cloud's).
    fn poll_budget(&self) -> Option<&PollBudget> {
        None
    }

    /// A count that changes whenever a task's state may have (the embedded emulator's): the
    /// next poll is then due at once rather than at its time. Polls still keep their schedule,
    /// so a change that is not counted is seen all the same, only later.
    fn task_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

/// What the poller tells the presenter.
#[derive(Debug, Clone, PartialEq)]
pub enum PollEvent {
    StateChanged { state: TaskState, elapsed: Duration },
    Heartbeat { state: TaskState, elapsed: Duration },
}

#[derive(Debug)]
pub enum PollError {
    Api(ApiError),
    /// The wait deadline passed; the last state seen is kept for the message.
    WaitTimeout {
        last: Box<Task>,
    },
}

/// How often a heartbeat is printed while the state does not change.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// Polls `path` until the task is terminal or `deadline` passes. `initial` is the task as
/// create returned it; `started` is when it was created.
pub async fn wait_for_terminal<S: TaskSource>(
    source: &S,
    initial: Task,
    started: Instant,
    deadline: Instant,
    timing: Timing,
    on_event: &mut dyn FnMut(PollEvent),
) -> Result<Task, PollError> {
    let budget = source.poll_budget();
    // Counted as polled until this returns, however it returns.
    let _polling = budget.map(PollBudget::polling);
    let mut changes = source.task_changes();
    let mut task = initial;
    let mut last_report = started;
    on_event(PollEvent::StateChanged {
        state: task.state.clone(),
        elapsed: Duration::ZERO,
    });
    while !task.state.is_terminal() {
        // The schedule is read in production terms, so a scaled clock keeps its shape.
        let elapsed = timing.unscaled(started.elapsed());
        let interval = timing.cadence.interval(elapsed);
        let next = Instant::now() + timing.scaled(interval);
        if next >= deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(PollError::WaitTimeout {
                last: Box::new(task),
            });
        }
        until_due_or_changed(next, &mut changes).await;
        // Changes from here on are after this poll's answer may have been written: they wake
        // the next wait.
        if let Some(changes) = changes.as_mut() {
            changes.mark_unchanged();
        }
        let poll = async {
            if let Some(budget) = budget {
                budget.turn().await;
            }
            source.get_task(&task.path).await
        };
        let polled = match tokio::time::timeout_at(deadline, poll).await {
            Ok(result) => result.map_err(PollError::Api)?,
            Err(_) => {
                return Err(PollError::WaitTimeout {
                    last: Box::new(task),
                });
            }
        };
        // Some answers omit the path; keep the one create gave.
        let path = std::mem::take(&mut task.path);
        let previous = std::mem::replace(&mut task, polled);
        if task.path.is_empty() {
            task.path = path;
        }
        let now = Instant::now();
        if task.state != previous.state {
            on_event(PollEvent::StateChanged {
                state: task.state.clone(),
                elapsed: now - started,
            });
            last_report = now;
        } else if now - last_report >= timing.scaled(HEARTBEAT) {
            on_event(PollEvent::Heartbeat {
                state: task.state.clone(),
                elapsed: now - started,
            });
            last_report = now;
        }
    }
    Ok(task)
}

/// Waits until `due`, or until `changes` moves on from what the last poll saw. A source whose
/// count is gone (its emulator stopped) is polled on its schedule from then on.
async fn until_due_or_changed(
    due: Instant,
    changes: &mut Option<tokio::sync::watch::Receiver<u64>>,
) {
    let Some(receiver) = changes.as_mut() else {
        return tokio::time::sleep_until(due).await;
    };
    tokio::select! {
        () = tokio::time::sleep_until(due) => {}
        changed = receiver.changed() => {
            if changed.is_err() {
                *changes = None;
                tokio::time::sleep_until(due).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Answers each poll with the next state of a script; the last state repeats.
    struct Scripted {
        states: RefCell<Vec<TaskState>>,
        polls: RefCell<Vec<Instant>>,
        /// The step's poll turns, when it has a GET budget.
        budget: Option<PollBudget>,
    }

    impl TaskSource for Scripted {
        async fn get_task(&self, path: &str) -> Result<Task, ApiError> {
            self.polls.borrow_mut().push(Instant::now());
            let mut states = self.states.borrow_mut();
            let state = if states.len() > 1 {
                states.remove(0)
            } else {
                states[0].clone()
            };
            Ok(Task {
                path: path.to_owned(),
                state,
                ..Task::default()
            })
        }

        fn poll_budget(&self) -> Option<&PollBudget> {
            self.budget.as_ref()
        }
    }

    fn scripted(states: &[TaskState]) -> Scripted {
        Scripted {
            states: RefCell::new(states.to_vec()),
            polls: RefCell::new(Vec::new()),
            budget: None,
        }
    }

    /// A step's tasks on Open Cloud: each is processing until its own end, then complete. Every
    /// poll is recorded; the step's GET budget is `budget`.
    struct Step<'a> {
        ends: Vec<(String, Instant)>,
        polls: RefCell<Vec<(String, Instant)>>,
        budget: &'a PollBudget,
    }

    impl TaskSource for Step<'_> {
        async fn get_task(&self, path: &str) -> Result<Task, ApiError> {
            let now = Instant::now();
            self.polls.borrow_mut().push((path.to_owned(), now));
            let ended = self
                .ends
                .iter()
                .find(|(of, _)| of == path)
                .is_none_or(|(_, end)| now >= *end);
            Ok(Task {
                path: path.to_owned(),
                state: if ended {
                    TaskState::Complete
                } else {
                    TaskState::Processing
                },
                ..Task::default()
            })
        }

        fn poll_budget(&self) -> Option<&PollBudget> {
            Some(self.budget)
        }
    }

    impl<'a> Step<'a> {
        /// Tasks created now that end after these times (seconds).
        fn ending_after(ends: &[f64], budget: &'a PollBudget) -> Self {
            let now = Instant::now();
            Self {
                ends: ends
                    .iter()
                    .enumerate()
                    .map(|(i, end)| (format!("tasks/{i}"), now + Duration::from_secs_f64(*end)))
                    .collect(),
                polls: RefCell::new(Vec::new()),
                budget,
            }
        }

        /// Polls every task side by side, as a step does; how long after its end each one was
        /// noticed, in the order of the ends given.
        async fn notice_delays(&self) -> Vec<Duration> {
            let started = Instant::now();
            let waits = self.ends.iter().map(|(path, end)| async move {
                let task = Task {
                    path: path.clone(),
                    state: TaskState::Processing,
                    ..Task::default()
                };
                let deadline = started + Duration::from_secs(3600);
                let timing = Timing::default();
                let mut quiet = |_| {};
                let polled = wait_for_terminal(self, task, started, deadline, timing, &mut quiet);
                assert!(polled.await.is_ok());
                Instant::now() - *end
            });
            futures_util::future::join_all(waits).await
        }
    }

    /// A task of the embedded emulator: processing until `end`, then complete; `changes` is
    /// the emulator's count of state changes, when it still has one.
    struct Emulated {
        end: Instant,
        changes: Option<tokio::sync::watch::Receiver<u64>>,
        polls: RefCell<Vec<Instant>>,
    }

    impl TaskSource for Emulated {
        async fn get_task(&self, path: &str) -> Result<Task, ApiError> {
            let now = Instant::now();
            self.polls.borrow_mut().push(now);
            let state = if now >= self.end {
                TaskState::Complete
            } else {
                TaskState::Processing
            };
            Ok(Task {
                path: path.to_owned(),
                state,
                ..Task::default()
            })
        }

        fn task_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
            self.changes.clone()
        }
    }

    /// Follows `source`'s task on the local cadence until it ends; how long after its end it
    /// was noticed.
    async fn follow_locally(source: &Emulated) -> Duration {
        let started = Instant::now();
        let task = Task {
            path: "tasks/local".into(),
            state: TaskState::Processing,
            ..Task::default()
        };
        let timing = Timing {
            cadence: crate::clock::Cadence::Local,
            ..Timing::default()
        };
        let deadline = started + Duration::from_secs(60);
        let mut quiet = |_| {};
        let polled = wait_for_terminal(source, task, started, deadline, timing, &mut quiet);
        assert!(polled.await.is_ok());
        Instant::now() - source.end
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_the_emulator_says_has_ended_is_polled_at_once_not_on_the_schedule() {
        let (changed, changes) = tokio::sync::watch::channel(0u64);
        let end = Instant::now() + Duration::from_millis(1234);
        let source = Emulated {
            end,
            changes: Some(changes),
            polls: RefCell::new(Vec::new()),
        };
        tokio::spawn(async move {
            tokio::time::sleep_until(end).await;
            changed.send_modify(|count| *count += 1);
            // The emulator lives on after the task.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        let late = follow_locally(&source).await;
        assert_eq!(late, Duration::ZERO, "noticed as it ended");
        // Between start and end, only the schedule's backing polls.
        let polls = source.polls.borrow().len();
        let scheduled = (1234 / crate::clock::LOCAL_POLL_INTERVAL.as_millis()) as usize;
        assert!(polls <= scheduled + 2, "{polls} polls");
    }

    #[tokio::test(start_paused = true)]
    async fn without_the_emulators_changes_the_local_schedule_still_notices_the_end() {
        // The emulator's count is gone (its sender dropped): polls keep their schedule rather
        // than spinning on a closed channel.
        let (changed, changes) = tokio::sync::watch::channel(0u64);
        drop(changed);
        let source = Emulated {
            end: Instant::now() + Duration::from_millis(1234),
            changes: Some(changes),
            polls: RefCell::new(Vec::new()),
        };
        let late = follow_locally(&source).await;
        assert!(late <= crate::clock::LOCAL_POLL_INTERVAL, "{late:?}");
        let polls = source.polls.borrow().len();
        assert!((20..=30).contains(&polls), "{polls} polls in 1.3 s");
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_of_eight_shards_is_noticed_within_the_one_task_cadence() {
        // Eight shards of one suite ending at different times, within 2.6 s of each other.
        let budget = PollBudget::default();
        let ends = [20.0, 20.3, 20.7, 21.2, 21.4, 21.9, 22.3, 22.6];
        let delays = Step::ending_after(&ends, &budget).notice_delays().await;
        // The one-task cadence of a task's first half minute.
        assert!(delays[7] <= Duration::from_millis(500), "{delays:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn once_seven_of_eight_have_ended_the_last_is_polled_at_the_one_task_cadence() {
        let budget = PollBudget::default();
        let step = Step::ending_after(&[5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 50.0], &budget);
        let start = Instant::now();
        step.notice_delays().await;
        let polls = step.polls.borrow();
        // The last task's polls once the seven ended have been noticed (by 10 s at most).
        let last: Vec<Duration> = polls
            .iter()
            .filter(|(path, at)| path == "tasks/7" && *at - start >= Duration::from_secs(10))
            .map(|(_, at)| *at - start)
            .collect();
        for pair in last.windows(2) {
            let alone = crate::clock::poll_interval(pair[0]);
            assert_eq!(pair[1] - pair[0], alone, "{last:?}");
        }
        assert!(last.len() > 40, "{last:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn shards_ending_together_are_all_noticed_within_a_second() {
        // Work stealing ends every shard within moments of the others. The first end is
        // noticed at the next paced turn; the burst then notices the rest at the cadence,
        // where turns at the pace alone would reach the eighth 4 s after it ended.
        let budget = PollBudget::default();
        let delays = Step::ending_after(&[20.0; 8], &budget)
            .notice_delays()
            .await;
        let worst = delays.iter().max().copied().unwrap_or_default();
        assert!(worst <= Duration::from_secs(1), "{delays:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn ten_tasks_for_ten_minutes_stay_inside_the_budget_in_every_minute() {
        // Ten slots each running tasks back to back, of lengths from 13 s to 4 minutes, for
        // ten minutes: tasks end and start throughout, so the burst opens again and again.
        let budget = PollBudget::default();
        let polls = RefCell::new(Vec::new());
        let slots = (0..10u32).map(|slot| {
            let (budget, polls) = (&budget, &polls);
            async move {
                let started = Instant::now();
                let mut length = 13.0 + 23.0 * f64::from(slot);
                while Instant::now() - started < Duration::from_secs(600) {
                    let step = Step::ending_after(&[length], budget);
                    step.notice_delays().await;
                    polls
                        .borrow_mut()
                        .extend(step.polls.take().into_iter().map(|(_, at)| at));
                    length = (length * 1.5) % 240.0 + 13.0;
                }
            }
        });
        futures_util::future::join_all(slots).await;
        let most = crate::api::poll_budget::most_in_any_minute(&polls.into_inner());
        let budget = crate::api::poll_budget::POLLS_PER_MINUTE as usize;
        assert!(most <= budget, "{most} GETs in a minute");
        // It spends the budget it has: more than the steady pace alone would.
        let paced = crate::api::poll_budget::PACED_PER_MINUTE as usize;
        assert!(most > paced, "{most}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_polled_alone_keeps_its_cadence_under_the_budget() {
        // A run of one task polls exactly as without a budget: 90 in the first minute.
        let alone = Scripted {
            budget: Some(PollBudget::default()),
            ..scripted(&[TaskState::Processing])
        };
        let free = scripted(&[TaskState::Processing]);
        for source in [&alone, &free] {
            let started = Instant::now();
            let _ = wait_for_terminal(
                source,
                queued(),
                started,
                started + Duration::from_secs(120),
                Timing::default(),
                &mut |_| {},
            )
            .await;
        }
        let gaps = |polls: &[Instant]| -> Vec<Duration> {
            polls.windows(2).map(|pair| pair[1] - pair[0]).collect()
        };
        let (alone, free) = (alone.polls.borrow(), free.polls.borrow());
        assert_eq!(gaps(&alone), gaps(&free));
        assert_eq!(alone.len(), free.len());
    }

    fn queued() -> Task {
        Task {
            path: "universes/1/places/2/luau-execution-session-tasks/t".into(),
            state: TaskState::Queued,
            ..Task::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn queued_is_not_terminal() {
        let source = scripted(&[
            TaskState::Queued,
            TaskState::Processing,
            TaskState::Processing,
            TaskState::Complete,
        ]);
        let started = Instant::now();
        let mut events = Vec::new();
        let task = wait_for_terminal(
            &source,
            queued(),
            started,
            started + Duration::from_secs(60),
            Timing::default(),
            &mut |e| events.push(e),
        )
        .await
        .unwrap();
        assert_eq!(task.state, TaskState::Complete);
        let states: Vec<_> = events
            .iter()
            .map(|e| match e {
                PollEvent::StateChanged { state, .. } => state.as_str().to_owned(),
                PollEvent::Heartbeat { .. } => "heartbeat".into(),
            })
            .collect();
        assert_eq!(states, ["QUEUED", "PROCESSING", "COMPLETE"]);
        assert_eq!(source.polls.borrow().len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_states_keep_polling_until_the_deadline() {
        let source = scripted(&[TaskState::Other("PAUSED".into())]);
        let started = Instant::now();
        let result = wait_for_terminal(
            &source,
            queued(),
            started,
            started + Duration::from_secs(10),
            Timing::default(),
            &mut |_| {},
        )
        .await;
        match result {
            Err(PollError::WaitTimeout { last }) => assert_eq!(last.state.as_str(), "PAUSED"),
            other => panic!("expected a wait timeout, got {other:?}"),
        }
        assert_eq!(Instant::now() - started, Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn cadence_stays_under_120_per_minute_and_slows_down() {
        let source = scripted(&[TaskState::Processing]);
        let started = Instant::now();
        let mut heartbeats = 0;
        let _ = wait_for_terminal(
            &source,
            queued(),
            started,
            started + Duration::from_secs(300),
            Timing::default(),
            &mut |e| {
                if matches!(e, PollEvent::Heartbeat { .. }) {
                    heartbeats += 1;
                }
            },
        )
        .await;
        let polls = source.polls.borrow();
        for window_start in 0..240 {
            let from = started + Duration::from_secs(window_start);
            let to = from + Duration::from_secs(60);
            let in_window = polls.iter().filter(|t| **t >= from && **t < to).count();
            assert!(
                in_window <= 120,
                "{in_window} polls in the minute from {window_start}s"
            );
        }
        let first_minute = polls
            .iter()
            .filter(|t| **t < started + Duration::from_secs(60))
            .count();
        let last_minute = polls
            .iter()
            .filter(|t| **t >= started + Duration::from_secs(240))
            .count();
        assert!(
            last_minute < first_minute / 4,
            "{first_minute} then {last_minute}"
        );
        // A heartbeat about every 15 s over five minutes.
        assert!((17..=21).contains(&heartbeats), "{heartbeats} heartbeats");
    }

    #[tokio::test(start_paused = true)]
    async fn a_scaled_clock_keeps_the_schedule_shape() {
        let source = scripted(&[TaskState::Processing]);
        let started = Instant::now();
        let timing = Timing {
            scale: 0.1,
            ..Timing::default()
        };
        let _ = wait_for_terminal(
            &source,
            queued(),
            started,
            started + Duration::from_secs(30),
            timing,
            &mut |_| {},
        )
        .await;
        let polls = source.polls.borrow();
        let per_scaled_minute: Vec<usize> = (0..5)
            .map(|m| {
                let from = started + Duration::from_secs(6 * m);
                let to = from + Duration::from_secs(6);
                polls.iter().filter(|t| **t >= from && **t < to).count()
            })
            .collect();
        // 0.5 s for 30 s and 1 s to a minute, then 2 s, then 5 s (±1 at the tier edges).
        for (got, want) in per_scaled_minute.iter().zip([90, 30, 30, 12, 12]) {
            assert!(got.abs_diff(want) <= 1, "{per_scaled_minute:?}");
        }
    }
}
