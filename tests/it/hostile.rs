//! Servers that lie: redirects, huge and endless bodies, bad UTF-8, token cycles,
//! `retry-after: 0`, slow downloads and a server that echoes the key. The run must end with
//! an honest exit code, bounded memory and no key in any output.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::support::{
    CREATE_PATH, FakeCloud, KEY, Outcome, RawBody, RawResponse, RawServer, Run, TASK_PATH,
    assert_no_key, complete, failed, logs_page, ok_json, on_create, on_get, on_logs,
    parse_output_file, task,
};

#[tokio::test]
async fn a_request_with_the_key_never_follows_a_redirect() {
    let elsewhere = FakeCloud::start().await;
    elsewhere
        .mount(Mock::given(method("POST")).respond_with(ok_json(task("PROCESSING"))))
        .await;
    for status in [301, 302, 307, 308] {
        let cloud = FakeCloud::start().await;
        cloud
            .mount(
                on_create()
                    .respond_with(
                        ResponseTemplate::new(status)
                            .insert_header("location", format!("{}{CREATE_PATH}", elsewhere.uri())),
                    )
                    .expect(1),
            )
            .await;
        cloud
            .run()
            .expect()
            .await
            .case(status)
            .code(Outcome::Rejected)
            .stdout_has("never follows a redirect");
    }
    // The key went to no other origin.
    elsewhere.assert_untouched().await;

    // A poll redirected elsewhere is refused the same way.
    let cloud = FakeCloud::task().through(&["PROCESSING"]).start().await;
    cloud
        .mount_first(on_get().respond_with(
            ResponseTemplate::new(302).insert_header("location", elsewhere.uri().as_str()),
        ))
        .await;
    cloud.run().expect().await.code(Outcome::Rejected);
    elsewhere.assert_untouched().await;
}

/// A task that completed with a binary output at `uri`.
fn with_binary_output(uri: &str) -> Value {
    let mut done = complete(json!([]));
    done["binaryOutputUri"] = json!(uri);
    done
}

#[tokio::test]
async fn presigned_downloads_follow_redirects_without_the_key() {
    let storage = FakeCloud::start().await;
    storage
        .mount(
            Mock::given(method("GET"))
                .and(path("/real"))
                .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![7u8, 8, 9])),
        )
        .await;
    storage
        .mount(Mock::given(method("GET")).and(path("/moved")).respond_with(
            ResponseTemplate::new(307).insert_header("location", format!("{}/real", storage.uri())),
        ))
        .await;
    let cloud = FakeCloud::task()
        .ends(with_binary_output(&format!("{}/moved", storage.uri())))
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.bin");
    cloud
        .run()
        .env("INPUT_BINARY_OUTPUT", out.to_str().unwrap())
        .expect()
        .await
        .code(Outcome::Complete);
    assert_eq!(std::fs::read(&out).unwrap(), vec![7, 8, 9]);
    for request in storage.received().await {
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
    Run::new(&server.url)
        .expect()
        .await
        .code(Outcome::Unavailable)
        .stdout_has("larger than the 16.0 MiB it may be");
    assert_eq!(server.requests(), 1, "a create is never repeated");

    // An endless poll answer is cut off and not asked for again.
    let server = RawServer::start(vec![
        (CREATE_PATH, RawResponse::json(200, &task("PROCESSING"))),
        ("/cloud/v2/universes/", endless),
    ])
    .await;
    Run::new(&server.url)
        .expect()
        .await
        .code(Outcome::Unavailable)
        .stdout_has("larger than the 16.0 MiB it may be");
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
    Run::new(&server.url)
        .expect()
        .await
        .code(Outcome::Rejected)
        .stdout_has("bad request bad request");
}

#[tokio::test]
async fn bad_utf8_and_lone_surrogates_lose_nothing() {
    // The poll and the logs answer raw bytes, mounted by hand.
    let cloud = FakeCloud::task()
        .through(&["PROCESSING"])
        .never_ends()
        .no_logs()
        .start()
        .await;
    let failed_task = format!(
        r#"{{"path":"{TASK_PATH}","state":"FAILED","error":{{"code":"SCRIPT_ERROR","message":"TaskScript:1: bad \ud800 text"}}}}"#
    );
    cloud
        .mount_first(on_get().respond_with(
            ResponseTemplate::new(200).set_body_raw(failed_task.into_bytes(), "application/json"),
        ))
        .await;
    let mut logs = format!(
        r#"{{"luauExecutionSessionTaskLogs":[{{"path":"{TASK_PATH}/logs/1","structuredMessages":[{{"message":"before \udc00 x","messageType":"OUTPUT"}},{{"message":"bytes "#
    )
    .into_bytes();
    logs.extend_from_slice(b"\xff\xfe");
    logs.extend_from_slice(br#" here","messageType":"OUTPUT"},{"message":"after","messageType":"WARNING"}]}],"nextPageToken":""}"#);
    cloud
        .mount(
            on_logs()
                .respond_with(ResponseTemplate::new(200).set_body_raw(logs, "application/json"))
                .expect(1),
        )
        .await;
    // The task's own outcome.
    cloud
        .run()
        .expect()
        .await
        .code(Outcome::ScriptError)
        .stdout_has("Error: TaskScript:1: bad \u{fffd} text")
        .stdout_has("before \u{fffd} x")
        .stdout_has("bytes \u{fffd}\u{fffd} here")
        .stdout_has("after");
}

#[tokio::test]
async fn a_page_token_cycle_is_detected_and_reported() {
    let cloud = FakeCloud::task().no_logs().start().await;
    // Page 1 → A, A → B, B → A: a cycle.
    for (token, message, next) in [("A", "second", "B"), ("B", "third", "A")] {
        cloud
            .mount(
                on_logs()
                    .and(query_param("pageToken", token))
                    .respond_with(ok_json(logs_page(&[("OUTPUT", message)], next))),
            )
            .await;
    }
    cloud
        .mount(on_logs().respond_with(ok_json(logs_page(&[("OUTPUT", "first")], "A"))))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("out");
    cloud
        .run()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", outputs.to_str().unwrap())
        .expect()
        .await
        .code(Outcome::Complete)
        .stdout_count("[OUTPUT]  first\n", 1)
        .stdout_count("[OUTPUT]  second\n", 1)
        .stdout_count("[OUTPUT]  third\n", 1)
        .stdout_has("::warning title=Logs cut::")
        .stdout_has("cycle");
    let pairs = parse_output_file(&std::fs::read_to_string(outputs).unwrap());
    assert!(pairs.contains(&("logs-truncated".to_owned(), "true".to_owned())));
    assert!(cloud.received().await.len() <= 5);
}

#[tokio::test]
async fn retry_after_zero_does_not_burn_the_budget_at_once() {
    let cloud = FakeCloud::task().through(&["PROCESSING"]).start().await;
    cloud
        .mount_first(
            on_get().respond_with(ResponseTemplate::new(503).insert_header("retry-after", "0")),
        )
        .await;
    // The test clock runs at 1/100: the one-minute budget is 0.6 s, and the budget is time.
    cloud
        .run()
        .expect()
        .await
        .code(Outcome::Unavailable)
        .took_at_least(Duration::from_millis(550));
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
    let cloud = FakeCloud::task()
        .ends(with_binary_output(&format!("{}/slow", storage.url)))
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.bin");
    // What the path held before the run: an abandoned download must not destroy it.
    std::fs::write(&out, b"the last run's output").unwrap();
    cloud
        .run()
        .env("INPUT_BINARY_OUTPUT", out.to_str().unwrap())
        .env("INPUT_WAIT_TIMEOUT", "2s")
        .expect()
        .await
        .code(Outcome::WaitTimeout)
        .stdout_has("still downloading when wait-timeout")
        .took_less_than(Duration::from_secs(30));
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
    let cloud = FakeCloud::task()
        .ends(with_binary_output(&format!("{}/broken", storage.url)))
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.bin");
    std::fs::write(&out, b"the last run's output").unwrap();
    cloud
        .run()
        .env("INPUT_BINARY_OUTPUT", out.to_str().unwrap())
        .expect()
        .await
        .code(Outcome::Unavailable);
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
    let cloud = FakeCloud::start().await;
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "x").unwrap();
    cloud
        .run()
        .env(
            "INPUT_BINARY_OUTPUT",
            blocker.join("out.bin").to_str().unwrap(),
        )
        .expect()
        .await
        .code(Outcome::BadInput)
        .names_input("binary-output");
    cloud.assert_untouched().await;
}

/// A server that sends the key back everywhere it can: in a task error, in results, in log
/// lines, in an error body, JSON-escaped and plain.
async fn echoing_server() -> FakeCloud {
    let escaped: String = KEY
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    // The polls answer raw bytes, mounted by hand ahead of the story's.
    let cloud = FakeCloud::task()
        .through(&["PROCESSING"])
        .never_ends()
        .logs(&[
            ("OUTPUT", &format!("printed {KEY}")),
            ("ERROR", &format!("oops {KEY}")),
        ])
        .start()
        .await;
    cloud
        .mount_first(
            on_get()
                .respond_with(
                    ResponseTemplate::new(503)
                        .set_body_string(format!("upstream said {escaped} and {KEY}")),
                )
                .up_to_n_times(1),
        )
        .await;
    let mut done = failed("SCRIPT_ERROR", &format!("TaskScript:1: key {KEY}"));
    done["output"] = Value::Null;
    cloud
        .mount_first(
            on_get().respond_with(ResponseTemplate::new(200).set_body_raw(
                done.to_string().replace(KEY, &escaped).into_bytes(),
                "application/json",
            )),
        )
        .await;
    cloud
}

#[tokio::test]
async fn a_server_that_echoes_the_key_never_gets_it_printed() {
    for format in ["github", "plain", "json"] {
        let cloud = echoing_server().await;
        let dir = tempfile::tempdir().unwrap();
        let outputs = dir.path().join("outputs");
        let summary = dir.path().join("summary");
        // Every run checks stdout and stderr in every spelling.
        cloud
            .run()
            .env("INPUT_OUTPUT_FORMAT", format)
            .env("GITHUB_ACTIONS", "true")
            .env("RUNNER_DEBUG", "1")
            .env("GITHUB_OUTPUT", outputs.to_str().unwrap())
            .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())
            .expect()
            .await
            .case(format)
            .code(Outcome::ScriptError)
            .stdout_has("(redacted)");
        if format == "github" {
            assert_no_key(&std::fs::read_to_string(&outputs).unwrap(), "GITHUB_OUTPUT");
            assert_no_key(&std::fs::read_to_string(&summary).unwrap(), "the summary");
        }
    }
    // A rejection whose body echoes the key.
    let cloud = FakeCloud::start().await;
    cloud
        .mount(
            on_create().respond_with(ResponseTemplate::new(401).set_body_json(
                json!({ "errors": [{ "code": 0, "message": format!("Invalid API Key {KEY}") }] }),
            )),
        )
        .await;
    cloud
        .run()
        .expect()
        .await
        .code(Outcome::Rejected)
        .stdout_has("Invalid API Key (redacted)");
}

/// The key echoed inside data that is parsed — the task path, the results envelope — is read
/// as it came (the path used to be scrubbed before it was checked, so the run failed, exit 8),
/// and is still never printed or written: a test message that reports cut short is scrubbed
/// before the cut.
#[tokio::test]
async fn a_key_echoed_in_parsed_data_is_read_as_sent_and_never_shown() {
    let task_path =
        format!("universes/1/places/2/versions/3/luau-execution-sessions/{KEY}/tasks/{KEY}");
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
    // The task lives at a path of its own, so its routes are mounted by hand.
    let cloud = FakeCloud::start().await;
    let mut created = task("PROCESSING");
    created["path"] = json!(task_path);
    cloud
        .mount(on_create().respond_with(ok_json(created)))
        .await;
    let mut done = complete(json!([envelope]));
    done["path"] = json!(task_path);
    cloud
        .mount(
            Mock::given(method("GET"))
                .and(path(format!("/cloud/v2/{task_path}")))
                .respond_with(ok_json(done)),
        )
        .await;
    cloud
        .mount(
            Mock::given(method("GET"))
                .and(path(format!("/cloud/v2/{task_path}/logs")))
                .respond_with(ok_json(logs_page(&[], ""))),
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let outputs = dir.path().join("outputs");
    let summary = dir.path().join("summary");
    let ran = cloud
        .run()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", outputs.to_str().unwrap())
        .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())
        .env("INPUT_JUNIT_PATH", junit.to_str().unwrap())
        .expect()
        .await;
    ran.code(Outcome::TestsFailed).stdout_has("(redacted)");
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
    let shown: Vec<&str> = ran.stdout.lines().skip(1).collect();
    ran.holds(
        !shown.join("\n").contains(&KEY[..8]),
        "no piece of the key past the add-mask line",
    );
}
