//! The job: upload the binary input (optional), create the task (at head behind a guard when
//! its version was reused, see [`place_reuse`]), wait for it, read its logs, download its
//! binary output (optional), and say what happened. Every failure becomes a [`TaskReport`]
//! with an [`Outcome`]; nothing here exits the process. The place file is the step's to upload
//! ([`upload_place`], once per place, before any task).
//!
//! Each step runs beside the process's [`Interrupt`]: a signal ends the step where it is, and
//! the report says what that means at that point. The task's deadline (the step's, or
//! `wait-timeout` from its creation) bounds every step from its creation on, the log reading
//! and the binary download included.

use std::collections::HashSet;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::api::model::{CreateTaskRequest, LogMessage, MessageType, Task, TaskState};
use crate::api::{ApiError, Progress, Service, TaskApi};
use crate::config::{PlaceFile, Plan, TaskSpec};
use crate::duration::to_protobuf_duration;
use crate::interrupt::Interrupt;
use crate::live_progress;
use crate::outcome::{Outcome, Signal};
use crate::place_reuse::{self, Created};
use crate::poller::{self, PollError, PollEvent};
use crate::render::{Event, Sink};
use crate::report::problem::{Interruption, LeftRunning, LogsCut};
use crate::report::{Problem, TaskReport};
use crate::results::judge::Judge;
use crate::roblox::{LOG_MESSAGE_OVERHEAD, LOG_WINDOW_BYTES};
use crate::text::size;

/// A log listing that keeps answering with new page tokens is cut off here. Roblox answers
/// with one page; this only bounds a server that misbehaves.
pub const MAX_LOG_PAGES: usize = 1000;
/// At most this much log text is kept (counted as Roblox counts its 450 KB window, with a
/// 47-byte overhead per message): four times Roblox's window, so a real task never reaches it.
pub const MAX_LOG_BYTES: usize = 4 * LOG_WINDOW_BYTES;
/// How often upload progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Where the job is: what an interruption leaves behind depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Uploads; no task exists.
    Preparing,
    /// The create request is in flight: a task may or may not exist.
    Creating,
    /// The task exists; waiting for it, then reading its logs and output.
    Following,
}

/// Why the steps stopped early.
enum Stop {
    Failed(Outcome, Problem),
    Interrupted(Signal),
}

impl Stop {
    fn api(error: ApiError) -> Self {
        Self::Failed(Outcome::of_api_error(&error), Problem::Api(error))
    }
}

type Step<T> = Result<T, Stop>;

/// One task of the step, and where it runs.
#[derive(Debug, Clone, Copy)]
pub struct TaskRun<'a> {
    pub spec: &'a TaskSpec,
    pub place_id: u64,
    /// The version the task is pinned to (the step's upload, or `place-version`); `None`: the
    /// place's latest.
    pub version: Option<u64>,
    /// Whether the version is tried at head first, behind its guard: a version the step
    /// reused rather than uploaded, whose servers may be warm (see [`place_reuse`]).
    pub optimistic: bool,
    /// The step's deadline; `None`: `wait-timeout` counted from the task's creation.
    pub deadline: Option<Instant>,
}

/// Runs one task to its end, or until `interrupt` fires.
pub async fn run_task<A: TaskApi>(
    config: &Plan,
    task: TaskRun<'_>,
    api: &A,
    console: &mut dyn Sink,
    interrupt: &mut Interrupt,
) -> TaskReport {
    let mut report = TaskReport::new(Outcome::Complete, api.service());
    report.label = task.spec.label.clone();
    report.place_id = task.place_id;
    let mut job = Job {
        config,
        task,
        api,
        report,
        phase: Phase::Preparing,
        started: Instant::now(),
        created_at: None,
        guard: None,
        live: None,
    };
    let result = job.steps(console, interrupt).await;
    job.report.duration = job.created_at.unwrap_or(job.started).elapsed();
    match result {
        Ok(()) => {}
        Err(Stop::Failed(outcome, problem)) => {
            job.report.outcome = outcome;
            job.report.problem = Some(problem);
        }
        Err(Stop::Interrupted(signal)) => {
            job.report.outcome = Outcome::Interrupted(signal);
            job.report.problem = Some(job.interruption(signal));
        }
    }
    job.report
}

struct Job<'a, A: TaskApi> {
    config: &'a Plan,
    task: TaskRun<'a>,
    api: &'a A,
    report: TaskReport,
    phase: Phase,
    started: Instant,
    created_at: Option<Instant>,
    /// The guard of a task created at head, which its results are checked against.
    guard: Option<place_reuse::Guard>,
    /// The task's live progress (`live-progress`), read while it runs.
    live: Option<live_progress::Live>,
}

/// Runs a step unless a signal comes first.
async fn unless_interrupted<T>(
    interrupt: &mut Interrupt,
    step: impl Future<Output = T>,
) -> Step<T> {
    tokio::select! {
        value = step => Ok(value),
        signal = interrupt.signalled() => Err(Stop::Interrupted(signal)),
    }
}

impl<A: TaskApi> Job<'_, A> {
    async fn steps(&mut self, console: &mut dyn Sink, interrupt: &mut Interrupt) -> Step<()> {
        let config = self.config;
        let binary_input = self.prepare(console, interrupt).await?;
        let (spec, universe) = (self.task.spec, config.universe_id);
        let live = live_progress::Live::start(spec, universe, self.api, console);
        self.live = unless_interrupted(interrupt, live).await?;
        let request = CreateTaskRequest {
            script: live_progress::script(self.live.as_ref(), &self.task.spec.script),
            timeout: config.task_timeout.map(to_protobuf_duration),
            binary_input,
            enable_binary_output: config.binary_output.is_some().then_some(true),
        };
        self.phase = Phase::Creating;
        let created_at = Instant::now();
        // A create held off by 429s waits for its turn within the same wait.
        let deadline = self
            .task
            .deadline
            .unwrap_or(created_at + config.wait_timeout);
        let task = self.create(&request, deadline, console, interrupt).await?;
        self.phase = Phase::Following;
        self.created_at = Some(created_at);
        console.emit(Event::Note(&format!("created task {}", task.path)));
        self.report.task = Some(task.clone());

        let task = self.wait(task, deadline, console, interrupt).await?;
        self.report.duration = created_at.elapsed();
        if let Some(guard) = &self.guard
            && let Some(found) = guard.tripped(&task)
        {
            let expected = guard.version();
            self.report.task = Some(task);
            let problem = Problem::WrongPlaceVersion { expected, found };
            return Err(Stop::Failed(Outcome::TaskFailed, problem));
        }
        let completed = task.state == TaskState::Complete;
        let output_uri = task.binary_output_uri.clone();
        let path = task.path.clone();
        self.ended(task).await;
        self.read_logs(&path, deadline, interrupt).await?;

        if let (Some(path), true) = (&config.binary_output, completed) {
            let Some(uri) = output_uri.filter(|u| !u.is_empty()) else {
                return Err(Stop::Failed(
                    Outcome::Unavailable,
                    Problem::NoBinaryOutputUri(self.api.service()),
                ));
            };
            self.download_binary_output(&uri, path, deadline, console, interrupt)
                .await?;
        }
        Ok(())
    }

    /// The upload before the task: the binary input, whose path the create names (the place
    /// is the step's to upload).
    async fn prepare(
        &mut self,
        console: &mut dyn Sink,
        interrupt: &mut Interrupt,
    ) -> Step<Option<String>> {
        self.report.place_version = self.task.version;
        match &self.config.binary_input {
            Some(path) => Ok(Some(
                self.upload_binary_input(path, console, interrupt).await?,
            )),
            None => Ok(None),
        }
    }

    /// Creates the task; creates refused with 429s until `deadline` are the wait's end.
    /// A reused version's task goes to head first, behind a guard (see [`place_reuse`]).
    async fn create(
        &mut self,
        request: &CreateTaskRequest,
        deadline: Instant,
        console: &mut dyn Sink,
        interrupt: &mut Interrupt,
    ) -> Step<Task> {
        let config = self.config;
        let (universe, place, optimistic) =
            (config.universe_id, self.task.place_id, self.task.optimistic);
        let (api, version) = (self.api, self.report.place_version);
        let create = async move {
            match version {
                Some(v) => {
                    let target = (universe, place, v);
                    place_reuse::create_on_version(api, optimistic, target, request, Some(deadline))
                        .await
                }
                None => api
                    .create_task(universe, place, None, request, Some(deadline))
                    .await
                    .map(Created::of),
            }
        };
        let created =
            unless_interrupted(interrupt, create)
                .await?
                .map_err(|error| match error {
                    // Refused with 429s until the wait was over: the wait's end, not an outage.
                    ApiError::Unavailable { .. } if Instant::now() >= deadline => Stop::Failed(
                        Outcome::WaitTimeout,
                        Problem::CreateTimeout {
                            waited: config.wait_timeout,
                            error,
                        },
                    ),
                    error => Stop::api(error),
                })?;
        if let (Some(wasted), Some(version)) = (&created.wasted, version) {
            console.emit(Event::Note(&format!(
                "place version {version} is not the place's head (a task created at head got {}, and stops at its guard); created the task pinned to version {version}",
                wasted.path
            )));
        }
        self.guard = created.guard;
        Ok(created.task)
    }

    /// The task's end: its outcome, then what its results say.
    async fn ended(&mut self, task: Task) {
        self.report.outcome = Outcome::of_task(&task);
        if matches!(task.state, TaskState::Other(_) | TaskState::Unspecified) {
            self.report.problem = Some(Problem::UnknownState(task.state.clone()));
        }
        self.report.task = Some(task);
        self.read_test_results().await;
    }

    /// Reads the task's logs (the API serves them only once the task has ended) within the
    /// deadline; logs that cannot be read are said, and the outcome still follows the task.
    async fn read_logs(
        &mut self,
        path: &str,
        deadline: Instant,
        interrupt: &mut Interrupt,
    ) -> Step<()> {
        let logs = tokio::time::timeout_at(deadline, fetch_logs(self.api, path));
        match unless_interrupted(interrupt, logs).await? {
            Ok(Ok(logs)) => {
                self.report.logs = logs.messages;
                self.report.logs_cut = logs.cut.map(Problem::LogsCut);
            }
            Ok(Err(error)) => {
                self.report.logs_problem = Some(Problem::LogsUnreadable(error));
            }
            Err(_) => {
                self.report.logs_problem = Some(Problem::LogsTimedOut {
                    waited: self.config.wait_timeout,
                });
            }
        }
        Ok(())
    }

    async fn upload_binary_input(
        &mut self,
        path: &Path,
        console: &mut dyn Sink,
        interrupt: &mut Interrupt,
    ) -> Step<String> {
        let config = self.config;
        let bytes = read_file(path).await?;
        let total = bytes.len() as u64;
        let create = self.api.create_binary_input(config.universe_id, total);
        let input = unless_interrupted(interrupt, create)
            .await?
            .map_err(Stop::api)?;
        let Some(uri) = input.upload_uri.as_deref() else {
            return Err(Stop::Failed(Outcome::Unavailable, Problem::NoUploadUri));
        };
        console.emit(Event::Note(&format!(
            "uploading binary input {} ({})",
            path.display(),
            size(total)
        )));
        let (counter, progress) = progress_counter();
        let upload = self.api.upload_binary_input(uri, bytes, progress);
        let transfer = with_progress(
            console,
            "binary input upload",
            total,
            &counter,
            config,
            upload,
        );
        unless_interrupted(interrupt, transfer)
            .await?
            .map_err(Stop::api)?;
        Ok(input.path)
    }

    /// Polls until the task ends, reporting state changes; `wait-timeout` ends the wait.
    async fn wait(
        &mut self,
        task: Task,
        deadline: Instant,
        console: &mut dyn Sink,
        interrupt: &mut Interrupt,
    ) -> Step<Task> {
        let created_at = self.created_at.unwrap_or(self.started);
        let mut last_state = task.state.clone();
        let mut last_task = task.clone();
        let console = std::cell::RefCell::new(console);
        let polled = {
            let mut on_event = |event: PollEvent| match event {
                PollEvent::StateChanged { state, elapsed } => {
                    console.borrow_mut().emit(Event::StateChanged {
                        state: &state,
                        elapsed,
                    });
                    last_state = state;
                }
                PollEvent::Heartbeat { state, elapsed } => {
                    console.borrow_mut().emit(Event::Heartbeat {
                        state: &state,
                        elapsed,
                    })
                }
            };
            let poll = poller::wait_for_terminal(
                self.api,
                task,
                created_at,
                deadline,
                self.config.timing,
                &mut on_event,
            );
            // Live progress is read beside the poll (live_progress).
            let follow = live_progress::Follow {
                locator: &self.task.spec.locator,
                timing: self.config.timing,
                deadline,
            };
            let poll = live_progress::beside(self.live.as_mut(), self.api, follow, &console, poll);
            unless_interrupted(interrupt, poll).await
        };
        // An interrupted poll leaves the task as last seen in the report.
        last_task.state = last_state;
        self.report.task = Some(last_task);
        match polled? {
            Ok(task) => Ok(task),
            Err(PollError::Api(error)) => Err(Stop::api(error)),
            Err(PollError::WaitTimeout { last }) => {
                let problem = Problem::WaitTimeout {
                    waited: self.config.wait_timeout,
                    last: last.state.clone(),
                    left: self.left_running(&last.path),
                };
                let problem = live_progress::with_last_test(self.live.as_ref(), problem);
                self.report.task = Some(*last);
                Err(Stop::Failed(Outcome::WaitTimeout, problem))
            }
        }
    }

    async fn download_binary_output(
        &mut self,
        uri: &str,
        path: &Path,
        deadline: Instant,
        console: &mut dyn Sink,
        interrupt: &mut Interrupt,
    ) -> Step<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(|e| {
                Stop::Failed(
                    Outcome::LocalWriteFailed,
                    Problem::CannotCreate {
                        path: parent.to_owned(),
                        error: Arc::new(e),
                    },
                )
            })?;
        }
        let download =
            tokio::time::timeout_at(deadline, self.api.download_binary_output(uri, path));
        match unless_interrupted(interrupt, download).await {
            Ok(Ok(Ok(bytes))) => {
                console.emit(Event::Note(&format!(
                    "wrote binary output to {} ({})",
                    path.display(),
                    size(bytes)
                )));
                self.report.binary_output_path = Some(path.to_owned());
                Ok(())
            }
            Ok(Ok(Err(error))) => Err(Stop::api(error)),
            // The abandoned download's file beside `path` went with it; `path` is untouched.
            Ok(Err(_)) => Err(Stop::Failed(
                Outcome::WaitTimeout,
                Problem::DownloadTimeout {
                    waited: self.config.wait_timeout,
                    path: path.to_owned(),
                },
            )),
            Err(stop) => Err(stop),
        }
    }

    /// Reads the tests the task reported (its first return value, when that is the results
    /// envelope), maps failures to files, and locates the task's own error. A completed task
    /// with failing tests, no tests, or unreadable results is [`Outcome::TestsFailed`].
    async fn read_test_results(&mut self) {
        let (config, spec) = (self.config, self.task.spec);
        let reader = ResultsReader {
            judge: Judge {
                locator: spec.locator.clone(),
                suite: spec.suite.clone(),
                github_actions: config.github_actions,
                redactor: self.api.redactor().clone(),
            },
            coverage: config.coverage.clone(),
        };
        let report = std::mem::replace(
            &mut self.report,
            TaskReport::new(Outcome::Unavailable, self.api.service()),
        );
        // A suite's results are thousands of tests to parse, locate and scrub: read on a
        // blocking thread, so the shards of a step that end together are read at once, each
        // on a core, rather than one after the other on the thread that follows them.
        match tokio::task::spawn_blocking(move || reader.read(report)).await {
            Ok(report) => self.report = report,
            // Only a runtime that is shutting down cancels it, and the run ends with it: the
            // report left in its place says the task's end is unknown, never green.
            Err(error) => {
                if let Ok(panic) = error.try_into_panic() {
                    std::panic::resume_unwind(panic);
                }
            }
        }
    }

    /// What an interruption at this point leaves behind.
    fn interruption(&self, signal: Signal) -> Problem {
        let at = match (self.phase, self.report.task_path()) {
            (Phase::Preparing, _) => Interruption::BeforeCreate,
            (Phase::Creating, _) => Interruption::WhileCreating(self.api.service()),
            (Phase::Following, Some(path)) => Interruption::Following {
                ended: self.report.state().filter(|s| s.is_terminal()).cloned(),
                left: self.left_running(path),
            },
            (Phase::Following, None) => Interruption::FollowingUnknown,
        };
        let problem = Problem::Interrupted { signal, at };
        live_progress::with_last_test(self.live.as_ref(), problem)
    }

    /// Where a task that may still be running lives, in this backend's terms.
    fn left_running(&self, path: &str) -> LeftRunning {
        LeftRunning {
            service: self.api.service(),
            path: path.to_owned(),
        }
    }
}

/// Uploads the place file to `place_id` as a new Saved version, with progress lines; its
/// number, and whether it was reused: with `place-reuse`, a version already holding these
/// bytes is used instead (see [`place_reuse`]).
async fn upload_place_file(
    config: &Plan,
    api: &impl TaskApi,
    place: &PlaceFile,
    place_id: u64,
    console: &mut dyn Sink,
    interrupt: &mut Interrupt,
) -> Step<(u64, bool)> {
    let bytes = read_file(&place.path).await?;
    let local = api.service() == Service::LocalEmulator;
    let universe = config.universe_id;
    let sent = bytes.clone();
    let prepare =
        place_reuse::upload_or_reuse(api, place.reuse, universe, place_id, &bytes, || {
            upload_now(config, api, place, place_id, sent, &mut *console)
        });
    // Name the file: with several places, or a refusal of its content, "the place file" alone
    // does not say which.
    let prepared = unless_interrupted(interrupt, prepare)
        .await?
        .map_err(|error| {
            Stop::Failed(
                Outcome::of_api_error(&error),
                Problem::PlaceUpload {
                    path: place.path.clone(),
                    error,
                },
            )
        })?;
    for note in &prepared.notes {
        console.emit(Event::Note(note));
    }
    let version = prepared.version;
    if prepared.uploaded {
        console.emit(Event::Note(&if local {
            format!("the local emulator loaded the place (version {version})")
        } else {
            format!("uploaded place version {version} of place {place_id}")
        }));
    }
    Ok((version, !prepared.uploaded))
}

/// The upload itself, with its progress lines.
async fn upload_now(
    config: &Plan,
    api: &impl TaskApi,
    place: &PlaceFile,
    place_id: u64,
    bytes: Bytes,
    console: &mut dyn Sink,
) -> Result<u64, ApiError> {
    console.emit(Event::Note(&if api.service() == Service::LocalEmulator {
        format!(
            "loading {} ({}) into the local emulator",
            place.path.display(),
            size(place.size)
        )
    } else {
        format!(
            "uploading {} ({}) as a new Saved version of place {place_id}",
            place.path.display(),
            size(place.size),
        )
    }));
    let (counter, progress) = progress_counter();
    let upload = api.upload_place(
        config.universe_id,
        place_id,
        place.content_type,
        bytes,
        progress,
    );
    with_progress(
        console,
        "place upload",
        place.size,
        &counter,
        config,
        upload,
    )
    .await
}

/// The place as uploaded (or reused) for the step's tasks on one place.
#[derive(Debug, Clone, Copy)]
pub struct PlaceUploaded {
    pub version: u64,
    /// Whether the version was found in the records instead of uploaded (see [`place_reuse`]).
    pub reused: bool,
}

/// The step's upload of the place file to `place_id`, before any task: its version, or how it
/// failed, a signal being said as `interrupted_at` (the step's words for where it was).
pub async fn upload_place(
    config: &Plan,
    api: &impl TaskApi,
    (place, place_id): (&PlaceFile, u64),
    interrupted_at: Interruption,
    console: &mut dyn Sink,
    interrupt: &mut Interrupt,
) -> Result<PlaceUploaded, (Outcome, Problem)> {
    match upload_place_file(config, api, place, place_id, console, interrupt).await {
        Ok((version, reused)) => Ok(PlaceUploaded { version, reused }),
        Err(Stop::Failed(outcome, problem)) => Err((outcome, problem)),
        Err(Stop::Interrupted(signal)) => Err((
            Outcome::Interrupted(signal),
            Problem::Interrupted {
                signal,
                at: interrupted_at,
            },
        )),
    }
}

/// The logs as read, and why reading stopped early, if it did.
#[derive(Debug, Default)]
pub struct Logs {
    pub messages: Vec<LogMessage>,
    /// Set when some logs were left unread (a server that kept paging, a token cycle, more
    /// text than any task can log).
    pub cut: Option<LogsCut>,
}

/// Reads every page of the task's logs, in order, within [`MAX_LOG_PAGES`] pages and
/// [`MAX_LOG_BYTES`] of text, stopping at a page token seen before.
pub async fn fetch_logs(api: &impl TaskApi, path: &str) -> Result<Logs, ApiError> {
    let mut logs = Logs::default();
    let mut kept_bytes = 0usize;
    let mut seen_tokens = HashSet::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_LOG_PAGES {
        let page = api.list_logs(path, token.as_deref()).await?;
        for chunk in page.luau_execution_session_task_logs {
            let messages = match (chunk.structured_messages, chunk.messages) {
                (Some(structured), _) if !structured.is_empty() => structured,
                // A server that ignores `view` answers FLAT: keep the text, level unknown.
                (_, Some(flat)) => flat
                    .into_iter()
                    .map(|message| LogMessage {
                        message,
                        create_time: None,
                        message_type: MessageType::Unspecified,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for message in messages {
                kept_bytes += message.message.len() + LOG_MESSAGE_OVERHEAD;
                if kept_bytes > MAX_LOG_BYTES {
                    logs.cut = Some(LogsCut::TooMuchText {
                        max_bytes: MAX_LOG_BYTES,
                    });
                    return Ok(logs);
                }
                logs.messages.push(message);
            }
        }
        match page.next_page_token.filter(|t| !t.is_empty()) {
            None => return Ok(logs),
            Some(next) if !seen_tokens.insert(next.clone()) => {
                logs.cut = Some(LogsCut::TokenCycle);
                return Ok(logs);
            }
            Some(next) => token = Some(next),
        }
    }
    logs.cut = Some(LogsCut::TooManyPages {
        pages: MAX_LOG_PAGES,
    });
    Ok(logs)
}

async fn read_file(path: &Path) -> Step<Bytes> {
    tokio::fs::read(path).await.map(Bytes::from).map_err(|e| {
        Stop::Failed(
            Outcome::BadInput,
            Problem::Unreadable {
                path: path.to_owned(),
                error: Arc::new(e),
            },
        )
    })
}

fn progress_counter() -> (Arc<AtomicU64>, Progress) {
    let counter = Arc::new(AtomicU64::new(0));
    let writer = counter.clone();
    (
        counter,
        Arc::new(move |sent, _total| writer.store(sent, Ordering::Relaxed)),
    )
}

/// Runs a transfer, printing bytes sent and the rate every couple of seconds.
async fn with_progress<T>(
    console: &mut dyn Sink,
    label: &str,
    total: u64,
    counter: &AtomicU64,
    config: &Plan,
    transfer: impl Future<Output = T>,
) -> T {
    let started = Instant::now();
    let every = config.timing.scaled(PROGRESS_EVERY);
    let mut ticker = tokio::time::interval_at(started + every, every);
    tokio::pin!(transfer);
    let mut said_all_sent = false;
    loop {
        tokio::select! {
            result = &mut transfer => return result,
            _ = ticker.tick() => {
                let sent = counter.load(Ordering::Relaxed).min(total);
                // Once every byte is sent, the server is taking it (the local emulator decodes
                // the place): said once, not again at every tick.
                if said_all_sent {
                    continue;
                }
                said_all_sent = sent == total;
                let rate = sent as f64 / started.elapsed().as_secs_f64().max(0.001);
                console.emit(Event::Note(&format!(
                    "{label}: {} of {} ({:.0}%, {}/s)",
                    size(sent),
                    size(total),
                    100.0 * sent as f64 / total.max(1) as f64,
                    size(rate as u64)
                )));
            }
        }
    }
}

/// What a task's results are read with, owned, so that they can be read off the thread that
/// follows the task.
struct ResultsReader {
    judge: Judge,
    coverage: Option<crate::coverage::Spec>,
}

impl ResultsReader {
    /// The task's report with what its results say: its tests, its coverage, where its error
    /// points, and the outcome they make.
    fn read(self, mut report: TaskReport) -> TaskReport {
        let first = report.results().and_then(|results| results.first());
        let first = first.map(|raw| raw.get());
        let judge = &self.judge;
        let coverage = self.coverage.as_ref().map(|coverage| {
            crate::coverage::of_results(first, coverage, judge.locator.sourcemap())
        });
        let reading = judge.read(report.error_message(), first);
        // Only a task of a work-stealing step says what it claimed and ran.
        let stealing = judge.suite.as_ref().is_some_and(|s| s.work_queue.is_some());
        report.work = first
            .filter(|_| stealing)
            .and_then(crate::work_queue::WorkLog::from_envelope);
        report.coverage = coverage;
        report.error_location = reading.error_location;
        report.tests = reading.tests;
        if let (Outcome::Complete, Some(problem)) = (report.outcome, reading.problem) {
            report.outcome = Outcome::TestsFailed;
            report.problem = Some(Problem::Tests(problem));
        }
        report
    }
}

#[cfg(test)]
mod tests {
    //! The runner against a fake API: what each answer of Open Cloud makes of the report,
    //! with time paused so waits cost nothing.
    use std::cell::RefCell;

    use super::*;
    use crate::api::Operation;
    use crate::api::fake::{FakeApi, task_at};
    use crate::api::model::{LogChunk, LogsPage, TaskError, TaskErrorCode};

    fn task(state: TaskState) -> Task {
        task_at("universes/1/places/2/luau-execution-session-tasks/t", state)
    }

    fn failed(code: TaskErrorCode, message: &str) -> Task {
        Task {
            error: Some(TaskError {
                code,
                message: message.into(),
            }),
            ..task(TaskState::Failed)
        }
    }

    fn page(lines: &[&str], next: Option<&str>) -> LogsPage {
        LogsPage {
            luau_execution_session_task_logs: vec![LogChunk {
                messages: Some(lines.iter().map(|l| (*l).to_owned()).collect()),
                ..LogChunk::default()
            }],
            next_page_token: next.map(str::to_owned),
        }
    }

    /// A console that keeps nothing: these tests read the report.
    struct Quiet;
    impl Sink for Quiet {
        fn emit(&mut self, _event: Event<'_>) {}
    }

    /// A run of `return 1` on Open Cloud (universe 1, place 2), with `extra` inputs.
    fn config(extra: &[(&str, &str)]) -> Plan {
        let mut pairs = vec![
            ("INPUT_API-KEY", "k"),
            ("INPUT_UNIVERSE-ID", "1"),
            ("INPUT_PLACE-ID", "2"),
            ("INPUT_SCRIPT", "return 1"),
        ];
        pairs.extend_from_slice(extra);
        crate::config::from_pairs(&pairs)
    }

    async fn run_against(api: &FakeApi, extra: &[(&str, &str)]) -> TaskReport {
        run_config(api, &config(extra)).await
    }

    /// The first task of `config` against `api`.
    async fn run_config(api: &FakeApi, config: &Plan) -> TaskReport {
        let task = TaskRun {
            spec: &config.units[0],
            place_id: config.place_id,
            version: None,
            optimistic: false,
            deadline: None,
        };
        run_task(config, task, api, &mut Quiet, &mut Interrupt::never()).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_completed_task_is_complete_with_its_logs_in_order() {
        let api = FakeApi::answering(
            Ok(task(TaskState::Queued)),
            vec![task(TaskState::Processing), task(TaskState::Complete)],
        )
        .with_logs(vec![page(&["one"], Some("p2")), page(&["two"], None)]);
        let report = run_against(&api, &[]).await;
        assert_eq!(report.outcome, Outcome::Complete);
        let lines: Vec<&str> = report.logs.iter().map(|m| m.message.as_str()).collect();
        assert_eq!(lines, ["one", "two"]);
        assert!(report.logs_cut.is_none());
        assert_eq!(api.called("create"), 1);
        assert_eq!(api.called("logs"), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_suites_results_are_read_once_with_the_work_they_list() {
        let envelope = r#"{"kind":"luau-exec/test-results@1","framework":"testez",
            "tests":[{"path":["Tests","a"],"status":"passed"},{"path":["Tests","b"],"status":"failed"}],
            "work":{"total":2,"ran":["Tests.a.spec"],"claims":1}}"#;
        let results =
            vec![serde_json::value::RawValue::from_string(envelope.to_owned()).expect("JSON")];
        let done = Task {
            output: Some(crate::api::model::TaskOutput { results }),
            ..task(TaskState::Complete)
        };
        let config = crate::config::from_pairs(&[
            ("INPUT_API-KEY", "k"),
            ("INPUT_UNIVERSE-ID", "1"),
            ("INPUT_PLACE-ID", "2"),
            ("INPUT_TEST-FRAMEWORK", "testez"),
            ("INPUT_TEST-ROOTS", "ReplicatedStorage.Tests"),
            ("INPUT_SHARDS", "2"),
        ]);
        assert!(
            crate::work_queue::map_of(&config).is_some(),
            "a suite of two shards steals work"
        );
        let api = FakeApi::answering(Ok(task(TaskState::Processing)), vec![done.clone()]);
        let report = run_config(&api, &config).await;
        let counts = report.tests.as_ref().map(|run| run.counts());
        assert_eq!(counts.map(|c| (c.passed, c.failed)), Some((1, 1)));
        assert_eq!(report.outcome, Outcome::TestsFailed);
        let work = report.work.expect("the work log, read with the results");
        assert_eq!((work.total, work.ran), (2, vec!["Tests.a.spec".to_owned()]));
        // A script that is not a work-stealing shard says nothing of work, whatever it returns.
        let api = FakeApi::answering(Ok(task(TaskState::Processing)), vec![done]);
        assert_eq!(run_against(&api, &[]).await.work, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_script_error_is_the_scripts_failure_with_its_message() {
        let api = FakeApi::answering(
            Ok(task(TaskState::Processing)),
            vec![failed(TaskErrorCode::ScriptError, "TaskScript:1: boom")],
        );
        let report = run_against(&api, &[]).await;
        assert_eq!(report.outcome, Outcome::ScriptError);
        let error = report.task.and_then(|t| t.error).map(|e| e.message);
        assert_eq!(error.as_deref(), Some("TaskScript:1: boom"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_create_stops_before_any_poll() {
        let refusal = ApiError::Rejected {
            service: Service::OpenCloud,
            operation: Operation::CreateTask,
            status: 403,
            detail: "forbidden".into(),
            hint: None,
        };
        let api = FakeApi::answering(Err(refusal), vec![]);
        let report = run_against(&api, &[]).await;
        assert_eq!(report.outcome, Outcome::Rejected);
        // The cause is the server's refusal, with its status, not a sentence to parse.
        assert!(
            matches!(
                report.problem,
                Some(Problem::Api(ApiError::Rejected { status: 403, .. }))
            ),
            "{:?}",
            report.problem
        );
        assert_eq!(api.called("get"), 0);
        assert_eq!(api.called("logs"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_still_running_at_wait_timeout_is_a_wait_timeout_not_a_pass() {
        let api = FakeApi::answering(Ok(task(TaskState::Processing)), vec![]);
        let report = run_against(&api, &[("INPUT_WAIT-TIMEOUT", "30s")]).await;
        assert_eq!(report.outcome, Outcome::WaitTimeout);
        assert!(api.called("get") > 10, "polled {} times", api.called("get"));
        let Some(Problem::WaitTimeout { waited, last, left }) = &report.problem else {
            panic!("not a wait timeout: {:?}", report.problem);
        };
        assert_eq!(*waited, Duration::from_secs(30));
        assert_eq!(*last, TaskState::Processing);
        assert_eq!(
            left.path,
            "universes/1/places/2/luau-execution-session-tasks/t"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_log_listing_that_cycles_is_cut_and_says_so() {
        let api = FakeApi::answering(
            Ok(task(TaskState::Complete)),
            vec![task(TaskState::Complete)],
        )
        .with_logs(vec![
            page(&["a"], Some("x")),
            page(&["b"], Some("y")),
            page(&["c"], Some("x")),
        ]);
        let report = run_against(&api, &[]).await;
        assert_eq!(report.outcome, Outcome::Complete);
        assert_eq!(report.logs.len(), 3);
        assert!(matches!(
            report.logs_cut,
            Some(Problem::LogsCut(LogsCut::TokenCycle))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_test_run_that_failed_is_never_reported_green() {
        let envelope = r#"{"kind":"luau-exec/test-results@1","framework":"testez","tests":[{"path":["S","t"],"status":"failed","message":"no"}]}"#;
        let mut complete = task(TaskState::Complete);
        complete.output = serde_json::from_str(&format!(r#"{{"results":[{envelope}]}}"#)).ok();
        let api = FakeApi::answering(Ok(task(TaskState::Processing)), vec![complete]);
        let report = run_against(&api, &[]).await;
        let tests = report.tests.as_ref().map(|t| t.counts());
        assert_eq!(tests.map(|c| (c.passed, c.failed)), Some((0, 1)));
        assert_eq!(report.outcome, Outcome::TestsFailed);
        assert_eq!(
            report.problem.map(|p| p.to_string()).as_deref(),
            Some("1 of 1 tests failed")
        );
    }

    /// Every note the task says, in order.
    #[derive(Default)]
    struct Notes(Vec<String>);
    impl Sink for Notes {
        fn emit(&mut self, event: Event<'_>) {
            if let Event::Note(note) = event {
                self.0.push(note.to_owned());
            }
        }
    }

    /// A task of version 7, which the step reused: created at head behind its guard.
    async fn run_reused(api: &FakeApi) -> (TaskReport, Vec<String>) {
        let config = config(&[]);
        let task = TaskRun {
            spec: &config.units[0],
            place_id: 2,
            version: Some(7),
            optimistic: true,
            deadline: None,
        };
        let mut notes = Notes::default();
        let report = run_task(&config, task, api, &mut notes, &mut Interrupt::never()).await;
        (report, notes.0)
    }

    #[tokio::test(start_paused = true)]
    async fn a_reused_version_runs_at_head_behind_its_guard_or_pinned_when_head_moved() {
        let done = || vec![task(TaskState::Complete)];
        let head = FakeApi {
            states: RefCell::new(done().into()),
            ..FakeApi::on_head(7)
        };
        let (report, notes) = run_reused(&head).await;
        assert_eq!(report.outcome, Outcome::Complete);
        assert_eq!(report.place_version, Some(7));
        let asked = head.asked.borrow().clone();
        assert_eq!(asked.len(), 1, "one create, at head: {asked:?}");
        assert_eq!(asked[0].0, None);
        assert!(
            asked[0]
                .1
                .starts_with("do if game.PlaceVersion ~= 7 then return ")
                && asked[0].1.ends_with(" end end return 1"),
            "{}",
            asked[0].1
        );
        assert!(!notes.iter().any(|n| n.contains("not the place's head")));

        // Someone uploaded version 8 since: the head task is left at its guard, and the task
        // that runs the script is pinned to 7, unguarded.
        let moved = FakeApi {
            states: RefCell::new(done().into()),
            ..FakeApi::on_head(8)
        };
        let (report, notes) = run_reused(&moved).await;
        assert_eq!(report.outcome, Outcome::Complete);
        let asked = moved.asked.borrow().clone();
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert_eq!(asked[1], (Some(7), "return 1".to_owned()));
        assert!(
            notes.contains(
                &"created task universes/1/places/2/versions/7/luau-execution-sessions/s/tasks/s"
                    .to_owned()
            ),
            "{notes:?}"
        );
        assert!(
            notes.iter().any(|n| n.starts_with(
                "place version 7 is not the place's head (a task created at head got universes/1/places/2/versions/8/"
            )),
            "{notes:?}"
        );
    }
}
