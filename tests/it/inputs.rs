//! Bad input: exit 2, one line on stderr naming the input, and nothing sent.

use wiremock::MockServer;

use crate::support::{Run, temp_file};

/// Runs with one change to a valid environment and checks the refusal.
async fn refused(change: impl FnOnce(&mut Run), input: &str) {
    let server = MockServer::start().await;
    let mut run = Run::new(&server.uri());
    change(&mut run);
    // A refusal comes before anything can block: a run still going after a minute hangs.
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), run.output())
        .await
        .unwrap_or_else(|_| panic!("refusing `{input}` hung"));
    assert_eq!(
        output.code, 2,
        "stdout: {}\nstderr: {}",
        output.stdout, output.stderr
    );
    assert_eq!(
        output.stderr.lines().count(),
        1,
        "one line: {}",
        output.stderr
    );
    assert!(
        output
            .stderr
            .contains(&luau_exec::text::input_name(input, false)),
        "names `{input}`: {}",
        output.stderr
    );
    let received = server.received_requests().await.unwrap_or_default();
    assert!(
        received.is_empty(),
        "nothing may be sent, got {} request(s)",
        received.len()
    );
}

#[tokio::test]
async fn missing_required_inputs() {
    refused(
        |r| {
            r.remove("INPUT_API_KEY");
        },
        "api-key",
    )
    .await;
    refused(
        |r| {
            r.env("INPUT_API_KEY", "");
        },
        "api-key",
    )
    .await;
    refused(
        |r| {
            r.remove("INPUT_UNIVERSE_ID");
        },
        "universe-id",
    )
    .await;
    refused(
        |r| {
            r.env("INPUT_PLACE_ID", "");
        },
        "place-id",
    )
    .await;
    refused(
        |r| {
            r.remove("INPUT_SCRIPT");
        },
        "script",
    )
    .await;
}

#[tokio::test]
async fn malformed_values() {
    refused(
        |r| {
            r.env("INPUT_UNIVERSE_ID", "12a");
        },
        "universe-id",
    )
    .await;
    refused(
        |r| {
            r.env("INPUT_PLACE-ID", "-5");
        },
        "place-id",
    )
    .await;
    refused(
        |r| {
            r.env("INPUT_PLACE_VERSION", "v3");
        },
        "place-version",
    )
    .await;
    refused(
        |r| {
            r.env("INPUT_TIMEOUT", "10 minutes");
        },
        "timeout",
    )
    .await;
    refused(
        |r| {
            r.env("INPUT_TIMEOUT", "301s");
        },
        "timeout",
    )
    .await;
    refused(
        |r| {
            r.env("INPUT_TIMEOUT", "0");
        },
        "timeout",
    )
    .await;
    refused(
        |r| {
            r.env("INPUT_WAIT_TIMEOUT", "soon");
        },
        "wait-timeout",
    )
    .await;
    refused(
        |r| {
            r.env("INPUT_BASE_URL", "http://example.com");
        },
        "base-url",
    )
    .await;
    refused(
        |r| {
            r.env("INPUT_BASE_URL", "ftp://127.0.0.1");
        },
        "base-url",
    )
    .await;
    refused(
        |r| {
            r.env("INPUT_BACKEND", "studio");
        },
        "backend",
    )
    .await;
    refused(
        |r| {
            r.env("INPUT_OUTPUT_FORMAT", "xml");
        },
        "output-format",
    )
    .await;
    refused(
        |r| {
            r.env("INPUT_API_KEY", "two words");
        },
        "api-key",
    )
    .await;
}

#[tokio::test]
async fn script_sources() {
    refused(
        |r| {
            r.env("INPUT_SCRIPT_PATH", "x.luau");
        },
        "script",
    )
    .await;
    refused(
        |r| {
            r.remove("INPUT_SCRIPT")
                .env("INPUT_SCRIPT_PATH", "/nonexistent/x.luau");
        },
        "script-path",
    )
    .await;
    let (_dir, empty) = temp_file("empty.luau", b"");
    refused(
        |r| {
            r.remove("INPUT_SCRIPT")
                .env("INPUT_SCRIPT_PATH", empty.to_str().unwrap());
        },
        "script-path",
    )
    .await;
    let (_dir, big) = temp_file("big.luau", &vec![b'-'; 4 * 1024 * 1024 + 1]);
    refused(
        |r| {
            r.remove("INPUT_SCRIPT")
                .env("INPUT_SCRIPT_PATH", big.to_str().unwrap());
        },
        "script-path",
    )
    .await;
}

#[tokio::test]
async fn flags_are_checked_too() {
    refused(
        |r| {
            r.arg("--universe-id").arg("abc");
        },
        "universe-id",
    )
    .await;
    // A value that looks like a flag still reaches our own check, not clap's usage text.
    refused(
        |r| {
            r.arg("--timeout").arg("-1");
        },
        "timeout",
    )
    .await;
}

#[tokio::test]
async fn a_bad_key_is_never_echoed() {
    let server = MockServer::start().await;
    let output = Run::new(&server.uri())
        .env("INPUT_API_KEY", "sec ret-value")
        .output()
        .await;
    assert_eq!(output.code, 2);
    assert!(!output.stderr.contains("sec ret"), "{}", output.stderr);
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
    refused(
        |r| {
            r.env("INPUT_SCRIPT_PATH", &glob)
                .remove("INPUT_SCRIPT")
                .env("INPUT_PARALLEL", "11");
        },
        "parallel",
    )
    .await;
    refused(
        |r| {
            r.env("INPUT_PARALLEL", "two");
        },
        "parallel",
    )
    .await;
    // Shards belong to a suite.
    refused(
        |r| {
            r.env("INPUT_SHARDS", "2");
        },
        "shards",
    )
    .await;
    // Jest-Lua is split by roots: no more shards than roots.
    refused(
        |r| {
            r.remove("INPUT_SCRIPT")
                .env("INPUT_TEST_FRAMEWORK", "jest")
                .env("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests")
                .env("INPUT_SHARDS", "2");
        },
        "shards",
    )
    .await;
    // One place or several, not both; several places take no single version.
    refused(
        |r| {
            r.env("INPUT_PLACE_IDS", "3,4");
        },
        "place-ids",
    )
    .await;
    refused(
        |r| {
            r.remove("INPUT_PLACE_ID").env("INPUT_PLACE_IDS", "3,3");
        },
        "place-ids",
    )
    .await;
    refused(
        |r| {
            r.remove("INPUT_PLACE_ID")
                .env("INPUT_PLACE_IDS", "3,4")
                .env("INPUT_PLACE_VERSION", "7");
        },
        "place-version",
    )
    .await;
    // A glob that matches nothing, and binary transfers that go with one task.
    refused(
        |r| {
            r.remove("INPUT_SCRIPT")
                .env("INPUT_SCRIPT_PATH", "no-such-folder/*.luau");
        },
        "script-path",
    )
    .await;
    let (_out, output_path) = temp_file("unused", b"");
    refused(
        |r| {
            r.remove("INPUT_SCRIPT")
                .env("INPUT_SCRIPT_PATH", &both)
                .env("INPUT_BINARY_OUTPUT", output_path.to_str().unwrap());
        },
        "binary-output",
    )
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
            refused(
                |r| {
                    r.env(&name, path);
                },
                input,
            )
            .await;
        }
    }
}
