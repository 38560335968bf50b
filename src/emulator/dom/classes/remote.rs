//! `RemoteEvent` and `RemoteFunction` in a game server with no players (an Open Cloud task):
//! `OnServerEvent` and `OnClientEvent` are signals that never fire, `FireAllClients` reaches
//! nobody, and what needs a player or a client fails as Roblox words it. `OnServerInvoke` and
//! `OnClientInvoke` take a callback (which nothing calls).

use mlua::{MultiValue, Table};

use super::{Member, Registrar};

/// The callbacks, set-only as Roblox's are.
const CALLBACKS: &str = r#"
local env = ...
local function callback(class, name)
	local message = string.format("%s is a callback member of %s; you can only set the callback value, get is not available", name, class)
	return {
		get = function()
			error(message, 0)
		end,
		set = function(_, value)
			if value ~= nil and type(value) ~= "function" then
				error(string.format("Unable to assign property %s. Function expected, got %s", name, env.typeof(value)), 0)
			end
		end,
	}
end
return callback
"#;

pub(super) fn register(r: &mut Registrar) -> mlua::Result<()> {
    r.signal("RemoteEvent", "OnServerEvent");
    r.signal("RemoteEvent", "OnClientEvent");
    r.method("RemoteEvent", "FireAllClients", |_, _, _, _: MultiValue| {
        Ok(())
    })?;
    r.method(
        "RemoteEvent",
        "FireClient",
        |_, _, _, _: MultiValue| -> mlua::Result<()> {
            Err(mlua::Error::runtime(
                "FireClient: player argument must be a Player object",
            ))
        },
    )?;
    r.method(
        "RemoteEvent",
        "FireServer",
        |_, _, _, _: MultiValue| -> mlua::Result<()> {
            Err(mlua::Error::runtime(
                "FireServer can only be called from the client",
            ))
        },
    )?;
    r.method(
        "RemoteFunction",
        "InvokeServer",
        |_, _, _, _: MultiValue| -> mlua::Result<()> {
            Err(mlua::Error::runtime(
                "InvokeServer can only be called from the client",
            ))
        },
    )?;
    r.method(
        "RemoteFunction",
        "InvokeClient",
        |_, _, _, _: MultiValue| -> mlua::Result<()> {
            Err(mlua::Error::runtime(
                "InvokeClient: player argument must be a Player object",
            ))
        },
    )?;
    let callback: mlua::Function = r
        .lua()
        .load(CALLBACKS)
        .set_name("=luau-exec.remote")
        .call(r.env().clone())?;
    for name in ["OnServerInvoke", "OnClientInvoke"] {
        let parts: Table = callback.call(("RemoteFunction", name))?;
        r.member(
            "RemoteFunction",
            name,
            Member::Property {
                get: Some(parts.get("get")?),
                set: Some(parts.get("set")?),
            },
        );
    }
    Ok(())
}
