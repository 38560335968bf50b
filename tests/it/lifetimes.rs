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
