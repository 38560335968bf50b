//! Work stealing for a sharded TestEZ suite (issue #21): the step's tasks take spec modules
//! from one shared counter instead of a fixed deal, so one slow module holds up only the task
//! that runs it and the step ends near (total work / shards).
//!
//! **The shared source.** The runner names one memory-store sorted map for the step,
//! `luau-exec-steal-{token}` ([`new_map_name`], written into every shard's bootstrap as
//! `workQueue`); it seeds nothing. Every task lists the same spec modules, sorted by full name
//! (every task runs on the same place version), and claims the next ones by incrementing the
//! map's item `next` with `UpdateAsync`, which Roblox applies atomically; claims shrink from a
//! share of what is left down to one module (`stealWork` in `results/bootstrap/common.luau`).
//! A module is claimed by exactly one task. The item expires an hour after the last claim, and
//! the runner deletes it when the step ends.
//!
//! **What the step knows.** Each task's envelope carries `work`: how many modules it listed,
//! which it ran, how many claims it made, and why it stopped early if it did ([`WorkLog`]).
//! The merge ([`crate::report::merge`]) counts every module no task reported as never run: the
//! modules of a task that died (the one it was running and those it finished, whose results
//! died with it) and any left when claiming failed. A step with such modules is never green.
//!
//! **When it is off.** `work-stealing: false`, one task, and Jest-Lua (split by root) keep the
//! static deal. On Open Cloud the runner first checks that the key may use the universe's
//! memory stores (`memory-store.sorted-map:read` and `:write`, the scopes the runner's own
//! listing and clean-up need); without them the step falls back to the static deal and says so
//! once ([`check_scopes`]).

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::api::memory_store::SortedMaps;
use crate::config::Plan;
use crate::report::TaskReport;
use crate::results::bootstrap::{self, Framework};

/// The prefix of a step's sorted map.
pub const MAP_PREFIX: &str = "luau-exec-steal-";
/// The item every task increments.
pub const COUNTER: &str = "next";
/// How long the runner's own memory-store calls may take (retries included): a throttled
/// universe (its request units are the tasks' too) must not hold the step up for a minute.
pub const SIDE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// A fresh map for one step.
pub fn new_map_name() -> String {
    crate::random::random_token(MAP_PREFIX)
}

/// The step's map, when its shards steal work.
pub fn map_of(config: &Plan) -> Option<&str> {
    config
        .units
        .iter()
        .find_map(|unit| unit.suite.as_ref()?.work_queue.as_deref())
}

/// What one task of a work-stealing step says it did (the envelope's `work`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct WorkLog {
    /// Spec modules the task listed (every task lists the same).
    pub total: usize,
    /// The full names of the modules it ran, in the order it ran them.
    #[serde(deserialize_with = "names")]
    pub ran: Vec<String>,
    /// `UpdateAsync` claims it made (the last finds nothing left).
    pub claims: usize,
    /// Why it stopped claiming before the list ran out.
    pub stopped: Option<String>,
    /// The claim that took longest: its first module, how many it held, and its seconds.
    pub slowest: Option<Slowest>,
}

/// A task's slowest claim. Claims shrink to one module as the list runs out, so a slow module
/// left to the end is named alone; a claim of several modules runs them as one TestEZ plan (one
/// plan per module doubled a large suite's CPU), so it is timed as a whole.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Slowest {
    pub name: String,
    pub modules: usize,
    pub seconds: f64,
}

impl Default for Slowest {
    fn default() -> Self {
        Self {
            name: String::new(),
            modules: 1,
            seconds: 0.0,
        }
    }
}

impl Slowest {
    /// The claim as the console names it.
    fn describe(&self) -> String {
        match self.modules {
            0 | 1 => format!("the slowest spec module, {},", self.name),
            more => format!(
                "the slowest claim, {} from {},",
                crate::text::count(more, "spec module", "spec modules"),
                self.name
            ),
        }
    }
}

/// Luau encodes an empty table as `[]` or `{}`; anything but strings is dropped.
fn names<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    Ok(match value {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::String(name) => Some(name),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    })
}

#[derive(Deserialize)]
struct WireFirst<'a> {
    #[serde(default, borrow)]
    work: Option<&'a RawValue>,
}

impl WorkLog {
    /// The `work` a task's first return value carries, if any.
    pub fn from_envelope(first: &str) -> Option<Self> {
        // Cheap test first: results may be megabytes, and most carry no work log.
        if !first.contains("\"work\"") {
            return None;
        }
        let wire: WireFirst<'_> = serde_json::from_str(first).ok()?;
        serde_json::from_str(wire.work?.get()).ok()
    }
}

/// What the tasks of a work-stealing step reported together.
#[derive(Debug, Default, PartialEq)]
pub struct Ledger {
    /// Modules listed by the tasks that reported (the largest count, if they disagree).
    pub total: Option<usize>,
    /// Every module reported run, with how many tasks ran it.
    pub ran: std::collections::BTreeMap<String, usize>,
    /// `label: why` of each task that stopped claiming early.
    pub stopped: Vec<String>,
}

impl Ledger {
    /// The ledger of `tasks` (in any order).
    pub fn of(tasks: &[TaskReport]) -> Self {
        let mut ledger = Self::default();
        for task in tasks {
            let Some(log) = &task.work else {
                continue;
            };
            ledger.total = Some(ledger.total.unwrap_or(0).max(log.total));
            for name in &log.ran {
                *ledger.ran.entry(name.clone()).or_default() += 1;
            }
            if let Some(why) = &log.stopped {
                ledger.stopped.push(format!("{}: {why}", task.name()));
            }
        }
        ledger
    }

    /// How many modules no task reported: what the tasks listed less what they ran, or, when
    /// no task reported, `None` (unknown).
    pub fn unreported(&self) -> Option<usize> {
        self.total.map(|total| total.saturating_sub(self.ran.len()))
    }

    /// Of `expected` (the sourcemap's spec modules, sorted), those no task reported. When the
    /// tasks reported every module they listed, none: a sourcemap that lists a module the place
    /// lacks must not make a green step red.
    pub fn never_ran<'a>(&self, expected: &'a [String]) -> Vec<&'a String> {
        if self.unreported() == Some(0) {
            return Vec::new();
        }
        expected
            .iter()
            .filter(|name| !self.ran.contains_key(*name))
            .collect()
    }

    /// Modules more than one task ran (the counter expired or was reset mid-step).
    pub fn ran_twice(&self) -> Vec<&str> {
        self.ran
            .iter()
            .filter(|(_, runs)| **runs > 1)
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

/// One line for the console: how many modules each task ran, and where the slowest ran, so a
/// reader sees the balance.
pub fn distribution(config: &Plan, tasks: &[TaskReport]) -> Option<String> {
    map_of(config)?;
    let mut slowest: Option<(Slowest, &str)> = None;
    let shares: Vec<String> = tasks
        .iter()
        .map(|task| match &task.work {
            Some(log) => {
                if let Some(own) = log.slowest.clone()
                    && slowest
                        .as_ref()
                        .is_none_or(|(s, _)| own.seconds > s.seconds)
                {
                    slowest = Some((own, task.name()));
                }
                format!(
                    "{} ran {} in {}",
                    task.name(),
                    crate::text::count(log.ran.len(), "spec module", "spec modules"),
                    crate::text::count(log.claims, "claim", "claims"),
                )
            }
            None => format!("{} reported nothing", task.name()),
        })
        .collect();
    let slowest = slowest.map_or(String::new(), |(claim, task)| {
        format!(
            "; {} took {:.1} s on {task}",
            claim.describe(),
            claim.seconds
        )
    });
    Some(format!("work stealing: {}{slowest}", shares.join(", ")))
}

/// The step as it runs without stealing: every shard's bootstrap deals its share by name.
pub fn static_deal(config: &Plan) -> Plan {
    let mut config = config.clone();
    for unit in &mut config.units {
        if let Some(suite) = &mut unit.suite
            && suite.work_queue.take().is_some()
        {
            unit.script = bootstrap::script(suite);
        }
    }
    config
}

/// Whether the step may steal work: on Open Cloud the key must reach the universe's memory
/// stores. Lists the step's (empty) map once; a 403 gives the step's static deal and the note
/// that says why, once. Another failure (or no answer within [`SIDE_PATIENCE`]) keeps
/// stealing: the tasks' own claims decide, and whatever they could not claim is reported as
/// never run.
pub async fn check_scopes(config: &Plan, store: &impl SortedMaps) -> Option<(Plan, String)> {
    let map = map_of(config)?;
    let listed = tokio::time::timeout(
        SIDE_PATIENCE,
        store.list_items(config.universe_id, map, None),
    );
    match listed.await {
        Ok(Err(error)) if error.lacks_scope() => Some((static_deal(config), no_scope_note())),
        _ => None,
    }
}

fn no_scope_note() -> String {
    "work-stealing: the API key lacks the scopes memory-store.sorted-map:read and memory-store.sorted-map:write, so the shards split the suite's spec modules by name in advance (the static deal)".to_owned()
}

/// Deletes the step's counter once every task is done (best effort, within [`SIDE_PATIENCE`]:
/// it expires on its own).
pub async fn clean_up(config: &Plan, store: &impl SortedMaps) {
    if let Some(map) = map_of(config) {
        let delete = store.delete_item(config.universe_id, map, COUNTER);
        let _ = tokio::time::timeout(SIDE_PATIENCE, delete).await;
    }
}

/// Whether `framework`'s shards can steal work (TestEZ's spec modules; Jest-Lua is split by
/// root and keeps the static deal).
pub fn supports(framework: Framework) -> bool {
    framework == Framework::TestEz
}

#[cfg(test)]
mod tests;
