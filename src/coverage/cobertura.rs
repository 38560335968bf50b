//! Cobertura's XML (`coverage-04.dtd`), which GitLab's merge-request coverage
//! (`coverage_format: cobertura`), Codecov and the Cobertura summary Actions read: a package per
//! folder, a class per file, its functions as methods, every line that is code. Luau coverage
//! has no branches: branch figures are 0 and every line says `branch="false"`.

use std::fmt::Write;

use super::{Coverage, FileCoverage, Totals};

/// The report of a run's coverage. `timestamp` is milliseconds since the epoch, as Cobertura
/// writes it; file names are repository paths, relative to the one source `.` (the workspace).
pub fn render(coverage: &Coverage, timestamp_ms: u128) -> String {
    let totals = coverage.totals();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(
        "<!DOCTYPE coverage SYSTEM \"http://cobertura.sourceforge.net/xml/coverage-04.dtd\">\n",
    );
    let _ = writeln!(
        out,
        "<coverage line-rate=\"{}\" branch-rate=\"0\" lines-covered=\"{}\" lines-valid=\"{}\" branches-covered=\"0\" branches-valid=\"0\" complexity=\"0\" version=\"luau-exec {}\" timestamp=\"{timestamp_ms}\">",
        rate(&totals),
        totals.lines_hit,
        totals.lines_found,
        env!("CARGO_PKG_VERSION"),
    );
    out.push_str("\t<sources>\n\t\t<source>.</source>\n\t</sources>\n\t<packages>\n");
    for (package, files) in packages(coverage) {
        let package_totals = files
            .iter()
            .fold(Totals::default(), |sum, (_, file)| sum.plus(file.totals()));
        let _ = writeln!(
            out,
            "\t\t<package name=\"{}\" line-rate=\"{}\" branch-rate=\"0\" complexity=\"0\">\n\t\t\t<classes>",
            escape(&package),
            rate(&package_totals)
        );
        for (path, file) in files {
            render_class(&mut out, path, file);
        }
        out.push_str("\t\t\t</classes>\n\t\t</package>\n");
    }
    out.push_str("\t</packages>\n</coverage>\n");
    out
}

/// Files grouped by folder (`src/shared` is package `src.shared`; the top folder is `.`).
fn packages(coverage: &Coverage) -> Vec<(String, Vec<(&str, &FileCoverage)>)> {
    let mut packages: Vec<(String, Vec<(&str, &FileCoverage)>)> = Vec::new();
    let mut by_name = std::collections::BTreeMap::<String, Vec<(&str, &FileCoverage)>>::new();
    for (path, file) in &coverage.files {
        let folder = path.rsplit_once('/').map_or(".", |(folder, _)| folder);
        let name = if folder == "." {
            ".".to_owned()
        } else {
            folder.replace('/', ".")
        };
        by_name.entry(name).or_default().push((path.as_str(), file));
    }
    packages.extend(by_name);
    packages
}

fn render_class(out: &mut String, path: &str, file: &FileCoverage) {
    let stem = path.rsplit('/').next().unwrap_or(path);
    let name = stem.rsplit_once('.').map_or(stem, |(name, _)| name);
    let _ = writeln!(
        out,
        "\t\t\t\t<class name=\"{}\" filename=\"{}\" line-rate=\"{}\" branch-rate=\"0\" complexity=\"0\">",
        escape(name),
        escape(path),
        rate(&file.totals())
    );
    out.push_str("\t\t\t\t\t<methods>\n");
    for ((line, method), hits) in &file.functions {
        let covered = if *hits > 0 { "1" } else { "0" };
        let _ = writeln!(
            out,
            "\t\t\t\t\t\t<method name=\"{}\" signature=\"\" line-rate=\"{covered}\" branch-rate=\"0\">\n\t\t\t\t\t\t\t<lines>\n\t\t\t\t\t\t\t\t<line number=\"{line}\" hits=\"{hits}\" branch=\"false\"/>\n\t\t\t\t\t\t\t</lines>\n\t\t\t\t\t\t</method>",
            escape(method)
        );
    }
    out.push_str("\t\t\t\t\t</methods>\n\t\t\t\t\t<lines>\n");
    for (line, hits) in &file.lines {
        let _ = writeln!(
            out,
            "\t\t\t\t\t\t<line number=\"{line}\" hits=\"{hits}\" branch=\"false\"/>"
        );
    }
    out.push_str("\t\t\t\t\t</lines>\n\t\t\t\t</class>\n");
}

/// A rate from 0 to 1 with at most four decimals, never rounded up to 1 (`0.99996` is
/// `0.9999`): a reader's threshold must not pass on rounding.
fn rate(totals: &Totals) -> String {
    let rate = (totals.line_rate() * 10_000.0).floor() / 10_000.0;
    let text = format!("{rate:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// Attribute text: markup escaped, and characters XML 1.0 forbids dropped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage::lcov::tests::sample;

    #[test]
    fn the_report_is_exactly_coberturas_elements() {
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE coverage SYSTEM "http://cobertura.sourceforge.net/xml/coverage-04.dtd">
<coverage line-rate="0.5714" branch-rate="0" lines-covered="4" lines-valid="7" branches-covered="0" branches-valid="0" complexity="0" version="luau-exec VERSION" timestamp="1700000000000">
	<sources>
		<source>.</source>
	</sources>
	<packages>
		<package name="src" line-rate="0" branch-rate="0" complexity="0">
			<classes>
				<class name="Util" filename="src/Util.luau" line-rate="0" branch-rate="0" complexity="0">
					<methods>
					</methods>
					<lines>
						<line number="1" hits="0" branch="false"/>
						<line number="2" hits="0" branch="false"/>
					</lines>
				</class>
			</classes>
		</package>
		<package name="src.shared" line-rate="0.8" branch-rate="0" complexity="0">
			<classes>
				<class name="Inventory" filename="src/shared/Inventory.luau" line-rate="0.8" branch-rate="0" complexity="0">
					<methods>
						<method name="&lt;main&gt;" signature="" line-rate="1" branch-rate="0">
							<lines>
								<line number="1" hits="1" branch="false"/>
							</lines>
						</method>
						<method name="add" signature="" line-rate="1" branch-rate="0">
							<lines>
								<line number="4" hits="3" branch="false"/>
							</lines>
						</method>
						<method name="remove" signature="" line-rate="0" branch-rate="0">
							<lines>
								<line number="5" hits="0" branch="false"/>
							</lines>
						</method>
					</methods>
					<lines>
						<line number="1" hits="1" branch="false"/>
						<line number="2" hits="1" branch="false"/>
						<line number="4" hits="3" branch="false"/>
						<line number="5" hits="0" branch="false"/>
						<line number="7" hits="1" branch="false"/>
					</lines>
				</class>
			</classes>
		</package>
	</packages>
</coverage>
"#
        .replace("VERSION", env!("CARGO_PKG_VERSION"));
        assert_eq!(render(&sample(), 1_700_000_000_000), expected);
    }

    #[test]
    fn an_empty_run_is_a_valid_empty_report() {
        let text = render(&Coverage::default(), 0);
        assert!(text.contains("<coverage line-rate=\"1\" "), "{text}");
        assert!(text.contains("\t<packages>\n\t</packages>\n"), "{text}");
    }

    #[test]
    fn rates_are_never_rounded_up() {
        let totals = |hit, found| Totals {
            lines_found: found,
            lines_hit: hit,
            ..Totals::default()
        };
        assert_eq!(rate(&totals(99_999, 100_000)), "0.9999");
        assert_eq!(rate(&totals(1, 3)), "0.3333");
        assert_eq!(rate(&totals(3, 3)), "1");
        assert_eq!(rate(&totals(0, 3)), "0");
        assert_eq!(escape("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos;");
    }
}
