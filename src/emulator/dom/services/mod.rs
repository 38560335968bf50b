//! Services test code touches first, by class: `RunService` (the task's context and the frame
//! events), `HttpService` (JSON and GUIDs; no network), `Players` (no players), `TweenService`
//! and its `Tween`s, `Debris`, and `DataStoreService`/`MemoryStoreService` (which fail, naming
//! themselves). A member these do not answer falls through to the instance's ordinary members
//! (properties, children, Roblox's errors).
//!
//! Parts that yield or schedule are written in Luau (`*.luau` beside each file), loaded the
//! first time a script reaches the service, so a task that never does pays nothing.

mod data_stores;
mod debris;
mod http_service;
mod players;
mod run_service;
mod tween_service;

use mlua::{Lua, Table, Value};
use rbx_dom_weak::types::Ref;

use super::Dom;
use super::instance;

/// The member `key` of the service instance `r` of class `class`, if that service has it.
pub(crate) fn member(
    lua: &Lua,
    dom: &Dom,
    r: Ref,
    class: &str,
    key: &str,
) -> mlua::Result<Option<Value>> {
    match class {
        "RunService" => run_service::member(lua, key),
        "HttpService" => http_service::member(lua, key),
        "Players" => players::member(lua, dom, r, key),
        "TweenService" => tween_service::member(lua, key),
        "Tween" => tween_service::tween_member(lua, dom, r, key),
        "Debris" => debris::member(lua, key),
        "DataStoreService" | "MemoryStoreService" => data_stores::member(lua, class, key),
        _ => Ok(None),
    }
}

/// A service's Luau half, run once per task (on first use) with the shared environment and
/// the Rust primitives it needs; the table it returns is kept under `registry_key`.
fn luau_module(
    lua: &Lua,
    registry_key: &str,
    name: &str,
    source: &str,
    primitives: impl FnOnce(&Lua) -> mlua::Result<Table>,
) -> mlua::Result<Table> {
    if let Some(module) = lua.named_registry_value::<Option<Table>>(registry_key)? {
        return Ok(module);
    }
    let dom = instance::dom(lua)?;
    let shared = dom
        .hooks
        .borrow()
        .shared_env
        .clone()
        .ok_or_else(|| mlua::Error::runtime("the local emulator's environment is not ready"))?;
    let env = super::script_env(lua, &shared, None)?;
    let module: Table = lua
        .load(source)
        .set_name(format!("=luau-exec.{name}"))
        .set_environment(env)
        .call((shared, primitives(lua)?))?;
    lua.set_named_registry_value(registry_key, module.clone())?;
    Ok(module)
}

/// `module[key]`, when the module has it.
fn from_module(module: &Table, key: &str) -> mlua::Result<Option<Value>> {
    let value: Value = module.raw_get(key)?;
    Ok((!value.is_nil()).then_some(value))
}

/// An instance's signal `name` (the prelude's signals, which the emulator fires).
fn signal(lua: &Lua, dom: &Dom, r: Ref, name: &str) -> mlua::Result<Value> {
    let get = dom.hooks.borrow().get_signal.clone();
    match get {
        Some(get) => get.call((instance::handle(lua, dom, r)?, name)),
        None => Ok(Value::Nil),
    }
}

/// A member function that fails when called (not when read, so `pcall(service.Method,
/// service)` catches it), located at the caller's line as the engine's errors are.
fn failing(lua: &Lua, message: String) -> mlua::Result<Value> {
    instance::raising(lua, move |_, _| Err(mlua::Error::runtime(message.clone())))
        .map(Value::Function)
}
