//! Hostile input: every shape gets an AWS-shaped 4xx or a closed connection, never a panic,
//! never a write outside the cassette folder, and a normal call is answered right after.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::fake_ssm::{FakeSsm, PROXY_KEY_ID, PROXY_SECRET};
use common::{
    DEREGISTER, TASK_1, TestProxy, WINDOW, audit_records, config, config_with_audit,
    create_window_body, deregister_body,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DEADLINE: Duration = Duration::from_secs(20);

/// Sends raw bytes (then half-closes when `close_write`), returns everything the proxy sent
/// back until it closed the connection.
async fn raw(proxy: &TestProxy, bytes: &[u8], close_write: bool) -> Vec<u8> {
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    // The proxy may refuse and close before reading everything; that is a valid answer.
    let _ = stream.write_all(bytes).await;
    if close_write {
        let _ = stream.shutdown().await;
    }
    let mut received = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut received))
        .await
        .expect("the proxy answers or closes");
    received
}

fn post(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST / HTTP/1.1\r\nhost: ssm\r\nx-amz-target: AmazonSSM.{DEREGISTER}\r\n\
         content-type: application/x-amz-json-1.1\r\nconnection: close\r\n{headers}\r\n"
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

fn with_length(body: &[u8]) -> Vec<u8> {
    post(&format!("content-length: {}\r\n", body.len()), body)
}

/// The status of a raw answer, `None` for a closed connection without one.
fn status(answer: &[u8]) -> Option<u16> {
    std::str::from_utf8(answer.get(9..12)?).ok()?.parse().ok()
}

/// An answer is acceptable when it is a closed connection, a bare 4xx from the HTTP layer
/// (malformed HTTP, before any request exists), or an AWS-shaped 4xx whose body is JSON.
fn assert_refused(case: &str, answer: &[u8]) {
    let Some(status) = status(answer) else {
        return; // closed without an answer
    };
    assert!(
        (400..500).contains(&status),
        "{case}: status {status}: {}",
        String::from_utf8_lossy(answer)
    );
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return;
    };
    if head
        .to_ascii_lowercase()
        .contains("content-type: application/x-amz-json-1.1")
    {
        let json: Value = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{case}: body is not JSON ({e}): {body}"));
        assert!(json["__type"].is_string(), "{case}: {json}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_refused_without_panics_and_the_proxy_keeps_answering() {
    let panics: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorded = Arc::clone(&panics);
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("{info}");
        recorded.lock().unwrap().push(info.to_string());
    }));

    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let mut config = config_with_audit(&audit);
    config.limits.max_body_bytes = 64 * 1024;
    config.limits.header_read_timeout_ms = 2_000;
    let proxy = TestProxy::start(config).await;

    let nested_array = "[".repeat(100_000);
    let nested_member = format!(
        r#"{{"WindowId":{}"x"{},"WindowTaskId":"{TASK_1}"}}"#,
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    let huge_string = format!(
        r#"{{"WindowId":"{}","WindowTaskId":"{TASK_1}"}}"#,
        "w".repeat(60_000)
    );
    let header_flood: String = (0..300).map(|i| format!("x-flood-{i}: {i}\r\n")).collect();
    let huge_header = format!("x-big: {}\r\n", "h".repeat(1_000_000));
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "truncated body",
            post("content-length: 100\r\n", br#"{"WindowId":"#),
            true,
        ),
        (
            "invalid UTF-8",
            with_length(b"{\"WindowId\":\"mw-\xff\xfe\",\"WindowTaskId\":\"x\"}"),
            false,
        ),
        (
            "deeply nested array",
            with_length(nested_array.as_bytes()),
            false,
        ),
        (
            "deeply nested member",
            with_length(nested_member.as_bytes()),
            false,
        ),
        ("huge string", with_length(huge_string.as_bytes()), false),
        (
            "huge number",
            with_length(br#"{"WindowId":1e999999,"WindowTaskId":"x"}"#),
            false,
        ),
        (
            "NUL and escape codes in ids",
            with_length(
                b"{\"WindowId\":\"mw-\\u0000\\u001b[31m\\r\\nX: y\",\"WindowTaskId\":\"\\u0007\"}",
            ),
            false,
        ),
        (
            "header flood",
            post(&format!("{header_flood}content-length: 2\r\n"), b"{}"),
            false,
        ),
        (
            "one huge header",
            post(&format!("{huge_header}content-length: 2\r\n"), b"{}"),
            false,
        ),
        (
            "content-length and transfer-encoding",
            post(
                "content-length: 4\r\ntransfer-encoding: chunked\r\n",
                b"2\r\n{}\r\n0\r\n\r\n",
            ),
            false,
        ),
        (
            "two different content-lengths",
            post("content-length: 2\r\ncontent-length: 40\r\n", b"{}"),
            false,
        ),
        (
            "negative content-length",
            post("content-length: -1\r\n", b"{}"),
            false,
        ),
        (
            "bad chunk size",
            post("transfer-encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n"),
            false,
        ),
        (
            "not HTTP at all",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage".to_vec(),
            true,
        ),
        (
            "HTTP/2 preface then garbage",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\xff\xff\xff\xff\xff\xffgarbage".to_vec(),
            true,
        ),
        (
            "request line only",
            b"POST / HTTP/1.1\r\n\r\n".to_vec(),
            true,
        ),
        (
            "absurd method",
            b"BREW /cassette/../../etc HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_vec(),
            false,
        ),
    ];
    for (case, bytes, close_write) in cases {
        let answer = raw(&proxy, &bytes, close_write).await;
        assert_refused(case, &answer);
        let normal = proxy.ssm("/", DEREGISTER, "{}").await;
        assert_eq!(
            normal.status, 400,
            "after {case}: a normal call is still answered"
        );
        assert!(
            panics.lock().unwrap().is_empty(),
            "after {case}: {:?}",
            panics.lock().unwrap()
        );
    }

    // Duplicate members: the last one wins, as in most JSON parsers; it is validated as such.
    let duplicate =
        format!(r#"{{"WindowId":"mw-123","WindowId":"{WINDOW}","WindowTaskId":"{TASK_1}"}}"#);
    assert_eq!(
        proxy.ssm("/", DEREGISTER, &duplicate).await.status,
        200,
        "the valid last WindowId is used"
    );
    let duplicate =
        format!(r#"{{"WindowId":"{WINDOW}","WindowId":"mw-123","WindowTaskId":"{TASK_1}"}}"#);
    proxy
        .ssm("/", DEREGISTER, &duplicate)
        .await
        .aws_error(400, "ValidationException");

    // Control characters in a missed request come back escaped in the miss message.
    let miss = proxy
        .ssm(
            "/",
            "ListDocuments",
            "{\"Filter\":\"\\u0000\\u001b[2J\\r\\nInjected: header\"}",
        )
        .await;
    let message = miss.aws_error(400, "ReplayMissException");
    assert!(
        message
            .contains(r#"$.Filter: sent "\u0000\u001b[2J\r\nInjected: header", recorded (absent)"#),
        "{message}"
    );
    assert!(
        !message.contains('\u{0}') && !message.contains('\u{1b}'),
        "{message:?}"
    );

    // Control characters in ids come back escaped, in the answer and in the audit log.
    let reply = proxy
        .ssm(
            "/",
            DEREGISTER,
            "{\"WindowId\":\"mw-\\u0000\\u001b[31m\",\"WindowTaskId\":\"x\"}",
        )
        .await;
    let message = reply.aws_error(400, "ValidationException");
    assert!(
        message
            .starts_with("4 validation errors detected: Value 'mw-\u{0}\u{1b}[31m' at 'windowId'"),
        "{message:?}"
    );
    assert!(
        !reply.body.iter().any(|&b| b < 0x20),
        "raw control bytes in the JSON answer"
    );
    proxy.stop().await;
    let log = std::fs::read(&audit).unwrap();
    assert!(
        !log.iter().any(|&b| b < 0x20 && b != b'\n'),
        "raw control bytes in the audit log"
    );
    let summary = ssm_vcr::verify_audit_log(&[&audit]);
    assert_eq!(summary.broken, None);
    let _ = std::panic::take_hook();
    assert!(
        panics.lock().unwrap().is_empty(),
        "{:?}",
        panics.lock().unwrap()
    );
}

#[tokio::test]
async fn cassette_paths_never_write_outside_the_cassette_folder() {
    let fake = FakeSsm::start().await;
    let root = tempfile::tempdir().unwrap();
    let cassettes = root.path().join("cassettes");
    std::fs::create_dir(&cassettes).unwrap();
    let mut config = config();
    config.mode = ssm_vcr::Mode::Record;
    config.upstream = Some(fake.url.clone());
    config.cassettes.dir = cassettes.clone();
    config.cassettes.default = "flow".to_owned();
    let credentials =
        aws_credential_types::Credentials::new(PROXY_KEY_ID, PROXY_SECRET, None, None, "test");
    let proxy = TestProxy::start_with_credentials(config, credentials).await;
    let body = create_window_body("nightly");
    for path in [
        "/cassette/../",
        "/cassette/../escape/",
        "/cassette/..%2f..%2fescape/",
        "/cassette/%2e%2e/",
        "/cassette/%2Ftmp%2Fescape/",
        "/cassette//tmp/escape/",
        "/cassette/.hidden/",
        "/cassette/a\\b/",
        "/../cassette/escape/",
    ] {
        let reply = proxy.ssm(path, "CreateMaintenanceWindow", &body).await;
        assert!(
            matches!(reply.status.as_u16(), 400 | 404),
            "{path}: {}",
            reply.status
        );
    }
    let fine = proxy
        .ssm("/cassette/inside/", "CreateMaintenanceWindow", &body)
        .await;
    assert_eq!(fine.status, 200);
    proxy.stop().await;
    let mut outside: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    outside.sort();
    assert_eq!(
        outside,
        ["cassettes"],
        "something was written beside the cassette folder"
    );
    let inside: Vec<String> = std::fs::read_dir(&cassettes)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(inside, ["inside.json"]);
}

#[tokio::test]
async fn own_endpoints_and_foreign_tunnels_are_refused_before_the_envelope_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let proxy = TestProxy::start(config_with_audit(&log)).await;
    // The proxy's own endpoints: not an SSM call, so a deregistration sent there is not one.
    let reply = proxy
        .ssm(
            "/__ssm-vcr/calls",
            DEREGISTER,
            &deregister_body(WINDOW, TASK_1),
        )
        .await;
    assert!(
        reply
            .aws_error(404, "UnknownOperationException")
            .starts_with(
                "no endpoint '/__ssm-vcr/calls': the proxy's own are GET /__ssm-vcr/health"
            )
    );
    // A tunnel request for a host that is not SSM's, as HTTPS_PROXY clients send.
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream
        .write_all(b"CONNECT ssm.us-east-1.amazonaws.com.example:443 HTTP/1.1\r\nhost: ssm.us-east-1.amazonaws.com.example:443\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 403");
    proxy.stop().await;
    assert_eq!(audit_records(&log).len(), 1, "only the start record");
}
