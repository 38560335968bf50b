//! Coverage end to end: a TestEZ place whose module has known executed and unexecuted lines,
//! run on the emulator (one task and three shards), written as lcov and Cobertura and checked
//! with the tools CI uses when they are installed (`lcov`, `genhtml`, `pycobertura`,
//! `xmllint` with Cobertura's DTD); the threshold's exit code; and the Open Cloud path against
//! a fake that answers like the documented API, including an engine that refuses coverage.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::places::{folder, from_folder, module, place, testez_source};
use crate::report::{Step, finish, github_step};
use crate::support::{FakeCloud, Outcome, Run, ok_json, on_logs};

/// Lines 1–11: `add` is called three times in all and takes its early return never; `never`
/// is never called.
const CALC: &str = "local Calc = {}\n\
function Calc.add(a, b)\n\
\tif a > 10 then\n\
\t\treturn 0\n\
\tend\n\
\treturn a + b\n\
end\n\
function Calc.never()\n\
\treturn 1\n\
end\n\
return Calc\n";

/// A module no spec requires: lines 1, 2, 3 and 5 are code, and never run.
const UNUSED: &str = "local Unused = {}\nfunction Unused.f()\n\treturn 1\nend\nreturn Unused\n";

fn spec(calls: usize) -> String {
    let body = "\t\texpect(Calc.add(1, 2)).to.equal(3)\n".repeat(calls);
    format!(
        "local Calc = require(game.ReplicatedStorage.Shared.Calc)\nreturn function()\n\tit(\"adds\", function()\n{body}\tend)\nend\n"
    )
}

/// A repository: the place (TestEZ under Packages, `Shared.Calc`, `Shared.Unused` which no
/// spec requires, three specs calling `add` twice, once and not at all) and its sourcemap.
fn repository() -> tempfile::TempDir {
    repository_with(None)
}

/// The repository, with `Shared.Big` (this source) and a spec that requires it when given.
fn repository_with(big: Option<&str>) -> tempfile::TempDir {
    let mut shared = folder("Shared")
        .with_child(module("Calc", CALC))
        .with_child(module("Unused", UNUSED));
    let mut tests = folder("Tests")
        .with_child(module("a.spec", &spec(2)))
        .with_child(module("b.spec", &spec(1)))
        .with_child(module("c.spec", &spec(0)));
    if let Some(big) = big {
        shared.add_child(module("Big", big));
        tests.add_child(module(
            "d.spec",
            "require(game.ReplicatedStorage.Shared.Big)\nreturn function() end\n",
        ));
    }
    let bytes = place(vec![
        folder("Packages").with_child(from_folder("TestEZ", &testez_source())),
        shared,
        tests,
    ]);
    let sourcemap = json!({ "name": "game", "className": "DataModel", "children": [
        { "name": "ReplicatedStorage", "className": "ReplicatedStorage", "children": [
            { "name": "Packages", "className": "Folder", "children": [
                { "name": "TestEZ", "className": "ModuleScript", "filePaths": ["Packages/TestEZ/init.lua"] } ] },
            { "name": "Shared", "className": "Folder", "children": [
                { "name": "Calc", "className": "ModuleScript", "filePaths": ["src/shared/Calc.luau"] },
                { "name": "Unused", "className": "ModuleScript", "filePaths": ["src/shared/Unused.luau"] },
                { "name": "Big", "className": "ModuleScript", "filePaths": ["src/shared/Big.luau"] } ] },
            { "name": "Tests", "className": "Folder", "children": [
                { "name": "a.spec", "className": "ModuleScript", "filePaths": ["tests/a.spec.luau"] },
                { "name": "b.spec", "className": "ModuleScript", "filePaths": ["tests/b.spec.luau"] },
                { "name": "c.spec", "className": "ModuleScript", "filePaths": ["tests/c.spec.luau"] } ] } ] } ] });
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), bytes).unwrap();
    std::fs::write(repo.path().join("sourcemap.json"), sourcemap.to_string()).unwrap();
    std::fs::create_dir_all(repo.path().join("src/shared")).unwrap();
    std::fs::write(repo.path().join("src/shared/Calc.luau"), CALC).unwrap();
    std::fs::write(repo.path().join("src/shared/Unused.luau"), UNUSED).unwrap();
    if let Some(big) = big {
        std::fs::write(repo.path().join("src/shared/Big.luau"), big).unwrap();
    }
    repo
}

/// The suite as a GitHub step with both coverage reports.
fn coverage_step(repo: &Path, shards: &str) -> Run {
    let mut run = github_step(repo);
    run.env("INPUT_PLACE_FILE", "game.rbxl")
        .env("INPUT_TEST_FRAMEWORK", "testez")
        .env("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests")
        .env("INPUT_SOURCEMAP", "sourcemap.json")
        .env("INPUT_SHARDS", shards)
        // The static deal gives each of three shards one spec module, so each loads the module
        // under test once (with work stealing a shard may claim none).
        .env("INPUT_WORK_STEALING", "false")
        .env("INPUT_COVERAGE_LCOV", "coverage/lcov.info")
        .env("INPUT_COVERAGE_COBERTURA", "coverage/cobertura.xml");
    run
}

/// `DA:line,hits` of one file of a tracefile.
fn line_hits(lcov: &str, file: &str) -> BTreeMap<u32, u64> {
    let record = lcov
        .split("end_of_record\n")
        .find(|record| record.contains(&format!("SF:{file}\n")))
        .unwrap_or_else(|| panic!("no {file} in\n{lcov}"));
    record
        .lines()
        .filter_map(|line| line.strip_prefix("DA:"))
        .map(|da| {
            let (line, hits) = da.split_once(',').unwrap();
            (line.parse().unwrap(), hits.parse().unwrap())
        })
        .collect()
}

async fn run_suite(shards: &str) -> (tempfile::TempDir, Step) {
    let repo = repository();
    let step = finish(&coverage_step(repo.path(), shards), repo.path()).await;
    step.output.code(Outcome::Complete);
    (repo, step)
}

#[tokio::test]
async fn a_suite_reports_exact_hits_alone_and_in_three_shards() {
    let (repo, one) = run_suite("1").await;
    let lcov = std::fs::read_to_string(repo.path().join("coverage/lcov.info")).unwrap();
    // Only the modules under test: no spec, no TestEZ.
    assert_eq!(lcov.matches("SF:").count(), 2, "{lcov}");
    let hits = line_hits(&lcov, "src/shared/Calc.luau");
    // Top-level lines run once per task that loaded the module; `add`'s body three times, its
    // early return never; `never`'s body never. `end` lines are not code.
    let expected: BTreeMap<u32, u64> = [
        (1, 1),
        (2, 1),
        (3, 3),
        (4, 0),
        (6, 3),
        (8, 1),
        (9, 0),
        (11, 1),
    ]
    .into();
    assert_eq!(hits, expected, "{lcov}");
    assert!(
        lcov.contains("FN:2,add\n") && lcov.contains("FNDA:3,add\n"),
        "{lcov}"
    );
    assert!(lcov.contains("FNDA:0,never\n"), "{lcov}");
    assert!(lcov.contains("LF:8\nLH:6\n"), "{lcov}");
    // The module no spec loaded counts, every line of it never run.
    let unused: BTreeMap<u32, u64> = [(1, 0), (2, 0), (3, 0), (5, 0)].into();
    assert_eq!(line_hits(&lcov, "src/shared/Unused.luau"), unused, "{lcov}");
    assert_eq!(one.output("coverage-lines"), "50.0");
    assert!(
        one.summary
            .contains(r"**Coverage:** 50\.0% of lines \(6 of 12\) in 2 files"),
        "{}",
        one.summary
    );
    assert!(
        one.summary
            .contains("https://github.com/octo/game/blob/abc123/src/shared/Calc.luau#L4"),
        "{}",
        one.summary
    );

    let (repo3, three) = run_suite("3").await;
    let lcov3 = std::fs::read_to_string(repo3.path().join("coverage/lcov.info")).unwrap();
    let hits3 = line_hits(&lcov3, "src/shared/Calc.luau");
    // The same lines ran and the same never did; function bodies have the same hits. The top
    // level ran in each of the three tasks, each of which loaded the module.
    for (line, hits) in &expected {
        let top_level = [1, 2, 8, 11].contains(line);
        let want = if top_level { hits * 3 } else { *hits };
        assert_eq!(hits3.get(line), Some(&want), "line {line}\n{lcov3}");
    }
    assert_eq!(hits3.len(), expected.len());
    assert_eq!(line_hits(&lcov3, "src/shared/Unused.luau"), unused);
    assert_eq!(three.output("coverage-lines"), "50.0");
}

// A tool that is not installed is said on stderr and not checked (`.ci/run` installs them).
#[allow(clippy::print_stderr)]
#[tokio::test]
async fn the_reports_pass_the_tools_ci_uses() {
    let (repo, _) = run_suite("1").await;
    let dir = repo.path();
    let tool = |name: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let run = |program: &str, args: &[&str]| {
        let output = std::process::Command::new(program)
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{program} {args:?}: {text}");
        text
    };
    if tool("lcov") {
        let summary = run("lcov", &["--summary", "coverage/lcov.info"]);
        assert!(summary.contains("50.0% (6 of 12 lines)"), "{summary}");
        run("genhtml", &["-q", "-o", "html", "coverage/lcov.info"]);
        assert!(dir.join("html/index.html").exists());
    } else {
        eprintln!("lcov is not installed (Debian package `lcov`): not checked");
    }
    if tool("pycobertura") {
        let shown = run("pycobertura", &["show", "coverage/cobertura.xml"]);
        assert!(shown.contains("src/shared/Calc.luau"), "{shown}");
        assert!(shown.contains("50.00%"), "{shown}");
    } else {
        eprintln!("pycobertura is not installed (PyPI): not checked");
    }
    if tool("xmllint") {
        let dtd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/coverage-04.dtd");
        run(
            "xmllint",
            &[
                "--noout",
                "--nonet",
                "--dtdvalid",
                dtd.to_str().unwrap(),
                "coverage/cobertura.xml",
            ],
        );
    } else {
        eprintln!("xmllint is not installed (Debian package `libxml2-utils`): not checked");
    }
}

#[tokio::test]
async fn coverage_past_its_share_of_the_results_limit_is_cut_and_said() {
    // 760,000 lines run once: about 1.5 MB in the compact form, past coverage's budget.
    let big = "x = 1\n".repeat(760_000) + "return {}\n";
    let repo = repository_with(Some(&big));
    let step = finish(&coverage_step(repo.path(), "1"), repo.path()).await;
    step.output.code(Outcome::Complete);
    let lcov = std::fs::read_to_string(repo.path().join("coverage/lcov.info")).unwrap();
    // The big module is left out, neither counted nor taken for a module no test loaded; the
    // others are whole, and the summary says what was cut.
    assert!(!lcov.contains("Big"), "the big module is cut");
    assert!(lcov.contains("SF:src/shared/Calc.luau\n"));
    assert!(lcov.contains("SF:src/shared/Unused.luau\n"));
    assert!(
        step.summary
            .contains("1 scripts were left out to fit Roblox&#39;s 4 MB limit on results"),
        "{}",
        step.summary
    );
    assert_eq!(step.output("coverage-lines"), "50.0");
}

#[tokio::test]
async fn below_the_threshold_is_exit_12_and_at_it_passes() {
    let repo = repository();
    let mut run = coverage_step(repo.path(), "1");
    run.env("INPUT_COVERAGE_THRESHOLD", "80%");
    let step = finish(&run, repo.path()).await;
    step.output.code(Outcome::CoverageBelowThreshold);
    assert_eq!(step.output("outcome"), "COVERAGE BELOW THRESHOLD");
    assert!(
        step.output("error-message").contains(
            "input `coverage-threshold`: 50.0% of lines ran (6 of 12), below the 80.0% asked for"
        ),
        "{}",
        step.output("error-message")
    );
    let mut run = coverage_step(repo.path(), "1");
    run.env("INPUT_COVERAGE_THRESHOLD", "50");
    let step = finish(&run, repo.path()).await;
    step.output.code(Outcome::Complete);
}

#[tokio::test]
async fn coverage_needs_a_sourcemap() {
    let repo = repository();
    let mut run = coverage_step(repo.path(), "1");
    run.remove("INPUT_SOURCEMAP");
    let output = run.expect().await;
    output
        .code(Outcome::BadInput)
        .stderr_has("input `coverage-lcov`: needs `sourcemap`");
}

/// A fake Open Cloud whose task, created `runs` times, completes with `first` as its first
/// return value; its logs are an empty list.
async fn cloud_returning(first: Value, runs: u64) -> FakeCloud {
    let cloud = FakeCloud::task()
        .through(&["QUEUED"])
        .completes(json!([first]))
        .creates(runs)
        .no_logs()
        .start()
        .await;
    cloud
        .mount(on_logs().respond_with(ok_json(json!({ "luauExecutionSessionTaskLogs": [] }))))
        .await;
    cloud
}

/// A plain script run (its own envelope) against the fake, with coverage asked for.
fn cloud_run(cloud: &FakeCloud, repo: &Path) -> Run {
    let mut run = cloud.run();
    run.dir(repo)
        .env("INPUT_SOURCEMAP", "sourcemap.json")
        .env("INPUT_COVERAGE_LCOV", "lcov.info")
        .env("INPUT_OUTPUT_FORMAT", "json");
    run
}

fn envelope(coverage: Value) -> Value {
    json!({
        "kind": "luau-exec/test-results@1",
        "framework": "testez",
        "tests": [ { "path": ["Tests", "adds"], "status": "passed" } ],
        "coverage": coverage,
    })
}

#[tokio::test]
async fn open_cloud_coverage_in_robloxs_shape_becomes_lcov() {
    let repo = repository();
    // As `GetHits()` answers on Roblox: index 1 is line 1, -1 not code; the bootstrap's compact
    // form is read alike.
    let cloud = cloud_returning(envelope(json!({
        "kind": "luau-exec/coverage@1",
        "scripts": [
            { "name": "ReplicatedStorage.Shared.Calc", "lines": [1, 1, 3, 0, -1, 3, -1, 1, 0, -1, 1],
              "functions": [ { "Name": "add", "Line": 2, "Hits": 3 } ] },
            { "name": "ReplicatedStorage.Tests.a.spec", "lines": "1,1" },
        ],
    })), 1)
    .await;
    let output = cloud_run(&cloud, repo.path()).expect().await;
    output.code(Outcome::Complete);
    let lcov = std::fs::read_to_string(repo.path().join("lcov.info")).unwrap();
    assert_eq!(
        lcov,
        "TN:\nSF:src/shared/Calc.luau\nFN:2,add\nFNDA:3,add\nFNF:1\nFNH:1\n\
         DA:1,1\nDA:2,1\nDA:3,3\nDA:4,0\nDA:6,3\nDA:8,1\nDA:9,0\nDA:11,1\nLF:8\nLH:6\nend_of_record\n\
         TN:\nSF:src/shared/Unused.luau\nFN:1,<main>\nFN:2,f\nFNDA:0,<main>\nFNDA:0,f\nFNF:2\nFNH:0\n\
         DA:1,0\nDA:2,0\nDA:3,0\nDA:5,0\nLF:4\nLH:0\nend_of_record\n"
    );
    let finished: Value = serde_json::from_str(output.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        finished["coverage"]["files"],
        json!([
            { "path": "src/shared/Calc.luau", "linesFound": 8, "linesHit": 6, "percent": 75.0 },
            { "path": "src/shared/Unused.luau", "linesFound": 4, "linesHit": 0, "percent": 0.0 },
        ]),
        "{finished}"
    );
}

#[tokio::test]
async fn an_engine_that_refuses_coverage_still_runs_the_suite_and_says_so() {
    let repo = repository();
    let cloud = cloud_returning(envelope(json!({
        "kind": "luau-exec/coverage@1",
        "scripts": [],
        "error": "coverage was not available: ScriptContext:EnableCoverage refused it: The current thread cannot call 'EnableCoverage' (lacking capability PluginOrOpenCloud)",
    })), 3)
    .await;
    let mut run = cloud_run(&cloud, repo.path());
    run.env("INPUT_OUTPUT_FORMAT", "plain");
    let output = run.expect().await;
    // The tests passed; coverage is missing, which only a threshold turns into a failure.
    output.code(Outcome::Complete).stdout_has(
        "Coverage: none (coverage was not available: ScriptContext:EnableCoverage refused it",
    );
    // On GitHub, a notice says so.
    let mut run = cloud_run(&cloud, repo.path());
    run.env("INPUT_OUTPUT_FORMAT", "github");
    let output = run.expect().await;
    let commands = crate::support::RunnerParser::default().parse(&output.stdout);
    let notice = commands
        .iter()
        .find(|c| {
            c.name == "notice"
                && c.properties.get("title").map(String::as_str) == Some("Coverage not available")
        })
        .unwrap_or_else(|| panic!("no notice in {commands:#?}"));
    assert!(
        notice.data.contains("EnableCoverage refused it"),
        "{}",
        notice.data
    );
    // A threshold cannot be met by coverage that was not measured: exit 12.
    let mut run = cloud_run(&cloud, repo.path());
    run.env("INPUT_COVERAGE_THRESHOLD", "50");
    let output = run.expect().await;
    output.code(Outcome::CoverageBelowThreshold)
        .stdout_has(
            "`--coverage-threshold` / `INPUT_COVERAGE_THRESHOLD` asks for 50.0% of lines, but coverage was not available",
        );
}
