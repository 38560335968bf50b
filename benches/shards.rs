//! Measures a suite split across tasks against the emulator with Roblox's limits on
//! (`serve --roblox-limits`: per-key-owner rate limits, ten tasks per place, a slot lag) and a
//! modelled boot delay: the same suite serially (one task) and in shards, through the release
//! binary as a user runs it (`base-url` at the emulator, an API key, `test-framework: testez`).
//!
//! The suite: TestEZ (from npm) plus 48 spec modules in 8 folders, each spec's test waiting
//! 0.25 s (the work a real spec does), so the serial run holds 12 s of tests.
//!
//! Prints, per run: wall time against the goal (serial / shards + one boot), the requests the
//! emulator received per endpoint (each run stays under a minute, so these are also the most in
//! any minute) against Roblox's per-minute limits, and the 429s it answered. Run with
//! `cargo bench --bench shards` (needs npm for TestEZ). `LUAU_EXEC_BENCH_BOOT` sets the
//! modelled boot (default 5s; a Roblox cold boot is 10-45 s). A server of a version stays warm
//! after a task (`serve --warm-period`, default 10m): the upload before each run boots the
//! version, so the shards start warm, as on Roblox after a first task; `LUAU_EXEC_BENCH_WARM=0`
//! boots every task, the model before warm servers. Each run prints its cold boots and warm
//! starts. Then (`live_annotation`) how soon a failing test at the start of a long task is
//! annotated, with `live-progress: true` and without. Then one slow spec module
//! ([`slow_module_scenario`]): the same suite in four shards with the static deal and with work
//! stealing, side by side. Then ([`last_shard_to_exit`]) the delay from the last of 8 shards
//! ending (the emulator's `updateTime` of each task) to the process exiting, over several runs:
//! how soon a sharded step notices its end. Asserts nothing about speed.

#![allow(clippy::print_stdout)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use rbx_dom_weak::InstanceBuilder;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_luau-exec");
const FOLDERS: usize = 8;
const SPECS_PER_FOLDER: usize = 6;
const SPEC_SECONDS: f64 = 0.25;
const KEY: &str = "bench-key";

fn generated_place() -> Vec<u8> {
    let mut tests = InstanceBuilder::new("Folder").with_name("Tests");
    for folder in 0..FOLDERS {
        let mut node = InstanceBuilder::new("Folder").with_name(format!("group{folder}"));
        for spec in 0..SPECS_PER_FOLDER {
            node.add_child(support::module(
                &format!("spec{spec}.spec"),
                format!(
                    "return function()\n\tit(\"works\", function()\n\t\ttask.wait({SPEC_SECONDS})\n\t\texpect({spec} + 1).to.equal({})\n\tend)\nend\n",
                    spec + 1
                ),
            ));
        }
        tests.add_child(node);
    }
    support::place_with_testez(tests)
}

/// `luau-exec serve --roblox-limits --boot-delay …` on a free port.
fn serve(boot: &str, warm: Option<&str>) -> (Child, String) {
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--roblox-limits",
        "--boot-delay",
        boot,
    ];
    if let Some(warm) = warm {
        args.extend(["--warm-period", warm]);
    }
    let mut child = Command::new(BIN)
        .args(&args)
        .env_clear()
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_owned())
}

fn client(url: &str) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("INPUT_API_KEY", KEY)
        .env("INPUT_UNIVERSE_ID", "1")
        .env("INPUT_PLACE_ID", "1")
        .env("INPUT_BASE_URL", url);
    command
}

/// The emulator at `url` with `place` uploaded as the head version, so the runs create at head
/// (40/min) as a team that uploads in an earlier step would.
fn serve_with_place(boot: &str, warm: Option<&str>, place: &Path) -> (Child, String) {
    let (server, url) = serve(boot, warm);
    let upload = client(&url)
        .env("INPUT_PLACE_FILE", place)
        .env("INPUT_SCRIPT", "return 1")
        .output()
        .unwrap();
    assert!(upload.status.success(), "{upload:?}");
    (server, url)
}

/// The client running the suite's TestEZ specs (the caller adds shards and format).
fn suite(url: &str) -> Command {
    let mut command = client(url);
    command
        .env("INPUT_TEST_FRAMEWORK", "testez")
        .env("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests")
        .env("INPUT_FRAMEWORK_PATH", "ReplicatedStorage.TestEZ");
    command
}

/// Runs one request of the emulator's to the end (this program is otherwise synchronous).
fn blocking<T>(request: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(request)
}

fn stats(url: &str) -> Value {
    blocking(support::stats(url, KEY))
}

fn main() {
    let boot = std::env::var("LUAU_EXEC_BENCH_BOOT").unwrap_or_else(|_| "5s".to_owned());
    let warm = std::env::var("LUAU_EXEC_BENCH_WARM").ok();
    let boot_seconds = luau_exec::duration::parse_duration(&boot)
        .unwrap()
        .as_secs_f64();
    let place = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shards.rbxl");
    std::fs::write(&place, generated_place()).unwrap();
    let tests = FOLDERS * SPECS_PER_FOLDER;
    let serial_work = tests as f64 * SPEC_SECONDS;

    println!(
        "luau-exec sharded suite (release binary against `serve --roblox-limits --boot-delay {boot}`)"
    );
    println!(
        "  suite: {tests} spec modules, {serial_work:.0} s of tests; Roblox's limits per minute: create 40, get 200, logs 45"
    );
    let mut serial_wall = f64::NAN;
    for shards in [1usize, 4, 8] {
        // A fresh emulator per run, so its counts and rate windows are this run's alone.
        let (mut server, url) = serve_with_place(&boot, warm.as_deref(), &place);
        let before = stats(&url);

        let started = Instant::now();
        let output = suite(&url)
            .env("INPUT_SHARDS", shards.to_string())
            .env("INPUT_OUTPUT_FORMAT", "json")
            .output()
            .unwrap();
        let wall = started.elapsed().as_secs_f64();
        let after = stats(&url);
        let _ = server.kill();
        let _ = server.wait();

        let stdout = String::from_utf8_lossy(&output.stdout);
        let result: Value =
            serde_json::from_str(stdout.lines().last().unwrap_or("null")).unwrap_or(Value::Null);
        assert_eq!(output.status.code(), Some(0), "{stdout}");
        let delta =
            |name: &str| after[name].as_u64().unwrap_or(0) - before[name].as_u64().unwrap_or(0);
        if shards == 1 {
            serial_wall = wall;
        }
        let goal = serial_work / shards as f64 + boot_seconds;
        println!(
            "  {shards} shard{}: wall {wall:.1} s (goal: serial work / shards + one boot = {goal:.1} s; {:.1}x the serial run), counts {}",
            if shards == 1 { " (serial)" } else { "s" },
            serial_wall / wall,
            result["tests"]["counts"]
        );
        println!(
            "    requests: create {} (limit 40/min), get {} (200/min), logs {} (45/min); 429s answered: {} rate-limited, {} place full; tasks: {} cold boot(s), {} warm start(s)",
            delta("creates"),
            delta("gets"),
            delta("logGets"),
            delta("rateLimited"),
            delta("placeFull"),
            delta("coldBoots"),
            delta("warmStarts"),
        );
    }
    live_annotation(&boot);
    slow_module_scenario(&boot, warm.as_deref(), boot_seconds);
    last_shard_to_exit(&boot, warm.as_deref(), &place);
}

/// The delay from the last shard's end to the process exiting, 8 shards of the suite above,
/// `LAST_SHARD_RUNS` runs (median and worst): what the poll schedule costs a sharded step at
/// its end. A task's end is the emulator's `updateTime` of it, read after the run.
fn last_shard_to_exit(boot: &str, warm: Option<&str>, place: &Path) {
    const SHARDS: usize = 8;
    const LAST_SHARD_RUNS: usize = 6;
    let mut delays_ms = Vec::new();
    for _ in 0..LAST_SHARD_RUNS {
        let (mut server, url) = serve_with_place(boot, warm, place);
        let output = suite(&url)
            .env("INPUT_SHARDS", SHARDS.to_string())
            .env("INPUT_OUTPUT_FORMAT", "json")
            .output()
            .unwrap();
        let exited = std::time::SystemTime::now();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{stdout}");
        let result: Value =
            serde_json::from_str(stdout.lines().last().unwrap_or("null")).unwrap_or(Value::Null);
        let paths: Vec<String> = result["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|task| task["taskPath"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(paths.len(), SHARDS, "{result}");
        let last_end = paths.iter().map(|path| task_end(&url, path)).max().unwrap();
        let _ = server.kill();
        let _ = server.wait();
        let delay = exited.duration_since(last_end).unwrap_or_default();
        delays_ms.push(delay.as_secs_f64() * 1000.0);
    }
    let mut sorted = delays_ms.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "last shard's end -> exit, {SHARDS} shards: median {:.0} ms, worst {:.0} ms over {LAST_SHARD_RUNS} runs ({})",
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
        delays_ms
            .iter()
            .map(|ms| format!("{ms:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// When the emulator recorded the task at `path` ending (its `updateTime`).
fn task_end(url: &str, path: &str) -> std::time::SystemTime {
    let task = blocking(support::get_json(&format!("{url}/cloud/v2/{path}"), KEY));
    humantime::parse_rfc3339(task["updateTime"].as_str().unwrap()).unwrap()
}

/// Live progress: a task whose first test fails at once and whose other tests take
/// `LIVE_TESTS` seconds, run without and with `live-progress`; prints when the failure's
/// annotation arrived against the run's wall time.
fn live_annotation(boot: &str) {
    const LIVE_TESTS: usize = 8;
    let mut spec = String::from(
        "return function()\n\tit(\"fails first\", function()\n\t\texpect(1).to.equal(2)\n\tend)\n",
    );
    for index in 0..LIVE_TESTS {
        spec.push_str(&format!(
            "\tit(\"takes a second {index}\", function()\n\t\ttask.wait(1)\n\tend)\n"
        ));
    }
    spec.push_str("end\n");
    let tests = InstanceBuilder::new("Folder")
        .with_name("Tests")
        .with_child(support::module("long.spec", spec));
    let place = Path::new(env!("CARGO_TARGET_TMPDIR")).join("live.rbxl");
    std::fs::write(&place, support::place_with_testez(tests)).unwrap();
    println!("live progress: a failing first test in a task of {LIVE_TESTS} s of tests");
    for live in [false, true] {
        let (mut server, url) = serve_with_place(boot, None, &place);
        let started = Instant::now();
        let mut child = suite(&url)
            .env("INPUT_OUTPUT_FORMAT", "github")
            .env("INPUT_LIVE_PROGRESS", live.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut annotated = None;
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap_or_default();
            if annotated.is_none() && line.starts_with("::error ") {
                annotated = Some(started.elapsed().as_secs_f64());
            }
        }
        let status = child.wait().unwrap();
        let wall = started.elapsed().as_secs_f64();
        let _ = server.kill();
        let _ = server.wait();
        assert_eq!(status.code(), Some(10), "the suite has one failing test");
        println!(
            "  live-progress {live}: the failure annotated after {} of a {wall:.1} s run",
            annotated.map_or("(never)".to_owned(), |at| format!("{at:.1} s"))
        );
    }
}

/// One slow spec module among quick ones: `a_slow.spec` waits `SLOW_SECONDS` (first by name,
/// so the static deal gives shard 1 it and every fourth quick module besides), and
/// `QUICK_SPECS` modules wait 0.25 s each. With the static deal the step lasts as long as
/// shard 1's share; with work stealing the other shards take the quick modules while the slow
/// one runs, and the step ends near (total work / shards).
fn slow_module_scenario(boot: &str, warm: Option<&str>, boot_seconds: f64) {
    const SLOW_SECONDS: f64 = 3.0;
    const QUICK_SPECS: usize = 40;
    const SHARDS: usize = 4;
    let mut tests = InstanceBuilder::new("Folder").with_name("Tests");
    tests.add_child(support::module(
        "a_slow.spec",
        format!("return function()\n\tit(\"is slow\", function()\n\t\ttask.wait({SLOW_SECONDS})\n\tend)\nend\n"),
    ));
    for spec in 0..QUICK_SPECS {
        tests.add_child(support::module(
            &format!("spec{spec:02}.spec"),
            format!("return function()\n\tit(\"works\", function()\n\t\ttask.wait({SPEC_SECONDS})\n\tend)\nend\n"),
        ));
    }
    let place = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shards-slow.rbxl");
    std::fs::write(&place, support::place_with_testez(tests)).unwrap();
    let work = SLOW_SECONDS + QUICK_SPECS as f64 * SPEC_SECONDS;
    // Shard 1's static share: the slow module and every fourth quick one after it.
    let static_share = SLOW_SECONDS + (QUICK_SPECS / SHARDS) as f64 * SPEC_SECONDS;
    let goal = (work / SHARDS as f64).max(SLOW_SECONDS);
    println!(
        "one slow spec module: {} modules, {work:.0} s of tests ({SLOW_SECONDS:.0} s in one), {SHARDS} shards; goal: max(work / shards, slowest module) = {goal:.1} s when warm, {:.1} s after a cold boot",
        QUICK_SPECS + 1,
        goal + boot_seconds
    );
    for (name, stealing) in [("static deal", "false"), ("work stealing", "true")] {
        let (mut server, url) = serve_with_place(boot, warm, &place);
        let started = Instant::now();
        let output = suite(&url)
            .env("INPUT_SHARDS", SHARDS.to_string())
            .env("INPUT_WORK_STEALING", stealing)
            .env("INPUT_OUTPUT_FORMAT", "json")
            .output()
            .unwrap();
        let wall = started.elapsed().as_secs_f64();
        let _ = server.kill();
        let _ = server.wait();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{stdout}");
        let result: Value =
            serde_json::from_str(stdout.lines().last().unwrap_or("null")).unwrap_or(Value::Null);
        let shares = stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find_map(|event| {
                let message = event["message"].as_str()?;
                message.strip_prefix("work stealing: ").map(str::to_owned)
            })
            .unwrap_or_else(|| format!("shard 1's share: {static_share:.1} s of tests"));
        println!(
            "  {name:<13}: wall {wall:.1} s, counts {}; {shares}",
            result["tests"]["counts"]
        );
    }
}
