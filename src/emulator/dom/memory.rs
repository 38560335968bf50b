//! What a task's instance tree holds, counted against the same cap as its VM. Names, property
//! values, attributes, tags and clones live in Rust, outside the Luau allocator that enforces
//! the VM's limit: without this count, 24 clones of an instance with a 64 MiB name held 1.7 GB
//! and the task completed. The tree and the VM share one cap: whatever the tree holds, the VM's
//! own limit is lowered by, and a change to the tree that would pass the cap fails the script
//! with the VM's out-of-memory message.
//!
//! Sizes are the bytes of text and lists an instance holds plus a fixed part per instance and
//! per property for its records. `SharedString` values are not counted: they are shared (a clone
//! copies a pointer) and only come from the place file, which is bounded.

use std::cell::Cell;

use mlua::{Error as LuaError, Lua};
use rbx_dom_weak::types::{Content, Ref, Variant};
use rbx_dom_weak::{Instance, WeakDom};

use super::lifetime;
use crate::emulator::pacing;

/// An instance's record in the tree, its handle and its map entries, roughly.
pub(crate) const INSTANCE_OVERHEAD: usize = 256;
/// A property's entry in an instance's map (or an attribute's, in its list).
const PROPERTY_OVERHEAD: usize = std::mem::size_of::<Variant>() + 16;

/// The task's memory cap, shared between the VM and the instance tree.
#[derive(Debug)]
pub(crate) struct Memory {
    cap: usize,
    /// Bytes the instance tree holds.
    held: Cell<usize>,
}

impl Memory {
    /// A cap of `cap` bytes; the tree holds nothing yet.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            cap,
            held: Cell::new(0),
        }
    }

    /// Bytes the instance tree holds.
    pub(crate) fn held(&self) -> usize {
        self.held.get()
    }

    /// Whether `bytes` more for the tree fit beside what the VM holds now.
    fn fits(&self, lua: &Lua, bytes: usize) -> bool {
        lua.used_memory()
            .saturating_add(self.held.get())
            .saturating_add(bytes)
            <= self.cap
    }

    /// Takes `bytes` more for the tree, or fails as the VM does when it is out of memory. The
    /// VM's limit shrinks by as much.
    pub(crate) fn take(&self, lua: &Lua, bytes: usize) -> mlua::Result<()> {
        // Garbage the VM has not collected yet is not a reason to fail.
        if !self.fits(lua, bytes) {
            lua.gc_collect()?;
        }
        // Nor are instances no script can reach any more.
        if !self.fits(lua, bytes) {
            lifetime::free_unreachable(lua)?;
        }
        if !self.fits(lua, bytes) {
            return Err(LuaError::runtime(format!(
                "not enough memory: the local emulator gives a task {} MiB, and its instances already hold {} MiB of it",
                self.cap / (1024 * 1024),
                self.held.get() / (1024 * 1024)
            )));
        }
        self.set(lua, self.held.get().saturating_add(bytes))
    }

    /// Gives `bytes` of the tree's back to the VM.
    pub(crate) fn give_back(&self, lua: &Lua, bytes: usize) -> mlua::Result<()> {
        self.set(lua, self.held.get().saturating_sub(bytes))
    }

    /// A value of the tree changes from `old` bytes to `new`.
    pub(crate) fn resize(&self, lua: &Lua, old: usize, new: usize) -> mlua::Result<()> {
        if new >= old {
            self.take(lua, new - old)
        } else {
            self.give_back(lua, old - new)
        }
    }

    fn set(&self, lua: &Lua, held: usize) -> mlua::Result<()> {
        let before = self.held.replace(held);
        // The cap is never zero (zero would mean "no limit" to the VM).
        lua.set_memory_limit(self.cap.saturating_sub(held).max(1))?;
        pacing::tree_changed(lua, before, held)
    }
}

/// What an instance holds: its record, its name, its properties.
pub(crate) fn instance_bytes(instance: &Instance) -> usize {
    INSTANCE_OVERHEAD
        + instance.name.len()
        + instance
            .properties
            .values()
            .map(property_bytes)
            .sum::<usize>()
}

/// What one property holds, with its entry.
pub(crate) fn property_bytes(value: &Variant) -> usize {
    PROPERTY_OVERHEAD + variant_bytes(value)
}

/// What an instance and its descendants hold (what `Clone` copies).
pub(crate) fn subtree_bytes(tree: &WeakDom, root: Ref) -> usize {
    let mut total = 0;
    let mut stack = vec![root];
    while let Some(next) = stack.pop() {
        if let Some(instance) = tree.get_by_ref(next) {
            total += instance_bytes(instance);
            stack.extend_from_slice(instance.children());
        }
    }
    total
}

/// The bytes a value holds beyond its fixed part.
fn variant_bytes(value: &Variant) -> usize {
    match value {
        Variant::String(text) => text.len(),
        Variant::BinaryString(bytes) => AsRef::<[u8]>::as_ref(bytes).len(),
        Variant::ContentId(id) => id.as_str().len(),
        Variant::Content(content) => content_bytes(content),
        Variant::Font(font) => {
            font.family.len() + font.cached_face_id.as_ref().map_or(0, String::len)
        }
        Variant::Tags(tags) => tags.iter().map(|tag| tag.len() + 1).sum(),
        Variant::Attributes(attributes) => attributes
            .iter()
            .map(|(name, value)| name.len() + property_bytes(value))
            .sum(),
        Variant::NumberSequence(sequence) => std::mem::size_of_val(sequence.keypoints.as_slice()),
        Variant::ColorSequence(sequence) => std::mem::size_of_val(sequence.keypoints.as_slice()),
        _ => 0,
    }
}

fn content_bytes(content: &Content) -> usize {
    content.as_uri().map_or(0, str::len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbx_dom_weak::InstanceBuilder;
    use rbx_dom_weak::types::{Attributes, Tags};

    #[test]
    fn an_instance_holds_its_texts_and_lists() {
        let bare = InstanceBuilder::new("Folder").with_name("");
        let mut tags = Tags::new();
        tags.push("abc");
        let full = InstanceBuilder::new("Folder")
            .with_name("x".repeat(1000))
            .with_property("Tags", tags)
            .with_property("Attributes", Attributes::new().with("key", "y".repeat(500)));
        let mut tree = WeakDom::new(InstanceBuilder::new("DataModel"));
        let root = tree.root_ref();
        let bare = tree.insert(root, bare);
        let full = tree.insert(bare, full);
        let bare_bytes = instance_bytes(tree.get_by_ref(bare).unwrap());
        let full_bytes = instance_bytes(tree.get_by_ref(full).unwrap());
        assert_eq!(bare_bytes, INSTANCE_OVERHEAD);
        assert!(
            full_bytes >= INSTANCE_OVERHEAD + 1000 + 4 + 3 + 500,
            "{full_bytes}"
        );
        assert_eq!(subtree_bytes(&tree, bare), bare_bytes + full_bytes);
    }

    #[test]
    fn the_tree_and_the_vm_share_the_cap() {
        let lua = Lua::new();
        let cap = lua.used_memory() + 10 * 1024 * 1024;
        let memory = Memory::new(cap);
        memory.take(&lua, 8 * 1024 * 1024).unwrap();
        // The VM now has about 2 MiB left.
        let big = lua
            .load("return string.rep('x', 4 * 1024 * 1024)")
            .eval::<mlua::Value>();
        assert!(big.is_err(), "the VM's limit shrank with the tree");
        let over = memory.take(&lua, 4 * 1024 * 1024).unwrap_err().to_string();
        assert!(over.contains("not enough memory"), "{over}");
        memory.resize(&lua, 8 * 1024 * 1024, 0).unwrap();
        assert_eq!(memory.held.get(), 0);
        assert!(
            lua.load("return #string.rep('x', 4 * 1024 * 1024)")
                .eval::<usize>()
                .is_ok()
        );
    }
}
