//! `Instance`: the members every instance has — the tree (children, descendants, ancestors,
//! `FindFirst…`), `IsA`, attributes, tags, `Clone`/`Destroy`, the signals the emulator fires,
//! `WaitForChild` (in Luau: it yields), and the deprecated lowercase names Roblox still
//! answers to (`isA`, `findFirstChild`, `getChildren`, `children`, `clone`, `destroy`, …).

use mlua::{Error as LuaError, Value};
use rbx_dom_weak::types::{Ref, Variant};

use super::Registrar;
use crate::emulator::dom::datatypes::convert::{attribute_from_lua, to_lua};
use crate::emulator::dom::instance::{
    add_tag, ancestors_of, arg_instance, attributes, children_of, class_of, descendants_of,
    destroy, fire, found_or_nil, handle, list, name_of, property, property_exists, remove_tag,
    replace_property, set_parent, signal, tags, value_type,
};
use crate::emulator::dom::lifetime::make_room;
use crate::emulator::dom::memory::subtree_bytes;

/// `WaitForChild`: at once when the child is there; else it polls on the scheduler, warns as
/// Roblox does after 5 s, and gives up after `timeout` if given.
const WAIT_FOR_CHILD: &str = r#"
local env = ...
return function(self, name, timeout)
	local child = self:FindFirstChild(name)
	if child ~= nil then
		return child
	end
	local started = os.clock()
	local warned = false
	while true do
		env.task.wait(0.01)
		child = self:FindFirstChild(name)
		if child ~= nil then
			return child
		end
		local waited = os.clock() - started
		if timeout ~= nil and waited >= timeout then
			return nil
		end
		if timeout == nil and not warned and waited >= 5 then
			warned = true
			warn(string.format('Infinite yield possible on \'%s:WaitForChild("%s")\'', self:GetFullName(), name))
		end
	end
end
"#;

/// The signals every instance has, fired by the emulator's own changes.
const SIGNALS: &[&str] = &[
    "Changed",
    "ChildAdded",
    "ChildRemoved",
    "DescendantAdded",
    "DescendantRemoving",
    "AncestryChanged",
    "AttributeChanged",
    "Destroying",
];

/// Deprecated names Roblox still honours, and the members they stand for.
const ALIASES: &[(&str, &str)] = &[
    ("isA", "IsA"),
    ("findFirstChild", "FindFirstChild"),
    ("getChildren", "GetChildren"),
    ("children", "GetChildren"),
    ("clone", "Clone"),
    ("destroy", "Destroy"),
    ("remove", "Remove"),
    ("isDescendantOf", "IsDescendantOf"),
];

pub(super) fn register(r: &mut Registrar) -> mlua::Result<()> {
    tree(r)?;
    finders(r)?;
    attributes_and_signals(r)?;
    tag_methods(r)?;
    lifetime(r)?;
    r.luau_method("Instance", "WaitForChild", WAIT_FOR_CHILD)?;
    for name in SIGNALS {
        r.signal("Instance", name);
    }
    for (alias, of) in ALIASES {
        r.alias("Instance", alias, of);
    }
    Ok(())
}

fn tree(r: &mut Registrar) -> mlua::Result<()> {
    r.method("Instance", "GetChildren", |lua, dom, this, ()| {
        list(lua, dom, children_of(dom, this))
    })?;
    r.method("Instance", "GetDescendants", |lua, dom, this, ()| {
        list(lua, dom, descendants_of(dom, this))
    })?;
    r.method("Instance", "GetFullName", |_, dom, this, ()| {
        Ok(dom.full_name(this))
    })?;
    r.method("Instance", "IsA", |_, dom, this, class: String| {
        Ok(dom.is_a(&class_of(dom, this)?, &class))
    })?;
    r.method(
        "Instance",
        "IsDescendantOf",
        |_, dom, this, other: Value| {
            Ok(match arg_instance(&other) {
                Some(other) => ancestors_of(dom, this).contains(&other),
                None => matches!(other, Value::Nil) && ancestors_of(dom, this).is_empty(),
            })
        },
    )?;
    r.method("Instance", "IsAncestorOf", |_, dom, this, other: Value| {
        Ok(arg_instance(&other).is_some_and(|o| ancestors_of(dom, o).contains(&this)))
    })
}

fn finders(r: &mut Registrar) -> mlua::Result<()> {
    r.method(
        "Instance",
        "FindFirstChild",
        |lua, dom, this, (name, recursive): (String, Option<bool>)| {
            let pool = if recursive == Some(true) {
                descendants_of(dom, this)
            } else {
                children_of(dom, this)
            };
            let found = pool.into_iter().find(|c| name_of(dom, *c) == name);
            found_or_nil(lua, dom, found)
        },
    )?;
    r.method(
        "Instance",
        "FindFirstDescendant",
        |lua, dom, this, name: String| {
            let found = descendants_of(dom, this)
                .into_iter()
                .find(|c| name_of(dom, *c) == name);
            found_or_nil(lua, dom, found)
        },
    )?;
    r.method(
        "Instance",
        "FindFirstChildOfClass",
        |lua, dom, this, class: String| {
            let found = children_of(dom, this)
                .into_iter()
                .find(|c| class_of(dom, *c).is_ok_and(|k| k == class));
            found_or_nil(lua, dom, found)
        },
    )?;
    r.method(
        "Instance",
        "FindFirstChildWhichIsA",
        |lua, dom, this, (class, recursive): (String, Option<bool>)| {
            let pool = if recursive == Some(true) {
                descendants_of(dom, this)
            } else {
                children_of(dom, this)
            };
            let found = pool
                .into_iter()
                .find(|c| class_of(dom, *c).is_ok_and(|k| dom.is_a(&k, &class)));
            found_or_nil(lua, dom, found)
        },
    )?;
    r.method(
        "Instance",
        "FindFirstAncestor",
        |lua, dom, this, name: String| {
            let found = ancestors_of(dom, this)
                .into_iter()
                .find(|a| name_of(dom, *a) == name);
            found_or_nil(lua, dom, found)
        },
    )?;
    r.method(
        "Instance",
        "FindFirstAncestorOfClass",
        |lua, dom, this, class: String| {
            let found = ancestors_of(dom, this)
                .into_iter()
                .find(|a| class_of(dom, *a).is_ok_and(|k| k == class));
            found_or_nil(lua, dom, found)
        },
    )?;
    r.method(
        "Instance",
        "FindFirstAncestorWhichIsA",
        |lua, dom, this, class: String| {
            let found = ancestors_of(dom, this)
                .into_iter()
                .find(|a| class_of(dom, *a).is_ok_and(|k| dom.is_a(&k, &class)));
            found_or_nil(lua, dom, found)
        },
    )
}

fn attributes_and_signals(r: &mut Registrar) -> mlua::Result<()> {
    r.method(
        "Instance",
        "GetAttribute",
        |lua, dom, this, name: String| match attributes(dom, this).get(name.as_str()) {
            Some(value) => to_lua(lua, dom, "Instance", &name, value),
            None => Ok(Value::Nil),
        },
    )?;
    r.method("Instance", "GetAttributes", |lua, dom, this, ()| {
        let table = lua.create_table()?;
        for (name, value) in attributes(dom, this).iter() {
            table.set(name.as_str(), to_lua(lua, dom, "Instance", name, value)?)?;
        }
        Ok(table)
    })?;
    r.method(
        "Instance",
        "SetAttribute",
        |lua, dom, this, (name, value): (String, Value)| {
            let mut all = attributes(dom, this);
            if matches!(value, Value::Nil) {
                all.remove(name.as_str());
            } else {
                let variant = attribute_from_lua(&value).ok_or_else(|| {
                    LuaError::runtime(format!(
                        "{} is not a supported attribute type",
                        value_type(&value)
                    ))
                })?;
                all.insert(name.clone(), variant);
            }
            replace_property(lua, dom, this, "Attributes", Variant::Attributes(all))?;
            fire(lua, dom, this, "AttributeChanged", name.as_str())?;
            fire(lua, dom, this, &format!("AttributeChanged:{name}"), ())
        },
    )?;
    r.method(
        "Instance",
        "GetPropertyChangedSignal",
        |lua, dom, this, property: String| {
            if !property_exists(dom, this, &property)? {
                return Err(LuaError::runtime(format!(
                    "{property} is not a valid property name."
                )));
            }
            signal(lua, dom, this, &format!("Changed:{property}"))
        },
    )?;
    r.method(
        "Instance",
        "GetAttributeChangedSignal",
        |lua, dom, this, name: String| signal(lua, dom, this, &format!("AttributeChanged:{name}")),
    )
}

fn tag_methods(r: &mut Registrar) -> mlua::Result<()> {
    r.method("Instance", "HasTag", |_, dom, this, tag: String| {
        Ok(dom.tag_index().has(this, &tag))
    })?;
    r.method("Instance", "GetTags", |_, dom, this, ()| {
        Ok(tags(dom, this))
    })?;
    r.method("Instance", "AddTag", |lua, dom, this, tag: String| {
        add_tag(lua, dom, this, &tag)
    })?;
    r.method("Instance", "RemoveTag", |lua, dom, this, tag: String| {
        remove_tag(lua, dom, this, &tag)
    })
}

fn lifetime(r: &mut Registrar) -> mlua::Result<()> {
    // As on Roblox, an instance whose `Archivable` is false is not copied: `Clone` of one is
    // nil, and a copy leaves such descendants out.
    r.method("Instance", "Clone", |lua, dom, this, ()| {
        if !archivable(dom, this) {
            return Ok(Value::Nil);
        }
        let bytes = subtree_bytes(&dom.tree.borrow(), this);
        make_room(lua, dom, bytes)?;
        let copy = dom.tree.borrow_mut().clone_within(this);
        dom.lifetimes.detached(copy);
        let left_out: Vec<Ref> = descendants_of(dom, copy)
            .into_iter()
            .filter(|d| !archivable(dom, *d))
            .collect();
        for descendant in left_out {
            let mut tree = dom.tree.borrow_mut();
            if tree.get_by_ref(descendant).is_some() {
                tree.destroy(descendant);
            }
        }
        // The copies carry their originals' tags: index them once tags are in use.
        if let Some(index) = dom.tags.borrow_mut().as_mut() {
            index.add_subtree(&dom.tree.borrow(), copy);
        }
        dom.lifetimes.referenced_from(&dom.tree.borrow(), copy);
        handle(lua, dom, copy).map(Value::UserData)
    })?;
    r.method("Instance", "Destroy", |lua, dom, this, ()| {
        destroy(lua, dom, this)
    })?;
    // Deprecated: the parent becomes nil (unlocked, unlike `Destroy`), connections stay.
    r.method("Instance", "Remove", |lua, dom, this, ()| {
        set_parent(lua, dom, this, Ref::none())
    })?;
    r.method("Instance", "ClearAllChildren", |lua, dom, this, ()| {
        for child in children_of(dom, this) {
            destroy(lua, dom, child)?;
        }
        Ok(())
    })
}

/// Whether an instance may be copied (its `Archivable`, true unless set false).
fn archivable(dom: &crate::emulator::dom::Dom, r: Ref) -> bool {
    let tree = dom.tree.borrow();
    let value = tree.get_by_ref(r).and_then(|i| property(i, "Archivable"));
    !matches!(value, Some(Variant::Bool(false)))
}
