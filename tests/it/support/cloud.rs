//! The fake Open Cloud: one [`FakeCloud`] (on wiremock) that builds the usual server in a line —
//! a task told as a [`TaskStory`] (the states it goes through, how it ends, its log pages, the
//! place version it runs on) — with hooks for what a story does not tell: an answer mounted
//! ahead of the story's for one route, and counts of the requests received.
//!
//! The story's mocks are mounted at wiremock's default priority; [`FakeCloud::mount_first`]
//! mounts at priority 1, so a hostile answer (a 503, a redirect, a truncated body) is matched
//! first and, once its `up_to_n_times` is spent, the story goes on.

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

use super::{CREATE_PATH, KEY, Run, TASK_PATH};

/// The route places are uploaded to, as a saved version.
pub const UPLOAD_PATH: &str = "/universes/v1/1/places/2/versions";

/// A running fake Open Cloud. Dropping it checks every `expect(n)` its mocks were given.
pub struct FakeCloud {
    server: MockServer,
}

impl FakeCloud {
    /// A server that answers nothing (404) until mocks are mounted.
    pub async fn start() -> Self {
        Self {
            server: MockServer::start().await,
        }
    }

    /// A story to tell: by default the create answers COMPLETE with no results, created once,
    /// and the logs are one empty page.
    pub fn task() -> TaskStory {
        TaskStory::default()
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// A run of the binary against this server.
    pub fn run(&self) -> Run {
        Run::new(&self.uri())
    }

    /// Mounts `mock` ahead of the story's answers for the same route.
    pub async fn mount_first(&self, mock: Mock) {
        mock.with_priority(1).mount(&self.server).await;
    }

    /// Mounts `mock` after the story's answers (it answers what the story does not).
    pub async fn mount(&self, mock: Mock) {
        mock.mount(&self.server).await;
    }

    /// Every request received so far, in order.
    pub async fn received(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// How many requests used this verb (`"GET"`, `"POST"`, `"PUT"`).
    pub async fn requests(&self, verb: &str) -> usize {
        self.received()
            .await
            .iter()
            .filter(|r| r.method.as_str() == verb)
            .count()
    }

    /// The requests whose path ends with `end`.
    pub async fn received_at(&self, end: &str) -> Vec<Request> {
        self.received()
            .await
            .into_iter()
            .filter(|r| r.url.path().ends_with(end))
            .collect()
    }

    /// Panics unless nothing at all was sent here.
    #[track_caller]
    pub fn assert_untouched(&self) -> impl Future<Output = ()> + '_ {
        let at = std::panic::Location::caller();
        async move {
            let received = self.received().await;
            assert!(
                received.is_empty(),
                "{at}: nothing may be sent, got {} request(s): {:?}",
                received.len(),
                received.iter().map(|r| r.url.path()).collect::<Vec<_>>()
            );
        }
    }
}

/// What the fake task does, told before the server starts.
#[must_use = "a story is told only once it is started"]
pub struct TaskStory {
    /// The create answers the first; each poll the next, in order.
    states: Vec<String>,
    /// The answer once the states are told; `None` repeats the last state for ever.
    end: Option<Value>,
    /// Log pages, chained by `nextPageToken`.
    pages: Vec<Vec<(String, String)>>,
    /// A place uploaded as this saved version, and the task created on it.
    place_version: Option<u64>,
    /// How long the upload's answer takes.
    upload_delay: std::time::Duration,
    /// How many creates are expected.
    creates: u64,
    /// What the create's JSON body must hold (`body_partial_json`).
    create_body: Option<Value>,
}

impl Default for TaskStory {
    fn default() -> Self {
        Self {
            states: Vec::new(),
            end: Some(complete(json!([]))),
            pages: vec![Vec::new()],
            place_version: None,
            upload_delay: std::time::Duration::ZERO,
            creates: 1,
            create_body: None,
        }
    }
}

impl TaskStory {
    /// The states the task goes through before its end: the create answers the first, and
    /// each poll the next (`["QUEUED", "PROCESSING", "PROCESSING"]`).
    pub fn through(mut self, states: &[&str]) -> Self {
        self.states = states.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Ends COMPLETE with these results.
    pub fn completes(self, results: Value) -> Self {
        self.ends(complete(results))
    }

    /// Ends FAILED with this error.
    pub fn fails(self, code: &str, message: &str) -> Self {
        self.ends(failed(code, message))
    }

    /// Ends with this task body.
    pub fn ends(mut self, terminal: Value) -> Self {
        self.end = Some(terminal);
        self
    }

    /// Never ends: polls answer the last state (PROCESSING when none was given) for ever.
    pub fn never_ends(mut self) -> Self {
        if self.states.is_empty() {
            self.states.push("PROCESSING".to_owned());
        }
        self.end = None;
        self
    }

    /// One page of logs: `(messageType, message)` pairs.
    pub fn logs(mut self, messages: &[(&str, &str)]) -> Self {
        self.pages = vec![owned(messages)];
        self
    }

    /// Several pages of logs, asked for once each, in order, with `view=STRUCTURED`.
    pub fn log_pages(mut self, pages: &[&[(&str, &str)]]) -> Self {
        self.pages = pages.iter().map(|page| owned(page)).collect();
        self
    }

    /// Logs are not served (a run that never reads them, or a test that mounts its own).
    pub fn no_logs(mut self) -> Self {
        self.pages.clear();
        self
    }

    /// The place file is uploaded once (with the key, as a saved version) and becomes
    /// `version`; the task must be created on that version.
    pub fn place_version(mut self, version: u64) -> Self {
        self.place_version = Some(version);
        self
    }

    /// The upload's answer takes this long (so progress shows).
    pub fn upload_delay(mut self, delay: std::time::Duration) -> Self {
        self.upload_delay = delay;
        self
    }

    /// How many creates are expected (1 unless said).
    pub fn creates(mut self, count: u64) -> Self {
        self.creates = count;
        self
    }

    /// The create is answered only if its JSON body holds these fields (a create without them
    /// gets a 404, and the run fails).
    pub fn create_body(mut self, fields: Value) -> Self {
        self.create_body = Some(fields);
        self
    }

    /// Starts a server that tells this story.
    pub async fn start(self) -> FakeCloud {
        let cloud = FakeCloud::start().await;
        self.mount_upload(&cloud).await;
        self.mount_task(&cloud).await;
        self.mount_logs(&cloud).await;
        cloud
    }

    async fn mount_upload(&self, cloud: &FakeCloud) {
        let Some(version) = self.place_version else {
            return;
        };
        cloud
            .mount(
                on_upload()
                    .and(query_param("versionType", "Saved"))
                    .and(header("x-api-key", KEY))
                    .respond_with(
                        ResponseTemplate::new(200)
                            .insert_header("content-type", "text/plain")
                            .set_delay(self.upload_delay)
                            .set_body_string(format!("{{\"versionNumber\":{version}}}")),
                    )
                    .expect(1),
            )
            .await;
    }

    async fn mount_task(&self, cloud: &FakeCloud) {
        let create_path = match self.place_version {
            Some(version) => format!(
                "/cloud/v2/universes/1/places/2/versions/{version}/luau-execution-session-tasks"
            ),
            None => CREATE_PATH.to_owned(),
        };
        let last = self.states.last().map(|s| task(s));
        let end = self
            .end
            .clone()
            .or(last)
            .unwrap_or_else(|| task("PROCESSING"));
        let created = self.states.first().map(|s| task(s)).unwrap_or(end.clone());
        // Every create carries the key.
        let mut create = Mock::given(method("POST"))
            .and(path(create_path))
            .and(header("x-api-key", KEY));
        if let Some(fields) = &self.create_body {
            create = create.and(body_partial_json(fields));
        }
        cloud
            .mount(create.respond_with(ok_json(created)).expect(self.creates))
            .await;
        // Runs of one state, mounted in order: each answers its count, then the next.
        let polled = self.states.iter().skip(1);
        let mut runs: Vec<(&String, u64)> = Vec::new();
        for state in polled {
            match runs.last_mut() {
                Some((last, count)) if *last == state => *count += 1,
                _ => runs.push((state, 1)),
            }
        }
        for (state, count) in runs {
            cloud
                .mount(
                    on_get()
                        .respond_with(ok_json(task(state)))
                        .up_to_n_times(count),
                )
                .await;
        }
        cloud.mount(on_get().respond_with(ok_json(end))).await;
    }

    async fn mount_logs(&self, cloud: &FakeCloud) {
        if let [page] = self.pages.as_slice() {
            cloud
                .mount(on_logs().respond_with(ok_json(logs_page(&borrowed(page), ""))))
                .await;
            return;
        }
        // Later pages first: a request with a page token must not reach the first page's mock.
        for (index, page) in self.pages.iter().enumerate().rev() {
            let next = if index + 1 < self.pages.len() {
                format!("page-{}", index + 2)
            } else {
                String::new()
            };
            let mut mock = on_logs().and(query_param("view", "STRUCTURED"));
            if index > 0 {
                mock = mock.and(query_param("pageToken", format!("page-{}", index + 1)));
            }
            cloud
                .mount(
                    mock.respond_with(ok_json(logs_page(&borrowed(page), &next)))
                        .expect(1),
                )
                .await;
        }
    }
}

fn owned(messages: &[(&str, &str)]) -> Vec<(String, String)> {
    messages
        .iter()
        .map(|(level, text)| ((*level).to_owned(), (*text).to_owned()))
        .collect()
}

fn borrowed(messages: &[(String, String)]) -> Vec<(&str, &str)> {
    messages
        .iter()
        .map(|(level, text)| (level.as_str(), text.as_str()))
        .collect()
}

/// Mocks of the routes a run uses, to finish with `.respond_with(…)`.
pub fn on_create() -> MockBuilder {
    Mock::given(method("POST")).and(path(CREATE_PATH))
}

/// The route a place file is uploaded to.
pub fn on_upload() -> MockBuilder {
    Mock::given(method("POST")).and(path(UPLOAD_PATH))
}

pub fn on_get() -> MockBuilder {
    Mock::given(method("GET")).and(path(format!("/cloud/v2/{TASK_PATH}")))
}

pub fn on_logs() -> MockBuilder {
    Mock::given(method("GET")).and(path(format!("/cloud/v2/{TASK_PATH}/logs")))
}

/// A 200 answer with a JSON body.
pub fn ok_json(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

pub fn task(state: &str) -> Value {
    json!({ "path": TASK_PATH, "createTime": "2026-01-01T00:00:00.123Z", "user": "7", "state": state, "script": "" })
}

pub fn failed(code: &str, message: &str) -> Value {
    let mut body = task("FAILED");
    body["error"] = json!({ "code": code, "message": message });
    body
}

pub fn complete(results: Value) -> Value {
    let mut body = task("COMPLETE");
    body["output"] = json!({ "results": results });
    body
}

pub fn logs_page(messages: &[(&str, &str)], next: &str) -> Value {
    let structured: Vec<Value> = messages
        .iter()
        .map(|(level, text)| json!({ "message": text, "createTime": "2026-01-01T00:00:01Z", "messageType": level }))
        .collect();
    json!({
        "luauExecutionSessionTaskLogs": [{ "path": format!("{TASK_PATH}/logs/1"), "structuredMessages": structured }],
        "nextPageToken": next,
    })
}

/// The fake itself, asked directly: a story is told in order, a hook comes first, and an
/// expected request that never came fails the test.
mod tests {
    use super::*;

    async fn get(url: &str) -> Value {
        reqwest::get(url)
            .await
            .expect("the fake answers")
            .json()
            .await
            .unwrap_or(Value::Null)
    }

    #[tokio::test]
    async fn a_story_is_told_in_order_and_a_hook_comes_first() {
        let cloud = FakeCloud::task()
            .through(&["QUEUED", "PROCESSING", "PROCESSING"])
            .completes(json!([1]))
            .log_pages(&[&[("OUTPUT", "one")], &[("OUTPUT", "two")]])
            .start()
            .await;
        cloud
            .mount_first(
                on_get()
                    .respond_with(ok_json(task("HOOKED")))
                    .up_to_n_times(1),
            )
            .await;
        let created = reqwest::Client::new()
            .post(format!("{}{CREATE_PATH}", cloud.uri()))
            .header("x-api-key", KEY)
            .send()
            .await
            .expect("the fake answers");
        let created: Value = created.json().await.expect("a task");
        assert_eq!(created["state"], "QUEUED");
        let poll = format!("{}/cloud/v2/{TASK_PATH}", cloud.uri());
        let mut states = Vec::new();
        for _ in 0..5 {
            states.push(get(&poll).await["state"].as_str().unwrap_or("?").to_owned());
        }
        assert_eq!(
            states,
            ["HOOKED", "PROCESSING", "PROCESSING", "COMPLETE", "COMPLETE"]
        );
        let logs = format!("{poll}/logs?view=STRUCTURED");
        let first = get(&logs).await;
        assert_eq!(first["nextPageToken"], "page-2");
        let second = get(&format!("{logs}&pageToken=page-2")).await;
        assert_eq!(
            second["luauExecutionSessionTaskLogs"][0]["structuredMessages"][0]["message"],
            "two"
        );
        assert_eq!(second["nextPageToken"], "");
        assert_eq!(cloud.requests("GET").await, 7);
        assert_eq!(cloud.requests("POST").await, 1);
    }

    #[tokio::test]
    #[should_panic(expected = "Verifications failed")]
    async fn a_create_that_never_came_fails_the_test() {
        let _cloud = FakeCloud::task().start().await;
    }
}
