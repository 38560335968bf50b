//! GitHub Actions presentation, read back the way the runner reads it: hostile log lines yield
//! no commands, our own annotations still work, outputs parse back exactly, the summary stays
//! under 1 MiB.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::support::{
    FakeCloud, KEY, Outcome, Run, RunnerParser, TASK_PATH, complete, failed, parse_output_file,
};

/// Every form of command injection a script's output could try.
const HOSTILE: &[&str] = &[
    "::add-mask::e",
    "::error file=src/a.luau,line=1::forged error",
    "::warning::forged warning",
    "::notice::forged notice",
    "::set-output name=state::COMPLETE",
    "::save-state name=x::y",
    "::stop-commands::attacker-token",
    "::endgroup::",
    "::group::fake",
    "::add-matcher::/github/workspace/matcher.json",
    "::echo::on",
    "::ERROR::upper-case forged",
    "::Set-Output name=results::[]",
    "   ::error::after leading spaces",
    "\t::error::after a tab",
    "##[error]legacy anywhere",
    "text before ##[set-output name=a;]b",
    "##[add-mask]e",
    "first line is fine\n::error::hidden on the second line",
    "first\r::error::after a carriage return",
    "first\r\n::warning::after CRLF",
    "%0A::error::encoded newline",
    "::luau-exec-00000000000000000000000000000000::",
];

/// The fake cloud: a task that ends as `terminal`, logging `logs`.
async fn server_with(terminal: Value, logs: &[(&str, &str)]) -> FakeCloud {
    FakeCloud::task().ends(terminal).logs(logs).start().await
}

/// A run on GitHub Actions, with its outputs and summary files in `dir`.
fn github_run(cloud: &FakeCloud, dir: &tempfile::TempDir) -> Run {
    let mut run = cloud.run();
    run.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", dir.path().join("output").to_str().unwrap())
        .env(
            "GITHUB_STEP_SUMMARY",
            dir.path().join("summary").to_str().unwrap(),
        );
    run
}

#[tokio::test]
async fn hostile_log_lines_yield_no_commands() {
    let mut logs: Vec<(&str, &str)> = HOSTILE.iter().map(|line| ("OUTPUT", *line)).collect();
    logs.extend(HOSTILE.iter().map(|line| ("INFO", *line)));
    logs.push(("WARNING", "a real warning after the hostile lines"));
    logs.push(("ERROR", "a real error ::set-output name=x::y"));
    let hostile_error =
        "TaskScript:9: boom\n::error::forged in the error message\n##[set-output name=a;]b";
    let mut terminal = failed("SCRIPT_ERROR", hostile_error);
    // An unknown error code and a hostile result value, too.
    terminal["error"]["code"] = json!("SCRIPT_ERROR");
    let server = server_with(terminal, &logs).await;
    let dir = tempfile::tempdir().unwrap();
    let output = github_run(&server, &dir).expect().await;
    output.code(Outcome::ScriptError);

    let mut parser = RunnerParser::default();
    let commands = parser.parse(&output.stdout);
    assert!(!parser.is_stopped(), "the step ends with commands resumed");
    let names: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();

    // Our own commands only: the mask first, brackets, the failure, the group, two log
    // annotations; nothing from the hostile text.
    assert_eq!(commands[0].name, "add-mask");
    assert_eq!(commands[0].data, KEY);
    assert_eq!(
        names.iter().filter(|n| **n == "add-mask").count(),
        1,
        "{names:?}"
    );
    for forbidden in ["set-output", "save-state", "add-matcher", "echo", "notice"] {
        assert!(
            !names.contains(&forbidden),
            "{forbidden} came out: {names:?}"
        );
    }
    let stops: Vec<_> = commands
        .iter()
        .filter(|c| c.name == "stop-commands")
        .collect();
    assert!(
        stops
            .iter()
            .all(|c| c.data.starts_with("luau-exec-") && c.data.len() > 40),
        "{stops:?}"
    );
    assert!(stops.iter().all(|c| c.data != "attacker-token"));

    let errors: Vec<_> = commands.iter().filter(|c| c.name == "error").collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    // The failure comes first, titled with its code, its message intact.
    assert_eq!(
        errors[0].properties.get("title").map(String::as_str),
        Some("Luau task failed: SCRIPT_ERROR")
    );
    assert_eq!(errors[0].data, hostile_error);
    assert_eq!(errors[1].data, "a real error ::set-output name=x::y");
    let warnings: Vec<_> = commands.iter().filter(|c| c.name == "warning").collect();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].data, "a real warning after the hostile lines");
    assert_eq!(names.iter().filter(|n| **n == "group").count(), 1);
    assert_eq!(names.iter().filter(|n| **n == "endgroup").count(), 1);

    // The hostile text is still shown to the reader, defanged.
    output
        .stdout_has("[OUTPUT]  ::set-output name=state::COMPLETE")
        .stdout_has("##\u{2060}[error]legacy anywhere");
}

#[tokio::test]
async fn the_failure_stays_visible_among_many_logged_errors() {
    let texts: Vec<String> = (0..30).map(|i| format!("logged error {i}")).collect();
    let logs: Vec<(&str, &str)> = texts.iter().map(|t| ("ERROR", t.as_str())).collect();
    let server = server_with(
        failed("SCRIPT_ERROR", "TaskScript:1: the real failure"),
        &logs,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = github_run(&server, &dir).expect().await;
    let commands = RunnerParser::default().parse(&output.stdout);
    let errors: Vec<_> = commands.iter().filter(|c| c.name == "error").collect();
    assert_eq!(
        errors.len(),
        10,
        "GitHub keeps 10 per step; we emit no more"
    );
    assert_eq!(errors[0].data, "TaskScript:1: the real failure");
    let notice = commands
        .iter()
        .find(|c| c.name == "notice")
        .expect("a notice counts the rest");
    assert!(notice.data.starts_with("21 more ERROR"), "{}", notice.data);
    // Every message is still in the log.
    for text in &texts {
        output.stdout_has(text);
    }
}

#[tokio::test]
async fn outputs_parse_back_exactly() {
    let tricky =
        "line one\nghadelimiter_00000000000000000000000000000000\nstate=COMPLETE\nexit-code<<EOF\n";
    let server = server_with(failed("SCRIPT_ERROR", tricky), &[("OUTPUT", "x")]).await;
    let dir = tempfile::tempdir().unwrap();
    github_run(&server, &dir)
        .expect()
        .await
        .code(Outcome::ScriptError);
    let text = std::fs::read_to_string(dir.path().join("output")).unwrap();
    let pairs = parse_output_file(&text);
    let outputs: HashMap<_, _> = pairs.iter().cloned().collect();
    assert_eq!(
        pairs.len(),
        outputs.len(),
        "no output is written twice or forged: {pairs:?}"
    );
    assert_eq!(outputs["state"], "FAILED");
    assert_eq!(outputs["error-code"], "SCRIPT_ERROR");
    assert_eq!(outputs["error-message"], tricky);
    assert_eq!(outputs["exit-code"], "1");
    assert_eq!(outputs["task-path"], TASK_PATH);
    assert_eq!(outputs["results"], "");
    assert_eq!(outputs["log-count"], "1");
    assert!(outputs["duration"].parse::<f64>().is_ok());
}

#[tokio::test]
async fn results_output_is_compact_json() {
    let server = server_with(complete(json!([1, {"a": "b\nc"}, null])), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    github_run(&server, &dir)
        .expect()
        .await
        .code(Outcome::Complete);
    let text = std::fs::read_to_string(dir.path().join("output")).unwrap();
    let outputs: HashMap<_, _> = parse_output_file(&text).into_iter().collect();
    assert_eq!(outputs["results"], r#"[1,{"a":"b\nc"},null]"#);
    assert_eq!(outputs["state"], "COMPLETE");
    assert_eq!(outputs["error-code"], "");
    let summary = std::fs::read_to_string(dir.path().join("summary")).unwrap();
    assert!(summary.contains("✅"), "{summary}");
    assert!(summary.contains("```json"), "{summary}");
}

#[tokio::test]
async fn the_summary_stays_under_a_mebibyte_with_a_3mb_log() {
    let line = "x".repeat(1000);
    let logs: Vec<(&str, &str)> = (0..3000).map(|_| ("OUTPUT", line.as_str())).collect();
    let server = server_with(failed("SCRIPT_ERROR", &"<b>".repeat(100_000)), &logs).await;
    let dir = tempfile::tempdir().unwrap();
    github_run(&server, &dir)
        .expect()
        .await
        .code(Outcome::ScriptError);
    let summary = std::fs::read_to_string(dir.path().join("summary")).unwrap();
    assert!(summary.len() < 1024 * 1024, "{} bytes", summary.len());
    assert!(summary.contains("Log tail ("), "the tail is there");
    // Untrusted markup only ever appears inside a fence.
    assert!(
        summary.contains("```\n<b><b>"),
        "the error message is fenced"
    );
}

#[tokio::test]
async fn hostile_markdown_cannot_escape_its_fence() {
    let hostile = "```\n# Fake heading\n<img src=x onerror=alert(1)>\n````";
    let server = server_with(failed("SCRIPT_ERROR", hostile), &[("OUTPUT", hostile)]).await;
    let dir = tempfile::tempdir().unwrap();
    github_run(&server, &dir).output().await;
    let summary = std::fs::read_to_string(dir.path().join("summary")).unwrap();
    // The error block: a fence longer than the longest backtick run inside (4).
    assert!(
        summary.contains(&format!("`````\n{hostile}\n`````\n")),
        "{summary}"
    );
    // The log tail: the same.
    assert!(
        summary.contains(&format!("`````\n[OUTPUT] {hostile}\n`````\n")),
        "{summary}"
    );
    assert_eq!(summary.matches("# Fake heading").count(), 2);
}

#[tokio::test]
async fn off_github_no_workflow_commands_are_printed() {
    let server = server_with(
        failed("SCRIPT_ERROR", "TaskScript:1: x"),
        &[("ERROR", "::error::x"), ("WARNING", "w")],
    )
    .await;
    let output = server.run().expect().await;
    let commands = RunnerParser::default().parse(&output.stdout);
    // No colour without a terminal.
    output
        .code(Outcome::ScriptError)
        .holds(
            commands.is_empty(),
            format_args!("no commands: {commands:?}"),
        )
        .stdout_lacks("::add-mask::")
        .stdout_lacks("\x1b");
}

#[tokio::test]
async fn a_fork_without_a_key_can_skip() {
    let server = FakeCloud::start().await;
    let dir = tempfile::tempdir().unwrap();
    let output = github_run(&server, &dir)
        .env("INPUT_API_KEY", "")
        .env("INPUT_ON_MISSING_KEY", "skip")
        .expect()
        .await;
    output.code(Outcome::Skipped);
    let commands = RunnerParser::default().parse(&output.stdout);
    let notice = commands
        .iter()
        .find(|c| c.name == "notice")
        .expect("a notice");
    assert!(notice.data.contains("no API key"), "{}", notice.data);
    server.assert_untouched().await;
    let outputs: HashMap<_, _> =
        parse_output_file(&std::fs::read_to_string(dir.path().join("output")).unwrap())
            .into_iter()
            .collect();
    assert_eq!(outputs["outcome"], "SKIPPED (no API key)");

    github_run(&server, &dir)
        .env("INPUT_API_KEY", "")
        .expect()
        .await
        .code(Outcome::BadInput)
        .stderr_has("input `api-key`");
}
