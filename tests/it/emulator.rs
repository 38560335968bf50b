//! The embedded emulator: the standalone server, the local backend end to end, fault injection
//! driving the client's retries, Open Cloud's limits, and conformance to Roblox's schema.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{Run, temp_file};

/// A `luau-exec serve` process on a free port; killed on drop.
struct Served {
    url: String,
    _child: tokio::process::Child,
}

async fn serve() -> Served {
    serve_with(&[]).await
}

async fn serve_with(env: &[(&str, &str)]) -> Served {
    let mut run = Run::bare();
    for (name, value) in env {
        run.env(name, value);
    }
    let mut command = run.command();
    command.arg("serve").arg("--listen").arg("127.0.0.1:0");
    let mut child = command.spawn().expect("serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("prints its URL")
        .expect("reads")
        .expect("a first line");
    let pattern = regex::Regex::new(r"^http://127\.0\.0\.1:[1-9][0-9]*$").unwrap();
    assert!(pattern.is_match(&url), "first line is the URL: {url}");
    Served { url, _child: child }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post(url: &str, body: Value) -> (u16, Value) {
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

async fn get(url: &str) -> (u16, Value) {
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
    let (status, task) = post(
        &format!("{base}/cloud/v2/universes/5/places/6/luau-execution-session-tasks"),
        json!({ "script": script }),
    )
    .await;
    assert_eq!(status, 200, "{task}");
    let path = task["path"].as_str().unwrap().to_owned();
    for _ in 0..200 {
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
        .output()
        .await;
    assert_eq!(output.code, 0, "{}", output.stdout);
    assert!(output.stdout.contains("[OUTPUT]  from serve"));
    assert!(output.stdout.contains("Results: [42]"));
}

#[tokio::test]
async fn the_local_backend_runs_the_examples() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let cases = [
        ("hello.luau", 0, "Results: [55,"),
        ("failing.luau", 1, "TaskScript:"),
        ("results.luau", 0, "\"passed\":3"),
    ];
    for (file, code, expected) in cases {
        let output = Run::bare()
            .env("INPUT_BACKEND", "local")
            .env("INPUT_SCRIPT_PATH", &format!("{examples}/{file}"))
            .output()
            .await;
        assert_eq!(output.code, code, "{file}: {}", output.stdout);
        assert!(
            output.stdout.contains(expected),
            "{file}: {}",
            output.stdout
        );
    }
}

#[tokio::test]
async fn local_outcomes_match_open_clouds_codes() {
    let cases = [
        ("while true do end", "1s", 3, "DEADLINE_EXCEEDED"),
        (
            "return string.rep('x', 5 * 1024 * 1024)",
            "30s",
            4,
            "OUTPUT_SIZE_LIMIT_EXCEEDED",
        ),
        (
            "local x = game.Workspace",
            "30s",
            1,
            "game is not available",
        ),
        ("return (", "30s", 1, "SCRIPT_ERROR"),
    ];
    for (script, timeout, code, expected) in cases {
        let output = Run::bare()
            .env("INPUT_BACKEND", "local")
            .env("INPUT_SCRIPT", script)
            .env("INPUT_TIMEOUT", timeout)
            .output()
            .await;
        assert_eq!(output.code, code, "{script}: {}", output.stdout);
        assert!(
            output.stdout.contains(expected),
            "{script}: {}",
            output.stdout
        );
    }
}

#[tokio::test]
async fn injected_faults_drive_the_clients_retries() {
    let served = serve().await;
    let faults = json!({ "get503": 2, "getTruncated": 1, "logs503": 1 });
    let response = client()
        .post(format!("{}/emulator/faults", served.url))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let output = Run::new(&served.url)
        .env("INPUT_SCRIPT", "print('survived')")
        .output()
        .await;
    assert_eq!(output.code, 0, "{}", output.stdout);
    assert!(output.stdout.contains("[OUTPUT]  survived"));
    let (_, stats) = get(&format!("{}/emulator/stats", served.url)).await;
    assert_eq!(stats["creates"], 1);
    assert!(stats["gets"].as_u64().unwrap() >= 4, "{stats}");
    assert!(stats["logGets"].as_u64().unwrap() >= 2, "{stats}");

    // A create answered 500 is sent once.
    client()
        .post(format!("{}/emulator/faults", served.url))
        .json(&json!({ "create500": 1 }))
        .send()
        .await
        .unwrap();
    let output = Run::new(&served.url).output().await;
    assert_eq!(output.code, 8, "{}", output.stdout);
    let (_, stats) = get(&format!("{}/emulator/stats", served.url)).await;
    assert_eq!(stats["creates"], 2);

    // Creates answered 429 are retried.
    client()
        .post(format!("{}/emulator/faults", served.url))
        .json(&json!({ "create429": 2 }))
        .send()
        .await
        .unwrap();
    let output = Run::new(&served.url).output().await;
    assert_eq!(output.code, 0, "{}", output.stdout);
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
async fn logs_appear_only_once_the_task_ends() {
    let served = serve().await;
    let (_, task) = post(
        &format!(
            "{}/cloud/v2/universes/1/places/1/luau-execution-session-tasks",
            served.url
        ),
        json!({ "script": "print('early') task.wait(1)" }),
    )
    .await;
    let path = task["path"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, page) = get(&format!("{}/cloud/v2/{path}/logs", served.url)).await;
    assert_eq!(page["luauExecutionSessionTaskLogs"], json!([]), "{page}");
}

#[tokio::test]
async fn logs_keep_a_450kb_window_and_page_by_chunks() {
    let served = serve().await;
    let task = run_to_end(
        &served.url,
        "for i = 1, 12000 do print(string.format('line %05d %s', i, string.rep('x', 40))) end",
    )
    .await;
    assert_eq!(task["state"], "COMPLETE");
    let path = task["path"].as_str().unwrap();

    // FLAT, one chunk per page: follow the tokens.
    let mut messages: Vec<String> = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let (status, page) = get(&format!(
            "{}/cloud/v2/{path}/logs?maxPageSize=1&pageToken={token}",
            served.url
        ))
        .await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for chunk in page["luauExecutionSessionTaskLogs"].as_array().unwrap() {
            assert!(chunk["structuredMessages"].is_null());
            messages.extend(
                chunk["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_str().unwrap().to_owned()),
            );
        }
        token = page["nextPageToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if token.is_empty() {
            break;
        }
    }
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
    assert!(pages > 1);

    // STRUCTURED, whole: the same messages with levels.
    let (_, page) = get(&format!(
        "{}/cloud/v2/{path}/logs?view=STRUCTURED",
        served.url
    ))
    .await;
    let structured: Vec<&Value> = page["luauExecutionSessionTaskLogs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["structuredMessages"].as_array().unwrap())
        .collect();
    assert_eq!(structured.len(), messages.len());
    assert_eq!(structured[0]["messageType"], "OUTPUT");

    // A token from another view is refused.
    let (status, _) = get(&format!(
        "{}/cloud/v2/{path}/logs?view=STRUCTURED&pageToken=FLAT:1",
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
    let (_dir, place) = temp_file("game.rbxl", b"<roblox!binary place>");
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
        .output()
        .await;
    assert_eq!(output.code, 0, "{}", output.stdout);
    assert!(
        output.stdout.contains("uploaded place version 2"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("/places/1/versions/2/"),
        "pinned to the upload: {}",
        output.stdout
    );
    assert_eq!(std::fs::read(&out).unwrap(), vec![250, 3, 2, 1]);
    assert!(output.stdout.contains("Results: [4]"), "{}", output.stdout);
}
