//! Measures a whole offline test run: the release binary on the local backend loading a
//! generated place of TestEZ (from the npm registry) plus 1,000 spec modules (5,000 `it`
//! blocks in 10 folders, each spec requiring a shared helper), running TestEZ over it and
//! reporting. The anchor is Lune 0.11.1 doing the same with a require shim: 0.30 s wall and
//! 35–75 MB on these machines; a Roblox cold boot alone is 10–45 s.
//!
//! Prints: place size and in-process load time, wall time of the whole process (median of 5),
//! tests per second, peak RSS, and the counts (which must equal what the place holds).
//! Run with `cargo bench --bench suite` (needs npm for TestEZ). Asserts nothing about speed.

#![allow(clippy::print_stdout)]

mod support;

use std::path::Path;
use std::time::Instant;

use rbx_dom_weak::InstanceBuilder;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_luau-exec");
const FOLDERS: usize = 10;
const SPECS_PER_FOLDER: usize = 100;
const TESTS_PER_SPEC: usize = 5;
/// This program, re-run with this flag, runs one child and prints its peak RSS (getrusage
/// reports the largest child a process ever had, so each measure needs its own process).
const PEAK_RSS_FLAG: &str = "--peak-rss-of";

fn generated_place() -> Vec<u8> {
    let mut tests = InstanceBuilder::new("Folder").with_name("Tests");
    tests.add_child(support::module(
        "helper",
        "return { add = function(a, b) return a + b end, double = function(x) return x * 2 end }"
            .into(),
    ));
    for folder in 0..FOLDERS {
        let mut node = InstanceBuilder::new("Folder").with_name(format!("group{folder}"));
        for spec in 0..SPECS_PER_FOLDER {
            let mut source = String::from(
                "local helper = require(script.Parent.Parent.helper)\n\nreturn function()\n\tdescribe(\"cases\", function()\n",
            );
            for test in 0..TESTS_PER_SPEC {
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
    support::place_with_testez(tests)
}

fn command(place: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(BIN);
    command
        .env_clear()
        .env("INPUT_BACKEND", "local")
        .env("INPUT_PLACE_FILE", place)
        .env("INPUT_TEST_FRAMEWORK", "testez")
        .env("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests")
        .env("INPUT_FRAMEWORK_PATH", "ReplicatedStorage.TestEZ")
        // The JSON format carries every test, so the counts can be checked; it is also the
        // heaviest report to write.
        .env("INPUT_OUTPUT_FORMAT", "json");
    command
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(PEAK_RSS_FLAG) {
        let status = command(Path::new(&args[2]))
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        let usage =
            nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
        println!(
            "{} {}",
            status.code().unwrap_or(-1),
            usage.max_rss() as f64 / 1024.0
        );
        return;
    }
    let bytes = generated_place();
    // Kept, to profile or run by hand.
    let place = Path::new(env!("CARGO_TARGET_TMPDIR")).join("suite.rbxl");
    std::fs::write(&place, &bytes).unwrap();

    let started = Instant::now();
    let dom = luau_exec::emulator::dom::load_place(&bytes).unwrap();
    let load_ms = started.elapsed().as_secs_f64() * 1000.0;
    let instances = dom.descendants().count();

    let mut walls = Vec::new();
    let mut counts = Value::Null;
    for _ in 0..5 {
        let started = Instant::now();
        let output = command(&place).output().unwrap();
        walls.push(started.elapsed().as_secs_f64());
        let stdout = String::from_utf8_lossy(&output.stdout);
        let result: Value =
            serde_json::from_str(stdout.lines().last().unwrap_or("null")).unwrap_or(Value::Null);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            &stdout[stdout.len().saturating_sub(2000)..]
        );
        counts = result["tests"]["counts"].clone();
    }
    walls.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = walls[walls.len() / 2];

    let measured = std::process::Command::new(std::env::current_exe().unwrap())
        .arg(PEAK_RSS_FLAG)
        .arg(&place)
        .output()
        .unwrap();
    let measured = String::from_utf8_lossy(&measured.stdout).into_owned();
    let peak: f64 = measured
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(f64::NAN);

    let expected = FOLDERS * SPECS_PER_FOLDER * TESTS_PER_SPEC;
    println!("luau-exec offline suite (release binary, local backend, TestEZ 0.4.2 from npm)");
    println!("  the place: {}", place.display());
    println!(
        "  place: {} KiB, {instances} instances, loaded in {load_ms:.1} ms (rbx_binary, in process)",
        bytes.len() / 1024
    );
    println!(
        "  whole process (start, load, run, report): median {:.3} s, best {:.3} s, worst {:.3} s over {}",
        median,
        walls[0],
        walls[walls.len() - 1],
        walls.len()
    );
    println!("  tests per second: {:.0}", expected as f64 / median);
    println!("  peak RSS: {peak:.1} MiB");
    println!("  counts: {counts} (the place holds {expected} tests)");
    println!("  for comparison: Lune 0.11.1 0.30 s and 35-75 MB; a Roblox cold boot 10-45 s");
}
