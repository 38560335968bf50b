//! `CollectionService`: the tagged instances in the game, the tag methods it has of its own,
//! which take the instance as their first argument (`AddTag(instance, tag)`) and so hide
//! `Instance`'s (`AddTag(tag)`) on the service, and each tag's `GetInstanceAddedSignal` and
//! `GetInstanceRemovedSignal`: fired when an instance in the game gets or loses the tag, or a
//! tagged instance enters or leaves the game (the subtree is walked only for tags a script
//! asked about).

use mlua::{AnyUserData, Lua};
use rbx_dom_weak::types::Ref;

use super::Registrar;
use crate::emulator::dom::Dom;
use crate::emulator::dom::instance::{
    add_tag, children_of, class_of, descendants_of, fire, handle, list, remove_tag, signal, tagged,
    tags, this,
};

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
    })?;
    for (name, added) in [
        ("GetInstanceAddedSignal", true),
        ("GetInstanceRemovedSignal", false),
    ] {
        r.method(CLASS, name, move |lua, dom, this, tag: String| {
            dom.watchers.borrow_mut().tags.insert(tag.clone());
            signal(lua, dom, this, &signal_name(&tag, added))
        })?;
    }
    Ok(())
}

/// The signal `CollectionService:GetInstanceAddedSignal(tag)` (or `…Removed…`) names.
fn signal_name(tag: &str, added: bool) -> String {
    if added {
        format!("InstanceAdded:{tag}")
    } else {
        format!("InstanceRemoved:{tag}")
    }
}

/// Whether `r` is in the game (under the DataModel), as CollectionService counts instances;
/// false when no script asked about any tag (there is nobody to tell, and no walk to pay).
pub(crate) fn in_game(dom: &Dom, r: Ref) -> bool {
    !dom.watchers.borrow().tags.is_empty() && dom.in_game(r)
}

/// Tells the tag's signals that `r` got (or lost) `tag`, when it is in the game.
pub(crate) fn tag_changed(
    lua: &Lua,
    dom: &Dom,
    r: Ref,
    tag: &str,
    added: bool,
) -> mlua::Result<()> {
    if !dom.watchers.borrow().tags.contains(tag) || !in_game(dom, r) {
        return Ok(());
    }
    announce(lua, dom, r, tag, added)
}

/// Tells the tags' signals of every watched tag in `r`'s subtree that it entered (or left)
/// the game.
pub(crate) fn subtree_moved(lua: &Lua, dom: &Dom, r: Ref, entered: bool) -> mlua::Result<()> {
    let watched = dom.watchers.borrow().tags.clone();
    if watched.is_empty() {
        return Ok(());
    }
    for instance in std::iter::once(r).chain(descendants_of(dom, r)) {
        for tag in tags(dom, instance) {
            if watched.contains(&tag) {
                announce(lua, dom, instance, &tag, entered)?;
            }
        }
    }
    Ok(())
}

fn announce(lua: &Lua, dom: &Dom, r: Ref, tag: &str, added: bool) -> mlua::Result<()> {
    let service = children_of(dom, dom.data_model())
        .into_iter()
        .find(|c| class_of(dom, *c).is_ok_and(|k| k == "CollectionService"));
    match service {
        Some(service) => fire(
            lua,
            dom,
            service,
            &signal_name(tag, added),
            handle(lua, dom, r)?,
        ),
        None => Ok(()),
    }
}
