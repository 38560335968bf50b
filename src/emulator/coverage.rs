//! Coverage on the emulator, in Roblox's shape: `ScriptContext:EnableCoverage(instance)` makes
//! every module under `instance` required from then on compile with Luau's statement coverage
//! (a counter per statement, kept by the VM), and `ScriptContext:GetCoverageStats()` answers,
//! for every such module the task loaded, `{ Script = module, GetHits = function }`, where
//! `GetHits()` returns the hits by line (index 1 is line 1, `-1` a line that is not code) and
//! the functions `{ Name, Line, Hits }`. The test bootstrap calls these methods on Roblox and
//! here alike, so one path serves both backends.
//!
//! Nothing is instrumented until a task asks: a run without coverage compiles every module as
//! before. As on Roblox (where coverage is a compile-time option too), a module required before
//! `EnableCoverage` is not measured.

use mlua::chunk::Chunk;
use mlua::{AnyUserData, Error as LuaError, Function, Lua, Table, Value};
use rbx_dom_weak::types::Ref;

use super::dom::{Dom, InstanceRef};

/// Statement coverage: Roblox reports lines, and level 2 (expressions too) only costs more.
const COVERAGE_LEVEL: u8 = 1;
/// Where the modules compiled with coverage are kept: `{ { module, chunk }, … }`.
const TRACKED: &str = "luau-exec.coverage.tracked";

/// The instances coverage was enabled on, in the task's VM.
#[derive(Default)]
struct Roots(Vec<Ref>);

/// `ScriptContext:EnableCoverage(instance)` (the registry has checked the class).
pub(crate) fn enable(lua: &Lua, root: Value) -> mlua::Result<()> {
    let root = match &root {
        Value::UserData(data) => data
            .borrow::<InstanceRef>()
            .map(|r| r.0)
            .map_err(|_| LuaError::runtime("Unable to cast value to Object"))?,
        Value::Nil => return Err(LuaError::runtime("Argument 1 missing or nil")),
        _ => return Err(LuaError::runtime("Unable to cast value to Object")),
    };
    if lua.app_data_ref::<Roots>().is_none() {
        lua.set_app_data(Roots::default());
    }
    if let Some(mut roots) = lua.app_data_mut::<Roots>()
        && !roots.0.contains(&root)
    {
        roots.0.push(root);
    }
    Ok(())
}

/// A module's chunk, compiled with coverage when the module is under a root.
pub(crate) fn instrument<'a>(lua: &Lua, dom: &Dom, module: Ref, chunk: Chunk<'a>) -> Chunk<'a> {
    if measured(lua, dom, module) {
        chunk.set_compiler(crate::emulator::bytecode::compiler(COVERAGE_LEVEL))
    } else {
        chunk
    }
}

/// Keeps a module compiled with coverage, for `GetCoverageStats`.
pub(crate) fn track(
    lua: &Lua,
    dom: &Dom,
    module: Ref,
    handle: AnyUserData,
    chunk: &Function,
) -> mlua::Result<()> {
    if !measured(lua, dom, module) {
        return Ok(());
    }
    let tracked = match lua.named_registry_value::<Option<Table>>(TRACKED)? {
        Some(tracked) => tracked,
        None => {
            let tracked = lua.create_table()?;
            lua.set_named_registry_value(TRACKED, tracked.clone())?;
            tracked
        }
    };
    tracked
        .push(lua.create_sequence_from([Value::UserData(handle), Value::Function(chunk.clone())])?)
}

/// `ScriptContext:GetCoverageStats()`: an entry for every module measured so far.
pub(crate) fn stats(lua: &Lua) -> mlua::Result<Table> {
    let stats = lua.create_table()?;
    let Some(tracked) = lua.named_registry_value::<Option<Table>>(TRACKED)? else {
        return Ok(stats);
    };
    for pair in tracked.sequence_values::<Table>() {
        let pair = pair?;
        let module: Value = pair.get(1)?;
        let chunk: Function = pair.get(2)?;
        let entry = lua.create_table()?;
        entry.set("Script", module)?;
        // `entry:GetHits()` or `entry.GetHits()`: the arguments are not read.
        entry.set(
            "GetHits",
            lua.create_function(move |lua, _: mlua::MultiValue| hits(lua, &chunk))?,
        )?;
        stats.push(entry)?;
    }
    Ok(stats)
}

/// The hits of a module's chunk and every function inside it: by line (the most any of its
/// statements on that line ran), and by function (the calls: the hits of its first line
/// that is code; a module's main chunk is `<main>`).
fn hits(lua: &Lua, chunk: &Function) -> mlua::Result<(Table, Table)> {
    let mut lines: Vec<i64> = Vec::new();
    let mut functions: Vec<(Option<String>, i32, i64)> = Vec::new();
    chunk.coverage(|info| {
        if lines.len() < info.hits.len() {
            lines.resize(info.hits.len(), -1);
        }
        for (line, hits) in info.hits.iter().enumerate() {
            if *hits >= 0 {
                lines[line] = lines[line].max(i64::from(*hits));
            }
        }
        let calls = info
            .hits
            .iter()
            .find(|hits| **hits >= 0)
            .copied()
            .unwrap_or(0);
        // Luau names no main chunk; its lcov writer calls it `<main>`, and so do we.
        let name = if info.depth == 0 {
            Some("<main>".to_owned())
        } else {
            info.function
        };
        functions.push((name, info.line_defined, i64::from(calls)));
    });
    // Index 0 of Luau's counts is no line.
    let by_line = lua.create_sequence_from(lines.into_iter().skip(1))?;
    let records = lua.create_table()?;
    for (name, line, calls) in functions {
        let record = lua.create_table()?;
        record.set("Name", name)?;
        record.set("Line", line)?;
        record.set("Hits", calls)?;
        records.push(record)?;
    }
    Ok((by_line, records))
}

/// A source file no task loaded, as coverage counts it: its lines that are code and its
/// functions, each run 0 times (compiled with counters here, never run). `None` when it does
/// not compile.
pub fn never_run(source: &str) -> Option<crate::coverage::FileCoverage> {
    let lua = Lua::new();
    let function = lua
        .load(source)
        .set_compiler(crate::emulator::bytecode::compiler(COVERAGE_LEVEL))
        .into_function()
        .ok()?;
    let mut file = crate::coverage::FileCoverage::default();
    function.coverage(|info| {
        for (line, hits) in info.hits.iter().enumerate() {
            if let (true, Ok(line)) = (*hits >= 0, u32::try_from(line)) {
                file.lines.insert(line, 0);
            }
        }
        let name = match (info.depth, info.function) {
            (0, _) => "<main>".to_owned(),
            (_, Some(name)) if !name.is_empty() => name,
            _ => "<anonymous>".to_owned(),
        };
        let line = u32::try_from(info.line_defined).unwrap_or(0).max(1);
        file.functions.insert((line, name), 0);
    });
    Some(file)
}

/// Whether a module is under an instance coverage was enabled on.
/// The coverage level a module compiles with: [`COVERAGE_LEVEL`] under a root, else 0.
pub(crate) fn level(lua: &Lua, dom: &Dom, module: Ref) -> u8 {
    if measured(lua, dom, module) {
        COVERAGE_LEVEL
    } else {
        0
    }
}

fn measured(lua: &Lua, dom: &Dom, module: Ref) -> bool {
    let Some(roots) = lua.app_data_ref::<Roots>() else {
        return false;
    };
    let tree = dom.tree.borrow();
    let mut current = module;
    while let Some(instance) = tree.get_by_ref(current) {
        if roots.0.contains(&current) {
            return true;
        }
        current = instance.parent();
    }
    false
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use rbx_dom_weak::types::Variant;
    use rbx_dom_weak::{InstanceBuilder, WeakDom};
    use serde_json::{Value, json};

    use crate::emulator::vm::{ExecutionRequest, VmOutcome, execute};

    /// Lines 1–8: a table, a function called twice with a branch taken once, one never called.
    const CALC: &str = "local Calc = {}\n\
        function Calc.add(a, b)\n\
        \tif a > 10 then\n\
        \t\treturn 0\n\
        \tend\n\
        \treturn a + b\n\
        end\n\
        function Calc.never()\n\
        \treturn 1\n\
        end\n\
        return Calc\n";

    fn place() -> Arc<crate::emulator::place_cache::PlaceVersion> {
        let module = |name: &str, source: &str| {
            InstanceBuilder::new("ModuleScript")
                .with_name(name)
                .with_property("Source", Variant::String(source.to_owned()))
        };
        let mut dom = WeakDom::new(InstanceBuilder::new("DataModel"));
        let root = dom.root_ref();
        let storage = dom.insert(
            root,
            InstanceBuilder::new("ReplicatedStorage").with_name("ReplicatedStorage"),
        );
        let shared = dom.insert(storage, InstanceBuilder::new("Folder").with_name("Shared"));
        dom.insert(shared, module("Calc", CALC));
        dom.insert(shared, module("Early", "return 1\n"));
        dom.insert(storage, module("Outside", "return 2\n"));
        let services = dom.root().children().to_vec();
        let mut bytes = Vec::new();
        rbx_binary::to_writer(&mut bytes, &dom, &services).expect("a place");
        Arc::new(crate::emulator::place_cache::PlaceVersion::new(bytes))
    }

    fn run(script: &str) -> Result<Value, String> {
        let execution = execute(&ExecutionRequest {
            script: script.into(),
            timeout: Duration::from_secs(60),
            place: Some(place()),
            ..ExecutionRequest::default()
        });
        match execution.outcome {
            VmOutcome::Complete { results, .. } => {
                Ok(serde_json::from_str(&results[0]).expect("JSON"))
            }
            VmOutcome::Failed { message, .. } => Err(message),
        }
    }

    #[test]
    fn modules_required_under_a_root_report_their_hits_in_robloxs_shape() {
        let stats = run(r#"
            local ScriptContext = game:GetService("ScriptContext")
            local Shared = game.ReplicatedStorage.Shared
            require(Shared.Early) -- compiled before coverage: not measured
            ScriptContext:EnableCoverage(Shared)
            local Calc = require(Shared.Calc)
            require(game.ReplicatedStorage.Outside) -- not under the root
            Calc.add(1, 2)
            Calc.add(1, 2)
            local out = {}
            for _, entry in ScriptContext:GetCoverageStats() do
                local lines, functions = entry:GetHits()
                local dotted = entry.GetHits()
                assert(#dotted == #lines, "GetHits reads no arguments")
                table.sort(functions, function(a, b) return a.Line < b.Line end)
                table.insert(out, { name = entry.Script:GetFullName(), lines = lines, functions = functions })
            end
            return out
        "#)
        .unwrap();
        assert_eq!(
            stats,
            json!([{
                "name": "ReplicatedStorage.Shared.Calc",
                // The table's line, `add` (its branch never taken, line 4; its `end` is no
                // code), `never` (never run).
                "lines": [1, 1, 2, 0, -1, 2, -1, 1, 0, -1, 1],
                "functions": [
                    { "Name": "<main>", "Line": 1, "Hits": 1 },
                    { "Name": "add", "Line": 2, "Hits": 2 },
                    { "Name": "never", "Line": 8, "Hits": 0 },
                ],
            }])
        );
    }

    #[test]
    fn a_file_never_loaded_counts_its_code_lines_as_never_run() {
        let file = super::never_run(CALC).expect("it compiles");
        let lines: Vec<(u32, u64)> = file.lines.into_iter().collect();
        assert_eq!(
            lines,
            [
                (1, 0),
                (2, 0),
                (3, 0),
                (4, 0),
                (6, 0),
                (8, 0),
                (9, 0),
                (11, 0)
            ]
        );
        let functions: Vec<(u32, String)> = file.functions.into_keys().collect();
        assert_eq!(
            functions,
            [
                (1, "<main>".to_owned()),
                (2, "add".to_owned()),
                (8, "never".to_owned())
            ]
        );
        assert_eq!(super::never_run("local = 1"), None);
    }

    #[test]
    fn only_script_context_has_the_methods_and_they_check_their_argument() {
        let error = |script: &str| run(script).unwrap_err();
        assert!(
            error("workspace:EnableCoverage(workspace)")
                .contains("EnableCoverage is not a valid member of Workspace \"Workspace\""),
        );
        assert!(
            error("game:GetService('ScriptContext'):EnableCoverage()")
                .contains("Argument 1 missing or nil")
        );
        assert!(
            error("game:GetService('ScriptContext'):EnableCoverage(5)")
                .contains("Unable to cast value to Object")
        );
        // Nothing enabled, nothing measured.
        assert_eq!(
            run("return #game:GetService('ScriptContext'):GetCoverageStats()").unwrap(),
            json!(0)
        );
    }
}
