//! Measures whole offline test runs: the release binary on the local backend loading a generated
//! place of TestEZ (from the npm registry) plus spec modules, running TestEZ over it and
//! reporting, beside Lune 0.11.1 running the same place with the approach Lune users take
//! (`benches/lune/run-testez.luau`) when `LUNE` names a Lune binary
//! (`cargo install lune --version 0.11.1 --locked`).
//!
//! Places:
//! - `light`: 1,000 spec modules of five `it` blocks doing two additions each, all passing
//!   (the figures earlier versions published);
//! - `real`: spec modules shaped like users' (`support::real_shaped_suite`: a `describe` with a
//!   `beforeEach`, tables and strings built through a shared helper, skipped and failing tests),
//!   at 1,000 and 5,000 spec modules (5,000 and 25,000 tests). `SUITE_SIZES=200,1000` overrides;
//! - `instances-1000`: 1,000 spec modules whose tests build, rename, reparent, clone and destroy
//!   small trees of instances (`support::instance_heavy_suite`), where the time goes to the
//!   instance tree.
//!
//! luau-exec runs twice: as users run it, with `shards` unset (`default`: what the step chooses),
//! and with `shards: auto` (one shard per core on the local backend).
//! `BASELINE=/path/to/luau-exec` runs an earlier build beside this one (the same inputs as
//! `luau-exec`, `shards` not given; interleaved), so a change can show what it gained.
//!
//! Each place also runs with coverage on (`coverage-lcov`, through a sourcemap that maps the
//! suite's shared helper module to a file), so the overhead of measuring it is printed beside.
//!
//! Prints for each place: wall time of the whole process (median, best, worst; runs of the
//! tools interleaved), peak RSS, the counts each tool reported against what the place holds, the
//! ratios, and the machine's load average before and after. Run with
//! `cargo bench --bench suite` (needs npm for TestEZ). Asserts the counts, never a speed.

#![allow(clippy::print_stdout)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rbx_dom_weak::InstanceBuilder;
use serde_json::Value;
use support::Counts;

const BIN: &str = env!("CARGO_BIN_EXE_luau-exec");
/// This program, re-run with this flag, runs one command and prints its peak RSS (getrusage
/// reports the largest child a process ever had, so each measure needs its own process).
const PEAK_RSS_FLAG: &str = "--peak-rss-of";

fn light_place() -> (Vec<u8>, Counts) {
    let mut tests = InstanceBuilder::new("Folder").with_name("Tests");
    tests.add_child(support::module(
        "helper",
        "return { add = function(a, b) return a + b end, double = function(x) return x * 2 end }"
            .into(),
    ));
    for folder in 0..10 {
        let mut node = InstanceBuilder::new("Folder").with_name(format!("group{folder}"));
        for spec in 0..100 {
            let mut source = String::from(
                "local helper = require(script.Parent.Parent.helper)\n\nreturn function()\n\tdescribe(\"cases\", function()\n",
            );
            for test in 0..5 {
                source.push_str(&format!(
                    "\t\tit(\"case {test}\", function()\n\t\t\texpect(helper.add({test}, {spec})).to.equal({})\n\t\t\texpect(helper.double({test})).to.equal({})\n\t\tend)\n",
                    test + spec,
                    test * 2
                ));
            }
            source.push_str("\tend)\nend\n");
            node.add_child(support::module(&format!("spec{spec}.spec"), source));
        }
        tests.add_child(node);
    }
    let counts = Counts {
        passed: 5_000,
        failed: 0,
        skipped: 0,
    };
    (support::place_with_testez(tests), counts)
}

/// The command line each tool runs the place with.
#[derive(Clone, Copy, PartialEq)]
enum Tool<'a> {
    /// With `shards: auto`.
    LuauExec,
    /// With `shards` unset: what a user who gives no `shards` gets.
    LuauExecDefault,
    /// The same run, measuring the coverage of the suite's helper module.
    LuauExecCoverage,
    Lune(&'a str),
    /// Another luau-exec binary (an earlier build), run exactly as `LuauExec`.
    Baseline(&'a str),
}

/// The flag of `--peak-rss-of` that picks the coverage run.
const COVERAGE_FLAG: &str = "--coverage";
/// The flag of `--peak-rss-of` that picks the run with `shards` unset.
const DEFAULT_FLAG: &str = "--default";
/// The flag of `--peak-rss-of` that picks the baseline binary (the next argument).
const BASELINE_FLAG: &str = "--baseline";

/// A sourcemap mapping the helper module of either place to a file (in the target folder, so
/// inside the workspace), for the coverage run.
fn coverage_sourcemap() -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("suite-sourcemap.json");
    let map = serde_json::json!({ "name": "game", "className": "DataModel", "children": [
        { "name": "ReplicatedStorage", "className": "ReplicatedStorage", "children": [
            { "name": "Tests", "className": "Folder", "children": [
                { "name": "helper", "className": "ModuleScript", "filePaths": ["src/helper.luau"] },
                { "name": "Shared", "className": "Folder", "children": [
                    { "name": "helper", "className": "ModuleScript", "filePaths": ["src/Shared/helper.luau"] } ] } ] } ] } ] });
    std::fs::write(&path, map.to_string()).expect("the sourcemap is written");
    path
}

impl Tool<'_> {
    fn name(&self) -> &'static str {
        match self {
            Tool::LuauExec => "shards: auto",
            Tool::LuauExecDefault => "luau-exec",
            Tool::LuauExecCoverage => "+ coverage",
            Tool::Lune(_) => "Lune 0.11.1",
            Tool::Baseline(_) => "baseline",
        }
    }

    fn command(&self, place: &Path) -> Command {
        match self {
            Tool::LuauExecCoverage => {
                let mut command = Tool::LuauExec.command(place);
                let lcov = Path::new(env!("CARGO_TARGET_TMPDIR")).join("suite-lcov.info");
                command
                    .env("INPUT_SOURCEMAP", coverage_sourcemap())
                    .env("INPUT_COVERAGE_LCOV", lcov);
                command
            }
            Tool::LuauExec | Tool::LuauExecDefault | Tool::Baseline(_) => {
                let binary = match self {
                    Tool::Baseline(path) => path,
                    _ => BIN,
                };
                let mut command = Command::new(binary);
                command
                    .env_clear()
                    .env("INPUT_BACKEND", "local")
                    .env("INPUT_PLACE_FILE", place)
                    .env("INPUT_TEST_FRAMEWORK", "testez")
                    .env("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests")
                    .env("INPUT_FRAMEWORK_PATH", "ReplicatedStorage.TestEZ")
                    .env("INPUT_TIMEOUT", "5m")
                    // The JSON format carries every test, so the counts can be checked; it is
                    // also the heaviest report to write.
                    .env("INPUT_OUTPUT_FORMAT", "json");
                // One shard per core (earlier builds do not know `auto`: they run one task).
                if *self == Tool::LuauExec {
                    command.env("INPUT_SHARDS", "auto");
                }
                command
            }
            Tool::Lune(lune) => {
                let mut command = Command::new(lune);
                command.arg("run").arg(lune_script()).arg(place);
                command
            }
        }
    }

    /// The counts the tool reported on its last line of output.
    fn counts(&self, stdout: &str) -> Option<Counts> {
        let last: Value = serde_json::from_str(stdout.lines().last()?).ok()?;
        let counts = match self {
            Tool::LuauExec | Tool::LuauExecDefault | Tool::LuauExecCoverage | Tool::Baseline(_) => {
                &last["tests"]["counts"]
            }
            Tool::Lune(_) => &last,
        };
        let read = |name: &str| counts[name].as_u64().map(|n| n as usize);
        Some(Counts {
            passed: read("passed")?,
            failed: read("failed")?,
            skipped: read("skipped")?,
        })
    }
}

fn lune_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/lune/run-testez.luau")
}

struct Measured {
    walls: Vec<f64>,
    /// User + system CPU seconds of each run: on a shared machine, what the run cost whatever
    /// else ran beside it.
    cpus: Vec<f64>,
    counts: Option<Counts>,
    peak_mib: f64,
}

impl Measured {
    fn median(&self) -> f64 {
        let mut sorted = self.walls.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    }
}

/// CPU seconds (user + system) of every child this process has waited for.
fn children_cpu() -> f64 {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    seconds(usage.user_time()) + seconds(usage.system_time())
}

/// One run: its wall time, CPU time and counts.
fn run_once(tool: Tool, place: &Path, expected: Counts) -> (f64, f64, Option<Counts>) {
    let cpu_before = children_cpu();
    let started = Instant::now();
    let output = tool.command(place).output().expect("the tool runs");
    let wall = started.elapsed().as_secs_f64();
    let cpu = children_cpu() - cpu_before;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let counts = tool.counts(&stdout);
    assert_eq!(
        counts,
        Some(expected),
        "{} reported other counts (exit {:?}): {}{}",
        tool.name(),
        output.status.code(),
        &stdout[stdout.len().saturating_sub(1500)..],
        String::from_utf8_lossy(&output.stderr)
    );
    (wall, cpu, counts)
}

fn peak_rss_mib(tool: Tool, place: &Path) -> f64 {
    let mut command = Command::new(std::env::current_exe().expect("this bench"));
    command.arg(PEAK_RSS_FLAG).arg(place);
    match tool {
        Tool::Lune(lune) => {
            command.arg(lune);
        }
        Tool::Baseline(binary) => {
            command.arg(BASELINE_FLAG).arg(binary);
        }
        Tool::LuauExecCoverage => {
            command.arg(COVERAGE_FLAG);
        }
        Tool::LuauExecDefault => {
            command.arg(DEFAULT_FLAG);
        }
        Tool::LuauExec => {}
    }
    let measured = command.output().expect("the measure runs");
    String::from_utf8_lossy(&measured.stdout)
        .trim()
        .parse()
        .unwrap_or(f64::NAN)
}

/// `--peak-rss-of PLACE [LUNE]`: runs one tool once and prints its peak RSS in MiB.
fn print_peak_rss(args: &[String]) {
    let place = Path::new(&args[2]);
    let tool = match args.get(3) {
        Some(flag) if flag == COVERAGE_FLAG => Tool::LuauExecCoverage,
        Some(flag) if flag == DEFAULT_FLAG => Tool::LuauExecDefault,
        Some(flag) if flag == BASELINE_FLAG => Tool::Baseline(&args[4]),
        Some(lune) => Tool::Lune(lune),
        None => Tool::LuauExec,
    };
    tool.command(place)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("the tool runs");
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    println!("{}", usage.max_rss() as f64 / 1024.0);
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn measure_place(label: &str, bytes: &[u8], expected: Counts, tools: &[Tool]) {
    let place = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("suite-{label}.rbxl"));
    std::fs::write(&place, bytes).expect("the place is written");
    // Five at every size: the 25,000-test place's runs on a shared machine spread by a fifth,
    // and a median of three moved with one slow run.
    let rounds = 5;
    let load_before = load_average();
    let mut measured: Vec<Measured> = tools
        .iter()
        .map(|_| Measured {
            walls: Vec::new(),
            cpus: Vec::new(),
            counts: None,
            peak_mib: f64::NAN,
        })
        .collect();
    // Interleaved, so a change in the machine's load falls on both tools alike.
    for _ in 0..rounds {
        for (tool, measure) in tools.iter().zip(&mut measured) {
            let (wall, cpu, counts) = run_once(*tool, &place, expected);
            measure.walls.push(wall);
            measure.cpus.push(cpu);
            measure.counts = counts;
        }
    }
    for (tool, measure) in tools.iter().zip(&mut measured) {
        measure.peak_mib = peak_rss_mib(*tool, &place);
    }
    println!(
        "\n{label}: {} spec-module place, {} KiB, {} tests ({} passed, {} failed, {} skipped)",
        expected.total() / 5,
        bytes.len() / 1024,
        expected.total(),
        expected.passed,
        expected.failed,
        expected.skipped
    );
    println!(
        "  load average before / after: {load_before} / {}",
        load_average()
    );
    for (tool, measure) in tools.iter().zip(&measured) {
        let mut sorted = measure.walls.clone();
        sorted.sort_by(f64::total_cmp);
        let mut cpus = measure.cpus.clone();
        cpus.sort_by(f64::total_cmp);
        println!(
            "  {:<12} median {:.3} s (best {:.3}, worst {:.3}, {} runs), {:.0} µs a test, CPU {:.2} s, peak RSS {:.1} MiB, counts exact: {}",
            tool.name(),
            measure.median(),
            sorted[0],
            sorted[sorted.len() - 1],
            sorted.len(),
            measure.median() * 1e6 / expected.total() as f64,
            cpus[cpus.len() / 2],
            measure.peak_mib,
            measure.counts == Some(expected),
        );
    }
    let of =
        |wanted: fn(&Tool) -> bool| tools.iter().position(wanted).map(|index| &measured[index]);
    let ours = of(|t| *t == Tool::LuauExec);
    let default = of(|t| *t == Tool::LuauExecDefault);
    if let (Some(ours), Some(covered)) = (ours, of(|t| *t == Tool::LuauExecCoverage)) {
        println!(
            "  coverage on / off: {:.2}× the time ({:+.0} ms), {:.2}× the peak RSS",
            covered.median() / ours.median(),
            (covered.median() - ours.median()) * 1000.0,
            covered.peak_mib / ours.peak_mib
        );
    }
    if let (Some(ours), Some(baseline)) = (ours, of(|t| matches!(t, Tool::Baseline(_)))) {
        println!(
            "  shards: auto / baseline: {:.2}× the time, {:.2}× the peak RSS",
            ours.median() / baseline.median(),
            ours.peak_mib / baseline.peak_mib
        );
    }
    if let (Some(default), Some(baseline)) = (default, of(|t| matches!(t, Tool::Baseline(_)))) {
        println!(
            "  this build (shards unset) / baseline: {:.2}× the time, {:.2}× the peak RSS",
            default.median() / baseline.median(),
            default.peak_mib / baseline.peak_mib
        );
    }
    if let Some(lune) = of(|t| matches!(t, Tool::Lune(_))) {
        for (name, ours) in [
            ("luau-exec (shards unset)", default),
            ("shards: auto", ours),
        ] {
            if let Some(ours) = ours {
                println!(
                    "  {name} / Lune: {:.2}× the time, {:.2}× the peak RSS (goal: ≤ 0.50×, ≤ 1.00×)",
                    ours.median() / lune.median(),
                    ours.peak_mib / lune.peak_mib
                );
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(PEAK_RSS_FLAG) {
        print_peak_rss(&args);
        return;
    }
    let lune = std::env::var("LUNE").ok().filter(|path| !path.is_empty());
    let mut tools = vec![
        Tool::LuauExecDefault,
        Tool::LuauExec,
        Tool::LuauExecCoverage,
    ];
    if let Some(lune) = lune.as_deref() {
        tools.push(Tool::Lune(lune));
    }
    let baseline = std::env::var("BASELINE")
        .ok()
        .filter(|path| !path.is_empty());
    if let Some(baseline) = baseline.as_deref() {
        tools.push(Tool::Baseline(baseline));
    }
    let sizes: Vec<usize> = std::env::var("SUITE_SIZES")
        .unwrap_or_else(|_| "1000,5000".to_owned())
        .split(',')
        .filter_map(|size| size.trim().parse().ok())
        .collect();

    println!("luau-exec offline suite (release binary, local backend, TestEZ 0.4.2 from npm)");
    println!(
        "  machine: {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if lune.is_none() {
        println!("  (set LUNE=/path/to/lune to measure Lune 0.11.1 beside it)");
    }
    let (light, counts) = light_place();
    measure_place("light", &light, counts, &tools);
    for specs in sizes {
        let (tests, counts) = support::real_shaped_suite(specs);
        let place = support::place_with_testez(tests);
        measure_place(&format!("real-{specs}"), &place, counts, &tools);
    }
    // Another shape of suite, where the time goes to the instance tree rather than to tables.
    let (tests, counts) = support::instance_heavy_suite(1000);
    let place = support::place_with_testez(tests);
    measure_place("instances-1000", &place, counts, &tools);
}
