//! JUnit XML, as test-report readers take it (see `render::junit` for the shape).

use super::Exporter;
use crate::report::StepReport;

pub struct Junit;

impl Exporter for Junit {
    fn describe(&self) -> &'static str {
        "JUnit report"
    }

    fn render(&self, report: &StepReport) -> String {
        crate::render::junit::render_junit(report)
    }
}
