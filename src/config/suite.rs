//! The test suite luau-exec writes a bootstrap for (`test-framework` and its inputs), and Rojo's
//! sourcemap, which maps the suite's instances to repository files.

use std::path::Path;

use super::files::check_file;
use super::inputs::{Inputs, RUNNER_DEBUG};
use super::{ConfigError, shorten};
use crate::results::Sourcemap;
use crate::results::bootstrap::{Framework, Suite};

/// The test suite, when `test-framework` is given.
pub(super) fn load_suite(inputs: &Inputs<'_>) -> Result<Option<Suite>, ConfigError> {
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
        // `false` (or an action's empty default) without a suite is no mistake.
        if live_progress(inputs)? {
            return Err(ConfigError::new(
                "live-progress",
                "is used only with `test-framework`: the bootstraps report each test as it ends",
            ));
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
    let live = live_progress(inputs)?;
    Ok(Some(Suite {
        framework,
        roots,
        name_pattern: inputs.input("test-name-pattern", &args.test_name_pattern),
        framework_path,
        setup,
        shard: None,
        work_queue: None,
        framework_output: inputs.var(RUNNER_DEBUG).as_deref() == Some("1"),
        coverage: None,
        live,
    }))
}

/// `live-progress`: `true` or `false` (default).
fn live_progress(inputs: &Inputs<'_>) -> Result<bool, ConfigError> {
    match inputs
        .input("live-progress", &inputs.args.live_progress)
        .as_deref()
    {
        None => Ok(false),
        Some(text) if text.eq_ignore_ascii_case("true") => Ok(true),
        Some(text) if text.eq_ignore_ascii_case("false") => Ok(false),
        Some(text) => Err(ConfigError::new(
            "live-progress",
            format!("`{}` must be `true` or `false`", shorten(text)),
        )),
    }
}

/// `Service.Child.Grandchild`: dot-separated, non-empty names, no line breaks.
pub(super) fn is_instance_path(path: &str) -> bool {
    !path.is_empty()
        && !path.contains(['\n', '\r'])
        && path.split('.').all(|name| !name.trim().is_empty())
}

/// Reads Rojo's sourcemap; its paths are relative to its own folder, and are kept only inside
/// the workspace: `GITHUB_WORKSPACE` (the repository, on GitHub), else the working directory.
pub(super) fn load_sourcemap(
    path: &Path,
    workspace: Option<String>,
) -> Result<Sourcemap, ConfigError> {
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
