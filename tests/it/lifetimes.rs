//! Instances out of the game live while a script can reach them, and no longer: a suite that
//! builds and drops far more than a task's memory runs to the end, and everything a script can
//! still reach (a kept handle, a handle kept only as a table key, a reference property's value,
//! an ancestor of a kept instance, an instance with a listener) stays whole and the same value.
//! Each test is a Luau script run by the real binary on the local backend.

use serde_json::json;

use crate::classes::run;

/// Builds and drops 4,000 × 3 instances with 64 KiB names (750 MiB, past the 512 MiB a task
/// has) in each of the ways suites do (made and dropped, destroyed, cloned, tagged), around
/// instances the script still reaches in each of the ways it can.
#[tokio::test]
async fn instances_nothing_reaches_are_freed_and_reachable_ones_stay_whole() {
    let script = r#"
local CollectionService = game:GetService("CollectionService")
local big = string.rep("x", 64 * 1024)
local function churn()
	local template = Instance.new("Folder")
	template.Name = big
	for i = 1, 4000 do
		Instance.new("Folder").Name = big
		local destroyed = Instance.new("Folder")
		destroyed.Name = big
		destroyed:Destroy()
		local copy = template:Clone()
		CollectionService:AddTag(copy, "churned")
	end
end

-- Kept by the script, with a child reached only as a table key.
local kept = Instance.new("Folder")
local child = Instance.new("Folder", kept)
child.Name = "child"
local byHandle = { [child] = "same value" }
child = nil
-- The value of a reference property, dropped by the script.
local pointer = Instance.new("ObjectValue", workspace)
do
	local target = Instance.new("Part")
	target.Name = "target"
	pointer.Value = target
end
-- A subtree the script dropped but for one descendant.
local leaf
do
	local root = Instance.new("Folder")
	root.Name = "root"
	leaf = Instance.new("Folder", Instance.new("Folder", root))
end
-- An instance with a listener, reached later only through its child.
local removed = 0
local listened = Instance.new("Folder")
listened.ChildRemoved:Connect(function()
	removed += 1
end)
local listenedChild = Instance.new("Folder", listened)
listened = nil
-- A tagged instance out of the game, kept.
local tagged = Instance.new("Part")
CollectionService:AddTag(tagged, "kept")

churn()
churn()

listenedChild.Parent = nil
tagged.Parent = workspace
local found = kept:FindFirstChild("child")
return {
	byHandle[found] or "another value",
	rawequal(found, kept:GetChildren()[1]) and rawequal(found.Parent, kept),
	pointer.Value and pointer.Value.Name or "nil",
	leaf.Parent.Parent.Name,
	removed,
	#CollectionService:GetTagged("kept"),
	#CollectionService:GetTagged("churned"),
}
"#;
    let r = run(script, None).await;
    assert_eq!(
        r,
        json!(["same value", true, "target", "root", 1, 1, 0]),
        "{r}"
    );
}

/// A subtree whose handles a sweep released while it was out of the game, then put in the
/// game and let go, is whole: a table weakly keyed by one of its instances keeps the entry (the
/// game keeps it alive, as on Roblox), and a BindableFunction keeps its `OnInvoke`, in the game
/// or reached only through its child.
#[tokio::test]
async fn instances_brought_into_the_game_after_a_sweep_keep_what_is_keyed_by_them() {
    let script = r#"
local big = string.rep("x", 64 * 1024)
local function churn()
	for i = 1, 4000 do
		Instance.new("Folder").Name = big
		local destroyed = Instance.new("Folder")
		destroyed.Name = big
		destroyed:Destroy()
	end
end
local weak = setmetatable({}, { __mode = "k" })
local entered = Instance.new("Folder")
entered.Name = "entered"
local inside = Instance.new("Folder", entered)
weak[inside] = "kept"
local inGame = Instance.new("BindableFunction")
inGame.Name = "inGame"
inGame.OnInvoke = function() return "in game" end
local outside = Instance.new("BindableFunction")
outside.OnInvoke = function() return "outside" end
local child = Instance.new("Folder", outside)
churn()
entered.Parent = workspace
inGame.Parent = workspace
entered, inside, inGame, outside = nil, nil, nil, nil
churn()
churn()
local answers = {}
task.spawn(function() answers[1] = workspace.inGame:Invoke() end)
task.spawn(function() answers[2] = child.Parent:Invoke() end)
task.wait()
return {
	weak[workspace.entered:FindFirstChild("Folder")] or "lost",
	answers[1] or "no callback",
	answers[2] or "no callback",
}
"#;
    let r = run(script, None).await;
    assert_eq!(r, json!(["kept", "in game", "outside"]), "{r}");
}
