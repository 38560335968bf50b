//! The class registry: every member the emulator gives instances (methods, signals, and
//! properties with behaviour of their own) is registered under the class Roblox declares it on,
//! and an instance finds it by walking its class's superclass chain in the reflection database.
//! So `workspace:GetChildren()` finds `Instance.GetChildren`, `workspace.GetTagged` finds
//! nothing (it is `CollectionService`'s), and a subclass's member hides its superclass's
//! (`CollectionService:AddTag(instance, tag)` over `Instance:AddTag(tag)`).
//!
//! One file per class or family of classes, each with a `register` function; adding a class is
//! a new file and a line in [`registry`]. Lookups are hash lookups: the members a class has
//! (its own and inherited) are gathered into one map the first time an instance of that class
//! is indexed, and the name `Instance.new` gives a class is resolved once per class. The maps
//! hash with ahash: every member access of every script goes through one of them.

mod bindable;
pub(crate) mod collection_service;
mod data_model;
mod derived;
mod instance;
mod remote;
mod script_context;
mod test_service;
mod value_base;

use std::cell::RefCell;
use std::rc::Rc;

use ahash::AHashMap as HashMap;

use mlua::{Error as LuaError, FromLuaMulti, Function, IntoLuaMulti, Lua, Table, Value};
use rbx_dom_weak::Ustr;
use rbx_dom_weak::types::{Ref, Variant};
use rbx_reflection::ReflectionDatabase;

use super::Dom;
use super::instance::{InstanceRef, dom, message_of, raising};
use super::services;

/// What a member is, once found.
#[derive(Clone)]
pub(crate) enum Member {
    /// A method: the same function for every instance (so `a.IsA == b.IsA`, and an alias is
    /// the very function it names).
    Method(Function),
    /// An `RBXScriptSignal` of the instance, named by the member.
    Signal,
    /// `Changed` of a value object: fired only when `Value` changes, with the new value.
    ValueChanged,
    /// A property with behaviour of its own: `get(instance)` and `set(instance, value)`, each
    /// optional (a missing one raises Roblox's message for that access).
    Property {
        get: Option<Function>,
        set: Option<Function>,
    },
}

type Members = HashMap<&'static str, Member>;

/// The members of each class, and their gathering per class (own and inherited).
pub(crate) struct ClassRegistry {
    declared: HashMap<&'static str, Members>,
    gathered: RefCell<HashMap<Ustr, Rc<Members>>>,
    default_names: HashMap<&'static str, &'static str>,
    /// [`ClassRegistry::new_instance_name`]'s answers, by class name.
    new_instance_names: RefCell<HashMap<Box<str>, &'static str>>,
}

impl ClassRegistry {
    /// Every member an instance of `class` has: its own, then its superclasses' (a subclass's
    /// member wins). Classes the reflection database does not know have Instance's members.
    pub(crate) fn members(&self, db: &ReflectionDatabase, class: Ustr) -> Rc<Members> {
        if let Some(found) = self.gathered.borrow().get(&class) {
            return found.clone();
        }
        let mut chain: Vec<&str> = match db.classes.get(class.as_str()) {
            Some(descriptor) => db.superclasses_iter(descriptor).map(|c| c.name).collect(),
            None => vec![class.as_str(), "Instance"],
        };
        chain.reverse();
        let mut members = Members::new();
        for name in chain {
            if let Some(own) = self.declared.get(name) {
                members.extend(own.iter().map(|(k, v)| (*k, v.clone())));
            }
        }
        let members = Rc::new(members);
        self.gathered.borrow_mut().insert(class, members.clone());
        members
    }

    /// The name `Instance.new(class)` gives: one a class (or a superclass) registers, else
    /// the reflection database's default `Name`, else the class's own name. `None` for a class
    /// the database does not know. Resolved once per class: it walks the superclass chain.
    pub(crate) fn new_instance_name(
        &self,
        db: &'static ReflectionDatabase<'static>,
        class: &str,
    ) -> Option<&'static str> {
        if let Some(found) = self.new_instance_names.borrow().get(class) {
            return Some(found);
        }
        let descriptor = db.classes.get(class)?;
        let registered = db
            .superclasses_iter(descriptor)
            .find_map(|c| self.default_names.get(c.name).copied());
        let name: &'static str = match registered {
            Some(name) => name,
            None => match db.find_default_property(descriptor, "Name") {
                Some(Variant::String(name)) => name.as_str(),
                _ => descriptor.name,
            },
        };
        self.new_instance_names
            .borrow_mut()
            .insert(class.into(), name);
        Some(name)
    }

    /// The member `key` of an instance of `class`.
    pub(crate) fn lookup(&self, db: &ReflectionDatabase, class: Ustr, key: &str) -> Option<Member> {
        self.members(db, class).get(key).cloned()
    }
}

/// What a class's `register` function adds members with.
pub(crate) struct Registrar<'a> {
    lua: &'a Lua,
    /// The environment scripts share (for members written in Luau, which reach `task`).
    env: &'a Table,
    declared: HashMap<&'static str, Members>,
    default_names: HashMap<&'static str, &'static str>,
}

impl Registrar<'_> {
    fn add(&mut self, class: &'static str, name: &'static str, member: Member) {
        self.declared.entry(class).or_default().insert(name, member);
    }

    /// A method written in Rust: `f(lua, dom, self, args)`. The wrapper checks `self` (an
    /// instance of `class`, else Roblox's `Expected ':' not '.'`), converts the arguments
    /// (a bad one names the method) and raises failures at the caller's line.
    pub(crate) fn method<A, R, F>(
        &mut self,
        class: &'static str,
        name: &'static str,
        f: F,
    ) -> mlua::Result<()>
    where
        A: FromLuaMulti,
        R: IntoLuaMulti,
        F: Fn(&Lua, &Dom, Ref, A) -> mlua::Result<R> + 'static,
    {
        let function = raising(self.lua, move |lua, mut args| {
            let dom = dom(lua)?;
            let this = match args.pop_front() {
                Some(Value::UserData(data)) => data.borrow::<InstanceRef>().ok().map(|i| i.0),
                _ => None,
            };
            let this = this
                .filter(|r| class == "Instance" || of_class(&dom, *r, class))
                .ok_or_else(|| {
                    LuaError::runtime(format!(
                        "Expected ':' not '.' calling member function {name}"
                    ))
                })?;
            let args = A::from_lua_multi(args, lua)
                .map_err(|e| LuaError::runtime(format!("{name}: {}", message_of(&e))))?;
            f(lua, &dom, this, args)?.into_lua_multi(lua)
        })?;
        self.add(class, name, Member::Method(function));
        Ok(())
    }

    /// A method written in Luau (one that yields, which a Rust function cannot): `source`
    /// is a chunk that receives the shared environment and returns the method.
    pub(crate) fn luau_method(
        &mut self,
        class: &'static str,
        name: &'static str,
        source: &str,
    ) -> mlua::Result<()> {
        let function: Function = self
            .lua
            .load(source)
            .set_name(format!("=luau-exec.{name}"))
            .call(self.env.clone())?;
        self.add(class, name, Member::Method(function));
        Ok(())
    }

    /// A deprecated name Roblox still answers to: the very member `of` is.
    /// Registered after the member itself (an alias of a member not yet registered is a
    /// mistake in the emulator, caught by every debug build's first task).
    pub(crate) fn alias(&mut self, class: &'static str, alias: &'static str, of: &'static str) {
        let member = self.declared.get(class).and_then(|m| m.get(of)).cloned();
        debug_assert!(member.is_some(), "{class}.{alias}: {of} is not registered");
        if let Some(member) = member {
            self.add(class, alias, member);
        }
    }

    pub(crate) fn signal(&mut self, class: &'static str, name: &'static str) {
        self.add(class, name, Member::Signal);
    }

    pub(crate) fn member(&mut self, class: &'static str, name: &'static str, member: Member) {
        self.add(class, name, member);
    }

    /// A property whose value `get` computes (called with the instance) and that scripts cannot
    /// assign: assigning it fails as Roblox's read-only properties do.
    pub(crate) fn read_only(&mut self, class: &'static str, name: &'static str, get: Function) {
        self.add(
            class,
            name,
            Member::Property {
                get: Some(get),
                set: None,
            },
        );
    }

    /// The `Name` a new instance of `class` (or a subclass) gets, where it is not the class's.
    pub(crate) fn default_name(&mut self, class: &'static str, name: &'static str) {
        self.default_names.insert(class, name);
    }

    pub(crate) fn lua(&self) -> &Lua {
        self.lua
    }

    pub(crate) fn env(&self) -> &Table {
        self.env
    }
}

/// Whether the instance `r` is of `class` or a subclass.
fn of_class(dom: &Dom, r: Ref, class: &str) -> bool {
    let own = dom.tree.borrow().get_by_ref(r).map(|i| i.class);
    own.is_some_and(|own| dom.is_a(own.as_str(), class))
}

/// Every class's members. A new class: a file with a `register` function, and a line here.
pub(crate) fn registry(lua: &Lua, env: &Table) -> mlua::Result<ClassRegistry> {
    let mut r = Registrar {
        lua,
        env,
        declared: HashMap::new(),
        default_names: HashMap::new(),
    };
    instance::register(&mut r)?;
    data_model::register(&mut r)?;
    collection_service::register(&mut r)?;
    test_service::register(&mut r)?;
    script_context::register(&mut r)?;
    bindable::register(&mut r)?;
    value_base::register(&mut r)?;
    derived::register(&mut r)?;
    remote::register(&mut r)?;
    // Services (`dom/services/`).
    services::run_service::register(&mut r)?;
    services::http_service::register(&mut r)?;
    services::players::register(&mut r)?;
    services::log_service::register(&mut r)?;
    services::tween_service::register(&mut r)?;
    services::debris::register(&mut r)?;
    services::data_stores::register(&mut r)?;
    services::memory_store_service::register(&mut r)?;
    services::task_context::register(&mut r)?;
    Ok(ClassRegistry {
        declared: r.declared,
        gathered: RefCell::new(HashMap::new()),
        default_names: r.default_names,
        new_instance_names: RefCell::new(HashMap::new()),
    })
}

/// Members Roblox has that the emulator does not, beyond the properties the reflection
/// database lists (it lists no methods or events): reading one says it is not emulated,
/// naming it, rather than that Roblox lacks it. The engine's common entry points only.
const NOT_EMULATED: &[(&str, &[&str])] = &[
    ("MessagingService", &["PublishAsync", "SubscribeAsync"]),
    ("MarketplaceService", &["GetProductInfo", "PromptPurchase"]),
    ("TeleportService", &["Teleport", "TeleportAsync"]),
    (
        "WorldRoot",
        &[
            "Raycast",
            "Blockcast",
            "Spherecast",
            "Shapecast",
            "GetPartBoundsInBox",
            "GetPartBoundsInRadius",
            "GetPartsInPart",
        ],
    ),
    (
        "BasePart",
        &["Touched", "TouchEnded", "GetTouchingParts", "ApplyImpulse"],
    ),
    ("PVInstance", &["GetPivot", "PivotTo"]),
    ("Model", &["GetBoundingBox", "MoveTo", "GetExtentsSize"]),
    ("LogService", &["GetLogHistory"]),
    (
        "RunService",
        &[
            "Heartbeat",
            "Stepped",
            "RenderStepped",
            "PreSimulation",
            "PostSimulation",
            "PreRender",
            "PreAnimation",
            "IsServer",
            "IsClient",
            "IsStudio",
            "IsRunning",
            "IsEdit",
            "BindToRenderStep",
            "UnbindFromRenderStep",
        ],
    ),
    (
        "Players",
        &[
            "GetPlayers",
            "PlayerAdded",
            "PlayerRemoving",
            "GetPlayerFromCharacter",
            "GetPlayerByUserId",
            "GetUserIdFromNameAsync",
            "GetNameFromUserIdAsync",
        ],
    ),
    ("TweenService", &["Create", "GetValue"]),
    ("Debris", &["AddItem"]),
    ("HttpService", &["JSONEncode", "JSONDecode", "GenerateGUID"]),
    (
        "UserInputService",
        &[
            "InputBegan",
            "InputEnded",
            "InputChanged",
            "IsKeyDown",
            "GetMouseLocation",
        ],
    ),
    ("ContextActionService", &["BindAction", "UnbindAction"]),
    ("TextService", &["GetTextSize", "FilterStringAsync"]),
    ("BadgeService", &["AwardBadge", "UserHasBadgeAsync"]),
    ("PathfindingService", &["CreatePath"]),
    (
        "Instance",
        &[
            "GetDebugId",
            "GetActor",
            "IsPropertyModified",
            "ResetPropertyToDefault",
        ],
    ),
    (
        "GuiObject",
        &[
            "TweenPosition",
            "TweenSize",
            "TweenSizeAndPosition",
            "MouseEnter",
            "MouseLeave",
            "InputBegan",
            "InputEnded",
            "InputChanged",
        ],
    ),
    (
        "GuiButton",
        &[
            "Activated",
            "MouseButton1Click",
            "MouseButton1Down",
            "MouseButton1Up",
            "MouseButton2Click",
        ],
    ),
    (
        "TextBox",
        &[
            "FocusLost",
            "Focused",
            "CaptureFocus",
            "ReleaseFocus",
            "IsFocused",
        ],
    ),
    (
        "Humanoid",
        &["MoveTo", "TakeDamage", "Died", "LoadAnimation"],
    ),
];

/// Whether `key` is a member Roblox gives `class` (or a superclass) that the emulator lacks.
pub(crate) fn not_emulated(class: &str, key: &str) -> bool {
    let db = rbx_reflection_database::get_bundled();
    let chain: Vec<&str> = match db.classes.get(class) {
        Some(descriptor) => db.superclasses_iter(descriptor).map(|c| c.name).collect(),
        None => vec![class],
    };
    NOT_EMULATED
        .iter()
        .any(|(owner, members)| chain.contains(owner) && members.contains(&key))
}
