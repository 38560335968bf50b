//! Runs one task's script in a fresh Luau VM: the standard library in a sandbox, the place's
//! instance tree and Roblox's globals (see [`super::dom`]), `print` and `warn` captured as log
//! messages, the main script on the task scheduler, a deadline enforced by the VM's interrupt
//! hook and the scheduler (so an infinite loop or a long wait ends as `DEADLINE_EXCEEDED`), and
//! return values turned into JSON by Roblox's rules. What the emulator does not have fails the
//! script with a message that says so.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mlua::state::{GcIncParams, GcMode};
use mlua::{Error as LuaError, Lua, MultiValue, Table, Value, VmState};
use serde_json::Number;

use super::LogWindow;
use super::dom::scheduler::{Scheduler, Stopped};
use super::dom::{self, Dom};
use crate::api::model::{MessageType, TaskErrorCode};

/// Return values over this size as JSON fail the task, as on Roblox.
pub const MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;
/// The `BinaryOutput` buffer's documented maximum.
pub const MAX_BINARY_OUTPUT_BYTES: usize = 256 * 1024 * 1024;
/// A script may not take the emulator down by allocating without bound: past this, the script
/// fails with an out-of-memory error. Room for a 256 MiB binary output and the string it was
/// made from.
pub const MEMORY_LIMIT: usize = 512 * 1024 * 1024;
/// Deeper tables than this (or cycles) become `null` in the results.
const MAX_DEPTH: usize = 64;

/// Engine globals the emulator does not have. Touching one fails with a clear message.
const ENGINE_GLOBALS: &[&str] = &[
    "plugin",
    "BrickColor",
    "Ray",
    "Region3",
    "TweenInfo",
    "Rect",
    "NumberRange",
    "NumberSequence",
    "ColorSequence",
    "PhysicalProperties",
    "DateTime",
    "RaycastParams",
    "OverlapParams",
    "Axes",
    "Faces",
    "Font",
    "settings",
    "UserSettings",
    "stats",
];

/// What the task did.
#[derive(Debug, Clone, PartialEq)]
pub enum VmOutcome {
    Complete {
        /// Each returned value as JSON text.
        results: Vec<String>,
        binary_output: Option<Vec<u8>>,
    },
    Failed {
        code: TaskErrorCode,
        message: String,
    },
}

#[derive(Debug)]
pub struct Execution {
    pub outcome: VmOutcome,
    /// The log window as the task left it.
    pub logs: LogWindow,
}

type Logs = Rc<RefCell<LogWindow>>;

/// What the script gets and must give back.
#[derive(Debug, Clone, Default)]
pub struct ExecutionRequest {
    pub script: String,
    pub timeout: Duration,
    pub binary_input: Option<Vec<u8>>,
    pub enable_binary_output: bool,
    /// The place file the task runs in (its version's bytes); an empty place when `None`.
    pub place: Option<Arc<Vec<u8>>>,
}

pub fn execute(request: &ExecutionRequest) -> Execution {
    let logs: Logs = Rc::new(RefCell::new(LogWindow::default()));
    let deadline = Instant::now() + request.timeout;
    let timed_out = Arc::new(AtomicBool::new(false));
    let outcome = match run(request, deadline, &logs, &timed_out) {
        Ok(outcome) => outcome,
        Err(error) if timed_out.load(Ordering::SeqCst) => {
            drop(error);
            VmOutcome::Failed {
                code: TaskErrorCode::DeadlineExceeded,
                message: format!(
                    "The task exceeded its timeout of {}",
                    crate::duration::to_protobuf_duration(request.timeout)
                ),
            }
        }
        Err(error) => {
            let message = error_message(&error);
            logs.borrow_mut().push(MessageType::Error, &message);
            VmOutcome::Failed {
                code: TaskErrorCode::ScriptError,
                message,
            }
        }
    };
    let logs = logs.take();
    Execution { outcome, logs }
}

fn run(
    request: &ExecutionRequest,
    deadline: Instant,
    logs: &Logs,
    timed_out: &Arc<AtomicBool>,
) -> mlua::Result<VmOutcome> {
    let lua = Lua::new();
    lua.set_memory_limit(MEMORY_LIMIT)?;
    // A suite keeps every test's plan live (TestEZ gives each node an environment of
    // closures), and Luau's default pacing lets garbage double the heap before collecting.
    // Collecting at 15% growth, in larger steps, holds a 5,000-test run about 15 MB lower for
    // about 0.01 s (measured by `cargo bench --bench suite`).
    lua.gc_set_mode(GcMode::Incremental(
        GcIncParams::default().goal(115).step_multiplier(1000),
    ));
    let flag = timed_out.clone();
    // Luau calls this at every call and loop back-edge: the clock is read only every 256th
    // time (a few microseconds of script at most), which made it a fifth of a suite's run time.
    let calls = std::cell::Cell::new(0u32);
    lua.set_interrupt(move |_| {
        let count = calls.get().wrapping_add(1);
        calls.set(count);
        if count.is_multiple_of(256) && Instant::now() >= deadline {
            flag.store(true, Ordering::SeqCst);
            return Err(LuaError::runtime("the task exceeded its timeout"));
        }
        Ok(VmState::Continue)
    });
    install_output(&lua, logs)?;
    install_stubs(&lua)?;
    let tree = match &request.place {
        Some(bytes) => dom::load_place(bytes).map_err(|e| LuaError::runtime(e.to_string()))?,
        None => dom::empty_place(),
    };
    let sink = logs.clone();
    let dom = Rc::new(Dom::new(
        tree,
        Box::new(move |level, text| sink.borrow_mut().push(level, text)),
    ));
    let scheduler = Rc::new(Scheduler::default());
    let shared = dom::install(&lua, dom, scheduler.clone())?;
    lua.sandbox(true)?;

    let function = lua
        .load(request.script.as_str())
        .set_name("=TaskScript")
        .set_environment(dom::script_env(&lua, &shared, None)?)
        .into_function()?;
    let input = lua.create_table()?;
    if let Some(bytes) = &request.binary_input {
        input.set("BinaryInput", lua.create_buffer(bytes)?)?;
    }
    let main = lua.create_thread(function)?;
    let returned = match scheduler.run(
        &main,
        std::iter::once(Value::Table(input)).collect(),
        deadline,
    ) {
        Ok(values) => values,
        Err(Stopped::Error(error)) => return Err(error),
        Err(Stopped::Deadline) => {
            timed_out.store(true, Ordering::SeqCst);
            return Err(LuaError::runtime("the task exceeded its timeout"));
        }
        Err(Stopped::Stuck) => {
            return Ok(VmOutcome::Failed {
                code: TaskErrorCode::DeadlineExceeded,
                message: "The task's script yielded with nothing scheduled to resume it, so it could only run into its timeout; the local emulator ends it at once".into(),
            });
        }
    };
    let values: Vec<Value> = returned.into_iter().collect();

    if request.enable_binary_output {
        return binary_output(values);
    }
    Ok(complete(values.iter().map(to_json).collect(), None))
}

/// The result of a task run with `enableBinaryOutput`: exactly one table with a
/// `BinaryOutput` buffer and an optional `ReturnValues` array.
fn binary_output(values: Vec<Value>) -> mlua::Result<VmOutcome> {
    let usage = "with enableBinaryOutput the script must return one table { BinaryOutput = buffer, ReturnValues = { ... } }";
    let [Value::Table(table)] = values.as_slice() else {
        return Err(LuaError::runtime(format!("TaskScript: {usage}")));
    };
    let Value::Buffer(buffer) = table.get::<Value>("BinaryOutput")? else {
        return Err(LuaError::runtime(format!(
            "TaskScript: BinaryOutput is not a buffer; {usage}"
        )));
    };
    let bytes = buffer.to_vec();
    if bytes.len() > MAX_BINARY_OUTPUT_BYTES {
        return Ok(VmOutcome::Failed {
            code: TaskErrorCode::OutputSizeLimitExceeded,
            message: format!(
                "The BinaryOutput buffer is {} bytes, over the 256 MiB limit",
                bytes.len()
            ),
        });
    }
    let results = match table.get::<Value>("ReturnValues")? {
        Value::Nil => Vec::new(),
        // The array's items, each as its own value.
        Value::Table(values) => (1..=values.raw_len())
            .map(|i| to_json(&values.raw_get::<Value>(i).unwrap_or(Value::Nil)))
            .collect(),
        other => vec![to_json(&other)],
    };
    Ok(complete(results, Some(bytes)))
}

fn complete(results: Vec<String>, binary_output: Option<Vec<u8>>) -> VmOutcome {
    // As the array Roblox serializes: the values, commas, brackets.
    let size = results.iter().map(|r| r.len() + 1).sum::<usize>() + 1;
    if size > MAX_OUTPUT_BYTES {
        return VmOutcome::Failed {
            code: TaskErrorCode::OutputSizeLimitExceeded,
            message: format!(
                "The task's return values are {size} bytes as JSON, over the 4 MiB limit"
            ),
        };
    }
    VmOutcome::Complete {
        results,
        binary_output,
    }
}

/// `print` and `warn` write into the task's log window.
fn install_output(lua: &Lua, logs: &Logs) -> mlua::Result<()> {
    let globals = lua.globals();
    for (name, level) in [
        ("print", MessageType::Output),
        ("warn", MessageType::Warning),
    ] {
        let sink = logs.clone();
        let function = lua.create_function(move |lua, args: MultiValue| {
            let tostring: mlua::Function = lua.globals().get("tostring")?;
            let mut parts = Vec::with_capacity(args.len());
            for arg in args {
                parts.push(tostring.call::<mlua::LuaString>(arg)?.to_string_lossy());
            }
            sink.borrow_mut().push(level.clone(), &parts.join(" "));
            Ok(())
        })?;
        globals.set(name, function)?;
    }
    Ok(())
}

/// Engine globals the emulator does not have: stubs that fail with a message naming them,
/// written in Luau so the error points at the script's line (level 3).
fn install_stubs(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    let stub_factory: mlua::Function = lua
        .load(
            r#"
            local name = ...
            local function fail()
                error(name .. " is not available in the local emulator, which has the instance tree but not the engine (use backend open-cloud for it)", 3)
            end
            return setmetatable({}, {
                __index = function() fail() end,
                __newindex = function() fail() end,
                __call = function() fail() end,
                __tostring = function() return name end,
            })
            "#,
        )
        .set_name("=luau-exec")
        .into_function()?;
    for name in ENGINE_GLOBALS {
        let stub: Table = stub_factory.call(*name)?;
        globals.set(*name, stub)?;
    }
    Ok(())
}

/// The message of an unhandled error, as Roblox reports it (`TaskScript:<line>: <message>`).
fn error_message(error: &LuaError) -> String {
    match error {
        LuaError::MemoryError(_) => format!(
            "not enough memory: the local emulator gives a task {} MiB",
            MEMORY_LIMIT / (1024 * 1024)
        ),
        // mlua appends a traceback; Roblox's message is the first part only.
        LuaError::RuntimeError(message) => message
            .split("\nstack traceback:")
            .next()
            .unwrap_or(message)
            .to_owned(),
        LuaError::SyntaxError { message, .. } => message.clone(),
        LuaError::CallbackError { cause, .. } => error_message(cause),
        LuaError::WithContext { cause, .. } => error_message(cause),
        other => other.to_string(),
    }
}

/// Luau values as JSON, by Roblox's rules: array-like tables become arrays, string-keyed
/// tables objects (number keys written as strings), and what JSON cannot hold (functions,
/// userdata, buffers, vectors, NaN, cycles) `null`.
pub fn to_json(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, value, 0);
    out
}

/// Writes a Luau value as JSON text, by Roblox's rules, without building a tree of values
/// first (a suite's results are thousands of tables). Object keys are written sorted, so the
/// text is the same from run to run.
fn write_json(out: &mut String, value: &Value, depth: usize) {
    if depth > MAX_DEPTH {
        out.push_str("null");
        return;
    }
    match value {
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(i) => out.push_str(&i.to_string()),
        Value::Number(n) => write_number(out, *n),
        Value::String(s) => write_string(out, &s.to_string_lossy()),
        Value::Table(table) => write_table(out, table, depth),
        _ => out.push_str("null"),
    }
}

fn write_number(out: &mut String, n: f64) {
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        out.push_str(&(n as i64).to_string());
    } else {
        match Number::from_f64(n) {
            Some(number) => out.push_str(&number.to_string()),
            None => out.push_str("null"),
        }
    }
}

fn write_string(out: &mut String, text: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_table(out: &mut String, table: &Table, depth: usize) {
    let length = table.raw_len();
    let pairs: Vec<(Value, Value)> = table
        .pairs::<Value, Value>()
        .filter_map(Result::ok)
        .collect();
    if pairs.is_empty() || pairs.len() == length {
        out.push('[');
        for i in 1..=length {
            if i > 1 {
                out.push(',');
            }
            write_json(
                out,
                &table.raw_get::<Value>(i).unwrap_or(Value::Nil),
                depth + 1,
            );
        }
        out.push(']');
        return;
    }
    let mut entries: Vec<(String, Value)> = pairs
        .into_iter()
        .filter_map(|(key, value)| {
            let key = match key {
                Value::String(s) => s.to_string_lossy(),
                Value::Integer(i) => i.to_string(),
                Value::Number(n) => {
                    let mut text = String::new();
                    write_number(&mut text, n);
                    if text == "null" {
                        return None;
                    }
                    text
                }
                _ => return None,
            };
            Some((key, value))
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    out.push('{');
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_json(out, value, depth + 1);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run_script(script: &str) -> Execution {
        execute(&ExecutionRequest {
            script: script.into(),
            timeout: Duration::from_secs(5),
            ..ExecutionRequest::default()
        })
    }

    fn results(script: &str) -> Vec<serde_json::Value> {
        match run_script(script).outcome {
            VmOutcome::Complete { results, .. } => results
                .iter()
                .map(|r| serde_json::from_str(r).unwrap())
                .collect(),
            other => panic!("{script}: {other:?}"),
        }
    }

    #[test]
    fn returns_become_results() {
        assert_eq!(results("local x, y = 3, 4; return x + y"), vec![json!(7)]);
        assert_eq!(
            results("return 1.5, 'a', true, nil"),
            vec![json!(1.5), json!("a"), json!(true), json!(null)]
        );
        assert_eq!(results("return"), Vec::<serde_json::Value>::new());
        assert_eq!(results("return {1, 2, {3}}"), vec![json!([1, 2, [3]])]);
        assert_eq!(
            results("return {a = 1, b = {c = 'd'}}"),
            vec![json!({"a": 1, "b": {"c": "d"}})]
        );
        assert_eq!(results("return {}"), vec![json!([])]);
        assert_eq!(
            results("return print, buffer.create(1), 0/0"),
            vec![json!(null), json!(null), json!(null)]
        );
        assert!(
            results("local t = {}; t.self = t; return t")[0]["self"]["self"]["self"].is_object()
        );
    }

    fn logs(run: &Execution) -> Vec<(MessageType, String)> {
        run.logs
            .messages()
            .map(|m| (m.message_type.clone(), m.message.clone()))
            .collect()
    }

    #[test]
    fn an_enum_property_takes_only_its_enums_items() {
        let script = r#"
local part = Instance.new("Part")
local function set(value)
    local ok, message = pcall(function() part.Shape = value end)
    return if ok then tostring(part.Shape) else string.match(message, "Invalid value for enum %a+") or message
end
return {
    set(Enum.PartType.Ball), set(2), set("Wedge"), set(4.0),
    set(2^40), set(-1), set(1.5), set(0/0), set(math.huge), set(99), set("Nope"), set(Enum.Material.Plastic),
    set(true), tostring(part.Shape),
}"#;
        let invalid = "Invalid value for enum PartType";
        let Some(serde_json::Value::Array(set)) = results(script).into_iter().next() else {
            panic!("no results");
        };
        assert_eq!(
            &set[..4],
            [
                "Enum.PartType.Ball",
                "Enum.PartType.Cylinder",
                "Enum.PartType.Wedge",
                "Enum.PartType.CornerWedge"
            ]
        );
        for (i, refused) in set[4..12].iter().enumerate() {
            assert_eq!(refused, invalid, "value {}", i + 4);
        }
        assert!(
            set[12]
                .as_str()
                .unwrap()
                .contains("Enum expected, got boolean"),
            "{}",
            set[12]
        );
        assert_eq!(
            set[13], "Enum.PartType.CornerWedge",
            "a refused value changes nothing"
        );
    }

    #[test]
    fn print_and_warn_are_logs() {
        let run = run_script("print('hello', 1, nil) warn('careful') return 1");
        assert_eq!(
            logs(&run),
            vec![
                (MessageType::Output, "hello 1 nil".into()),
                (MessageType::Warning, "careful".into())
            ]
        );
    }

    #[test]
    fn printing_in_a_loop_keeps_only_the_window() {
        let run = run_script("for i = 1, 200000 do print(string.rep('x', 100) .. i) end return 1");
        let kept: usize = run.logs.messages().map(|m| m.message.len() + 47).sum();
        assert!(kept <= super::super::LOG_WINDOW_BYTES, "{kept}");
        assert!(
            run.logs
                .messages()
                .last()
                .unwrap()
                .message
                .ends_with("200000"),
            "the newest are kept"
        );
    }

    #[test]
    fn callback_errors_are_located_script_errors() {
        for (script, expected) in [
            (
                "task.wait('abc')",
                "TaskScript:1: invalid argument #1 to 'wait' (number expected, got string)",
            ),
            (
                "\ntask.wait({})",
                "TaskScript:2: invalid argument #1 to 'wait' (number expected, got table)",
            ),
            (
                "print(setmetatable({}, {__tostring = function() error('x') end}))",
                "TaskScript:1: x",
            ),
            (
                "collectgarbage('bogus')",
                "TaskScript:1: collectgarbage called with invalid option",
            ),
        ] {
            match run_script(script).outcome {
                VmOutcome::Failed { code, message } => {
                    assert_eq!(code, TaskErrorCode::ScriptError, "{script}");
                    assert!(message.starts_with(expected), "{script}: {message}");
                }
                other => panic!("{script}: {other:?}"),
            }
        }
        assert_eq!(results("return pcall(task.wait, {})")[0], json!(false));
    }

    #[test]
    fn unbounded_allocation_is_a_clear_script_error() {
        let run = execute(&ExecutionRequest {
            script:
                "local t = {} local i = 0 while true do i += 1 t[i] = string.rep('x', 1e6) .. i end"
                    .into(),
            timeout: Duration::from_secs(60),
            ..ExecutionRequest::default()
        });
        match run.outcome {
            VmOutcome::Failed { code, message } => {
                assert_eq!(code, TaskErrorCode::ScriptError);
                assert!(message.starts_with("not enough memory"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_have_robloxs_shape() {
        let run = run_script("print('a')\nerror('boom')");
        assert_eq!(
            run.outcome,
            VmOutcome::Failed {
                code: TaskErrorCode::ScriptError,
                message: "TaskScript:2: boom".into()
            }
        );
        assert_eq!(
            logs(&run).last(),
            Some(&(MessageType::Error, "TaskScript:2: boom".into()))
        );
        let run = run_script("local x = nil\nreturn x.Foo");
        match run.outcome {
            VmOutcome::Failed { message, .. } => assert!(
                message.starts_with("TaskScript:2: attempt to index nil"),
                "{message}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn syntax_errors_are_script_errors() {
        match run_script("return (").outcome {
            VmOutcome::Failed { code, message } => {
                assert_eq!(code, TaskErrorCode::ScriptError);
                assert!(message.starts_with("TaskScript:1:"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_the_emulator_lacks_fails_clearly() {
        for (script, expected) in [
            (
                "local a = 1\nlocal t = TweenInfo.new(1)",
                "TaskScript:2: TweenInfo is not available in the local emulator",
            ),
            (
                "game:GetService('HttpService'):GetAsync('https://example.com')",
                "TaskScript:1: HttpService.GetAsync is not emulated",
            ),
        ] {
            match run_script(script).outcome {
                VmOutcome::Failed { code, message } => {
                    assert_eq!(code, TaskErrorCode::ScriptError);
                    assert!(message.starts_with(expected), "{script}: {message}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn infinite_loops_hit_the_deadline() {
        let run = execute(&ExecutionRequest {
            script: "while true do end".into(),
            timeout: Duration::from_millis(200),
            ..ExecutionRequest::default()
        });
        match run.outcome {
            VmOutcome::Failed { code, .. } => assert_eq!(code, TaskErrorCode::DeadlineExceeded),
            other => panic!("{other:?}"),
        }
        let run = execute(&ExecutionRequest {
            script: "task.wait(10)".into(),
            timeout: Duration::from_millis(100),
            ..ExecutionRequest::default()
        });
        assert!(matches!(
            run.outcome,
            VmOutcome::Failed {
                code: TaskErrorCode::DeadlineExceeded,
                ..
            }
        ));
    }

    #[test]
    fn large_outputs_fail() {
        let run = run_script("return string.rep('x', 5 * 1024 * 1024)");
        assert!(matches!(
            run.outcome,
            VmOutcome::Failed {
                code: TaskErrorCode::OutputSizeLimitExceeded,
                ..
            }
        ));
    }

    #[test]
    fn binary_input_and_output() {
        let run = execute(&ExecutionRequest {
            script: "local input = ({...})[1].BinaryInput\nlocal out = buffer.create(buffer.len(input))\nfor i = 0, buffer.len(input) - 1 do buffer.writeu8(out, i, 255 - buffer.readu8(input, i)) end\nreturn { BinaryOutput = out, ReturnValues = { buffer.len(input) } }".into(),
            timeout: Duration::from_secs(5),
            binary_input: Some(vec![0, 1, 2]),
            enable_binary_output: true,
            place: None,
        });
        assert_eq!(
            run.outcome,
            VmOutcome::Complete {
                results: vec!["3".to_owned()],
                binary_output: Some(vec![255, 254, 253])
            }
        );
        let run = execute(&ExecutionRequest {
            script: "return 1".into(),
            timeout: Duration::from_secs(5),
            binary_input: None,
            enable_binary_output: true,
            place: None,
        });
        assert!(matches!(
            run.outcome,
            VmOutcome::Failed {
                code: TaskErrorCode::ScriptError,
                ..
            }
        ));
    }

    #[test]
    fn the_sandbox_has_no_io() {
        assert_eq!(
            results("return io == nil, os.execute == nil, getfenv == nil or true"),
            vec![json!(true), json!(true), json!(true)]
        );
        assert!(matches!(
            run_script("require('x')").outcome,
            VmOutcome::Failed {
                code: TaskErrorCode::ScriptError,
                ..
            }
        ));
    }
}
