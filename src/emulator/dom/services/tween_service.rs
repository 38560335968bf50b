//! `TweenService:Create` and the `Tween`s it makes (instances of class `Tween`, parent nil):
//! `Play`, `Pause`, `Cancel`, `PlaybackState`, `Completed`. The behaviour is in
//! `tween_service.luau`: goal properties are set when the tween's time is over, on the
//! scheduler (nothing is rendered, so nothing in between).

use mlua::{AnyUserData, Function, Lua, Table, Value};

use super::LuauHalf;
use crate::emulator::dom::classes::Registrar;
use crate::emulator::dom::instance;

static HALF: LuauHalf = LuauHalf {
    registry_key: "luau-exec.service.TweenService",
    name: "TweenService",
    source: include_str!("tween_service.luau"),
    primitives,
};

/// What a Tween answers from the Luau half, by the class Roblox declares it on.
const TWEEN_MEMBERS: &[(&str, &str)] = &[
    ("TweenBase", "Play"),
    ("TweenBase", "Pause"),
    ("TweenBase", "Cancel"),
    ("TweenBase", "PlaybackState"),
    ("Tween", "Instance"),
    ("Tween", "TweenInfo"),
];

pub(crate) fn register(r: &mut Registrar) -> mlua::Result<()> {
    super::lazy(r, &HALF, "TweenService", &["Create"])?;
    r.signal("TweenBase", "Completed");
    for (class, name) in TWEEN_MEMBERS {
        let get = r.lua().create_function(move |lua, tween: AnyUserData| {
            let answer: Function = HALF.load(lua)?.raw_get("tweenMember")?;
            answer.call::<Value>((tween, *name))
        })?;
        r.read_only(class, name, get);
    }
    Ok(())
}

fn primitives(lua: &Lua) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table.set(
        "newTween",
        lua.create_function(|lua, ()| {
            let dom = instance::dom(lua)?;
            let made = instance::create_detached(lua, &dom, "Tween", "Tween".into())?;
            instance::handle(lua, &dom, made)
        })?,
    )?;
    table.set(
        "fire",
        lua.create_function(
            |lua, (tween, name, args): (AnyUserData, String, mlua::MultiValue)| {
                let dom = instance::dom(lua)?;
                let r = tween.borrow::<instance::InstanceRef>()?.0;
                instance::fire(lua, &dom, r, &name, args)
            },
        )?,
    )?;
    table.set(
        "changed",
        lua.create_function(|lua, (tween, property): (AnyUserData, String)| {
            let dom = instance::dom(lua)?;
            let r = tween.borrow::<instance::InstanceRef>()?.0;
            instance::changed(lua, &dom, r, &property)
        })?,
    )?;
    Ok(table)
}
