//! Module bytecode, compiled once per source for the whole process: a suite's shards and a
//! `serve`'s tasks each run in a VM of their own, but they require the same modules (TestEZ,
//! the shared helpers, the same specs task after task), and Luau's bytecode does not depend on
//! the VM that loads it. The chunk's name and environment are given at load, so one bytecode
//! serves every task, whatever its module's full name.
//!
//! Coverage changes the bytecode (a counter per statement), so it is part of the key: a module
//! measured in one task and not in another gets each compile once.
//!
//! A source is kept from its second compile on: the first only leaves its hash behind. A run of
//! one task requires each spec module once, and each shard requires only its own specs, so
//! keeping every source and its bytecode at first sight held 11.6 MiB for a 25,000-test place
//! (4 MiB of sources, 7.6 MiB of bytecode) that nothing read again; what every VM requires
//! (TestEZ, the shared helpers) is compiled twice, then reused.
//!
//! Only sources that compile are kept (a syntax error is compiled again by the caller, so its
//! message is the one the VM gives). The cache holds at most [`MAX_CACHED_BYTES`] of sources
//! and bytecode; past that it starts over, so a long-running `serve` stays bounded.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use mlua::chunk::Compiler;

/// Sources and bytecode held at most (a large suite's modules take a few MiB).
pub const MAX_CACHED_BYTES: usize = 64 * 1024 * 1024;

/// Sources seen once remembered at most (16 bytes each): past that they are forgotten, so a
/// `serve` shown ever new sources stays bounded.
const MAX_SEEN: usize = 1 << 20;

#[derive(Default)]
struct Cache {
    /// By coverage level (0: none), then by source.
    by_level: HashMap<u8, HashMap<String, Arc<[u8]>>>,
    bytes: usize,
    /// (coverage level, hash of the source) of every source compiled once and not kept yet. A
    /// hash collision only keeps a source one compile early.
    seen: HashSet<(u8, u64)>,
    hasher: RandomState,
}

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);

fn cache() -> std::sync::MutexGuard<'static, Cache> {
    // A plain cache: a panic while it was held cannot leave an entry half-written.
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Builtins the emulator replaces with Roblox's: a call to one must reach the replacement.
///
/// Luau compiles a call to a builtin (`typeof`, `math.floor`) as a fast call that, in a script
/// whose environment is safe (see [`super::dom::script_env`]), runs Luau's own function without
/// looking the global up. Roblox's `typeof` names the emulator's datatypes (`Vector3`), which
/// Luau's cannot, so its calls are compiled as ordinary calls.
pub(crate) const REPLACED_BUILTINS: &[&str] = &["typeof"];

/// The options every chunk of a task is compiled with: Luau's defaults, the given coverage level
/// (0: none), and [`REPLACED_BUILTINS`] called as globals.
pub(crate) fn compiler(coverage_level: u8) -> Compiler {
    Compiler::new()
        .set_coverage_level(coverage_level)
        .set_disabled_builtins(REPLACED_BUILTINS.iter().copied())
}

/// The bytecode of `source` compiled with [`compiler`] at the given coverage level, or `None`
/// when it does not compile.
pub fn compiled(source: &str, coverage_level: u8) -> Option<Arc<[u8]>> {
    if let Some(found) = cache()
        .by_level
        .get(&coverage_level)
        .and_then(|sources| sources.get(source))
    {
        return Some(found.clone());
    }
    // Compiled without the lock: two VMs compiling different modules do not wait on each other.
    let bytecode: Arc<[u8]> = compiler(coverage_level).compile(source).ok()?.into();
    let mut cache = cache();
    let first_sight = (coverage_level, cache.hasher.hash_one(source));
    if !cache.seen.contains(&first_sight) {
        if cache.seen.len() >= MAX_SEEN {
            cache.seen.clear();
        }
        cache.seen.insert(first_sight);
        return Some(bytecode);
    }
    cache.seen.remove(&first_sight);
    let size = source.len() + bytecode.len();
    if cache.bytes + size > MAX_CACHED_BYTES {
        let hasher = cache.hasher.clone();
        *cache = Cache {
            hasher,
            ..Cache::default()
        };
    }
    if size <= MAX_CACHED_BYTES {
        cache.bytes += size;
        cache
            .by_level
            .entry(coverage_level)
            .or_default()
            .insert(source.to_owned(), bytecode.clone());
    }
    Some(bytecode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_compiled_twice_is_kept_and_coverage_is_its_own_entry() {
        let source = "local n = 0 for i = 1, 3 do n += i end return n -- bytecode test";
        let first = compiled(source, 0).expect("it compiles");
        let second = compiled(source, 0).expect("it compiles");
        assert!(
            !Arc::ptr_eq(&first, &second),
            "the first compile is not kept"
        );
        let third = compiled(source, 0).expect("it compiles");
        assert!(Arc::ptr_eq(&second, &third), "the second one is");
        compiled(source, 1).expect("it compiles");
        let covered = compiled(source, 1).expect("it compiles");
        assert!(Arc::ptr_eq(
            &covered,
            &compiled(source, 1).expect("it compiles")
        ));
        assert_ne!(first, covered);
        for bytecode in [first, covered] {
            let lua = mlua::Lua::new();
            let value: i64 = lua
                .load(&*bytecode)
                .set_mode(mlua::chunk::ChunkMode::Binary)
                .eval()
                .expect("it runs");
            assert_eq!(value, 6);
        }
        assert!(compiled("return (", 0).is_none());
    }
}
