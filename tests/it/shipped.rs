//! What ships: the release profile and the failure paths of the emulator, which `.ci/run`
//! also runs against the release binary (`LUAU_EXEC_TEST_BINARY`).

use crate::support::{Outcome, Run};

/// Luau reports errors by unwinding through mlua's Rust callbacks; under `panic = "abort"`
/// every deadline or bad argument killed the process (exit 134). The profiles must agree.
#[test]
fn the_release_profile_unwinds() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("Cargo.toml");
    let release = manifest
        .split("[profile.release]")
        .nth(1)
        .expect("a release profile")
        .split("\n[")
        .next()
        .unwrap_or_default();
    let panic = release
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("panic"))
        .unwrap_or("panic = \"unwind\"");
    assert_eq!(panic.replace(' ', ""), "panic=\"unwind\"", "{release}");
}

#[tokio::test]
async fn failure_paths_end_as_task_results_with_outputs_written() {
    // (script, timeout, exit code, expected text). The allocation gets time to reach the
    // memory limit however busy the machine is.
    let cases = [
        (
            "while true do end",
            "2",
            Outcome::DeadlineExceeded,
            "DEADLINE_EXCEEDED",
        ),
        (
            "task.wait(10)",
            "2",
            Outcome::DeadlineExceeded,
            "DEADLINE_EXCEEDED",
        ),
        (
            "task.wait('abc')",
            "2",
            Outcome::ScriptError,
            "TaskScript:1: invalid argument #1 to 'wait'",
        ),
        (
            "return pcall(task.wait, {})",
            "2",
            Outcome::Complete,
            "Results: [false",
        ),
        (
            "print(setmetatable({}, {__tostring = function() error('x') end}))",
            "2",
            Outcome::ScriptError,
            "TaskScript:1: x",
        ),
        (
            "collectgarbage('bogus')",
            "2",
            Outcome::ScriptError,
            "collectgarbage called with invalid option",
        ),
        (
            "local t = {} local i = 0 while true do i += 1 t[i] = string.rep('x', 1e6) .. i end",
            "60",
            Outcome::ScriptError,
            "not enough memory",
        ),
    ];
    for (script, timeout, code, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let outputs = dir.path().join("outputs");
        let summary = dir.path().join("summary");
        let output = Run::bare()
            .env("INPUT_BACKEND", "local")
            .env("INPUT_SCRIPT", script)
            .env("INPUT_TIMEOUT", timeout)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", outputs.to_str().unwrap())
            .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())
            .expect()
            .await
            .case(script);
        output.code(code).stdout_has(expected);
        let code = code.exit_code();
        let written = std::fs::read_to_string(&outputs).unwrap_or_default();
        assert!(
            written.contains("exit-code<<") && written.contains(&format!("\n{code}\n")),
            "{script}: outputs: {written}"
        );
        assert!(
            std::fs::metadata(&summary).is_ok_and(|m| m.len() > 0),
            "{script}: no summary"
        );
        // Commands are resumed at the end, whatever happened.
        let mut parser = crate::support::RunnerParser::default();
        parser.parse(&output.stdout);
        assert!(!parser.is_stopped(), "{script}: stop-commands left open");
    }
}
