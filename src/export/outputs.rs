//! The step outputs (`GITHUB_OUTPUT`), each value under a fresh random heredoc delimiter.

use super::Exporter;
use crate::render::outputs::{outputs, random_delimiter, render_outputs};
use crate::report::StepReport;

pub struct Outputs;

impl Exporter for Outputs {
    fn describe(&self) -> &'static str {
        "GITHUB_OUTPUT"
    }

    fn render(&self, report: &StepReport) -> String {
        render_outputs(&outputs(report), random_delimiter)
    }
}
