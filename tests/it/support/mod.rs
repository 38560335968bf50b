//! Test support, so a test reads as a sentence: a [`Run`] of the real binary whose
//! [`Expect`]ations print everything on failure, one [`FakeCloud`] that plays Open Cloud's part,
//! a [`RawServer`] for answers no mock server can send, and parsers that read our output the way
//! GitHub's runner does.
//!
//! - `run.rs`: the binary, its environment, and the checks on what it left behind;
//! - `cloud.rs`: the fake Open Cloud (wiremock) and the bodies it answers with;
//! - `raw.rs`: a bare HTTP server for hostile bodies (endless, huge, trickling);
//! - `workflow.rs`: workflow commands and `GITHUB_OUTPUT`, read as the runner reads them.

// Without the emulator, the modules that use some of the support are not built.
#![cfg_attr(not(feature = "emulator"), allow(dead_code, unused_imports))]

mod cloud;
mod raw;
mod run;
mod workflow;

use std::path::PathBuf;

pub use cloud::{
    FakeCloud, complete, failed, logs_page, ok_json, on_create, on_get, on_logs, on_upload, task,
};
pub use luau_exec::outcome::{Outcome, Signal};
pub use raw::{RawBody, RawResponse, RawServer};
pub use run::{Expect, Output, Run, assert_no_key};
pub use workflow::{RunnerParser, WorkflowCommand, parse_output_file};

pub const KEY: &str = "test-key-Zq8vN3xR-do-not-print";
pub const TASK_PATH: &str =
    "universes/1/places/2/versions/3/luau-execution-sessions/aaaa-1/tasks/aaaa-1";
pub const CREATE_PATH: &str = "/cloud/v2/universes/1/places/2/luau-execution-session-tasks";

/// A temporary file with contents; the directory lives as long as the returned guard.
pub fn temp_file(name: &str, contents: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("write temp file");
    (dir, path)
}
