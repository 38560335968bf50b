//! What can go wrong talking to Open Cloud, classified where it happens so the exit code is a
//! lookup: a rejected request (exit 7), a service that could not be reached or kept failing
//! (exit 8), a create whose fate is unknown (exit 8).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::text::cut;

/// The request that failed, named for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    CreateTask,
    GetTask,
    ListLogs,
    UploadPlace,
    CreateBinaryInput,
    UploadBinaryInput,
    DownloadBinaryOutput,
    /// Memory-store sorted-map reads and writes (place reuse, live progress).
    ReadMemoryStore,
    WriteMemoryStore,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CreateTask => "create the task",
            Self::GetTask => "get the task",
            Self::ListLogs => "list the task's logs",
            Self::UploadPlace => "upload the place file",
            Self::CreateBinaryInput => "create the binary input",
            Self::UploadBinaryInput => "upload the binary input",
            Self::DownloadBinaryOutput => "download the binary output",
            Self::ReadMemoryStore => "read the memory store",
            Self::WriteMemoryStore => "write the memory store",
        })
    }
}

/// Whom the client talks to: Roblox's Open Cloud, or the embedded emulator of the local
/// backend. Messages name it, so a refusal by the emulator is never blamed on Roblox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    OpenCloud,
    LocalEmulator,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OpenCloud => "Open Cloud",
            Self::LocalEmulator => "the local emulator",
        })
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// A 4xx (or 3xx: a redirect is never followed with the key) answer that retrying cannot
    /// fix. `hint` says what it means for the user.
    #[error("{service} rejected the request to {operation} (HTTP {status}): {detail}{}", hint_suffix(.hint))]
    Rejected {
        service: Service,
        operation: Operation,
        status: u16,
        detail: String,
        hint: Option<String>,
    },
    /// Retried until the budget ran out: 5xx, 429, network errors, unreadable bodies.
    #[error("could not {operation} ({service}): gave up after {attempts} attempt(s) over {}: {last}", crate::duration::human(*.elapsed))]
    Unavailable {
        service: Service,
        operation: Operation,
        attempts: u32,
        elapsed: Duration,
        last: String,
    },
    /// A create failed in a way that may have created the task anyway; retrying could start a
    /// second one, so the run stops.
    #[error(
        "could not tell whether the task was created ({reason}); not retrying, so one run never starts two tasks"
    )]
    AmbiguousCreate { reason: String },
    /// A 2xx answer that cannot be used (missing fields, a URL we will not follow).
    #[error("{service}'s answer to {operation} could not be used: {detail}")]
    BadResponse {
        service: Service,
        operation: Operation,
        detail: String,
    },
    /// A downloaded file could not be written here: a local problem, not the server's.
    #[error("cannot write `{path}` on this machine: {detail}")]
    LocalWrite { path: String, detail: String },
    /// The HTTP client could not be set up (no TLS roots, no sockets).
    #[error("cannot start the HTTP client: {0}")]
    Client(String),
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref().map(|h| format!(" — {h}")).unwrap_or_default()
}

/// What a rejection means, per operation and status, for the user reading a CI log.
pub fn rejection_hint(
    service: Service,
    operation: Operation,
    status: u16,
    target: &str,
) -> Option<String> {
    if (300..400).contains(&status) && !is_presigned(operation) {
        return Some(format!(
            "{service} does not redirect these calls, and a request that carries the API key never follows a redirect: check `base-url`"
        ));
    }
    if service == Service::LocalEmulator {
        return Some(
            "the local emulator refused it (not Roblox): see the emulator's limits in the README"
                .to_owned(),
        );
    }
    // Presigned URLs carry their own authorisation, not the API key.
    if is_presigned(operation) {
        return Some(
            "the presigned storage URL refused the transfer; such URLs expire after 15 minutes"
                .to_owned(),
        );
    }
    let place_scope = matches!(operation, Operation::UploadPlace);
    let scope = match operation {
        Operation::UploadPlace => "`universe-places:write`",
        Operation::ReadMemoryStore => "`memory-store.sorted-map:read`",
        Operation::WriteMemoryStore => "`memory-store.sorted-map:write`",
        _ => "`universe.place.luau-execution-session:write`",
    };
    Some(match status {
        400 if place_scope => "the place file was refused as invalid".to_owned(),
        400 => "the request was refused as invalid".to_owned(),
        401 => "the API key was not accepted: check the secret is the whole key, that it has not expired (keys expire after 60 days unused) and that its IP restrictions allow this runner".to_owned(),
        403 => format!("the API key lacks permission: give it the scope {scope} for {target}"),
        404 => format!("{target} was not found, or the key's owner cannot see it: check the universe, place and version IDs"),
        409 if place_scope => format!("the place is not part of that universe ({target})"),
        409 => "the request conflicts with the resource's state".to_owned(),
        429 => "rate limited".to_owned(),
        _ => return None,
    })
}

/// Transfers to presigned storage URLs, which carry their own authorisation.
fn is_presigned(operation: Operation) -> bool {
    matches!(
        operation,
        Operation::UploadBinaryInput | Operation::DownloadBinaryOutput
    )
}

/// Reads an error body leniently: the v2 shape `{"code","message"}`, the gateway shape
/// `{"errors":[{"code","message"}]}`, the v1 shape `{"error","message"}`, else the raw text.
/// The result is cut short: it goes into a log line.
pub fn describe_error_body(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct V2 {
        code: Option<serde_json::Value>,
        message: Option<String>,
        error: Option<String>,
    }
    #[derive(Deserialize)]
    struct Gateway {
        errors: Vec<V2>,
    }

    fn join(code: Option<serde_json::Value>, message: Option<String>) -> Option<String> {
        let code = code.map(|c| match c {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        });
        match (code, message) {
            (Some(code), Some(message)) => Some(format!("{code}: {message}")),
            (None, Some(message)) => Some(message),
            (Some(code), None) => Some(code),
            (None, None) => None,
        }
    }

    let described = if let Ok(gateway) = serde_json::from_slice::<Gateway>(body) {
        let parts: Vec<String> = gateway
            .errors
            .into_iter()
            .filter_map(|e| join(e.code, e.message))
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    } else if let Ok(v2) = serde_json::from_slice::<V2>(body) {
        join(
            v2.code.or(v2.error.map(serde_json::Value::String)),
            v2.message,
        )
    } else {
        None
    };
    let text = described.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    // One line, no control characters: this text goes into log lines and traces.
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = crate::text::defang(text.trim());
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    cut(&text, 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_documented_shape() {
        assert_eq!(
            describe_error_body(
                br#"{"code":"INVALID_ARGUMENT","message":"Invalid User ID in the request."}"#
            ),
            "INVALID_ARGUMENT: Invalid User ID in the request."
        );
        assert_eq!(
            describe_error_body(br#"{"errors":[{"code":0,"message":"Invalid API Key"}]}"#),
            "0: Invalid API Key"
        );
        assert_eq!(
            describe_error_body(br#"{"error":"NotFound","message":"Place not found"}"#),
            "NotFound: Place not found"
        );
        assert_eq!(describe_error_body(b"Bad Gateway\n"), "Bad Gateway");
        assert_eq!(describe_error_body(b""), "(empty body)");
        assert_eq!(describe_error_body(b"[1,2]"), "[1,2]");
        // A body cannot start a new line or carry a legacy command.
        assert_eq!(
            describe_error_body(b"oops\n::error::x ##[warning]y"),
            "oops ::error::x ##\u{2060}[warning]y"
        );
    }

    #[test]
    fn long_bodies_are_cut() {
        let body = "x".repeat(5000);
        let described = describe_error_body(body.as_bytes());
        assert!(described.len() < 400);
        assert!(described.ends_with("(cut)"));
    }

    #[test]
    fn forbidden_names_the_scope() {
        let cloud = Service::OpenCloud;
        let hint = rejection_hint(cloud, Operation::CreateTask, 403, "universe 1").unwrap();
        assert!(hint.contains("universe.place.luau-execution-session:write"));
        let hint = rejection_hint(cloud, Operation::UploadPlace, 403, "universe 1").unwrap();
        assert!(hint.contains("universe-places:write"));
        let hint = rejection_hint(cloud, Operation::UploadBinaryInput, 403, "x").unwrap();
        assert!(hint.contains("presigned") && !hint.contains("scope"));
        let hint = rejection_hint(cloud, Operation::GetTask, 307, "x").unwrap();
        assert!(hint.contains("never follows a redirect"), "{hint}");
        let hint = rejection_hint(Service::LocalEmulator, Operation::CreateTask, 400, "x").unwrap();
        assert!(hint.contains("local emulator"), "{hint}");
    }
}
