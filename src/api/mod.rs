//! Roblox Open Cloud's Luau Execution API: wire types, the HTTP client, its retry policy and
//! its errors.

pub mod body;
pub mod client;
pub mod error;
#[cfg(test)]
pub mod fake;
pub mod limiter;
pub mod memory_store;
pub mod model;
pub mod poll_budget;
pub mod retry;
pub mod url;

pub use client::{OpenCloud, Progress};
pub use error::{ApiError, Operation, Service};
pub use limiter::{Bucket, Limiter};
pub use poll_budget::PollBudget;

use std::future::Future;
use std::path::Path;

use bytes::Bytes;

use crate::poller::TaskSource;
use crate::secret::Redactor;
use memory_store::SortedMaps;
use model::{BinaryInput, CreateTaskRequest, LogsPage, Task};

/// What the runner asks of Open Cloud (or its emulator): the seam that lets the runner be
/// tested against a fake, as [`TaskSource`] does for the poller. Methods return
/// `impl Future` and callers take `api: &impl TaskApi` (generic, not `dyn`), so the real
/// client pays nothing for it.
pub trait TaskApi: TaskSource {
    /// The universe's memory-store sorted maps as this API reaches them (the real client for
    /// Open Cloud, an in-memory map for a fake).
    type Maps: SortedMaps;
    /// Which service answers, for wording (Open Cloud or the local emulator).
    fn service(&self) -> Service;
    /// What hides the key in text this API's answers carry.
    fn redactor(&self) -> &Redactor;
    /// Creates a task on the place's head version, or on `version`. `patience` bounds how
    /// long a full place may be waited on.
    fn create_task(
        &self,
        universe: u64,
        place: u64,
        version: Option<u64>,
        request: &CreateTaskRequest,
        patience: Option<tokio::time::Instant>,
    ) -> impl Future<Output = Result<Task, ApiError>>;
    /// One page of a task's logs.
    fn list_logs(
        &self,
        path: &str,
        page_token: Option<&str>,
    ) -> impl Future<Output = Result<LogsPage, ApiError>>;
    /// Publishes a place file as a new Saved version; its number.
    fn upload_place(
        &self,
        universe: u64,
        place: u64,
        content_type: &'static str,
        bytes: Bytes,
        progress: Progress,
    ) -> impl Future<Output = Result<u64, ApiError>>;
    /// Creates a binary input of `size` bytes; where to upload it.
    fn create_binary_input(
        &self,
        universe: u64,
        size: u64,
    ) -> impl Future<Output = Result<BinaryInput, ApiError>>;
    /// Uploads a binary input's bytes to its presigned URI.
    fn upload_binary_input(
        &self,
        uri: &str,
        bytes: Bytes,
        progress: Progress,
    ) -> impl Future<Output = Result<(), ApiError>>;
    /// Downloads a task's binary output to `path`; its size.
    fn download_binary_output(
        &self,
        uri: &str,
        path: &Path,
    ) -> impl Future<Output = Result<u64, ApiError>>;
    /// The universe's memory-store sorted maps, for place reuse and live progress: none when
    /// there is nothing to reuse (the local emulator's store is new each run).
    fn sorted_maps(&self) -> Option<&Self::Maps> {
        None
    }
    /// The sorted maps live progress reads while a task runs: Open Cloud's, or the local
    /// emulator's (whose store lives as long as the run); a fake has none.
    fn progress_maps(&self) -> Option<&Self::Maps> {
        None
    }
}
