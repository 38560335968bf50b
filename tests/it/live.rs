//! Live progress (`live-progress: true`, issue #21), end to end on the embedded emulator: a
//! failing test is annotated while its task still runs, and only once in the whole output; a
//! hanging test is named at wait-timeout; a key without the memory-store scopes gets one note
//! and a normal run; the counts are the same with live progress on or off.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::emulator::serve_with_args;
use crate::places::{folder, from_folder, module, place, spec_project, testez_run, testez_source};
use crate::support::{Outcome, Run, Signal};

/// A spec whose first test fails at once and whose second runs for four seconds.
const FAILS_THEN_WAITS: &str = "return function()\n\tit(\"fails first\", function()\n\t\texpect(1 + 1).to.equal(3)\n\tend)\n\tit(\"waits\", function()\n\t\ttask.wait(4)\n\tend)\nend\n";

/// A spec whose second test never ends (within any wait of a test).
const HANGS: &str = "return function()\n\tit(\"passes\", function() end)\n\tit(\"hangs\", function()\n\t\ttask.wait(60)\n\tend)\nend\n";

/// A repository holding a place of TestEZ and `Tests.live.spec` (its file `src/live.spec.luau`
/// in the sourcemap).
fn repository(spec: &str) -> tempfile::TempDir {
    let bytes = place(vec![
        from_folder("TestEZ", &testez_source()),
        folder("Tests").with_child(module("live.spec", spec)),
    ]);
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), bytes).unwrap();
    let sourcemap = json!({ "name": "game", "className": "DataModel", "children": [
        { "name": "ReplicatedStorage", "className": "ReplicatedStorage", "children": [
            { "name": "Tests", "className": "Folder", "children": [
                { "name": "live.spec", "className": "ModuleScript", "filePaths": ["src/live.spec.luau"] } ] } ] } ] });
    std::fs::write(repo.path().join("sourcemap.json"), sourcemap.to_string()).unwrap();
    repo
}

/// A run's stdout line by line, each with when it arrived; its exit code; when it exited.
struct Streamed {
    lines: Vec<(Instant, String)>,
    code: i32,
    ended: Instant,
}

impl Streamed {
    fn text(&self) -> String {
        let lines: Vec<&str> = self.lines.iter().map(|(_, l)| l.as_str()).collect();
        lines.join("\n")
    }

    /// The first line that contains `text`: its index and when it arrived.
    fn find(&self, text: &str) -> (usize, Instant) {
        self.lines
            .iter()
            .position(|(_, line)| line.contains(text))
            .map(|at| (at, self.lines[at].0))
            .unwrap_or_else(|| panic!("no line with {text:?} in:\n{}", self.text()))
    }
}

/// Runs the binary, reading its stdout as it streams.
async fn streamed(run: &Run) -> Streamed {
    let mut child = run.command().spawn().expect("the binary runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout).lines();
    let mut lines = Vec::new();
    let read = async {
        while let Ok(Some(line)) = reader.next_line().await {
            lines.push((Instant::now(), line));
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .expect("the run ends");
    let status = child.wait().await.expect("exits");
    Streamed {
        lines,
        code: status.code().unwrap_or(-1),
        ended: Instant::now(),
    }
}

/// The local backend over `repo`'s place and sourcemap, GitHub's format, live progress on, as
/// one task (`shards: 1`: these tests read its state lines).
fn live_run(repo: &std::path::Path) -> Run {
    let mut run = testez_run(repo);
    run.env("INPUT_OUTPUT_FORMAT", "github")
        .env("INPUT_SHARDS", "1")
        .env("INPUT_SOURCEMAP", "sourcemap.json")
        .env("INPUT_LIVE_PROGRESS", "true");
    run
}

#[tokio::test]
async fn a_failure_is_annotated_while_its_task_still_runs_and_only_once() {
    let repo = repository(FAILS_THEN_WAITS);
    // The default (a local TestEZ suite split across the cores, shown as one run) and one task.
    for shards in [None, Some("1")] {
        let mut run = live_run(repo.path());
        if let Some(shards) = shards {
            run.env("INPUT_SHARDS", shards);
        }
        let run = streamed(&run).await;
        let text = run.text();
        assert_eq!(
            i32::from(Outcome::TestsFailed.exit_code()),
            run.code,
            "{shards:?}: {text}"
        );
        let annotation =
            "::error file=src/live.spec.luau,line=3,title=Tests › live › fails first::";
        let (at, arrived) = run.find(annotation);
        // Before the task ended: before the final report, and seconds before the run's end
        // (the test after it waits four).
        let (report, _) = run.find("Tests: 1 passed, 1 failed, 0 skipped (testez)");
        assert!(at < report, "{shards:?}: {text}");
        assert!(
            run.ended - arrived >= Duration::from_secs(2),
            "{shards:?}: annotated {:?} before the end:\n{text}",
            run.ended - arrived
        );
        assert!(
            run.lines[at]
                .1
                .contains("Expected value \"3\" (number), got \"2\" (number)"),
            "{text}"
        );
        // Once in the whole output: the final report does not annotate it again, and still
        // lists and counts it.
        assert_eq!(text.matches("::error ").count(), 1, "{shards:?}: {text}");
        assert!(
            text.contains("live: FAIL Tests › live › fails first — src/live.spec.luau:3"),
            "{shards:?}: {text}"
        );
    }
}

#[tokio::test]
async fn a_hanging_test_is_named_at_wait_timeout() {
    let repo = repository(HANGS);
    let mut run = live_run(repo.path());
    run.env("INPUT_TIMEOUT", "120")
        .env("INPUT_WAIT_TIMEOUT", "5s");
    let run = streamed(&run).await;
    let text = run.text();
    assert_eq!(
        i32::from(Outcome::WaitTimeout.exit_code()),
        run.code,
        "{text}"
    );
    assert!(
        text.contains("The last test it started (live progress): Tests › live › hangs"),
        "{text}"
    );
    // The progress line said so while it ran.
    assert!(text.contains("running: Tests › live › hangs"), "{text}");
}

#[tokio::test]
async fn a_signal_names_the_test_that_was_running() {
    let repo = repository(HANGS);
    let mut run = live_run(repo.path());
    run.env("INPUT_TIMEOUT", "120");
    let started = Instant::now();
    // Past the task's first write (its buffer goes out every 2 s), with room for a loaded
    // machine's slower start (`interrupted` waits at most 5 s).
    let output = run
        .interrupted("-INT", async || {
            started.elapsed() > Duration::from_millis(4800)
        })
        .await;
    output
        .code(Outcome::Interrupted(Signal::Interrupt))
        .stdout_has("interrupted by SIGINT")
        .stdout_has("The last test it started (live progress): Tests › live › hangs");
}

#[tokio::test]
async fn without_the_memory_store_scopes_one_note_and_a_normal_run() {
    let served = serve_with_args(
        &[],
        &[
            "--key-scopes",
            "universe.place.luau-execution-session:write",
        ],
    )
    .await;
    let repo = repository(FAILS_THEN_WAITS);
    let output = Run::new(&served.url)
        .dir(repo.path())
        .env("INPUT_PLACE_ID", "1")
        .env("INPUT_PLACE_FILE", "game.rbxl")
        .env("INPUT_PLACE_REUSE", "false")
        .env("INPUT_SCRIPT", "")
        .env("INPUT_TEST_FRAMEWORK", "testez")
        .env("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests")
        .env("INPUT_FRAMEWORK_PATH", "ReplicatedStorage.TestEZ")
        .env("INPUT_SOURCEMAP", "sourcemap.json")
        .env("INPUT_OUTPUT_FORMAT", "github")
        .env("INPUT_LIVE_PROGRESS", "true")
        // Two tasks, one note.
        .env("INPUT_SHARDS", "2")
        .expect()
        .await;
    output.code(Outcome::TestsFailed);
    let note = "live-progress: the API key lacks the scopes memory-store.sorted-map:read and memory-store.sorted-map:write";
    assert_eq!(output.stdout.matches(note).count(), 1, "{}", output.stdout);
    // As without live progress: the failure annotated once, by the final report.
    assert_eq!(
        output
            .stdout
            .matches("::error file=src/live.spec.luau,line=3,")
            .count(),
        1,
        "{}",
        output.stdout
    );
    output.stdout_has("Tests: 1 passed, 1 failed, 0 skipped (testez)");
}

/// The last line of a JSON run: the result.
fn result_of(stdout: &str) -> Value {
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no result line ({e}):\n{stdout}"))
}

#[tokio::test]
async fn the_results_are_the_same_with_live_progress_on() {
    let bytes = place(vec![
        from_folder("TestEZ", &testez_source()),
        spec_project(),
    ]);
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), &bytes).unwrap();
    // One task (`shards: 1`): its failures arrive in the order it runs them.
    let off = testez_run(repo.path())
        .env("INPUT_SHARDS", "1")
        .output()
        .await;
    let on = testez_run(repo.path())
        .env("INPUT_SHARDS", "1")
        .env("INPUT_LIVE_PROGRESS", "true")
        .output()
        .await;
    assert_eq!(on.code, off.code, "{}", on.stdout);
    let (on_result, off_result) = (result_of(&on.stdout), result_of(&off.stdout));
    assert_eq!(
        on_result["tests"]["counts"],
        json!({ "total": 6, "passed": 3, "failed": 2, "skipped": 1 })
    );
    assert_eq!(on_result["tests"], off_result["tests"]);
    // Both failures came live too, as JSON events.
    let live: Vec<Value> = on
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["event"] == "live-failure")
        .collect();
    // In any order: the default runs the spec modules side by side.
    let mut names: Vec<&str> = live.iter().filter_map(|e| e["name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "Tests › math › math › divides",
            "Tests › nested › deep › text › errors"
        ],
        "{}",
        on.stdout
    );
    let errors = live
        .iter()
        .find(|e| e["name"] == "Tests › nested › deep › text › errors")
        .expect("the erroring test");
    assert_eq!(
        errors["location"],
        "ReplicatedStorage.Tests.nested.deep.text.spec:6"
    );
    assert!(!off.stdout.contains("live-"), "{}", off.stdout);
}

#[tokio::test]
async fn live_progress_without_a_suite_is_refused() {
    Run::new("http://127.0.0.1:9")
        .env("INPUT_LIVE_PROGRESS", "true")
        .expect()
        .await
        .code(Outcome::BadInput)
        .stderr_has("INPUT_LIVE_PROGRESS`: is used only with `test-framework`");
    Run::new("http://127.0.0.1:9")
        .env("INPUT_TEST_FRAMEWORK", "testez")
        .env("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests")
        .env("INPUT_SCRIPT", "")
        .env("INPUT_LIVE_PROGRESS", "sometimes")
        .expect()
        .await
        .code(Outcome::BadInput)
        .stderr_has("INPUT_LIVE_PROGRESS`: `sometimes` must be `true` or `false`");
}

#[tokio::test]
async fn jest_lua_tests_are_reported_live_too() {
    use crate::real_shaped::{JEST_CONFIG, JEST_SPEC, jest_modules, package_tree};
    let modules = jest_modules();
    let include = folder("rbxts_include").with_child(
        folder("node_modules")
            .with_child(package_tree("@rbxts", &modules.join("@rbxts")))
            .with_child(package_tree("@rbxts-js", &modules.join("@rbxts-js"))),
    );
    let tests = folder("Tests")
        .with_child(module("jest.config", JEST_CONFIG))
        .with_child(module("sum.spec", JEST_SPEC));
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), place(vec![include, tests])).unwrap();
    let output = testez_run(repo.path())
        .env("INPUT_TEST_FRAMEWORK", "jest")
        .env(
            "INPUT_FRAMEWORK_PATH",
            "ReplicatedStorage.rbxts_include.node_modules.@rbxts.jest.src",
        )
        .env("INPUT_TIMEOUT", "120")
        .env("INPUT_LIVE_PROGRESS", "true")
        .output()
        .await;
    let result = result_of(&output.stdout);
    assert_eq!(
        result["tests"]["counts"],
        json!({ "total": 3, "passed": 1, "failed": 1, "skipped": 1 }),
        "{}",
        output.stdout
    );
    let live: Vec<Value> = output
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["event"] == "live-failure")
        .collect();
    assert_eq!(live.len(), 1, "{}", output.stdout);
    // Named and located as the final report names and locates it.
    assert_eq!(
        live[0]["path"],
        json!(["Tests", "sum.spec", "sum", "fails"])
    );
    assert_eq!(live[0]["location"], "ReplicatedStorage.Tests.sum.spec:9");
    let message = live[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Expected: 3") && !message.contains('\u{1b}'),
        "{message}"
    );
    // Every test that ran counted by the end, as the envelope counts them; Jest-Lua hands its
    // reporters no result for a skipped test (only tests that ran end in `test_done`), so the
    // final report alone counts those.
    let progress = output
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .rfind(|event| event["event"] == "live-progress")
        .unwrap_or_else(|| panic!("no progress: {}", output.stdout));
    assert_eq!(
        (
            &progress["passed"],
            &progress["failed"],
            &progress["skipped"]
        ),
        (&json!(1), &json!(1), &json!(0)),
        "{progress}"
    );
}

#[tokio::test]
async fn each_shard_reports_live_under_its_label_and_each_failure_is_annotated_once() {
    let fails = |name: &str, wait: u32| {
        format!(
            "return function()\n\tit(\"{name}\", function()\n\t\texpect(1).to.equal(2)\n\tend)\n\tit(\"then waits\", function()\n\t\ttask.wait({wait})\n\tend)\nend\n"
        )
    };
    let bytes = place(vec![
        from_folder("TestEZ", &testez_source()),
        folder("Tests")
            .with_child(module("a.spec", &fails("a fails", 2)))
            .with_child(module("b.spec", &fails("b fails", 3))),
    ]);
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), bytes).unwrap();
    let mut run = testez_run(repo.path());
    run.env("INPUT_OUTPUT_FORMAT", "github")
        .env("INPUT_SHARDS", "2")
        .env("INPUT_LIVE_PROGRESS", "true");
    let output = run.expect().await;
    output.code(Outcome::TestsFailed);
    // Work stealing (the default) runs each module on whichever shard claims it: the live
    // hooks fire for claimed modules, under that shard's label.
    for name in ["Tests › a › a fails", "Tests › b › b fails"] {
        assert!(
            ["shard 1/2", "shard 2/2"].iter().any(|shard| output
                .stdout
                .contains(&format!("live: {shard}: FAIL {name} — "))),
            "{name}: {}",
            output.stdout
        );
        assert_eq!(
            output.stdout.matches(&format!("title={name}::")).count(),
            1,
            "{}",
            output.stdout
        );
    }
    assert_eq!(
        output.stdout.matches("::error ").count(),
        2,
        "{}",
        output.stdout
    );
    output.stdout_has("Tests: 2 passed, 2 failed, 0 skipped (testez)");
}

/// A suite split across the cores without being asked (`shards` not given) reports live as
/// one run: every failure unlabelled, and the progress counts of all its shards added up.
#[tokio::test]
async fn a_suite_split_by_default_reports_live_as_one_run() {
    // Each fails at once, then waits past a progress line (every 5 s, a hundredth in tests).
    let fails = |name: &str| {
        format!(
            "return function()\n\tit(\"{name}\", function()\n\t\texpect(1).to.equal(2)\n\tend)\n\tit(\"then waits\", function()\n\t\ttask.wait(0.5)\n\tend)\nend\n"
        )
    };
    let bytes = place(vec![
        from_folder("TestEZ", &testez_source()),
        folder("Tests")
            .with_child(module("a.spec", &fails("a fails")))
            .with_child(module("b.spec", &fails("b fails"))),
    ]);
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), &bytes).unwrap();
    let output = testez_run(repo.path())
        .env("INPUT_LIVE_PROGRESS", "true")
        .output()
        .await;
    let events: Vec<Value> = output
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect();
    let mut names: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "live-failure")
        .filter_map(|e| e["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["Tests › a › a fails", "Tests › b › b fails"],
        "{}",
        output.stdout
    );
    assert!(!output.stdout.contains("shard"), "{}", output.stdout);
    // Progress lines hold every shard's counts so far: with two cores, the two failures (one
    // in each shard) show together; no line counts more than the run holds.
    let progress: Vec<u64> = events
        .iter()
        .filter(|e| e["event"] == "live-progress")
        .map(|e| e["failed"].as_u64().unwrap_or(0))
        .collect();
    assert!(progress.contains(&2), "{}", output.stdout);
    assert!(
        progress.iter().all(|&failed| failed <= 2),
        "{}",
        output.stdout
    );
}

/// A place of TestEZ and `Tests.live.spec`, whose Workspace has this `SignalBehavior` (as
/// Studio saves it; 1 Immediate, 2 Deferred).
fn place_with_behavior(spec: &str, behavior: u32) -> Vec<u8> {
    use rbx_dom_weak::types::{Enum, Ref, Variant};
    use rbx_dom_weak::{InstanceBuilder, WeakDom};
    let mut dom = WeakDom::new(InstanceBuilder::new("DataModel"));
    let root = dom.root_ref();
    dom.insert(
        root,
        InstanceBuilder::new("Workspace")
            .with_name("Workspace")
            .with_property("SignalBehavior2", Variant::Enum(Enum::from_u32(behavior))),
    );
    let storage = dom.insert(
        root,
        InstanceBuilder::new("ReplicatedStorage").with_name("ReplicatedStorage"),
    );
    dom.insert(storage, from_folder("TestEZ", &testez_source()));
    dom.insert(
        storage,
        folder("Tests").with_child(module("live.spec", spec)),
    );
    let services: Vec<Ref> = dom.root().children().to_vec();
    let mut bytes = Vec::new();
    rbx_binary::to_writer(&mut bytes, &dom, &services).expect("a place");
    bytes
}

#[tokio::test]
async fn a_failing_tests_printed_lines_come_with_its_live_failure() {
    let spec = "return function()\n\tit(\"prints then fails\", function()\n\t\tprint(\"before the failure\")\n\t\twarn(\"careful\")\n\t\texpect(1 + 1).to.equal(3)\n\tend)\n\tit(\"prints and passes\", function()\n\t\tprint(\"a passing line\")\n\tend)\nend\n";
    // Immediate (MessageOut fires as the line is printed) and Deferred (after the resumption,
    // so after the test has ended): either way the lines are the test's own.
    for (behavior, name) in [(1, "Immediate"), (2, "Deferred")] {
        let repo = tempfile::tempdir().unwrap();
        std::fs::write(
            repo.path().join("game.rbxl"),
            place_with_behavior(spec, behavior),
        )
        .unwrap();
        let output = testez_run(repo.path())
            .env("INPUT_LIVE_PROGRESS", "true")
            .output()
            .await;
        let failure = output
            .stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|event| event["event"] == "live-failure")
            .unwrap_or_else(|| panic!("{name}: no live failure: {}", output.stdout));
        assert_eq!(
            failure["logs"],
            json!([
                { "level": "OUTPUT", "message": "before the failure" },
                { "level": "WARNING", "message": "careful" }
            ]),
            "{name}: {}",
            output.stdout
        );
        assert_eq!(
            result_of(&output.stdout)["tests"]["counts"],
            json!({ "total": 2, "passed": 1, "failed": 1, "skipped": 0 }),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_failures_lines_survive_the_450_kb_log_window() {
    // The failing test prints a line; the next prints 600 KB, so Roblox's window (the last
    // 450 KB of the task's logs) has lost the first line by the time the task ends.
    let spec = "return function()\n\tit(\"fails\", function()\n\t\tprint(\"the failing test's own line\")\n\t\texpect(1).to.equal(2)\n\tend)\n\tit(\"floods the log\", function()\n\t\tfor i = 1, 600 do\n\t\t\tprint(string.rep(\"x\", 1000))\n\t\tend\n\tend)\nend\n";
    let repo = repository(spec);
    let output = live_run(repo.path()).expect().await;
    output.code(Outcome::TestsFailed);
    // Once: with the live failure, not in the task's logs.
    output.stdout_count("[OUTPUT]  the failing test's own line", 1);
    let live = output
        .stdout
        .find("live: FAIL Tests › live › fails")
        .expect("the live failure");
    let line = output
        .stdout
        .find("the failing test's own line")
        .expect("the line");
    assert!(
        line > live,
        "{}",
        &output.stdout[..2000.min(output.stdout.len())]
    );
}
