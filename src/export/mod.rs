//! Report formats as exporters: each turns the step's [`StepReport`] into text and never writes;
//! [`write_files`] writes every file export whole (through [`crate::files`]) and folds a failure
//! into the step's outcome (exit 11, or whatever more serious already happened), and
//! [`append_github`] appends the GitHub step files after the console has shown the end.
//!
//! Adding a format is a new file here with an [`Exporter`] and a line in [`file_exports`] (or
//! [`github_exports`]).

mod cobertura;
mod junit;
mod lcov;
mod outputs;
mod summary;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Plan;
use crate::outcome::Outcome;
use crate::report::{Problem, StepReport};
use crate::secret::Redactor;

/// One report format.
pub trait Exporter {
    /// What the written file is, for messages: "JUnit report", "lcov coverage report".
    fn describe(&self) -> &'static str;
    /// The whole text of the format for this report.
    fn render(&self, report: &StepReport) -> String;
}

/// An exporter and where its text goes.
pub struct Export {
    pub exporter: Box<dyn Exporter>,
    pub path: PathBuf,
}

/// The files the step writes, in the order they are written: coverage first (its reports stand
/// whatever happens to the others), then JUnit.
pub fn file_exports(config: &Plan) -> Vec<Export> {
    let mut exports = Vec::new();
    let mut add = |path: Option<&PathBuf>, exporter: Box<dyn Exporter>| {
        if let Some(path) = path {
            exports.push(Export {
                exporter,
                path: path.clone(),
            });
        }
    };
    if let Some(spec) = &config.coverage {
        add(spec.lcov.as_ref(), Box::new(lcov::Lcov));
        add(
            spec.cobertura.as_ref(),
            Box::new(cobertura::Cobertura::now()),
        );
    }
    add(config.junit_path.as_ref(), Box::new(junit::Junit));
    exports
}

/// The GitHub files appended to when running as an action: the step outputs, then the job
/// summary.
pub fn github_exports(config: &Plan) -> Vec<Export> {
    let mut exports: Vec<Export> = Vec::new();
    if let Some(path) = &config.github.output {
        exports.push(Export {
            exporter: Box::new(outputs::Outputs),
            path: path.clone(),
        });
    }
    if let Some(path) = &config.github.step_summary {
        exports.push(Export {
            exporter: Box::new(summary::Summary {
                blob_base: config.github.blob_base.clone(),
            }),
            path: path.clone(),
        });
    }
    exports
}

/// Writes each export whole, redacted. A file that cannot be written leaves what was there,
/// and the step's outcome becomes the more serious of its own and [`Outcome::LocalWriteFailed`],
/// with the problem said after the run's own.
pub fn write_files(exports: &[Export], mut report: StepReport, redactor: &Redactor) -> StepReport {
    for export in exports {
        let text = export.exporter.render(&report);
        if let Err(error) =
            crate::files::write_whole(&export.path, redactor.redact(&text).as_bytes())
        {
            let problem = Problem::WriteFailed {
                what: export.exporter.describe(),
                path: export.path.clone(),
                error: std::sync::Arc::new(error),
            };
            let before = report.problem.take().unwrap_or_else(|| Problem::Ended {
                headline: report.headline(),
                exit_code: report.outcome.exit_code(),
            });
            report.problem = Some(before.then(problem));
            report.outcome = Outcome::fold([report.outcome, Outcome::LocalWriteFailed]);
        }
    }
    report
}

/// Appends each export to its GitHub file. These files belong to the runner: a failure is said
/// on stderr and does not change the outcome (the step's own result is already shown).
pub fn append_github(exports: &[Export], report: &StepReport, redactor: &Redactor) {
    for export in exports {
        let text = export.exporter.render(report);
        if let Err(error) = append(&export.path, &redactor.redact(&text)) {
            crate::error_line(&format!(
                "cannot write {} ({}): {error}",
                export.exporter.describe(),
                export.path.display()
            ));
        }
    }
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a fixed text, so a test can see which file got what.
    struct Fixed(&'static str);

    impl Exporter for Fixed {
        fn describe(&self) -> &'static str {
            "fixed report"
        }
        fn render(&self, _report: &StepReport) -> String {
            self.0.to_owned()
        }
    }

    fn export(text: &'static str, path: PathBuf) -> Export {
        Export {
            exporter: Box::new(Fixed(text)),
            path,
        }
    }

    #[test]
    fn every_file_is_written_and_a_failure_is_exit_11_after_the_runs_own_problem() {
        let dir = std::env::temp_dir().join(format!("luau-exec-export-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let written = dir.join("after.txt");
        // A folder where a file should go cannot be written (and is not touched).
        let exports = [export("one", dir.clone()), export("two", written.clone())];
        let mut report = StepReport::new(Outcome::TestsFailed);
        report.problem = Some(Problem::Tests(crate::results::TestsProblem::Failed {
            failed: 2,
            total: 3,
        }));
        let report = write_files(&exports, report, &Redactor::default());
        assert_eq!(report.outcome, Outcome::LocalWriteFailed);
        let problem = report.problem.map(|p| p.to_string()).unwrap_or_default();
        assert!(
            problem.starts_with("2 of 3 tests failed; then cannot write the fixed report `"),
            "{problem}"
        );
        assert_eq!(std::fs::read_to_string(&written).unwrap(), "two");
        assert!(dir.is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_write_failure_never_hides_a_more_serious_outcome() {
        let dir = std::env::temp_dir();
        let report = write_files(
            &[export("x", dir)],
            StepReport::new(Outcome::WaitTimeout),
            &Redactor::default(),
        );
        assert_eq!(report.outcome, Outcome::WaitTimeout);
        let problem = report.problem.map(|p| p.to_string()).unwrap_or_default();
        assert!(
            problem.starts_with("WAIT TIMEOUT (9); then cannot write the fixed report `"),
            "{problem}"
        );
    }

    #[test]
    fn the_key_never_reaches_a_file() {
        let dir = std::env::temp_dir().join(format!("luau-exec-export-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("report.txt");
        let key = crate::secret::ApiKey::new("a-key-long-enough-to-scrub-0123456789".into());
        let exports = [export(
            "a-key-long-enough-to-scrub-0123456789 leaked",
            path.clone(),
        )];
        write_files(
            &exports,
            StepReport::new(Outcome::Complete),
            &key.redactor(),
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("a-key-long-enough"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
