//! Place upload, binary input and binary output against fake servers, including that the API
//! key goes to no host but the Open Cloud base URL.

use std::collections::HashMap;

use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    KEY, Run, complete, logs_page, ok_json, on_logs, parse_output_file, temp_file,
};

async fn mount_logs(server: &MockServer) {
    on_logs()
        .respond_with(ok_json(logs_page(&[], "")))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_place_file_becomes_a_saved_version_the_task_runs_on() {
    for (name, content_type) in [
        ("game.rbxl", "application/octet-stream"),
        ("game.rbxlx", "application/xml"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/universes/v1/1/places/2/versions"))
            .and(query_param("versionType", "Saved"))
            .and(header("content-type", content_type))
            .and(header("x-api-key", KEY))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "text/plain")
                    .set_body_string("{\"versionNumber\":17}"),
            )
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(
                "/cloud/v2/universes/1/places/2/versions/17/luau-execution-session-tasks",
            ))
            .respond_with(ok_json(complete(json!([]))))
            .expect(1)
            .mount(&server)
            .await;
        mount_logs(&server).await;
        let (dir, place) = temp_file(name, b"<roblox>place bytes</roblox>");
        let output_file = dir.path().join("output");
        let output = Run::new(&server.uri())
            .env("INPUT_PLACE_FILE", place.to_str().unwrap())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", output_file.to_str().unwrap())
            .output()
            .await;
        assert_eq!(output.code, 0, "{}", output.stdout);
        let outputs: HashMap<_, _> =
            parse_output_file(&std::fs::read_to_string(&output_file).unwrap())
                .into_iter()
                .collect();
        assert_eq!(outputs["place-version"], "17");
        let uploaded = server.received_requests().await.unwrap();
        assert_eq!(uploaded[0].body, b"<roblox>place bytes</roblox>");
    }
}

#[tokio::test]
async fn place_upload_rejections_and_retries() {
    let cases = [
        (400, "refused as invalid"),
        (403, "universe-places:write"),
        (404, "not found"),
        (409, "not part of that universe"),
    ];
    for (status, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/universes/v1/1/places/2/versions"))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_json(json!({"errors": [{"code": status, "message": "no"}]})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let (_dir, place) = temp_file("game.rbxl", b"bytes");
        let output = Run::new(&server.uri())
            .env("INPUT_PLACE_FILE", place.to_str().unwrap())
            .output()
            .await;
        assert_eq!(output.code, 7, "{status}: {}", output.stdout);
        assert!(
            output.stdout.contains(expected),
            "{status}: {}",
            output.stdout
        );
    }

    // 503 is retried: identical bytes are deduplicated by Roblox.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/universes/v1/1/places/2/versions"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/universes/v1/1/places/2/versions"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"versionNumber\":3}"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/cloud/v2/universes/1/places/2/versions/3/luau-execution-session-tasks",
        ))
        .respond_with(ok_json(complete(json!([]))))
        .mount(&server)
        .await;
    mount_logs(&server).await;
    let (_dir, place) = temp_file("game.rbxl", b"bytes");
    let output = Run::new(&server.uri())
        .env("INPUT_PLACE_FILE", place.to_str().unwrap())
        .output()
        .await;
    assert_eq!(output.code, 0, "{}", output.stdout);
}

#[tokio::test]
async fn place_file_checks_happen_before_anything_is_sent() {
    let server = MockServer::start().await;
    let (_dir, place) = temp_file("game.rbxl", b"bytes");
    let output = Run::new(&server.uri())
        .env("INPUT_PLACE_FILE", place.to_str().unwrap())
        .env("INPUT_PLACE_VERSION", "4")
        .output()
        .await;
    assert_eq!(output.code, 2);
    assert!(
        output
            .stderr
            .contains(&luau_exec::text::input_name("place-file", false))
    );
    let (_dir, big) = temp_file("big.rbxl", &vec![0u8; 10 * 1024 * 1024 + 1]);
    let output = Run::new(&server.uri())
        .env("INPUT_PLACE_FILE", big.to_str().unwrap())
        .output()
        .await;
    assert_eq!(output.code, 2);
    let (_dir, empty) = temp_file("empty.rbxl", b"");
    let output = Run::new(&server.uri())
        .env("INPUT_PLACE_FILE", empty.to_str().unwrap())
        .output()
        .await;
    assert_eq!(output.code, 2);
    let output = Run::new(&server.uri())
        .env("INPUT_BINARY_INPUT", "/nonexistent/file.bin")
        .output()
        .await;
    assert_eq!(output.code, 2);
    assert!(
        output
            .stderr
            .contains(&luau_exec::text::input_name("binary-input", false))
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn binary_input_and_output_never_carry_the_key_elsewhere() {
    let open_cloud = MockServer::start().await;
    // Presigned storage on another origin.
    let storage = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            "/cloud/v2/universes/1/luau-execution-session-task-binary-inputs",
        ))
        .and(body_partial_json(json!({ "size": 5 })))
        .respond_with(ok_json(json!({
            "path": "universes/1/luau-execution-session-task-binary-inputs/in-1",
            "size": "5",
            "uploadUri": format!("{}/upload/in-1?sig=abc", storage.uri()),
        })))
        .expect(1)
        .mount(&open_cloud)
        .await;
    Mock::given(method("PUT"))
        .and(path("/upload/in-1"))
        .and(header("content-type", "application/octet-stream"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&storage)
        .await;
    let mut done = complete(json!(["ok"]));
    done["binaryOutputUri"] = json!(format!("{}/download/out-1?sig=def", storage.uri()));
    Mock::given(method("POST"))
        .and(path(
            "/cloud/v2/universes/1/places/2/luau-execution-session-tasks",
        ))
        .and(body_partial_json(json!({
            "binaryInput": "universes/1/luau-execution-session-task-binary-inputs/in-1",
            "enableBinaryOutput": true,
        })))
        .respond_with(ok_json(done))
        .expect(1)
        .mount(&open_cloud)
        .await;
    mount_logs(&open_cloud).await;
    Mock::given(method("GET"))
        .and(path("/download/out-1"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![9u8, 8, 7]))
        .expect(1)
        .mount(&storage)
        .await;

    let (dir, input) = temp_file("in.bin", b"hello");
    let out = dir.path().join("a/b/out.bin");
    let output_file = dir.path().join("output");
    let output = Run::new(&open_cloud.uri())
        .env("INPUT_BINARY_INPUT", input.to_str().unwrap())
        .env("INPUT_BINARY_OUTPUT", out.to_str().unwrap())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", output_file.to_str().unwrap())
        .output()
        .await;
    assert_eq!(output.code, 0, "{}", output.stdout);
    assert_eq!(std::fs::read(&out).unwrap(), vec![9, 8, 7]);
    let outputs: HashMap<_, _> = parse_output_file(&std::fs::read_to_string(&output_file).unwrap())
        .into_iter()
        .collect();
    assert_eq!(outputs["binary-output-path"], out.to_str().unwrap());

    let storage_requests = storage.received_requests().await.unwrap();
    assert_eq!(storage_requests.len(), 2);
    for request in &storage_requests {
        assert!(
            request.headers.get("x-api-key").is_none(),
            "the key went to storage: {request:?}"
        );
        assert!(!format!("{request:?}").contains(KEY));
    }
    assert_eq!(storage_requests[0].body, b"hello");
    for request in open_cloud.received_requests().await.unwrap() {
        assert_eq!(
            request
                .headers
                .get("x-api-key")
                .map(|v| v.to_str().unwrap()),
            Some(KEY)
        );
    }
}

#[tokio::test]
async fn a_completed_task_without_binary_output_fails_the_download() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            "/cloud/v2/universes/1/places/2/luau-execution-session-tasks",
        ))
        .respond_with(ok_json(complete(json!([]))))
        .mount(&server)
        .await;
    mount_logs(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let output = Run::new(&server.uri())
        .env(
            "INPUT_BINARY_OUTPUT",
            dir.path().join("out.bin").to_str().unwrap(),
        )
        .output()
        .await;
    assert_eq!(output.code, 8, "{}", output.stdout);
    assert!(
        output.stdout.contains("without a binary output URI"),
        "{}",
        output.stdout
    );
}

#[tokio::test]
async fn large_uploads_show_progress() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/universes/v1/1/places/2/versions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(std::time::Duration::from_millis(300))
                .set_body_string("{\"versionNumber\":5}"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/cloud/v2/universes/1/places/2/versions/5/luau-execution-session-tasks",
        ))
        .respond_with(ok_json(complete(json!([]))))
        .mount(&server)
        .await;
    mount_logs(&server).await;
    let (_dir, place) = temp_file("big.rbxl", &vec![7u8; 3 * 1024 * 1024]);
    let output = Run::new(&server.uri())
        .env("INPUT_PLACE_FILE", place.to_str().unwrap())
        .output()
        .await;
    assert_eq!(output.code, 0, "{}", output.stdout);
    assert!(output.stdout.contains("uploading "), "{}", output.stdout);
    assert!(
        output
            .stdout
            .contains("place upload: 3.0 MiB of 3.0 MiB (100%, "),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("uploaded place version 5"),
        "{}",
        output.stdout
    );
}

#[tokio::test]
async fn an_expired_upload_url_is_a_rejection_that_says_so() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            "/cloud/v2/universes/1/luau-execution-session-task-binary-inputs",
        ))
        .respond_with(ok_json(json!({
            "path": "universes/1/luau-execution-session-task-binary-inputs/in-2",
            "uploadUri": format!("{}/upload/in-2", server.uri()),
        })))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/upload/in-2"))
        .respond_with(ResponseTemplate::new(403).set_body_string("<Error>AccessDenied</Error>"))
        .expect(1)
        .mount(&server)
        .await;
    let (_dir, input) = temp_file("in.bin", b"data");
    let output = Run::new(&server.uri())
        .env("INPUT_BINARY_INPUT", input.to_str().unwrap())
        .output()
        .await;
    assert_eq!(output.code, 7, "{}", output.stdout);
    assert!(
        output.stdout.contains("presigned storage URL refused"),
        "{}",
        output.stdout
    );
    // The task was never created.
    let creates = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("luau-execution-session-tasks"))
        .count();
    assert_eq!(creates, 0);
}
