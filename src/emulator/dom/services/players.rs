//! `Players` in a task: a server with nobody in it. `GetPlayers` is empty, `LocalPlayer` is
//! nil (it is on any server), the lookups find nobody, and `PlayerAdded`/`PlayerRemoving` are
//! signals that never fire.

use mlua::{Lua, Value};
use rbx_dom_weak::types::Ref;

use super::super::Dom;

const SIGNALS: &[&str] = &["PlayerAdded", "PlayerRemoving", "PlayerMembershipChanged"];
const REGISTRY_KEY: &str = "luau-exec.service.Players";

/// The member functions, in Luau (each checks it was called with `:`).
const SOURCE: &str = r#"
local env = ...
local service = env.game:GetService("Players")
local function method(name, body)
	return function(self, ...)
		if self ~= service then
			error(string.format("Expected ':' not '.' calling member function %s", name), 2)
		end
		return body(...)
	end
end
local nobody = function()
	return nil
end
local members = {
	GetPlayers = method("GetPlayers", function()
		return {}
	end),
	GetPlayerFromCharacter = method("GetPlayerFromCharacter", nobody),
	GetPlayerByUserId = method("GetPlayerByUserId", nobody),
}
-- The deprecated spellings Roblox still honours.
members.getPlayers = members.GetPlayers
members.playerFromCharacter = members.GetPlayerFromCharacter
return members
"#;

pub(super) fn member(lua: &Lua, dom: &Dom, r: Ref, key: &str) -> mlua::Result<Option<Value>> {
    if key == "LocalPlayer" {
        return Ok(Some(Value::Nil));
    }
    if SIGNALS.contains(&key) {
        return super::signal(lua, dom, r, key).map(Some);
    }
    let module = super::luau_module(lua, REGISTRY_KEY, "Players", SOURCE, |lua| {
        lua.create_table()
    })?;
    super::from_module(&module, key)
}
