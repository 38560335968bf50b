//! Roblox's published numbers, once: Open Cloud's Luau Execution limits and the behaviour peers
//! measured. The client (`config`, `runner`, `batch`, `api`) and its emulator both read them
//! here, so what the client expects and what the emulator enforces cannot drift apart.
//!
//! Sources: Roblox's OpenAPI schema for Luau Execution (`LuauExecutionSessionTask.description`,
//! `x-roblox-rate-limits`, `x-roblox-size-limit`) and the creator docs, as collected in
//! `opencloud-luau-api.md`; where a figure was measured rather than published, its doc says so.

use std::time::Duration;

/// "Scripts can be up to 4 MB in size."
pub const MAX_SCRIPT_BYTES: u64 = 4 * 1024 * 1024;
/// "run for up to 5 minutes"; the `timeout` field defaults to it.
pub const MAX_TASK_TIMEOUT: Duration = Duration::from_secs(300);
/// The place-publishing endpoint's `x-roblox-size-limit` (10 MiB).
pub const MAX_PLACE_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// The binary-input resource's documented maximum.
pub const MAX_BINARY_INPUT_BYTES: u64 = 100 * 1024 * 1024;
/// The `BinaryOutput` buffer's documented maximum.
pub const MAX_BINARY_OUTPUT_BYTES: u64 = 256 * 1024 * 1024;
/// "The total size of the return values after JSON serialization must not exceed 4 MB";
/// past it the task fails with `OUTPUT_SIZE_LIMIT_EXCEEDED`.
pub const MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;
/// Unfinished tasks one place holds; the 11th create gets 429.
pub const TASKS_PER_PLACE: usize = 10;
/// How long a finished task's slot stays taken before the place admits another (measured by
/// peers, not published).
pub const SLOT_LAG: Duration = Duration::from_secs(10);
/// "A maximum of 450 KB of logs are retained"; older logs are discarded.
pub const LOG_WINDOW_BYTES: usize = 450_000;
/// What Roblox counts against the log window per message beyond its text (measured by peers).
pub const LOG_MESSAGE_OVERHEAD: usize = 47;
/// Binary inputs (and outputs) are valid for 15 minutes from creation.
pub const BINARY_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The time between two frames of a game server: Roblox's frame loop (`RunService.Heartbeat`
/// and the other frame events) runs at 60 Hz.
pub const FRAME: Duration = Duration::from_nanos(16_666_667);

/// Requests per minute per API key owner, from the schema's `x-roblox-rate-limits` (and the
/// place-publishing API's `x-roblox-throttling-limit`).
pub mod per_minute {
    /// Create a task on the place's head version.
    pub const CREATE_AT_HEAD: usize = 40;
    /// Create a task pinned to a version.
    pub const CREATE_AT_VERSION: usize = 5;
    /// Get a task (polling).
    pub const GET_TASK: usize = 200;
    /// List a task's logs.
    pub const LIST_LOGS: usize = 45;
    /// Create a binary input.
    pub const CREATE_BINARY_INPUT: usize = 5;
    /// Publish a place version.
    pub const UPLOAD_PLACE: usize = 30;
}
