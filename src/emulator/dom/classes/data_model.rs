//! `ServiceProvider` (the DataModel's superclass): `GetService`, which creates a service on
//! first use as Roblox does, `FindService`, which does not, and their deprecated names.

use super::Registrar;
use crate::emulator::dom::instance::{children_of, class_of, found_or_nil, get_service};

pub(super) fn register(r: &mut Registrar) -> mlua::Result<()> {
    r.method(
        "ServiceProvider",
        "GetService",
        |lua, dom, _, name: String| get_service(lua, dom, &name),
    )?;
    r.method(
        "ServiceProvider",
        "FindService",
        |lua, dom, this, name: String| {
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
