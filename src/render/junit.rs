//! The JUnit XML report (`junit-path`), written with `quick-junit` (nextest's writer) in the
//! shape every GitHub reporter reads with file and line: one suite per spec, every test case
//! with `classname`, `time`, and `file`/`line` attributes when known (mikepenz/action-junit-
//! report, EnricoMi/publish-unit-test-result-action), and a `(path:line:1)` frame at the end of
//! each failure's text (dorny/test-reporter's `jest-junit` reads only that).
//!
//! A run that reported no tests (the task failed, no tests were found, the results were
//! unreadable) still yields a report: one test case with an `<error>`, so every consumer shows
//! it red.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::report::StepReport;
use crate::results::{TestCase as Test, TestRun, TestStatus};

/// The `message` attribute holds the first line of a failure, this long at most.
const MESSAGE_ATTRIBUTE_CHARS: usize = 300;

/// The report as XML text.
pub fn render_junit(report: &StepReport) -> String {
    let mut junit = Report::new("luau-exec");
    match &report.tests {
        Some(run) if !run.tests.is_empty() => {
            // Suites in the order their first test ran.
            let mut suites: Vec<(String, Vec<&Test>)> = Vec::new();
            for test in &run.tests {
                let name = test.suite();
                match suites.iter_mut().find(|(suite, _)| *suite == name) {
                    Some((_, tests)) => tests.push(test),
                    None => suites.push((name, vec![test])),
                }
            }
            for (name, tests) in suites {
                let mut suite = TestSuite::new(name.as_str());
                let total: f64 = tests.iter().filter_map(|t| t.duration).sum();
                suite.set_time(seconds(total));
                suite.add_test_cases(tests.into_iter().map(|test| test_case(&name, test)));
                junit.add_test_suite(suite);
            }
            if let Some(suite) = unlisted_suite(run) {
                junit.add_test_suite(suite);
            }
            // A step that failed with no failed test among its cases (a pattern that matched
            // none, so every case is skipped; a crashed task beside passing tests) carries its
            // error as a case too, or every reader would show a failing run green.
            if !report.outcome.is_success() && run.counts().failed == 0 {
                junit.add_test_suite(run_as_suite(report));
            }
        }
        _ => {
            junit.add_test_suite(run_as_suite(report));
        }
    }
    junit.set_time(report.duration);
    match junit.to_string() {
        Ok(xml) => xml_chars_only(xml),
        // Writing into memory cannot fail; should it, the file is still a document every
        // reader shows red.
        Err(_) => CANNOT_WRITE.to_owned(),
    }
}

/// The report when `quick-junit` cannot write one.
const CANNOT_WRITE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="luau-exec" tests="1" failures="0" errors="1">
    <testsuite name="luau-exec" tests="1" failures="0" errors="1">
        <testcase name="report" classname="luau-exec" time="0">
            <error message="luau-exec could not write the JUnit report" type="error"/>
        </testcase>
    </testsuite>
</testsuites>
"#;

/// The document with every character XML 1.0 forbids replaced by U+FFFD, whatever a test's
/// name or message held. `quick-junit` already drops C0 controls and ANSI escapes from every
/// string it is given (its `XmlString`); U+FFFE and U+FFFF are the rest (lone surrogates cannot
/// be in a Rust string). Done on the whole document rather than field by field, so no field,
/// present or added later, can be missed; markup never holds these characters, so only text
/// changes.
fn xml_chars_only(xml: String) -> String {
    if xml.contains(['\u{fffe}', '\u{ffff}']) {
        xml.replace(['\u{fffe}', '\u{ffff}'], "\u{fffd}")
    } else {
        xml
    }
}

fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or_default()
}

fn test_case(suite: &str, test: &Test) -> TestCase {
    let name = test.path.last().cloned().unwrap_or_default();
    let status = match test.status {
        TestStatus::Passed => TestCaseStatus::success(),
        TestStatus::Skipped => TestCaseStatus::skipped(),
        TestStatus::Failed => {
            let message = test.message.as_deref().unwrap_or("the test failed");
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(first_line(message));
            status.set_type("failure");
            let mut description = message.to_owned();
            if let Some(file) = &test.file {
                description.push_str(&format!(
                    "\n    at {} ({}:{}:1)",
                    test.title(),
                    file.path,
                    file.line
                ));
            }
            status.set_description(description);
            status
        }
    };
    let mut case = TestCase::new(name, status);
    case.set_classname(suite);
    // Always set: dorny/test-reporter reads `time` as a number.
    case.set_time(seconds(test.duration.unwrap_or(0.0)));
    if let Some(file) = &test.file {
        case.extra.insert("file".into(), file.path.as_str().into());
        case.extra
            .insert("line".into(), file.line.to_string().into());
    }
    case
}

/// The tests that ran but are not listed (trimmed from results over Roblox's 4 MB limit), as a
/// suite of counts without cases: the report's `tests`, `failures` and `skipped` are then the
/// run's true totals, and the suite says what was left out.
fn unlisted_suite(run: &TestRun) -> Option<TestSuite> {
    let unlisted = run.unlisted();
    let omission = run.omission()?;
    let mut suite = TestSuite::new("(not listed)");
    suite.tests = unlisted.total;
    suite.failures = unlisted.failed;
    suite.skipped = unlisted.skipped;
    for (name, value) in [
        ("omitted", unlisted.total),
        ("omitted-passed", unlisted.passed),
        ("omitted-failed", unlisted.failed),
        ("omitted-skipped", unlisted.skipped),
    ] {
        suite.add_property(Property::new(name, value.to_string()));
    }
    let mut out = omission;
    if let Some(notes) = &run.notes {
        out = format!("{out}\n{notes}");
    }
    suite.set_system_out(out);
    Some(suite)
}

/// A run without tests as one test case: passed, or an error saying what happened.
fn run_as_suite(report: &StepReport) -> TestSuite {
    let status = if report.outcome.is_success() {
        TestCaseStatus::success()
    } else {
        let problem = report.problem.as_ref().map(ToString::to_string);
        let message = problem
            .as_deref()
            .or(report.error_message())
            .unwrap_or("the task ended without a result");
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(first_line(message));
        status.set_type(report.headline());
        let mut description = [report.error_message(), problem.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\n");
        if let Some(place) = report.error_location() {
            description.push_str(&format!("\n    at task ({}:{}:1)", place.path, place.line));
        }
        status.set_description(description);
        status
    };
    let mut case = TestCase::new("task", status);
    case.set_classname("luau-exec");
    case.set_time(report.duration);
    if let Some(place) = report.error_location() {
        case.extra.insert("file".into(), place.path.as_str().into());
        case.extra
            .insert("line".into(), place.line.to_string().into());
    }
    let mut suite = TestSuite::new("luau-exec");
    suite.set_time(report.duration);
    suite.add_test_case(case);
    suite
}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    crate::text::cut(line, MESSAGE_ATTRIBUTE_CHARS)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::model::{Task, TaskOutput, TaskState};
    use crate::outcome::Outcome;
    use crate::report::Problem;
    use crate::results::{FileLine, TestRun};

    /// A TestEZ run whose envelope listed no test (NO TESTS FOUND).
    pub(crate) fn empty_run() -> TestRun {
        TestRun {
            framework: "testez".into(),
            tests: Vec::new(),
            notes: None,
            error: None,
            totals: None,
        }
    }

    /// A completed run with a passed, a failed (located) and a skipped test.
    pub(crate) fn report_with_tests() -> StepReport {
        let mut report = StepReport::new(Outcome::TestsFailed);
        report.own_task_mut().task = Some(Task {
            path: "universes/1/places/2/versions/3/luau-execution-sessions/s/tasks/s".into(),
            state: TaskState::Complete,
            output: Some(TaskOutput::from_values(&[])),
            ..Task::default()
        });
        report.duration = Duration::from_millis(1500);
        report.problem = Some(Problem::Tests(crate::results::TestsProblem::Failed {
            failed: 1,
            total: 3,
        }));
        let test =
            |path: &[&str], status, duration, message: Option<&str>, file: Option<(&str, u32)>| {
                Test {
                    path: path.iter().map(|p| (*p).to_owned()).collect(),
                    status,
                    duration,
                    message: message.map(str::to_owned),
                    location: None,
                    file: file.map(|(path, line)| FileLine {
                        path: path.into(),
                        line,
                    }),
                    brief: None,
                }
            };
        report.tests = Some(TestRun {
            framework: "testez".into(),
            tests: vec![
                test(
                    &["Tests", "math", "adds"],
                    TestStatus::Passed,
                    Some(0.25),
                    None,
                    None,
                ),
                test(
                    &["Tests", "math", "divides"],
                    TestStatus::Failed,
                    None,
                    Some(
                        "ReplicatedStorage.Tests.math.spec:7: Expected 2, got <3> & \u{1b}[31m\nstack",
                    ),
                    Some(("src/tests/math.spec.luau", 7)),
                ),
                test(&["Tests", "later"], TestStatus::Skipped, None, None, None),
            ],
            notes: None,
            error: None,
            totals: None,
        });
        report
    }

    #[test]
    fn golden_junit() {
        let xml = render_junit(&report_with_tests());
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="luau-exec" tests="3" skipped="1" failures="1" errors="0" time="1.500">
    <testsuite name="Tests.math" tests="2" skipped="0" errors="0" failures="1" time="0.250">
        <testcase name="adds" classname="Tests.math" time="0.250"/>
        <testcase name="divides" classname="Tests.math" time="0.000" file="src/tests/math.spec.luau" line="7">
            <failure message="ReplicatedStorage.Tests.math.spec:7: Expected 2, got &lt;3&gt; &amp; " type="failure">ReplicatedStorage.Tests.math.spec:7: Expected 2, got &lt;3&gt; &amp; 
stack
    at Tests › math › divides (src/tests/math.spec.luau:7:1)</failure>
        </testcase>
    </testsuite>
    <testsuite name="Tests" tests="1" skipped="1" errors="0" failures="0" time="0.000">
        <testcase name="later" classname="Tests" time="0.000">
            <skipped/>
        </testcase>
    </testsuite>
</testsuites>
"#;
        assert_eq!(xml, expected);
    }

    /// Every character XML 1.0 forbids that a Rust string can hold: C0 controls but tab, LF and
    /// CR; U+FFFE and U+FFFF.
    fn forbidden() -> String {
        [0xfffe, 0xffff]
            .into_iter()
            .chain((0u32..0x20).filter(|c| ![0x09, 0x0a, 0x0d].contains(c)))
            .filter_map(char::from_u32)
            .collect()
    }

    #[test]
    fn every_report_is_well_formed_whatever_the_tests_say() {
        let bad = forbidden();
        let mut report = report_with_tests();
        let run = report.tests.as_mut().unwrap();
        run.framework = format!("fw{bad}");
        for test in &mut run.tests {
            for part in &mut test.path {
                part.push_str(&bad);
            }
            test.message = Some(format!("{bad}\n{bad}"));
        }
        run.tests[1].file.as_mut().unwrap().path.push_str(&bad);
        let xml = render_junit(&report);
        let document = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
        let names: Vec<&str> = document
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .filter_map(|n| n.attribute("name"))
            .collect();
        assert_eq!(names.len(), 3);
        // U+FFFE and U+FFFF show as U+FFFD; `quick-junit` drops the controls.
        assert_eq!(names[0], "adds\u{fffd}\u{fffd}");

        // A run without tests: the task's error and the problem hold them.
        let mut report = StepReport::new(Outcome::ScriptError);
        report.problem = Some(Problem::Tests(crate::results::TestsProblem::CouldNotRun(
            format!("problem {bad}"),
        )));
        report.own_task_mut().task = Some(Task {
            error: Some(crate::api::model::TaskError {
                code: crate::api::model::TaskErrorCode::ScriptError,
                message: format!("error {bad}"),
            }),
            ..Task::default()
        });
        let xml = render_junit(&report);
        roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
        roxmltree::Document::parse(CANNOT_WRITE).unwrap();
    }

    #[test]
    fn an_empty_test_run_is_one_error() {
        // NO TESTS FOUND: the envelope arrived, with nothing in it; no reader may show green.
        let mut report = StepReport::new(Outcome::TestsFailed);
        report.problem = Some(Problem::Tests(crate::results::TestsProblem::NoneFound(
            "no tests were found".into(),
        )));
        report.tests = Some(empty_run());
        let parsed = Report::deserialize_from_str(&render_junit(&report)).unwrap();
        assert_eq!((parsed.tests, parsed.errors), (1, 1));
    }

    #[test]
    fn a_failing_step_without_a_failed_test_is_red_in_junit_too() {
        // `test-name-pattern` matched nothing: every case is skipped, and the step fails.
        let mut report = report_with_tests();
        let run = report.tests.as_mut().unwrap();
        for test in &mut run.tests {
            test.status = TestStatus::Skipped;
            test.message = None;
        }
        report.problem = Some(Problem::Tests(crate::results::TestsProblem::NoneMatched(
            "`test-name-pattern` matched none of the 3 tests".into(),
        )));
        let parsed = Report::deserialize_from_str(&render_junit(&report)).unwrap();
        assert_eq!((parsed.tests, parsed.failures, parsed.errors), (4, 0, 1));
        assert!(render_junit(&report).contains("matched none of the 3 tests"));
        // A passing run gets no such case.
        report.outcome = Outcome::Complete;
        let parsed = Report::deserialize_from_str(&render_junit(&report)).unwrap();
        assert_eq!((parsed.tests, parsed.errors), (3, 0));
    }

    #[test]
    fn a_run_without_tests_is_one_error() {
        let mut report = StepReport::new(Outcome::ScriptError);
        report.problem = Some(Problem::Tests(crate::results::TestsProblem::NoEnvelope));
        let xml = render_junit(&report);
        let parsed = Report::deserialize_from_str(&xml).unwrap();
        assert_eq!((parsed.tests, parsed.errors), (1, 1));
    }
}
