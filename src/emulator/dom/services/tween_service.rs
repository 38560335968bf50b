//! `TweenService:Create` and the `Tween`s it makes (instances of class `Tween`, parent nil):
//! `Play`, `Pause`, `Cancel`, `PlaybackState`, `Completed`. The behaviour is in
//! `tween_service.luau`: goal properties are set when the tween's time is over, on the
//! scheduler (nothing is rendered, so nothing in between).

use mlua::{AnyUserData, Function, Lua, Table, Value};
use rbx_dom_weak::InstanceBuilder;
use rbx_dom_weak::types::Ref;

use super::super::Dom;
use super::super::instance;
use super::super::memory::INSTANCE_OVERHEAD;

const SOURCE: &str = include_str!("tween_service.luau");
const REGISTRY_KEY: &str = "luau-exec.service.TweenService";

fn module(lua: &Lua) -> mlua::Result<Table> {
    super::luau_module(lua, REGISTRY_KEY, "TweenService", SOURCE, primitives)
}

pub(super) fn member(lua: &Lua, key: &str) -> mlua::Result<Option<Value>> {
    let members: Table = module(lua)?.raw_get("members")?;
    super::from_module(&members, key)
}

/// A member of a Tween: its signal `Completed`, or what the Luau half answers.
pub(super) fn tween_member(lua: &Lua, dom: &Dom, r: Ref, key: &str) -> mlua::Result<Option<Value>> {
    if key == "Completed" {
        return super::signal(lua, dom, r, key).map(Some);
    }
    if !matches!(
        key,
        "Play" | "Pause" | "Cancel" | "PlaybackState" | "Instance" | "TweenInfo"
    ) {
        return Ok(None);
    }
    let answer: Function = module(lua)?.raw_get("tweenMember")?;
    let value: Value = answer.call((instance::handle(lua, dom, r)?, key))?;
    // A Tween the Luau half did not make (from a place file) has no state: its members are
    // the instance's own.
    Ok((!value.is_nil()).then_some(value))
}

fn primitives(lua: &Lua) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table.set(
        "newTween",
        lua.create_function(|lua, ()| {
            let dom = instance::dom(lua)?;
            dom.memory.take(lua, INSTANCE_OVERHEAD + "Tween".len())?;
            let made = dom.tree.borrow_mut().insert(
                Ref::none(),
                InstanceBuilder::new("Tween").with_name("Tween"),
            );
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
