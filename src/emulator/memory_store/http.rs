//! Open Cloud's memory-store routes: sorted-map items (list, create, get, update, delete) and
//! queue items (create, read, discard), as Roblox's schema describes them. Each route needs the
//! key like every other route, then its scope (`memory-store.sorted-map:read`/`:write`,
//! `memory-store.queue:add`/`:dequeue`/`:discard`): a key without it gets 403
//! `PERMISSION_DENIED`, the status and code Roblox's error reference gives for a missing scope
//! (the message text is unconfirmed). Which scopes the key has: `serve --key-scopes`.

#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    DEFAULT_INVISIBILITY, MAX_CLOUD_READ, MAX_EXPIRATION, MapItem, Position, QueueItem, QueueRead,
    Range, Saved, SortKey, StoreError, Write,
};
use crate::duration::parse_protobuf_duration;
use crate::emulator::Shared;
use crate::emulator::server::{authorize, invalid_argument, v2_error};

type SharedState = AxumState<Arc<Shared>>;

/// The most items a list page holds (larger sizes are set to it); 1 when not given.
const MAX_PAGE_SIZE: usize = 100;

pub(in crate::emulator) fn routes() -> Router<Arc<Shared>> {
    let base = "/cloud/v2/universes/{universe}/memory-store";
    Router::new()
        .route(
            &format!("{base}/sorted-maps/{{map}}/items"),
            get(list_items).post(create_item),
        )
        .route(
            &format!("{base}/sorted-maps/{{map}}/items/{{item}}"),
            get(get_item).patch(update_item).delete(delete_item),
        )
        .route(
            &format!("{base}/queues/{{queue}}/items"),
            post(add_queue_item),
        )
        .route(
            &format!("{base}/queues/{{queue}}/items:read"),
            get(read_queue_items),
        )
        .route(
            &format!("{base}/queues/{{queue}}/items:discard"),
            post(discard_queue_items),
        )
}

/// The prologue of every memory-store route: the key, its scope, the universe, one request
/// unit of the universe's quota. Gives the universe.
fn admit(
    shared: &Shared,
    headers: &HeaderMap,
    scope: &str,
    universe: &str,
) -> Result<u64, Response> {
    authorize(shared, headers)?;
    if !shared.options.has_scope(scope) {
        return Err(v2_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            &format!("The API key does not have the scope {scope} for this universe."),
        ));
    }
    let universe = universe
        .parse::<u64>()
        .map_err(|_| invalid_argument("Invalid universe_id."))?;
    spend(shared, universe, 1)?;
    Ok(universe)
}

fn spend(shared: &Shared, universe: u64, units: usize) -> Result<(), Response> {
    shared
        .memory
        .lock()
        .spend(universe, units)
        .map_err(|error| store_error(&error))
}

/// A store's refusal as Open Cloud answers it.
fn store_error(error: &StoreError) -> Response {
    let (status, code) = match error {
        StoreError::RequestsOverLimit | StoreError::TotalMemoryOverLimit => {
            (StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED")
        }
        _ => (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
    };
    v2_error(status, code, &error.message())
}

fn not_found(what: &str) -> Response {
    v2_error(StatusCode::NOT_FOUND, "NOT_FOUND", what)
}

/// A `ttl` (a duration such as `"30s"`), within Roblox's 45 days; 45 days when not given
/// (unconfirmed: the schema leaves the default unsaid; the engine's default is 45 days).
fn ttl(text: Option<&str>) -> Result<Duration, Response> {
    match text {
        None => Ok(MAX_EXPIRATION),
        Some(text) => parse_protobuf_duration(text)
            .filter(|t| !t.is_zero() && *t <= MAX_EXPIRATION)
            .ok_or_else(|| invalid_argument("ttl must be a duration between 0s and 3888000s.")),
    }
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

fn item_json(universe: u64, map: &str, item: &MapItem) -> Value {
    let mut body = Map::new();
    body.insert(
        "path".into(),
        json!(format!(
            "cloud/v2/universes/{universe}/memory-store/sorted-maps/{map}/items/{}",
            item.key
        )),
    );
    body.insert("value".into(), item.value.clone());
    body.insert("etag".into(), json!(item.etag.to_string()));
    body.insert("expireTime".into(), json!(rfc3339(item.expires)));
    body.insert("id".into(), json!(item.key));
    match &item.sort_key {
        Some(SortKey::Number(n)) => body.insert("numericSortKey".into(), json!(n)),
        Some(SortKey::Text(t)) => body.insert("stringSortKey".into(), json!(t)),
        None => None,
    };
    Value::Object(body)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ItemBody {
    #[serde(default)]
    value: Option<Value>,
    ttl: Option<String>,
    string_sort_key: Option<String>,
    numeric_sort_key: Option<f64>,
}

impl ItemBody {
    fn parse(body: &[u8]) -> Result<Self, Response> {
        let parsed: Self = serde_json::from_slice(body)
            .map_err(|_| invalid_argument("The request body is not a MemoryStoreSortedMapItem."))?;
        if parsed.string_sort_key.is_some() && parsed.numeric_sort_key.is_some() {
            return Err(invalid_argument(
                "Only one of stringSortKey and numericSortKey may be set.",
            ));
        }
        Ok(parsed)
    }

    fn sort_key(&self) -> Option<SortKey> {
        match (&self.string_sort_key, self.numeric_sort_key) {
            (Some(text), _) => Some(SortKey::Text(text.clone())),
            (None, Some(number)) => Some(SortKey::Number(number)),
            (None, None) => None,
        }
    }
}

#[derive(Deserialize)]
struct CreateQuery {
    id: Option<String>,
}

async fn create_item(
    AxumState(shared): SharedState,
    Path((universe, map)): Path<(String, String)>,
    Query(query): Query<CreateQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let universe = match admit(
        &shared,
        &headers,
        "memory-store.sorted-map:write",
        &universe,
    ) {
        Ok(universe) => universe,
        Err(response) => return response,
    };
    let Some(id) = query.id.filter(|id| !id.is_empty()) else {
        return invalid_argument("id is required.");
    };
    let parsed = match ItemBody::parse(&body) {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    let expiration = match ttl(parsed.ttl.as_deref()) {
        Ok(expiration) => expiration,
        Err(response) => return response,
    };
    let Some(value) = parsed.value.clone() else {
        return invalid_argument("value is required.");
    };
    let write = Write {
        value,
        expiration,
        sort_key: parsed.sort_key(),
    };
    let now = SystemTime::now();
    let mut stores = shared.memory.lock();
    // Creates only a missing item: an existing one is a conflict (409 ALREADY_EXISTS is the
    // v2 convention; Roblox's exact answer is unconfirmed).
    match stores.map_set(universe, &map, &id, write, Some(None), now) {
        Ok(Saved::Saved { .. }) => {}
        Ok(Saved::Conflict) => {
            return v2_error(
                StatusCode::CONFLICT,
                "ALREADY_EXISTS",
                "The item already exists.",
            );
        }
        Err(error) => return store_error(&error),
    }
    match stores.map_get(universe, &map, &id, now) {
        Some(item) => axum::Json(item_json(universe, &map, &item)).into_response(),
        None => not_found("The item expired as it was written."),
    }
}

async fn get_item(
    AxumState(shared): SharedState,
    Path((universe, map, item)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let universe = match admit(&shared, &headers, "memory-store.sorted-map:read", &universe) {
        Ok(universe) => universe,
        Err(response) => return response,
    };
    let found = shared
        .memory
        .lock()
        .map_get(universe, &map, &item, SystemTime::now());
    match found {
        Some(found) => axum::Json(item_json(universe, &map, &found)).into_response(),
        None => not_found("The item was not found."),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UpdateQuery {
    allow_missing: Option<bool>,
}

async fn update_item(
    AxumState(shared): SharedState,
    Path((universe, map, item)): Path<(String, String, String)>,
    Query(query): Query<UpdateQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let universe = match admit(
        &shared,
        &headers,
        "memory-store.sorted-map:write",
        &universe,
    ) {
        Ok(universe) => universe,
        Err(response) => return response,
    };
    let parsed = match ItemBody::parse(&body) {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    let now = SystemTime::now();
    let mut stores = shared.memory.lock();
    let current = stores.map_get(universe, &map, &item, now);
    if current.is_none() && query.allow_missing != Some(true) {
        return not_found("The item was not found.");
    }
    // Fields not given keep their current values (a new item needs a value).
    let expiration = match (&parsed.ttl, &current) {
        (None, Some(old)) => old.expires.duration_since(now).unwrap_or_default(),
        (text, _) => match ttl(text.as_deref()) {
            Ok(expiration) => expiration,
            Err(response) => return response,
        },
    };
    let Some(value) = parsed
        .value
        .clone()
        .or_else(|| current.as_ref().map(|c| c.value.clone()))
    else {
        return invalid_argument("value is required.");
    };
    let sort_key = parsed
        .sort_key()
        .or_else(|| current.as_ref().and_then(|c| c.sort_key.clone()));
    let write = Write {
        value,
        expiration,
        sort_key,
    };
    if let Err(error) = stores.map_set(universe, &map, &item, write, None, now) {
        return store_error(&error);
    }
    match stores.map_get(universe, &map, &item, now) {
        Some(found) => axum::Json(item_json(universe, &map, &found)).into_response(),
        None => not_found("The item expired as it was written."),
    }
}

async fn delete_item(
    AxumState(shared): SharedState,
    Path((universe, map, item)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let universe = match admit(
        &shared,
        &headers,
        "memory-store.sorted-map:write",
        &universe,
    ) {
        Ok(universe) => universe,
        Err(response) => return response,
    };
    // Deleting a missing item succeeds, as the engine's RemoveAsync does (unconfirmed for
    // Open Cloud).
    shared
        .memory
        .lock()
        .map_remove(universe, &map, &item, SystemTime::now());
    axum::Json(json!({})).into_response()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    max_page_size: Option<String>,
    page_token: Option<String>,
    order_by: Option<String>,
    filter: Option<String>,
}

async fn list_items(
    AxumState(shared): SharedState,
    Path((universe, map)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let universe = match admit(&shared, &headers, "memory-store.sorted-map:read", &universe) {
        Ok(universe) => universe,
        Err(response) => return response,
    };
    let range = match list_range(&query) {
        Ok(range) => range,
        Err(response) => return response,
    };
    let page_size = range.count;
    // One more than the page, to know whether there is a next page.
    let mut ask = range.clone();
    ask.count = page_size + 1;
    let mut items = shared
        .memory
        .lock()
        .map_range(universe, &map, &ask, SystemTime::now());
    if let Err(response) = spend(
        &shared,
        universe,
        items.len().min(page_size).saturating_sub(1),
    ) {
        return response;
    }
    let more = items.len() > page_size;
    items.truncate(page_size);
    let mut body = Map::new();
    body.insert(
        "items".into(),
        Value::Array(items.iter().map(|i| item_json(universe, &map, i)).collect()),
    );
    if more && let Some(last) = items.last() {
        body.insert("nextPageToken".into(), json!(page_token(last)));
    }
    axum::Json(Value::Object(body)).into_response()
}

/// The range a list request asks for: its page size, direction, filter and page token.
fn list_range(query: &ListQuery) -> Result<Range, Response> {
    let count = match query.max_page_size.as_deref() {
        None | Some("") | Some("0") => 1,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| invalid_argument("Invalid maxPageSize."))?
            .min(MAX_PAGE_SIZE),
    };
    // Only `id` is documented for ordering; the map's own order (sort key, then id) is what
    // an order by id can mean for a sorted map (unconfirmed), ascending unless ` desc`.
    let descending = match query.order_by.as_deref().map(str::trim) {
        None | Some("") | Some("id") | Some("id asc") => false,
        Some("id desc") => true,
        Some(_) => return Err(invalid_argument("orderBy may only be `id` or `id desc`.")),
    };
    let (lower, upper) = match query.filter.as_deref().map(str::trim) {
        None | Some("") => (None, None),
        Some(text) => parse_filter(text).map_err(|m| invalid_argument(&m))?,
    };
    let after = match query.page_token.as_deref() {
        None | Some("") => None,
        Some(token) => {
            Some(read_page_token(token).ok_or_else(|| invalid_argument("Invalid pageToken."))?)
        }
    };
    Ok(Range {
        descending,
        count,
        lower,
        upper,
        after,
    })
}

/// A page token: the last item's sort key and id, as hex of JSON (opaque to clients).
fn page_token(item: &MapItem) -> String {
    let sort = match &item.sort_key {
        Some(SortKey::Number(n)) => json!(n),
        Some(SortKey::Text(t)) => json!({ "s": t }),
        None => Value::Null,
    };
    let text = json!([sort, item.key]).to_string();
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn read_page_token(token: &str) -> Option<(Option<SortKey>, String)> {
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    let parsed: Value = serde_json::from_slice(&bytes?).ok()?;
    let [sort, key] = parsed.as_array()?.as_slice() else {
        return None;
    };
    let sort = match sort {
        Value::Null => None,
        Value::Number(n) => Some(SortKey::Number(n.as_f64()?)),
        Value::Object(o) => Some(SortKey::Text(o.get("s")?.as_str()?.to_owned())),
        _ => return None,
    };
    Some((sort, key.as_str()?.to_owned()))
}

/// The CEL subset the schema allows: clauses `id` or `sortKey`, `<` or `>`, a literal (a
/// quoted string, or a number for `sortKey`), joined by `&&`. They become exclusive bounds,
/// as `GetRangeAsync`'s are.
fn parse_filter(text: &str) -> Result<(Option<Position>, Option<Position>), String> {
    let mut lower: Option<Position> = None;
    let mut upper: Option<Position> = None;
    for clause in text.split("&&").map(str::trim) {
        let (field, op, literal) =
            split_clause(clause).ok_or_else(|| format!("Invalid filter clause `{clause}`."))?;
        let bound = if op == '>' { &mut lower } else { &mut upper };
        let bound = bound.get_or_insert_with(Position::default);
        match field {
            "id" => bound.key = Some(string_literal(literal).ok_or("id takes a quoted string.")?),
            _ => {
                bound.sort_key = Some(match string_literal(literal) {
                    Some(text) => SortKey::Text(text),
                    None => SortKey::Number(
                        literal
                            .parse()
                            .map_err(|_| "sortKey takes a string or a number.")?,
                    ),
                })
            }
        }
    }
    Ok((lower, upper))
}

fn split_clause(clause: &str) -> Option<(&str, char, &str)> {
    let at = clause.find(['<', '>'])?;
    let field = clause[..at].trim();
    let op = clause[at..].chars().next()?;
    let literal = clause[at + 1..].trim();
    matches!(field, "id" | "sortKey").then_some((field, op, literal))
}

fn string_literal(literal: &str) -> Option<String> {
    let inner = literal.strip_prefix('"')?.strip_suffix('"')?;
    Some(inner.replace("\\\"", "\"").replace("\\\\", "\\"))
}

fn queue_item_json(universe: u64, queue: &str, item: &QueueItem) -> Value {
    json!({
        "path": format!("cloud/v2/universes/{universe}/memory-store/queues/{queue}/items/{}", item.id),
        "data": item.value,
        "priority": item.priority,
        "expireTime": rfc3339(item.expires),
        "id": item.id,
    })
}

#[derive(Deserialize)]
struct QueueItemBody {
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    priority: Option<f64>,
    ttl: Option<String>,
}

async fn add_queue_item(
    AxumState(shared): SharedState,
    Path((universe, queue)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let universe = match admit(&shared, &headers, "memory-store.queue:add", &universe) {
        Ok(universe) => universe,
        Err(response) => return response,
    };
    let Ok(parsed) = serde_json::from_slice::<QueueItemBody>(&body) else {
        return invalid_argument("The request body is not a MemoryStoreQueueItem.");
    };
    let expiration = match ttl(parsed.ttl.as_deref()) {
        Ok(expiration) => expiration,
        Err(response) => return response,
    };
    let Some(data) = parsed.data else {
        return invalid_argument("data is required.");
    };
    let added = shared.memory.lock().queue_add(
        universe,
        &queue,
        data,
        expiration,
        parsed.priority.unwrap_or(0.0),
        SystemTime::now(),
    );
    match added {
        Ok(item) => axum::Json(queue_item_json(universe, &queue, &item)).into_response(),
        Err(error) => store_error(&error),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ReadQuery {
    count: Option<String>,
    all_or_nothing: Option<bool>,
    invisibility_window: Option<String>,
}

async fn read_queue_items(
    AxumState(shared): SharedState,
    Path((universe, queue)): Path<(String, String)>,
    Query(query): Query<ReadQuery>,
    headers: HeaderMap,
) -> Response {
    let universe = match admit(&shared, &headers, "memory-store.queue:dequeue", &universe) {
        Ok(universe) => universe,
        Err(response) => return response,
    };
    let count = match query.count.as_deref() {
        None | Some("") => 1,
        Some(text) => match text.parse::<usize>() {
            Ok(count) if count > 0 => count.min(MAX_CLOUD_READ),
            _ => return invalid_argument("count must be a positive number."),
        },
    };
    let invisibility = match query.invisibility_window.as_deref() {
        None | Some("") => DEFAULT_INVISIBILITY,
        Some(text) => match parse_protobuf_duration(text).filter(|t| !t.is_zero()) {
            Some(window) => window,
            None => return invalid_argument("invisibilityWindow must be a duration over 0s."),
        },
    };
    let read = QueueRead {
        count,
        all_or_nothing: query.all_or_nothing.unwrap_or(false),
        invisibility,
    };
    let result = shared
        .memory
        .lock()
        .queue_read(universe, &queue, read, SystemTime::now());
    // allOrNothing with too few items: 404, as the schema says.
    let Some((read_id, items)) = result else {
        return not_found("The queue holds fewer items than requested.");
    };
    if let Err(response) = spend(&shared, universe, items.len().saturating_sub(1)) {
        return response;
    }
    let mut body = Map::new();
    if let Some(read_id) = read_id {
        body.insert("readId".into(), json!(read_id));
    }
    body.insert(
        "items".into(),
        Value::Array(
            items
                .iter()
                .map(|i| queue_item_json(universe, &queue, i))
                .collect(),
        ),
    );
    axum::Json(Value::Object(body)).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DiscardBody {
    read_id: String,
}

async fn discard_queue_items(
    AxumState(shared): SharedState,
    Path((universe, queue)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let universe = match admit(&shared, &headers, "memory-store.queue:discard", &universe) {
        Ok(universe) => universe,
        Err(response) => return response,
    };
    let Ok(parsed) = serde_json::from_slice::<DiscardBody>(&body) else {
        return invalid_argument("The request body needs a readId.");
    };
    shared
        .memory
        .lock()
        .queue_discard(universe, &queue, &parsed.read_id, SystemTime::now());
    axum::Json(json!({})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_exclusive_bounds() {
        let (lower, upper) =
            parse_filter(r#"id > "key-001" && id < "key-100" && sortKey > 5"#).expect("parses");
        let lower = lower.expect("a lower bound");
        assert_eq!(lower.key.as_deref(), Some("key-001"));
        assert_eq!(lower.sort_key, Some(SortKey::Number(5.0)));
        assert_eq!(upper.and_then(|u| u.key).as_deref(), Some("key-100"));
        assert!(parse_filter("value > 3").is_err());
        assert!(parse_filter("id > key").is_err());
    }

    #[test]
    fn page_tokens_round_trip() {
        for sort_key in [
            None,
            Some(SortKey::Number(2.5)),
            Some(SortKey::Text("x".into())),
        ] {
            let item = MapItem {
                key: "k\"1".into(),
                value: Value::Null,
                sort_key: sort_key.clone(),
                expires: SystemTime::UNIX_EPOCH,
                etag: 1,
            };
            assert_eq!(
                read_page_token(&page_token(&item)),
                Some((sort_key, "k\"1".to_owned()))
            );
        }
        assert_eq!(read_page_token("zz"), None);
    }
}
