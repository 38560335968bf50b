//! Open Cloud's memory-store sorted maps, for the runner's side channels (place reuse records,
//! live progress): get, write (create or replace), list and delete items of
//! `/cloud/v2/universes/{universe}/memory-store/sorted-maps/{map}/items`.
//!
//! These routes need scopes beyond running Luau (`memory-store.sorted-map:read` and `:write`);
//! a key without them gets 403, which [`ApiError::lacks_scope`] recognises so callers can say
//! so once and carry on without the side channel.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::body;
use super::client::{Call, OpenCloud, REQUEST_TIMEOUT, Read, parse_json};
use super::error::{ApiError, Operation};
use super::model::Redact;
use super::retry::Idempotency;
use crate::secret::Redactor;

/// One sorted-map item as Open Cloud answers it (only what the runner reads).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MapItem {
    pub id: String,
    pub value: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric_sort_key: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string_sort_key: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MapPage {
    pub items: Vec<MapItem>,
    pub next_page_token: Option<String>,
}

impl Redact for MapItem {
    fn redact_with(&mut self, _: &Redactor) {}
}

impl Redact for MapPage {
    fn redact_with(&mut self, _: &Redactor) {}
}

/// An answer whose body is not read (a write's echo, a delete's empty body).
#[derive(Debug, Default, Deserialize)]
struct Empty {}

impl Redact for Empty {
    fn redact_with(&mut self, _: &Redactor) {}
}

impl ApiError {
    /// Whether the key was refused for want of a scope (403).
    pub fn lacks_scope(&self) -> bool {
        matches!(self, ApiError::Rejected { status: 403, .. })
    }

    /// Whether the thing asked for is not there (404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Rejected { status: 404, .. })
    }
}

/// What the runner asks of a universe's sorted maps: the seam its place-reuse and live-progress
/// logic is tested through.
pub trait SortedMaps {
    /// The item, or `None` when it is missing or expired.
    fn get_item(
        &self,
        universe: u64,
        map: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<MapItem>, ApiError>>;
    /// Creates or replaces the item, expiring after `ttl`.
    fn put_item(
        &self,
        universe: u64,
        map: &str,
        item: &MapItem,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), ApiError>>;
    /// One page of items in the map's order, up to 100.
    fn list_items(
        &self,
        universe: u64,
        map: &str,
        page_token: Option<&str>,
    ) -> impl Future<Output = Result<MapPage, ApiError>>;
    /// Deletes the item (a missing one is not an error).
    fn delete_item(
        &self,
        universe: u64,
        map: &str,
        id: &str,
    ) -> impl Future<Output = Result<(), ApiError>>;
}

/// Percent-encodes a path segment or query value (ids may hold any character).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl OpenCloud {
    fn items_url(&self, universe: u64, map: &str) -> String {
        format!(
            "{}/cloud/v2/universes/{universe}/memory-store/sorted-maps/{}/items",
            self.base,
            encode(map)
        )
    }

    fn memory_call(operation: Operation, universe: u64, map: &str) -> Call<'static> {
        Call {
            operation,
            idempotency: Idempotency::Idempotent,
            target: format!("sorted map `{map}` of universe {universe}"),
            timeout: REQUEST_TIMEOUT,
            read: Read::Capped(body::SMALL_BODY_CAP),
            bucket: None,
            patience: None,
        }
    }
}

impl SortedMaps for OpenCloud {
    async fn get_item(
        &self,
        universe: u64,
        map: &str,
        id: &str,
    ) -> Result<Option<MapItem>, ApiError> {
        let url = format!("{}/{}", self.items_url(universe, map), encode(id));
        let call = Self::memory_call(Operation::ReadMemoryStore, universe, map);
        let found = self
            .execute(
                call,
                || self.keyed(self.keyed_http.get(&url)),
                parse_json::<MapItem>,
            )
            .await;
        match found {
            Ok(item) => Ok(Some(item)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn put_item(
        &self,
        universe: u64,
        map: &str,
        item: &MapItem,
        ttl: Duration,
    ) -> Result<(), ApiError> {
        // PATCH with allowMissing creates or replaces: safe to send again, unlike a create.
        let url = format!(
            "{}/{}?allowMissing=true",
            self.items_url(universe, map),
            encode(&item.id)
        );
        let mut body = serde_json::to_value(item).unwrap_or_default();
        if let Value::Object(fields) = &mut body {
            fields.insert(
                "ttl".into(),
                Value::String(format!("{}s", ttl.as_secs().max(1))),
            );
        }
        let call = Self::memory_call(Operation::WriteMemoryStore, universe, map);
        self.execute(
            call,
            || self.keyed(self.keyed_http.patch(&url)).json(&body),
            // The answer echoes the item; nothing in it is needed.
            |_| Ok(Empty {}),
        )
        .await
        .map(drop)
    }

    async fn list_items(
        &self,
        universe: u64,
        map: &str,
        page_token: Option<&str>,
    ) -> Result<MapPage, ApiError> {
        let url = self.items_url(universe, map);
        let mut query = vec![("maxPageSize", "100")];
        if let Some(token) = page_token {
            query.push(("pageToken", token));
        }
        let call = Self::memory_call(Operation::ReadMemoryStore, universe, map);
        self.execute(
            call,
            || self.keyed(self.keyed_http.get(&url)).query(&query),
            parse_json::<MapPage>,
        )
        .await
    }

    async fn delete_item(&self, universe: u64, map: &str, id: &str) -> Result<(), ApiError> {
        let url = format!("{}/{}", self.items_url(universe, map), encode(id));
        let call = Self::memory_call(Operation::WriteMemoryStore, universe, map);
        let deleted = self
            .execute(
                call,
                || self.keyed(self.keyed_http.delete(&url)),
                |_| Ok(Empty {}),
            )
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(error) if error.is_not_found() => Ok(()),
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_encoded_for_the_path() {
        assert_eq!(encode("place-1/a b"), "place-1%2Fa%20b");
        assert_eq!(encode("spec::x"), "spec%3A%3Ax");
    }
}
