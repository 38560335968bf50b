//! One fake of Open Cloud for unit tests (the runner's and place reuse's): answers scripted per
//! call, what was asked recorded, and a universe's sorted maps in memory. Time is the test's
//! (`start_paused`), so nothing here sleeps.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::memory_store::{MapItem, MapPage, SortedMaps};
use super::model::{BinaryInput, CreateTaskRequest, LogsPage, Task, TaskState};
use super::{ApiError, Operation, Progress, Service, TaskApi};
use crate::poller::TaskSource;
use crate::secret::Redactor;

/// Open Cloud as a test scripts it. Creates answer the scripted answers in order, then a task
/// on the version asked for (on `head` when created at head, as Roblox names it in the path);
/// polls answer the scripted states, the last one repeating; uploads are versions 7, 8, ….
#[derive(Default)]
pub struct FakeApi {
    /// The place's head version, named in the path of a task created at head.
    pub head: u64,
    /// The next creates' answers; when none is left, a processing task on the asked version.
    pub creates: RefCell<VecDeque<Result<Task, ApiError>>>,
    /// Each create's version (`None`: at head) and script, in order.
    pub asked: RefCell<Vec<(Option<u64>, String)>>,
    /// The states polls answer, in order; the last repeats (none: `PROCESSING`).
    pub states: RefCell<VecDeque<Task>>,
    pub log_pages: RefCell<VecDeque<LogsPage>>,
    /// Every call by kind: `create`, `get`, `logs`, `upload`.
    pub calls: RefCell<Vec<&'static str>>,
    /// The universe's sorted maps, when the key may use them.
    pub maps: Option<FakeMaps>,
    pub redactor: Redactor,
}

impl FakeApi {
    /// Creates answer `created` once; polls answer `states`.
    pub fn answering(created: Result<Task, ApiError>, states: Vec<Task>) -> Self {
        Self {
            creates: RefCell::new(VecDeque::from([created])),
            states: RefCell::new(states.into()),
            ..Self::default()
        }
    }

    /// A place whose head is `head`: creates answer tasks on the version they run on.
    pub fn on_head(head: u64) -> Self {
        Self {
            head,
            ..Self::default()
        }
    }

    /// Log listings answer these pages, in order.
    pub fn with_logs(self, pages: Vec<LogsPage>) -> Self {
        *self.log_pages.borrow_mut() = pages.into();
        self
    }

    /// How many calls of this kind were made.
    pub fn called(&self, what: &'static str) -> usize {
        self.calls.borrow().iter().filter(|c| **c == what).count()
    }
}

/// A task at `path`, in `state`.
pub fn task_at(path: impl Into<String>, state: TaskState) -> Task {
    Task {
        path: path.into(),
        state,
        ..Task::default()
    }
}

impl TaskSource for FakeApi {
    async fn get_task(&self, _path: &str) -> Result<Task, ApiError> {
        self.calls.borrow_mut().push("get");
        let mut states = self.states.borrow_mut();
        // The last answer repeats: a task stays in its last state.
        let next = if states.len() > 1 {
            states.pop_front()
        } else {
            states.front().cloned()
        };
        Ok(next.unwrap_or_else(|| {
            task_at(
                "universes/1/places/2/luau-execution-session-tasks/t",
                TaskState::Processing,
            )
        }))
    }
}

impl TaskApi for FakeApi {
    type Maps = FakeMaps;

    fn service(&self) -> Service {
        Service::OpenCloud
    }
    fn redactor(&self) -> &Redactor {
        &self.redactor
    }
    async fn create_task(
        &self,
        universe: u64,
        place: u64,
        version: Option<u64>,
        request: &CreateTaskRequest,
        _patience: Option<Instant>,
    ) -> Result<Task, ApiError> {
        self.calls.borrow_mut().push("create");
        self.asked
            .borrow_mut()
            .push((version, request.script.clone()));
        if let Some(answer) = self.creates.borrow_mut().pop_front() {
            return answer;
        }
        let on = version.unwrap_or(self.head);
        Ok(task_at(
            format!(
                "universes/{universe}/places/{place}/versions/{on}/luau-execution-sessions/s/tasks/s"
            ),
            TaskState::Processing,
        ))
    }
    async fn list_logs(&self, _path: &str, _page: Option<&str>) -> Result<LogsPage, ApiError> {
        self.calls.borrow_mut().push("logs");
        Ok(self.log_pages.borrow_mut().pop_front().unwrap_or_default())
    }
    async fn upload_place(
        &self,
        _universe: u64,
        _place: u64,
        _content_type: &'static str,
        _bytes: Bytes,
        _progress: Progress,
    ) -> Result<u64, ApiError> {
        self.calls.borrow_mut().push("upload");
        Ok(6 + self.called("upload") as u64)
    }
    async fn create_binary_input(
        &self,
        _universe: u64,
        _size: u64,
    ) -> Result<BinaryInput, ApiError> {
        Err(ApiError::Client("no binary input in this fake".into()))
    }
    async fn upload_binary_input(
        &self,
        _uri: &str,
        _bytes: Bytes,
        _progress: Progress,
    ) -> Result<(), ApiError> {
        Err(ApiError::Client("no binary input in this fake".into()))
    }
    async fn download_binary_output(&self, _uri: &str, _path: &Path) -> Result<u64, ApiError> {
        Err(ApiError::Client("no binary output in this fake".into()))
    }
    fn sorted_maps(&self) -> Option<&FakeMaps> {
        self.maps.as_ref()
    }
}

/// A universe's sorted maps in memory. `refuse` answers every call with that status,
/// `refuse_writes` every write.
#[derive(Default)]
pub struct FakeMaps {
    pub items: RefCell<HashMap<(String, String), MapItem>>,
    /// The expiration each write asked for, in order.
    pub ttls: RefCell<Vec<Duration>>,
    pub refuse: Option<u16>,
    pub refuse_writes: Option<u16>,
}

/// Open Cloud's refusal of a memory-store call, with this status.
pub fn refused(status: u16) -> ApiError {
    ApiError::Rejected {
        service: Service::OpenCloud,
        operation: Operation::ReadMemoryStore,
        status,
        detail: String::new(),
        hint: None,
    }
}

impl SortedMaps for FakeMaps {
    async fn get_item(&self, _u: u64, map: &str, id: &str) -> Result<Option<MapItem>, ApiError> {
        if let Some(status) = self.refuse {
            return Err(refused(status));
        }
        Ok(self
            .items
            .borrow()
            .get(&(map.to_owned(), id.to_owned()))
            .cloned())
    }
    async fn put_item(
        &self,
        _u: u64,
        map: &str,
        item: &MapItem,
        ttl: Duration,
    ) -> Result<(), ApiError> {
        if let Some(status) = self.refuse.or(self.refuse_writes) {
            return Err(refused(status));
        }
        self.ttls.borrow_mut().push(ttl);
        self.items
            .borrow_mut()
            .insert((map.to_owned(), item.id.clone()), item.clone());
        Ok(())
    }
    async fn list_items(&self, _u: u64, _map: &str, _t: Option<&str>) -> Result<MapPage, ApiError> {
        Ok(MapPage::default())
    }
    async fn delete_item(&self, _u: u64, map: &str, id: &str) -> Result<(), ApiError> {
        self.items
            .borrow_mut()
            .remove(&(map.to_owned(), id.to_owned()));
        Ok(())
    }
}
