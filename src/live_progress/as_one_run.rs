//! Live progress of a run the step split across the machine's cores on its own
//! (`Presentation::Whole`): its tasks' live events arrive under their labels, and are shown as
//! the one run's: failures as they come, with no label, and one progress line for the whole
//! run (every task's counts summed), at most every [`PROGRESS_EVERY`](super::follow) period.
//! Every other event passes through unchanged.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::render::{Event, Sink};
use crate::results::Counts;

/// The console, for a step whose tasks are one run.
pub struct AsOneRun<'c> {
    inner: &'c mut dyn Sink,
    /// Each task's counts so far and the test it runs, by label.
    tasks: BTreeMap<String, (Counts, Option<String>)>,
    every: Duration,
    shown: Option<Instant>,
}

impl<'c> AsOneRun<'c> {
    /// Progress lines at most every `every` (on the run's clock).
    pub fn new(inner: &'c mut dyn Sink, every: Duration) -> Self {
        Self {
            inner,
            tasks: BTreeMap::new(),
            every,
            shown: None,
        }
    }

    /// Every task's counts summed, and a test that runs (this task's, else another's).
    fn progress(
        &mut self,
        label: &str,
        counts: Counts,
        running: Option<&str>,
    ) -> Option<(Counts, Option<String>)> {
        self.tasks
            .insert(label.to_owned(), (counts, running.map(str::to_owned)));
        let now = Instant::now();
        if self.shown.is_some_and(|at| now - at < self.every) {
            return None;
        }
        self.shown = Some(now);
        let total = self
            .tasks
            .values()
            .fold(Counts::default(), |sum, (counts, _)| sum.plus(*counts));
        let running = running
            .map(str::to_owned)
            .or_else(|| self.tasks.values().find_map(|(_, r)| r.clone()));
        Some((total, running))
    }
}

impl Sink for AsOneRun<'_> {
    fn emit(&mut self, event: Event<'_>) {
        let Event::ForTask {
            label,
            event: inner,
        } = event
        else {
            return self.inner.emit(event);
        };
        match *inner {
            Event::LiveFailure { test, logs } => {
                self.inner.emit(Event::LiveFailure { test, logs });
            }
            Event::LiveProgress {
                counts,
                running,
                elapsed,
            } => {
                if let Some((total, running)) = self.progress(label, *counts, running) {
                    self.inner.emit(Event::LiveProgress {
                        counts: &total,
                        running: running.as_deref(),
                        elapsed,
                    });
                }
            }
            _ => self.inner.emit(event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Vec<String>);

    impl Sink for Collect {
        fn emit(&mut self, event: Event<'_>) {
            self.0.push(format!("{event:?}"));
        }
    }

    fn counts(passed: usize, failed: usize) -> Counts {
        Counts {
            total: passed + failed,
            passed,
            failed,
            skipped: 0,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn tasks_progress_is_summed_into_one_line_and_failures_lose_their_label() {
        let mut collect = Collect::default();
        let mut sink = AsOneRun::new(&mut collect, Duration::from_secs(5));
        sink.emit(Event::ForTask {
            label: "shard 1/2",
            event: &Event::LiveProgress {
                counts: &counts(2, 1),
                running: Some("a"),
                elapsed: Duration::ZERO,
            },
        });
        // Within the period: counted, not shown.
        sink.emit(Event::ForTask {
            label: "shard 2/2",
            event: &Event::LiveProgress {
                counts: &counts(3, 0),
                running: None,
                elapsed: Duration::ZERO,
            },
        });
        tokio::time::advance(Duration::from_secs(5)).await;
        sink.emit(Event::ForTask {
            label: "shard 2/2",
            event: &Event::LiveProgress {
                counts: &counts(4, 0),
                running: None,
                elapsed: Duration::ZERO,
            },
        });
        let test = crate::results::TestCase {
            path: vec!["t".into()],
            status: crate::results::TestStatus::Failed,
            duration: None,
            message: None,
            location: None,
            file: None,
            brief: None,
        };
        sink.emit(Event::ForTask {
            label: "shard 1/2",
            event: &Event::LiveFailure {
                test: &test,
                logs: &[],
            },
        });
        sink.emit(Event::Note("passes"));
        let lines = &collect.0;
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[0].contains("passed: 2, failed: 1"), "{lines:?}");
        // Both tasks summed; the running test is the one a task still runs.
        assert!(lines[1].contains("passed: 6, failed: 1"), "{lines:?}");
        assert!(lines[1].contains("running: Some(\"a\")"), "{lines:?}");
        assert!(lines[2].starts_with("LiveFailure"), "{lines:?}");
        assert!(!lines[2].contains("shard"), "{lines:?}");
        assert_eq!(lines[3], "Note(\"passes\")");
    }
}
