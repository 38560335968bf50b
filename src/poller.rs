//! Waits for a task to reach a terminal state, reporting each state change and a heartbeat
//! while nothing changes, so a CI log never looks hung.
//!
//! The cadence is the poller's own and not configurable: 0.5 s for the first 30 s (most CI
//! scripts end there, and the median delay between the task ending and us noticing is a
//! quarter of the interval), 1 s to one minute, 2 s to three minutes, 5 s after. The first
//! minute costs 90 GETs, under the 120/min this tool allows itself, and a five-minute task about
//! 180 in all, so parallel jobs sharing one key stay inside Open Cloud's 200 GET/min per owner.
//! When one step polls many tasks at once, the schedule stretches to the source's
//! [`TaskSource::poll_floor`], so that together they stay inside that budget too.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::api::ApiError;
use crate::api::model::{Task, TaskState};
use crate::clock::Timing;

/// The seam between the poller and the network, so its timing can be tested with paused time.
pub trait TaskSource {
    fn get_task(&self, path: &str) -> impl Future<Output = Result<Task, ApiError>>;

    /// The shortest interval between two polls of one task: when a step polls many tasks at
    /// once, each is polled less often so that all of them stay inside the GET budget.
    fn poll_floor(&self) -> Duration {
        Duration::ZERO
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
    let mut task = initial;
    let mut last_report = started;
    on_event(PollEvent::StateChanged {
        state: task.state.clone(),
        elapsed: Duration::ZERO,
    });
    while !task.state.is_terminal() {
        // The schedule is read in production terms, so a scaled clock keeps its shape.
        let elapsed = timing.unscaled(started.elapsed());
        let interval = timing.cadence.interval(elapsed).max(source.poll_floor());
        let next = Instant::now() + timing.scaled(interval);
        if next >= deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(PollError::WaitTimeout {
                last: Box::new(task),
            });
        }
        tokio::time::sleep_until(next).await;
        let polled = match tokio::time::timeout_at(deadline, source.get_task(&task.path)).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Answers each poll with the next state of a script; the last state repeats.
    struct Scripted {
        states: RefCell<Vec<TaskState>>,
        polls: RefCell<Vec<Instant>>,
        /// What it says the floor between polls is (many tasks polled at once).
        floor: Duration,
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

        fn poll_floor(&self) -> Duration {
            self.floor
        }
    }

    fn scripted(states: &[TaskState]) -> Scripted {
        Scripted {
            states: RefCell::new(states.to_vec()),
            polls: RefCell::new(Vec::new()),
            floor: Duration::ZERO,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_floor_from_the_source_stretches_the_cadence() {
        // Ten tasks polled at once: each at most every 3.3 s, even in the first half minute.
        let source = Scripted {
            floor: Duration::from_millis(3333),
            ..scripted(&[TaskState::Processing])
        };
        let started = Instant::now();
        let _ = wait_for_terminal(
            &source,
            queued(),
            started,
            started + Duration::from_secs(60),
            Timing::default(),
            &mut |_| {},
        )
        .await;
        let polls = source.polls.borrow();
        // 60 s at one poll every 3.3 s, where the cadence alone would poll 90 times.
        assert_eq!(polls.len(), 18, "{polls:?}");
        for pair in polls.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(3333));
        }
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
