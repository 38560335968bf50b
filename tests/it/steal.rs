//! Work stealing (issue #21): a sharded TestEZ suite's tasks claim spec modules from one
//! memory-store counter, so a slow module holds up only its own task; every module runs exactly
//! once, a task that dies leaves its modules reported as never run, and a key without the
//! memory-store scopes falls back to the static deal, said once.
//!
//! Which task ran which modules is read from the step's `work stealing:` line (the tasks' own
//! accounts), never from wall-time bounds a busy machine could break.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::emulator::serve_with_args;
use crate::places::{folder, from_folder, module, place, testez_run, testez_source};
use crate::support::{Expect, Outcome, Run};

/// A spec module of two passing tests.
fn quick(name: &str) -> rbx_dom_weak::InstanceBuilder {
    module(
        name,
        "return function()\n\tit(\"adds\", function()\n\t\texpect(1 + 1).to.equal(2)\n\tend)\n\tit(\"is quick\", function() end)\nend\n",
    )
}

/// `a_slow.spec` (one test that waits 4 s, time enough for the other shards to start and run
/// the rest on a busy machine; first by name, so the first claim takes it) and eight quick
/// modules in two folders: 17 tests.
fn one_slow_module() -> Vec<u8> {
    let mut tests = folder("Tests").with_child(module(
        "a_slow.spec",
        "return function()\n\tit(\"waits\", function()\n\t\ttask.wait(4)\n\tend)\nend\n",
    ));
    let mut nested = folder("nested");
    for name in ["b", "c", "d", "e"] {
        tests.add_child(quick(&format!("{name}.spec")));
    }
    for name in ["f", "g", "h", "i"] {
        nested.add_child(quick(&format!("{name}.spec")));
    }
    tests.add_child(nested);
    place(vec![from_folder("TestEZ", &testez_source()), tests])
}

/// Runs the suite in `bytes` on the local backend (`json` format) with these inputs.
async fn run_local(bytes: &[u8], extra: &[(&str, &str)]) -> (Expect, Value) {
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), bytes).unwrap();
    let mut run = testez_run(repo.path());
    for (name, value) in extra {
        run.env(name, value);
    }
    let ran = run.expect().await;
    let result = ran.result_line();
    (ran, result)
}

/// The notes the run printed (the `json` format's note events).
fn notes(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["event"] == "note")
        .filter_map(|event| event["message"].as_str().map(str::to_owned))
        .collect()
}

/// The step's `work stealing:` line: spec modules run by each task, and the task that ran the
/// slowest module.
fn distribution(output: &str) -> (BTreeMap<String, usize>, String) {
    let line = notes(output)
        .into_iter()
        .find(|n| n.starts_with("work stealing: "))
        .unwrap_or_else(|| panic!("no work stealing line in {output}"));
    let (shares, slowest) = line
        .trim_start_matches("work stealing: ")
        .split_once("; the slowest spec module, ")
        .unwrap_or_else(|| panic!("{line}"));
    let ran = shares
        .split(", ")
        .map(|share| {
            let (task, rest) = share
                .split_once(" ran ")
                .unwrap_or_else(|| panic!("{line}"));
            let count = rest.split(' ').next().and_then(|n| n.parse().ok());
            (task.to_owned(), count.unwrap_or_else(|| panic!("{line}")))
        })
        .collect();
    let on = slowest.rsplit_once(" on ").map(|(_, task)| task.to_owned());
    (ran, on.unwrap_or_else(|| panic!("{line}")))
}

/// Each test's path and status.
fn tests_of(result: &Value) -> Vec<(String, String)> {
    let mut tests: Vec<(String, String)> = result["tests"]["tests"]
        .as_array()
        .unwrap_or_else(|| panic!("no tests in {result}"))
        .iter()
        .map(|t| (t["path"].to_string(), t["status"].to_string()))
        .collect();
    tests.sort();
    tests
}

#[tokio::test]
async fn one_slow_module_holds_up_only_the_task_that_claimed_it() {
    let bytes = one_slow_module();
    let (ran, result) = run_local(&bytes, &[("INPUT_SHARDS", "3")]).await;
    ran.code(Outcome::Complete);
    // Every test exactly once: 17 distinct tests, as one task reports them.
    assert_eq!(
        result["tests"]["counts"],
        json!({ "total": 17, "passed": 17, "failed": 0, "skipped": 0 })
    );
    let tests = tests_of(&result);
    let mut distinct = tests.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 17, "{tests:?}");
    let (one, whole) = run_local(&bytes, &[]).await;
    one.code(Outcome::Complete);
    assert_eq!(tests, tests_of(&whole));

    // The task that claimed the slow module ran it alone; the others ran the eight quick ones
    // meanwhile (a static deal gives it two quick ones besides).
    let (shares, slowest_on) = distribution(&ran.stdout);
    assert_eq!(shares.len(), 3, "{shares:?}");
    assert_eq!(shares.values().sum::<usize>(), 9, "{shares:?}");
    assert_eq!(shares[&slowest_on], 1, "{shares:?}");
    assert!(slowest_on.starts_with("shard "), "{slowest_on}");

    // `work-stealing: false` deals the modules out by name, and says nothing of stealing.
    let (dealt, result) = run_local(
        &bytes,
        &[("INPUT_SHARDS", "3"), ("INPUT_WORK_STEALING", "false")],
    )
    .await;
    dealt.code(Outcome::Complete).stdout_lacks("work stealing");
    assert_eq!(tests_of(&result), tests);
}

#[tokio::test]
async fn a_task_that_dies_mid_module_leaves_its_modules_never_run_and_the_step_red() {
    let tests = folder("Tests")
        .with_child(quick("a.spec"))
        .with_child(module(
            "b.spec",
            "return function()\n\tit(\"never ends\", function()\n\t\twhile true do end\n\tend)\nend\n",
        ))
        .with_child(quick("c.spec"))
        .with_child(quick("d.spec"));
    let bytes = place(vec![from_folder("TestEZ", &testez_source()), tests]);
    let module_of = |name: &str| json!({ "name": name, "className": "ModuleScript", "filePaths": [format!("src/{name}.luau")] });
    let specs: Vec<Value> = ["a.spec", "b.spec", "c.spec", "d.spec"]
        .map(module_of)
        .to_vec();
    let sourcemap = json!({ "name": "game", "className": "DataModel", "children": [
        { "name": "ReplicatedStorage", "className": "ReplicatedStorage", "children": [
            { "name": "Tests", "className": "Folder", "children": specs } ] } ] });
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), &bytes).unwrap();
    std::fs::write(repo.path().join("sourcemap.json"), sourcemap.to_string()).unwrap();
    let mut run = testez_run(repo.path());
    run.env("INPUT_SHARDS", "2")
        .env("INPUT_TIMEOUT", "1")
        .env("INPUT_SOURCEMAP", "sourcemap.json");
    let ran = run.expect().await;
    let result = ran.result_line();
    ran.code(Outcome::DeadlineExceeded);
    let tests = result["tests"]["tests"].as_array().unwrap();
    let lost: Vec<&Value> = tests
        .iter()
        .filter(|t| t["path"][1] == "(did not report)")
        .collect();
    assert_eq!(lost.len(), 1, "{result}");
    assert_eq!(lost[0]["status"], "failed");
    let message = lost[0]["message"].as_str().unwrap();
    assert!(message.contains("DEADLINE_EXCEEDED"), "{message}");
    let (_, never_ran) = message
        .split_once("\nSpec modules that did not report: ")
        .unwrap_or_else(|| panic!("{message}"));
    let never_ran = never_ran.lines().next().unwrap_or_default();
    assert!(
        never_ran.contains("ReplicatedStorage.Tests.b.spec (src/b.spec.luau)"),
        "{message}"
    );
    // Every other module either reported its two tests or is named as never run: never both,
    // never neither.
    for name in ["a", "c", "d"] {
        let passed = tests
            .iter()
            .filter(|t| t["path"] == json!(["Tests", name, "adds"]) && t["status"] == "passed")
            .count();
        let named = never_ran.contains(&format!("ReplicatedStorage.Tests.{name}.spec "));
        assert_eq!(
            (passed, named),
            if named { (0, true) } else { (1, false) },
            "{name}: {result}"
        );
    }
}

/// Against `serve` with a key that may run Luau but not use memory stores: the shards fall back
/// to the static deal, the step says so once, and every test still runs once.
#[tokio::test]
async fn without_the_memory_store_scopes_the_shards_deal_statically_and_say_so_once() {
    let served = serve_with_args(
        &[],
        &[
            "--key-scopes",
            "universe.place.luau-execution-session:write",
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("game.rbxl");
    std::fs::write(&file, one_slow_module()).unwrap();
    let output = Run::new(&served.url)
        .env("INPUT_PLACE_ID", "1")
        .env("INPUT_PLACE_FILE", file.to_str().unwrap())
        .remove("INPUT_SCRIPT")
        .env("INPUT_TEST_FRAMEWORK", "testez")
        .env("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests")
        .env("INPUT_FRAMEWORK_PATH", "ReplicatedStorage.TestEZ")
        .env("INPUT_SHARDS", "2")
        .env("INPUT_OUTPUT_FORMAT", "json")
        .expect()
        .await;
    output
        .code(Outcome::Complete)
        .stdout_count(
            "work-stealing: the API key lacks the scopes memory-store.sorted-map:read and memory-store.sorted-map:write, so the shards split the suite's spec modules by name in advance",
            1,
        )
        .stdout_lacks("work stealing: shard");
    let result = output.result_line();
    assert_eq!(
        result["tests"]["counts"],
        json!({ "total": 17, "passed": 17, "failed": 0, "skipped": 0 })
    );
}

/// Against `serve --roblox-limits`: a spec module spends the universe's 1,000 memory-store
/// request units of the minute, so the tasks' next claims are throttled. Every task completes,
/// yet the modules no task could claim are a failed test that names why: never a green step.
#[tokio::test]
async fn modules_left_unclaimed_when_claims_are_throttled_fail_the_step() {
    let served = serve_with_args(&[], &["--roblox-limits"]).await;
    let waits = |name: &str| {
        module(
            name,
            "return function()\n\tit(\"waits\", function()\n\t\ttask.wait(3)\n\tend)\nend\n",
        )
    };
    let tests = folder("Tests")
        .with_child(module(
            "a_burn.spec",
            "return function()\n\tit(\"spends the request units\", function()\n\t\tlocal map = game:GetService(\"MemoryStoreService\"):GetSortedMap(\"burn\")\n\t\tfor _ = 1, 2000 do\n\t\t\tif not pcall(map.GetAsync, map, \"x\") then\n\t\t\t\treturn\n\t\t\tend\n\t\tend\n\tend)\nend\n",
        ))
        .with_child(waits("b.spec"))
        .with_child(waits("c.spec"))
        .with_child(waits("d.spec"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("game.rbxl");
    std::fs::write(
        &file,
        place(vec![from_folder("TestEZ", &testez_source()), tests]),
    )
    .unwrap();
    let output = Run::new(&served.url)
        .env("INPUT_PLACE_ID", "1")
        .env("INPUT_PLACE_FILE", file.to_str().unwrap())
        .remove("INPUT_SCRIPT")
        .env("INPUT_TEST_FRAMEWORK", "testez")
        .env("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests")
        .env("INPUT_FRAMEWORK_PATH", "ReplicatedStorage.TestEZ")
        .env("INPUT_SHARDS", "2")
        .env("INPUT_OUTPUT_FORMAT", "json")
        // Real poll cadence: the test clock's hundredfold polls would meet the emulator's
        // 200 GETs a minute within these seconds, and wait out the minute.
        .remove("LUAU_EXEC_TEST_TIME_SCALE")
        .expect()
        .await;
    output.code(Outcome::TestsFailed);
    let result = output.result_line();
    let tasks = result["tasks"].as_array().unwrap();
    assert!(
        tasks.iter().all(|t| t["exitCode"] == 0),
        "every task completed: {result}"
    );
    let tests = result["tests"]["tests"].as_array().unwrap();
    let gap = tests
        .iter()
        .find(|t| t["path"] == json!(["work stealing", "(never ran)"]))
        .unwrap_or_else(|| panic!("{result}"));
    assert_eq!(gap["status"], "failed");
    let message = gap["message"].as_str().unwrap();
    let ran = tests.iter().filter(|t| t["status"] == "passed").count();
    let unrun = match 4 - ran {
        1 => "1 spec module".to_owned(),
        n => format!("{n} spec modules"),
    };
    assert!(
        message.starts_with(&format!(
            "{unrun} of the 4 listed by the tasks ran in no task, so their tests did not run"
        )),
        "{message}"
    );
    assert!(
        message.contains("\nTasks that stopped claiming: shard ")
            && message.contains("claiming the next spec module failed: ")
            && message
                .contains("RequestThrottled: Recent MemoryStores requests hit one or more limits."),
        "{message}"
    );
}

/// A claim's plan is let go once the claim has run: 160 spec modules whose plans each hold an
/// 8 MiB buffer (1.25 GiB in all, more than the two VMs' 512 MiB limits together) pass, where
/// keeping every plan to the task's end ran one VM out of memory.
#[tokio::test]
async fn each_claims_plan_is_let_go_once_it_has_run() {
    const MODULES: usize = 160;
    let mut tests = folder("Tests");
    for index in 0..MODULES {
        tests.add_child(module(
            &format!("m{index:03}.spec"),
            "return function()\n\tlocal held = buffer.create(8 * 1024 * 1024)\n\tit(\"holds its share\", function()\n\t\texpect(buffer.len(held)).to.equal(8 * 1024 * 1024)\n\tend)\nend\n",
        ));
    }
    let bytes = place(vec![from_folder("TestEZ", &testez_source()), tests]);
    let (ran, result) = run_local(&bytes, &[("INPUT_SHARDS", "2")]).await;
    ran.code(Outcome::Complete);
    assert_eq!(
        result["tests"]["counts"],
        json!({ "total": MODULES, "passed": MODULES, "failed": 0, "skipped": 0 })
    );
    // The modules were claimed (each claim's plan let go as it ran), not dealt out at once.
    let notes = notes(&ran.stdout);
    assert!(
        notes.iter().any(|note| note.starts_with("work stealing: ")),
        "{notes:?}"
    );
}
