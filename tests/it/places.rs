//! The emulator runs places: trees written by the tests with rbx_dom_weak and rbx_binary (no
//! Rojo needed), and TestEZ itself, unmodified, from the npm registry (`@rbxts/testez`,
//! fetched with `npm pack` at test time, never kept in the repository).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rbx_dom_weak::types::{Ref, Variant};
use rbx_dom_weak::{InstanceBuilder, WeakDom};
use serde_json::{Value, json};

use crate::support::{Expect, Outcome, Run};

/// The TestEZ version the tests run (Apache-2.0, Roblox's TestEZ as published for roblox-ts).
const TESTEZ_PACKAGE: &str = "@rbxts/testez@0.4.2-ts.0";

/// TestEZ's `src` folder: `LUAU_EXEC_TESTEZ_DIR` when set (`.ci/run` fetches it once), else
/// fetched here with `npm pack` into the target folder. A machine without npm fails the test
/// with a message, rather than skip it.
pub fn testez_source() -> PathBuf {
    static SOURCE: OnceLock<PathBuf> = OnceLock::new();
    SOURCE
        .get_or_init(|| {
            if let Ok(dir) = std::env::var("LUAU_EXEC_TESTEZ_DIR")
                && !dir.is_empty()
            {
                return PathBuf::from(dir);
            }
            let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("testez");
            let src = cache.join("package/src");
            if src.join("init.lua").exists() {
                return src;
            }
            std::fs::create_dir_all(&cache).expect("a cache folder");
            let packed = std::process::Command::new("npm")
                .args(["pack", TESTEZ_PACKAGE, "--silent"])
                .current_dir(&cache)
                .output()
                .expect("npm runs (TestEZ comes from the npm registry)");
            assert!(
                packed.status.success(),
                "npm pack {TESTEZ_PACKAGE}: {}",
                String::from_utf8_lossy(&packed.stderr)
            );
            let tarball = String::from_utf8_lossy(&packed.stdout)
                .trim()
                .lines()
                .last()
                .unwrap_or_default()
                .to_owned();
            let unpacked = std::process::Command::new("tar")
                .args(["xzf", &tarball])
                .current_dir(&cache)
                .status()
                .expect("tar runs");
            assert!(unpacked.success());
            src
        })
        .clone()
}

pub fn module(name: &str, source: &str) -> InstanceBuilder {
    InstanceBuilder::new("ModuleScript")
        .with_name(name)
        .with_property("Source", Variant::String(source.to_owned()))
}

pub fn folder(name: &str) -> InstanceBuilder {
    InstanceBuilder::new("Folder").with_name(name)
}

/// A folder of Lua files as Rojo maps it: `init.lua`/`init.luau` makes the folder a
/// ModuleScript, every other `.lua`/`.luau` a ModuleScript, every folder a Folder.
pub fn from_folder(name: &str, dir: &Path) -> InstanceBuilder {
    let init = ["init.luau", "init.lua"]
        .map(|file| dir.join(file))
        .into_iter()
        .find(|init| init.exists());
    let mut node = match init {
        Some(init) => module(name, &std::fs::read_to_string(&init).unwrap()),
        None => folder(name),
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            node.add_child(from_folder(&file, &path));
        } else if let Some(stem) = (file.strip_suffix(".luau"))
            .or_else(|| file.strip_suffix(".lua"))
            .filter(|s| *s != "init")
        {
            node.add_child(module(stem, &std::fs::read_to_string(&path).unwrap()));
        }
    }
    node
}

/// A place: a DataModel with these children under ReplicatedStorage, as `.rbxl` bytes.
pub fn place(children: Vec<InstanceBuilder>) -> Vec<u8> {
    let mut dom = WeakDom::new(InstanceBuilder::new("DataModel"));
    let root = dom.root_ref();
    let storage = dom.insert(
        root,
        InstanceBuilder::new("ReplicatedStorage").with_name("ReplicatedStorage"),
    );
    for child in children {
        dom.insert(storage, child);
    }
    dom.insert(
        root,
        InstanceBuilder::new("Workspace").with_name("Workspace"),
    );
    let services: Vec<Ref> = dom.root().children().to_vec();
    let mut bytes = Vec::new();
    rbx_binary::to_writer(&mut bytes, &dom, &services).expect("a place");
    bytes
}

/// A run of TestEZ over `ReplicatedStorage.Tests` in `game.rbxl` (in `repo`), on the local
/// backend, with the JSON format (which carries every test).
pub fn testez_run(repo: &Path) -> Run {
    let mut run = Run::bare();
    run.dir(repo)
        .env("INPUT_BACKEND", "local")
        .env("INPUT_PLACE_FILE", "game.rbxl")
        .env("INPUT_TEST_FRAMEWORK", "testez")
        .env("INPUT_TEST_ROOTS", "ReplicatedStorage.Tests")
        .env("INPUT_FRAMEWORK_PATH", "ReplicatedStorage.TestEZ")
        .env("INPUT_OUTPUT_FORMAT", "json")
        .env("INPUT_TIMEOUT", "30");
    run
}

/// Runs a place of TestEZ and one spec module `Tests.<name>` on the local backend, in the
/// `json` format: the output and its last line (the run's result).
pub async fn run_one_spec(name: &str, source: &str) -> (Expect, Value) {
    let bytes = place(vec![
        from_folder("TestEZ", &testez_source()),
        folder("Tests").with_child(module(name, source)),
    ]);
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), &bytes).unwrap();
    let output = testez_run(repo.path()).expect().await;
    let result = serde_json::from_str(output.stdout.lines().last().unwrap_or_default())
        .unwrap_or(Value::Null);
    (output, result)
}

/// The spec project: passing, failing, skipped and erroring specs in nested folders, with
/// `require` between modules.
pub fn spec_project() -> InstanceBuilder {
    folder("Tests")
        .with_child(folder("Shared").with_child(module(
            "helper",
            "local helper = {}\nfunction helper.add(a, b)\n\treturn a + b\nend\nfunction helper.boom()\n\terror(\"kaboom\")\nend\nreturn helper\n",
        )))
        .with_child(module(
            "math.spec",
            "local helper = require(script.Parent.Shared.helper)\n\nreturn function()\n\tdescribe(\"math\", function()\n\t\tit(\"adds\", function()\n\t\t\texpect(helper.add(1, 2)).to.equal(3)\n\t\tend)\n\t\tit(\"divides\", function()\n\t\t\texpect(helper.add(1, 1)).to.equal(3)\n\t\tend)\n\t\titSKIP(\"later\", function() end)\n\tend)\nend\n",
        ))
        .with_child(folder("nested").with_child(folder("deep").with_child(module(
            "text.spec",
            "return function()\n\tit(\"joins\", function()\n\t\texpect(table.concat({ \"a\", \"b\" })).to.equal(\"ab\")\n\tend)\n\tit(\"errors\", function()\n\t\trequire(script.Parent.Parent.Parent.Shared.helper).boom()\n\tend)\n\tit(\"waits\", function()\n\t\ttask.wait(0.05)\n\t\texpect(workspace:IsA(\"Workspace\")).to.equal(true)\n\tend)\nend\n",
        ))))
}

/// The Rojo sourcemap of that project, as `rojo sourcemap` would write it.
pub fn spec_sourcemap() -> Value {
    json!({ "name": "game", "className": "DataModel", "children": [
        { "name": "ReplicatedStorage", "className": "ReplicatedStorage", "children": [
            { "name": "Tests", "className": "Folder", "children": [
                { "name": "Shared", "className": "Folder", "children": [
                    { "name": "helper", "className": "ModuleScript", "filePaths": ["src/Shared/helper.luau"] } ] },
                { "name": "math.spec", "className": "ModuleScript", "filePaths": ["src/math.spec.luau"] },
                { "name": "nested", "className": "Folder", "children": [
                    { "name": "deep", "className": "Folder", "children": [
                        { "name": "text.spec", "className": "ModuleScript", "filePaths": ["src/nested/deep/text.spec.luau"] } ] } ] } ] } ] } ] })
}

#[tokio::test]
async fn testez_from_npm_runs_a_spec_project_offline() {
    let testez = testez_source();
    let bytes = place(vec![from_folder("TestEZ", &testez), spec_project()]);
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), &bytes).unwrap();
    std::fs::write(
        repo.path().join("sourcemap.json"),
        spec_sourcemap().to_string(),
    )
    .unwrap();
    let mut run = testez_run(repo.path());
    run.env("INPUT_SOURCEMAP", "sourcemap.json");
    let output = run.expect().await;
    let result: Value = serde_json::from_str(output.stdout.lines().last().unwrap()).unwrap();
    output.code(Outcome::TestsFailed);
    let tests = result["tests"]["tests"].as_array().unwrap();
    let by_path = |path: &[&str]| {
        tests
            .iter()
            .find(|t| t["path"] == json!(path))
            .unwrap_or_else(|| panic!("no test {path:?} in {}", result["tests"]))
    };
    // As TestEZ reports them: the spec's instance path (root name, folders, spec name without
    // `.spec`), then its describe and it phrases.
    assert_eq!(
        by_path(&["Tests", "math", "math", "adds"])["status"],
        "passed"
    );
    let divides = by_path(&["Tests", "math", "math", "divides"]);
    assert_eq!(divides["status"], "failed");
    assert!(
        divides["message"].as_str().unwrap().starts_with(
            "ReplicatedStorage.Tests.math.spec:9: Expected value \"3\" (number), got \"2\" (number) instead"
        ),
        "{divides}"
    );
    assert_eq!(
        divides["file"],
        json!({ "path": "src/math.spec.luau", "line": 9 })
    );
    assert_eq!(
        by_path(&["Tests", "math", "math", "later"])["status"],
        "skipped"
    );
    assert_eq!(
        by_path(&["Tests", "nested", "deep", "text", "joins"])["status"],
        "passed"
    );
    assert_eq!(
        by_path(&["Tests", "nested", "deep", "text", "waits"])["status"],
        "passed"
    );
    let errors = by_path(&["Tests", "nested", "deep", "text", "errors"]);
    assert_eq!(errors["status"], "failed");
    let message = errors["message"].as_str().unwrap();
    assert!(
        message.starts_with("ReplicatedStorage.Tests.Shared.helper:6: kaboom"),
        "{message}"
    );
    // Filed under the test's own line (the innermost frame of its spec module), not the
    // helper that raised the error; the message still says where that was.
    assert_eq!(
        errors["location"],
        "ReplicatedStorage.Tests.nested.deep.text.spec:6"
    );
    assert_eq!(
        errors["file"],
        json!({ "path": "src/nested/deep/text.spec.luau", "line": 6 })
    );
    assert_eq!(
        result["tests"]["counts"],
        json!({ "total": 6, "passed": 3, "failed": 2, "skipped": 1 })
    );
}

/// With `shards` not given, a local TestEZ suite runs as one shard per core, and reads as the
/// one run that was asked for: nothing on the console or in the report names a shard, and the
/// tests are listed as one task lists them. `shards: 1` runs one task.
#[tokio::test]
async fn a_local_suite_splits_across_the_cores_and_reads_as_one_run() {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    // A spec that outlasts a heartbeat (15 s, a hundredth of it in tests).
    let slow = module(
        "slow.spec",
        "return function()\n\tit(\"waits\", function()\n\t\ttask.wait(0.4)\n\tend)\nend\n",
    );
    let bytes = place(vec![
        from_folder("TestEZ", &testez_source()),
        spec_project().with_child(slow),
    ]);
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), &bytes).unwrap();
    let mut one = testez_run(repo.path());
    one.env("INPUT_SHARDS", "1");
    let one = one.expect().await;
    let split = testez_run(repo.path()).expect().await;
    let last = |output: &Expect| -> Value {
        serde_json::from_str(output.stdout.lines().last().unwrap_or_default()).unwrap()
    };
    let (one_result, split_result) = (last(&one), last(&split));
    split.code(Outcome::TestsFailed);
    for text in [&split.stdout, &split.stderr] {
        assert!(!text.contains("shard"), "{text}");
        assert!(!text.contains("running 2 tasks"), "{text}");
        assert!(
            !text.contains(" waiting, "),
            "no count of tasks in a heartbeat: {text}"
        );
    }
    // It beats as one task does.
    assert!(
        split
            .stdout
            .contains(r#""event":"heartbeat","state":"PROCESSING""#),
        "{}",
        split.stdout
    );
    // Both shards ran (each returned its envelope) where there are cores for them.
    let values = |result: &Value| result["results"].as_array().map_or(0, Vec::len);
    assert_eq!(values(&one_result), 1);
    assert_eq!(values(&split_result), cores.clamp(1, 2), "{split_result}");
    for key in ["outcome", "exitCode", "state", "problem"] {
        assert_eq!(one_result[key], split_result[key], "{key}");
    }
    assert_eq!(split_result.get("tasks"), None, "no task list: one run");
    let listed = |result: &Value| -> Vec<(Value, Value)> {
        result["tests"]["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["path"].clone(), t["status"].clone()))
            .collect()
    };
    assert_eq!(listed(&one_result), listed(&split_result));
    assert_eq!(
        one_result["tests"]["counts"],
        split_result["tests"]["counts"]
    );
}

#[tokio::test]
async fn the_emulated_dom_answers_as_roblox_does() {
    let bytes = place(vec![
        folder("Data")
            .with_child(module(
                "config",
                "return { answer = 42, name = script.Name, parent = script.Parent.Name }",
            ))
            .with_child(
                InstanceBuilder::new("StringValue")
                    .with_name("greeting")
                    .with_property("Value", Variant::String("hi".into())),
            ),
    ]);
    let script = r#"
local rs = game:GetService("ReplicatedStorage")
local data = rs:WaitForChild("Data")
local config = require(data.config)
assert(require(data.config) == config, "require caches")
local results = {}
results.config = config
results.greeting = data.greeting.Value
results.fullName = data.config:GetFullName()
results.children = #data:GetChildren()
results.descendants = #rs:GetDescendants()
results.isA = { data:IsA("Folder"), data:IsA("Instance"), data.greeting:IsA("ValueBase"), data:IsA("Part") }
results.missing = data:FindFirstChild("nope") == nil
results.recursive = rs:FindFirstChild("greeting", true) == data.greeting
results.ofClass = data:FindFirstChildOfClass("StringValue").Name
results.whichIsA = data:FindFirstChildWhichIsA("ValueBase").Name
results.ancestor = data.greeting:FindFirstAncestorOfClass("ReplicatedStorage") == rs
results.typeofs = { typeof(game), typeof(Vector3.new()), typeof(CFrame.new()), typeof(Color3.new()), typeof(UDim2.new()), typeof(Enum.Material.Plastic) }
data:SetAttribute("level", 3)
results.attribute = data:GetAttribute("level")
local part = Instance.new("Part")
part.Name = "Brick"
part.Parent = workspace
results.part = { part.Parent == workspace, part:GetFullName(), part.Anchored, part.Size.X, tostring(part.Material) }
local copy = data:Clone()
results.clone = { copy.Parent == nil, #copy:GetChildren(), copy.greeting ~= data.greeting }
local added = {}
data.ChildAdded:Connect(function(child) table.insert(added, child.Name) end)
local extra = Instance.new("Folder")
extra.Name = "extra"
extra.Parent = data
task.wait()
results.signal = added
part:Destroy()
results.destroyed = { part.Parent == nil, pcall(function() part.Parent = workspace end) }
results.timeout = data:WaitForChild("never", 0.05) == nil
_G.shared_value = 7
shared.other = 8
results.globals = { _G.shared_value, shared.other }
results.errors = {
    select(2, pcall(function() return data.nothing end)),
    select(2, pcall(function() game:GetService("NotAService") end)),
    select(2, pcall(function() Instance.new("Workspace") end)),
}
return results
"#;
    let result = run_in(&bytes, "game.rbxl", script).await;
    let r = &result;
    assert_eq!(
        r["config"],
        json!({ "answer": 42, "name": "config", "parent": "Data" })
    );
    assert_eq!(r["greeting"], "hi");
    assert_eq!(r["fullName"], "ReplicatedStorage.Data.config");
    assert_eq!(r["children"], 2);
    assert_eq!(r["descendants"], 3);
    assert_eq!(r["isA"], json!([true, true, true, false]));
    assert_eq!(r["missing"], true);
    assert_eq!(r["recursive"], true);
    assert_eq!(r["ofClass"], "greeting");
    assert_eq!(r["whichIsA"], "greeting");
    assert_eq!(r["ancestor"], true);
    assert_eq!(
        r["typeofs"],
        json!([
            "Instance", "Vector3", "CFrame", "Color3", "UDim2", "EnumItem"
        ])
    );
    assert_eq!(r["attribute"], 3);
    assert_eq!(
        r["part"],
        json!([true, "Workspace.Brick", false, 4, "Enum.Material.Plastic"])
    );
    assert_eq!(r["clone"], json!([true, 2, true]));
    assert_eq!(r["signal"], json!(["extra"]));
    assert_eq!(r["destroyed"][0], true);
    assert_eq!(
        r["destroyed"][1], false,
        "a destroyed instance's Parent is locked"
    );
    assert_eq!(r["timeout"], true);
    assert_eq!(r["globals"], json!([7, 8]));
    assert_eq!(
        r["errors"],
        json!([
            "TaskScript:41: nothing is not a valid member of Folder \"ReplicatedStorage.Data\"",
            "TaskScript:42: 'NotAService' is not a valid Service name",
            "TaskScript:43: Unable to create an Instance of type \"Workspace\"",
        ])
    );
}

#[tokio::test]
async fn require_reports_cycles_and_bad_arguments_as_roblox_does() {
    let bytes = place(vec![
        folder("Cycle")
            .with_child(module("a", "return require(script.Parent.b)"))
            .with_child(module("b", "return require(script.Parent.a)"))
            .with_child(module("two", "return 1, 2"))
            .with_child(module("syntax", "return (")),
    ]);
    let script = r#"
local cycle = game.ReplicatedStorage.Cycle
return {
    select(2, pcall(require, cycle.a)),
    select(2, pcall(function() return require(cycle.two) end)),
    select(2, pcall(function() return require(cycle) end)),
    select(2, pcall(function() return require(cycle.syntax) end)),
    select(2, pcall(function() return require(12345) end)),
}
"#;
    let result = run_in(&bytes, "game.rbxl", script).await;
    let errors = result.as_array().unwrap();
    assert!(
        errors[0]
            .as_str()
            .unwrap()
            .contains("Requested module was required recursively"),
        "{errors:?}"
    );
    assert_eq!(
        errors[1],
        "TaskScript:5: Module code did not return exactly one value"
    );
    assert_eq!(
        errors[2],
        "TaskScript:6: Attempted to call require with invalid argument(s)."
    );
    assert!(
        errors[3]
            .as_str()
            .unwrap()
            .starts_with("TaskScript:7: ReplicatedStorage.Cycle.syntax:1:"),
        "{errors:?}"
    );
    assert!(
        errors[4].as_str().unwrap().contains("catalog"),
        "{errors:?}"
    );
}

/// Runs a script on the local backend in a place; its first result.
async fn run_in(place_bytes: &[u8], name: &str, script: &str) -> Value {
    let (_dir, path) = crate::support::temp_file(name, place_bytes);
    let output = Run::bare()
        .env("INPUT_BACKEND", "local")
        .env("INPUT_PLACE_FILE", path.to_str().unwrap())
        .env("INPUT_SCRIPT", script)
        .env("INPUT_OUTPUT_FORMAT", "json")
        .expect()
        .await;
    output.code(Outcome::Complete);
    let result: Value = serde_json::from_str(output.stdout.lines().last().unwrap()).unwrap();
    result["results"][0].clone()
}

#[tokio::test]
async fn signals_tasks_and_datatypes_behave_as_on_roblox() {
    let script = r#"
local r = {}
local order = {}
task.defer(function() table.insert(order, "deferred") end)
task.spawn(function() table.insert(order, "spawned") end)
task.delay(0.02, function(x) table.insert(order, "delayed " .. x) end, "arg")
local cancelled = task.delay(0.01, function() table.insert(order, "cancelled ran") end)
task.cancel(cancelled)
spawn(function() table.insert(order, "legacy spawn") end)
local waited, elapsed = wait(0.05)
table.insert(order, "main")
r.order = order
r.waited = waited >= 0.05 and waited < 1
r.clocks = { type(tick()), time() >= 0, os.clock() > 0 }

local folder = Instance.new("Folder")
folder.Name = "Box"
folder.Parent = workspace
local seen = {}
local connection = folder.ChildAdded:Connect(function(child) table.insert(seen, "added " .. child.Name) end)
folder.ChildRemoved:Once(function(child) table.insert(seen, "removed " .. child.Name) end)
folder:GetPropertyChangedSignal("Name"):Connect(function() table.insert(seen, "renamed " .. folder.Name) end)
folder:GetAttributeChangedSignal("level"):Connect(function() table.insert(seen, "level " .. folder:GetAttribute("level")) end)
local a = Instance.new("Folder", folder) a.Name = "a"
-- Deferred: the handler sees the name set after parenting, once the script yields.
task.wait()
connection:Disconnect()
local b = Instance.new("Folder", folder)
b.Name = "b"
b.Parent = nil
a.Parent = nil
folder.Name = "Crate"
folder:SetAttribute("level", 2)
local destroying = false
b.Destroying:Connect(function() destroying = true end)
b:Destroy()
task.wait()
r.seen = seen
r.destroying = destroying
r.connected = connection.Connected

task.delay(0.02, function() Instance.new("Folder", folder).Name = "late" end)
r.waitedFor = folder:WaitForChild("late", 2).Name
local inner = Instance.new("Folder", folder:FindFirstChild("late"))
r.ancestors = {
    inner:FindFirstAncestor("Crate") == folder,
    inner:FindFirstAncestorWhichIsA("Workspace") == workspace,
    folder:IsAncestorOf(inner),
    inner:IsDescendantOf(workspace),
}
folder:SetAttribute("name", "x")
r.attributes = folder:GetAttributes()
folder:ClearAllChildren()
r.cleared = #folder:GetChildren()
folder:AddTag("crate")
r.tagged = #game:GetService("CollectionService"):GetTagged("crate")

local v = Vector3.new(1, 2, 3)
r.vector = { (v + Vector3.new(1, 1, 1)).X, (v * 2).Z, v:Dot(Vector3.new(1, 0, 0)), Vector3.new(3, 4, 0).Magnitude, tostring(v) }
r.cframe = { (CFrame.new(1, 2, 3) * CFrame.new(1, 0, 0)).X, (CFrame.new(0, 5, 0) + Vector3.new(1, 0, 0)).Position.Y }
r.color = { Color3.fromRGB(255, 0, 0).R, Color3.new(0, 1, 0):ToHex() }
r.udim = { UDim2.new(0.5, 10, 1, 0).X.Offset, UDim2.fromScale(0.25, 0.75).Y.Scale }
r.enum = { #Enum.Material:GetEnumItems() > 10, Enum.Material:FromName("Plastic") == Enum.Material.Plastic, Enum.Material.Plastic.EnumType == Enum.Material }
local random = Random.new(7)
local x = random:NextInteger(1, 10)
r.random = { x >= 1 and x <= 10, Random.new(7):NextInteger(1, 10) == x }
r.typeofs = { typeof(connection), typeof(folder.Changed), typeof(Enum.Material), typeof(Random.new()) }
return r
"#;
    // A place whose signals are deferred (what the comments in the script rely on).
    let deferred = crate::classes::place_with_signal_behavior(2);
    let r = run_in(&deferred, "game.rbxl", script).await;
    assert_eq!(
        r["order"],
        // `spawn` resumes after the deferred threads, as Roblox's legacy spawn does.
        json!(["spawned", "deferred", "legacy spawn", "delayed arg", "main"]),
        "{r}"
    );
    assert_eq!(r["waited"], true);
    assert_eq!(r["clocks"], json!(["number", true, true]));
    assert_eq!(
        r["seen"],
        json!(["added a", "removed b", "renamed Crate", "level 2"]),
        "{r}"
    );
    assert_eq!(r["destroying"], true);
    assert_eq!(r["connected"], false);
    assert_eq!(r["waitedFor"], "late");
    assert_eq!(r["ancestors"], json!([true, true, true, true]));
    assert_eq!(r["attributes"], json!({ "level": 2, "name": "x" }));
    assert_eq!(r["cleared"], 0);
    assert_eq!(r["tagged"], 1);
    assert_eq!(r["vector"], json!([2, 6, 1, 5, "1, 2, 3"]));
    assert_eq!(r["cframe"], json!([2, 5]));
    assert_eq!(r["color"], json!([1, "00FF00"]));
    assert_eq!(r["udim"], json!([10, 0.75]));
    assert_eq!(r["enum"], json!([true, true, true]));
    assert_eq!(r["random"], json!([true, true]));
    assert_eq!(
        r["typeofs"],
        json!(["RBXScriptConnection", "RBXScriptSignal", "Enum", "Random"])
    );
}

#[tokio::test]
async fn xml_places_load_too() {
    let mut dom = WeakDom::new(InstanceBuilder::new("DataModel"));
    let root = dom.root_ref();
    let storage = dom.insert(
        root,
        InstanceBuilder::new("ReplicatedStorage").with_name("ReplicatedStorage"),
    );
    dom.insert(storage, module("answer", "return 42"));
    let mut xml = Vec::new();
    rbx_xml::to_writer_default(&mut xml, &dom, &[storage]).unwrap();
    let r = run_in(
        &xml,
        "game.rbxlx",
        "return require(game.ReplicatedStorage.answer)",
    )
    .await;
    assert_eq!(r, json!(42));
}

#[tokio::test]
async fn a_local_run_without_a_place_has_an_empty_one() {
    let output = Run::bare()
        .env("INPUT_BACKEND", "local")
        .env(
            "INPUT_SCRIPT",
            "return #workspace:GetChildren(), game:GetService('ReplicatedStorage').Name, game:GetService('TestService').ClassName",
        )
        .expect()
        .await;
    output
        .code(Outcome::Complete)
        .stdout_has(r#"Results: [0,"ReplicatedStorage","TestService"]"#);
}

/// The main script's error, return values and test results count however its thread was
/// resumed (here by a signal's `Wait`): they used to be lost, and the task COMPLETE, exit 0.
#[tokio::test]
async fn what_the_main_script_does_after_a_signal_wait_decides_the_run() {
    let wait = "local flag = Instance.new('BoolValue')\ntask.delay(0.05, function() flag.Value = true end)\nflag.Changed:Wait()\n";
    let run = |script: String| async move {
        Run::bare()
            .env("INPUT_BACKEND", "local")
            .env("INPUT_TIMEOUT", "1")
            .env("INPUT_SCRIPT", &script)
            .env("INPUT_OUTPUT_FORMAT", "json")
            .expect()
            .await
    };
    let failed = run(format!("{wait}error('x')")).await;
    failed
        .code(Outcome::ScriptError)
        .stdout_has("TaskScript:4: x");

    let returned = run(format!("{wait}return 42")).await;
    returned.code(Outcome::Complete);
    let last: Value = serde_json::from_str(returned.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["results"], json!([42]), "{last}");

    let envelope = "return { kind = 'luau-exec/test-results@1', framework = 'testez', tests = { { path = { 'Tests', 'adds' }, status = 'passed' }, { path = { 'Tests', 'divides' }, status = 'failed', message = 'expected 2' } } }";
    let tests = run(format!("{wait}{envelope}")).await;
    tests.code(Outcome::TestsFailed);
    let last: Value = serde_json::from_str(tests.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        last["tests"]["counts"],
        json!({ "total": 2, "passed": 1, "failed": 1, "skipped": 0 })
    );
}

/// TestEZ's bootstrap requires each spec on the main thread: a spec module that waits for a
/// signal as it loads hands the rest of the run (and its results) to a thread the signal
/// resumed. The failing test must still fail the run.
#[tokio::test]
async fn a_testez_suite_that_waits_on_a_signal_still_reports_its_failures() {
    let spec = "local ready = Instance.new('BoolValue')\ntask.delay(0.02, function() ready.Value = true end)\nready.Changed:Wait()\nreturn function()\n\tit('adds', function() expect(1 + 1).to.equal(2) end)\n\tit('divides', function() expect(1 + 1).to.equal(3) end)\nend\n";
    let (output, result) = run_one_spec("loads.spec", spec).await;
    output.code(Outcome::TestsFailed);
    assert_eq!(
        result["tests"]["counts"],
        json!({ "total": 2, "passed": 1, "failed": 1, "skipped": 0 })
    );
}

/// Tags kept in an index stay what Roblox's CollectionService answers: a place's own tags,
/// `Clone` copying them, `RemoveTag`, and `GetTagged` seeing only instances in the game.
#[tokio::test]
async fn tags_from_the_place_and_the_script_answer_as_collection_service_does() {
    let mut tags = rbx_dom_weak::types::Tags::new();
    tags.push("Door");
    tags.push("Red");
    let bytes = place(vec![
        folder("Doors")
            .with_child(folder("Front").with_property("Tags", Variant::Tags(tags)))
            .with_child(folder("Back")),
    ]);
    let script = r#"
local C = game:GetService("CollectionService")
local doors = game.ReplicatedStorage.Doors
local r = {}
r.loaded = { #C:GetTagged("Door"), doors.Front:HasTag("Red"), table.concat(doors.Front:GetTags(), ",") }
doors.Back:AddTag("Door")
doors.Back:AddTag("Door")
local loose = Instance.new("Folder")
loose:AddTag("Door")
local copy = doors.Front:Clone()
r.detached = { #C:GetTagged("Door"), copy:HasTag("Door"), loose:HasTag("Door") }
copy.Parent = workspace
local names = {}
for _, door in C:GetTagged("Door") do table.insert(names, door:GetFullName()) end
r.order = names
doors.Front:RemoveTag("Door")
doors.Back:Destroy()
r.after = { #C:GetTagged("Door"), doors.Front:HasTag("Door"), table.concat(doors.Front:GetTags(), ","), #C:GetTagged("Red") }
return r
"#;
    let r = run_in(&bytes, "game.rbxl", script).await;
    assert_eq!(r["loaded"], json!([1, true, "Door,Red"]), "{r}");
    assert_eq!(r["detached"], json!([2, true, true]), "{r}");
    assert_eq!(
        r["order"],
        json!([
            "ReplicatedStorage.Doors.Front",
            "ReplicatedStorage.Doors.Back",
            "Workspace.Front"
        ]),
        "{r}"
    );
    assert_eq!(r["after"], json!([1, false, "Red", 2]), "{r}");
}

/// 500 spec modules of ten tests with 1,500-character names: about 8 MB of results, so the
/// bootstrap leaves passing tests out to fit Roblox's 4 MB limit (each of two shards, too).
/// 4,400 passed, 100 failed, 500 skipped.
fn oversized_suite() -> Vec<u8> {
    let mut tests = folder("Tests");
    for spec in 1..=500 {
        let failing = spec % 5 == 0;
        tests.add_child(module(
            &format!("spec{spec:03}.spec"),
            &format!(
                "return function()\n\tfor j = 1, 10 do\n\t\tlocal name = string.rep('a long test name ', 88) .. j\n\t\tif j == 1 and {failing} then\n\t\t\tit(name, function() expect(1).to.equal(2) end)\n\t\telseif j == 2 then\n\t\t\titSKIP(name, function() end)\n\t\telse\n\t\t\tit(name, function() end)\n\t\tend\n\tend\nend\n"
            ),
        ));
    }
    place(vec![from_folder("TestEZ", &testez_source()), tests])
}

/// The counts of a suite whose results were trimmed are the suite's, not the list's: they used
/// to be computed from what was kept (17,133 / 500 / 4,283 for 19,500 / 500 / 5,000). Every
/// report shows the true totals and says what was left out; shards' totals add up. One task in
/// the `json` format, then two shards on GitHub (outputs and summary); JUnit from both.
#[tokio::test]
async fn trimmed_results_keep_their_true_counts_in_every_report() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("game.rbxl"), oversized_suite()).unwrap();

    let mut run = testez_run(repo.path());
    run.env("INPUT_TIMEOUT", "300")
        .env("INPUT_JUNIT_PATH", "junit.xml");
    let output = run.expect().await;
    output.code(Outcome::TestsFailed);
    let result: Value = serde_json::from_str(output.stdout.lines().last().unwrap()).unwrap();
    let tests = &result["tests"];
    assert_eq!(
        tests["counts"],
        json!({ "total": 5000, "passed": 4400, "failed": 100, "skipped": 500 }),
        "{}",
        tests["notes"]
    );
    let listed = tests["tests"].as_array().unwrap();
    assert!(
        listed.len() < 5000,
        "the results were trimmed ({} listed)",
        listed.len()
    );
    assert_eq!(tests["omitted"], json!(5000 - listed.len()));
    let failed = listed.iter().filter(|t| t["status"] == "failed").count();
    assert_eq!(failed, 100, "no failure is left out");
    assert_junit_totals(repo.path(), listed.len());

    let mut run = testez_run(repo.path());
    run.env("INPUT_SHARDS", "2")
        .env("INPUT_TIMEOUT", "300")
        .env("INPUT_JUNIT_PATH", "junit.xml")
        .env("INPUT_OUTPUT_FORMAT", "github")
        .env(
            "GITHUB_OUTPUT",
            repo.path().join("outputs").to_str().unwrap(),
        )
        .env(
            "GITHUB_STEP_SUMMARY",
            repo.path().join("summary").to_str().unwrap(),
        );
    let output = run.expect().await;
    output.code(Outcome::TestsFailed);
    let listed = assert_junit_totals(repo.path(), 0);
    let read = |name: &str| std::fs::read_to_string(repo.path().join(name)).unwrap_or_default();
    let outputs = crate::support::parse_output_file(&read("outputs"));
    let value = |name: &str| {
        outputs
            .iter()
            .find(|(n, _)| n == name)
            .map_or("(missing)".to_owned(), |(_, v)| v.clone())
    };
    for (name, expected) in [
        ("tests-total", "5000".to_owned()),
        ("tests-passed", "4400".to_owned()),
        ("tests-failed", "100".to_owned()),
        ("tests-skipped", "500".to_owned()),
        ("tests-omitted", (5000 - listed).to_string()),
    ] {
        assert_eq!(value(name), expected, "{name}");
    }
    let summary = read("summary");
    for expected in [
        "100 failed, 4400 passed, 500 skipped".to_owned(),
        format!(
            "{} of the 5000 tests are counted but not listed",
            5000 - listed
        ),
    ] {
        assert!(summary.contains(&expected), "{expected}: {summary}");
    }
    assert!(
        output
            .stdout
            .contains("Tests: 4400 passed, 100 failed, 500 skipped"),
        "{}",
        &output.stdout[output.stdout.len().saturating_sub(3000)..]
    );
}

/// The JUnit report's totals are the suite's, its cases the tests listed (`listed`, when known),
/// and a case-less suite counts the rest. Returns how many cases it holds.
fn assert_junit_totals(dir: &Path, listed: usize) -> usize {
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let junit = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit");
    assert_eq!(
        (junit.tests, junit.failures, junit.skipped),
        (5000, 100, 500)
    );
    let cases: usize = junit.test_suites.iter().map(|s| s.test_cases.len()).sum();
    if listed > 0 {
        assert_eq!(cases, listed);
    }
    let unlisted = junit
        .test_suites
        .iter()
        .find(|s| s.name.as_str() == "(not listed)")
        .expect("a suite that counts what is not listed");
    assert_eq!(unlisted.tests, 5000 - cases);
    let suites: usize = junit.test_suites.iter().map(|s| s.tests).sum();
    assert_eq!(suites, 5000, "the suites add up to the totals");
    cases
}

/// Every DOM operation walks a tree of any depth without recursion: chains of 70,000 and
/// 200,000 Folders (built by a script, as a place cannot be that deep) go through each. The
/// first `Destroy` of such a chain overflowed the worker's stack (exit 134).
#[tokio::test]
async fn dom_operations_walk_deep_chains_without_recursion() {
    let script = r#"
-- A chain of n Folders: the chain doubles while it can (a copy hangs under its bottom), then
-- grows one parent at a time on top. Each step reparents a root, so no step walks the chain.
local function chain(n)
	local top = Instance.new("Folder")
	local bottom, length = top, 1
	while length * 2 <= n do
		local copy = top:Clone()
		local below = copy:GetDescendants()
		copy.Parent = bottom
		bottom = below[#below] or copy
		length *= 2
	end
	for _ = length + 1, n do
		local parent = Instance.new("Folder")
		top.Parent = parent
		top = parent
	end
	top.Name = "root"
	bottom.Name = "leaf"
	return top, bottom
end
local out = {}
for _, n in { 70000, 200000 } do
	local root, leaf = chain(n)
	local copy = root:Clone()
	local r = {
		descendants = #root:GetDescendants(),
		findFirstChild = root:FindFirstChild("leaf", true) == leaf,
		findFirstDescendant = root:FindFirstDescendant("leaf") == leaf,
		whichIsA = root:FindFirstChildWhichIsA("Folder", true) ~= nil,
		fullName = #leaf:GetFullName(),
		isDescendantOf = leaf:IsDescendantOf(root),
		isAncestorOf = root:IsAncestorOf(leaf),
		findFirstAncestor = leaf:FindFirstAncestor("root") == root,
		cloned = #copy:GetDescendants(),
	}
	copy:FindFirstChild("leaf", true):Destroy()
	copy:ClearAllChildren()
	r.cleared = #copy:GetChildren()
	root:Destroy()
	r.destroyed = leaf.Parent == nil and not pcall(function()
		leaf.Parent = workspace
	end)
	table.insert(out, r)
end
return out
"#;
    let output = Run::bare()
        .env("INPUT_BACKEND", "local")
        .env("INPUT_SCRIPT", script)
        .env("INPUT_TIMEOUT", "300")
        .env("INPUT_OUTPUT_FORMAT", "json")
        .expect()
        .await;
    output.code(Outcome::Complete);
    let result: Value = serde_json::from_str(output.stdout.lines().last().unwrap()).unwrap();
    let expected = |n: u64| {
        json!({
            "descendants": n - 1, "findFirstChild": true, "findFirstDescendant": true,
            "whichIsA": true,
            // "root", n - 2 "Folder"s and "leaf", joined by dots.
            "fullName": 7 * n - 5,
            "isDescendantOf": true, "isAncestorOf": true, "findFirstAncestor": true,
            "cloned": n - 1, "cleared": 0, "destroyed": true,
        })
    };
    assert_eq!(
        result["results"][0],
        json!([expected(70_000), expected(200_000)])
    );
}
