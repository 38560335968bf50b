//! GitHub workflow-command syntax and escaping, exactly as the runner unescapes it
//! (`actions/runner` `ActionCommand.cs`; writer side `actions/toolkit` `command.ts`).

use crate::results::FileLine;

/// The runner cuts annotation messages at 4096 characters; we cut first, with a marker, so the
/// reader knows.
pub const MAX_MESSAGE_CHARS: usize = 4096;
/// Titles beyond 255 characters are refused by the checks API.
pub const MAX_TITLE_CHARS: usize = 255;
const CUT_MARKER: &str = "… (cut; full text in the log)";

/// Command data: `%` first, then CR and LF.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Property values (`title`, `file`): data escaping plus `:` and `,`.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Cuts to `max` characters (counted as the runner counts them, in UTF-16 units) with a marker.
pub fn cut_chars(text: &str, max: usize) -> String {
    if text.encode_utf16().count() <= max {
        return text.to_owned();
    }
    let budget = max - CUT_MARKER.encode_utf16().count();
    let mut used = 0;
    let mut out = String::new();
    for c in text.chars() {
        used += c.len_utf16();
        if used > budget {
            break;
        }
        out.push(c);
    }
    out.push_str(CUT_MARKER);
    out
}

/// The kinds of annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

impl Level {
    fn command(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Notice => "notice",
        }
    }
}

/// `::error title=…::message` on one line, with both parts escaped and cut to GitHub's limits.
pub fn annotation(level: Level, title: Option<&str>, message: &str) -> String {
    annotation_at(level, title, None, message)
}

/// An annotation on a file and line: `::error file=src/a.luau,line=7,title=…::message`.
pub fn annotation_at(
    level: Level,
    title: Option<&str>,
    place: Option<&FileLine>,
    message: &str,
) -> String {
    let message = escape_data(&cut_chars(message, MAX_MESSAGE_CHARS));
    let mut properties = Vec::new();
    if let Some(place) = place {
        properties.push(format!("file={}", escape_property(&place.path)));
        properties.push(format!("line={}", place.line));
    }
    if let Some(title) = title {
        properties.push(format!(
            "title={}",
            escape_property(&cut_chars(title, MAX_TITLE_CHARS))
        ));
    }
    if properties.is_empty() {
        format!("::{}::{message}", level.command())
    } else {
        format!("::{} {}::{message}", level.command(), properties.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_the_toolkit() {
        assert_eq!(escape_data("100% a\r\nb"), "100%25 a%0D%0Ab");
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
        // A literal escape sequence survives the round trip.
        assert_eq!(escape_data("%0A"), "%250A");
    }

    #[test]
    fn annotations_are_one_line() {
        let line = annotation(
            Level::Error,
            Some("SCRIPT_ERROR: x,y"),
            "line1\nline2\n::error::forged",
        );
        assert_eq!(
            line,
            "::error title=SCRIPT_ERROR%3A x%2Cy::line1%0Aline2%0A::error::forged"
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn annotations_can_point_at_a_line() {
        let place = FileLine {
            path: "src/a,b.luau".into(),
            line: 7,
        };
        assert_eq!(
            annotation_at(Level::Error, Some("Tests › x"), Some(&place), "boom"),
            "::error file=src/a%2Cb.luau,line=7,title=Tests › x::boom"
        );
    }

    #[test]
    fn long_messages_are_cut_with_a_marker() {
        let long = "é".repeat(10_000);
        let cut = cut_chars(&long, MAX_MESSAGE_CHARS);
        assert_eq!(cut.encode_utf16().count(), MAX_MESSAGE_CHARS);
        assert!(cut.ends_with(CUT_MARKER));
        assert_eq!(cut_chars("short", MAX_MESSAGE_CHARS), "short");
    }
}
