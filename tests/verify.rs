//! `ssm-vcr verify` against a scripted upstream on 127.0.0.1:0: drift in each class, a vanished
//! fixture, throttling, a live secret that reaches no report, mutating calls never sent, and
//! `--update`.

mod common;

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::fake_ssm::{PROXY_KEY_ID, PROXY_SECRET, check_signature};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// A live answer: status and body.
type Answer = (u16, Value);

/// The calls an upstream received: operation, and whether its signature holds.
type Calls = Arc<Mutex<Vec<(String, Result<(), String>)>>>;

/// An upstream that answers each operation from its own queue (the last answer stays), and
/// notes every call: its operation and whether its signature holds.
struct Scripted {
    url: String,
    calls: Calls,
}

impl Scripted {
    async fn start(answers: Vec<(&'static str, Vec<Answer>)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let answers: HashMap<String, VecDeque<Answer>> = (answers.into_iter())
            .map(|(operation, queue)| (operation.to_owned(), queue.into()))
            .collect();
        let answers = Arc::new(Mutex::new(answers));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&calls);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (answers, seen) = (Arc::clone(&answers), Arc::clone(&seen));
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let (answers, seen) = (Arc::clone(&answers), Arc::clone(&seen));
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        let operation = parts.headers["x-amz-target"]
                            .to_str()
                            .unwrap()
                            .trim_start_matches("AmazonSSM.")
                            .to_owned();
                        let signature =
                            check_signature("POST", "/", &parts.headers, &body, PROXY_SECRET);
                        seen.lock().unwrap().push((operation.clone(), signature));
                        let (status, answer) = {
                            let mut answers = answers.lock().unwrap();
                            let queue = answers.get_mut(&operation).expect("a scripted operation");
                            match queue.len() {
                                1 => queue[0].clone(),
                                _ => queue.pop_front().unwrap(),
                            }
                        };
                        let mut response =
                            Response::new(Full::new(Bytes::from(answer.to_string())));
                        *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
                        let headers = response.headers_mut();
                        headers.insert(
                            "content-type",
                            "application/x-amz-json-1.1".parse().unwrap(),
                        );
                        headers.insert("x-amzn-requestid", "live-request-id".parse().unwrap());
                        Ok::<_, Infallible>(response)
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, calls }
    }

    /// How many calls of each operation arrived.
    fn count(&self, operation: &str) -> usize {
        let calls = self.calls.lock().unwrap();
        calls.iter().filter(|(op, _)| op == operation).count()
    }
}

/// One recorded interaction, its answer compact JSON as AWS sends it.
fn interaction(operation: &str, request: Value, status: u16, response: Value) -> Value {
    json!({
        "operation": operation,
        "region": "us-east-1",
        "recorded_at": "2026-12-01T00:00:00Z",
        "request": {"body": request},
        "response": {
            "status": status,
            "headers": {"x-amzn-requestid": "recorded-request-id"},
            "body": {"utf8": response.to_string()},
        },
    })
}

const LIVE_SECRET: &str = "hunter2-the-live-value";

fn recorded_cassette() -> Value {
    json!({"version": 1, "interactions": [
        interaction("DescribeParameters", json!({"MaxResults": 10}), 200,
            json!({"Parameters": [{"Name": "/app/url", "Type": "String", "Tier": "Standard", "LastModifiedDate": 1.7e9}]})),
        interaction("GetParameter", json!({"Name": "/app/gone"}), 200,
            json!({"Parameter": {"Name": "/app/gone", "Type": "String", "Value": "REDACTED-1"}})),
        interaction("DeregisterTaskFromMaintenanceWindow",
            json!({"WindowId": "mw-0c50858d01e8a7b6f", "WindowTaskId": "50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c"}), 200,
            json!({"WindowId": "mw-0c50858d01e8a7b6f", "WindowTaskId": "50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c"})),
        interaction("DescribeMaintenanceWindows", json!({}), 200, json!({"WindowIdentities": []})),
        interaction("GetParameter", json!({"Name": "/db/password", "WithDecryption": true}), 200,
            json!({"Parameter": {"Name": "/db/password", "Type": "SecureString", "Value": "REDACTED-2"}})),
    ]})
}

async fn live_upstream() -> Scripted {
    Scripted::start(vec![
        (
            "DescribeParameters",
            // Tier gone, DataType new, a type the model does not list, a later timestamp.
            vec![(200, json!({"Parameters": [{"Name": "/app/url", "Type": "Strange", "LastModifiedDate": 1.8e9, "DataType": "text"}]}))],
        ),
        (
            "GetParameter",
            vec![
                (400, json!({"__type": "ParameterNotFound", "message": "Parameter /app/gone not found."})),
                (200, json!({"Parameter": {"Name": "/db/password", "Type": "SecureString", "Value": LIVE_SECRET}})),
            ],
        ),
        (
            "DescribeMaintenanceWindows",
            vec![
                (400, json!({"__type": "ThrottlingException", "message": "Rate exceeded"})),
                (200, json!({"WindowIdentities": []})),
            ],
        ),
        ("DeregisterTaskFromMaintenanceWindow", vec![(200, json!({}))]),
    ])
    .await
}

async fn verify(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ssm-vcr"))
        .arg("verify")
        .args(args)
        .env_remove("RUST_LOG")
        .env("AWS_ACCESS_KEY_ID", PROXY_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", PROXY_SECRET)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .await
        .unwrap()
}

/// `verify FILE` against the upstream at `url`, unpaced, with `extra` flags.
async fn verify_against(url: &str, file: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![file, "--upstream", url, "--rate", "1000"];
    args.extend_from_slice(extra);
    verify(&args).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn cassette_file(folder: &tempfile::TempDir) -> String {
    let file = folder.path().join("parameters.json");
    std::fs::write(&file, recorded_cassette().to_string()).unwrap();
    file.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn live_drift_is_classed_a_vanished_fixture_is_not_drift_and_writes_are_never_sent() {
    let upstream = live_upstream().await;
    let folder = tempfile::tempdir().unwrap();
    let file = cassette_file(&folder);
    let output = verify_against(&upstream.url, &file, &[]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        format!(
            "{file}\n\
             \x20 #0 DescribeParameters (us-east-1): drift: 1 breaking, 2 additive, 0 value\n\
             \x20     breaking  response.Parameters[0].Tier: member removed (was \"Standard\")\n\
             \x20     additive  response.Parameters[0].Type: value not in the model's enum: \"String\" → \"Strange\"\n\
             \x20     additive  response.Parameters[0].DataType: member added: \"text\"\n\
             \x20 #1 GetParameter (us-east-1): missing fixture: AWS answers ParameterNotFound, the recording reads something gone\n\
             \x20 #2 DeregisterTaskFromMaintenanceWindow (us-east-1): skipped: not a read-only operation (send it with --allow)\n\
             summary: 1 drifted, 2 same, 1 missing fixture(s), 1 skipped, 0 failed; 1 value change(s) hidden (--values shows them)\n"
        )
    );
    assert_eq!(text(&output.stderr), "error: 1 recorded call(s) drifted\n");
    // The mutating call never left; the throttled one was sent again; every call was signed
    // with the proxy's own credentials.
    assert_eq!(upstream.count("DeregisterTaskFromMaintenanceWindow"), 0);
    assert_eq!(upstream.count("DescribeMaintenanceWindows"), 2);
    assert_eq!(upstream.count("GetParameter"), 2);
    for (operation, signature) in upstream.calls.lock().unwrap().iter() {
        assert_eq!(signature, &Ok(()), "{operation}");
    }
    // The live secret was redacted before it was compared, so it is in no report.
    for format in ["text", "json", "junit", "markdown"] {
        let output = verify_against(&upstream.url, &file, &["--values", "--format", format]).await;
        assert!(!text(&output.stdout).contains(LIVE_SECRET), "{format}");
        assert!(!text(&output.stderr).contains(LIVE_SECRET), "{format}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn update_writes_drifted_answers_through_redaction_and_offline_then_reads_them() {
    let upstream = live_upstream().await;
    let folder = tempfile::tempdir().unwrap();
    let file = cassette_file(&folder);
    let output = verify_against(&upstream.url, &file, &["--update"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("; 1 answer(s) updated in the cassette\n"));
    let updated = std::fs::read_to_string(&file).unwrap();
    assert!(updated.contains("\"DataType\": \"text\""), "{updated}");
    assert!(!updated.contains(LIVE_SECRET), "{updated}");
    // The vanished fixture's recording is kept as it was.
    assert!(updated.contains("/app/gone"), "{updated}");

    // Offline, the cassette is read against this build's model: the type it does not list.
    let output = verify(&[&file, "--offline"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let report = text(&output.stdout);
    assert!(
        report.contains(
            "  #0 DescribeParameters (us-east-1): drift: 0 breaking, 1 additive, 0 value\n      \
             additive  response.Parameters[0].Type: value not in the model's enum (was \"Strange\")\n"
        ),
        "{report}"
    );
    // The file was written without a model stamp.
    assert!(
        report.contains("  note: recorded without a model stamp"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_cassette_reads_cleanly_offline_and_an_unreachable_upstream_is_exit_2() {
    let output = verify(&["--offline", "cassettes/maintenance-window-flow.json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    assert!(
        text(&output.stdout)
            .ends_with("summary: 0 drifted, 7 same, 0 missing fixture(s), 0 skipped, 0 failed\n")
    );

    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let output = verify_against(&url, "cassettes/maintenance-window-flow.json", &[]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stdout));
    assert!(
        text(&output.stdout)
            .contains("#3 DescribeMaintenanceWindowTasks (us-east-1): failed: cannot connect to")
    );
    assert_eq!(
        text(&output.stderr),
        "error: 2 call(s) could not be checked\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_flags_and_a_hand_edited_region_are_refused_not_sent() {
    let shipped = "cassettes/maintenance-window-flow.json";
    let output = verify(&[shipped, "--region", "us-east-1.evil.example"]).await;
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "error: --region \"us-east-1.evil.example\" is not a region name such as us-east-1\n"
    );
    let output = verify(&[shipped, "--rate", "0"]).await;
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "error: --rate 0 is not a number of calls a second from 0.01 up\n"
    );
    for rate in ["NaN", "1e-300"] {
        let output = verify(&[shipped, "--rate", rate]).await;
        assert_eq!(output.status.code(), Some(2), "{rate}");
    }

    let upstream = live_upstream().await;
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("edited.json");
    let mut cassette = recorded_cassette();
    cassette["interactions"][3]["region"] = json!("us-east-1/../../x");
    std::fs::write(&file, cassette.to_string()).unwrap();
    let output = verify_against(&upstream.url, file.to_str().unwrap(), &[]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stdout));
    assert!(text(&output.stdout).contains(
        "  #3 DescribeMaintenanceWindows (us-east-1/../../x): failed: 'us-east-1/../../x' is not a region name\n"
    ));
    assert_eq!(upstream.count("DescribeMaintenanceWindows"), 0);
}
