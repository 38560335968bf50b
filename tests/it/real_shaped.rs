//! Suites shaped like real open-source libraries' (Roact, Rodux, roblox-lua-promise, t), run
//! offline with TestEZ from npm: CI cannot reach GitHub, so these spec projects exercise each
//! engine API the way those libraries' own suites do (`scripts/real-suites.py` runs the real
//! ones). Also the `test-setup` hook those libraries' runners need.

use std::path::Path;

use rbx_dom_weak::InstanceBuilder;
use serde_json::{Value, json};

use crate::places::{folder, from_folder, module, place, testez_run, testez_source};
use crate::support::Output;

/// Writes a place of TestEZ (from npm) and `children` under ReplicatedStorage to `game.rbxl`.
fn write_place(repo: &Path, children: Vec<InstanceBuilder>) {
    let mut all = vec![from_folder("TestEZ", &testez_source())];
    all.extend(children);
    std::fs::write(repo.join("game.rbxl"), place(all)).expect("the place is written");
}

/// The JSON format's result line (the last line of stdout).
fn result_of(output: &Output) -> Value {
    let last = output.stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| {
        panic!(
            "no result line ({e}):\n{}\n{}",
            output.stdout, output.stderr
        )
    })
}

/// Each failed test's path and message, for assertion messages.
fn failures(result: &Value) -> Vec<String> {
    result["tests"]["tests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|test| test["status"] == "failed")
        .map(|test| format!("{}: {}", test["path"], test["message"]))
        .collect()
}

// --- test-setup -----------------------------------------------------------------------------

/// A library with a global config (as Roact's `setGlobalConfig`), a spec that passes only when
/// it was configured, and a setup module that configures it.
fn configured_library() -> Vec<InstanceBuilder> {
    vec![
        module(
            "Lib",
            "local config = { typeChecks = false }\nlocal Lib = {}\nfunction Lib.setGlobalConfig(values)\n\tfor key, value in values do\n\t\tconfig[key] = value\n\tend\nend\nfunction Lib.config()\n\treturn config\nend\nreturn Lib\n",
        ),
        module(
            "TestSetup",
            "require(script.Parent.Lib).setGlobalConfig({ typeChecks = true })\nreturn nil\n",
        ),
        module(
            "FailingSetup",
            "local Lib = require(script.Parent.Lib)\nerror(\"cannot configure \" .. tostring(Lib))\n",
        ),
        folder("Tests").with_child(module(
            "config.spec",
            "local Lib = require(script.Parent.Parent.Lib)\nreturn function()\n\tit(\"runs configured\", function()\n\t\texpect(Lib.config().typeChecks).to.equal(true)\n\tend)\nend\n",
        )),
        folder("NotAModule"),
    ]
}

#[tokio::test]
async fn test_setup_configures_the_modules_the_specs_require() {
    let repo = tempfile::tempdir().unwrap();
    write_place(repo.path(), configured_library());

    let output = testez_run(repo.path())
        .env("INPUT_TEST_SETUP", "ReplicatedStorage.TestSetup")
        .output()
        .await;
    let result = result_of(&output);
    assert_eq!(output.code, 0, "{:?}", failures(&result));
    assert_eq!(
        result["tests"]["counts"],
        json!({ "total": 1, "passed": 1, "failed": 0, "skipped": 0 })
    );

    // Without it the same spec fails: the setup is what configured the library.
    let output = testez_run(repo.path()).output().await;
    assert_eq!(output.code, 10, "{}", output.stdout);
    assert_eq!(
        result_of(&output)["tests"]["counts"]["failed"],
        json!(1),
        "{}",
        output.stdout
    );
}

#[tokio::test]
async fn a_test_setup_that_raises_an_error_fails_the_step_with_its_message() {
    let repo = tempfile::tempdir().unwrap();
    write_place(repo.path(), configured_library());
    let output = testez_run(repo.path())
        .env("INPUT_TEST_SETUP", "ReplicatedStorage.FailingSetup")
        .output()
        .await;
    let result = result_of(&output);
    assert_eq!(output.code, 10, "{}\n{}", output.stdout, output.stderr);
    assert_eq!(
        result["outcome"],
        "TEST SETUP FAILED at ReplicatedStorage.FailingSetup"
    );
    let problem = result["problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains("requiring `ReplicatedStorage.FailingSetup` before the suite raised an error, so no test ran: ReplicatedStorage.FailingSetup:2: cannot configure table: "),
        "{result}"
    );
    assert_eq!(result["tests"]["counts"]["total"], json!(0), "{result}");
}

#[tokio::test]
async fn a_test_setup_missing_from_the_place_says_what_is_there() {
    let repo = tempfile::tempdir().unwrap();
    write_place(repo.path(), configured_library());
    for (path, says) in [
        (
            "ReplicatedStorage.Setup",
            "there is no `ReplicatedStorage.Setup` in the place: ReplicatedStorage has no child `Setup` (its children: FailingSetup, Lib, NotAModule, TestEZ, TestSetup, Tests)",
        ),
        (
            "ReplicatedStorage.NotAModule",
            "`ReplicatedStorage.NotAModule` is a Folder, not a ModuleScript to require before the suite",
        ),
    ] {
        let output = testez_run(repo.path())
            .env("INPUT_TEST_SETUP", path)
            .output()
            .await;
        let result = result_of(&output);
        assert_eq!(output.code, 10, "{path}: {}", output.stdout);
        assert_eq!(result["outcome"], format!("NO TEST SETUP at {path}"));
        let problem = result["problem"].as_str().unwrap_or_default();
        assert!(problem.contains(says), "{path}: {result}");
    }
}

// --- debug.loadmodule (Jest-Lua's jest-runtime loads every module through it) --------------

/// Runs `script` on the local backend in a place holding `children`; its first result.
async fn first_result(children: Vec<InstanceBuilder>, script: &str) -> Value {
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), place(children)).unwrap();
    let output = crate::support::Run::bare()
        .dir(repo.path())
        .env("INPUT_BACKEND", "local")
        .env("INPUT_PLACE_FILE", "game.rbxl")
        .env("INPUT_SCRIPT", script)
        .env("INPUT_OUTPUT_FORMAT", "json")
        .output()
        .await;
    assert_eq!(output.code, 0, "{}\n{}", output.stdout, output.stderr);
    result_of(&output)["results"][0].clone()
}

#[tokio::test]
async fn debug_loadmodule_compiles_a_module_afresh_without_running_or_caching_it() {
    let children = vec![
        module(
            "Counter",
            "_G.loads = (_G.loads or 0) + 1\nreturn { script = script:GetFullName() }\n",
        ),
        module("Broken", "return (\n"),
        module(
            "Reads",
            "return script.Name .. \" \" .. tostring(injected)\n",
        ),
        module("Raises", "local x = 1\nerror(\"boom\")\n"),
    ];
    let script = r#"
local RS = game:GetService("ReplicatedStorage")
local r = {}
local load, problem = debug.loadmodule(RS.Counter)
r.notRunYet = _G.loads == nil
local first, second = load(), load()
r.fresh = first ~= second and require(RS.Counter) ~= first
r.loads = _G.loads
r.script = first.script
r.problem = problem == nil
local broken, message = debug.loadmodule(RS.Broken)
r.brokenIsNil = broken == nil
r.message = message
r.folder = select(2, pcall(debug.loadmodule, workspace))
r.text = select(2, pcall(debug.loadmodule, "RS.Counter"))
-- Jest sets its own environment over the one the function comes with.
local reads = debug.loadmodule(RS.Reads)
setfenv(reads, setmetatable({ injected = 42 }, { __index = getfenv(reads) }))
r.reads = reads()
r.raises = select(2, pcall(debug.loadmodule(RS.Raises)))
return r
"#;
    let result = first_result(children, script).await;
    assert_eq!(result["notRunYet"], true, "{result}");
    assert_eq!(result["fresh"], true, "{result}");
    assert_eq!(result["loads"], 3, "two loads and one require: {result}");
    assert_eq!(result["script"], "ReplicatedStorage.Counter");
    assert_eq!(result["problem"], true);
    assert_eq!(result["brokenIsNil"], true);
    assert_eq!(
        result["message"],
        "ReplicatedStorage.Broken:2: Expected identifier when parsing expression, got <eof>"
    );
    assert_eq!(
        result["folder"],
        "invalid argument #1 to 'loadmodule' (ModuleScript expected, got Workspace)"
    );
    assert_eq!(
        result["text"],
        "invalid argument #1 to 'loadmodule' (ModuleScript expected, got string)"
    );
    assert_eq!(result["reads"], "Reads 42");
    assert_eq!(result["raises"], "ReplicatedStorage.Raises:2: boom");
}

// --- real-shaped spec projects --------------------------------------------------------------

/// A place of TestEZ and one library folder under ReplicatedStorage, with
/// `Workspace.SignalBehavior` set to Immediate when `immediate` (suites written before deferred
/// events, as Roact's and Promise's were, expect a handler to have run when `Fire` returns).
fn library_place(library: InstanceBuilder, immediate: bool) -> Vec<u8> {
    use rbx_dom_weak::types::{Enum, Variant};
    use rbx_dom_weak::{InstanceBuilder as Builder, WeakDom};
    let mut dom = WeakDom::new(Builder::new("DataModel"));
    let root = dom.root_ref();
    let storage = dom.insert(
        root,
        Builder::new("ReplicatedStorage").with_name("ReplicatedStorage"),
    );
    dom.insert(storage, from_folder("TestEZ", &testez_source()));
    dom.insert(storage, library);
    let mut workspace = Builder::new("Workspace").with_name("Workspace");
    if immediate {
        let items = &rbx_reflection_database::get_bundled().enums["SignalBehavior"].items;
        workspace = workspace.with_property(
            "SignalBehavior",
            Variant::Enum(Enum::from_u32(items["Immediate"])),
        );
    }
    dom.insert(root, workspace);
    let services = dom.root().children().to_vec();
    let mut bytes = Vec::new();
    rbx_binary::to_writer(&mut bytes, &dom, &services).expect("a place");
    bytes
}

/// Runs the TestEZ suite of `library` (its root is `ReplicatedStorage.<name>`) and asserts that
/// every one of its `expected` tests passed.
async fn assert_suite_passes(name: &str, library: InstanceBuilder, immediate: bool, expected: u64) {
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("game.rbxl"),
        library_place(library, immediate),
    )
    .unwrap();
    let output = testez_run(repo.path())
        .env("INPUT_TEST_ROOTS", &format!("ReplicatedStorage.{name}"))
        .output()
        .await;
    let result = result_of(&output);
    assert_eq!(
        result["tests"]["counts"],
        json!({ "total": expected, "passed": expected, "failed": 0, "skipped": 0 }),
        "{name}: {:#?}\n{}",
        failures(&result),
        result["problem"]
    );
    assert_eq!(output.code, 0, "{}", output.stdout);
}

/// Shaped like roblox-lua-promise: the library reads `RunService.Heartbeat` when it loads, and
/// times its delays by summing each frame's `deltaTime`; `fromEvent` waits on a signal inside
/// a thread of its own.
const TIMER: &str = r##"
local RunService = game:GetService("RunService")

local Timer = { _timeEvent = RunService.Heartbeat }

function Timer.delay(seconds, callback)
	local elapsed = 0
	local connection
	connection = Timer._timeEvent:Connect(function(deltaTime)
		elapsed += deltaTime
		if elapsed >= seconds then
			connection:Disconnect()
			callback(elapsed)
		end
	end)
	return connection
end

function Timer.fromEvent(event)
	local waiting = { done = false }
	task.spawn(function()
		waiting.values = table.pack(event:Wait())
		waiting.done = true
	end)
	return waiting
end

return Timer
"##;

const TIMER_SPEC: &str = r##"
return function()
	local Timer = require(script.Parent.Timer)
	local RunService = game:GetService("RunService")

	describe("RunService", function()
		it("answers as a game server", function()
			expect(RunService:IsServer()).to.equal(true)
			expect(RunService:IsClient()).to.equal(false)
		end)
		it("passes each Heartbeat handler a positive deltaTime", function()
			local seen
			local connection = RunService.Heartbeat:Connect(function(deltaTime)
				seen = deltaTime
			end)
			local waited = RunService.Heartbeat:Wait()
			connection:Disconnect()
			expect(typeof(waited)).to.equal("number")
			expect(waited > 0).to.equal(true)
			expect(typeof(seen)).to.equal("number")
		end)
		it("stops calling a handler once it is disconnected", function()
			local calls = 0
			local connection = RunService.Heartbeat:Connect(function()
				calls += 1
			end)
			RunService.Heartbeat:Wait()
			connection:Disconnect()
			expect(connection.Connected).to.equal(false)
			local seen = calls
			RunService.Heartbeat:Wait()
			RunService.Heartbeat:Wait()
			expect(calls).to.equal(seen)
		end)
		it("fires Heartbeat every frame, about 60 times a second", function()
			local frames = 0
			local connection = RunService.Heartbeat:Connect(function()
				frames += 1
			end)
			task.wait(0.25)
			connection:Disconnect()
			expect(frames >= 5 and frames <= 30).to.equal(true)
		end)
	end)

	describe("Timer.delay", function()
		it("calls back once the time has passed, not before", function()
			local elapsed
			Timer.delay(0.05, function(total)
				elapsed = total
			end)
			expect(elapsed).to.equal(nil)
			task.wait(0.2)
			expect(elapsed >= 0.05).to.equal(true)
		end)
	end)

	describe("BindableEvent", function()
		it("calls handlers with Fire's arguments before Fire returns", function()
			local bindable = Instance.new("BindableEvent")
			local got
			bindable.Event:Connect(function(...)
				got = table.pack(...)
			end)
			bindable:Fire("a", 2, nil)
			expect(got.n).to.equal(3)
			expect(got[1]).to.equal("a")
			expect(got[2]).to.equal(2)
		end)
		it("resumes a thread waiting on Event with Fire's arguments", function()
			local bindable = Instance.new("BindableEvent")
			local waiting = Timer.fromEvent(bindable.Event)
			expect(waiting.done).to.equal(false)
			bindable:Fire("value", 5)
			expect(waiting.done).to.equal(true)
			expect(waiting.values[1]).to.equal("value")
			expect(waiting.values[2]).to.equal(5)
		end)
	end)
end
"##;

#[tokio::test]
#[ignore = "needs RunService.Heartbeat (services) and BindableEvent.Event (rooms)"]
async fn a_heartbeat_driven_timer_like_promises_passes() {
    let library = folder("Timers")
        .with_child(module("Timer", TIMER))
        .with_child(module("Timer.spec", TIMER_SPEC));
    assert_suite_passes("Timers", library, true, 8).await;
}
