//! `Debris:AddItem(instance, lifetime)`: the instance is destroyed `lifetime` seconds later
//! (10 when not given), on the task's scheduler; an instance already destroyed is left alone.
//! Like any scheduled thread it does not keep the task alive.

use crate::emulator::dom::classes::Registrar;

/// `AddItem`, in Luau: it schedules on the task's scheduler.
const ADD_ITEM: &str = r#"
local env = ...
return function(self, item, lifetime)
	if env.typeof(self) ~= "Instance" or not self:IsA("Debris") then
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
"#;

pub(crate) fn register(r: &mut Registrar) -> mlua::Result<()> {
    r.luau_method("Debris", "AddItem", ADD_ITEM)?;
    r.alias("Debris", "addItem", "AddItem");
    Ok(())
}
