//! Test results as a first-class product: the versioned envelope any task script may return
//! as its first value (`luau-exec/test-results@1`), the bootstraps that run TestEZ or Jest-Lua
//! and return exactly that envelope, and the mapping of instance paths (`ReplicatedStorage.
//! Tests.math.spec:7`) back to repository files and lines through Rojo's sourcemap.
//!
//! Results travel as the task's return value, never scraped from logs: Open Cloud keeps only the
//! last 450 KB of logs and may reorder them.

pub mod bootstrap;
pub mod failure;
pub mod judge;
pub mod sourcemap;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

pub use failure::Brief;
pub use judge::TestsProblem;
pub use sourcemap::{FileLine, Locator, Sourcemap};

use crate::secret::Redactor;

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
    /// The repository file and line of `location` (or, without one, of the innermost frame of
    /// `message` in a test module, else its first frame that maps to a file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileLine>,
    /// A failure as it reads first (annotations, the log's list, the summary); the JSON format
    /// keeps `message` whole instead.
    #[serde(skip)]
    pub brief: Option<Brief>,
}

/// A test of the suite `Tests` named `name`, with nothing but its status: the unit tests' one
/// builder of a bare test case.
#[cfg(test)]
impl TestCase {
    pub(crate) fn in_tests(name: &str, status: TestStatus) -> Self {
        Self {
            path: vec!["Tests".into(), name.into()],
            status,
            duration: None,
            message: None,
            location: None,
            file: None,
            brief: None,
        }
    }
}

impl TestCase {
    /// The test's name as one line: `Tests › math › adds`.
    pub fn title(&self) -> String {
        self.path.join(" › ")
    }

    /// A failure's message as it reads first: without the location it starts with and the
    /// framework's frames, with where a helper raised it (the whole message when not read).
    pub fn brief_text(&self) -> Option<String> {
        match (&self.brief, &self.message) {
            (Some(brief), _) => Some(brief.text()),
            (None, message) => message.clone(),
        }
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
    /// The tests listed; with `totals`, possibly fewer than ran.
    pub tests: Vec<TestCase>,
    /// What the script says it had to leave out (messages trimmed to fit Roblox's 4 MB limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Every test's count, listed or not, when the envelope declares them (a list trimmed to
    /// fit Roblox's 4 MB limit on results keeps its failures and leaves passing tests out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totals: Option<Counts>,
    /// Why the suite could not run at all, as the script says (the framework or a test root
    /// is not in the place).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<SuiteError>,
}

/// The envelope's `error`: the script could not run the suite, and says why. The shipped
/// bootstraps return it when the framework is not at `framework-path` or a `test-roots` path
/// names nothing, rather than crash as if the tests had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuiteError {
    /// `framework-not-found`, `root-not-found`, `setup-not-found`, `setup-failed`, or a
    /// runner's own.
    pub code: String,
    /// What is wrong, and what is there instead.
    pub message: String,
    /// The input the problem is in (`framework-path`, `test-roots`), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// The instance path that was looked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl SuiteError {
    /// The headline: `NO FRAMEWORK at ReplicatedStorage.Packages.TestEZ`.
    pub fn headline(&self) -> String {
        let at = self
            .path
            .as_deref()
            .map(|path| format!(" at {}", path.replace(['\n', '\r'], " ")))
            .unwrap_or_default();
        match self.code.as_str() {
            "framework-not-found" => format!("NO FRAMEWORK{at}"),
            "root-not-found" => format!("NO TEST ROOT{at}"),
            "setup-not-found" => format!("NO TEST SETUP{at}"),
            "setup-failed" => format!("TEST SETUP FAILED{at}"),
            _ => "TESTS NOT RUN".to_owned(),
        }
    }
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
    /// How many tests ran, by status: the declared totals, else what the list holds.
    pub fn counts(&self) -> Counts {
        self.totals.unwrap_or_else(|| self.listed())
    }

    /// How many tests ran but are not listed.
    pub fn omitted(&self) -> usize {
        self.unlisted().total
    }

    /// The tests that ran but are not listed, by status.
    pub fn unlisted(&self) -> Counts {
        let (counts, listed) = (self.counts(), self.listed());
        Counts {
            total: counts.total.saturating_sub(listed.total),
            passed: counts.passed.saturating_sub(listed.passed),
            failed: counts.failed.saturating_sub(listed.failed),
            skipped: counts.skipped.saturating_sub(listed.skipped),
        }
    }

    /// The line every report shows when tests are counted but not listed.
    pub fn omission(&self) -> Option<String> {
        let omitted = self.omitted();
        (omitted > 0).then(|| {
            format!(
                "{omitted} of the {} tests are counted but not listed: the task's results left them out",
                self.counts().total
            )
        })
    }

    /// The tests the list holds, by status.
    pub fn listed(&self) -> Counts {
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

    /// Why a completed run is a failure, if it is. A run of the whole suite (not one shard of
    /// it) also fails when it found no tests, or when `test-name-pattern` matched none: a
    /// filter that selects nothing is a mistake, never a pass.
    /// Inputs are named as the user set them (`github_actions`: see
    /// [`crate::text::input_name`]).
    pub fn problem(
        &self,
        suite: Option<&bootstrap::Suite>,
        whole: bool,
        github_actions: bool,
    ) -> Option<TestsProblem> {
        if let Some(error) = &self.error {
            return Some(TestsProblem::CouldNotRun(match &error.input {
                Some(input) => format!(
                    "{}: {}",
                    crate::text::input_name(input, github_actions),
                    error.message
                ),
                None => error.message.clone(),
            }));
        }
        let counts = self.counts();
        if whole && counts.total == 0 {
            return Some(TestsProblem::NoneFound(match suite {
                Some(suite) => suite.nothing_found(),
                None => "the results envelope lists no tests".to_owned(),
            }));
        }
        if let (true, 0, Some(suite)) = (whole, counts.passed + counts.failed, suite)
            && let Some(pattern) = &suite.name_pattern
        {
            return Some(TestsProblem::NoneMatched(suite.nothing_matched(
                pattern,
                &self.tests,
                github_actions,
            )));
        }
        (counts.failed > 0).then_some(TestsProblem::Failed {
            failed: counts.failed,
            total: counts.total,
        })
    }

    /// The headline of a run whose tests did not pass: `TESTS FAILED (…)`, `NO TESTS FOUND`,
    /// `NO TESTS MATCHED (…)`, or why the suite could not run (`NO FRAMEWORK at …`).
    pub fn failed_headline(&self) -> String {
        let counts = self.counts();
        match &self.error {
            Some(error) => error.headline(),
            None if counts.total == 0 => "NO TESTS FOUND".to_owned(),
            None if counts.passed + counts.failed == 0 => {
                format!("NO TESTS MATCHED ({} skipped)", counts.skipped)
            }
            None => format!("TESTS FAILED ({counts})"),
        }
    }

    /// The failed tests, in the order they ran.
    pub fn failures(&self) -> impl Iterator<Item = &TestCase> {
        self.tests.iter().filter(|t| t.status == TestStatus::Failed)
    }

    /// Scrubs the API key out of every text of the run, once it has been parsed and located
    /// (the reports cut messages short, so the key must be gone before they do).
    pub fn redact_with(&mut self, redactor: &Redactor) {
        redactor.scrub(&mut self.framework);
        if let Some(notes) = &mut self.notes {
            redactor.scrub(notes);
        }
        for test in &mut self.tests {
            test.path.iter_mut().for_each(|part| redactor.scrub(part));
            for text in [&mut test.message, &mut test.location]
                .into_iter()
                .flatten()
            {
                redactor.scrub(text);
            }
        }
    }

    /// Resolves every test's location to a repository file and line, and reads each failure's
    /// message for the reports read first.
    pub fn locate(&mut self, locator: &Locator) {
        for test in &mut self.tests {
            test.file = test
                .location
                .as_deref()
                .and_then(|l| locator.resolve(l))
                .or_else(|| {
                    test.message
                        .as_deref()
                        .and_then(|m| locator.find_test_line(m))
                });
            if test.status == TestStatus::Failed {
                test.brief = test.message.as_deref().map(|message| {
                    Brief::of(
                        message,
                        test.file.as_ref(),
                        test.location.as_deref(),
                        locator,
                    )
                });
            }
        }
    }
}

impl Counts {
    /// Both counts together (two shards of a step).
    pub fn plus(self, other: Self) -> Self {
        Self {
            total: self.total.saturating_add(other.total),
            passed: self.passed.saturating_add(other.passed),
            failed: self.failed.saturating_add(other.failed),
            skipped: self.skipped.saturating_add(other.skipped),
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
    fn field(field: impl AsRef<str>, problem: impl Into<String>) -> Self {
        Self::Field {
            field: field.as_ref().to_owned(),
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
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    totals: Option<Value>,
    #[serde(default)]
    omitted: Option<Value>,
}

/// A well-formed envelope, typed: it reads in one pass (see [`well_formed_envelope`]).
#[derive(Deserialize)]
struct TypedEnvelope {
    kind: String,
    #[serde(default)]
    framework: Option<String>,
    #[serde(default)]
    notes: Option<String>,
    tests: Vec<TypedTest>,
    /// Only `null` or absent: a suite that could not run is read field by field.
    #[serde(default, rename = "error")]
    _no_error: Option<()>,
    #[serde(default)]
    totals: Option<Value>,
    #[serde(default)]
    omitted: Option<Value>,
}

/// A well-formed test, typed.
#[derive(Deserialize)]
struct TypedTest {
    path: Vec<String>,
    status: String,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    location: Option<String>,
}

impl TypedTest {
    /// The test, as [`parse_test`] reads it; `None` where that would refuse it.
    fn into_case(self) -> Option<TestCase> {
        if self.path.is_empty() {
            return None;
        }
        let text = |text: Option<String>| text.filter(|text| !text.is_empty());
        Some(TestCase {
            path: self.path,
            status: TestStatus::parse(&self.status)?,
            duration: self.duration.filter(|d| d.is_finite() && *d >= 0.0),
            message: text(self.message),
            location: text(self.location),
            file: None,
            brief: None,
        })
    }
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
/// The value is read as it came; an error's quote of it is scrubbed with `redactor` before it is
/// cut short (a cut could split the key past the point where a sink would recognise it).
pub fn parse_envelope(first: &str, redactor: &Redactor) -> Result<Option<TestRun>, EnvelopeError> {
    // Cheap test first: most results are not envelopes, and may be megabytes.
    if !first.contains(ENVELOPE_FAMILY) {
        return Ok(None);
    }
    match well_formed_envelope(first) {
        Some(run) => Ok(Some(run)),
        None => parse_field_by_field(first, redactor),
    }
}

/// A well-formed envelope as it reads in one pass: `None` for anything else (another kind,
/// a suite error, a value of an unexpected type anywhere), which [`parse_field_by_field`]
/// reads again to say what it is. A suite's envelope holds thousands of tests, and a run
/// waits on reading it.
fn well_formed_envelope(first: &str) -> Option<TestRun> {
    let envelope: TypedEnvelope = serde_json::from_str(first).ok()?;
    if envelope.kind != ENVELOPE_KIND {
        return None;
    }
    let tests = envelope
        .tests
        .into_iter()
        .map(TypedTest::into_case)
        .collect::<Option<Vec<_>>>()?;
    let mut run = TestRun {
        framework: envelope.framework.unwrap_or_else(|| "unknown".to_owned()),
        tests,
        notes: envelope.notes,
        error: None,
        totals: None,
    };
    run.totals = parse_totals(envelope.totals, envelope.omitted, run.listed()).ok()?;
    Some(run)
}

/// The envelope, read field by field: every way it can be malformed has its own message.
fn parse_field_by_field(
    first: &str,
    redactor: &Redactor,
) -> Result<Option<TestRun>, EnvelopeError> {
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
        return Err(EnvelopeError::UnknownVersion(quote(redactor, &kind, 80)));
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
    let error = match envelope.error {
        None | Some(Value::Null) => None,
        Some(value) => Some(parse_suite_error(value)?),
    };
    let raw_tests = match (envelope.tests, &error) {
        (Some(tests), _) => tests.get(),
        // A suite that could not run has no tests to list.
        (None, Some(_)) => "[]",
        (None, None) => return Err(EnvelopeError::field("tests", "is missing")),
    };
    let items: Vec<&RawValue> = match raw_tests.trim_start().as_bytes().first() {
        Some(b'[') => serde_json::from_str(raw_tests)
            .map_err(|_| EnvelopeError::field("tests", "is not an array"))?,
        // Luau encodes an empty table as `[]`, but a script may build `{}` by hand.
        Some(b'{') if raw_tests.trim() == "{}" => Vec::new(),
        _ => return Err(EnvelopeError::field("tests", "is not an array")),
    };
    let tests = items
        .iter()
        .enumerate()
        .map(|(i, raw)| parse_test(i, raw, redactor))
        .collect::<Result<Vec<_>, _>>()?;
    let mut run = TestRun {
        framework,
        tests,
        notes,
        error,
        totals: None,
    };
    run.totals = parse_totals(envelope.totals, envelope.omitted, run.listed())?;
    Ok(Some(run))
}

fn parse_suite_error(value: Value) -> Result<SuiteError, EnvelopeError> {
    let Value::Object(mut fields) = value else {
        return Err(EnvelopeError::field("error", "is not a table"));
    };
    let mut text = |field: &str, required: bool| match fields.remove(field) {
        Some(Value::String(text)) if !text.is_empty() => Ok(Some(text)),
        None | Some(Value::Null) if !required => Ok(None),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err(EnvelopeError::field(format!("error.{field}"), "is missing"))
        }
        Some(_) => Err(EnvelopeError::field(
            format!("error.{field}"),
            "is not a string",
        )),
    };
    Ok(SuiteError {
        code: text("code", true)?.unwrap_or_default(),
        message: text("message", true)?.unwrap_or_default(),
        input: text("input", false)?,
        path: text("path", false)?,
    })
}

/// `totals = { passed, failed, skipped }`, every test counted whether listed or not, and
/// `omitted`, how many the list left out: both optional, and they must agree with the list.
fn parse_totals(
    totals: Option<Value>,
    omitted: Option<Value>,
    listed: Counts,
) -> Result<Option<Counts>, EnvelopeError> {
    let omitted = match omitted {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            count(&value)
                .ok_or_else(|| EnvelopeError::field("omitted", "is not a non-negative integer"))?,
        ),
    };
    let object = match totals {
        None | Some(Value::Null) => {
            return match omitted {
                None | Some(0) => Ok(None),
                Some(_) => Err(EnvelopeError::field(
                    "omitted",
                    "needs `totals`, the counts of every test, listed or not",
                )),
            };
        }
        Some(Value::Object(object)) => object,
        Some(_) => {
            return Err(EnvelopeError::field(
                "totals",
                "is not a table of `passed`, `failed` and `skipped`",
            ));
        }
    };
    let field = |name: &str, listed: usize| -> Result<usize, EnvelopeError> {
        let at = format!("totals.{name}");
        let value = object
            .get(name)
            .ok_or_else(|| EnvelopeError::field(&at, "is missing"))?;
        let n = count(value)
            .ok_or_else(|| EnvelopeError::field(&at, "is not a non-negative integer"))?;
        if n < listed {
            return Err(EnvelopeError::field(
                &at,
                format!("is {n}, fewer than the {listed} such tests `tests` lists"),
            ));
        }
        Ok(n)
    };
    let passed = field("passed", listed.passed)?;
    let failed = field("failed", listed.failed)?;
    let skipped = field("skipped", listed.skipped)?;
    let total = passed
        .checked_add(failed)
        .and_then(|n| n.checked_add(skipped))
        .ok_or_else(|| EnvelopeError::field("totals", "counts more tests than can be"))?;
    if let Some(omitted) = omitted
        && omitted != total - listed.total
    {
        return Err(EnvelopeError::field(
            "omitted",
            format!(
                "is {omitted}, but `totals` counts {} tests more than `tests` lists",
                total - listed.total
            ),
        ));
    }
    Ok(Some(Counts {
        total,
        passed,
        failed,
        skipped,
    }))
}

/// A JSON count: a non-negative integer (Luau numbers are doubles, so `3.0` is 3).
fn count(value: &Value) -> Option<usize> {
    let Value::Number(n) = value else {
        return None;
    };
    if let Some(n) = n.as_u64() {
        return usize::try_from(n).ok();
    }
    let n = n.as_f64()?;
    (n >= 0.0 && n.fract() == 0.0 && n < 9_007_199_254_740_992.0).then_some(n as usize)
}

/// Part of the envelope, quoted in an error: scrubbed, then cut.
fn quote(redactor: &Redactor, text: &str, max: usize) -> String {
    crate::text::cut(&redactor.redact(text), max)
}

fn parse_test(
    index: usize,
    raw: &RawValue,
    redactor: &Redactor,
) -> Result<TestCase, EnvelopeError> {
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
                    quote(redactor, &text, 40)
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
        brief: None,
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
            &Redactor::default(),
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
    fn a_well_formed_envelope_reads_in_one_pass_as_field_by_field() {
        let envelopes = [
            r#"{"kind":"luau-exec/test-results@1","framework":"testez","notes":"n","tests":[
                {"path":["Tests","math","adds"],"status":"passed","duration":0.002,"extra":[1]},
                {"path":["Tests","fails"],"status":"failed","message":"boom\nline","location":"a.spec:7","duration":null},
                {"path":["Tests","later"],"status":"skipped","message":"","duration":-1}],
                "totals":{"passed":3,"failed":1,"skipped":1},"omitted":2,"error":null}"#,
            r#"{"kind":"luau-exec/test-results@1","tests":[]}"#,
            r#"{"tests":[{"status":"passed","path":["only"],"duration":3}],"kind":"luau-exec/test-results@1"}"#,
        ];
        for envelope in envelopes {
            let fast = well_formed_envelope(envelope);
            assert!(fast.is_some(), "{envelope}");
            assert_eq!(
                fast,
                parse_field_by_field(envelope, &Redactor::default()).unwrap(),
                "{envelope}"
            );
        }
        // Anything else is read field by field, which says what it is.
        for envelope in [
            r#"{"kind":"luau-exec/test-results@2","tests":[]}"#,
            r#"{"kind":"luau-exec/test-results@1","tests":[{"path":[],"status":"passed"}]}"#,
            r#"{"kind":"luau-exec/test-results@1","tests":[{"path":["a"],"status":"done"}]}"#,
            r#"{"kind":"luau-exec/test-results@1","tests":[{"path":["a",2],"status":"passed"}]}"#,
            r#"{"kind":"luau-exec/test-results@1","tests":[],"error":{"code":"x","message":"y"}}"#,
            r#"{"kind":"luau-exec/test-results@1","tests":[],"totals":{"passed":1}}"#,
            r#"{"kind":"luau-exec/test-results@1","tests":{}}"#,
        ] {
            assert_eq!(well_formed_envelope(envelope), None, "{envelope}");
        }
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
            assert_eq!(
                parse_envelope(value, &Redactor::default()),
                Ok(None),
                "{value}"
            );
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
            let error = parse_envelope(value, &Redactor::default())
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{value}: {error}");
        }
    }

    /// The one test of an envelope whose `tests` is `[test]`.
    fn one_test(test: &str) -> Result<TestCase, EnvelopeError> {
        let value = format!(r#"{{"kind":"luau-exec/test-results@1","tests":[{test}]}}"#);
        parse_envelope(&value, &Redactor::default()).map(|run| run.unwrap().tests.remove(0))
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
                parse_envelope(&value, &Redactor::default())
                    .unwrap_err()
                    .to_string(),
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
            &Redactor::default(),
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
    fn a_suite_that_could_not_run_says_why() {
        let run = parse_envelope(
            r#"{"kind":"luau-exec/test-results@1","framework":"testez","tests":[],
                "error":{"code":"framework-not-found","input":"framework-path","path":"ReplicatedStorage.Packages.TestEZ",
                "message":"ReplicatedStorage has no child `Packages` (its children: Tests)"}}"#,
            &Redactor::default(),
        )
        .unwrap()
        .unwrap();
        let error = run.error.expect("the error");
        assert_eq!(error.input.as_deref(), Some("framework-path"));
        assert_eq!(
            error.headline(),
            "NO FRAMEWORK at ReplicatedStorage.Packages.TestEZ"
        );
        // `tests` may be left out then; a malformed error is named.
        let run = parse_envelope(
            r#"{"kind":"luau-exec/test-results@1","error":{"code":"x","message":"m"}}"#,
            &Redactor::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            run.error.map(|e| e.headline()).as_deref(),
            Some("TESTS NOT RUN")
        );
        let error = parse_envelope(
            r#"{"kind":"luau-exec/test-results@1","error":{"code":"x"}}"#,
            &Redactor::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("`error.message` is missing"), "{error}");
    }

    #[test]
    fn declared_totals_count_the_tests_a_trimmed_list_left_out() {
        let run = parse_envelope(
            r#"{"kind":"luau-exec/test-results@1","tests":[
                {"path":["a"],"status":"failed"},{"path":["b"],"status":"passed"}],
                "totals":{"passed":19500,"failed":1,"skipped":5000.0},"omitted":24499}"#,
            &Redactor::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            run.counts(),
            Counts {
                total: 24501,
                passed: 19500,
                failed: 1,
                skipped: 5000
            }
        );
        assert_eq!(run.omitted(), 24499);
        assert_eq!(run.listed().total, 2);
        assert!(
            run.omission()
                .unwrap()
                .starts_with("24499 of the 24501 tests")
        );
        // Without `totals`, the list is the count, as before.
        let plain = parse_envelope(
            r#"{"kind":"luau-exec/test-results@1","tests":[{"path":["a"],"status":"passed"}],"omitted":0}"#,
            &Redactor::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!((plain.counts().total, plain.omitted()), (1, 0));
        assert_eq!(plain.omission(), None);
    }

    #[test]
    fn totals_that_disagree_with_the_list_are_malformed() {
        let listed = r#""tests":[{"path":["a"],"status":"failed"}]"#;
        for (rest, expected) in [
            (r#""totals":3"#, "`totals` is not a table"),
            (
                r#""totals":{"passed":1,"failed":1}"#,
                "`totals.skipped` is missing",
            ),
            (
                r#""totals":{"passed":-1,"failed":1,"skipped":0}"#,
                "`totals.passed` is not a non-negative integer",
            ),
            (
                r#""totals":{"passed":1.5,"failed":1,"skipped":0}"#,
                "`totals.passed` is not a non-negative integer",
            ),
            (
                r#""totals":{"passed":"9","failed":1,"skipped":0}"#,
                "`totals.passed` is not a non-negative integer",
            ),
            (
                r#""totals":{"passed":5,"failed":0,"skipped":0}"#,
                "`totals.failed` is 0, fewer than the 1",
            ),
            (
                r#""totals":{"passed":5,"failed":1,"skipped":0},"omitted":4"#,
                "`omitted` is 4, but `totals` counts 5",
            ),
            (r#""omitted":3"#, "`omitted` needs `totals`"),
            (
                r#""totals":{"passed":1,"failed":1,"skipped":0},"omitted":-1"#,
                "`omitted` is not a non-negative integer",
            ),
        ] {
            let value = format!(r#"{{"kind":"luau-exec/test-results@1",{listed},{rest}}}"#);
            let error = parse_envelope(&value, &Redactor::default())
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{rest}: {error}");
        }
    }

    #[test]
    fn an_empty_tests_table_is_an_empty_run() {
        let run = parse_envelope(
            r#"{"kind":"luau-exec/test-results@1","tests":{}}"#,
            &Redactor::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(run.counts().total, 0);
    }
}
