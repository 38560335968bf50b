//! The run's clocks: how production durations scale in the test suite ([`Timing`]) and how
//! often a task is polled ([`Cadence`]). They sit below the rooms that use them (`api/`, the
//! poller, the runner, `config`), so none of those has to reach up into another for time.
//!
//! Open Cloud's cadence: 0.5 s for the first 30 s (most CI scripts end there, and the median
//! delay between the task ending and us noticing is a quarter of the interval), 1 s to one
//! minute, 2 s to three minutes, 5 s after. The first minute costs 90 GETs, under the 120/min
//! this tool allows itself, and a five-minute task about 180 in all, so parallel jobs sharing
//! one key stay inside Open Cloud's 200 GET/min per owner.

use std::time::Duration;

/// The clocks of the run. Production uses [`Timing::default`]; the test suite scales them down
/// through the undocumented `LUAU_EXEC_TEST_TIME_SCALE` so retry budgets run in milliseconds.
/// `retry-after` values from the server are never scaled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub scale: f64,
    /// How often the task is polled.
    pub cadence: Cadence,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            scale: 1.0,
            cadence: Cadence::OpenCloud,
        }
    }
}

impl Timing {
    /// A production duration on this clock.
    pub fn scaled(&self, duration: Duration) -> Duration {
        duration.mul_f64(self.scale)
    }

    /// A duration measured on this clock, in production terms.
    pub fn unscaled(&self, duration: Duration) -> Duration {
        duration.div_f64(self.scale)
    }
}

/// Which schedule polls the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// Open Cloud's: within its GET budget (see the module header).
    OpenCloud,
    /// The embedded emulator's, on this machine: it says when a task's state changes
    /// (`TaskSource::task_changes`), which is when a poll is due; the schedule only backs that
    /// up, every 50 ms.
    Local,
}

impl Cadence {
    /// The interval before the next poll, given how long the task has run.
    pub fn interval(self, elapsed: Duration) -> Duration {
        match self {
            Self::OpenCloud => poll_interval(elapsed),
            Self::Local => LOCAL_POLL_INTERVAL,
        }
    }
}

/// The local backend's polls when no task changes state in between (see [`Cadence::Local`]).
pub const LOCAL_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The interval before the next poll on Open Cloud, given how long the task has run.
pub fn poll_interval(elapsed: Duration) -> Duration {
    let secs = elapsed.as_secs();
    Duration::from_millis(match secs {
        0..30 => 500,
        30..60 => 1000,
        60..180 => 2000,
        _ => 5000,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_cadence_backs_up_the_emulators_changes() {
        assert_eq!(
            Cadence::Local.interval(Duration::ZERO),
            Duration::from_millis(50)
        );
        assert_eq!(
            Cadence::Local.interval(Duration::from_secs(60)),
            Duration::from_millis(50)
        );
        assert_eq!(
            Cadence::OpenCloud.interval(Duration::ZERO),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn interval_schedule() {
        assert_eq!(poll_interval(Duration::ZERO), Duration::from_millis(500));
        assert_eq!(
            poll_interval(Duration::from_secs(45)),
            Duration::from_secs(1)
        );
        assert_eq!(
            poll_interval(Duration::from_secs(100)),
            Duration::from_secs(2)
        );
        assert_eq!(
            poll_interval(Duration::from_secs(1000)),
            Duration::from_secs(5)
        );
    }
}
