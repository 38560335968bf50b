//! Coverage as data: which lines of which repository files a suite ran, how many times.
//!
//! The task measures it by instance (`ScriptContext:GetCoverageStats()` on Roblox, the same
//! method on the emulator, which reads Luau's own counters); the bootstrap returns it in the
//! results envelope as `coverage` ([`wire`]); here it becomes hits by repository file, through
//! the sourcemap, for the files the [`Selection`] keeps. Several tasks' coverage (a suite's
//! shards) merges by adding hits. [`lcov`] and [`cobertura`] write it in the formats CI tools
//! read. Nothing here does I/O.

pub mod cobertura;
pub mod lcov;
pub mod select;
pub mod wire;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use select::Selection;
pub use wire::{Measured, ScriptHits};

use crate::results::Sourcemap;

/// What the step asked of coverage: its inputs, checked.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// `coverage-lcov`: where to write the lcov tracefile.
    pub lcov: Option<PathBuf>,
    /// `coverage-cobertura`: where to write the Cobertura XML.
    pub cobertura: Option<PathBuf>,
    /// `coverage-threshold`: the least share of lines, in percent, the step accepts.
    pub threshold: Option<f64>,
    /// Which files count (`coverage-include`, `coverage-exclude`, and the defaults).
    pub selection: Selection,
    /// The workspace the sourcemap's paths are relative to, where files no task loaded are
    /// read from.
    pub workspace: PathBuf,
}

/// Files read to count as never run are at most this large (a module is far smaller).
const MAX_SOURCE_BYTES: u64 = 16 * 1024 * 1024;

/// Adds the files that count but that no task loaded (no spec required them), read from the
/// workspace and counted by `never_run` (every line that is code, run 0 times), so a module
/// without tests lowers the figure instead of vanishing from it. Files that cannot be read or
/// counted are named in a note.
pub fn add_never_loaded(
    coverage: &mut Coverage,
    spec: &Spec,
    sourcemap: Option<&Sourcemap>,
    never_run: impl Fn(&str) -> Option<FileCoverage>,
) {
    let Some(sourcemap) = sourcemap else {
        return;
    };
    if coverage.missing.is_some() {
        return;
    }
    let mut unread = Vec::new();
    for (name, path) in sourcemap.module_files() {
        let known = coverage.files.contains_key(path) || coverage.cut.contains(path);
        if known || !spec.selection.selects(name, path) {
            continue;
        }
        let file = spec.workspace.join(path);
        let source = std::fs::metadata(&file)
            .ok()
            .filter(|meta| meta.is_file() && meta.len() <= MAX_SOURCE_BYTES)
            .and_then(|_| std::fs::read(&file).ok());
        match source.and_then(|bytes| never_run(&String::from_utf8_lossy(&bytes))) {
            Some(counted) => {
                coverage.files.insert(path.to_owned(), counted);
            }
            None => unread.push(path.to_owned()),
        }
    }
    if let Some(first) = unread.first() {
        coverage.notes.push(format!(
            "{} that no task loaded could not be read or compiled here, so they are not counted (the first: {first})",
            crate::text::count(unread.len(), "file", "files")
        ));
    }
}

/// The coverage a task returned in its first value, as repository files: what it measured, or
/// why nothing (the engine refused, the script returned none, it could not be read).
pub fn of_results(first: Option<&str>, spec: &Spec, sourcemap: Option<&Sourcemap>) -> Coverage {
    let Some(first) = first else {
        return Coverage::unavailable(NO_RESULTS);
    };
    match wire::from_envelope(first) {
        Some(Ok(measured)) => Coverage::from_measured(&measured, sourcemap, &spec.selection),
        Some(Err(problem)) => Coverage::unavailable(format!(
            "coverage was not available: the task's coverage could not be read: {problem}"
        )),
        None => Coverage::unavailable(
            "coverage was not available: the task's results carry no `coverage` (a script of your own must return it in the results envelope)",
        ),
    }
}

/// Why a task that returned nothing measured nothing.
pub const NO_RESULTS: &str = "coverage was not available: the task returned no results";

/// A step's tasks' coverage together (a suite's shards), each named by its label in what it
/// says; a task that returned none counts as one that measured nothing.
pub fn merge_units<'a>(
    units: impl IntoIterator<Item = (&'a str, Option<&'a Coverage>)>,
) -> Coverage {
    let mut merged: Option<Coverage> = None;
    for (label, coverage) in units {
        let mut part = coverage
            .cloned()
            .unwrap_or_else(|| Coverage::unavailable(NO_RESULTS));
        part.missing = part.missing.map(|why| format!("{label}: {why}"));
        part.notes = part
            .notes
            .into_iter()
            .map(|note| format!("{label}: {note}"))
            .collect();
        match &mut merged {
            Some(merged) => merged.merge(part),
            None => merged = Some(part),
        }
    }
    merged.unwrap_or_default()
}

/// Why the step fails its `coverage-threshold`, if it does.
pub fn below_threshold(
    coverage: &Coverage,
    threshold: f64,
    github_actions: bool,
) -> Option<String> {
    let input = crate::text::input_name("coverage-threshold", github_actions);
    let asked = format_percent(threshold);
    if let Some(why) = &coverage.missing {
        return Some(format!("{input} asks for {asked}% of lines, but {why}"));
    }
    let totals = coverage.totals();
    match totals.percent() {
        Some(percent) if percent >= threshold => None,
        Some(percent) => Some(format!(
            "{input}: {}% of lines ran ({} of {}), below the {asked}% asked for",
            format_percent(percent),
            totals.lines_hit,
            totals.lines_found
        )),
        None => Some(format!(
            "{input} asks for {asked}% of lines, but no line of the selected files was measured"
        )),
    }
}

/// The figure the reports print after `Coverage: `: `82.5% of lines (33 of 40) in 3 files`,
/// or `none (why)`.
pub fn headline(coverage: &Coverage) -> String {
    if let Some(why) = &coverage.missing {
        return format!("none ({why})");
    }
    let totals = coverage.totals();
    let percent = totals.percent().map_or("no lines".to_owned(), |p| {
        format!("{}% of lines", format_percent(p))
    });
    format!(
        "{percent} ({} of {}) in {}",
        totals.lines_hit,
        totals.lines_found,
        crate::text::count(coverage.files.len(), "file", "files")
    )
}

/// The `json` format's `coverage`: the totals and each file's figures (not every line: the
/// lcov and Cobertura files carry those).
pub fn json_value(coverage: &Coverage) -> serde_json::Value {
    let figures = |totals: &Totals| {
        serde_json::json!({
            "linesFound": totals.lines_found,
            "linesHit": totals.lines_hit,
            "percent": totals.percent(),
        })
    };
    let files: Vec<serde_json::Value> = coverage
        .files
        .iter()
        .map(|(path, file)| {
            let mut value = figures(&file.totals());
            value["path"] = serde_json::json!(path);
            value
        })
        .collect();
    let mut value = figures(&coverage.totals());
    value["files"] = serde_json::json!(files);
    value["notes"] = serde_json::json!(coverage.notes);
    value["missing"] = serde_json::json!(coverage.missing);
    value
}

/// The hits of one repository file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCoverage {
    /// Every line that is code, and how many times it ran (0: never).
    pub lines: BTreeMap<u32, u64>,
    /// Functions by the line they start on and their name, and how many times each was called.
    pub functions: BTreeMap<(u32, String), u64>,
}

impl FileCoverage {
    /// Lines that are code, and those of them that ran.
    pub fn totals(&self) -> Totals {
        Totals {
            lines_found: self.lines.len(),
            lines_hit: self.lines.values().filter(|hits| **hits > 0).count(),
            functions_found: self.functions.len(),
            functions_hit: self.functions.values().filter(|hits| **hits > 0).count(),
        }
    }

    /// Adds another measurement of the same file (another shard's).
    pub fn add(&mut self, other: &FileCoverage) {
        for (line, hits) in &other.lines {
            let sum = self.lines.entry(*line).or_default();
            *sum = sum.saturating_add(*hits);
        }
        for (key, hits) in &other.functions {
            let sum = self.functions.entry(key.clone()).or_default();
            *sum = sum.saturating_add(*hits);
        }
    }

    /// The first line that is code and never ran, for a link to it.
    pub fn first_missed(&self) -> Option<u32> {
        self.lines
            .iter()
            .find(|(_, hits)| **hits == 0)
            .map(|(line, _)| *line)
    }
}

/// Counts of a file or of a whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub lines_found: usize,
    pub lines_hit: usize,
    pub functions_found: usize,
    pub functions_hit: usize,
}

impl Totals {
    /// The share of lines that ran, in percent; `None` when no line is code (nothing to run is
    /// neither covered nor uncovered).
    pub fn percent(&self) -> Option<f64> {
        (self.lines_found > 0).then(|| 100.0 * self.lines_hit as f64 / self.lines_found as f64)
    }

    /// The share of lines that ran, from 0 to 1 (1 when no line is code, as Cobertura's readers
    /// expect of an empty file).
    pub fn line_rate(&self) -> f64 {
        self.percent().map_or(1.0, |p| p / 100.0)
    }

    fn plus(self, other: Totals) -> Totals {
        Totals {
            lines_found: self.lines_found + other.lines_found,
            lines_hit: self.lines_hit + other.lines_hit,
            functions_found: self.functions_found + other.functions_found,
            functions_hit: self.functions_hit + other.functions_hit,
        }
    }
}

/// A percentage as the reports print it: one decimal, never rounded up to a threshold it does
/// not reach (`79.96` is `79.9`, not `80.0`).
pub fn format_percent(percent: f64) -> String {
    format!("{:.1}", (percent * 10.0).floor() / 10.0)
}

/// The coverage of a run: hits by repository file (with `/` separators, relative to the
/// workspace), plus what was cut or could not be measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Coverage {
    pub files: BTreeMap<String, FileCoverage>,
    /// What the reports should say beside the figures: scripts the task left out to fit
    /// Roblox's 4 MB limit, a shard that measured nothing.
    pub notes: Vec<String>,
    /// Why nothing was measured at all (the engine refused `EnableCoverage`, no task returned
    /// coverage); the figures are then empty and mean nothing.
    pub missing: Option<String>,
    /// Files a task measured but left out to fit Roblox's limit: not counted, and not taken for
    /// files no test loaded either.
    pub cut: std::collections::BTreeSet<String>,
}

impl Coverage {
    /// No measurement, and why.
    pub fn unavailable(why: impl Into<String>) -> Self {
        Self {
            missing: Some(why.into()),
            ..Self::default()
        }
    }

    /// What one task measured, by repository file: each script that maps to a file through the
    /// sourcemap and that `selection` keeps. Scripts that map nowhere (the framework, a place's
    /// own instances) are left out.
    pub fn from_measured(
        measured: &Measured,
        sourcemap: Option<&Sourcemap>,
        selection: &Selection,
    ) -> Self {
        if let Some(error) = &measured.error {
            let mut coverage = Self::unavailable(error.clone());
            coverage.notes.extend(measured.notes.iter().cloned());
            return coverage;
        }
        let modules: std::collections::HashMap<&str, &str> = sourcemap
            .map(|map| map.module_files().collect())
            .unwrap_or_default();
        let cut = measured
            .cut
            .iter()
            .filter_map(|name| modules.get(name.as_str()))
            .map(|path| (*path).to_owned())
            .collect();
        let mut files: BTreeMap<String, FileCoverage> = BTreeMap::new();
        for script in &measured.scripts {
            let Some(path) = modules.get(script.name.as_str()).copied() else {
                continue;
            };
            if !selection.selects(&script.name, path) {
                continue;
            }
            files
                .entry(path.to_owned())
                .or_default()
                .add(&script.file_coverage());
        }
        Self {
            files,
            notes: measured.notes.clone(),
            missing: None,
            cut,
        }
    }

    /// Adds another task's coverage: hits add up line by line. A task that measured nothing
    /// leaves a note when the other did measure.
    pub fn merge(&mut self, other: Coverage) {
        match (&self.missing, other.missing) {
            (Some(_), None) => {
                let why = self.missing.take().unwrap_or_default();
                self.notes.push(why);
            }
            (None, Some(why)) => self.notes.push(why),
            (Some(_), Some(_)) | (None, None) => {}
        }
        for (path, file) in other.files {
            match self.files.get_mut(&path) {
                Some(mine) => mine.add(&file),
                None => {
                    self.files.insert(path, file);
                }
            }
        }
        self.cut.extend(other.cut);
        for note in other.notes {
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
        }
    }

    /// The whole run's counts.
    pub fn totals(&self) -> Totals {
        self.files
            .values()
            .fold(Totals::default(), |sum, file| sum.plus(file.totals()))
    }

    /// The files with the smallest share of lines run (then the most lines missed, then by
    /// path), at most `n`, leaving out files that are fully covered.
    pub fn least_covered(&self, n: usize) -> Vec<(&str, &FileCoverage, Totals)> {
        let mut files: Vec<(&str, &FileCoverage, Totals)> = self
            .files
            .iter()
            .map(|(path, file)| (path.as_str(), file, file.totals()))
            .filter(|(_, _, totals)| totals.lines_hit < totals.lines_found)
            .collect();
        files.sort_by(|a, b| {
            let rate = |t: &Totals| t.lines_hit as f64 / t.lines_found.max(1) as f64;
            rate(&a.2)
                .total_cmp(&rate(&b.2))
                .then((b.2.lines_found - b.2.lines_hit).cmp(&(a.2.lines_found - a.2.lines_hit)))
                .then(a.0.cmp(b.0))
        });
        files.truncate(n);
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn file(lines: &[(u32, u64)]) -> FileCoverage {
        FileCoverage {
            lines: lines.iter().copied().collect(),
            functions: BTreeMap::new(),
        }
    }

    #[test]
    fn shards_add_their_hits_line_by_line() {
        let mut a = Coverage::default();
        a.files.insert("src/a.luau".into(), file(&[(1, 1), (2, 0)]));
        let mut b = Coverage::default();
        b.files
            .insert("src/a.luau".into(), file(&[(1, 2), (2, 3), (5, 0)]));
        b.files.insert("src/b.luau".into(), file(&[(1, 0)]));
        a.merge(b);
        assert_eq!(a.files["src/a.luau"], file(&[(1, 3), (2, 3), (5, 0)]));
        assert_eq!(a.files["src/b.luau"], file(&[(1, 0)]));
        let totals = a.totals();
        assert_eq!((totals.lines_found, totals.lines_hit), (4, 2));
        assert_eq!(totals.percent(), Some(50.0));
    }

    #[test]
    fn a_shard_without_coverage_is_a_note_beside_one_with() {
        let mut merged = Coverage::unavailable("shard 1/2: refused");
        let mut b = Coverage::default();
        b.files.insert("src/a.luau".into(), file(&[(1, 1)]));
        merged.merge(b);
        assert_eq!(merged.missing, None);
        assert_eq!(merged.notes, ["shard 1/2: refused"]);
        merged.merge(Coverage::unavailable("shard 3/3: refused"));
        assert_eq!(merged.notes, ["shard 1/2: refused", "shard 3/3: refused"]);
        // Two that measured nothing stay unmeasured.
        let mut none = Coverage::unavailable("a");
        none.merge(Coverage::unavailable("b"));
        assert_eq!(none.missing.as_deref(), Some("a"));
    }

    #[test]
    fn percentages_never_round_up_to_a_threshold() {
        assert_eq!(format_percent(79.96), "79.9");
        assert_eq!(format_percent(80.0), "80.0");
        assert_eq!(format_percent(100.0), "100.0");
        assert_eq!(Totals::default().percent(), None);
        assert_eq!(Totals::default().line_rate(), 1.0);
    }

    #[test]
    fn the_least_covered_files_come_first() {
        let mut coverage = Coverage::default();
        coverage
            .files
            .insert("full.luau".into(), file(&[(1, 1), (2, 1)]));
        coverage
            .files
            .insert("half.luau".into(), file(&[(1, 1), (2, 0)]));
        coverage
            .files
            .insert("none.luau".into(), file(&[(1, 0), (3, 0)]));
        coverage.files.insert(
            "big-half.luau".into(),
            file(&[(1, 1), (2, 0), (3, 1), (4, 0)]),
        );
        let order: Vec<&str> = coverage
            .least_covered(10)
            .iter()
            .map(|(path, _, _)| *path)
            .collect();
        assert_eq!(order, ["none.luau", "big-half.luau", "half.luau"]);
        assert_eq!(coverage.least_covered(1).len(), 1);
        assert_eq!(coverage.files["none.luau"].first_missed(), Some(1));
        assert_eq!(coverage.files["full.luau"].first_missed(), None);
    }

    #[test]
    fn the_threshold_judges_the_total_and_a_missing_measure_never_passes() {
        let mut coverage = Coverage::default();
        coverage
            .files
            .insert("src/a.luau".into(), file(&[(1, 1), (2, 1), (3, 1), (4, 0)]));
        assert_eq!(below_threshold(&coverage, 75.0, true), None);
        assert_eq!(
            below_threshold(&coverage, 75.1, true).as_deref(),
            Some(
                "input `coverage-threshold`: 75.0% of lines ran (3 of 4), below the 75.1% asked for"
            )
        );
        assert_eq!(headline(&coverage), "75.0% of lines (3 of 4) in 1 file");
        let missing = Coverage::unavailable("coverage was not available: refused");
        assert_eq!(
            below_threshold(&missing, 0.0, false).as_deref(),
            Some(
                "`--coverage-threshold` / `INPUT_COVERAGE_THRESHOLD` asks for 0.0% of lines, but coverage was not available: refused"
            )
        );
        assert_eq!(
            headline(&missing),
            "none (coverage was not available: refused)"
        );
        // Nothing to run is no pass either.
        assert!(
            below_threshold(&Coverage::default(), 0.0, true)
                .is_some_and(|why| why.contains("no line of the selected files was measured"))
        );
        let value = json_value(&coverage);
        assert_eq!(value["linesFound"], 4);
        assert_eq!(value["files"][0]["path"], "src/a.luau");
        assert_eq!(value["files"][0]["percent"], 75.0);
    }

    #[test]
    fn units_without_coverage_are_named_in_the_merge() {
        let mut measured = Coverage::default();
        measured.files.insert("src/a.luau".into(), file(&[(1, 2)]));
        let merged = merge_units([("shard 1/2", Some(&measured)), ("shard 2/2", None)]);
        assert_eq!(merged.missing, None);
        assert_eq!(merged.notes, [format!("shard 2/2: {NO_RESULTS}")]);
        let none = merge_units([("a", None)]);
        assert_eq!(none.missing, Some(format!("a: {NO_RESULTS}")));
    }

    #[test]
    fn scripts_map_to_files_through_the_sourcemap_and_the_selection() {
        let map = Sourcemap::parse(
            br#"{ "name": "game", "className": "DataModel", "children": [
                { "name": "ReplicatedStorage", "className": "ReplicatedStorage", "children": [
                  { "name": "Shared", "className": "Folder", "children": [
                    { "name": "Inventory", "className": "ModuleScript", "filePaths": ["src/shared/Inventory.luau"] },
                    { "name": "Inventory.spec", "className": "ModuleScript", "filePaths": ["src/shared/Inventory.spec.luau"] } ] } ] } ] }"#,
            Path::new(""),
            Path::new("/repo"),
        )
        .unwrap();
        let measured = wire::parse_measured(
            r#"{"kind":"luau-exec/coverage@1","scripts":[
                {"name":"ReplicatedStorage.Shared.Inventory","lines":"-1,2,0"},
                {"name":"ReplicatedStorage.Shared.Inventory.spec","lines":"1"},
                {"name":"ReplicatedStorage.Elsewhere","lines":"1"}]}"#,
        )
        .unwrap();
        let coverage = Coverage::from_measured(&measured, Some(&map), &Selection::default());
        let paths: Vec<&String> = coverage.files.keys().collect();
        assert_eq!(paths, ["src/shared/Inventory.luau"]);
        assert_eq!(
            coverage.files["src/shared/Inventory.luau"],
            file(&[(2, 2), (3, 0)])
        );
        // Without a sourcemap nothing maps.
        let none = Coverage::from_measured(&measured, None, &Selection::default());
        assert!(none.files.is_empty() && none.missing.is_none());
    }
}
