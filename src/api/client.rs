//! The Open Cloud HTTP client: an injected base URL, a per-request timeout, a `User-Agent`
//! naming the tool, and the retry policy of [`super::retry`] applied to every request.
//!
//! The API key goes only to the base URL, in the `x-api-key` header, and a request that carries
//! it never follows a redirect (Open Cloud does not redirect these calls; following one would
//! hand the key to another origin). Presigned URLs (binary input upload, binary output
//! download) live on other hosts, never see the key, and may follow https redirects.
//!
//! Nothing a server sends is trusted: every body is read under a cap (see [`super::body`]),
//! decoded leniently, and its free text (error messages, log lines) scrubbed of the key before
//! any of it reaches the rest of the program; what is parsed (paths, tokens, the results JSON)
//! is left as sent and scrubbed where it is printed or written.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use regex::Regex;
use reqwest::redirect::Policy;
use reqwest::{RequestBuilder, Url};
use serde::de::DeserializeOwned;

use super::TaskApi;
use super::body::{self, BodyError, describe_transport};
use super::error::{ApiError, Operation, Service, describe_error_body, rejection_hint};
use super::limiter::{Bucket, Limiter};
use super::model::{BinaryInput, CreateTaskRequest, LogsPage, PlaceVersion, Redact, Task};
use super::retry::{self, Idempotency, RetryPolicy, RetryState, Verdict};
use crate::clock::Timing;
use crate::poller::TaskSource;
use crate::roblox::MAX_BINARY_OUTPUT_BYTES;
use crate::secret::{ApiKey, Redactor};

/// Ordinary requests: long enough for a slow edge, short enough that a hung connection is
/// retried well within the retry budget.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Uploads and downloads of up to 256 MiB.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Logs are read in the STRUCTURED view (levels), as many chunks per page as the API allows
/// (its documented maximum, which is also its default).
const LOG_PAGE_SIZE: &str = "10000";
/// Redirects a presigned transfer may follow, each to https (or to this machine).
const MAX_PRESIGNED_REDIRECTS: usize = 5;
/// Reports bytes sent of a total, for upload progress lines.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// A client of one Open Cloud (or emulator) base URL, holding the key.
pub struct OpenCloud {
    /// For requests that carry the key: never follows redirects.
    pub(super) keyed_http: reqwest::Client,
    /// For presigned URLs: no key, https-only redirects.
    presigned_http: reqwest::Client,
    pub(super) base: String,
    key: ApiKey,
    redactor: Redactor,
    service: Service,
    policy: RetryPolicy,
    resource_path: Regex,
    /// Roblox's per-key-owner rate limits, shared by every task of the step (Open Cloud only:
    /// the local emulator has none).
    limiter: Option<Arc<Limiter>>,
    /// The in-process emulator's count of task state changes: polls wait on it, not on a
    /// timer alone (`backend: local` only).
    task_changes: Option<tokio::sync::watch::Receiver<u64>>,
}

/// How the body of a successful answer is read.
pub(super) enum Read<'a> {
    /// Into memory, at most this many bytes.
    Capped(usize),
    /// Streamed into a file, at most this many bytes.
    ToFile(&'a Path, u64),
}

/// A successful answer's body, as [`Read`] asked for it.
pub(super) enum Body {
    Bytes(Bytes),
    /// Bytes written to the file.
    Written(u64),
}

/// What one request is, for the retry loop.
pub(super) struct Call<'a> {
    pub(super) operation: Operation,
    pub(super) idempotency: Idempotency,
    /// What the request is about, in the user's words ("universe 1, place 2").
    pub(super) target: String,
    pub(super) timeout: Duration,
    pub(super) read: Read<'a>,
    /// The rate limit the request counts against.
    pub(super) bucket: Option<Bucket>,
    /// A create refused with 429 (rate limited, or the place's ten slots full) is asked again
    /// until this instant, however long that takes: waiting for a slot is never a failure.
    pub(super) patience: Option<tokio::time::Instant>,
}

/// How one attempt failed.
enum AttemptError {
    /// Worth another try, after `retry_after` if the server said so.
    Retry {
        retry_after: Option<Duration>,
        reason: String,
        /// A 429: the rate limit (or the place's slots) said no.
        throttled: bool,
    },
    /// Final.
    Fatal(ApiError),
}

impl OpenCloud {
    pub fn new(
        base_url: &Url,
        key: ApiKey,
        timing: Timing,
        service: Service,
    ) -> Result<Self, ApiError> {
        let build = |policy: Policy| {
            reqwest::Client::builder()
                .user_agent(concat!("luau-exec/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(CONNECT_TIMEOUT)
                .redirect(policy)
                .build()
                .map_err(|e| ApiError::Client(e.to_string()))
        };
        let presigned_policy = Policy::custom(|attempt| {
            if attempt.previous().len() >= MAX_PRESIGNED_REDIRECTS {
                attempt.error("too many redirects")
            } else if is_allowed_transfer_url(attempt.url()) {
                attempt.follow()
            } else {
                attempt.error("a redirect to a URL that is not https")
            }
        });
        let resource_path = Regex::new(
            r"^universes/[A-Za-z0-9_~-][A-Za-z0-9._~-]*(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*$",
        )
        .map_err(|e| ApiError::Client(e.to_string()))?;
        Ok(Self {
            keyed_http: build(Policy::none())?,
            presigned_http: build(presigned_policy)?,
            base: base_url.as_str().trim_end_matches('/').to_owned(),
            redactor: key.redactor(),
            key,
            service,
            policy: RetryPolicy::new(timing),
            resource_path,
            limiter: None,
            task_changes: None,
        })
    }

    /// Counts every request against `limiter` (Roblox's per-key-owner rate limits).
    pub fn with_limiter(mut self, limiter: Arc<Limiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Polls of this client's tasks wake when `changes` does (the embedded emulator's count of
    /// task state changes), besides their schedule.
    pub fn with_task_changes(mut self, changes: tokio::sync::watch::Receiver<u64>) -> Self {
        self.task_changes = Some(changes);
        self
    }

    /// The step's rate limiter, if requests are limited.
    pub fn limiter(&self) -> Option<&Limiter> {
        self.limiter.as_deref()
    }
}

/// The runner's seam ([`TaskApi`]) is this client's whole public surface for calls: one
/// definition of each, used by the runner (generic over the trait) and the emulator's tests alike.
impl TaskApi for OpenCloud {
    type Maps = OpenCloud;

    /// What scrubs the key out of text shown to people (see [`crate::secret`]).
    fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Whom this client talks to, for messages.
    fn service(&self) -> Service {
        self.service
    }

    /// Creates the task, pinned to `version` when given. Retried only on 429 and failed
    /// connects: see [`retry`]. 429s are asked again until `patience` when given.
    async fn create_task(
        &self,
        universe: u64,
        place: u64,
        version: Option<u64>,
        request: &CreateTaskRequest,
        patience: Option<tokio::time::Instant>,
    ) -> Result<Task, ApiError> {
        let (url, target) = match version {
            Some(v) => (
                format!(
                    "{}/cloud/v2/universes/{universe}/places/{place}/versions/{v}/luau-execution-session-tasks",
                    self.base
                ),
                format!("universe {universe}, place {place}, version {v}"),
            ),
            None => (
                format!(
                    "{}/cloud/v2/universes/{universe}/places/{place}/luau-execution-session-tasks",
                    self.base
                ),
                format!("universe {universe}, place {place}"),
            ),
        };
        let call = Call {
            operation: Operation::CreateTask,
            idempotency: Idempotency::Create,
            target,
            timeout: REQUEST_TIMEOUT,
            read: Read::Capped(body::TASK_BODY_CAP),
            bucket: Some(if version.is_some() {
                Bucket::CreateAtVersion
            } else {
                Bucket::CreateAtHead
            }),
            patience,
        };
        let task: Task = self
            .execute(
                call,
                || self.keyed(self.keyed_http.post(&url)).json(request),
                parse_json,
            )
            .await?;
        self.check_resource_path(Operation::CreateTask, &task.path)?;
        Ok(task)
    }

    /// Reads one page of the task's logs (STRUCTURED view).
    async fn list_logs(&self, path: &str, page_token: Option<&str>) -> Result<LogsPage, ApiError> {
        self.check_resource_path(Operation::ListLogs, path)?;
        let url = format!("{}/cloud/v2/{path}/logs", self.base);
        let mut query = vec![("view", "STRUCTURED"), ("maxPageSize", LOG_PAGE_SIZE)];
        if let Some(token) = page_token {
            query.push(("pageToken", token));
        }
        let call = Call {
            operation: Operation::ListLogs,
            idempotency: Idempotency::Idempotent,
            target: path.to_owned(),
            timeout: REQUEST_TIMEOUT,
            read: Read::Capped(body::LOGS_BODY_CAP),
            bucket: Some(Bucket::ListLogs),
            patience: None,
        };
        self.execute(
            call,
            || self.keyed(self.keyed_http.get(&url)).query(&query),
            parse_json,
        )
        .await
    }

    /// Uploads a place file as a new Saved version (never Published, which changes the live
    /// game) and returns its version number. Retried like a GET: Roblox dedupes identical bytes.
    async fn upload_place(
        &self,
        universe: u64,
        place: u64,
        content_type: &'static str,
        bytes: Bytes,
        progress: Progress,
    ) -> Result<u64, ApiError> {
        let url = format!(
            "{}/universes/v1/{universe}/places/{place}/versions?versionType=Saved",
            self.base
        );
        let call = Call {
            operation: Operation::UploadPlace,
            idempotency: Idempotency::Idempotent,
            target: format!("place {place} in universe {universe}"),
            timeout: TRANSFER_TIMEOUT,
            read: Read::Capped(body::SMALL_BODY_CAP),
            bucket: Some(Bucket::UploadPlace),
            patience: None,
        };
        let version: PlaceVersion = self
            .execute(
                call,
                || {
                    self.keyed(self.keyed_http.post(&url))
                        .header(reqwest::header::CONTENT_TYPE, content_type)
                        .header(reqwest::header::ACCEPT, "application/json")
                        .header(reqwest::header::CONTENT_LENGTH, bytes.len())
                        .body(progress_body(bytes.clone(), progress.clone()))
                },
                // Documented as text/plain holding JSON: parse whatever the Content-Type says.
                parse_json,
            )
            .await?;
        Ok(version.version_number)
    }

    /// Creates a binary input of `size` bytes; the answer holds the presigned upload URI.
    async fn create_binary_input(&self, universe: u64, size: u64) -> Result<BinaryInput, ApiError> {
        let url = format!(
            "{}/cloud/v2/universes/{universe}/luau-execution-session-task-binary-inputs",
            self.base
        );
        let request = serde_json::json!({ "size": size });
        let call = Call {
            operation: Operation::CreateBinaryInput,
            // A retried create leaves at most an unused input behind, which expires in
            // 15 minutes; it starts nothing. Still, only 429 and failed connects are retried.
            idempotency: Idempotency::Create,
            target: format!("universe {universe}"),
            timeout: REQUEST_TIMEOUT,
            read: Read::Capped(body::SMALL_BODY_CAP),
            bucket: Some(Bucket::CreateBinaryInput),
            patience: None,
        };
        let input: BinaryInput = self
            .execute(
                call,
                || self.keyed(self.keyed_http.post(&url)).json(&request),
                parse_json,
            )
            .await?;
        if !self.resource_path.is_match(&input.path) {
            return Err(self.bad_response(
                Operation::CreateBinaryInput,
                "the answer has no usable `path`".into(),
            ));
        }
        Ok(input)
    }

    /// PUTs the bytes to a presigned URI, without the API key.
    async fn upload_binary_input(
        &self,
        uri: &str,
        bytes: Bytes,
        progress: Progress,
    ) -> Result<(), ApiError> {
        let url = self.presigned_url(Operation::UploadBinaryInput, uri)?;
        let call = Call {
            operation: Operation::UploadBinaryInput,
            idempotency: Idempotency::Idempotent,
            target: "the presigned upload URI".into(),
            timeout: TRANSFER_TIMEOUT,
            read: Read::Capped(body::SMALL_BODY_CAP),
            bucket: None,
            patience: None,
        };
        self.execute(
            call,
            || {
                self.presigned_http
                    .put(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .header(reqwest::header::CONTENT_LENGTH, bytes.len())
                    .body(progress_body(bytes.clone(), progress.clone()))
            },
            |_| Ok(()),
        )
        .await
    }

    /// Streams a presigned URI's bytes into `path` (at most 256 MiB), without the API key.
    /// Returns the number of bytes written.
    async fn download_binary_output(&self, uri: &str, path: &Path) -> Result<u64, ApiError> {
        let url = self.presigned_url(Operation::DownloadBinaryOutput, uri)?;
        let call = Call {
            operation: Operation::DownloadBinaryOutput,
            idempotency: Idempotency::Idempotent,
            target: "the binary output URI".into(),
            timeout: TRANSFER_TIMEOUT,
            read: Read::ToFile(path, MAX_BINARY_OUTPUT_BYTES),
            bucket: None,
            patience: None,
        };
        self.execute(
            call,
            || self.presigned_http.get(url.clone()),
            |body| match body {
                Body::Written(bytes) => Ok(bytes),
                Body::Bytes(bytes) => Ok(bytes.len() as u64),
            },
        )
        .await
    }

    /// Open Cloud's memory-store sorted maps (the local emulator's are new each run).
    fn sorted_maps(&self) -> Option<&OpenCloud> {
        (self.service == Service::OpenCloud).then_some(self)
    }

    /// Live progress reads the emulator's store as it reads Open Cloud's.
    fn progress_maps(&self) -> Option<&OpenCloud> {
        Some(self)
    }
}

impl TaskSource for OpenCloud {
    /// Reads the task at `path`, exactly as create returned it.
    async fn get_task(&self, path: &str) -> Result<Task, ApiError> {
        self.check_resource_path(Operation::GetTask, path)?;
        let url = format!("{}/cloud/v2/{path}", self.base);
        let call = Call {
            operation: Operation::GetTask,
            idempotency: Idempotency::Idempotent,
            target: path.to_owned(),
            timeout: REQUEST_TIMEOUT,
            read: Read::Capped(body::TASK_BODY_CAP),
            bucket: Some(Bucket::GetTask),
            patience: None,
        };
        self.execute(call, || self.keyed(self.keyed_http.get(&url)), parse_json)
            .await
    }

    fn poll_floor(&self) -> Duration {
        self.limiter().map(Limiter::poll_floor).unwrap_or_default()
    }

    fn poll_budget(&self) -> Option<&super::PollBudget> {
        self.limiter().map(Limiter::polls)
    }

    fn task_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.task_changes.clone()
    }
}

impl OpenCloud {
    pub(super) fn keyed(&self, request: RequestBuilder) -> RequestBuilder {
        let mut value = reqwest::header::HeaderValue::from_str(self.key.expose())
            .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("invalid"));
        // Keeps the key out of any debug dump of the request.
        value.set_sensitive(true);
        request.header("x-api-key", value)
    }

    fn bad_response(&self, operation: Operation, detail: String) -> ApiError {
        ApiError::BadResponse {
            service: self.service,
            operation,
            detail: self.redactor.redact(&detail).into_owned(),
        }
    }

    /// The task path is used verbatim, but only if it is a plain resource name: no query, no
    /// `..`, nothing that could point the key somewhere else.
    fn check_resource_path(&self, operation: Operation, path: &str) -> Result<(), ApiError> {
        if self.resource_path.is_match(path) && !path.split('/').any(|s| s == "." || s == "..") {
            Ok(())
        } else {
            Err(self.bad_response(
                operation,
                format!(
                    "the task path `{}` is not a resource name",
                    crate::text::cut(&self.redactor.redact(path), 120)
                ),
            ))
        }
    }

    /// A presigned URL must be https (or http to this machine, for the emulator and tests).
    fn presigned_url(&self, operation: Operation, uri: &str) -> Result<Url, ApiError> {
        let url = Url::parse(uri).map_err(|e| {
            self.bad_response(operation, format!("the presigned URI is not a URL: {e}"))
        })?;
        if is_allowed_transfer_url(&url) {
            Ok(url)
        } else {
            Err(self.bad_response(
                operation,
                "the presigned URI is not https; refusing to send data in clear text".into(),
            ))
        }
    }

    /// Sends a request until it succeeds, is rejected, or the retry budget runs out. The free
    /// text of what comes back is scrubbed of the key here, before anyone sees it.
    pub(super) async fn execute<T: Redact + Send + 'static>(
        &self,
        call: Call<'_>,
        build: impl Fn() -> RequestBuilder,
        parse: impl Fn(Body) -> Result<T, String> + Copy + Send + 'static,
    ) -> Result<T, ApiError> {
        let mut streak = RetryState::new(self.policy);
        loop {
            if let (Some(limiter), Some(bucket)) = (&self.limiter, call.bucket) {
                let waited = limiter.acquire(bucket).await;
                if !waited.is_zero() {
                    tracing::debug!(operation = %call.operation, ?waited, "held back by the rate limit");
                }
            }
            let (retry_after, reason, throttled) = match self.attempt(&call, build(), parse).await {
                Ok(mut value) => {
                    value.redact_with(&self.redactor);
                    return Ok(value);
                }
                Err(AttemptError::Fatal(error)) => return Err(error),
                Err(AttemptError::Retry {
                    retry_after,
                    reason,
                    throttled,
                }) => (
                    retry_after,
                    self.redactor.redact(&reason).into_owned(),
                    throttled,
                ),
            };
            if let (true, Some(after), Some(limiter), Some(bucket)) =
                (throttled, retry_after, &self.limiter, call.bucket)
            {
                // Every task of the step waits the server's word out, not just this one (no
                // longer than the retry policy honours it: a server cannot stall the step).
                let after = after.min(self.policy.max_retry_after);
                limiter.hold(bucket, tokio::time::Instant::now() + after);
            }
            let jitter = retry::jitter();
            let delay = streak.next_delay(retry_after, jitter).or_else(|| {
                // A create held off by 429s (a full place, a spent quota) waits for its turn
                // until the step's deadline: it is never a failure, and never a second task.
                let left = call
                    .patience
                    .filter(|_| throttled)?
                    .checked_duration_since(tokio::time::Instant::now())?;
                (!left.is_zero()).then(|| {
                    self.policy
                        .delay(streak.attempts(), retry_after, jitter)
                        .min(left)
                })
            });
            match delay {
                Some(delay) => {
                    tracing::debug!(operation = %call.operation, attempts = streak.attempts(), ?delay, %reason, "retrying");
                    tokio::time::sleep(delay).await;
                }
                None => {
                    return Err(ApiError::Unavailable {
                        service: self.service,
                        operation: call.operation,
                        attempts: streak.attempts(),
                        elapsed: streak.elapsed(),
                        last: reason,
                    });
                }
            }
        }
    }

    /// One request and the reading of its answer.
    async fn attempt<T: Send + 'static>(
        &self,
        call: &Call<'_>,
        request: RequestBuilder,
        parse: impl Fn(Body) -> Result<T, String> + Send + 'static,
    ) -> Result<T, AttemptError> {
        let transport = |error: &reqwest::Error, connect: bool| {
            let reason = describe_transport(error);
            match retry::transport_verdict(connect, call.idempotency) {
                Verdict::Retry => AttemptError::Retry {
                    retry_after: None,
                    reason,
                    throttled: false,
                },
                _ => AttemptError::Fatal(ApiError::AmbiguousCreate {
                    reason: self.redactor.redact(&reason).into_owned(),
                }),
            }
        };
        let response = request
            .timeout(call.timeout)
            .send()
            .await
            .map_err(|e| transport(&e, e.is_connect()))?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(self.refusal(call, response).await);
        }
        let body = match call.read {
            Read::Capped(cap) => body::read_capped(response, cap).await.map(Body::Bytes),
            Read::ToFile(path, cap) => body::stream_to_file(response, path, cap)
                .await
                .map(Body::Written),
        };
        let unreadable = |problem: String| {
            if call.idempotency == Idempotency::Create {
                AttemptError::Fatal(ApiError::AmbiguousCreate {
                    reason: self
                        .redactor
                        .redact(&format!(
                            "HTTP {status} with a body that could not be read: {problem}"
                        ))
                        .into_owned(),
                })
            } else {
                AttemptError::Retry {
                    retry_after: None,
                    reason: format!("HTTP {status} with an unreadable body: {problem}"),
                    throttled: false,
                }
            }
        };
        match body {
            Ok(body) => parse_body(parse, body).await.map_err(unreadable),
            Err(BodyError::Write { path, source }) => {
                Err(AttemptError::Fatal(ApiError::LocalWrite {
                    path,
                    detail: source.to_string(),
                }))
            }
            // No answer Open Cloud sends is that large: asking again only downloads it again.
            Err(too_large @ BodyError::TooLarge { .. })
                if call.idempotency == Idempotency::Idempotent =>
            {
                Err(AttemptError::Fatal(self.bad_response(
                    call.operation,
                    format!("HTTP {status}: {too_large}"),
                )))
            }
            Err(error) => Err(unreadable(error.to_string())),
        }
    }

    /// The verdict on a non-2xx answer, with what its (capped) body says.
    async fn refusal(&self, call: &Call<'_>, response: reqwest::Response) -> AttemptError {
        let status = response.status().as_u16();
        let retry_after = retry::retry_after(response.headers(), SystemTime::now());
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| crate::text::cut(&self.redactor.redact(v), 120));
        let prefix = body::read_prefix(response, body::ERROR_BODY_CAP).await;
        let mut detail = self
            .redactor
            .redact(&describe_error_body(&prefix))
            .into_owned();
        if let Some(location) = location.filter(|_| (300..400).contains(&status)) {
            detail = format!(
                "a redirect to `{}`",
                self.redactor.redact(&crate::text::defang(&location))
            );
        }
        match retry::status_verdict(status, call.idempotency) {
            Verdict::Reject => AttemptError::Fatal(ApiError::Rejected {
                service: self.service,
                operation: call.operation,
                status,
                detail,
                hint: rejection_hint(self.service, call.operation, status, &call.target),
            }),
            Verdict::Ambiguous => AttemptError::Fatal(ApiError::AmbiguousCreate {
                reason: format!("HTTP {status}: {detail}"),
            }),
            Verdict::Retry => {
                let mut reason = format!("HTTP {status}: {detail}");
                if status == 429 && call.operation == Operation::CreateTask {
                    reason
                        .push_str(" (rate limited, or the place already has 10 unfinished tasks)");
                }
                AttemptError::Retry {
                    retry_after,
                    reason,
                    throttled: status == 429,
                }
            }
        }
    }
}

/// Answers from this size on are parsed on a blocking thread: a suite's finished task is
/// megabytes of results, and the shards of a step that end together are then read at once,
/// each on a core, rather than one after the other on the thread that follows them.
const PARSED_OFF_THREAD_FROM: usize = 256 * 1024;

/// `parse(body)`, on a blocking thread when the body is large.
async fn parse_body<T: Send + 'static>(
    parse: impl Fn(Body) -> Result<T, String> + Send + 'static,
    body: Body,
) -> Result<T, String> {
    if !matches!(&body, Body::Bytes(bytes) if bytes.len() >= PARSED_OFF_THREAD_FROM) {
        return parse(body);
    }
    match tokio::task::spawn_blocking(move || parse(body)).await {
        Ok(parsed) => parsed,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Only a runtime that is shutting down cancels it.
            Err(cancelled) => Err(cancelled.to_string()),
        },
    }
}

pub(super) fn parse_json<T: DeserializeOwned>(body: Body) -> Result<T, String> {
    match body {
        Body::Bytes(bytes) => body::parse_json_lenient(&bytes),
        Body::Written(_) => Err("the answer was written to a file".into()),
    }
}

/// https anywhere; plain http only to this machine (the emulator, tests).
fn is_allowed_transfer_url(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => super::url::is_loopback(url),
        _ => false,
    }
}

/// A request body that reports progress as chunks are handed to the connection.
fn progress_body(bytes: Bytes, progress: Progress) -> reqwest::Body {
    const CHUNK: usize = 256 * 1024;
    let total = bytes.len() as u64;
    let chunks: Vec<Bytes> = (0..bytes.len())
        .step_by(CHUNK)
        .map(|start| bytes.slice(start..(start + CHUNK).min(bytes.len())))
        .collect();
    let mut sent = 0u64;
    let stream = futures_util::stream::iter(chunks).map(move |chunk| {
        sent += chunk.len() as u64;
        progress(sent, total);
        Ok::<Bytes, std::io::Error>(chunk)
    });
    reqwest::Body::wrap_stream(stream)
}
