//! Test support: running the real binary with an explicit environment, canned Open Cloud
//! bodies, and parsers that read our output the way GitHub's runner does.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockBuilder, ResponseTemplate};

pub const KEY: &str = "test-key-Zq8vN3xR-do-not-print";
pub const TASK_PATH: &str =
    "universes/1/places/2/versions/3/luau-execution-sessions/aaaa-1/tasks/aaaa-1";
pub const CREATE_PATH: &str = "/cloud/v2/universes/1/places/2/luau-execution-session-tasks";

/// What a run of the binary left behind.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// A run of the real binary with an environment built from scratch, so the developer's machine
/// cannot leak into results.
pub struct Run {
    env: HashMap<String, String>,
    args: Vec<String>,
    dir: Option<PathBuf>,
}

impl Run {
    /// A run against `base_url` with the key, universe 1, place 2, and fast test clocks.
    pub fn new(base_url: &str) -> Self {
        let mut run = Self::bare();
        run.env("INPUT_API_KEY", KEY)
            .env("INPUT_UNIVERSE_ID", "1")
            .env("INPUT_PLACE_ID", "2")
            .env("INPUT_BASE_URL", base_url)
            .env("INPUT_SCRIPT", "return 1");
        run
    }

    /// A run with no inputs at all.
    pub fn bare() -> Self {
        let mut env = HashMap::new();
        env.insert("LUAU_EXEC_TEST_TIME_SCALE".to_owned(), "0.01".to_owned());
        if let Ok(path) = std::env::var("PATH") {
            env.insert("PATH".to_owned(), path);
        }
        Self {
            env,
            args: Vec::new(),
            dir: None,
        }
    }

    /// Runs in this working directory (the repository, for file paths in annotations).
    #[cfg_attr(not(feature = "emulator"), allow(dead_code))]
    pub fn dir(&mut self, dir: &std::path::Path) -> &mut Self {
        self.dir = Some(dir.to_owned());
        self
    }

    pub fn env(&mut self, name: &str, value: &str) -> &mut Self {
        self.env.insert(name.to_owned(), value.to_owned());
        self
    }

    pub fn remove(&mut self, name: &str) -> &mut Self {
        self.env.remove(name);
        self
    }

    pub fn arg(&mut self, arg: &str) -> &mut Self {
        self.args.push(arg.to_owned());
        self
    }

    pub fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(binary());
        command
            .args(&self.args)
            .env_clear()
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        command
    }

    /// Runs to the end and checks the key did not leak.
    pub async fn output(&self) -> Output {
        let started = Instant::now();
        let output = self.command().output().await.expect("the binary runs");
        let result = Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed: started.elapsed(),
        };
        assert_key_hidden(&result);
        result
    }
}

/// The binary under test: the one `cargo test` built, or the one named by
/// `LUAU_EXEC_TEST_BINARY` (`.ci/run` points it at the release build, so the whole suite also
/// runs against what ships, with the shipped profile's panic strategy).
pub fn binary() -> String {
    std::env::var("LUAU_EXEC_TEST_BINARY")
        .ok()
        .filter(|path| !path.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_luau-exec").to_owned())
}

/// The key as text may spell it: plain, and with every character as a JSON `\uXXXX` escape.
/// (It has only unreserved characters, so its URL-escaped form is the plain one.)
pub fn key_spellings() -> Vec<String> {
    let escaped: String = KEY
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    vec![
        KEY.to_owned(),
        escaped.clone(),
        escaped.to_uppercase().replace("\\U", "\\u"),
    ]
}

/// Panics if `text` holds the key in any spelling.
pub fn assert_no_key(text: &str, place: &str) {
    for spelling in key_spellings() {
        assert!(
            !text.contains(&spelling),
            "the key leaked in {place}: {}",
            text
        );
    }
}

/// The key may appear only as GitHub's `::add-mask::` line, the very first line of stdout.
pub fn assert_key_hidden(output: &Output) {
    let mut lines = output.stdout.lines();
    let first = lines.next().unwrap_or_default();
    if first.contains(KEY) {
        assert_eq!(
            first,
            format!("::add-mask::{KEY}"),
            "the key shows outside add-mask"
        );
    } else {
        assert_no_key(first, "stdout");
    }
    for line in lines {
        assert_no_key(line, "stdout");
    }
    assert_no_key(&output.stderr, "stderr");
}

/// Mocks of the routes a run uses, to finish with `.respond_with(…)`.
pub fn on_create() -> MockBuilder {
    Mock::given(method("POST")).and(path(CREATE_PATH))
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

/// A temporary file with contents; the directory lives as long as the returned guard.
pub fn temp_file(name: &str, contents: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("write temp file");
    (dir, path)
}

/// A workflow command as the runner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowCommand {
    pub name: String,
    pub properties: HashMap<String, String>,
    pub data: String,
}

/// Reads lines the way `actions/runner` does (`ActionCommandManager.TryProcessCommand`,
/// `ActionCommand.TryParseV2` / `TryParse`): the `::name props::data` grammar at the start of a
/// line after leading whitespace, the legacy `##[name props]data` grammar anywhere in a line,
/// case-insensitive registered names, and `stop-commands` / resume by token.
pub struct RunnerParser {
    registered: HashSet<String>,
    stop_token: Option<String>,
}

impl Default for RunnerParser {
    fn default() -> Self {
        let registered = [
            "add-mask",
            "add-matcher",
            "remove-matcher",
            "debug",
            "notice",
            "warning",
            "error",
            "group",
            "endgroup",
            "echo",
            "save-state",
            "set-output",
            "set-env",
            "add-path",
            "stop-commands",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        Self {
            registered,
            stop_token: None,
        }
    }
}

fn unescape_data(text: &str) -> String {
    text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

fn unescape_property(text: &str) -> String {
    text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

impl RunnerParser {
    /// Every command processed from `text`, in order. Resume lines are consumed, not returned.
    pub fn parse(&mut self, text: &str) -> Vec<WorkflowCommand> {
        text.lines()
            .filter_map(|line| self.process_line(line))
            .collect()
    }

    pub fn is_stopped(&self) -> bool {
        self.stop_token.is_some()
    }

    fn process_line(&mut self, line: &str) -> Option<WorkflowCommand> {
        if !line.contains("##[") && !line.contains("::") {
            return None;
        }
        let command = self.parse_v2(line).or_else(|| self.parse_legacy(line))?;
        if let Some(token) = &self.stop_token {
            if command.name.eq_ignore_ascii_case(token) {
                self.registered.remove(&token.to_lowercase());
                self.stop_token = None;
            }
            return None;
        }
        if command.name.eq_ignore_ascii_case("stop-commands") {
            assert!(
                !command.data.is_empty(),
                "an empty stop token fails the step"
            );
            assert!(
                !self.registered.contains(&command.data.to_lowercase()),
                "a stop token equal to a command name fails the step"
            );
            self.registered.insert(command.data.to_lowercase());
            self.stop_token = Some(command.data.clone());
        }
        Some(command)
    }

    fn parse_v2(&self, line: &str) -> Option<WorkflowCommand> {
        let message = line.trim_start();
        let rest = message.strip_prefix("::")?;
        let end = rest.find("::")?;
        let info = &rest[..end];
        let data = &rest[end + 2..];
        let (name, properties) = info.split_once(' ').unwrap_or((info, ""));
        if !self.registered.contains(&name.to_lowercase()) {
            return None;
        }
        let properties = properties
            .trim()
            .split(',')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('='))
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_lowercase(), unescape_property(v)))
            .collect();
        Some(WorkflowCommand {
            name: name.to_lowercase(),
            properties,
            data: unescape_data(data),
        })
    }

    fn parse_legacy(&self, line: &str) -> Option<WorkflowCommand> {
        let start = line.find("##[")?;
        let rest = &line[start + 3..];
        let end = rest.find(']')?;
        let info = &rest[..end];
        let data = &rest[end + 1..];
        let (name, properties) = info.split_once(' ').unwrap_or((info, ""));
        if !self.registered.contains(&name.to_lowercase()) {
            return None;
        }
        let properties = properties
            .split(';')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_lowercase(), v.to_owned()))
            .collect();
        Some(WorkflowCommand {
            name: name.to_lowercase(),
            properties,
            data: data.to_owned(),
        })
    }
}

/// Reads a `GITHUB_OUTPUT` file the way the runner does (`FileCommandManager`): `name=value`
/// or `name<<DELIM` … a line exactly `DELIM`.
pub fn parse_output_file(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let heredoc = line.find("<<");
        let equals = line.find('=');
        match (heredoc, equals) {
            (Some(h), e) if e.is_none_or(|e| h < e) => {
                let name = &line[..h];
                let delimiter = &line[h + 2..];
                assert!(!name.is_empty() && !delimiter.is_empty());
                let mut value = Vec::new();
                loop {
                    let next = lines.next().expect("Matching delimiter not found");
                    if next == delimiter {
                        break;
                    }
                    value.push(next);
                }
                pairs.push((name.to_owned(), value.join("\n")));
            }
            (_, Some(e)) => pairs.push((line[..e].to_owned(), line[e + 1..].to_owned())),
            _ => panic!("Invalid format: {line}"),
        }
    }
    pairs
}

/// What a [`RawServer`] answers: a status, headers, and a body that may be endless, huge or
/// slow, which no ordinary mock server can send.
#[derive(Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: RawBody,
}

#[derive(Clone)]
pub enum RawBody {
    /// Exactly these bytes, with a `content-length`.
    Bytes(Vec<u8>),
    /// `total` bytes of `pattern` repeated, without a `content-length` (close-delimited), as
    /// fast as the client reads.
    Repeat { pattern: Vec<u8>, total: u64 },
    /// One byte every `every`, for `total` bytes.
    Trickle { total: u64, every: Duration },
}

impl RawResponse {
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: RawBody::Bytes(body.to_string().into_bytes()),
        }
    }
}

/// A bare HTTP/1.1 server on loopback that answers each request by its path with the first
/// matching route (a path prefix), one request per connection, and counts requests.
pub struct RawServer {
    pub url: String,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

impl RawServer {
    pub async fn start(routes: Vec<(&'static str, RawResponse)>) -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = requests.clone();
        let routes = std::sync::Arc::new(routes);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let routes = routes.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match stream.read(&mut byte).await {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let target = head.split(' ').nth(1).unwrap_or("/").to_owned();
                    // Drain a request body the client announced, so it is not reset.
                    let length = head
                        .lines()
                        .find_map(|l| {
                            let (name, value) = l.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse::<usize>().ok())
                                .flatten()
                        })
                        .unwrap_or(0);
                    let mut body = vec![0u8; length];
                    if stream.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let Some((_, response)) = routes.iter().find(|(p, _)| target.starts_with(p))
                    else {
                        let _ = stream
                            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .await;
                        return;
                    };
                    let mut text =
                        format!("HTTP/1.1 {} X\r\nconnection: close\r\n", response.status);
                    for (name, value) in &response.headers {
                        text.push_str(&format!("{name}: {value}\r\n"));
                    }
                    if let RawBody::Bytes(bytes) = &response.body {
                        text.push_str(&format!("content-length: {}\r\n", bytes.len()));
                    }
                    text.push_str("\r\n");
                    if stream.write_all(text.as_bytes()).await.is_err() {
                        return;
                    }
                    match &response.body {
                        RawBody::Bytes(bytes) => {
                            let _ = stream.write_all(bytes).await;
                        }
                        RawBody::Repeat { pattern, total } => {
                            let block: Vec<u8> =
                                pattern.iter().copied().cycle().take(64 * 1024).collect();
                            let mut sent = 0u64;
                            while sent < *total {
                                let n = (total - sent).min(block.len() as u64) as usize;
                                if stream.write_all(&block[..n]).await.is_err() {
                                    return;
                                }
                                sent += n as u64;
                            }
                        }
                        RawBody::Trickle { total, every } => {
                            for _ in 0..*total {
                                if stream.write_all(b"x").await.is_err() {
                                    return;
                                }
                                tokio::time::sleep(*every).await;
                            }
                        }
                    }
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self {
            url,
            requests,
            _task: task,
        }
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}
