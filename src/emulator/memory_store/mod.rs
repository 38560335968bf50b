//! MemoryStoreService's data in the emulator: sorted maps and queues, shared per universe by
//! every task (`MemoryStoreService` in `dom/services/memory_store_service.rs`) and by the Open
//! Cloud routes (`http.rs`), with expirations and the limits Roblox publishes.
//!
//! Sources: Roblox's engine reference for `MemoryStoreSortedMap` and `MemoryStoreQueue`, the
//! guide pages `cloud-services/memory-stores/{index,sorted-map,queue}.md` and the Open Cloud
//! schema (`Cloud_*MemoryStoreSortedMapItem*`, `Cloud_*MemoryStoreQueueItems*`), all in
//! `Roblox/creator-docs`. Where they are silent the choice is marked "unconfirmed" here and in
//! the README ("Warm and live runs on Roblox").
//!
//! Expired items vanish lazily: every operation on a structure drops its expired items first,
//! so what a reader sees is what Roblox would show.

pub(super) mod http;

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

/// Keys of sorted maps are at most 128 characters (the sorted-map guide).
pub const MAX_KEY_CHARS: usize = 128;
/// String sort keys are at most 128 characters (the sorted-map guide).
pub const MAX_SORT_KEY_CHARS: usize = 128;
/// A value is at most 32 KB ("ItemValueSizeTooLarge: Value size exceeds limit (32KB)"),
/// measured as its JSON. Whether Roblox counts 32,000 or 32,768 bytes is unconfirmed: 32,768.
pub const MAX_VALUE_BYTES: usize = 32 * 1024;
/// The longest expiration: 45 days ("must be between 0 and 3,888,000").
pub const MAX_EXPIRATION: Duration = Duration::from_secs(3_888_000);
/// Items one sorted map or queue may hold.
pub const MAX_ITEMS: usize = 1_000_000;
/// Bytes one sorted map or queue may hold, keys included ("100 MB").
pub const MAX_STRUCTURE_BYTES: usize = 100 * 1000 * 1000;
/// A universe's memory quota is 64 KB + 1.2 KB per user in the experience; a test universe
/// has no users while tasks run, so 64 KB. Writes that would grow past it fail.
pub const MEMORY_QUOTA_BYTES: usize = 64 * 1024;
/// Request units a universe may spend a minute: 1000 + 120 per concurrent user (applied with
/// `serve --roblox-limits` only). Open Cloud's memory-store requests are counted in the same
/// budget (unconfirmed).
pub const REQUEST_UNITS_PER_MINUTE: usize = 1000;
/// `GetRangeAsync` returns at most 200 items.
pub const MAX_RANGE_COUNT: usize = 200;
/// `ReadAsync` reads at most 100 items; Open Cloud's `items:read` coerces counts to 200.
pub const MAX_ENGINE_READ: usize = 100;
pub const MAX_CLOUD_READ: usize = 200;
/// Read items stay invisible this long unless the queue or the request says otherwise.
pub const DEFAULT_INVISIBILITY: Duration = Duration::from_secs(30);

/// Why a memory-store operation failed, by the status names of Roblox's observability table.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreError {
    InvalidRequest(String),
    InvalidExpiration,
    KeyTooLong,
    SortKeyTooLong,
    ValueTooLarge,
    ItemsOverLimit,
    StructureMemoryOverLimit,
    TotalMemoryOverLimit,
    RequestsOverLimit,
}

impl StoreError {
    /// The engine's error text: Roblox's status name and its documented description (the exact
    /// wording of the engine's error message is unconfirmed).
    pub fn message(&self) -> String {
        match self {
            Self::InvalidRequest(what) => format!("InvalidRequest: {what}"),
            Self::InvalidExpiration => {
                "InvalidExpirationTime: The field 'expiration' time must be between 0 and 3,888,000."
                    .into()
            }
            Self::KeyTooLong => "InvalidRequest: The key is longer than 128 characters.".into(),
            Self::SortKeyTooLong => {
                "InvalidRequest: The sort key is longer than 128 characters.".into()
            }
            Self::ValueTooLarge => "ItemValueSizeTooLarge: Value size exceeds limit (32KB).".into(),
            Self::ItemsOverLimit => {
                "DataStructureItemsOverLimit: Exceeds data structure level item count limit (1M)."
                    .into()
            }
            Self::StructureMemoryOverLimit => {
                "DataStructureMemoryOverLimit: Exceeds data structure level memory size limit (100MB)."
                    .into()
            }
            Self::TotalMemoryOverLimit => {
                "TotalMemoryOverLimit: Exceeds universe-level memory quota.".into()
            }
            Self::RequestsOverLimit => {
                "RequestThrottled: Recent MemoryStores requests hit one or more limits.".into()
            }
        }
    }
}

/// A sorted-map item's optional sort key.
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    Number(f64),
    Text(String),
}

/// Where an item sits in a sorted map: numeric sort keys first, then string sort keys, then
/// none; equal sort keys (and none) by key. A bound is a position too (either part optional).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Position {
    pub sort_key: Option<SortKey>,
    pub key: Option<String>,
}

fn sort_rank(key: &Option<SortKey>) -> u8 {
    match key {
        Some(SortKey::Number(_)) => 0,
        Some(SortKey::Text(_)) => 1,
        None => 2,
    }
}

fn compare_sort_keys(a: &Option<SortKey>, b: &Option<SortKey>) -> Ordering {
    match (a, b) {
        (Some(SortKey::Number(x)), Some(SortKey::Number(y))) => x.total_cmp(y),
        (Some(SortKey::Text(x)), Some(SortKey::Text(y))) => x.cmp(y),
        _ => sort_rank(a).cmp(&sort_rank(b)),
    }
}

/// Orders an item against a bound. A bound without a sort key compares by key alone; one
/// without a key compares by sort key alone (how Roblox treats a half-given bound is
/// unconfirmed).
fn compare_to_bound(item: &MapItem, bound: &Position) -> Ordering {
    let by_sort = match &bound.sort_key {
        Some(_) => compare_sort_keys(&item.sort_key, &bound.sort_key),
        None if bound.key.is_some() => Ordering::Equal,
        None => compare_sort_keys(&item.sort_key, &None),
    };
    by_sort.then_with(|| match &bound.key {
        Some(key) => item.key.as_str().cmp(key),
        None => Ordering::Equal,
    })
}

fn compare_items(a: &MapItem, b: &MapItem) -> Ordering {
    compare_sort_keys(&a.sort_key, &b.sort_key).then_with(|| a.key.cmp(&b.key))
}

#[derive(Debug, Clone, PartialEq)]
pub struct MapItem {
    pub key: String,
    pub value: Value,
    pub sort_key: Option<SortKey>,
    pub expires: SystemTime,
    /// Changes on every write: `UpdateAsync` saves only if it is unchanged since its read.
    pub etag: u64,
}

impl MapItem {
    fn bytes(&self) -> usize {
        let sort = match &self.sort_key {
            Some(SortKey::Text(text)) => text.len(),
            Some(SortKey::Number(_)) => 8,
            None => 0,
        };
        self.key.len() + value_bytes(&self.value) + sort
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    pub id: String,
    pub value: Value,
    pub priority: f64,
    pub expires: SystemTime,
    order: u64,
    /// Set by a read: the item is invisible to other reads until then, and the read's id
    /// removes it.
    read: Option<(String, SystemTime)>,
}

impl QueueItem {
    fn bytes(&self) -> usize {
        value_bytes(&self.value) + 8
    }
}

fn value_bytes(value: &Value) -> usize {
    serde_json::to_string(value).map_or(0, |text| text.len())
}

#[derive(Default)]
struct SortedMap {
    items: BTreeMap<String, MapItem>,
}

#[derive(Default)]
struct Queue {
    items: Vec<QueueItem>,
}

#[derive(Default)]
struct Universe {
    maps: HashMap<String, SortedMap>,
    queues: HashMap<String, Queue>,
    /// Request units spent in the last minute, for the quota.
    spent: VecDeque<(Instant, usize)>,
}

impl Universe {
    fn drop_expired(&mut self, now: SystemTime) {
        for map in self.maps.values_mut() {
            map.items.retain(|_, item| item.expires > now);
        }
        for queue in self.queues.values_mut() {
            queue.items.retain(|item| item.expires > now);
        }
        self.maps.retain(|_, map| !map.items.is_empty());
        self.queues.retain(|_, queue| !queue.items.is_empty());
    }

    fn bytes(&self) -> usize {
        let maps: usize = self
            .maps
            .values()
            .flat_map(|m| m.items.values())
            .map(MapItem::bytes)
            .sum();
        let queues: usize = self
            .queues
            .values()
            .flat_map(|q| q.items.iter())
            .map(QueueItem::bytes)
            .sum();
        maps + queues
    }
}

/// Every universe's memory stores. Shared by the HTTP handlers and the task workers.
#[derive(Default)]
pub struct Stores {
    universes: HashMap<u64, Universe>,
    /// Whether the request-unit quota applies (`serve --roblox-limits`).
    pub request_quota: bool,
    next_id: u64,
}

/// The stores behind a lock, as the emulator's state and each task hold them.
#[derive(Clone, Default)]
pub struct SharedStores(Arc<Mutex<Stores>>);

impl std::fmt::Debug for SharedStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedStores")
    }
}

impl SharedStores {
    pub fn new(request_quota: bool) -> Self {
        Self(Arc::new(Mutex::new(Stores {
            request_quota,
            ..Stores::default()
        })))
    }

    /// The stores; a panicked holder does not poison them for everyone else.
    pub fn lock(&self) -> MutexGuard<'_, Stores> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What a write asks for: the value, its lifetime and (for sorted maps) its sort key.
pub struct Write {
    pub value: Value,
    pub expiration: Duration,
    pub sort_key: Option<SortKey>,
}

/// Checks an expiration in seconds as the engine takes it.
pub fn expiration(seconds: f64) -> Result<Duration, StoreError> {
    if !seconds.is_finite() || seconds < 0.0 || seconds > MAX_EXPIRATION.as_secs_f64() {
        return Err(StoreError::InvalidExpiration);
    }
    Ok(Duration::from_secs_f64(seconds))
}

impl Stores {
    fn universe(&mut self, universe: u64, now: SystemTime) -> &mut Universe {
        let found = self.universes.entry(universe).or_default();
        found.drop_expired(now);
        found
    }

    /// Spends request units from the universe's budget, when the quota applies.
    pub fn spend(&mut self, universe: u64, units: usize) -> Result<(), StoreError> {
        if !self.request_quota {
            return Ok(());
        }
        const MINUTE: Duration = Duration::from_secs(60);
        let now = Instant::now();
        let spent = &mut self.universes.entry(universe).or_default().spent;
        while spent
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) >= MINUTE)
        {
            spent.pop_front();
        }
        let total: usize = spent.iter().map(|(_, units)| units).sum();
        if total + units.max(1) > REQUEST_UNITS_PER_MINUTE {
            return Err(StoreError::RequestsOverLimit);
        }
        spent.push_back((now, units.max(1)));
        Ok(())
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:016x}{}", self.next_id, crate::random::random_token(""))
    }

    /// A sorted map's item, if it is there and unexpired.
    pub fn map_get(
        &mut self,
        universe: u64,
        map: &str,
        key: &str,
        now: SystemTime,
    ) -> Option<MapItem> {
        let universe = self.universe(universe, now);
        universe.maps.get(map)?.items.get(key).cloned()
    }

    /// Sets a sorted map's item. With `if_etag`, only if the item is unchanged since a read
    /// gave that tag (`Some(None)`: only if it is still missing). Gives whether it saved and
    /// whether the key was new.
    pub fn map_set(
        &mut self,
        universe: u64,
        map: &str,
        key: &str,
        write: Write,
        if_etag: Option<Option<u64>>,
        now: SystemTime,
    ) -> Result<Saved, StoreError> {
        check_key(key)?;
        if let Some(SortKey::Text(text)) = &write.sort_key
            && text.chars().count() > MAX_SORT_KEY_CHARS
        {
            return Err(StoreError::SortKeyTooLong);
        }
        if value_bytes(&write.value) > MAX_VALUE_BYTES {
            return Err(StoreError::ValueTooLarge);
        }
        let etag = self.next_id + 1;
        self.next_id = etag;
        let found = self.universe(universe, now);
        let current = found.maps.get(map).and_then(|m| m.items.get(key));
        if let Some(expected) = if_etag
            && current.map(|item| item.etag) != expected
        {
            return Ok(Saved::Conflict);
        }
        let item = MapItem {
            key: key.to_owned(),
            value: write.value,
            sort_key: write.sort_key,
            expires: now + write.expiration,
            etag,
        };
        let old_bytes = current.map_or(0, MapItem::bytes);
        let added = current.is_none();
        let structure = found.maps.get(map).map_or(0, |m| m.items.len());
        if added && structure >= MAX_ITEMS {
            return Err(StoreError::ItemsOverLimit);
        }
        let structure_bytes: usize = found
            .maps
            .get(map)
            .map_or(0, |m| m.items.values().map(MapItem::bytes).sum());
        check_growth(found.bytes(), structure_bytes, old_bytes, item.bytes())?;
        found
            .maps
            .entry(map.to_owned())
            .or_default()
            .items
            .insert(key.to_owned(), item);
        Ok(Saved::Saved { added })
    }

    /// Removes a sorted map's item; gives whether it was there.
    pub fn map_remove(&mut self, universe: u64, map: &str, key: &str, now: SystemTime) -> bool {
        let found = self.universe(universe, now);
        let removed = found
            .maps
            .get_mut(map)
            .and_then(|m| m.items.remove(key))
            .is_some();
        found.maps.retain(|_, m| !m.items.is_empty());
        removed
    }

    /// Items strictly between the bounds, in map order or reversed, at most `count`.
    pub fn map_range(
        &mut self,
        universe: u64,
        map: &str,
        range: &Range,
        now: SystemTime,
    ) -> Vec<MapItem> {
        let found = self.universe(universe, now);
        let Some(map) = found.maps.get(map) else {
            return Vec::new();
        };
        let mut items: Vec<&MapItem> = map
            .items
            .values()
            .filter(|item| {
                range
                    .lower
                    .as_ref()
                    .is_none_or(|b| compare_to_bound(item, b) == Ordering::Greater)
            })
            .filter(|item| {
                range
                    .upper
                    .as_ref()
                    .is_none_or(|b| compare_to_bound(item, b) == Ordering::Less)
            })
            .collect();
        items.sort_by(|a, b| compare_items(a, b));
        if range.descending {
            items.reverse();
        }
        if let Some((sort_key, key)) = &range.after {
            let past = |item: &&MapItem| {
                let order = compare_sort_keys(&item.sort_key, sort_key).then(item.key.cmp(key));
                if range.descending {
                    order == Ordering::Less
                } else {
                    order == Ordering::Greater
                }
            };
            items.retain(past);
        }
        items.into_iter().take(range.count).cloned().collect()
    }

    /// How many items a sorted map holds.
    pub fn map_size(&mut self, universe: u64, map: &str, now: SystemTime) -> usize {
        let found = self.universe(universe, now);
        found.maps.get(map).map_or(0, |m| m.items.len())
    }

    /// Adds an item to a queue; gives it.
    pub fn queue_add(
        &mut self,
        universe: u64,
        queue: &str,
        value: Value,
        expiration: Duration,
        priority: f64,
        now: SystemTime,
    ) -> Result<QueueItem, StoreError> {
        if value_bytes(&value) > MAX_VALUE_BYTES {
            return Err(StoreError::ValueTooLarge);
        }
        let id = self.new_id();
        let order = self.next_id;
        let found = self.universe(universe, now);
        let item = QueueItem {
            id,
            value,
            priority,
            expires: now + expiration,
            order,
            read: None,
        };
        let existing = found.queues.get(queue).map_or(0, |q| q.items.len());
        if existing >= MAX_ITEMS {
            return Err(StoreError::ItemsOverLimit);
        }
        let structure_bytes: usize = found
            .queues
            .get(queue)
            .map_or(0, |q| q.items.iter().map(QueueItem::bytes).sum());
        check_growth(found.bytes(), structure_bytes, 0, item.bytes())?;
        found
            .queues
            .entry(queue.to_owned())
            .or_default()
            .items
            .push(item.clone());
        Ok(item)
    }

    /// Reads up to `count` visible items, highest priority first and oldest first within a
    /// priority, making them invisible for `invisibility`. `None` when `all_or_nothing` and
    /// fewer are there; no read id when nothing was read.
    pub fn queue_read(
        &mut self,
        universe: u64,
        queue: &str,
        read: QueueRead,
        now: SystemTime,
    ) -> Option<(Option<String>, Vec<QueueItem>)> {
        let read_id = self.new_id();
        let found = self.universe(universe, now);
        let Some(queue) = found.queues.get_mut(queue) else {
            return (!read.all_or_nothing || read.count == 0).then(|| (None, Vec::new()));
        };
        let mut visible: Vec<&mut QueueItem> = queue
            .items
            .iter_mut()
            .filter(|item| item.read.as_ref().is_none_or(|(_, until)| *until <= now))
            .collect();
        visible.sort_by(|a, b| {
            b.priority
                .total_cmp(&a.priority)
                .then(a.order.cmp(&b.order))
        });
        if read.all_or_nothing && visible.len() < read.count {
            return None;
        }
        let taken: Vec<QueueItem> = visible
            .into_iter()
            .take(read.count)
            .map(|item| {
                item.read = Some((read_id.clone(), now + read.invisibility));
                item.clone()
            })
            .collect();
        let id = (!taken.is_empty()).then_some(read_id);
        Some((id, taken))
    }

    /// Removes the items a read took, if its invisibility has not run out (after that, the
    /// call has no effect, as the engine reference says). Gives how many it removed.
    pub fn queue_discard(
        &mut self,
        universe: u64,
        queue: &str,
        read_id: &str,
        now: SystemTime,
    ) -> usize {
        let found = self.universe(universe, now);
        let Some(items) = found.queues.get_mut(queue) else {
            return 0;
        };
        let before = items.items.len();
        items.items.retain(|item| {
            !item
                .read
                .as_ref()
                .is_some_and(|(id, until)| id == read_id && *until > now)
        });
        let removed = before - items.items.len();
        found.queues.retain(|_, q| !q.items.is_empty());
        removed
    }

    /// How many items a queue holds (the visible ones only, when asked).
    pub fn queue_size(
        &mut self,
        universe: u64,
        queue: &str,
        exclude_invisible: bool,
        now: SystemTime,
    ) -> usize {
        let found = self.universe(universe, now);
        found.queues.get(queue).map_or(0, |q| {
            q.items
                .iter()
                .filter(|item| {
                    !exclude_invisible || item.read.as_ref().is_none_or(|(_, until)| *until <= now)
                })
                .count()
        })
    }
}

/// What a conditional sorted-map write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Saved {
        added: bool,
    },
    /// The item changed since it was read.
    Conflict,
}

/// A range of a sorted map.
#[derive(Debug, Clone, Default)]
pub struct Range {
    pub descending: bool,
    pub count: usize,
    pub lower: Option<Position>,
    pub upper: Option<Position>,
    /// Continue past this item (a page token): its sort key and key, in the range's direction.
    pub after: Option<(Option<SortKey>, String)>,
}

/// A queue read's parameters.
#[derive(Debug, Clone, Copy)]
pub struct QueueRead {
    pub count: usize,
    pub all_or_nothing: bool,
    pub invisibility: Duration,
}

fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::InvalidRequest("The key is empty.".into()));
    }
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(StoreError::KeyTooLong);
    }
    Ok(())
}

/// Refuses a write that grows a structure past 100 MB or the universe past its quota; one that
/// shrinks or keeps the size succeeds, as the guide says.
fn check_growth(
    universe_bytes: usize,
    structure_bytes: usize,
    old: usize,
    new: usize,
) -> Result<(), StoreError> {
    if new <= old {
        return Ok(());
    }
    if structure_bytes - old.min(structure_bytes) + new > MAX_STRUCTURE_BYTES {
        return Err(StoreError::StructureMemoryOverLimit);
    }
    if universe_bytes - old.min(universe_bytes) + new > MEMORY_QUOTA_BYTES {
        return Err(StoreError::TotalMemoryOverLimit);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
