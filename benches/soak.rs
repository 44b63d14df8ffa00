//! A bounded soak: mixed valid, invalid, missed and malformed traffic from hundreds of
//! keep-alive connections against the real binary with the durable audit on, for a fixed time.
//!
//! ```text
//! cargo bench --bench soak                         # 60 s, 200 connections
//! SOAK_SECONDS=300 SOAK_CONNECTIONS=500 cargo bench --bench soak
//! ```
//!
//! Reports requests, answers by kind, the proxy's RSS at start, middle and end, and audit
//! outcome records against deregistrations sent (they must be equal), then verifies the audit
//! chain. Everything is on 127.0.0.1 and stops by itself.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use support::proc_status_kb;
use tokio::net::TcpStream;

/// (operation, body, is a deregistration) in rotation.
const MIX: [(&str, &str, bool); 5] = [
    (
        "DeregisterTaskFromMaintenanceWindow",
        r#"{"WindowId":"mw-0c50858d01e8a7b6f","WindowTaskId":"50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c"}"#,
        true,
    ),
    (
        "DeregisterTaskFromMaintenanceWindow",
        r#"{"WindowId":"mw-123"}"#,
        true,
    ),
    (
        "DeregisterTaskFromMaintenanceWindow",
        r#"{"WindowId":"mw-0123456789abcdef0","WindowTaskId":"50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c"}"#,
        true,
    ),
    (
        "DescribeMaintenanceWindowTasks",
        r#"{"WindowId":"mw-0c50858d01e8a7b6f"}"#,
        false,
    ),
    ("DeregisterTaskFromMaintenanceWindow", "not json", true),
];

async fn client(
    addr: SocketAddr,
    offset: usize,
    stop: Arc<AtomicBool>,
) -> (BTreeMap<String, u64>, u64) {
    let mut kinds = BTreeMap::new();
    let mut deregistrations = 0;
    let Ok(stream) = TcpStream::connect(addr).await else {
        *kinds.entry("connect failed".to_owned()).or_default() += 1;
        return (kinds, 0);
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut turn = offset;
    while !stop.load(Ordering::Relaxed) {
        let (operation, body, audited) = MIX[turn % MIX.len()];
        turn += 1;
        let request = Request::post("/")
            .header("x-amz-target", format!("AmazonSSM.{operation}"))
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDSOAKEXAMPLE/20261125/us-east-1/ssm/aws4_request, \
                 SignedHeaders=host, Signature=00",
            )
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap();
        let Ok(response) = sender.send_request(request).await else {
            *kinds.entry("transport error".to_owned()).or_default() += 1;
            break;
        };
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let kind = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["__type"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "ok".to_owned());
        *kinds.entry(format!("{status} {kind}")).or_default() += 1;
        if audited {
            deregistrations += 1;
        }
    }
    (kinds, deregistrations)
}

fn main() {
    let measuring = support::measuring("soak");
    let env_or = |key: &str, default: u64| {
        std::env::var(key)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seconds = env_or("SOAK_SECONDS", if measuring { 60 } else { 2 });
    let connections = env_or("SOAK_CONNECTIONS", if measuring { 200 } else { 20 }) as usize;

    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssm-vcr"))
        .args(["serve", "--listen", "127.0.0.1:0", "--repeat-last"])
        .args([
            "--cassette-dir",
            concat!(env!("CARGO_MANIFEST_DIR"), "/cassettes"),
        ])
        .arg("--audit-log")
        .arg(&audit)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .parse()
        .unwrap();
    let pid = child.id();
    let rss_start = proc_status_kb(pid, "VmRSS:") / 1024.0;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let (kinds, deregistrations, rss_middle) = runtime.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..connections)
            .map(|i| tokio::spawn(client(addr, i, Arc::clone(&stop))))
            .collect();
        tokio::time::sleep(Duration::from_secs(seconds) / 2).await;
        let middle = proc_status_kb(pid, "VmRSS:") / 1024.0;
        tokio::time::sleep(Duration::from_secs(seconds) / 2).await;
        stop.store(true, Ordering::Relaxed);
        let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
        let mut deregistrations = 0;
        for client in clients {
            let (k, d) = client.await.unwrap();
            for (kind, n) in k {
                *kinds.entry(kind).or_default() += n;
            }
            deregistrations += d;
        }
        (kinds, deregistrations, middle)
    });
    let elapsed = started.elapsed().as_secs_f64();
    let rss_end = proc_status_kb(pid, "VmRSS:") / 1024.0;
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let exit = child.wait().unwrap();

    let total: u64 = kinds.values().sum();
    println!(
        "soak: {seconds} s, {connections} connections, {total} requests ({:.0}/s), proxy exit {exit}",
        total as f64 / elapsed
    );
    for (kind, n) in &kinds {
        println!("  {n:>9}  {kind}");
    }
    println!("  RSS: start {rss_start:.1} MB, middle {rss_middle:.1} MB, end {rss_end:.1} MB");
    // The log rotates at 64 MiB: count and verify the whole chain, rotated files included.
    let files = ssm_vcr::audit_log_files(&audit);
    let report = ssm_vcr::verify_audit_log(&files);
    let outcomes = report.summary.calls;
    println!(
        "  audit: {outcomes} outcome records for {deregistrations} deregistrations sent, in {} file(s); chain {}",
        files.len(),
        report
            .broken
            .as_ref()
            .map_or("verifies".to_owned(), |b| format!("BROKEN at {b}"))
    );
    assert!(exit.success(), "the proxy did not shut down cleanly");
    assert_eq!(outcomes, deregistrations, "audit records lost or added");
    assert!(report.broken.is_none());
    let unexpected: Vec<&String> = kinds
        .keys()
        .filter(|k| {
            !matches!(
                k.as_str(),
                "200 ok"
                    | "400 DoesNotExistException"
                    | "400 ValidationException"
                    | "400 ReplayMissException"
                    | "400 SerializationException"
            )
        })
        .collect();
    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:?}");
}
