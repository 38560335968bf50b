//! JUnit XML, as test-report readers take it (see `render::junit` for the shape).

use super::Exporter;
use crate::report::RunReport;

pub struct Junit;

impl Exporter for Junit {
    fn describe(&self) -> &'static str {
        "JUnit report"
    }

    fn render(&self, report: &RunReport) -> String {
        crate::render::junit::render_junit(report)
    }
}
