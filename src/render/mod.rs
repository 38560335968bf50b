//! Presentation: turns the run's events into text. Renderers are pure (`Event` in, `String`
//! out); [`Console`] is the one sink that writes to stdout, so ordering is deterministic and
//! workflow commands never race with other output.
//!
//! Security model: text from the user's script (log messages, error messages, results) and
//! from servers is untrusted. On GitHub it is printed only inside a `::stop-commands::` bracket
//! with a fresh random token, and only our own commands are emitted between brackets, with
//! untrusted parts escaped as command data. Every presenter also "defangs" untrusted lines: each
//! line starts with our own non-blank prefix (so `::` can never start it) and `##[` is broken
//! with a word joiner (the runner's legacy grammar matches it anywhere in a line).

pub mod github;
pub mod json;
pub mod junit;
pub mod live;
pub mod outputs;
pub mod plain;
pub mod summary;
pub mod text;
pub mod workflow;

pub use crate::text::defang;
use std::io::Write;
use std::time::Duration;

use crate::api::model::{LogMessage, MessageType, TaskState};
use crate::report::StepReport;
use crate::results::{Counts, TestCase};
use crate::secret::Redactor;

/// Something worth telling the person reading the CI log.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The first thing printed (GitHub: mask the key, bracket everything after).
    Begin,
    /// Progress in our own words: "uploading…", "created task …".
    Note(&'a str),
    StateChanged {
        state: &'a TaskState,
        elapsed: Duration,
    },
    Heartbeat {
        state: &'a TaskState,
        elapsed: Duration,
    },
    Finished(&'a StepReport),
    /// A test that failed while its task ran (`live-progress`), located as the final report
    /// locates it, with the log lines it printed.
    LiveFailure {
        test: &'a TestCase,
        logs: &'a [LogMessage],
    },
    /// The task's tests so far (`live-progress`), and the one running.
    LiveProgress {
        counts: &'a Counts,
        running: Option<&'a str>,
        elapsed: Duration,
    },
    /// Progress of one task of a step that runs many (a note or a state change), under its
    /// label.
    ForTask {
        label: &'a str,
        event: &'a Event<'a>,
    },
}

/// Where a run's events go: the [`Console`], or a task's share of it when a step runs many.
pub trait Sink {
    fn emit(&mut self, event: Event<'_>);
}

impl Sink for Console {
    fn emit(&mut self, event: Event<'_>) {
        Console::emit(self, event);
    }
}

pub trait Renderer {
    /// The text for one event: whole lines, each ending in `\n`.
    fn render(&mut self, event: &Event<'_>) -> String;
}

/// Splits untrusted text into lines: LF, CRLF and a lone CR (which a terminal would treat as a
/// line start) all break lines.
pub fn split_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        lines.extend(line.split('\r'));
    }
    lines
}

/// Prefixes every line of untrusted text: `first` on the first line, `rest` on the others.
/// Both prefixes must start with a non-blank character other than `:`.
pub fn prefixed_lines(out: &mut String, first: &str, rest: &str, text: &str) {
    for (i, line) in split_lines(text).into_iter().enumerate() {
        out.push_str(if i == 0 { first } else { rest });
        out.push_str(&defang(line));
        out.push('\n');
    }
}

/// The level tag of a log line.
pub fn level_tag(level: &MessageType) -> &'static str {
    match level {
        MessageType::Output => "[OUTPUT] ",
        MessageType::Info => "[INFO]   ",
        MessageType::Warning => "[WARNING]",
        MessageType::Error => "[ERROR]  ",
        MessageType::Unspecified | MessageType::Other(_) => "[LOG]    ",
    }
}

/// The one writer of stdout. A failed write (a closed pipe) is not worth dying for: the exit
/// code still tells the story. Everything it writes passes the redactor, the last line of
/// defence for the key (the API client scrubs remote text where it enters).
pub struct Console {
    renderer: Box<dyn Renderer + Send>,
    redactor: Redactor,
}

impl Console {
    pub fn new(renderer: Box<dyn Renderer + Send>, redactor: Redactor) -> Self {
        Self { renderer, redactor }
    }

    pub fn emit(&mut self, event: Event<'_>) {
        let text = self.renderer.render(&event);
        if text.is_empty() {
            return;
        }
        // `Begin` is ours alone, and on GitHub it is the `::add-mask::` of the key itself.
        let text = match event {
            Event::Begin => std::borrow::Cow::Borrowed(text.as_str()),
            _ => self.redactor.redact(&text),
        };
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        let _ = lock.write_all(text.as_bytes());
        let _ = lock.flush();
    }
}

/// A stderr writer that removes the key, for diagnostics (each event is written whole).
pub struct RedactingWriter {
    redactor: Redactor,
}

impl RedactingWriter {
    pub fn stderr(redactor: Redactor) -> Self {
        Self { redactor }
    }
}

impl Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(self.redactor.redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defang_breaks_the_legacy_prefix() {
        assert_eq!(defang("a ##[error]b"), "a ##\u{2060}[error]b");
        assert_eq!(defang("plain"), "plain");
    }

    #[test]
    fn splits_every_kind_of_line_break() {
        assert_eq!(split_lines("a\nb\r\nc\rd"), vec!["a", "b", "c", "d"]);
        assert_eq!(split_lines(""), vec![""]);
    }
}
