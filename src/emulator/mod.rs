//! An emulator of Open Cloud's Luau Execution API that runs real Luau, for offline runs
//! (`backend: local`, `luau-exec serve`) and for honest end-to-end tests of the client.
//!
//! Same routes, bodies and error shapes as the schema in
//! `shared/spec/opencloud-luau-execution.openapi.json`: create (both forms), get, logs (FLAT and
//! STRUCTURED, page tokens), binary inputs with a presigned-style upload URI, a binary output
//! URI, and place version upload. Tasks go QUEUED → PROCESSING → a terminal state, each in its
//! own thread and VM. At most 10 unfinished tasks per place; logs only once a task has ended, in
//! a 450 KB window that drops the oldest messages.
//!
//! Routes under `/emulator/` are the emulator's own: the presigned transfers, and fault
//! injection for tests (`POST /emulator/faults`).

mod server;
pub mod vm;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::model::{LogMessage, Task};

/// Logs kept per task, as on Roblox (about 450 KB, oldest dropped).
pub const LOG_WINDOW_BYTES: usize = 450_000;
/// The per-message overhead Roblox counts against the window (measured by peers).
pub const LOG_MESSAGE_OVERHEAD: usize = 47;
/// Unfinished tasks allowed per place.
pub const MAX_UNFINISHED_PER_PLACE: usize = 10;
/// Messages per log chunk (`LuauExecutionSessionTaskLog`); a page holds `maxPageSize` chunks.
pub const MESSAGES_PER_CHUNK: usize = 1000;

#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// The key requests must carry; `None` accepts any non-empty `x-api-key`.
    pub api_key: Option<String>,
    /// How long a task stays QUEUED before it runs.
    pub queue_delay: Duration,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            queue_delay: Duration::from_millis(50),
        }
    }
}

/// Faults to inject, each a count of requests to spoil. Set with `POST /emulator/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Faults {
    /// Creates answered 429 (with `retry-after` when `retry_after_seconds` is set).
    pub create_429: u32,
    /// Creates answered 500.
    pub create_500: u32,
    /// Task GETs answered 503.
    pub get_503: u32,
    /// Task GETs answered 200 with a body cut in half.
    pub get_truncated: u32,
    /// Log GETs answered 503.
    pub logs_503: u32,
    /// Place uploads answered 503.
    pub upload_503: u32,
    pub retry_after_seconds: Option<u64>,
}

/// Request counts, for tests: `GET /emulator/stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Stats {
    pub creates: u32,
    pub gets: u32,
    pub log_gets: u32,
    pub place_uploads: u32,
    pub binary_input_creates: u32,
    /// Requests to the presigned transfer routes, and how many of them carried an API key
    /// (which must be none).
    pub presigned_requests: u32,
    pub presigned_requests_with_key: u32,
}

struct TaskRecord {
    task: Task,
    script: String,
    place: (u64, u64),
    logs: VecDeque<LogMessage>,
    log_bytes: usize,
}

struct BinaryInputRecord {
    universe: u64,
    data: Option<Vec<u8>>,
}

#[derive(Default)]
struct State {
    tasks: HashMap<String, TaskRecord>,
    binary_inputs: HashMap<String, BinaryInputRecord>,
    binary_outputs: HashMap<String, Vec<u8>>,
    place_versions: HashMap<(u64, u64), u64>,
    faults: Faults,
    stats: Stats,
}

struct Shared {
    options: EmulatorOptions,
    base_url: String,
    state: Mutex<State>,
}

/// A running emulator; it stops when the process does.
pub struct RunningEmulator {
    pub url: reqwest::Url,
    pub addr: SocketAddr,
}

/// Binds `listen` and serves in the background.
pub async fn start(listen: &str, options: EmulatorOptions) -> std::io::Result<RunningEmulator> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");
    let url = reqwest::Url::parse(&base_url).map_err(std::io::Error::other)?;
    let shared = Arc::new(Shared {
        options,
        base_url,
        state: Mutex::new(State::default()),
    });
    let app = server::router(shared);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the emulator stopped");
        }
    });
    Ok(RunningEmulator { url, addr })
}

impl TaskRecord {
    /// Appends a message, dropping the oldest past the window.
    fn push_log(&mut self, message: LogMessage) {
        self.log_bytes += message.message.len() + LOG_MESSAGE_OVERHEAD;
        self.logs.push_back(message);
        while self.log_bytes > LOG_WINDOW_BYTES {
            match self.logs.pop_front() {
                Some(old) => self.log_bytes -= old.message.len() + LOG_MESSAGE_OVERHEAD,
                None => break,
            }
        }
    }
}
