//! What the run writes about itself: coverage (its measure, files and threshold), and the files
//! the GitHub runner hands us for step outputs and the job summary. (`junit-path` is read in
//! [`super::load`].)

use std::path::PathBuf;

use super::files::check_writable;
use super::inputs::{
    GITHUB_OUTPUT, GITHUB_REPOSITORY, GITHUB_SERVER_URL, GITHUB_SHA, GITHUB_STEP_SUMMARY,
    GITHUB_WORKSPACE, Inputs,
};
use super::tasks::Work;
use super::{ConfigError, OutputFormat, Problems, shorten};
use crate::results::bootstrap::Suite;

/// Files the GitHub runner gives us, when running as an action.
#[derive(Debug, Clone, Default)]
pub struct GithubFiles {
    pub output: Option<PathBuf>,
    pub step_summary: Option<PathBuf>,
    /// `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/blob/$GITHUB_SHA`, for links to failing lines.
    pub blob_base: Option<String>,
}

/// More instances than this to enable coverage on, and their parents stand in for them (see
/// [`crate::coverage::select::roots`]): the list rides in the task script.
const MAX_COVERAGE_ROOTS: usize = 500;

/// The `coverage-*` inputs: any of them asks for coverage, which needs the sourcemap (it maps
/// modules to repository files). With a suite, the bootstrap is told which instances to
/// measure: the modules that count, so nothing else is compiled with counters.
pub(super) fn load_coverage(
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
    measure_roots(problems, first, &selection, work)?;
    let cwd = std::env::current_dir().unwrap_or_default();
    let workspace = inputs
        .var(GITHUB_WORKSPACE)
        .map_or_else(|| cwd.clone(), |w| cwd.join(w));
    Some(crate::coverage::Spec {
        lcov,
        cobertura,
        threshold,
        selection,
        workspace,
    })
}

/// Which instances the bootstrap measures: the sourcemap's modules that count, as roots
/// written into every unit's script. `None` (with the problem kept under `first`, the first
/// `coverage-*` input given) when there is no sourcemap or nothing counts.
fn measure_roots(
    problems: &mut Problems,
    first: &'static str,
    selection: &crate::coverage::Selection,
    work: &mut Work,
) -> Option<()> {
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
    Some(())
}

/// Writes the coverage roots into the suite's bootstrap, every shard's included.
pub(super) fn set_coverage_roots(work: &mut Work, roots: &[String]) {
    if let Some(suite) = &mut work.suite {
        suite.coverage = Some(roots.to_vec());
    }
    for unit in &mut work.units {
        if let Some(suite) = &mut unit.suite {
            suite.coverage = Some(roots.to_vec());
            unit.script = crate::results::bootstrap::script(suite);
        }
    }
}

/// `80`, `80%`, `72.5`: a share of lines from 0 to 100.
pub(super) fn parse_threshold(text: &str) -> Result<f64, ConfigError> {
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

/// The runner's files, when the output is GitHub's.
pub(super) fn github_files(inputs: &Inputs<'_>, output_format: OutputFormat) -> GithubFiles {
    if output_format != OutputFormat::Github {
        return GithubFiles::default();
    }
    GithubFiles {
        output: inputs.var(GITHUB_OUTPUT).map(PathBuf::from),
        step_summary: inputs.var(GITHUB_STEP_SUMMARY).map(PathBuf::from),
        blob_base: match (
            inputs.var(GITHUB_SERVER_URL),
            inputs.var(GITHUB_REPOSITORY),
            inputs.var(GITHUB_SHA),
        ) {
            (Some(server), Some(repository), Some(sha)) => Some(format!(
                "{}/{repository}/blob/{sha}",
                server.trim_end_matches('/')
            )),
            _ => None,
        },
    }
}
