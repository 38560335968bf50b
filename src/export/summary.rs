//! The job summary (`GITHUB_STEP_SUMMARY`), Markdown with links to the repository's files.

use super::Exporter;
use crate::report::StepReport;

pub struct Summary {
    /// Where repository files are browsed (`https://github.com/o/r/blob/<sha>`), for links.
    pub blob_base: Option<String>,
}

impl Exporter for Summary {
    fn describe(&self) -> &'static str {
        "GITHUB_STEP_SUMMARY"
    }

    fn render(&self, report: &StepReport) -> String {
        crate::render::summary::render_summary(report, self.blob_base.as_deref())
    }
}
