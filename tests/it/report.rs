//! What a user reads first, tried as a new user would: a TestEZ place with failing tests, run as
//! a GitHub step and by hand. Failures are filed under the test (not the helper it called),
//! the framework's frames and TestEZ's own reporter stay out of what is read first, and the
//! summary leads with the verdict.

use std::path::Path;

use serde_json::Value;

use crate::places::{folder, from_folder, place, spec_project, spec_sourcemap, testez_source};
use crate::support::{Expect, Outcome, Run, RunnerParser, WorkflowCommand, parse_output_file};

/// A repository holding the spec project's place (TestEZ where Wally puts it,
/// `ReplicatedStorage.Packages.TestEZ`, the default `framework-path`) and its sourcemap.
fn spec_repository() -> tempfile::TempDir {
    let bytes = place(vec![
        folder("Packages").with_child(from_folder("TestEZ", &testez_source())),
        spec_project(),
    ]);
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), bytes).unwrap();
    std::fs::write(
        repo.path().join("sourcemap.json"),
        spec_sourcemap().to_string(),
    )
    .unwrap();
    repo
}

/// What a GitHub step left: its output, outputs, summary, JUnit and workflow commands.
pub struct Step {
    pub output: Expect,
    pub outputs: Vec<(String, String)>,
    pub summary: String,
    pub junit: String,
    pub commands: Vec<WorkflowCommand>,
}

impl Step {
    pub fn errors(&self) -> Vec<&WorkflowCommand> {
        self.commands.iter().filter(|c| c.name == "error").collect()
    }

    pub fn output(&self, name: &str) -> &str {
        self.outputs
            .iter()
            .find(|(n, _)| n == name)
            .map_or("(missing)", |(_, v)| v.as_str())
    }
}

/// A run in `repo` as a GitHub step, on the local backend, with every report written.
pub fn github_step(repo: &Path) -> Run {
    let mut run = Run::bare();
    run.dir(repo)
        .env("INPUT_BACKEND", "local")
        .env("INPUT_JUNIT_PATH", "junit.xml")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "octo/game")
        .env("GITHUB_SHA", "abc123")
        .env("GITHUB_OUTPUT", repo.join("outputs").to_str().unwrap())
        .env(
            "GITHUB_STEP_SUMMARY",
            repo.join("summary").to_str().unwrap(),
        );
    run
}

pub async fn finish(run: &Run, repo: &Path) -> Step {
    let output = run.expect().await;
    let read = |name: &str| std::fs::read_to_string(repo.join(name)).unwrap_or_default();
    Step {
        commands: RunnerParser::default().parse(&output.stdout),
        outputs: parse_output_file(&read("outputs")),
        summary: read("summary"),
        junit: read("junit.xml"),
        output,
    }
}

/// The spec project's suite as a GitHub step.
fn suite_step(repo: &Path) -> Run {
    let mut run = github_step(repo);
    run.env("INPUT_PLACE_FILE", "game.rbxl")
        .env("INPUT_TEST_FRAMEWORK", "testez")
        .env("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests")
        .env("INPUT_SOURCEMAP", "sourcemap.json");
    run
}

#[tokio::test]
async fn a_helpers_error_is_filed_under_the_test_that_called_it() {
    let repo = spec_repository();
    let step = finish(&suite_step(repo.path()), repo.path()).await;
    step.output.code(Outcome::TestsFailed);
    assert_eq!(step.output("tests-failed"), "2");

    let errors = step.errors();
    assert_eq!(errors.len(), 2, "{:#?}", step.commands);
    let helper = errors
        .iter()
        .find(|e| e.properties["title"].ends_with("errors"))
        .expect("the failure of the test that calls the helper");
    // On the test's own line, where a reader looks for it…
    assert_eq!(
        helper.properties["file"], "src/nested/deep/text.spec.luau",
        "{helper:?}"
    );
    assert_eq!(helper.properties["line"], "6");
    // …saying where the error was raised.
    assert!(
        helper
            .data
            .starts_with("kaboom\nraised at src/Shared/helper.luau:6\n"),
        "{}",
        helper.data
    );
    // The summary's link and JUnit's `file` agree.
    assert!(
        step.summary.contains(
            "(https://github.com/octo/game/blob/abc123/src/nested/deep/text.spec.luau#L6)"
        ),
        "{}",
        step.summary
    );
    let junit = quick_junit::Report::deserialize_from_str(&step.junit).expect("valid JUnit");
    let case = junit
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .find(|c| c.name.as_str() == "errors")
        .expect("the test case");
    assert_eq!(
        case.extra.get("file").map(|f| f.as_str()),
        Some("src/nested/deep/text.spec.luau")
    );
    step.output.stdout_has(
        "FAIL Tests › nested › deep › text › errors — src/nested/deep/text.spec.luau:6",
    );
}

#[tokio::test]
async fn the_frameworks_frames_and_reporter_stay_out_of_what_is_read_first() {
    let repo = spec_repository();
    let step = finish(&suite_step(repo.path()), repo.path()).await;
    step.output.code(Outcome::TestsFailed);
    let divides = step
        .errors()
        .into_iter()
        .find(|e| e.properties["title"].ends_with("divides"))
        .expect("the failed assertion")
        .clone();
    // The assertion's message, without the location the annotation stands on, then the user's
    // frame: nothing of TestEZ's, nothing of luau-exec's bootstrap.
    assert_eq!(
        divides.data,
        "Expected value \"3\" (number), got \"2\" (number) instead\nReplicatedStorage.Tests.math.spec:9"
    );
    for place in [&step.output.stdout, &step.summary] {
        assert!(!place.contains("TestEZ."), "{place}");
        assert!(!place.contains("TaskScript:"), "{place}");
    }
    // TestEZ's own text reporter is silent: luau-exec's list replaces it.
    step.output.stdout_lacks("Test results:");
    // JUnit (and JSON) keep the whole traceback.
    assert!(
        step.junit
            .contains("ReplicatedStorage.Packages.TestEZ.Expectation:47 function assertLevel"),
        "{}",
        step.junit
    );

    // By hand, the plain list reads the same.
    let mut by_hand = Run::bare();
    by_hand
        .dir(repo.path())
        .env("INPUT_BACKEND", "local")
        .env("INPUT_PLACE_FILE", "game.rbxl")
        .env("INPUT_TEST_FRAMEWORK", "testez")
        .env("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests")
        .env("INPUT_SOURCEMAP", "sourcemap.json");
    let output = by_hand.expect().await;
    output.code(Outcome::TestsFailed)
        .stdout_lacks("TestEZ.")
        .stdout_has(
            "  FAIL Tests › math › math › divides — src/math.spec.luau:9\n          | Expected value \"3\" (number), got \"2\" (number) instead\n          | ReplicatedStorage.Tests.math.spec:9\n",
        );
    let json = {
        by_hand.env("INPUT_OUTPUT_FORMAT", "json");
        let output = by_hand.expect().await;
        let result: Value = serde_json::from_str(output.stdout.lines().last().unwrap()).unwrap();
        result
    };
    let whole = json["tests"]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["path"].as_array().unwrap().last().unwrap() == "divides")
        .unwrap()["message"]
        .clone();
    assert!(
        whole
            .as_str()
            .unwrap()
            .contains("TestEZ.Expectation:47 function assertLevel"),
        "{whole}"
    );
}

#[tokio::test]
async fn runner_debug_brings_testezs_own_reporter_back() {
    let repo = spec_repository();
    let mut run = suite_step(repo.path());
    run.env("RUNNER_DEBUG", "1");
    let step = finish(&run, repo.path()).await;
    step.output
        .code(Outcome::TestsFailed)
        .stdout_has("Test results:");
}

/// The spec project's suite, by hand (plain output), with these inputs.
async fn by_hand(repo: &Path, extra: &[(&str, &str)]) -> Expect {
    let mut run = Run::bare();
    run.dir(repo)
        .env("INPUT_BACKEND", "local")
        .env("INPUT_PLACE_FILE", "game.rbxl")
        .env("INPUT_TEST_FRAMEWORK", "testez")
        .env("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests");
    for (name, value) in extra {
        run.env(name, value);
    }
    run.expect().await
}

#[tokio::test]
async fn a_test_name_pattern_that_matches_nothing_fails() {
    let repo = spec_repository();
    let mut run = suite_step(repo.path());
    run.env("INPUT_TEST_NAME_PATTERN", "no such test");
    let step = finish(&run, repo.path()).await;
    step.output.code(Outcome::TestsFailed);
    assert_eq!(step.output("outcome"), "NO TESTS MATCHED (6 skipped)");
    step.output.stdout_has(
        "`test-name-pattern` `no such test` matched none of the 6 tests under ReplicatedStorage.Tests",
    );
    // Split across tasks, the step judges the whole suite the same way.
    let output = by_hand(
        repo.path(),
        &[
            ("INPUT_TEST_NAME_PATTERN", "no such test"),
            ("INPUT_SHARDS", "2"),
        ],
    )
    .await;
    output
        .code(Outcome::TestsFailed)
        .stdout_has("NO TESTS MATCHED (6 skipped) in 2 tasks");
    // A pattern that matches runs only what it matches, as before.
    let output = by_hand(repo.path(), &[("INPUT_TEST_NAME_PATTERN", "adds")]).await;
    output.code(Outcome::Complete);
}

#[tokio::test]
async fn a_framework_or_root_that_is_not_in_the_place_says_what_is_there() {
    let repo = spec_repository();
    let mut run = suite_step(repo.path());
    run.env("INPUT_FRAMEWORK_PATH", "ReplicatedStorage.Packages.TestEz");
    let step = finish(&run, repo.path()).await;
    step.output.code(Outcome::TestsFailed);
    assert_eq!(
        step.output("outcome"),
        "NO FRAMEWORK at ReplicatedStorage.Packages.TestEz"
    );
    let message = step.output("error-message");
    assert_eq!(
        message,
        "input `framework-path`: there is no `ReplicatedStorage.Packages.TestEz` in the place: ReplicatedStorage.Packages has no child `TestEz` (its children: TestEZ)",
    );
    assert!(
        step.errors()[0].data.contains(message),
        "{:#?}",
        step.commands
    );
    step.output.stdout_lacks("SCRIPT_ERROR");

    for (roots, headline, says) in [
        (
            "ReplicatedStorage.Tset",
            "NO TEST ROOT at ReplicatedStorage.Tset",
            "`--test-roots` / `INPUT_TEST_ROOTS`: there is no `ReplicatedStorage.Tset` in the place: ReplicatedStorage has no child `Tset` (its children: Packages, Tests)",
        ),
        (
            "ReplicatedStorage.Tests, Workspace.Specs",
            "NO TEST ROOT at Workspace.Specs",
            "Workspace has no child `Specs` (it has no children)",
        ),
    ] {
        let output = by_hand(repo.path(), &[("INPUT_TEST_ROOTS", roots)]).await;
        output
            .code(Outcome::TestsFailed)
            .stdout_has(headline)
            .stdout_has(says);
    }
}

#[tokio::test]
async fn a_suite_on_the_local_backend_without_a_place_says_there_is_none() {
    let output = Run::bare()
        .env("INPUT_BACKEND", "local")
        .env("INPUT_TEST_FRAMEWORK", "testez")
        .env("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests")
        .expect()
        .await;
    output
        .code(Outcome::BadInput)
        .stderr_has("place-file")
        .stderr_has("empty place");
}

#[tokio::test]
async fn a_crashed_script_is_a_failed_task_not_a_test() {
    let repo = tempfile::tempdir().unwrap();
    let tasks = repo.path().join("tasks");
    std::fs::create_dir(&tasks).unwrap();
    std::fs::write(
        tasks.join("a-suite.luau"),
        "return { kind = 'luau-exec/test-results@1', framework = 'custom', tests = {\n\
         { path = { 'math', 'adds' }, status = 'passed' },\n\
         { path = { 'math', 'subtracts' }, status = 'passed' },\n\
         { path = { 'math', 'divides' }, status = 'failed', message = 'TaskScript:4: Expected 2, got 3' },\n\
         } }\n",
    )
    .unwrap();
    std::fs::write(
        tasks.join("b-crash.luau"),
        "local x = nil\nreturn x.field\n",
    )
    .unwrap();
    std::fs::write(tasks.join("c-crash.luau"), "error('setup failed')\n").unwrap();
    let mut run = github_step(repo.path());
    run.env("INPUT_SCRIPT_PATH", "tasks/*.luau");
    let step = finish(&run, repo.path()).await;
    // The crashes fail the step, as the most serious outcome…
    step.output.code(Outcome::ScriptError);
    // …but the tests are the tests the suite reported: one failure, not three.
    assert_eq!(
        (
            step.output("tests-total"),
            step.output("tests-passed"),
            step.output("tests-failed")
        ),
        ("3", "2", "1")
    );
    let junit = quick_junit::Report::deserialize_from_str(&step.junit).expect("valid JUnit");
    assert_eq!((junit.tests, junit.failures), (3, 1), "{}", step.junit);
    // Each crash is shown as a failed task, on its own file, beside the failed test.
    let errors = step.errors();
    let titles: Vec<&str> = errors
        .iter()
        .map(|e| e.properties["title"].as_str())
        .collect();
    assert_eq!(
        titles,
        [
            "math › divides",
            "Luau task failed (tasks/b-crash.luau): SCRIPT_ERROR",
            "Luau task failed (tasks/c-crash.luau): SCRIPT_ERROR"
        ],
        "{}",
        step.output.stdout
    );
    assert_eq!(errors[2].properties["file"], "tasks/c-crash.luau");
}

#[tokio::test]
async fn the_summary_leads_with_the_verdict_and_folds_the_rest_away() {
    let repo = spec_repository();
    let step = finish(&suite_step(repo.path()), repo.path()).await;
    step.output.code(Outcome::TestsFailed);
    let summary = &step.summary;
    let first = summary.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("### ❌ 2 failed, 3 passed, 1 skipped — "),
        "{summary}"
    );
    // Then the failures: test, a link to its line, the message without its location again.
    let rows: Vec<&str> = summary
        .lines()
        .filter(|l| l.starts_with("| Tests ›"))
        .collect();
    assert_eq!(rows.len(), 2, "{summary}");
    assert!(
        rows[0].ends_with(
            "| Expected value &quot;3&quot; \\(number\\), got &quot;2&quot; \\(number\\) instead |"
        ),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].ends_with("| kaboom \\(raised at src/Shared/helper\\.luau:6\\) |"),
        "{}",
        rows[1]
    );
    assert!(!summary.contains("spec:9:"), "{summary}");
    // No block repeats the heading; the task's metadata is folded away after the failures.
    assert!(!summary.contains("Problem"), "{summary}");
    let details = summary
        .find("<details><summary>Task details</summary>")
        .expect(summary);
    for row in [
        "| Outcome |",
        "| State |",
        "| Duration |",
        "| Place version |",
        "| Task |",
    ] {
        let at = summary
            .find(row)
            .unwrap_or_else(|| panic!("{row} in {summary}"));
        assert!(at > details, "{row} is folded away: {summary}");
    }
    assert!(
        !summary.contains("| | |"),
        "no empty header stripe: {summary}"
    );
}

#[tokio::test]
async fn every_bad_input_is_refused_at_once_in_the_users_own_terms() {
    // By hand: flags and `INPUT_*` variables, every bad one on a line of its own.
    let output = Run::bare()
        .env("INPUT_SCRIPT", "return 1")
        .env("INPUT_UNIVERSE_ID", "12x")
        .env("INPUT_TIMEOUT", "10m")
        .arg("--parallel")
        .arg("zero")
        .expect()
        .await;
    output.code(Outcome::BadInput);
    let lines: Vec<&str> = output.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "luau-exec: error: `INPUT_API_KEY`: is required: set the environment variable to an Open Cloud API key (it has no flag, as flags show in process listings), or run on the embedded emulator with `--backend local`, or skip the run with `--on-missing-key skip`",
            "luau-exec: error: `--universe-id` / `INPUT_UNIVERSE_ID`: must be decimal digits, got `12x`",
            "luau-exec: error: `--place-id` / `INPUT_PLACE_ID`: is required",
            "luau-exec: error: `--timeout` / `INPUT_TIMEOUT`: `10m` is out of range: Open Cloud allows 1s to 300s (5m)",
            "luau-exec: error: `--parallel` / `INPUT_PARALLEL`: must be `auto` or a whole number from 1, got `zero`",
        ],
        "{}",
        output.stderr
    );
    output.stderr_lacks("secrets");

    // On GitHub: action inputs and secrets, and an annotation for each.
    let output = Run::bare()
        .env("GITHUB_ACTIONS", "true")
        .env("INPUT_SCRIPT", "return 1")
        .env("INPUT_TIMEOUT", "10m")
        .expect()
        .await;
    output
        .code(Outcome::BadInput)
        .stderr_has("input `api-key`: is required (pass an Open Cloud API key from `secrets.*`");
    let commands = RunnerParser::default().parse(&output.stdout);
    let errors: Vec<&str> = commands
        .iter()
        .filter(|c| c.name == "error")
        .map(|c| c.data.as_str())
        .collect();
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(
        errors[3].starts_with("input `timeout`: `10m` is out of range"),
        "{errors:#?}"
    );
}
