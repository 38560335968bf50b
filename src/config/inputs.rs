//! Where values come from: CLI flags, then `INPUT_*` variables (as a GitHub Docker action
//! passes them), then the rest of the environment. The variables luau-exec reads besides the
//! inputs are named here, once.

/// `true` when GitHub Actions runs us: the output defaults to `github`, and messages speak of
/// action inputs (`api-key`, `secrets.*`) rather than flags and `INPUT_*` variables.
pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
/// `1` when a workflow is re-run with debug logging: our debug events, and the framework's own
/// output, are shown.
pub const RUNNER_DEBUG: &str = "RUNNER_DEBUG";
/// no-color.org: present and not empty disables colour.
pub const NO_COLOR: &str = "NO_COLOR";
/// The repository's checkout: sourcemap paths and coverage files are kept inside it.
pub const GITHUB_WORKSPACE: &str = "GITHUB_WORKSPACE";
/// The file a step's outputs are appended to.
pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
/// The file the job summary's Markdown is appended to.
pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";
/// With [`GITHUB_REPOSITORY`] and [`GITHUB_SHA`]: links from failures to the failing lines.
pub const GITHUB_SERVER_URL: &str = "GITHUB_SERVER_URL";
/// `owner/name` of the repository.
pub const GITHUB_REPOSITORY: &str = "GITHUB_REPOSITORY";
/// The commit the workflow runs on.
pub const GITHUB_SHA: &str = "GITHUB_SHA";
/// Tests only: every wait of the run (poll intervals, slot lag, heartbeats) times this factor,
/// from above 0 to 1.
pub const LUAU_EXEC_TEST_TIME_SCALE: &str = "LUAU_EXEC_TEST_TIME_SCALE";
/// The key `luau-exec serve` requires of its clients, if set.
pub const LUAU_EXEC_SERVE_API_KEY: &str = "LUAU_EXEC_SERVE_API_KEY";

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
    /// `true` (default): a place file whose bytes were uploaded before is not uploaded again
    /// (the version is recorded in a memory-store sorted map); `false`: upload every run.
    #[arg(long, allow_hyphen_values = true)]
    pub place_reuse: Option<String>,
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
    /// With `test-framework`: `true` reports each test while the task runs, through a
    /// memory-store sorted map (the key needs `memory-store.sorted-map:read` and `:write`).
    #[arg(long, allow_hyphen_values = true)]
    pub live_progress: Option<String>,
    /// Rojo's sourcemap.json, to map failures to files and lines.
    #[arg(long, allow_hyphen_values = true)]
    pub sourcemap: Option<String>,
    /// Where to write a JUnit XML report of the tests.
    #[arg(long, allow_hyphen_values = true)]
    pub junit_path: Option<String>,
    /// With `test-framework`: split the suite across this many tasks (default 1).
    #[arg(long, allow_hyphen_values = true)]
    pub shards: Option<String>,
    /// With `shards`: `true` (default) lets a TestEZ suite's tasks take spec modules one at a
    /// time from a shared counter (work stealing); `false` deals them out by name in advance.
    #[arg(long, allow_hyphen_values = true)]
    pub work_stealing: Option<String>,
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
    pub(super) args: &'a RunArgs,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Inputs<'a> {
    pub fn new(args: &'a RunArgs, env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { args, env }
    }

    /// A non-empty environment variable.
    pub(super) fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.is_empty())
    }

    /// An input from the environment: `INPUT_API-KEY` (GitHub) or `INPUT_API_KEY` (docker -e).
    pub(super) fn env_input(&self, name: &str) -> Option<String> {
        let upper = name.to_ascii_uppercase();
        self.var(&format!("INPUT_{upper}"))
            .or_else(|| self.var(&format!("INPUT_{}", upper.replace('-', "_"))))
    }

    /// A trimmed input, flag first; empty means not given.
    pub(super) fn input(&self, name: &str, flag: &Option<String>) -> Option<String> {
        flag.clone()
            .or_else(|| self.env_input(name))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }
}

/// Whether GitHub Actions runs us: used to annotate a refused input, when no config exists.
pub fn is_github_actions(env: &dyn Fn(&str) -> Option<String>) -> bool {
    env(GITHUB_ACTIONS).as_deref() == Some("true")
}

/// The key `luau-exec serve` requires, if any (`LUAU_EXEC_SERVE_API_KEY`).
pub fn serve_api_key(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    env(LUAU_EXEC_SERVE_API_KEY).filter(|v| !v.is_empty())
}
