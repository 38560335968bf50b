//! `DataStoreService` and `MemoryStoreService:GetHashMap`: the local emulator has no data stores
//! or memory-store hash maps, so these members fail when called, naming the service and the member (a script that
//! guards them with `pcall` sees the error, as it would see an outage on Roblox).

use crate::emulator::dom::classes::Registrar;

const SERVICES: &[(&str, &str, &[&str])] = &[
    (
        "DataStoreService",
        "data stores",
        &[
            "GetDataStore",
            "GetGlobalDataStore",
            "GetOrderedDataStore",
            "GetRequestBudgetForRequestType",
            "ListDataStoresAsync",
        ],
    ),
    (
        "MemoryStoreService",
        "memory-store hash maps",
        // Sorted maps and queues are emulated (`memory_store_service.rs`); hash maps are not.
        &["GetHashMap"],
    ),
];

pub(crate) fn register(r: &mut Registrar) -> mlua::Result<()> {
    for (class, what, members) in SERVICES {
        for member in *members {
            let message = format!(
                "{class}:{member} is not available in the local emulator, which has no {what} (run it with backend open-cloud)"
            );
            super::failing(r, class, member, message)?;
        }
    }
    Ok(())
}
