//! Live progress (`live-progress: true`, issue #21): Open Cloud cannot stream a task's logs (they
//! arrive when it ends, and only the last 450 KB), so the task reports as it goes through a
//! side channel the runner reads while it waits: a memory-store sorted map of the universe,
//! one per task (`luau-exec-live-{token}`).
//!
//! **The task's side** ([`writer_source`]): `liveReport(entry)` buffers an entry (a test that
//! started or finished, with its status, message, location and log lines) and a background
//! thread writes the buffer as one item at most every 2 s, at once after a failure, and at the
//! end (`liveFlush()`); a test's start and end in one buffer are written as its end alone.
//! Items are keyed and sorted by a sequence number, expire after 10 minutes, and stay under the
//! 32 KB value limit; a write that fails (quota, throttling) is counted, not raised: the suite
//! never fails because its progress could not be shown. Writes are batched because each
//! `SetAsync` is a network call and a universe has 1,000 request units a minute.
//!
//! **The runner's side** ([`Reader`]): lists the map each poll, hands over the entries it has
//! not seen in order, and deletes the items it read, so the universe's 64 KB memory quota is
//! never filled by progress. Reading needs `memory-store.sorted-map:read` and `:write` on the
//! key: without them the reader says so once and the run goes on as without live progress
//! (the runner checks before the create, so such a task gets no writer: `Live::start`).
//!
//! **Wiring**: the bootstraps report through `live.luau` (TestEZ's session and Jest-Lua's
//! reporter dispatcher are watched); the runner puts [`prelude`] in front of the script and
//! follows the task with [`Live`] (`follow.rs`) beside its poll.

use std::collections::HashSet;

use serde_json::Value;

use crate::api::memory_store::SortedMaps;
use crate::api::model::{LogMessage, MessageType};

mod as_one_run;
mod follow;
pub use as_one_run::AsOneRun;
pub use follow::{Follow, Live, PROGRESS_EVERY, beside, script, with_last_test};

/// The most pages one poll lists (100 items each; the task writes an item every 2 s).
pub const MAX_PAGES: usize = 10;

/// How long a progress item lives if the runner never reads it.
pub const ITEM_TTL_SECONDS: u64 = 600;

/// The map a task reports into.
pub fn map_name(token: &str) -> String {
    format!("luau-exec-live-{token}")
}

/// One report from the task: a test that started, or ended with its status.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Entry {
    /// `started`, `passed`, `failed` or `skipped`.
    pub status: String,
    /// The test's path, as the results envelope names it (`["math", "adds"]`).
    pub path: Vec<String>,
    pub message: Option<String>,
    /// Where it failed, as the engine names it (`ReplicatedStorage.Tests.math.spec:7`).
    pub location: Option<String>,
    /// The log lines the test printed.
    pub logs: Vec<LogMessage>,
}

impl Entry {
    /// Reads one entry; anything malformed is left out. Read by hand rather than derived: the
    /// engine encodes an empty Luau table as `{}` or `[]`, and either means none.
    fn of(value: &Value) -> Option<Self> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let list = |key: &str| value.get(key).and_then(Value::as_array).cloned();
        let path = list("path")?
            .iter()
            .map(|part| match part {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect();
        let logs = list("logs")
            .unwrap_or_default()
            .iter()
            .filter_map(|line| {
                Some(LogMessage {
                    message: line.get("message")?.as_str()?.to_owned(),
                    create_time: None,
                    message_type: level(line.get("level").and_then(Value::as_str)),
                })
            })
            .collect();
        Some(Self {
            status: text("status")?,
            path,
            message: text("message"),
            location: text("location"),
            logs,
        })
    }

    /// The test's name as one line, as the reports show it.
    pub fn title(&self) -> String {
        self.path.join(" › ")
    }
}

/// `Enum.MessageType`'s names, as Open Cloud's logs name them.
fn level(name: Option<&str>) -> MessageType {
    match name {
        Some("MessageWarning") => MessageType::Warning,
        Some("MessageError") => MessageType::Error,
        Some("MessageInfo") => MessageType::Info,
        _ => MessageType::Output,
    }
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
    /// The batches read (by sequence): two writes of the task may land out of order, so a
    /// batch older than one read is still new.
    seen: HashSet<u64>,
    /// Entries read and not yet handed over: a poll cut short (the task ended while it read)
    /// hands them over next time.
    pending: Vec<Entry>,
    off: bool,
}

impl Reader {
    pub fn new(universe: u64, map: String) -> Self {
        Self {
            universe,
            map,
            seen: HashSet::new(),
            pending: Vec::new(),
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
        // A server that keeps answering with page tokens is left for the next poll.
        for _ in 0..MAX_PAGES {
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
        for (seq, id, batch) in batches {
            if self.seen.insert(seq) {
                self.pending.extend(batch);
            }
            // Best effort: an item left behind expires on its own.
            let _ = store.delete_item(self.universe, &self.map, &id).await;
        }
        Polled {
            entries: std::mem::take(&mut self.pending),
            note: None,
        }
    }
}

fn parse_batch(value: &Value) -> Vec<Entry> {
    value
        .get("entries")
        .and_then(Value::as_array)
        .map(|entries| entries.iter().filter_map(Entry::of).collect())
        .unwrap_or_default()
}

fn no_scope_note() -> String {
    "live-progress: the API key lacks the scopes memory-store.sorted-map:read and memory-store.sorted-map:write, so test results show when the task ends, as without live progress".to_owned()
}

/// How often the task writes what it buffered (a failure is written at once): every write is
/// a request unit of the universe's memory-store budget (1,000 a minute, shared by every task
/// and the runner's reads).
pub const WRITE_EVERY_SECONDS: u64 = 2;

/// A failure is written at once, unless a write went out less than this long ago: then that
/// soon after it, so a burst of failures costs a few writes a second, not one each.
pub const FAILURE_GAP_SECONDS: f64 = 0.5;

/// The Luau the task runs before the suite: `liveReport(entry)` and `liveFlush()`, writing to
/// `map`. Texts are cut (on a character boundary: a value that is not UTF-8 would fail its whole
/// write) to keep each item under the 32 KB limit.
pub fn writer_source(map: &str) -> String {
    format!(
        r#"local liveMapName = {map:?}
local live = {{ seq = 0, buffer = {{}}, bytes = 0, dropped = 0, scheduled = false, urgent = false, last = -1 }}
local function liveWrite()
	live.scheduled = false
	if #live.buffer == 0 then return end
	live.last = time()
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
local function liveCut(text, limit)
	if type(text) ~= "string" or #text <= limit then return text end
	local stop = limit
	while stop > 0 and bit32.band(string.byte(text, stop + 1), 0xC0) == 0x80 do stop -= 1 end
	return string.sub(text, 1, stop) .. "…"
end
local function liveSize(text)
	if type(text) ~= "string" then return 0 end
	local _, escaped = string.gsub(text, '[%c"\\]', "")
	return #text + 5 * escaped + 2
end
function liveReport(entry)
	entry.message = liveCut(entry.message, 4000)
	local size = 64 + liveSize(entry.message)
	for _, part in entry.path do size += liveSize(tostring(part)) + 2 end
	local logs = entry.logs or {{}}
	for _, line in logs do size += liveSize(line.message) + 32 end
	local cut = 0
	while size > 24000 and #logs > 0 do
		size -= liveSize(table.remove(logs).message) + 32
		cut += 1
	end
	if cut > 0 then table.insert(logs, {{ message = string.format("… %d more log lines left out to fit a memory-store item", cut), level = "MessageInfo" }}) end
	local last = live.buffer[#live.buffer]
	if entry.status ~= "started" and last ~= nil and last.status == "started" and table.concat(last.path, "\0") == table.concat(entry.path, "\0") then
		table.remove(live.buffer)
	end
	if live.bytes + size > 24000 then liveWrite() end
	table.insert(live.buffer, entry)
	live.bytes += size
	if entry.status == "failed" then
		local wait = live.last + {gap} - time()
		if wait <= 0 then
			task.spawn(liveWrite)
		elseif not live.urgent then
			live.urgent = true
			task.delay(wait, function() live.urgent = false liveWrite() end)
		end
	elseif not live.scheduled then
		live.scheduled = true
		task.delay({every}, liveWrite)
	end
end
"#,
        ttl = ITEM_TTL_SECONDS,
        every = WRITE_EVERY_SECONDS,
        gap = FAILURE_GAP_SECONDS,
    )
}

/// [`writer_source`] on one line, to go in front of the script on its first line, so every
/// line number of the script stays as it was (as the place-version guard does).
pub fn prelude(map: &str) -> String {
    writer_source(map)
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        + " "
}

#[cfg(test)]
mod tests;
