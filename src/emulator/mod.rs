//! An emulator of Open Cloud's Luau Execution API that runs real Luau, for offline runs
//! (`backend: local`, `luau-exec serve`) and for honest end-to-end tests of the client.
//!
//! Same routes, bodies and error shapes as the schema in
//! `shared/spec/opencloud-luau-execution.openapi.json`, and the shapes Roblox was observed to
//! answer with: create answers `PROCESSING`; the logs listing always holds one chunk,
//! `…/logs/1`, with the whole 450 KB window in one page (empty while the task runs). Roblox's
//! own sample clients rely on both. `QUEUED` appears only as an injected fault.
//!
//! Tasks run on a fixed pool of worker threads, each task in a fresh VM; tasks beyond the pool
//! wait their turn. At most 10 unfinished tasks per place (and [`MAX_UNFINISHED_TOTAL`] in
//! all); finished tasks, binary inputs and outputs are evicted oldest first past fixed bounds,
//! so a long-running `serve` holds bounded memory.
//!
//! Routes under `/emulator/` are the emulator's own: the presigned transfers, fault injection
//! and request counts for tests (`POST /emulator/faults`, `GET /emulator/stats`, which need the
//! key like every other route).

mod bytecode;
mod connection;
pub mod coverage;
pub mod dom;
mod json;
pub mod memory_store;
mod pacing;
pub mod place_cache;
mod server;
pub mod vm;
pub mod warm;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::api::model::{LogMessage, MessageType, Task};
use crate::roblox::{BINARY_LIFETIME, LOG_MESSAGE_OVERHEAD, LOG_WINDOW_BYTES};

/// Unfinished tasks allowed across all places: the queue in front of the workers is bounded.
pub const MAX_UNFINISHED_TOTAL: usize = 200;
/// Finished tasks kept for reading; older ones are evicted (Roblox keeps them 24 hours).
pub const MAX_FINISHED_TASKS: usize = 1000;
/// Binary data held at once, inputs and outputs each; the oldest is evicted past it.
pub const MAX_HELD_BINARY_BYTES: usize = 1024 * 1024 * 1024;
/// Uploaded place versions kept (each up to 10 MiB); older ones are forgotten.
pub const MAX_KEPT_PLACE_VERSIONS: usize = 16;

/// The endpoints Roblox rate-limits, each with its published per-key-owner limit
/// (`x-roblox-rate-limits` in the schema; place publishing from the Universes API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    CreateTask,
    CreateTaskAtVersion,
    GetTask,
    ListLogs,
    CreateBinaryInput,
    UploadPlace,
}

impl Endpoint {
    /// Requests allowed per minute.
    pub fn per_minute(self) -> usize {
        match self {
            Self::CreateTask => 40,
            Self::CreateTaskAtVersion => 5,
            Self::GetTask => 200,
            Self::ListLogs => 45,
            Self::CreateBinaryInput => 5,
            Self::UploadPlace => 30,
        }
    }
}

/// Roblox's limits, which the emulator applies only when asked (`serve --roblox-limits`), so
/// clients that run many tasks can be tested against them.
#[derive(Debug, Clone, Copy, Default)]
pub struct RobloxLimits {
    /// Per-key limits of each endpoint, over a sliding minute: past one, 429 with `retry-after`.
    pub rate_limits: bool,
    /// How long a finished task still holds one of its place's ten slots (Roblox: about 10 s).
    pub slot_lag: Duration,
    /// How long a task stays PROCESSING before its script starts (a server boot).
    pub boot_delay: Duration,
}

impl RobloxLimits {
    /// Roblox's limits as observed, with the given boot delay.
    pub fn roblox(boot_delay: Duration) -> Self {
        Self {
            rate_limits: true,
            slot_lag: Duration::from_secs(10),
            boot_delay,
        }
    }
}

#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// The key requests must carry; `None` accepts any non-empty `x-api-key`.
    pub api_key: Option<String>,
    /// How long a task injected as QUEUED (`queued` fault) stays so before it runs.
    pub queue_delay: Duration,
    /// Tasks that run at once; the rest wait. Each runs a VM of up to [`vm::MEMORY_LIMIT`].
    pub workers: usize,
    /// Roblox's rate limits, slot lag and boot delay (all off by default).
    pub limits: RobloxLimits,
    /// How long a connection may take to send a request's headers, and go without a byte
    /// moving either way (see [`connection`]).
    pub connection_timeout: Duration,
    /// How long a place version's server stays warm after a task (see [`warm`]).
    pub warm_period: Duration,
    /// The scopes the key has, for the routes that check them (the memory-store routes);
    /// `None`: every scope.
    pub key_scopes: Option<Vec<String>>,
}

impl EmulatorOptions {
    /// Whether the key has `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.key_scopes
            .as_ref()
            .is_none_or(|scopes| scopes.iter().any(|s| s == scope))
    }
}

/// Tasks that run at once by default. Test tasks mostly wait (`task.wait`, yields), so more
/// workers than cores keep concurrent tasks as concurrent as on Roblox, where each has its own
/// server; the bound keeps a flood of creates from becoming a flood of threads.
pub const DEFAULT_WORKERS: usize = 16;

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            queue_delay: Duration::from_millis(200),
            workers: DEFAULT_WORKERS,
            limits: RobloxLimits::default(),
            connection_timeout: connection::CONNECTION_TIMEOUT,
            warm_period: warm::DEFAULT_WARM_PERIOD,
            key_scopes: None,
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
    /// Tasks created QUEUED, staying so for the emulator's queue delay before they run.
    pub queued: u32,
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
    /// Tasks evicted to bound memory.
    pub evicted_tasks: u32,
    /// Requests answered 429 for a rate limit (with `--roblox-limits`).
    pub rate_limited: u32,
    /// Creates answered 429 because the place had ten unfinished tasks.
    pub place_full: u32,
    /// Tasks that booted a server of their version, and tasks that found one warm.
    pub cold_boots: u32,
    pub warm_starts: u32,
}

/// A task's log messages, as Roblox keeps them: the newest ~450 KB, oldest dropped. The VM
/// writes into one as the script runs, so a script printing in a loop holds bounded memory.
#[derive(Debug, Default)]
pub struct LogWindow {
    messages: VecDeque<LogMessage>,
    bytes: usize,
}

impl LogWindow {
    /// Appends a message, dropping the oldest past the window. A message larger than the
    /// whole window keeps its start.
    pub fn push(&mut self, level: MessageType, text: &str) {
        let room = LOG_WINDOW_BYTES - LOG_MESSAGE_OVERHEAD;
        let text = crate::text::prefix_bytes(text, room).to_owned();
        self.bytes += text.len() + LOG_MESSAGE_OVERHEAD;
        self.messages.push_back(LogMessage {
            message: text,
            create_time: Some(server::now()),
            message_type: level,
        });
        while self.bytes > LOG_WINDOW_BYTES {
            match self.messages.pop_front() {
                Some(old) => self.bytes -= old.message.len() + LOG_MESSAGE_OVERHEAD,
                None => break,
            }
        }
    }

    pub fn messages(&self) -> impl Iterator<Item = &LogMessage> {
        self.messages.iter()
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

struct TaskRecord {
    task: Task,
    script: String,
    place: (u64, u64),
    logs: LogWindow,
    /// When the task ended; its slot on the place is free again after the slot lag.
    finished_at: Option<Instant>,
    /// The token of its binary output's download URL, if it has one.
    binary_output: Option<String>,
}

struct BinaryInputRecord {
    universe: u64,
    data: Option<Arc<Vec<u8>>>,
    created: Instant,
}

/// A binary output, held once: each download sends a reference to these bytes, not a copy.
struct BinaryOutputRecord {
    data: bytes::Bytes,
    created: Instant,
}

#[derive(Default)]
struct State {
    tasks: HashMap<String, TaskRecord>,
    /// Finished task ids, oldest first, for eviction.
    finished: VecDeque<String>,
    binary_inputs: HashMap<String, BinaryInputRecord>,
    /// By the unguessable token in their download URL (a presigned URL's secret).
    binary_outputs: HashMap<String, BinaryOutputRecord>,
    place_versions: HashMap<(u64, u64), u64>,
    /// Uploaded place versions by (universe, place, version), newest last in `place_order`.
    places: HashMap<(u64, u64, u64), Arc<place_cache::PlaceVersion>>,
    place_order: VecDeque<(u64, u64, u64)>,
    faults: Faults,
    stats: Stats,
    /// Recent requests per (key, endpoint), for the rate limits.
    recent: HashMap<(String, Endpoint), VecDeque<Instant>>,
    /// Which place versions have warm servers.
    servers: warm::Servers,
}

/// A task waiting for a worker.
struct QueuedTask {
    id: String,
    request: vm::ExecutionRequest,
    /// Injected QUEUED: the task stays QUEUED for the queue delay before it runs.
    queued: bool,
}

struct Shared {
    options: EmulatorOptions,
    base_url: String,
    state: Mutex<State>,
    queue: Mutex<mpsc::Sender<QueuedTask>>,
    /// Every universe's memory stores, shared with the tasks (apart from `state`, so a task's
    /// memory-store calls never wait on the HTTP handlers' lock).
    memory: memory_store::SharedStores,
    /// Counts the changes of any task's state (a task started or ended).
    task_changes: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    /// Tells whoever follows [`RunningEmulator::task_changes`] that a task's state changed.
    fn task_changed(&self) {
        self.task_changes
            .send_modify(|count| *count = count.wrapping_add(1));
    }
}

/// A running emulator; it stops when the process does.
pub struct RunningEmulator {
    pub url: reqwest::Url,
    pub addr: SocketAddr,
    /// Changes whenever a task's state does: an in-process client polls when it changes, not
    /// on a timer (see `poller`), so it notices a task's end as it happens.
    pub task_changes: tokio::sync::watch::Receiver<u64>,
}

/// Binds `listen`, starts the workers and serves in the background.
pub async fn start(listen: &str, options: EmulatorOptions) -> std::io::Result<RunningEmulator> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");
    let url = reqwest::Url::parse(&base_url).map_err(std::io::Error::other)?;
    let (sender, receiver) = mpsc::channel::<QueuedTask>();
    let workers = options.workers.max(1);
    let connection_timeout = options.connection_timeout;
    let memory = memory_store::SharedStores::new(options.limits.rate_limits);
    let (task_changes, changes_seen) = tokio::sync::watch::channel(0);
    let shared = Arc::new(Shared {
        options,
        base_url,
        state: Mutex::new(State::default()),
        queue: Mutex::new(sender),
        memory,
        task_changes,
    });
    let receiver = Arc::new(Mutex::new(receiver));
    for index in 0..workers {
        let shared = shared.clone();
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(format!("emulator-worker-{index}"))
            // Deep (but legal) Luau recursion runs on this thread's stack.
            .stack_size(16 * 1024 * 1024)
            .spawn(move || server::work(&shared, &receiver))?;
    }
    let app = server::router(shared);
    tokio::spawn(connection::serve(listener, app, connection_timeout));
    Ok(RunningEmulator {
        url,
        addr,
        task_changes: changes_seen,
    })
}

impl State {
    /// Admits a request under the rate limits, or says how many seconds until it would be.
    fn admit(&mut self, key: &str, endpoint: Endpoint, now: Instant) -> Result<(), u64> {
        const WINDOW: Duration = Duration::from_secs(60);
        let recent = self.recent.entry((key.to_owned(), endpoint)).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            recent.pop_front();
        }
        if recent.len() >= endpoint.per_minute() {
            let oldest = recent.front().copied().unwrap_or(now);
            let wait = WINDOW.saturating_sub(now.duration_since(oldest));
            self.stats.rate_limited += 1;
            return Err(wait.as_secs_f64().ceil().max(1.0) as u64);
        }
        recent.push_back(now);
        Ok(())
    }

    /// Tasks holding a slot of the place: unfinished, or finished within the slot lag.
    fn slots_taken(&self, place: (u64, u64), slot_lag: Duration, now: Instant) -> usize {
        self.tasks
            .values()
            .filter(|r| r.place == place)
            .filter(|r| match r.finished_at {
                None => true,
                Some(at) => now.duration_since(at) < slot_lag,
            })
            .count()
    }

    /// Keeps an uploaded place version, forgetting the oldest past the bound, and the decoded
    /// trees of all but the newest few (see [`place_cache`]).
    fn keep_place(&mut self, key: (u64, u64, u64), version: Arc<place_cache::PlaceVersion>) {
        self.places.insert(key, version);
        self.place_order.push_back(key);
        while self.place_order.len() > MAX_KEPT_PLACE_VERSIONS {
            if let Some(old) = self.place_order.pop_front() {
                self.places.remove(&old);
            }
        }
        let older = self
            .place_order
            .len()
            .saturating_sub(place_cache::MAX_DECODED_VERSIONS);
        for old in self.place_order.iter().take(older) {
            if let Some(version) = self.places.get(old) {
                version.forget_tree();
            }
        }
    }

    /// Records a task as finished and evicts the oldest finished ones past the bound.
    fn finish(&mut self, id: &str) {
        self.finished.push_back(id.to_owned());
        while self.finished.len() > MAX_FINISHED_TASKS {
            if let Some(old) = self.finished.pop_front() {
                let token = self.tasks.remove(&old).and_then(|r| r.binary_output);
                if let Some(token) = token {
                    self.binary_outputs.remove(&token);
                }
                self.stats.evicted_tasks += 1;
            }
        }
    }

    /// Drops expired binary data, then the oldest until what is held fits the bound.
    fn evict_binaries(&mut self, now: Instant) {
        self.binary_inputs
            .retain(|_, record| now.duration_since(record.created) < BINARY_LIFETIME);
        self.binary_outputs
            .retain(|_, record| now.duration_since(record.created) < BINARY_LIFETIME);
        while self
            .binary_outputs
            .values()
            .map(|r| r.data.len())
            .sum::<usize>()
            > MAX_HELD_BINARY_BYTES
        {
            let Some(oldest) = oldest_key(&self.binary_outputs, |r| r.created) else {
                break;
            };
            self.binary_outputs.remove(&oldest);
        }
        while self
            .binary_inputs
            .values()
            .filter_map(|r| r.data.as_ref().map(|d| d.len()))
            .sum::<usize>()
            > MAX_HELD_BINARY_BYTES
        {
            let Some(oldest) = oldest_key(&self.binary_inputs, |r| r.created) else {
                break;
            };
            self.binary_inputs.remove(&oldest);
        }
    }
}

fn oldest_key<T>(map: &HashMap<String, T>, created: impl Fn(&T) -> Instant) -> Option<String> {
    map.iter()
        .min_by_key(|(_, record)| created(record))
        .map(|(key, _)| key.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The count a local run's poller waits on moves when a task ends, and by then the task's
    /// answer is the terminal one: without it, every local run would wait on its schedule.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tasks_end_moves_the_count_of_task_changes_after_its_outcome_is_recorded() {
        use crate::api::model::CreateTaskRequest;
        use crate::api::{OpenCloud, Service, TaskApi};
        use crate::poller::TaskSource;

        let running = start("127.0.0.1:0", EmulatorOptions::default())
            .await
            .expect("the emulator starts");
        let mut changes = running.task_changes.clone();
        let api = OpenCloud::new(
            &running.url,
            crate::secret::ApiKey::new("k".into()),
            crate::clock::Timing::default(),
            Service::LocalEmulator,
        )
        .expect("a client");
        let request = CreateTaskRequest {
            script: "task.wait(0.2) return 1".into(),
            ..CreateTaskRequest::default()
        };
        let task = api
            .create_task(1, 1, None, &request, None)
            .await
            .expect("created");
        changes.mark_unchanged();
        tokio::time::timeout(Duration::from_secs(10), changes.changed())
            .await
            .expect("the count moved before the task's timeout")
            .expect("the emulator is still running");
        let ended = api.get_task(&task.path).await.expect("read");
        assert_eq!(ended.state, crate::api::model::TaskState::Complete);
    }

    #[test]
    fn the_log_window_drops_the_oldest() {
        let mut window = LogWindow::default();
        for i in 0..20_000 {
            window.push(MessageType::Output, &format!("line {i:05}"));
        }
        let kept: Vec<&str> = window.messages().map(|m| m.message.as_str()).collect();
        assert_eq!(kept.last(), Some(&"line 19999"));
        assert!(kept.len() * (10 + LOG_MESSAGE_OVERHEAD) <= LOG_WINDOW_BYTES);
        assert!(kept.len() > 7800, "{}", kept.len());
        let mut window = LogWindow::default();
        window.push(MessageType::Output, &"x".repeat(LOG_WINDOW_BYTES * 3));
        assert_eq!(window.len(), 1);
        assert!(window.bytes <= LOG_WINDOW_BYTES);
    }
}
