//! `ServiceProvider` (the DataModel's superclass): `GetService`, which creates a service on
//! first use as Roblox does, `FindService`, which does not, and their deprecated names.
//! Services only Studio, plugins or Roblox's own scripts can use are refused, as a game
//! server's scripts (an Open Cloud task's) cannot use them: code that probes for them with
//! `pcall` (Jest-Lua's `getDataModelService`) then takes its game-server path.

use mlua::Error as LuaError;

use super::Registrar;
use crate::emulator::dom::instance::{children_of, class_of, found_or_nil, get_service};

/// Services a task's scripts may not use, and the capability they lack for it.
const PRIVILEGED: &[(&str, &str)] = &[
    ("CoreScriptSyncService", "RobloxScript"),
    ("FileSystemService", "RobloxScript"),
    ("ProcessService", "RobloxScript"),
    ("ScriptEditorService", "Plugin"),
    ("StudioService", "Plugin"),
    ("Selection", "Plugin"),
    ("ChangeHistoryService", "Plugin"),
];

/// Refuses a privileged service, in the words of Roblox's capability checks (the exact
/// message for `GetService` is not documented: chosen, and in the README).
fn check_access(name: &str) -> mlua::Result<()> {
    match PRIVILEGED.iter().find(|(service, _)| *service == name) {
        Some((service, capability)) => Err(LuaError::runtime(format!(
            "The current thread cannot access '{service}' (lacking capability {capability})"
        ))),
        None => Ok(()),
    }
}

pub(super) fn register(r: &mut Registrar) -> mlua::Result<()> {
    r.method(
        "ServiceProvider",
        "GetService",
        |lua, dom, _, name: String| {
            check_access(&name)?;
            get_service(lua, dom, &name)
        },
    )?;
    r.method(
        "ServiceProvider",
        "FindService",
        |lua, dom, this, name: String| {
            check_access(&name)?;
            let found = children_of(dom, this)
                .into_iter()
                .find(|c| class_of(dom, *c).is_ok_and(|k| k == name));
            found_or_nil(lua, dom, found)
        },
    )?;
    r.alias("ServiceProvider", "getService", "GetService");
    r.alias("ServiceProvider", "service", "GetService");
    r.alias("ServiceProvider", "findService", "FindService");
    Ok(())
}
