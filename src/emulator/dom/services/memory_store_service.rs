//! `MemoryStoreService:GetSortedMap` and `GetQueue` in tasks, and the `MemoryStoreSortedMap`
//! and `MemoryStoreQueue` instances they give (class as on Roblox, parent nil). The data is the
//! emulator's per-universe store (`emulator/memory_store`), so what one task writes the next
//! task, and the Open Cloud routes, read. The methods are in `memory_store_service.luau` (they
//! yield, retry and call the transform); the primitives here reach the store and answer
//! `ok, …` or `false, message`, which the Luau half raises at the caller's line.
//!
//! Values cross as JSON, written and read by `HttpService:JSONEncode`/`JSONDecode`: Roblox
//! stores a memory-store value as JSON ("Unable to convert value to json" is its error).
//! `GetHashMap` still fails, naming itself (`data_stores.rs`).

use std::time::{Duration, SystemTime};

use mlua::{AnyUserData, Lua, MultiValue, Table, Value};

use super::LuauHalf;
use crate::emulator::dom::classes::{Member, Registrar};
use crate::emulator::dom::instance;
use crate::emulator::memory_store::{
    self, MAX_ENGINE_READ, MAX_RANGE_COUNT, Position, QueueRead, Range, Saved, SortKey, Stores,
    Write,
};
use crate::emulator::vm::TaskContext;

static HALF: LuauHalf = LuauHalf {
    registry_key: "luau-exec.service.MemoryStoreService",
    name: "MemoryStoreService",
    source: include_str!("memory_store_service.luau"),
    primitives,
};

/// The members the Luau half answers, by class (its `classes[class][name]`).
const MEMBERS: &[(&str, &str)] = &[
    ("MemoryStoreService", "GetSortedMap"),
    ("MemoryStoreService", "GetQueue"),
    ("MemoryStoreSortedMap", "GetAsync"),
    ("MemoryStoreSortedMap", "SetAsync"),
    ("MemoryStoreSortedMap", "UpdateAsync"),
    ("MemoryStoreSortedMap", "RemoveAsync"),
    ("MemoryStoreSortedMap", "GetRangeAsync"),
    ("MemoryStoreSortedMap", "GetSizeAsync"),
    ("MemoryStoreQueue", "AddAsync"),
    ("MemoryStoreQueue", "ReadAsync"),
    ("MemoryStoreQueue", "RemoveAsync"),
    ("MemoryStoreQueue", "GetSizeAsync"),
];

pub(crate) fn register(r: &mut Registrar) -> mlua::Result<()> {
    for (class, name) in MEMBERS {
        let get = r.lua().create_function(move |lua, _this: AnyUserData| {
            let classes: Table = HALF.load(lua)?.raw_get("classes")?;
            let members: Table = classes.raw_get(*class)?;
            members.raw_get::<Value>(*name)
        })?;
        r.member(
            class,
            name,
            Member::Property {
                get: Some(get),
                set: None,
            },
        );
    }
    Ok(())
}

/// Runs `f` on the task's universe's stores, at the current time, after spending `units`
/// request units; a failure is `false, message` for the Luau half.
fn with_stores<R>(
    lua: &Lua,
    units: usize,
    f: impl FnOnce(&mut Stores, u64, SystemTime) -> Result<R, String>,
) -> Result<R, String> {
    let context = lua
        .app_data_ref::<TaskContext>()
        .ok_or("MemoryStoreService is not available: the task has no universe")?;
    let shared = context
        .memory
        .clone()
        .ok_or("MemoryStoreService is not available outside the emulator's server")?;
    let universe = context.universe;
    drop(context);
    let mut stores = shared.lock();
    stores.spend(universe, units).map_err(|e| e.message())?;
    f(&mut stores, universe, SystemTime::now())
}

/// `true, values…` or `false, message`.
fn answer(lua: &Lua, result: Result<MultiValue, String>) -> mlua::Result<MultiValue> {
    match result {
        Ok(mut values) => {
            values.push_front(Value::Boolean(true));
            Ok(values)
        }
        Err(message) => Ok(MultiValue::from_vec(vec![
            Value::Boolean(false),
            Value::String(lua.create_string(&message)?),
        ])),
    }
}

fn json(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text)
        .map_err(|_| "InvalidRequest: Unable to convert value to json.".into())
}

fn sort_key(value: &Value) -> Result<Option<SortKey>, String> {
    match value {
        Value::Nil => Ok(None),
        Value::Integer(n) => Ok(Some(SortKey::Number(*n as f64))),
        Value::Number(n) if n.is_finite() => Ok(Some(SortKey::Number(*n))),
        Value::String(s) => Ok(Some(SortKey::Text(s.to_string_lossy()))),
        _ => Err("InvalidRequest: Unable to convert sortKey to a valid number or string.".into()),
    }
}

fn sort_key_value(lua: &Lua, key: &Option<SortKey>) -> mlua::Result<Value> {
    Ok(match key {
        None => Value::Nil,
        Some(SortKey::Number(n)) => Value::Number(*n),
        Some(SortKey::Text(t)) => Value::String(lua.create_string(t)?),
    })
}

fn text(lua: &Lua, s: &str) -> mlua::Result<Value> {
    lua.create_string(s).map(Value::String)
}

fn primitives(lua: &Lua) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table.set("newStructure", lua.create_function(new_structure)?)?;
    table.set("mapGet", lua.create_function(map_get)?)?;
    table.set("mapSet", lua.create_function(map_set)?)?;
    table.set("mapRemove", lua.create_function(map_remove)?)?;
    table.set("mapRange", lua.create_function(map_range)?)?;
    table.set("mapSize", lua.create_function(map_size)?)?;
    table.set("queueAdd", lua.create_function(queue_add)?)?;
    table.set("queueRead", lua.create_function(queue_read)?)?;
    table.set("queueRemove", lua.create_function(queue_remove)?)?;
    table.set("queueSize", lua.create_function(queue_size)?)?;
    Ok(table)
}

/// A `MemoryStoreSortedMap` or `MemoryStoreQueue` instance named `name`, parent nil.
fn new_structure(lua: &Lua, (class, name): (String, String)) -> mlua::Result<AnyUserData> {
    let dom = instance::dom(lua)?;
    let made = instance::create_detached(lua, &dom, &class, name)?;
    instance::handle(lua, &dom, made)
}

/// `ok, json | nil, sortKey | nil, etag | nil`.
fn map_get(lua: &Lua, (map, key): (String, String)) -> mlua::Result<MultiValue> {
    let found = with_stores(lua, 1, |stores, universe, now| {
        Ok(stores.map_get(universe, &map, &key, now))
    });
    let result = match found {
        Ok(Some(item)) => {
            let value = serde_json::to_string(&item.value).unwrap_or_default();
            Ok(MultiValue::from_vec(vec![
                text(lua, &value)?,
                sort_key_value(lua, &item.sort_key)?,
                text(lua, &item.etag.to_string())?,
            ]))
        }
        Ok(None) => Ok(MultiValue::new()),
        Err(message) => Err(message),
    };
    answer(lua, result)
}

/// `ok, "added" | "overwritten" | "conflict"`. `if_etag`: nil writes regardless; `""` only
/// if the key is missing; a tag only if the item still has it.
fn map_set(
    lua: &Lua,
    (map, key, value, expiration, sort, if_etag): (
        String,
        String,
        String,
        f64,
        Value,
        Option<String>,
    ),
) -> mlua::Result<MultiValue> {
    let saved = with_stores(lua, 1, |stores, universe, now| {
        let write = Write {
            value: json(&value)?,
            expiration: memory_store::expiration(expiration).map_err(|e| e.message())?,
            sort_key: sort_key(&sort)?,
        };
        let condition = if_etag.map(|tag| tag.parse::<u64>().ok());
        stores
            .map_set(universe, &map, &key, write, condition, now)
            .map_err(|e| e.message())
    });
    let result = saved.and_then(|saved| {
        let word = match saved {
            Saved::Saved { added: true } => "added",
            Saved::Saved { added: false } => "overwritten",
            Saved::Conflict => "conflict",
        };
        text(lua, word)
            .map(|w| MultiValue::from_vec(vec![w]))
            .map_err(|e| e.to_string())
    });
    answer(lua, result)
}

fn map_remove(lua: &Lua, (map, key): (String, String)) -> mlua::Result<MultiValue> {
    let removed = with_stores(lua, 1, |stores, universe, now| {
        stores.map_remove(universe, &map, &key, now);
        Ok(MultiValue::new())
    });
    answer(lua, removed)
}

/// A bound table's parts, as the Luau half passed them (`key`, `sortKey`).
fn bound(key: Option<String>, sort: &Value) -> Result<Option<Position>, String> {
    let sort_key = sort_key(sort)?;
    Ok((key.is_some() || sort_key.is_some()).then_some(Position { sort_key, key }))
}

type RangeArgs = (
    String,
    bool,
    usize,
    Option<String>,
    Value,
    Option<String>,
    Value,
);

/// `ok, { { key, json, sortKey } … }`.
fn map_range(lua: &Lua, args: RangeArgs) -> mlua::Result<MultiValue> {
    let (map, descending, count, lower_key, lower_sort, upper_key, upper_sort) = args;
    let items = (|| {
        if count == 0 || count > MAX_RANGE_COUNT {
            return Err("InvalidRequest: count must be between 1 and 200.".to_owned());
        }
        let range = Range {
            descending,
            count,
            lower: bound(lower_key, &lower_sort)?,
            upper: bound(upper_key, &upper_sort)?,
            after: None,
        };
        let items = with_stores(lua, 1, |stores, universe, now| {
            Ok(stores.map_range(universe, &map, &range, now))
        })?;
        // A range costs a unit per item returned (one already spent).
        with_stores(lua, items.len().saturating_sub(1), |_, _, _| Ok(()))?;
        Ok(items)
    })();
    let result = match items {
        Ok(items) => {
            let list = lua.create_table()?;
            for item in items {
                let entry = lua.create_table()?;
                entry.set("key", item.key.as_str())?;
                entry.set(
                    "json",
                    serde_json::to_string(&item.value).unwrap_or_default(),
                )?;
                entry.set("sortKey", sort_key_value(lua, &item.sort_key)?)?;
                list.push(entry)?;
            }
            Ok(MultiValue::from_vec(vec![Value::Table(list)]))
        }
        Err(message) => Err(message),
    };
    answer(lua, result)
}

fn map_size(lua: &Lua, map: String) -> mlua::Result<MultiValue> {
    let size = with_stores(lua, 1, |stores, universe, now| {
        Ok(stores.map_size(universe, &map, now))
    });
    answer(
        lua,
        size.map(|n| MultiValue::from_vec(vec![Value::Number(n as f64)])),
    )
}

fn queue_add(
    lua: &Lua,
    (queue, value, expiration, priority): (String, String, f64, Option<f64>),
) -> mlua::Result<MultiValue> {
    let added = with_stores(lua, 1, |stores, universe, now| {
        let value = json(&value)?;
        let expiration = memory_store::expiration(expiration).map_err(|e| e.message())?;
        stores
            .queue_add(
                universe,
                &queue,
                value,
                expiration,
                priority.unwrap_or(0.0),
                now,
            )
            .map(|_| MultiValue::new())
            .map_err(|e| e.message())
    });
    answer(lua, added)
}

/// `ok, { json … }, id` when it read; `ok` alone when there was not enough to read (the Luau
/// half waits and tries again, or gives up).
fn queue_read(
    lua: &Lua,
    (queue, count, all_or_nothing, invisibility): (String, usize, bool, f64),
) -> mlua::Result<MultiValue> {
    let read = (|| {
        if count == 0 || count > MAX_ENGINE_READ {
            return Err("InvalidRequest: count must be between 1 and 100.".to_owned());
        }
        if !invisibility.is_finite() || invisibility < 0.0 {
            return Err("InvalidRequest: The invisibility timeout must be positive.".to_owned());
        }
        let read = QueueRead {
            count,
            all_or_nothing,
            invisibility: Duration::from_secs_f64(invisibility),
        };
        let result = with_stores(lua, 1, |stores, universe, now| {
            Ok(stores.queue_read(universe, &queue, read, now))
        })?;
        if let Some((_, items)) = &result {
            with_stores(lua, items.len().saturating_sub(1), |_, _, _| Ok(()))?;
        }
        Ok(result)
    })();
    let result = match read {
        Ok(Some((Some(id), items))) => {
            let values = lua.create_table()?;
            for item in items {
                values.push(serde_json::to_string(&item.value).unwrap_or_default())?;
            }
            Ok(MultiValue::from_vec(vec![
                Value::Table(values),
                text(lua, &id)?,
            ]))
        }
        Ok(_) => Ok(MultiValue::new()),
        Err(message) => Err(message),
    };
    answer(lua, result)
}

fn queue_remove(lua: &Lua, (queue, id): (String, String)) -> mlua::Result<MultiValue> {
    let removed = with_stores(lua, 1, |stores, universe, now| {
        stores.queue_discard(universe, &queue, &id, now);
        Ok(MultiValue::new())
    });
    answer(lua, removed)
}

fn queue_size(
    lua: &Lua,
    (queue, exclude_invisible): (String, Option<bool>),
) -> mlua::Result<MultiValue> {
    let size = with_stores(lua, 1, |stores, universe, now| {
        Ok(stores.queue_size(universe, &queue, exclude_invisible.unwrap_or(false), now))
    });
    answer(
        lua,
        size.map(|n| MultiValue::from_vec(vec![Value::Number(n as f64)])),
    )
}
