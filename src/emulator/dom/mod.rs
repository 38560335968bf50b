//! The part of Roblox that test code touches, for the local emulator: the place's instance tree
//! (loaded from `.rbxl`/`.rbxlx` with the Rojo ecosystem's `rbx_binary`/`rbx_xml` into an
//! `rbx_dom_weak` tree), instances as userdata with Roblox's semantics, `require` of
//! ModuleScripts (chunk names are full names, so errors and tracebacks read as on Roblox), the
//! datatypes, `Enum`, signals and the `task` scheduler (the Luau half is `prelude.luau`).
//!
//! Each task gets its own tree, as each Roblox task gets its own server: changes never outlive
//! the task. The engine itself (physics, rendering, networking, HttpService) is not here; a
//! member Roblox has but the emulator does not fails with a message that says so.

mod classes;
mod datatypes;
mod instance;
mod lifetime;
mod memory;
mod place;
pub mod scheduler;
pub(crate) mod services;
mod tags;

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use mlua::{AnyUserData, Function, Lua, Table, Value};
use rbx_dom_weak::types::Ref;
use rbx_dom_weak::{InstanceBuilder, WeakDom};
use rbx_reflection::{ClassTag, ReflectionDatabase};

pub use instance::InstanceRef;
pub use place::{
    MAX_INFLATED_BYTES, MAX_INSTANCES, MAX_PROPERTY_VALUES, MAX_XML_DEPTH, PlaceError, load_place,
};

/// Maps and sets keyed by instance, hashed as rbx_dom_weak hashes its own tree (see Cargo.toml).
pub(crate) type RefMap<V> = ahash::AHashMap<Ref, V>;
pub(crate) type RefSet = ahash::AHashSet<Ref>;

/// The Luau half: datatypes, `typeof`, `task`, signals, `require`.
const PRELUDE: &str = include_str!("prelude.luau");

/// Services a fresh place has, as an empty Roblox place does.
const DEFAULT_SERVICES: &[&str] = &[
    "Workspace",
    "Players",
    "Lighting",
    "ReplicatedFirst",
    "ReplicatedStorage",
    "ServerScriptService",
    "ServerStorage",
    "StarterGui",
    "StarterPack",
    "StarterPlayer",
    "Teams",
    "SoundService",
    "TestService",
];

/// A DataModel with the services an empty place has.
pub fn empty_place() -> WeakDom {
    let mut dom = WeakDom::new(InstanceBuilder::new("DataModel").with_name("Game"));
    let root = dom.root_ref();
    for service in DEFAULT_SERVICES {
        dom.insert(root, InstanceBuilder::new(*service).with_name(*service));
    }
    dom
}

/// What the Luau half hands back to the Rust half once it has run.
#[derive(Default)]
pub(crate) struct Hooks {
    pub make_enum: Option<Function>,
    pub get_signal: Option<Function>,
    pub fire_signal: Option<Function>,
    /// Disconnects every connection of an instance's signals (`Destroy`).
    pub disconnect_signals: Option<Function>,
    /// Every script's globals (read through; writes stay in the script's own table).
    pub shared_env: Option<Table>,
}

/// The instances whose tree signals a script has asked for, so a reparent tells them without
/// walking subtrees nobody listens to.
#[derive(Default)]
pub(crate) struct Watchers {
    /// `AncestryChanged`: fired on every descendant of a moved instance on Roblox.
    pub ancestry: RefSet,
    /// `DescendantAdded`: fired for every descendant of an added instance.
    pub descendant_added: RefSet,
    /// `DescendantRemoving`: fired for a removed instance and every one of its descendants.
    pub descendant_removing: RefSet,
    /// Tags with a `CollectionService:GetInstanceAddedSignal`/`RemovedSignal` asked for.
    pub tags: HashSet<String>,
    /// The `LogService` whose `MessageOut` a script asked for: prints are fired to it.
    pub message_out: Option<Ref>,
}

impl Watchers {
    pub(crate) fn watch(&mut self, r: Ref, signal: &str) {
        let set = match signal {
            "AncestryChanged" => &mut self.ancestry,
            "DescendantAdded" => &mut self.descendant_added,
            "DescendantRemoving" => &mut self.descendant_removing,
            "MessageOut" => {
                self.message_out = Some(r);
                return;
            }
            _ => return,
        };
        set.insert(r);
    }

    /// A destroyed instance's signals are disconnected: nothing to tell it any more.
    pub(crate) fn forget(&mut self, r: Ref) {
        self.ancestry.remove(&r);
        self.descendant_added.remove(&r);
        self.descendant_removing.remove(&r);
        if self.message_out == Some(r) {
            self.message_out = None;
        }
    }
}

/// Where log messages of the task go (its log window).
pub type LogSink = Box<dyn Fn(crate::api::model::MessageType, &str)>;

/// One task's instance tree and what the Lua side needs to reach it.
pub struct Dom {
    pub(crate) tree: RefCell<WeakDom>,
    /// Instances' handles, and which instances out of the game can be freed.
    pub(crate) lifetimes: lifetime::Lifetimes,
    /// Destroyed instances: their `Parent` is locked at nil.
    pub(crate) destroyed: RefCell<RefSet>,
    /// Which instances hold which tag; built when a script first uses a tag.
    pub(crate) tags: RefCell<Option<tags::TagIndex>>,
    pub(crate) db: &'static ReflectionDatabase<'static>,
    pub(crate) hooks: RefCell<Hooks>,
    /// Who listens to the tree's signals (see [`Watchers`]).
    pub(crate) watchers: RefCell<Watchers>,
    /// Instances a script has asked for a signal of (see [`instance::signal`]): only these can
    /// have a connection, so a change to any other instance fires nothing, and builds nothing
    /// to fire with. Suites create, reparent and destroy thousands of instances no test listens
    /// to; calling into the prelude to find that out was most of what each change cost.
    pub(crate) signalled: RefCell<RefSet>,
    /// Every class's members (set once the prelude has run).
    pub(crate) classes: std::cell::OnceCell<classes::ClassRegistry>,
    /// Where `TestService:Error` and errors of spawned threads go.
    pub(crate) log: LogSink,
    /// The task's memory cap, which the tree shares with the VM.
    pub(crate) memory: memory::Memory,
}

/// Decodes what every place and task read from first use on (Roblox's reflection database,
/// bundled or the user's own as `rbx_binary` reads it), so that no run waits on it. Idempotent
/// and cheap once done.
pub fn warm_up() {
    let _ = rbx_reflection_database::get_bundled();
    // rbx_binary reads the user's own database in place of the bundled one when there is one.
    let _ = rbx_reflection_database::get();
}

impl Dom {
    /// A task's tree, holding at most `memory_cap` bytes together with the VM it is installed
    /// into.
    pub fn new(tree: WeakDom, log: LogSink, memory_cap: usize) -> Self {
        Self {
            tree: RefCell::new(tree),
            lifetimes: lifetime::Lifetimes::default(),
            destroyed: RefCell::default(),
            tags: RefCell::new(None),
            db: rbx_reflection_database::get_bundled(),
            hooks: RefCell::new(Hooks::default()),
            classes: std::cell::OnceCell::new(),
            watchers: RefCell::new(Watchers::default()),
            signalled: RefCell::default(),
            log,
            memory: memory::Memory::new(memory_cap),
        }
    }

    /// Whether a script has asked for any signal of `r`: if not, none of them has a connection.
    pub(crate) fn has_signals(&self, r: Ref) -> bool {
        self.signalled.borrow().contains(&r)
    }

    /// The tag index, built from the tree's `Tags` properties on first use.
    pub(crate) fn tag_index(&self) -> std::cell::RefMut<'_, tags::TagIndex> {
        let mut index = self.tags.borrow_mut();
        if index.is_none() {
            *index = Some(tags::TagIndex::of(&self.tree.borrow()));
        }
        std::cell::RefMut::map(index, |index| index.get_or_insert_with(Default::default))
    }

    /// The member `key` of instances of `class`, from the class registry.
    pub(crate) fn member(&self, class: rbx_dom_weak::Ustr, key: &str) -> Option<classes::Member> {
        self.classes.get()?.lookup(self.db, class, key)
    }

    /// Whether the place's signals are deferred (`Workspace.SignalBehavior` is `Deferred` or
    /// `AncestryDeferred`). `Default` behaves as `Immediate`, as it did on Roblox for years
    /// and as suites written then (Roact's) expect.
    pub(crate) fn deferred_signals(&self) -> bool {
        let tree = self.tree.borrow();
        let workspace = tree
            .root()
            .children()
            .iter()
            .filter_map(|c| tree.get_by_ref(*c))
            .find(|c| c.class == "Workspace");
        let behavior = workspace.and_then(|w| {
            ["SignalBehavior2", "SignalBehavior"]
                .into_iter()
                .find_map(|key| w.properties.get(&key.into()))
        });
        match behavior {
            Some(rbx_dom_weak::types::Variant::Enum(value)) => {
                let deferred = self.db.enums.get("SignalBehavior").and_then(|e| {
                    e.items
                        .iter()
                        .find(|(_, v)| **v == value.to_u32())
                        .map(|(name, _)| *name)
                });
                matches!(deferred, Some("Deferred" | "AncestryDeferred"))
            }
            _ => false,
        }
    }

    pub(crate) fn data_model(&self) -> Ref {
        self.tree.borrow().root_ref()
    }

    /// Whether `r` is in the game: the DataModel or under it (not nil, not out of the game).
    pub(crate) fn in_game(&self, r: Ref) -> bool {
        let tree = self.tree.borrow();
        let root = tree.root_ref();
        let mut next = r;
        while let Some(instance) = tree.get_by_ref(next) {
            if next == root {
                return true;
            }
            next = instance.parent();
        }
        false
    }

    /// Whether `class` is `ancestor` or inherits from it.
    pub(crate) fn is_a(&self, class: &str, ancestor: &str) -> bool {
        if class == ancestor {
            return true;
        }
        match (self.db.classes.get(class), self.db.classes.get(ancestor)) {
            (Some(class), Some(ancestor)) => self.db.has_superclass(class, ancestor),
            // Classes the database does not know are only themselves (and Instances).
            _ => ancestor == "Instance",
        }
    }

    pub(crate) fn is_service_class(&self, class: &str) -> bool {
        self.db
            .classes
            .get(class)
            .is_some_and(|c| c.tags.contains(&ClassTag::Service))
    }

    pub(crate) fn is_creatable(&self, class: &str) -> bool {
        self.db.classes.get(class).is_some_and(|c| {
            !c.tags.contains(&ClassTag::NotCreatable) && !c.tags.contains(&ClassTag::Service)
        })
    }

    /// `A.B.C`, as `Instance:GetFullName()`: up to, not including, the DataModel.
    pub(crate) fn full_name(&self, r: Ref) -> String {
        let tree = self.tree.borrow();
        let root = tree.root_ref();
        if r == root {
            return tree.root().name.clone();
        }
        let mut names = Vec::new();
        let mut current = r;
        while let Some(instance) = tree.get_by_ref(current) {
            if current == root {
                break;
            }
            names.push(instance.name.as_str());
            current = instance.parent();
        }
        names.reverse();
        names.join(".")
    }
}

/// The Rust primitives the prelude builds on.
fn host_table(
    lua: &Lua,
    dom: &Rc<Dom>,
    scheduler: &Rc<scheduler::Scheduler>,
) -> mlua::Result<Table> {
    let host = lua.create_table()?;
    host.set("WAIT", scheduler::wait_marker(lua)?)?;
    let d = dom.clone();
    host.set(
        "enumItems",
        lua.create_function(move |lua, name: String| {
            let Some(descriptor) = d.db.enums.get(name.as_str()) else {
                return Ok(Value::Nil);
            };
            let items = lua.create_table()?;
            for (item, value) in &descriptor.items {
                items.set(*item, *value)?;
            }
            Ok(Value::Table(items))
        })?,
    )?;
    let d = dom.clone();
    host.set(
        "enumNames",
        lua.create_function(move |_, ()| {
            let mut names: Vec<&str> = d.db.enums.keys().map(|name| name.as_ref()).collect();
            names.sort_unstable();
            Ok(names)
        })?,
    )?;
    host.set("datatypeNames", datatypes::global_names(lua)?)?;
    host.set("loadDatatype", datatypes::loader(lua)?)?;
    let d = dom.clone();
    host.set(
        "setEnumMaker",
        lua.create_function(move |_, maker: Function| {
            d.hooks.borrow_mut().make_enum = Some(maker);
            Ok(())
        })?,
    )?;
    let d = dom.clone();
    host.set(
        "setSignals",
        lua.create_function(
            move |_, (get, fire, disconnect): (Function, Function, Function)| {
                let mut hooks = d.hooks.borrow_mut();
                hooks.get_signal = Some(get);
                hooks.fire_signal = Some(fire);
                hooks.disconnect_signals = Some(disconnect);
                Ok(())
            },
        )?,
    )?;
    host.set("deferredSignals", dom.deferred_signals())?;
    let d = dom.clone();
    host.set(
        "log",
        lua.create_function(move |_, (level, text): (String, String)| {
            let level = match level.as_str() {
                "ERROR" => crate::api::model::MessageType::Error,
                "WARNING" => crate::api::model::MessageType::Warning,
                _ => crate::api::model::MessageType::Output,
            };
            (d.log)(level, &text);
            Ok(())
        })?,
    )?;
    scheduler_primitives(lua, &host, scheduler)?;
    host.set(
        "moduleKey",
        instance::checked(lua, |lua, args| {
            let value: Value = mlua::FromLuaMulti::from_lua_multi(args, lua)?;
            mlua::IntoLuaMulti::into_lua_multi(instance::module_key(lua, value)?, lua)
        })?,
    )?;
    host.set(
        "compileModule",
        instance::checked(lua, |lua, args| {
            let module: AnyUserData = mlua::FromLuaMulti::from_lua_multi(args, lua)?;
            mlua::IntoLuaMulti::into_lua_multi(instance::compile_module(lua, module)?, lua)
        })?,
    )?;
    Ok(host)
}

/// The scheduler's primitives the prelude's `task` library is written over.
fn scheduler_primitives(
    lua: &Lua,
    host: &Table,
    scheduler: &Rc<scheduler::Scheduler>,
) -> mlua::Result<()> {
    let s = scheduler.clone();
    host.set(
        "setResumer",
        lua.create_function(move |_, resumer: Function| {
            s.set_resumer(resumer);
            Ok(())
        })?,
    )?;
    let s = scheduler.clone();
    host.set(
        "setMainBody",
        lua.create_function(move |_, body: Function| {
            s.set_main_body(body);
            Ok(())
        })?,
    )?;
    let s = scheduler.clone();
    host.set(
        "settle",
        lua.create_function(move |lua, args: mlua::MultiValue| s.settle(lua, args))?,
    )?;
    let s = scheduler.clone();
    host.set(
        "schedule",
        lua.create_function(move |lua, args: mlua::MultiValue| s.schedule(lua, args))?,
    )?;
    let s = scheduler.clone();
    host.set(
        "cancel",
        lua.create_function(move |_, thread: mlua::Thread| {
            s.cancel(&thread);
            Ok(())
        })?,
    )?;
    Ok(())
}

/// Installs the DOM and the Roblox globals into `lua`; returns the table every script's
/// environment reads through (the shared globals, `_G` and `shared` included).
pub fn install(
    lua: &Lua,
    dom: Rc<Dom>,
    scheduler: Rc<scheduler::Scheduler>,
) -> mlua::Result<Table> {
    // What the place's tree holds counts from the start.
    let loaded = {
        let tree = dom.tree.borrow();
        memory::subtree_bytes(&tree, tree.root_ref())
    };
    dom.memory.take(lua, loaded)?;
    lua.set_app_data(dom.clone());
    // RunService's frame loop runs on the scheduler (`services/run_service.rs`).
    lua.set_app_data(scheduler.clone());

    let host = host_table(lua, &dom, &scheduler)?;
    let env: Table = lua
        .load(PRELUDE)
        .set_name("=luau-exec.prelude")
        .call(host)?;

    // Members written in Luau reach the environment (`task`): the registry comes after it.
    let registry = classes::registry(lua, &env)?;
    if dom.classes.set(registry).is_err() {
        return Err(mlua::Error::runtime(
            "the emulator's classes were installed twice",
        ));
    }

    let game = instance::handle(lua, &dom, dom.data_model())?;
    env.set("game", game.clone())?;
    env.set("Game", game)?;
    let workspace = instance::get_service(lua, &dom, "Workspace")?;
    env.set("workspace", workspace.clone())?;
    env.set("Workspace", workspace)?;
    env.set("Instance", instance::instance_library(lua)?)?;

    // The standard library is copied in, not reached through another `__index` hop: every
    // global read of every script (a spec's callback environment reads through its module's
    // and then this one) pays for each hop.
    for pair in lua.globals().pairs::<Value, Value>() {
        let (name, value) = pair?;
        if env.raw_get::<Value>(name.clone())?.is_nil() {
            env.raw_set(name, value)?;
        }
    }
    mirror_into_globals(lua, &env)?;
    dom.hooks.borrow_mut().shared_env = Some(env.clone());
    Ok(env)
}

/// Makes the VM's global table answer as the shared environment does, before the sandbox
/// freezes it.
///
/// Luau resolves a chunk's global imports (`game`, `string.format`) once, when it loads the
/// chunk, against the global table, and a function whose environment is safe (every script's,
/// see [`script_env`]) uses what was resolved instead of looking the global up. Scripts read
/// through to the shared environment, so the global table must give the same values: every
/// function, userdata and plain value the shared environment holds, its frozen tables, and the
/// standard library's tables (the sandbox freezes those). A table that must stay writable
/// (`_G`, `shared`, `Enum`) is taken out of the global table, since the sandbox would freeze it
/// there: a script finds it through its environment, the slow way. Datatypes the shared
/// environment loads later are not in the global table either, and are found the same way; the
/// shared environment only ever gains names after this, never changes one, so nothing the
/// global table holds goes stale.
fn mirror_into_globals(lua: &Lua, shared: &Table) -> mlua::Result<()> {
    let globals = lua.globals();
    for pair in shared.pairs::<Value, Value>() {
        let (name, value) = pair?;
        let mirrored = match &value {
            Value::Table(table) => {
                table.is_readonly() || globals.raw_get::<Value>(name.clone())? == value
            }
            _ => true,
        };
        globals.raw_set(name, if mirrored { value } else { Value::Nil })?;
    }
    Ok(())
}

/// A script's own environment: its `script`, reading through to the shared one (one
/// metatable for all of them).
pub fn script_env(lua: &Lua, shared: &Table, script: Option<AnyUserData>) -> mlua::Result<Table> {
    let env = lua.create_table()?;
    env.set("script", script)?;
    // Safe, as on Roblox: the script's global imports and its calls of builtins take Luau's fast
    // paths (the global table answers as the shared environment does, see
    // `mirror_into_globals`). `getfenv` and `setfenv` turn it off for the environment they touch.
    env.set_safeenv(true);
    let meta = match lua.named_registry_value::<Option<Table>>(SCRIPT_ENV_META)? {
        Some(meta) => meta,
        None => {
            let meta = lua.create_table()?;
            meta.set("__index", shared.clone())?;
            lua.set_named_registry_value(SCRIPT_ENV_META, meta.clone())?;
            meta
        }
    };
    env.set_metatable(Some(meta))?;
    Ok(env)
}

/// Where the one metatable of script environments is kept.
const SCRIPT_ENV_META: &str = "luau-exec.script-env";
