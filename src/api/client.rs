//! The Open Cloud HTTP client: one `reqwest::Client` per run, an injected base URL, a
//! per-request timeout, a `User-Agent` naming the tool, and the retry policy of
//! [`super::retry`] applied to every request.
//!
//! The API key goes only to the base URL, in the `x-api-key` header. Presigned URLs (binary
//! input upload, binary output download) live on other hosts and never see it.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use regex::Regex;
use reqwest::{RequestBuilder, Url};
use serde::de::DeserializeOwned;

use super::error::{ApiError, Operation, describe_error_body, rejection_hint};
use super::model::{BinaryInput, CreateTaskRequest, LogsPage, PlaceVersion, Task};
use super::retry::{self, Idempotency, RetryPolicy, Verdict};
use crate::config::Timing;
use crate::secret::ApiKey;

/// Ordinary requests: long enough for a slow edge, short enough that a hung connection is
/// retried well within the retry budget.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Uploads and downloads of up to 256 MiB.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Logs are read in the STRUCTURED view (levels), as many chunks per page as the API allows.
const LOG_PAGE_SIZE: &str = "10000";

/// Reports bytes sent of a total, for upload progress lines.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

pub struct OpenCloud {
    http: reqwest::Client,
    base: String,
    key: ApiKey,
    policy: RetryPolicy,
    resource_path: Regex,
}

impl OpenCloud {
    pub fn new(base_url: &Url, key: ApiKey, timing: Timing) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("luau-exec/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot start the HTTP client: {e}"))?;
        let resource_path = Regex::new(
            r"^universes/[A-Za-z0-9_~-][A-Za-z0-9._~-]*(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*$",
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            base: base_url.as_str().trim_end_matches('/').to_owned(),
            key,
            policy: RetryPolicy::new(timing),
            resource_path,
        })
    }

    /// Creates the task, pinned to `version` when given. Retried only on 429 and failed
    /// connects: see [`retry`].
    pub async fn create_task(
        &self,
        universe: u64,
        place: u64,
        version: Option<u64>,
        body: &CreateTaskRequest,
    ) -> Result<Task, ApiError> {
        let url = match version {
            Some(v) => format!(
                "{}/cloud/v2/universes/{universe}/places/{place}/versions/{v}/luau-execution-session-tasks",
                self.base
            ),
            None => format!(
                "{}/cloud/v2/universes/{universe}/places/{place}/luau-execution-session-tasks",
                self.base
            ),
        };
        let target = match version {
            Some(v) => format!("universe {universe}, place {place}, version {v}"),
            None => format!("universe {universe}, place {place}"),
        };
        let task: Task = self
            .execute(
                Operation::CreateTask,
                Idempotency::Create,
                &target,
                TimeoutKind::Request,
                || self.keyed(self.http.post(&url)).json(body),
                parse_json,
            )
            .await?;
        self.check_resource_path(Operation::CreateTask, &task.path)?;
        Ok(task)
    }

    /// Reads the task at `path`, exactly as create returned it.
    pub async fn get_task(&self, path: &str) -> Result<Task, ApiError> {
        self.check_resource_path(Operation::GetTask, path)?;
        let url = format!("{}/cloud/v2/{path}", self.base);
        self.execute(
            Operation::GetTask,
            Idempotency::Idempotent,
            path,
            TimeoutKind::Request,
            || self.keyed(self.http.get(&url)),
            parse_json,
        )
        .await
    }

    /// Reads one page of the task's logs (STRUCTURED view).
    pub async fn list_logs(
        &self,
        path: &str,
        page_token: Option<&str>,
    ) -> Result<LogsPage, ApiError> {
        self.check_resource_path(Operation::ListLogs, path)?;
        let url = format!("{}/cloud/v2/{path}/logs", self.base);
        let mut query = vec![("view", "STRUCTURED"), ("maxPageSize", LOG_PAGE_SIZE)];
        if let Some(token) = page_token {
            query.push(("pageToken", token));
        }
        self.execute(
            Operation::ListLogs,
            Idempotency::Idempotent,
            path,
            TimeoutKind::Request,
            || self.keyed(self.http.get(&url)).query(&query),
            parse_json,
        )
        .await
    }

    /// Uploads a place file as a new Saved version (never Published, which changes the live
    /// game) and returns its version number. Retried like a GET: Roblox dedupes identical bytes.
    pub async fn upload_place(
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
        let target = format!("place {place} in universe {universe}");
        let version: PlaceVersion = self
            .execute(
                Operation::UploadPlace,
                Idempotency::Idempotent,
                &target,
                TimeoutKind::Transfer,
                || {
                    self.keyed(self.http.post(&url))
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
    pub async fn create_binary_input(
        &self,
        universe: u64,
        size: u64,
    ) -> Result<BinaryInput, ApiError> {
        let url = format!(
            "{}/cloud/v2/universes/{universe}/luau-execution-session-task-binary-inputs",
            self.base
        );
        let body = serde_json::json!({ "size": size });
        let input: BinaryInput = self
            .execute(
                Operation::CreateBinaryInput,
                // A retried create leaves at most an unused input behind, which expires in
                // 15 minutes; it starts nothing. Still, only 429 and failed connects are retried.
                Idempotency::Create,
                &format!("universe {universe}"),
                TimeoutKind::Request,
                || self.keyed(self.http.post(&url)).json(&body),
                parse_json,
            )
            .await?;
        if !self.resource_path.is_match(&input.path) {
            return Err(ApiError::BadResponse {
                operation: Operation::CreateBinaryInput,
                detail: "the answer has no usable `path`".into(),
            });
        }
        Ok(input)
    }

    /// PUTs the bytes to a presigned URI, without the API key.
    pub async fn upload_binary_input(
        &self,
        uri: &str,
        bytes: Bytes,
        progress: Progress,
    ) -> Result<(), ApiError> {
        let url = presigned_url(Operation::UploadBinaryInput, uri)?;
        self.execute(
            Operation::UploadBinaryInput,
            Idempotency::Idempotent,
            "the presigned upload URI",
            TimeoutKind::Transfer,
            || {
                self.http
                    .put(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .header(reqwest::header::CONTENT_LENGTH, bytes.len())
                    .body(progress_body(bytes.clone(), progress.clone()))
            },
            |_| Ok(()),
        )
        .await
    }

    /// GETs a presigned URI, without the API key.
    pub async fn download_binary_output(&self, uri: &str) -> Result<Bytes, ApiError> {
        let url = presigned_url(Operation::DownloadBinaryOutput, uri)?;
        self.execute(
            Operation::DownloadBinaryOutput,
            Idempotency::Idempotent,
            "the binary output URI",
            TimeoutKind::Transfer,
            || self.http.get(url.clone()),
            |body| Ok(Bytes::copy_from_slice(body)),
        )
        .await
    }

    fn keyed(&self, request: RequestBuilder) -> RequestBuilder {
        let mut value = reqwest::header::HeaderValue::from_str(self.key.expose())
            .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("invalid"));
        // Keeps the key out of any debug dump of the request.
        value.set_sensitive(true);
        request.header("x-api-key", value)
    }

    /// The task path is used verbatim, but only if it is a plain resource name: no query, no
    /// `..`, nothing that could point the key somewhere else.
    fn check_resource_path(&self, operation: Operation, path: &str) -> Result<(), ApiError> {
        if self.resource_path.is_match(path) && !path.split('/').any(|s| s == "." || s == "..") {
            Ok(())
        } else {
            Err(ApiError::BadResponse {
                operation,
                detail: format!(
                    "the task path `{}` is not a resource name",
                    crate::text::cut(path, 120)
                ),
            })
        }
    }

    /// Sends a request until it succeeds, is rejected, or the retry budget runs out.
    async fn execute<T>(
        &self,
        operation: Operation,
        idempotency: Idempotency,
        target: &str,
        timeout: TimeoutKind,
        build: impl Fn() -> RequestBuilder,
        parse: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<T, ApiError> {
        let started = Instant::now();
        let mut attempts: u32 = 0;
        loop {
            attempts += 1;
            let request = build().timeout(match timeout {
                TimeoutKind::Request => REQUEST_TIMEOUT,
                TimeoutKind::Transfer => TRANSFER_TIMEOUT,
            });
            let (retry_after, reason) = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) if status.is_success() => match parse(&body) {
                            Ok(value) => return Ok(value),
                            Err(problem) if idempotency == Idempotency::Create => {
                                return Err(ApiError::AmbiguousCreate {
                                    reason: format!(
                                        "HTTP {status} with a body that could not be read: {problem}"
                                    ),
                                });
                            }
                            Err(problem) => (
                                None,
                                format!(
                                    "HTTP {} with an unreadable body: {problem}",
                                    status.as_u16()
                                ),
                            ),
                        },
                        Ok(body) => {
                            let detail = describe_error_body(&body);
                            match retry::status_verdict(status.as_u16(), idempotency) {
                                Verdict::Reject => {
                                    return Err(ApiError::Rejected {
                                        operation,
                                        status: status.as_u16(),
                                        detail,
                                        hint: rejection_hint(operation, status.as_u16(), target),
                                    });
                                }
                                Verdict::Ambiguous => {
                                    return Err(ApiError::AmbiguousCreate {
                                        reason: format!("HTTP {}: {detail}", status.as_u16()),
                                    });
                                }
                                Verdict::Retry => {
                                    let mut reason = format!("HTTP {}: {detail}", status.as_u16());
                                    if status.as_u16() == 429 && operation == Operation::CreateTask
                                    {
                                        reason.push_str(" (rate limited, or the place already has 10 unfinished tasks)");
                                    }
                                    (retry::retry_after(&headers, SystemTime::now()), reason)
                                }
                            }
                        }
                        Err(error) => match retry::transport_verdict(false, idempotency) {
                            Verdict::Retry => (
                                None,
                                format!(
                                    "reading the answer failed: {}",
                                    describe_transport(&error)
                                ),
                            ),
                            _ => {
                                return Err(ApiError::AmbiguousCreate {
                                    reason: format!(
                                        "reading the answer failed: {}",
                                        describe_transport(&error)
                                    ),
                                });
                            }
                        },
                    }
                }
                Err(error) => match retry::transport_verdict(error.is_connect(), idempotency) {
                    Verdict::Retry => (None, describe_transport(&error)),
                    _ => {
                        return Err(ApiError::AmbiguousCreate {
                            reason: describe_transport(&error),
                        });
                    }
                },
            };
            let delay = self
                .policy
                .delay(attempts - 1, retry_after, retry::jitter());
            if !self.policy.may_retry(attempts, started.elapsed()) {
                return Err(ApiError::Unavailable {
                    operation,
                    attempts,
                    elapsed: started.elapsed(),
                    last: reason,
                });
            }
            tracing::debug!(%operation, attempts, ?delay, %reason, "retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum TimeoutKind {
    Request,
    Transfer,
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// A presigned URL must be https (or http to this machine, for the emulator and tests).
fn presigned_url(operation: Operation, uri: &str) -> Result<Url, ApiError> {
    let url = Url::parse(uri).map_err(|e| ApiError::BadResponse {
        operation,
        detail: format!("the presigned URI is not a URL: {e}"),
    })?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if crate::config::is_loopback(&url) => Ok(url),
        _ => Err(ApiError::BadResponse {
            operation,
            detail: "the presigned URI is not https; refusing to send data in clear text".into(),
        }),
    }
}

/// A transport error with its causes, e.g. "error sending request for url (…): connection
/// refused". URLs never carry the key.
fn describe_transport(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
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
