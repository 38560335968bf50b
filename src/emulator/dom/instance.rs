//! Instances as Lua userdata with Roblox's semantics: members in Roblox's order (the class's
//! members from the class registry in `classes/`, properties, then children, else
//! `X is not a valid member of Class "Full.Name"`), settable `Name`, `Parent` and properties
//! (firing `Changed` and the tree's signals), the operations the classes' members share
//! (attributes, tags, `Destroy`, services), `Instance.new`, conversions between property values
//! and Lua, and `require`'s half in Rust (which module, compiled how).

use std::rc::Rc;

use mlua::{
    AnyUserData, Error as LuaError, FromLuaMulti, Function, IntoLuaMulti, Lua, MetaMethod,
    MultiValue, Table, UserData, UserDataFields, UserDataMethods, Value,
};
use rbx_dom_weak::types::{Attributes, Enum, Ref, Tags, Variant, VariantType};
use rbx_dom_weak::{Instance, InstanceBuilder, Ustr};

use super::Dom;
use super::classes::Member;
use super::classes::collection_service as tag_signals;
use super::datatypes::convert::{from_lua, to_lua};
use super::memory::{INSTANCE_OVERHEAD, property_bytes};

/// A handle on one instance of the task's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceRef(pub Ref);

/// Turns a Rust function's result into values a Luau wrapper can raise as Roblox does:
/// `true, ...` on success, `false, message` on failure.
///
/// The values pass through `pass` on Luau's stack: packing them into a table and unpacking it
/// made a table for every member a script read or called. Luau makes no tail calls, so the
/// caller is three levels up from `pass` (`pass`, the wrapper, the caller).
const RAISE: &str = r#"
local rust = ...
local function pass(ok, ...)
	if ok then
		return ...
	end
	error((...), 3)
end
return function(...)
	return pass(rust(...))
end
"#;

/// Wraps a Rust function so its failures are Lua string errors located at the caller's line,
/// as the engine's are (`TaskScript:8: Nope is not a valid member of …`).
pub(crate) fn raising(
    lua: &Lua,
    rust: impl Fn(&Lua, MultiValue) -> mlua::Result<MultiValue> + 'static,
) -> mlua::Result<Function> {
    let inner = checked(lua, rust)?;
    raise_from(lua, inner)
}

/// Where each VM keeps [`RAISE`]'s chunk.
const RAISE_CHUNK: &str = "luau-exec.raise";

/// [`RAISE`]'s wrapper around `inner`. The chunk is compiled once per VM: every member of
/// every class is wrapped while a task's VM is installed.
fn raise_from(lua: &Lua, inner: Function) -> mlua::Result<Function> {
    let chunk = match lua.named_registry_value::<Option<Function>>(RAISE_CHUNK)? {
        Some(chunk) => chunk,
        None => {
            let chunk = lua.load(RAISE).set_name("=luau-exec").into_function()?;
            lua.set_named_registry_value(RAISE_CHUNK, &chunk)?;
            chunk
        }
    };
    chunk.call(inner)
}

/// A failure as the wrapper is handed it: the error's message as a Lua string.
fn failure_message(lua: &Lua, error: &LuaError) -> mlua::Result<Value> {
    lua.create_string(message_of(error)).map(Value::String)
}

/// A Rust function that answers `true, ...` or `false, message` instead of raising, for Luau
/// code that raises at the level it chooses.
pub(crate) fn checked(
    lua: &Lua,
    rust: impl Fn(&Lua, MultiValue) -> mlua::Result<MultiValue> + 'static,
) -> mlua::Result<Function> {
    lua.create_function(move |lua, args: MultiValue| match rust(lua, args) {
        Ok(mut values) => {
            values.push_front(Value::Boolean(true));
            Ok(values)
        }
        Err(error) => {
            let mut out = MultiValue::new();
            out.push_back(Value::Boolean(false));
            out.push_back(failure_message(lua, &error)?);
            Ok(out)
        }
    })
}

/// [`raising`] for a Rust function of two values that gives one (`__index`): its arguments and
/// answer pass on Luau's stack, where [`raising`]'s are collected into lists first (instance
/// members are read more than anything else a script does).
pub(crate) fn raising_lookup(
    lua: &Lua,
    rust: impl Fn(&Lua, Value, Value) -> mlua::Result<Value> + 'static,
) -> mlua::Result<Function> {
    let inner = lua.create_function(move |lua, (this, key): (Value, Value)| {
        Ok(match rust(lua, this, key) {
            Ok(value) => (true, value),
            Err(error) => (false, failure_message(lua, &error)?),
        })
    })?;
    raise_from(lua, inner)
}

/// The text of an error, without mlua's decorations.
pub(crate) fn message_of(error: &LuaError) -> String {
    match error {
        // A Lua function called from Rust (a member written in Luau) appends its traceback:
        // the message is what Roblox would say.
        LuaError::RuntimeError(message) => message
            .split_once("\nstack traceback:")
            .map_or(message.as_str(), |(message, _)| message)
            .to_owned(),
        LuaError::CallbackError { cause, .. } => message_of(cause),
        LuaError::WithContext { cause, .. } => message_of(cause),
        LuaError::FromLuaConversionError { from, to, .. } => {
            format!("invalid argument ({to} expected, got {from})")
        }
        LuaError::BadArgument { pos, cause, .. } => {
            format!("invalid argument #{pos} ({})", message_of(cause))
        }
        other => other.to_string(),
    }
}

impl UserData for InstanceRef {
    fn add_fields<F: UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field(MetaMethod::Type, "Instance");
        fields.add_meta_field_with(MetaMethod::Index, |lua| {
            raising_lookup(lua, |lua, this, key| {
                let this: AnyUserData = mlua::FromLua::from_lua(this, lua)?;
                let r = this.borrow::<InstanceRef>()?.0;
                match key {
                    Value::String(key) => index(lua, r, &key.to_str()?),
                    other => Err(LuaError::runtime(format!(
                        "{} is not a valid member of {}",
                        other.to_string().unwrap_or_default(),
                        describe(lua, r)
                    ))),
                }
            })
        });
        fields.add_meta_field_with(MetaMethod::NewIndex, |lua| {
            raising(lua, |lua, args| {
                let (this, key, value): (AnyUserData, String, Value) =
                    FromLuaMulti::from_lua_multi(args, lua)?;
                let r = this.borrow::<InstanceRef>()?.0;
                set(lua, r, &key, value).map(|()| MultiValue::new())
            })
        });
    }

    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(MetaMethod::ToString, |lua, this, ()| {
            let dom = dom(lua)?;
            let tree = dom.tree.borrow();
            Ok(tree
                .get_by_ref(this.0)
                .map(|i| i.name.clone())
                .unwrap_or_default())
        });
        methods.add_meta_method(MetaMethod::Eq, |_, this, other: AnyUserData| {
            Ok(other.borrow::<InstanceRef>().is_ok_and(|o| o.0 == this.0))
        });
    }
}

pub(crate) fn dom(lua: &Lua) -> mlua::Result<Rc<Dom>> {
    lua.app_data_ref::<Rc<Dom>>()
        .map(|d| d.clone())
        .ok_or_else(|| LuaError::runtime("the local emulator has no instance tree"))
}

/// The one handle of an instance (see `lifetime.rs`).
pub(crate) fn handle(lua: &Lua, dom: &Dom, r: Ref) -> mlua::Result<AnyUserData> {
    dom.lifetimes.handle(lua, r)
}

/// A new instance, parent nil, counted against the task's memory (after freeing what scripts
/// have let go of, when that is due).
pub(crate) fn create_detached(
    lua: &Lua,
    dom: &Dom,
    class: &str,
    name: String,
) -> mlua::Result<Ref> {
    let bytes = INSTANCE_OVERHEAD + name.len();
    super::lifetime::make_room(lua, dom, bytes)?;
    let made = dom
        .tree
        .borrow_mut()
        .insert(Ref::none(), InstanceBuilder::new(class).with_name(name));
    dom.lifetimes.detached(made);
    Ok(made)
}

pub(crate) fn handle_or_nil(lua: &Lua, dom: &Dom, r: Ref) -> mlua::Result<Value> {
    if r.is_none() || dom.tree.borrow().get_by_ref(r).is_none() {
        Ok(Value::Nil)
    } else {
        handle(lua, dom, r).map(Value::UserData)
    }
}

/// `ClassName "Full.Name"`, as Roblox names an instance in errors.
pub(crate) fn describe(lua: &Lua, r: Ref) -> String {
    let Ok(dom) = dom(lua) else {
        return "Instance".into();
    };
    let class = dom
        .tree
        .borrow()
        .get_by_ref(r)
        .map(|i| i.class.to_string())
        .unwrap_or_else(|| "Instance".into());
    format!("{class} \"{}\"", dom.full_name(r))
}

pub(crate) fn class_of(dom: &Dom, r: Ref) -> mlua::Result<String> {
    dom.tree
        .borrow()
        .get_by_ref(r)
        .map(|i| i.class.to_string())
        .ok_or_else(|| LuaError::runtime("the instance no longer exists"))
}

/// A property of `instance` by name, looked up without interning the name. rbx_dom_weak keys
/// properties by `Ustr`, whose table is global and never freed: interning every name a script
/// reads (`workspace[anything]`) would keep each one for the life of a `serve` process. A name
/// never interned cannot be any instance's property.
pub(crate) fn property<'a>(instance: &'a Instance, key: &str) -> Option<&'a Variant> {
    Ustr::from_existing(key).and_then(|key| instance.properties.get(&key))
}

/// A member read, in Roblox's order: `Name`, `ClassName`, `Parent`, a member of the class
/// (from the class registry), a property, a child; else Roblox's message for a member it does
/// not have, or one saying what the emulator lacks.
pub(crate) fn index(lua: &Lua, r: Ref, key: &str) -> mlua::Result<Value> {
    let dom = dom(lua)?;
    let (class, parent) = {
        let tree = dom.tree.borrow();
        let instance = tree.get_by_ref(r).ok_or_else(gone)?;
        match key {
            "Name" => return lua.create_string(&instance.name).map(Value::String),
            "ClassName" => {
                return lua
                    .create_string(instance.class.as_str())
                    .map(Value::String);
            }
            _ => {}
        }
        (instance.class, instance.parent())
    };
    if key == "Parent" {
        return handle_or_nil(lua, &dom, parent);
    }
    if let Some(member) = dom.member(class, key) {
        return read_member(lua, &dom, r, key, member);
    }
    if let Some(value) = read_property(lua, &dom, r, class.as_str(), key)? {
        return Ok(value);
    }
    let child = {
        let tree = dom.tree.borrow();
        tree.get_by_ref(r).and_then(|instance| {
            instance
                .children()
                .iter()
                .copied()
                .find(|c| tree.get_by_ref(*c).is_some_and(|c| c.name == key))
        })
    };
    if let Some(child) = child {
        return handle(lua, &dom, child).map(Value::UserData);
    }
    let descriptor = property_descriptor(&dom, class.as_str(), key);
    // A reference nobody set (`ObjectValue.Value`) is nil. (`game.Workspace`, a reference the
    // place does not set, is the child.)
    if descriptor.is_some_and(|d| scriptable(d) && d.data_type.ty() == VariantType::Ref) {
        return Ok(Value::Nil);
    }
    if descriptor.is_some_and(scriptable) || super::classes::not_emulated(class.as_str(), key) {
        return Err(LuaError::runtime(format!(
            "{class}.{key} is not emulated: the local emulator has the instance tree, not the engine (no physics, rendering or networking)"
        )));
    }
    Err(not_a_member(lua, r, key))
}

/// `Nope is not a valid member of Folder "Workspace.Box"`.
pub(crate) fn not_a_member(lua: &Lua, r: Ref, key: &str) -> LuaError {
    LuaError::runtime(format!(
        "{key} is not a valid member of {}",
        describe(lua, r)
    ))
}

fn gone() -> LuaError {
    LuaError::runtime("the instance no longer exists")
}

/// The reflection database's description of `class`'s property `key`, inherited or its own.
fn property_descriptor(
    dom: &Dom,
    class: &str,
    key: &str,
) -> Option<&'static rbx_reflection::PropertyDescriptor<'static>> {
    let db = dom.db;
    db.classes
        .get(class)
        .and_then(|c| db.superclasses_iter(c).find_map(|c| c.properties.get(key)))
}

/// Whether scripts can see a property (Roblox hides the ones only place files hold).
fn scriptable(descriptor: &rbx_reflection::PropertyDescriptor) -> bool {
    !matches!(
        descriptor.scriptability,
        rbx_reflection::Scriptability::None
    )
}

/// A property's value as scripts see it: the instance's own, else the class's default.
/// `None` when the instance has no such property scripts can see.
fn read_property(
    lua: &Lua,
    dom: &Dom,
    r: Ref,
    class: &str,
    key: &str,
) -> mlua::Result<Option<Value>> {
    let descriptor = property_descriptor(dom, class, key);
    if !descriptor.is_none_or(scriptable) {
        return Ok(None);
    }
    let own = dom
        .tree
        .borrow()
        .get_by_ref(r)
        .and_then(|i| property(i, key).cloned());
    if let Some(value) = own {
        return to_lua(lua, dom, class, key, &value).map(Some);
    }
    let default = dom
        .db
        .classes
        .get(class)
        .and_then(|c| dom.db.find_default_property(c, key));
    match default {
        Some(default) => to_lua(lua, dom, class, key, default).map(Some),
        None => Ok(None),
    }
}

/// A member from the class registry, as a read gives it.
fn read_member(lua: &Lua, dom: &Dom, r: Ref, key: &str, member: Member) -> mlua::Result<Value> {
    match member {
        Member::Method(function) => Ok(Value::Function(function)),
        Member::Signal | Member::ValueChanged => signal(lua, dom, r, key),
        Member::Property { get: Some(get), .. } => get.call(handle(lua, dom, r)?),
        Member::Property { get: None, .. } => Err(not_a_member(lua, r, key)),
    }
}

/// Whether `GetPropertyChangedSignal(key)` names a property of the instance: one it holds, one
/// its class has in the reflection database (and scripts can see), or one with behaviour of
/// its own in the class registry.
pub(crate) fn property_exists(dom: &Dom, r: Ref, key: &str) -> mlua::Result<bool> {
    if matches!(key, "Name" | "Parent" | "ClassName") {
        return Ok(true);
    }
    let (class, own) = {
        let tree = dom.tree.borrow();
        let instance = tree.get_by_ref(r).ok_or_else(gone)?;
        (instance.class, property(instance, key).is_some())
    };
    Ok(match property_descriptor(dom, class.as_str(), key) {
        Some(descriptor) => scriptable(descriptor),
        None => own || matches!(dom.member(class, key), Some(Member::Property { .. })),
    })
}

/// The instance's signal `name`, made on first ask. Every signal a script can connect to is
/// made here, which is what lets [`fire`] skip every instance not in `Dom::signalled`.
pub(crate) fn signal(lua: &Lua, dom: &Dom, r: Ref, name: &str) -> mlua::Result<Value> {
    dom.watchers.borrow_mut().watch(r, name);
    dom.signalled.borrow_mut().insert(r);
    let get = dom.hooks.borrow().get_signal.clone();
    match get {
        Some(get) => get.call((dom.lifetimes.pin(lua, r)?, name)),
        None => Ok(Value::Nil),
    }
}

/// Fires a signal of an instance if anyone asked for it. Callers whose arguments cost
/// something to build (a handle, a formatted name) check [`Dom::has_signals`] first.
pub(crate) fn fire(
    lua: &Lua,
    dom: &Dom,
    r: Ref,
    name: &str,
    args: impl mlua::IntoLuaMulti,
) -> mlua::Result<()> {
    if !dom.has_signals(r) {
        return Ok(());
    }
    // No live handle: the prelude's signals of the instance went with its last one.
    let Some(this) = dom.lifetimes.live_handle(r)? else {
        return Ok(());
    };
    let fire = dom.hooks.borrow().fire_signal.clone();
    if let Some(fire) = fire {
        let _firing = dom.lifetimes.firing();
        let mut all = MultiValue::new();
        all.push_back(Value::UserData(this));
        all.push_back(Value::String(lua.create_string(name)?));
        all.extend(args.into_lua_multi(lua)?);
        fire.call::<()>(all)?;
    }
    Ok(())
}

/// A member write: `Name`, `Parent`, or a property the class has.
pub(crate) fn set(lua: &Lua, r: Ref, key: &str, value: Value) -> mlua::Result<()> {
    let dom = dom(lua)?;
    match key {
        "Name" => {
            let name = match value {
                Value::String(s) => s.to_str()?.to_owned(),
                Value::Integer(n) => n.to_string(),
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(LuaError::runtime(format!(
                        "Unable to assign property Name. string expected, got {}",
                        other.type_name()
                    )));
                }
            };
            let old = dom.tree.borrow().get_by_ref(r).map(|i| i.name.clone());
            if old.as_deref() == Some(name.as_str()) {
                return Ok(());
            }
            dom.memory
                .resize(lua, old.map_or(0, |o| o.len()), name.len())?;
            if let Some(instance) = dom.tree.borrow_mut().get_by_ref_mut(r) {
                instance.name = name;
            }
            changed(lua, &dom, r, "Name")
        }
        "Parent" => {
            let parent = match &value {
                Value::Nil => Ref::none(),
                Value::UserData(data) => {
                    data.borrow::<InstanceRef>().map(|i| i.0).map_err(|_| {
                        LuaError::runtime("Unable to assign property Parent. Object expected")
                    })?
                }
                other => {
                    return Err(LuaError::runtime(format!(
                        "Unable to assign property Parent. Object expected, got {}",
                        other.type_name()
                    )));
                }
            };
            set_parent(lua, &dom, r, parent)
        }
        _ => {
            let class = dom
                .tree
                .borrow()
                .get_by_ref(r)
                .map(|i| i.class)
                .ok_or_else(gone)?;
            match dom.member(class, key) {
                Some(Member::Property { set: Some(set), .. }) => {
                    set.call((handle(lua, &dom, r)?, value))
                }
                Some(Member::Property { set: None, .. }) => Err(LuaError::runtime(format!(
                    "Unable to assign property {key}. Property is read only"
                ))),
                _ => set_property(lua, &dom, r, key, value),
            }
        }
    }
}

/// Fires what a property's change fires: the property's own signal, and `Changed` with the
/// property's name (a value object's `Changed` only for `Value`, with the new value).
pub(crate) fn changed(lua: &Lua, dom: &Dom, r: Ref, property: &str) -> mlua::Result<()> {
    if !dom.has_signals(r) {
        return Ok(());
    }
    let class = dom.tree.borrow().get_by_ref(r).map(|i| i.class);
    let value_changed =
        class.is_some_and(|c| matches!(dom.member(c, "Changed"), Some(Member::ValueChanged)));
    if !value_changed {
        fire(lua, dom, r, "Changed", property)?;
    } else if property == "Value" {
        fire(lua, dom, r, "Changed", index(lua, r, "Value")?)?;
    }
    fire(lua, dom, r, &format!("Changed:{property}"), ())
}

pub(crate) fn set_parent(lua: &Lua, dom: &Dom, r: Ref, parent: Ref) -> mlua::Result<()> {
    let old = dom
        .tree
        .borrow()
        .get_by_ref(r)
        .map(|i| i.parent())
        .ok_or_else(gone)?;
    if old == parent {
        return Ok(());
    }
    check_reparent(dom, r, old, parent)?;
    if old.is_some() {
        descendants_removing(lua, dom, r)?;
    }
    let was_in_game = tag_signals::in_game(dom, r);
    dom.tree.borrow_mut().transfer_within(r, parent);
    if parent.is_none() {
        dom.lifetimes.detached(r);
    } else if old.is_none() {
        dom.lifetimes.attached(r);
    }
    let in_game = tag_signals::in_game(dom, r);
    if dom.lifetimes.released_any() && dom.in_game(parent) && !dom.in_game(old) {
        dom.lifetimes.entered_game(&dom.tree.borrow(), r)?;
    }
    if was_in_game != in_game {
        tag_signals::subtree_moved(lua, dom, r, in_game)?;
    }
    // The handles the signals pass: made only for a signal that is there to take them (once
    // made, a handle is a lookup).
    let this = || handle(lua, dom, r);
    if old.is_some() && dom.has_signals(old) {
        fire(lua, dom, old, "ChildRemoved", this()?)?;
    }
    if parent.is_some() {
        if dom.has_signals(parent) {
            fire(lua, dom, parent, "ChildAdded", this()?)?;
        }
        descendants_added(lua, dom, r, parent)?;
    }
    let ancestry = || Ok::<_, LuaError>((this()?, handle_or_nil(lua, dom, parent)?));
    if dom.has_signals(r) {
        fire(lua, dom, r, "AncestryChanged", ancestry()?)?;
    }
    // Every descendant's ancestry changed too; only those a script watches are told.
    let watching: Vec<Ref> = dom.watchers.borrow().ancestry.iter().copied().collect();
    for watcher in watching {
        if watcher != r && ancestors_of(dom, watcher).contains(&r) {
            fire(lua, dom, watcher, "AncestryChanged", ancestry()?)?;
        }
    }
    changed(lua, dom, r, "Parent")
}

/// Refuses a locked `Parent` (the DataModel's, a service's, a destroyed instance's) and a
/// parent that is the instance or one of its descendants, in Roblox's words.
fn check_reparent(dom: &Dom, r: Ref, old: Ref, parent: Ref) -> mlua::Result<()> {
    let root = dom.data_model();
    let locked = r == root
        || dom.destroyed.borrow().contains(&r)
        || (old == root && dom.is_service_class(&class_of(dom, r)?));
    let path = |r: Ref| {
        if r.is_none() {
            "NULL".to_owned()
        } else {
            dom.full_name(r)
        }
    };
    if locked {
        return Err(LuaError::runtime(format!(
            "The Parent property of {} is locked, current parent: {}, new parent {}",
            name_of(dom, r),
            path(old),
            path(parent)
        )));
    }
    if parent.is_some() {
        if dom.tree.borrow().get_by_ref(parent).is_none() {
            return Err(LuaError::runtime("the new parent no longer exists"));
        }
        if parent == r || ancestors_of(dom, parent).contains(&r) {
            return Err(LuaError::runtime(format!(
                "Attempt to set parent of {} to {} would result in circular reference",
                dom.full_name(r),
                dom.full_name(parent)
            )));
        }
    }
    Ok(())
}

/// `DescendantAdded` on each new ancestor, for the instance; and for its descendants on the
/// ancestors a script watches (walking the subtree only then).
fn descendants_added(lua: &Lua, dom: &Dom, r: Ref, parent: Ref) -> mlua::Result<()> {
    let ancestors: Vec<Ref> = std::iter::once(parent)
        .chain(ancestors_of(dom, parent))
        .collect();
    // Asked as each is reached: a handler may connect a signal of an ancestor further up.
    for ancestor in ancestors.iter().filter(|a| dom.has_signals(**a)) {
        fire(lua, dom, *ancestor, "DescendantAdded", handle(lua, dom, r)?)?;
    }
    let watching: Vec<Ref> = {
        let watchers = dom.watchers.borrow();
        ancestors
            .into_iter()
            .filter(|a| watchers.descendant_added.contains(a))
            .collect()
    };
    if watching.is_empty() {
        return Ok(());
    }
    for descendant in descendants_of(dom, r) {
        let added = handle(lua, dom, descendant)?;
        for ancestor in &watching {
            fire(lua, dom, *ancestor, "DescendantAdded", added.clone())?;
        }
    }
    Ok(())
}

/// `DescendantRemoving`, before the instance leaves its parent: on the ancestors a script
/// watches, for the instance and each of its descendants.
fn descendants_removing(lua: &Lua, dom: &Dom, r: Ref) -> mlua::Result<()> {
    let watching: Vec<Ref> = {
        let watchers = dom.watchers.borrow();
        if watchers.descendant_removing.is_empty() {
            return Ok(());
        }
        ancestors_of(dom, r)
            .into_iter()
            .filter(|a| watchers.descendant_removing.contains(a))
            .collect()
    };
    if watching.is_empty() {
        return Ok(());
    }
    for leaving in std::iter::once(r).chain(descendants_of(dom, r)) {
        let leaving = handle(lua, dom, leaving)?;
        for ancestor in &watching {
            fire(lua, dom, *ancestor, "DescendantRemoving", leaving.clone())?;
        }
    }
    Ok(())
}

pub(crate) fn set_property(
    lua: &Lua,
    dom: &Dom,
    r: Ref,
    key: &str,
    value: Value,
) -> mlua::Result<()> {
    let class = class_of(dom, r)?;
    let existing = dom
        .tree
        .borrow()
        .get_by_ref(r)
        .and_then(|i| property(i, key).map(Variant::ty));
    let descriptor = dom.db.classes.get(class.as_str()).and_then(|c| {
        dom.db
            .superclasses_iter(c)
            .find_map(|c| c.properties.get(key))
    });
    let ty = match (existing, descriptor) {
        (Some(existing), _) => existing,
        (None, Some(descriptor)) => descriptor.data_type.ty(),
        (None, None) => {
            return Err(LuaError::runtime(format!(
                "{key} is not a valid member of {}",
                describe(lua, r)
            )));
        }
    };
    if descriptor.is_some_and(|d| {
        matches!(
            d.scriptability,
            rbx_reflection::Scriptability::None | rbx_reflection::Scriptability::Read
        )
    }) {
        return Err(LuaError::runtime(format!(
            "Unable to assign property {key}. Property is read only"
        )));
    }
    let expected = || {
        LuaError::runtime(format!(
            "Unable to assign property {key}. {ty:?} expected, got {}",
            value_type(&value)
        ))
    };
    let variant = if ty == rbx_dom_weak::types::VariantType::Enum {
        let enum_name = descriptor.and_then(|d| match &d.data_type {
            rbx_reflection::DataType::Enum(name) => Some(*name),
            _ => None,
        });
        Variant::Enum(enum_item(dom, enum_name, &value).ok_or_else(expected)??)
    } else {
        from_lua(&value, ty).ok_or_else(expected)?
    };
    // Roblox fires nothing when a property is set to the value it has.
    let current = dom
        .tree
        .borrow()
        .get_by_ref(r)
        .and_then(|i| property(i, key).cloned())
        .or_else(|| {
            let class = dom.db.classes.get(class.as_str())?;
            dom.db.find_default_property(class, key).cloned()
        });
    if current.as_ref() == Some(&variant) {
        return Ok(());
    }
    replace_property(lua, dom, r, key, variant)?;
    changed(lua, dom, r, key)
}

/// Sets a property, counting its bytes against the task's memory. The name is interned here,
/// for good: callers pass a property the instance already has or one the reflection database
/// knows, so the names a script can intern are bounded.
pub(crate) fn replace_property(
    lua: &Lua,
    dom: &Dom,
    r: Ref,
    key: &str,
    value: Variant,
) -> mlua::Result<()> {
    let old = dom
        .tree
        .borrow()
        .get_by_ref(r)
        .and_then(|i| property(i, key))
        .map_or(0, property_bytes);
    dom.memory.resize(lua, old, property_bytes(&value))?;
    if let Variant::Ref(target) = &value
        && target.is_some()
    {
        dom.lifetimes.referenced(*target);
    }
    if let Some(instance) = dom.tree.borrow_mut().get_by_ref_mut(r) {
        instance.properties.insert(key.into(), value);
    }
    Ok(())
}

/// The item an enum property is set to: an `EnumItem` of the property's enum, or one of its
/// items' names or values, as Roblox accepts. `None` for a value of another type; an error
/// for a value of the right type that names no item of the enum (`2^40`, `1.5`, `"Nope"`, an
/// item of another enum). The message is the one Roblox gives for an enum value it refuses
/// (`Invalid value for enum KeyCode`). Without a descriptor (a property only the place file
/// knows), any whole number an enum can hold is taken.
pub(crate) fn enum_item(
    dom: &Dom,
    enum_name: Option<&str>,
    value: &Value,
) -> Option<mlua::Result<Enum>> {
    let descriptor = enum_name.and_then(|name| dom.db.enums.get(name));
    let invalid = || {
        Err(LuaError::runtime(format!(
            "Invalid value for enum {}",
            enum_name.unwrap_or("(unknown)")
        )))
    };
    let number = match value {
        Value::Table(t) if value_type(value) == "EnumItem" => {
            let (of, number) = enum_item_parts(t)?;
            if enum_name.is_some_and(|name| of != name) {
                return Some(invalid());
            }
            number
        }
        Value::String(text) => {
            let text = text.to_str().ok()?;
            return Some(
                descriptor
                    .and_then(|d| d.items.get(&*text))
                    .map_or_else(invalid, |value| Ok(Enum::from_u32(*value))),
            );
        }
        other => number(other)?,
    };
    let whole = number.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&number);
    let known = |n: u32| descriptor.is_none_or(|d| d.items.values().any(|v| *v == n));
    Some(match whole.then_some(number as u32) {
        Some(n) if known(n) => Ok(Enum::from_u32(n)),
        _ => invalid(),
    })
}

/// An `EnumItem`'s enum and value. The enum's name is read from the item's full name
/// (`Enum.SortOrder.Name`), as an enum keeps no fields of its own (its items' names win).
fn enum_item_parts(item: &Table) -> Option<(String, f64)> {
    let to_string: Function = item.metatable()?.raw_get("__tostring").ok()?;
    let full: String = to_string.call(item).ok()?;
    let of = full.split('.').nth(1)?.to_owned();
    Some((of, item.raw_get::<f64>("Value").ok()?))
}

/// `typeof` of a Lua value, for messages (Luau has one number type, whatever mlua holds).
pub(crate) fn value_type(value: &Value) -> String {
    if let Value::Table(table) = value
        && let Some(meta) = table.metatable()
        && let Ok(name) = meta.raw_get::<String>("__type")
    {
        return name;
    }
    match value {
        Value::Integer(_) => "number".to_owned(),
        other => other.type_name().to_owned(),
    }
}

pub(crate) fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(n) => Some(*n as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// Checks a method's `self`.
pub(crate) fn this(value: &AnyUserData, method: &str) -> mlua::Result<Ref> {
    value.borrow::<InstanceRef>().map(|i| i.0).map_err(|_| {
        LuaError::runtime(format!(
            "Expected ':' not '.' calling member function {method}"
        ))
    })
}

pub(crate) fn arg_instance(value: &Value) -> Option<Ref> {
    match value {
        Value::UserData(data) => data.borrow::<InstanceRef>().ok().map(|i| i.0),
        _ => None,
    }
}

pub(crate) fn children_of(dom: &Dom, r: Ref) -> Vec<Ref> {
    dom.tree
        .borrow()
        .get_by_ref(r)
        .map(|i| i.children().to_vec())
        .unwrap_or_default()
}

/// Descendants in Roblox's order: depth first, each before its children.
pub(crate) fn descendants_of(dom: &Dom, r: Ref) -> Vec<Ref> {
    let tree = dom.tree.borrow();
    let mut out = Vec::new();
    let mut stack: Vec<Ref> = tree
        .get_by_ref(r)
        .map(|i| i.children().iter().rev().copied().collect())
        .unwrap_or_default();
    while let Some(next) = stack.pop() {
        out.push(next);
        if let Some(instance) = tree.get_by_ref(next) {
            stack.extend(instance.children().iter().rev().copied());
        }
    }
    out
}

pub(crate) fn name_of(dom: &Dom, r: Ref) -> String {
    dom.tree
        .borrow()
        .get_by_ref(r)
        .map(|i| i.name.clone())
        .unwrap_or_default()
}

/// The instance found, or `nil`.
pub(crate) fn found_or_nil(lua: &Lua, dom: &Dom, found: Option<Ref>) -> mlua::Result<Value> {
    match found {
        Some(r) => handle(lua, dom, r).map(Value::UserData),
        None => Ok(Value::Nil),
    }
}

pub(crate) fn list(lua: &Lua, dom: &Dom, refs: Vec<Ref>) -> mlua::Result<Table> {
    let table = lua.create_table_with_capacity(refs.len(), 0)?;
    for r in refs {
        table.push(handle(lua, dom, r)?)?;
    }
    Ok(table)
}

pub(crate) fn ancestors_of(dom: &Dom, r: Ref) -> Vec<Ref> {
    let tree = dom.tree.borrow();
    std::iter::successors(tree.get_by_ref(r).map(|i| i.parent()), |a| {
        tree.get_by_ref(*a).map(|i| i.parent())
    })
    .take_while(|a| a.is_some())
    .collect()
}

/// The DataModel's service, created on first use as Roblox does.
pub(crate) fn get_service(lua: &Lua, dom: &Dom, name: &str) -> mlua::Result<AnyUserData> {
    let root = dom.data_model();
    let found = children_of(dom, root).into_iter().find(|c| {
        dom.tree
            .borrow()
            .get_by_ref(*c)
            .is_some_and(|i| i.class == name)
    });
    if let Some(service) = found {
        return handle(lua, dom, service);
    }
    if !dom.is_service_class(name) {
        return Err(LuaError::runtime(format!(
            "'{name}' is not a valid Service name"
        )));
    }
    dom.memory.take(lua, INSTANCE_OVERHEAD + name.len())?;
    let made = dom
        .tree
        .borrow_mut()
        .insert(root, InstanceBuilder::new(name).with_name(name));
    handle(lua, dom, made)
}

pub(crate) fn attributes(dom: &Dom, r: Ref) -> Attributes {
    match dom
        .tree
        .borrow()
        .get_by_ref(r)
        .and_then(|i| property(i, "Attributes"))
    {
        Some(Variant::Attributes(a)) => a.clone(),
        _ => Attributes::new(),
    }
}

pub(crate) fn tags(dom: &Dom, r: Ref) -> Vec<String> {
    match dom
        .tree
        .borrow()
        .get_by_ref(r)
        .and_then(|i| property(i, "Tags"))
    {
        Some(Variant::Tags(t)) => t.iter().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// `AddTag`: the index says whether the instance has it; the `Tags` property grows in place,
/// and the tag counts against the task's memory as the `Tags` value holds it.
pub(crate) fn add_tag(lua: &Lua, dom: &Dom, r: Ref, tag: &str) -> mlua::Result<()> {
    if dom.tag_index().has(r, tag) {
        return Ok(());
    }
    dom.memory.take(lua, tag.len() + 1)?;
    dom.tag_index().add(r, tag);
    if let Some(instance) = dom.tree.borrow_mut().get_by_ref_mut(r) {
        match instance.properties.get_mut(&"Tags".into()) {
            Some(Variant::Tags(tags)) => tags.push(tag),
            _ => {
                let mut tags = Tags::new();
                tags.push(tag);
                instance
                    .properties
                    .insert("Tags".into(), Variant::Tags(tags));
            }
        }
    }
    tag_signals::tag_changed(lua, dom, r, tag, true)
}

/// `RemoveTag`: the `Tags` property is rebuilt without it (linear in the instance's own tags;
/// `rbx_types::Tags` cannot remove one).
pub(crate) fn remove_tag(lua: &Lua, dom: &Dom, r: Ref, tag: &str) -> mlua::Result<()> {
    if !dom.tag_index().remove(r, tag) {
        return Ok(());
    }
    let kept: Vec<String> = tags(dom, r).into_iter().filter(|t| t != tag).collect();
    if let Some(instance) = dom.tree.borrow_mut().get_by_ref_mut(r) {
        instance
            .properties
            .insert("Tags".into(), Variant::Tags(kept.into()));
    }
    dom.memory.give_back(lua, tag.len() + 1)?;
    tag_signals::tag_changed(lua, dom, r, tag, false)
}

/// `CollectionService:GetTagged`: the holders of `tag` that are in the game (Roblox's
/// CollectionService sees only instances under the DataModel).
pub(crate) fn tagged(dom: &Dom, tag: &str) -> Vec<Ref> {
    let holders = dom.tag_index().holders(tag);
    let root = dom.data_model();
    let tree = dom.tree.borrow();
    holders
        .into_iter()
        .filter(|r| {
            let mut current = *r;
            while let Some(instance) = tree.get_by_ref(current) {
                if current == root {
                    return true;
                }
                current = instance.parent();
            }
            false
        })
        .collect()
}

/// A step of `destroy`'s walk: an instance to start on, or one whose descendants are done.
enum Destroying {
    Enter(Ref),
    Leave(Ref),
}

/// Destroys an instance: parent nil and locked, its descendants too, `Destroying` fired.
/// Depth first, each instance's `Destroying` before its children's and its own removal after
/// theirs; walked with a stack of its own, as a tree may be any depth (a script can build a
/// chain of a million instances) and recursion would overflow the thread's stack.
pub(crate) fn destroy(lua: &Lua, dom: &Dom, r: Ref) -> mlua::Result<()> {
    if r == dom.data_model() {
        return Err(LuaError::runtime("The Parent property of Game is locked"));
    }
    let mut walk = vec![Destroying::Enter(r)];
    while let Some(step) = walk.pop() {
        match step {
            Destroying::Enter(r) => {
                fire(lua, dom, r, "Destroying", ())?;
                walk.push(Destroying::Leave(r));
                // The children as they are once `Destroying` handlers have run.
                walk.extend(children_of(dom, r).into_iter().rev().map(Destroying::Enter));
            }
            Destroying::Leave(r) => {
                let old = dom.tree.borrow().get_by_ref(r).map(|i| i.parent());
                if let Some(old) = old.filter(|o| o.is_some()) {
                    // Its descendants have left it already: this tells its ancestors of it.
                    descendants_removing(lua, dom, r)?;
                    let in_game = tag_signals::in_game(dom, r);
                    dom.tree.borrow_mut().transfer_within(r, Ref::none());
                    dom.lifetimes.detached(r);
                    if in_game {
                        tag_signals::subtree_moved(lua, dom, r, false)?;
                    }
                    if dom.has_signals(old) {
                        fire(lua, dom, old, "ChildRemoved", handle(lua, dom, r)?)?;
                    }
                }
                dom.destroyed.borrow_mut().insert(r);
                dom.watchers.borrow_mut().forget(r);
                disconnect_all(dom, r)?;
                dom.lifetimes.unpin(r);
            }
        }
    }
    Ok(())
}

/// Disconnects every connection to the instance's signals (as `Destroy` does on Roblox).
fn disconnect_all(dom: &Dom, r: Ref) -> mlua::Result<()> {
    if !dom.has_signals(r) {
        return Ok(());
    }
    let Some(this) = dom.lifetimes.live_handle(r)? else {
        return Ok(());
    };
    let disconnect = dom.hooks.borrow().disconnect_signals.clone();
    let _firing = dom.lifetimes.firing();
    match disconnect {
        Some(disconnect) => disconnect.call(this),
        None => Ok(()),
    }
}

/// `Instance.new(className, parent?)`. The new instance's name is the one its class registers
/// ("Value" for the value objects), else its default `Name` in the reflection database, else
/// the class's name.
pub(crate) fn instance_library(lua: &Lua) -> mlua::Result<Table> {
    let library = lua.create_table()?;
    library.set(
        "new",
        raising(lua, |lua, args| {
            let (class, parent): (String, Option<AnyUserData>) =
                FromLuaMulti::from_lua_multi(args, lua)?;
            let dom = dom(lua)?;
            if !dom.is_creatable(&class) {
                return Err(LuaError::runtime(format!(
                    "Unable to create an Instance of type \"{class}\""
                )));
            }
            let name = dom
                .classes
                .get()
                .and_then(|c| c.new_instance_name(dom.db, &class))
                .unwrap_or(class.as_str())
                .to_owned();
            let made = create_detached(lua, &dom, &class, name)?;
            if let Some(parent) = parent {
                set_parent(lua, &dom, made, this(&parent, "Instance.new")?)?;
            }
            handle(lua, &dom, made)?.into_lua_multi(lua)
        })?,
    )?;
    Ok(library)
}

/// `require`'s check: the argument must be a ModuleScript (asset IDs and string paths are not
/// something the emulator can load).
pub(crate) fn module_key(lua: &Lua, value: Value) -> mlua::Result<AnyUserData> {
    match &value {
        Value::UserData(data) => {
            let r = this(data, "require")?;
            let dom = dom(lua)?;
            if class_of(&dom, r)? == "ModuleScript" {
                Ok(data.clone())
            } else {
                Err(LuaError::runtime(
                    "Attempted to call require with invalid argument(s).",
                ))
            }
        }
        Value::Integer(_) | Value::Number(_) => Err(LuaError::runtime(
            "require(assetId) loads a model from Roblox's catalog, which the local emulator cannot reach",
        )),
        Value::String(_) => Err(LuaError::runtime(
            "require with a string path is not supported by the local emulator: require the ModuleScript instance",
        )),
        _ => Err(LuaError::runtime(
            "Attempted to call require with invalid argument(s).",
        )),
    }
}

/// `require`'s compile step: the module's `Source` as a function named by its full name, with
/// its own environment (`script` is the module).
pub(crate) fn compile_module(lua: &Lua, module: AnyUserData) -> mlua::Result<Function> {
    let r = this(&module, "require")?;
    let dom = dom(lua)?;
    let source = match dom
        .tree
        .borrow()
        .get_by_ref(r)
        .and_then(|i| property(i, "Source").cloned())
    {
        Some(Variant::String(text)) => text,
        Some(Variant::BinaryString(bytes)) => {
            String::from_utf8_lossy(AsRef::<[u8]>::as_ref(&bytes)).into_owned()
        }
        _ => String::new(),
    };
    let shared = dom
        .hooks
        .borrow()
        .shared_env
        .clone()
        .ok_or_else(|| LuaError::runtime("the local emulator's environment is not ready"))?;
    let env = super::script_env(lua, &shared, Some(module.clone()))?;
    let name = format!("={}", dom.full_name(r));
    // Coverage (`ScriptContext:EnableCoverage`) compiles the modules under its roots with
    // counters. The bytecode is compiled once per source for the process (`bytecode`); a source
    // that does not compile goes the text way, for the VM's own message. A source is always
    // text: one that looks like bytecode is not loaded as such.
    let level = crate::emulator::coverage::level(lua, &dom, r);
    let loaded = match crate::emulator::bytecode::compiled(&source, level) {
        Some(bytecode) => lua
            .load(&*bytecode)
            .set_mode(mlua::chunk::ChunkMode::Binary)
            .set_name(name)
            .set_environment(env)
            .into_function(),
        None => {
            let chunk = lua
                .load(source)
                .set_mode(mlua::chunk::ChunkMode::Text)
                .set_name(name)
                .set_environment(env);
            crate::emulator::coverage::instrument(lua, &dom, r, chunk).into_function()
        }
    };
    let function = loaded.map_err(|error| match error {
        LuaError::SyntaxError { message, .. } => LuaError::runtime(message),
        other => other,
    })?;
    crate::emulator::coverage::track(lua, &dom, r, module, &function)?;
    Ok(function)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wrappers hand every answer back as the Rust function gave it (nils and their count
    /// included), each wrapper its own function's, and raise a failure as a string at the
    /// caller's line.
    #[test]
    fn wrapped_rust_answers_pass_whole_and_failures_are_raised_at_the_callers_line() {
        let lua = Lua::new();
        let answers = raising(&lua, |_, args| {
            let mut values = MultiValue::new();
            values.push_back(Value::Nil);
            values.extend(args);
            values.push_back(Value::Nil);
            Ok(values)
        })
        .unwrap();
        let refuses = raising(&lua, |_, _| Err(LuaError::runtime("no such thing"))).unwrap();
        let looks_up = raising_lookup(&lua, |_, _, key| match key {
            Value::String(key) if key == "known" => Ok(Value::Integer(7)),
            _ => Err(LuaError::runtime("unknown key")),
        })
        .unwrap();
        let globals = lua.globals();
        globals.set("answers", answers).unwrap();
        globals.set("refuses", refuses).unwrap();
        globals.set("looksUp", looks_up).unwrap();
        let (count, first, second, last, found): (i64, Value, i64, Value, i64) = lua
            .load(
                "local n = select('#', answers(5))\n\
                 local a, b, c = answers(5)\n\
                 return n, a, b, c, looksUp(nil, 'known')",
            )
            .set_name("=Caller")
            .eval()
            .unwrap();
        assert_eq!(count, 3);
        assert_eq!((first, second, last, found), (Value::Nil, 5, Value::Nil, 7));
        let (refused, missing): (String, String) = lua
            .load(
                "local _, refused = pcall(function()\n\trefuses()\nend)\n\
                 local _, missing = pcall(function()\n\n\tlooksUp(nil, 'other')\nend)\n\
                 return refused, missing",
            )
            .set_name("=Caller")
            .eval()
            .unwrap();
        assert_eq!(refused, "Caller:2: no such thing");
        assert_eq!(missing, "Caller:6: unknown key");
    }
}
