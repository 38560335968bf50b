//! What the tasks run: the suite's shards, the files of `script-path` or the one script, as the
//! step's units; how many run at once; how long the step waits for them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::files::check_file;
use super::inputs::{GITHUB_WORKSPACE, Inputs};
use super::suite::{load_sourcemap, load_suite};
use super::{ConfigError, Problems, duration_error, shorten};
use crate::duration;
use crate::results::Locator;
use crate::results::bootstrap::{Framework, Suite};
use crate::roblox::{MAX_SCRIPT_BYTES, MAX_TASK_TIMEOUT, TASKS_PER_PLACE};

/// How long to wait beyond the task's own limit before giving up on it. The task clock starts
/// after the place boots: peers measured warm boots of 4–7 s and cold boots (a version nobody
/// has booted, such as one just uploaded) of up to ~45 s, and the place may first queue behind
/// other tasks (10 per place). 90 s covers a cold boot twice over, so Roblox's own
/// `DEADLINE_EXCEEDED` normally arrives before we give up.
pub const WAIT_GRACE: Duration = Duration::from_secs(90);

/// One task of the step: what differs from task to task. Built at load, one per unit of work
/// (a file of `script-path`, a suite's shard, or the one script or suite); the place it runs
/// on is the schedule's to choose.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// How the step's output names it: the script's path, or `shard 2/4`. `None` for the
    /// step's own task, a step of one, which runs as the step itself and is shown unlabelled.
    pub label: Option<String>,
    /// The Luau the task runs: a file's text, the inline script, or the suite's bootstrap.
    pub script: String,
    /// The file the script came from (`script-path`), where `TaskScript:N` errors point.
    pub script_path: Option<PathBuf>,
    /// With a `test-framework`: the suite (or its shard) the bootstrap runs.
    pub suite: Option<Suite>,
    /// Maps this task's engine locations (`ReplicatedStorage.Tests.math.spec:7`,
    /// `TaskScript:3`) to files: the step's sourcemap, with its own script's file.
    pub locator: Locator,
}

impl TaskSpec {
    /// The label, or nothing for the step's own task.
    pub fn name(&self) -> &str {
        self.label.as_deref().unwrap_or_default()
    }
}

/// A unit of work as read, before its locator is known.
struct Unit {
    label: String,
    script: String,
    script_path: Option<PathBuf>,
    suite: Option<Suite>,
}

/// More shards than this is a typo, not a plan (and would take minutes of creates to start).
pub const MAX_SHARDS: usize = 100;
/// The most script files one step runs, one task each. At Roblox's 40 creates a minute, 1,000
/// tasks take 25 minutes just to start; a glob that matches more is a mistake (a whole tree, a
/// generated folder), and is refused before any file is read rather than after minutes of
/// reading and sorting them. Globs stop matching one file past it, so the refusal is quick
/// however many files a glob would match.
pub const MAX_SCRIPT_FILES: usize = 1_000;

/// How the step presents itself, decided once with its units: everything that differs between
/// a run of one and a step of several is read from this, never from the number of units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presentation {
    /// One unlabelled task that speaks as the step: its events go straight to the console (its
    /// own poller beats), its place upload is called its own (an interruption there is before
    /// its creation), `wait-timeout` counts from its creation, and its report is the step's.
    OneTask,
    /// Labelled tasks: the step announces them, beats for them all, says each one's end with
    /// its exit code, shares one deadline from its start after the upload, and merges their
    /// reports.
    Labelled,
    /// A suite the step split across the machine's cores without being asked (`shards` not
    /// given: see [`default_shards`]), shown as the one run the user asked for: no shard is
    /// announced or named on the console, they share one deadline, and their reports fold into
    /// one task's ([`crate::report::whole`]), so what a user reads does not depend on the
    /// machine's number of cores.
    Whole,
}

/// What the tasks run: the suite or scripts, as units, and how failures are located.
pub(super) struct Work {
    pub(super) suite: Option<Suite>,
    pub(super) units: Vec<TaskSpec>,
    pub(super) presentation: Presentation,
    pub(super) locator: Locator,
}

/// The suite or the scripts, as the step's units, and the locator for their failures.
pub(super) fn load_work(inputs: &Inputs<'_>, problems: &mut Problems) -> Option<Work> {
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
    let sourcemap = inputs
        .input("sourcemap", &args.sourcemap)
        .map(|p| problems.take(load_sourcemap(Path::new(&p), inputs.var(GITHUB_WORKSPACE))));
    let (suite, (script, script_files)) = (suite?, script?);
    let (units, asked) = problems.take(load_units(inputs, &suite, &script, &script_files))?;
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
    let presentation = match (units.len(), asked) {
        (1, _) => Presentation::OneTask,
        (_, true) => Presentation::Labelled,
        (_, false) => Presentation::Whole,
    };
    let units = task_specs(units, presentation, &locator);
    Some(Work {
        suite,
        units,
        presentation,
        locator,
    })
}

/// The step's tasks, each with its locator. A step of one unit runs it as the step's own task,
/// unlabelled (as a run of one script always was); a step of several labels each (shards of a
/// whole run too, though the console never shows their labels).
fn task_specs(units: Vec<Unit>, presentation: Presentation, locator: &Locator) -> Vec<TaskSpec> {
    let labelled = presentation != Presentation::OneTask;
    units
        .into_iter()
        .map(|unit| TaskSpec {
            label: labelled.then_some(unit.label),
            locator: locator.for_script(
                unit.script_path
                    .as_ref()
                    .map(|p| p.display().to_string().replace('\\', "/")),
            ),
            script: unit.script,
            script_path: unit.script_path,
            suite: unit.suite,
        })
        .collect()
}

/// `wait-timeout`, or the default: one task's wait for every wave of `parallel` tasks.
pub(super) fn load_wait_timeout(
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

/// The step's units of work: the suite's shards, the files of `script-path`, or the one script;
/// and whether the user asked for them (false for shards the step chose, see
/// [`default_shards`]).
fn load_units(
    inputs: &Inputs<'_>,
    suite: &Option<Suite>,
    script: &str,
    script_files: &[PathBuf],
) -> Result<(Vec<Unit>, bool), ConfigError> {
    let shards = load_shards(inputs, suite.as_ref())?;
    if let Some(suite) = suite {
        let queue = load_work_queue(inputs, suite, shards.count)?;
        return Ok((
            suite_units(suite, script, shards.count, queue),
            shards.asked,
        ));
    }
    load_script_units(script, script_files).map(|units| (units, true))
}

/// The units of a step without a suite: the files of `script-path`, or the one script.
fn load_script_units(script: &str, script_files: &[PathBuf]) -> Result<Vec<Unit>, ConfigError> {
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

/// How many tasks a suite is split across, and whether the user asked for that.
#[derive(Debug, Clone, Copy)]
struct Shards {
    count: usize,
    asked: bool,
}

/// `shards`: how many tasks a suite is split across (only with a suite, and for Jest-Lua, which
/// splits by root, at most one per root). `auto`: see [`auto_shards`]; not given: see
/// [`default_shards`].
fn load_shards(inputs: &Inputs<'_>, suite: Option<&Suite>) -> Result<Shards, ConfigError> {
    let asked = |count| Shards { count, asked: true };
    let shards = match inputs.input("shards", &inputs.args.shards) {
        None => {
            return Ok(Shards {
                count: default_shards(inputs, suite),
                asked: false,
            });
        }
        Some(text) if text == "auto" && suite.is_some() => {
            return Ok(asked(auto_shards(inputs, suite)));
        }
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
    match suite {
        Some(suite) if suite.framework == Framework::Jest && shards > suite.roots.len() => {
            Err(ConfigError::new(
                "shards",
                format!(
                    "Jest-Lua is split by test root, and `test-roots` lists {}: give at most that many shards",
                    suite.roots.len()
                ),
            ))
        }
        _ => Ok(asked(shards)),
    }
}

/// `work-stealing` (`true` unless given): the sorted map a sharded TestEZ suite's tasks claim
/// spec modules from, named for this step alone. `None` for one task, for Jest-Lua (split by
/// root, dealt out statically) and with `work-stealing: false`.
fn load_work_queue(
    inputs: &Inputs<'_>,
    suite: &Suite,
    shards: usize,
) -> Result<Option<String>, ConfigError> {
    let stealing = match inputs.input("work-stealing", &inputs.args.work_stealing) {
        None => true,
        Some(text) if text.eq_ignore_ascii_case("true") => true,
        Some(text) if text.eq_ignore_ascii_case("false") => false,
        Some(text) => {
            return Err(ConfigError::new(
                "work-stealing",
                format!("`{}` must be `true` or `false`", shorten(&text)),
            ));
        }
    };
    Ok(
        (stealing && shards > 1 && crate::work_queue::supports(suite.framework))
            .then(crate::work_queue::new_map_name),
    )
}

/// `shards` not given: what `auto` gives (one shard per core for a local TestEZ suite whose
/// `parallel` is not given, else 1). One VM runs on one core, so a local suite as one task
/// leaves every other core idle: split, 25,000 TestEZ tests take about half the time on two
/// cores. The step presents the shards as the one run the user asked for
/// ([`Presentation::Whole`]), so nothing a user reads depends on the number of cores; `shards:
/// 1` runs one task.
fn default_shards(inputs: &Inputs<'_>, suite: Option<&Suite>) -> usize {
    auto_shards(inputs, suite)
}

/// `shards: auto`: on the local backend a TestEZ suite runs as one shard per core (each on a VM
/// and thread of its own, merged as given shards are), since one VM runs on one core; Jest-Lua
/// (split by root), Open Cloud (each task a server of its own) and a run whose `parallel` is
/// given (the user chose how many tasks run at once) get one task.
fn auto_shards(inputs: &Inputs<'_>, suite: Option<&Suite>) -> usize {
    let local = inputs.input("backend", &inputs.args.backend).as_deref() == Some("local");
    let parallel_given = inputs.input("parallel", &inputs.args.parallel).is_some();
    match suite {
        Some(suite) if local && !parallel_given && suite.framework == Framework::TestEz => {
            std::thread::available_parallelism()
                .map_or(1, std::num::NonZeroUsize::get)
                .clamp(1, MAX_SHARDS)
        }
        _ => 1,
    }
}

/// A suite's units: the whole suite (labelled by its roots), or one per shard, each with the
/// bootstrap that runs its share (or, with `queue`, claims spec modules from it).
fn suite_units(suite: &Suite, script: &str, shards: usize, queue: Option<String>) -> Vec<Unit> {
    if shards == 1 {
        return vec![Unit {
            label: suite.roots.join(", "),
            script: script.to_owned(),
            script_path: None,
            suite: Some(suite.clone()),
        }];
    }
    (1..=shards)
        .map(|index| {
            let shard = crate::results::bootstrap::Shard {
                index,
                count: shards,
            };
            let suite = Suite {
                shard: Some(shard),
                work_queue: queue.clone(),
                ..suite.clone()
            };
            Unit {
                label: shard.to_string(),
                script: crate::results::bootstrap::script(&suite),
                script_path: None,
                suite: Some(suite),
            }
        })
        .collect()
}

/// The files `script-path` names: paths or globs (`tests/**/*.luau`), separated by commas or
/// lines; each glob's matches in sorted order; none twice.
pub(super) fn script_paths(inputs: &Inputs<'_>) -> Result<Vec<PathBuf>, ConfigError> {
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
pub(super) fn load_parallel(
    inputs: &Inputs<'_>,
    units: usize,
    places: usize,
) -> Result<usize, ConfigError> {
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

/// The script's text (the first file's, for several), and every file of `script-path` (where
/// `TaskScript:N` locations point); no files for inline Luau.
pub(super) fn load_script(inputs: &Inputs<'_>) -> Result<(String, Vec<PathBuf>), ConfigError> {
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
pub(super) fn read_script_file(path: &str) -> Result<String, ConfigError> {
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

pub(super) fn parse_task_timeout(text: &str) -> Result<Duration, ConfigError> {
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
