//! The embedded emulator: the standalone server, the local backend end to end, fault injection
//! driving the client's retries, Open Cloud's limits, and conformance to Roblox's schema.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{Outcome, Run, temp_file};

/// A `luau-exec serve` process on a free port; killed on drop.
pub struct Served {
    pub url: String,
    pid: u32,
    _child: tokio::process::Child,
}

async fn serve() -> Served {
    serve_with(&[]).await
}

async fn serve_with(env: &[(&str, &str)]) -> Served {
    serve_with_args(env, &[]).await
}

pub async fn serve_with_args(env: &[(&str, &str)], args: &[&str]) -> Served {
    let mut run = Run::bare();
    for (name, value) in env {
        run.env(name, value);
    }
    let mut command = run.command();
    command
        .arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .args(args);
    let mut child = command.spawn().expect("serve starts");
    let pid = child.id().expect("pid");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("prints its URL")
        .expect("reads")
        .expect("a first line");
    let pattern = regex::Regex::new(r"^http://127\.0\.0\.1:[1-9][0-9]*$").unwrap();
    assert!(pattern.is_match(&url), "first line is the URL: {url}");
    Served {
        url,
        pid,
        _child: child,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Sets the emulator's faults (the route needs a key, like every other).
async fn set_faults(base: &str, faults: Value) {
    let response = client()
        .post(format!("{base}/emulator/faults"))
        .header("x-api-key", "any")
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
}

pub async fn post(url: &str, body: Value) -> (u16, Value) {
    let response = client()
        .post(url)
        .header("x-api-key", "any")
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn get(url: &str) -> (u16, Value) {
    let response = client()
        .get(url)
        .header("x-api-key", "any")
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Creates a task and waits for it to end; returns the task and its path.
async fn run_to_end(base: &str, script: &str) -> Value {
    create_and_wait(base, json!({ "script": script }), 200).await
}

/// Creates a task from `body` and polls it every 50 ms, `polls` times at most, until it ends.
async fn create_and_wait(base: &str, body: Value, polls: usize) -> Value {
    let (status, task) = post(
        &format!("{base}/cloud/v2/universes/5/places/6/luau-execution-session-tasks"),
        body,
    )
    .await;
    assert_eq!(status, 200, "{task}");
    let path = task["path"].as_str().unwrap().to_owned();
    for _ in 0..polls {
        let (_, task) = get(&format!("{base}/cloud/v2/{path}")).await;
        if matches!(
            task["state"].as_str(),
            Some("COMPLETE" | "FAILED" | "CANCELLED")
        ) {
            return task;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the task did not end");
}

#[tokio::test]
async fn serve_runs_the_client_end_to_end() {
    let served = serve().await;
    let output = Run::new(&served.url)
        .env("INPUT_SCRIPT", "print('from serve') return 40 + 2")
        .expect()
        .await;
    output
        .code(Outcome::Complete)
        .stdout_has("[OUTPUT]  from serve")
        .stdout_has("Results: [42]");
}

#[tokio::test]
async fn the_local_backend_runs_the_examples() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let cases = [
        ("hello.luau", Outcome::Complete, "Results: [55,"),
        ("failing.luau", Outcome::ScriptError, "TaskScript:"),
        ("results.luau", Outcome::Complete, "\"passed\":3"),
        (
            "test-results.luau",
            Outcome::TestsFailed,
            "FAIL examples › math › is wrong on purpose — ",
        ),
    ];
    for (file, code, expected) in cases {
        Run::bare()
            .env("INPUT_BACKEND", "local")
            .env("INPUT_SCRIPT_PATH", &format!("{examples}/{file}"))
            .expect()
            .await
            .case(file)
            .code(code)
            .stdout_has(expected);
    }
}

#[tokio::test]
async fn local_outcomes_match_open_clouds_codes() {
    let cases = [
        (
            "while true do end",
            "1s",
            Outcome::DeadlineExceeded,
            "DEADLINE_EXCEEDED",
        ),
        (
            "return string.rep('x', 5 * 1024 * 1024)",
            "30s",
            Outcome::OutputSizeLimitExceeded,
            "OUTPUT_SIZE_LIMIT_EXCEEDED",
        ),
        (
            "local x = RaycastParams.new()",
            "30s",
            Outcome::ScriptError,
            "RaycastParams is not available in the local emulator",
        ),
        ("return (", "30s", Outcome::ScriptError, "SCRIPT_ERROR"),
    ];
    for (script, timeout, code, expected) in cases {
        Run::bare()
            .env("INPUT_BACKEND", "local")
            .env("INPUT_SCRIPT", script)
            .env("INPUT_TIMEOUT", timeout)
            .expect()
            .await
            .case(script)
            .code(code)
            .stdout_has(expected);
    }
}

/// Return values a script controls cannot make serializing them run away: a table that holds
/// itself fails the script at once, and shared tables that double the text at every level stop
/// at Roblox's 4 MB. (Before, both grew until `wait-timeout`, ignoring the task's timeout.)
#[tokio::test]
async fn cyclic_and_exploding_results_end_the_task_promptly() {
    let cases = [
        (
            "local t = {} t.a = t t.b = t return t",
            Outcome::ScriptError,
            "tables cannot be cyclic, and its .a refers back",
        ),
        (
            "local t = {} for i = 1, 60 do t = {a = t, b = t} end return t",
            Outcome::OutputSizeLimitExceeded,
            "OUTPUT_SIZE_LIMIT_EXCEEDED",
        ),
    ];
    for (script, code, expected) in cases {
        Run::bare()
            .env("INPUT_BACKEND", "local")
            .env("INPUT_SCRIPT", script)
            .env("INPUT_TIMEOUT", "20s")
            .expect()
            .await
            .case(script)
            .code(code)
            .stdout_has(expected);
    }
}

#[tokio::test]
async fn injected_faults_drive_the_clients_retries() {
    let served = serve().await;
    set_faults(
        &served.url,
        json!({ "get503": 2, "getTruncated": 1, "logs503": 1 }),
    )
    .await;
    let output = Run::new(&served.url)
        .env("INPUT_SCRIPT", "print('survived')")
        .expect()
        .await;
    output
        .code(Outcome::Complete)
        .stdout_has("[OUTPUT]  survived");
    let (_, stats) = get(&format!("{}/emulator/stats", served.url)).await;
    assert_eq!(stats["creates"], 1);
    assert!(stats["gets"].as_u64().unwrap() >= 4, "{stats}");
    assert!(stats["logGets"].as_u64().unwrap() >= 2, "{stats}");

    // A create answered 500 is sent once.
    set_faults(&served.url, json!({ "create500": 1 })).await;
    let output = Run::new(&served.url).expect().await;
    output.code(Outcome::Unavailable);
    let (_, stats) = get(&format!("{}/emulator/stats", served.url)).await;
    assert_eq!(stats["creates"], 2);

    // Creates answered 429 are retried.
    set_faults(&served.url, json!({ "create429": 2 })).await;
    let output = Run::new(&served.url).expect().await;
    output.code(Outcome::Complete);
    let (_, stats) = get(&format!("{}/emulator/stats", served.url)).await;
    assert_eq!(stats["creates"], 5);
}

#[tokio::test]
async fn the_key_is_required() {
    let served = serve().await;
    let response = client()
        .post(format!(
            "{}/cloud/v2/universes/1/places/1/luau-execution-session-tasks",
            served.url
        ))
        .json(&json!({ "script": "return 1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["message"], "Invalid API Key");
}

#[tokio::test]
async fn a_configured_key_must_match() {
    let served = serve_with(&[("LUAU_EXEC_SERVE_API_KEY", "right-key")]).await;
    let url = format!(
        "{}/cloud/v2/universes/1/places/1/luau-execution-session-tasks",
        served.url
    );
    let (status, _) = post(&url, json!({ "script": "return 1" })).await;
    assert_eq!(status, 401, "the helper sends `any`");
    let response = client()
        .post(&url)
        .header("x-api-key", "right-key")
        .json(&json!({ "script": "return 1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn eleven_unfinished_tasks_on_a_place_get_429() {
    let served = serve().await;
    let url = format!(
        "{}/cloud/v2/universes/1/places/9/luau-execution-session-tasks",
        served.url
    );
    for _ in 0..10 {
        let (status, _) = post(&url, json!({ "script": "task.wait(3)", "timeout": "5s" })).await;
        assert_eq!(status, 200);
    }
    let (status, body) = post(&url, json!({ "script": "return 1" })).await;
    assert_eq!(status, 429);
    assert_eq!(body["code"], "RESOURCE_EXHAUSTED");
    // Another place is not affected.
    let (status, _) = post(
        &format!(
            "{}/cloud/v2/universes/1/places/10/luau-execution-session-tasks",
            served.url
        ),
        json!({ "script": "return 1" }),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn logs_are_one_chunk_that_fills_once_the_task_ends() {
    let served = serve().await;
    let (_, task) = post(
        &format!(
            "{}/cloud/v2/universes/1/places/1/luau-execution-session-tasks",
            served.url
        ),
        json!({ "script": "print('early') task.wait(1)" }),
    )
    .await;
    // Roblox's create already says PROCESSING.
    assert_eq!(task["state"], "PROCESSING", "{task}");
    let path = task["path"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, page) = get(&format!("{}/cloud/v2/{path}/logs", served.url)).await;
    assert_eq!(
        page,
        json!({
            "luauExecutionSessionTaskLogs": [{ "path": format!("{path}/logs/1"), "messages": [] }],
            "nextPageToken": "",
        })
    );
}

#[tokio::test]
async fn logs_keep_a_450kb_window_in_one_page() {
    let served = serve().await;
    let task = run_to_end(
        &served.url,
        "for i = 1, 12000 do print(string.format('line %05d %s', i, string.rep('x', 40))) end",
    )
    .await;
    assert_eq!(task["state"], "COMPLETE");
    let path = task["path"].as_str().unwrap();

    // FLAT, as Roblox's sample clients read it: one call, `[0].messages`.
    let (status, page) = get(&format!("{}/cloud/v2/{path}/logs", served.url)).await;
    assert_eq!(status, 200, "{page}");
    let chunks = page["luauExecutionSessionTaskLogs"].as_array().unwrap();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0]["path"], format!("{path}/logs/1"));
    assert_eq!(page["nextPageToken"], "");
    let messages: Vec<String> = chunks[0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    let bytes: usize = messages.iter().map(|m| m.len() + 47).sum();
    assert!(bytes <= 450_000, "{bytes} bytes kept");
    // 51-byte lines plus Roblox's 47-byte overhead: about 4,590 fit in 450 KB.
    assert!(
        messages.len() > 4500 && messages.len() < 12000,
        "{} kept",
        messages.len()
    );
    assert!(
        messages.last().unwrap().starts_with("line 12000"),
        "the newest are kept"
    );
    assert!(
        !messages[0].starts_with("line 00001"),
        "the oldest are dropped"
    );

    // STRUCTURED: the same messages with levels.
    let (_, page) = get(&format!(
        "{}/cloud/v2/{path}/logs?view=STRUCTURED&maxPageSize=1",
        served.url
    ))
    .await;
    let structured = page["luauExecutionSessionTaskLogs"][0]["structuredMessages"]
        .as_array()
        .unwrap();
    assert_eq!(structured.len(), messages.len());
    assert_eq!(structured[0]["messageType"], "OUTPUT");

    // There is never a next page, so an invented token is refused.
    let (status, _) = get(&format!(
        "{}/cloud/v2/{path}/logs?view=STRUCTURED&pageToken=x",
        served.url
    ))
    .await;
    assert_eq!(status, 400);
}

/// Checks `value` against an OpenAPI schema object: types, enums, arrays, `$ref`s, and no
/// properties the schema does not declare.
fn validate(spec: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return validate(
            spec,
            &spec["components"]["schemas"][name],
            value,
            at,
            problems,
        );
    }
    match schema["type"].as_str() {
        None => {}
        Some("object") => match value.as_object() {
            None => problems.push(format!("{at}: not an object")),
            Some(object) => {
                for (key, item) in object {
                    match schema["properties"].get(key) {
                        Some(property) => {
                            validate(spec, property, item, &format!("{at}.{key}"), problems)
                        }
                        None => problems.push(format!("{at}.{key}: not in the schema")),
                    }
                }
            }
        },
        Some("array") => match value.as_array() {
            None => problems.push(format!("{at}: not an array")),
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    validate(
                        spec,
                        &schema["items"],
                        item,
                        &format!("{at}[{i}]"),
                        problems,
                    );
                }
            }
        },
        Some("string") => match value.as_str() {
            None => problems.push(format!("{at}: not a string")),
            Some(text) => {
                if let Some(allowed) = schema["enum"].as_array()
                    && !allowed.iter().any(|a| a == text)
                {
                    problems.push(format!("{at}: {text} is not in the enum"));
                }
                if schema["format"] == "date-time" && humantime::parse_rfc3339(text).is_err() {
                    problems.push(format!("{at}: {text} is not RFC 3339"));
                }
                if schema["format"] == "duration" && !text.ends_with('s') {
                    problems.push(format!("{at}: {text} is not a duration"));
                }
            }
        },
        Some("integer") if !value.is_i64() && !value.is_u64() => {
            problems.push(format!("{at}: not an integer"))
        }
        Some("boolean") if !value.is_boolean() => problems.push(format!("{at}: not a boolean")),
        Some("integer" | "boolean") => {}
        Some(other) => problems.push(format!("{at}: unhandled schema type {other}")),
    }
}

fn spec() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/spec/opencloud-luau-execution.openapi.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn response_schema(spec: &Value, route: &str, method: &str) -> Value {
    spec["paths"][route][method]["responses"]["200"]["content"]["application/json"]["schema"]
        .clone()
}

#[test]
fn the_vendored_schema_matches_shared() {
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/spec/opencloud-luau-execution.openapi.json"
    );
    if let Ok(text) = std::fs::read_to_string(shared) {
        let ours = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/spec/opencloud-luau-execution.openapi.json"
        ))
        .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            serde_json::from_str::<Value>(&ours).unwrap()
        );
    }
}

#[tokio::test]
async fn every_response_conforms_to_robloxs_schema() {
    let spec = spec();
    let served = serve().await;
    let base = &served.url;
    let mut problems = Vec::new();
    let task_route = "/cloud/v2/universes/{universe_id}/places/{place_id}/versions/{version_id}/luau-execution-sessions/{luau_execution_session_id}/tasks/{task_id}";
    let create_route =
        "/cloud/v2/universes/{universe_id}/places/{place_id}/luau-execution-session-tasks";
    let versioned_route = "/cloud/v2/universes/{universe_id}/places/{place_id}/versions/{version_id}/luau-execution-session-tasks";
    let binary_route =
        "/cloud/v2/universes/{universe_id}/luau-execution-session-task-binary-inputs";

    let (_, created) = post(
        &format!("{base}/cloud/v2/universes/1/places/2/luau-execution-session-tasks"),
        json!({ "script": "print('x') warn('y') return {a = 1}, {1, 2}", "timeout": "10s" }),
    )
    .await;
    validate(
        &spec,
        &response_schema(&spec, create_route, "post"),
        &created,
        "create",
        &mut problems,
    );
    let (_, versioned) = post(
        &format!("{base}/cloud/v2/universes/1/places/2/versions/3/luau-execution-session-tasks"),
        json!({ "script": "error('no')" }),
    )
    .await;
    validate(
        &spec,
        &response_schema(&spec, versioned_route, "post"),
        &versioned,
        "create (versioned)",
        &mut problems,
    );

    for created in [&created, &versioned] {
        let path = created["path"].as_str().unwrap();
        let mut task = Value::Null;
        for _ in 0..100 {
            task = get(&format!("{base}/cloud/v2/{path}")).await.1;
            if task["state"] == "COMPLETE" || task["state"] == "FAILED" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        validate(
            &spec,
            &response_schema(&spec, task_route, "get"),
            &task,
            "get",
            &mut problems,
        );
        let full = get(&format!("{base}/cloud/v2/{path}?view=FULL")).await.1;
        validate(
            &spec,
            &response_schema(&spec, task_route, "get"),
            &full,
            "get FULL",
            &mut problems,
        );
        let logs_route = format!("{task_route}/logs");
        for view in ["FLAT", "STRUCTURED"] {
            let page = get(&format!("{base}/cloud/v2/{path}/logs?view={view}"))
                .await
                .1;
            validate(
                &spec,
                &response_schema(&spec, &logs_route, "get"),
                &page,
                view,
                &mut problems,
            );
        }
    }
    let (_, input) = post(
        &format!("{base}/cloud/v2/universes/1/luau-execution-session-task-binary-inputs"),
        json!({ "size": 3 }),
    )
    .await;
    validate(
        &spec,
        &response_schema(&spec, binary_route, "post"),
        &input,
        "binary input",
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        created["path"]
            .as_str()
            .unwrap()
            .contains("/luau-execution-sessions/")
    );
}

#[tokio::test]
async fn the_local_backend_uploads_places_and_moves_binary_data() {
    let (_dir, place) = temp_file("game.rbxl", &crate::places::place(Vec::new()));
    let (_input_dir, input) = temp_file("input.bin", &[1, 2, 3, 250]);
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("nested/dir/output.bin");
    let output = Run::bare()
        .env("INPUT_BACKEND", "local")
        .env(
            "INPUT_SCRIPT_PATH",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/binary-roundtrip.luau"
            ),
        )
        .env("INPUT_PLACE_FILE", place.to_str().unwrap())
        .env("INPUT_BINARY_INPUT", input.to_str().unwrap())
        .env("INPUT_BINARY_OUTPUT", out.to_str().unwrap())
        .expect()
        .await;
    output.code(Outcome::Complete);
    // Said in the emulator's terms: no Saved version of a Roblox place, no loopback URL.
    output.stdout_has("the local emulator loaded the place (version 2)");
    assert!(
        output.stdout.contains("into the local emulator")
            && !output.stdout.contains("Saved version")
            && !output.stdout.contains("http://127.0.0.1"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("/places/1/versions/2/"),
        "pinned to the upload: {}",
        output.stdout
    );
    assert_eq!(std::fs::read(&out).unwrap(), vec![250, 3, 2, 1]);
    output.stdout_has("Results: [4]");
}

/// A client written the way Roblox's own samples are (place-ci-cd-demo's
/// `luau_execution_task.py`, and its Luau sibling): create with `{"script"}`, poll while the
/// state is exactly `PROCESSING`, then one FLAT logs call read as
/// `luauExecutionSessionTaskLogs[0].messages`. Returns the final task and the messages.
async fn sample_client(base: &str, script: &str) -> (Value, Vec<String>) {
    let (status, mut task) = post(
        &format!("{base}/cloud/v2/universes/3/places/4/luau-execution-session-tasks"),
        json!({ "script": script }),
    )
    .await;
    assert_eq!(status, 200, "{task}");
    let path = task["path"].as_str().unwrap().to_owned();
    while task["state"] == "PROCESSING" {
        tokio::time::sleep(Duration::from_millis(100)).await;
        task = get(&format!("{base}/cloud/v2/{path}")).await.1;
    }
    let (_, logs) = get(&format!("{base}/cloud/v2/{path}/logs")).await;
    let messages = logs["luauExecutionSessionTaskLogs"][0]["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("the sample reads [0].messages: {logs}"))
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    (task, messages)
}

#[tokio::test]
async fn robloxs_sample_client_works_against_serve() {
    let served = serve().await;
    let cases = [
        ("print('hi') return 1 + 2", "COMPLETE", "hi"),
        (
            "print('about to fail')\nerror('boom')",
            "FAILED",
            "about to fail",
        ),
        (
            "task.wait(1.5) print('slept') return true",
            "COMPLETE",
            "slept",
        ),
        (
            "for i = 1, 20000 do print('chatty line ' .. i) end",
            "COMPLETE",
            "chatty line 20000",
        ),
        ("print('quiet')", "COMPLETE", "quiet"),
    ];
    for (script, state, logged) in cases {
        let (task, messages) = sample_client(&served.url, script).await;
        assert_eq!(task["state"], state, "{script}: {task}");
        assert!(
            messages.iter().any(|m| m == logged),
            "{script}: {:?}",
            &messages[messages.len().saturating_sub(3)..]
        );
        if state == "COMPLETE" && script.contains("return 1 + 2") {
            assert_eq!(task["output"]["results"], json!([3]));
        }
        if state == "FAILED" {
            assert_eq!(task["error"]["code"], "SCRIPT_ERROR");
            assert_eq!(task["error"]["message"], "TaskScript:2: boom");
        }
    }
    // A script that prints nothing still has its one chunk.
    let (_, messages) = sample_client(&served.url, "return 1").await;
    assert!(messages.is_empty());
}

#[tokio::test]
async fn queued_is_only_an_injected_fault_and_the_client_waits_it_out() {
    let served = serve().await;
    set_faults(&served.url, json!({ "queued": 1 })).await;
    let (_, created) = post(
        &format!(
            "{}/cloud/v2/universes/1/places/1/luau-execution-session-tasks",
            served.url
        ),
        json!({ "script": "return 1" }),
    )
    .await;
    assert_eq!(created["state"], "QUEUED");
    // The real client treats QUEUED as running, not as an ending.
    set_faults(&served.url, json!({ "queued": 1 })).await;
    let output = Run::new(&served.url).expect().await;
    output
        .code(Outcome::Complete)
        .stdout_has("state: QUEUED")
        .stdout_has("state: COMPLETE");
}

#[tokio::test]
async fn the_emulators_own_routes_need_the_key_too() {
    let served = serve_with(&[("LUAU_EXEC_SERVE_API_KEY", "right-key")]).await;
    for (verb, route) in [("POST", "/emulator/faults"), ("GET", "/emulator/stats")] {
        let request = match verb {
            "POST" => client()
                .post(format!("{}{route}", served.url))
                .json(&json!({})),
            _ => client().get(format!("{}{route}", served.url)),
        };
        assert_eq!(
            request.send().await.unwrap().status().as_u16(),
            401,
            "{route}"
        );
    }
    let response = client()
        .get(format!("{}/emulator/stats", served.url))
        .header("x-api-key", "right-key")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

/// Resident memory of a process (`VmRSS`), in MiB.
fn resident_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc is there");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in kB");
    kib / 1024
}

/// A member name a script looks up is the task's to hold, not the process's: three tasks that
/// each read and write 200 distinct 1 MB member names (600 MB in all) leave `serve` near where
/// it started. (Before, every name was interned for the life of the process: +600 MiB here.)
#[tokio::test]
async fn member_names_a_task_looks_up_are_freed_when_it_ends() {
    let served = serve_with_args(&[], &["--workers", "1"]).await;
    // Each task's names are its own (the task's number is in them).
    let script = "local task = ...
        local missing = 0
        for i = 1, 100 do
            local read = string.rep('r', 1000000) .. task .. ':' .. i
            if not pcall(function() return workspace[read] end) then missing += 1 end
            local written = string.rep('w', 1000000) .. task .. ':' .. i
            if not pcall(function() workspace[written] = 1 end) then missing += 1 end
        end
        return missing";
    // One task first, so the VM's allocator has grown to what any task needs.
    let warm_up = create_and_wait(&served.url, json!({ "script": "return 1" }), 200).await;
    assert_eq!(warm_up["state"], "COMPLETE", "{warm_up}");
    let baseline = resident_mib(served.pid);
    for task in 1..=3 {
        let script = script.replace("local task = ...", &format!("local task = {task}"));
        let body = json!({ "script": script, "timeout": "300s" });
        let task = create_and_wait(&served.url, body, 6000).await;
        assert_eq!(task["output"]["results"], json!([200]), "{task}");
    }
    let after = resident_mib(served.pid);
    assert!(
        after < baseline + 200,
        "serve holds {after} MiB after the tasks, from {baseline} MiB"
    );
}

/// A binary output's URL needs no key, so, like Roblox's presigned URL, it carries a secret
/// rather than the task's id; and it is held once: six stalled downloads of a 100 MiB output
/// hold no copies of it. (Before: the URL was the task's id, and each download copied the
/// output, +600 MiB here.)
#[tokio::test]
async fn binary_output_urls_are_secret_and_downloads_share_one_copy() {
    let served = serve().await;
    let script = "local out = buffer.create(100 * 1024 * 1024)
        buffer.fill(out, 0, 7)
        return { BinaryOutput = out }";
    let body = json!({ "script": script, "enableBinaryOutput": true, "timeout": "120s" });
    let task = create_and_wait(&served.url, body, 2400).await;
    assert_eq!(task["state"], "COMPLETE", "{task}");
    let uri = task["binaryOutputUri"]
        .as_str()
        .expect("a binary output")
        .to_owned();
    let id = task["path"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert!(!uri.contains(&id), "{uri} names the task {id}");
    let token = uri.rsplit('/').next().unwrap();
    assert!(
        token.len() >= 32 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "128 random bits: {uri}"
    );
    for guess in [id.as_str(), "0", token.get(..31).unwrap_or_default()] {
        let guessed = client()
            .get(format!("{}/emulator/binary-outputs/{guess}", served.url))
            .send()
            .await
            .unwrap();
        assert_eq!(guessed.status().as_u16(), 404, "{guess}");
    }

    let before = resident_mib(served.pid);
    // Each on its own connection, reading the headers and then nothing.
    let mut stalled = Vec::new();
    for _ in 0..6 {
        let response = reqwest::Client::new().get(&uri).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.content_length(), Some(100 * 1024 * 1024));
        stalled.push(response);
    }
    let during = resident_mib(served.pid);
    assert!(
        during < before + 150,
        "six downloads took serve from {before} MiB to {during} MiB"
    );
    // And the bytes are the output's.
    let whole = stalled.pop().unwrap().bytes().await.unwrap();
    assert_eq!(whole.len(), 100 * 1024 * 1024);
    assert!(whole.iter().all(|b| *b == 7));
}

/// Waits for the server to close `stream`, writing `trickle` a byte at a time meanwhile (every
/// 100 ms); false if it is still open after `patience`.
async fn closed_by_server(
    mut stream: tokio::net::TcpStream,
    trickle: &[u8],
    patience: Duration,
) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deadline = tokio::time::Instant::now() + patience;
    let mut trickle = trickle.iter().cycle();
    let mut buffer = [0u8; 1024];
    loop {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return true,
                // An answer (a 408, say) before the close.
                Ok(_) => continue,
            },
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                if let Some(byte) = trickle.next()
                    && stream.write_all(&[*byte]).await.is_err()
                {
                    return true;
                }
            }
        }
    }
}

/// `serve` lets go of connections that do not move: one that sends nothing, half a request's
/// headers, headers a byte at a time, or half a body. (With `--connection-timeout 1s`; the
/// default is 30 s. Before, each was held for ever.)
#[tokio::test]
async fn connections_that_stall_are_closed() {
    let served = serve_with_args(&[], &["--connection-timeout", "1s"]).await;
    let address = served.url.trim_start_matches("http://").to_owned();
    let body_start = "POST /cloud/v2/universes/1/places/2/luau-execution-session-tasks HTTP/1.1\r\n\
        Host: x\r\nx-api-key: k\r\ncontent-type: application/json\r\n\
        content-length: 1000\r\n\r\n{\"script\": \"return 1";
    let cases: [(&str, &[u8], &[u8]); 4] = [
        ("nothing sent", b"", b""),
        (
            "half the headers",
            b"GET /emulator/stats HTTP/1.1\r\nHost: x\r\n",
            b"",
        ),
        (
            "headers a byte at a time",
            b"GET /emulator/stats HTTP/1.1\r\nX-Slow: ",
            b"a",
        ),
        ("half a body", body_start.as_bytes(), b""),
    ];
    for (case, start, trickle) in cases {
        use tokio::io::AsyncWriteExt;
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.write_all(start).await.unwrap();
        // Thirty times the timeout: only a connection held for ever fails this.
        assert!(
            closed_by_server(stream, trickle, Duration::from_secs(30)).await,
            "{case}: the connection is still open"
        );
    }
    // A request that moves is served as before.
    let (status, _) = get(&format!("{}/emulator/stats", served.url)).await;
    assert_eq!(status, 200);
}

/// The OS threads of a process.
fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

#[tokio::test]
async fn many_tasks_share_a_bounded_pool_and_old_ones_are_evicted() {
    let served = serve_with_args(&[], &["--workers", "4"]).await;
    let pid = served.pid;
    // 30 sleeping tasks over three places: they queue for 4 workers, not a thread each.
    let mut paths = Vec::new();
    for place in 0..3 {
        for _ in 0..10 {
            let (status, task) = post(
                &format!(
                    "{}/cloud/v2/universes/1/places/{}/luau-execution-session-tasks",
                    served.url,
                    100 + place
                ),
                json!({ "script": "task.wait(0.3) return 1", "timeout": "60s" }),
            )
            .await;
            assert_eq!(status, 200, "{task}");
            paths.push(task["path"].as_str().unwrap().to_owned());
        }
    }
    let threads = thread_count(pid);
    assert!(
        threads > 0 && threads < 20,
        "{threads} threads for 30 tasks"
    );
    for path in &paths {
        let mut state = Value::Null;
        for _ in 0..200 {
            state = get(&format!("{}/cloud/v2/{path}", served.url)).await.1["state"].clone();
            if state == "COMPLETE" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(state, "COMPLETE", "{path}");
    }
    // Past 1,000 finished tasks, the oldest are evicted.
    let mut created = 0;
    while created < 980 {
        let (status, _) = post(
            &format!(
                "{}/cloud/v2/universes/1/places/7/luau-execution-session-tasks",
                served.url
            ),
            json!({ "script": "return 1" }),
        )
        .await;
        if status == 429 {
            // Ten unfinished on the place: let the workers catch up.
            tokio::time::sleep(Duration::from_millis(20)).await;
        } else {
            assert_eq!(status, 200);
            created += 1;
        }
    }
    let mut evicted = 0;
    for _ in 0..100 {
        let (_, stats) = get(&format!("{}/emulator/stats", served.url)).await;
        evicted = stats["evictedTasks"].as_u64().unwrap_or(0);
        // 1,010 finished tasks, 1,000 kept.
        if evicted >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(evicted, 10, "the oldest finished tasks are evicted");
    let (status, _) = get(&format!("{}/cloud/v2/{}", served.url, paths[0])).await;
    assert_eq!(status, 404, "the oldest task is gone");
}

#[tokio::test]
async fn the_local_backend_takes_what_the_readme_promises() {
    // A 3.5 MiB script (axum's default limit was 2 MB), a place of over 6 MiB and a 20 MiB
    // input. The place holds 9 MiB of text that compresses poorly.
    let script = format!(
        "local s = [[{}]] return #s, #game.ReplicatedStorage.big.Value",
        "x".repeat(3 * 1024 * 1024 + 512 * 1024)
    );
    let (_script_dir, script_path) = temp_file("big.luau", script.as_bytes());
    let mut seed = 12345u64;
    let text: String = (0..9 * 1024 * 1024)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            char::from(b'!' + ((seed >> 33) % 90) as u8)
        })
        .collect();
    let big = rbx_dom_weak::InstanceBuilder::new("StringValue")
        .with_name("big")
        .with_property("Value", rbx_dom_weak::types::Variant::String(text));
    let bytes = crate::places::place(vec![big]);
    assert!(bytes.len() > 6 * 1024 * 1024, "{} bytes", bytes.len());
    let (_place_dir, place) = temp_file("game.rbxl", &bytes);
    let (_input_dir, input) = temp_file("input.bin", &vec![7u8; 20 * 1024 * 1024]);
    let output = Run::bare()
        .env("INPUT_BACKEND", "local")
        .env("INPUT_SCRIPT_PATH", script_path.to_str().unwrap())
        .env("INPUT_PLACE_FILE", place.to_str().unwrap())
        .env("INPUT_BINARY_INPUT", input.to_str().unwrap())
        .expect()
        .await;
    output.code(Outcome::Complete).stdout_has(&format!(
        "Results: [{},{}]",
        3 * 1024 * 1024 + 512 * 1024,
        9 * 1024 * 1024
    ));
}

#[tokio::test]
async fn a_local_interrupt_says_the_emulator_stops_too() {
    let mut run = Run::bare();
    run.env("INPUT_BACKEND", "local")
        .env("INPUT_SCRIPT", "task.wait(30)");
    let child = run.command().spawn().expect("spawn");
    let pid = child.id().expect("pid").to_string();
    tokio::time::sleep(Duration::from_millis(700)).await;
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    let output = tokio::time::timeout(Duration::from_secs(5), child.wait_with_output())
        .await
        .expect("stops at once")
        .expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(143), "{stdout}");
    assert!(
        stdout.contains("the local emulator stops with luau-exec"),
        "{stdout}"
    );
    assert!(!stdout.contains("on Roblox"), "{stdout}");
}

#[tokio::test]
async fn one_tasks_failure_never_takes_serve_down() {
    let served = serve().await;
    // Each of these once aborted the whole server (and every task in it).
    for script in [
        "while true do end",
        "task.wait('abc')",
        "print(setmetatable({}, {__tostring = function() error('x') end}))",
        "collectgarbage('bogus')",
    ] {
        let (status, task) = post(
            &format!(
                "{}/cloud/v2/universes/1/places/3/luau-execution-session-tasks",
                served.url
            ),
            json!({ "script": script, "timeout": "1s" }),
        )
        .await;
        assert_eq!(status, 200, "{task}");
        let path = task["path"].as_str().unwrap().to_owned();
        let mut state = Value::Null;
        for _ in 0..100 {
            state = get(&format!("{}/cloud/v2/{path}", served.url)).await.1["state"].clone();
            if state == "FAILED" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(state, "FAILED", "{script}");
    }
    let task = run_to_end(&served.url, "return 'still serving'").await;
    assert_eq!(task["output"]["results"], json!(["still serving"]));
}

#[tokio::test]
async fn robloxs_limits_can_be_switched_on() {
    let served = serve_with_args(&[], &["--roblox-limits"]).await;
    let response = |status: u16, body: &Value| (status, body["code"].clone());

    // Five creates a minute pinned to a version; the sixth is told when to come back.
    let versioned = format!(
        "{}/cloud/v2/universes/1/places/20/versions/1/luau-execution-session-tasks",
        served.url
    );
    for _ in 0..5 {
        let (status, body) = post(&versioned, json!({ "script": "return 1" })).await;
        assert_eq!(status, 200, "{body}");
    }
    let answer = client()
        .post(&versioned)
        .header("x-api-key", "any")
        .json(&json!({ "script": "return 1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 429);
    let retry_after: u64 = answer.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");

    // A place holds ten slots, and a finished task keeps its slot for a while.
    let head = format!(
        "{}/cloud/v2/universes/1/places/21/luau-execution-session-tasks",
        served.url
    );
    let mut paths = Vec::new();
    for _ in 0..10 {
        let (status, body) = post(&head, json!({ "script": "return 1" })).await;
        assert_eq!(status, 200, "{body}");
        paths.push(body["path"].as_str().unwrap().to_owned());
    }
    for path in &paths {
        for _ in 0..100 {
            if get(&format!("{}/cloud/v2/{path}", served.url)).await.1["state"] == "COMPLETE" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let (status, body) = post(&head, json!({ "script": "return 1" })).await;
    assert_eq!(
        response(status, &body),
        (429, json!("RESOURCE_EXHAUSTED")),
        "the slots lag"
    );
    let (_, stats) = get(&format!("{}/emulator/stats", served.url)).await;
    assert!(stats["rateLimited"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["placeFull"].as_u64().unwrap() >= 1, "{stats}");
}

#[tokio::test]
async fn a_boot_delay_holds_tasks_in_processing() {
    let served = serve_with_args(&[], &["--boot-delay", "1"]).await;
    let (_, task) = post(
        &format!(
            "{}/cloud/v2/universes/1/places/1/luau-execution-session-tasks",
            served.url
        ),
        json!({ "script": "return 1" }),
    )
    .await;
    let path = task["path"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, during) = get(&format!("{}/cloud/v2/{path}", served.url)).await;
    assert_eq!(during["state"], "PROCESSING", "booting");
    let done = run_to_end(&served.url, "return 2").await;
    assert_eq!(done["state"], "COMPLETE");
    let (_, after) = get(&format!("{}/cloud/v2/{path}", served.url)).await;
    assert_eq!(after["state"], "COMPLETE");
    // Without `--roblox-limits`, nothing is rate-limited.
    let (_, stats) = get(&format!("{}/emulator/stats", served.url)).await;
    assert_eq!(stats["rateLimited"], 0);
}

/// A key too short to be secret (`serve` takes any) is not scrubbed out of text: with `x`, the
/// task path (`luau-execution`), the logs and the results used to lose every `x`, and the run
/// failed (`e(redacted)it 8`, the path "not a resource name"). GitHub is still told to mask it.
#[tokio::test]
async fn a_short_key_leaves_paths_logs_and_results_intact() {
    let served = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("outputs");
    for format in ["plain", "github"] {
        let output = Run::new(&served.url)
            .env("INPUT_API_KEY", "x")
            .env("INPUT_OUTPUT_FORMAT", format)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", outputs.to_str().unwrap())
            .env(
                "INPUT_SCRIPT",
                "print('exit text') return 'xylophone', { x = 1 }",
            )
            .expect()
            .await
            .case(format);
        output
            .code(Outcome::Complete)
            .stdout_lacks("(redacted)")
            .stdout_has("exit text")
            .stdout_has("luau-execution-sessions/");
        if format == "github" {
            assert_eq!(output.stdout.lines().next(), Some("::add-mask::x"));
            let written = std::fs::read_to_string(&outputs).unwrap();
            assert!(written.contains(r#"["xylophone",{"x":1}]"#), "{written}");
        } else {
            output.stdout_has(r#"Results: ["xylophone",{"x":1}]"#);
        }
    }
}
