//! Every input, read once and checked before anything is sent.
//!
//! Inputs come from the environment the way a GitHub Docker action passes them (`INPUT_<NAME>`,
//! upper-cased, hyphens kept; `INPUT_API_KEY` with underscores is accepted too, for `docker run
//! -e`), or from CLI flags, which win. An empty value means "not given", because GitHub exports
//! every declared input, empty when the workflow did not set it. No other module reads the
//! environment: what the run needs is its [`Plan`].
//!
//! One file per domain, each reading its own inputs: `inputs.rs` (where values come from),
//! `target.rs` (backend, key, universe and places), `tasks.rs` (the scripts or shards, as units,
//! and how many run at once), `suite.rs` (the test framework), `files.rs` (what is uploaded and
//! written beside the reports), `exports.rs` (coverage, JUnit, GitHub's files). [`load`] asks
//! each in turn and refuses every bad input at once.

mod exports;
mod files;
mod inputs;
mod suite;
mod target;
mod tasks;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use crate::clock::Timing;
use crate::duration::DurationError;
use crate::results::Locator;
use crate::results::bootstrap::Suite;

pub use exports::GithubFiles;
pub use files::PlaceFile;
pub use inputs::{Inputs, RunArgs, is_github_actions, serve_api_key};
pub use target::{Backend, DEFAULT_BASE_URL, MissingKeyPolicy, Target};
pub use tasks::{MAX_SCRIPT_FILES, MAX_SHARDS, Presentation, TaskSpec, WAIT_GRACE};

use exports::{github_files, load_coverage};
use files::{check_place, check_writable, load_files};
use inputs::*;
use target::{load_base_url, load_target, timing};
use tasks::{load_parallel, load_wait_timeout, load_work, parse_task_timeout};

/// How the run's output is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Workflow commands, annotations, step outputs and a job summary.
    Github,
    /// Readable lines with level prefixes.
    Plain,
    /// One JSON object per line, for machines.
    Json,
}

/// The plan of the run, typed and checked before anything is sent: where the step runs, its
/// tasks (`units`: a [`TaskSpec`] each), how the step presents itself, and what it exports.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where the step runs, and with what key.
    pub target: Target,
    pub universe_id: u64,
    pub place_id: u64,
    /// Every place the step's tasks may run on (`place-ids`, else `place-id` alone).
    pub place_ids: Vec<u64>,
    pub place_version: Option<u64>,
    /// The step's tasks, one per unit of work: the one script or suite (the step's own task,
    /// unlabelled), or the files of `script-path`, or a suite's `shards`. Everything else in
    /// the config is the step's, the same for every task.
    pub units: Vec<TaskSpec>,
    /// How the step presents itself: as its one task, or as labelled tasks (decided with the
    /// units; the schedule reads it, never the number of units).
    pub presentation: Presentation,
    /// How many of the units' tasks run at once.
    pub parallel: usize,
    /// With a `test-framework`: the whole suite (each shard's is its task's).
    pub suite: Option<Suite>,
    /// Maps engine locations (`ReplicatedStorage.Tests.math.spec:7`, `TaskScript:3`) to files,
    /// for the step as a whole (each task's own is its spec's).
    pub locator: Locator,
    /// Where to write a JUnit XML report of the tests.
    pub junit_path: Option<PathBuf>,
    pub task_timeout: Option<Duration>,
    pub wait_timeout: Duration,
    pub output_format: OutputFormat,
    pub place_file: Option<PlaceFile>,
    pub binary_input: Option<PathBuf>,
    pub binary_output: Option<PathBuf>,
    pub github: GithubFiles,
    pub debug: bool,
    pub color: bool,
    pub timing: Timing,
    /// Whether GitHub Actions runs us: messages then speak of action inputs (`api-key`,
    /// `secrets.*`), elsewhere of flags and `INPUT_*` variables.
    pub github_actions: bool,
    /// What coverage was asked for, when any `coverage-*` input was given.
    pub coverage: Option<crate::coverage::Spec>,
}

/// A refused input: which one, and what is wrong with it. Nothing has been sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("input `{input}`: {problem}")]
pub struct ConfigError {
    pub input: &'static str,
    pub problem: String,
}

impl ConfigError {
    /// The line a user reads: the input named as they set it (see [`crate::text::input_name`]).
    pub fn describe(&self, github_actions: bool) -> String {
        format!(
            "{}: {}",
            crate::text::input_name(self.input, github_actions),
            self.problem
        )
    }

    fn new(input: &'static str, problem: impl Into<String>) -> Self {
        Self {
            input,
            problem: problem.into(),
        }
    }
}

/// Every refused input of a run: all are reported at once, one line each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The first refused input (the tests' shorthand).
    pub fn first(&self) -> Option<&ConfigError> {
        self.0.first()
    }
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

/// Collects refused inputs while the rest are still checked.
#[derive(Default)]
struct Problems(Vec<ConfigError>);

impl Problems {
    /// The value, or `None` with its problem kept.
    fn take<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(error);
                None
            }
        }
    }

    fn push(&mut self, input: &'static str, problem: impl Into<String>) {
        self.0.push(ConfigError::new(input, problem));
    }
}

/// The plan these `INPUT_*` pairs make, a later pair winning over an earlier one, or every
/// refused input: the unit tests' one builder of a plan.
#[cfg(test)]
pub fn try_from_pairs(pairs: &[(&str, &str)]) -> Result<Plan, ConfigErrors> {
    let env = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    };
    load(&Inputs::new(&RunArgs::default(), &env))
}

/// [`try_from_pairs`] for inputs a test knows are valid. Panics with every refused input.
#[cfg(test)]
pub fn from_pairs(pairs: &[(&str, &str)]) -> Plan {
    match try_from_pairs(pairs) {
        Ok(plan) => plan,
        Err(errors) => panic!("the test's inputs were refused: {errors}"),
    }
}

/// Reads and checks every input, and refuses every bad one at once. Reads the script file and
/// stats the other files, so a run that passes this will not fail later for a missing file.
pub fn load(inputs: &Inputs<'_>) -> Result<Plan, ConfigErrors> {
    let args = inputs.args;
    let mut problems = Problems::default();
    let github_actions = inputs.var(GITHUB_ACTIONS).as_deref() == Some("true");
    let output_format = problems.take(parse_output_format(inputs, github_actions));
    let site = load_target(inputs, &mut problems, github_actions);
    let mut work = load_work(inputs, &mut problems);
    let coverage = load_coverage(inputs, &mut problems, work.as_mut());
    let junit_path = inputs
        .input("junit-path", &args.junit_path)
        .and_then(|p| problems.take(check_writable("junit-path", PathBuf::from(p))));
    let task_timeout = inputs
        .input("timeout", &args.timeout)
        .and_then(|text| problems.take(parse_task_timeout(&text)));
    let places = site.as_ref().map_or(1, |t| t.place_ids.len());
    let units = work.as_ref().map_or(1, |w| w.units.len());
    let parallel = problems
        .take(load_parallel(inputs, units, places))
        .unwrap_or(1);
    let wait_timeout = problems.take(load_wait_timeout(inputs, task_timeout, units, parallel));
    let base_url = load_base_url(inputs, &mut problems);
    let (place_file, binary_input, binary_output) = load_files(inputs, &mut problems, units);
    if let Some(site) = &site {
        check_place(&mut problems, site, &work, place_file.is_some());
    }
    let (Some(output_format), Some(site), Some(work), Some(wait_timeout), Some(base_url), true) = (
        output_format,
        site,
        work,
        wait_timeout,
        base_url,
        problems.0.is_empty(),
    ) else {
        return Err(ConfigErrors(problems.0));
    };
    Ok(Plan {
        github: github_files(inputs, output_format),
        debug: inputs.var(RUNNER_DEBUG).as_deref() == Some("1"),
        // no-color.org: present and not empty disables colour. Colour is for terminals only;
        // the caller checks for a terminal.
        color: output_format == OutputFormat::Plain && inputs.var(NO_COLOR).is_none(),
        timing: timing(inputs, site.backend),
        github_actions,
        target: site.target(base_url),
        universe_id: site.universe_id,
        place_id: site.place_ids[0],
        place_ids: site.place_ids,
        place_version: site.place_version,
        units: work.units,
        presentation: work.presentation,
        parallel,
        suite: work.suite,
        locator: work.locator,
        junit_path,
        task_timeout,
        wait_timeout,
        output_format,
        place_file,
        binary_input,
        binary_output,
        coverage,
    })
}

fn parse_output_format(
    inputs: &Inputs<'_>,
    github_actions: bool,
) -> Result<OutputFormat, ConfigError> {
    match inputs
        .input("output-format", &inputs.args.output_format)
        .as_deref()
    {
        None if github_actions => Ok(OutputFormat::Github),
        None => Ok(OutputFormat::Plain),
        Some("github") => Ok(OutputFormat::Github),
        Some("plain") => Ok(OutputFormat::Plain),
        Some("json") => Ok(OutputFormat::Json),
        Some(other) => Err(ConfigError::new(
            "output-format",
            format!(
                "`{}` is not a format: use `github`, `plain` or `json`",
                shorten(other)
            ),
        )),
    }
}

fn duration_error(input: &'static str, error: DurationError) -> ConfigError {
    ConfigError::new(input, error.to_string())
}

/// Echoes of bad values are cut short: an input can be a whole script.
fn shorten(text: &str) -> String {
    crate::text::cut(text, 40)
}
