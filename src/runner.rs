//! The job: upload the place (optional), upload the binary input (optional), create the task,
//! wait for it, read its logs, download its binary output (optional), and say what happened.
//! Every failure becomes a [`RunReport`] with an [`Outcome`]; nothing here exits the process.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::api::model::{CreateTaskRequest, LogMessage, MessageType, Task, TaskState};
use crate::api::{ApiError, OpenCloud, Progress};
use crate::config::Config;
use crate::duration::{human, to_protobuf_duration};
use crate::outcome::Outcome;
use crate::poller::{self, PollError, PollEvent};
use crate::render::{Console, Event};
use crate::report::RunReport;

/// A log listing that keeps answering with new page tokens is cut off here.
const MAX_LOG_PAGES: usize = 1000;
/// How often upload progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// What the signal handler needs to say where the task is: the task as last seen.
pub type LastSeen = Arc<Mutex<Option<Task>>>;

pub async fn run(
    config: &Config,
    api: &OpenCloud,
    console: &mut Console,
    last_seen: &LastSeen,
) -> RunReport {
    let mut report = RunReport::new(Outcome::Complete);

    // 1. The place file, as a new Saved version the task is pinned to.
    report.place_version = config.place_version;
    if let Some(place) = &config.place_file {
        let bytes = match read_file(&place.path).await {
            Ok(bytes) => bytes,
            Err(problem) => return failed(report, Outcome::BadInput, problem),
        };
        console.emit(Event::Note(&format!(
            "uploading {} ({}) as a new Saved version of place {}",
            place.path.display(),
            size_text(place.size),
            config.place_id
        )));
        let (counter, progress) = progress_counter();
        let upload = api.upload_place(
            config.universe_id,
            config.place_id,
            place.content_type,
            bytes,
            progress,
        );
        match with_progress(
            console,
            "place upload",
            place.size,
            &counter,
            config.timing,
            upload,
        )
        .await
        {
            Ok(version) => {
                console.emit(Event::Note(&format!("uploaded place version {version}")));
                report.place_version = Some(version);
            }
            Err(error) => return api_failure(report, &error),
        }
    }

    // 2. The binary input, uploaded to its presigned URI.
    let mut binary_input_path = None;
    if let Some(path) = &config.binary_input {
        let bytes = match read_file(path).await {
            Ok(bytes) => bytes,
            Err(problem) => return failed(report, Outcome::BadInput, problem),
        };
        let size = bytes.len() as u64;
        let input = match api.create_binary_input(config.universe_id, size).await {
            Ok(input) => input,
            Err(error) => return api_failure(report, &error),
        };
        let Some(uri) = input.upload_uri.as_deref() else {
            return failed(
                report,
                Outcome::Unavailable,
                "the binary input was created without an upload URI".into(),
            );
        };
        console.emit(Event::Note(&format!(
            "uploading binary input {} ({})",
            path.display(),
            size_text(size)
        )));
        let (counter, progress) = progress_counter();
        let upload = api.upload_binary_input(uri, bytes, progress);
        if let Err(error) = with_progress(
            console,
            "binary input upload",
            size,
            &counter,
            config.timing,
            upload,
        )
        .await
        {
            return api_failure(report, &error);
        }
        binary_input_path = Some(input.path);
    }

    // 3. The task.
    let request = CreateTaskRequest {
        script: config.script.clone(),
        timeout: config.task_timeout.map(to_protobuf_duration),
        binary_input: binary_input_path,
        enable_binary_output: config.binary_output.is_some().then_some(true),
    };
    let created_at = Instant::now();
    let task = match api
        .create_task(
            config.universe_id,
            config.place_id,
            report.place_version,
            &request,
        )
        .await
    {
        Ok(task) => task,
        Err(error) => return api_failure(report, &error),
    };
    remember(last_seen, &task);
    console.emit(Event::Note(&format!("created task {}", task.path)));

    // 4. Wait for it.
    let deadline = created_at + config.wait_timeout;
    let polled = {
        let mut on_event = |event: PollEvent| match event {
            PollEvent::StateChanged { state, elapsed } => {
                if let Ok(mut seen) = last_seen.lock()
                    && let Some(task) = seen.as_mut()
                {
                    task.state = state.clone();
                }
                console.emit(Event::StateChanged {
                    state: &state,
                    elapsed,
                });
            }
            PollEvent::Heartbeat { state, elapsed } => console.emit(Event::Heartbeat {
                state: &state,
                elapsed,
            }),
        };
        poller::wait_for_terminal(
            api,
            task,
            created_at,
            deadline,
            config.timing,
            &mut on_event,
        )
        .await
    };
    report.duration = created_at.elapsed();
    let task = match polled {
        Ok(task) => task,
        Err(PollError::Api(error)) => return api_failure(report, &error),
        Err(PollError::WaitTimeout { last }) => {
            let mut problem = format!(
                "gave up waiting after {} (wait-timeout) with the task still {}; it may still run on Roblox: GET /cloud/v2/{}",
                human(config.wait_timeout),
                last.state,
                last.path
            );
            if last.state == TaskState::Processing {
                problem.push_str(". A task that never leaves PROCESSING often means a place version Roblox could not load.");
            }
            report.task = Some(*last);
            return failed(report, Outcome::WaitTimeout, problem);
        }
    };
    remember(last_seen, &task);
    report.outcome = Outcome::of_task(&task);
    if matches!(task.state, TaskState::Other(_) | TaskState::Unspecified) {
        report.problem = Some(format!(
            "the task ended in a state this tool does not know: {}",
            task.state
        ));
    }

    // 5. The logs: the API serves them only once the task has ended.
    match fetch_logs(api, &task.path).await {
        Ok(logs) => report.logs = logs,
        Err(error) => {
            report.logs_problem = Some(format!("the task's logs could not be read: {error}"))
        }
    }

    // 6. The binary output.
    let completed = task.state == TaskState::Complete;
    let output_uri = task.binary_output_uri.clone();
    report.task = Some(task);
    if let (Some(path), true) = (&config.binary_output, completed) {
        match output_uri.as_deref().filter(|u| !u.is_empty()) {
            None => {
                return failed(
                    report,
                    Outcome::Unavailable,
                    "the task completed without a binary output URI (did the script return { BinaryOutput = buffer }?)".into(),
                );
            }
            Some(uri) => match api.download_binary_output(uri).await {
                Ok(bytes) => match write_file(path, &bytes).await {
                    Ok(()) => {
                        console.emit(Event::Note(&format!(
                            "wrote binary output to {} ({})",
                            path.display(),
                            size_text(bytes.len() as u64)
                        )));
                        report.binary_output_path = Some(path.clone());
                    }
                    Err(problem) => return failed(report, Outcome::Unavailable, problem),
                },
                Err(error) => return api_failure(report, &error),
            },
        }
    }
    report
}

/// Reads every page of the task's logs, in order.
pub async fn fetch_logs(api: &OpenCloud, path: &str) -> Result<Vec<LogMessage>, ApiError> {
    let mut logs = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_LOG_PAGES {
        let page = api.list_logs(path, token.as_deref()).await?;
        for chunk in page.luau_execution_session_task_logs {
            match (chunk.structured_messages, chunk.messages) {
                (Some(structured), _) if !structured.is_empty() => logs.extend(structured),
                // A server that ignores `view` answers FLAT: keep the text, level unknown.
                (_, Some(flat)) => logs.extend(flat.into_iter().map(|message| LogMessage {
                    message,
                    create_time: None,
                    message_type: MessageType::Unspecified,
                })),
                _ => {}
            }
        }
        match page.next_page_token.filter(|t| !t.is_empty()) {
            // A token that repeats would loop forever.
            Some(next) if token.as_deref() != Some(next.as_str()) => token = Some(next),
            _ => return Ok(logs),
        }
    }
    Ok(logs)
}

fn remember(last_seen: &LastSeen, task: &Task) {
    if let Ok(mut seen) = last_seen.lock() {
        *seen = Some(task.clone());
    }
}

fn failed(mut report: RunReport, outcome: Outcome, problem: String) -> RunReport {
    report.outcome = outcome;
    report.problem = Some(problem);
    report
}

fn api_failure(report: RunReport, error: &ApiError) -> RunReport {
    failed(report, Outcome::of_api_error(error), error.to_string())
}

async fn read_file(path: &Path) -> Result<Bytes, String> {
    tokio::fs::read(path)
        .await
        .map(Bytes::from)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

async fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
    }
    tokio::fs::write(path, bytes)
        .await
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

fn size_text(bytes: u64) -> String {
    if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
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
    console: &mut Console,
    label: &str,
    total: u64,
    counter: &AtomicU64,
    timing: crate::config::Timing,
    transfer: impl std::future::Future<Output = T>,
) -> T {
    let started = Instant::now();
    let every = timing.scaled(PROGRESS_EVERY);
    let mut ticker = tokio::time::interval_at(started + every, every);
    tokio::pin!(transfer);
    loop {
        tokio::select! {
            result = &mut transfer => return result,
            _ = ticker.tick() => {
                let sent = counter.load(Ordering::Relaxed).min(total);
                let rate = sent as f64 / started.elapsed().as_secs_f64().max(0.001);
                console.emit(Event::Note(&format!(
                    "{label}: {} of {} ({:.0}%, {}/s)",
                    size_text(sent),
                    size_text(total),
                    100.0 * sent as f64 / total.max(1) as f64,
                    size_text(rate as u64)
                )));
            }
        }
    }
}
