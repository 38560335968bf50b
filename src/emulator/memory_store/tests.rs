use super::*;
use serde_json::json;

const U: u64 = 7;

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + seconds)
}

fn write(value: Value, sort_key: Option<SortKey>) -> Write {
    Write {
        value,
        expiration: Duration::from_secs(60),
        sort_key,
    }
}

fn set(stores: &mut Stores, key: &str, sort_key: Option<SortKey>) {
    let saved = stores
        .map_set(U, "m", key, write(json!(key), sort_key), None, at(0))
        .expect("set");
    assert!(matches!(saved, Saved::Saved { .. }));
}

#[test]
fn a_sorted_map_orders_numbers_then_strings_then_none_then_keys() {
    // The guide's own example.
    let mut stores = Stores::default();
    set(&mut stores, "player7", None);
    set(
        &mut stores,
        "player6",
        Some(SortKey::Text("someString".into())),
    );
    set(&mut stores, "player3", Some(SortKey::Number(3.25)));
    set(&mut stores, "player5", Some(SortKey::Number(1.0)));
    set(&mut stores, "player4", Some(SortKey::Number(1.0)));
    set(&mut stores, "player2", Some(SortKey::Number(0.0)));
    set(&mut stores, "player1", Some(SortKey::Number(-1.0)));
    set(&mut stores, "player0", None);
    let range = Range {
        count: 200,
        ..Range::default()
    };
    let keys: Vec<String> = stores
        .map_range(U, "m", &range, at(1))
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert_eq!(
        keys,
        [
            "player1", "player2", "player4", "player5", "player3", "player6", "player0", "player7"
        ]
    );
    let bounded = Range {
        count: 2,
        descending: true,
        upper: Some(Position {
            sort_key: None,
            key: Some("player7".into()),
        }),
        lower: Some(Position {
            sort_key: Some(SortKey::Number(1.0)),
            key: Some("player4".into()),
        }),
        after: None,
    };
    let keys: Vec<String> = stores
        .map_range(U, "m", &bounded, at(1))
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert_eq!(keys, ["player0", "player6"]);
}

#[test]
fn items_expire_and_sizes_are_limited() {
    let mut stores = Stores::default();
    set(&mut stores, "a", None);
    assert!(stores.map_get(U, "m", "a", at(59)).is_some());
    assert!(stores.map_get(U, "m", "a", at(60)).is_none());
    let long_key = "k".repeat(129);
    assert_eq!(
        stores.map_set(U, "m", &long_key, write(json!(1), None), None, at(0)),
        Err(StoreError::KeyTooLong)
    );
    let big = json!("x".repeat(MAX_VALUE_BYTES));
    assert_eq!(
        stores.map_set(U, "m", "big", write(big, None), None, at(0)),
        Err(StoreError::ValueTooLarge)
    );
    assert_eq!(expiration(3_888_001.0), Err(StoreError::InvalidExpiration));
    assert!(expiration(3_888_000.0).is_ok());
    // 64 KB for the universe: three 30 KB values do not fit; removing one makes room.
    let chunk = || json!("y".repeat(30 * 1024));
    for key in ["one", "two"] {
        assert!(
            stores
                .map_set(U, "m", key, write(chunk(), None), None, at(0))
                .is_ok()
        );
    }
    assert_eq!(
        stores.queue_add(U, "q", chunk(), Duration::from_secs(9), 0.0, at(0)),
        Err(StoreError::TotalMemoryOverLimit)
    );
    assert!(stores.map_remove(U, "m", "one", at(0)));
    assert!(
        stores
            .queue_add(U, "q", chunk(), Duration::from_secs(9), 0.0, at(0))
            .is_ok()
    );
    // Another universe has its own quota.
    assert!(
        stores
            .map_set(U + 1, "m", "one", write(chunk(), None), None, at(0))
            .is_ok()
    );
}

#[test]
fn a_conditional_write_saves_only_what_it_read() {
    let mut stores = Stores::default();
    let missing = stores.map_set(U, "m", "k", write(json!(1), None), Some(None), at(0));
    assert_eq!(missing, Ok(Saved::Saved { added: true }));
    let read = stores.map_get(U, "m", "k", at(0)).map(|i| i.etag);
    set(&mut stores, "k", None);
    let stale = stores.map_set(U, "m", "k", write(json!(2), None), Some(read), at(0));
    assert_eq!(stale, Ok(Saved::Conflict));
    let fresh = stores.map_get(U, "m", "k", at(0)).map(|i| i.etag);
    let saved = stores.map_set(U, "m", "k", write(json!(3), None), Some(fresh), at(0));
    assert_eq!(saved, Ok(Saved::Saved { added: false }));
}

#[test]
fn a_queue_reads_by_priority_hides_what_it_read_and_removes_by_read_id() {
    let mut stores = Stores::default();
    let ttl = Duration::from_secs(600);
    for (value, priority) in [("low", 0.0), ("high", 5.0), ("low2", 0.0)] {
        stores
            .queue_add(U, "q", json!(value), ttl, priority, at(0))
            .expect("add");
    }
    let read = |count, all_or_nothing| QueueRead {
        count,
        all_or_nothing,
        invisibility: Duration::from_secs(30),
    };
    let (id, items) = stores
        .queue_read(U, "q", read(2, false), at(1))
        .expect("read");
    let values: Vec<Value> = items.into_iter().map(|i| i.value).collect();
    assert_eq!(values, [json!("high"), json!("low")]);
    assert!(stores.queue_read(U, "q", read(2, true), at(2)).is_none());
    assert_eq!(stores.queue_size(U, "q", true, at(2)), 1);
    assert_eq!(stores.queue_size(U, "q", false, at(2)), 3);
    let id = id.expect("a read id");
    assert_eq!(stores.queue_discard(U, "q", &id, at(3)), 2);
    // Past its invisibility, an item is visible again and an old read id removes nothing.
    let (late, _) = stores
        .queue_read(U, "q", read(1, false), at(4))
        .expect("read");
    let late = late.expect("a read id");
    assert_eq!(stores.queue_discard(U, "q", &late, at(40)), 0);
    let (_, again) = stores
        .queue_read(U, "q", read(5, false), at(40))
        .expect("read");
    assert_eq!(again.len(), 1);
}

#[test]
fn the_request_quota_applies_only_when_asked() {
    let mut stores = Stores::default();
    assert!(stores.spend(U, 5000).is_ok());
    stores.request_quota = true;
    assert!(stores.spend(U, 999).is_ok());
    assert!(stores.spend(U, 1).is_ok());
    assert_eq!(stores.spend(U, 1), Err(StoreError::RequestsOverLimit));
}
