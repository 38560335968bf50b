//! The emulator's HTTP routes and its workers. Handlers check the key, apply injected faults,
//! then act on the shared state; tasks wait in a queue for one of a fixed number of workers.

// Helpers return the error response itself (`Result<_, Response>`), the usual axum shape; the
// size of `Response` does not matter at this rate.
#![allow(clippy::result_large_err)]

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::place_cache::PlaceVersion;
use super::vm::{self, ExecutionRequest, VmOutcome};
use super::{
    BinaryInputRecord, BinaryOutputRecord, Faults, LogWindow, MAX_UNFINISHED_TOTAL, QueuedTask,
    Shared, State, TaskRecord,
};
use crate::api::model::{
    CreateTaskRequest, LogChunk, LogsPage, Task, TaskError, TaskOutput, TaskState,
};
use crate::duration::{parse_protobuf_duration, to_protobuf_duration};
use crate::roblox::{
    MAX_BINARY_INPUT_BYTES, MAX_PLACE_FILE_BYTES, MAX_SCRIPT_BYTES, MAX_TASK_TIMEOUT,
    TASKS_PER_PLACE,
};

type SharedState = AxumState<Arc<Shared>>;

/// Request bodies are refused past these sizes: the documented limits (a 4 MB script, which
/// JSON escaping can grow up to six times; a 10 MiB place; a 100 MiB binary input) with room
/// for the request's own framing. The handlers then check the documented limits exactly.
const CREATE_BODY_LIMIT: usize = 6 * MAX_SCRIPT_BYTES as usize + 64 * 1024;
const PLACE_BODY_LIMIT: usize = MAX_PLACE_FILE_BYTES as usize + 64 * 1024;
const BINARY_INPUT_BODY_LIMIT: usize = MAX_BINARY_INPUT_BYTES as usize + 64 * 1024;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/cloud/v2/universes/{universe}/places/{place}/luau-execution-session-tasks",
            post(create_latest).layer(DefaultBodyLimit::max(CREATE_BODY_LIMIT)),
        )
        .route(
            "/cloud/v2/universes/{universe}/places/{place}/versions/{version}/luau-execution-session-tasks",
            post(create_versioned).layer(DefaultBodyLimit::max(CREATE_BODY_LIMIT)),
        )
        .route(
            "/cloud/v2/universes/{universe}/places/{place}/versions/{version}/luau-execution-sessions/{session}/tasks/{task}",
            get(get_task),
        )
        .route(
            "/cloud/v2/universes/{universe}/places/{place}/versions/{version}/luau-execution-sessions/{session}/tasks/{task}/logs",
            get(list_logs),
        )
        .route(
            "/cloud/v2/universes/{universe}/luau-execution-session-task-binary-inputs",
            post(create_binary_input),
        )
        .route(
            "/universes/v1/{universe}/places/{place}/versions",
            post(upload_place).layer(DefaultBodyLimit::max(PLACE_BODY_LIMIT)),
        )
        .route(
            "/emulator/binary-inputs/{id}",
            put(put_binary_input).layer(DefaultBodyLimit::max(BINARY_INPUT_BODY_LIMIT)),
        )
        .route("/emulator/binary-outputs/{id}", get(get_binary_output))
        .route("/emulator/faults", post(set_faults))
        .route("/emulator/stats", get(stats))
        .merge(super::memory_store::http::routes())
        .fallback(|| async { v2_error(StatusCode::NOT_FOUND, "NOT_FOUND", "No such route.") })
        .with_state(shared)
}

pub(super) fn v2_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "code": code, "message": message })),
    )
        .into_response()
}

/// The v2 answer to a bad request.
pub(super) fn invalid_argument(message: &str) -> Response {
    v2_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A panicked task thread must not take the emulator down with it.
    shared
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Every Open Cloud route needs `x-api-key`: the gateway answers 401 in its own shape.
pub(super) fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    let given = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    let accepted = match (given, &shared.options.api_key) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(given), Some(expected)) => given == expected,
    };
    if accepted {
        Ok(())
    } else {
        Err((
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "errors": [{ "code": 0, "message": "Invalid API Key" }] })),
        )
            .into_response())
    }
}

/// Applies Roblox's rate limit of `endpoint` to the request's key, when the limits are on.
fn rate_limit(
    shared: &Shared,
    state: &mut State,
    headers: &HeaderMap,
    endpoint: super::Endpoint,
) -> Result<(), Response> {
    if !shared.options.limits.rate_limits {
        return Ok(());
    }
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    state
        .admit(key, endpoint, std::time::Instant::now())
        .map_err(|seconds| {
            let mut response = v2_error(
                StatusCode::TOO_MANY_REQUESTS,
                "RESOURCE_EXHAUSTED",
                "Too many requests.",
            );
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        })
}

/// Takes one from a fault counter; true when this request is to be spoiled.
fn take(counter: &mut u32) -> bool {
    let spoil = *counter > 0;
    *counter = counter.saturating_sub(1);
    spoil
}

fn faulted(status: StatusCode, faults: &Faults) -> Response {
    let code = if status == StatusCode::TOO_MANY_REQUESTS {
        "RESOURCE_EXHAUSTED"
    } else if status == StatusCode::SERVICE_UNAVAILABLE {
        "UNAVAILABLE"
    } else {
        "INTERNAL"
    };
    let mut response = v2_error(status, code, "Injected fault.");
    if let Some(seconds) = faults.retry_after_seconds
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn parse_id(text: &str, what: &str) -> Result<u64, Response> {
    text.parse::<u64>()
        .map_err(|_| invalid_argument(&format!("Invalid {what}.")))
}

pub(super) fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn new_id() -> String {
    let token = crate::random::random_token("");
    format!(
        "{}-{}-{}-{}-{}",
        &token[0..8],
        &token[8..12],
        &token[12..16],
        &token[16..20],
        &token[20..32]
    )
}

async fn create_latest(
    AxumState(shared): SharedState,
    Path((universe, place)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create(shared, &universe, &place, None, &headers, &body)
}

async fn create_versioned(
    AxumState(shared): SharedState,
    Path((universe, place, version)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create(shared, &universe, &place, Some(&version), &headers, &body)
}

/// A create request that passed the checks a server makes before it takes any state.
struct Validated {
    universe: u64,
    place: u64,
    version: Option<u64>,
    request: CreateTaskRequest,
    timeout: Duration,
}

/// `CreateLuauExecutionSessionTask`: validate the request, admit it past the place's and the
/// emulator's limits, record the task, hand it to a worker.
fn create(
    shared: Arc<Shared>,
    universe: &str,
    place: &str,
    version: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if let Err(response) = authorize(&shared, headers) {
        return response;
    }
    let valid = match validate_create(universe, place, version, body) {
        Ok(valid) => valid,
        Err(response) => return response,
    };
    let mut state = lock(&shared);
    let binary_input = match admit_create(&shared, &mut state, headers, &valid) {
        Ok(binary_input) => binary_input,
        Err(response) => return response,
    };
    let (id, task, mut execution) = record_task(&mut state, valid, binary_input);
    execution.context.memory = Some(shared.memory.clone());
    let sent = shared
        .queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .send(QueuedTask {
            id: id.clone(),
            queued: task.state == TaskState::Queued,
            request: execution,
        });
    if sent.is_err() {
        state.tasks.remove(&id);
        return v2_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "The local emulator's workers have stopped.",
        );
    }
    (StatusCode::OK, axum::Json(task)).into_response()
}

/// The checks that need no state: IDs, the body's shape, the script's size, the timeout.
fn validate_create(
    universe: &str,
    place: &str,
    version: Option<&str>,
    body: &[u8],
) -> Result<Validated, Response> {
    let universe = parse_id(universe, "universe_id")?;
    let place = parse_id(place, "place_id")?;
    let version = version.map(|v| parse_id(v, "version_id")).transpose()?;
    let Ok(request) = serde_json::from_slice::<CreateTaskRequest>(body) else {
        return Err(invalid_argument(
            "The request body is not a LuauExecutionSessionTask.",
        ));
    };
    if request.script.is_empty() {
        return Err(invalid_argument("script is required."));
    }
    if request.script.len() as u64 > MAX_SCRIPT_BYTES {
        return Err(invalid_argument("script is larger than 4 MB."));
    }
    let timeout = match request.timeout.as_deref() {
        None => MAX_TASK_TIMEOUT,
        Some(text) => match parse_protobuf_duration(text) {
            Some(t) if !t.is_zero() && t <= MAX_TASK_TIMEOUT => t,
            _ => {
                return Err(invalid_argument(
                    "timeout must be a duration between 0s and 300s.",
                ));
            }
        },
    };
    Ok(Validated {
        universe,
        place,
        version,
        request,
        timeout,
    })
}

/// Whether the task may start now: rate limits, injected faults, its binary input, the place's
/// ten slots and the emulator's own queue. Gives the binary input's bytes.
fn admit_create(
    shared: &Shared,
    state: &mut State,
    headers: &HeaderMap,
    valid: &Validated,
) -> Result<Option<Vec<u8>>, Response> {
    let faults = state.faults.clone();
    state.stats.creates += 1;
    let endpoint = if valid.version.is_some() {
        super::Endpoint::CreateTaskAtVersion
    } else {
        super::Endpoint::CreateTask
    };
    rate_limit(shared, state, headers, endpoint)?;
    if take(&mut state.faults.create_429) {
        return Err(faulted(StatusCode::TOO_MANY_REQUESTS, &faults));
    }
    if take(&mut state.faults.create_500) {
        return Err(faulted(StatusCode::INTERNAL_SERVER_ERROR, &faults));
    }
    let binary_input = match &valid.request.binary_input {
        None => None,
        Some(path) => Some(binary_input_bytes(state, valid.universe, path)?),
    };
    let slot_lag = shared.options.limits.slot_lag;
    let at = (valid.universe, valid.place);
    if state.slots_taken(at, slot_lag, Instant::now()) >= TASKS_PER_PLACE {
        state.stats.place_full += 1;
        return Err(v2_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            "At most ten incomplete tasks are allowed per place.",
        ));
    }
    let unfinished = state
        .tasks
        .values()
        .filter(|r| !r.task.state.is_terminal())
        .count();
    if unfinished >= MAX_UNFINISHED_TOTAL {
        return Err(v2_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            "The local emulator has too many incomplete tasks; try again when some finish.",
        ));
    }
    Ok(binary_input)
}

/// The bytes of an uploaded binary input the request names, if it is this universe's.
fn binary_input_bytes(state: &State, universe: u64, path: &str) -> Result<Vec<u8>, Response> {
    let id = path.rsplit('/').next().unwrap_or_default();
    let expected = format!("universes/{universe}/luau-execution-session-task-binary-inputs/{id}");
    match state.binary_inputs.get(id) {
        Some(record) if record.universe == universe && path == expected => match &record.data {
            Some(data) => Ok(data.to_vec()),
            None => Err(invalid_argument("The binary input has not been uploaded.")),
        },
        _ => Err(invalid_argument(
            "binaryInput does not name a binary input of this universe.",
        )),
    }
}

/// Records the new task (PROCESSING, as Roblox's create answers while its server boots, or
/// QUEUED when a fault asks for it) and what its worker runs.
fn record_task(
    state: &mut State,
    valid: Validated,
    binary_input: Option<Vec<u8>>,
) -> (String, Task, ExecutionRequest) {
    let Validated {
        universe,
        place,
        version,
        request,
        timeout,
    } = valid;
    let queued = take(&mut state.faults.queued);
    let version =
        version.unwrap_or_else(|| *state.place_versions.get(&(universe, place)).unwrap_or(&1));
    let id = new_id();
    let created = now();
    let task = Task {
        path: format!(
            "universes/{universe}/places/{place}/versions/{version}/luau-execution-sessions/{id}/tasks/{id}"
        ),
        create_time: Some(created.clone()),
        update_time: Some(created),
        user: Some("1".into()),
        state: if queued {
            TaskState::Queued
        } else {
            TaskState::Processing
        },
        script: None,
        timeout: Some(to_protobuf_duration(timeout)),
        binary_input: request.binary_input.clone(),
        enable_binary_output: request.enable_binary_output,
        ..Task::default()
    };
    state.tasks.insert(
        id.clone(),
        TaskRecord {
            task: task.clone(),
            script: request.script.clone(),
            place: (universe, place),
            logs: LogWindow::default(),
            finished_at: None,
            binary_output: None,
        },
    );
    let execution = ExecutionRequest {
        script: request.script,
        timeout,
        binary_input,
        enable_binary_output: request.enable_binary_output.unwrap_or(false),
        place: state.places.get(&(universe, place, version)).cloned(),
        context: vm::TaskContext {
            universe,
            place,
            version,
            memory: None,
        },
    };
    (id, task, execution)
}

/// A worker: takes queued tasks one at a time until the emulator goes away.
pub(super) fn work(shared: &Shared, queue: &Mutex<mpsc::Receiver<QueuedTask>>) {
    // While the first place is still on its way: the reflection database, which decoding a
    // place and every task need, is decoded once per process (a few milliseconds) and would
    // otherwise be decoded then, with the run waiting on it.
    super::dom::warm_up();
    // The last task's VM, and when it is closed if no task comes first.
    let mut last_vm: Option<(vm::FinishedVm, Instant)> = None;
    loop {
        match next_queued(queue, last_vm.as_ref().map(|(_, close_at)| *close_at)) {
            Ok(queued) => {
                // One task's VM open at a time: the last one closes before the next starts.
                drop(last_vm.take());
                last_vm =
                    run_task(shared, queued).map(|vm| (vm, Instant::now() + IDLE_BEFORE_CLOSING));
            }
            Err(RecvTimeoutError::Timeout) => last_vm = None,
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// The next queued item, waiting at most until `close_at` when there is one. Workers take turns
/// at the queue's lock, so a time rather than a wait: a worker that got the lock only after its
/// VM's time has passed closes it at once.
fn next_queued<T>(
    queue: &Mutex<mpsc::Receiver<T>>,
    close_at: Option<Instant>,
) -> Result<T, RecvTimeoutError> {
    let queue = queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match close_at {
        Some(at) => queue.recv_timeout(at.saturating_duration_since(Instant::now())),
        None => queue.recv().map_err(|_| RecvTimeoutError::Disconnected),
    }
}

/// How long a worker leaves its last task's VM open with no task to run (see
/// [`vm::FinishedVm`]), from the task's end: a one-shot run reads its last outcomes and ends
/// well within it, without spending its cores on closing VMs the process is about to drop
/// whole; an idle `serve` gives the memory back soon after (a worker waiting for the queue's
/// lock closes its VM once it has the lock).
const IDLE_BEFORE_CLOSING: Duration = Duration::from_secs(2);

/// The life of a task: (QUEUED, when injected), PROCESSING, then what the VM says. Returns the
/// task's VM, still open, unless the emulator failed while running it.
fn run_task(shared: &Shared, queued: QueuedTask) -> Option<vm::FinishedVm> {
    let QueuedTask {
        id,
        request,
        queued,
    } = queued;
    if queued {
        std::thread::sleep(shared.options.queue_delay);
        if let Some(record) = lock(shared).tasks.get_mut(&id) {
            record.task.state = TaskState::Processing;
            record.task.update_time = Some(now());
        }
        shared.task_changed();
    }
    let version = (
        request.context.universe,
        request.context.place,
        request.context.version,
    );
    boot(shared, version);
    // The outcome is recorded as soon as the script is done, before the VM is closed.
    let recorded = std::cell::Cell::new(false);
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let ((), vm) = vm::execute_then(&request, |execution| {
            record_outcome(shared, &id, version, execution);
            recorded.set(true);
        });
        vm
    }));
    // A bug in the emulator must end this task, not the worker (and every task after it).
    if ran.is_err() && !recorded.get() {
        let failed = vm::Execution {
            outcome: VmOutcome::Failed {
                code: crate::api::model::TaskErrorCode::InternalError,
                message: "The local emulator failed while running the task (a bug in luau-exec; the worker goes on)".into(),
            },
            logs: LogWindow::default(),
        };
        record_outcome(shared, &id, version, failed);
    }
    ran.ok()
}

/// A finished task's outcome, logs and binary output, as its GETs will answer them; then
/// whoever waits on the emulator's task changes is woken.
fn record_outcome(
    shared: &Shared,
    id: &str,
    version: super::warm::Version,
    execution: vm::Execution,
) {
    record_in_state(shared, id, version, execution);
    shared.task_changed();
}

/// [`record_outcome`]'s part under the state's lock.
fn record_in_state(
    shared: &Shared,
    id: &str,
    version: super::warm::Version,
    execution: vm::Execution,
) {
    let mut state = lock(shared);
    state.servers.ended(version, Instant::now());
    let State {
        tasks,
        binary_outputs,
        ..
    } = &mut *state;
    let Some(record) = tasks.get_mut(id) else {
        return;
    };
    record.logs = execution.logs;
    match execution.outcome {
        VmOutcome::Complete {
            results,
            binary_output,
        } => {
            record.task.output = Some(TaskOutput::from_json_texts(results));
            if let Some(bytes) = binary_output {
                // Like Roblox's presigned URL, the download URL needs no key, so it carries a
                // secret: 128 random bits, not the task's id, which anyone who sees the task
                // path (logs, outputs) knows.
                let token = crate::random::random_token("");
                record.task.binary_output_uri = Some(format!(
                    "{}/emulator/binary-outputs/{token}",
                    shared.base_url
                ));
                binary_outputs.insert(
                    token.clone(),
                    BinaryOutputRecord {
                        data: Bytes::from(bytes),
                        created: Instant::now(),
                    },
                );
                record.binary_output = Some(token);
            }
            record.task.state = TaskState::Complete;
        }
        VmOutcome::Failed { code, message } => {
            record.task.error = Some(TaskError { code, message });
            record.task.state = TaskState::Failed;
        }
    }
    record.task.update_time = Some(now());
    record.finished_at = Some(Instant::now());
    state.finish(id);
    state.evict_binaries(Instant::now());
}

/// A server of the task's version boots before the script runs (the boot delay, zero unless
/// asked for), unless one is warm (see [`super::warm`]).
fn boot(shared: &Shared, version: super::warm::Version) {
    let warm = {
        let mut state = lock(shared);
        let warm = state
            .servers
            .is_warm(version, shared.options.warm_period, Instant::now());
        if warm {
            state.stats.warm_starts += 1;
        } else {
            state.stats.cold_boots += 1;
        }
        warm
    };
    if !warm {
        std::thread::sleep(shared.options.limits.boot_delay);
    }
    lock(shared).servers.started(version);
}

#[derive(Deserialize)]
struct TaskPath {
    universe: String,
    place: String,
    version: String,
    session: String,
    task: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ViewQuery {
    view: Option<String>,
    max_page_size: Option<String>,
    page_token: Option<String>,
}

/// Finds the task a path names, checking every segment against it.
fn find<'a>(state: &'a mut State, path: &TaskPath) -> Option<&'a mut TaskRecord> {
    if path.session != path.task {
        return None;
    }
    let record = state.tasks.get_mut(&path.task)?;
    let expected = format!(
        "universes/{}/places/{}/versions/{}/luau-execution-sessions/{}/tasks/{}",
        path.universe, path.place, path.version, path.session, path.task
    );
    (record.task.path == expected).then_some(record)
}

async fn get_task(
    AxumState(shared): SharedState,
    Path(path): Path<TaskPath>,
    Query(query): Query<ViewQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = authorize(&shared, &headers) {
        return response;
    }
    let mut state = lock(&shared);
    state.stats.gets += 1;
    if let Err(response) = rate_limit(&shared, &mut state, &headers, super::Endpoint::GetTask) {
        return response;
    }
    let faults = state.faults.clone();
    if take(&mut state.faults.get_503) {
        return faulted(StatusCode::SERVICE_UNAVAILABLE, &faults);
    }
    let truncate = take(&mut state.faults.get_truncated);
    let Some(record) = find(&mut state, &path) else {
        return v2_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The task was not found.",
        );
    };
    let mut task = record.task.clone();
    // BASIC (the default) leaves the script out; FULL includes it.
    task.script = match query.view.as_deref() {
        Some("FULL") => Some(record.script.clone()),
        _ => Some(String::new()),
    };
    if truncate {
        let body = serde_json::to_string(&task).unwrap_or_default();
        let cut = crate::text::prefix_bytes(&body, body.len() / 2);
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            cut.to_owned(),
        )
            .into_response();
    }
    (StatusCode::OK, axum::Json(task)).into_response()
}

async fn list_logs(
    AxumState(shared): SharedState,
    Path(path): Path<TaskPath>,
    Query(query): Query<ViewQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = authorize(&shared, &headers) {
        return response;
    }
    let view = match query.view.as_deref() {
        None | Some("VIEW_UNSPECIFIED") | Some("FLAT") => "FLAT",
        Some("STRUCTURED") => "STRUCTURED",
        Some(_) => return invalid_argument("Invalid view."),
    };
    // Any size of at least one chunk holds the one chunk there is; 0 means the default.
    if let Some(size) = query.max_page_size.as_deref()
        && size.parse::<u32>().is_err()
    {
        return invalid_argument("Invalid maxPageSize.");
    }
    // Roblox answers with one page; a token can only come from a client that invents it.
    if query.page_token.as_deref().is_some_and(|t| !t.is_empty()) {
        return invalid_argument("Invalid pageToken.");
    }

    let mut state = lock(&shared);
    state.stats.log_gets += 1;
    if let Err(response) = rate_limit(&shared, &mut state, &headers, super::Endpoint::ListLogs) {
        return response;
    }
    let faults = state.faults.clone();
    if take(&mut state.faults.logs_503) {
        return faulted(StatusCode::SERVICE_UNAVAILABLE, &faults);
    }
    let Some(record) = find(&mut state, &path) else {
        return v2_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The task was not found.",
        );
    };
    // As observed on Roblox: one chunk, `…/logs/1`, present even when empty; the messages
    // only once the task has ended.
    let ended = record.task.state.is_terminal();
    let messages = record.logs.messages().filter(|_| ended);
    let path = format!("{}/logs/1", record.task.path);
    let chunk = if view == "STRUCTURED" {
        LogChunk {
            path,
            messages: None,
            structured_messages: Some(messages.cloned().collect()),
        }
    } else {
        LogChunk {
            path,
            messages: Some(messages.map(|m| m.message.clone()).collect()),
            structured_messages: None,
        }
    };
    axum::Json(LogsPage {
        luau_execution_session_task_logs: vec![chunk],
        next_page_token: Some(String::new()),
    })
    .into_response()
}

#[derive(Deserialize)]
struct BinaryInputBody {
    size: Value,
}

async fn create_binary_input(
    AxumState(shared): SharedState,
    Path(universe): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = authorize(&shared, &headers) {
        return response;
    }
    let universe = match parse_id(&universe, "universe_id") {
        Ok(u) => u,
        Err(r) => return r,
    };
    let size = match serde_json::from_slice::<BinaryInputBody>(&body).map(|b| b.size) {
        Ok(Value::Number(n)) => n.as_u64(),
        Ok(Value::String(s)) => s.parse::<u64>().ok(),
        _ => None,
    };
    let Some(size) = size.filter(|s| *s > 0 && *s <= MAX_BINARY_INPUT_BYTES) else {
        return invalid_argument("size must be between 1 byte and 100 MiB.");
    };
    let id = new_id();
    let mut state = lock(&shared);
    state.stats.binary_input_creates += 1;
    if let Err(response) = rate_limit(
        &shared,
        &mut state,
        &headers,
        super::Endpoint::CreateBinaryInput,
    ) {
        return response;
    }
    state.evict_binaries(Instant::now());
    state.binary_inputs.insert(
        id.clone(),
        BinaryInputRecord {
            universe,
            data: None,
            created: Instant::now(),
        },
    );
    axum::Json(json!({
        "path": format!("universes/{universe}/luau-execution-session-task-binary-inputs/{id}"),
        "size": size,
        "uploadUri": format!("{}/emulator/binary-inputs/{id}", shared.base_url),
    }))
    .into_response()
}

fn count_presigned(state: &mut State, headers: &HeaderMap) {
    state.stats.presigned_requests += 1;
    if headers.contains_key("x-api-key") {
        state.stats.presigned_requests_with_key += 1;
    }
}

async fn put_binary_input(
    AxumState(shared): SharedState,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = lock(&shared);
    count_presigned(&mut state, &headers);
    if body.len() as u64 > MAX_BINARY_INPUT_BYTES {
        return (StatusCode::PAYLOAD_TOO_LARGE, "over 100 MiB").into_response();
    }
    match state.binary_inputs.get_mut(&id) {
        Some(record) => {
            record.data = Some(Arc::new(body.to_vec()));
            StatusCode::OK.into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such upload").into_response(),
    }
}

/// A binary output's download: the body is a reference to the held bytes (`Bytes`), so any
/// number of downloads, however slow, hold one copy.
async fn get_binary_output(
    AxumState(shared): SharedState,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut state = lock(&shared);
    count_presigned(&mut state, &headers);
    match state.binary_outputs.get(&token) {
        Some(record) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            record.data.clone(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such output").into_response(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionTypeQuery {
    version_type: Option<String>,
}

async fn upload_place(
    AxumState(shared): SharedState,
    Path((universe, place)): Path<(String, String)>,
    Query(query): Query<VersionTypeQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = authorize(&shared, &headers) {
        return response;
    }
    let v1_error = |status: StatusCode, message: &str| {
        (
            status,
            axum::Json(json!({ "errors": [{ "code": status.as_u16(), "message": message }] })),
        )
            .into_response()
    };
    let (Ok(universe), Ok(place)) = (universe.parse::<u64>(), place.parse::<u64>()) else {
        return v1_error(StatusCode::NOT_FOUND, "Place or universe does not exist.");
    };
    if !matches!(
        query.version_type.as_deref(),
        Some("Saved") | Some("Published")
    ) {
        return v1_error(
            StatusCode::BAD_REQUEST,
            "versionType must be Saved or Published.",
        );
    }
    if body.is_empty() || body.len() as u64 > MAX_PLACE_FILE_BYTES {
        return v1_error(
            StatusCode::BAD_REQUEST,
            "Invalid request / Invalid file content.",
        );
    }
    // Roblox refuses a file that is not a place; so does the emulator, which will run it. The
    // decode runs off the async workers, so other requests are answered meanwhile.
    // The tree it makes is kept: the version's tasks start from copies of it.
    let file = body.to_vec();
    let loaded = tokio::task::spawn_blocking(move || PlaceVersion::decode(file)).await;
    let decoded = match loaded {
        Ok(Ok(decoded)) => decoded,
        Ok(Err(error)) if error.is_the_files_fault() => {
            return v1_error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid request / Invalid file content: {error}"),
            );
        }
        Ok(Err(error)) => return v1_error(StatusCode::SERVICE_UNAVAILABLE, &error.to_string()),
        Err(error) => return v1_error(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    };
    let mut state = lock(&shared);
    state.stats.place_uploads += 1;
    if let Err(response) = rate_limit(&shared, &mut state, &headers, super::Endpoint::UploadPlace) {
        return response;
    }
    let faults = state.faults.clone();
    if take(&mut state.faults.upload_503) {
        return faulted(StatusCode::SERVICE_UNAVAILABLE, &faults);
    }
    let version = state.place_versions.entry((universe, place)).or_insert(1);
    *version += 1;
    let number = *version;
    state.keep_place((universe, place, number), Arc::new(decoded));
    // Documented as text/plain holding JSON.
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        json!({ "versionNumber": number }).to_string(),
    )
        .into_response()
}

async fn set_faults(AxumState(shared): SharedState, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = authorize(&shared, &headers) {
        return response;
    }
    let Ok(faults) = serde_json::from_slice::<Faults>(&body) else {
        return invalid_argument("The body is not a set of faults.");
    };
    lock(&shared).faults = faults;
    StatusCode::NO_CONTENT.into_response()
}

async fn stats(AxumState(shared): SharedState, headers: HeaderMap) -> Response {
    if let Err(response) = authorize(&shared, &headers) {
        return response;
    }
    axum::Json(lock(&shared).stats.clone()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker holding a finished VM stops waiting for a task at the VM's closing time, even
    /// when it reaches the queue after that time; without one it waits for the next task.
    #[test]
    fn a_worker_with_a_finished_vm_waits_for_a_task_only_until_its_closing_time() {
        let (sender, receiver) = mpsc::channel::<u32>();
        let queue = Mutex::new(receiver);
        let started = Instant::now();
        let soon = started + Duration::from_millis(50);
        assert_eq!(
            next_queued(&queue, Some(soon)),
            Err(RecvTimeoutError::Timeout)
        );
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(started.elapsed() < Duration::from_secs(5));
        let passed = Instant::now();
        assert_eq!(
            next_queued(&queue, Some(started)),
            Err(RecvTimeoutError::Timeout)
        );
        assert!(passed.elapsed() < Duration::from_secs(1));
        sender.send(7).expect("the queue is open");
        assert_eq!(next_queued(&queue, Some(started)), Ok(7));
        let later = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            sender.send(8).expect("the queue is open");
        });
        assert_eq!(next_queued(&queue, None), Ok(8));
        later.join().expect("the sender ends");
        assert_eq!(
            next_queued(&queue, None),
            Err(RecvTimeoutError::Disconnected)
        );
    }
}
