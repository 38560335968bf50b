//! lcov's tracefile (`geninfo(1)`'s format), which Codecov, Coveralls, the lcov report Actions
//! and `genhtml` read: per file `SF`, its functions (`FN`/`FNDA`/`FNF`/`FNH`), its lines
//! (`DA`/`LF`/`LH`), `end_of_record`. The same records Luau's own CLI writes for its coverage.

use std::fmt::Write;

use super::{Coverage, FileCoverage};

/// The tracefile of a run's coverage; files in path order.
pub fn render(coverage: &Coverage) -> String {
    let mut out = String::new();
    for (path, file) in &coverage.files {
        out.push_str("TN:\n");
        let _ = writeln!(out, "SF:{}", one_line(path));
        render_functions(&mut out, file);
        for (line, hits) in &file.lines {
            let _ = writeln!(out, "DA:{line},{hits}");
        }
        let totals = file.totals();
        let _ = writeln!(out, "LF:{}", totals.lines_found);
        let _ = writeln!(out, "LH:{}", totals.lines_hit);
        out.push_str("end_of_record\n");
    }
    out
}

fn render_functions(out: &mut String, file: &FileCoverage) {
    if file.functions.is_empty() {
        return;
    }
    // lcov keys functions by name: a name used twice in a file gets its line (`new:12`).
    let mut uses = std::collections::HashMap::<&str, usize>::new();
    for (_, name) in file.functions.keys() {
        *uses.entry(name.as_str()).or_default() += 1;
    }
    let named: Vec<(u32, String, u64)> = file
        .functions
        .iter()
        .map(|((line, name), hits)| {
            let unique = if uses.get(name.as_str()).copied().unwrap_or(0) > 1 {
                format!("{name}:{line}")
            } else {
                name.clone()
            };
            (*line, one_line(&unique).replace(',', ";"), *hits)
        })
        .collect();
    for (line, name, _) in &named {
        let _ = writeln!(out, "FN:{line},{name}");
    }
    for (_, name, hits) in &named {
        let _ = writeln!(out, "FNDA:{hits},{name}");
    }
    let totals = file.totals();
    let _ = writeln!(out, "FNF:{}", totals.functions_found);
    let _ = writeln!(out, "FNH:{}", totals.functions_hit);
}

/// A record holds one line: line breaks in a path or a name would start a bogus record.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Coverage {
        let mut coverage = Coverage::default();
        let mut inventory = FileCoverage::default();
        inventory
            .lines
            .extend([(1, 1), (2, 1), (4, 3), (5, 0), (7, 1)]);
        inventory.functions.insert((1, "<main>".into()), 1);
        inventory.functions.insert((4, "add".into()), 3);
        inventory.functions.insert((5, "remove".into()), 0);
        coverage
            .files
            .insert("src/shared/Inventory.luau".into(), inventory);
        let mut util = FileCoverage::default();
        util.lines.extend([(1, 0), (2, 0)]);
        coverage.files.insert("src/Util.luau".into(), util);
        coverage
    }

    #[test]
    fn the_tracefile_is_exactly_lcovs_records() {
        assert_eq!(
            render(&sample()),
            "TN:\nSF:src/Util.luau\nDA:1,0\nDA:2,0\nLF:2\nLH:0\nend_of_record\n\
             TN:\nSF:src/shared/Inventory.luau\n\
             FN:1,<main>\nFN:4,add\nFN:5,remove\n\
             FNDA:1,<main>\nFNDA:3,add\nFNDA:0,remove\nFNF:3\nFNH:2\n\
             DA:1,1\nDA:2,1\nDA:4,3\nDA:5,0\nDA:7,1\nLF:5\nLH:4\nend_of_record\n"
        );
        assert_eq!(render(&Coverage::default()), "");
    }

    #[test]
    fn names_stay_unique_and_on_one_line() {
        let mut coverage = Coverage::default();
        let mut file = FileCoverage::default();
        file.lines.insert(2, 1);
        file.functions.insert((2, "new".into()), 1);
        file.functions.insert((9, "new".into()), 0);
        file.functions.insert((11, "a,b\nc".into()), 0);
        coverage.files.insert("a\nb.luau".into(), file);
        let text = render(&coverage);
        assert!(text.contains("SF:a b.luau\n"), "{text}");
        assert!(
            text.contains("FN:2,new:2\nFN:9,new:9\nFN:11,a;b c\n"),
            "{text}"
        );
        assert!(text.contains("FNDA:1,new:2\nFNDA:0,new:9\n"), "{text}");
    }
}
