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

use mlua::{Error as LuaError, Lua, MultiValue, Table, Value, VmState};

use super::LogWindow;
use super::dom::scheduler::{Scheduler, Stopped};
use super::dom::{self, Dom};
use super::json::{JsonError, JsonWriter};
use super::pacing::Pacer;
use super::place_cache::PlaceVersion;
use crate::api::model::{MessageType, TaskErrorCode};
use crate::roblox::{MAX_BINARY_OUTPUT_BYTES, MAX_OUTPUT_BYTES};

/// A script may not take the emulator down by allocating without bound: past this, the script
/// fails with an out-of-memory error. The VM and the instance tree (names, property values,
/// attributes, clones) share it. Room for a 256 MiB binary output and the string it was made
/// from.
pub const MEMORY_LIMIT: usize = 512 * 1024 * 1024;

/// Engine globals the emulator does not have. Touching one fails with a clear message.
const ENGINE_GLOBALS: &[&str] = &[
    "plugin",
    "PhysicalProperties",
    "RaycastParams",
    "OverlapParams",
    "Axes",
    "Faces",
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
    /// The place version the task runs in; an empty place when `None`.
    pub place: Option<Arc<PlaceVersion>>,
    /// Where the task runs: its universe, place and version, and the universe's memory stores.
    pub context: TaskContext,
}

/// Where a task runs, for the engine APIs that answer from it (`game.PlaceVersion`,
/// `MemoryStoreService`). Set as the VM's app data.
#[derive(Debug, Clone, Default)]
pub struct TaskContext {
    pub universe: u64,
    pub place: u64,
    pub version: u64,
    /// `None` outside the emulator's server (unit tests): memory stores then fail.
    pub memory: Option<super::memory_store::SharedStores>,
}

pub fn execute(request: &ExecutionRequest) -> Execution {
    execute_then(request, |execution| execution).0
}

/// A finished task's VM, closed when this is dropped.
///
/// Closing a VM (mlua collects all garbage, then frees every object) took 5% of a large
/// suite's run. Nobody waits on it once the outcome is out, but the runner reads that outcome
/// on the same cores at the same moment, and a process that ends after its last task need not
/// close it at all: the caller chooses when.
pub struct FinishedVm {
    _vm: Lua,
}

/// Runs the task and hands what it did to `done`; the VM comes back still open.
pub fn execute_then<R>(
    request: &ExecutionRequest,
    done: impl FnOnce(Execution) -> R,
) -> (R, FinishedVm) {
    let lua = Lua::new();
    let logs: Logs = Rc::new(RefCell::new(LogWindow::default()));
    let deadline = Instant::now() + request.timeout;
    let timed_out = Arc::new(AtomicBool::new(false));
    let outcome = match run(&lua, request, deadline, &logs, &timed_out) {
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
    let result = done(Execution { outcome, logs });
    (result, FinishedVm { _vm: lua })
}

fn run(
    lua: &Lua,
    request: &ExecutionRequest,
    deadline: Instant,
    logs: &Logs,
    timed_out: &Arc<AtomicBool>,
) -> mlua::Result<VmOutcome> {
    limit_and_pace(lua, deadline, timed_out)?;
    let (shared, scheduler) = install_task(lua, request, logs)?;
    let function = lua
        .load(request.script.as_str())
        // A script is text: one that looks like bytecode is not loaded as such.
        .set_mode(mlua::chunk::ChunkMode::Text)
        .set_name("=TaskScript")
        .set_environment(dom::script_env(lua, &shared, None)?)
        .into_function()?;
    let input = lua.create_table()?;
    if let Some(bytes) = &request.binary_input {
        input.set("BinaryInput", lua.create_buffer(bytes)?)?;
    }
    let returned = match scheduler.run(
        lua,
        function,
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
    let mut json = JsonWriter::new(MAX_OUTPUT_BYTES, deadline);
    let outcome = if request.enable_binary_output {
        binary_output(values, &mut json)?
    } else {
        values
            .iter()
            .map(|value| json.value(value))
            .collect::<Result<Vec<_>, _>>()
            .map(|results| complete(results, None))
    };
    outcome.or_else(|error| serialization_failed(error, timed_out))
}

/// Everything a task's scripts find, up to the sandbox that closes the global table: compile
/// options, `print` and `warn`, the place's tree and Roblox's globals. Returns the environment
/// scripts share and the task's scheduler.
fn install_task(
    lua: &Lua,
    request: &ExecutionRequest,
    logs: &Logs,
) -> mlua::Result<(Table, Rc<Scheduler>)> {
    lua.set_compiler(super::bytecode::compiler(0));
    install_output(lua, logs)?;
    install_stubs(lua)?;
    lua.set_app_data(request.context.clone());
    let tree = match &request.place {
        Some(place) => place.tree().map_err(|e| LuaError::runtime(e.to_string()))?,
        None => dom::empty_place(),
    };
    let sink = logs.clone();
    let dom = Rc::new(Dom::new(
        tree,
        Box::new(move |level, text| sink.borrow_mut().push(level, text)),
        MEMORY_LIMIT,
    ));
    let scheduler = Rc::new(Scheduler::default());
    let shared = dom::install(lua, dom, scheduler.clone())?;
    lua.sandbox(true)?;
    Ok((shared, scheduler))
}

/// The VM's memory limit, its collector's pacing (see [`Pacer`]), and the deadline's interrupt.
fn limit_and_pace(lua: &Lua, deadline: Instant, timed_out: &Arc<AtomicBool>) -> mlua::Result<()> {
    lua.set_memory_limit(MEMORY_LIMIT)?;
    let pacer = Rc::new(Pacer::start(lua));
    // The instance tree reports what it holds to the same pacer (see `dom::memory`).
    lua.set_app_data(pacer.clone());
    let flag = timed_out.clone();
    // Luau calls this at every call and loop back-edge: the clock is read only every 256th
    // time (a few microseconds of script at most), which made it a fifth of a suite's run time.
    let calls = std::cell::Cell::new(0u32);
    lua.set_interrupt(move |lua| {
        let count = calls.get().wrapping_add(1);
        calls.set(count);
        // The heap is looked at more often than the clock: a few large allocations can take it
        // from one goal's range into the next within a handful of loop edges.
        if !count.is_multiple_of(16) {
            return Ok(VmState::Continue);
        }
        pacer.pace(lua)?;
        if !count.is_multiple_of(256) {
            return Ok(VmState::Continue);
        }
        if Instant::now() >= deadline {
            flag.store(true, Ordering::SeqCst);
            return Err(LuaError::runtime("the task exceeded its timeout"));
        }
        Ok(VmState::Continue)
    });
    Ok(())
}

/// What a failure to write the return values as JSON does to the task: too large is Roblox's
/// own outcome; a cycle fails the script (Roblox documents no outcome for it; its
/// `JSONEncode` refuses cyclic tables the same way); the deadline is the task's timeout.
fn serialization_failed(error: JsonError, timed_out: &AtomicBool) -> mlua::Result<VmOutcome> {
    match error {
        JsonError::TooLarge { .. } => Ok(VmOutcome::Failed {
            code: TaskErrorCode::OutputSizeLimitExceeded,
            message: error.to_string(),
        }),
        JsonError::Cyclic { .. } => Err(LuaError::runtime(error.to_string())),
        JsonError::Deadline => {
            timed_out.store(true, Ordering::SeqCst);
            Err(LuaError::runtime(error.to_string()))
        }
    }
}

/// The result of a task run with `enableBinaryOutput`: exactly one table with a
/// `BinaryOutput` buffer and an optional `ReturnValues` array.
fn binary_output(
    values: Vec<Value>,
    json: &mut JsonWriter,
) -> mlua::Result<Result<VmOutcome, JsonError>> {
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
    if bytes.len() as u64 > MAX_BINARY_OUTPUT_BYTES {
        return Ok(Ok(VmOutcome::Failed {
            code: TaskErrorCode::OutputSizeLimitExceeded,
            message: format!(
                "The BinaryOutput buffer is {} bytes, over the 256 MiB limit",
                bytes.len()
            ),
        }));
    }
    let results = match table.get::<Value>("ReturnValues")? {
        Value::Nil => Ok(Vec::new()),
        // The array's items, each as its own value.
        Value::Table(values) => (1..=values.raw_len())
            .map(|i| json.value(&values.raw_get::<Value>(i).unwrap_or(Value::Nil)))
            .collect(),
        other => json.value(&other).map(|text| vec![text]),
    };
    Ok(results.map(|results| complete(results, Some(bytes))))
}

/// A completed task; the writer has kept the results within the limit.
fn complete(results: Vec<String>, binary_output: Option<Vec<u8>>) -> VmOutcome {
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
            let line = parts.join(" ");
            sink.borrow_mut().push(level.clone(), &line);
            crate::emulator::dom::services::log_service::message_out(lua, &level, &line)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Runs a script with a deadline no test means to reach (tests run side by side on a
    /// loaded machine: 200,000 prints took over 5 s there).
    fn run_script(script: &str) -> Execution {
        execute(&ExecutionRequest {
            script: script.into(),
            timeout: Duration::from_secs(60),
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
        assert_eq!(
            results("local s = {1}; return {a = s, b = s}"),
            vec![json!({"a": [1], "b": [1]})]
        );
    }

    #[test]
    fn cyclic_and_exploding_results_end_the_task_at_once() {
        match run_script("local t = {} t.a = t t.b = t return t").outcome {
            VmOutcome::Failed { code, message } => {
                assert_eq!(code, TaskErrorCode::ScriptError);
                assert!(message.contains("tables cannot be cyclic"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        // Shared tables double the text at every level: it stops at 4 MB (well before the
        // deadline, even in a debug build).
        let run = execute(&ExecutionRequest {
            script: "local t = {} for i = 1, 60 do t = {a = t, b = t} end return t".into(),
            timeout: Duration::from_secs(120),
            ..ExecutionRequest::default()
        });
        assert!(
            matches!(
                run.outcome,
                VmOutcome::Failed {
                    code: TaskErrorCode::OutputSizeLimitExceeded,
                    ..
                }
            ),
            "{:?}",
            run.outcome
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
        // 200,000 prints take a few seconds in a debug build beside other tests: room to finish.
        let run = execute(&ExecutionRequest {
            script: "for i = 1, 200000 do print(string.rep('x', 100) .. i) end return 1".into(),
            timeout: Duration::from_secs(60),
            ..ExecutionRequest::default()
        });
        let kept: usize = run.logs.messages().map(|m| m.message.len() + 47).sum();
        assert!(kept <= crate::roblox::LOG_WINDOW_BYTES, "{kept}");
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

    /// A task that keeps 240 MiB live and then makes 720 MiB of garbage completes: past
    /// 160 MiB the collector's goal falls, so the garbage is collected before it takes the
    /// heap past the limit (at the small heap's 300% it would reach 720 MiB first).
    #[test]
    fn a_mostly_live_heap_is_collected_before_its_garbage_reaches_the_limit() {
        let script = "local MiB = 1024 * 1024\n\
            local kept = {}\n\
            for i = 1, 30 do kept[i] = buffer.create(8 * MiB) end\n\
            local made = 0\n\
            for i = 1, 90 do made += buffer.len(buffer.create(8 * MiB)) end\n\
            return #kept, made // MiB";
        assert_eq!(results(script), vec![json!(30), json!(720)]);
    }

    #[test]
    fn instances_count_against_the_tasks_memory() {
        // Each would hold 1.5 GiB outside the VM: names, clones, attributes, property values.
        for script in [
            "local p = Instance.new('Folder') p.Name = string.rep('x', 64 * 1024 * 1024)
             local t = {} for i = 1, 24 do t[i] = p:Clone() end return #t",
            "local s = string.rep('x', 64 * 1024 * 1024)
             local t = {} for i = 1, 24 do t[i] = Instance.new('Folder') t[i].Name = s .. i end return 1",
            "local p = Instance.new('Folder') local s = string.rep('x', 64 * 1024 * 1024)
             for i = 1, 24 do p:SetAttribute('a' .. i, s) end return 1",
            "local s = string.rep('x', 64 * 1024 * 1024)
             local t = {} for i = 1, 24 do t[i] = Instance.new('StringValue') t[i].Value = s .. i end return 1",
        ] {
            let run = execute(&ExecutionRequest {
                script: script.into(),
                timeout: Duration::from_secs(120),
                ..ExecutionRequest::default()
            });
            match run.outcome {
                VmOutcome::Failed { code, message } => {
                    assert_eq!(code, TaskErrorCode::ScriptError, "{script}");
                    assert!(message.contains("not enough memory"), "{script}: {message}");
                }
                other => panic!("{script}: {other:?}"),
            }
        }
        // What the tree gives back (a shorter name) the VM can use again, and ordinary use fits.
        completes_with(
            "local p = Instance.new('Folder')
             for i = 1, 12 do p.Name = string.rep('x', 64 * 1024 * 1024) .. i p.Name = '' end
             for i = 1, 2000 do Instance.new('Folder').Parent = p end
             return #p:GetChildren()",
            "2000",
        );
        // Instances no script reaches any more give their memory back, as on Roblox: dropped,
        // destroyed or cloned, 4.5 GiB of them fit in the task's 512 MiB.
        completes_with(
            "local s = string.rep('x', 64 * 1024 * 1024)
             for i = 1, 24 do Instance.new('Folder').Name = s .. i end
             for i = 1, 24 do Instance.new('StringValue').Value = s .. i end
             for i = 1, 24 do local f = Instance.new('Folder') f.Name = s .. i f:Destroy() end
             local p = Instance.new('Folder') p.Name = s
             for i = 1, 24 do p:Clone() end
             return 1",
            "1",
        );
    }

    /// Runs `script` (two minutes at most) and checks that it completed returning `result`.
    fn completes_with(script: &str, result: &str) {
        let run = execute(&ExecutionRequest {
            script: script.into(),
            timeout: Duration::from_secs(120),
            ..ExecutionRequest::default()
        });
        assert_eq!(
            run.outcome,
            VmOutcome::Complete {
                results: vec![result.into()],
                binary_output: None
            },
            "{script}"
        );
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

    /// On Roblox the main script's return values or error are the task's, however its thread
    /// was resumed; the scheduler used to learn them only when it resumed the thread itself.
    #[test]
    fn tracebacks_read_as_on_roblox_without_the_emulators_own_frames() {
        // The main script runs inside the prelude's body; Roblox has no such frame.
        let traces = results(
            "local function inner() return debug.traceback('here') end\n\
             local function leveled() return debug.traceback('at', 2) end\n\
             local before = inner()\n\
             task.wait()\n\
             return before, inner(), leveled(), debug.traceback(coroutine.running())",
        );
        for trace in &traces {
            let trace = trace.as_str().unwrap_or_default();
            assert!(!trace.contains("luau-exec.prelude"), "{trace}");
            assert!(trace.contains("TaskScript:"), "{trace}");
        }
        assert!(
            traces[0]
                .as_str()
                .is_some_and(|t| t.starts_with("here\nTaskScript:1 function inner\nTaskScript:3")),
            "{traces:?}"
        );
        // Level 2 starts at the caller of the function that asked, as on Roblox.
        assert!(
            traces[2]
                .as_str()
                .is_some_and(|t| t.starts_with("at\nTaskScript:5")),
            "{traces:?}"
        );
    }

    #[test]
    fn the_main_threads_fate_counts_however_it_was_resumed() {
        let signal_wait = "local f = Instance.new('BoolValue')\ntask.delay(0.01, function() f.Value = true end)\nf.Changed:Wait()\n";
        let resumers = [
            ("a signal's Wait", signal_wait.to_owned()),
            (
                "task.spawn from a deferred thread",
                "local main = coroutine.running()\ntask.defer(function() task.spawn(main) end)\ncoroutine.yield()\n".to_owned(),
            ),
            (
                "coroutine.resume in another thread",
                "local main = coroutine.running()\ntask.delay(0.01, function() coroutine.resume(main) end)\ncoroutine.yield()\n".to_owned(),
            ),
            (
                // The empty place's signals are immediate: the handler defers the resume, as
                // a deferred place's signal would (the main thread is still running then).
                "a signal handler, deferred",
                "local main = coroutine.running()\nlocal f = Instance.new('IntValue')\nf.Changed:Connect(function() task.defer(task.spawn, main) end)\nf.Value = 1\ncoroutine.yield()\n".to_owned(),
            ),
        ];
        for (how, prelude) in resumers {
            let line = prelude.lines().count() + 1;
            match run_script(&format!("{prelude}error('after the wait')")).outcome {
                VmOutcome::Failed { code, message } => {
                    assert_eq!(code, TaskErrorCode::ScriptError, "{how}");
                    assert_eq!(
                        message,
                        format!("TaskScript:{line}: after the wait"),
                        "{how}"
                    );
                }
                other => panic!("{how}: an error after it ended {other:?}"),
            }
            assert_eq!(
                results(&format!("{prelude}return 42, 'done'")),
                vec![json!(42), json!("done")],
                "{how}"
            );
        }
        // Closed before it returned: no result, never a success.
        match run_script("local main = coroutine.running()\ntask.defer(function() coroutine.close(main) end)\ncoroutine.yield()\nreturn 1").outcome {
            VmOutcome::Failed { code, .. } => assert_eq!(code, TaskErrorCode::ScriptError),
            other => panic!("a closed main thread ended {other:?}"),
        }
        // What the main body catches keeps the message Roblox gives it.
        for (script, expected) in [
            (
                "error(setmetatable({}, {__tostring = function() return 'custom' end}))",
                "custom",
            ),
            ("error(nil)", "nil"),
            ("task.wait()\nerror('x', 0)", "x"),
        ] {
            match run_script(script).outcome {
                VmOutcome::Failed { message, .. } => assert_eq!(message, expected, "{script}"),
                other => panic!("{script}: {other:?}"),
            }
        }
    }

    /// Each scheduler and tag operation is O(log n) or better: with a linear scan per
    /// operation each of these ran into a two-minute deadline. The outcome is asserted, not
    /// the time (they take a few seconds in a debug build).
    #[test]
    fn many_threads_and_tags_complete_well_within_the_deadline() {
        let cases = [
            (
                "local n = 0\nfor i = 1, 200000 do task.delay(0.01 + (i % 100) / 1000, function() n += 1 end) end\ntask.wait(0.3)\nreturn n",
                json!(200000),
            ),
            (
                "local n = 0\nfor i = 1, 100000 do task.spawn(function() task.wait(0.2) n += 1 end) end\ntask.wait(0.4)\nreturn n",
                json!(100000),
            ),
            (
                "local ran, threads = 0, {}\nfor i = 1, 100000 do threads[i] = task.delay(0.1, function() ran += 1 end) end\nfor i = 1, 100000, 2 do task.cancel(threads[i]) end\ntask.wait(0.2)\nreturn ran",
                json!(50000),
            ),
            (
                "local C = game:GetService('CollectionService')\nlocal one = Instance.new('Folder', workspace)\nfor i = 1, 40000 do one:AddTag('t' .. i) end\nfor i = 1, 20000 do Instance.new('Folder', workspace):AddTag('t7') end\nreturn { #one:GetTags(), one:HasTag('t39999'), #C:GetTagged('t7'), C:GetTagged('t7')[1] == one }",
                json!([40000, true, 20001, true]),
            ),
        ];
        for (script, expected) in cases {
            let run = execute(&ExecutionRequest {
                script: script.into(),
                timeout: Duration::from_secs(120),
                ..ExecutionRequest::default()
            });
            match run.outcome {
                VmOutcome::Complete { results, .. } => {
                    let first: serde_json::Value = serde_json::from_str(&results[0]).unwrap();
                    assert_eq!(first, expected, "{script}");
                }
                other => panic!("{script}: {other:?}"),
            }
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
                "local a = 1\nlocal t = RaycastParams.new()",
                "TaskScript:2: RaycastParams is not available in the local emulator",
            ),
            (
                "game:GetService('MarketplaceService'):GetProductInfo(1)",
                "TaskScript:1: MarketplaceService.GetProductInfo is not emulated",
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
            context: TaskContext::default(),
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
            context: TaskContext::default(),
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
    fn scripts_run_fast_and_still_find_what_roblox_gives_them() {
        // Modules and the task's script run in safe environments (Luau's fast paths): each
        // must still find Roblox's `typeof`, its own globals, `_G` shared between scripts, and
        // what `getfenv` changed.
        let script = r#"
            local module = Instance.new("ModuleScript")
            module.Source = [[
                local v = Vector3.new(1, 2, 3)
                _G.fromModule = typeof(v)
                math = { floor = function() return "its own" end }
                local n = 0
                for _ in pairs({ 1, 2, 3 }) do n += 1 end
                return { typeof(v), math.floor(1.5), n, typeof(game) }
            ]]
            local fromModule = require(module)
            local before = typeof(game)
            getfenv().game = "replaced"
            return fromModule, _G.fromModule, typeof(Vector3.new()), before, game, math.floor(2.5)
        "#;
        assert_eq!(
            results(script),
            vec![
                json!(["Vector3", "its own", 3, "Instance"]),
                json!("Vector3"),
                json!("Vector3"),
                json!("Instance"),
                json!("replaced"),
                json!(2),
            ]
        );
    }

    #[test]
    fn every_builtin_the_emulator_replaces_is_compiled_as_a_call_of_the_global() {
        // In a safe environment Luau runs its own builtin for a call of `typeof` or
        // `math.floor` without reading the global: one the emulator replaces must be in
        // `REPLACED_BUILTINS`, or scripts would silently get Luau's. Functions Luau does not
        // compile as builtins may be replaced freely.
        const NOT_BUILTINS: &[&str] = &["print", "warn", "require"];
        const LIBRARIES: &[&str] = &["math", "bit32", "string", "table", "buffer", "vector"];
        let lua = Lua::new();
        // (library, name, function) of each function Luau gives, "" for the base library.
        let mut originals: Vec<(&str, String, Value)> = Vec::new();
        for library in std::iter::once(&"").chain(LIBRARIES) {
            let table: Table = if library.is_empty() {
                lua.globals()
            } else {
                lua.globals().raw_get(*library).unwrap()
            };
            for pair in table.pairs::<String, Value>() {
                let (name, value) = pair.unwrap();
                if let Value::Function(_) = value {
                    originals.push((library, name, value));
                }
            }
        }
        assert!(
            originals
                .iter()
                .any(|(lib, name, _)| *lib == "math" && name == "floor")
        );
        let logs: Logs = Rc::default();
        install_task(&lua, &ExecutionRequest::default(), &logs).unwrap();
        // What a script's global import finds now (through the sandbox's proxy).
        let found = |library: &str, name: &str| -> Value {
            if library.is_empty() {
                lua.globals().get(name).unwrap()
            } else {
                let table: Table = lua.globals().get(library).unwrap();
                table.raw_get(name).unwrap()
            }
        };
        let replaced: Vec<String> = originals
            .iter()
            .filter(|(library, name, original)| found(library, name) != *original)
            .map(|(library, name, _)| match *library {
                "" => name.clone(),
                library => format!("{library}.{name}"),
            })
            .filter(|name| !NOT_BUILTINS.contains(&name.as_str()))
            .collect();
        assert_eq!(replaced, super::super::bytecode::REPLACED_BUILTINS);
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
