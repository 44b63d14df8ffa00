//! Recording against an upstream: the fake SSM here stands in for AWS, checks every signature
//! with its own SigV4 implementation, and is the only network peer (127.0.0.1).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use bytes::Bytes;
use common::fake_ssm::{
    FakeSsm, PROXY_KEY_ID, PROXY_SECRET, PROXY_SESSION_TOKEN, check_signature, test_tls,
    verify_sigv4,
};
use common::process::{call, fold_journals, sigterm, spawn_serve, start};
use common::{DEREGISTER, Reply, TestProxy, config, config_with_audit, create_window_body};
use http::HeaderMap;
use serde_json::{Value, json};
use ssm_vcr::{Cassette, Config, Json, Mode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

fn credentials(with_session_token: bool) -> Credentials {
    let token = with_session_token.then(|| PROXY_SESSION_TOKEN.to_owned());
    Credentials::new(PROXY_KEY_ID, PROXY_SECRET, token, None, "test")
}

fn forwarding_config(dir: &Path, mode: Mode, upstream: &str) -> Config {
    let mut config = config();
    config.mode = mode;
    config.upstream = Some(upstream.to_owned());
    config.cassettes.dir = dir.to_owned();
    config.cassettes.default = "flow".to_owned();
    config
}

async fn forwarding_proxy(config: Config) -> TestProxy {
    TestProxy::start_with_credentials(config, credentials(true)).await
}

/// What a client can see of a reply: status, the headers that matter, body bytes.
fn seen(reply: &Reply) -> (u16, Vec<(String, String)>, Bytes) {
    let headers = ["content-type", "x-amzn-requestid", "x-amzn-errortype"]
        .iter()
        .filter_map(|name| {
            Some((
                (*name).to_owned(),
                reply.headers.get(*name)?.to_str().ok()?.to_owned(),
            ))
        })
        .collect();
    (reply.status.as_u16(), headers, reply.body.clone())
}

/// Create a window, register two tasks, describe, deregister the first twice, describe.
async fn workflow(proxy: &TestProxy, run: &str) -> Vec<(u16, Vec<(String, String)>, Bytes)> {
    let mut replies = Vec::new();
    let create = json!({"Name": "nightly", "Schedule": "cron(0 2 ? * SUN *)", "Duration": 2, "Cutoff": 1,
                        "AllowUnassociatedTargets": false, "ClientToken": format!("{run}-create")});
    let reply = proxy
        .ssm("/", "CreateMaintenanceWindow", &create.to_string())
        .await;
    let window = reply.json()["WindowId"].as_str().unwrap().to_owned();
    replies.push(seen(&reply));
    let mut tasks = Vec::new();
    for arn in ["AWS-RunPatchBaseline", "AWS-RunShellScript"] {
        let register = json!({"WindowId": window, "TaskArn": arn, "TaskType": "RUN_COMMAND", "ClientToken": format!("{run}-{arn}")});
        let reply = proxy
            .ssm(
                "/",
                "RegisterTaskWithMaintenanceWindow",
                &register.to_string(),
            )
            .await;
        tasks.push(reply.json()["WindowTaskId"].as_str().unwrap().to_owned());
        replies.push(seen(&reply));
    }
    let describe = json!({"WindowId": window}).to_string();
    replies.push(seen(
        &proxy
            .ssm("/", "DescribeMaintenanceWindowTasks", &describe)
            .await,
    ));
    let deregister = json!({"WindowId": window, "WindowTaskId": tasks[0]}).to_string();
    replies.push(seen(&proxy.ssm("/", DEREGISTER, &deregister).await));
    replies.push(seen(&proxy.ssm("/", DEREGISTER, &deregister).await));
    replies.push(seen(
        &proxy
            .ssm("/", "DescribeMaintenanceWindowTasks", &describe)
            .await,
    ));
    replies
}

#[tokio::test]
async fn a_recorded_workflow_replays_offline_identically_and_resaves_byte_equal() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = forwarding_proxy(forwarding_config(dir.path(), Mode::Record, &fake.url)).await;
    let recorded = workflow(&proxy, "first").await;
    let report = proxy.stop().await;
    assert!(
        !dir.path().join("flow.json.journal").exists(),
        "stopping compacts the journal into the cassette"
    );
    assert_eq!(report.calls.get("recorded"), Some(&7));
    assert_eq!(
        (
            report.cassettes[0].recorded,
            report.cassettes[0].interactions
        ),
        (7, 0)
    );
    assert_eq!(recorded[4].0, 200);
    assert_eq!(recorded[5].0, 400);
    assert_eq!(fake.received().len(), 7);
    let connections = fake.connections();

    let proxy = TestProxy::start(forwarding_config(dir.path(), Mode::Replay, &fake.url)).await;
    let replayed = workflow(&proxy, "second").await;
    proxy.stop().await;
    assert_eq!(replayed, recorded);
    assert_eq!(
        fake.connections(),
        connections,
        "replay contacted the upstream"
    );

    let file = dir.path().join("flow.json");
    let bytes = std::fs::read(&file).unwrap();
    let cassette = Cassette::from_json(&bytes).unwrap();
    assert_eq!(cassette.interactions.len(), 7);
    assert_eq!(
        cassette.to_json(),
        bytes,
        "re-saving the cassette changed its bytes"
    );
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        !text.contains("x-fake-header"),
        "a response header outside the allow-list was recorded"
    );
    // Tokens stay in the file for reviewers; matching ignores them (the replay above used others).
    assert!(text.contains(r#""ClientToken": "first-create""#));
}

#[tokio::test]
async fn every_forwarded_request_is_signed_by_the_proxy_over_exactly_the_forwarded_headers() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = forwarding_proxy(forwarding_config(dir.path(), Mode::Passthrough, &fake.url)).await;
    let reply = proxy
        .send(
            "/cassette/anything/",
            &[
                ("x-amz-target", "AmazonSSM.CreateMaintenanceWindow"),
                ("content-type", "application/x-amz-json-1.1"),
                ("authorization", &common::authorization("us-east-1")),
                ("x-amz-security-token", "client-session-token"),
                ("cookie", "session=client-cookie"),
                ("x-custom", "not forwarded"),
            ],
            create_window_body("nightly").into_bytes(),
        )
        .await;
    assert_eq!(reply.status, 200);
    proxy.stop().await;

    let received = fake.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.signature, Ok(()));
    let authorization = request.headers["authorization"].to_str().unwrap();
    assert!(
        authorization.starts_with(&format!("AWS4-HMAC-SHA256 Credential={PROXY_KEY_ID}/")),
        "{authorization}"
    );
    assert!(
        authorization.contains("/us-east-1/ssm/aws4_request"),
        "{authorization}"
    );
    assert_eq!(request.headers["x-amz-security-token"], PROXY_SESSION_TOKEN);
    for header in ["cookie", "x-custom"] {
        assert!(
            !request.headers.contains_key(header),
            "{header} was forwarded"
        );
    }
    assert_eq!(request.headers["host"], fake.addr.to_string());
    assert!(
        !dir.path().join("anything.json").exists(),
        "passthrough wrote a cassette"
    );
}

#[test]
fn the_signature_check_agrees_with_aws_and_rejects_a_tampered_header() {
    // AWS's published SigV4 test-suite case `get-vanilla`.
    let mut vanilla = HeaderMap::new();
    vanilla.insert("host", "example.amazonaws.com".parse().unwrap());
    vanilla.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
    vanilla.insert(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
            .parse()
            .unwrap(),
    );
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    assert_eq!(check_signature("GET", "/", &vanilla, b"", secret), Ok(()));
    let mut tampered = vanilla.clone();
    tampered.insert("host", "example2.amazonaws.com".parse().unwrap());
    assert!(check_signature("GET", "/", &tampered, b"", secret).is_err());
    assert!(check_signature("GET", "/", &vanilla, b"x", secret).is_err());
}

#[tokio::test]
async fn the_fake_rejects_a_signed_request_whose_target_was_changed_in_transit() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = forwarding_proxy(forwarding_config(dir.path(), Mode::Passthrough, &fake.url)).await;
    proxy
        .ssm(
            "/",
            "CreateMaintenanceWindow",
            &create_window_body("nightly"),
        )
        .await;
    proxy.stop().await;
    let request = &fake.received()[0];
    let mut headers = request.headers.clone();
    assert_eq!(
        verify_sigv4("POST", "/", &headers, &request.body, PROXY_SECRET),
        Ok(())
    );
    headers.insert(
        "x-amz-target",
        "AmazonSSM.DeleteMaintenanceWindow".parse().unwrap(),
    );
    assert_eq!(
        verify_sigv4("POST", "/", &headers, &request.body, PROXY_SECRET),
        Err(
            "The request signature we calculated does not match the signature you provided."
                .to_owned()
        )
    );
}

#[tokio::test]
async fn recording_over_tls_trusts_the_extra_ca_and_nothing_else() {
    let (acceptor, ca_pem) = test_tls();
    let fake = FakeSsm::start_tls(acceptor).await;
    let dir = tempfile::tempdir().unwrap();

    let refused = forwarding_proxy(forwarding_config(dir.path(), Mode::Record, &fake.url)).await;
    let reply = refused
        .ssm(
            "/",
            "CreateMaintenanceWindow",
            &create_window_body("nightly"),
        )
        .await;
    let message = reply.aws_error(502, "UpstreamUnavailableException");
    assert!(message.contains("invalid peer certificate"), "{message}");
    refused.stop().await;
    assert!(fake.received().is_empty());
    assert!(
        !dir.path().join("flow.json").exists(),
        "a transport failure was recorded"
    );

    let ca_file = dir.path().join("test-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let mut config = forwarding_config(dir.path(), Mode::Record, &fake.url);
    config.forward.ca_file = Some(ca_file);
    let trusting = forwarding_proxy(config).await;
    let recorded = workflow(&trusting, "tls").await;
    trusting.stop().await;
    assert_eq!(recorded[4].0, 200);
    assert!(fake.received().iter().all(|r| r.signature.is_ok()));

    let replaying = TestProxy::start(forwarding_config(dir.path(), Mode::Replay, &fake.url)).await;
    assert_eq!(workflow(&replaying, "again").await, recorded);
    replaying.stop().await;
}

#[tokio::test]
async fn no_cassette_or_audit_record_holds_a_credential() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = forwarding_config(dir.path(), Mode::Record, &fake.url);
    config.audit.enabled = true;
    config.audit.file = dir.path().join("audit.jsonl");
    let proxy = forwarding_proxy(config).await;
    workflow(&proxy, "secret-check").await;
    proxy.stop().await;
    let cassette = std::fs::read_to_string(dir.path().join("flow.json")).unwrap();
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    for (name, text) in [("cassette", &cassette), ("audit log", &audit)] {
        let lower = text.to_lowercase();
        for secret in [PROXY_KEY_ID, PROXY_SECRET, PROXY_SESSION_TOKEN] {
            assert!(!text.contains(secret), "{name} holds {secret}");
        }
        for header in [
            "authorization",
            "x-amz-date",
            "x-amz-security-token",
            "signature=",
        ] {
            assert!(!lower.contains(header), "{name} holds {header}");
        }
    }
    assert!(
        !cassette.contains("AKIDEXAMPLE"),
        "the client's key id is not part of a cassette"
    );
}

#[tokio::test]
async fn an_answer_carrying_a_credential_is_answered_but_never_written() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = forwarding_proxy(forwarding_config(dir.path(), Mode::Record, &fake.url)).await;
    // The fake echoes the name back, so the answer holds an access key id.
    let reply = proxy
        .ssm("/", "GetParameter", r#"{"Name":"AKIAIOSFODNN7EXAMPLE"}"#)
        .await;
    assert_eq!(reply.status, 200, "the client still gets its answer");
    proxy.stop().await;
    assert!(
        !dir.path().join("flow.json").exists(),
        "the cassette was written"
    );

    let mut config = forwarding_config(dir.path(), Mode::Record, &fake.url);
    config.cassettes.redact_paths = vec!["Name".to_owned(), "Parameter.Name".to_owned()];
    let proxy = forwarding_proxy(config).await;
    proxy
        .ssm("/", "GetParameter", r#"{"Name":"AKIAIOSFODNN7EXAMPLE"}"#)
        .await;
    proxy.stop().await;
    let text = std::fs::read_to_string(dir.path().join("flow.json")).unwrap();
    assert!(text.contains(r#""Name": "REDACTED""#), "{text}");
    // The configured path and the model's sensitive value, each replaced; the answer stays
    // readable JSON.
    let cassette: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        cassette["interactions"][0]["response"]["body"]["json"],
        json!({"Parameter": {"Name": "REDACTED", "Type": "String", "Value": "REDACTED-1"}}),
        "{text}"
    );
}

#[tokio::test]
async fn a_recorded_describe_parameters_answer_reads_as_json_and_replays_byte_for_byte() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = forwarding_proxy(forwarding_config(dir.path(), Mode::Record, &fake.url)).await;
    let put = r#"{"Name":"/app/url","Value":"https://example.com","Type":"String"}"#;
    assert_eq!(proxy.ssm("/", "PutParameter", put).await.status, 200);
    let live = proxy.ssm("/", "DescribeParameters", "{}").await;
    proxy.stop().await;
    assert_eq!(live.status, 200);

    let text = std::fs::read_to_string(dir.path().join("flow.json")).unwrap();
    // One member per line, in the order AWS sent them, the timestamp spelled as sent.
    let laid_out = r#"
          "json": {
            "Parameters": [
              {
                "Name": "/app/url",
                "Type": "String",
                "LastModifiedDate": 1.700000000123E9,
                "Version": 1,
                "Tier": "Standard",
                "DataType": "text"
              }
            ]
          }"#;
    assert!(text.contains(laid_out), "{text}");

    let mut config = forwarding_config(dir.path(), Mode::Replay, &fake.url);
    config.upstream = None;
    let proxy = TestProxy::start(config).await;
    assert_eq!(proxy.ssm("/", "PutParameter", put).await.status, 200);
    let replayed = proxy.ssm("/", "DescribeParameters", "{}").await;
    proxy.stop().await;
    assert_eq!(seen(&replayed), seen(&live));
}

#[tokio::test]
async fn invalid_calls_are_refused_and_never_forwarded() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = forwarding_proxy(forwarding_config(dir.path(), Mode::Record, &fake.url)).await;
    proxy
        .ssm("/", DEREGISTER, r#"{"WindowId":"mw-123"}"#)
        .await
        .aws_error(400, "ValidationException");
    proxy.stop().await;
    assert_eq!(fake.connections(), 0);
}

#[tokio::test]
async fn auto_mode_replays_what_it_has_and_appends_what_it_lacks() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = forwarding_proxy(forwarding_config(dir.path(), Mode::Record, &fake.url)).await;
    let first = proxy
        .ssm("/", "CreateMaintenanceWindow", &create_window_body("one"))
        .await;
    proxy.stop().await;

    let proxy = forwarding_proxy(forwarding_config(dir.path(), Mode::Auto, &fake.url)).await;
    let replayed = proxy
        .ssm("/", "CreateMaintenanceWindow", &create_window_body("one"))
        .await;
    let forwarded = proxy
        .ssm("/", "CreateMaintenanceWindow", &create_window_body("two"))
        .await;
    let report = proxy.stop().await;
    assert_eq!(
        report.to_string().lines().nth(1).unwrap(),
        format!(
            "  cassette 'flow' ({}): 1 call(s) replayed, 1 of 1 interaction(s) used, 1 recorded",
            dir.path().join("flow.json").display()
        )
    );
    assert_eq!(replayed.body, first.body);
    assert_eq!(
        fake.received().len(),
        2,
        "only the miss reached the upstream"
    );
    assert_eq!(forwarded.status, 200);
    let cassette =
        Cassette::from_json(&std::fs::read(dir.path().join("flow.json")).unwrap()).unwrap();
    let names: Vec<&Json> = cassette
        .interactions
        .iter()
        .map(|i| &i.request.body["Name"])
        .collect();
    assert_eq!(names, [&Json::from("one"), &Json::from("two")]);
}

/// The statuses of a call and its retry.
async fn two_calls(proxy: &TestProxy, body: &str) -> [u16; 2] {
    let mut statuses = [0; 2];
    for status in &mut statuses {
        *status = proxy
            .ssm("/", "GetMaintenanceWindow", body)
            .await
            .status
            .as_u16();
    }
    statuses
}

#[tokio::test]
async fn a_server_error_and_its_retry_replay_as_the_same_sequence() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = forwarding_proxy(forwarding_config(dir.path(), Mode::Record, &fake.url)).await;
    fake.fail_next("GetMaintenanceWindow");
    let body = r#"{"WindowId":"mw-0123456789abcdef0"}"#;
    let statuses = two_calls(&proxy, body).await;
    proxy.stop().await;
    assert_eq!(statuses, [500, 200]);
    let proxy = TestProxy::start(forwarding_config(dir.path(), Mode::Replay, &fake.url)).await;
    let replayed = two_calls(&proxy, body).await;
    proxy.stop().await;
    assert_eq!(replayed, statuses);

    let mut config = forwarding_config(dir.path(), Mode::Record, &fake.url);
    config.cassettes.record_server_errors = false;
    let proxy = forwarding_proxy(config).await;
    fake.fail_next("GetMaintenanceWindow");
    proxy.ssm("/", "GetMaintenanceWindow", body).await;
    proxy.ssm("/", "GetMaintenanceWindow", body).await;
    proxy.stop().await;
    let cassette =
        Cassette::from_json(&std::fs::read(dir.path().join("flow.json")).unwrap()).unwrap();
    let recorded: Vec<u16> = cassette
        .interactions
        .iter()
        .map(|i| i.response.status)
        .collect();
    assert_eq!(recorded, [200]);
}

/// Upstreams that fail in each way a network can.
async fn faulty_upstream(kind: &str) -> (String, Option<tokio::task::JoinHandle<()>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let kind = kind.to_owned();
    if kind == "refused" {
        drop(listener);
        return (format!("http://{addr}"), None);
    }
    let scheme = if kind == "tls" { "https" } else { "http" };
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            match kind.as_str() {
                "reset" => {
                    // A zero linger turns the close into a TCP reset, which is the point here.
                    #[allow(deprecated)]
                    let _ = stream.set_linger(Some(Duration::ZERO));
                    drop(stream);
                }
                "reset mid-body" | "short body" => {
                    // Promise 100 bytes, send 10, then reset or close.
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: 100\r\n\r\n";
                    let _ = stream
                        .write_all(format!("{head}{{\"Window\":").as_bytes())
                        .await;
                    if kind == "reset mid-body" {
                        #[allow(deprecated)]
                        let _ = stream.set_linger(Some(Duration::ZERO));
                    }
                    drop(stream);
                }
                "garbage" | "tls" => {
                    let _ = stream
                        .write_all(b"garbage that is not HTTP or TLS\r\n\r\n")
                        .await;
                    drop(stream);
                }
                _ => held.push(stream), // stall: accept and never answer
            }
        }
    });
    (format!("{scheme}://{addr}"), Some(task))
}

#[tokio::test]
async fn transport_failures_are_answered_502_or_504_audited_and_never_recorded() {
    for (kind, status, error_type, words) in [
        (
            "refused",
            502,
            "UpstreamUnavailableException",
            "Connection refused",
        ),
        (
            "reset",
            502,
            "UpstreamUnavailableException",
            "ssm-vcr could not forward the call",
        ),
        (
            "reset mid-body",
            502,
            "UpstreamUnavailableException",
            "ssm-vcr could not forward the call",
        ),
        (
            "short body",
            502,
            "UpstreamUnavailableException",
            "ssm-vcr could not forward the call",
        ),
        (
            "garbage",
            502,
            "UpstreamUnavailableException",
            "ssm-vcr could not forward the call",
        ),
        (
            "tls",
            502,
            "UpstreamUnavailableException",
            "cannot connect to https://",
        ),
        (
            "stall",
            504,
            "UpstreamTimeoutException",
            "did not answer within 300 ms",
        ),
    ] {
        let (url, task) = faulty_upstream(kind).await;
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.jsonl");
        let mut config = config_with_audit(&audit);
        config.mode = Mode::Record;
        config.upstream = Some(url);
        config.cassettes.dir = dir.path().to_owned();
        config.cassettes.default = "flow".to_owned();
        config.forward.timeout_ms = 300;
        let proxy = forwarding_proxy(config).await;
        let started = Instant::now();
        let reply = proxy
            .ssm(
                "/",
                DEREGISTER,
                &common::deregister_body(common::WINDOW, common::TASK_1),
            )
            .await;
        let elapsed = started.elapsed();
        proxy.stop().await;
        let message = reply.aws_error(status, error_type);
        assert!(message.contains(words), "{kind}: {message}");
        assert!(
            elapsed < Duration::from_secs(10),
            "{kind}: took {elapsed:?}"
        );
        assert!(
            !dir.path().join("flow.json").exists(),
            "{kind}: a transport failure was recorded"
        );
        let records: Vec<Value> = common::audit_records(&audit);
        let events: Vec<&str> = records
            .iter()
            .map(|r| r["event"].as_str().unwrap())
            .collect();
        assert_eq!(events, ["start", "attempt", "outcome"], "{kind}");
        assert_eq!(records[2]["status"], status, "{kind}");
        assert_eq!(records[2]["source"], "proxy", "{kind}");
        assert_eq!(records[2]["error_type"], error_type, "{kind}");
        if let Some(task) = task {
            task.abort();
        }
    }
}

#[test]
fn record_mode_without_credentials_fails_at_start_saying_how_to_provide_them() {
    let home = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ssm-vcr"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    let output = command
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "serve",
            "--mode",
            "record",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:9",
        ])
        .arg("--audit-log")
        .arg(home.path().join("audit.jsonl"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // What to do comes first; what the SDK's credential chain said, last.
    assert!(
        stderr.contains(
            "\nerror: cannot start: mode 'record' forwards to AWS and re-signs every request: no \
             AWS credentials found: give them the way the AWS CLI reads them (AWS_ACCESS_KEY_ID \
             and AWS_SECRET_ACCESS_KEY, plus AWS_SESSION_TOKEN; AWS_PROFILE with \
             ~/.aws/credentials or ~/.aws/config; `aws sso login`; web identity; a container or \
             instance role), or, for clients that come through HTTPS_PROXY, add \
             --forward-proxy-only to relay their own signatures with no credentials here (the \
             credential chain said: "
        ),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compactions_racing_16_recording_clients_keep_every_call_once() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = forwarding_config(dir.path(), Mode::Record, &fake.url);
    // Every recording asks for a compaction once the journal outgrows the cassette.
    config.cassettes.compact_journal_bytes = 1;
    let proxy = std::sync::Arc::new(forwarding_proxy(config).await);
    let clients: Vec<_> = (0..16)
        .map(|client| {
            let proxy = std::sync::Arc::clone(&proxy);
            tokio::spawn(async move {
                for n in 0..12 {
                    let body = create_window_body(&format!("client-{client}-call-{n}"));
                    let reply = proxy.ssm("/", "CreateMaintenanceWindow", &body).await;
                    assert_eq!(reply.status, 200);
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    let proxy = std::sync::Arc::into_inner(proxy).unwrap();
    assert_eq!(proxy.stop().await.calls.get("recorded"), Some(&192));

    let cassette = Cassette::from_json(&std::fs::read(dir.path().join("flow.json")).unwrap())
        .expect("the cassette parses");
    let mut names: Vec<String> = (cassette.interactions.iter())
        .map(|i| i.request.body["Name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 192);
    for client in 0..16 {
        let own: Vec<&String> = (names.iter())
            .filter(|n| n.starts_with(&format!("client-{client}-")))
            .collect();
        let expected: Vec<String> = (0..12)
            .map(|n| format!("client-{client}-call-{n}"))
            .collect();
        assert_eq!(
            own,
            expected.iter().collect::<Vec<_>>(),
            "each client's calls, in order"
        );
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 192, "an interaction was recorded twice");
    assert!(!dir.path().join("flow.json.journal").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_16_clients_record_loses_no_answered_call_once_the_journal_is_folded() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cassette_dir = dir.path().to_str().unwrap().to_owned();
    let audit = dir.path().join("audit.jsonl");
    let (mut child, address) = spawn_serve(
        "",
        &[
            "--mode",
            "record",
            "--upstream",
            &fake.url,
            "--cassette-dir",
            &cassette_dir,
            "--cassette",
            "crash",
            "--audit-log",
            audit.to_str().unwrap(),
        ],
        &[
            ("AWS_ACCESS_KEY_ID", PROXY_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", PROXY_SECRET),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent/config"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"),
        ],
    );
    let (answered, answers) = std::sync::mpsc::channel::<String>();
    let clients: Vec<_> = (0..16)
        .map(|client| {
            let (address, answered) = (address.clone(), answered.clone());
            std::thread::spawn(move || {
                for n in 0.. {
                    let name = format!("client-{client}-call-{n}");
                    let body = create_window_body(&name);
                    match call(&address, "CreateMaintenanceWindow", &body) {
                        Some((200, _, _)) if answered.send(name).is_ok() => {}
                        _ => break,
                    }
                }
            })
        })
        .collect();
    drop(answered);
    let mut acknowledged = tokio::task::spawn_blocking(move || {
        let first: Vec<String> = answers.iter().take(240).collect();
        (first, answers)
    })
    .await
    .unwrap();
    child.kill().unwrap(); // SIGKILL while the clients are still recording
    child.wait().unwrap();
    let acknowledged_names = tokio::task::spawn_blocking(move || {
        for client in clients {
            client.join().unwrap();
        }
        acknowledged.0.extend(acknowledged.1.try_iter());
        acknowledged.0
    })
    .await
    .unwrap();
    let journal = dir.path().join("crash.json.journal");
    assert!(
        journal.exists(),
        "the recordings are in the journal, not yet compacted"
    );

    // The next start, in any mode, folds the journal into the cassette before serving.
    fold_journals(&cassette_dir, "crash");
    let bytes = std::fs::read(dir.path().join("crash.json")).unwrap();
    let cassette = Cassette::from_json(&bytes).expect("the cassette parses after SIGKILL");
    let recorded: std::collections::HashSet<String> = cassette
        .interactions
        .iter()
        .filter_map(|i| i.request.body["Name"].as_str().map(str::to_owned))
        .collect();
    let missing: Vec<&String> = acknowledged_names
        .iter()
        .filter(|n| !recorded.contains(*n))
        .collect();
    assert!(acknowledged_names.len() >= 240);
    assert!(
        missing.is_empty(),
        "{} answered calls missing from the cassette: {missing:?}",
        missing.len()
    );
    assert_eq!(
        recorded.len(),
        cassette.interactions.len(),
        "an interaction was recorded twice"
    );
    assert!(!journal.exists(), "the folded journal was removed");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.len() <= 1,
        "temporary files left behind: {leftovers:?}"
    );
}

#[tokio::test]
async fn a_forwarded_deregistration_is_audited_as_an_attempt_then_its_outcome() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let mut config = forwarding_config(dir.path(), Mode::Passthrough, &fake.url);
    config.audit.enabled = true;
    config.audit.file = audit.clone();
    let proxy = forwarding_proxy(config).await;
    let window = proxy
        .ssm(
            "/",
            "CreateMaintenanceWindow",
            &create_window_body("nightly"),
        )
        .await
        .json()["WindowId"]
        .clone();
    let register =
        json!({"WindowId": window, "TaskArn": "AWS-RunShellScript", "TaskType": "RUN_COMMAND"});
    let task = proxy
        .ssm(
            "/",
            "RegisterTaskWithMaintenanceWindow",
            &register.to_string(),
        )
        .await
        .json()["WindowTaskId"]
        .clone();
    let body = json!({"WindowId": window, "WindowTaskId": task}).to_string();
    let reply = proxy.ssm("/", DEREGISTER, &body).await;
    proxy.stop().await;

    let records: Vec<Value> = common::audit_records(&audit);
    assert_eq!(records.len(), 3, "start, attempt, outcome: {records:#?}");
    let (attempt, outcome) = (&records[1], &records[2]);
    for record in [attempt, outcome] {
        assert_eq!(record["mode"], "passthrough");
        assert_eq!(
            record["access_key_id"], "AKIDEXAMPLE",
            "the caller, not the proxy's signing key"
        );
        assert_eq!(record["region"], "us-east-1");
        assert_eq!(record["operation"], DEREGISTER);
        assert_eq!(record["what"]["WindowId"], window);
        assert_eq!(record["what"]["WindowTaskId"], task);
        assert_eq!(record["source"], "upstream");
    }
    assert_eq!(attempt["event"], "attempt");
    assert!(attempt.get("status").is_none());
    assert_eq!(outcome["event"], "outcome");
    assert_eq!(outcome["status"], 200);
    assert_eq!(
        outcome["request_id"],
        reply.headers["x-amzn-requestid"].to_str().unwrap()
    );
    assert!(outcome.get("error_type").is_none());
    assert!(
        outcome.get("interaction").is_none(),
        "passthrough records no interaction"
    );
    assert_eq!(outcome["prev"], attempt["hash"]);
}

#[tokio::test]
async fn only_allowed_operations_are_forwarded() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = forwarding_config(dir.path(), Mode::Passthrough, &fake.url);
    config.forward.allowed_operations = vec!["DescribeMaintenanceWindowTasks".to_owned()];
    let proxy = forwarding_proxy(config).await;
    let refused = proxy
        .ssm(
            "/",
            "CreateMaintenanceWindow",
            &create_window_body("nightly"),
        )
        .await;
    assert_eq!(
        refused.aws_error(400, "AccessDeniedException"),
        "ssm-vcr does not forward AmazonSSM.CreateMaintenanceWindow to AWS: it is not in forward.allowed_operations"
    );
    assert_eq!(fake.connections(), 0);
    let allowed = proxy
        .ssm(
            "/",
            "DescribeMaintenanceWindowTasks",
            r#"{"WindowId":"mw-0123456789abcdef0"}"#,
        )
        .await;
    assert_eq!(
        allowed.json()["__type"],
        "DoesNotExistException",
        "forwarded, answered by the fake"
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_operational_log_even_at_trace_level() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_ssm-vcr");
    let (child, address) = start(
        std::process::Command::new(bin)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--mode",
                "record",
                "--upstream",
                &fake.url,
                "--no-audit",
            ])
            .arg("--cassette-dir")
            .arg(dir.path())
            .env("RUST_LOG", "trace")
            .env("AWS_ACCESS_KEY_ID", PROXY_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", PROXY_SECRET)
            .env("AWS_SESSION_TOKEN", PROXY_SESSION_TOKEN)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent/config")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
            .stderr(std::process::Stdio::piped()),
    );
    let body = common::deregister_body(common::WINDOW, common::TASK_1);
    let answered = tokio::task::spawn_blocking(move || call(&address, DEREGISTER, &body))
        .await
        .unwrap();
    assert!(answered.is_some());
    sigterm(&child);
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains("ssm_vcr::access"),
        "the log ran at trace level: {}",
        &log[..log.len().min(500)]
    );
    for secret in [PROXY_SECRET, PROXY_SESSION_TOKEN] {
        assert!(!log.contains(secret), "the operational log holds a secret");
    }
    assert!(fake.received().iter().all(|r| r.signature.is_ok()));
}

#[tokio::test]
async fn sequential_forwarded_calls_share_one_upstream_connection() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = forwarding_proxy(forwarding_config(dir.path(), Mode::Passthrough, &fake.url)).await;
    for _ in 0..5 {
        let reply = proxy
            .ssm(
                "/",
                "GetMaintenanceWindow",
                r#"{"WindowId":"mw-0123456789abcdef0"}"#,
            )
            .await;
        assert_eq!(reply.status, 200);
    }
    proxy.stop().await;
    assert_eq!(fake.received().len(), 5);
    assert_eq!(fake.connections(), 1, "each call opened its own connection");
}

/// An upstream that answers one request per connection, then closes it without saying so
/// (no `Connection: close`) when told to, as a server timing out an idle keep-alive
/// connection does. Each close is confirmed, so a test can call again once it is done.
struct ClosingUpstream {
    url: String,
    close: tokio::sync::mpsc::UnboundedSender<()>,
    closed: tokio::sync::mpsc::UnboundedReceiver<()>,
    task: tokio::task::JoinHandle<()>,
}

impl ClosingUpstream {
    async fn start() -> Self {
        use tokio::io::AsyncReadExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (close, mut close_orders) = tokio::sync::mpsc::unbounded_channel();
        let (closed_tx, closed) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                // Headers, then as many body bytes as content-length says.
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                while !whole_request(&request) {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let body = r#"{"WindowId":"mw-0123456789abcdef0","Name":"nightly"}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\n\
                     x-amzn-requestid: 11111111-2222-3333-4444-555555555555\r\n\
                     content-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                if close_orders.recv().await.is_none() {
                    return;
                }
                drop(stream);
                let _ = closed_tx.send(());
            }
        });
        Self {
            url,
            close,
            closed,
            task,
        }
    }

    /// Closes the connection that carried the last answer, and returns once it is closed.
    async fn close_idle_connection(&mut self) {
        self.close.send(()).unwrap();
        self.closed.recv().await.unwrap();
    }
}

fn whole_request(request: &[u8]) -> bool {
    let text = String::from_utf8_lossy(request);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    body.len() >= length
}

#[tokio::test]
async fn an_upstream_closing_a_kept_alive_connection_costs_no_call() {
    let mut upstream = ClosingUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = forwarding_proxy(forwarding_config(
        dir.path(),
        Mode::Passthrough,
        &upstream.url,
    ))
    .await;
    for call in 0..4 {
        if call > 0 {
            upstream.close_idle_connection().await;
        }
        let reply = proxy
            .ssm(
                "/",
                "GetMaintenanceWindow",
                r#"{"WindowId":"mw-0123456789abcdef0"}"#,
            )
            .await;
        assert_eq!(reply.status, 200, "call {call}: {:?}", reply.body);
        assert_eq!(reply.json()["Name"], "nightly");
    }
    proxy.stop().await;
    upstream.task.abort();
}

#[tokio::test]
async fn an_unknown_operation_is_refused_in_every_mode_without_touching_the_upstream() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    for mode in [Mode::Replay, Mode::Record, Mode::Auto, Mode::Passthrough] {
        let mut config = forwarding_config(dir.path(), mode, &fake.url);
        if mode == Mode::Replay {
            config.cassettes.dir = common::shipped_cassettes();
            config.cassettes.default = "maintenance-window-flow".to_owned();
        }
        let proxy = forwarding_proxy(config).await;
        let message = proxy
            .ssm("/", "NoSuchOperation", "{}")
            .await
            .aws_error(400, "UnknownOperationException");
        assert_eq!(
            message,
            "unknown operation 'NoSuchOperation': the SSM API model (botocore 1.44.8) has no such \
             operation; check the spelling, or refresh the model with scripts/update-ssm-model",
            "{mode:?}"
        );
        proxy.stop().await;
    }
    assert_eq!(
        fake.connections(),
        0,
        "an unknown operation reached the upstream"
    );
    assert!(!dir.path().join("flow.json").exists(), "it was recorded");
}

#[tokio::test]
async fn a_secure_string_flow_is_recorded_without_its_secret_and_replays() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = "correct-horse-battery-staple";
    let put = json!({"Name": "/app/db/password", "Value": secret, "Type": "SecureString"});
    let get = json!({"Name": "/app/db/password", "WithDecryption": true});

    let proxy = forwarding_proxy(forwarding_config(dir.path(), Mode::Record, &fake.url)).await;
    let recorded = [
        seen(&proxy.ssm("/", "PutParameter", &put.to_string()).await),
        seen(&proxy.ssm("/", "GetParameter", &get.to_string()).await),
        seen(&proxy.ssm("/", "GetParameter", &get.to_string()).await),
    ];
    proxy.stop().await;
    assert_eq!(recorded[0].0, 200);
    let text = std::fs::read_to_string(dir.path().join("flow.json")).unwrap();
    assert!(!text.contains(secret), "{text}");
    // The value sent and the value read back twice: one value, one placeholder, and the
    // second read the same answer again, counted: the placeholder in the request sent and in
    // the one answer recorded.
    assert_eq!(
        text.matches(r#""Value": "REDACTED-1""#).count(),
        2,
        "{text}"
    );
    assert!(text.contains(r#""repeat": 2"#), "{text}");
    assert!(!text.contains("REDACTED-2"), "{text}");
    assert!(text.contains(r#""botocore": "1.44.8""#), "{text}");

    let mut config = forwarding_config(dir.path(), Mode::Replay, &fake.url);
    config.upstream = None;
    let proxy = TestProxy::start(config).await;
    // The secret sent again matches the redacted recording, and the reads give it back: the
    // client sees what it saw against the upstream, byte for byte.
    let replayed = [
        seen(&proxy.ssm("/", "PutParameter", &put.to_string()).await),
        seen(&proxy.ssm("/", "GetParameter", &get.to_string()).await),
        seen(&proxy.ssm("/", "GetParameter", &get.to_string()).await),
    ];
    let report = proxy.stop().await;
    assert_eq!(replayed[..2], recorded[..2]);
    // The repeated answer is stored once, so it comes back with the first one's request id.
    assert_eq!(
        (replayed[2].0, &replayed[2].2),
        (recorded[2].0, &recorded[2].2)
    );
    let body: Value = serde_json::from_slice(&replayed[1].2).unwrap();
    assert_eq!(body["Parameter"]["Value"], secret);
    let secrets = &report.cassettes[0].secrets;
    assert_eq!((secrets.bound, secrets.served_unbound.len()), (1, 0));
    assert!(!format!("{report:?}").contains(secret));
}

/// A command's invocation, polled until it ends, as botocore's `CommandExecuted` waiter and
/// hand-written loops poll it: the statuses seen, in order.
async fn poll_command(proxy: &TestProxy) -> Vec<String> {
    let body = json!({"CommandId": "0c1e7b5a-3d2f-4a8b-9c6d-5e4f3a2b1c0d",
                      "InstanceId": "i-0123456789abcdef0"});
    let mut seen = Vec::new();
    loop {
        let reply = proxy
            .ssm("/", "GetCommandInvocation", &body.to_string())
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let status = reply.json()["Status"].as_str().unwrap().to_owned();
        seen.push(status.clone());
        if status != "InProgress" {
            return seen;
        }
    }
}

#[tokio::test]
async fn a_polled_command_is_recorded_once_with_its_count_and_replays_straight_to_its_end() {
    let fake = FakeSsm::start().await;
    fake.command_runs(&["InProgress", "InProgress", "InProgress", "Success"]);
    let dir = tempfile::tempdir().unwrap();
    let proxy = forwarding_proxy(forwarding_config(dir.path(), Mode::Record, &fake.url)).await;
    assert_eq!(
        poll_command(&proxy).await,
        ["InProgress", "InProgress", "InProgress", "Success"]
    );
    proxy.stop().await;
    let cassette = Cassette::from_json(&std::fs::read(dir.path().join("flow.json")).unwrap())
        .unwrap()
        .interactions;
    let stored: Vec<(u32, bool)> = (cassette.iter())
        .map(|i| {
            (
                i.repeat,
                format!("{:?}", i.response.body.to_bytes()).contains("InProgress"),
            )
        })
        .collect();
    assert_eq!(stored, [(3, true), (1, false)], "one InProgress, counted");

    let mut config = forwarding_config(dir.path(), Mode::Replay, &fake.url);
    config.upstream = None;
    config.replay.fast_forward_waiters = false;
    let proxy = TestProxy::start(config.clone()).await;
    assert_eq!(
        poll_command(&proxy).await,
        ["InProgress", "InProgress", "InProgress", "Success"],
        "every poll, when asked"
    );
    assert_eq!(proxy.stop().await.cassettes[0].skipped_polls, 0);

    config.replay.fast_forward_waiters = true;
    let proxy = TestProxy::start(config).await;
    assert_eq!(poll_command(&proxy).await, ["Success"]);
    let metrics = proxy.request("GET", "/__ssm-vcr/metrics").await;
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    assert_eq!(
        common::metric_sample(&metrics, "ssm_vcr_skipped_polls_total"),
        Some(3.0)
    );
    let report = proxy.stop().await;
    let cassette = &report.cassettes[0];
    assert_eq!((cassette.skipped_polls, cassette.misses), (3, 0));
    assert!(cassette.unused.is_empty(), "{:?}", cassette.unused);
    assert!(report.to_string().contains("3 poll(s) skipped"), "{report}");
}

#[tokio::test]
async fn auto_mode_records_a_value_the_replay_bound_under_its_placeholder() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cret-shared-by-two-parameters";
    let put =
        |name: &str| json!({"Name": name, "Value": secret, "Type": "SecureString"}).to_string();
    let proxy = forwarding_proxy(forwarding_config(dir.path(), Mode::Record, &fake.url)).await;
    proxy.ssm("/", "PutParameter", &put("/one")).await;
    proxy.stop().await;

    let proxy = forwarding_proxy(forwarding_config(dir.path(), Mode::Auto, &fake.url)).await;
    let replayed = proxy.ssm("/", "PutParameter", &put("/one")).await;
    assert_eq!(replayed.status, 200);
    // Never recorded: forwarded, and its value is the one the replay bound to REDACTED-1.
    let recorded = proxy.ssm("/", "PutParameter", &put("/two")).await;
    assert_eq!(recorded.status, 200);
    let report = proxy.stop().await;
    assert_eq!(
        (report.cassettes[0].replayed, report.cassettes[0].recorded),
        (1, 1)
    );
    let text = std::fs::read_to_string(dir.path().join("flow.json")).unwrap();
    assert!(!text.contains(secret), "{text}");
    assert_eq!(
        text.matches(r#""Value": "REDACTED-1""#).count(),
        2,
        "{text}"
    );
    assert!(!text.contains("REDACTED-2"), "{text}");
}

#[tokio::test]
async fn a_value_only_aws_knew_is_bound_from_the_environment() {
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Put by someone else: the recording only ever reads it.
    let get = json!({"Name": "/shared/token", "WithDecryption": true}).to_string();
    let proxy = forwarding_proxy(forwarding_config(dir.path(), Mode::Record, &fake.url)).await;
    proxy.ssm("/", "GetParameter", &get).await;
    proxy.stop().await;

    let mut config = forwarding_config(dir.path(), Mode::Replay, &fake.url);
    config.upstream = None;
    let proxy = TestProxy::start(config.clone()).await;
    let unbound = proxy.ssm("/", "GetParameter", &get).await;
    assert_eq!(unbound.json()["Parameter"]["Value"], "REDACTED-1");
    let report = proxy.stop().await;
    assert_eq!(report.cassettes[0].secrets.served_unbound, ["REDACTED-1"]);
    assert!(
        report.to_string().contains(
            "served unbound: REDACTED-1 (no client sent these values; bind one from the \
             environment with --bind-secret REDACTED-1=env:VARIABLE)"
        ),
        "{report}"
    );

    // Cargo sets this variable for every test it runs.
    config.replay.secrets = [(
        "flow/REDACTED-1".to_owned(),
        "env:CARGO_PKG_NAME".to_owned(),
    )]
    .into();
    let proxy = TestProxy::start(config.clone()).await;
    let bound = proxy.ssm("/", "GetParameter", &get).await;
    assert_eq!(bound.json()["Parameter"]["Value"], env!("CARGO_PKG_NAME"));
    let report = proxy.stop().await;
    assert!(report.cassettes[0].secrets.served_unbound.is_empty());

    config.replay.secrets = [(
        "REDACTED-1".to_owned(),
        "env:SSM_VCR_NO_SUCH_VARIABLE".to_owned(),
    )]
    .into();
    let refused = ssm_vcr::Proxy::builder()
        .config(config)
        .start()
        .await
        .unwrap_err();
    let cause = std::error::Error::source(&refused).map(ToString::to_string);
    assert_eq!(
        (refused.to_string(), cause.as_deref()),
        (
            "invalid configuration".to_owned(),
            Some(
                "replay.secrets: REDACTED-1: the environment variable SSM_VCR_NO_SUCH_VARIABLE is not set"
            )
        )
    );
}
