//! `Debris:AddItem(instance, lifetime)`: the instance is destroyed `lifetime` seconds later
//! (10 when not given), on the task's scheduler; an instance already destroyed is left alone.
//! Like any scheduled thread it does not keep the task alive.

use mlua::{Lua, Value};

const REGISTRY_KEY: &str = "luau-exec.service.Debris";

const SOURCE: &str = r#"
local env = ...
local service = env.game:GetService("Debris")
local function addItem(self, item, lifetime)
	if self ~= service then
		error("Expected ':' not '.' calling member function AddItem", 2)
	end
	if env.typeof(item) ~= "Instance" then
		error("Unable to cast value to Object", 2)
	end
	if lifetime ~= nil and type(lifetime) ~= "number" then
		error("Unable to cast value to double", 2)
	end
	env.task.delay(lifetime or 10, function()
		pcall(item.Destroy, item)
	end)
end
return { AddItem = addItem, addItem = addItem }
"#;

pub(super) fn member(lua: &Lua, key: &str) -> mlua::Result<Option<Value>> {
    let module = super::luau_module(lua, REGISTRY_KEY, "Debris", SOURCE, |lua| {
        lua.create_table()
    })?;
    super::from_module(&module, key)
}
