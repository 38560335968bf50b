//! The runner against a fake Open Cloud (wiremock): states, exit codes, logs, retry rules,
//! timeouts and signals.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    Run, TASK_PATH, complete, failed, logs_page, ok_json, on_create, on_get, on_logs, task,
};

/// A server whose task is created QUEUED and then answers `terminal` on every poll.
async fn server_ending_with(terminal: Value) -> MockServer {
    let server = MockServer::start().await;
    on_create()
        .respond_with(ok_json(task("QUEUED")))
        .expect(1)
        .mount(&server)
        .await;
    on_get()
        .respond_with(ok_json(terminal))
        .mount(&server)
        .await;
    on_logs()
        .respond_with(ok_json(logs_page(&[], "")))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn queued_then_processing_then_complete_with_paged_logs() {
    let server = MockServer::start().await;
    on_create()
        .and(header("x-api-key", crate::support::KEY))
        .and(body_partial_json(
            json!({ "script": "print('hi') return 7" }),
        ))
        .respond_with(ok_json(task("QUEUED")))
        .expect(1)
        .mount(&server)
        .await;
    // Mounted first, matched first: QUEUED once, PROCESSING twice, then COMPLETE.
    on_get()
        .respond_with(ok_json(task("QUEUED")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    on_get()
        .respond_with(ok_json(task("PROCESSING")))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    on_get()
        .respond_with(ok_json(complete(json!([7]))))
        .mount(&server)
        .await;
    on_logs()
        .and(query_param("view", "STRUCTURED"))
        .and(query_param("pageToken", "page-2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(logs_page(&[("WARNING", "third"), ("OUTPUT", "fourth")], "")),
        )
        .expect(1)
        .mount(&server)
        .await;
    on_logs()
        .and(query_param("view", "STRUCTURED"))
        .respond_with(ok_json(logs_page(
            &[("OUTPUT", "first"), ("INFO", "second")],
            "page-2",
        )))
        .expect(1)
        .mount(&server)
        .await;

    let output = Run::new(&server.uri())
        .env("INPUT_SCRIPT", "print('hi') return 7")
        .output()
        .await;
    assert_eq!(output.code, 0, "{}\n{}", output.stdout, output.stderr);
    let states: Vec<&str> = output
        .stdout
        .lines()
        .filter(|l| l.contains("] state: "))
        .collect();
    assert_eq!(states.len(), 3, "{}", output.stdout);
    assert!(
        states[0].ends_with("QUEUED")
            && states[1].ends_with("PROCESSING")
            && states[2].ends_with("COMPLETE")
    );
    // Every message exactly once, in order, with its level.
    let log_lines: Vec<&str> = output
        .stdout
        .lines()
        .filter(|l| l.starts_with('[') && !l.contains("] state"))
        .collect();
    assert_eq!(
        log_lines,
        [
            "[OUTPUT]  first",
            "[INFO]    second",
            "[WARNING] third",
            "[OUTPUT]  fourth"
        ],
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains("Results: [7]"));
    assert!(output.stdout.contains(TASK_PATH));
}

#[tokio::test]
async fn each_task_outcome_has_its_exit_code() {
    let cases = [
        (complete(json!([])), 0),
        (failed("SCRIPT_ERROR", "TaskScript:1: boom"), 1),
        (failed("DEADLINE_EXCEEDED", "too slow"), 3),
        (failed("OUTPUT_SIZE_LIMIT_EXCEEDED", "too big"), 4),
        (failed("INTERNAL_ERROR", "oops"), 5),
        (failed("ERROR_CODE_UNSPECIFIED", ""), 5),
        (failed("A_CODE_FROM_THE_FUTURE", "new"), 5),
        (task("FAILED"), 5),
        (task("CANCELLED"), 6),
    ];
    for (terminal, expected) in cases {
        let code = terminal["error"]["code"].as_str().unwrap_or("").to_owned();
        let server = server_ending_with(terminal).await;
        let output = Run::new(&server.uri()).output().await;
        assert_eq!(output.code, expected, "{code}: {}", output.stdout);
        if !code.is_empty() {
            assert!(
                output.stdout.contains(&code),
                "{code} is printed: {}",
                output.stdout
            );
        }
    }
}

#[tokio::test]
async fn unknown_states_are_polled_not_trusted() {
    let server = MockServer::start().await;
    on_create()
        .respond_with(ok_json(task("STATE_UNSPECIFIED")))
        .mount(&server)
        .await;
    on_get()
        .respond_with(ok_json(task("PAUSED_FOR_TEA")))
        .up_to_n_times(3)
        .mount(&server)
        .await;
    on_get()
        .respond_with(ok_json(complete(json!([1]))))
        .mount(&server)
        .await;
    on_logs()
        .respond_with(ok_json(json!({})))
        .mount(&server)
        .await;
    let output = Run::new(&server.uri()).output().await;
    assert_eq!(output.code, 0, "{}", output.stdout);
    assert!(output.stdout.contains("state: PAUSED_FOR_TEA"));
}

#[tokio::test]
async fn rejections_say_what_they_mean() {
    let cases = [
        (
            400,
            json!({"code": "INVALID_ARGUMENT", "message": "Bad script."}),
            "INVALID_ARGUMENT: Bad script.",
        ),
        (
            401,
            json!({"errors": [{"code": 0, "message": "Invalid API Key"}]}),
            "API key was not accepted",
        ),
        (
            403,
            json!({"code": "PERMISSION_DENIED", "message": "no"}),
            "universe.place.luau-execution-session:write",
        ),
        (
            404,
            json!({"code": "NOT_FOUND", "message": "no"}),
            "universe 1, place 2 was not found",
        ),
        (
            409,
            json!({"code": "ABORTED", "message": "conflict"}),
            "ABORTED: conflict",
        ),
    ];
    for (status, body, expected) in cases {
        let server = MockServer::start().await;
        on_create()
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
        let output = Run::new(&server.uri()).output().await;
        assert_eq!(output.code, 7, "{status}: {}", output.stdout);
        assert!(
            output.stdout.contains(expected),
            "{status}: {}",
            output.stdout
        );
    }
}

#[tokio::test]
async fn a_create_answered_500_is_sent_once() {
    let server = MockServer::start().await;
    on_create()
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream exploded"))
        .expect(1)
        .mount(&server)
        .await;
    let output = Run::new(&server.uri()).output().await;
    assert_eq!(output.code, 8, "{}", output.stdout);
    assert!(
        output.stdout.contains("never starts two tasks"),
        "{}",
        output.stdout
    );
}

#[tokio::test]
async fn a_create_with_an_unreadable_answer_is_not_retried() {
    let server = MockServer::start().await;
    on_create()
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"path\":\"univ"))
        .expect(1)
        .mount(&server)
        .await;
    let output = Run::new(&server.uri()).output().await;
    assert_eq!(output.code, 8, "{}", output.stdout);
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let server = MockServer::start().await;
    on_create()
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"code": "RESOURCE_EXHAUSTED", "message": "slow down"})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    // Then the create goes through.
    on_create()
        .respond_with(ok_json(task("QUEUED")))
        .expect(1)
        .mount(&server)
        .await;
    on_get()
        .respond_with(ok_json(complete(json!([]))))
        .mount(&server)
        .await;
    on_logs()
        .respond_with(ok_json(logs_page(&[], "")))
        .mount(&server)
        .await;
    let output = Run::new(&server.uri()).output().await;
    assert_eq!(output.code, 0, "{}", output.stdout);
    // retry-after is honoured as given, never scaled down.
    assert!(
        output.elapsed >= Duration::from_secs(1),
        "waited {:?}",
        output.elapsed
    );
}

#[tokio::test]
async fn polls_retry_5xx_and_truncated_bodies() {
    let server = MockServer::start().await;
    on_create()
        .respond_with(ok_json(task("PROCESSING")))
        .mount(&server)
        .await;
    on_get()
        .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    on_get()
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"path\":\"universes/1/pl"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    on_get()
        .respond_with(ok_json(complete(json!(["ok"]))))
        .mount(&server)
        .await;
    on_logs()
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    on_logs()
        .respond_with(ok_json(logs_page(&[("OUTPUT", "done")], "")))
        .mount(&server)
        .await;
    let output = Run::new(&server.uri()).output().await;
    assert_eq!(output.code, 0, "{}", output.stdout);
    assert_eq!(output.stdout.matches("[OUTPUT]  done").count(), 1);
}

#[tokio::test]
async fn polls_give_up_after_the_retry_budget() {
    let server = MockServer::start().await;
    on_create()
        .respond_with(ok_json(task("PROCESSING")))
        .mount(&server)
        .await;
    on_get()
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(json!({"code": "UNAVAILABLE", "message": "down"})),
        )
        .mount(&server)
        .await;
    let output = Run::new(&server.uri()).output().await;
    assert_eq!(output.code, 8, "{}", output.stdout);
    assert!(output.stdout.contains("gave up after"), "{}", output.stdout);
    assert!(
        output.stdout.contains("UNAVAILABLE: down"),
        "{}",
        output.stdout
    );
}

#[tokio::test]
async fn other_4xx_on_poll_are_not_retried() {
    let server = MockServer::start().await;
    on_create()
        .respond_with(ok_json(task("PROCESSING")))
        .mount(&server)
        .await;
    on_get()
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"code": "PERMISSION_DENIED", "message": "no read"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let output = Run::new(&server.uri()).output().await;
    assert_eq!(output.code, 7, "{}", output.stdout);
}

#[tokio::test]
async fn an_unreachable_server_is_exit_8() {
    // Bind and drop a listener: nothing listens on that port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = Run::new(&format!("http://127.0.0.1:{port}")).output().await;
    assert_eq!(output.code, 8, "{}", output.stdout);
}

#[tokio::test]
async fn the_wait_timeout_names_the_task() {
    let server = MockServer::start().await;
    on_create()
        .respond_with(ok_json(task("QUEUED")))
        .mount(&server)
        .await;
    on_get()
        .respond_with(ok_json(task("PROCESSING")))
        .mount(&server)
        .await;
    let output = Run::new(&server.uri())
        .env("INPUT_WAIT_TIMEOUT", "1s")
        .output()
        .await;
    assert_eq!(output.code, 9, "{}", output.stdout);
    assert!(output.stdout.contains(TASK_PATH), "{}", output.stdout);
    assert!(output.elapsed < Duration::from_secs(10));
}

#[tokio::test]
async fn the_version_and_timeout_are_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            "/cloud/v2/universes/1/places/2/versions/42/luau-execution-session-tasks",
        ))
        .and(body_partial_json(json!({ "timeout": "90s" })))
        .respond_with(ok_json(complete(json!([]))))
        .expect(1)
        .mount(&server)
        .await;
    on_logs()
        .respond_with(ok_json(logs_page(&[], "")))
        .mount(&server)
        .await;
    let output = Run::new(&server.uri())
        .env("INPUT_PLACE_VERSION", "42")
        .env("INPUT_TIMEOUT", "1m30s")
        .output()
        .await;
    assert_eq!(output.code, 0, "{}", output.stdout);
}

#[tokio::test]
async fn unreadable_logs_do_not_hide_the_outcome() {
    let server = MockServer::start().await;
    on_create()
        .respond_with(ok_json(failed("SCRIPT_ERROR", "TaskScript:3: nope")))
        .mount(&server)
        .await;
    on_logs()
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"code": "NOT_FOUND", "message": "gone"})),
        )
        .mount(&server)
        .await;
    let output = Run::new(&server.uri()).output().await;
    assert_eq!(output.code, 1, "{}", output.stdout);
    assert!(
        output.stdout.contains("logs could not be read"),
        "{}",
        output.stdout
    );
}

/// Sends `signal` to a running child once `ready` says so; returns its exit code and stdout.
pub async fn interrupt_when(
    run: &Run,
    signal: &str,
    mut ready: impl AsyncFnMut() -> bool,
) -> (i32, String) {
    let child = run.command().spawn().expect("spawn");
    let pid = child.id().expect("pid").to_string();
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if ready().await {
            break;
        }
    }
    // Let the run settle into the step.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let status = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = tokio::time::timeout(Duration::from_secs(5), child.wait_with_output())
        .await
        .expect("stops at once")
        .expect("output");
    let checked = crate::support::Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: Duration::ZERO,
    };
    crate::support::assert_key_hidden(&checked);
    (checked.code, checked.stdout)
}

async fn requests(server: &MockServer, verb: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == verb)
        .count()
}

async fn interrupted_by(signal: &str, expected: i32) {
    let server = MockServer::start().await;
    on_create()
        .respond_with(ok_json(task("PROCESSING")))
        .mount(&server)
        .await;
    on_get()
        .respond_with(ok_json(task("PROCESSING")))
        .mount(&server)
        .await;
    let run = Run::new(&server.uri());
    let (code, stdout) =
        interrupt_when(&run, signal, async || requests(&server, "GET").await > 0).await;
    assert_eq!(code, expected, "{stdout}");
    assert!(stdout.contains(TASK_PATH), "{stdout}");
    assert!(stdout.contains("it may still run on Roblox"), "{stdout}");
}

#[tokio::test]
async fn sigterm_stops_at_once_and_names_the_task() {
    interrupted_by("-TERM", 143).await;
}

#[tokio::test]
async fn sigint_stops_at_once_and_names_the_task() {
    interrupted_by("-INT", 130).await;
}

#[tokio::test]
async fn an_interrupted_run_reports_how_long_it_ran() {
    let server = MockServer::start().await;
    on_create()
        .respond_with(ok_json(task("PROCESSING")))
        .mount(&server)
        .await;
    on_get()
        .respond_with(ok_json(task("PROCESSING")))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("outputs");
    let mut run = Run::new(&server.uri());
    run.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", outputs.to_str().unwrap());
    let (code, stdout) =
        interrupt_when(&run, "-TERM", async || requests(&server, "GET").await > 2).await;
    assert_eq!(code, 143, "{stdout}");
    assert!(!stdout.contains("after 0ms"), "{stdout}");
    let pairs = crate::support::parse_output_file(&std::fs::read_to_string(outputs).unwrap());
    let duration: f64 = pairs
        .iter()
        .find(|(name, _)| name == "duration")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    assert!(duration > 0.0, "{pairs:?}");
    assert!(
        pairs.contains(&("state".to_owned(), "PROCESSING".to_owned())),
        "{pairs:?}"
    );
}

#[tokio::test]
async fn a_signal_during_the_create_says_the_task_may_exist() {
    let server = MockServer::start().await;
    on_create()
        .respond_with(ok_json(task("PROCESSING")).set_delay(Duration::from_secs(20)))
        .mount(&server)
        .await;
    let (code, stdout) = interrupt_when(&Run::new(&server.uri()), "-INT", async || {
        requests(&server, "POST").await > 0
    })
    .await;
    assert_eq!(code, 130, "{stdout}");
    assert!(
        stdout.contains("while the task was being created"),
        "{stdout}"
    );
    assert!(!stdout.contains("before a task was created"), "{stdout}");
}

#[tokio::test]
async fn one_log_message_is_one_message() {
    let server = server_ending_with(complete(json!([]))).await;
    server.reset().await;
    on_create()
        .respond_with(ok_json(complete(json!([]))))
        .mount(&server)
        .await;
    on_logs()
        .respond_with(ok_json(logs_page(&[("OUTPUT", "only")], "")))
        .mount(&server)
        .await;
    let output = Run::new(&server.uri()).output().await;
    assert_eq!(output.code, 0, "{}", output.stdout);
    assert!(
        output.stdout.contains("--- logs (1 message) ---"),
        "{}",
        output.stdout
    );
}

#[tokio::test]
async fn json_output_is_one_object_per_line() {
    let server = MockServer::start().await;
    on_create()
        .respond_with(ok_json(complete(json!([1, "two"]))))
        .mount(&server)
        .await;
    on_logs()
        .respond_with(ok_json(logs_page(&[("OUTPUT", "a ##[error] b")], "")))
        .mount(&server)
        .await;
    let output = Run::new(&server.uri())
        .env("INPUT_OUTPUT_FORMAT", "json")
        .output()
        .await;
    assert_eq!(output.code, 0);
    let values: Vec<Value> = output
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let log = values
        .iter()
        .find(|v| v["event"] == "log")
        .expect("a log event");
    assert_eq!(log["message"], "a ##[error] b");
    assert!(!output.stdout.contains("##["));
    let result = values.last().unwrap();
    assert_eq!(result["event"], "result");
    assert_eq!(result["exitCode"], 0);
    assert_eq!(result["results"], json!([1, "two"]));
}

#[tokio::test]
async fn debug_logging_never_shows_the_key() {
    let server = MockServer::start().await;
    on_create()
        .respond_with(ok_json(task("PROCESSING")))
        .mount(&server)
        .await;
    on_get()
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    on_get()
        .respond_with(ok_json(complete(json!([]))))
        .mount(&server)
        .await;
    on_logs()
        .respond_with(ok_json(logs_page(&[], "")))
        .mount(&server)
        .await;
    // `output()` checks stdout and stderr for the key.
    let output = Run::new(&server.uri())
        .env("RUNNER_DEBUG", "1")
        .output()
        .await;
    assert_eq!(output.code, 0, "{}", output.stdout);
    assert!(
        output.stderr.contains("retrying"),
        "debug lines are on: {}",
        output.stderr
    );
}
