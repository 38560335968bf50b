//! How long an instance lives: its one handle, and when an instance out of the game is freed.
//!
//! On Roblox an instance whose parent is nil lives while a script can still reach it. Suites
//! build, destroy and drop instances by the tens of thousands; keeping every one for the task's
//! life made an instance-heavy suite's peak a third above Lune's. Here, as on Roblox, a subtree
//! out of the game is freed once nothing can reach it:
//!
//! - **Handles.** Each instance has at most one handle (userdata) at a time, so `==` and table
//!   keys work. A handle is held strongly while its instance may be in use, and always while
//!   it is in the game; a sweep *releases* the handles of subtrees out of the game into a Luau
//!   table whose values are weak, so the collector takes each one that no script holds. A
//!   released handle that a script still holds is taken back from that table when Rust needs
//!   it again or its subtree comes back into the game, so identity never splits. (A table
//!   weakly keyed by an instance out of the game may lose the entry once no script holds the
//!   instance's handle, even if the instance is still reached through another instance.)
//! - **Pinned handles.** An instance a script asked for a signal of keeps its handle until it is
//!   destroyed: the prelude keys its signals weakly by the handle, and a connection must outlive
//!   the script's hold on the instance, as on Roblox.
//! - **Sweeps.** The roots of subtrees out of the game are listed as they leave it. A sweep
//!   frees a listed subtree when none of its instances has a live handle, a pinned one, or is
//!   the value of a reference property (`ObjectValue.Value`): the tree, its tags and its bytes
//!   against the task's cap go. Sweeps run when instances are made, once the tree has grown by
//!   a share of what it held after the last sweep (so their cost stays a fixed share of making
//!   instances), and whenever the tree is about to run out of the task's memory.
//!
//! A sweep never runs while a signal's handlers run under a Rust operation: such an operation
//! may hold instances of its own that have no handle (`Destroy`'s walk of a subtree).

use std::cell::{Cell, RefCell};

use mlua::{AnyUserData, Lua, Table};
use rbx_dom_weak::WeakDom;
use rbx_dom_weak::types::{Ref, Variant};

use super::instance::InstanceRef;
use super::memory::subtree_bytes;
use super::{Dom, RefMap, RefSet};

/// The least growth of the tree, in bytes it holds, between two sweeps.
const LEAST_SWEEP_GAP: usize = 1024 * 1024;

/// Where an instance's handle is.
enum Slot {
    /// Held by Rust: the instance may be in use (or it was given out since the last sweep).
    Held(AnyUserData),
    /// Held until the instance is destroyed: a script asked for one of its signals.
    Pinned(AnyUserData),
    /// In the released table under this key, until the collector takes it.
    Released(i64),
}

/// Every handle of a task's instances, and what is out of the game.
#[derive(Default)]
pub(crate) struct Lifetimes {
    slots: RefCell<RefMap<Slot>>,
    /// Released handles by key, in a table whose values are weak (made at the first sweep).
    released: RefCell<Option<Table>>,
    last_key: Cell<i64>,
    /// The roots of subtrees out of the game: every instance whose parent is nil but the
    /// DataModel.
    detached: RefCell<RefSet>,
    /// The instances some reference property points at; none until the first sweep scans the
    /// tree, then kept up as properties are set and subtrees cloned. Never shrinks: a value
    /// that changes is not worth a scan of every other holder.
    referenced: RefCell<Option<RefSet>>,
    /// What the tree holds when the next sweep is due (0 before the first check).
    next_sweep: Cell<usize>,
    /// Signals being fired under a Rust operation.
    firing: Cell<u32>,
}

/// Marks a signal's handlers running under a Rust operation while it lives.
pub(crate) struct Firing<'a>(&'a Cell<u32>);

impl Drop for Firing<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

impl Lifetimes {
    /// The instance's handle: its live one, else a new one.
    pub(crate) fn handle(&self, lua: &Lua, r: Ref) -> mlua::Result<AnyUserData> {
        if let Some(live) = self.live_handle(r)? {
            return Ok(live);
        }
        let made = lua.create_userdata(InstanceRef(r))?;
        self.slots.borrow_mut().insert(r, Slot::Held(made.clone()));
        Ok(made)
    }

    /// The instance's handle if one is alive (a script may hold it), held again if it was
    /// released.
    pub(crate) fn live_handle(&self, r: Ref) -> mlua::Result<Option<AnyUserData>> {
        let key = match self.slots.borrow().get(&r) {
            Some(Slot::Held(handle) | Slot::Pinned(handle)) => return Ok(Some(handle.clone())),
            Some(Slot::Released(key)) => *key,
            None => return Ok(None),
        };
        let Some(released) = self.released.borrow().clone() else {
            return Ok(None);
        };
        let live: Option<AnyUserData> = released.raw_get(key)?;
        released.raw_set(key, mlua::Value::Nil)?;
        let mut slots = self.slots.borrow_mut();
        match &live {
            Some(handle) => slots.insert(r, Slot::Held(handle.clone())),
            None => slots.remove(&r),
        };
        Ok(live)
    }

    /// The instance's handle, kept until [`unpin`](Self::unpin): a script asked for a signal.
    pub(crate) fn pin(&self, lua: &Lua, r: Ref) -> mlua::Result<AnyUserData> {
        let handle = self.handle(lua, r)?;
        self.slots
            .borrow_mut()
            .insert(r, Slot::Pinned(handle.clone()));
        Ok(handle)
    }

    /// The instance was destroyed: its connections are gone, so its handle need not outlive
    /// the scripts' hold on it.
    pub(crate) fn unpin(&self, r: Ref) {
        let mut slots = self.slots.borrow_mut();
        if let Some(Slot::Pinned(handle)) = slots.remove(&r) {
            slots.insert(r, Slot::Held(handle));
        }
    }

    /// `r` left the game as the root of its subtree (its parent is now nil).
    pub(crate) fn detached(&self, r: Ref) {
        self.detached.borrow_mut().insert(r);
    }

    /// `r`, whose parent was nil, has a parent again.
    pub(crate) fn attached(&self, r: Ref) {
        self.detached.borrow_mut().remove(&r);
    }

    /// Whether a sweep has released handles yet (before, nothing needs taking back).
    pub(crate) fn released_any(&self) -> bool {
        self.released.borrow().is_some()
    }

    /// `root`'s subtree came into the game: the game keeps its instances alive, so each handle
    /// a sweep released while the subtree was out is held again (else Luau state keyed weakly
    /// by a handle, a script's or the emulator's, could go with it while the instance lives).
    pub(crate) fn entered_game(&self, tree: &WeakDom, root: Ref) -> mlua::Result<()> {
        for member in subtree(tree, root) {
            self.live_handle(member)?;
        }
        Ok(())
    }

    /// A reference property now points at `target`.
    pub(crate) fn referenced(&self, target: Ref) {
        if let Some(referenced) = self.referenced.borrow_mut().as_mut() {
            referenced.insert(target);
        }
    }

    /// A fresh subtree (a clone) may point at instances from its reference properties.
    pub(crate) fn referenced_from(&self, tree: &WeakDom, root: Ref) {
        if let Some(referenced) = self.referenced.borrow_mut().as_mut() {
            add_references(tree, root, referenced);
        }
    }

    /// Marks handlers running under a Rust operation until the guard drops.
    pub(crate) fn firing(&self) -> Firing<'_> {
        self.firing.set(self.firing.get().saturating_add(1));
        Firing(&self.firing)
    }

    /// The table released handles wait in, made on first use.
    fn released_table(&self, lua: &Lua) -> mlua::Result<Table> {
        if let Some(table) = self.released.borrow().as_ref() {
            return Ok(table.clone());
        }
        let table = lua.create_table()?;
        let weak_values = lua.create_table()?;
        weak_values.raw_set("__mode", "v")?;
        table.set_metatable(Some(weak_values))?;
        *self.released.borrow_mut() = Some(table.clone());
        Ok(table)
    }

    /// Whether any of `members` can still be reached: a handle that is held, pinned or alive
    /// in the released table, or a reference property's value. Held handles are released on
    /// the way, so that the collector can take those no script holds before the next sweep.
    fn reachable(&self, released: &Table, members: &[Ref]) -> mlua::Result<bool> {
        let referenced = self.referenced.borrow();
        let mut slots = self.slots.borrow_mut();
        let mut reachable = false;
        for member in members {
            if referenced.as_ref().is_some_and(|r| r.contains(member)) {
                reachable = true;
            }
            match slots.get(member) {
                None => {}
                Some(Slot::Pinned(_)) => reachable = true,
                Some(Slot::Held(handle)) => {
                    let key = self.last_key.get() + 1;
                    self.last_key.set(key);
                    released.raw_set(key, handle.clone())?;
                    slots.insert(*member, Slot::Released(key));
                    reachable = true;
                }
                Some(Slot::Released(key)) => {
                    if released.raw_get::<Option<AnyUserData>>(*key)?.is_some() {
                        reachable = true;
                    } else {
                        slots.remove(member);
                    }
                }
            }
        }
        Ok(reachable)
    }
}

/// Adds the instances `root`'s subtree points at from reference properties.
fn add_references(tree: &WeakDom, root: Ref, referenced: &mut RefSet) {
    let mut stack = vec![root];
    while let Some(next) = stack.pop() {
        let Some(instance) = tree.get_by_ref(next) else {
            continue;
        };
        for value in instance.properties.values() {
            if let Variant::Ref(target) = value
                && target.is_some()
            {
                referenced.insert(*target);
            }
        }
        stack.extend_from_slice(instance.children());
    }
}

/// Takes `bytes` of the task's memory for instances about to be made (a new one, a clone),
/// sweeping first when one is due.
pub(crate) fn make_room(lua: &Lua, dom: &Dom, bytes: usize) -> mlua::Result<()> {
    sweep_if_due(lua, dom, bytes)?;
    dom.memory.take(lua, bytes)
}

/// Sweeps when the tree, given `bytes` more, has grown enough since the last sweep.
fn sweep_if_due(lua: &Lua, dom: &Dom, bytes: usize) -> mlua::Result<()> {
    let lives = &dom.lifetimes;
    if lives.firing.get() > 0 {
        return Ok(());
    }
    let held = dom.memory.held();
    if lives.next_sweep.get() == 0 {
        lives.next_sweep.set(held.saturating_add(sweep_gap(held)));
    }
    if held.saturating_add(bytes) >= lives.next_sweep.get() {
        sweep(lua, dom)?;
    }
    Ok(())
}

/// Frees every subtree out of the game that nothing reaches, for a task about to run out of
/// memory (its VM's garbage was just collected).
pub(crate) fn free_unreachable(lua: &Lua) -> mlua::Result<()> {
    let Some(dom) = lua.app_data_ref::<std::rc::Rc<Dom>>().map(|d| d.clone()) else {
        return Ok(());
    };
    if dom.lifetimes.firing.get() > 0 {
        return Ok(());
    }
    // A sweep releases handles that only the next collection can take.
    sweep(lua, &dom)?;
    lua.gc_collect()?;
    sweep(lua, &dom)
}

/// How far the tree may grow past `held` bytes before the next sweep.
fn sweep_gap(held: usize) -> usize {
    (held / 2).max(LEAST_SWEEP_GAP)
}

/// Frees every subtree out of the game that nothing reaches, and releases the handles of the
/// rest.
pub(crate) fn sweep(lua: &Lua, dom: &Dom) -> mlua::Result<()> {
    let lives = &dom.lifetimes;
    if lives.referenced.borrow().is_none() {
        let tree = dom.tree.borrow();
        let mut referenced = RefSet::default();
        add_references(&tree, tree.root_ref(), &mut referenced);
        // Subtrees out of the game are not under the root.
        for root in lives.detached.borrow().iter() {
            add_references(&tree, *root, &mut referenced);
        }
        *lives.referenced.borrow_mut() = Some(referenced);
    }
    let released = lives.released_table(lua)?;
    let roots: Vec<Ref> = lives.detached.borrow().iter().copied().collect();
    for root in roots {
        let members = {
            let tree = dom.tree.borrow();
            match tree.get_by_ref(root) {
                Some(instance) if instance.parent().is_none() => subtree(&tree, root),
                _ => {
                    lives.detached.borrow_mut().remove(&root);
                    continue;
                }
            }
        };
        if !lives.reachable(&released, &members)? {
            free(lua, dom, root, &members)?;
        }
    }
    let held = dom.memory.held();
    lives.next_sweep.set(held.saturating_add(sweep_gap(held)));
    Ok(())
}

/// `root` and its descendants.
fn subtree(tree: &WeakDom, root: Ref) -> Vec<Ref> {
    let mut members = Vec::new();
    let mut stack = vec![root];
    while let Some(next) = stack.pop() {
        members.push(next);
        if let Some(instance) = tree.get_by_ref(next) {
            stack.extend_from_slice(instance.children());
        }
    }
    members
}

/// Takes a subtree nothing reaches out of the tree, with everything kept about its instances.
fn free(lua: &Lua, dom: &Dom, root: Ref, members: &[Ref]) -> mlua::Result<()> {
    let lives = &dom.lifetimes;
    {
        let mut slots = lives.slots.borrow_mut();
        let mut destroyed = dom.destroyed.borrow_mut();
        let mut signalled = dom.signalled.borrow_mut();
        for member in members {
            slots.remove(member);
            destroyed.remove(member);
            signalled.remove(member);
        }
    }
    if let Some(index) = dom.tags.borrow_mut().as_mut() {
        let tree = dom.tree.borrow();
        for member in members {
            if let Some(Variant::Tags(tags)) = tree
                .get_by_ref(*member)
                .and_then(|i| i.properties.get(&"Tags".into()))
            {
                for tag in tags.iter() {
                    index.remove(*member, tag);
                }
            }
        }
    }
    let bytes = subtree_bytes(&dom.tree.borrow(), root);
    dom.tree.borrow_mut().destroy(root);
    lives.detached.borrow_mut().remove(&root);
    dom.memory.give_back(lua, bytes)
}
