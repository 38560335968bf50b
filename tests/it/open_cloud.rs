//! The runner against a fake Open Cloud: states, exit codes, logs, retry rules, timeouts and
//! signals.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::{
    FakeCloud, KEY, Outcome, Run, Signal, TASK_PATH, complete, failed, logs_page, ok_json,
    on_create, on_get, on_logs, parse_output_file, task,
};

#[tokio::test]
async fn queued_then_processing_then_complete_with_paged_logs() {
    // QUEUED once more, PROCESSING twice, then COMPLETE; two pages of logs.
    let cloud = FakeCloud::task()
        .through(&["QUEUED", "QUEUED", "PROCESSING", "PROCESSING"])
        .completes(json!([7]))
        .log_pages(&[
            &[("OUTPUT", "first"), ("INFO", "second")],
            &[("WARNING", "third"), ("OUTPUT", "fourth")],
        ])
        .start()
        .await;
    let ran = cloud
        .run()
        .env("INPUT_SCRIPT", "print('hi') return 7")
        .expect()
        .await;
    let states: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|l| l.contains("] state: "))
        .collect();
    // Every message exactly once, in order, with its level.
    let log_lines = ran.log_lines();
    ran.code(Outcome::Complete)
        .holds(
            states.len() == 3
                && states[0].ends_with("QUEUED")
                && states[1].ends_with("PROCESSING")
                && states[2].ends_with("COMPLETE"),
            "three states: QUEUED, PROCESSING, COMPLETE",
        )
        .holds(
            log_lines
                == [
                    "[OUTPUT]  first",
                    "[INFO]    second",
                    "[WARNING] third",
                    "[OUTPUT]  fourth",
                ],
            "the four messages in order",
        )
        .stdout_has("Results: [7]")
        .stdout_has(TASK_PATH);
    let create = &cloud.received_at("luau-execution-session-tasks").await[0];
    assert_eq!(
        create.headers.get("x-api-key").map(|v| v.to_str().ok()),
        Some(Some(KEY))
    );
    let body: Value = serde_json::from_slice(&create.body).expect("a JSON create");
    assert_eq!(body["script"], "print('hi') return 7");
}

#[tokio::test]
async fn each_task_outcome_has_its_exit_code() {
    let cases = [
        (complete(json!([])), Outcome::Complete),
        (
            failed("SCRIPT_ERROR", "TaskScript:1: boom"),
            Outcome::ScriptError,
        ),
        (
            failed("DEADLINE_EXCEEDED", "too slow"),
            Outcome::DeadlineExceeded,
        ),
        (
            failed("OUTPUT_SIZE_LIMIT_EXCEEDED", "too big"),
            Outcome::OutputSizeLimitExceeded,
        ),
        (failed("INTERNAL_ERROR", "oops"), Outcome::TaskFailed),
        (failed("ERROR_CODE_UNSPECIFIED", ""), Outcome::TaskFailed),
        (failed("A_CODE_FROM_THE_FUTURE", "new"), Outcome::TaskFailed),
        (task("FAILED"), Outcome::TaskFailed),
        (task("CANCELLED"), Outcome::Cancelled),
    ];
    for (terminal, expected) in cases {
        let code = terminal["error"]["code"].as_str().unwrap_or("").to_owned();
        let cloud = FakeCloud::task()
            .through(&["QUEUED"])
            .ends(terminal)
            .start()
            .await;
        let ran = cloud.run().expect().await.case(&code);
        ran.code(expected);
        if !code.is_empty() {
            ran.stdout_has(&code);
        }
    }
}

#[tokio::test]
async fn unknown_states_are_polled_not_trusted() {
    let cloud = FakeCloud::task()
        .through(&[
            "STATE_UNSPECIFIED",
            "PAUSED_FOR_TEA",
            "PAUSED_FOR_TEA",
            "PAUSED_FOR_TEA",
        ])
        .completes(json!([1]))
        .no_logs()
        .start()
        .await;
    // An empty object for logs, too.
    cloud
        .mount(on_logs().respond_with(ok_json(json!({}))))
        .await;
    cloud
        .run()
        .expect()
        .await
        .code(Outcome::Complete)
        .stdout_has("state: PAUSED_FOR_TEA");
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
        let cloud = rejecting_creates(ResponseTemplate::new(status).set_body_json(body)).await;
        cloud
            .run()
            .expect()
            .await
            .case(status)
            .code(Outcome::Rejected)
            .stdout_has(expected);
    }
}

/// A cloud whose one create is answered `answer`.
async fn rejecting_creates(answer: ResponseTemplate) -> FakeCloud {
    let cloud = FakeCloud::start().await;
    cloud
        .mount(on_create().respond_with(answer).expect(1))
        .await;
    cloud
}

#[tokio::test]
async fn a_create_answered_500_is_sent_once() {
    let cloud =
        rejecting_creates(ResponseTemplate::new(500).set_body_string("upstream exploded")).await;
    cloud
        .run()
        .expect()
        .await
        .code(Outcome::Unavailable)
        .stdout_has("never starts two tasks");
}

#[tokio::test]
async fn a_create_with_an_unreadable_answer_is_not_retried() {
    let cloud =
        rejecting_creates(ResponseTemplate::new(200).set_body_string("{\"path\":\"univ")).await;
    cloud.run().expect().await.code(Outcome::Unavailable);
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    // A 429 first, then the create goes through.
    let cloud = FakeCloud::task().through(&["QUEUED"]).start().await;
    cloud
        .mount_first(
            on_create()
                .respond_with(
                    ResponseTemplate::new(429)
                        .insert_header("retry-after", "1")
                        .set_body_json(
                            json!({"code": "RESOURCE_EXHAUSTED", "message": "slow down"}),
                        ),
                )
                .up_to_n_times(1)
                .expect(1),
        )
        .await;
    // retry-after is honoured as given, never scaled down.
    cloud
        .run()
        .expect()
        .await
        .code(Outcome::Complete)
        .took_at_least(Duration::from_secs(1));
}

#[tokio::test]
async fn polls_retry_5xx_and_truncated_bodies() {
    let cloud = FakeCloud::task()
        .through(&["PROCESSING"])
        .completes(json!(["ok"]))
        .logs(&[("OUTPUT", "done")])
        .start()
        .await;
    cloud
        .mount_first(
            on_get()
                .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
                .up_to_n_times(2)
                .expect(2),
        )
        .await;
    cloud
        .mount_first(
            on_get()
                .respond_with(
                    ResponseTemplate::new(200).set_body_string("{\"path\":\"universes/1/pl"),
                )
                .up_to_n_times(1)
                .expect(1),
        )
        .await;
    cloud
        .mount_first(
            on_logs()
                .respond_with(ResponseTemplate::new(502))
                .up_to_n_times(1),
        )
        .await;
    cloud
        .run()
        .expect()
        .await
        .code(Outcome::Complete)
        .stdout_count("[OUTPUT]  done", 1);
}

#[tokio::test]
async fn polls_give_up_after_the_retry_budget() {
    let cloud = FakeCloud::task().through(&["PROCESSING"]).start().await;
    cloud
        .mount_first(
            on_get().respond_with(
                ResponseTemplate::new(503)
                    .set_body_json(json!({"code": "UNAVAILABLE", "message": "down"})),
            ),
        )
        .await;
    cloud
        .run()
        .expect()
        .await
        .code(Outcome::Unavailable)
        .stdout_has("gave up after")
        .stdout_has("UNAVAILABLE: down");
}

#[tokio::test]
async fn other_4xx_on_poll_are_not_retried() {
    let cloud = FakeCloud::task().through(&["PROCESSING"]).start().await;
    cloud
        .mount_first(
            on_get()
                .respond_with(
                    ResponseTemplate::new(403)
                        .set_body_json(json!({"code": "PERMISSION_DENIED", "message": "no read"})),
                )
                .expect(1),
        )
        .await;
    cloud.run().expect().await.code(Outcome::Rejected);
}

#[tokio::test]
async fn an_unreachable_server_is_exit_8() {
    // Bind and drop a listener: nothing listens on that port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Run::new(&format!("http://127.0.0.1:{port}"))
        .expect()
        .await
        .code(Outcome::Unavailable);
}

#[tokio::test]
async fn the_wait_timeout_names_the_task() {
    let cloud = FakeCloud::task()
        .through(&["QUEUED", "PROCESSING"])
        .never_ends()
        .start()
        .await;
    cloud
        .run()
        .env("INPUT_WAIT_TIMEOUT", "1s")
        .expect()
        .await
        .code(Outcome::WaitTimeout)
        .stdout_has(TASK_PATH)
        .took_less_than(Duration::from_secs(10));
}

#[tokio::test]
async fn the_version_and_timeout_are_sent() {
    // The task is created on version 42 (there is no upload: no place file).
    let cloud = FakeCloud::start().await;
    cloud
        .mount(
            Mock::given(method("POST"))
                .and(path(
                    "/cloud/v2/universes/1/places/2/versions/42/luau-execution-session-tasks",
                ))
                .and(body_partial_json(json!({ "timeout": "90s" })))
                .respond_with(ok_json(complete(json!([]))))
                .expect(1),
        )
        .await;
    cloud
        .mount(on_logs().respond_with(ok_json(logs_page(&[], ""))))
        .await;
    cloud
        .run()
        .env("INPUT_PLACE_VERSION", "42")
        .env("INPUT_TIMEOUT", "1m30s")
        .expect()
        .await
        .code(Outcome::Complete);
}

#[tokio::test]
async fn unreadable_logs_do_not_hide_the_outcome() {
    let cloud = FakeCloud::task()
        .fails("SCRIPT_ERROR", "TaskScript:3: nope")
        .no_logs()
        .start()
        .await;
    cloud
        .mount(
            on_logs().respond_with(
                ResponseTemplate::new(404)
                    .set_body_json(json!({"code": "NOT_FOUND", "message": "gone"})),
            ),
        )
        .await;
    cloud
        .run()
        .expect()
        .await
        .code(Outcome::ScriptError)
        .stdout_has("logs could not be read");
}

async fn interrupted_by(signal: &str, expected: Signal) {
    let cloud = FakeCloud::task().never_ends().start().await;
    cloud
        .run()
        .interrupted(signal, async || cloud.requests("GET").await > 0)
        .await
        .code(Outcome::Interrupted(expected))
        .stdout_has(TASK_PATH)
        .stdout_has("it may still run on Roblox");
}

#[tokio::test]
async fn sigterm_stops_at_once_and_names_the_task() {
    interrupted_by("-TERM", Signal::Terminate).await;
}

#[tokio::test]
async fn sigint_stops_at_once_and_names_the_task() {
    interrupted_by("-INT", Signal::Interrupt).await;
}

#[tokio::test]
async fn an_interrupted_run_reports_how_long_it_ran() {
    let cloud = FakeCloud::task().never_ends().no_logs().start().await;
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("outputs");
    cloud
        .run()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", outputs.to_str().unwrap())
        .interrupted("-TERM", async || cloud.requests("GET").await > 2)
        .await
        .code(Outcome::Interrupted(Signal::Terminate))
        .stdout_has(" after ")
        .stdout_lacks("after 0ms");
    let pairs = parse_output_file(&std::fs::read_to_string(outputs).unwrap());
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
    let cloud = FakeCloud::start().await;
    cloud
        .mount(
            on_create()
                .respond_with(ok_json(task("PROCESSING")).set_delay(Duration::from_secs(20))),
        )
        .await;
    cloud
        .run()
        .interrupted("-INT", async || cloud.requests("POST").await > 0)
        .await
        .code(Outcome::Interrupted(Signal::Interrupt))
        .stdout_has("while the task was being created")
        .stdout_lacks("before a task was created");
}

#[tokio::test]
async fn one_log_message_is_one_message() {
    let cloud = FakeCloud::task().logs(&[("OUTPUT", "only")]).start().await;
    cloud
        .run()
        .expect()
        .await
        .code(Outcome::Complete)
        .stdout_has("--- logs (1 message) ---");
}

#[tokio::test]
async fn json_output_is_one_object_per_line() {
    let cloud = FakeCloud::task()
        .completes(json!([1, "two"]))
        .logs(&[("OUTPUT", "a ##[error] b")])
        .start()
        .await;
    let ran = cloud
        .run()
        .env("INPUT_OUTPUT_FORMAT", "json")
        .expect()
        .await;
    ran.code(Outcome::Complete).stdout_lacks("##[");
    let values: Vec<Value> = ran
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let log = values
        .iter()
        .find(|v| v["event"] == "log")
        .expect("a log event");
    assert_eq!(log["message"], "a ##[error] b");
    let result = values.last().unwrap();
    assert_eq!(result["event"], "result");
    assert_eq!(result["exitCode"], 0);
    assert_eq!(result["results"], json!([1, "two"]));
}

#[tokio::test]
async fn debug_logging_never_shows_the_key() {
    let cloud = FakeCloud::task().through(&["PROCESSING"]).start().await;
    cloud
        .mount_first(
            on_get()
                .respond_with(ResponseTemplate::new(502))
                .up_to_n_times(2),
        )
        .await;
    // Every run checks stdout and stderr for the key.
    cloud
        .run()
        .env("RUNNER_DEBUG", "1")
        .expect()
        .await
        .code(Outcome::Complete)
        .stderr_has("retrying");
}
