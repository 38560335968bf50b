//! Coverage as the task returns it: the results envelope's optional `coverage` table
//! (`luau-exec/coverage@1`), written by the shipped bootstraps from
//! `ScriptContext:GetCoverageStats()`, or by any script of the user's.
//!
//! ```text
//! coverage = {
//!   kind = "luau-exec/coverage@1",
//!   scripts = { { name = "ReplicatedStorage.Shared.Inventory", lines = "-2,3,3,-1,0",
//!                 functions = { { "add", 4, 3 } } } },
//!   cut = { "…" }, -- optional: scripts measured but left out to fit Roblox's 4 MB limit
//!   notes = "…",   -- optional: what was left out, in words
//!   error = "…",   -- optional: why nothing could be measured
//! }
//! ```
//!
//! `lines` is compact: from line 1 on, a number is the hits of the next line, `-N` says the
//! next N lines are not code. Roblox's own shape is read too: an array of hits, index 1 for
//! line 1, `-1` for a line that is not code; and functions as `{ Name, Line, Hits }` tables.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::FileCoverage;

/// The `kind` of the envelope's coverage, with its version.
pub const COVERAGE_KIND: &str = "luau-exec/coverage@1";
const COVERAGE_FAMILY: &str = "luau-exec/coverage";
/// No script has this many lines; a larger line number is a malformed (or hostile) value.
const MAX_LINE: u64 = 10_000_000;

/// What one task measured, by script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Measured {
    pub scripts: Vec<ScriptHits>,
    /// Scripts measured but left out of `scripts` to fit the limit, by full name.
    pub cut: Vec<String>,
    /// What the task left out, in its words.
    pub notes: Vec<String>,
    /// Why it measured nothing (the engine refused `EnableCoverage`).
    pub error: Option<String>,
}

/// The hits of one script, by its full name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptHits {
    pub name: String,
    /// Lines that are code, in order, with their hits.
    pub lines: Vec<(u32, u64)>,
    /// Functions: the line each starts on, its name if it has one, its calls.
    pub functions: Vec<(u32, Option<String>, u64)>,
}

impl ScriptHits {
    /// The script's hits as a file's. The main chunk (defined on line 0) is `<main>` on line
    /// 1, as Luau's own lcov writer names it; a function without a name is `<anonymous>`.
    pub fn file_coverage(&self) -> FileCoverage {
        let mut file = FileCoverage::default();
        for (line, hits) in &self.lines {
            let sum = file.lines.entry(*line).or_default();
            *sum = sum.saturating_add(*hits);
        }
        for (line, name, hits) in &self.functions {
            let name = match name.as_deref() {
                Some(name) if !name.is_empty() => name.to_owned(),
                _ if *line == 0 => "<main>".to_owned(),
                _ => "<anonymous>".to_owned(),
            };
            let sum = file.functions.entry(((*line).max(1), name)).or_default();
            *sum = sum.saturating_add(*hits);
        }
        file
    }
}

#[derive(Deserialize)]
struct WireFirst<'a> {
    #[serde(default, borrow)]
    coverage: Option<&'a RawValue>,
}

/// The coverage a task's first return value carries: `None` when it carries none, else what it
/// measured or why it cannot be read.
pub fn from_envelope(first: &str) -> Option<Result<Measured, String>> {
    // Cheap test first: results may be megabytes, and most carry no coverage.
    if !first.contains(COVERAGE_FAMILY) {
        return None;
    }
    let wire: WireFirst<'_> = serde_json::from_str(first).ok()?;
    Some(parse_measured(wire.coverage?.get()))
}

/// Reads the `coverage` table itself.
pub fn parse_measured(text: &str) -> Result<Measured, String> {
    let Ok(Value::Object(mut table)) = serde_json::from_str::<Value>(text) else {
        return Err("`coverage` is not a table".into());
    };
    match table.remove("kind") {
        Some(Value::String(kind)) if kind == COVERAGE_KIND => {}
        Some(Value::String(kind)) if kind.starts_with(COVERAGE_FAMILY) => {
            return Err(format!(
                "`coverage.kind` is `{}`, a version this luau-exec does not read (it reads `{COVERAGE_KIND}`)",
                crate::text::cut(&kind, 60)
            ));
        }
        _ => return Err(format!("`coverage.kind` is not `{COVERAGE_KIND}`")),
    }
    let text_field = |value: Option<Value>, field: &str| match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("`coverage.{field}` is not a string")),
    };
    let notes = text_field(table.remove("notes"), "notes")?
        .into_iter()
        .collect();
    let error = text_field(table.remove("error"), "error")?;
    let scripts = match table.remove("scripts") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| parse_script(i + 1, item))
            .collect::<Result<_, _>>()?,
        // Luau encodes an empty table as `[]`, but a script may build `{}` by hand.
        Some(Value::Object(map)) if map.is_empty() => Vec::new(),
        Some(_) => return Err("`coverage.scripts` is not an array".into()),
    };
    let cut = match table.remove("cut") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) if map.is_empty() => Vec::new(),
        Some(Value::Array(names)) => names
            .into_iter()
            .map(|name| match name {
                Value::String(name) => Ok(name),
                _ => Err("`coverage.cut` holds something that is not a script's name".to_owned()),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`coverage.cut` is not an array".into()),
    };
    Ok(Measured {
        scripts,
        cut,
        notes,
        error,
    })
}

fn parse_script(index: usize, item: Value) -> Result<ScriptHits, String> {
    let at = |field: &str| format!("`coverage.scripts[{index}].{field}`");
    let Value::Object(mut script) = item else {
        return Err(format!("`coverage.scripts[{index}]` is not a table"));
    };
    let name = match script.remove("name") {
        Some(Value::String(name)) if !name.is_empty() => name,
        _ => return Err(format!("{} is not a script's full name", at("name"))),
    };
    let lines = match script.remove("lines") {
        Some(Value::String(compact)) => parse_compact(&compact),
        Some(Value::Array(hits)) => parse_array(&hits),
        Some(Value::Object(map)) if map.is_empty() => Ok(Vec::new()),
        _ => Err("is neither a compact string nor an array of hits".to_owned()),
    }
    .map_err(|problem| format!("{} {problem}", at("lines")))?;
    let functions = match script.remove("functions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) if map.is_empty() => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(parse_function)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                format!(
                    "{} holds something that is not `{{ name, line, hits }}`",
                    at("functions")
                )
            })?,
        Some(_) => return Err(format!("{} is not an array", at("functions"))),
    };
    Ok(ScriptHits {
        name,
        lines,
        functions,
    })
}

/// `-2,3,3,-1,0`: lines 3 and 4 ran three times, line 6 never.
fn parse_compact(text: &str) -> Result<Vec<(u32, u64)>, String> {
    let mut lines = Vec::new();
    let mut next: u64 = 1;
    for token in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if let Some(skip) = token.strip_prefix('-') {
            let skip: u64 = skip
                .parse()
                .map_err(|_| format!("holds `{}`, not a count", crate::text::cut(token, 20)))?;
            next = next.saturating_add(skip);
            continue;
        }
        let hits: u64 = token
            .parse()
            .map_err(|_| format!("holds `{}`, not a count", crate::text::cut(token, 20)))?;
        lines.push((line_number(next)?, hits));
        next += 1;
    }
    Ok(lines)
}

/// Roblox's shape: index 1 is line 1, `-1` a line that is not code.
fn parse_array(hits: &[Value]) -> Result<Vec<(u32, u64)>, String> {
    let mut lines = Vec::new();
    for (index, value) in hits.iter().enumerate() {
        let line = line_number(index as u64 + 1)?;
        match count(value) {
            Some(hits) => lines.push((line, hits)),
            None if value.as_f64().is_some_and(|n| n < 0.0) || value.is_null() => {}
            None => return Err(format!("[{}] is not a count of hits", index + 1)),
        }
    }
    Ok(lines)
}

fn line_number(line: u64) -> Result<u32, String> {
    if line > MAX_LINE {
        return Err(format!("runs past line {MAX_LINE}"));
    }
    u32::try_from(line).map_err(|_| format!("runs past line {MAX_LINE}"))
}

/// `{ "add", 4, 3 }` or Roblox's `{ Name = "add", Line = 4, Hits = 3 }`.
fn parse_function(value: &Value) -> Option<(u32, Option<String>, u64)> {
    let (name, line, hits) = match value {
        Value::Array(parts) => (parts.first()?, parts.get(1)?, parts.get(2)?),
        Value::Object(fields) => (
            fields.get("Name").unwrap_or(&Value::Null),
            fields.get("Line")?,
            fields.get("Hits")?,
        ),
        _ => return None,
    };
    let name = match name {
        Value::String(name) => Some(name.clone()),
        Value::Null => None,
        _ => return None,
    };
    let line = u32::try_from(count(line)?).ok()?;
    Some((line, name, count(hits)?))
}

/// A non-negative whole number (Luau numbers are doubles, so `3.0` is 3).
fn count(value: &Value) -> Option<u64> {
    let Value::Number(n) = value else {
        return None;
    };
    if let Some(n) = n.as_u64() {
        return Some(n);
    }
    let n = n.as_f64()?;
    (n >= 0.0 && n.fract() == 0.0 && n < 9_007_199_254_740_992.0).then_some(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compact_form_skips_lines_that_are_not_code() {
        assert_eq!(
            parse_compact("-2,3,3,-1,0").unwrap(),
            [(3, 3), (4, 3), (6, 0)]
        );
        assert_eq!(parse_compact("").unwrap(), []);
        assert!(parse_compact("1,x").unwrap_err().contains("`x`"));
        assert!(
            parse_compact("-20000000,1")
                .unwrap_err()
                .contains("runs past")
        );
        // A skip that overflows is still refused, not wrapped around.
        assert!(
            parse_compact(&format!("-{},1", u64::MAX))
                .unwrap_err()
                .contains("runs past")
        );
    }

    #[test]
    fn robloxs_own_shape_is_read_too() {
        let measured = parse_measured(
            r#"{"kind":"luau-exec/coverage@1","scripts":[{"name":"A.B","lines":[-1,2,0.0,-1,1],
                "functions":[{"Name":"f","Line":2,"Hits":2},{"Line":0,"Hits":1},["g",5,1]]}]}"#,
        )
        .unwrap();
        let script = &measured.scripts[0];
        assert_eq!(script.lines, [(2, 2), (3, 0), (5, 1)]);
        assert_eq!(
            script.functions,
            [
                (2, Some("f".into()), 2),
                (0, None, 1),
                (5, Some("g".into()), 1)
            ]
        );
        let file = script.file_coverage();
        let names: Vec<&(u32, String)> = file.functions.keys().collect();
        assert_eq!(
            names,
            [
                &(1, "<main>".to_owned()),
                &(2, "f".to_owned()),
                &(5, "g".to_owned())
            ]
        );
    }

    #[test]
    fn the_envelope_may_carry_coverage_or_not() {
        assert_eq!(
            from_envelope(r#"{"kind":"luau-exec/test-results@1"}"#),
            None
        );
        assert_eq!(from_envelope("7"), None);
        let refused = from_envelope(
            r#"{"coverage":{"kind":"luau-exec/coverage@1","error":"EnableCoverage is not available"}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            refused.error.as_deref(),
            Some("EnableCoverage is not available")
        );
        let cut = parse_measured(r#"{"kind":"luau-exec/coverage@1","cut":["A.B"]}"#).unwrap();
        assert_eq!(cut.cut, ["A.B"]);
        assert!(
            parse_measured(r#"{"kind":"luau-exec/coverage@1","cut":[1]}"#)
                .unwrap_err()
                .contains("`coverage.cut` holds")
        );
        assert!(refused.scripts.is_empty());
    }

    #[test]
    fn malformed_coverage_says_what_is_wrong() {
        for (text, expected) in [
            ("3", "`coverage` is not a table"),
            (r#"{"kind":"x"}"#, "`coverage.kind` is not"),
            (
                r#"{"kind":"luau-exec/coverage@2"}"#,
                "a version this luau-exec does not read",
            ),
            (
                r#"{"kind":"luau-exec/coverage@1","scripts":3}"#,
                "`coverage.scripts` is not an array",
            ),
            (
                r#"{"kind":"luau-exec/coverage@1","scripts":[{"lines":"1"}]}"#,
                "`coverage.scripts[1].name` is not",
            ),
            (
                r#"{"kind":"luau-exec/coverage@1","scripts":[{"name":"A","lines":true}]}"#,
                "`coverage.scripts[1].lines` is neither",
            ),
            (
                r#"{"kind":"luau-exec/coverage@1","scripts":[{"name":"A","lines":["x"]}]}"#,
                "`coverage.scripts[1].lines` [1] is not a count",
            ),
            (
                r#"{"kind":"luau-exec/coverage@1","scripts":[{"name":"A","lines":"1","functions":[[1]]}]}"#,
                "`coverage.scripts[1].functions` holds",
            ),
            (
                r#"{"kind":"luau-exec/coverage@1","notes":5}"#,
                "`coverage.notes` is not a string",
            ),
        ] {
            let error = parse_measured(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
