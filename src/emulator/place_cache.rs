//! Uploaded place versions, each decoded once: the upload decodes the file to check it (Roblox
//! refuses a file that is not a place) and keeps the tree it made; every task of that version
//! then starts from a copy of that tree, not from a decode of its own. Copying clones each
//! instance's name and property values (no decompression, no format parsing), which measured
//! a fraction of a decode on suites (see README's performance paragraph).
//!
//! Trees are kept only for the newest [`MAX_DECODED_VERSIONS`] versions, so a long-running
//! `serve` holds few decoded places (a decoded place can be many times its file); an older
//! version's tasks decode its file again, as every task did before, and keep that tree for
//! the tasks after them.

use std::sync::{Arc, Mutex, PoisonError};

use rbx_dom_weak::WeakDom;

use super::dom::{self, PlaceError};

/// Place versions whose decoded tree is kept besides their file.
pub const MAX_DECODED_VERSIONS: usize = 2;

/// One uploaded place version: its file, and its tree while it is among the newest.
#[derive(Debug)]
pub struct PlaceVersion {
    bytes: Vec<u8>,
    tree: Mutex<Option<Arc<WeakDom>>>,
}

impl PlaceVersion {
    /// A version whose file has not been decoded yet (tests; its first task decodes it).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            tree: Mutex::new(None),
        }
    }

    /// Decodes an uploaded file: the version with its tree, or why the file is no place.
    pub fn decode(bytes: Vec<u8>) -> Result<Self, PlaceError> {
        let tree = dom::load_place(&bytes)?;
        Ok(Self {
            bytes,
            tree: Mutex::new(Some(Arc::new(tree))),
        })
    }

    /// A task's own tree: a copy of the kept one, or a fresh decode of the file (then kept).
    pub fn tree(&self) -> Result<WeakDom, PlaceError> {
        let kept = self.kept().clone();
        if let Some(tree) = kept {
            return Ok(copy(&tree));
        }
        let tree = dom::load_place(&self.bytes)?;
        let copied = copy(&tree);
        *self.kept() = Some(Arc::new(tree));
        Ok(copied)
    }

    /// Lets the decoded tree go (the version is no longer among the newest); its file stays.
    pub fn forget_tree(&self) {
        *self.kept() = None;
    }

    /// Whether the decoded tree is kept (for tests).
    pub fn has_tree(&self) -> bool {
        self.kept().is_some()
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Option<Arc<WeakDom>>> {
        // The guarded value is a plain cache: a panic elsewhere cannot leave it half-written.
        self.tree.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A tree's copy: every instance with its class, name, properties and children in order (refs
/// between instances of the tree point at the copies).
fn copy(tree: &WeakDom) -> WeakDom {
    let mut copied = WeakDom::default();
    let root = tree.clone_into_external(tree.root_ref(), &mut copied);
    let (_, instances) = copied.into_raw();
    WeakDom::from_raw(root, instances)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbx_dom_weak::InstanceBuilder;
    use rbx_dom_weak::types::Variant;

    fn place() -> Vec<u8> {
        let mut dom = WeakDom::new(InstanceBuilder::new("DataModel"));
        let root = dom.root_ref();
        let storage = dom.insert(
            root,
            InstanceBuilder::new("ReplicatedStorage").with_name("ReplicatedStorage"),
        );
        let folder = dom.insert(storage, InstanceBuilder::new("Folder").with_name("Lib"));
        for name in ["b", "a", "c"] {
            dom.insert(
                folder,
                InstanceBuilder::new("ModuleScript")
                    .with_name(name)
                    .with_property("Source", Variant::String(format!("return '{name}'"))),
            );
        }
        let target = dom.insert(storage, InstanceBuilder::new("Part").with_name("Target"));
        dom.insert(
            storage,
            InstanceBuilder::new("ObjectValue")
                .with_name("Pointer")
                .with_property("Value", Variant::Ref(target)),
        );
        let services = dom.root().children().to_vec();
        let mut bytes = Vec::new();
        rbx_binary::to_writer(&mut bytes, &dom, &services).expect("a place");
        bytes
    }

    /// The tree as text: each instance's path, class and sorted property names, in order.
    fn outline(tree: &WeakDom) -> Vec<String> {
        tree.descendants()
            .map(|instance| {
                let mut keys: Vec<&str> = instance.properties.keys().map(|k| k.as_str()).collect();
                keys.sort_unstable();
                format!(
                    "{} {} {}",
                    tree.full_path_of(instance.referent(), "."),
                    instance.class,
                    keys.join(",")
                )
            })
            .collect()
    }

    #[test]
    fn each_task_gets_an_equal_tree_of_its_own() {
        let bytes = place();
        let decoded = dom::load_place(&bytes).expect("a place");
        let version = PlaceVersion::decode(bytes.clone()).expect("a place");
        let first = version.tree().expect("a copy");
        let second = version.tree().expect("a copy");
        assert_eq!(outline(&first), outline(&decoded));
        assert_eq!(outline(&second), outline(&decoded));
        // Distinct instances: a task's changes never reach another task.
        assert_ne!(first.root_ref(), second.root_ref());
        // A ref between instances of the place points at the copy of its target.
        let pointer = first
            .descendants()
            .find(|i| i.name == "Pointer")
            .expect("the pointer");
        let Some(Variant::Ref(target)) = pointer.properties.get(&"Value".into()) else {
            panic!("the pointer lost its value");
        };
        assert_eq!(
            first.get_by_ref(*target).map(|t| t.name.as_str()),
            Some("Target")
        );
    }

    #[test]
    fn a_forgotten_tree_is_decoded_again_and_kept() {
        let version = PlaceVersion::decode(place()).expect("a place");
        version.forget_tree();
        assert!(!version.has_tree());
        let tree = version.tree().expect("a decode");
        assert_eq!(
            outline(&tree),
            outline(&dom::load_place(&place()).expect("a place"))
        );
        assert!(version.has_tree());
        let fresh = PlaceVersion::new(b"not a place".to_vec());
        assert!(fresh.tree().is_err());
        assert!(!fresh.has_tree());
    }
}
