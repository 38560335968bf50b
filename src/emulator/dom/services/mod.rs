//! Services test code touches first, each registered in the class registry
//! (`classes/mod.rs`, one line each): `RunService` (the task's context and the frame events),
//! `HttpService` (JSON and GUIDs; no network), `Players` (no players), `TweenService` and its
//! `Tween`s, `Debris`, `LogService.MessageOut`, `MemoryStoreService`'s sorted maps and queues (the emulator's
//! per-universe store), and `DataStoreService` (which fails, naming itself).
//!
//! Parts that yield, schedule or keep state are written in Luau (`*.luau` beside each file),
//! loaded the first time a script reads one of their members ([`lazy`]), so a task that never
//! reaches the service pays nothing for it.

pub(crate) mod data_stores;
pub(crate) mod debris;
pub(crate) mod http_service;
pub(crate) mod log_service;
pub(crate) mod memory_store_service;
pub(crate) mod players;
pub(crate) mod run_service;
pub(crate) mod task_context;
pub(crate) mod tween_service;

use mlua::{AnyUserData, Lua, Table, Value};

use super::classes::Registrar;
use super::instance;

/// Where a service's Luau half comes from: its registry key, chunk name, source and the Rust
/// primitives it is called with (beside the shared environment).
pub(crate) struct LuauHalf {
    pub registry_key: &'static str,
    pub name: &'static str,
    pub source: &'static str,
    pub primitives: fn(&Lua) -> mlua::Result<Table>,
}

impl LuauHalf {
    /// The table the Luau half returns, run once per task on first use.
    fn load(&self, lua: &Lua) -> mlua::Result<Table> {
        if let Some(module) = lua.named_registry_value::<Option<Table>>(self.registry_key)? {
            return Ok(module);
        }
        let dom = instance::dom(lua)?;
        let shared =
            dom.hooks.borrow().shared_env.clone().ok_or_else(|| {
                mlua::Error::runtime("the local emulator's environment is not ready")
            })?;
        let env = super::script_env(lua, &shared, None)?;
        let module: Table = lua
            .load(self.source)
            .set_name(format!("=luau-exec.{}", self.name))
            .set_environment(env)
            .call((shared, (self.primitives)(lua)?))?;
        lua.set_named_registry_value(self.registry_key, module.clone())?;
        Ok(module)
    }
}

/// Registers `names` of `class` as members read from the Luau half's table (`members` in
/// it): a method reads as its function, a signal as the signal. Reading one loads the half.
fn lazy(
    r: &mut Registrar,
    half: &'static LuauHalf,
    class: &'static str,
    names: &'static [&'static str],
) -> mlua::Result<()> {
    for name in names {
        let get = r.lua().create_function(move |lua, _this: AnyUserData| {
            let members: Table = half.load(lua)?.raw_get("members")?;
            members.raw_get::<Value>(*name)
        })?;
        r.read_only(class, name, get);
    }
    Ok(())
}

/// Registers a method that fails when called (not when read, so `pcall(service.Method,
/// service)` catches it) with `message`, located at the caller's line as the engine's errors
/// are.
fn failing(
    r: &mut Registrar,
    class: &'static str,
    name: &'static str,
    message: String,
) -> mlua::Result<()> {
    r.method(class, name, move |_, _, _, _: mlua::MultiValue| {
        Err::<(), _>(mlua::Error::runtime(message.clone()))
    })
}
