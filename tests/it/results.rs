//! Test results: scripts that return the results envelope, recorded TestEZ and Jest-Lua
//! results run through the shipped bootstraps' flattening code, and every report a CI reads
//! (annotations on files and lines, outputs, the summary, JUnit, JSON, plain).

use std::path::Path;

use luau_exec::results::bootstrap::{COMMON, JEST, TESTEZ, lua_string};
use serde_json::{Value, json};

use crate::support::{Expect, Outcome, Run, RunnerParser, WorkflowCommand, parse_output_file};

/// A repository with a Rojo sourcemap (relative paths, as `rojo sourcemap` writes them).
fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let sourcemap = json!({
        "name": "game", "className": "DataModel", "filePaths": ["default.project.json"],
        "children": [{ "name": "ReplicatedStorage", "className": "ReplicatedStorage", "children": [
            { "name": "Tests", "className": "Folder", "children": [
                { "name": "math.spec", "className": "ModuleScript", "filePaths": ["src/tests/math.spec.luau"] },
                { "name": "text.spec", "className": "ModuleScript", "filePaths": ["src/tests/text.spec.lua"] }
            ]}
        ]}]
    });
    std::fs::write(dir.path().join("sourcemap.json"), sourcemap.to_string()).unwrap();
    dir
}

/// A Luau expression for a test of the envelope.
fn test(path: &[&str], status: &str, message: Option<&str>, location: Option<&str>) -> String {
    let path = path
        .iter()
        .map(|p| lua_string(p))
        .collect::<Vec<_>>()
        .join(", ");
    let mut fields = vec![
        format!("path = {{ {path} }}"),
        format!("status = {}", lua_string(status)),
    ];
    if let Some(message) = message {
        fields.push(format!("message = {}", lua_string(message)));
    }
    if let Some(location) = location {
        fields.push(format!("location = {}", lua_string(location)));
    }
    format!("{{ {} }}", fields.join(", "))
}

fn envelope_script(tests: &[String]) -> String {
    format!(
        "print('running the tests')\nreturn {{ kind = 'luau-exec/test-results@1', framework = 'testez', tests = {{ {} }} }}",
        tests.join(",\n")
    )
}

/// A run on the local backend in `repo`, on GitHub, with outputs, summary and JUnit files.
struct GithubRun {
    output: Expect,
    outputs: Vec<(String, String)>,
    summary: String,
    junit: String,
    commands: Vec<WorkflowCommand>,
}

async fn github_run(repo: &Path, script: &str, extra: &[(&str, &str)]) -> GithubRun {
    let mut run = Run::bare();
    run.dir(repo)
        .env("INPUT_BACKEND", "local")
        .env("INPUT_SCRIPT", script)
        .env("INPUT_SOURCEMAP", "sourcemap.json")
        .env("INPUT_JUNIT_PATH", "reports/junit.xml")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "octo/game")
        .env("GITHUB_SHA", "abc123")
        .env("GITHUB_OUTPUT", repo.join("outputs").to_str().unwrap())
        .env(
            "GITHUB_STEP_SUMMARY",
            repo.join("summary").to_str().unwrap(),
        );
    for (name, value) in extra {
        run.env(name, value);
    }
    let output = run.expect().await;
    let read = |name: &str| std::fs::read_to_string(repo.join(name)).unwrap_or_default();
    let commands = RunnerParser::default().parse(&output.stdout);
    GithubRun {
        outputs: parse_output_file(&read("outputs")),
        summary: read("summary"),
        junit: read("reports/junit.xml"),
        commands,
        output,
    }
}

fn output<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map_or("(missing)", |(_, v)| v.as_str())
}

fn errors(commands: &[WorkflowCommand]) -> Vec<&WorkflowCommand> {
    commands.iter().filter(|c| c.name == "error").collect()
}

#[tokio::test]
async fn failing_tests_are_exit_10_with_annotations_on_their_lines() {
    let repo = repository();
    let script = envelope_script(&[
        test(&["Tests", "math", "adds"], "passed", None, None),
        test(
            &["Tests", "math", "divides"],
            "failed",
            Some(
                "ReplicatedStorage.Tests.math.spec:7: Expected 2, got 3\nReplicatedStorage.TestEZ.Expectation:47 function assertLevel",
            ),
            Some("ReplicatedStorage.Tests.math.spec:7"),
        ),
        test(&["Tests", "text", "later"], "skipped", None, None),
        // No location: the message's first frame that maps is used.
        test(
            &["Tests", "text", "joins"],
            "failed",
            Some(
                "oops\nReplicatedStorage.TestEZ.Expectation:47\n[string \"ReplicatedStorage.Tests.text.spec\"]:12",
            ),
            None,
        ),
    ]);
    let run = github_run(repo.path(), &script, &[]).await;
    run.output.code(Outcome::TestsFailed);

    // One error annotation per failed test, on its file and line, titled with its path.
    let errors = errors(&run.commands);
    assert_eq!(errors.len(), 2, "{:#?}", run.commands);
    assert_eq!(errors[0].properties["file"], "src/tests/math.spec.luau");
    assert_eq!(errors[0].properties["line"], "7");
    assert_eq!(errors[0].properties["title"], "Tests › math › divides");
    // The message without the location the annotation stands on (a script's own envelope names
    // no framework, so its frames stay).
    assert_eq!(
        errors[0].data,
        "Expected 2, got 3\nReplicatedStorage.TestEZ.Expectation:47 function assertLevel"
    );
    assert_eq!(errors[1].properties["file"], "src/tests/text.spec.lua");
    assert_eq!(errors[1].properties["line"], "12");

    assert_eq!(output(&run.outputs, "tests-total"), "4");
    assert_eq!(output(&run.outputs, "tests-passed"), "1");
    assert_eq!(output(&run.outputs, "tests-failed"), "2");
    assert_eq!(output(&run.outputs, "tests-skipped"), "1");
    assert_eq!(output(&run.outputs, "exit-code"), "10");
    assert_eq!(
        output(&run.outputs, "outcome"),
        "TESTS FAILED (1 passed, 2 failed, 1 skipped)"
    );

    assert!(
        run.summary
            .starts_with("### ❌ 2 failed, 1 passed, 1 skipped — "),
        "{}",
        run.summary
    );
    assert!(
        run.summary
            .contains("(https://github.com/octo/game/blob/abc123/src/tests/math.spec.luau#L7)"),
        "{}",
        run.summary
    );

    // The log lists failures compactly with file:line.
    run.output
        .stdout_has("FAIL Tests › math › divides — src/tests/math.spec.luau:7");

    // JUnit, parsed back as a reader would.
    let report = quick_junit::Report::deserialize_from_str(&run.junit).expect("valid JUnit");
    assert_eq!(report.tests, 4);
    assert_eq!(report.failures, 2);
    let cases: Vec<_> = report
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .collect();
    let divides = cases.iter().find(|c| c.name.as_str() == "divides").unwrap();
    assert_eq!(divides.classname.as_ref().unwrap().as_str(), "Tests.math");
    assert_eq!(
        divides.extra.get("file").unwrap().as_str(),
        "src/tests/math.spec.luau"
    );
    assert_eq!(divides.extra.get("line").unwrap().as_str(), "7");
    assert!(cases.iter().all(|c| c.time.is_some()), "time is always set");
    assert!(
        run.junit.contains("(src/tests/math.spec.luau:7:1)"),
        "a frame dorny's jest-junit reader finds: {}",
        run.junit
    );
}

#[tokio::test]
async fn a_passing_suite_is_exit_0_and_reports_every_test() {
    let repo = repository();
    let script = envelope_script(&[
        test(&["Tests", "math", "adds"], "passed", None, None),
        test(&["Tests", "math", "skips"], "skipped", None, None),
    ]);
    let run = github_run(repo.path(), &script, &[]).await;
    run.output.code(Outcome::Complete);
    assert!(errors(&run.commands).is_empty());
    assert_eq!(output(&run.outputs, "tests-total"), "2");
    let report = quick_junit::Report::deserialize_from_str(&run.junit).unwrap();
    assert_eq!((report.tests, report.failures), (2, 0));
}

#[tokio::test]
async fn failures_past_the_annotation_budget_are_counted_in_a_notice() {
    let repo = repository();
    let tests: Vec<String> = (1..=14)
        .map(|i| {
            test(
                &["Tests", "math", &format!("case {i}")],
                "failed",
                Some(&format!("ReplicatedStorage.Tests.math.spec:{i}: wrong")),
                None,
            )
        })
        .collect();
    let run = github_run(repo.path(), &envelope_script(&tests), &[]).await;
    run.output.code(Outcome::TestsFailed);
    let errors = errors(&run.commands);
    assert_eq!(errors.len(), 10, "GitHub shows 10 per step");
    assert_eq!(
        errors[0].properties["title"], "Tests › math › case 1",
        "in the order they ran"
    );
    let notice = run
        .commands
        .iter()
        .find(|c| c.name == "notice")
        .expect("a notice");
    assert!(
        notice.data.starts_with("4 more failed tests"),
        "{}",
        notice.data
    );
}

#[tokio::test]
async fn no_tests_and_malformed_envelopes_are_failures_that_say_so() {
    let repo = repository();
    let run = github_run(repo.path(), &envelope_script(&[]), &[]).await;
    run.output
        .code(Outcome::TestsFailed)
        .stdout_has("NO TESTS FOUND")
        .stdout_has("lists no tests");
    let report = quick_junit::Report::deserialize_from_str(&run.junit).unwrap();
    assert_eq!(report.errors, 1, "a run without tests is one red test case");

    let repo = repository();
    let malformed = "return { kind = 'luau-exec/test-results@1', tests = { { path = { 'a' }, status = 'passd' } } }";
    let run = github_run(repo.path(), malformed, &[]).await;
    run.output
        .code(Outcome::TestsFailed)
        .stdout_has("malformed `luau-exec/test-results@1` envelope: `tests[1].status` is `passd`");
    assert_eq!(output(&run.outputs, "tests-total"), "");
}

#[tokio::test]
async fn a_plain_script_error_points_at_its_file_and_line() {
    let repo = repository();
    std::fs::create_dir_all(repo.path().join("tasks")).unwrap();
    std::fs::write(
        repo.path().join("tasks/check.luau"),
        "local x = 1\n\nerror('broken')\n",
    )
    .unwrap();
    let mut run = Run::bare();
    run.dir(repo.path())
        .env("INPUT_BACKEND", "local")
        .env("INPUT_SCRIPT_PATH", "tasks/check.luau")
        .env("GITHUB_ACTIONS", "true");
    let output = run.expect().await;
    output.code(Outcome::ScriptError);
    let commands = RunnerParser::default().parse(&output.stdout);
    let error = errors(&commands)[0].clone();
    assert_eq!(error.properties["file"], "tasks/check.luau");
    assert_eq!(error.properties["line"], "3");
    assert!(error.data.starts_with("TaskScript:3: broken"));
}

#[tokio::test]
async fn json_carries_every_test_and_plain_lists_failures() {
    let repo = repository();
    let script = envelope_script(&[
        test(&["Tests", "math", "adds"], "passed", None, None),
        test(
            &["Tests", "math", "fails"],
            "failed",
            Some("bad\nline two\nline three\nline four\nline five\nline six\nline seven"),
            Some("ReplicatedStorage.Tests.math.spec:9"),
        ),
    ]);
    let mut run = Run::bare();
    run.dir(repo.path())
        .env("INPUT_BACKEND", "local")
        .env("INPUT_SCRIPT", &script)
        .env("INPUT_SOURCEMAP", "sourcemap.json")
        .env("INPUT_OUTPUT_FORMAT", "json");
    let output = run.expect().await;
    output.code(Outcome::TestsFailed);
    let result: Value = serde_json::from_str(output.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        result["tests"]["counts"],
        json!({ "total": 2, "passed": 1, "failed": 1, "skipped": 0 })
    );
    assert_eq!(
        result["tests"]["tests"][1]["file"],
        json!({ "path": "src/tests/math.spec.luau", "line": 9 })
    );
    assert_eq!(result["tests"]["tests"][0]["status"], "passed");

    run.env("INPUT_OUTPUT_FORMAT", "plain");
    let output = run.expect().await;
    output
        .stdout_has("Tests: 1 passed, 1 failed, 0 skipped (testez)")
        .stdout_has("  FAIL Tests › math › fails — src/tests/math.spec.luau:9");
    assert!(
        output.stdout.contains("line six") && !output.stdout.contains("line seven"),
        "{}",
        output.stdout
    );
}

/// Runs Luau on the local backend and returns the first result.
async fn first_result(script: &str) -> Value {
    let output = Run::bare()
        .env("INPUT_BACKEND", "local")
        .env("INPUT_SCRIPT", script)
        .env("INPUT_OUTPUT_FORMAT", "json")
        .expect()
        .await;
    let result: Value = serde_json::from_str(output.stdout.lines().last().unwrap()).unwrap();
    assert!(
        matches!(output.code, 0 | 10),
        "{}\n{}",
        output.stdout,
        output.stderr
    );
    result["results"][0].clone()
}

#[tokio::test]
async fn recorded_testez_results_flatten_into_the_envelope() {
    // The shape TestEZ's TestBootstrap:run returns (TestResults.lua, TestSession.lua): a tree of
    // nodes with planNode {phrase, type}, status, errors; every error gathered at the top.
    let failure = "ReplicatedStorage.Tests.math.spec:7: Expected value \"3\" (number), got \"2\" (number) instead\nReplicatedStorage.Packages.TestEZ.Expectation:47 function assertLevel\nReplicatedStorage.Tests.math.spec:7";
    let recorded = format!(
        r#"
local failure = {failure}
local planning = "Error during planning: ReplicatedStorage.Tests.broken.spec:2: attempt to call a nil value"
local function it(phrase, status, errors)
    return {{ planNode = {{ phrase = phrase, type = "It" }}, status = status, errors = errors or {{}}, children = {{}} }}
end
local function describe(phrase, children)
    return {{ planNode = {{ phrase = phrase, type = "Describe" }}, status = "Success", errors = {{}}, children = children }}
end
local results = {{
    successCount = 1, failureCount = 1, skippedCount = 1,
    errors = {{ failure, planning }},
    children = {{ describe("Tests", {{ describe("math", {{
        it("adds", "Success"),
        it("divides", "Failure", {{ failure }}),
        describe("later", {{ it("skipped one", "Skipped") }}),
    }}) }}) }},
}}
local flattener = testEZFlattener("ReplicatedStorage.Packages")
flattener.add(results)
return envelope("testez", flattener.finish())
"#,
        failure = lua_string(failure)
    );
    let envelope = first_result(&format!("{COMMON}\n{TESTEZ}\n{recorded}")).await;
    assert_eq!(envelope["kind"], "luau-exec/test-results@1");
    assert_eq!(envelope["framework"], "testez");
    let tests = envelope["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 4, "{envelope}");
    assert_eq!(tests[0]["path"], json!(["Tests", "math", "adds"]));
    assert_eq!(tests[0]["status"], "passed");
    assert_eq!(tests[1]["status"], "failed");
    assert_eq!(tests[1]["message"], failure);
    // The framework's own frames are passed over.
    assert_eq!(tests[1]["location"], "ReplicatedStorage.Tests.math.spec:7");
    assert_eq!(
        tests[2]["path"],
        json!(["Tests", "math", "later", "skipped one"])
    );
    assert_eq!(tests[2]["status"], "skipped");
    // An error no test owns is a failure of its own.
    assert_eq!(tests[3]["path"], json!(["TestEZ", "error 2"]));
    assert_eq!(
        tests[3]["location"],
        "ReplicatedStorage.Tests.broken.spec:2"
    );
}

/// A work-stealing task flattens each claim's results as the claim ends: the list is the one
/// the claims' trees merged would give, errors no test owns numbered across the claims, and an
/// error a test of a later claim owns is not listed again.
#[tokio::test]
async fn claims_flattened_one_by_one_list_what_their_merged_tree_would() {
    let recorded = r#"
local function it(phrase, status, errors)
    return { planNode = { phrase = phrase, type = "It" }, status = status, errors = errors or {}, children = {} }
end
local function describe(phrase, children)
    return { planNode = { phrase = phrase, type = "Describe" }, status = "Success", errors = {}, children = children }
end
local first = {
    errors = { "Error during planning: ReplicatedStorage.Tests.a.spec:1: broken", "shared failure" },
    children = { describe("Tests", { describe("a", { it("passes", "Success") }) }) },
}
local second = {
    errors = { "shared failure", "Error during planning: ReplicatedStorage.Tests.c.spec:1: broken" },
    children = { describe("Tests", { describe("b", { it("fails", "Failure", { "shared failure" }) }) }) },
}
local flattener = testEZFlattener("ReplicatedStorage.Packages")
flattener.add(first)
flattener.add(second)
return envelope("testez", flattener.finish())
"#;
    let envelope = first_result(&format!("{COMMON}\n{TESTEZ}\n{recorded}")).await;
    let listed: Vec<(Value, Value)> = envelope["tests"]
        .as_array()
        .unwrap_or_else(|| panic!("{envelope}"))
        .iter()
        .map(|test| (test["path"].clone(), test["status"].clone()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (json!(["Tests", "a", "passes"]), json!("passed")),
            (json!(["Tests", "b", "fails"]), json!("failed")),
            (json!(["TestEZ", "error 1"]), json!("failed")),
            (json!(["TestEZ", "error 4"]), json!("failed")),
        ],
        "{envelope}"
    );
}

#[tokio::test]
async fn recorded_jest_results_flatten_into_the_envelope() {
    // The shape of Jest-Lua's AggregatedResult (jest-test-result types.lua).
    let recorded = r#"
local aggregated = {
    numFailedTests = 1, numPassedTests = 1, numPendingTests = 1, success = false,
    testResults = {
        {
            testFilePath = "Project/__tests__/sum.spec",
            numFailingTests = 1, numPassingTests = 1,
            testResults = {
                { ancestorTitles = { "sum" }, title = "adds", fullName = "sum adds", status = "passed", failureMessages = {}, duration = 12 },
                { ancestorTitles = { "sum" }, title = "overflows", fullName = "sum overflows", status = "failed", duration = 3,
                  failureMessages = { "Error: expect(received).toBe(expected)\n    at [string \"ReplicatedStorage.Packages._Index.jest.expect\"]:40\n    at [string \"ReplicatedStorage.Project.__tests__.sum.spec\"]:24" } },
                { ancestorTitles = { "sum" }, title = "someday", fullName = "sum someday", status = "todo", failureMessages = {} },
                { ancestorTitles = { "sum" }, title = "helps", fullName = "sum helps", status = "failed",
                  failureMessages = { "[string \"ReplicatedStorage.Project.helpers\"]:3: no help\n    at [string \"ReplicatedStorage.Project.helpers\"]:3\n    at [string \"ReplicatedStorage.Project.__tests__.sum.spec\"]:31\n    at [string \"ReplicatedStorage.Packages._Index.jest.jest-circus\"]:90" } },
            },
        },
        {
            testFilePath = "Project/__tests__/broken.spec",
            testExecError = { message = "ReplicatedStorage.Project.__tests__.broken.spec:1: syntax error" },
            testResults = {},
        },
    },
}
return envelope("jest", flattenJest(aggregated, "ReplicatedStorage.Packages"))
"#;
    let envelope = first_result(&format!("{COMMON}\n{JEST}\n{recorded}")).await;
    let tests = envelope["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 5, "{envelope}");
    assert_eq!(
        tests[0]["path"],
        json!(["Project", "__tests__", "sum.spec", "sum", "adds"])
    );
    assert_eq!(tests[0]["duration"], json!(0.012));
    assert_eq!(tests[1]["status"], "failed");
    assert_eq!(
        tests[1]["location"],
        "ReplicatedStorage.Project.__tests__.sum.spec:24"
    );
    assert_eq!(tests[2]["status"], "skipped", "todo did not run");
    // A helper's error is filed under the test file's own line, not the helper's.
    assert_eq!(
        tests[3]["location"],
        "ReplicatedStorage.Project.__tests__.sum.spec:31"
    );
    assert_eq!(
        tests[4]["path"],
        json!([
            "Project",
            "__tests__",
            "broken.spec",
            "(the test file failed to run)"
        ])
    );
    assert_eq!(tests[4]["status"], "failed");
}

#[tokio::test]
async fn results_over_the_4mb_limit_are_trimmed_to_fit() {
    // 1,500 failures with 8 KB messages: 12 MB of results, three times Roblox's limit.
    let script = format!(
        "{COMMON}\nlocal tests = {{}}\nfor i = 1, 1500 do table.insert(tests, {{ path = {{ 'Tests', 'case ' .. i }}, status = 'failed', message = string.rep('é', 4000) }}) end\nreturn envelope('custom', tests)"
    );
    let output = Run::bare()
        .env("INPUT_BACKEND", "local")
        .env("INPUT_SCRIPT", &script)
        .env("INPUT_OUTPUT_FORMAT", "json")
        .expect()
        .await;
    assert_eq!(
        output.code,
        10,
        "the task completed: {}",
        &output.stdout[..output.stdout.len().min(2000)]
    );
    let result: Value = serde_json::from_str(output.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        result["tests"]["counts"]["failed"], 1500,
        "no failure is lost"
    );
    assert!(
        result["tests"]["notes"]
            .as_str()
            .unwrap()
            .contains("cut to"),
        "{}",
        result["tests"]["notes"]
    );
    let message = result["tests"]["tests"][0]["message"].as_str().unwrap();
    assert!(
        message.ends_with("(cut to fit Roblox's 4 MB limit on results)"),
        "{message}"
    );
    assert!(!message.contains('\u{fffd}'), "cut on a character boundary");
}

#[tokio::test]
async fn test_inputs_are_checked_before_anything_is_sent() {
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("INPUT_TEST_FRAMEWORK", "testez")], "test-roots"),
        (
            &[
                ("INPUT_TEST_FRAMEWORK", "busted"),
                ("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests"),
            ],
            "test-framework",
        ),
        (
            &[("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests")],
            "test-roots",
        ),
        (
            &[
                ("INPUT_TEST_FRAMEWORK", "testez"),
                ("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests"),
                ("INPUT_SCRIPT", "return 1"),
            ],
            "test-framework",
        ),
        (
            &[
                ("INPUT_TEST_FRAMEWORK", "jest"),
                ("INPUT_TEST_ROOTS", "ReplicatedStorage..Tests"),
            ],
            "test-roots",
        ),
    ];
    for (vars, input) in cases {
        let mut run = Run::bare();
        run.env("INPUT_BACKEND", "local");
        for (name, value) in vars {
            run.env(name, value);
        }
        run.expect()
            .await
            .case(format_args!("{vars:?}"))
            .code(Outcome::BadInput)
            .names_input(input);
    }
    let (_dir, bad) = crate::support::temp_file("sourcemap.json", b"{ not json");
    let output = Run::bare()
        .env("INPUT_BACKEND", "local")
        .env("INPUT_SCRIPT", "return 1")
        .env("INPUT_SOURCEMAP", bad.to_str().unwrap())
        .expect()
        .await;
    output
        .code(Outcome::BadInput)
        .stderr_has(&luau_exec::text::input_name("sourcemap", false));
}
