//! The step's GET budget for polls, handed out as turns to the tasks still being polled, so a
//! sharded step notices its last task as soon as a run of one task would, and never polls more
//! than its share of Roblox's 200 GET/min in any rolling minute.
//!
//! Each task is polled on its own cadence (`clock::Cadence`); when a poll is due, the task asks
//! for a turn. The budget is [`POLLS_PER_MINUTE`] (180: the rest of the 200 is headroom for
//! retries and other clients of the key owner), in two shares:
//!
//! - **Paced** ([`PACED_PER_MINUTE`], 120): one turn every half second, taken in arrival order
//!   by whichever tasks are due. The tasks still polled share it, so when 7 of 8 shards have
//!   finished the last one has it to itself: the one-task cadence (0.5 s), with nothing to
//!   re-plan. No reservation is made ahead, so a task that ends frees its share at once.
//! - **Burst** (the other 60): spent at the tasks' own cadence, without waiting for a paced turn,
//!   once the step winds down (a task of it has stopped being polled). Shards that steal work
//!   end within moments of each other: the first end is noticed at the next paced turn, and the
//!   burst notices the others at their one-task cadence instead of one by one at the pace.
//!
//! Why the sum holds in every rolling minute: paced turns are half a second apart, so any 60 s
//! holds at most 120 of them; a burst turn is taken only while the last minute holds fewer than
//! 60 burst turns, and the last burst turn of any 60 s window saw every earlier one of that
//! window in its own last minute, so no window holds more than 60. The limiter's sliding window
//! at Roblox's 200 stays the hard guard under both.
//!
//! Why turns and not a floor per task (tasks × 60 s / 180): a floor plans for the worst case,
//! every task due at once for ever, so the last of eight shards still waits out an interval
//! planned for eight, and the budget the finished ones leave goes unused.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::clock::Timing;

/// The polls a step plans for in any rolling minute.
pub const POLLS_PER_MINUTE: u32 = 180;
/// The share handed out at a steady pace: one turn every half second, the one-task cadence of a
/// task's first 30 s, so a task polled alone never waits on it.
pub const PACED_PER_MINUTE: u32 = 120;
/// The share spent at the tasks' own cadence while a step winds down.
const BURST_PER_MINUTE: usize = (POLLS_PER_MINUTE - PACED_PER_MINUTE) as usize;

/// The step's poll turns: shared by every task of the step through the limiter.
#[derive(Debug)]
pub struct PollBudget {
    state: Mutex<State>,
    /// Tasks waiting for a paced turn, served in arrival order (held across the wait).
    queue: tokio::sync::Mutex<()>,
    /// Wakes the task waiting for a paced turn when the step starts winding down: the burst
    /// is open from then on, and a waiter that has ended is the one the step waits for.
    winding: tokio::sync::Notify,
    /// A minute on the run's clock.
    minute: Duration,
    /// The time between two paced turns.
    pace: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// Tasks being polled now.
    polled: usize,
    /// A task of the step has stopped being polled: the step is winding down.
    winding_down: bool,
    last_paced: Option<Instant>,
    /// Burst turns of the last minute, oldest first.
    bursts: VecDeque<Instant>,
}

impl Default for PollBudget {
    fn default() -> Self {
        Self::on_clock(Timing::default())
    }
}

impl PollBudget {
    /// The budget on the run's clock (the test suite scales its minute down).
    pub fn on_clock(timing: Timing) -> Self {
        let minute = timing.scaled(Duration::from_secs(60));
        Self {
            state: Mutex::new(State::default()),
            queue: tokio::sync::Mutex::new(()),
            winding: tokio::sync::Notify::new(),
            minute,
            pace: minute / PACED_PER_MINUTE,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state consistent: a panic elsewhere cannot spoil it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one more task being polled, until the returned guard drops.
    pub fn polling(&self) -> Polling<'_> {
        self.state().polled += 1;
        Polling { budget: self }
    }

    /// Tasks being polled now (at least one, for the floor's arithmetic).
    fn polled(&self) -> usize {
        self.state().polled.max(1)
    }

    /// The steady interval between two polls of one task when every task polled is due at
    /// once: what the live-progress reader spaces its own reads by.
    pub fn floor(&self) -> Duration {
        Duration::from_secs(60) * self.polled() as u32 / POLLS_PER_MINUTE
    }

    /// Waits for a turn to poll, the task's cadence having said a poll is due; counts it.
    pub async fn turn(&self) {
        let _in_line = self.queue.lock().await;
        loop {
            // Listening before reading the state, so a task ending in between is not missed.
            let winding = self.winding.notified();
            let next = match self.take(Instant::now()) {
                Ok(()) => return,
                Err(next) => next,
            };
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                () = winding => {}
            }
        }
    }

    /// Takes a turn at `now` if there is one (paced first, then burst); otherwise says when
    /// the next one may be free.
    fn take(&self, now: Instant) -> Result<(), Instant> {
        let mut state = self.state();
        let paced_at = state.last_paced.map_or(now, |last| last + self.pace);
        if paced_at <= now {
            state.last_paced = Some(now);
            return Ok(());
        }
        if !state.winding_down {
            return Err(paced_at);
        }
        while state
            .bursts
            .front()
            .is_some_and(|at| *at + self.minute <= now)
        {
            state.bursts.pop_front();
        }
        match state.bursts.front() {
            Some(oldest) if state.bursts.len() >= BURST_PER_MINUTE => {
                Err(paced_at.min(*oldest + self.minute))
            }
            _ => {
                state.bursts.push_back(now);
                Ok(())
            }
        }
    }
}

/// One task being polled; dropping it says the task is no longer polled.
#[derive(Debug)]
pub struct Polling<'a> {
    budget: &'a PollBudget,
}

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        {
            let mut state = self.budget.state();
            state.polled = state.polled.saturating_sub(1);
            state.winding_down = true;
        }
        self.budget.winding.notify_waiters();
    }
}

/// The most of `times` (polls, turns) that any rolling minute holds: what the budget bounds.
#[cfg(test)]
pub(crate) fn most_in_any_minute(times: &[Instant]) -> usize {
    let mut times = times.to_vec();
    times.sort();
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|at| **at - times[i] < Duration::from_secs(60))
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn before_any_task_ends_turns_come_at_the_pace() {
        let budget = PollBudget::default();
        let _polled: Vec<_> = (0..8).map(|_| budget.polling()).collect();
        let start = Instant::now();
        let mut turns = Vec::new();
        for _ in 0..10 {
            budget.turn().await;
            turns.push(Instant::now() - start);
        }
        let half = Duration::from_millis(500);
        assert_eq!(turns, (0..10).map(|i| half * i).collect::<Vec<_>>());
    }

    #[tokio::test(start_paused = true)]
    async fn once_a_task_ends_the_burst_is_spent_then_the_pace_resumes() {
        let budget = PollBudget::default();
        let polled: Vec<_> = (0..8).map(|_| budget.polling()).collect();
        budget.turn().await;
        drop(polled);
        let start = Instant::now();
        // At once: the whole burst share, then the next paced turn.
        for _ in 0..BURST_PER_MINUTE {
            budget.turn().await;
        }
        assert_eq!(Instant::now(), start);
        budget.turn().await;
        assert_eq!(Instant::now() - start, Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn no_minute_holds_more_than_the_budget_whoever_asks() {
        let budget = std::sync::Arc::new(PollBudget::default());
        let start = Instant::now();
        let mut tasks = Vec::new();
        for task in 0..10u32 {
            let budget = budget.clone();
            tasks.push(tokio::spawn(async move {
                let mut turns = Vec::new();
                // Ten slots for ten minutes, each asking far more often than the budget
                // allows; every 40-odd seconds a slot's task ends and another takes its place.
                let mut polling = budget.polling();
                while Instant::now() - start < Duration::from_secs(600) {
                    let elapsed = (Instant::now() - start).as_secs();
                    if elapsed.is_multiple_of(40 + u64::from(task)) {
                        drop(polling);
                        polling = budget.polling();
                    }
                    budget.turn().await;
                    turns.push(Instant::now());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                drop(polling);
                turns
            }));
        }
        let mut turns = Vec::new();
        for task in tasks {
            turns.extend(task.await.expect("task"));
        }
        let most = most_in_any_minute(&turns);
        assert!(
            most <= POLLS_PER_MINUTE as usize,
            "{most} turns in a minute"
        );
        // And it spends what it has: far more than the steady 120.
        assert!(most > 170, "{most}");
    }

    #[test]
    fn the_floor_follows_the_tasks_polled() {
        let budget = PollBudget::default();
        assert_eq!(budget.floor().as_millis(), 333);
        let polled: Vec<_> = (0..10).map(|_| budget.polling()).collect();
        assert_eq!(budget.floor().as_millis(), 3333);
        // Ten tasks read at the floor stay inside Roblox's limit.
        let per_minute = 10.0 * 60.0 / budget.floor().as_secs_f64();
        assert!(
            per_minute <= crate::roblox::per_minute::GET_TASK as f64,
            "{per_minute}"
        );
        drop(polled);
        assert_eq!(budget.floor().as_millis(), 333);
    }
}
