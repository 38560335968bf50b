use std::cell::RefCell;
use std::time::Duration;

use super::*;
use crate::api::ApiError;
use crate::api::memory_store::{MapItem, MapPage};
use crate::api::{Operation, Service};
use crate::config::ConfigErrors;

/// A sharded suite's plan on the local backend, with these inputs besides (which win).
fn config(framework: &str, roots: &str, extra: &[(&str, &str)]) -> Result<Plan, ConfigErrors> {
    let mut pairs = vec![
        ("INPUT_BACKEND", "local"),
        ("INPUT_TEST_FRAMEWORK", framework),
        ("INPUT_TEST_ROOTS", roots),
        ("INPUT_PLACE_VERSION", "1"),
    ];
    pairs.extend_from_slice(extra);
    crate::config::try_from_pairs(&pairs)
}

#[test]
fn sharded_testez_steals_by_default_through_one_map_per_step() {
    let step = config(
        "testez",
        "ReplicatedStorage.Tests",
        &[("INPUT_SHARDS", "3")],
    )
    .unwrap();
    let map = map_of(&step).expect("stealing by default").to_owned();
    assert!(
        map.starts_with(MAP_PREFIX) && map.len() == MAP_PREFIX.len() + 32,
        "{map}"
    );
    for unit in &step.units {
        assert_eq!(
            unit.suite.as_ref().and_then(|s| s.work_queue.as_deref()),
            Some(map.as_str())
        );
        assert!(unit.script.contains(&format!("workQueue = \"{map}\",")));
    }
    // Another step, another map: a step never claims from an earlier one's counter.
    let again = config(
        "testez",
        "ReplicatedStorage.Tests",
        &[("INPUT_SHARDS", "3")],
    )
    .unwrap();
    assert_ne!(map_of(&again), Some(map.as_str()));
    // The static deal: its bootstraps name no map.
    let dealt = static_deal(&step);
    assert_eq!(map_of(&dealt), None);
    assert!(
        dealt
            .units
            .iter()
            .all(|u| u.script.contains("workQueue = nil,"))
    );
}

#[test]
fn one_task_jest_and_work_stealing_false_deal_statically() {
    let off = [("INPUT_SHARDS", "2"), ("INPUT_WORK_STEALING", "FALSE")];
    let one = config(
        "testez",
        "ReplicatedStorage.Tests",
        &[("INPUT_SHARDS", "1")],
    )
    .unwrap();
    let dealt = config("testez", "ReplicatedStorage.Tests", &off).unwrap();
    let jest = config(
        "jest",
        "ReplicatedStorage.A, ReplicatedStorage.B",
        &off[..1],
    )
    .unwrap();
    for step in [one, dealt, jest] {
        assert_eq!(map_of(&step), None);
    }
    let refused = config(
        "testez",
        "ReplicatedStorage.Tests",
        &[("INPUT_SHARDS", "2"), ("INPUT_WORK_STEALING", "yes")],
    )
    .err()
    .and_then(|errors| errors.first().cloned())
    .expect("refused");
    assert_eq!(
        (refused.input, refused.problem.as_str()),
        ("work-stealing", "`yes` must be `true` or `false`")
    );
}

/// Answers every list with `status` (or an empty page), and records deletes.
#[derive(Default)]
struct FakeMap {
    refuse: Option<u16>,
    deleted: RefCell<Vec<(String, String)>>,
}

impl SortedMaps for FakeMap {
    async fn get_item(&self, _u: u64, _m: &str, _id: &str) -> Result<Option<MapItem>, ApiError> {
        Ok(None)
    }
    async fn put_item(&self, _: u64, _: &str, _: &MapItem, _: Duration) -> Result<(), ApiError> {
        Ok(())
    }
    async fn list_items(&self, _u: u64, _m: &str, _t: Option<&str>) -> Result<MapPage, ApiError> {
        match self.refuse {
            Some(status) => Err(ApiError::Rejected {
                service: Service::OpenCloud,
                operation: Operation::ReadMemoryStore,
                status,
                detail: String::new(),
                hint: None,
            }),
            None => Ok(MapPage::default()),
        }
    }
    async fn delete_item(&self, _u: u64, map: &str, id: &str) -> Result<(), ApiError> {
        self.deleted
            .borrow_mut()
            .push((map.to_owned(), id.to_owned()));
        Ok(())
    }
}

#[tokio::test]
async fn a_key_without_the_scopes_gets_the_static_deal_and_one_note() {
    let step = config(
        "testez",
        "ReplicatedStorage.Tests",
        &[("INPUT_SHARDS", "2")],
    )
    .unwrap();
    let refused = FakeMap {
        refuse: Some(403),
        ..FakeMap::default()
    };
    let (dealt, note) = check_scopes(&step, &refused).await.expect("a fallback");
    assert_eq!(map_of(&dealt), None);
    assert!(
        note.starts_with("work-stealing: the API key lacks the scopes memory-store.sorted-map:read and memory-store.sorted-map:write"),
        "{note}"
    );
    // With the scopes, or a failure that says nothing of them, the tasks steal.
    assert!(check_scopes(&step, &FakeMap::default()).await.is_none());
    let flaky = FakeMap {
        refuse: Some(503),
        ..FakeMap::default()
    };
    assert!(check_scopes(&step, &flaky).await.is_none());
    // The step's counter is deleted at its end; a step that does not steal touches nothing.
    let store = FakeMap::default();
    clean_up(&step, &store).await;
    clean_up(&dealt, &store).await;
    let map = map_of(&step).unwrap_or_default().to_owned();
    assert_eq!(*store.deleted.borrow(), [(map, COUNTER.to_owned())]);
}

#[test]
fn a_work_log_is_read_from_the_envelope() {
    let first = r#"{"kind":"luau-exec/test-results@1","tests":[],"work":{"total":3,"ran":["A.b.spec","A.a.spec"],"claims":3,"slowest":{"name":"A.b.spec","seconds":2.5}}}"#;
    let log = WorkLog::from_envelope(first).expect("a work log");
    assert_eq!(log.total, 3);
    assert_eq!(log.ran, ["A.b.spec", "A.a.spec"]);
    assert_eq!((log.claims, log.stopped), (3, None));
    assert_eq!(
        log.slowest.map(|s| (s.name, s.seconds)),
        Some(("A.b.spec".to_owned(), 2.5))
    );
    // Luau's empty table may come as `{}`; no `work` at all is no log.
    let empty =
        r#"{"kind":"luau-exec/test-results@1","tests":[],"work":{"total":0,"ran":{},"claims":1}}"#;
    assert_eq!(WorkLog::from_envelope(empty).map(|l| l.ran.len()), Some(0));
    assert_eq!(
        WorkLog::from_envelope(r#"{"kind":"luau-exec/test-results@1","tests":[]}"#),
        None
    );
}

#[test]
fn a_sourcemap_module_the_tasks_never_listed_is_not_taken_for_unrun() {
    let ledger = Ledger {
        total: Some(2),
        ran: [("T.a.spec".to_owned(), 1), ("T.b.spec".to_owned(), 1)].into(),
        stopped: Vec::new(),
    };
    let expected = ["T.a.spec", "T.b.spec", "T.stale.spec"].map(String::from);
    assert!(ledger.never_ran(&expected).is_empty());
    assert_eq!(ledger.unreported(), Some(0));
    let short = Ledger {
        total: Some(3),
        ..ledger
    };
    assert_eq!(short.never_ran(&expected), [&expected[2]]);
    assert_eq!(Ledger::default().unreported(), None);
}

#[test]
fn a_claim_of_several_modules_is_named_as_a_claim_and_one_module_as_itself() {
    let claim = r#"{"kind":"luau-exec/test-results@1","tests":[],"work":{"total":9,"ran":[],"claims":2,"slowest":{"name":"A.a.spec","modules":4,"seconds":1.5}}}"#;
    let slowest = WorkLog::from_envelope(claim)
        .and_then(|log| log.slowest)
        .expect("a slowest claim");
    assert_eq!(
        slowest.describe(),
        "the slowest claim, 4 spec modules from A.a.spec,"
    );
    // A bootstrap that does not say how many modules (or says one) names the module.
    let one = r#"{"kind":"luau-exec/test-results@1","tests":[],"work":{"total":9,"ran":[],"claims":2,"slowest":{"name":"A.b.spec","seconds":3}}}"#;
    let slowest = WorkLog::from_envelope(one)
        .and_then(|log| log.slowest)
        .expect("a slowest module");
    assert_eq!(slowest.describe(), "the slowest spec module, A.b.spec,");
}
