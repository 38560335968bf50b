//! `ScriptContext`: the coverage methods an Open Cloud task may call (capability
//! `PluginOrOpenCloud`), `EnableCoverage(instance)` and `GetCoverageStats()`; the behaviour is
//! `src/emulator/coverage.rs`.

use mlua::Value;

use super::Registrar;
use crate::emulator::coverage;

pub(super) fn register(r: &mut Registrar) -> mlua::Result<()> {
    r.method(
        "ScriptContext",
        "EnableCoverage",
        |lua, _, _, root: Value| coverage::enable(lua, root),
    )?;
    r.method("ScriptContext", "GetCoverageStats", |lua, _, _, (): ()| {
        coverage::stats(lua)
    })
}
