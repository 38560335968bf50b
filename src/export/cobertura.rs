//! Cobertura XML of the step's coverage (GitLab's merge-request coverage, Cobertura summary
//! Actions). Its `timestamp` is when the step ended.

use super::Exporter;
use crate::coverage::Coverage;
use crate::report::StepReport;

pub struct Cobertura {
    timestamp_ms: u128,
}

impl Cobertura {
    pub fn now() -> Self {
        let timestamp_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis());
        Self { timestamp_ms }
    }
}

impl Exporter for Cobertura {
    fn describe(&self) -> &'static str {
        "Cobertura coverage report"
    }

    fn render(&self, report: &StepReport) -> String {
        let none = Coverage::unavailable(crate::coverage::NO_RESULTS);
        let coverage = report.coverage.as_ref().unwrap_or(&none);
        crate::coverage::cobertura::render(coverage, self.timestamp_ms)
    }
}
