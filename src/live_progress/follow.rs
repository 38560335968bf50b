//! The runner's side of live progress while one task runs: the reader polls the task's map beside
//! the wait for the task's end; each failed test is located as the final report locates it
//! (`TestRun::locate`, through the step's sourcemap) and shown at once (GitHub: annotated at its
//! file and line), passing tests as a progress line, and the last test that started is kept
//! for a report that ends before the task does (wait-timeout, a signal).
//!
//! Reading costs requests of the universe's memory-store budget (1,000 units a minute, shared
//! with the task's own writes), so on Open Cloud the map is read at most every 2 s, or less
//! often when the task poll's own schedule or the step's floor (many tasks at once) says so.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::{Entry, Reader, map_name, prelude};
use crate::api::TaskApi;
use crate::clock::{Cadence, Timing};
use crate::config::TaskSpec;
use crate::render::{Event, Sink};
use crate::report::Problem;
use crate::results::{Counts, Locator, TestCase, TestRun, TestStatus};
use crate::secret::Redactor;

/// The shortest interval between two reads of the map on Open Cloud.
const OPEN_CLOUD_EVERY: Duration = Duration::from_secs(2);
/// The interval on the local emulator, which has no budget to keep.
const LOCAL_EVERY: Duration = Duration::from_millis(100);
/// Progress lines come at most this often (failures are shown at once).
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// The last read after the task ended waits at most this long.
const LAST_READ: Duration = Duration::from_secs(5);

/// One task's live progress, as far as the runner has read it.
#[derive(Debug)]
pub struct Live {
    reader: Reader,
    map: String,
    counts: Counts,
    /// The test that started and has not ended.
    running: Option<String>,
    /// The last test that started, ended or not.
    last_started: Option<String>,
    since: Instant,
    progress_at: Option<Instant>,
}

/// What following a task needs besides the task: where failures are, how the clock runs.
#[derive(Clone, Copy)]
pub struct Follow<'a> {
    pub locator: &'a Locator,
    pub timing: Timing,
    /// The wait's end: the last read never goes past it.
    pub deadline: Instant,
}

impl Live {
    /// Live progress for a task of a suite with `live-progress: true`, on a backend with
    /// sorted maps; `None` otherwise (a run as without it).
    fn for_task(spec: &TaskSpec, universe: u64, api: &impl TaskApi) -> Option<Self> {
        if !spec.suite.as_ref().is_some_and(|suite| suite.live) {
            return None;
        }
        api.progress_maps()?;
        let map = map_name(&crate::random::random_token(""));
        Some(Self {
            reader: Reader::new(universe, map.clone()),
            map,
            counts: Counts::default(),
            running: None,
            last_started: None,
            since: Instant::now(),
            progress_at: None,
        })
    }

    /// [`Live::for_task`], once the key is known to read the map: a task whose progress nobody
    /// can read must not write it (its items would sit in the universe's 64 KB memory quota for
    /// ten minutes), so without the scopes the run says so (once a run, however many tasks)
    /// and the task runs as without live progress. One list request, before the create.
    pub async fn start(
        spec: &TaskSpec,
        universe: u64,
        api: &impl TaskApi,
        console: &mut dyn Sink,
    ) -> Option<Self> {
        static NOTED: AtomicBool = AtomicBool::new(false);
        let mut live = Self::for_task(spec, universe, api)?;
        let polled = live.reader.poll(api.progress_maps()?).await;
        if let Some(note) = polled.note {
            if !NOTED.swap(true, Ordering::Relaxed) {
                console.emit(Event::Note(&note));
            }
            return None;
        }
        Some(live)
    }

    /// The script with the writer in front of it, on its first line.
    pub fn wrap(&self, script: &str) -> String {
        format!("{}{script}", prelude(&self.map))
    }

    /// The last test the task said it started.
    pub fn last_started(&self) -> Option<&str> {
        self.last_started.as_deref()
    }

    /// How long until the next read.
    fn interval(&self, timing: Timing, floor: Duration) -> Duration {
        match timing.cadence {
            // Not scaled: the emulator's task writes on its own clock (every 2 s), so a test's
            // scaled clock would only read an unchanged map more often.
            Cadence::Local => LOCAL_EVERY,
            Cadence::OpenCloud => {
                let elapsed = timing.unscaled(self.since.elapsed());
                let every = OPEN_CLOUD_EVERY
                    .max(timing.cadence.interval(elapsed))
                    .max(floor);
                timing.scaled(every)
            }
        }
    }

    /// Reads the map once and shows what is new.
    async fn read(
        &mut self,
        api: &impl TaskApi,
        follow: Follow<'_>,
        console: &RefCell<&mut dyn Sink>,
    ) {
        let Some(maps) = api.progress_maps() else {
            return;
        };
        let polled = self.reader.poll(maps).await;
        if let Some(note) = &polled.note {
            console.borrow_mut().emit(Event::Note(note));
        }
        if polled.entries.is_empty() {
            return;
        }
        for entry in polled.entries {
            self.take(entry, api.redactor(), follow.locator, console);
        }
        let now = Instant::now();
        let due = self
            .progress_at
            .is_none_or(|at| now - at >= follow.timing.scaled(PROGRESS_EVERY));
        if due {
            self.progress_at = Some(now);
            console.borrow_mut().emit(Event::LiveProgress {
                counts: &self.counts,
                running: self.running.as_deref(),
                elapsed: now - self.since,
            });
        }
    }

    /// Counts one entry; a failure is located and shown at once.
    fn take(
        &mut self,
        entry: Entry,
        redactor: &Redactor,
        locator: &Locator,
        console: &RefCell<&mut dyn Sink>,
    ) {
        let title = entry.title();
        let status = match entry.status.as_str() {
            "started" => {
                self.running = Some(title.clone());
                self.last_started = Some(title);
                return;
            }
            "passed" => TestStatus::Passed,
            "failed" => TestStatus::Failed,
            _ => TestStatus::Skipped,
        };
        if self.running.as_deref() == Some(title.as_str()) {
            self.running = None;
        }
        self.counts.total += 1;
        match status {
            TestStatus::Passed => self.counts.passed += 1,
            TestStatus::Skipped => self.counts.skipped += 1,
            TestStatus::Failed => {
                self.counts.failed += 1;
                if let Some((test, logs)) = located(entry, redactor, locator) {
                    console.borrow_mut().emit(Event::LiveFailure {
                        test: &test,
                        logs: &logs,
                    });
                }
            }
        }
    }
}

/// A failed test as the final report has it: located through the sourcemap, its message read
/// for the annotation, the key scrubbed out of every text.
fn located(
    entry: Entry,
    redactor: &Redactor,
    locator: &Locator,
) -> Option<(TestCase, Vec<crate::api::model::LogMessage>)> {
    let test = TestCase {
        path: entry.path,
        status: TestStatus::Failed,
        duration: None,
        message: entry.message,
        location: entry.location,
        file: None,
        brief: None,
    };
    let mut run = TestRun {
        framework: String::new(),
        tests: vec![test],
        notes: None,
        totals: None,
        error: None,
    };
    run.locate(locator);
    run.redact_with(redactor);
    let mut logs = entry.logs;
    for line in &mut logs {
        redactor.scrub(&mut line.message);
    }
    Some((run.tests.pop()?, logs))
}

/// Runs `wait` (the poll for the task's end) with the map read beside it, when the task reports
/// live; reads once more after it, for the last entries (within a few seconds, and never past
/// the wait's deadline).
pub async fn beside<T>(
    live: Option<&mut Live>,
    api: &impl TaskApi,
    follow: Follow<'_>,
    console: &RefCell<&mut dyn Sink>,
    wait: impl Future<Output = T>,
) -> T {
    let Some(live) = live else {
        return wait.await;
    };
    let mut wait = std::pin::pin!(wait);
    // A read cut short when the task ends loses nothing: the reader keeps what it had read
    // for the next poll.
    let ended = loop {
        let pause = live.interval(follow.timing, api.poll_floor());
        tokio::select! {
            ended = &mut wait => break ended,
            () = async {
                tokio::time::sleep(pause).await;
                live.read(api, follow, console).await;
            } => {}
        }
    };
    // Not scaled: it bounds network calls, which a test's scaled clock does not make faster
    // (a loaded machine's last read took longer than a scaled 50 ms and lost its entries).
    let until = follow.deadline.min(Instant::now() + LAST_READ);
    let _ = tokio::time::timeout_at(until, live.read(api, follow, console)).await;
    ended
}

/// The task's script: with the writer in front when the task reports live.
pub fn script(live: Option<&Live>, script: &str) -> String {
    match live {
        Some(live) => live.wrap(script),
        None => script.to_owned(),
    }
}

/// A problem of a run that ended before its task did, naming the last test the task started.
pub fn with_last_test(live: Option<&Live>, problem: Problem) -> Problem {
    match live.and_then(Live::last_started) {
        Some(name) => problem.also(Problem::LastTestStarted(name.to_owned())),
        None => problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event, as debug text.
    #[derive(Default)]
    struct Collect(Vec<String>);

    impl Sink for Collect {
        fn emit(&mut self, event: Event<'_>) {
            self.0.push(format!("{event:?}"));
        }
    }

    fn live() -> Live {
        Live {
            reader: Reader::new(1, "m".into()),
            map: "m".into(),
            counts: Counts::default(),
            running: None,
            last_started: None,
            since: Instant::now(),
            progress_at: None,
        }
    }

    fn entry(status: &str, name: &str) -> Entry {
        Entry {
            status: status.into(),
            path: vec!["Tests".into(), name.into()],
            ..Entry::default()
        }
    }

    #[test]
    fn entries_count_and_name_the_running_test_and_failures_are_shown_at_once() {
        let (mut live, mut sink) = (live(), Collect::default());
        let console: RefCell<&mut dyn Sink> = RefCell::new(&mut sink);
        let (redactor, locator) = (Redactor::default(), Locator::default());
        live.take(entry("started", "a"), &redactor, &locator, &console);
        assert_eq!(live.running.as_deref(), Some("Tests › a"));
        live.take(entry("passed", "a"), &redactor, &locator, &console);
        assert_eq!(live.running, None);
        let mut failed = entry("failed", "b");
        failed.message = Some("boom".into());
        live.take(failed, &redactor, &locator, &console);
        live.take(entry("skipped", "c"), &redactor, &locator, &console);
        assert_eq!(
            (live.counts.passed, live.counts.failed, live.counts.skipped),
            (1, 1, 1)
        );
        // The last test that started, though it ended: what a hang report names.
        assert_eq!(live.last_started(), Some("Tests › a"));
        assert_eq!(sink.0.len(), 1, "{:?}", sink.0);
        assert!(sink.0[0].starts_with("LiveFailure"), "{:?}", sink.0);
        assert!(sink.0[0].contains("boom"), "{:?}", sink.0);
    }

    #[tokio::test(start_paused = true)]
    async fn open_cloud_is_read_at_most_every_two_seconds_and_never_under_the_floor() {
        let live = live();
        let timing = Timing::default();
        assert_eq!(live.interval(timing, Duration::ZERO), OPEN_CLOUD_EVERY);
        let floor = Duration::from_secs(4);
        assert_eq!(live.interval(timing, floor), floor);
        // Later in a long task, the poll's own schedule (5 s after three minutes).
        tokio::time::advance(Duration::from_secs(200)).await;
        assert_eq!(
            live.interval(timing, Duration::ZERO),
            Duration::from_secs(5)
        );
        let local = Timing {
            cadence: Cadence::Local,
            ..timing
        };
        assert_eq!(live.interval(local, floor), LOCAL_EVERY);
    }
}
