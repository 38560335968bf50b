//! `DataStoreService` and `MemoryStoreService`: the local emulator has no data stores or memory
//! stores, so their members fail when called, naming the service and the member (a script that
//! guards them with `pcall` sees the error, as it would see an outage on Roblox).

use mlua::{Lua, Value};

const DATA_STORE_MEMBERS: &[&str] = &[
    "GetDataStore",
    "GetGlobalDataStore",
    "GetOrderedDataStore",
    "GetRequestBudgetForRequestType",
    "ListDataStoresAsync",
];
const MEMORY_STORE_MEMBERS: &[&str] = &["GetHashMap", "GetQueue", "GetSortedMap"];

pub(super) fn member(lua: &Lua, class: &str, key: &str) -> mlua::Result<Option<Value>> {
    let (members, what) = if class == "DataStoreService" {
        (DATA_STORE_MEMBERS, "data stores")
    } else {
        (MEMORY_STORE_MEMBERS, "memory stores")
    };
    if !members.contains(&key) {
        return Ok(None);
    }
    let message = format!(
        "{class}:{key} is not available in the local emulator, which has no {what} (run it with backend open-cloud)"
    );
    super::failing(lua, message).map(Some)
}
