use std::cell::RefCell;

use super::*;
use crate::api::fake::{FakeApi, FakeMaps};

/// Uploads counted; each upload is the next version.
struct Uploads(RefCell<u64>);

impl Uploads {
    async fn upload(&self) -> Result<u64, ApiError> {
        *self.0.borrow_mut() += 1;
        Ok(10 + *self.0.borrow())
    }
}

#[tokio::test]
async fn an_unchanged_place_is_uploaded_once_then_reused_from_the_record() {
    let maps = FakeMaps::default();
    let uploads = Uploads(RefCell::new(0));
    let bytes = b"place bytes";
    let first = prepare(Some(&maps), 1, 2, bytes, || uploads.upload())
        .await
        .unwrap();
    assert_eq!((first.version, first.uploaded), (11, true));
    assert!(first.notes.is_empty(), "{:?}", first.notes);
    // The record lasts Roblox's longest expiration.
    assert_eq!(*maps.ttls.borrow(), [RECORD_TTL]);
    // A new runner (nothing local) finds the record on Roblox.
    let second = prepare(Some(&maps), 1, 2, bytes, || uploads.upload())
        .await
        .unwrap();
    assert_eq!((second.version, second.uploaded), (11, false));
    assert!(second.notes[0].contains("version 11 of place 2 holds this place file"));
    assert_eq!(*uploads.0.borrow(), 1);
    // Other bytes, or the same bytes for another place, are uploaded.
    let changed = prepare(Some(&maps), 1, 2, b"other", || uploads.upload())
        .await
        .unwrap();
    assert_eq!((changed.version, changed.uploaded), (12, true));
    let elsewhere = prepare(Some(&maps), 1, 3, bytes, || uploads.upload())
        .await
        .unwrap();
    assert!(elsewhere.uploaded);
    // Turned off: always uploads, never reads or writes records.
    let off = prepare(None::<&FakeMaps>, 1, 2, bytes, || uploads.upload())
        .await
        .unwrap();
    assert!(off.uploaded && off.notes.is_empty());
}

#[tokio::test]
async fn without_the_scope_it_says_so_once_and_uploads() {
    let maps = FakeMaps {
        refuse: Some(403),
        ..FakeMaps::default()
    };
    let uploads = Uploads(RefCell::new(0));
    let prepared = prepare(Some(&maps), 1, 2, b"x", || uploads.upload())
        .await
        .unwrap();
    assert!(prepared.uploaded);
    assert_eq!(prepared.notes.len(), 1, "{:?}", prepared.notes);
    assert!(prepared.notes[0].contains("lacks the scopes memory-store.sorted-map:read"));
    // Read allowed, write refused: still one note.
    let read_only = FakeMaps {
        refuse_writes: Some(403),
        ..FakeMaps::default()
    };
    let prepared = prepare(Some(&read_only), 1, 2, b"x", || uploads.upload())
        .await
        .unwrap();
    assert_eq!(prepared.notes.len(), 1, "{:?}", prepared.notes);
}

#[tokio::test]
async fn a_place_keeps_its_last_uploads_newest_first_and_bounded() {
    let maps = FakeMaps::default();
    let uploads = Uploads(RefCell::new(0));
    for build in 0..20u8 {
        let prepared = prepare(Some(&maps), 1, 2, &[build], || uploads.upload())
            .await
            .unwrap();
        assert!(prepared.uploaded);
    }
    let record = maps.items.borrow()[&(RECORD_MAP.to_owned(), "place-2".to_owned())].clone();
    let kept = record.value["uploads"].as_array().unwrap().clone();
    assert_eq!(kept.len(), RECORDS_PER_PLACE);
    assert_eq!(kept[0]["version"], 30);
    assert_eq!(kept[0]["sha256"], PlaceIdentity::of(&[19]).hex());
    // The newest sixteen are found; older builds were pushed out and upload again.
    assert_eq!(
        find(&maps, 1, 2, &PlaceIdentity::of(&[4])).await,
        Lookup::Found(15)
    );
    assert!(matches!(
        find(&maps, 1, 2, &PlaceIdentity::of(&[3])).await,
        Lookup::Missing(_)
    ));
    // Uploading a known build again moves it to the front, once.
    let again = prepare(Some(&maps), 1, 2, &[3], || uploads.upload())
        .await
        .unwrap();
    assert_eq!(again.version, 31);
    let record = maps.items.borrow()[&(RECORD_MAP.to_owned(), "place-2".to_owned())].clone();
    assert_eq!(record.value["uploads"][0]["version"], 31);
    assert_eq!(
        PlaceIdentity::of(b"abc").hex(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

fn completed(results: &[&str]) -> Task {
    let json = format!(
        "{{\"state\":\"COMPLETE\",\"path\":\"p\",\"output\":{{\"results\":[{}]}}}}",
        results.join(",")
    );
    serde_json::from_str(&json).unwrap()
}

#[test]
fn the_guard_keeps_line_numbers_and_is_recognised_only_by_its_own_sentinel() {
    let guard = Guard::new(12);
    let wrapped = guard.wrap("print(1)\nerror('x')");
    assert_eq!(wrapped.lines().count(), 2);
    assert!(wrapped.starts_with(
        "do if game.PlaceVersion ~= 12 then return \"luau-exec: wrong place version "
    ));
    assert!(wrapped.ends_with(" end end print(1)\nerror('x')"));
    let sentinel = format!("{:?}", guard.sentinel);
    assert_eq!(guard.tripped(&completed(&[&sentinel, "13"])), Some(13));
    let other = format!("{:?}", Guard::new(12).sentinel);
    assert_eq!(guard.tripped(&completed(&[&other, "13"])), None);
    assert_eq!(guard.tripped(&completed(&["1", "13"])), None);
    assert_eq!(guard.tripped(&Task::default()), None);
}

#[test]
fn the_version_is_read_from_the_task_path() {
    assert_eq!(
        version_in_path("universes/1/places/2/versions/26/luau-execution-sessions/a/tasks/a"),
        Some(26)
    );
    assert_eq!(
        version_in_path("universes/1/places/2/luau-execution-session-tasks/a"),
        None
    );
}

#[tokio::test]
async fn a_task_runs_at_head_when_head_is_the_version_and_pinned_when_it_is_not() {
    let request = CreateTaskRequest {
        script: "return 1".into(),
        ..CreateTaskRequest::default()
    };
    let api = FakeApi::on_head(7);
    let created = create_on_version(&api, true, (1, 2, 7), &request, None)
        .await
        .unwrap();
    assert!(created.guard.is_some() && created.wasted.is_none());
    let asked = api.asked.borrow().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].0, None);
    assert!(asked[0].1.ends_with(" end end return 1"), "{}", asked[0].1);

    // Someone uploaded version 8 since: the head task is wasted, the pinned one is the run.
    let api = FakeApi::on_head(8);
    let created = create_on_version(&api, true, (1, 2, 7), &request, None)
        .await
        .unwrap();
    assert!(created.guard.is_none());
    assert!(created.wasted.is_some());
    assert_eq!(version_in_path(&created.task.path), Some(7));
    let asked = api.asked.borrow().clone();
    assert_eq!(asked[1], (Some(7), "return 1".to_owned()));

    // Not optimistic: one pinned create, the script untouched.
    let api = FakeApi::on_head(7);
    let created = create_on_version(&api, false, (1, 2, 7), &request, None)
        .await
        .unwrap();
    assert!(created.guard.is_none());
    assert_eq!(
        api.asked.borrow().clone(),
        [(Some(7), "return 1".to_owned())]
    );
}

/// The real client against the emulator: records written and read through Open Cloud's
/// sorted-map routes, a key without the scope refused, and a guarded task stopped by its guard
/// on another version but running the script on its own.
#[cfg(feature = "emulator")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_guards_work_against_the_emulator() {
    use crate::api::{OpenCloud, Service};
    use crate::clock::Timing;
    use crate::emulator::{EmulatorOptions, start};
    use crate::poller::TaskSource;
    use crate::secret::ApiKey;

    let client = |url: &reqwest::Url| {
        OpenCloud::new(
            url,
            ApiKey::new("k".into()),
            Timing::default(),
            Service::LocalEmulator,
        )
        .unwrap()
    };
    let running = start("127.0.0.1:0", EmulatorOptions::default())
        .await
        .unwrap();
    let api = client(&running.url);
    let uploads = Uploads(RefCell::new(0));
    let first = prepare(Some(&api), 1, 2, b"bytes", || uploads.upload())
        .await
        .unwrap();
    assert!(first.uploaded && first.notes.is_empty(), "{first:?}");
    let second = prepare(Some(&api), 1, 2, b"bytes", || uploads.upload())
        .await
        .unwrap();
    assert_eq!((second.version, second.uploaded), (11, false));

    // Version 1 is the emulator's head: a guard for it runs the script, one for 2 stops it.
    let request = |script: &str| CreateTaskRequest {
        script: script.into(),
        ..CreateTaskRequest::default()
    };
    for (expected, answer) in [(1, Some("\"ran\"")), (2, None)] {
        let created =
            create_on_version(&api, true, (1, 2, expected), &request("return 'ran'"), None)
                .await
                .unwrap();
        let (task, guard) = match (created.guard, created.wasted) {
            (Some(guard), None) => (created.task, guard),
            (None, Some(wasted)) => (wasted, Guard::new(expected)),
            _ => panic!("unexpected creation"),
        };
        let mut done = task.clone();
        for _ in 0..200 {
            done = api.get_task(&task.path).await.unwrap();
            if done.state.is_terminal() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let first = done
            .output
            .as_ref()
            .and_then(|o| o.results.first())
            .map(|r| r.get().to_owned());
        match answer {
            Some(answer) => {
                assert_eq!(first.as_deref(), Some(answer));
                assert_eq!(guard.tripped(&done), None);
            }
            // The wasted head task returned its own guard's sentinel and the head version.
            None => assert!(first.unwrap().contains("wrong place version"), "{done:?}"),
        }
    }

    let scoped = start(
        "127.0.0.1:0",
        EmulatorOptions {
            key_scopes: Some(vec!["universe.place.luau-execution-session:write".into()]),
            ..EmulatorOptions::default()
        },
    )
    .await
    .unwrap();
    let refused = find(&client(&scoped.url), 1, 2, &PlaceIdentity::of(b"x")).await;
    assert_eq!(refused, Lookup::NoScope);
}

#[test]
fn a_guard_knows_its_version() {
    assert_eq!(Guard::new(12).version(), 12);
}
