//! The retry policy, as pure functions: which answers are worth another try, how long to wait
//! before it, and when to give up.
//!
//! Idempotent requests (GETs, place uploads, which Roblox dedupes by content, presigned
//! transfers) retry 408, 429, 5xx, transport errors and 2xx bodies that do not parse. Creating a
//! task is not idempotent: it retries only 429 and connection errors that prove nothing was
//! sent; anything else ends the run rather than risk starting a second task.

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::clock::Timing;

/// How a request may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Safe to send again.
    Idempotent,
    /// Creates something: send again only when the server provably did not act on it.
    Create,
}

/// What the client does with one attempt's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Retry,
    /// Fatal 4xx.
    Reject,
    /// A create that may have happened: stop, do not retry.
    Ambiguous,
}

/// The retry budget: a run of consecutive failures is given up after `budget` (about a minute);
/// `max_attempts` only guards against a clock that does not move. Delays grow exponentially
/// from `base` to `cap` with jitter, so parallel CI jobs sharing a key do not retry in lockstep.
/// A server's `retry-after` is honoured, but never below the backoff's fixed half: a server
/// answering `retry-after: 0` must not burn the whole budget in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    pub budget: Duration,
    pub max_attempts: u32,
    /// The longest `retry-after` we honour; longer asks are clamped to it.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    pub fn new(timing: Timing) -> Self {
        Self {
            base: timing.scaled(Duration::from_millis(500)),
            cap: timing.scaled(Duration::from_secs(8)),
            budget: timing.scaled(Duration::from_secs(60)),
            max_attempts: 30,
            max_retry_after: Duration::from_secs(60),
        }
    }

    /// The wait before retry number `retry` (0 for the first retry). `jitter` is uniform in
    /// [0, 1): the delay is half fixed, half random ("equal jitter").
    pub fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        let exponential = self.base.saturating_mul(1u32 << retry.min(16));
        let capped = exponential.min(self.cap);
        capped / 2 + (capped / 2).mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// The wait before the next attempt: the server's `retry-after` wins when present, but is
    /// never shorter than the fixed half of the backoff (the floor).
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        match retry_after {
            Some(asked) => asked
                .min(self.max_retry_after)
                .max(self.backoff(retry, 0.0)),
            None => self.backoff(retry, jitter),
        }
    }

    /// Whether a streak of failures that began `elapsed` ago, after `attempts` attempts, may
    /// try again. A wait that starts inside the budget is taken even if it ends past it, so a
    /// server's `retry-after` is honoured at least once.
    pub fn may_retry(&self, attempts: u32, elapsed: Duration) -> bool {
        attempts < self.max_attempts && elapsed < self.budget
    }
}

/// One streak of consecutive failures of one request: counts attempts and says how long to
/// wait before the next, or that the budget is spent.
#[derive(Debug)]
pub struct RetryState {
    policy: RetryPolicy,
    started: Instant,
    attempts: u32,
}

impl RetryState {
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            started: Instant::now(),
            attempts: 0,
        }
    }

    /// Records a failed attempt; the wait before the next one, or `None` to give up.
    pub fn next_delay(&mut self, retry_after: Option<Duration>, jitter: f64) -> Option<Duration> {
        self.attempts += 1;
        self.policy
            .may_retry(self.attempts, self.started.elapsed())
            .then(|| self.policy.delay(self.attempts - 1, retry_after, jitter))
    }

    /// Failed attempts so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time since the streak began.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Classifies an HTTP status that is not a success.
pub fn status_verdict(status: u16, idempotency: Idempotency) -> Verdict {
    let transient = status == 408 || status == 429 || (500..=599).contains(&status);
    match idempotency {
        Idempotency::Idempotent if transient => Verdict::Retry,
        // A 429 means the request was refused before it was acted on.
        Idempotency::Create if status == 429 => Verdict::Retry,
        Idempotency::Create if transient => Verdict::Ambiguous,
        _ => Verdict::Reject,
    }
}

/// Classifies a transport error. Only a failed connect proves a create was never sent.
pub fn transport_verdict(is_connect: bool, idempotency: Idempotency) -> Verdict {
    match idempotency {
        Idempotency::Idempotent => Verdict::Retry,
        Idempotency::Create if is_connect => Verdict::Retry,
        Idempotency::Create => Verdict::Ambiguous,
    }
}

/// `retry-after` as delta-seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>()
        && seconds.is_finite()
        && seconds >= 0.0
    {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A uniform random number in [0, 1) from the OS. Falls back to 0.5 if the OS has none.
pub fn jitter() -> f64 {
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn policy() -> RetryPolicy {
        RetryPolicy::new(Timing::default())
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = policy();
        assert_eq!(p.backoff(0, 0.0), Duration::from_millis(250));
        assert_eq!(
            p.backoff(0, 0.999_999),
            Duration::from_millis(500) - Duration::from_nanos(250)
        );
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(500));
        assert_eq!(p.backoff(3, 0.0), Duration::from_secs(2));
        assert_eq!(p.backoff(10, 0.0), Duration::from_secs(4));
        assert_eq!(p.backoff(40, 1.0), Duration::from_secs(8));
    }

    #[test]
    fn retry_after_wins_and_is_clamped() {
        let p = policy();
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(2)), 0.9),
            Duration::from_secs(2)
        );
        // Late in a streak the floor is the longer wait.
        assert_eq!(
            p.delay(5, Some(Duration::from_secs(2)), 0.9),
            Duration::from_secs(4)
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(3600)), 0.0),
            Duration::from_secs(60)
        );
        assert_eq!(p.delay(0, None, 0.0), Duration::from_millis(250));
    }

    #[test]
    fn retry_after_zero_has_a_floor() {
        let p = policy();
        assert_eq!(
            p.delay(0, Some(Duration::ZERO), 0.9),
            Duration::from_millis(250)
        );
        assert_eq!(
            p.delay(4, Some(Duration::ZERO), 0.9),
            Duration::from_secs(4)
        );
        // Over a whole streak of `retry-after: 0`, the waits add up to the budget.
        let total: Duration = (0..p.max_attempts)
            .map(|retry| p.delay(retry, Some(Duration::ZERO), 0.0))
            .sum();
        assert!(total >= p.budget, "{total:?}");
    }

    #[test]
    fn a_streak_ends_when_the_budget_is_spent() {
        let mut state = RetryState::new(RetryPolicy {
            budget: Duration::ZERO,
            ..policy()
        });
        assert_eq!(state.next_delay(None, 0.0), None);
        assert_eq!(state.attempts(), 1);
        let mut state = RetryState::new(policy());
        assert_eq!(
            state.next_delay(None, 0.0),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            state.next_delay(None, 0.0),
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn budget_bounds_a_streak() {
        let p = policy();
        assert!(p.may_retry(1, Duration::ZERO));
        assert!(p.may_retry(3, Duration::from_secs(59)));
        assert!(!p.may_retry(3, Duration::from_secs(60)));
        assert!(!p.may_retry(30, Duration::ZERO));
    }

    #[test]
    fn retried_statuses() {
        let retried: Vec<u16> = (400..600)
            .filter(|s| status_verdict(*s, Idempotency::Idempotent) == Verdict::Retry)
            .collect();
        let mut expected = vec![408, 429];
        expected.extend(500..600);
        assert_eq!(retried, expected);
        assert_eq!(status_verdict(429, Idempotency::Create), Verdict::Retry);
        assert_eq!(status_verdict(500, Idempotency::Create), Verdict::Ambiguous);
        assert_eq!(status_verdict(503, Idempotency::Create), Verdict::Ambiguous);
        for s in [400, 401, 403, 404, 409] {
            assert_eq!(status_verdict(s, Idempotency::Create), Verdict::Reject);
            assert_eq!(status_verdict(s, Idempotency::Idempotent), Verdict::Reject);
        }
        assert_eq!(transport_verdict(true, Idempotency::Create), Verdict::Retry);
        assert_eq!(
            transport_verdict(false, Idempotency::Create),
            Verdict::Ambiguous
        );
        assert_eq!(
            transport_verdict(false, Idempotency::Idempotent),
            Verdict::Retry
        );
    }

    #[test]
    fn parses_retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1.5"));
        assert_eq!(
            retry_after(&headers, now),
            Some(Duration::from_millis(1500))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&date).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("-3"));
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn jitter_is_in_range_and_random() {
        let draws: Vec<f64> = (0..100).map(|_| jitter()).collect();
        for j in &draws {
            assert!((0.0..1.0).contains(j), "{j}");
        }
        // Parallel jobs must not retry in lockstep: the draws differ (100 equal draws of 53
        // random bits do not happen by chance), and spread over the range.
        let distinct: std::collections::HashSet<u64> = draws.iter().map(|j| j.to_bits()).collect();
        assert!(distinct.len() > 90, "{draws:?}");
        assert!(draws.iter().any(|j| *j < 0.5) && draws.iter().any(|j| *j >= 0.5));
    }

    #[test]
    fn a_streak_counts_its_attempts_and_its_time() {
        let mut state = RetryState::new(policy());
        assert_eq!(state.attempts(), 0);
        for expected in 1..=4 {
            assert!(state.next_delay(None, 0.0).is_some());
            // "gave up after N attempts", and how far a create held by 429s backs off.
            assert_eq!(state.attempts(), expected);
        }
        let slept = Duration::from_millis(5);
        std::thread::sleep(slept);
        // Sleep waits at least this long, so the streak is at least this old ("over 5ms").
        assert!(state.elapsed() >= slept, "{:?}", state.elapsed());
    }
}
