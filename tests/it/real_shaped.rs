//! Suites shaped like real open-source libraries' (Roact, Rodux, roblox-lua-promise, t), run
//! offline with TestEZ from npm: CI cannot reach GitHub, so these spec projects exercise each
//! engine API the way those libraries' own suites do (`scripts/real-suites.py` runs the real
//! ones). Also the `test-setup` hook those libraries' runners need.

use std::path::Path;

use rbx_dom_weak::InstanceBuilder;
use serde_json::{Value, json};

use crate::places::{folder, from_folder, module, place, testez_run, testez_source};
use crate::support::{Outcome, Output};

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
        .expect()
        .await;
    let result = result_of(&output);
    assert_eq!(output.code, 0, "{:?}", failures(&result));
    assert_eq!(
        result["tests"]["counts"],
        json!({ "total": 1, "passed": 1, "failed": 0, "skipped": 0 })
    );

    // Without it the same spec fails: the setup is what configured the library.
    let output = testez_run(repo.path()).expect().await;
    output.code(Outcome::TestsFailed);
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
        .expect()
        .await;
    let result = result_of(&output);
    output.code(Outcome::TestsFailed);
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
            .expect()
            .await
            .case(path);
        let result = result_of(&output);
        output.code(Outcome::TestsFailed);
        assert_eq!(result["outcome"], format!("NO TEST SETUP at {path}"));
        let problem = result["problem"].as_str().unwrap_or_default();
        assert!(problem.contains(says), "{path}: {result}");
    }
}

// --- debug.loadmodule (Jest-Lua's jest-runtime loads every module through it) --------------

/// Runs `script` on the local backend in a place holding `children`; its first result, once
/// the run exited `code`.
async fn first_result(children: Vec<InstanceBuilder>, script: &str, code: Outcome) -> Value {
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), place(children)).unwrap();
    let output = crate::support::Run::bare()
        .dir(repo.path())
        .env("INPUT_BACKEND", "local")
        .env("INPUT_PLACE_FILE", "game.rbxl")
        .env("INPUT_SCRIPT", script)
        .env("INPUT_OUTPUT_FORMAT", "json")
        .expect()
        .await;
    output.code(code);
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
    let result = first_result(children, script, Outcome::Complete).await;
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
        .expect()
        .await;
    let result = result_of(&output);
    assert_eq!(
        result["tests"]["counts"],
        json!({ "total": expected, "passed": expected, "failed": 0, "skipped": 0 }),
        "{name}: {:#?}\n{}",
        failures(&result),
        result["problem"]
    );
    output.code(Outcome::Complete);
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
async fn a_heartbeat_driven_timer_like_promises_passes() {
    let library = folder("Timers")
        .with_child(module("Timer", TIMER))
        .with_child(module("Timer.spec", TIMER_SPEC));
    assert_suite_passes("Timers", library, true, 7).await;
}

/// Shaped like Rodux: a store whose `changed` signal fires from a flush on the next Heartbeat
/// (Rodux reads `RunService.Heartbeat` when `Store` loads), with the new and the old state.
const STORE: &str = r##"
local RunService = game:GetService("RunService")

local Store = {}
Store.__index = Store
Store._flushEvent = RunService.Heartbeat

function Store.new(reducer, initialState)
	local self = setmetatable({
		_reducer = reducer,
		_state = initialState,
		_lastState = initialState,
		_listeners = {},
	}, Store)
	self._connection = Store._flushEvent:Connect(function()
		self:flush()
	end)
	return self
end

function Store:getState()
	return self._state
end

function Store:dispatch(action)
	self._state = self._reducer(self._state, action)
end

function Store:onChanged(listener)
	table.insert(self._listeners, listener)
end

function Store:flush()
	if self._state == self._lastState then
		return
	end
	local old = self._lastState
	self._lastState = self._state
	for _, listener in self._listeners do
		listener(self._state, old)
	end
end

function Store:destruct()
	self._connection:Disconnect()
end

return Store
"##;

const STORE_SPEC: &str = r##"
return function()
	local Store = require(script.Parent.Store)
	local RunService = game:GetService("RunService")

	local function counter(state, action)
		if action.type == "add" then
			return { count = state.count + action.by }
		end
		return state
	end

	it("flushes changes on the next Heartbeat, with the new and old state", function()
		local store = Store.new(counter, { count = 0 })
		local calls = {}
		store:onChanged(function(new, old)
			table.insert(calls, { new.count, old.count })
		end)
		store:dispatch({ type = "add", by = 2 })
		store:dispatch({ type = "add", by = 3 })
		expect(#calls).to.equal(0)
		RunService.Heartbeat:Wait()
		task.wait()
		expect(#calls).to.equal(1)
		expect(calls[1][1]).to.equal(5)
		expect(calls[1][2]).to.equal(0)
		store:destruct()
	end)

	it("stops flushing once destructed", function()
		local store = Store.new(counter, { count = 0 })
		local calls = 0
		store:onChanged(function()
			calls += 1
		end)
		store:destruct()
		store:dispatch({ type = "add", by = 1 })
		task.wait(0.1)
		expect(calls).to.equal(0)
		expect(store:getState().count).to.equal(1)
	end)

	it("passes an IntValue's new value to its Changed handlers", function()
		local value = Instance.new("IntValue")
		local seen = {}
		value.Changed:Connect(function(newValue)
			table.insert(seen, newValue)
		end)
		value.Value = 7
		task.wait()
		expect(seen[1]).to.equal(7)
	end)

	it("passes a Folder's changed property name to its Changed handlers", function()
		local folder = Instance.new("Folder")
		local seen
		folder.Changed:Connect(function(property)
			seen = property
		end)
		folder.Name = "Renamed"
		task.wait()
		expect(seen).to.equal("Name")
	end)
end
"##;

#[tokio::test]
async fn a_store_flushed_on_heartbeat_like_roduxs_passes() {
    let library = folder("Stores")
        .with_child(module("Store", STORE))
        .with_child(module("Store.spec", STORE_SPEC));
    assert_suite_passes("Stores", library, false, 4).await;
}

/// Shaped like Roact: host instances created from elements, props set by name, `[Event]`
/// handlers connected through `instance[name]`, `[Change]` handlers through
/// `GetPropertyChangedSignal`, and defaults read from a fresh instance.
const TREE: &str = r##"
local Tree = {}

function Tree.mount(element, parent)
	local instance = Instance.new(element.class)
	local connections = {}
	for key, value in element.props or {} do
		instance[key] = value
	end
	for name, handler in element.events or {} do
		table.insert(connections, instance[name]:Connect(function(...)
			handler(instance, ...)
		end))
	end
	for property, handler in element.changes or {} do
		local ok, signal = pcall(function()
			return instance:GetPropertyChangedSignal(property)
		end)
		if not ok then
			error(("Cannot get changed signal on property %q: %s"):format(property, signal), 0)
		end
		table.insert(connections, signal:Connect(function()
			handler(instance)
		end))
	end
	for name, child in element.children or {} do
		Tree.mount(child, instance).Name = name
	end
	instance.Parent = parent
	return instance, connections
end

function Tree.default(className, property)
	local created = Instance.new(className)
	local ok, value = pcall(function()
		return created[property]
	end)
	created:Destroy()
	return ok, value
end

return Tree
"##;

const TREE_SPEC: &str = r##"
return function()
	local Tree = require(script.Parent.Tree)

	it("mounts a GUI tree with its props", function()
		local root = Tree.mount({
			class = "Frame",
			props = { Size = UDim2.new(1, 0, 0, 20), BackgroundTransparency = 0.5 },
			children = {
				Label = { class = "TextLabel", props = { Text = "hello", TextColor3 = Color3.new(1, 0, 0) } },
			},
		}, nil)
		expect(root.Size).to.equal(UDim2.new(1, 0, 0, 20))
		expect(root.BackgroundTransparency).to.equal(0.5)
		expect(root.Label.Text).to.equal("hello")
		expect(root.Label.TextColor3).to.equal(Color3.new(1, 0, 0))
		expect(root.Label:IsA("GuiObject")).to.equal(true)
		expect(root.Label:isA("TextLabel")).to.equal(true)
	end)

	it("reads the defaults of value objects from a fresh instance", function()
		expect(select(2, Tree.default("StringValue", "Name"))).to.equal("Value")
		expect(select(2, Tree.default("StringValue", "Value"))).to.equal("")
		expect(select(2, Tree.default("IntValue", "Value"))).to.equal(0)
		expect(select(2, Tree.default("BoolValue", "Value"))).to.equal(false)
		local ok, object = Tree.default("ObjectValue", "Value")
		expect(ok).to.equal(true)
		expect(object).to.equal(nil)
	end)

	it("connects [Event] handlers through the instance's member", function()
		local calls = {}
		local bindable = Tree.mount({
			class = "BindableEvent",
			events = {
				Event = function(instance, value)
					table.insert(calls, { instance, value })
				end,
			},
		}, nil)
		bindable:Fire(42)
		expect(#calls).to.equal(1)
		expect(calls[1][1]).to.equal(bindable)
		expect(calls[1][2]).to.equal(42)
	end)

	it("calls [Change] handlers as the property is set", function()
		local seen = 0
		local folder = Tree.mount({
			class = "Folder",
			changes = {
				Name = function()
					seen += 1
				end,
			},
		}, nil)
		folder.Name = "foo"
		expect(seen).to.equal(1)
	end)

	it("refuses a changed signal for a property the class lacks", function()
		local ok, message = pcall(Tree.mount, { class = "Folder", changes = { foo = function() end } }, nil)
		expect(ok).to.equal(false)
		expect(string.find(message, 'Cannot get changed signal on property "foo": ', 1, true)).to.equal(1)
		expect(string.find(message, "foo is not a valid property name.", 1, true)).to.be.ok()
	end)

	it("disconnects an instance's connections when it is destroyed", function()
		local folder, connections = Tree.mount({ class = "Folder", changes = { Name = function() end } }, nil)
		expect(connections[1].Connected).to.equal(true)
		folder:Destroy()
		expect(connections[1].Connected).to.equal(false)
	end)

	it("names an unknown member as Roblox does", function()
		local frame = Instance.new("Frame")
		expect(function()
			return frame.Nope
		end).to.throw('Nope is not a valid member of Frame "Frame"')
	end)
end
"##;

#[tokio::test]
async fn a_ui_tree_like_roacts_passes() {
    let library = folder("Trees")
        .with_child(module("Tree", TREE))
        .with_child(module("Tree.spec", TREE_SPEC));
    assert_suite_passes("Trees", library, true, 7).await;
}

/// Shaped like t: runtime type checks over `typeof`, `IsA` and enums.
const TYPES: &str = r##"
local t = {}

function t.typeof(name)
	return function(value)
		local kind = typeof(value)
		if kind == name then
			return true
		end
		return false, string.format("%s expected, got %s", name, kind)
	end
end

t.Instance = t.typeof("Instance")
t.Enum = t.typeof("Enum")
t.EnumItem = t.typeof("EnumItem")

function t.instanceIsA(className)
	return function(value)
		if typeof(value) ~= "Instance" then
			return false, "Instance expected, got " .. typeof(value)
		end
		return value:IsA(className), className .. " expected, got " .. value.ClassName
	end
end

function t.enum(enum)
	return function(value)
		local ok, message = t.EnumItem(value)
		if not ok then
			return false, message
		end
		if value.EnumType == enum then
			return true
		end
		return false, string.format("enum of %s expected, got enum of %s", tostring(enum), tostring(value.EnumType))
	end
end

return t
"##;

const TYPES_SPEC: &str = r##"
return function()
	local t = require(script.Parent.types)

	it("tells the datatypes apart with typeof", function()
		expect(t.typeof("Vector3")(Vector3.new(1, 2, 3))).to.equal(true)
		expect(t.typeof("UDim2")(UDim2.new())).to.equal(true)
		expect(t.typeof("Color3")(Color3.fromRGB(1, 2, 3))).to.equal(true)
		expect(t.typeof("CFrame")(CFrame.new())).to.equal(true)
		expect(t.Instance(Instance.new("Folder"))).to.equal(true)
		expect(select(2, t.Instance({}))).to.equal("Instance expected, got table")
	end)

	it("checks classes through IsA", function()
		local guiObject = t.instanceIsA("GuiObject")
		expect(guiObject(Instance.new("Frame"))).to.equal(true)
		expect(guiObject(Instance.new("TextLabel"))).to.equal(true)
		expect(guiObject(Instance.new("StringValue"))).to.equal(false)
	end)

	it("supports Roblox Enum types", function()
		expect(t.Enum(Enum.SortOrder)).to.equal(true)
		expect(t.Enum("Enum.SortOrder")).to.equal(false)
		expect(t.EnumItem(Enum.SortOrder.Name)).to.equal(true)
		expect(t.EnumItem("Enum.SortOrder.Name")).to.equal(false)
		local sortOrder = t.enum(Enum.SortOrder)
		expect(sortOrder(Enum.SortOrder.Name)).to.equal(true)
		expect(sortOrder(Enum.SortOrder.Custom)).to.equal(true)
		expect(sortOrder(Enum.EasingStyle.Linear)).to.equal(false)
		expect(select(2, sortOrder(Enum.EasingStyle.Linear))).to.equal("enum of SortOrder expected, got enum of EasingStyle")
	end)

	it("gives EnumItems their names, values and types", function()
		local item = Enum.SortOrder.Name
		expect(item.Name).to.equal("Name")
		expect(tostring(item)).to.equal("Enum.SortOrder.Name")
		expect(item.EnumType).to.equal(Enum.SortOrder)
		expect(item).never.to.equal(Enum.SortOrder.LayoutOrder)
		expect(table.find(Enum.SortOrder:GetEnumItems(), item) ~= nil).to.equal(true)
	end)
end
"##;

#[tokio::test]
async fn type_checks_like_ts_pass() {
    let library = folder("Types")
        .with_child(module("types", TYPES))
        .with_child(module("types.spec", TYPES_SPEC));
    assert_suite_passes("Types", library, false, 4).await;
}

// --- Jest-Lua from npm ------------------------------------------------------------------------

/// The Jest-Lua packages the test runs (MIT; Roblox's jest-roblox as published for roblox-ts).
/// `3.16.0-ts.1` names a `@rbxts-js/jest` version that was never published.
const JEST_PACKAGES: [&str; 2] = ["@rbxts/jest@3.13.3-ts.1", "@rbxts/jest-globals@3.13.3-ts.1"];

/// A `node_modules` folder holding Jest-Lua: `LUAU_EXEC_JEST_DIR` when set (`.ci/run` installs
/// it once), else installed here with `npm install` into the target folder.
pub(crate) fn jest_modules() -> std::path::PathBuf {
    static MODULES: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    MODULES
        .get_or_init(|| {
            if let Ok(dir) = std::env::var("LUAU_EXEC_JEST_DIR")
                && !dir.is_empty()
            {
                return dir.into();
            }
            let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join("jest");
            let modules = prefix.join("node_modules");
            if modules.join("@rbxts-js/jest/src/init.lua").exists() {
                return modules;
            }
            std::fs::create_dir_all(&prefix).expect("a cache folder");
            let installed = std::process::Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--prefix"])
                .arg(&prefix)
                .args(JEST_PACKAGES)
                .output()
                .expect("npm runs (Jest-Lua comes from the npm registry)");
            assert!(
                installed.status.success(),
                "npm install {JEST_PACKAGES:?}: {}",
                String::from_utf8_lossy(&installed.stderr)
            );
            modules
        })
        .clone()
}

/// A package folder as Rojo maps it: one with a `default.project.json` is that project (named
/// by its `name`, its tree the folder at its `$path`); any other folder is a Folder of its
/// packages.
pub(crate) fn package_tree(name: &str, dir: &Path) -> InstanceBuilder {
    let project = dir.join("default.project.json");
    if let Ok(text) = std::fs::read_to_string(&project) {
        let project: Value = serde_json::from_str(&text).expect("a project file");
        let own = project["name"].as_str().unwrap_or(name);
        let path = project["tree"]["$path"].as_str().unwrap_or("src");
        return from_folder(own, &dir.join(path));
    }
    let mut node = folder(name);
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("a package folder")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.is_dir())
        .collect();
    entries.sort();
    for path in entries {
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        if path.join("src").is_dir() || path.join("default.project.json").exists() {
            let src = path.join("src");
            node.add_child(if path.join("default.project.json").exists() {
                package_tree(&file, &path)
            } else {
                folder(&file).with_child(from_folder("src", &src))
            });
        }
    }
    node
}

pub(crate) const JEST_CONFIG: &str = "return {\n\ttestMatch = { \"**/*.spec\" },\n}\n";

pub(crate) const JEST_SPEC: &str = r##"local JestGlobals = require(game:GetService("ReplicatedStorage").rbxts_include.node_modules["@rbxts"]["jest-globals"].src)
local describe, it, expect = JestGlobals.describe, JestGlobals.it, JestGlobals.expect

describe("sum", function()
	it("adds", function()
		expect(1 + 2).toBe(3)
	end)
	it("fails", function()
		expect(1 + 1).toBe(3)
	end)
	it.skip("later", function()
		expect(true).toBe(false)
	end)
end)
"##;

#[tokio::test]
async fn a_jest_lua_project_from_npm_reports_its_counts() {
    let modules = jest_modules();
    let include = folder("rbxts_include").with_child(
        folder("node_modules")
            .with_child(package_tree("@rbxts", &modules.join("@rbxts")))
            .with_child(package_tree("@rbxts-js", &modules.join("@rbxts-js"))),
    );
    let tests = folder("Tests")
        .with_child(module("jest.config", JEST_CONFIG))
        .with_child(module("sum.spec", JEST_SPEC));
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), place(vec![include, tests])).unwrap();
    let output = testez_run(repo.path())
        .env("INPUT_TEST_FRAMEWORK", "jest")
        .env(
            "INPUT_FRAMEWORK_PATH",
            "ReplicatedStorage.rbxts_include.node_modules.@rbxts.jest.src",
        )
        .env("INPUT_TIMEOUT", "120")
        .expect()
        .await;
    let result = result_of(&output);
    assert_eq!(
        result["tests"]["counts"],
        json!({ "total": 3, "passed": 1, "failed": 1, "skipped": 1 }),
        "{:#?}\n{}\n{}",
        failures(&result),
        result["outcome"],
        output.stdout
    );
    output.code(Outcome::TestsFailed);
    let failed = &result["tests"]["tests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|test| test["status"] == "failed")
        .expect("the failing test")
        .clone();
    assert_eq!(failed["path"], json!(["Tests", "sum.spec", "sum", "fails"]));
    assert_eq!(failed["location"], "ReplicatedStorage.Tests.sum.spec:9");
    let message = failed["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Expected: 3") && message.contains("Received: 2"),
        "{message}"
    );
}

#[tokio::test]
async fn jest_failure_messages_lose_their_colour_codes() {
    use luau_exec::results::bootstrap::{COMMON, JEST};
    // Jest-Lua 0.1.0 colours its diffs even with `ci`; an annotation would show the escapes.
    let recorded = r#"
local aggregated = { testResults = {
    { testFilePath = "Tests/sum.spec", testResults = {
        { ancestorTitles = { "sum" }, title = "fails", status = "failed",
          failureMessages = { "Error: \27[2mexpect(\27[22m\27[31mreceived\27[39m\27[2m).\27[22mtoBe\n    at [string \"ReplicatedStorage.Tests.sum.spec\"]:9" } },
    } },
    { testFilePath = "Tests/broken.spec", testResults = {},
      testExecError = { message = "\27[1m\27[31mbroken\27[39m\27[22m" } },
} }
return envelope("jest", flattenJest(aggregated, "ReplicatedStorage.Packages"))
"#;
    let envelope = first_result(
        vec![],
        &format!("{COMMON}\n{JEST}\n{recorded}"),
        Outcome::TestsFailed,
    )
    .await;
    assert_eq!(
        envelope["tests"][0]["message"],
        "Error: expect(received).toBe\n    at [string \"ReplicatedStorage.Tests.sum.spec\"]:9"
    );
    assert_eq!(
        envelope["tests"][0]["location"],
        "ReplicatedStorage.Tests.sum.spec:9"
    );
    assert_eq!(envelope["tests"][1]["message"], "broken");
}
