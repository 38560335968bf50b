//! How a failed test reads first — in annotations, the log's list of failures and the job
//! summary — as the best test reporters show it: the assertion's message without the location
//! it starts with (the file and line stand beside it), where the error was raised when that is
//! not the test's own line (a helper the test called), and the user's frames of the traceback
//! without the framework's. JUnit and the JSON format keep the whole message.

use super::sourcemap::{FileLine, Frame, Locator};

/// A failure, ready to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Brief {
    /// The message's first line, without the `Name:line: ` it starts with.
    pub headline: String,
    /// Where the error was raised, when that is not the test's own line: the file and line (or
    /// the engine's name) of a helper the test called.
    pub raised_at: Option<String>,
    /// The message's other lines, without the framework's traceback frames.
    pub details: Vec<String>,
}

impl Brief {
    /// Reads a failure's message. `file` and `location` are where the test failed, as already
    /// located (the file, else the engine's name is shown beside the message).
    pub fn of(
        message: &str,
        file: Option<&FileLine>,
        location: Option<&str>,
        locator: &Locator,
    ) -> Self {
        let mut lines = message.lines();
        let first = lines.next().unwrap_or_default();
        let (headline, raised_at) = match leading_location(first, locator) {
            Some((frame, rest)) => {
                let same_file = match (locator.file_line(frame.chunk, frame.line), file) {
                    (Some(raised), Some(file)) => Some(raised == *file),
                    _ => None,
                };
                let same_name = location
                    .and_then(|l| locator.frames_in(l).next())
                    .map(|at| (at.chunk, at.line) == (frame.chunk, frame.line));
                // Said once: beside the message as its place, or in it as where it was raised.
                let elsewhere = same_file.or(same_name).is_none_or(|same| !same);
                (rest.to_owned(), elsewhere.then(|| locator.describe(&frame)))
            }
            None => (first.to_owned(), None),
        };
        let mut details: Vec<String> = Vec::new();
        for line in lines {
            if is_framework_frame(line, locator) {
                continue;
            }
            // Runs of blank lines become one; none leads or trails.
            if line.trim().is_empty() && details.last().is_none_or(|l| l.trim().is_empty()) {
                continue;
            }
            details.push(line.trim_end().to_owned());
        }
        while details.last().is_some_and(|l| l.trim().is_empty()) {
            details.pop();
        }
        Self {
            headline,
            raised_at,
            details,
        }
    }

    /// The first line and where it was raised, for a one-line cell.
    pub fn one_line(&self) -> String {
        match &self.raised_at {
            Some(place) => format!("{} (raised at {place})", self.headline),
            None => self.headline.clone(),
        }
    }

    /// Every line: the headline, where it was raised, then the details.
    pub fn text(&self) -> String {
        let mut lines = vec![self.headline.clone()];
        if let Some(place) = &self.raised_at {
            lines.push(format!("raised at {place}"));
        }
        lines.extend(self.details.iter().cloned());
        lines.join("\n")
    }
}

/// `ReplicatedStorage.Tests.Shared.helper:6: kaboom` → (that frame, `kaboom`): Luau starts an
/// error's message with where it was raised.
fn leading_location<'t>(line: &'t str, locator: &Locator) -> Option<(Frame<'t>, &'t str)> {
    let frame = locator.frames_in(line).next()?;
    if frame.start != 0 {
        return None;
    }
    let rest = line[frame.end..].strip_prefix(": ")?;
    Some((frame, rest))
}

/// A traceback line whose frame is the framework's: `ReplicatedStorage.Packages.TestEZ.
/// Expectation:47 function assertLevel`, `    at [string "…jest.expect"]:40`.
fn is_framework_frame(line: &str, locator: &Locator) -> bool {
    let trimmed = line.trim_start();
    let body = trimmed.strip_prefix("at ").unwrap_or(trimmed);
    let offset = line.len() - body.len();
    locator
        .frames_in(line)
        .next()
        .is_some_and(|frame| frame.start == offset && locator.is_framework(frame.chunk))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::results::Sourcemap;

    const PLACE: &str = r#"{ "name": "game", "className": "DataModel", "children": [
      { "name": "ReplicatedStorage", "className": "ReplicatedStorage", "children": [
        { "name": "Tests", "className": "Folder", "children": [
          { "name": "helper", "className": "ModuleScript", "filePaths": ["src/helper.luau"] },
          { "name": "text.spec", "className": "ModuleScript", "filePaths": ["src/text.spec.luau"] } ] },
        { "name": "Packages", "className": "Folder", "children": [
          { "name": "TestEZ", "className": "ModuleScript", "filePaths": ["Packages/TestEZ/init.lua"], "children": [
            { "name": "Expectation", "className": "ModuleScript", "filePaths": ["Packages/TestEZ/Expectation.lua"] } ] } ] } ] } ] }"#;

    fn locator() -> Locator {
        let map = Sourcemap::parse(PLACE.as_bytes(), Path::new(""), Path::new("/r")).unwrap();
        Locator::new(Some(map), None).with_framework(Some("ReplicatedStorage.Packages".into()))
    }

    const HELPER_FAILURE: &str = "ReplicatedStorage.Tests.helper:6: kaboom\nReplicatedStorage.Tests.helper:6 function boom\nReplicatedStorage.Tests.text.spec:6\nReplicatedStorage.Packages.TestEZ.TestRunner:86\nReplicatedStorage.Packages.TestEZ.TestRunner:84 function runCallback\nTaskScript:253 function runSuite\n";

    #[test]
    fn a_helpers_error_is_on_the_tests_line_and_says_where_it_was_raised() {
        let locator = locator();
        let file = locator.find_test_line(HELPER_FAILURE);
        assert_eq!(
            file,
            Some(FileLine {
                path: "src/text.spec.luau".into(),
                line: 6
            })
        );
        let brief = Brief::of(HELPER_FAILURE, file.as_ref(), None, &locator);
        assert_eq!(brief.headline, "kaboom");
        assert_eq!(brief.raised_at.as_deref(), Some("src/helper.luau:6"));
        assert_eq!(
            brief.details,
            [
                "ReplicatedStorage.Tests.helper:6 function boom",
                "ReplicatedStorage.Tests.text.spec:6"
            ]
        );
        assert_eq!(brief.one_line(), "kaboom (raised at src/helper.luau:6)");
    }

    #[test]
    fn an_assertion_on_the_tests_own_line_reads_as_its_message() {
        let locator = locator();
        let message = "ReplicatedStorage.Tests.text.spec:9: Expected 3, got 2\nReplicatedStorage.Packages.TestEZ.Expectation:47 function assertLevel\n  at [string \"ReplicatedStorage.Packages.TestEZ.Expectation\"]:228\nReplicatedStorage.Tests.text.spec:9\n\n";
        let file = locator.find_test_line(message);
        assert_eq!(file.as_ref().map(|f| f.line), Some(9));
        let brief = Brief::of(message, file.as_ref(), None, &locator);
        assert_eq!(
            brief.text(),
            "Expected 3, got 2\nReplicatedStorage.Tests.text.spec:9"
        );
    }

    #[test]
    fn without_a_framework_nothing_is_dropped_and_plain_messages_stay_whole() {
        let locator = Locator::default();
        let brief = Brief::of(
            "oops: no location\nline two\n\n\nline three",
            None,
            None,
            &locator,
        );
        assert_eq!(brief.headline, "oops: no location");
        assert_eq!(brief.details, ["line two", "", "line three"]);
        assert_eq!(brief.raised_at, None);
        // Not known where the test failed: the location it starts with is all there is.
        let brief = Brief::of("TaskScript:3: boom\nTaskScript:3", None, None, &locator);
        assert_eq!(brief.one_line(), "boom (raised at TaskScript:3)");
        assert_eq!(brief.details, ["TaskScript:3"]);
        // Without a sourcemap the engine's name stands beside the message: said once.
        let brief = Brief::of(
            "ReplicatedStorage.Tests.math.spec:7: Expected 2, got 3",
            None,
            Some("ReplicatedStorage.Tests.math.spec:7"),
            &locator,
        );
        assert_eq!(brief.one_line(), "Expected 2, got 3");
    }
}
