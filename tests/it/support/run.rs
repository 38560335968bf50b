//! A run of the real binary, and the expectations on what it left behind.
//!
//! A test reads as a sentence, as in just's `tests/test.rs`:
//!
//! ```ignore
//! cloud.run().expect().await.code(Outcome::Unavailable).stdout_has("never starts two tasks");
//! ```
//!
//! Every check is `#[track_caller]` and, when it fails, prints the exit code, stdout and stderr,
//! so no test writes `"{}", output.stdout` by hand. Every run checks that the key shows nowhere
//! but GitHub's `::add-mask::` line.

use std::collections::HashMap;
use std::fmt::Display;
use std::ops::Deref;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use luau_exec::outcome::Outcome;

use super::KEY;

/// What a run of the binary left behind.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// Reads a finished process, and checks the key did not leak.
    fn read(output: std::process::Output, elapsed: Duration) -> Self {
        let result = Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed,
        };
        assert_key_hidden(&result);
        result
    }
}

/// A run of the real binary with an environment built from scratch, so the developer's machine
/// cannot leak into results.
#[derive(Clone)]
#[must_use = "a run does nothing until `.expect()` or `.output()` is awaited"]
pub struct Run {
    env: HashMap<String, String>,
    args: Vec<String>,
    dir: Option<PathBuf>,
}

impl Run {
    /// A run against `base_url` with the key, universe 1, place 2, and fast test clocks.
    pub fn new(base_url: &str) -> Self {
        let mut run = Self::bare();
        run.env("INPUT_API_KEY", KEY)
            .env("INPUT_UNIVERSE_ID", "1")
            .env("INPUT_PLACE_ID", "2")
            .env("INPUT_BASE_URL", base_url)
            .env("INPUT_SCRIPT", "return 1");
        run
    }

    /// A run with no inputs at all.
    pub fn bare() -> Self {
        let mut env = HashMap::new();
        env.insert("LUAU_EXEC_TEST_TIME_SCALE".to_owned(), "0.01".to_owned());
        if let Ok(path) = std::env::var("PATH") {
            env.insert("PATH".to_owned(), path);
        }
        Self {
            env,
            args: Vec::new(),
            dir: None,
        }
    }

    /// Runs in this working directory (the repository, for file paths in annotations).
    #[cfg_attr(not(feature = "emulator"), allow(dead_code))]
    pub fn dir(&mut self, dir: &std::path::Path) -> &mut Self {
        self.dir = Some(dir.to_owned());
        self
    }

    pub fn env(&mut self, name: &str, value: &str) -> &mut Self {
        self.env.insert(name.to_owned(), value.to_owned());
        self
    }

    pub fn remove(&mut self, name: &str) -> &mut Self {
        self.env.remove(name);
        self
    }

    pub fn arg(&mut self, arg: &str) -> &mut Self {
        self.args.push(arg.to_owned());
        self
    }

    pub fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(binary());
        command
            .args(&self.args)
            .env_clear()
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        command
    }

    /// Runs to the end and checks the key did not leak.
    pub async fn output(&self) -> Output {
        let started = Instant::now();
        let output = self.command().output().await.expect("the binary runs");
        Output::read(output, started.elapsed())
    }

    /// Runs to the end (checking the key did not leak), for expectations on what it left.
    pub async fn expect(&self) -> Expect {
        Expect::of(self.output().await)
    }

    /// Starts the run, sends `signal` (`"-TERM"`, `"-INT"`) once `ready` says so, and expects
    /// it to stop within five seconds.
    pub async fn interrupted(&self, signal: &str, mut ready: impl AsyncFnMut() -> bool) -> Expect {
        let started = Instant::now();
        let child = self.command().spawn().expect("spawn");
        let pid = child.id().expect("pid").to_string();
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(25)).await;
            if ready().await {
                break;
            }
        }
        // Let the run settle into the step.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let status = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let output = tokio::time::timeout(Duration::from_secs(5), child.wait_with_output())
            .await
            .expect("stops at once")
            .expect("output");
        Expect::of(Output::read(output, started.elapsed()))
    }
}

/// Expectations on a finished run. Each check panics at the caller's line with the whole
/// output; each returns the expectation, so checks chain into one sentence. It derefs to the
/// [`Output`] for checks of its own.
#[must_use = "an expectation checks nothing unless a check is called"]
pub struct Expect {
    output: Output,
    /// Which case of a table this run is, for the failure message.
    case: Option<String>,
}

impl Deref for Expect {
    type Target = Output;

    fn deref(&self) -> &Output {
        &self.output
    }
}

impl Expect {
    pub fn of(output: Output) -> Self {
        Self { output, case: None }
    }

    /// Names the case (a status, a format) in every failure message.
    pub fn case(mut self, case: impl Display) -> Self {
        self.case = Some(case.to_string());
        self
    }

    /// The run exited with this outcome's code.
    #[track_caller]
    pub fn code(&self, outcome: Outcome) -> &Self {
        let expected = i32::from(outcome.exit_code());
        self.holds(
            self.output.code == expected,
            format_args!("exit code {expected} ({outcome:?})"),
        )
    }

    #[track_caller]
    pub fn stdout_has(&self, text: &str) -> &Self {
        self.holds(
            self.output.stdout.contains(text),
            format_args!("stdout has {text:?}"),
        )
    }

    #[track_caller]
    pub fn stdout_lacks(&self, text: &str) -> &Self {
        self.holds(
            !self.output.stdout.contains(text),
            format_args!("stdout lacks {text:?}"),
        )
    }

    /// `text` shows exactly `count` times on stdout.
    #[track_caller]
    pub fn stdout_count(&self, text: &str, count: usize) -> &Self {
        let found = self.output.stdout.matches(text).count();
        self.holds(
            found == count,
            format_args!("stdout has {text:?} {count} time(s), not {found}"),
        )
    }

    #[track_caller]
    pub fn stderr_has(&self, text: &str) -> &Self {
        self.holds(
            self.output.stderr.contains(text),
            format_args!("stderr has {text:?}"),
        )
    }

    #[track_caller]
    pub fn stderr_lacks(&self, text: &str) -> &Self {
        self.holds(
            !self.output.stderr.contains(text),
            format_args!("stderr lacks {text:?}"),
        )
    }

    #[track_caller]
    pub fn stderr_lines(&self, count: usize) -> &Self {
        let found = self.output.stderr.lines().count();
        self.holds(
            found == count,
            format_args!("stderr is {count} line(s), not {found}"),
        )
    }

    /// Stderr names this input as the user spells it.
    #[track_caller]
    pub fn names_input(&self, input: &str) -> &Self {
        let name = luau_exec::text::input_name(input, false);
        self.holds(
            self.output.stderr.contains(&name),
            format_args!("stderr names the input {name}"),
        )
    }

    #[track_caller]
    pub fn took_at_least(&self, least: Duration) -> &Self {
        let took = self.output.elapsed;
        self.holds(
            took >= least,
            format_args!("took at least {least:?}, not {took:?}"),
        )
    }

    #[track_caller]
    pub fn took_less_than(&self, most: Duration) -> &Self {
        let took = self.output.elapsed;
        self.holds(
            took < most,
            format_args!("took less than {most:?}, not {took:?}"),
        )
    }

    /// Any other check: `what` says what was expected.
    #[track_caller]
    pub fn holds(&self, ok: bool, what: impl Display) -> &Self {
        if !ok {
            let case = self
                .case
                .as_ref()
                .map(|case| format!(" [{case}]"))
                .unwrap_or_default();
            let Output {
                code,
                stdout,
                stderr,
                elapsed,
            } = &self.output;
            panic!(
                "expected{case}: {what}\nexit code: {code} after {elapsed:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
            );
        }
        self
    }

    /// The lines of the plain renderer's log blocks, between each `--- logs (…) ---` and
    /// `--- end of logs ---`: never the progress lines (`[ 233ms] still QUEUED`) around them.
    pub fn log_lines(&self) -> Vec<&str> {
        let mut inside = false;
        let mut lines = Vec::new();
        for line in self.output.stdout.lines() {
            if line.starts_with("--- logs") && line.ends_with(") ---") {
                inside = true;
            } else if line == "--- end of logs ---" {
                inside = false;
            } else if inside {
                lines.push(line);
            }
        }
        lines
    }

    /// Stdout's last line as JSON: the result line of `output-format: json`.
    #[track_caller]
    pub fn result_line(&self) -> serde_json::Value {
        let last = self.output.stdout.lines().last().unwrap_or("null");
        let parsed = serde_json::from_str(last);
        self.holds(parsed.is_ok(), "a JSON result line last on stdout");
        parsed.unwrap_or_default()
    }
}

/// The binary under test: the one `cargo test` built, or the one named by
/// `LUAU_EXEC_TEST_BINARY` (`.ci/run` points it at the release build, so the whole suite also
/// runs against what ships, with the shipped profile's panic strategy).
pub fn binary() -> String {
    std::env::var("LUAU_EXEC_TEST_BINARY")
        .ok()
        .filter(|path| !path.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_luau-exec").to_owned())
}

/// The key as text may spell it: plain, and with every character as a JSON `\uXXXX` escape.
/// (It has only unreserved characters, so its URL-escaped form is the plain one.)
pub fn key_spellings() -> Vec<String> {
    let escaped: String = KEY
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    vec![
        KEY.to_owned(),
        escaped.clone(),
        escaped.to_uppercase().replace("\\U", "\\u"),
    ]
}

/// Panics if `text` holds the key in any spelling.
pub fn assert_no_key(text: &str, place: &str) {
    for spelling in key_spellings() {
        assert!(
            !text.contains(&spelling),
            "the key leaked in {place}: {}",
            text
        );
    }
}

/// The key may appear only as GitHub's `::add-mask::` line, the very first line of stdout.
pub fn assert_key_hidden(output: &Output) {
    let mut lines = output.stdout.lines();
    let first = lines.next().unwrap_or_default();
    if first.contains(KEY) {
        assert_eq!(
            first,
            format!("::add-mask::{KEY}"),
            "the key shows outside add-mask"
        );
    } else {
        assert_no_key(first, "stdout");
    }
    for line in lines {
        assert_no_key(line, "stdout");
    }
    assert_no_key(&output.stderr, "stderr");
}

/// The checks themselves: a failed one must say what it expected and show everything the run
/// left, or converting a test to them would hide what went wrong.
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;

    /// The message a failing check panics with.
    fn failure(check: impl FnOnce()) -> String {
        let payload = catch_unwind(AssertUnwindSafe(check)).expect_err("the check fails");
        payload
            .downcast::<String>()
            .map(|message| *message)
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_failed_check_names_what_it_expected_and_shows_the_whole_run() {
        // No inputs at all: refused, exit 2, a line on stderr for each missing input.
        let ran = Run::bare().expect().await;
        ran.code(Outcome::BadInput).stderr_lines(4);

        let message = failure(|| {
            ran.code(Outcome::WaitTimeout);
        });
        assert!(
            message.starts_with("expected: exit code 9 (WaitTimeout)\nexit code: 2 after "),
            "{message}"
        );
        assert!(
            message.contains("\n--- stdout ---\n")
                && message.contains(&format!("\n--- stderr ---\n{}", ran.stderr)),
            "{message}"
        );

        let ran = ran.case("no inputs");
        let message = failure(|| {
            ran.code(Outcome::BadInput).stderr_has("not there");
        });
        assert!(
            message.starts_with("expected [no inputs]: stderr has \"not there\"\n"),
            "{message}"
        );
        for (check, expected) in [
            (
                failure(|| {
                    ran.stdout_count("x", 3);
                }),
                "expected [no inputs]: stdout has \"x\" 3 time(s), not 0",
            ),
            (
                failure(|| {
                    ran.took_at_least(Duration::from_secs(3600));
                }),
                "expected [no inputs]: took at least 3600s, not ",
            ),
            (
                failure(|| {
                    ran.names_input("timeout");
                }),
                "expected [no inputs]: stderr names the input",
            ),
        ] {
            assert!(check.starts_with(expected), "{check}");
        }
    }
}
