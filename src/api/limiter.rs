//! One rate limiter for every request a step makes to Open Cloud, so that many tasks run from
//! one step stay inside Roblox's published per-key-owner limits instead of finding them with
//! 429s.
//!
//! Each limit is a bucket with Roblox's own numbers (`x-roblox-rate-limits` in the schema:
//! create at head 40/min, create pinned to a version 5/min, get 200/min, logs 45/min, binary
//! input 5/min, place upload 30/min). A bucket admits a request only when fewer than its limit
//! were admitted in the last minute (a sliding window, exact, with a second of slack for the
//! server's clock), and waiters are served in arrival order. A 429 with `retry-after` holds the
//! whole bucket until then, so the other tasks of the step do not walk into the same wall.
//!
//! Polls also take turns from the step's [`PollBudget`], which keeps them inside a share of
//! the GET limit and hands what is left to the tasks still polled; this window stays the hard
//! guard under it.
//!
//! The window is the server's minute. Only the test suite's clock scale shrinks it, with every
//! other clock of the run, so a scaled test does not wait real minutes for its own polls.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::poll_budget::PollBudget;
use crate::roblox::per_minute;

/// The limits' window, plus a second of slack for the server's clock.
const WINDOW: Duration = Duration::from_secs(61);

/// A request kind with its own per-key-owner limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Create a task at the place's head version.
    CreateAtHead,
    /// Create a task pinned to a place version.
    CreateAtVersion,
    GetTask,
    ListLogs,
    CreateBinaryInput,
    UploadPlace,
}

impl Bucket {
    const ALL: [Bucket; 6] = [
        Self::CreateAtHead,
        Self::CreateAtVersion,
        Self::GetTask,
        Self::ListLogs,
        Self::CreateBinaryInput,
        Self::UploadPlace,
    ];

    /// Roblox's published limit per API key owner, per minute.
    pub fn per_minute(self) -> usize {
        match self {
            Self::CreateAtHead => per_minute::CREATE_AT_HEAD,
            Self::CreateAtVersion => per_minute::CREATE_AT_VERSION,
            Self::GetTask => per_minute::GET_TASK,
            Self::ListLogs => per_minute::LIST_LOGS,
            Self::CreateBinaryInput => per_minute::CREATE_BINARY_INPUT,
            Self::UploadPlace => per_minute::UPLOAD_PLACE,
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|b| *b == self).unwrap_or(0)
    }
}

/// One bucket's recent admissions and any hold a 429 placed on it.
#[derive(Debug)]
struct Window {
    limit: usize,
    admitted: VecDeque<Instant>,
    held_until: Option<Instant>,
}

impl Window {
    /// When the next request may go, seen at `now`.
    fn next_free(&self, now: Instant, window: Duration) -> Instant {
        let by_window = if self.admitted.len() >= self.limit {
            // The oldest of the last `limit` admissions must leave the window first.
            self.admitted[self.admitted.len() - self.limit] + window
        } else {
            now
        };
        by_window.max(self.held_until.unwrap_or(now)).max(now)
    }

    fn admit(&mut self, at: Instant) {
        self.admitted.push_back(at);
        while self.admitted.len() > self.limit {
            self.admitted.pop_front();
        }
    }
}

/// The step's limiter: shared by every task of the step through the one API client.
#[derive(Debug)]
pub struct Limiter {
    /// Each bucket's window, locked only to read or update it.
    windows: Vec<std::sync::Mutex<Window>>,
    /// Each bucket's queue of waiters, locked across the wait so they go in arrival order.
    queues: Vec<Mutex<()>>,
    /// The step's poll turns, inside a share of the GET limit.
    polls: PollBudget,
    /// The sliding window: a minute and the slack, on the run's clock.
    window: Duration,
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new()
    }
}

impl Limiter {
    /// Roblox's limits.
    pub fn new() -> Self {
        Self::with_limits(|bucket| bucket.per_minute())
    }

    /// Roblox's limits, on the run's clock (the test suite scales it down).
    pub fn on_clock(timing: crate::clock::Timing) -> Self {
        Self {
            window: timing.scaled(WINDOW),
            polls: PollBudget::on_clock(timing),
            ..Self::new()
        }
    }

    /// Other limits (tests).
    pub fn with_limits(limit: impl Fn(Bucket) -> usize) -> Self {
        Self {
            windows: Bucket::ALL
                .iter()
                .map(|bucket| {
                    std::sync::Mutex::new(Window {
                        limit: limit(*bucket).max(1),
                        admitted: VecDeque::new(),
                        held_until: None,
                    })
                })
                .collect(),
            queues: Bucket::ALL.iter().map(|_| Mutex::new(())).collect(),
            polls: PollBudget::default(),
            window: WINDOW,
        }
    }

    /// Waits until `bucket` admits one more request, and counts it. Returns how long it waited.
    /// Waiters queue in arrival order: the lock is held across the wait.
    pub async fn acquire(&self, bucket: Bucket) -> Duration {
        let _turn = self.queues[bucket.index()].lock().await;
        let asked = Instant::now();
        loop {
            // Read again after every sleep: a 429 may have placed a hold meanwhile.
            let now = Instant::now();
            let at = {
                let mut window = self.window(bucket);
                let at = window.next_free(now, self.window);
                if at <= now {
                    window.admit(now);
                    return now - asked;
                }
                at
            };
            tokio::time::sleep_until(at).await;
        }
    }

    fn window(&self, bucket: Bucket) -> std::sync::MutexGuard<'_, Window> {
        // A panic while holding this lock cannot leave the window inconsistent: take it back.
        self.windows[bucket.index()]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Holds `bucket` until `until` (a 429's `retry-after`): no request of that kind goes
    /// before then, whichever task sends it.
    pub fn hold(&self, bucket: Bucket, until: Instant) {
        let mut window = self.window(bucket);
        window.held_until = Some(window.held_until.map_or(until, |held| held.max(until)));
    }

    /// The step's poll turns.
    pub fn polls(&self) -> &PollBudget {
        &self.polls
    }

    /// The steady interval between two polls of one task when every task polled is due at
    /// once: 0.33 s for one task, 3.3 s for ten.
    pub fn poll_floor(&self) -> Duration {
        self.polls.floor()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_bucket_admits_its_limit_per_minute_then_waits_for_the_window() {
        let limiter = Limiter::new();
        let start = Instant::now();
        for _ in 0..5 {
            assert_eq!(
                limiter.acquire(Bucket::CreateAtVersion).await,
                Duration::ZERO
            );
        }
        // The sixth versioned create waits until the first leaves the (slack) window.
        let waited = limiter.acquire(Bucket::CreateAtVersion).await;
        assert_eq!(waited, WINDOW);
        assert_eq!(Instant::now() - start, WINDOW);
        // Other buckets are not held up by it.
        assert_eq!(limiter.acquire(Bucket::GetTask).await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn no_minute_ever_holds_more_than_the_limit() {
        let limiter = std::sync::Arc::new(Limiter::with_limits(|_| 7));
        let mut admitted = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..30 {
            let limiter = limiter.clone();
            handles.push(tokio::spawn(async move {
                limiter.acquire(Bucket::ListLogs).await;
                Instant::now()
            }));
        }
        for handle in handles {
            admitted.push(handle.await.expect("task"));
        }
        admitted.sort();
        for (i, at) in admitted.iter().enumerate() {
            let in_window = admitted[i..]
                .iter()
                .take_while(|later| **later - *at < Duration::from_secs(60))
                .count();
            assert!(in_window <= 7, "{in_window} requests within a minute");
        }
        // And it did not wait more than it had to: 30 requests at 7 a window is 4 windows.
        assert_eq!(*admitted.last().expect("some") - admitted[0], WINDOW * 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_from_retry_after_delays_every_request_of_the_bucket() {
        let limiter = Limiter::new();
        let until = Instant::now() + Duration::from_secs(7);
        limiter.hold(Bucket::GetTask, until);
        assert_eq!(
            limiter.acquire(Bucket::GetTask).await,
            Duration::from_secs(7)
        );
        assert_eq!(limiter.acquire(Bucket::ListLogs).await, Duration::ZERO);
    }
}
