//! Every input, read once and checked before anything is sent.
//!
//! Inputs come from the environment the way a GitHub Docker action passes them (`INPUT_<NAME>`,
//! upper-cased, hyphens kept; `INPUT_API_KEY` with underscores is accepted too, for `docker run
//! -e`), or from CLI flags, which win. An empty value means "not given", because GitHub exports
//! every declared input, empty when the workflow did not set it. No other module reads the
//! environment: what the run needs is in [`Config`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

use crate::clock::{Cadence, Timing};
use crate::duration::{self, DurationError};
use crate::results::bootstrap::{Framework, Suite};
use crate::results::{Locator, Sourcemap};
use crate::roblox::{
    MAX_BINARY_INPUT_BYTES, MAX_PLACE_FILE_BYTES, MAX_SCRIPT_BYTES, MAX_TASK_TIMEOUT,
    TASKS_PER_PLACE,
};
use crate::secret::ApiKey;

/// How long to wait beyond the task's own limit before giving up on it. The task clock starts
/// after the place boots: peers measured warm boots of 4–7 s and cold boots (a version nobody
/// has booted, such as one just uploaded) of up to ~45 s, and the place may first queue behind
/// other tasks (10 per place). 90 s covers a cold boot twice over, so Roblox's own
/// `DEADLINE_EXCEEDED` normally arrives before we give up.
pub const WAIT_GRACE: Duration = Duration::from_secs(90);
pub const DEFAULT_BASE_URL: &str = "https://apis.roblox.com";

/// Where the task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Roblox Open Cloud (or whatever `base-url` points at).
    OpenCloud,
    /// The embedded emulator, started in-process on a loopback port.
    Local,
}

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

/// What to do when no API key is given (a fork pull request has no secrets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingKeyPolicy {
    Fail,
    Skip,
}

/// The place file to upload as a new Saved version before the run.
#[derive(Debug, Clone)]
pub struct PlaceFile {
    pub path: PathBuf,
    /// `application/octet-stream` for `.rbxl`, `application/xml` for `.rbxlx`.
    pub content_type: &'static str,
    pub size: u64,
}

/// One task's worth of a step: its script, where the script came from, and the suite shard it
/// runs, if any.
#[derive(Debug, Clone)]
pub struct Unit {
    /// How the step's output names it: the script's path, or `shard 2/4`.
    pub label: String,
    pub script: String,
    pub script_path: Option<PathBuf>,
    pub suite: Option<Suite>,
}

/// More shards than this is a typo, not a plan (and would take minutes of creates to start).
pub const MAX_SHARDS: usize = 100;
/// The most script files one step runs, one task each. At Roblox's 40 creates a minute, 1,000
/// tasks take 25 minutes just to start; a glob that matches more is a mistake (a whole tree, a
/// generated folder), and is refused before any file is read rather than after minutes of
/// reading and sorting them. Globs stop matching one file past it, so the refusal is quick
/// however many files a glob would match.
pub const MAX_SCRIPT_FILES: usize = 1_000;

/// Files the GitHub runner gives us, when running as an action.
#[derive(Debug, Clone, Default)]
pub struct GithubFiles {
    pub output: Option<PathBuf>,
    pub step_summary: Option<PathBuf>,
    /// `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/blob/$GITHUB_SHA`, for links to failing lines.
    pub blob_base: Option<String>,
}

/// Everything the run needs, typed and checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub backend: Backend,
    /// `None` only when the key is missing and the policy is to skip, or on the local backend.
    pub api_key: Option<ApiKey>,
    pub missing_key: MissingKeyPolicy,
    pub universe_id: u64,
    pub place_id: u64,
    /// Every place the step's tasks may run on (`place-ids`, else `place-id` alone).
    pub place_ids: Vec<u64>,
    pub place_version: Option<u64>,
    /// The step's tasks, one unit of work each. One unit is an ordinary run of `script` below;
    /// several (files from `script-path`, or a suite's `shards`) run as a batch. Shared: each
    /// unit's task gets a copy of the config.
    pub units: std::sync::Arc<[Unit]>,
    /// How many of the units' tasks run at once.
    pub parallel: usize,
    pub script: String,
    /// The file the script came from (`script-path`), where `TaskScript:N` errors point.
    pub script_path: Option<PathBuf>,
    /// With a `test-framework`: the suite the written bootstrap runs.
    pub suite: Option<Suite>,
    /// Maps engine locations (`ReplicatedStorage.Tests.math.spec:7`, `TaskScript:3`) to files.
    pub locator: Locator,
    /// Where to write a JUnit XML report of the tests.
    pub junit_path: Option<PathBuf>,
    pub task_timeout: Option<Duration>,
    pub wait_timeout: Duration,
    pub base_url: Url,
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

/// Values given as CLI flags, which win over the environment. The API key has no flag: flags
/// show in process listings. Every flag takes values that start with `-` (`--timeout -1`), so
/// a bad value gets this tool's own error naming the input, not clap's usage text.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunArgs {
    /// Open Cloud (`open-cloud`, default) or the embedded emulator (`local`).
    #[arg(long, allow_hyphen_values = true)]
    pub backend: Option<String>,
    /// The universe (experience) ID.
    #[arg(long, allow_hyphen_values = true)]
    pub universe_id: Option<String>,
    /// The place ID.
    #[arg(long, allow_hyphen_values = true)]
    pub place_id: Option<String>,
    /// Run against this place version instead of the latest.
    #[arg(long, allow_hyphen_values = true)]
    pub place_version: Option<String>,
    /// Inline Luau source.
    #[arg(long, allow_hyphen_values = true)]
    pub script: Option<String>,
    /// Path to a Luau file (relative to the working directory).
    #[arg(long, allow_hyphen_values = true)]
    pub script_path: Option<String>,
    /// The task's own time limit: `90`, `90s`, `1m30s`, `5m` (1 s to 5 min).
    #[arg(long, allow_hyphen_values = true)]
    pub timeout: Option<String>,
    /// How long to wait for the task in all before giving up.
    #[arg(long, allow_hyphen_values = true)]
    pub wait_timeout: Option<String>,
    /// Open Cloud's base URL (plain http only to loopback hosts).
    #[arg(long, allow_hyphen_values = true)]
    pub base_url: Option<String>,
    /// `github`, `plain` or `json` (default: `github` on GitHub Actions, else `plain`).
    #[arg(long, allow_hyphen_values = true)]
    pub output_format: Option<String>,
    /// A .rbxl or .rbxlx file to upload as a new Saved version and run against.
    #[arg(long, allow_hyphen_values = true)]
    pub place_file: Option<String>,
    /// A file passed to the script as `({...})[1].BinaryInput` (at most 100 MiB).
    #[arg(long, allow_hyphen_values = true)]
    pub binary_input: Option<String>,
    /// Where to write the script's `BinaryOutput` buffer.
    #[arg(long, allow_hyphen_values = true)]
    pub binary_output: Option<String>,
    /// With no API key: `fail` (default) or `skip` with a notice.
    #[arg(long, allow_hyphen_values = true)]
    pub on_missing_key: Option<String>,
    /// Run a test suite with a bootstrap luau-exec writes: `testez` or `jest`.
    #[arg(long, allow_hyphen_values = true)]
    pub test_framework: Option<String>,
    /// Comma-separated instance paths of the test roots: `ReplicatedStorage.Tests`.
    #[arg(long, allow_hyphen_values = true)]
    pub test_roots: Option<String>,
    /// Only run tests whose names match (TestEZ: a Lua pattern; Jest: a regular expression).
    #[arg(long, allow_hyphen_values = true)]
    pub test_name_pattern: Option<String>,
    /// Where the framework module is (default `ReplicatedStorage.Packages.TestEZ` / `…Jest`).
    #[arg(long, allow_hyphen_values = true)]
    pub framework_path: Option<String>,
    /// A ModuleScript required before the suite runs: `ReplicatedStorage.TestSetup`.
    #[arg(long, allow_hyphen_values = true)]
    pub test_setup: Option<String>,
    /// Rojo's sourcemap.json, to map failures to files and lines.
    #[arg(long, allow_hyphen_values = true)]
    pub sourcemap: Option<String>,
    /// Where to write a JUnit XML report of the tests.
    #[arg(long, allow_hyphen_values = true)]
    pub junit_path: Option<String>,
    /// With `test-framework`: split the suite across this many tasks (default 1).
    #[arg(long, allow_hyphen_values = true)]
    pub shards: Option<String>,
    /// How many tasks run at once: `auto` (default: every unit, within 10 per place) or a number.
    #[arg(long, allow_hyphen_values = true)]
    pub parallel: Option<String>,
    /// Comma-separated place IDs of the universe to spread the step's tasks over.
    #[arg(long, allow_hyphen_values = true)]
    pub place_ids: Option<String>,
    /// Measure coverage and write it as an lcov tracefile here.
    #[arg(long, allow_hyphen_values = true)]
    pub coverage_lcov: Option<String>,
    /// Measure coverage and write it as Cobertura XML here.
    #[arg(long, allow_hyphen_values = true)]
    pub coverage_cobertura: Option<String>,
    /// Fail (exit 12) when less than this percent of lines ran: `80`, `80%`, `72.5`.
    #[arg(long, allow_hyphen_values = true)]
    pub coverage_threshold: Option<String>,
    /// Only these repository files count for coverage (globs, commas or lines: `src/**`).
    #[arg(long, allow_hyphen_values = true)]
    pub coverage_include: Option<String>,
    /// These repository files never count for coverage (globs, commas or lines).
    #[arg(long, allow_hyphen_values = true)]
    pub coverage_exclude: Option<String>,
}

/// Where values come from: CLI flags first, then `INPUT_*` variables, then the rest of the
/// environment (`GITHUB_ACTIONS`, `NO_COLOR`, …). The environment is a function so tests can
/// hand in a map.
pub struct Inputs<'a> {
    args: &'a RunArgs,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Inputs<'a> {
    pub fn new(args: &'a RunArgs, env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { args, env }
    }

    /// A non-empty environment variable.
    fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.is_empty())
    }

    /// An input from the environment: `INPUT_API-KEY` (GitHub) or `INPUT_API_KEY` (docker -e).
    fn env_input(&self, name: &str) -> Option<String> {
        let upper = name.to_ascii_uppercase();
        self.var(&format!("INPUT_{upper}"))
            .or_else(|| self.var(&format!("INPUT_{}", upper.replace('-', "_"))))
    }

    /// A trimmed input, flag first; empty means not given.
    fn input(&self, name: &str, flag: &Option<String>) -> Option<String> {
        flag.clone()
            .or_else(|| self.env_input(name))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
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

/// Where the tasks run: the backend, the key, the universe and places.
struct Target {
    backend: Backend,
    api_key: Option<ApiKey>,
    missing_key: MissingKeyPolicy,
    universe_id: u64,
    place_ids: Vec<u64>,
    place_version: Option<u64>,
}

/// What the tasks run: the suite or scripts, as units, and how failures are located.
struct Work {
    suite: Option<Suite>,
    script: String,
    script_path: Option<PathBuf>,
    units: Vec<Unit>,
    locator: Locator,
}

/// Reads and checks every input, and refuses every bad one at once. Reads the script file and
/// stats the other files, so a run that passes this will not fail later for a missing file.
pub fn load(inputs: &Inputs<'_>) -> Result<Config, ConfigErrors> {
    let args = inputs.args;
    let mut problems = Problems::default();
    let github_actions = inputs.var("GITHUB_ACTIONS").as_deref() == Some("true");
    let output_format = problems.take(parse_output_format(inputs, github_actions));
    let target = load_target(inputs, &mut problems, github_actions);
    let mut work = load_work(inputs, &mut problems);
    let coverage = load_coverage(inputs, &mut problems, work.as_mut());
    let junit_path = inputs
        .input("junit-path", &args.junit_path)
        .and_then(|p| problems.take(check_writable("junit-path", PathBuf::from(p))));
    let task_timeout = inputs
        .input("timeout", &args.timeout)
        .and_then(|text| problems.take(parse_task_timeout(&text)));
    let places = target.as_ref().map_or(1, |t| t.place_ids.len());
    let units = work.as_ref().map_or(1, |w| w.units.len());
    let parallel = problems
        .take(load_parallel(inputs, units, places))
        .unwrap_or(1);
    let wait_timeout = problems.take(load_wait_timeout(inputs, task_timeout, units, parallel));
    let base_url = problems.take(parse_base_url(
        inputs
            .input("base-url", &args.base_url)
            .as_deref()
            .unwrap_or(DEFAULT_BASE_URL),
    ));
    let (place_file, binary_input, binary_output) = load_files(inputs, &mut problems, units);
    if let Some(target) = &target {
        check_place(&mut problems, target, &work, place_file.is_some());
    }
    let (Some(output_format), Some(target), Some(work), Some(wait_timeout), Some(base_url), true) = (
        output_format,
        target,
        work,
        wait_timeout,
        base_url,
        problems.0.is_empty(),
    ) else {
        return Err(ConfigErrors(problems.0));
    };
    Ok(Config {
        github: github_files(inputs, output_format),
        debug: inputs.var("RUNNER_DEBUG").as_deref() == Some("1"),
        // no-color.org: present and not empty disables colour. Colour is for terminals only;
        // the caller checks for a terminal.
        color: output_format == OutputFormat::Plain && inputs.var("NO_COLOR").is_none(),
        timing: timing(inputs, target.backend),
        github_actions,
        backend: target.backend,
        api_key: target.api_key,
        missing_key: target.missing_key,
        universe_id: target.universe_id,
        place_id: target.place_ids[0],
        place_ids: target.place_ids,
        place_version: target.place_version,
        units: work.units.into(),
        parallel,
        script: work.script,
        script_path: work.script_path,
        suite: work.suite,
        locator: work.locator,
        junit_path,
        task_timeout,
        wait_timeout,
        base_url,
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

/// The backend, the key and the IDs; `None` when one of them is refused.
fn load_target(
    inputs: &Inputs<'_>,
    problems: &mut Problems,
    github_actions: bool,
) -> Option<Target> {
    let args = inputs.args;
    let backend = match inputs.input("backend", &args.backend).as_deref() {
        None | Some("open-cloud") => Some(Backend::OpenCloud),
        Some("local") => Some(Backend::Local),
        Some(other) => {
            problems.push(
                "backend",
                format!(
                    "`{}` is not a backend: use `open-cloud` or `local`",
                    shorten(other)
                ),
            );
            None
        }
    };
    let missing_key = match inputs
        .input("on-missing-key", &args.on_missing_key)
        .as_deref()
    {
        None | Some("fail") => Some(MissingKeyPolicy::Fail),
        Some("skip") => Some(MissingKeyPolicy::Skip),
        Some(other) => {
            problems.push(
                "on-missing-key",
                format!("`{}` is not a policy: use `fail` or `skip`", shorten(other)),
            );
            None
        }
    };
    let api_key = problems.take(load_api_key(inputs, backend, missing_key, github_actions));
    // Without a known backend, whether IDs are required is not known either.
    let required_id = |name: &'static str, flag: &Option<String>| match inputs.input(name, flag) {
        Some(text) => parse_id(name, &text),
        None if backend != Some(Backend::OpenCloud) => Ok(1),
        None => Err(ConfigError::new(name, "is required")),
    };
    let universe_id = problems.take(required_id("universe-id", &args.universe_id));
    let place_ids = match inputs.input("place-ids", &args.place_ids) {
        Some(_) if inputs.input("place-id", &args.place_id).is_some() => {
            problems.push(
                "place-ids",
                "conflicts with `place-id`: give one place in `place-id`, or several in `place-ids`",
            );
            None
        }
        Some(text) => problems.take(parse_id_list("place-ids", &text)),
        None => problems
            .take(required_id("place-id", &args.place_id))
            .map(|id| vec![id]),
    };
    let place_version = inputs
        .input("place-version", &args.place_version)
        .map(|text| problems.take(parse_id("place-version", &text)));
    if let (Some(Some(_)), Some(ids)) = (&place_version, &place_ids)
        && ids.len() > 1
    {
        problems.push(
            "place-version",
            "names a version of one place, but `place-ids` lists several: a version number is each place's own",
        );
    }
    Some(Target {
        backend: backend?,
        api_key: api_key?,
        missing_key: missing_key?,
        universe_id: universe_id?,
        place_ids: place_ids?,
        place_version: match place_version {
            Some(version) => Some(version?),
            None => None,
        },
    })
}

/// The key (never echoed, and never trimmed into a message), and whether it is required.
fn load_api_key(
    inputs: &Inputs<'_>,
    backend: Option<Backend>,
    missing_key: Option<MissingKeyPolicy>,
    github_actions: bool,
) -> Result<Option<ApiKey>, ConfigError> {
    let api_key = inputs
        .env_input("api-key")
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .map(ApiKey::new);
    if let Some(key) = &api_key
        && !key.expose().bytes().all(|b| b.is_ascii_graphic())
    {
        // Never echo the key; say only what kind of problem it has.
        return Err(ConfigError::new(
            "api-key",
            "contains spaces or characters that cannot go in an HTTP header: check the secret holds only the key",
        ));
    }
    if (backend, missing_key, &api_key)
        == (
            Some(Backend::OpenCloud),
            Some(MissingKeyPolicy::Fail),
            &None,
        )
    {
        return Err(ConfigError::new(
            "api-key",
            if github_actions {
                "is required (pass an Open Cloud API key from `secrets.*`; a pull request from a fork gets no secrets: set `on-missing-key: skip` to skip such runs, or use `backend: local`)"
            } else {
                "is required: set the environment variable to an Open Cloud API key (it has no flag, as flags show in process listings), or run on the embedded emulator with `--backend local`, or skip the run with `--on-missing-key skip`"
            },
        ));
    }
    Ok(api_key)
}

/// The suite or the scripts, as the step's units, and the locator for their failures.
fn load_work(inputs: &Inputs<'_>, problems: &mut Problems) -> Option<Work> {
    let args = inputs.args;
    let suite_given = inputs
        .input("test-framework", &args.test_framework)
        .is_some();
    let suite = problems.take(load_suite(inputs));
    // The first script's text, and every file of `script-path` (none for inline Luau).
    let script = match &suite {
        Some(Some(suite)) => {
            let inline = args
                .script
                .clone()
                .or_else(|| inputs.env_input("script"))
                .is_some_and(|s| !s.trim().is_empty());
            if inline || inputs.input("script-path", &args.script_path).is_some() {
                problems.push(
                    "test-framework",
                    "writes the task script itself: give `test-framework` or `script`/`script-path`, not both (a script of your own can return the results envelope without `test-framework`)",
                );
                None
            } else {
                Some((crate::results::bootstrap::script(suite), Vec::new()))
            }
        }
        // A refused `test-framework` still means no script was meant.
        None if suite_given => None,
        _ => problems.take(load_script(inputs)),
    };
    let sourcemap = inputs.input("sourcemap", &args.sourcemap).map(|p| {
        problems.take(load_sourcemap(
            Path::new(&p),
            inputs.var("GITHUB_WORKSPACE"),
        ))
    });
    let (suite, (script, script_files)) = (suite?, script?);
    let units = problems.take(load_units(inputs, &suite, &script, &script_files))?;
    let script_path = script_files.first().cloned();
    let locator = Locator::new(
        match sourcemap {
            Some(map) => Some(map?),
            None => None,
        },
        script_path
            .as_ref()
            .map(|p| p.display().to_string().replace('\\', "/")),
    )
    .with_framework(suite.as_ref().map(Suite::framework_root));
    Some(Work {
        suite,
        script,
        script_path,
        units,
        locator,
    })
}

/// The files the run sends and writes: the place file, the binary input and output (which go
/// with one task).
fn load_files(
    inputs: &Inputs<'_>,
    problems: &mut Problems,
    units: usize,
) -> (Option<PlaceFile>, Option<PathBuf>, Option<PathBuf>) {
    let args = inputs.args;
    let place_file = inputs
        .input("place-file", &args.place_file)
        .and_then(|p| problems.take(load_place_file(Path::new(&p))));
    let binary_input = inputs
        .input("binary-input", &args.binary_input)
        .and_then(|p| problems.take(check_binary_input(PathBuf::from(p))));
    let binary_output = inputs
        .input("binary-output", &args.binary_output)
        .and_then(|p| problems.take(check_writable("binary-output", PathBuf::from(p))));
    for (input, given) in [
        ("binary-input", binary_input.is_some()),
        ("binary-output", binary_output.is_some()),
    ] {
        if given && units > 1 {
            problems.push(
                input,
                format!(
                    "goes with one task, but this step runs {units} (several scripts or shards)"
                ),
            );
        }
    }
    (place_file, binary_input, binary_output)
}

/// More instances than this to enable coverage on, and their parents stand in for them (see
/// [`crate::coverage::select::roots`]): the list rides in the task script.
const MAX_COVERAGE_ROOTS: usize = 500;

/// The `coverage-*` inputs: any of them asks for coverage, which needs the sourcemap (it maps
/// modules to repository files). With a suite, the bootstrap is told which instances to
/// measure: the modules that count, so nothing else is compiled with counters.
fn load_coverage(
    inputs: &Inputs<'_>,
    problems: &mut Problems,
    work: Option<&mut Work>,
) -> Option<crate::coverage::Spec> {
    let args = inputs.args;
    let given: Vec<(&'static str, String)> = [
        ("coverage-lcov", &args.coverage_lcov),
        ("coverage-cobertura", &args.coverage_cobertura),
        ("coverage-threshold", &args.coverage_threshold),
        ("coverage-include", &args.coverage_include),
        ("coverage-exclude", &args.coverage_exclude),
    ]
    .into_iter()
    .filter_map(|(name, flag)| inputs.input(name, flag).map(|value| (name, value)))
    .collect();
    let first = given.first()?.0;
    let value = |name: &str| {
        given
            .iter()
            .find(|(given, _)| *given == name)
            .map(|(_, value)| value.clone())
    };
    let mut path = |name: &'static str| {
        value(name).and_then(|p| problems.take(check_writable(name, PathBuf::from(p))))
    };
    let (lcov, cobertura) = (path("coverage-lcov"), path("coverage-cobertura"));
    let threshold = value("coverage-threshold").and_then(|t| problems.take(parse_threshold(&t)));
    let globs = |name: &str| {
        value(name).map_or_else(Vec::new, |text| {
            text.split([',', '\n'])
                .map(str::trim)
                .filter(|glob| !glob.is_empty())
                .map(str::to_owned)
                .collect()
        })
    };
    let work = work?;
    let framework = work.suite.as_ref().map(Suite::framework_root);
    let selection = match crate::coverage::Selection::new(
        &globs("coverage-include"),
        &globs("coverage-exclude"),
        framework,
    ) {
        Ok(selection) => selection,
        Err((input, problem)) => {
            problems.push(input, problem);
            return None;
        }
    };
    let Some(sourcemap) = work.locator.sourcemap() else {
        problems.push(
            first,
            "needs `sourcemap`: coverage counts the repository files Rojo's sourcemap maps modules to",
        );
        return None;
    };
    let modules = selection.modules(sourcemap);
    if modules.is_empty() {
        problems.push(
            first,
            format!(
                "no module of the sourcemap counts for coverage (of its {} modules with files; specs, the framework and packages never count, and `coverage-include`/`coverage-exclude` narrow the rest)",
                sourcemap.module_files().count()
            ),
        );
        return None;
    }
    let roots = crate::coverage::select::roots(&modules, MAX_COVERAGE_ROOTS);
    set_coverage_roots(work, &roots);
    let cwd = std::env::current_dir().unwrap_or_default();
    let workspace = inputs
        .var("GITHUB_WORKSPACE")
        .map_or_else(|| cwd.clone(), |w| cwd.join(w));
    Some(crate::coverage::Spec {
        lcov,
        cobertura,
        threshold,
        selection,
        workspace,
    })
}

/// Writes the coverage roots into the suite's bootstrap, every shard's included.
fn set_coverage_roots(work: &mut Work, roots: &[String]) {
    if let Some(suite) = &mut work.suite {
        suite.coverage = Some(roots.to_vec());
        work.script = crate::results::bootstrap::script(suite);
    }
    for unit in &mut work.units {
        if let Some(suite) = &mut unit.suite {
            suite.coverage = Some(roots.to_vec());
            unit.script = crate::results::bootstrap::script(suite);
        }
    }
}

/// `80`, `80%`, `72.5`: a share of lines from 0 to 100.
fn parse_threshold(text: &str) -> Result<f64, ConfigError> {
    let text = text.trim();
    let number = text.strip_suffix('%').unwrap_or(text).trim();
    match number.parse::<f64>() {
        Ok(percent) if (0.0..=100.0).contains(&percent) => Ok(percent),
        _ => Err(ConfigError::new(
            "coverage-threshold",
            format!(
                "`{}` is not a percentage from 0 to 100 (`80`, `80%`, `72.5`)",
                shorten(text)
            ),
        )),
    }
}

/// The place the tasks run in: a version and a file are two answers to one question, and a
/// suite on the local backend needs a place at all.
fn check_place(problems: &mut Problems, target: &Target, work: &Option<Work>, place_file: bool) {
    let suite = work.as_ref().is_some_and(|w| w.suite.is_some());
    if target.backend == Backend::Local && suite && !place_file && target.place_version.is_none() {
        problems.push(
            "place-file",
            "is required with `test-framework` on the local backend: without it the emulator runs an empty place, with no framework and no tests in it (give the .rbxl that `rojo build` makes)",
        );
    }
    if place_file && target.place_version.is_some() {
        problems.push(
            "place-file",
            "conflicts with `place-version`: the run uses the version the upload creates; give one or the other",
        );
    }
}

/// `wait-timeout`, or the default: one task's wait for every wave of `parallel` tasks.
fn load_wait_timeout(
    inputs: &Inputs<'_>,
    task_timeout: Option<Duration>,
    units: usize,
    parallel: usize,
) -> Result<Duration, ConfigError> {
    match inputs.input("wait-timeout", &inputs.args.wait_timeout) {
        Some(text) => {
            let wait =
                duration::parse_duration(&text).map_err(|e| duration_error("wait-timeout", e))?;
            if wait.is_zero() {
                return Err(ConfigError::new(
                    "wait-timeout",
                    "must be more than 0 seconds",
                ));
            }
            Ok(wait)
        }
        // Several units: the wait covers the whole step, each wave of `parallel` tasks with
        // one task's wait (a single task is one wave).
        None => {
            let waves = units.div_ceil(parallel.max(1)) as u32;
            Ok((task_timeout.unwrap_or(MAX_TASK_TIMEOUT) + WAIT_GRACE) * waves)
        }
    }
}

/// The runner's files, when the output is GitHub's.
fn github_files(inputs: &Inputs<'_>, output_format: OutputFormat) -> GithubFiles {
    if output_format != OutputFormat::Github {
        return GithubFiles::default();
    }
    GithubFiles {
        output: inputs.var("GITHUB_OUTPUT").map(PathBuf::from),
        step_summary: inputs.var("GITHUB_STEP_SUMMARY").map(PathBuf::from),
        blob_base: match (
            inputs.var("GITHUB_SERVER_URL"),
            inputs.var("GITHUB_REPOSITORY"),
            inputs.var("GITHUB_SHA"),
        ) {
            (Some(server), Some(repository), Some(sha)) => Some(format!(
                "{}/{repository}/blob/{sha}",
                server.trim_end_matches('/')
            )),
            _ => None,
        },
    }
}

fn timing(inputs: &Inputs<'_>, backend: Backend) -> Timing {
    Timing {
        scale: inputs
            .var("LUAU_EXEC_TEST_TIME_SCALE")
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= 1.0)
            .unwrap_or(1.0),
        cadence: match backend {
            Backend::OpenCloud => Cadence::OpenCloud,
            Backend::Local => Cadence::Local,
        },
    }
}

/// Whether GitHub Actions runs us: used to annotate a refused input, when no config exists.
pub fn is_github_actions(env: &dyn Fn(&str) -> Option<String>) -> bool {
    env("GITHUB_ACTIONS").as_deref() == Some("true")
}

/// The key `luau-exec serve` requires, if any (`LUAU_EXEC_SERVE_API_KEY`).
pub fn serve_api_key(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    env("LUAU_EXEC_SERVE_API_KEY").filter(|v| !v.is_empty())
}

fn parse_id(input: &'static str, text: &str) -> Result<u64, ConfigError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ConfigError::new(
            input,
            format!("must be decimal digits, got `{}`", shorten(text)),
        ));
    }
    text.parse::<u64>()
        .map_err(|_| ConfigError::new(input, format!("`{}` is too large", shorten(text))))
}

/// Comma-separated IDs, each decimal digits, none twice.
fn parse_id_list(input: &'static str, text: &str) -> Result<Vec<u64>, ConfigError> {
    let mut ids = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id = parse_id(input, part)?;
        if ids.contains(&id) {
            return Err(ConfigError::new(input, format!("lists {id} twice")));
        }
        ids.push(id);
    }
    if ids.is_empty() {
        return Err(ConfigError::new(input, "lists no place ID"));
    }
    Ok(ids)
}

/// The step's units of work: the suite's shards, the files of `script-path`, or the one script.
fn load_units(
    inputs: &Inputs<'_>,
    suite: &Option<Suite>,
    script: &str,
    script_files: &[PathBuf],
) -> Result<Vec<Unit>, ConfigError> {
    let args = inputs.args;
    let shards = match inputs.input("shards", &args.shards) {
        None => 1,
        Some(_) if suite.is_none() => {
            return Err(ConfigError::new(
                "shards",
                "is used only with `test-framework` (several scripts are given in `script-path`)",
            ));
        }
        Some(text) => match text.parse::<usize>() {
            Ok(n @ 1..=MAX_SHARDS) => n,
            _ => {
                return Err(ConfigError::new(
                    "shards",
                    format!(
                        "must be a whole number from 1 to {MAX_SHARDS}, got `{}`",
                        shorten(&text)
                    ),
                ));
            }
        },
    };
    if let Some(suite) = suite {
        if suite.framework == Framework::Jest && shards > suite.roots.len() {
            return Err(ConfigError::new(
                "shards",
                format!(
                    "Jest-Lua is split by test root, and `test-roots` lists {}: give at most that many shards",
                    suite.roots.len()
                ),
            ));
        }
        if shards == 1 {
            return Ok(vec![Unit {
                label: suite.roots.join(", "),
                script: script.to_owned(),
                script_path: None,
                suite: Some(suite.clone()),
            }]);
        }
        return Ok((1..=shards)
            .map(|index| {
                let shard = crate::results::bootstrap::Shard {
                    index,
                    count: shards,
                };
                let suite = Suite {
                    shard: Some(shard),
                    ..suite.clone()
                };
                Unit {
                    label: shard.to_string(),
                    script: crate::results::bootstrap::script(&suite),
                    script_path: None,
                    suite: Some(suite),
                }
            })
            .collect());
    }
    if script_files.is_empty() {
        return Ok(vec![Unit {
            label: "script".to_owned(),
            script: script.to_owned(),
            script_path: None,
            suite: None,
        }]);
    }
    let mut units = Vec::with_capacity(script_files.len());
    for (i, path) in script_files.iter().enumerate() {
        // The first file was read already, for `script`.
        let text = if i == 0 {
            script.to_owned()
        } else {
            read_script_file(&path.display().to_string())?
        };
        units.push(Unit {
            label: path.display().to_string(),
            script: text,
            script_path: Some(path.clone()),
            suite: None,
        });
    }
    Ok(units)
}

/// The files `script-path` names: paths or globs (`tests/**/*.luau`), separated by commas or
/// lines; each glob's matches in sorted order; none twice.
fn script_paths(inputs: &Inputs<'_>) -> Result<Vec<PathBuf>, ConfigError> {
    let Some(text) = inputs.input("script-path", &inputs.args.script_path) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let found: Vec<PathBuf> = if entry.contains(['*', '?', '[']) {
            let matches = glob::glob(entry).map_err(|e| {
                ConfigError::new(
                    "script-path",
                    format!("`{}` is not a valid glob: {e}", shorten(entry)),
                )
            })?;
            let mut files: Vec<PathBuf> = matches
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .take(MAX_SCRIPT_FILES + 1)
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(ConfigError::new(
                    "script-path",
                    format!("`{}` matches no file", shorten(entry)),
                ));
            }
            files
        } else {
            vec![PathBuf::from(entry)]
        };
        for path in found {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
        if paths.len() > MAX_SCRIPT_FILES {
            return Err(ConfigError::new(
                "script-path",
                format!(
                    "names more than {MAX_SCRIPT_FILES} files (counting stopped at {}): a step runs at most {MAX_SCRIPT_FILES} scripts, one task each; narrow the globs, or run a suite with `test-framework`",
                    paths.len()
                ),
            ));
        }
    }
    Ok(paths)
}

/// How many tasks run at once: `auto` is every unit, within Roblox's ten per place.
fn load_parallel(inputs: &Inputs<'_>, units: usize, places: usize) -> Result<usize, ConfigError> {
    let most = TASKS_PER_PLACE * places;
    match inputs.input("parallel", &inputs.args.parallel).as_deref() {
        None | Some("auto") => Ok(units.min(most).max(1)),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n >= 1 && n <= most => Ok(n.min(units)),
            Ok(n) if n > most => Err(ConfigError::new(
                "parallel",
                format!(
                    "{n} is more than the {TASKS_PER_PLACE} unfinished tasks Roblox allows on each place ({places} place{}): add places in `place-ids`, or run fewer at once",
                    if places == 1 { "" } else { "s" }
                ),
            )),
            _ => Err(ConfigError::new(
                "parallel",
                format!(
                    "must be `auto` or a whole number from 1, got `{}`",
                    shorten(text)
                ),
            )),
        },
    }
}

/// The test suite, when `test-framework` is given.
fn load_suite(inputs: &Inputs<'_>) -> Result<Option<Suite>, ConfigError> {
    let args = inputs.args;
    let Some(name) = inputs.input("test-framework", &args.test_framework) else {
        for (input, flag) in [
            ("test-roots", &args.test_roots),
            ("test-name-pattern", &args.test_name_pattern),
            ("framework-path", &args.framework_path),
            ("test-setup", &args.test_setup),
        ] {
            if inputs.input(input, flag).is_some() {
                return Err(ConfigError::new(
                    input,
                    "is used only with `test-framework` (`testez` or `jest`)",
                ));
            }
        }
        return Ok(None);
    };
    let framework = Framework::parse(&name).ok_or_else(|| {
        ConfigError::new(
            "test-framework",
            format!("`{}` is not a framework luau-exec runs: use `testez` or `jest` (or leave it empty and return the results envelope from your own script)", shorten(&name)),
        )
    })?;
    let roots: Vec<String> = inputs
        .input("test-roots", &args.test_roots)
        .map(|text| {
            text.split(',')
                .map(|root| root.trim().to_owned())
                .filter(|root| !root.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if roots.is_empty() {
        return Err(ConfigError::new(
            "test-roots",
            "is required with `test-framework`: the instance paths of the folders that hold the specs, comma-separated (`ReplicatedStorage.Tests`)",
        ));
    }
    let framework_path = inputs
        .input("framework-path", &args.framework_path)
        .unwrap_or_else(|| framework.default_path().to_owned());
    let setup = inputs.input("test-setup", &args.test_setup);
    for (input, path) in roots
        .iter()
        .map(|root| ("test-roots", root))
        .chain([("framework-path", &framework_path)])
        .chain(setup.iter().map(|path| ("test-setup", path)))
    {
        if !is_instance_path(path) {
            return Err(ConfigError::new(
                input,
                format!(
                    "`{}` is not an instance path like `ReplicatedStorage.Tests`",
                    shorten(path)
                ),
            ));
        }
    }
    Ok(Some(Suite {
        framework,
        roots,
        name_pattern: inputs.input("test-name-pattern", &args.test_name_pattern),
        framework_path,
        setup,
        shard: None,
        framework_output: inputs.var("RUNNER_DEBUG").as_deref() == Some("1"),
        coverage: None,
    }))
}

/// `Service.Child.Grandchild`: dot-separated, non-empty names, no line breaks.
fn is_instance_path(path: &str) -> bool {
    !path.is_empty()
        && !path.contains(['\n', '\r'])
        && path.split('.').all(|name| !name.trim().is_empty())
}

/// Reads Rojo's sourcemap; its paths are relative to its own folder, and are kept only inside
/// the workspace: `GITHUB_WORKSPACE` (the repository, on GitHub), else the working directory.
fn load_sourcemap(path: &Path, workspace: Option<String>) -> Result<Sourcemap, ConfigError> {
    const MAX_SOURCEMAP_BYTES: u64 = 64 * 1024 * 1024;
    check_file("sourcemap", path, MAX_SOURCEMAP_BYTES)?;
    let text = std::fs::read(path).map_err(|e| {
        ConfigError::new(
            "sourcemap",
            format!("cannot read `{}`: {e}", path.display()),
        )
    })?;
    let cwd = std::env::current_dir().unwrap_or_default();
    let base = cwd.join(path.parent().unwrap_or(Path::new("")));
    let workspace = workspace.map_or_else(|| cwd.clone(), |w| cwd.join(w));
    Sourcemap::parse(&text, &base, &workspace)
        .map_err(|e| ConfigError::new("sourcemap", format!("`{}` {e}", path.display())))
}

/// The script's text (the first file's, for several), and every file of `script-path` (where
/// `TaskScript:N` locations point); no files for inline Luau.
fn load_script(inputs: &Inputs<'_>) -> Result<(String, Vec<PathBuf>), ConfigError> {
    let args = inputs.args;
    // The inline script is sent verbatim: it is not trimmed.
    let inline = args
        .script
        .clone()
        .or_else(|| inputs.env_input("script"))
        .filter(|s| !s.trim().is_empty());
    let path = inputs.input("script-path", &args.script_path);
    match (inline, path) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            "script",
            "give either `script` or `script-path`, not both",
        )),
        (None, None) => Err(ConfigError::new(
            "script",
            "is required: give `script` (inline Luau) or `script-path` (a file), or `test-framework` to run a test suite",
        )),
        (Some(source), None) => {
            if source.len() as u64 > MAX_SCRIPT_BYTES {
                return Err(ConfigError::new(
                    "script",
                    format!(
                        "is {} bytes, over Open Cloud's {MAX_SCRIPT_BYTES}-byte limit",
                        source.len()
                    ),
                ));
            }
            Ok((source, Vec::new()))
        }
        (None, Some(_)) => {
            // Several files or globs make a batch (see `load_units`).
            let files = script_paths(inputs)?;
            let first = files
                .first()
                .ok_or_else(|| ConfigError::new("script-path", "names no file"))?;
            let text = read_script_file(&first.display().to_string())?;
            Ok((text, files))
        }
    }
}

/// A script file's text, checked for size and UTF-8, without a byte-order mark.
fn read_script_file(path: &str) -> Result<String, ConfigError> {
    let size = check_file("script-path", Path::new(path), MAX_SCRIPT_BYTES)?;
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError::new("script-path", format!("cannot read `{path}`: {e}")))?;
    debug_assert_eq!(bytes.len() as u64, size);
    let text = String::from_utf8(bytes)
        .map_err(|_| ConfigError::new("script-path", format!("`{path}` is not UTF-8 text")))?;
    // Editors on Windows start files with a byte-order mark; Luau would choke on it.
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    })
}

/// Checks that a file exists, is a regular file, is not empty and is at most `max` bytes.
fn check_file(input: &'static str, path: &Path, max: u64) -> Result<u64, ConfigError> {
    let shown = path.display();
    let metadata = std::fs::metadata(path)
        .map_err(|e| ConfigError::new(input, format!("cannot read `{shown}`: {e}")))?;
    if !metadata.is_file() {
        return Err(ConfigError::new(input, format!("`{shown}` is not a file")));
    }
    let size = metadata.len();
    if size == 0 {
        return Err(ConfigError::new(input, format!("`{shown}` is empty")));
    }
    if size > max {
        return Err(ConfigError::new(
            input,
            format!("`{shown}` is {size} bytes, over the {max}-byte limit"),
        ));
    }
    Ok(size)
}

fn load_place_file(path: &Path) -> Result<PlaceFile, ConfigError> {
    let content_type = match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("rbxl") => "application/octet-stream",
        Some(ext) if ext.eq_ignore_ascii_case("rbxlx") => "application/xml",
        _ => {
            return Err(ConfigError::new(
                "place-file",
                format!(
                    "`{}` must end in .rbxl (binary) or .rbxlx (XML)",
                    path.display()
                ),
            ));
        }
    };
    let size = check_file("place-file", path, MAX_PLACE_FILE_BYTES)?;
    Ok(PlaceFile {
        path: path.to_owned(),
        content_type,
        size,
    })
}

/// Checks, before anything is sent, that a file can be written at `path` (see
/// [`crate::files::check_target`]): a regular file or none yet, never a FIFO (writing to one
/// would block forever), a device or a directory, in a folder that exists or can be made.
fn check_writable(input: &'static str, path: PathBuf) -> Result<PathBuf, ConfigError> {
    crate::files::check_target(&path).map_err(|problem| ConfigError::new(input, problem))?;
    Ok(path)
}

fn check_binary_input(path: PathBuf) -> Result<PathBuf, ConfigError> {
    check_file("binary-input", &path, MAX_BINARY_INPUT_BYTES)?;
    Ok(path)
}

fn parse_task_timeout(text: &str) -> Result<Duration, ConfigError> {
    let timeout = duration::parse_duration(text).map_err(|e| duration_error("timeout", e))?;
    if timeout < Duration::from_secs(1) || timeout > MAX_TASK_TIMEOUT {
        return Err(ConfigError::new(
            "timeout",
            format!(
                "`{}` is out of range: Open Cloud allows 1s to 300s (5m)",
                shorten(text)
            ),
        ));
    }
    Ok(timeout)
}

fn duration_error(input: &'static str, error: DurationError) -> ConfigError {
    ConfigError::new(input, error.to_string())
}

/// Only https anywhere; plain http only to this machine (tests, the emulator), so a typo can
/// never send the key in clear text across a network.
fn parse_base_url(text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text).map_err(|e| {
        ConfigError::new("base-url", format!("`{}` is not a URL: {e}", shorten(text)))
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            "base-url",
            "must not carry credentials; the API key is its own input",
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if crate::api::url::is_loopback(&url) => {}
        "http" => {
            return Err(ConfigError::new(
                "base-url",
                format!(
                    "plain http is allowed only to loopback hosts (the emulator, tests); use https for `{}`",
                    url.host_str().unwrap_or_default()
                ),
            ));
        }
        other => {
            return Err(ConfigError::new(
                "base-url",
                format!("scheme `{other}` is not supported: use https"),
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            "base-url",
            "must not have a query or fragment",
        ));
    }
    Ok(url)
}

/// Echoes of bad values are cut short: an input can be a whole script.
fn shorten(text: &str) -> String {
    crate::text::cut(text, 40)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Every refused input of a load from these `INPUT_*` pairs.
    fn load_all(pairs: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let env = move |name: &str| map.get(name).cloned();
        load(&Inputs::new(&RunArgs::default(), &env))
    }

    /// The first refused input of a load from these `INPUT_*` pairs.
    fn load_with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        load_all(pairs).map_err(|mut errors| errors.0.remove(0))
    }

    const BASE: &[(&str, &str)] = &[
        ("INPUT_API-KEY", "k"),
        ("INPUT_UNIVERSE-ID", "1"),
        ("INPUT_PLACE-ID", "2"),
        ("INPUT_SCRIPT", "return 1"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut all: Vec<_> = BASE
            .iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .copied()
            .collect();
        all.extend_from_slice(extra);
        all
    }

    #[test]
    fn reads_hyphenated_and_underscored_names() {
        let config = load_with(BASE).unwrap();
        assert_eq!(config.universe_id, 1);
        assert_eq!(config.place_id, 2);
        let config = load_with(&[
            ("INPUT_API_KEY", "k"),
            ("INPUT_UNIVERSE_ID", "10"),
            ("INPUT_PLACE_ID", "20"),
            ("INPUT_SCRIPT", "return 1"),
        ])
        .unwrap();
        assert_eq!((config.universe_id, config.place_id), (10, 20));
    }

    #[test]
    fn empty_means_not_given() {
        let err = load_with(&with(&[("INPUT_PLACE-ID", "")])).unwrap_err();
        assert_eq!(err.input, "place-id");
        let config =
            load_with(&with(&[("INPUT_TIMEOUT", ""), ("INPUT_PLACE-VERSION", "")])).unwrap();
        assert_eq!(config.task_timeout, None);
        assert_eq!(config.place_version, None);
        assert_eq!(config.wait_timeout, MAX_TASK_TIMEOUT + WAIT_GRACE);
    }

    #[test]
    fn flags_win_over_environment() {
        let map: HashMap<&str, &str> = BASE.iter().copied().collect();
        let env = move |name: &str| map.get(name).map(|v| (*v).to_owned());
        let args = RunArgs {
            place_id: Some("99".into()),
            ..RunArgs::default()
        };
        let config = load(&Inputs::new(&args, &env)).unwrap();
        assert_eq!(config.place_id, 99);
    }

    #[test]
    fn refuses_bad_ids() {
        for bad in [
            "abc",
            "-1",
            "1.5",
            "12 3",
            "0x10",
            "99999999999999999999999",
        ] {
            let err = load_with(&with(&[("INPUT_UNIVERSE-ID", bad)])).unwrap_err();
            assert_eq!(err.input, "universe-id", "{bad}");
        }
    }

    #[test]
    fn every_bad_input_is_refused_at_once() {
        let names = |errors: &ConfigErrors| -> Vec<&'static str> {
            errors.0.iter().map(|e| e.input).collect()
        };
        let errors = load_all(&[
            ("INPUT_BACKEND", "local"),
            ("INPUT_SCRIPT", "return 1"),
            ("INPUT_TIMEOUT", "10m"),
            ("INPUT_UNIVERSE_ID", "abc"),
            ("INPUT_OUTPUT_FORMAT", "xml"),
            ("INPUT_BASE_URL", "http://example.com"),
        ])
        .unwrap_err();
        assert_eq!(
            names(&errors),
            ["output-format", "universe-id", "timeout", "base-url"],
            "{errors}"
        );
        // A refused backend does not make the key look required, nor the script missing.
        let errors =
            load_all(&[("INPUT_BACKEND", "locl"), ("INPUT_TEST_FRAMEWORK", "testz")]).unwrap_err();
        assert_eq!(names(&errors), ["backend", "test-framework"], "{errors}");
    }

    #[test]
    fn test_setup_is_an_instance_path_used_only_with_a_framework() {
        let suite = &[
            ("INPUT_BACKEND", "open-cloud"),
            ("INPUT_API-KEY", "k"),
            ("INPUT_UNIVERSE-ID", "1"),
            ("INPUT_PLACE-ID", "2"),
            ("INPUT_TEST_FRAMEWORK", "testez"),
            ("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests"),
        ];
        let setup = |value: &'static str| {
            let mut pairs = suite.to_vec();
            pairs.push(("INPUT_TEST_SETUP", value));
            pairs
        };
        let config = load_with(&setup("ReplicatedStorage.TestSetup")).unwrap();
        let given = config.suite.and_then(|suite| suite.setup);
        assert_eq!(given.as_deref(), Some("ReplicatedStorage.TestSetup"));
        let config = load_with(suite).unwrap();
        assert_eq!(config.suite.and_then(|suite| suite.setup), None);

        let bad = load_with(&setup("ReplicatedStorage..TestSetup")).unwrap_err();
        assert_eq!(bad.input, "test-setup");
        assert_eq!(
            bad.problem,
            "`ReplicatedStorage..TestSetup` is not an instance path like `ReplicatedStorage.Tests`"
        );
        let alone = load_with(&with(&[(
            "INPUT_TEST_SETUP",
            "ReplicatedStorage.TestSetup",
        )]))
        .unwrap_err();
        assert_eq!(alone.input, "test-setup");
        assert!(
            alone
                .problem
                .starts_with("is used only with `test-framework`")
        );
    }

    #[test]
    fn the_missing_key_is_explained_where_the_user_sets_it() {
        let github =
            load_with(&with(&[("INPUT_API-KEY", ""), ("GITHUB_ACTIONS", "true")])).unwrap_err();
        assert!(
            github
                .describe(true)
                .starts_with("input `api-key`: is required")
        );
        assert!(github.problem.contains("secrets.*"), "{github}");
        let elsewhere = load_with(&with(&[("INPUT_API-KEY", "")])).unwrap_err();
        let line = elsewhere.describe(false);
        assert!(line.starts_with("`INPUT_API_KEY`: is required"), "{line}");
        assert!(!line.contains("secrets"), "{line}");
        assert!(line.contains("--backend local"), "{line}");
    }

    #[test]
    fn missing_key_is_named_and_never_echoed() {
        let err = load_with(&with(&[("INPUT_API-KEY", "")])).unwrap_err();
        assert_eq!(err.input, "api-key");
        let config = load_with(&with(&[
            ("INPUT_API-KEY", ""),
            ("INPUT_ON-MISSING-KEY", "skip"),
        ]))
        .unwrap();
        assert!(config.api_key.is_none());
        let config = load_with(&with(&[("INPUT_API-KEY", "  secret-key\n")])).unwrap();
        assert_eq!(config.api_key.unwrap().expose(), "secret-key");
    }

    #[test]
    fn script_rules() {
        let err = load_with(&with(&[("INPUT_SCRIPT-PATH", "x.luau")])).unwrap_err();
        assert!(err.problem.contains("not both"), "{err}");
        let err = load_with(&with(&[("INPUT_SCRIPT", "")])).unwrap_err();
        assert_eq!(err.input, "script");
        let err = load_with(&with(&[
            ("INPUT_SCRIPT", ""),
            ("INPUT_SCRIPT-PATH", "/nonexistent/x.luau"),
        ]))
        .unwrap_err();
        assert_eq!(err.input, "script-path");
        // Inline scripts are sent verbatim, leading and trailing whitespace included.
        let config = load_with(&with(&[("INPUT_SCRIPT", "  print(1)\n")])).unwrap();
        assert_eq!(config.script, "  print(1)\n");
    }

    #[test]
    fn script_file_rules() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.luau");
        std::fs::write(&empty, "").unwrap();
        let big = dir.path().join("big.luau");
        std::fs::write(&big, vec![b'-'; MAX_SCRIPT_BYTES as usize + 1]).unwrap();
        let good = dir.path().join("good.luau");
        std::fs::write(&good, "return 42\n").unwrap();
        for (path, expected) in [
            (&empty, "empty"),
            (&big, "limit"),
            (&dir.path().to_path_buf(), "not a file"),
        ] {
            let path = path.to_str().unwrap().to_owned();
            let map: HashMap<String, String> = [
                ("INPUT_API-KEY", "k"),
                ("INPUT_UNIVERSE-ID", "1"),
                ("INPUT_PLACE-ID", "2"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .chain([("INPUT_SCRIPT-PATH".to_owned(), path)])
            .collect();
            let env = move |name: &str| map.get(name).cloned();
            let err = load(&Inputs::new(&RunArgs::default(), &env))
                .unwrap_err()
                .0
                .remove(0);
            assert_eq!(err.input, "script-path");
            assert!(err.problem.contains(expected), "{err}");
        }
        let args = RunArgs {
            script_path: Some(good.to_str().unwrap().to_owned()),
            ..RunArgs::default()
        };
        let env = |name: &str| match name {
            "INPUT_API-KEY" => Some("k".to_owned()),
            "INPUT_UNIVERSE-ID" | "INPUT_PLACE-ID" => Some("3".to_owned()),
            _ => None,
        };
        assert_eq!(
            load(&Inputs::new(&args, &env)).unwrap().script,
            "return 42\n"
        );
    }

    #[test]
    fn a_byte_order_mark_is_stripped() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bom.luau");
        std::fs::write(&file, "\u{feff}return 1\n").unwrap();
        let args = RunArgs {
            script_path: Some(file.to_str().unwrap().to_owned()),
            ..RunArgs::default()
        };
        let env = |name: &str| match name {
            "INPUT_BACKEND" => Some("local".to_owned()),
            _ => None,
        };
        assert_eq!(
            load(&Inputs::new(&args, &env)).unwrap().script,
            "return 1\n"
        );
    }

    #[test]
    fn binary_output_must_be_writable_before_anything_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let fine = dir.path().join("new/dir/out.bin");
        let args = RunArgs {
            binary_output: Some(fine.to_str().unwrap().to_owned()),
            ..RunArgs::default()
        };
        let env = |name: &str| match name {
            "INPUT_BACKEND" => Some("local".to_owned()),
            "INPUT_SCRIPT" => Some("return 1".to_owned()),
            _ => None,
        };
        let config = load(&Inputs::new(&args, &env)).unwrap();
        assert_eq!(config.binary_output.as_deref(), Some(fine.as_path()));
        assert!(!fine.exists(), "the check leaves no file behind");
        // Under a regular file, no folder can be made.
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "x").unwrap();
        let args = RunArgs {
            binary_output: Some(blocker.join("out.bin").to_str().unwrap().to_owned()),
            ..RunArgs::default()
        };
        let err = load(&Inputs::new(&args, &env)).unwrap_err().0.remove(0);
        assert_eq!(err.input, "binary-output");
    }

    #[test]
    fn a_step_runs_at_most_a_thousand_script_files() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..MAX_SCRIPT_FILES {
            std::fs::write(dir.path().join(format!("s{i:04}.luau")), "return 1\n").unwrap();
        }
        let glob = dir.path().join("*.luau").to_str().unwrap().to_owned();
        let load_glob = |glob: &str| {
            let args = RunArgs {
                script_path: Some(glob.to_owned()),
                ..RunArgs::default()
            };
            let env = |name: &str| (name == "INPUT_BACKEND").then(|| "local".to_owned());
            load(&Inputs::new(&args, &env))
        };
        assert_eq!(load_glob(&glob).unwrap().units.len(), MAX_SCRIPT_FILES);
        std::fs::write(dir.path().join("one-more.luau"), "return 1\n").unwrap();
        let errors = load_glob(&glob).unwrap_err();
        let err = errors.first().expect("a refused input");
        assert_eq!(err.input, "script-path");
        assert!(err.problem.contains("more than 1000 files"), "{err}");
        // Entries count together: a thousand from a glob and one named file are too many.
        let both = format!(
            "{}, {}",
            dir.path().join("s*.luau").display(),
            dir.path().join("one-more.luau").display()
        );
        let errors = load_glob(&both).unwrap_err();
        assert_eq!(errors.first().map(|e| e.input), Some("script-path"));
    }

    #[test]
    fn sourcemap_files_are_kept_inside_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let map = dir.path().join("sourcemap.json");
        std::fs::write(
            &map,
            r#"{ "name": "Pkg", "className": "ModuleScript", "filePaths": ["src/init.luau"] }"#,
        )
        .unwrap();
        let with_workspace = |workspace: &Path| {
            let args = RunArgs {
                sourcemap: Some(map.to_str().unwrap().to_owned()),
                ..RunArgs::default()
            };
            let workspace = workspace.to_str().unwrap().to_owned();
            let env = move |name: &str| match name {
                "INPUT_BACKEND" => Some("local".to_owned()),
                "INPUT_SCRIPT" => Some("return 1".to_owned()),
                "GITHUB_WORKSPACE" => Some(workspace.clone()),
                _ => None,
            };
            load(&Inputs::new(&args, &env)).unwrap().locator
        };
        let found = with_workspace(dir.path()).resolve("Pkg:2").unwrap();
        assert_eq!(found.path, "src/init.luau");
        assert_eq!(
            with_workspace(&dir.path().join("elsewhere")).resolve("Pkg:2"),
            None
        );
    }

    /// A load with a sourcemap of one module (`src/Calc.luau`) and one spec, in a workspace.
    fn load_coverage_inputs(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let map = dir.path().join("sourcemap.json");
        std::fs::write(
            &map,
            r#"{ "name": "game", "className": "DataModel", "children": [
                { "name": "ReplicatedStorage", "className": "ReplicatedStorage", "children": [
                  { "name": "Calc", "className": "ModuleScript", "filePaths": ["src/Calc.luau"] },
                  { "name": "Calc.spec", "className": "ModuleScript", "filePaths": ["src/Calc.spec.luau"] } ] } ] }"#,
        )
        .unwrap();
        let (map, workspace) = (map.to_str().unwrap(), dir.path().to_str().unwrap());
        let mut pairs = vec![
            ("INPUT_API-KEY", "k"),
            ("INPUT_UNIVERSE-ID", "1"),
            ("INPUT_PLACE-ID", "2"),
            ("INPUT_SOURCEMAP", map),
            ("GITHUB_WORKSPACE", workspace),
        ];
        pairs.extend_from_slice(extra);
        load_with(&pairs)
    }

    #[test]
    fn coverage_inputs_are_checked_and_tell_the_bootstrap_what_to_measure() {
        let suite = [
            ("INPUT_TEST-FRAMEWORK", "testez"),
            ("INPUT_TEST-ROOTS", "ReplicatedStorage.Tests"),
            ("INPUT_COVERAGE-THRESHOLD", "80%"),
        ];
        let config = load_coverage_inputs(&suite).unwrap();
        let spec = config.coverage.as_ref().expect("coverage asked for");
        assert_eq!(spec.threshold, Some(80.0));
        // Only the module that counts is measured: not its spec.
        assert!(
            config.units[0]
                .script
                .contains(r#"coverage = { "ReplicatedStorage.Calc" },"#),
            "{}",
            config.units[0].script
        );
        let script = [("INPUT_SCRIPT", "return 1")];
        assert!(load_coverage_inputs(&script).unwrap().coverage.is_none());
        let threshold = |value: &'static str| {
            load_coverage_inputs(&[
                ("INPUT_SCRIPT", "return 1"),
                ("INPUT_COVERAGE-THRESHOLD", value),
            ])
        };
        assert_eq!(
            threshold("72.5").unwrap().coverage.unwrap().threshold,
            Some(72.5)
        );
        for bad in ["101", "-1", "abc", "80%%", "NaN"] {
            let error = threshold(bad).unwrap_err();
            assert_eq!(error.input, "coverage-threshold", "{bad}");
            assert!(
                error.problem.contains("is not a percentage from 0 to 100"),
                "{bad}"
            );
        }
        for (input, value, problem) in [
            ("INPUT_COVERAGE-INCLUDE", "src/[", "is not a valid glob"),
            (
                "INPUT_COVERAGE-INCLUDE",
                "lib/**",
                "no module of the sourcemap counts for coverage",
            ),
            (
                "INPUT_COVERAGE-EXCLUDE",
                "src/*.luau",
                "no module of the sourcemap counts for coverage",
            ),
        ] {
            let error =
                load_coverage_inputs(&[("INPUT_SCRIPT", "return 1"), (input, value)]).unwrap_err();
            assert!(error.problem.contains(problem), "{value}: {error}");
        }
        let error = load_with(&with(&[("INPUT_COVERAGE-LCOV", "lcov.info")])).unwrap_err();
        assert_eq!(error.input, "coverage-lcov");
        assert!(error.problem.starts_with("needs `sourcemap`"), "{error}");
    }

    #[test]
    fn timeouts() {
        let config = load_with(&with(&[("INPUT_TIMEOUT", "1m30s")])).unwrap();
        assert_eq!(config.task_timeout, Some(Duration::from_secs(90)));
        assert_eq!(config.wait_timeout, Duration::from_secs(90) + WAIT_GRACE);
        for bad in ["0", "301", "6m", "abc", "1.5s"] {
            let err = load_with(&with(&[("INPUT_TIMEOUT", bad)])).unwrap_err();
            assert_eq!(err.input, "timeout", "{bad}");
        }
        let config = load_with(&with(&[("INPUT_WAIT-TIMEOUT", "2h")])).unwrap();
        assert_eq!(config.wait_timeout, Duration::from_secs(7200));
        let err = load_with(&with(&[("INPUT_WAIT-TIMEOUT", "0s")])).unwrap_err();
        assert_eq!(err.input, "wait-timeout");
    }

    #[test]
    fn base_url_rules() {
        for good in [
            "https://apis.roblox.com",
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
        ] {
            assert!(
                load_with(&with(&[("INPUT_BASE-URL", good)])).is_ok(),
                "{good}"
            );
        }
        for bad in [
            "http://example.com",
            "http://10.0.0.1",
            "ftp://x",
            "not a url",
            "https://u:p@h.com",
            "https://h.com/?a=1",
        ] {
            let err = load_with(&with(&[("INPUT_BASE-URL", bad)])).unwrap_err();
            assert_eq!(err.input, "base-url", "{bad}");
        }
    }

    #[test]
    fn local_backend_needs_no_key_or_ids() {
        let config =
            load_with(&[("INPUT_BACKEND", "local"), ("INPUT_SCRIPT", "return 1")]).unwrap();
        assert_eq!(config.backend, Backend::Local);
        assert!(config.api_key.is_none());
        let err = load_with(&with(&[("INPUT_BACKEND", "cloud")])).unwrap_err();
        assert_eq!(err.input, "backend");
    }

    #[test]
    fn output_format_detection() {
        assert_eq!(load_with(BASE).unwrap().output_format, OutputFormat::Plain);
        let gh = with(&[("GITHUB_ACTIONS", "true")]);
        assert_eq!(load_with(&gh).unwrap().output_format, OutputFormat::Github);
        let forced = with(&[("GITHUB_ACTIONS", "true"), ("INPUT_OUTPUT-FORMAT", "json")]);
        assert_eq!(
            load_with(&forced).unwrap().output_format,
            OutputFormat::Json
        );
        assert!(!load_with(&with(&[("NO_COLOR", "1")])).unwrap().color);
    }

    #[test]
    fn place_file_rules() {
        let dir = tempfile::tempdir().unwrap();
        let rbxl = dir.path().join("game.rbxl");
        std::fs::write(&rbxl, b"<roblox!").unwrap();
        let txt = dir.path().join("game.txt");
        std::fs::write(&txt, b"x").unwrap();
        let rbxl_str: &'static str = Box::leak(rbxl.to_str().unwrap().to_owned().into_boxed_str());
        let txt_str: &'static str = Box::leak(txt.to_str().unwrap().to_owned().into_boxed_str());
        let config = load_with(&with(&[("INPUT_PLACE-FILE", rbxl_str)])).unwrap();
        assert_eq!(
            config.place_file.unwrap().content_type,
            "application/octet-stream"
        );
        let err = load_with(&with(&[("INPUT_PLACE-FILE", txt_str)])).unwrap_err();
        assert_eq!(err.input, "place-file");
        let err = load_with(&with(&[
            ("INPUT_PLACE-FILE", rbxl_str),
            ("INPUT_PLACE-VERSION", "3"),
        ]))
        .unwrap_err();
        assert!(err.problem.contains("conflicts"), "{err}");
    }
}
