//! The lcov tracefile of the step's coverage (Codecov, Coveralls and the lcov Actions read it).

use super::Exporter;
use crate::coverage::Coverage;
use crate::report::StepReport;

pub struct Lcov;

impl Exporter for Lcov {
    fn describe(&self) -> &'static str {
        "lcov coverage report"
    }

    fn render(&self, report: &StepReport) -> String {
        let none = Coverage::unavailable(crate::coverage::NO_RESULTS);
        crate::coverage::lcov::render(report.coverage.as_ref().unwrap_or(&none))
    }
}
