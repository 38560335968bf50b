//! One JSON object per line, for machines: `{"event":"state",…}`, `{"event":"log",…}`,
//! `{"event":"result",…}`.
//!
//! A serialized line starts with `{`, so the runner's `::` grammar never matches; `##[` can
//! only occur inside a string, where it is written as `##\u005b` (the same text once decoded).

use serde::Serialize;
use serde_json::json;

use super::{Event, Renderer};
use crate::report::{StepReport, TaskReport};

#[derive(Default)]
pub struct JsonRenderer;

fn line(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    // A suite's result line is megabytes: rewritten only when it holds the sequence.
    if text.contains("##[") {
        text = text.replace("##[", "##\\u005b");
    }
    text.push('\n');
    text
}

/// The tests of the result line.
#[derive(Serialize)]
struct TestsValue<'a> {
    framework: &'a str,
    /// Every test, listed or not.
    counts: crate::results::Counts,
    /// How many of them `tests` does not list.
    omitted: usize,
    notes: &'a Option<String>,
    tests: &'a [crate::results::TestCase],
}

/// The result object; also what the JSON presenter prints last. Written straight from the
/// report: a suite's thousands of tests never become a tree of values first.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultValue<'a> {
    event: &'static str,
    outcome: String,
    exit_code: u8,
    state: Option<&'a str>,
    error_code: Option<&'a str>,
    error_message: Option<&'a str>,
    problem: Option<String>,
    logs_problem: Option<String>,
    logs_cut: Option<String>,
    results: Option<&'a [Box<serde_json::value::RawValue>]>,
    task_path: Option<&'a str>,
    duration_seconds: f64,
    place_version: Option<u64>,
    binary_output_path: Option<String>,
    error_location: Option<&'a crate::results::FileLine>,
    tests: Option<TestsValue<'a>>,
    /// Each task of a step that ran many (empty for one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tasks: Vec<TaskValue<'a>>,
    /// With coverage asked for: the totals and each file's figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    coverage: Option<serde_json::Value>,
}

/// One task of a step that ran many.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskValue<'a> {
    label: &'a str,
    place_id: u64,
    outcome: String,
    exit_code: u8,
    state: Option<&'a str>,
    error_code: Option<&'a str>,
    error_message: Option<&'a str>,
    problem: Option<String>,
    task_path: Option<&'a str>,
    duration_seconds: f64,
    log_count: usize,
    error_location: &'a Option<crate::results::FileLine>,
}

/// The labelled tasks of a step that ran many, as the `json` format and the `tasks` output
/// give them.
pub fn task_values(report: &StepReport) -> Vec<TaskValue<'_>> {
    report.labelled_tasks().map(task_value).collect()
}

fn task_value(task: &TaskReport) -> TaskValue<'_> {
    TaskValue {
        label: task.name(),
        place_id: task.place_id,
        outcome: task.headline(),
        exit_code: task.outcome.exit_code(),
        state: task.state().map(|s| s.as_str()),
        error_code: task.error_code().map(|c| c.as_str()),
        error_message: task.error_message(),
        problem: task.problem.as_ref().map(ToString::to_string),
        task_path: task.task_path(),
        duration_seconds: task.duration.as_secs_f64(),
        log_count: task.logs.len(),
        error_location: &task.error_location,
    }
}

pub fn result_value(report: &StepReport) -> ResultValue<'_> {
    ResultValue {
        event: "result",
        outcome: report.headline(),
        exit_code: report.outcome.exit_code(),
        state: report.state().map(|s| s.as_str()),
        error_code: report.error_code().map(|c| c.as_str()),
        error_message: report.error_message(),
        problem: report.problem.as_ref().map(ToString::to_string),
        logs_problem: report.logs_problem().map(ToString::to_string),
        logs_cut: report.logs_cut().map(ToString::to_string),
        results: report.results(),
        task_path: report.task_path(),
        duration_seconds: report.duration.as_secs_f64(),
        place_version: report.place_version,
        binary_output_path: report.binary_output_path().map(|p| p.display().to_string()),
        error_location: report.error_location(),
        tests: report.tests.as_ref().map(|run| TestsValue {
            framework: &run.framework,
            counts: run.counts(),
            omitted: run.omitted(),
            notes: &run.notes,
            tests: &run.tests,
        }),
        tasks: task_values(report),
        coverage: report.coverage.as_ref().map(crate::coverage::json_value),
    }
}

/// A task's log lines, each tagged with its label when it has one.
fn log_lines(out: &mut String, task: &TaskReport) {
    for message in &task.logs {
        let mut value = json!({
            "event": "log",
            "level": message.message_type.as_str(),
            "message": message.message,
            "createTime": message.create_time,
        });
        if let Some(label) = &task.label {
            value["task"] = json!(label);
        }
        out.push_str(&line(&value));
    }
}

impl Renderer for JsonRenderer {
    fn render(&mut self, event: &Event<'_>) -> String {
        match event {
            Event::Begin => String::new(),
            Event::ForTask { label, event } => {
                // The task's own event, tagged with its label.
                let text = self.render(event);
                match serde_json::from_str::<serde_json::Value>(text.trim_end()) {
                    Ok(mut value) if value.is_object() => {
                        value["task"] = json!(label);
                        line(&value)
                    }
                    _ => text,
                }
            }
            Event::Note(text) => line(&json!({"event": "note", "message": text})),
            Event::StateChanged { state, elapsed } => line(&json!({
                "event": "state", "state": state.as_str(), "elapsedSeconds": elapsed.as_secs_f64()
            })),
            Event::Heartbeat { state, elapsed } => line(&json!({
                "event": "heartbeat", "state": state.as_str(), "elapsedSeconds": elapsed.as_secs_f64()
            })),
            Event::LiveFailure { test, logs } => line(&json!({
                "event": "live-failure",
                "name": test.title(),
                "path": test.path,
                "file": test.file.as_ref().map(|f| f.path.as_str()),
                "line": test.file.as_ref().map(|f| f.line),
                "location": test.location,
                "message": test.message,
                "logs": logs.iter().map(|l| json!({
                    "level": l.message_type.as_str(), "message": l.message
                })).collect::<Vec<_>>(),
            })),
            Event::LiveProgress {
                counts,
                running,
                elapsed,
            } => line(&json!({
                "event": "live-progress",
                "passed": counts.passed,
                "failed": counts.failed,
                "skipped": counts.skipped,
                "running": running,
                "elapsedSeconds": elapsed.as_secs_f64(),
            })),
            Event::Finished(report) => {
                let mut out = String::new();
                for task in &report.tasks {
                    log_lines(&mut out, task);
                }
                out.push_str(&line(&result_value(report)));
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::{LogMessage, MessageType, TaskState};
    use crate::outcome::Outcome;

    /// Each line as a JSON object.
    fn objects(text: &str) -> Vec<serde_json::Value> {
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    #[test]
    fn every_line_is_one_object_and_a_step_names_its_tasks() {
        let mut renderer = JsonRenderer;
        let state = Event::StateChanged {
            state: &TaskState::Processing,
            elapsed: std::time::Duration::from_millis(1500),
        };
        let tagged = renderer.render(&Event::ForTask {
            label: "tasks/a.luau",
            event: &state,
        });
        assert_eq!(
            objects(&tagged),
            [serde_json::json!({
                "event": "state", "state": "PROCESSING", "elapsedSeconds": 1.5, "task": "tasks/a.luau"
            })]
        );

        let mut unit = TaskReport::new(Outcome::ScriptError, crate::api::Service::OpenCloud);
        unit.logs = vec![LogMessage {
            message: "boom ##[error]x".into(),
            create_time: None,
            message_type: MessageType::Error,
        }];
        let mut report = StepReport::new(Outcome::ScriptError);
        report.tasks = vec![unit.labelled("tasks/a.luau", 2)];
        let text = renderer.render(&Event::Finished(&report));
        assert!(!text.contains("##["), "{text}");
        let lines = objects(&text);
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["event"], "log");
        assert_eq!(lines[0]["task"], "tasks/a.luau");
        assert_eq!(
            lines[0]["message"], "boom ##[error]x",
            "the same text once decoded"
        );
        assert_eq!(lines[1]["event"], "result");
        assert_eq!(lines[1]["exitCode"], 1);
        assert_eq!(lines[1]["tasks"][0]["label"], "tasks/a.luau");
        assert_eq!(lines[1]["tasks"][0]["exitCode"], 1);
        assert_eq!(renderer.render(&Event::Begin), "");
    }
}
