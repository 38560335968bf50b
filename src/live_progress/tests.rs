use std::cell::RefCell;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::api::ApiError;
use crate::api::memory_store::{MapItem, MapPage};
use crate::api::{Operation, Service};

/// A map in memory, listed two items a page; `refuse` answers every list with that status.
#[derive(Default)]
struct FakeMap {
    items: RefCell<Vec<MapItem>>,
    refuse: Option<u16>,
    deleted: RefCell<Vec<String>>,
}

impl SortedMaps for FakeMap {
    async fn get_item(&self, _u: u64, _m: &str, _id: &str) -> Result<Option<MapItem>, ApiError> {
        Ok(None)
    }
    async fn put_item(
        &self,
        _u: u64,
        _m: &str,
        _i: &MapItem,
        _t: Duration,
    ) -> Result<(), ApiError> {
        Ok(())
    }
    async fn list_items(
        &self,
        _u: u64,
        _m: &str,
        token: Option<&str>,
    ) -> Result<MapPage, ApiError> {
        if let Some(status) = self.refuse {
            return Err(ApiError::Rejected {
                service: Service::OpenCloud,
                operation: Operation::ReadMemoryStore,
                status,
                detail: String::new(),
                hint: None,
            });
        }
        let start: usize = token.map_or(0, |t| t.parse().unwrap_or(0));
        let items = self.items.borrow();
        let page: Vec<MapItem> = items.iter().skip(start).take(2).cloned().collect();
        let next = (start + 2 < items.len()).then(|| (start + 2).to_string());
        Ok(MapPage {
            items: page,
            next_page_token: next,
        })
    }
    async fn delete_item(&self, _u: u64, _m: &str, id: &str) -> Result<(), ApiError> {
        self.deleted.borrow_mut().push(id.to_owned());
        self.items.borrow_mut().retain(|i| i.id != id);
        Ok(())
    }
}

fn batch(seq: u64, names: &[(&str, &str)]) -> MapItem {
    let entries: Vec<Value> = names
        .iter()
        .map(|(status, name)| json!({ "status": status, "path": [name], "logs": {} }))
        .collect();
    MapItem {
        id: format!("{seq:012}"),
        value: json!({ "entries": entries }),
        ..MapItem::default()
    }
}

#[tokio::test]
async fn the_reader_hands_over_new_entries_in_order_and_deletes_what_it_read() {
    let map = FakeMap::default();
    map.items.borrow_mut().extend([
        batch(2, &[("failed", "b")]),
        batch(1, &[("started", "a"), ("passed", "a")]),
        batch(3, &[("passed", "c")]),
    ]);
    let mut reader = Reader::new(1, map_name("t"));
    let polled = reader.poll(&map).await;
    let names: Vec<(String, String)> = polled
        .entries
        .into_iter()
        .map(|e| (e.title(), e.status))
        .collect();
    assert_eq!(
        names,
        [
            ("a".into(), "started".into()),
            ("a".into(), "passed".into()),
            ("b".into(), "failed".into()),
            ("c".into(), "passed".into())
        ]
    );
    assert!(map.items.borrow().is_empty());
    // An item seen before (a delete that did not land) is not handed over twice.
    map.items.borrow_mut().push(batch(3, &[("passed", "c")]));
    map.items.borrow_mut().push(batch(4, &[("passed", "d")]));
    let again = reader.poll(&map).await;
    assert_eq!(again.entries.len(), 1);
    assert_eq!(again.entries[0].title(), "d");
}

#[tokio::test]
async fn one_poll_lists_a_bounded_number_of_pages() {
    let map = FakeMap::default();
    // Two items a page: 15 pages, past the bound of 10.
    map.items
        .borrow_mut()
        .extend((1..=30).map(|seq| batch(seq, &[("passed", "t")])));
    let mut reader = Reader::new(1, map_name("t"));
    assert_eq!(reader.poll(&map).await.entries.len(), 2 * MAX_PAGES);
    // What was left is read next time.
    assert_eq!(reader.poll(&map).await.entries.len(), 30 - 2 * MAX_PAGES);
}

#[tokio::test]
async fn without_the_scope_it_says_so_once_and_stops_reading() {
    let map = FakeMap {
        refuse: Some(403),
        ..FakeMap::default()
    };
    let mut reader = Reader::new(1, map_name("t"));
    let first = reader.poll(&map).await;
    assert!(first.note.unwrap().contains("lacks the scopes"));
    assert!(reader.is_off());
    assert_eq!(reader.poll(&map).await, Polled::default());
}

/// The writer in a task on the emulator, read back by the real client: a failure is written at
/// once, the rest within a second, everything by the final flush.
#[cfg(feature = "emulator")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_writes_and_the_runner_reads_through_the_emulator() {
    use crate::api::model::CreateTaskRequest;
    use crate::api::{OpenCloud, TaskApi};
    use crate::clock::Timing;
    use crate::emulator::{EmulatorOptions, start};
    use crate::poller::TaskSource;
    use crate::secret::ApiKey;

    let running = start("127.0.0.1:0", EmulatorOptions::default())
        .await
        .unwrap();
    let api = OpenCloud::new(
        &running.url,
        ApiKey::new("k".into()),
        Timing::default(),
        Service::LocalEmulator,
    )
    .unwrap();
    let map = map_name("abc");
    let script = format!(
        "{}\nliveReport({{ status = 'started', path = {{ 'one' }} }})\nliveReport({{ status = 'failed', path = {{ 'one' }}, message = string.rep('x', 5000), logs = {{ {{ message = 'printed', level = 'MessageWarning' }} }} }})\ntask.wait(0.3)\nliveReport({{ status = 'started', path = {{ 'two' }} }})\nliveReport({{ status = 'passed', path = {{ 'two' }} }})\ntask.wait(2.5)\nliveReport({{ status = 'passed', path = {{ 'three' }} }})\nliveFlush()\nreturn live.dropped",
        prelude(&map)
    );
    let request = CreateTaskRequest {
        script,
        ..CreateTaskRequest::default()
    };
    let task = api.create_task(1, 1, None, &request, None).await.unwrap();
    let mut reader = Reader::new(1, map.clone());
    let mut seen = Vec::new();
    let mut finished = task.clone();
    for _ in 0..200 {
        seen.extend(reader.poll(&api).await.entries);
        finished = api.get_task(&task.path).await.unwrap();
        if finished.state.is_terminal() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    seen.extend(reader.poll(&api).await.entries);
    let results = finished.output.map(|o| {
        o.results
            .iter()
            .map(|r| r.get().to_owned())
            .collect::<Vec<_>>()
    });
    assert_eq!(results, Some(vec!["0".to_owned()]), "{:?}", finished.error);
    let names: Vec<(&str, String)> = seen
        .iter()
        .map(|e| (e.status.as_str(), e.path.join("/")))
        .collect();
    assert_eq!(
        names,
        [
            // A start and its end in one batch: only the end is written.
            ("failed", "one".to_owned()),
            ("passed", "two".to_owned()),
            ("passed", "three".to_owned())
        ]
    );
    assert!(seen[0].message.as_ref().unwrap().len() < 4100);
    assert_eq!(seen[0].logs[0].message, "printed");
    assert_eq!(seen[0].logs[0].message_type, MessageType::Warning);
    let left = api.list_items(1, &map, None).await.unwrap();
    assert!(left.items.is_empty(), "{left:?}");
}
