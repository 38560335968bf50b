//! The collector's pacing for a task: Luau's incremental collector, given a goal by how much
//! memory the task holds, so that a suite's small heap is collected rarely and a heap that is
//! mostly live is still collected before its garbage takes the task past [`MEMORY_LIMIT`](super::vm::MEMORY_LIMIT)
//! (Luau does not collect before it reports a failed allocation).
//!
//! The goal follows the VM's heap, which the VM's interrupt looks at every few loop edges and
//! calls. The instance tree (which shares the task's cap, see `dom::memory`) also has the heap
//! looked at whenever what it holds changes by a lot: a script that hands the tree a long name
//! has made that much garbage in the VM too, in a loop that may take very few edges.

use std::cell::Cell;
use std::rc::Rc;

use mlua::Lua;
use mlua::state::{GcIncParams, GcMode};

/// The collector's goal (how far the heap may grow past what the last cycle left before the
/// next one starts, in percent) by the heap's size: from each size on, its goal.
///
/// Each cycle marks what is live, so a run's marking costs about what it allocates divided by
/// (goal - 100)%, and its peak is up to the goal times what is live. A suite's live heap is
/// small (the bootstrap lets each claim's plan go once it has run), so a small heap takes
/// Lune's goal and more, and the goal falls as the heap grows: a task that keeps hundreds of
/// MiB live is collected before its garbage takes it past [`MEMORY_LIMIT`](super::vm::MEMORY_LIMIT) (Luau does not
/// collect before it reports a failed allocation), and even a live heap of 365 MiB has room
/// for its 40%.
const GC_GOALS: [(usize, i32); 3] = [(0, 300), (64 * 1024 * 1024, 200), (160 * 1024 * 1024, 140)];

/// The goal [`GC_GOALS`] gives a heap of `used` bytes.
fn gc_goal(used: usize) -> i32 {
    GC_GOALS
        .iter()
        .rev()
        .find(|(from, _)| used >= *from)
        .map_or(GC_GOALS[0].1, |(_, goal)| *goal)
}

/// A change in what the instance tree holds that is worth pacing again for.
const TREE_CHANGE_WORTH_PACING: usize = 1024 * 1024;

/// One task's pacing: the goal in force.
#[derive(Debug)]
pub(crate) struct Pacer {
    goal: Cell<i32>,
}

impl Pacer {
    /// Paces a fresh VM for a small heap.
    pub(crate) fn start(lua: &Lua) -> Self {
        let goal = gc_goal(0);
        lua.gc_set_mode(mode(goal));
        Self {
            goal: Cell::new(goal),
        }
    }

    /// Sets the goal the heap now calls for, if it is another one.
    pub(crate) fn pace(&self, lua: &Lua) -> mlua::Result<()> {
        let wanted = gc_goal(lua.used_memory());
        if wanted == self.goal.get() {
            return Ok(());
        }
        let lower = wanted < self.goal.get();
        self.goal.set(wanted);
        lua.gc_set_mode(mode(wanted));
        // Luau sets the next cycle's threshold from the goal when a cycle ends, so a cycle
        // that ended under the higher goal may let the heap grow to that goal times a heap
        // that has since grown (300% of 150 MiB passes the limit): a full collection now
        // sets it from the lower goal. Only when the heap grows into a lower goal's range.
        if lower {
            lua.gc_collect()?;
        }
        Ok(())
    }
}

/// What the instance tree holds went from `before` to `after` bytes: a large change has the
/// task's pacer look at the heap (a VM without one, as in tests of the tree alone, has none).
pub(crate) fn tree_changed(lua: &Lua, before: usize, after: usize) -> mlua::Result<()> {
    if before.abs_diff(after) < TREE_CHANGE_WORTH_PACING {
        return Ok(());
    }
    let pacer = lua.app_data_ref::<Rc<Pacer>>().map(|pacer| pacer.clone());
    match pacer {
        Some(pacer) => pacer.pace(lua),
        None => Ok(()),
    }
}

/// The collector's settings for a goal.
fn mode(goal: i32) -> GcMode {
    // A cycle, once started, runs ten times as fast as the script allocates, so a garbage
    // heap is not left to grow while the collector catches up.
    GcMode::Incremental(GcIncParams::default().goal(goal).step_multiplier(1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::vm::MEMORY_LIMIT;

    /// The goal falls as the heap grows, never below a collection's worth of room, and a heap
    /// up to 70% live is collected before its garbage takes it past the VM's limit.
    #[test]
    fn the_collectors_goal_falls_as_the_heap_grows_and_keeps_under_the_limit() {
        let mib = 1024 * 1024;
        assert!(
            gc_goal(0) >= 200,
            "a small heap is paced at least as Lune paces it"
        );
        let mut previous = i32::MAX;
        for used in (0..=MEMORY_LIMIT).step_by(mib) {
            let goal = gc_goal(used);
            assert!(goal <= previous && goal > 100, "{goal}% at {used} bytes");
            previous = goal;
            if used <= MEMORY_LIMIT / 10 * 7 {
                assert!(
                    used / 100 * usize::try_from(goal).unwrap_or(0) <= MEMORY_LIMIT,
                    "{used} bytes live at {goal}% would pass the limit"
                );
            }
        }
    }
}
