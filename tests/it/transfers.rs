//! Place upload, binary input and binary output against fake servers, including that the API
//! key goes to no host but the Open Cloud base URL.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::{
    FakeCloud, KEY, Outcome, complete, ok_json, on_upload, parse_output_file, temp_file,
};

/// The outputs a run wrote to `GITHUB_OUTPUT`, by name.
fn outputs_in(file: &std::path::Path) -> HashMap<String, String> {
    parse_output_file(&std::fs::read_to_string(file).unwrap())
        .into_iter()
        .collect()
}

#[tokio::test]
async fn a_place_file_becomes_a_saved_version_the_task_runs_on() {
    for (name, content_type) in [
        ("game.rbxl", "application/octet-stream"),
        ("game.rbxlx", "application/xml"),
    ] {
        // Uploaded with the key as a saved version 17; the task is created on version 17.
        let cloud = FakeCloud::task().place_version(17).start().await;
        let (dir, place) = temp_file(name, b"<roblox>place bytes</roblox>");
        let output_file = dir.path().join("output");
        cloud
            .run()
            .env("INPUT_PLACE_FILE", place.to_str().unwrap())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", output_file.to_str().unwrap())
            .expect()
            .await
            .case(name)
            .code(Outcome::Complete);
        assert_eq!(outputs_in(&output_file)["place-version"], "17");
        // The upload (place reuse first asks the memory store whether these bytes were uploaded).
        let uploaded = cloud.received_at("/versions").await;
        assert_eq!(uploaded[0].body, b"<roblox>place bytes</roblox>");
        assert_eq!(
            uploaded[0]
                .headers
                .get("content-type")
                .map(|v| v.to_str().ok()),
            Some(Some(content_type)),
            "{name}"
        );
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
        let cloud = FakeCloud::start().await;
        cloud
            .mount(
                on_upload()
                    .respond_with(
                        ResponseTemplate::new(status)
                            .set_body_json(json!({"errors": [{"code": status, "message": "no"}]})),
                    )
                    .expect(1),
            )
            .await;
        let (_dir, place) = temp_file("game.rbxl", b"bytes");
        cloud
            .run()
            .env("INPUT_PLACE_FILE", place.to_str().unwrap())
            .expect()
            .await
            .case(status)
            .code(Outcome::Rejected)
            .stdout_has(expected);
    }

    // 503 is retried: identical bytes are deduplicated by Roblox.
    let cloud = FakeCloud::task().place_version(3).start().await;
    cloud
        .mount_first(
            on_upload()
                .respond_with(ResponseTemplate::new(503))
                .up_to_n_times(1)
                .expect(1),
        )
        .await;
    let (_dir, place) = temp_file("game.rbxl", b"bytes");
    cloud
        .run()
        .env("INPUT_PLACE_FILE", place.to_str().unwrap())
        .expect()
        .await
        .code(Outcome::Complete);
}

#[tokio::test]
async fn place_file_checks_happen_before_anything_is_sent() {
    let cloud = FakeCloud::start().await;
    let (_dir, place) = temp_file("game.rbxl", b"bytes");
    cloud
        .run()
        .env("INPUT_PLACE_FILE", place.to_str().unwrap())
        .env("INPUT_PLACE_VERSION", "4")
        .expect()
        .await
        .code(Outcome::BadInput)
        .names_input("place-file");
    let (_dir, big) = temp_file("big.rbxl", &vec![0u8; 10 * 1024 * 1024 + 1]);
    cloud
        .run()
        .env("INPUT_PLACE_FILE", big.to_str().unwrap())
        .expect()
        .await
        .code(Outcome::BadInput);
    let (_dir, empty) = temp_file("empty.rbxl", b"");
    cloud
        .run()
        .env("INPUT_PLACE_FILE", empty.to_str().unwrap())
        .expect()
        .await
        .code(Outcome::BadInput);
    cloud
        .run()
        .env("INPUT_BINARY_INPUT", "/nonexistent/file.bin")
        .expect()
        .await
        .code(Outcome::BadInput)
        .names_input("binary-input");
    cloud.assert_untouched().await;
}

#[tokio::test]
async fn binary_input_and_output_never_carry_the_key_elsewhere() {
    // Presigned storage on another origin.
    let storage = FakeCloud::start().await;
    let mut done = complete(json!(["ok"]));
    done["binaryOutputUri"] = json!(format!("{}/download/out-1?sig=def", storage.uri()));
    // The task is created with the input and asks for an output.
    let open_cloud = FakeCloud::task()
        .create_body(json!({
            "binaryInput": "universes/1/luau-execution-session-task-binary-inputs/in-1",
            "enableBinaryOutput": true,
        }))
        .ends(done)
        .start()
        .await;
    open_cloud
        .mount(
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
                .expect(1),
        )
        .await;
    storage
        .mount(
            Mock::given(method("PUT"))
                .and(path("/upload/in-1"))
                .and(header("content-type", "application/octet-stream"))
                .respond_with(ResponseTemplate::new(200))
                .expect(1),
        )
        .await;
    storage
        .mount(
            Mock::given(method("GET"))
                .and(path("/download/out-1"))
                .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![9u8, 8, 7]))
                .expect(1),
        )
        .await;

    let (dir, input) = temp_file("in.bin", b"hello");
    let out = dir.path().join("a/b/out.bin");
    let output_file = dir.path().join("output");
    open_cloud
        .run()
        .env("INPUT_BINARY_INPUT", input.to_str().unwrap())
        .env("INPUT_BINARY_OUTPUT", out.to_str().unwrap())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", output_file.to_str().unwrap())
        .expect()
        .await
        .code(Outcome::Complete);
    assert_eq!(std::fs::read(&out).unwrap(), vec![9, 8, 7]);
    assert_eq!(
        outputs_in(&output_file)["binary-output-path"],
        out.to_str().unwrap()
    );

    let storage_requests = storage.received().await;
    assert_eq!(storage_requests.len(), 2);
    for request in &storage_requests {
        assert!(
            request.headers.get("x-api-key").is_none(),
            "the key went to storage: {request:?}"
        );
        assert!(!format!("{request:?}").contains(KEY));
    }
    assert_eq!(storage_requests[0].body, b"hello");
    for request in open_cloud.received().await {
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
    let cloud = FakeCloud::task().start().await;
    let dir = tempfile::tempdir().unwrap();
    cloud
        .run()
        .env(
            "INPUT_BINARY_OUTPUT",
            dir.path().join("out.bin").to_str().unwrap(),
        )
        .expect()
        .await
        .code(Outcome::Unavailable)
        .stdout_has("without a binary output URI");
}

#[tokio::test]
async fn large_uploads_show_progress() {
    // A slow answer, so progress shows.
    let cloud = FakeCloud::task()
        .place_version(5)
        .upload_delay(Duration::from_millis(300))
        .start()
        .await;
    let (_dir, place) = temp_file("big.rbxl", &vec![7u8; 3 * 1024 * 1024]);
    let output = cloud
        .run()
        .env("INPUT_PLACE_FILE", place.to_str().unwrap())
        .expect()
        .await;
    output
        .code(Outcome::Complete)
        .stdout_has("uploading ")
        .stdout_has("place upload: 3.0 MiB of 3.0 MiB (100%, ")
        .stdout_has("uploaded place version 5");
    // While the server takes the last byte's answer, 100% is said once, not at every tick.
    assert_eq!(
        output.stdout.matches("(100%, ").count(),
        1,
        "{}",
        output.stdout
    );
}

#[tokio::test]
async fn an_expired_upload_url_is_a_rejection_that_says_so() {
    let cloud = FakeCloud::start().await;
    cloud
        .mount(
            Mock::given(method("POST"))
                .and(path(
                    "/cloud/v2/universes/1/luau-execution-session-task-binary-inputs",
                ))
                .respond_with(ok_json(json!({
                    "path": "universes/1/luau-execution-session-task-binary-inputs/in-2",
                    "uploadUri": format!("{}/upload/in-2", cloud.uri()),
                }))),
        )
        .await;
    cloud
        .mount(
            Mock::given(method("PUT"))
                .and(path("/upload/in-2"))
                .respond_with(
                    ResponseTemplate::new(403).set_body_string("<Error>AccessDenied</Error>"),
                )
                .expect(1),
        )
        .await;
    let (_dir, input) = temp_file("in.bin", b"data");
    cloud
        .run()
        .env("INPUT_BINARY_INPUT", input.to_str().unwrap())
        .expect()
        .await
        .code(Outcome::Rejected)
        .stdout_has("presigned storage URL refused");
    // The task was never created.
    assert_eq!(
        cloud
            .received_at("luau-execution-session-tasks")
            .await
            .len(),
        0
    );
}
