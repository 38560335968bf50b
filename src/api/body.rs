//! Reading what a server sends, without trusting it: every body is read with a cap fitted to
//! what Open Cloud can legitimately send (a larger one is cut off mid-stream, never buffered),
//! binary output is streamed to disk under its own cap, and JSON is decoded leniently (invalid
//! UTF-8 and lone UTF-16 surrogates become U+FFFD instead of failing the whole answer).

use std::borrow::Cow;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use serde::de::DeserializeOwned;
use tokio::io::AsyncWriteExt;

/// A task as create or get returns it: up to 4 MB of results, and create may echo a 4 MB
/// script. JSON escaping of either can add more; 16 MiB leaves room and bounds the rest.
pub const TASK_BODY_CAP: usize = 16 * 1024 * 1024;
/// A page of logs: Roblox keeps a 450 KB window; escaping (`\u0001` is six bytes for one) and
/// per-message fields can multiply that several times over.
pub const LOGS_BODY_CAP: usize = 8 * 1024 * 1024;
/// Small answers: a binary input, a place version number.
pub const SMALL_BODY_CAP: usize = 64 * 1024;
/// An error answer is read only this far: it becomes one line of a message.
pub const ERROR_BODY_CAP: usize = 16 * 1024;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the answer is larger than the {} it may be", crate::text::size(*.cap as u64))]
    TooLarge { cap: usize },
    #[error("{0}")]
    Transport(String),
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Reads a whole body of at most `cap` bytes. A `Content-Length` over the cap fails at once;
/// a body that grows past it is cut off there.
pub async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Bytes, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > cap as u64)
    {
        return Err(BodyError::TooLarge { cap });
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BodyError::Transport(describe_transport(&e)))?
    {
        if body.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge { cap });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Reads at most `cap` bytes of a body and drops the rest: for error answers, where the start
/// says enough. Transport errors mid-way keep what arrived.
pub async fn read_prefix(mut response: reqwest::Response, cap: usize) -> Bytes {
    let mut body = BytesMut::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = cap - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= cap {
            break;
        }
    }
    body.freeze()
}

/// Streams a body into `path` (at most `cap` bytes) and returns the number of bytes written.
/// The bytes go to a file beside `path`, renamed onto it only when the whole body has arrived:
/// a body that breaks off, grows past the cap or is abandoned (the future dropped at
/// `wait-timeout` or on a signal) leaves `path` as it was.
pub async fn stream_to_file(
    mut response: reqwest::Response,
    path: &Path,
    cap: u64,
) -> Result<u64, BodyError> {
    if response.content_length().is_some_and(|length| length > cap) {
        return Err(BodyError::TooLarge { cap: cap as usize });
    }
    let write_error = |source| BodyError::Write {
        path: path.display().to_string(),
        source,
    };
    let (file, staged) = crate::files::Staged::beside(path).map_err(write_error)?;
    let mut file = tokio::fs::File::from_std(file);
    let mut written = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BodyError::Transport(describe_transport(&e)))?
    {
        written += chunk.len() as u64;
        if written > cap {
            return Err(BodyError::TooLarge { cap: cap as usize });
        }
        file.write_all(&chunk).await.map_err(write_error)?;
    }
    file.flush().await.map_err(write_error)?;
    file.sync_all().await.map_err(write_error)?;
    drop(file);
    staged.commit().map_err(write_error)?;
    Ok(written)
}

/// Parses JSON leniently: text that is not UTF-8, or `\u` escapes that are lone surrogates,
/// are repaired to U+FFFD first, so one bad character in a log line cannot lose the rest.
pub fn parse_json_lenient<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let repaired = repair_json(body);
    serde_json::from_slice(&repaired).map_err(|e| e.to_string())
}

/// The body with invalid UTF-8 replaced and lone surrogate escapes rewritten as `\ufffd`;
/// borrowed when nothing needed repair (the usual case, which costs one scan).
pub fn repair_json(body: &[u8]) -> Cow<'_, [u8]> {
    let text = String::from_utf8_lossy(body);
    if !has_lone_surrogate(text.as_bytes()) {
        return match text {
            Cow::Borrowed(_) => Cow::Borrowed(body),
            Cow::Owned(text) => Cow::Owned(text.into_bytes()),
        };
    }
    Cow::Owned(replace_lone_surrogates(text.as_bytes()))
}

/// The UTF-16 unit of a `\uXXXX` escape starting at `at` (which points at the backslash).
fn escape_unit(bytes: &[u8], at: usize) -> Option<u16> {
    if bytes.get(at) != Some(&b'\\') || bytes.get(at + 1) != Some(&b'u') {
        return None;
    }
    let hex = std::str::from_utf8(bytes.get(at + 2..at + 6)?).ok()?;
    u16::from_str_radix(hex, 16).ok()
}

fn is_high(unit: u16) -> bool {
    (0xD800..0xDC00).contains(&unit)
}

fn is_low(unit: u16) -> bool {
    (0xDC00..0xE000).contains(&unit)
}

/// Walks the escapes of JSON text, calling `visit(position, unit, paired)` for each `\u`
/// escape that is a surrogate; `paired` says whether it forms a valid pair with its neighbour.
fn for_each_surrogate(bytes: &[u8], mut visit: impl FnMut(usize, bool)) {
    let mut i = 0;
    // Escapes are rare in a large body: skip to the next backslash at memchr's speed.
    while let Some(next) = bytes.get(i..).and_then(|rest| memchr::memchr(b'\\', rest)) {
        i += next;
        match escape_unit(bytes, i) {
            Some(unit) if is_high(unit) => {
                if escape_unit(bytes, i + 6).is_some_and(is_low) {
                    i += 12;
                } else {
                    visit(i, false);
                    i += 6;
                }
            }
            Some(unit) if is_low(unit) => {
                visit(i, false);
                i += 6;
            }
            Some(_) => i += 6,
            // Any other escape is two characters (`\"`, `\\`, `\n`, …).
            None => i += 2,
        }
    }
}

fn has_lone_surrogate(bytes: &[u8]) -> bool {
    let mut found = false;
    for_each_surrogate(bytes, |_, _| found = true);
    found
}

fn replace_lone_surrogates(bytes: &[u8]) -> Vec<u8> {
    let mut lone = Vec::new();
    for_each_surrogate(bytes, |at, _| lone.push(at));
    let mut out = Vec::with_capacity(bytes.len());
    let mut from = 0;
    for at in lone {
        out.extend_from_slice(&bytes[from..at]);
        out.extend_from_slice(b"\\ufffd");
        from = at + 6;
    }
    out.extend_from_slice(&bytes[from..]);
    out
}

/// A transport error with its causes, e.g. "error sending request for url (…): connection
/// refused". URLs never carry the key.
pub(super) fn describe_transport(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    crate::text::cut(&text, 400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repairs_invalid_utf8_and_lone_surrogates() {
        let value: serde_json::Value =
            parse_json_lenient(b"{\"a\":\"x\xff y\",\"b\":\"\\ud800!\",\"c\":\"\\udc00\"}")
                .unwrap();
        assert_eq!(value["a"], "x\u{fffd} y");
        assert_eq!(value["b"], "\u{fffd}!");
        assert_eq!(value["c"], "\u{fffd}");
    }

    #[test]
    fn keeps_valid_pairs_and_escaped_backslashes() {
        let body = br#"{"a":"\ud83d\ude00","b":"\\ud800","c":"\u00e9"}"#;
        assert!(matches!(repair_json(body), Cow::Borrowed(_)));
        let value: serde_json::Value = parse_json_lenient(body).unwrap();
        assert_eq!(value["a"], "😀");
        assert_eq!(value["b"], "\\ud800");
        assert_eq!(value["c"], "é");
        // A high surrogate followed by another high one: the first is lone.
        let value: serde_json::Value =
            parse_json_lenient(br#"{"a":"\ud800\ud83d\ude00"}"#).unwrap();
        assert_eq!(value["a"], "\u{fffd}😀");
    }
}
