//! Test results as a first-class product: the versioned envelope any task script may return
//! as its first value (`luau-exec/test-results@1`), the bootstraps that run TestEZ or Jest-Lua
//! and return exactly that envelope, and the mapping of instance paths (`ReplicatedStorage.
//! Tests.math.spec:7`) back to repository files and lines through Rojo's sourcemap.
//!
//! Results travel as the task's return value, never scraped from logs: Open Cloud keeps only the
//! last 450 KB of logs and may reorder them.

pub mod bootstrap;
pub mod sourcemap;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

pub use sourcemap::{FileLine, Locator, Sourcemap};

/// The envelope's `kind`, with its version.
pub const ENVELOPE_KIND: &str = "luau-exec/test-results@1";
/// What every version of the envelope's `kind` starts with.
const ENVELOPE_FAMILY: &str = "luau-exec/test-results";

/// A test's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TestStatus {
    Passed,
    Failed,
    Skipped,
}

impl TestStatus {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "passed" => Some(Self::Passed),
            "failed" => Some(Self::Failed),
            "skipped" => Some(Self::Skipped),
            _ => None,
        }
    }
}

/// One test, as the envelope reports it, plus where it lives in the repository once resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestCase {
    /// From the root down: `["Tests", "math", "adds"]`.
    pub path: Vec<String>,
    pub status: TestStatus,
    /// Seconds, when the framework measured it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Where it failed, as the engine names it: `ReplicatedStorage.Tests.math.spec:7`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The repository file and line of `location` (or of the first frame of `message` that
    /// maps to one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileLine>,
}

impl TestCase {
    /// The test's name as one line: `Tests › math › adds`.
    pub fn title(&self) -> String {
        self.path.join(" › ")
    }

    /// The suite a test belongs to: every path element but the last.
    pub fn suite(&self) -> String {
        match self.path.split_last() {
            Some((_, suite)) if !suite.is_empty() => suite.join("."),
            _ => "tests".to_owned(),
        }
    }
}

/// Every test of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestRun {
    pub framework: String,
    pub tests: Vec<TestCase>,
    /// What the script says it had to leave out (messages trimmed to fit Roblox's 4 MB limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// Counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl TestRun {
    pub fn counts(&self) -> Counts {
        let mut counts = Counts {
            total: self.tests.len(),
            ..Counts::default()
        };
        for test in &self.tests {
            match test.status {
                TestStatus::Passed => counts.passed += 1,
                TestStatus::Failed => counts.failed += 1,
                TestStatus::Skipped => counts.skipped += 1,
            }
        }
        counts
    }

    /// The failed tests, in the order they ran.
    pub fn failures(&self) -> impl Iterator<Item = &TestCase> {
        self.tests.iter().filter(|t| t.status == TestStatus::Failed)
    }

    /// Resolves every test's location to a repository file and line.
    pub fn locate(&mut self, locator: &Locator) {
        for test in &mut self.tests {
            test.file = test
                .location
                .as_deref()
                .and_then(|l| locator.resolve(l))
                .or_else(|| test.message.as_deref().and_then(|m| locator.find_in(m)));
        }
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// Why a first return value that claims to be the envelope cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error(
        "`kind` is `{0}`, a version of the test-results envelope this luau-exec does not read (it reads `{ENVELOPE_KIND}`)"
    )]
    UnknownVersion(String),
    #[error("`{field}` {problem}")]
    Field { field: String, problem: String },
}

impl EnvelopeError {
    fn field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Field {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// The envelope as it arrives: the top level typed, the tests left as text to read one by one
/// (a suite's envelope can hold thousands; none is turned into a tree of values at once).
#[derive(Deserialize)]
struct WireEnvelope<'a> {
    #[serde(default)]
    kind: Option<Value>,
    #[serde(default)]
    framework: Option<Value>,
    #[serde(default)]
    notes: Option<Value>,
    #[serde(default, borrow)]
    tests: Option<&'a RawValue>,
}

/// One test as it arrives; each field is checked by [`parse_test`].
#[derive(Deserialize)]
struct WireTest {
    #[serde(default)]
    path: Option<Value>,
    #[serde(default)]
    status: Option<Value>,
    #[serde(default)]
    duration: Option<Value>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    location: Option<Value>,
}

/// Reads the envelope from a task's first return value: `Ok(None)` when the value is not an
/// envelope at all (a plain script run), an error when it claims to be one and is malformed.
pub fn parse_envelope(first: &str) -> Result<Option<TestRun>, EnvelopeError> {
    // Cheap test first: most results are not envelopes, and may be megabytes.
    if !first.contains(ENVELOPE_FAMILY) {
        return Ok(None);
    }
    let Ok(envelope) = serde_json::from_str::<WireEnvelope<'_>>(first) else {
        return Ok(None);
    };
    let Some(Value::String(kind)) = envelope.kind else {
        return Ok(None);
    };
    if !kind.starts_with(ENVELOPE_FAMILY) {
        return Ok(None);
    }
    if kind != ENVELOPE_KIND {
        return Err(EnvelopeError::UnknownVersion(crate::text::cut(&kind, 80)));
    }
    let framework = match envelope.framework {
        None | Some(Value::Null) => "unknown".to_owned(),
        Some(Value::String(name)) => name,
        Some(_) => return Err(EnvelopeError::field("framework", "is not a string")),
    };
    let notes = match envelope.notes {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text),
        Some(_) => return Err(EnvelopeError::field("notes", "is not a string")),
    };
    let raw_tests = envelope
        .tests
        .ok_or_else(|| EnvelopeError::field("tests", "is missing"))?;
    let items: Vec<&RawValue> = match raw_tests.get().trim_start().as_bytes().first() {
        Some(b'[') => serde_json::from_str(raw_tests.get())
            .map_err(|_| EnvelopeError::field("tests", "is not an array"))?,
        // Luau encodes an empty table as `[]`, but a script may build `{}` by hand.
        Some(b'{') if raw_tests.get().trim() == "{}" => Vec::new(),
        _ => return Err(EnvelopeError::field("tests", "is not an array")),
    };
    let tests = items
        .iter()
        .enumerate()
        .map(|(i, raw)| parse_test(i, raw))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(TestRun {
        framework,
        tests,
        notes,
    }))
}

fn parse_test(index: usize, raw: &RawValue) -> Result<TestCase, EnvelopeError> {
    let at = |field: &str| format!("tests[{}].{field}", index + 1);
    let test: WireTest = serde_json::from_str(raw.get())
        .map_err(|_| EnvelopeError::field(format!("tests[{}]", index + 1), "is not a table"))?;
    let path = match test.path {
        Some(Value::Array(parts)) if !parts.is_empty() => parts
            .into_iter()
            .map(|part| match part {
                Value::String(text) => Ok(text),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(EnvelopeError::field(
                    at("path"),
                    "holds something that is not a string",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::String(name)) if !name.is_empty() => vec![name],
        Some(_) => {
            return Err(EnvelopeError::field(
                at("path"),
                "is not a non-empty list of names",
            ));
        }
        None => return Err(EnvelopeError::field(at("path"), "is missing")),
    };
    let status = match test.status {
        Some(Value::String(text)) => TestStatus::parse(&text).ok_or_else(|| {
            EnvelopeError::field(
                at("status"),
                format!(
                    "is `{}`: use `passed`, `failed` or `skipped`",
                    crate::text::cut(&text, 40)
                ),
            )
        })?,
        Some(_) => return Err(EnvelopeError::field(at("status"), "is not a string")),
        None => return Err(EnvelopeError::field(at("status"), "is missing")),
    };
    let duration = match test.duration {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64().filter(|d| d.is_finite() && *d >= 0.0),
        Some(_) => {
            return Err(EnvelopeError::field(
                at("duration"),
                "is not a number of seconds",
            ));
        }
    };
    let text = |field: &str, value: Option<Value>| match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(EnvelopeError::field(at(field), "is not a string")),
    };
    Ok(TestCase {
        path,
        status,
        duration,
        message: text("message", test.message)?,
        location: text("location", test.location)?,
        file: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_envelope() {
        let run = parse_envelope(
            r#"{"kind":"luau-exec/test-results@1","framework":"testez","tests":[
                {"path":["Tests","math","adds"],"status":"passed","duration":0.002},
                {"path":["Tests","math","fails"],"status":"failed","message":"boom","location":"ReplicatedStorage.Tests.math.spec:7"},
                {"path":["Tests","later"],"status":"skipped"}]}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(run.framework, "testez");
        assert_eq!(
            run.counts(),
            Counts {
                total: 3,
                passed: 1,
                failed: 1,
                skipped: 1
            }
        );
        let failed = run.failures().next().unwrap();
        assert_eq!(failed.title(), "Tests › math › fails");
        assert_eq!(failed.suite(), "Tests.math");
        assert_eq!(
            failed.location.as_deref(),
            Some("ReplicatedStorage.Tests.math.spec:7")
        );
        assert_eq!(run.tests[0].duration, Some(0.002));
    }

    #[test]
    fn other_values_are_not_envelopes() {
        for value in [
            "7",
            r#""text""#,
            r#"{"kind":"other"}"#,
            r#"[1,2]"#,
            r#"{"passed":3}"#,
        ] {
            assert_eq!(parse_envelope(value), Ok(None), "{value}");
        }
    }

    #[test]
    fn a_malformed_envelope_says_what_is_wrong() {
        let cases = [
            (r#"{"kind":"luau-exec/test-results@9","tests":[]}"#, "@9"),
            (
                r#"{"kind":"luau-exec/test-results@1"}"#,
                "`tests` is missing",
            ),
            (
                r#"{"kind":"luau-exec/test-results@1","tests":3}"#,
                "`tests` is not an array",
            ),
            (
                r#"{"kind":"luau-exec/test-results@1","tests":[{"path":["a"],"status":"passd"}]}"#,
                "`tests[1].status` is `passd`",
            ),
            (
                r#"{"kind":"luau-exec/test-results@1","tests":[{"status":"passed"}]}"#,
                "`tests[1].path` is missing",
            ),
            (
                r#"{"kind":"luau-exec/test-results@1","tests":[{"path":["a"],"status":"failed","message":{}}]}"#,
                "`tests[1].message` is not a string",
            ),
        ];
        for (value, expected) in cases {
            let error = parse_envelope(value).unwrap_err().to_string();
            assert!(error.contains(expected), "{value}: {error}");
        }
    }

    /// The one test of an envelope whose `tests` is `[test]`.
    fn one_test(test: &str) -> Result<TestCase, EnvelopeError> {
        let value = format!(r#"{{"kind":"luau-exec/test-results@1","tests":[{test}]}}"#);
        parse_envelope(&value).map(|run| run.unwrap().tests.remove(0))
    }

    #[test]
    fn a_tests_path_is_a_list_of_names_or_one_name() {
        let path = |path: &str| one_test(&format!(r#"{{"path":{path},"status":"passed"}}"#));
        assert_eq!(
            path(r#"["Tests","math","adds"]"#).unwrap().path,
            ["Tests", "math", "adds"]
        );
        // One name alone, and numbers (a Luau table of indices) as names.
        assert_eq!(path(r#""adds""#).unwrap().path, ["adds"]);
        assert_eq!(
            path(r#"["cases",3,1.5]"#).unwrap().path,
            ["cases", "3", "1.5"]
        );
        for (refused, problem) in [
            (r#""""#, "is not a non-empty list of names"),
            ("[]", "is not a non-empty list of names"),
            ("{}", "is not a non-empty list of names"),
            ("7", "is not a non-empty list of names"),
            (r#"["a",true]"#, "holds something that is not a string"),
            (r#"["a",["b"]]"#, "holds something that is not a string"),
        ] {
            let error = path(refused).unwrap_err().to_string();
            assert_eq!(error, format!("`tests[1].path` {problem}"), "{refused}");
        }
    }

    #[test]
    fn a_one_name_test_belongs_to_the_suite_named_tests() {
        let test = one_test(r#"{"path":"alone","status":"passed"}"#).unwrap();
        assert_eq!(
            test.suite(),
            "tests",
            "never an empty suite name (JUnit `name=\"\"`)"
        );
        assert_eq!(test.title(), "alone");
        let test = one_test(r#"{"path":["Tests","alone"],"status":"passed"}"#).unwrap();
        assert_eq!(test.suite(), "Tests");
    }

    #[test]
    fn a_duration_is_seconds_that_can_have_passed() {
        let duration = |d: &str| {
            one_test(&format!(
                r#"{{"path":["a"],"status":"passed","duration":{d}}}"#
            ))
            .unwrap()
            .duration
        };
        assert_eq!(duration("0"), Some(0.0));
        assert_eq!(duration("1.25"), Some(1.25));
        assert_eq!(duration("null"), None);
        // A negative duration is no measurement: left out, not refused.
        assert_eq!(duration("-1"), None);
        assert_eq!(duration("-0.5"), None);
    }

    #[test]
    fn an_empty_message_or_location_is_no_message() {
        let test =
            one_test(r#"{"path":["a"],"status":"failed","message":"","location":""}"#).unwrap();
        // So the reports say "the test failed" rather than nothing.
        assert_eq!((test.message, test.location), (None, None));
        let test = one_test(r#"{"path":["a"],"status":"failed","message":"boom"}"#).unwrap();
        assert_eq!(test.message.as_deref(), Some("boom"));
    }

    #[test]
    fn only_an_empty_map_is_an_empty_tests_list() {
        for tests in [r#"{"1":{"path":["a"],"status":"failed"}}"#, r#"{"a":1}"#] {
            let value = format!(r#"{{"kind":"luau-exec/test-results@1","tests":{tests}}}"#);
            assert_eq!(
                parse_envelope(&value).unwrap_err().to_string(),
                "`tests` is not an array",
                "{tests}: a map with tests in it is never an empty run"
            );
        }
    }

    #[test]
    fn each_test_is_put_on_its_file_and_line() {
        let map = Sourcemap::parse(
            br#"{ "name": "game", "className": "DataModel", "children": [ { "name": "Tests",
                "className": "Folder", "children": [ { "name": "a.spec",
                "className": "ModuleScript", "filePaths": ["src/a.spec.luau"] } ] } ] }"#,
            std::path::Path::new(""),
            std::path::Path::new("/repo"),
        )
        .unwrap();
        let mut run = parse_envelope(
            r#"{"kind":"luau-exec/test-results@1","tests":[
                {"path":["located"],"status":"failed","location":"Tests.a.spec:3","message":"Tests.a.spec:9: x"},
                {"path":["framed"],"status":"failed","message":"Tests.a.spec:9: boom"},
                {"path":["nowhere"],"status":"failed","message":"boom"}]}"#,
        )
        .unwrap()
        .unwrap();
        run.locate(&Locator::new(Some(map), None));
        let lines: Vec<Option<u32>> = run
            .tests
            .iter()
            .map(|t| t.file.as_ref().map(|f| f.line))
            .collect();
        // The location wins over a frame of the message; a message without one maps nowhere.
        assert_eq!(lines, [Some(3), Some(9), None]);
        assert_eq!(run.tests[0].file.as_ref().unwrap().path, "src/a.spec.luau");
    }

    #[test]
    fn an_empty_tests_table_is_an_empty_run() {
        let run = parse_envelope(r#"{"kind":"luau-exec/test-results@1","tests":{}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(run.counts().total, 0);
    }
}
