//! Reusing an unchanged place, and optimistic pinning (issue #21): the runner-side logic, apart
//! from the runner so it can be tested against fakes of Open Cloud.
//!
//! **Where the place's identity lives.** After each upload the runner records, in a memory-store
//! sorted map of the universe ([`RECORD_MAP`]), which version holds which bytes: the item
//! `place-{place}` lists the place's last [`RECORDS_PER_PLACE`] uploads (SHA-256 and version),
//! newest first, so records stay a few KB whatever the number of builds. The record lives on
//! Roblox, so an ephemeral CI runner finds it as well as a laptop does; it expires 45 days after
//! the place's last upload (Roblox's longest expiration). A place version never changes once uploaded, so a
//! record read back names a version holding exactly these bytes: the guess "this version is the
//! user's build" can only be wrong if someone wrote a false record by hand.
//!
//! **What a task proves.** A task of a reused version (any task of the step, one or many) is
//! first created at the place's head (40 creates a minute, against 5 pinned, and head's servers
//! may be warm; a version this step uploads is cold anyway, and pinned at once), with a
//! guard before the script: `game.PlaceVersion` must be the expected version, else the task
//! returns a sentinel at once and runs nothing of the user's. Create answers with the task's
//! path, which names the version it runs on: when that is not the expected one (someone
//! uploaded since), the runner creates the task again pinned to the version, so tests never
//! run on another build. Cost of a wrong guess: one extra create, a head task that ends at its
//! guard, and a pinned task that boots cold.
//!
//! **Without the scope.** The records need `memory-store.sorted-map:read` and `:write`. A key
//! without them gets 403: the runner says so once and uploads as it always did.

use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};

use crate::api::ApiError;
use crate::api::TaskApi;
use crate::api::memory_store::{MapItem, SortedMaps};
use crate::api::model::{CreateTaskRequest, Task};

/// The sorted map that records uploaded versions by content.
pub const RECORD_MAP: &str = "luau-exec-place-versions";
/// How long a record lasts after the upload that wrote it: Roblox's longest expiration.
pub const RECORD_TTL: Duration = Duration::from_secs(3_888_000);
/// What a guarded task returns first when it booted on another version.
const SENTINEL_PREFIX: &str = "luau-exec: wrong place version ";

/// A place file's identity: the SHA-256 of its bytes, in hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceIdentity(String);

impl PlaceIdentity {
    pub fn of(bytes: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        Self(digest.as_ref().iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn hex(&self) -> &str {
        &self.0
    }
}

/// One item per place, `place-{place}`: the last [`RECORDS_PER_PLACE`] uploads, newest first.
/// Bounded, so records never fill the universe's memory quota (64 KB with nobody playing).
fn record_id(place: u64) -> String {
    format!("place-{place}")
}

/// The uploads a place's record remembers: enough for the builds a CI alternates between.
pub const RECORDS_PER_PLACE: usize = 16;

/// What the records say about a place file.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// A version holding exactly these bytes.
    Found(u64),
    /// Not uploaded (or its record expired or was pushed out); the place's record as read.
    Missing(Vec<Value>),
    /// The key lacks the memory-store scope: reuse is off for this run.
    NoScope,
    /// The records could not be read (after retries): upload, as without reuse.
    Unavailable(String),
}

/// Finds the version recorded for these bytes.
pub async fn find(
    store: &impl SortedMaps,
    universe: u64,
    place: u64,
    identity: &PlaceIdentity,
) -> Lookup {
    let uploads = match store
        .get_item(universe, RECORD_MAP, &record_id(place))
        .await
    {
        Ok(Some(item)) => item
            .value
            .get("uploads")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        Ok(None) => Vec::new(),
        Err(error) if error.lacks_scope() => return Lookup::NoScope,
        Err(error) => return Lookup::Unavailable(error.to_string()),
    };
    let found = uploads.iter().find_map(|upload| {
        let same = upload.get("sha256").and_then(Value::as_str) == Some(identity.hex());
        same.then(|| upload.get("version").and_then(Value::as_u64))
            .flatten()
    });
    match found {
        Some(version) => Lookup::Found(version),
        None => Lookup::Missing(uploads),
    }
}

/// Records that `version` holds these bytes, in front of the place's `earlier` uploads (as
/// [`find`] read them; two runs recording at once may lose one record: that costs an upload).
pub async fn remember(
    store: &impl SortedMaps,
    universe: u64,
    place: u64,
    identity: &PlaceIdentity,
    version: u64,
    earlier: Vec<Value>,
) -> Result<(), ApiError> {
    let mut uploads = vec![json!({ "version": version, "sha256": identity.hex() })];
    uploads.extend(
        earlier
            .into_iter()
            .filter(|u| u.get("sha256").and_then(Value::as_str) != Some(identity.hex())),
    );
    uploads.truncate(RECORDS_PER_PLACE);
    let item = MapItem {
        id: record_id(place),
        value: json!({ "uploads": uploads }),
        ..MapItem::default()
    };
    store
        .put_item(universe, RECORD_MAP, &item, RECORD_TTL)
        .await
}

/// How the step got the version its tasks run on, and what to tell the user.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub version: u64,
    /// Whether the place was uploaded (false: reused).
    pub uploaded: bool,
    /// Lines for the log: what was reused, or why reuse is off.
    pub notes: Vec<String>,
}

/// The version to run on: the recorded one when these bytes were uploaded before, else a fresh
/// upload (`upload`), recorded for next time. Without a `store` (reuse off, or a backend
/// without records) it uploads.
pub async fn prepare<U, F>(
    store: Option<&impl SortedMaps>,
    universe: u64,
    place: u64,
    bytes: &[u8],
    upload: U,
) -> Result<Prepared, ApiError>
where
    U: FnOnce() -> F,
    F: Future<Output = Result<u64, ApiError>>,
{
    let mut notes = Vec::new();
    let Some(store) = store else {
        let version = upload().await?;
        return Ok(Prepared {
            version,
            uploaded: true,
            notes,
        });
    };
    let identity = PlaceIdentity::of(bytes);
    let mut record = Some(Vec::new());
    match find(store, universe, place, &identity).await {
        Lookup::Found(version) => {
            notes.push(format!(
                "place-reuse: version {version} of place {place} holds this place file (sha256 {}…); not uploading it again",
                &identity.hex()[..12]
            ));
            return Ok(Prepared {
                version,
                uploaded: false,
                notes,
            });
        }
        Lookup::Missing(uploads) => record = Some(uploads),
        Lookup::NoScope => {
            record = None;
            notes.push(no_scope_note());
        }
        Lookup::Unavailable(why) => {
            notes.push(format!(
                "place-reuse: could not read the records ({why}); uploading"
            ));
        }
    }
    let version = upload().await?;
    if let Some(earlier) = record
        && let Err(error) = remember(store, universe, place, &identity, version, earlier).await
    {
        if error.lacks_scope() {
            notes.push(no_scope_note());
        } else {
            // Not worth a line on every run: the next run uploads again, as without reuse.
            tracing::debug!(%error, version, "place-reuse: could not record the version");
        }
    }
    Ok(Prepared {
        version,
        uploaded: true,
        notes,
    })
}

fn no_scope_note() -> String {
    "place-reuse: the API key lacks the scopes memory-store.sorted-map:read and memory-store.sorted-map:write, so every run uploads the place; add them to reuse an unchanged place (or set place-reuse: false to stop this note)".to_owned()
}

/// The guard a task created at head runs before the user's script.
#[derive(Debug, Clone)]
pub struct Guard {
    version: u64,
    sentinel: String,
}

impl Guard {
    /// A guard for `version`, with a sentinel no script can return by chance.
    pub fn new(version: u64) -> Self {
        Self {
            version,
            sentinel: format!("{SENTINEL_PREFIX}{}", crate::random::random_token("")),
        }
    }

    /// The script with the guard in front, on its first line so every line number of the
    /// user's script (errors, annotations, coverage) stays as it was.
    pub fn wrap(&self, script: &str) -> String {
        format!(
            "do if game.PlaceVersion ~= {} then return {:?}, game.PlaceVersion end end {script}",
            self.version, self.sentinel
        )
    }

    /// The version the task must run on.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The version the task found instead, when its guard stopped it.
    pub fn tripped(&self, task: &Task) -> Option<u64> {
        let results = &task.output.as_ref()?.results;
        let first: String = serde_json::from_str(results.first()?.get()).ok()?;
        if first != self.sentinel {
            return None;
        }
        serde_json::from_str(results.get(1)?.get()).ok()
    }
}

/// The version a task path names (`…/versions/{v}/…`), as Roblox answers even for a task
/// created at head.
pub fn version_in_path(path: &str) -> Option<u64> {
    let mut parts = path.split('/');
    parts.find(|p| *p == "versions")?;
    parts.next()?.parse().ok()
}

/// A task that runs on `version` and nothing else, and how it got there.
#[derive(Debug)]
pub struct Created {
    pub task: Task,
    /// Set when the task was created at head: its guard, which its results must be checked
    /// against (a tripped guard means no test ran).
    pub guard: Option<Guard>,
    /// A head task started first on the wrong version (it ends at its guard).
    pub wasted: Option<Task>,
}

/// Creates the task at head behind a guard; if the created task's path names another version,
/// creates it again pinned to `version`. With `optimistic` false, pins at once.
pub async fn create_on_version(
    api: &impl TaskApi,
    optimistic: bool,
    (universe, place, version): (u64, u64, u64),
    request: &CreateTaskRequest,
    patience: Option<tokio::time::Instant>,
) -> Result<Created, ApiError> {
    if optimistic {
        let guard = Guard::new(version);
        let guarded = CreateTaskRequest {
            script: guard.wrap(&request.script),
            ..request.clone()
        };
        let task = api
            .create_task(universe, place, None, &guarded, patience)
            .await?;
        if version_in_path(&task.path) == Some(version) {
            return Ok(Created {
                task,
                guard: Some(guard),
                wasted: None,
            });
        }
        let pinned = api
            .create_task(universe, place, Some(version), request, patience)
            .await?;
        return Ok(Created {
            task: pinned,
            guard: None,
            wasted: Some(task),
        });
    }
    let task = api
        .create_task(universe, place, Some(version), request, patience)
        .await?;
    Ok(Created {
        task,
        guard: None,
        wasted: None,
    })
}

#[cfg(test)]
mod tests;

/// The runner's entry: `prepare` with the API's records when reuse is on (Open Cloud only).
pub async fn upload_or_reuse<U, F>(
    api: &impl TaskApi,
    reuse: bool,
    universe: u64,
    place: u64,
    bytes: &[u8],
    upload: U,
) -> Result<Prepared, ApiError>
where
    U: FnOnce() -> F,
    F: Future<Output = Result<u64, ApiError>>,
{
    let store = api.sorted_maps().filter(|_| reuse);
    prepare(store, universe, place, bytes, upload).await
}

impl Created {
    /// A task created as asked, with nothing to check.
    pub fn of(task: Task) -> Self {
        Self {
            task,
            guard: None,
            wasted: None,
        }
    }
}
