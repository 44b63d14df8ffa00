//! An audit log that proves it is complete, as whoever must later prove it uses it: a key made
//! by `audit keygen`, a proxy that signs its tree, `audit verify` naming a truncated, replaced
//! or forged log, each with its own exit code, and `audit reconcile` holding the log against
//! CloudTrail.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use common::fake_ssm::{FakeSsm, PROXY_KEY_ID, PROXY_SECRET};
use common::process::{sigterm, start};
use common::{
    DEREGISTER, TASK_1, TestProxy, WINDOW, audit_records as records, config_with_audit,
    create_window_body, deregister_body, metric_sample,
};
use serde_json::{Value, json};
use ssm_vcr::{Config, Mode};

fn ssm_vcr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ssm-vcr"))
        .args(args)
        .output()
        .expect("ssm-vcr runs")
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `audit keygen --out <dir>/<name>.key`: the key and its `.pub`.
fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let output = ssm_vcr(&["audit", "keygen", "--out", text(&key), "--name", name]);
    assert!(output.status.success(), "{output:?}");
    let public = dir.join(format!("{name}.key.pub"));
    (key, public)
}

fn signing_config(log: &Path, key: &Path, every: u64) -> Config {
    let mut config = config_with_audit(log);
    config.audit.signing_key = Some(key.to_owned());
    config.audit.checkpoint_every = every;
    config
}

/// A log of `calls` deregistrations written by a proxy that signs with `key`, checkpointing
/// every `every` records.
async fn signed_log(log: &Path, key: &Path, every: u64, calls: usize) {
    let proxy = TestProxy::start(signing_config(log, key, every)).await;
    for _ in 0..calls {
        proxy
            .ssm("/", DEREGISTER, &deregister_body(WINDOW, TASK_1))
            .await;
    }
    proxy.stop().await;
}

/// `audit verify` with checkpoints: its exit code and what it printed.
fn verify(log: &Path, checkpoints: &[&Path], public: &Path) -> (i32, String) {
    let mut args = vec!["audit", "verify", text(log), "--public-key", text(public)];
    for checkpoint in checkpoints {
        args.extend(["--checkpoint", text(checkpoint)]);
    }
    let output = ssm_vcr(&args);
    let printed = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().expect("an exit code"), printed)
}

/// Runs `audit verify` with checkpoints and asserts its exit code and what it printed.
fn expect_verify(log: &Path, checkpoints: &[&Path], public: &Path, code: i32, printed: &[&str]) {
    let (exited, output) = verify(log, checkpoints, public);
    assert_eq!(exited, code, "{output}");
    for line in printed {
        assert!(output.contains(line), "no {line:?} in:\n{output}");
    }
}

/// A copy of the sidecar checkpoint, kept away from the log as an operator would.
fn kept_checkpoint(log: &Path, away: &Path) -> PathBuf {
    let mut sidecar = log.as_os_str().to_owned();
    sidecar.push(".checkpoint");
    std::fs::copy(&sidecar, away).expect("the sidecar checkpoint exists");
    away.to_owned()
}

/// A folder holding `node-1`'s signing key and its `.pub`, and where its audit log goes.
fn node() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "node-1");
    let log = dir.path().join("audit.jsonl");
    (dir, key, public, log)
}

/// A log of `calls` deregistrations signed by `node-1`, and a copy of its last checkpoint kept
/// away from it, as an operator would keep one.
struct Kept {
    dir: tempfile::TempDir,
    key: PathBuf,
    public: PathBuf,
    log: PathBuf,
    kept: PathBuf,
}

async fn kept_after(calls: usize) -> Kept {
    let (dir, key, public, log) = node();
    signed_log(&log, &key, 1000, calls).await;
    let kept = kept_checkpoint(&log, &dir.path().join("kept"));
    Kept {
        dir,
        key,
        public,
        log,
        kept,
    }
}

#[tokio::test]
async fn a_signing_proxy_checkpoints_its_log_in_the_log_the_sidecar_and_verify_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "node-1");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let log = dir.path().join("audit.jsonl");
    signed_log(&log, &key, 3, 5).await;

    let records = records(&log);
    let events: Vec<&str> = records
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    // start + 2 calls make 3; the checkpoint (size 3) is written with them, and counts
    // towards the next; the shutdown checkpoint covers everything before it.
    assert_eq!(
        events,
        [
            "start",
            "outcome",
            "outcome",
            "checkpoint",
            "outcome",
            "outcome",
            "checkpoint",
            "outcome",
            "checkpoint"
        ]
    );
    let note = records[3]["checkpoint"].as_str().unwrap();
    let lines: Vec<&str> = note.lines().collect();
    assert!(lines[0].ends_with("/ssm-vcr/audit.jsonl"), "{note}");
    assert_eq!(lines[1], "3", "the first checkpoint covers seq 1 to 3");
    assert!(lines[3].starts_with("time 20"), "{note}");
    assert_eq!(lines[4], "heartbeat 60000ms");
    assert!(lines[6].starts_with("\u{2014} node-1 "), "{note}");
    assert_eq!(records[8]["detail"], "at shutdown");
    let last = records[8]["checkpoint"].as_str().unwrap();
    assert!(
        last.contains("\n8\n"),
        "the shutdown checkpoint covers 8: {last}"
    );

    let kept = kept_checkpoint(&log, &dir.path().join("kept.checkpoint"));
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), last);
    expect_verify(
        &log,
        &[&kept],
        &public,
        0,
        &[
            "ok: the log's 3 checkpoint(s) match its records, and their signatures verify",
            "(size 8, issued 20",
        ],
    );
}

#[tokio::test]
async fn a_configured_origin_names_the_node_where_host_names_are_not_stable() {
    let (dir, key, _, log) = node();
    let mut config = signing_config(&log, &key, 1000);
    config.audit.checkpoint_origin = Some("payments-prod/ssm-vcr/deregistrations".to_owned());
    TestProxy::start(config).await.stop().await;
    let note = std::fs::read_to_string(dir.path().join("audit.jsonl.checkpoint")).unwrap();
    assert!(
        note.starts_with("payments-prod/ssm-vcr/deregistrations\n1\n"),
        "{note}"
    );
}

#[tokio::test]
async fn removing_the_last_three_records_is_named_a_truncation() {
    let run = kept_after(6).await;

    let whole = std::fs::read_to_string(&run.log).unwrap();
    let lines: Vec<&str> = whole.lines().collect();
    let cut = lines[..lines.len() - 3].join("\n") + "\n";
    std::fs::write(&run.log, cut).unwrap();
    // The chain alone still holds: this is what it cannot see.
    let chain_only = ssm_vcr(&["audit", "verify", text(&run.log)]);
    assert!(chain_only.status.success(), "{chain_only:?}");

    expect_verify(
        &run.log,
        &[&run.kept],
        &run.public,
        3,
        &[
            "truncated: the log holds 5 records, and ",
            "kept (issued 20",
            "covers 7: the last 2 records were cut off",
        ],
    );
}

#[tokio::test]
async fn a_fresh_longer_chain_signed_with_the_same_key_is_named_a_replacement() {
    let run = kept_after(2).await;

    // Rewritten elsewhere with the same key, longer than the kept checkpoint, moved in place.
    let forged_dir = run.dir.path().join("elsewhere");
    let forged = forged_dir.join("audit.jsonl");
    signed_log(&forged, &run.key, 1000, 9).await;
    std::fs::rename(&forged, &run.log).unwrap();

    expect_verify(
        &run.log,
        &[&run.kept],
        &run.public,
        4,
        &[
            "replaced or forked: ",
            "signs root ",
            "for the first 3 records, and the log's is ",
        ],
    );
}

#[tokio::test]
async fn a_wrong_public_key_is_refused() {
    let run = kept_after(1).await;
    let (_, other) = keygen(run.dir.path(), "node-2");

    expect_verify(
        &run.log,
        &[&run.kept],
        &other,
        2,
        &["refused: the log's checkpoints are signed by node-1, not by the key node-2"],
    );
}

#[tokio::test]
async fn an_altered_checkpoint_is_named_forged() {
    let run = kept_after(3).await;
    let note = std::fs::read_to_string(&run.kept).unwrap();
    std::fs::write(&run.kept, note.replacen("\n4\n", "\n5\n", 1)).unwrap();

    expect_verify(
        &run.log,
        &[&run.kept],
        &run.public,
        6,
        &["forged: ", "its signature by node-1 does not verify"],
    );
}

#[tokio::test]
async fn a_key_others_can_read_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keygen(dir.path(), "node-1");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = signing_config(&dir.path().join("audit.jsonl"), &key, 1000);
    let refused = ssm_vcr::Proxy::builder()
        .config(config)
        .start()
        .await
        .expect_err("a readable key stops start-up");
    let message = ssm_vcr_error_chain(&refused);
    assert!(
        message.contains("can be read by other users (mode 644): run `chmod 600"),
        "{message}"
    );
}

fn ssm_vcr_error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text += &format!(": {cause}");
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn an_idle_proxy_serves_a_new_signed_checkpoint_within_two_and_a_half_seconds() {
    let (dir, key, public, log) = node();
    let mut config = signing_config(&log, &key, 1000);
    config.audit.checkpoint_interval_ms = 1000;
    let proxy = TestProxy::start(config).await;
    let none_yet = proxy.request("GET", "/__ssm-vcr/audit/checkpoint").await;
    assert!(
        none_yet
            .aws_error(404, "ResourceNotFoundException")
            .starts_with("no audit checkpoint has been issued yet")
    );

    // Waiting for a heartbeat is waiting for time itself: poll, within the bound under test.
    let started = Instant::now();
    let note = loop {
        let reply = proxy.request("GET", "/__ssm-vcr/audit/checkpoint").await;
        if reply.status == 200 {
            assert_eq!(reply.headers["content-type"], "text/plain; charset=utf-8");
            break String::from_utf8(reply.body.to_vec()).unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "no checkpoint after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        note.contains("\n1\n"),
        "the heartbeat covers the start record: {note}"
    );
    let metrics = proxy.request("GET", "/__ssm-vcr/metrics").await;
    let metrics = String::from_utf8_lossy(&metrics.body);
    assert!(metric_sample(&metrics, "ssm_vcr_audit_checkpoint_size").unwrap() >= 1.0);
    assert!(metric_sample(&metrics, "ssm_vcr_audit_checkpoint_timestamp_seconds").unwrap() > 1.7e9);
    proxy.stop().await;

    let served = dir.path().join("served");
    std::fs::write(&served, &note).unwrap();
    let (code, printed) = verify(&log, &[&served], &public);
    assert_eq!(
        code, 0,
        "the served checkpoint is signed and matches: {printed}"
    );
}

#[tokio::test]
async fn a_signing_proxy_without_checkpoints_says_how_to_turn_them_on() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = TestProxy::start(config_with_audit(&dir.path().join("audit.jsonl"))).await;
    let reply = proxy.request("GET", "/__ssm-vcr/audit/checkpoint").await;
    assert!(
        reply
            .aws_error(404, "ResourceNotFoundException")
            .contains("set [audit] signing_key to a key made by `ssm-vcr audit keygen`")
    );
    proxy.stop().await;
}

#[tokio::test]
async fn prove_prints_an_inclusion_proof_that_checks_against_the_checkpoint() {
    let run = kept_after(6).await;
    let prove = |seq: &str| {
        ssm_vcr(&[
            "audit",
            "prove",
            text(&run.log),
            "--seq",
            seq,
            "--checkpoint",
            text(&run.kept),
            "--public-key",
            text(&run.public),
        ])
    };
    let output = prove("4");
    assert!(output.status.success(), "{output:?}");
    let proof: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(proof["leaf_index"], 3);
    assert_eq!(proof["tree_size"], 7);
    assert_eq!(proof["inclusion_path"].as_array().unwrap().len(), 3);
    let record = records(&run.log)[3].to_string();
    let line = std::fs::read_to_string(&run.log).unwrap();
    assert_eq!(proof["record"], line.lines().nth(3).unwrap());
    assert!(record.contains("\"seq\":4"));

    let beyond = prove("8");
    assert_eq!(beyond.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&beyond.stderr)
            .contains("the checkpoint covers seq 1 to 7, not seq 8: use a later checkpoint")
    );
}

/// A window with three tasks registered, then deregistered, recorded through the proxy from the
/// fake SSM, whose request ids count its calls: the deregistrations are calls 5, 6 and 7.
async fn forwarded_deregistrations(dir: &Path) -> PathBuf {
    let fake = FakeSsm::start().await;
    let log = dir.join("audit.jsonl");
    let mut config = config_with_audit(&log);
    config.mode = Mode::Record;
    config.upstream = Some(fake.url.clone());
    config.cassettes.dir = dir.join("cassettes");
    let credentials = Credentials::new(PROXY_KEY_ID, PROXY_SECRET, None, None, "test");
    let proxy = TestProxy::start_with_credentials(config, credentials).await;
    let window = "mw-00000000000000001";
    proxy
        .ssm(
            "/",
            "CreateMaintenanceWindow",
            &create_window_body("nightly"),
        )
        .await;
    let register =
        json!({"WindowId": window, "TaskArn": "AWS-RunShellScript", "TaskType": "RUN_COMMAND"});
    for _ in 0..3 {
        let reply = proxy
            .ssm(
                "/",
                "RegisterTaskWithMaintenanceWindow",
                &register.to_string(),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    for task in 2..=4 {
        let task = format!("{task:08x}-0000-4000-8000-{task:012x}");
        let reply = proxy
            .ssm("/", DEREGISTER, &deregister_body(window, &task))
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    proxy.stop().await;
    log
}

/// A CloudTrail fixture with its events moved into the span of `log`: the first to the log's
/// first record, the rest to its last, as CloudTrail would have seen the calls.
fn trail_within(fixture: &str, log: &Path) -> Value {
    let records = records(log);
    let (first, last) = (&records[0]["time"], &records[records.len() - 1]["time"]);
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cloudtrail")
        .join(fixture);
    let mut trail: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (n, event) in trail["Records"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        event["eventTime"] = if n == 0 { first.clone() } else { last.clone() };
    }
    trail
}

/// Writes `trail` gzipped where CloudTrail delivers it in S3.
fn delivered_gzipped(root: &Path, trail: &Value) {
    let folder = root.join("AWSLogs/123456789012/CloudTrail/us-east-1/2026/12/08");
    std::fs::create_dir_all(&folder).unwrap();
    let file = std::fs::File::create(
        folder.join("123456789012_CloudTrail_us-east-1_20261208T0905Z_k1OqUpbT1uNRsJpZ.json.gz"),
    )
    .unwrap();
    let mut gzip = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    std::io::Write::write_all(&mut gzip, trail.to_string().as_bytes()).unwrap();
    gzip.finish().unwrap();
}

fn reconcile(log: &Path, trails: &Path) -> (i32, String) {
    let output = ssm_vcr(&[
        "audit",
        "reconcile",
        text(log),
        "--cloudtrail",
        text(trails),
    ]);
    let printed = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().expect("an exit code"), printed)
}

#[tokio::test]
async fn reconcile_finds_a_bypass_a_call_cloudtrail_lacks_and_an_identity_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let log = forwarded_deregistrations(dir.path()).await;
    let trails = dir.path().join("s3");
    let mut trail = trail_within("deregistrations.json", &log);
    trail["Records"][1]["requestParameters"]["windowTaskId"] =
        json!("00000009-0000-4000-8000-000000000009");
    delivered_gzipped(&trails, &trail);
    let plain = trails.join("AWSLogs/123456789012/CloudTrail/eu-west-1");
    std::fs::create_dir_all(&plain).unwrap();
    let bypass = trail_within("bypass.json", &log).to_string();
    std::fs::write(plain.join("bypass.json"), bypass).unwrap();

    let (code, printed) = reconcile(&log, &trails);
    assert_eq!(code, 1, "{printed}");
    let found: Vec<&str> = printed
        .lines()
        .filter(|line| !line.starts_with("operations:") && !line.starts_with("CloudTrail events:"))
        .filter(|line| !line.starts_with("error:"))
        .collect();
    assert_eq!(found.len(), 4, "{printed}");
    assert!(
        found[0].starts_with(
            "bypassed the proxy: DeregisterTaskFromMaintenanceWindow by AKIAI44QH8DHBEXAMPLE at 20"
        ) && found[0].contains(
            "(request id 6f0d1c0e-4a5b-4e27-9d1a-2b7c5e9f3a10, windowId=mw-00000000000000001 \
             windowTaskId=00000004-0000-4000-8000-000000000004)"
        ),
        "{}",
        found[0]
    );
    assert!(
        found[1].starts_with("not in CloudTrail: seq 7 DeregisterTaskFromMaintenanceWindow at 20")
            && found[1].contains("(request id 00000000-0000-4000-8000-000000000007, status 200)"),
        "{}",
        found[1]
    );
    assert!(
        found[2].starts_with(
            "identity mismatch: seq 5 (DeregisterTaskFromMaintenanceWindow, request id \
             00000000-0000-4000-8000-000000000006): the log says AKIDEXAMPLE, CloudTrail says \
             ASIAIOSFODNN7EXAMPLE"
        ),
        "{}",
        found[2]
    );
    assert_eq!(
        found[3],
        "parameters differ: seq 3 (request id 00000000-0000-4000-8000-000000000005): the log says \
         WindowTaskId=00000002-0000-4000-8000-000000000002, CloudTrail says \
         windowTaskId=00000009-0000-4000-8000-000000000009"
    );
    assert!(
        printed.contains("CloudTrail events: 3; forwarded calls in the log: 3 (0 outside"),
        "the EC2 event and the window's creation are not audited: {printed}"
    );
}

#[tokio::test]
async fn reconcile_passes_when_cloudtrail_saw_exactly_the_forwarded_calls() {
    let dir = tempfile::tempdir().unwrap();
    let log = forwarded_deregistrations(dir.path()).await;
    let mut trail = trail_within("deregistrations.json", &log);
    let events = trail["Records"].as_array_mut().unwrap();
    events[2]["userIdentity"]["accessKeyId"] = json!("AKIDEXAMPLE");
    let mut seventh = events[2].clone();
    seventh["requestID"] = json!("00000000-0000-4000-8000-000000000007");
    seventh["requestParameters"]["windowTaskId"] = json!("00000004-0000-4000-8000-000000000004");
    events.push(seventh);
    let trails = dir.path().join("s3");
    delivered_gzipped(&trails, &trail);

    let (code, printed) = reconcile(&log, &trails);
    assert_eq!(code, 0, "{printed}");
    assert!(
        printed.starts_with("ok: the audit log and CloudTrail agree\n"),
        "{printed}"
    );
    assert!(printed.contains("in both: 3"), "{printed}");
}

/// The TOML block after `<!-- vector-config -->` in docs/audit.md.
fn documented_vector_config() -> toml::Table {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/audit.md")).unwrap();
    let after = doc
        .split("<!-- vector-config -->")
        .nth(1)
        .expect("the marked block");
    let block = after
        .split_once("```toml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a toml block")
        .0;
    toml::from_str(block).expect("the documented configuration is TOML")
}

#[test]
fn the_documented_vector_configuration_ships_the_records_and_the_checkpoint_lines_written() {
    let config = documented_vector_config();
    let include = config["sources"]["audit_log"]["include"]
        .as_array()
        .unwrap();
    assert!(
        include[0]
            .as_str()
            .unwrap()
            .ends_with("/deregistrations.jsonl*"),
        "the live file and its rotated predecessors: {include:?}"
    );
    let sinks = config["sinks"].as_table().unwrap();
    let shipped: Vec<&str> = sinks
        .values()
        .flat_map(|sink| sink["inputs"].as_array().unwrap())
        .map(|input| input.as_str().unwrap())
        .collect();
    assert!(
        shipped.contains(&"audit_log") && shipped.contains(&"checkpoints"),
        "{shipped:?}"
    );
    let filter = &config["transforms"]["checkpoints"];
    assert_eq!(
        filter["inputs"].as_array().unwrap()[0].as_str(),
        Some("proxy_log")
    );
    let needle = r#""message":"audit checkpoint""#;
    let escaped = needle.replace('"', "\\\"");
    assert!(
        filter["condition"].as_str().unwrap().contains(&escaped),
        "{filter:?}"
    );

    // The filter matches what a signing proxy writes to its JSON operational log.
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keygen(dir.path(), "node-1");
    let log = dir.path().join("deregistrations.jsonl");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_ssm-vcr"));
    serve
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(["--audit-log", text(&log), "--audit-signing-key", text(&key)])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped());
    let (child, _) = start(&mut serve);
    sigterm(&child);
    let output = child.wait_with_output().unwrap();
    let written = String::from_utf8_lossy(&output.stderr);
    let line = written
        .lines()
        .find(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no checkpoint line in {written}"));
    let event: Value = serde_json::from_str(line).unwrap();
    assert_eq!(event["target"], "ssm_vcr::audit::checkpointer");
    assert!(
        event["checkpoint"]
            .as_str()
            .unwrap()
            .contains("\n\n\u{2014} node-1 ")
    );
    assert_eq!(
        event["size"], 1,
        "the shutdown checkpoint covers the start record"
    );
}

#[tokio::test]
async fn a_witness_folder_of_many_logs_checkpoints_checks_each_log_against_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let witness = dir.path().join("witness");
    std::fs::create_dir(&witness).unwrap();
    let (key_a, public_a) = keygen(dir.path(), "node-a");
    let (key_b, _) = keygen(dir.path(), "node-b");
    let (log_a, log_b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    signed_log(&log_a, &key_a, 1000, 2).await;
    kept_checkpoint(&log_a, &witness.join("a-1"));
    signed_log(&log_a, &key_a, 1000, 1).await;
    kept_checkpoint(&log_a, &witness.join("a-2"));
    signed_log(&log_b, &key_b, 1000, 3).await;
    kept_checkpoint(&log_b, &witness.join("b-1"));

    expect_verify(
        &log_a,
        &[&witness],
        &public_a,
        0,
        &[
            "a-1 (size 3) is consistent with ",
            "a-2 (size 6)",
            "ok: 1 checkpoint(s) of other logs left aside (another origin)",
        ],
    );
}

#[tokio::test]
async fn a_restart_continues_the_tree_from_the_last_checkpoint_without_older_files() {
    let (dir, key, public, log) = node();
    let rotating = |every| {
        let mut config = signing_config(&log, &key, every);
        config.audit.max_file_bytes = 1500;
        config
    };
    let run = |config: Config| async {
        let proxy = TestProxy::start(config).await;
        for _ in 0..6 {
            proxy
                .ssm("/", DEREGISTER, &deregister_body(WINDOW, TASK_1))
                .await;
        }
        proxy.stop().await;
    };
    run(rotating(3)).await;
    // The oldest file is archived elsewhere (compressed, moved): a restart never reads it.
    let first = dir.path().join("audit.jsonl.1");
    let archived = dir.path().join("archived.jsonl.1");
    std::fs::rename(&first, &archived).unwrap();
    run(rotating(3)).await;
    std::fs::rename(&archived, &first).unwrap();

    let kept = kept_checkpoint(&log, &dir.path().join("kept"));
    let (code, printed) = verify(&log, &[&kept], &public);
    assert_eq!(
        code, 0,
        "the continued tree is the tree of every record: {printed}"
    );
    assert!(
        printed.contains("kept (size ")
            && printed.contains("matches the log")
            && printed.contains("2 proxy start(s)"),
        "{printed}"
    );
}

#[tokio::test]
async fn across_a_key_rotation_verify_takes_every_public_key() {
    let run = kept_after(2).await;
    let (new_key, new_public) = keygen(run.dir.path(), "node-1-2027");
    signed_log(&run.log, &new_key, 1000, 2).await;
    let kept_new = kept_checkpoint(&run.log, &run.dir.path().join("kept-new"));

    let (code, printed) = verify(&run.log, &[&run.kept, &kept_new], &new_public);
    assert_eq!(
        code, 2,
        "the old key's checkpoints need the old key: {printed}"
    );
    let mut args = vec!["audit", "verify", text(&run.log)];
    for key in [&run.public, &new_public] {
        args.extend(["--public-key", text(key)]);
    }
    for kept in [&run.kept, &kept_new] {
        args.extend(["--checkpoint", text(kept)]);
    }
    let both = ssm_vcr(&args);
    let printed = String::from_utf8_lossy(&both.stdout);
    assert!(both.status.success(), "{printed}");
    assert!(
        printed.contains("kept (size 3) is consistent with ")
            && printed.contains("kept-new (size 7)"),
        "{printed}"
    );
}

#[tokio::test]
async fn files_that_begin_after_seq_1_verify_their_chain_and_say_what_checkpoints_need() {
    let (dir, key, public, log) = node();
    let mut config = signing_config(&log, &key, 3);
    config.audit.max_file_bytes = 1500;
    let proxy = TestProxy::start(config).await;
    for _ in 0..6 {
        proxy
            .ssm("/", DEREGISTER, &deregister_body(WINDOW, TASK_1))
            .await;
    }
    proxy.stop().await;
    let kept = kept_checkpoint(&log, &dir.path().join("kept"));
    let last_rotated = ssm_vcr::audit_log_files(&log);
    let tail = &last_rotated[last_rotated.len() - 2..];
    let (tail_old, tail_live) = (text(&tail[0]), text(&tail[1]));

    let chain_only = ssm_vcr(&[
        "audit",
        "verify",
        tail_old,
        tail_live,
        "--public-key",
        text(&public),
    ]);
    let printed = String::from_utf8_lossy(&chain_only.stdout);
    assert!(chain_only.status.success(), "{printed}");
    assert!(
        printed.contains("note: the log's ")
            && printed.contains("checkpoint(s) were not checked against its records: checkpoints cover the log from seq 1"),
        "{printed}"
    );
    let with_kept = ssm_vcr(&[
        "audit",
        "verify",
        tail_old,
        tail_live,
        "--public-key",
        text(&public),
        "--checkpoint",
        text(&kept),
    ]);
    assert_eq!(with_kept.status.code(), Some(2), "{with_kept:?}");
}

#[test]
fn a_heartbeat_the_disk_refuses_is_tried_again_an_interval_later_not_at_once() {
    use std::io::{BufRead as _, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keygen(dir.path(), "node-1");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[cassettes]\ndefault = \"none\"\n[audit]\ncheckpoint_interval_ms = 100\n",
    )
    .unwrap();
    let log = dir.path().join("audit.jsonl");
    // Files the proxy writes may not grow past 1 KiB: the start record fits, heartbeats soon not.
    let script = format!(
        "trap '' XFSZ; ulimit -f 2; exec '{}' serve --listen 127.0.0.1:0 --config '{}' \
         --audit-log '{}' --audit-signing-key '{}'",
        env!("CARGO_BIN_EXE_ssm-vcr"),
        text(&config),
        text(&log),
        text(&key)
    );
    let mut serve = Command::new("bash");
    serve
        .args(["-c", &script])
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped());
    let (mut child, _) = start(&mut serve);
    let failures = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .filter(|line| line.contains("audit heartbeat checkpoint failed"));
    let mut at = Vec::new();
    for _ in failures.take(4) {
        at.push(Instant::now());
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Each retry waits for the interval: three of them cannot come sooner than 300 ms.
    let retried = at[3] - at[0];
    assert!(
        retried >= Duration::from_millis(290),
        "three retries in {retried:?}: the writer is not waiting between them"
    );
}
