//! Warm servers: on Roblox a task runs on a game server of its place version, and booting one
//! (loading the version) is most of a short task's wait: ~3 s warm against ~22 s after an
//! upload, as jest-roblox-cli measured. A server stays up for a while after its task ends,
//! and the next task of that version starts on it without the boot.
//!
//! The emulator models this per (universe, place, version): a task pays the boot delay only
//! when no server of its version is running a task or ended one within the warm period. How
//! long Roblox keeps an idle server is unpublished: [`DEFAULT_WARM_PERIOD`] is a choice
//! (`serve --warm-period`), documented in the README.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a server stays warm after its last task ended, unless `serve --warm-period` says
/// otherwise. Unconfirmed: chosen long enough that a CI run's tasks, a few minutes apart, find
/// it warm, as the peers observed on Roblox.
pub const DEFAULT_WARM_PERIOD: Duration = Duration::from_secs(10 * 60);

/// Versions whose servers are kept; the oldest-idle past it are forgotten (a cold boot).
const MAX_TRACKED: usize = 256;

/// A place version: (universe, place, version).
pub type Version = (u64, u64, u64);

#[derive(Debug, Default)]
struct Warmth {
    /// Tasks running on booted servers of the version.
    running: usize,
    /// When the last of them ended.
    idle_since: Option<Instant>,
}

/// The servers of every version that has booted.
#[derive(Debug, Default)]
pub struct Servers {
    versions: HashMap<Version, Warmth>,
}

impl Servers {
    /// Whether a task of `version` starting now finds a warm server.
    pub fn is_warm(&self, version: Version, period: Duration, now: Instant) -> bool {
        self.versions.get(&version).is_some_and(|w| {
            w.running > 0
                || w.idle_since
                    .is_some_and(|idle| now.saturating_duration_since(idle) < period)
        })
    }

    /// A task of `version` has a booted server and runs on it.
    pub fn started(&mut self, version: Version) {
        self.versions.entry(version).or_default().running += 1;
        if self.versions.len() > MAX_TRACKED {
            self.forget_oldest();
        }
    }

    /// A task of `version` ended; its server stays warm from now.
    pub fn ended(&mut self, version: Version, now: Instant) {
        let warmth = self.versions.entry(version).or_default();
        warmth.running = warmth.running.saturating_sub(1);
        warmth.idle_since = Some(now);
    }

    fn forget_oldest(&mut self) {
        let oldest = self
            .versions
            .iter()
            .filter(|(_, w)| w.running == 0)
            .min_by_key(|(_, w)| w.idle_since)
            .map(|(v, _)| *v);
        if let Some(oldest) = oldest {
            self.versions.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_warm_while_a_task_runs_and_for_the_period_after() {
        let mut servers = Servers::default();
        let v3 = (1, 2, 3);
        let period = Duration::from_secs(60);
        let start = Instant::now();
        assert!(!servers.is_warm(v3, period, start));
        servers.started(v3);
        assert!(servers.is_warm(v3, period, start));
        // Another version of the same place is not.
        assert!(!servers.is_warm((1, 2, 4), period, start));
        servers.ended(v3, start);
        assert!(servers.is_warm(v3, period, start + Duration::from_secs(59)));
        assert!(!servers.is_warm(v3, period, start + Duration::from_secs(60)));
        assert!(!servers.is_warm(v3, Duration::ZERO, start));
    }
}
