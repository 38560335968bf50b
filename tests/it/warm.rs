//! What warm and live runs on Roblox depend on, in the emulator: servers of a place version stay
//! warm after a task (only a cold version pays the boot delay), `game.PlaceVersion` is the
//! version a task runs on, and MemoryStoreService's sorted maps and queues are shared per
//! universe by tasks and Open Cloud's memory-store routes, which check the key's scopes.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::emulator::{get, post, serve_with_args};
use crate::places::place;
use crate::support::Run;

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Creates a task (at head, or pinned to `version`) in universe 1, place 1, and polls it until
/// it ends; gives the task and how long it took.
async fn run_task(base: &str, version: Option<u64>, script: &str) -> (Value, Duration) {
    let at = match version {
        Some(v) => format!("versions/{v}/"),
        None => String::new(),
    };
    let started = Instant::now();
    let (status, task) = post(
        &format!("{base}/cloud/v2/universes/1/places/1/{at}luau-execution-session-tasks"),
        json!({ "script": script }),
    )
    .await;
    assert_eq!(status, 200, "{task}");
    let path = task["path"].as_str().unwrap().to_owned();
    for _ in 0..400 {
        let (_, task) = get(&format!("{base}/cloud/v2/{path}")).await;
        if matches!(task["state"].as_str(), Some("COMPLETE" | "FAILED")) {
            return (task, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the task did not end");
}

async fn stats(base: &str) -> Value {
    get(&format!("{base}/emulator/stats")).await.1
}

async fn upload(base: &str) -> u64 {
    let response = client()
        .post(format!(
            "{base}/universes/v1/1/places/1/versions?versionType=Saved"
        ))
        .header("x-api-key", "any")
        .header("content-type", "application/octet-stream")
        .body(place(Vec::new()))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    body["versionNumber"].as_u64().unwrap()
}

async fn send(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = client().request(method, url).header("x-api-key", "any");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_second_task_of_the_same_version_starts_without_the_boot_delay() {
    let served = serve_with_args(&[], &["--boot-delay", "2"]).await;
    let (first, cold) = run_task(&served.url, None, "return game.PlaceVersion").await;
    assert_eq!(first["output"]["results"], json!([1]));
    let (second, _) = run_task(&served.url, None, "return 2").await;
    assert_eq!(second["state"], "COMPLETE");
    assert!(cold >= Duration::from_secs(2), "{cold:?}");
    // Whether a task waited for a boot is read from the emulator's counts, not from a time
    // bound a busy machine could break.
    let counts = stats(&served.url).await;
    assert_eq!(
        (counts["coldBoots"].clone(), counts["warmStarts"].clone()),
        (json!(1), json!(1))
    );

    // A new version is cold even while the old one is warm, and a task at head runs on it.
    let version = upload(&served.url).await;
    assert_eq!(version, 2);
    let (head, cold_again) = run_task(&served.url, None, "return game.PlaceVersion").await;
    assert_eq!(head["output"]["results"], json!([2]));
    assert!(
        head["path"].as_str().unwrap().contains("/versions/2/"),
        "{head}"
    );
    assert!(cold_again >= Duration::from_secs(2), "{cold_again:?}");
    // Pinned to the old version: still warm, and it says which version it runs on.
    let (pinned, _) = run_task(
        &served.url,
        Some(1),
        "return game.PlaceVersion, game.PlaceId, game.GameId",
    )
    .await;
    assert_eq!(pinned["output"]["results"], json!([1, 1, 1]));
    let counts = stats(&served.url).await;
    assert_eq!(
        (counts["coldBoots"].clone(), counts["warmStarts"].clone()),
        (json!(2), json!(2))
    );
}

#[tokio::test]
async fn a_warm_period_of_zero_boots_every_task() {
    let served = serve_with_args(&[], &["--boot-delay", "1", "--warm-period", "0"]).await;
    for _ in 0..2 {
        let (task, took) = run_task(&served.url, None, "return 1").await;
        assert_eq!(task["state"], "COMPLETE");
        assert!(took >= Duration::from_secs(1), "{took:?}");
    }
    assert_eq!(stats(&served.url).await["coldBoots"], 2);
}

#[tokio::test]
async fn a_value_set_in_one_task_is_read_by_the_next_and_by_open_cloud() {
    let served = serve_with_args(&[], &[]).await;
    let base = &served.url;
    let (set, _) = run_task(
        base,
        None,
        r#"local map = game:GetService("MemoryStoreService"):GetSortedMap("progress")
return map:SetAsync("spec-1", { passed = 3, name = "a" }, 600, 7), map:SetAsync("spec-1", { passed = 4, name = "a" }, 600, 7)"#,
    )
    .await;
    assert_eq!(set["output"]["results"], json!([true, false]), "{set}");
    let (read, _) = run_task(
        base,
        None,
        r#"local ms = game:GetService("MemoryStoreService")
local map = ms:GetSortedMap("progress")
local value, sortKey = map:GetAsync("spec-1")
return value, sortKey, ms:GetSortedMap("progress") == map, map.ClassName, map:GetAsync("missing")"#,
    )
    .await;
    assert_eq!(
        read["output"]["results"],
        json!([{ "passed": 4, "name": "a" }, 7, true, "MemoryStoreSortedMap", null, null])
    );

    let items = format!("{base}/cloud/v2/universes/1/memory-store/sorted-maps/progress/items");
    let (status, item) = get(&format!("{items}/spec-1")).await;
    assert_eq!(status, 200, "{item}");
    assert_eq!(item["value"], json!({ "passed": 4, "name": "a" }));
    assert_eq!(item["numericSortKey"], 7.0);
    assert_eq!(item["id"], "spec-1");
    assert_eq!(
        item["path"],
        "cloud/v2/universes/1/memory-store/sorted-maps/progress/items/spec-1"
    );
    // Another universe's map of the same name is another map.
    let (status, _) = get(&format!(
        "{base}/cloud/v2/universes/2/memory-store/sorted-maps/progress/items/spec-1"
    ))
    .await;
    assert_eq!(status, 404);

    // Written through Open Cloud, read in a task, in the map's order.
    let (status, created) = post(
        &format!("{items}?id=spec-0"),
        json!({ "value": "from the runner", "ttl": "60s", "numericSortKey": 1 }),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let (again, _) = post(
        &format!("{items}?id=spec-0"),
        json!({ "value": 1, "ttl": "60s" }),
    )
    .await;
    assert_eq!(again, 409);
    let (range, _) = run_task(
        base,
        None,
        r#"local map = game:GetService("MemoryStoreService"):GetSortedMap("progress")
local keys = {}
for _, item in map:GetRangeAsync(Enum.SortDirection.Ascending, 10) do table.insert(keys, item.key) end
local down = map:GetRangeAsync(Enum.SortDirection.Descending, 1)
local updated = map:UpdateAsync("spec-0", function(old) return old .. "!" end, 60)
return keys, down[1].key, updated"#,
    )
    .await;
    assert_eq!(
        range["output"]["results"],
        json!([["spec-0", "spec-1"], "spec-1", "from the runner!"])
    );

    // Listing pages through the map; deleting removes. The update returned no sort key, so
    // spec-0 has none now and sorts last.
    let (_, page) = get(&format!("{items}?maxPageSize=1")).await;
    assert_eq!(page["items"][0]["id"], "spec-1");
    let token = page["nextPageToken"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let (_, next) = get(&format!("{items}?maxPageSize=1&pageToken={token}")).await;
    assert_eq!(next["items"][0]["id"], "spec-0");
    assert!(next["items"][0].get("numericSortKey").is_none(), "{next}");
    assert!(next.get("nextPageToken").is_none(), "{next}");
    let (status, _) = send(reqwest::Method::DELETE, &format!("{items}/spec-0"), None).await;
    assert_eq!(status, 200);
    let (_, all) = get(&format!("{items}?maxPageSize=100")).await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(1), "{all}");
}

#[tokio::test]
async fn queues_pass_items_between_open_cloud_and_tasks() {
    let served = serve_with_args(&[], &[]).await;
    let queue = format!(
        "{}/cloud/v2/universes/1/memory-store/queues/specs/items",
        served.url
    );
    for (spec, priority) in [("slow", 0), ("fast", 5)] {
        let (status, item) = post(
            &queue,
            json!({ "data": spec, "priority": priority, "ttl": "120s" }),
        )
        .await;
        assert_eq!(status, 200, "{item}");
    }
    let (task, _) = run_task(
        &served.url,
        None,
        r#"local q = game:GetService("MemoryStoreService"):GetQueue("specs")
local items, id = q:ReadAsync(1, false, 0)
q:RemoveAsync(id)
q:AddAsync({ done = items[1] }, 60)
local none, noId = q:ReadAsync(5, true, 0)
return items, #none, noId, q:GetSizeAsync()"#,
    )
    .await;
    assert_eq!(
        task["output"]["results"],
        json!([["fast"], 0, null, 2]),
        "{task}"
    );
    let (_, read) = get(&format!("{queue}:read?count=5&invisibilityWindow=30s")).await;
    let data: Vec<Value> = read["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["data"].clone())
        .collect();
    assert_eq!(data, [json!("slow"), json!({ "done": "fast" })]);
    let read_id = read["readId"].as_str().unwrap();
    let (status, _) = post(&format!("{queue}:discard"), json!({ "readId": read_id })).await;
    assert_eq!(status, 200);
    let (status, _) = get(&format!("{queue}:read?count=1&allOrNothing=true")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_key_without_the_memory_store_scope_is_refused() {
    let served = serve_with_args(&[], &["--key-scopes", "memory-store.sorted-map:read"]).await;
    let items = format!(
        "{}/cloud/v2/universes/1/memory-store/sorted-maps/m/items",
        served.url
    );
    let (status, body) = post(&format!("{items}?id=a"), json!({ "value": 1 })).await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "PERMISSION_DENIED");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("memory-store.sorted-map:write"),
        "{body}"
    );
    let (status, _) = get(&items).await;
    assert_eq!(status, 200);
    let (status, _) = get(&format!(
        "{}/cloud/v2/universes/1/memory-store/queues/q/items:read",
        served.url
    ))
    .await;
    assert_eq!(status, 403);
    // Without a key at all, the gateway's 401 comes first.
    let response = client().get(&items).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

/// On the local backend, through the real binary: one task writes and reads its universe's
/// stores, sees Roblox's limits, and knows its version.
#[tokio::test]
async fn the_local_backend_runs_memory_stores_with_their_limits() {
    let script = r#"
local ms = game:GetService("MemoryStoreService")
local map = ms:GetSortedMap("m")
map:SetAsync("b", 2, 30, "z")
map:SetAsync("a", 1, 30, 5)
map:SetAsync("c", 3, 30)
local keys = {}
for _, item in map:GetRangeAsync(Enum.SortDirection.Ascending, 200, { key = "a", sortKey = 5 }) do
	table.insert(keys, item.key)
end
local function try(f) return select(2, pcall(f)) end
local errors = {
	try(function() map:SetAsync(string.rep("k", 129), 1, 30) end),
	try(function() map:SetAsync("big", string.rep("x", 40000), 30) end),
	try(function() map:SetAsync("late", 1, 3888001) end),
	try(function() map:SetAsync("f", function() end, 30) end),
	try(function() map:GetRangeAsync(Enum.SortDirection.Ascending, 201) end),
	try(function() map:UpdateAsync("a", function() error("no") end, 30) end),
	try(function() map.GetAsync(ms, "a") end),
}
return keys, errors, game.PlaceVersion, map:GetSizeAsync()
"#;
    let output = Run::bare()
        .env("INPUT_BACKEND", "local")
        .env("INPUT_SCRIPT", script)
        .env("INPUT_OUTPUT_FORMAT", "json")
        .output()
        .await;
    assert_eq!(output.code, 0, "{}", output.stdout);
    let result: Value = output
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["event"] == "result")
        .map(|line| line["results"].clone())
        .expect("a result");
    assert_eq!(result[0], json!(["b", "c"]));
    assert_eq!(
        result[1],
        json!([
            "TaskScript:13: InvalidRequest: The key is longer than 128 characters.",
            "TaskScript:14: ItemValueSizeTooLarge: Value size exceeds limit (32KB).",
            "TaskScript:15: InvalidExpirationTime: The field 'expiration' time must be between 0 and 3,888,000.",
            "TaskScript:16: InvalidRequest: Unable to convert value to json.",
            "TaskScript:17: InvalidRequest: count must be between 1 and 200.",
            "TaskScript:18: TransformCallbackFailed: Failed to invoke transformation callback function.",
            "TaskScript:19: Expected ':' not '.' calling member function GetAsync",
        ])
    );
    assert_eq!(result[2], 1);
    assert_eq!(result[3], 3);
}

/// Reuse through the real binary against `serve --boot-delay`: the second run of an unchanged
/// place uploads nothing, runs on the same version at head, and starts warm (at least the boot
/// delay sooner); `place-reuse: false` uploads again; a key without the memory-store scopes
/// uploads every time and says why once.
#[tokio::test]
async fn the_second_run_of_an_unchanged_place_uploads_nothing_and_starts_warm() {
    let served = serve_with_args(&[], &["--boot-delay", "2"]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("game.rbxl");
    std::fs::write(&file, place(Vec::new())).unwrap();
    let run = |reuse: Option<&str>| {
        let mut run = Run::new(&served.url);
        run.env("INPUT_PLACE_ID", "1")
            .env("INPUT_PLACE_FILE", file.to_str().unwrap())
            .env("INPUT_SCRIPT", "return game.PlaceVersion")
            .env("INPUT_OUTPUT_FORMAT", "json");
        if let Some(reuse) = reuse {
            run.env("INPUT_PLACE_REUSE", reuse);
        }
        run
    };
    let first = run(None).output().await;
    assert_eq!(first.code, 0, "{}", first.stdout);
    let second = run(None).output().await;
    assert_eq!(second.code, 0, "{}", second.stdout);
    assert!(
        second.stdout.contains("holds this place file"),
        "{}",
        second.stdout
    );
    assert!(
        second.stdout.contains("\"results\":[2]"),
        "{}",
        second.stdout
    );
    let counts = stats(&served.url).await;
    assert_eq!(counts["placeUploads"], 1, "{counts}");
    // The first run booted a server for the version it uploaded; the second started on it.
    assert!(
        first.elapsed >= Duration::from_secs(2),
        "{:?}",
        first.elapsed
    );
    assert_eq!(
        (counts["coldBoots"].clone(), counts["warmStarts"].clone()),
        (json!(1), json!(1)),
        "{counts}"
    );
    let off = run(Some("false")).output().await;
    assert_eq!(off.code, 0, "{}", off.stdout);
    assert!(off.stdout.contains("\"results\":[3]"), "{}", off.stdout);
    assert_eq!(stats(&served.url).await["placeUploads"], 2);

    let scoped = serve_with_args(
        &[],
        &[
            "--key-scopes",
            "universe.place.luau-execution-session:write",
        ],
    )
    .await;
    for _ in 0..2 {
        let output = Run::new(&scoped.url)
            .env("INPUT_PLACE_ID", "1")
            .env("INPUT_PLACE_FILE", file.to_str().unwrap())
            .env("INPUT_OUTPUT_FORMAT", "json")
            .output()
            .await;
        assert_eq!(output.code, 0, "{}", output.stdout);
        assert_eq!(
            output
                .stdout
                .matches("lacks the scopes memory-store.sorted-map:read")
                .count(),
            1,
            "{}",
            output.stdout
        );
    }
    assert_eq!(stats(&scoped.url).await["placeUploads"], 2);
}

/// Three spec modules of one passing test each, with TestEZ, as a place file in a new
/// repository.
fn three_spec_place() -> tempfile::TempDir {
    use crate::places::{folder, from_folder, module, testez_source};
    let spec = |name: &str| {
        module(
            name,
            "return function()\n\tit(\"passes\", function()\n\t\texpect(1).to.equal(1)\n\tend)\nend\n",
        )
    };
    let tests = folder("Tests")
        .with_child(spec("a.spec"))
        .with_child(spec("b.spec"))
        .with_child(spec("c.spec"));
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("game.rbxl"),
        place(vec![from_folder("TestEZ", &testez_source()), tests]),
    )
    .unwrap();
    repo
}

/// The suite of [`three_spec_place`] in three shards on place 1 of `base`, one shard at a time
/// (so which task boots a server and which finds one warm is the same on every run).
fn three_shards(base: &str, repo: &std::path::Path) -> Run {
    let mut run = Run::new(base);
    run.dir(repo)
        .remove("INPUT_SCRIPT")
        .env("INPUT_PLACE_ID", "1")
        .env("INPUT_PLACE_FILE", "game.rbxl")
        .env("INPUT_TEST_FRAMEWORK", "testez")
        .env("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests")
        .env("INPUT_FRAMEWORK_PATH", "ReplicatedStorage.TestEZ")
        .env("INPUT_SHARDS", "3")
        .env("INPUT_PARALLEL", "1")
        .env("INPUT_OUTPUT_FORMAT", "json");
    run
}

/// Each of the three tests counted exactly once, passed, by three tasks on `version`.
fn every_test_once(result: &Value, version: u64) {
    assert_eq!(
        result["tests"]["counts"],
        json!({ "total": 3, "passed": 3, "failed": 0, "skipped": 0 }),
        "{result}"
    );
    let mut names: Vec<String> = result["tests"]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["path"].to_string())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 3, "{result}");
    let tasks = result["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3, "{result}");
    for task in tasks {
        let path = task["taskPath"].as_str().unwrap();
        assert!(
            path.starts_with(&format!("universes/1/places/1/versions/{version}/")),
            "ran on version {version}: {path}"
        );
    }
}

/// Whether each task of the step was created at head behind a `game.PlaceVersion` guard for
/// `version` (its script, as the emulator keeps it, starts with the guard) or pinned as is.
async fn guarded(base: &str, result: &Value, version: u64) -> Vec<bool> {
    let guard = format!("do if game.PlaceVersion ~= {version} then return ");
    let mut guarded = Vec::new();
    for task in result["tasks"].as_array().unwrap() {
        let path = task["taskPath"].as_str().unwrap();
        let (_, task) = get(&format!("{base}/cloud/v2/{path}?view=FULL")).await;
        guarded.push(task["script"].as_str().unwrap().starts_with(&guard));
    }
    guarded
}

/// The emulator's counts: (place uploads, creates, cold boots, warm starts).
async fn counts(base: &str) -> (Value, Value, Value, Value) {
    let counts = stats(base).await;
    (
        counts["placeUploads"].clone(),
        counts["creates"].clone(),
        counts["coldBoots"].clone(),
        counts["warmStarts"].clone(),
    )
}

/// Shards of an unchanged place: the second run uploads nothing, and each shard is created once,
/// at head behind its guard, on the warm version the first run uploaded.
#[tokio::test]
async fn shards_of_an_unchanged_place_upload_nothing_and_start_warm() {
    let served = serve_with_args(&[], &[]).await;
    let repo = three_spec_place();
    let first = three_shards(&served.url, repo.path()).expect().await;
    first.code(crate::support::Outcome::Complete);
    every_test_once(&first.result_line(), 2);
    // Uploaded once; pinned to the new version, whose first task boots its server.
    assert_eq!(
        counts(&served.url).await,
        (json!(1), json!(3), json!(1), json!(2))
    );
    assert_eq!(
        guarded(&served.url, &first.result_line(), 2).await,
        [false; 3]
    );

    let second = three_shards(&served.url, repo.path()).expect().await;
    second
        .code(crate::support::Outcome::Complete)
        .stdout_count("holds this place file", 1)
        .stdout_lacks("is not the place's head");
    every_test_once(&second.result_line(), 2);
    // Every shard at head (40 creates a minute, not 5), behind its guard.
    assert_eq!(
        guarded(&served.url, &second.result_line(), 2).await,
        [true; 3]
    );
    // Nothing uploaded, one create a shard, every shard warm.
    assert_eq!(
        counts(&served.url).await,
        (json!(1), json!(6), json!(1), json!(5))
    );
}

/// Head moved between runs (someone uploaded another version): every shard's head task stops at
/// its guard and the shard is re-created pinned to the recorded version, so the tests run on
/// the user's build, each counted once. The cost: one more create a shard.
#[tokio::test]
async fn shards_re_create_pinned_when_head_moved() {
    let served = serve_with_args(&[], &[]).await;
    let repo = three_spec_place();
    three_shards(&served.url, repo.path())
        .expect()
        .await
        .code(crate::support::Outcome::Complete);
    assert_eq!(upload(&served.url).await, 3);

    let second = three_shards(&served.url, repo.path()).expect().await;
    second
        .code(crate::support::Outcome::Complete)
        .stdout_count("holds this place file", 1)
        .stdout_count(
            "place version 2 is not the place's head (a task created at head got universes/1/places/1/versions/3/",
            3,
        );
    every_test_once(&second.result_line(), 2);
    // The tasks that ran the tests are the pinned ones, without a guard.
    assert_eq!(
        guarded(&served.url, &second.result_line(), 2).await,
        [false; 3]
    );
    // Two uploads (ours, then theirs); 3 creates, then 2 a shard: at head (version 3, booted
    // once, warm after) and pinned (version 2, warm from the first run).
    assert_eq!(
        counts(&served.url).await,
        (json!(2), json!(9), json!(2), json!(7))
    );
}

/// Why head first matters for a step of many: pinned creates are five a minute, so eight tasks
/// pinned to a version take over a minute to start. Eight tasks of a reused place go to head
/// (forty a minute) and all start at once, under Roblox's limits.
#[tokio::test]
async fn eight_tasks_of_a_reused_place_start_at_once_not_five_a_minute() {
    let served = serve_with_args(&[], &["--roblox-limits"]).await;
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), place(Vec::new())).unwrap();
    for i in 0..8 {
        std::fs::write(
            repo.path().join(format!("task{i}.luau")),
            format!("return {i}\n"),
        )
        .unwrap();
    }
    let run = |scripts: &str| {
        let mut run = Run::new(&served.url);
        run.dir(repo.path())
            .remove("INPUT_SCRIPT")
            .env("INPUT_SCRIPT_PATH", scripts)
            .env("INPUT_PLACE_FILE", "game.rbxl")
            .env("INPUT_OUTPUT_FORMAT", "json")
            // Roblox's own clocks: the rate limits are real minutes.
            .remove("LUAU_EXEC_TEST_TIME_SCALE");
        run
    };
    // One task uploads the place and records it.
    run("task0.luau")
        .expect()
        .await
        .code(crate::support::Outcome::Complete);
    let ran = run("task*.luau").expect().await;
    ran.code(crate::support::Outcome::Complete)
        .stdout_count("holds this place file", 1)
        .took_less_than(Duration::from_secs(30));
    assert_eq!(ran.result_line()["tasks"].as_array().unwrap().len(), 8);
    let counts = stats(&served.url).await;
    assert_eq!(counts["placeUploads"], 1, "{counts}");
    assert_eq!(counts["creates"], 9, "{counts}");
    assert_eq!(counts["rateLimited"], 0, "{counts}");
}
