//! Live progress (`live-progress: true`, issue #21): Open Cloud cannot stream a task's logs (they
//! arrive when it ends, and only the last 450 KB), so the task reports as it goes through a
//! side channel the runner reads while it waits: a memory-store sorted map of the universe,
//! one per task (`luau-exec-live-{token}`).
//!
//! **The task's side** ([`writer_source`]): `liveReport(entry)` buffers an entry (a test that
//! started or finished, with its status and message) and a background thread writes the buffer
//! as one item at most every second, at once after a failure, and at the end (`liveFlush()`).
//! Items are keyed and sorted by a sequence number, expire after 10 minutes, and stay under the
//! 32 KB value limit; a write that fails (quota, throttling) is counted, not raised: the suite
//! never fails because its progress could not be shown. Writes are batched because each
//! `SetAsync` is a network call and a universe has 1,000 request units a minute.
//!
//! **The runner's side** ([`Reader`]): lists the map each poll, hands over the entries it has
//! not seen in order, and deletes the items it read, so the universe's 64 KB memory quota is
//! never filled by progress. Reading needs `memory-store.sorted-map:read` and `:write` on the
//! key: without them the reader says so once and the run goes on as without live progress.
//!
//! Not wired yet: the bootstraps (`results/bootstrap/`) and the runner's wait loop are to call
//! these.

use serde::Deserialize;
use serde_json::Value;

use crate::api::memory_store::SortedMaps;

/// How long a progress item lives if the runner never reads it.
pub const ITEM_TTL_SECONDS: u64 = 600;

/// The map a task reports into.
pub fn map_name(token: &str) -> String {
    format!("luau-exec-live-{token}")
}

/// One report from the task.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// `started`, `passed`, `failed` or `skipped`.
    pub status: String,
    /// The test's full name.
    pub name: String,
    #[serde(default)]
    pub message: Option<String>,
}

/// What a poll gave.
#[derive(Debug, Default, PartialEq)]
pub struct Polled {
    /// New entries, in the order the task reported them.
    pub entries: Vec<Entry>,
    /// A line to show once (why live progress is off).
    pub note: Option<String>,
}

/// Reads one task's progress map.
#[derive(Debug)]
pub struct Reader {
    universe: u64,
    map: String,
    /// The highest batch sequence handed over.
    seen: u64,
    off: bool,
}

impl Reader {
    pub fn new(universe: u64, map: String) -> Self {
        Self {
            universe,
            map,
            seen: 0,
            off: false,
        }
    }

    /// Whether the reader gave up (no scope).
    pub fn is_off(&self) -> bool {
        self.off
    }

    /// Lists the map, hands over what is new, deletes what it read. A transient failure gives
    /// nothing this time (the items stay for the next poll).
    pub async fn poll(&mut self, store: &impl SortedMaps) -> Polled {
        if self.off {
            return Polled::default();
        }
        let mut batches: Vec<(u64, String, Vec<Entry>)> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = match store
                .list_items(self.universe, &self.map, token.as_deref())
                .await
            {
                Ok(page) => page,
                Err(error) if error.lacks_scope() => {
                    self.off = true;
                    return Polled {
                        entries: Vec::new(),
                        note: Some(no_scope_note()),
                    };
                }
                Err(_) => break,
            };
            for item in page.items {
                let seq = item.id.parse::<u64>().unwrap_or(0);
                batches.push((seq, item.id, parse_batch(&item.value)));
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        batches.sort_by_key(|(seq, _, _)| *seq);
        let mut entries = Vec::new();
        for (seq, id, batch) in batches {
            if seq > self.seen {
                self.seen = seq;
                entries.extend(batch);
            }
            // Best effort: an item left behind expires on its own.
            let _ = store.delete_item(self.universe, &self.map, &id).await;
        }
        Polled {
            entries,
            note: None,
        }
    }
}

fn parse_batch(value: &Value) -> Vec<Entry> {
    value
        .get("entries")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| serde_json::from_value(e.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn no_scope_note() -> String {
    "live-progress: the API key lacks the scopes memory-store.sorted-map:read and memory-store.sorted-map:write, so test results show when the task ends, as without live progress".to_owned()
}

/// The Luau the task runs before the suite: `liveReport(entry)` and `liveFlush()`, writing to
/// `map`. Values are cut to stay under the 32 KB item limit.
pub fn writer_source(map: &str) -> String {
    format!(
        r#"local liveMapName = {map:?}
local live = {{ seq = 0, buffer = {{}}, bytes = 0, dropped = 0, scheduled = false }}
local function liveWrite()
	live.scheduled = false
	if #live.buffer == 0 then return end
	local batch = live.buffer
	live.buffer, live.bytes = {{}}, 0
	live.seq += 1
	local seq = live.seq
	local ok = pcall(function()
		live.map = live.map or game:GetService("MemoryStoreService"):GetSortedMap(liveMapName)
		live.map:SetAsync(string.format("%012d", seq), {{ entries = batch }}, {ttl}, seq)
	end)
	if not ok then live.dropped += #batch end
end
function liveFlush()
	liveWrite()
end
function liveReport(entry)
	if type(entry.message) == "string" and #entry.message > 4000 then
		entry.message = string.sub(entry.message, 1, 4000) .. "…"
	end
	local size = #entry.name + (entry.message and #entry.message or 0) + 64
	if live.bytes + size > 28000 then liveWrite() end
	table.insert(live.buffer, entry)
	live.bytes += size
	if entry.status == "failed" then
		task.spawn(liveWrite)
	elseif not live.scheduled then
		live.scheduled = true
		task.delay(1, liveWrite)
	end
end
"#,
        ttl = ITEM_TTL_SECONDS
    )
}

#[cfg(test)]
mod tests;
