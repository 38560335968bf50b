//! Many tasks, one step: several scripts and suite shards as parallel tasks, merged into one
//! report, inside Roblox's limits (the emulator's `--roblox-limits` keeps us honest).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::emulator::{get, post, serve_with_args};
use crate::places::{folder, from_folder, module, place, testez_run, testez_source};
use crate::support::{
    Expect, FakeCloud, Outcome, Run, RunnerParser, Signal, complete, ok_json, on_get,
    parse_output_file, task,
};

/// A suite of six spec modules in nested folders: passing, failing and skipped tests.
fn six_specs() -> rbx_dom_weak::InstanceBuilder {
    let passing = |name: &str| {
        module(
            name,
            "return function()\n\tit(\"works\", function()\n\t\texpect(1 + 1).to.equal(2)\n\tend)\n\tit(\"works too\", function() end)\nend\n",
        )
    };
    folder("Tests")
        .with_child(passing("a.spec"))
        .with_child(module(
            "b.spec",
            "return function()\n\tit(\"fails\", function()\n\t\texpect(1).to.equal(2)\n\tend)\nend\n",
        ))
        .with_child(
            folder("sub")
                .with_child(passing("c.spec"))
                .with_child(module(
                    "d.spec",
                    "return function()\n\titSKIP(\"later\", function() end)\n\tit(\"now\", function() end)\nend\n",
                ))
                .with_child(folder("deep").with_child(passing("e.spec"))),
        )
        .with_child(passing("f.spec"))
}

/// Runs the suite in `bytes` on the local backend, JSON output; what it left, its result line
/// and the repository.
async fn run_suite(
    bytes: &[u8],
    extra: &[(&str, &str)],
    files: &[(&str, String)],
) -> (Expect, Value, tempfile::TempDir) {
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), bytes).unwrap();
    for (name, contents) in files {
        std::fs::write(repo.path().join(name), contents).unwrap();
    }
    let mut run = testez_run(repo.path());
    for (name, value) in extra {
        run.env(name, value);
    }
    let ran = run.expect().await;
    let result = ran.result_line();
    (ran, result, repo)
}

/// A folder holding these scripts, and a local-backend run of every `*.luau` in it.
fn local_scripts(files: &[(String, &str)]) -> (tempfile::TempDir, Run) {
    let repo = tempfile::tempdir().unwrap();
    for (name, source) in files {
        std::fs::write(repo.path().join(name), source).unwrap();
    }
    let mut run = Run::bare();
    run.dir(repo.path())
        .env("INPUT_BACKEND", "local")
        .env("INPUT_SCRIPT_PATH", "*.luau");
    (repo, run)
}

fn tests_of(result: &Value) -> BTreeSet<(String, String)> {
    result["tests"]["tests"]
        .as_array()
        .unwrap_or_else(|| panic!("no tests in {result}"))
        .iter()
        .map(|t| {
            (
                t["path"].to_string(),
                t["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_sharded_suite_reports_exactly_what_one_task_reports() {
    let bytes = place(vec![from_folder("TestEZ", &testez_source()), six_specs()]);
    let (ran, whole, _) = run_suite(&bytes, &[], &[]).await;
    ran.code(Outcome::TestsFailed);
    assert_eq!(
        whole["tests"]["counts"],
        json!({ "total": 11, "passed": 9, "failed": 1, "skipped": 1 })
    );

    let (ran, sharded, repo) = run_suite(
        &bytes,
        &[("INPUT_SHARDS", "3"), ("INPUT_JUNIT_PATH", "junit.xml")],
        &[],
    )
    .await;
    ran.code(Outcome::TestsFailed);
    // The same tests, with the same paths and verdicts, whichever task ran them.
    assert_eq!(tests_of(&sharded), tests_of(&whole));
    assert_eq!(sharded["tests"]["counts"], whole["tests"]["counts"]);
    let tasks = sharded["tasks"].as_array().unwrap();
    let labels: Vec<&str> = tasks.iter().map(|t| t["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["shard 1/3", "shard 2/3", "shard 3/3"]);
    // Six spec modules dealt out in turn: two to each shard, so every shard ran tests.
    for task in tasks {
        assert!(
            task["taskPath"].as_str().is_some_and(|p| !p.is_empty()),
            "{task}"
        );
    }
    assert_eq!(
        sharded["outcome"],
        "TESTS FAILED (9 passed, 1 failed, 1 skipped) in 3 tasks"
    );
    // One JUnit file for the whole step.
    let junit = std::fs::read_to_string(repo.path().join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 11, "{junit}");
    assert_eq!(junit.matches("<failure").count(), 1, "{junit}");
}

#[tokio::test]
async fn a_shard_that_dies_is_reported_with_the_specs_it_never_ran() {
    let tests = folder("Tests")
        .with_child(module(
            "a.spec",
            "return function()\n\tit(\"passes\", function() end)\nend\n",
        ))
        .with_child(module(
            "b.spec",
            "return function()\n\tit(\"never ends\", function()\n\t\twhile true do end\n\tend)\nend\n",
        ));
    let bytes = place(vec![from_folder("TestEZ", &testez_source()), tests]);
    let sourcemap = json!({ "name": "game", "className": "DataModel", "children": [
        { "name": "ReplicatedStorage", "className": "ReplicatedStorage", "children": [
            { "name": "Tests", "className": "Folder", "children": [
                { "name": "a.spec", "className": "ModuleScript", "filePaths": ["src/a.spec.luau"] },
                { "name": "b.spec", "className": "ModuleScript", "filePaths": ["src/b.spec.luau"] } ] } ] } ] });
    let (ran, result, _) = run_suite(
        &bytes,
        &[
            ("INPUT_SHARDS", "2"),
            // The static deal: which shard holds b.spec is known (with work stealing, see
            // `steal.rs`, it is whichever claims it).
            ("INPUT_WORK_STEALING", "false"),
            ("INPUT_TIMEOUT", "1"),
            ("INPUT_SOURCEMAP", "sourcemap.json"),
        ],
        &[("sourcemap.json", sourcemap.to_string())],
    )
    .await;
    // The deadline is more serious than failing tests: the step exits 3.
    ran.code(Outcome::DeadlineExceeded);
    let tests = result["tests"]["tests"].as_array().unwrap();
    let passed = tests.iter().find(|t| t["status"] == "passed").unwrap();
    assert_eq!(passed["path"], json!(["Tests", "a", "passes"]));
    let lost = tests
        .iter()
        .find(|t| t["path"] == json!(["shard 2/2", "(did not report)"]))
        .unwrap_or_else(|| panic!("{result}"));
    assert_eq!(lost["status"], "failed");
    let message = lost["message"].as_str().unwrap();
    assert!(message.contains("DEADLINE_EXCEEDED"), "{message}");
    assert!(
        message.contains(
            "Spec modules that did not report: ReplicatedStorage.Tests.b.spec (src/b.spec.luau)"
        ),
        "{message}"
    );
    assert!(!message.contains("a.spec"), "{message}");
    let tasks = result["tasks"].as_array().unwrap();
    assert_eq!(tasks[0]["exitCode"], 0, "{result}");
    assert_eq!(tasks[1]["errorCode"], "DEADLINE_EXCEEDED", "{result}");
}

#[tokio::test]
async fn several_scripts_run_side_by_side_and_exit_with_the_most_serious_outcome() {
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path().join("tasks");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("1-ok.luau"), "print(\"fine\")\nreturn 1\n").unwrap();
    std::fs::write(
        dir.join("2-bad.luau"),
        "warn(\"careful\")\nerror(\"nope\")\n",
    )
    .unwrap();
    std::fs::write(dir.join("3-slow.luau"), "while true do end\n").unwrap();
    let outputs = repo.path().join("outputs");
    let mut run = Run::bare();
    run.dir(repo.path())
        .env("INPUT_BACKEND", "local")
        .env("INPUT_SCRIPT_PATH", "tasks/*.luau")
        .env("INPUT_TIMEOUT", "1")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", outputs.to_str().unwrap());
    let ran = run.expect().await;
    // A deadline (3) outranks a script error (1); both ran to their end beside the other.
    ran.code(Outcome::DeadlineExceeded);

    let commands = RunnerParser::default().parse(&ran.stdout);
    let errors: Vec<_> = commands.iter().filter(|c| c.name == "error").collect();
    ran.holds(errors.len() == 2, "two error annotations");
    assert_eq!(errors[0].properties["file"], "tasks/2-bad.luau");
    assert_eq!(errors[0].properties["line"], "2");
    assert!(errors[0].properties["title"].contains("(tasks/2-bad.luau)"));
    assert!(errors[1].properties["title"].contains("DEADLINE_EXCEEDED"));
    // The warning is annotated once; the logged error is the failure already annotated.
    assert_eq!(commands.iter().filter(|c| c.name == "warning").count(), 1);
    // Each task's logs in a group of its own.
    let groups: Vec<&str> = commands
        .iter()
        .filter(|c| c.name == "group")
        .map(|c| c.data.as_str())
        .collect();
    ran.holds(
        groups
            == [
                "Task logs of tasks/1-ok.luau (1 message)",
                "Task logs of tasks/2-bad.luau (2 messages)",
            ],
        "a log group per task with logs",
    );

    let pairs = parse_output_file(&std::fs::read_to_string(&outputs).unwrap());
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no output {name}"))
    };
    assert_eq!(value("exit-code"), "3");
    assert_eq!(value("task-path").lines().count(), 3);
    assert_eq!(value("log-count"), "3");
    let tasks: Value = serde_json::from_str(&value("tasks")).unwrap();
    let codes: Vec<&Value> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["exitCode"])
        .collect();
    assert_eq!(codes, [&json!(0), &json!(1), &json!(3)]);
}

/// The emulator with Roblox's limits on, and a client as a user runs it.
async fn limited_run(served_url: &str, scripts: usize) -> (tempfile::TempDir, Run) {
    let repo = tempfile::tempdir().unwrap();
    for i in 0..scripts {
        std::fs::write(
            repo.path().join(format!("task{i:02}.luau")),
            format!("return {i}\n"),
        )
        .unwrap();
    }
    let mut run = Run::new(served_url);
    run.dir(repo.path())
        .remove("INPUT_SCRIPT")
        .env("INPUT_SCRIPT_PATH", "task*.luau")
        .env("INPUT_OUTPUT_FORMAT", "json")
        // Roblox's own clocks: the slot lag and rate limits are real seconds.
        .remove("LUAU_EXEC_TEST_TIME_SCALE");
    (repo, run)
}

#[tokio::test]
async fn twelve_tasks_on_one_place_meet_no_429_of_our_making() {
    let served = serve_with_args(&[], &["--roblox-limits"]).await;
    let (_repo, run) = limited_run(&served.url, 12).await;
    let ran = run.expect().await;
    ran.code(Outcome::Complete)
        .took_at_least(Duration::from_secs(10));
    assert_eq!(ran.result_line()["tasks"].as_array().unwrap().len(), 12);
    // Ten slots, then the last two only after a slot's lag: no create was refused.
    let (_, stats) = get(&format!("{}/emulator/stats", served.url)).await;
    assert_eq!(stats["placeFull"], 0, "{stats}");
    assert_eq!(stats["rateLimited"], 0, "{stats}");
}

/// Someone else's ten tasks, each running `script`, take every slot of place 2.
async fn fill_place_two(base: &str, script: &str) {
    let url = format!("{base}/cloud/v2/universes/1/places/2/luau-execution-session-tasks");
    for _ in 0..10 {
        let (status, body) = post(&url, json!({ "script": script })).await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn a_full_place_is_waited_for_not_failed() {
    let served = serve_with_args(&[], &[]).await;
    // Every slot held for a second.
    fill_place_two(&served.url, "task.wait(1)").await;
    let mut run = Run::new(&served.url);
    // The test clock shrinks the ordinary retry budget to a fraction of a second: only the
    // patience of a create that meets a full place can carry it through.
    run.env("INPUT_WAIT_TIMEOUT", "60");
    run.expect()
        .await
        .code(Outcome::Complete)
        .took_at_least(Duration::from_millis(900));
    let (_, stats) = get(&format!("{}/emulator/stats", served.url)).await;
    assert!(stats["placeFull"].as_u64().unwrap() >= 1, "{stats}");
    // Every create but the refused ones started a task: theirs and exactly one of ours.
    let count = |name: &str| stats[name].as_u64().unwrap();
    assert_eq!(
        count("creates") - count("placeFull") - count("rateLimited"),
        11,
        "{stats}"
    );
}

#[tokio::test]
async fn a_place_that_stays_full_ends_as_a_wait_timeout_without_a_task() {
    let served = serve_with_args(&[], &[]).await;
    fill_place_two(&served.url, "task.wait(30)").await;
    let mut run = Run::new(&served.url);
    run.env("INPUT_WAIT_TIMEOUT", "1");
    run.expect()
        .await
        .code(Outcome::WaitTimeout)
        .stdout_has("wait-timeout (1.0s) passed before a task could be created");
    let (_, stats) = get(&format!("{}/emulator/stats", served.url)).await;
    let count = |name: &str| stats[name].as_u64().unwrap();
    assert_eq!(
        count("creates") - count("placeFull"),
        10,
        "none of ours: {stats}"
    );
}

#[tokio::test]
async fn a_signal_stops_the_whole_step_and_names_every_task_still_running() {
    let served = serve_with_args(&[], &[]).await;
    let (repo, mut run) = limited_run(&served.url, 0).await;
    for name in ["one", "two", "three"] {
        std::fs::write(
            repo.path().join(format!("task-{name}.luau")),
            "task.wait(30)\n",
        )
        .unwrap();
    }
    run.env("INPUT_PARALLEL", "2")
        .env("INPUT_OUTPUT_FORMAT", "plain")
        .env("LUAU_EXEC_TEST_TIME_SCALE", "0.01");
    let stats_url = format!("{}/emulator/stats", served.url);
    let ran = run
        .interrupted("-TERM", async || {
            get(&stats_url).await.1["creates"].as_u64().unwrap_or(0) >= 2
        })
        .await;
    // Both running tasks are named with their paths; the third was never created.
    ran.code(Outcome::Interrupted(Signal::Terminate))
        .holds(
            ran.stdout
                .lines()
                .filter(|l| l.contains("it may still run on Roblox"))
                .count()
                == 2,
            "two tasks that may still run",
        )
        .stdout_has("never started: interrupted by SIGTERM first");
    let (_, stats) = get(&stats_url).await;
    assert_eq!(stats["creates"], 2, "{stats}");
}

#[tokio::test]
async fn several_places_take_twice_the_tasks() {
    let served = serve_with_args(&[], &["--roblox-limits"]).await;
    let (_repo, mut run) = limited_run(&served.url, 12).await;
    run.remove("INPUT_PLACE_ID").env("INPUT_PLACE_IDS", "2, 3");
    let ran = run.expect().await;
    // Twenty slots: all twelve start at once, six on each place, none waits out a slot's lag.
    ran.code(Outcome::Complete)
        .took_less_than(Duration::from_secs(8));
    let result = ran.result_line();
    let tasks = result["tasks"].as_array().unwrap();
    for place in [2, 3] {
        let here = tasks.iter().filter(|t| t["placeId"] == place).count();
        assert_eq!(here, 6, "{result}");
    }
    let (_, stats) = get(&format!("{}/emulator/stats", served.url)).await;
    assert_eq!(stats["placeFull"], 0, "{stats}");
    assert_eq!(stats["rateLimited"], 0, "{stats}");
}

#[tokio::test]
async fn the_place_file_is_uploaded_once_per_place_and_every_task_is_pinned_to_it() {
    let served = serve_with_args(&[], &["--roblox-limits"]).await;
    // Four tasks: creates pinned to a version are five a minute on Roblox.
    let (repo, mut run) = limited_run(&served.url, 4).await;
    std::fs::write(
        repo.path().join("game.rbxl"),
        place(vec![folder("Nothing")]),
    )
    .unwrap();
    run.remove("INPUT_PLACE_ID")
        .env("INPUT_PLACE_IDS", "2,3")
        .env("INPUT_PLACE_FILE", "game.rbxl");
    let ran = run.expect().await;
    ran.code(Outcome::Complete);
    for task in ran.result_line()["tasks"].as_array().unwrap() {
        let place = task["placeId"].as_u64().unwrap();
        let path = task["taskPath"].as_str().unwrap();
        assert!(
            path.starts_with(&format!("universes/1/places/{place}/versions/2/")),
            "pinned to the uploaded version: {path}"
        );
    }
    let (_, stats) = get(&format!("{}/emulator/stats", served.url)).await;
    assert_eq!(stats["placeUploads"], 2, "{stats}");
    assert_eq!(stats["rateLimited"], 0, "{stats}");
}

#[tokio::test]
async fn wait_timeout_covers_the_whole_step() {
    let files = ["a", "b", "c"].map(|name| (format!("{name}.luau"), "task.wait(30)\n"));
    let (_repo, mut run) = local_scripts(&files);
    run.env("INPUT_PARALLEL", "1")
        .env("INPUT_WAIT_TIMEOUT", "1")
        .env("INPUT_OUTPUT_FORMAT", "json");
    let ran = run.expect().await;
    ran.code(Outcome::WaitTimeout)
        .took_less_than(Duration::from_secs(10));
    let result = ran.result_line();
    let tasks = result["tasks"].as_array().unwrap();
    assert_eq!(tasks[0]["exitCode"], 9, "{result}");
    for task in &tasks[1..] {
        assert_eq!(task["exitCode"], 9, "{result}");
        assert!(task["taskPath"].is_null(), "{task}");
        assert!(
            task["problem"]
                .as_str()
                .unwrap()
                .starts_with("never started: wait-timeout (1.0s) passed"),
            "{task}"
        );
    }
}

#[tokio::test]
async fn failed_tasks_share_one_annotation_budget() {
    let files: Vec<(String, &str)> = (0..12)
        .map(|i| (format!("t{i:02}.luau"), "error(\"this task broke\")\n"))
        .collect();
    let (_repo, mut run) = local_scripts(&files);
    run.env("GITHUB_ACTIONS", "true");
    let ran = run.expect().await;
    ran.code(Outcome::ScriptError);
    let commands = RunnerParser::default().parse(&ran.stdout);
    let errors: Vec<_> = commands.iter().filter(|c| c.name == "error").collect();
    // GitHub shows ten per step: the first ten tasks, in order, on their files.
    ran.holds(errors.len() == 10, "ten error annotations");
    assert_eq!(errors[0].properties["file"], "t00.luau");
    assert_eq!(errors[9].properties["file"], "t09.luau");
    let notice = commands
        .iter()
        .find(|c| c.name == "notice")
        .unwrap_or_else(|| panic!("no notice: {}", ran.stdout));
    assert!(
        notice.data.starts_with("2 more failed tasks"),
        "{}",
        notice.data
    );
}

#[tokio::test]
async fn a_file_name_cannot_act_as_a_workflow_command() {
    // A pull request names its own files: they are as untrusted as the script's text.
    let files = [
        ("##[warning]legacy.luau".to_owned(), "print('a')\n"),
        ("::warning::modern.luau".to_owned(), "print('b')\n"),
    ];
    for format in ["github", "plain"] {
        let (_repo, mut run) = local_scripts(&files);
        run.env("INPUT_OUTPUT_FORMAT", format)
            .env("GITHUB_ACTIONS", "true");
        let ran = run.expect().await.case(format);
        ran.code(Outcome::Complete);
        let commands = RunnerParser::default().parse(&ran.stdout);
        ran.holds(
            commands.iter().all(|c| c.name != "warning"),
            format_args!("no warning command: {commands:?}"),
        );
    }
}

/// Polls of one task path: the first answered 429 with `retry-after: 2`, then PROCESSING
/// until 2.5 s after it, then COMPLETE; records when each arrived.
struct RateLimitedOnce {
    arrivals: std::sync::Arc<std::sync::Mutex<Vec<std::time::Instant>>>,
}

impl wiremock::Respond for RateLimitedOnce {
    fn respond(&self, _: &wiremock::Request) -> wiremock::ResponseTemplate {
        let mut arrivals = self.arrivals.lock().unwrap();
        arrivals.push(std::time::Instant::now());
        if arrivals.len() == 1 {
            return wiremock::ResponseTemplate::new(429)
                .insert_header("retry-after", "2")
                .set_body_json(json!({"code": "RESOURCE_EXHAUSTED", "message": "slow down"}));
        }
        if arrivals[0].elapsed() < Duration::from_millis(2500) {
            ok_json(task("PROCESSING"))
        } else {
            ok_json(complete(json!([])))
        }
    }
}

#[tokio::test]
async fn a_retry_after_holds_every_task_of_the_step() {
    // Two tasks created; their polls answered by hand.
    let cloud = FakeCloud::task()
        .through(&["PROCESSING"])
        .never_ends()
        .creates(2)
        .start()
        .await;
    let arrivals = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    cloud
        .mount_first(on_get().respond_with(RateLimitedOnce {
            arrivals: arrivals.clone(),
        }))
        .await;
    let repo = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        std::fs::write(repo.path().join(format!("{name}.luau")), "return 1\n").unwrap();
    }
    cloud
        .run()
        .dir(repo.path())
        .remove("INPUT_SCRIPT")
        .env("INPUT_SCRIPT_PATH", "*.luau")
        .expect()
        .await
        .code(Outcome::Complete);
    let arrivals = arrivals.lock().unwrap();
    assert!(arrivals.len() >= 3, "{}", arrivals.len());
    // On the test clock each task polls every few milliseconds; after the 429, neither polls
    // again until its retry-after has passed (a request already on its way may still land).
    let limited = arrivals[0];
    let during: Vec<_> = arrivals[1..]
        .iter()
        .map(|at| at.duration_since(limited))
        .filter(|after| *after > Duration::from_millis(50) && *after < Duration::from_millis(1900))
        .collect();
    assert!(during.is_empty(), "polls during the hold: {during:?}");
}
