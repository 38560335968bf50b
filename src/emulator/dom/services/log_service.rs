//! `LogService.MessageOut`: each `print` and `warn` of the task, delivered to whoever listens,
//! as a live server delivers its output (`MessageOutput`, `MessageWarning`). Test runners listen
//! to it to attach a test's printed lines to its result (live progress does).
//!
//! Firing costs a print nothing until a script reads `MessageOut`: the instance that was asked
//! is remembered in the tree's [`Watchers`](crate::emulator::dom::Watchers), and only then is
//! the signal fired (as the place's `SignalBehavior` says, like every signal of the emulator).
//! Lines the emulator itself logs (errors of spawned threads, `TestService` output) are not
//! delivered: they are written to the task's log only.

use mlua::{Lua, Table, Value};

use crate::api::model::MessageType;
use crate::emulator::dom::classes::Registrar;
use crate::emulator::dom::instance;

pub(crate) fn register(r: &mut Registrar) -> mlua::Result<()> {
    r.signal("LogService", "MessageOut");
    Ok(())
}

/// `Enum.MessageType`'s item name for a log level.
fn enum_name(level: &MessageType) -> &'static str {
    match level {
        MessageType::Warning => "MessageWarning",
        MessageType::Error => "MessageError",
        MessageType::Info => "MessageInfo",
        _ => "MessageOutput",
    }
}

/// Tells `MessageOut`'s listeners about a line the task printed, if any script asked for the
/// signal.
pub(crate) fn message_out(lua: &Lua, level: &MessageType, text: &str) -> mlua::Result<()> {
    let dom = instance::dom(lua)?;
    let Some(service) = dom.watchers.borrow().message_out else {
        return Ok(());
    };
    let env = dom.hooks.borrow().shared_env.clone();
    let kind = match env {
        Some(env) => {
            let types: Table = env.get::<Table>("Enum")?.get("MessageType")?;
            types.get::<Value>(enum_name(level))?
        }
        None => Value::Nil,
    };
    instance::fire(lua, &dom, service, "MessageOut", (text, kind))
}
