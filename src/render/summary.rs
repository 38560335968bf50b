//! The job summary for `GITHUB_STEP_SUMMARY`: outcome, error, duration, results and the tail of
//! the log, as Markdown.
//!
//! Untrusted text never reaches Markdown as Markdown: short values in the table are
//! HTML-escaped (and have Markdown's punctuation neutralised), longer text goes into fenced code
//! blocks whose fence is longer than any backtick run inside. The whole summary stays under
//! 1 MiB, past which GitHub drops it, whatever the log size.

use std::fmt::Write;

use crate::duration::human;
use crate::report::RunReport;
use crate::text::prefix_bytes;

/// GitHub's limit is 1 MiB per step; we stay well under it.
pub const MAX_SUMMARY_BYTES: usize = 1024 * 1024;
/// The log tail shown: at most this many messages…
const TAIL_MESSAGES: usize = 200;
/// …and at most this many bytes.
const TAIL_BYTES: usize = 256 * 1024;
const MAX_BLOCK_BYTES: usize = 128 * 1024;

/// Escapes text for an HTML/Markdown table cell: entities for `& < > " '`, and backslash or
/// entity forms for Markdown punctuation and the cell separator.
pub fn escape_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '|' => out.push_str("&#124;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '!' | '~' | '{' | '}' | '+'
            | '-' | '.' => {
                out.push('\\');
                out.push(c);
            }
            other => out.push(other),
        }
    }
    out
}

/// A fenced code block that no content can close early.
pub fn fenced(text: &str, info: &str) -> String {
    let text = prefix_bytes(text, MAX_BLOCK_BYTES);
    let longest_run = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat((longest_run + 1).max(3));
    format!("{fence}{info}\n{text}\n{fence}\n")
}

pub fn render_summary(report: &RunReport) -> String {
    let mut out = String::new();
    let icon = if report.outcome.is_success() {
        "✅"
    } else {
        "❌"
    };
    let _ = writeln!(
        out,
        "### {icon} Luau: {}\n",
        escape_inline(&report.headline())
    );
    out.push_str("| | |\n|---|---|\n");
    let _ = writeln!(out, "| Exit code | {} |", report.outcome.exit_code());
    if let Some(state) = report.state() {
        let _ = writeln!(out, "| State | {} |", escape_inline(state.as_str()));
    }
    if let Some(code) = report.error_code() {
        let _ = writeln!(out, "| Error code | {} |", escape_inline(code.as_str()));
    }
    if report.task.is_some() {
        let _ = writeln!(out, "| Duration | {} |", human(report.duration));
    }
    if let Some(version) = report.place_version {
        let _ = writeln!(out, "| Place version | {version} |");
    }
    if let Some(path) = report.task_path() {
        let _ = writeln!(out, "| Task | {} |", escape_inline(path));
    }
    let _ = writeln!(out, "| Log messages | {} |", report.logs.len());
    if let Some(cut) = &report.logs_cut {
        let _ = writeln!(out, "| Logs cut | {} |", escape_inline(cut));
    }
    out.push('\n');

    if let Some(message) = report.error_message() {
        out.push_str("**Error**\n\n");
        out.push_str(&fenced(message, ""));
        out.push('\n');
    }
    if let Some(problem) = &report.problem {
        out.push_str("**Problem**\n\n");
        out.push_str(&fenced(problem, ""));
        out.push('\n');
    }
    if let Some(results) = report.results_json() {
        out.push_str("**Results**\n\n");
        // Pretty-printing means parsing: only for results small enough to read anyway.
        let pretty = (results.len() <= MAX_BLOCK_BYTES)
            .then(|| serde_json::from_str::<serde_json::Value>(&results).ok())
            .flatten()
            .and_then(|value| serde_json::to_string_pretty(&value).ok())
            .unwrap_or(results);
        out.push_str(&fenced(&pretty, "json"));
        out.push('\n');
    }
    if !report.logs.is_empty() {
        let mut tail: Vec<String> = Vec::new();
        let mut bytes = 0;
        for message in report.logs.iter().rev().take(TAIL_MESSAGES) {
            let line = format!("[{}] {}", message.message_type, message.message);
            if bytes + line.len() > TAIL_BYTES {
                break;
            }
            bytes += line.len() + 1;
            tail.push(line);
        }
        tail.reverse();
        let _ = writeln!(
            out,
            "<details><summary>Log tail ({} of {} messages)</summary>\n",
            tail.len(),
            report.logs.len()
        );
        out.push_str(&fenced(&tail.join("\n"), ""));
        out.push_str("\n</details>\n");
    }
    if out.len() > MAX_SUMMARY_BYTES {
        // Unreachable with the caps above; kept so the bound holds if they change.
        out = format!(
            "{}\n\n(summary cut)\n",
            prefix_bytes(&out, MAX_SUMMARY_BYTES - 64)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_outgrow_backtick_runs() {
        let block = fenced("a ```` b", "");
        assert!(block.starts_with("`````\n"));
        assert!(block.ends_with("\n`````\n"));
        assert!(fenced("plain", "json").starts_with("```json\n"));
    }

    #[test]
    fn inline_text_cannot_be_markup() {
        let escaped = escape_inline("<img src=x> | **bold** [link](http://x)");
        assert!(!escaped.contains('<'));
        assert!(!escaped.contains('|'));
        assert!(!escaped.contains("**"));
        assert!(escaped.contains("&lt;img"));
    }
}
