//! `BindableEvent` (`Fire` runs the `Event`'s handlers with its arguments, as the place's
//! signal behaviour says) and `BindableFunction` (`Invoke` calls the `OnInvoke` callback in
//! the caller's thread and returns what it returns; with no callback yet, it waits for one,
//! as Roblox queues the call). Arguments pass as they are: Roblox copies tables across a
//! bindable (dropping metatables), the emulator does not.

use mlua::{Function, MultiValue, Table};

use super::{Member, Registrar};
use crate::emulator::dom::instance::fire;

/// `Invoke` and the `OnInvoke` callback, in Luau: `Invoke` waits on the scheduler for a
/// callback, and the callback may yield.
const BINDABLE_FUNCTION: &str = r#"
local env = ...
-- Keyed strongly: a BindableFunction given a callback keeps its handle, and so is never freed
-- out of the game (the callback lives in the handle's entry here, not in the instance).
local callbacks = {}
local function invoke(self, ...)
	if env.typeof(self) ~= "Instance" or not self:IsA("BindableFunction") then
		error("Expected ':' not '.' calling member function Invoke", 2)
	end
	local callback = callbacks[self]
	while callback == nil do
		env.task.wait()
		callback = callbacks[self]
	end
	return callback(...)
end
local function get()
	error("OnInvoke is a callback member of BindableFunction; you can only set the callback value, get is not available", 0)
end
local function set(self, callback)
	if callback ~= nil and type(callback) ~= "function" then
		error("Unable to assign property OnInvoke. Function expected, got " .. env.typeof(callback), 0)
	end
	callbacks[self] = callback
end
return { invoke = invoke, get = get, set = set }
"#;

pub(super) fn register(r: &mut Registrar) -> mlua::Result<()> {
    r.signal("BindableEvent", "Event");
    r.method(
        "BindableEvent",
        "Fire",
        |lua, dom, this, args: MultiValue| fire(lua, dom, this, "Event", args),
    )?;
    let parts: Table = r
        .lua()
        .load(BINDABLE_FUNCTION)
        .set_name("=luau-exec.BindableFunction")
        .call(r.env().clone())?;
    r.member(
        "BindableFunction",
        "Invoke",
        Member::Method(parts.get::<Function>("invoke")?),
    );
    r.member(
        "BindableFunction",
        "OnInvoke",
        Member::Property {
            get: Some(parts.get("get")?),
            set: Some(parts.get("set")?),
        },
    );
    Ok(())
}
