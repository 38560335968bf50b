//! `CollectionService`: the tagged instances in the game, and the tag methods it has of its
//! own, which take the instance as their first argument (`AddTag(instance, tag)`) and so hide
//! `Instance`'s (`AddTag(tag)`) on the service.

use mlua::AnyUserData;

use super::Registrar;
use crate::emulator::dom::instance::{add_tag, list, remove_tag, tagged, tags, this};

pub(super) fn register(r: &mut Registrar) -> mlua::Result<()> {
    const CLASS: &str = "CollectionService";
    r.method(CLASS, "GetTagged", |lua, dom, _, tag: String| {
        list(lua, dom, tagged(dom, &tag))
    })?;
    r.method(
        CLASS,
        "AddTag",
        |lua, dom, _, (instance, tag): (AnyUserData, String)| {
            add_tag(lua, dom, this(&instance, "AddTag")?, &tag)
        },
    )?;
    r.method(
        CLASS,
        "RemoveTag",
        |lua, dom, _, (instance, tag): (AnyUserData, String)| {
            remove_tag(lua, dom, this(&instance, "RemoveTag")?, &tag)
        },
    )?;
    r.method(
        CLASS,
        "HasTag",
        |_, dom, _, (instance, tag): (AnyUserData, String)| {
            Ok(dom.tag_index().has(this(&instance, "HasTag")?, &tag))
        },
    )?;
    r.method(CLASS, "GetTags", |_, dom, _, instance: AnyUserData| {
        Ok(tags(dom, this(&instance, "GetTags")?))
    })
}
