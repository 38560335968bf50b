//! `Players` in a task: a server with nobody in it. `GetPlayers` is empty, `LocalPlayer` is
//! nil (it is on any server), the lookups find nobody, and `PlayerAdded`/`PlayerRemoving` are
//! signals that never fire.

use mlua::{MultiValue, Value};

use crate::emulator::dom::classes::Registrar;

pub(crate) fn register(r: &mut Registrar) -> mlua::Result<()> {
    r.method("Players", "GetPlayers", |lua, _, _, ()| lua.create_table())?;
    for lookup in ["GetPlayerFromCharacter", "GetPlayerByUserId"] {
        r.method("Players", lookup, |_, _, _, _: MultiValue| Ok(Value::Nil))?;
    }
    let nobody = r.lua().create_function(|_, _: MultiValue| Ok(Value::Nil))?;
    r.read_only("Players", "LocalPlayer", nobody);
    for signal in ["PlayerAdded", "PlayerRemoving", "PlayerMembershipChanged"] {
        r.signal("Players", signal);
    }
    // The deprecated spellings Roblox still honours.
    r.alias("Players", "getPlayers", "GetPlayers");
    r.alias("Players", "playerFromCharacter", "GetPlayerFromCharacter");
    Ok(())
}
