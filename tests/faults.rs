//! Faults around the proxy: shutdown with a call in flight, and a disk that refuses cassette
//! writes. (Upstream faults are in record.rs, audit disk faults in audit.rs.)

mod common;

use std::process::Command;

use common::fake_ssm::{FakeSsm, PROXY_KEY_ID, PROXY_SECRET};
use common::process::{call, finish, fold_journals, sigterm, spawn_serve, start};
use common::{DEREGISTER, TASK_1, WINDOW, deregister_body};
use serde_json::Value;
use ssm_vcr::Cassette;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const PROXY_ENV: [(&str, &str); 5] = [
    ("AWS_ACCESS_KEY_ID", PROXY_KEY_ID),
    ("AWS_SECRET_ACCESS_KEY", PROXY_SECRET),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/nonexistent/config"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"),
];

/// An upstream that holds its one answer until released, and says when a request arrived.
async fn gated_upstream() -> (String, oneshot::Receiver<()>, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (arrived, arrival) = oneshot::channel();
    let (release, released) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buffer = [0_u8; 4096];
        while !String::from_utf8_lossy(&request).contains("\r\n\r\n") {
            let n = stream.read(&mut buffer).await.unwrap();
            request.extend_from_slice(&buffer[..n]);
        }
        let _ = arrived.send(());
        let _ = released.await;
        let body = format!(r#"{{"WindowId":"{WINDOW}","WindowTaskId":"{TASK_1}"}}"#);
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\nx-amzn-requestid: gated-1\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(answer.as_bytes()).await.unwrap();
    });
    (url, arrival, release)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_call_finish_then_exits_0_with_the_audit_whole() {
    let (upstream, arrival, release) = gated_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let (mut child, address) = start(
        Command::new(env!("CARGO_BIN_EXE_ssm-vcr"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--mode",
                "passthrough",
                "--upstream",
                &upstream,
            ])
            .arg("--audit-log")
            .arg(&audit)
            .envs(PROXY_ENV)
            .env_remove("RUST_LOG")
            .stderr(std::process::Stdio::piped()),
    );

    let in_flight = tokio::task::spawn_blocking(move || {
        call(&address, DEREGISTER, &deregister_body(WINDOW, TASK_1))
    });
    arrival.await.unwrap(); // the call has reached the upstream and waits there
    sigterm(&child);
    release.send(()).unwrap();
    let (status, request_id, _) = in_flight
        .await
        .unwrap()
        .expect("the in-flight call is answered");
    assert_eq!((status, request_id.as_str()), (200, "gated-1"));
    let (exit, log) = finish(&mut child);
    assert!(exit.success(), "{exit:?}: {log}");
    assert!(
        log.contains("shutting down: finishing in-flight requests"),
        "{log}"
    );

    let records: Vec<Value> = common::audit_records(&audit);
    let events: Vec<&str> = records
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["start", "attempt", "outcome"]);
    assert_eq!(records[2]["request_id"], "gated-1");
    assert_eq!(ssm_vcr::verify_audit_log(&[&audit]).broken, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_the_cassettes_loses_recordings_not_answers() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cassettes = dir.path().to_str().unwrap().to_owned();
    // Files may not grow past 3 KiB: the journal and the cassette stop growing after a few
    // interactions.
    let (mut child, address) = spawn_serve(
        "trap '' XFSZ; ulimit -f 3;",
        &[
            "--mode",
            "record",
            "--upstream",
            &fake.url,
            "--cassette-dir",
            &cassettes,
            "--cassette",
            "full",
            "--no-audit",
        ],
        &PROXY_ENV,
    );
    let statuses = tokio::task::spawn_blocking(move || {
        (0..30)
            .map(|n| {
                call(
                    &address,
                    "CreateMaintenanceWindow",
                    &common::create_window_body(&format!("window-{n}")),
                )
                .map(|r| r.0)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        statuses.iter().all(|s| *s == Some(200)),
        "every client got its answer: {statuses:?}"
    );
    assert_eq!(fake.received().len(), 30);

    // With room again, the next start folds what the journal kept into the cassette.
    fold_journals(&cassettes, "full");
    let cassette = Cassette::from_json(&std::fs::read(dir.path().join("full.json")).unwrap())
        .expect("the cassette is whole");
    assert!(
        !cassette.interactions.is_empty() && cassette.interactions.len() < 30,
        "{}",
        cassette.interactions.len()
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["full.json"],
        "a failed write left a temporary file, or the journal was not folded"
    );
}
