//! One JSON object per line, for machines: `{"event":"state",…}`, `{"event":"log",…}`,
//! `{"event":"result",…}`.
//!
//! A serialized line starts with `{`, so the runner's `::` grammar never matches; `##[` can
//! only occur inside a string, where it is written as `##\u005b` (the same text once decoded).

use serde_json::{Value, json};

use super::{Event, Renderer};
use crate::report::RunReport;

#[derive(Default)]
pub struct JsonRenderer;

fn line(value: &Value) -> String {
    let text = value.to_string().replace("##[", "##\\u005b");
    format!("{text}\n")
}

/// The result object; also what the JSON presenter prints last.
pub fn result_value(report: &RunReport) -> Value {
    json!({
        "event": "result",
        "outcome": report.headline(),
        "exitCode": report.outcome.exit_code(),
        "state": report.state().map(|s| s.as_str()),
        "errorCode": report.error_code().map(|c| c.as_str()),
        "errorMessage": report.error_message(),
        "problem": report.problem,
        "logsProblem": report.logs_problem,
        "logsCut": report.logs_cut,
        "results": report.results(),
        "taskPath": report.task_path(),
        "durationSeconds": report.duration.as_secs_f64(),
        "placeVersion": report.place_version,
        "binaryOutputPath": report.binary_output_path.as_ref().map(|p| p.display().to_string()),
        "errorLocation": report.error_location,
        "tests": report.tests.as_ref().map(|run| json!({
            "framework": run.framework,
            "counts": run.counts(),
            "notes": run.notes,
            "tests": run.tests,
        })),
    })
}

impl Renderer for JsonRenderer {
    fn render(&mut self, event: &Event<'_>) -> String {
        match event {
            Event::Begin => String::new(),
            Event::Note(text) => line(&json!({"event": "note", "message": text})),
            Event::StateChanged { state, elapsed } => line(&json!({
                "event": "state", "state": state.as_str(), "elapsedSeconds": elapsed.as_secs_f64()
            })),
            Event::Heartbeat { state, elapsed } => line(&json!({
                "event": "heartbeat", "state": state.as_str(), "elapsedSeconds": elapsed.as_secs_f64()
            })),
            Event::Finished(report) => {
                let mut out = String::new();
                for message in &report.logs {
                    out.push_str(&line(&json!({
                        "event": "log",
                        "level": message.message_type.as_str(),
                        "message": message.message,
                        "createTime": message.create_time,
                    })));
                }
                out.push_str(&line(&result_value(report)));
                out
            }
        }
    }
}
