//! CollectionService's tags, indexed: which instances hold a tag, so `HasTag`, `AddTag` and
//! `GetTagged` cost O(1) per instance they touch or return instead of a walk of the instance's
//! tag list or of the whole tree. Each instance's `Tags` property stays the record (`Clone`
//! copies it, a place file holds it); the index is built from it the first time a script uses a
//! tag, and kept in step by the tag methods and `Clone`.

use std::collections::HashMap;

use rbx_dom_weak::WeakDom;
use rbx_dom_weak::types::{Ref, Variant};

use super::RefMap;

#[derive(Default)]
pub(crate) struct TagIndex {
    /// For each tag, the instances holding it, with the order they got it in (`GetTagged`
    /// answers in that order: the tree's order for a place's own tags, then the order of
    /// `AddTag`).
    tagged: HashMap<String, RefMap<u64>>,
    order: u64,
}

impl TagIndex {
    /// The index of every tag in `tree`.
    pub(crate) fn of(tree: &WeakDom) -> Self {
        let mut index = Self::default();
        index.add_subtree(tree, tree.root_ref());
        index
    }

    /// Indexes the tags of `root` and its descendants (a place's, or a fresh clone's).
    pub(crate) fn add_subtree(&mut self, tree: &WeakDom, root: Ref) {
        let mut stack = vec![root];
        while let Some(next) = stack.pop() {
            let Some(instance) = tree.get_by_ref(next) else {
                continue;
            };
            if let Some(Variant::Tags(tags)) = instance.properties.get(&"Tags".into()) {
                for tag in tags.iter() {
                    self.add(next, tag);
                }
            }
            stack.extend(instance.children().iter().rev().copied());
        }
    }

    pub(crate) fn has(&self, r: Ref, tag: &str) -> bool {
        self.tagged
            .get(tag)
            .is_some_and(|holders| holders.contains_key(&r))
    }

    /// Whether `r` did not have `tag` before.
    pub(crate) fn add(&mut self, r: Ref, tag: &str) -> bool {
        self.order += 1;
        let order = self.order;
        let holders = match self.tagged.get_mut(tag) {
            Some(holders) => holders,
            None => self.tagged.entry(tag.to_owned()).or_default(),
        };
        match holders.entry(r) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(order);
                true
            }
        }
    }

    /// Whether `r` had `tag`.
    pub(crate) fn remove(&mut self, r: Ref, tag: &str) -> bool {
        let Some(holders) = self.tagged.get_mut(tag) else {
            return false;
        };
        let had = holders.remove(&r).is_some();
        if holders.is_empty() {
            self.tagged.remove(tag);
        }
        had
    }

    /// The instances holding `tag`, in the order they got it.
    pub(crate) fn holders(&self, tag: &str) -> Vec<Ref> {
        let Some(holders) = self.tagged.get(tag) else {
            return Vec::new();
        };
        let mut list: Vec<(u64, Ref)> = holders.iter().map(|(r, order)| (*order, *r)).collect();
        list.sort_unstable_by_key(|(order, _)| *order);
        list.into_iter().map(|(_, r)| r).collect()
    }
}
