//! A bare HTTP/1.1 server for the answers a mock server cannot give: bodies that are endless,
//! huge or trickle in a byte at a time.

use std::time::Duration;

use serde_json::Value;

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
