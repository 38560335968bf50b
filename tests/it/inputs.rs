//! Bad input: exit 2, one line on stderr naming the input, and nothing sent.

use std::time::Duration;

use crate::support::{FakeCloud, Outcome, Run, temp_file};

/// Runs with one change to a valid environment and checks the refusal: exit 2, one line on
/// stderr naming `input`, nothing sent.
async fn refused(input: &str, change: impl FnOnce(&mut Run) -> &mut Run) {
    let cloud = FakeCloud::start().await;
    let mut run = cloud.run();
    change(&mut run);
    // A refusal comes before anything can block: a run still going after a minute hangs.
    tokio::time::timeout(Duration::from_secs(60), run.expect())
        .await
        .unwrap_or_else(|_| panic!("refusing `{input}` hung"))
        .case(format!("refusing {input}"))
        .code(Outcome::BadInput)
        .stderr_lines(1)
        .names_input(input);
    cloud.assert_untouched().await;
}

#[tokio::test]
async fn missing_required_inputs() {
    refused("api-key", |r| r.remove("INPUT_API_KEY")).await;
    refused("api-key", |r| r.env("INPUT_API_KEY", "")).await;
    refused("universe-id", |r| r.remove("INPUT_UNIVERSE_ID")).await;
    refused("place-id", |r| r.env("INPUT_PLACE_ID", "")).await;
    refused("script", |r| r.remove("INPUT_SCRIPT")).await;
}

#[tokio::test]
async fn malformed_values() {
    refused("universe-id", |r| r.env("INPUT_UNIVERSE_ID", "12a")).await;
    refused("place-id", |r| r.env("INPUT_PLACE-ID", "-5")).await;
    refused("place-version", |r| r.env("INPUT_PLACE_VERSION", "v3")).await;
    refused("timeout", |r| r.env("INPUT_TIMEOUT", "10 minutes")).await;
    refused("timeout", |r| r.env("INPUT_TIMEOUT", "301s")).await;
    refused("timeout", |r| r.env("INPUT_TIMEOUT", "0")).await;
    refused("wait-timeout", |r| r.env("INPUT_WAIT_TIMEOUT", "soon")).await;
    refused("base-url", |r| {
        r.env("INPUT_BASE_URL", "http://example.com")
    })
    .await;
    refused("base-url", |r| r.env("INPUT_BASE_URL", "ftp://127.0.0.1")).await;
    refused("backend", |r| r.env("INPUT_BACKEND", "studio")).await;
    refused("output-format", |r| r.env("INPUT_OUTPUT_FORMAT", "xml")).await;
    refused("api-key", |r| r.env("INPUT_API_KEY", "two words")).await;
}

#[tokio::test]
async fn script_sources() {
    refused("script", |r| r.env("INPUT_SCRIPT_PATH", "x.luau")).await;
    refused("script-path", |r| {
        r.remove("INPUT_SCRIPT")
            .env("INPUT_SCRIPT_PATH", "/nonexistent/x.luau")
    })
    .await;
    let (_dir, empty) = temp_file("empty.luau", b"");
    refused("script-path", |r| {
        r.remove("INPUT_SCRIPT")
            .env("INPUT_SCRIPT_PATH", empty.to_str().unwrap())
    })
    .await;
    let (_dir, big) = temp_file("big.luau", &vec![b'-'; 4 * 1024 * 1024 + 1]);
    refused("script-path", |r| {
        r.remove("INPUT_SCRIPT")
            .env("INPUT_SCRIPT_PATH", big.to_str().unwrap())
    })
    .await;
}

#[tokio::test]
async fn flags_are_checked_too() {
    refused("universe-id", |r| r.arg("--universe-id").arg("abc")).await;
    // A value that looks like a flag still reaches our own check, not clap's usage text.
    refused("timeout", |r| r.arg("--timeout").arg("-1")).await;
}

#[tokio::test]
async fn a_bad_key_is_never_echoed() {
    FakeCloud::start()
        .await
        .run()
        .env("INPUT_API_KEY", "sec ret-value")
        .expect()
        .await
        .code(Outcome::BadInput)
        .stderr_lacks("sec ret");
}

#[tokio::test]
async fn inputs_for_many_tasks_are_checked_before_anything_is_sent() {
    let (dir, first) = temp_file("a.luau", b"return 1");
    std::fs::write(dir.path().join("b.luau"), "return 2").unwrap();
    let both = format!(
        "{}, {}",
        first.display(),
        dir.path().join("b.luau").display()
    );
    let glob = format!("{}/*.luau", dir.path().display());
    // Too many at once for one place; a count that is not one.
    refused("parallel", |r| {
        r.env("INPUT_SCRIPT_PATH", &glob)
            .remove("INPUT_SCRIPT")
            .env("INPUT_PARALLEL", "11")
    })
    .await;
    refused("parallel", |r| r.env("INPUT_PARALLEL", "two")).await;
    // Shards belong to a suite.
    refused("shards", |r| r.env("INPUT_SHARDS", "2")).await;
    // Jest-Lua is split by roots: no more shards than roots.
    refused("shards", |r| {
        r.remove("INPUT_SCRIPT")
            .env("INPUT_TEST_FRAMEWORK", "jest")
            .env("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests")
            .env("INPUT_SHARDS", "2")
    })
    .await;
    // One place or several, not both; several places take no single version.
    refused("place-ids", |r| r.env("INPUT_PLACE_IDS", "3,4")).await;
    refused("place-ids", |r| {
        r.remove("INPUT_PLACE_ID").env("INPUT_PLACE_IDS", "3,3")
    })
    .await;
    refused("place-version", |r| {
        r.remove("INPUT_PLACE_ID")
            .env("INPUT_PLACE_IDS", "3,4")
            .env("INPUT_PLACE_VERSION", "7")
    })
    .await;
    // A glob that matches nothing, and binary transfers that go with one task.
    refused("script-path", |r| {
        r.remove("INPUT_SCRIPT")
            .env("INPUT_SCRIPT_PATH", "no-such-folder/*.luau")
    })
    .await;
    let (_out, output_path) = temp_file("unused", b"");
    refused("binary-output", |r| {
        r.remove("INPUT_SCRIPT")
            .env("INPUT_SCRIPT_PATH", &both)
            .env("INPUT_BINARY_OUTPUT", output_path.to_str().unwrap())
    })
    .await;
}

/// A FIFO would block the write forever; a device node or a directory is never replaced. Each is
/// refused up front, naming the input.
#[cfg(unix)]
#[tokio::test]
async fn only_regular_files_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let fifo = fifo.to_str().unwrap().to_owned();
    let folder = dir.path().to_str().unwrap().to_owned();
    for input in ["junit-path", "binary-output"] {
        let name = format!("INPUT_{}", input.to_uppercase().replace('-', "_"));
        for path in [&fifo, "/dev/null", &folder] {
            refused(input, |r| r.env(&name, path)).await;
        }
    }
}
