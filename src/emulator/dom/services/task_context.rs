//! What a task knows of where it runs: `game.PlaceVersion` (the version the task runs on: the
//! pinned one, or the head when it was created), `game.PlaceId` and `game.GameId` (the
//! universe), read from the task's context. Scripts use `PlaceVersion` to prove they run on the
//! build they were meant for (optimistic pinning). All three are read-only, as on Roblox.

use mlua::{Lua, MultiValue, Value};

use crate::emulator::dom::classes::{Member, Registrar};
use crate::emulator::vm::TaskContext;

/// Reads one number of the task's context.
type Read = fn(&TaskContext) -> u64;

const PROPERTIES: &[(&str, Read)] = &[
    ("PlaceVersion", |c| c.version),
    ("PlaceId", |c| c.place),
    ("GameId", |c| c.universe),
];

pub(crate) fn register(r: &mut Registrar) -> mlua::Result<()> {
    for (name, read) in PROPERTIES {
        let read = *read;
        let get = r.lua().create_function(move |lua: &Lua, _: MultiValue| {
            let number = lua.app_data_ref::<TaskContext>().map_or(0, |c| read(&c));
            Ok(Value::Number(number as f64))
        })?;
        r.member(
            "DataModel",
            name,
            Member::Property {
                get: Some(get),
                set: None,
            },
        );
    }
    Ok(())
}
