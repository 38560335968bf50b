//! The value objects (`StringValue`, `IntValue`, `ObjectValue`, `CFrameValue`, …, all
//! `ValueBase`): their `Changed` fires only when `Value` changes, and passes the new value
//! rather than the property's name, as on Roblox. A new one is named "Value" (the reflection
//! database's defaults name it after its class); its `Value` defaults come from the database.

use super::{Member, Registrar};

pub(super) fn register(r: &mut Registrar) -> mlua::Result<()> {
    r.member("ValueBase", "Changed", Member::ValueChanged);
    r.default_name("ValueBase", "Value");
    Ok(())
}
