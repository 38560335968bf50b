//! Servers that lie: redirects, huge and endless bodies, bad UTF-8, token cycles,
//! `retry-after: 0`, slow downloads and a server that echoes the key. The run must end with
//! an honest exit code, bounded memory and no key in any output.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    CREATE_PATH, KEY, RawBody, RawResponse, RawServer, Run, TASK_PATH, assert_no_key, complete,
    failed, logs_page, ok_json, on_create, on_get, on_logs, parse_output_file, task,
};

/// Requests `server` received.
async fn received(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

#[tokio::test]
async fn a_request_with_the_key_never_follows_a_redirect() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ok_json(task("PROCESSING")))
        .mount(&elsewhere)
        .await;
    for status in [301, 302, 307, 308] {
        let server = MockServer::start().await;
        on_create()
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("location", format!("{}{CREATE_PATH}", elsewhere.uri())),
            )
            .expect(1)
            .mount(&server)
            .await;
        let output = Run::new(&server.uri()).output().await;
        assert_eq!(output.code, 7, "{status}: {}", output.stdout);
        assert!(
            output.stdout.contains("never follows a redirect"),
            "{status}: {}",
            output.stdout
        );
    }
    assert_eq!(
        received(&elsewhere).await,
        0,
        "the key went to another origin"
    );

    // A poll redirected elsewhere is refused the same way.
    let server = MockServer::start().await;
    on_create()
        .respond_with(ok_json(task("PROCESSING")))
        .mount(&server)
        .await;
    on_get()
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", elsewhere.uri().as_str()),
        )
        .mount(&server)
        .await;
    let output = Run::new(&server.uri()).output().await;
    assert_eq!(output.code, 7, "{}", output.stdout);
    assert_eq!(received(&elsewhere).await, 0);
}

#[tokio::test]
async fn presigned_downloads_follow_redirects_without_the_key() {
    let storage = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/real"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![7u8, 8, 9]))
        .mount(&storage)
        .await;
    Mock::given(method("GET"))
        .and(path("/moved"))
        .respond_with(
            ResponseTemplate::new(307).insert_header("location", format!("{}/real", storage.uri())),
        )
        .mount(&storage)
        .await;
    let server = MockServer::start().await;
    let mut done = complete(json!([]));
    done["binaryOutputUri"] = json!(format!("{}/moved", storage.uri()));
    on_create().respond_with(ok_json(done)).mount(&server).await;
    on_logs()
        .respond_with(ok_json(logs_page(&[], "")))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.bin");
    let output = Run::new(&server.uri())
        .env("INPUT_BINARY_OUTPUT", out.to_str().unwrap())
        .output()
        .await;
    assert_eq!(output.code, 0, "{}", output.stdout);
    assert_eq!(std::fs::read(&out).unwrap(), vec![7, 8, 9]);
    for request in storage.received_requests().await.unwrap() {
        assert!(!request.headers.contains_key("x-api-key"));
    }
}

#[tokio::test]
async fn huge_and_endless_bodies_are_cut_off_at_their_cap() {
    // An endless create answer: never buffered whole; the create's fate is unknown (exit 8).
    let endless = RawResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: RawBody::Repeat {
            pattern: b"[0,".to_vec(),
            total: 2 * 1024 * 1024 * 1024,
        },
    };
    let server = RawServer::start(vec![("/cloud/v2/universes/1/places/2/", endless.clone())]).await;
    let output = Run::new(&server.url).output().await;
    assert_eq!(output.code, 8, "{}", output.stdout);
    assert!(
        output.stdout.contains("larger than the 16.0 MiB it may be"),
        "{}",
        output.stdout
    );
    assert_eq!(server.requests(), 1, "a create is never repeated");

    // An endless poll answer is cut off and not asked for again.
    let server = RawServer::start(vec![
        (CREATE_PATH, RawResponse::json(200, &task("PROCESSING"))),
        ("/cloud/v2/universes/", endless),
    ])
    .await;
    let output = Run::new(&server.url).output().await;
    assert_eq!(output.code, 8, "{}", output.stdout);
    assert!(
        output.stdout.contains("larger than the 16.0 MiB it may be"),
        "{}",
        output.stdout
    );
    assert_eq!(server.requests(), 2, "one create, one poll");

    // A 5xx with a huge body: its start is enough to describe it.
    let server = RawServer::start(vec![(
        CREATE_PATH,
        RawResponse {
            status: 400,
            headers: vec![],
            body: RawBody::Repeat {
                pattern: b"bad request ".to_vec(),
                total: 512 * 1024 * 1024,
            },
        },
    )])
    .await;
    let output = Run::new(&server.url).output().await;
    assert_eq!(output.code, 7, "{}", output.stdout);
    assert!(output.stdout.contains("bad request bad request"));
}

#[tokio::test]
async fn bad_utf8_and_lone_surrogates_lose_nothing() {
    let server = MockServer::start().await;
    on_create()
        .respond_with(ok_json(task("PROCESSING")))
        .mount(&server)
        .await;
    let failed_task = format!(
        r#"{{"path":"{TASK_PATH}","state":"FAILED","error":{{"code":"SCRIPT_ERROR","message":"TaskScript:1: bad \ud800 text"}}}}"#
    );
    on_get()
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(failed_task.into_bytes(), "application/json"),
        )
        .mount(&server)
        .await;
    let mut logs = format!(
        r#"{{"luauExecutionSessionTaskLogs":[{{"path":"{TASK_PATH}/logs/1","structuredMessages":[{{"message":"before \udc00 x","messageType":"OUTPUT"}},{{"message":"bytes "#
    )
    .into_bytes();
    logs.extend_from_slice(b"\xff\xfe");
    logs.extend_from_slice(br#" here","messageType":"OUTPUT"},{"message":"after","messageType":"WARNING"}]}],"nextPageToken":""}"#);
    on_logs()
        .respond_with(ResponseTemplate::new(200).set_body_raw(logs, "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let output = Run::new(&server.uri()).output().await;
    assert_eq!(output.code, 1, "the task's own outcome: {}", output.stdout);
    for expected in [
        "Error: TaskScript:1: bad \u{fffd} text",
        "before \u{fffd} x",
        "bytes \u{fffd}\u{fffd} here",
        "after",
    ] {
        assert!(
            output.stdout.contains(expected),
            "{expected}: {}",
            output.stdout
        );
    }
}

#[tokio::test]
async fn a_page_token_cycle_is_detected_and_reported() {
    let server = MockServer::start().await;
    on_create()
        .respond_with(ok_json(complete(json!([]))))
        .mount(&server)
        .await;
    // Page 1 → A, A → B, B → A: a cycle.
    for (token, message, next) in [("A", "second", "B"), ("B", "third", "A")] {
        on_logs()
            .and(wiremock::matchers::query_param("pageToken", token))
            .respond_with(ok_json(logs_page(&[("OUTPUT", message)], next)))
            .mount(&server)
            .await;
    }
    on_logs()
        .respond_with(ok_json(logs_page(&[("OUTPUT", "first")], "A")))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("out");
    let output = Run::new(&server.uri())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", outputs.to_str().unwrap())
        .output()
        .await;
    assert_eq!(output.code, 0, "{}", output.stdout);
    for message in ["first", "second", "third"] {
        let line = format!("[OUTPUT]  {message}\n");
        assert_eq!(output.stdout.matches(&line).count(), 1, "{}", output.stdout);
    }
    assert!(
        output.stdout.contains("::warning title=Logs cut::") && output.stdout.contains("cycle"),
        "{}",
        output.stdout
    );
    let pairs = parse_output_file(&std::fs::read_to_string(outputs).unwrap());
    assert!(pairs.contains(&("logs-truncated".to_owned(), "true".to_owned())));
    assert!(server.received_requests().await.unwrap().len() <= 5);
}

#[tokio::test]
async fn retry_after_zero_does_not_burn_the_budget_at_once() {
    let server = MockServer::start().await;
    on_create()
        .respond_with(ok_json(task("PROCESSING")))
        .mount(&server)
        .await;
    on_get()
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "0"))
        .mount(&server)
        .await;
    // The test clock runs at 1/100: the one-minute budget is 0.6 s.
    let output = Run::new(&server.uri()).output().await;
    assert_eq!(output.code, 8, "{}", output.stdout);
    assert!(
        output.elapsed >= Duration::from_millis(550),
        "the retry budget is time: gave up after {:?}",
        output.elapsed
    );
}

#[tokio::test]
async fn wait_timeout_bounds_a_slow_binary_output_download() {
    let storage = RawServer::start(vec![(
        "/slow",
        RawResponse {
            status: 200,
            headers: vec![],
            body: RawBody::Trickle {
                total: 10_000,
                every: Duration::from_millis(20),
            },
        },
    )])
    .await;
    let server = MockServer::start().await;
    let mut done = complete(json!([]));
    done["binaryOutputUri"] = json!(format!("{}/slow", storage.url));
    on_create().respond_with(ok_json(done)).mount(&server).await;
    on_logs()
        .respond_with(ok_json(logs_page(&[], "")))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.bin");
    // What the path held before the run: an abandoned download must not destroy it.
    std::fs::write(&out, b"the last run's output").unwrap();
    let output = Run::new(&server.uri())
        .env("INPUT_BINARY_OUTPUT", out.to_str().unwrap())
        .env("INPUT_WAIT_TIMEOUT", "2s")
        .output()
        .await;
    assert_eq!(output.code, 9, "{}", output.stdout);
    assert!(
        output
            .stdout
            .contains("still downloading when wait-timeout"),
        "{}",
        output.stdout
    );
    assert!(
        output.elapsed < Duration::from_secs(30),
        "{:?}",
        output.elapsed
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        b"the last run's output",
        "the old file is left as it was"
    );
    assert_eq!(
        file_names(dir.path()),
        ["out.bin"],
        "no partial file is left"
    );
}

/// Every name in a folder, sorted.
fn file_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_broken_binary_output_download_leaves_the_old_file() {
    // Ten bytes of a promised hundred, then the connection closes: every attempt breaks off.
    let storage = RawServer::start(vec![(
        "/broken",
        RawResponse {
            status: 200,
            headers: vec![("content-length".into(), "100".into())],
            body: RawBody::Trickle {
                total: 10,
                every: Duration::from_millis(1),
            },
        },
    )])
    .await;
    let server = MockServer::start().await;
    let mut done = complete(json!([]));
    done["binaryOutputUri"] = json!(format!("{}/broken", storage.url));
    on_create().respond_with(ok_json(done)).mount(&server).await;
    on_logs()
        .respond_with(ok_json(logs_page(&[], "")))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.bin");
    std::fs::write(&out, b"the last run's output").unwrap();
    let output = Run::new(&server.uri())
        .env("INPUT_BINARY_OUTPUT", out.to_str().unwrap())
        .output()
        .await;
    assert_eq!(output.code, 8, "{}", output.stdout);
    assert!(storage.requests() > 1, "the download was retried");
    assert_eq!(std::fs::read(&out).unwrap(), b"the last run's output");
    assert_eq!(
        file_names(dir.path()),
        ["out.bin"],
        "no partial file is left"
    );
}

#[tokio::test]
async fn an_unwritable_binary_output_is_refused_before_anything_is_sent() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "x").unwrap();
    let output = Run::new(&server.uri())
        .env(
            "INPUT_BINARY_OUTPUT",
            blocker.join("out.bin").to_str().unwrap(),
        )
        .output()
        .await;
    assert_eq!(output.code, 2, "{}", output.stderr);
    assert!(
        output
            .stderr
            .contains(&luau_exec::text::input_name("binary-output", false)),
        "{}",
        output.stderr
    );
    assert_eq!(received(&server).await, 0);
}

/// A server that sends the key back everywhere it can: in a task error, in results, in log
/// lines, in an error body, JSON-escaped and plain.
async fn echoing_server() -> MockServer {
    let escaped: String = KEY
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    let server = MockServer::start().await;
    on_create()
        .respond_with(ok_json(task("PROCESSING")))
        .mount(&server)
        .await;
    on_get()
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_string(format!("upstream said {escaped} and {KEY}")),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let mut done = failed("SCRIPT_ERROR", &format!("TaskScript:1: key {KEY}"));
    done["output"] = Value::Null;
    on_get()
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            done.to_string().replace(KEY, &escaped).into_bytes(),
            "application/json",
        ))
        .mount(&server)
        .await;
    on_logs()
        .respond_with(ok_json(logs_page(
            &[
                ("OUTPUT", &format!("printed {KEY}")),
                ("ERROR", &format!("oops {KEY}")),
            ],
            "",
        )))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_server_that_echoes_the_key_never_gets_it_printed() {
    for format in ["github", "plain", "json"] {
        let server = echoing_server().await;
        let dir = tempfile::tempdir().unwrap();
        let outputs = dir.path().join("outputs");
        let summary = dir.path().join("summary");
        // `output()` checks stdout and stderr in every spelling.
        let output = Run::new(&server.uri())
            .env("INPUT_OUTPUT_FORMAT", format)
            .env("GITHUB_ACTIONS", "true")
            .env("RUNNER_DEBUG", "1")
            .env("GITHUB_OUTPUT", outputs.to_str().unwrap())
            .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())
            .output()
            .await;
        assert_eq!(output.code, 1, "{format}: {}", output.stdout);
        assert!(
            output.stdout.contains("(redacted)"),
            "{format}: {}",
            output.stdout
        );
        if format == "github" {
            assert_no_key(&std::fs::read_to_string(&outputs).unwrap(), "GITHUB_OUTPUT");
            assert_no_key(&std::fs::read_to_string(&summary).unwrap(), "the summary");
        }
    }
    // A rejection whose body echoes the key.
    let server = MockServer::start().await;
    on_create()
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({ "errors": [{ "code": 0, "message": format!("Invalid API Key {KEY}") }] }),
        ))
        .mount(&server)
        .await;
    let output = Run::new(&server.uri()).output().await;
    assert_eq!(output.code, 7, "{}", output.stdout);
    assert!(
        output.stdout.contains("Invalid API Key (redacted)"),
        "{}",
        output.stdout
    );
}

/// The key echoed inside data that is parsed — the task path, the results envelope — is read
/// as it came (the path used to be scrubbed before it was checked, so the run failed, exit 8),
/// and is still never printed or written: a test message that reports cut short is scrubbed
/// before the cut.
#[tokio::test]
async fn a_key_echoed_in_parsed_data_is_read_as_sent_and_never_shown() {
    let path = format!("universes/1/places/2/versions/3/luau-execution-sessions/{KEY}/tasks/{KEY}");
    // The key starts just before each report's cut: the summary's 200 characters, JUnit's
    // 300, an annotation's 4,096 less its marker.
    let mut tests: Vec<Value> = [190, 290, 4055]
        .iter()
        .map(|before| {
            json!({ "path": ["Tests", format!("cut at {before}")], "status": "failed",
                    "message": format!("{}{KEY}", "y".repeat(*before)) })
        })
        .collect();
    tests.push(json!({ "path": ["Tests", KEY], "status": "passed" }));
    let envelope =
        json!({ "kind": "luau-exec/test-results@1", "framework": "testez", "tests": tests });
    let server = MockServer::start().await;
    let mut created = task("PROCESSING");
    created["path"] = json!(path);
    on_create()
        .respond_with(ok_json(created))
        .mount(&server)
        .await;
    let mut done = complete(json!([envelope]));
    done["path"] = json!(path);
    Mock::given(method("GET"))
        .and(wiremock::matchers::path(format!("/cloud/v2/{path}")))
        .respond_with(ok_json(done))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(wiremock::matchers::path(format!("/cloud/v2/{path}/logs")))
        .respond_with(ok_json(logs_page(&[], "")))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let outputs = dir.path().join("outputs");
    let summary = dir.path().join("summary");
    let output = Run::new(&server.uri())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", outputs.to_str().unwrap())
        .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())
        .env("INPUT_JUNIT_PATH", junit.to_str().unwrap())
        .output()
        .await;
    assert_eq!(output.code, 10, "{}\n{}", output.stdout, output.stderr);
    assert!(output.stdout.contains("(redacted)"), "{}", output.stdout);
    for (file, place) in [
        (&junit, "JUnit"),
        (&outputs, "GITHUB_OUTPUT"),
        (&summary, "the summary"),
    ] {
        let text = std::fs::read_to_string(file).unwrap();
        assert_no_key(&text, place);
        // Not even the first characters, as a cut after the key's start would leave them.
        assert!(!text.contains(&KEY[..8]), "a piece of the key in {place}");
    }
    // Past the `::add-mask::` line, the one place the key is meant to be.
    let shown: Vec<&str> = output.stdout.lines().skip(1).collect();
    assert!(!shown.join("\n").contains(&KEY[..8]), "{}", output.stdout);
}
