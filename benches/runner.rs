//! Measures the runner end to end, the release binary against the embedded emulator on
//! loopback, and prints the figures the README quotes:
//!
//! - the delay from a task reaching its terminal state to the process exiting, for tasks of
//!   3–30 s (median and worst);
//! - GET requests per minute of a task's life (the poll cadence);
//! - peak memory while printing 8,000 log lines (the API's ~450 KB window);
//! - start-up to first request;
//! - peak memory against hostile servers answering 2 GiB bodies (create, poll, an error, logs,
//!   binary output): every read is capped, so none of them may push the process far.
//!
//! Run with `cargo bench --bench runner`. Takes about two minutes; prints figures, asserts
//! nothing (timings on shared machines are noisy).

// Printing the figures is this program's whole job.
#![allow(clippy::print_stdout)]

mod support;

use std::time::{Duration, Instant, SystemTime};

use luau_exec::emulator::{self, EmulatorOptions};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_luau-exec");
/// This program, re-run as `--peak-rss-of <binary>`, runs that one child and prints its peak
/// RSS: getrusage(RUSAGE_CHILDREN) reports the largest child a process ever had, so each
/// measurement needs a process of its own.
const PEAK_RSS_FLAG: &str = "--peak-rss-of";
const HOSTILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Runs the child given after the flag with this process's environment; prints its peak RSS
/// in MiB.
fn measure_child() {
    let binary = std::env::args().nth(2).unwrap();
    let _ = std::process::Command::new(binary)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    println!("{}", usage.max_rss() as f64 / 1024.0);
}

/// Peak RSS in MiB of one luau-exec run with these variables.
async fn peak_rss(vars: &[(&str, String)]) -> f64 {
    let output = tokio::process::Command::new(std::env::current_exe().unwrap())
        .arg(PEAK_RSS_FLAG)
        .arg(BIN)
        .env_clear()
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap()
}

/// A server that answers every request for the path `hostile` with `status` and 2 GiB of
/// `pattern` (no content-length); otherwise creates answer PROCESSING, polls COMPLETE with a
/// binary output URI back at this server, and logs an empty page.
async fn hostile_server(hostile: &'static str, status: u16, pattern: &'static [u8]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task_base = base.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let base = task_base.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let mut words = head.split(' ');
                let verb = words.next().unwrap_or("GET").to_owned();
                let target = words.next().unwrap_or("/").to_owned();
                let route = target.split('?').next().unwrap_or_default();
                if route == hostile {
                    let line = format!("HTTP/1.1 {status} X\r\nconnection: close\r\n\r\n");
                    if stream.write_all(line.as_bytes()).await.is_err() {
                        return;
                    }
                    let block: Vec<u8> = pattern.iter().copied().cycle().take(1 << 16).collect();
                    let mut sent = 0;
                    while sent < HOSTILE_BYTES {
                        if stream.write_all(&block).await.is_err() {
                            return;
                        }
                        sent += block.len() as u64;
                    }
                } else {
                    let path = "universes/1/places/1/versions/1/luau-execution-sessions/a/tasks/a";
                    let body = if route.ends_with("/logs") {
                        r#"{"luauExecutionSessionTaskLogs":[],"nextPageToken":""}"#.to_owned()
                    } else if verb == "POST" {
                        format!(r#"{{"path":"{path}","state":"PROCESSING"}}"#)
                    } else {
                        format!(
                            r#"{{"path":"{path}","state":"COMPLETE","output":{{"results":[]}},"binaryOutputUri":"{base}/output"}}"#
                        )
                    };
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                }
            });
        }
    });
    base
}

fn command(base_url: &str, script: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(BIN);
    command
        .env_clear()
        .env("INPUT_API_KEY", "bench")
        .env("INPUT_UNIVERSE_ID", "1")
        .env("INPUT_BASE_URL", base_url)
        .env("INPUT_SCRIPT", script)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

async fn stats(base: &str) -> Value {
    support::stats(base, "bench").await
}

async fn task_update_time(base: &str, path: &str) -> SystemTime {
    let task: Value = reqwest::Client::new()
        .get(format!("{base}/cloud/v2/{path}"))
        .header("x-api-key", "bench")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    humantime::parse_rfc3339(task["updateTime"].as_str().unwrap()).unwrap()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[tokio::main]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some(PEAK_RSS_FLAG) {
        return measure_child();
    }
    let running = emulator::start("127.0.0.1:0", EmulatorOptions::default())
        .await
        .unwrap();
    let base = running.url.as_str().trim_end_matches('/').to_owned();

    // Peak memory first: getrusage(RUSAGE_CHILDREN) reports the largest child so far.
    let script =
        "for i = 1, 8000 do print(string.format('log line %04d: %s', i, string.rep('.', 30))) end";
    let status = command(&base, script)
        .env("INPUT_PLACE_ID", "100")
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    let peak_mib = usage.max_rss() as f64 / 1024.0;

    // Start-up to first request: a listener that only records when the connection arrives.
    let mut startups = Vec::new();
    for _ in 0..20 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let started = Instant::now();
        let mut child = command(&url, "return 1")
            .env("INPUT_PLACE_ID", "1")
            .spawn()
            .unwrap();
        let _ = listener.accept().await.unwrap();
        startups.push(started.elapsed().as_secs_f64() * 1000.0);
        let _ = child.kill().await;
    }

    // Terminal-to-exit delay, tasks of 3–30 s run side by side (one place each). The
    // emulator records the moment each task ended as its `updateTime`.
    // Lengths with fractions: real tasks end at any moment, not on the poll grid.
    let lengths = [
        3.1, 4.37, 5.62, 7.9, 10.25, 12.71, 15.48, 18.05, 21.33, 24.86, 27.4, 29.93,
    ];
    let mut handles = Vec::new();
    for (i, seconds) in lengths.iter().enumerate() {
        let base = base.clone();
        let script = format!("print('working') task.wait({seconds}) return 'done'");
        let place = (200 + i).to_string();
        handles.push(tokio::spawn(async move {
            let output = command(&base, &script)
                .env("INPUT_PLACE_ID", &place)
                .env("INPUT_OUTPUT_FORMAT", "json")
                .stdout(std::process::Stdio::piped())
                .output()
                .await
                .unwrap();
            let exited = SystemTime::now();
            assert!(output.status.success());
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            let result: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
            let path = result["taskPath"].as_str().unwrap().to_owned();
            let terminal = task_update_time(&base, &path).await;
            exited
                .duration_since(terminal)
                .unwrap_or(Duration::ZERO)
                .as_secs_f64()
                * 1000.0
        }));
    }
    let mut delay_ms = Vec::new();
    for handle in handles {
        delay_ms.push(handle.await.unwrap());
    }

    // Poll cadence: GETs over a task's life, at a tenth of real time (the cadence scales
    // linearly with LUAU_EXEC_TEST_TIME_SCALE): 300 simulated seconds in 30 real ones.
    let before = stats(&base).await["gets"].as_u64().unwrap();
    let mut minute_marks = Vec::new();
    let mut child = command(&base, "task.wait(30)")
        .env("INPUT_PLACE_ID", "400")
        .env("LUAU_EXEC_TEST_TIME_SCALE", "0.1")
        .spawn()
        .unwrap();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(6)).await;
        minute_marks.push(stats(&base).await["gets"].as_u64().unwrap());
    }
    let _ = child.wait().await;
    let mut per_minute = Vec::new();
    let mut previous = before;
    for mark in minute_marks {
        per_minute.push(mark - previous);
        previous = mark;
    }

    // Hostile servers: 2 GiB answers where Open Cloud sends kilobytes.
    let scratch = std::env::temp_dir().join(format!("luau-exec-bench-{}", std::process::id()));
    let cases: [(&str, &str, u16, &[u8]); 5] = [
        (
            "create answered 200 + 2 GiB",
            "/cloud/v2/universes/1/places/1/luau-execution-session-tasks",
            200,
            b"[0,",
        ),
        (
            "poll answered 200 + 2 GiB",
            "/cloud/v2/universes/1/places/1/versions/1/luau-execution-sessions/a/tasks/a",
            200,
            b"{\"a\":",
        ),
        (
            "poll answered 503 + 2 GiB",
            "/cloud/v2/universes/1/places/1/versions/1/luau-execution-sessions/a/tasks/a",
            503,
            b"error ",
        ),
        (
            "logs answered 200 + 2 GiB",
            "/cloud/v2/universes/1/places/1/versions/1/luau-execution-sessions/a/tasks/a/logs",
            200,
            b"[\"x\",",
        ),
        ("binary output of 2 GiB", "/output", 200, b"\x00\x01"),
    ];
    let mut hostile = Vec::new();
    for (label, route, status, pattern) in cases {
        let base = hostile_server(route, status, pattern).await;
        let started = Instant::now();
        let peak = peak_rss(&[
            ("INPUT_API_KEY", "bench".into()),
            ("INPUT_UNIVERSE_ID", "1".into()),
            ("INPUT_PLACE_ID", "1".into()),
            ("INPUT_BASE_URL", base),
            ("INPUT_SCRIPT", "return 1".into()),
            (
                "INPUT_BINARY_OUTPUT",
                scratch.join("out.bin").display().to_string(),
            ),
            // A 503 is retried: a tenth of the one-minute budget keeps this short.
            ("LUAU_EXEC_TEST_TIME_SCALE", "0.1".into()),
        ])
        .await;
        hostile.push((label, peak, started.elapsed()));
    }
    let _ = std::fs::remove_dir_all(&scratch);

    let worst = delay_ms.iter().cloned().fold(0.0, f64::max);
    println!("luau-exec benchmark (release binary, embedded emulator on loopback)");
    println!(
        "  terminal state -> exit: median {:.0} ms, worst {:.0} ms over {} tasks of 3-30 s",
        median(&mut delay_ms.clone()),
        worst,
        delay_ms.len()
    );
    println!("  GET polls per minute of a 5-minute task: {per_minute:?} (limit 120)");
    println!("  peak memory printing 8,000 log lines: {peak_mib:.1} MiB");
    println!(
        "  start-up to first request: median {:.1} ms over {} runs",
        median(&mut startups),
        startups.len()
    );
    println!("  peak memory against hostile servers (2 GiB answers):");
    for (label, peak, took) in hostile {
        println!(
            "    {label}: {peak:.1} MiB, ended after {:.1} s",
            took.as_secs_f64()
        );
    }
}
