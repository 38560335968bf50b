//! The emulator's classes answer as Roblox's do: members belong to their class (and its
//! subclasses), unknown members fail with Roblox's exact message, each instance is one Lua value
//! for its whole life, the instances real suites create (bindables, value objects, GUI) behave,
//! signals follow the place's `Workspace.SignalBehavior`, and the deprecated lowercase names
//! still answer. Each test is a Luau script run by the real binary on the local backend.

use rbx_dom_weak::types::{Enum, Ref, Variant};
use rbx_dom_weak::{InstanceBuilder, WeakDom};
use serde_json::{Value, json};

use crate::support::{Outcome, Run};

/// A place whose Workspace has this `SignalBehavior` (as Studio saves it: `SignalBehavior2`;
/// 0 Default, 1 Immediate, 2 Deferred), with an empty ReplicatedStorage.
pub fn place_with_signal_behavior(behavior: u32) -> Vec<u8> {
    let mut dom = WeakDom::new(InstanceBuilder::new("DataModel"));
    let root = dom.root_ref();
    dom.insert(
        root,
        InstanceBuilder::new("Workspace")
            .with_name("Workspace")
            .with_property("SignalBehavior2", Variant::Enum(Enum::from_u32(behavior))),
    );
    dom.insert(
        root,
        InstanceBuilder::new("ReplicatedStorage").with_name("ReplicatedStorage"),
    );
    let services: Vec<Ref> = dom.root().children().to_vec();
    let mut bytes = Vec::new();
    rbx_binary::to_writer(&mut bytes, &dom, &services).expect("a place");
    bytes
}

/// Runs `script` on the local backend (in `place`, else the empty place); its first result.
pub async fn run(script: &str, place: Option<Vec<u8>>) -> Value {
    let file = place.map(|bytes| crate::support::temp_file("game.rbxl", &bytes));
    let mut run = Run::bare();
    run.env("INPUT_BACKEND", "local")
        .env("INPUT_SCRIPT", script)
        .env("INPUT_TIMEOUT", "20")
        .env("INPUT_OUTPUT_FORMAT", "json");
    if let Some((_, path)) = &file {
        run.env("INPUT_PLACE_FILE", path.to_str().expect("a UTF-8 path"));
    }
    let output = run.expect().await;
    output.code(Outcome::Complete);
    let last: Value =
        serde_json::from_str(output.stdout.lines().last().unwrap_or_default()).expect("JSON");
    last["results"][0].clone()
}

#[tokio::test]
async fn members_belong_to_their_class_and_unknown_ones_fail_as_on_roblox() {
    let script = r#"
local function err(f) return select(2, pcall(f)) end
local C = game:GetService("CollectionService")
local part = Instance.new("Part", workspace)
C:AddTag(part, "door")
local polyfill = Instance.new("ModuleScript")
local errorModule = Instance.new("ModuleScript", polyfill)
errorModule.Name = "Error"
local taggedModule = Instance.new("ModuleScript", polyfill)
taggedModule.Name = "GetTagged"
return {
    unknown = err(function() return game.ReplicatedStorage.Nope end),
    otherClass = err(function() return workspace.GetTagged end),
    serviceOnly = err(function() return workspace:GetService("Players") end),
    dotCall = err(function() return game.GetService(workspace, "Players") end),
    engine = err(function() return workspace.Raycast end),
    folder = err(function() return Instance.new("Folder").Nope end),
    tagged = { #C:GetTagged("door"), C:HasTag(part, "door"), part:HasTag("door"), C:GetTags(part)[1] },
    same = { game.IsA == workspace.IsA, workspace.isA == workspace.IsA, game.getService == game.GetService },
    -- Another class's member does not hide a child (LuauPolyfill requires `script.Error`).
    children = { polyfill.Error == errorModule, polyfill.GetTagged == taggedModule, pcall(function() return C.Error end) == false },
}
"#;
    let r = run(script, None).await;
    assert_eq!(
        r["unknown"],
        "TaskScript:12: Nope is not a valid member of ReplicatedStorage \"ReplicatedStorage\""
    );
    assert_eq!(
        r["otherClass"],
        "TaskScript:13: GetTagged is not a valid member of Workspace \"Workspace\""
    );
    assert_eq!(
        r["serviceOnly"],
        "TaskScript:14: GetService is not a valid member of Workspace \"Workspace\""
    );
    assert_eq!(
        r["dotCall"],
        "TaskScript:15: Expected ':' not '.' calling member function GetService"
    );
    assert!(
        r["engine"]
            .as_str()
            .is_some_and(|m| m.starts_with("TaskScript:16: Workspace.Raycast is not emulated")),
        "{r}"
    );
    assert_eq!(
        r["folder"],
        "TaskScript:17: Nope is not a valid member of Folder \"Folder\""
    );
    assert_eq!(r["tagged"], json!([1, true, true, "door"]));
    assert_eq!(r["same"], json!([true, true, true]));
    assert_eq!(r["children"], json!([true, true, true]), "{r}");
}

#[tokio::test]
async fn deprecated_lowercase_names_still_answer() {
    let script = r#"
local box = Instance.new("Folder")
box.Name = "Box"
box.Parent = workspace
local inner = Instance.new("Folder", box)
inner.Name = "inner"
local copy = box:clone()
local gone = Instance.new("Folder", workspace)
gone:destroy()
local removed = Instance.new("Folder", workspace)
removed:remove()
local alsoRemoved = Instance.new("Folder", workspace)
alsoRemoved:Remove()
return {
    box:isA("Folder"), box:findFirstChild("inner") == inner, #box:getChildren(), #box:children(),
    copy.Name, #copy:GetChildren(), gone.Parent == nil, pcall(function() gone.Parent = workspace end),
    removed.Parent == nil, alsoRemoved.Parent == nil, inner:isDescendantOf(workspace),
    inner:IsDescendantOf(box), game:getService("Workspace") == workspace, game:service("Workspace") == workspace,
    inner:GetFullName(),
}
"#;
    let r = run(script, None).await;
    assert_eq!(
        r,
        json!([
            true,
            true,
            1,
            1,
            "Box",
            1,
            true,
            false,
            true,
            true,
            true,
            true,
            true,
            true,
            "Workspace.Box.inner"
        ])
    );
}

/// Jest-Lua's module cache keys modules by instance, in tables (weak ones too): the same
/// instance must be the same Lua value however it is reached.
#[tokio::test]
async fn each_instance_is_one_lua_value_for_its_whole_life() {
    let script = r#"
local made = Instance.new("Folder")
made.Name = "Made"
made.Parent = workspace
local seen
workspace.ChildAdded:Connect(function(child) seen = seen or child end)
local later = Instance.new("Folder", workspace)
local weak = setmetatable({}, { __mode = "k" })
weak[made] = "made"
-- Held by no variable: only the tree keeps it, and the weak table's key must survive.
do
    local kept = Instance.new("Folder", workspace)
    kept.Name = "Kept"
    weak[kept] = "kept"
end
local keys = {}
keys[workspace] = 1
-- Enough garbage for the collector to run several cycles.
for _ = 1, 2000 do
    local t = {}
    for i = 1, 100 do t[i] = { i } end
end
return {
    rawequal(workspace, game.Workspace),
    rawequal(game:GetService("Workspace"), workspace),
    rawequal(workspace:FindFirstChild("Made"), made),
    rawequal(workspace.Made, made),
    rawequal(workspace:GetChildren()[1], made) or rawequal(workspace:GetChildren()[2], made),
    rawequal(made.Parent, workspace),
    rawequal(seen, later),
    weak[workspace.Made],
    keys[game:GetService("Workspace")],
    weak[workspace.Kept],
}
"#;
    let r = run(script, None).await;
    assert_eq!(
        r,
        json!([true, true, true, true, true, true, true, "made", 1, "kept"])
    );
}

#[tokio::test]
async fn value_objects_have_roblox_defaults_and_their_changed_passes_the_new_value() {
    let script = r##"
local classes = { "StringValue", "IntValue", "NumberValue", "BoolValue", "ObjectValue",
    "CFrameValue", "Vector3Value", "Color3Value", "BrickColorValue", "RayValue" }
local names = {}
for _, class in classes do
    table.insert(names, Instance.new(class).Name)
end
local s, i, n, b, o = Instance.new("StringValue"), Instance.new("IntValue"), Instance.new("NumberValue"),
    Instance.new("BoolValue"), Instance.new("ObjectValue")
local defaults = { s.Value, i.Value, n.Value, b.Value, o.Value == nil,
    Instance.new("Vector3Value").Value == Vector3.zero, Instance.new("CFrameValue").Value == CFrame.new(),
    Instance.new("Color3Value").Value == Color3.new(0, 0, 0) }
local changes = {}
s.Changed:Connect(function(value) table.insert(changes, value) end)
s.Value = "hello"
s.Name = "renamed"
o.Changed:Connect(function(value) table.insert(changes, value == workspace) end)
o.Value = workspace
local property = {}
i:GetPropertyChangedSignal("Value"):Connect(function(...) table.insert(property, select("#", ...)) end)
i.Value = 5
return { names = names, defaults = defaults, changes = changes, property = property, value = i.Value, o = o.Value == workspace }
"##;
    let r = run(script, None).await;
    assert_eq!(r["names"], json!(vec!["Value"; 10]), "{r}");
    assert_eq!(
        r["defaults"],
        json!(["", 0, 0, false, true, true, true, true]),
        "{r}"
    );
    // Immediate (the empty place's Default): each handler has run by the next line; `Name`
    // does not fire a value object's `Changed`.
    assert_eq!(r["changes"], json!(["hello", true]), "{r}");
    assert_eq!(r["property"], json!([0]));
    assert_eq!(r["value"], 5);
    assert_eq!(r["o"], true);
}

#[tokio::test]
async fn bindables_pass_their_arguments_and_results() {
    let script = r##"
local event = Instance.new("BindableEvent")
local got = {}
event.Event:Connect(function(...) table.insert(got, { n = select("#", ...), ... }) end)
event:Fire(1, "two", nil)
local waited = {}
task.spawn(function() waited = { event.Event:Wait() } end)
event:Fire("woken")
local fn = Instance.new("BindableFunction")
local early
task.spawn(function() early = fn:Invoke(20) end)
fn.OnInvoke = function(a, b)
    task.wait()
    return (a or 0) + (b or 0), "sum"
end
local sum, label = fn:Invoke(2, 3)
task.wait(0.05)
return {
    names = { event.Name, fn.Name },
    fired = { got[1].n, got[1][1], got[1][2], got[2][1] },
    waited = waited[1],
    invoked = { sum, label, early },
    getCallback = select(2, pcall(function() return fn.OnInvoke end)),
    badFire = select(2, pcall(function() event.Fire(workspace) end)),
}
"##;
    let r = run(script, None).await;
    assert_eq!(r["names"], json!(["BindableEvent", "BindableFunction"]));
    assert_eq!(r["fired"], json!([3, 1, "two", "woken"]), "{r}");
    assert_eq!(r["waited"], "woken");
    assert_eq!(r["invoked"], json!([5, "sum", 20]), "{r}");
    assert_eq!(
        r["getCallback"],
        "TaskScript:23: OnInvoke is a callback member of BindableFunction; you can only set the callback value, get is not available"
    );
    assert_eq!(
        r["badFire"],
        "TaskScript:24: Expected ':' not '.' calling member function Fire"
    );
}

/// `Default` runs handlers at once (Roact's suite needs it); `Deferred` after the script yields.
#[tokio::test]
async fn signals_follow_the_places_signal_behavior() {
    let script = r#"
local order = {}
local box = Instance.new("Folder")
box.ChildAdded:Connect(function(child) table.insert(order, "added " .. child.Name) end)
local child = Instance.new("Folder", box)
child.Name = "renamed"
table.insert(order, "after")
task.wait()
return order
"#;
    let immediate = json!(["added Folder", "after"]);
    let deferred = json!(["after", "added renamed"]);
    assert_eq!(run(script, None).await, immediate, "the empty place");
    assert_eq!(
        run(script, Some(place_with_signal_behavior(0))).await,
        immediate,
        "Default"
    );
    assert_eq!(
        run(script, Some(place_with_signal_behavior(1))).await,
        immediate,
        "Immediate"
    );
    assert_eq!(
        run(script, Some(place_with_signal_behavior(2))).await,
        deferred,
        "Deferred"
    );
}

#[tokio::test]
async fn destroy_disconnects_and_property_signals_need_a_property() {
    let script = r#"
local value = Instance.new("IntValue")
local calls = 0
local connection = value.Changed:Connect(function() calls += 1 end)
local destroying = false
value.Destroying:Connect(function() destroying = true end)
value.Value = 1
value:Destroy()
value.Value = 2
local handlerError = Instance.new("StringValue")
handlerError.Changed:Connect(function() error("inside the handler") end)
handlerError.Value = "still set"
return {
    calls = calls,
    connected = connection.Connected,
    destroying = destroying,
    locked = select(2, pcall(function() value.Parent = workspace end)),
    missing = select(2, pcall(function() value:GetPropertyChangedSignal("foo") end)),
    known = typeof(Instance.new("Part"):GetPropertyChangedSignal("Anchored")),
    handlerError = handlerError.Value,
    notFunction = select(2, pcall(function() value.Changed:Connect(1) end)),
}
"#;
    let r = run(script, None).await;
    assert_eq!(r["calls"], 1, "{r}");
    assert_eq!(r["connected"], false);
    assert_eq!(r["destroying"], true);
    assert_eq!(
        r["locked"],
        "TaskScript:17: The Parent property of Value is locked, current parent: NULL, new parent Workspace"
    );
    assert_eq!(
        r["missing"],
        "TaskScript:18: foo is not a valid property name."
    );
    assert_eq!(r["known"], "RBXScriptSignal");
    assert_eq!(r["handlerError"], "still set");
    assert_eq!(
        r["notFunction"],
        "TaskScript:21: Attempt to connect failed: Passed value is not a function"
    );
}

/// UI libraries (Roact) create GUI instances and set their reflection-database properties.
#[tokio::test]
async fn gui_classes_are_created_with_their_properties() {
    let script = r#"
local gui = Instance.new("ScreenGui")
local frame = Instance.new("Frame", gui)
frame.Size = UDim2.new(1, 0, 0, 50)
frame.BackgroundColor3 = Color3.fromRGB(255, 0, 0)
frame.Visible = false
frame.LayoutOrder = 3
local label = Instance.new("TextLabel", frame)
label.Text = "hi"
local layout = Instance.new("UIListLayout", frame)
layout.SortOrder = Enum.SortOrder.LayoutOrder
local made = {}
for _, class in { "TextButton", "TextBox", "ImageLabel", "ImageButton", "ScrollingFrame", "UIPadding",
    "UICorner", "UIGridLayout", "SurfaceGui", "BillboardGui", "Folder" } do
    table.insert(made, Instance.new(class).ClassName)
end
return {
    frame = { frame.Size.Y.Offset, frame.BackgroundColor3.R, frame.Visible, frame.LayoutOrder, frame:IsA("GuiObject") },
    label = { label.Text, label.Visible, label.TextSize > 0 },
    layout = tostring(layout.SortOrder),
    gui = { gui.Name, gui.Enabled, #gui:GetDescendants() },
    made = #made,
}
"#;
    let r = run(script, None).await;
    assert_eq!(r["frame"], json!([50, 1, false, 3, true]), "{r}");
    assert_eq!(r["label"], json!(["hi", true, true]), "{r}");
    assert_eq!(r["layout"], "Enum.SortOrder.LayoutOrder");
    assert_eq!(r["gui"], json!(["ScreenGui", true, 3]));
    assert_eq!(r["made"], 11);
}

/// A game server's scripts cannot use Studio's or Roblox's own services: Jest-Lua probes for
/// `CoreScriptSyncService` with `pcall` and must take its game-server path.
#[tokio::test]
async fn privileged_services_are_refused() {
    let script = r#"
local ok, message = pcall(function() return game:GetService("CoreScriptSyncService").Name end)
local found, why = pcall(game.FindService, game, "FileSystemService")
return { ok, message, found, why, game:GetService("HttpService").Name }
"#;
    let r = run(script, None).await;
    assert_eq!(
        r,
        json!([
            false,
            "TaskScript:2: The current thread cannot access 'CoreScriptSyncService' (lacking capability RobloxScript)",
            false,
            "The current thread cannot access 'FileSystemService' (lacking capability RobloxScript)",
            "HttpService",
        ])
    );
}

/// A member's failure traced by the script (as TestEZ and Jest do) shows the script's frames,
/// not the emulator's own Luau wrappers.
#[tokio::test]
async fn tracebacks_through_members_show_no_emulator_frames() {
    let script = r#"
local function read() return workspace.Nope end
local _, trace = xpcall(read, debug.traceback)
local _, waited = xpcall(function() workspace:WaitForChild() end, debug.traceback)
return { trace, waited }
"#;
    let r = run(script, None).await;
    assert_eq!(r.as_array().map(Vec::len), Some(2), "{r}");
    for trace in r.as_array().expect("two traces") {
        let trace = trace.as_str().unwrap_or_default();
        assert!(!trace.contains("luau-exec"), "{trace}");
        assert!(trace.contains("TaskScript:"), "{trace}");
    }
    assert!(
        r[0].as_str().is_some_and(|t| t.starts_with(
            "TaskScript:2: Nope is not a valid member of Workspace \"Workspace\"\nTaskScript:2 function read"
        )),
        "{r}"
    );
}

/// A move tells the whole subtree (`AncestryChanged` on each descendant, `DescendantAdded` and
/// `DescendantRemoving` for each one), and setting a property to the value it has fires nothing.
#[tokio::test]
async fn tree_signals_reach_descendants_and_unchanged_values_fire_nothing() {
    let script = r#"
local root = Instance.new("Folder")
root.Name = "root"
local mid = Instance.new("Folder", root)
mid.Name = "mid"
local leaf = Instance.new("Folder", mid)
leaf.Name = "leaf"
local log = {}
leaf.AncestryChanged:Connect(function(child, parent)
    table.insert(log, "ancestry " .. child.Name .. " " .. (if parent then parent.Name else "nil"))
end)
workspace.DescendantAdded:Connect(function(d) table.insert(log, "added " .. d.Name) end)
workspace.DescendantRemoving:Connect(function(d) table.insert(log, "removing " .. d.Name .. " from " .. d.Parent.Name) end)
root.Parent = workspace
mid.Parent = nil
local value, fired = Instance.new("IntValue"), 0
value.Changed:Connect(function() fired += 1 end)
value.Value = 0
value.Value = 1
value.Value = 1
local folder, renamed = Instance.new("Folder"), 0
folder.Changed:Connect(function() renamed += 1 end)
folder.Name = "Folder"
folder.Name = "x"
folder.Name = "x"
local gone = Instance.new("Folder", workspace)
gone.Name = "gone"
Instance.new("Folder", gone).Name = "child"
gone:Destroy()
return { log = log, fired = fired, renamed = renamed }
"#;
    let r = run(script, None).await;
    assert_eq!(
        r["log"],
        json!([
            "added root",
            "added mid",
            "added leaf",
            "ancestry root Workspace",
            "removing mid from root",
            "removing leaf from mid",
            "ancestry mid nil",
            // Immediate: named after they were parented.
            "added Folder",
            "added Folder",
            "removing child from gone",
            "removing gone from Workspace"
        ]),
        "{r}"
    );
    assert_eq!(r["fired"], 1);
    assert_eq!(r["renamed"], 1);
}

/// Changes fire only what a script listens to, and everything it listens to: a parent's
/// `ChildAdded`/`ChildRemoved` for children nobody asked a signal of (made, cloned, moved out of
/// a clone, destroyed alone or with their parent), and an instance's own signals from the first
/// change after they were asked for.
#[tokio::test]
async fn signals_reach_listeners_for_instances_nobody_asked_a_signal_of() {
    let script = r#"
local log = {}
local parent = Instance.new("Folder")
parent.Name = "parent"
parent.ChildAdded:Connect(function(c) table.insert(log, "added " .. c.Name) end)
parent.ChildRemoved:Connect(function(c) table.insert(log, "removed " .. c.Name) end)
local template = Instance.new("Folder")
template.Name = "template"
Instance.new("Folder", template).Name = "inner"
local copy = template:Clone()
copy.Name = "copy"
copy.Parent = parent
copy.inner.Parent = parent
local box = Instance.new("Folder", parent)
box.Name = "box"
box:Destroy()
local value = Instance.new("StringValue")
value.Value = "before"
value:GetPropertyChangedSignal("Value"):Connect(function() table.insert(log, "value " .. value.Value) end)
value.Value = "after"
value.Destroying:Connect(function() table.insert(log, "destroying " .. value.Name) end)
value:Destroy()
parent:ClearAllChildren()
return log
"#;
    let r = run(script, None).await;
    assert_eq!(
        r,
        json!([
            "added copy",
            "added inner",
            // Immediate: named after it was parented.
            "added Folder",
            "removed box",
            "value after",
            "destroying Value",
            "removed copy",
            "removed inner"
        ]),
        "{r}"
    );
}

/// Properties Roblox derives from another (no place holds them) and remotes in a server with
/// no players.
#[tokio::test]
async fn derived_properties_and_remotes_answer_as_in_a_server() {
    let script = r#"
local part = Instance.new("Part")
local defaultBrick = part.BrickColor.Name
part.BrickColor = BrickColor.new("Bright red")
local label = Instance.new("TextLabel")
label.Font = Enum.Font.GothamBold
local remote = Instance.new("RemoteEvent")
remote.OnServerEvent:Connect(function() end)
remote:FireAllClients("nobody")
local fn = Instance.new("RemoteFunction")
fn.OnServerInvoke = function() return 1 end
return {
    brick = { defaultBrick, part.Color:ToHex() == BrickColor.new("Bright red").Color:ToHex(), part.BrickColor.Name },
    badBrick = select(2, pcall(function() part.BrickColor = 3 end)),
    font = { label.Font == Enum.Font.GothamBold, label.FontFace == Font.fromEnum(Enum.Font.GothamBold) },
    fireClient = select(2, pcall(function() remote:FireClient(nil, 1) end)),
    fireServer = select(2, pcall(function() remote:FireServer(1) end)),
    invokeServer = select(2, pcall(function() fn:InvokeServer() end)),
    getCallback = select(2, pcall(function() return fn.OnServerInvoke end)),
}
"#;
    let r = run(script, None).await;
    assert_eq!(
        r["brick"],
        json!(["Medium stone grey", true, "Bright red"]),
        "{r}"
    );
    assert_eq!(
        r["badBrick"],
        "TaskScript:14: Unable to assign property BrickColor. BrickColor expected, got number"
    );
    assert_eq!(r["font"], json!([true, true]), "{r}");
    assert_eq!(
        r["fireClient"],
        "TaskScript:16: FireClient: player argument must be a Player object"
    );
    assert_eq!(
        r["fireServer"],
        "TaskScript:17: FireServer can only be called from the client"
    );
    assert_eq!(
        r["invokeServer"],
        "TaskScript:18: InvokeServer can only be called from the client"
    );
    assert_eq!(
        r["getCallback"],
        "TaskScript:19: OnServerInvoke is a callback member of RemoteFunction; you can only set the callback value, get is not available"
    );
}

/// Component libraries follow a tag through `GetInstanceAddedSignal`/`GetInstanceRemovedSignal`.
#[tokio::test]
async fn tag_signals_follow_instances_into_and_out_of_the_game() {
    let script = r#"
local C = game:GetService("CollectionService")
local log = {}
C:GetInstanceAddedSignal("door"):Connect(function(i) table.insert(log, "added " .. i.Name) end)
C:GetInstanceRemovedSignal("door"):Connect(function(i) table.insert(log, "removed " .. i.Name) end)
local a = Instance.new("Folder")
a.Name = "a"
a:AddTag("door")
a.Parent = workspace
local b = Instance.new("Folder", a)
b.Name = "b"
C:AddTag(b, "door")
b:RemoveTag("door")
a.Parent = nil
a.Parent = workspace
a:Destroy()
return log
"#;
    let r = run(script, None).await;
    assert_eq!(
        r,
        json!([
            "added a",
            "added b",
            "removed b",
            "removed a",
            "added a",
            "removed a"
        ])
    );
}

/// `Archivable = false` keeps an instance out of copies, as on Roblox.
#[tokio::test]
async fn clone_leaves_out_what_is_not_archivable() {
    let script = r#"
local box = Instance.new("Folder")
Instance.new("Folder", box).Name = "kept"
local skipped = Instance.new("Folder", box)
skipped.Name = "skipped"
skipped.Archivable = false
Instance.new("Folder", skipped).Name = "under"
local copy = box:Clone()
return { #copy:GetChildren(), copy:FindFirstChild("kept") ~= nil, copy:FindFirstChild("skipped") == nil, skipped:Clone() == nil, #box:GetDescendants() }
"#;
    let r = run(script, None).await;
    assert_eq!(r, json!([1, true, true, true, 3]));
}
