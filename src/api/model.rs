//! Wire types for the Luau Execution API, written from Roblox's schema
//! (`shared/spec/opencloud-luau-execution.openapi.json`).
//!
//! Every field is optional or defaulted and unknown fields are ignored: the live API omits
//! fields freely (proto3 JSON), and nothing a server sends may make the binary panic. Enums keep
//! values we do not know as text, so a new state or error code is reported, not lost.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::secret::Redactor;

/// Remote free text with the API key scrubbed out: every wire type implements it, and the client
/// applies it to every answer before returning it. Only text that is shown and never parsed is
/// scrubbed here (error messages, log lines), so no later cut can split the key; what is parsed
/// or sent back (paths, page tokens, URIs, states, codes, the results JSON) stays as the server
/// sent it, and is scrubbed only where it is printed or written.
pub trait Redact {
    fn redact_with(&mut self, redactor: &Redactor);
}

impl Redact for () {
    fn redact_with(&mut self, _: &Redactor) {}
}

impl Redact for u64 {
    fn redact_with(&mut self, _: &Redactor) {}
}

fn scrub_option(text: &mut Option<String>, redactor: &Redactor) {
    if let Some(text) = text {
        redactor.scrub(text);
    }
}

/// Declares a string enum whose unknown values are kept as `Other(text)`.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this build does not know.
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(text) => text,
                }
            }

            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)*
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Ok(Self::parse(&text))
            }
        }
    };
}

open_enum! {
    /// `LuauExecutionSessionTask.state`.
    TaskState {
        #[default]
        Unspecified => "STATE_UNSPECIFIED",
        /// Waiting to be processed.
        Queued => "QUEUED",
        /// Picked up for processing.
        Processing => "PROCESSING",
        /// Stopped (no public API cancels a task; Roblox may).
        Cancelled => "CANCELLED",
        /// Finished; `output` holds the results.
        Complete => "COMPLETE",
        /// Failed; `error` holds the details.
        Failed => "FAILED",
    }
}

impl TaskState {
    /// Terminal states end the poll. `STATE_UNSPECIFIED` and values we do not know are not
    /// terminal: `wait-timeout` bounds them.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Cancelled | Self::Complete | Self::Failed)
    }
}

open_enum! {
    /// `LuauExecutionSessionTask_Error.code`.
    TaskErrorCode {
        #[default]
        Unspecified => "ERROR_CODE_UNSPECIFIED",
        /// The script raised an unhandled error.
        ScriptError => "SCRIPT_ERROR",
        /// The script ran past its timeout.
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        /// The return values were over 4 MB as JSON.
        OutputSizeLimitExceeded => "OUTPUT_SIZE_LIMIT_EXCEEDED",
        /// Roblox failed.
        InternalError => "INTERNAL_ERROR",
    }
}

open_enum! {
    /// `LuauExecutionSessionTaskLog_LogMessage.messageType`.
    MessageType {
        #[default]
        Unspecified => "MESSAGE_TYPE_UNSPECIFIED",
        /// `print`.
        Output => "OUTPUT",
        Info => "INFO",
        /// `warn`.
        Warning => "WARNING",
        /// Errors, including the unhandled one that failed the task.
        Error => "ERROR",
    }
}

/// The create-task request body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTaskRequest {
    #[serde(default)]
    pub script: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub binary_input: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub enable_binary_output: Option<bool>,
}

/// `LuauExecutionSessionTask`, as create and get return it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    #[serde(default)]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default)]
    pub state: TaskState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<TaskOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_input: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_binary_output: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_output_uri: Option<String>,
}

/// `LuauExecutionSessionTask_Error`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskError {
    #[serde(default)]
    pub code: TaskErrorCode,
    #[serde(default)]
    pub message: String,
}

/// `LuauExecutionSessionTask_Output`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TaskOutput {
    /// One value per returned Luau value; `null` for values JSON cannot hold. Kept as the JSON
    /// text the server sent: 4 MB of results parsed into a tree of values can take ten times
    /// that in memory, and most runs only print them.
    #[serde(default)]
    pub results: Vec<Box<RawValue>>,
}

impl TaskOutput {
    /// An output from values already written as JSON text (the emulator); text that is not
    /// JSON becomes `null`.
    pub fn from_json_texts(texts: Vec<String>) -> Self {
        Self {
            results: texts
                .into_iter()
                .map(|text| {
                    RawValue::from_string(text).unwrap_or_else(|_| {
                        RawValue::from_string("null".to_owned()).expect("null is JSON")
                    })
                })
                .collect(),
        }
    }

    /// An output from values (tests).
    pub fn from_values(values: &[serde_json::Value]) -> Self {
        Self {
            results: values
                .iter()
                .filter_map(|v| serde_json::value::to_raw_value(v).ok())
                .collect(),
        }
    }
}

impl Redact for Task {
    fn redact_with(&mut self, redactor: &Redactor) {
        scrub_option(&mut self.user, redactor);
        scrub_option(&mut self.script, redactor);
        if let Some(error) = &mut self.error {
            redactor.scrub(&mut error.message);
        }
    }
}

impl Redact for LogsPage {
    fn redact_with(&mut self, redactor: &Redactor) {
        for chunk in &mut self.luau_execution_session_task_logs {
            chunk
                .messages
                .iter_mut()
                .flatten()
                .for_each(|m| redactor.scrub(m));
            for message in chunk.structured_messages.iter_mut().flatten() {
                redactor.scrub(&mut message.message);
            }
        }
    }
}

impl Redact for BinaryInput {
    fn redact_with(&mut self, _: &Redactor) {}
}

impl Redact for PlaceVersion {
    fn redact_with(&mut self, _: &Redactor) {}
}

/// `ListLuauExecutionSessionTaskLogsResponse`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsPage {
    #[serde(default)]
    pub luau_execution_session_task_logs: Vec<LogChunk>,
    /// Absent or empty: no more pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// `LuauExecutionSessionTaskLog`: one chunk of messages.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogChunk {
    #[serde(default)]
    pub path: String,
    /// The FLAT view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<String>>,
    /// The STRUCTURED view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_messages: Option<Vec<LogMessage>>,
}

/// `LuauExecutionSessionTaskLog_LogMessage`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogMessage {
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(default)]
    pub message_type: MessageType,
}

/// `LuauExecutionSessionTaskBinaryInput`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BinaryInput {
    #[serde(default)]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<SizeValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_uri: Option<String>,
}

/// An int64 in proto3 JSON may arrive as a number or as a decimal string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SizeValue {
    Number(u64),
    Text(String),
}

/// The place-publishing answer, `{"versionNumber": N}` (documented as text/plain).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaceVersion {
    pub version_number: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_observed_create_response() {
        let body = r#"{"path":"universes/5795192361/places/16866553538/versions/26/luau-execution-sessions/67823af7-1f99-4fc5-b3bb-da7ab3456b5d/tasks/67823af7-1f99-4fc5-b3bb-da7ab3456b5d","user":"45348281","state":"PROCESSING","script":"local x, y = 3, 4; return x + y"}"#;
        let task: Task = serde_json::from_str(body).unwrap();
        assert_eq!(task.state, TaskState::Processing);
        assert!(
            task.path
                .ends_with("/tasks/67823af7-1f99-4fc5-b3bb-da7ab3456b5d")
        );
    }

    #[test]
    fn keeps_unknown_values_and_ignores_unknown_fields() {
        let body = r#"{"state":"PAUSED","error":{"code":"QUOTA"},"somethingNew":{"a":1}}"#;
        let task: Task = serde_json::from_str(body).unwrap();
        assert_eq!(task.state, TaskState::Other("PAUSED".into()));
        assert!(!task.state.is_terminal());
        assert_eq!(task.error.unwrap().code.as_str(), "QUOTA");
    }

    #[test]
    fn empty_object_is_a_task_with_defaults() {
        let task: Task = serde_json::from_str("{}").unwrap();
        assert_eq!(task.state, TaskState::Unspecified);
        assert!(task.output.is_none());
    }

    #[test]
    fn parses_the_observed_logs_response() {
        let body = r#"{"luauExecutionSessionTaskLogs":[{"path":"x/logs/1","messages":[]}],"nextPageToken":""}"#;
        let page: LogsPage = serde_json::from_str(body).unwrap();
        assert_eq!(page.luau_execution_session_task_logs.len(), 1);
        assert_eq!(page.next_page_token.as_deref(), Some(""));
    }

    #[test]
    fn create_request_omits_what_is_not_set() {
        let body = serde_json::to_string(&CreateTaskRequest {
            script: "return 1".into(),
            ..CreateTaskRequest::default()
        })
        .unwrap();
        assert_eq!(body, r#"{"script":"return 1"}"#);
        let body = serde_json::to_value(CreateTaskRequest {
            script: "x".into(),
            timeout: Some("90s".into()),
            binary_input: Some("universes/1/luau-execution-session-task-binary-inputs/a".into()),
            enable_binary_output: Some(true),
        })
        .unwrap();
        assert_eq!(body["enableBinaryOutput"], true);
        assert_eq!(
            body["binaryInput"],
            "universes/1/luau-execution-session-task-binary-inputs/a"
        );
        assert_eq!(body["timeout"], "90s");
    }
}
