//! `RunService`: what the task's context is, and the frame events (`Heartbeat`, `Stepped`,
//! `PreSimulation`, `PostSimulation`, `PreRender`, `RenderStepped`, `PreAnimation`) with
//! `BindToRenderStep`. The Luau half (`run_service.luau`) owns the signals; the scheduler's
//! frame loop fires them while anyone listens.

use std::rc::Rc;

use mlua::{Lua, Table};

use super::LuauHalf;
use crate::emulator::dom::classes::Registrar;
use crate::emulator::dom::scheduler::Scheduler;

/// What `RunService` answers in a task, in one place. An Open Cloud task runs a script in a
/// game server that is running, not in Studio: a server, running, not a client, not editing,
/// not Studio's Run mode. (Roblox does not document these for Open Cloud tasks; they are the
/// answers of a live server, which is what the task's script runs in.)
const CONTEXT: &[(&str, bool)] = &[
    ("IsServer", true),
    ("IsClient", false),
    ("IsStudio", false),
    ("IsRunning", true),
    ("IsEdit", false),
    ("IsRunMode", false),
];

static HALF: LuauHalf = LuauHalf {
    registry_key: "luau-exec.service.RunService",
    name: "RunService",
    source: include_str!("run_service.luau"),
    primitives,
};

/// The frame events and render-step bindings (the Luau half's).
const FRAME_MEMBERS: &[&str] = &[
    "PreRender",
    "RenderStepped",
    "PreAnimation",
    "Stepped",
    "PreSimulation",
    "PostSimulation",
    "Heartbeat",
    "BindToRenderStep",
    "UnbindFromRenderStep",
];

pub(crate) fn register(r: &mut Registrar) -> mlua::Result<()> {
    for (name, answer) in CONTEXT {
        let answer = *answer;
        r.method("RunService", name, move |_, _, _, ()| Ok(answer))?;
    }
    super::lazy(r, &HALF, "RunService", FRAME_MEMBERS)
}

fn primitives(lua: &Lua) -> mlua::Result<Table> {
    let scheduler = lua
        .app_data_ref::<Rc<Scheduler>>()
        .map(|s| s.clone())
        .ok_or_else(|| mlua::Error::runtime("the local emulator has no scheduler"))?;
    let table = lua.create_table()?;
    let s = scheduler.clone();
    table.set(
        "wake",
        lua.create_function(move |_, ()| {
            s.wake_frames();
            Ok(())
        })?,
    )?;
    table.set(
        "setStep",
        lua.create_function(move |_, step: mlua::Function| {
            scheduler.set_frame_step(step);
            Ok(())
        })?,
    )?;
    Ok(table)
}
