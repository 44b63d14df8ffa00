//! The audit log as its readers rely on it: one exact record per deregistration call, durable
//! before the response, and a chain that exposes any edit.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;

use common::process::{call, spawn_serve};
use common::{
    DEREGISTER, TASK_1, TASK_2, TestProxy, WINDOW, audit_records as records, config_with_audit,
    deregister_body, metric_sample,
};
use serde_json::Value;
use ssm_vcr::{audit_log_files as chain_of, verify_audit_log as verify};

/// How far ahead of its records a preallocating audit log grows its file (docs/audit.md).
const PREALLOCATION: u64 = 256 << 10;

fn assert_verifies<P: AsRef<Path>>(files: &[P]) -> ssm_vcr::AuditSummary {
    let report = verify(files);
    assert_eq!(report.broken, None, "{}", report.summary);
    report.summary
}

#[tokio::test]
async fn every_deregistration_call_yields_exactly_one_exact_outcome_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let proxy = TestProxy::start(config_with_audit(&log)).await;

    let replayed = proxy
        .ssm("/", DEREGISTER, &deregister_body(WINDOW, TASK_1))
        .await;
    let replayed_error = proxy
        .ssm("/", DEREGISTER, &deregister_body(WINDOW, TASK_1))
        .await;
    let invalid = proxy
        .ssm("/", DEREGISTER, &deregister_body("mw-123\u{0}", TASK_1))
        .await;
    let missed = proxy
        .ssm("/", DEREGISTER, &deregister_body(WINDOW, TASK_2))
        .await;
    let malformed = proxy.ssm("/", DEREGISTER, r#"{"WindowId": 7}"#).await;
    let bad_path = proxy
        .ssm(
            "/cassette/../",
            DEREGISTER,
            &deregister_body(WINDOW, TASK_1),
        )
        .await;
    // Not deregistrations: never audited.
    proxy
        .ssm(
            "/",
            "DescribeMaintenanceWindowTasks",
            &format!(r#"{{"WindowId":"{WINDOW}"}}"#),
        )
        .await;
    proxy.ssm("/", "ListDocuments", "{}").await;
    proxy.stop().await;

    let records = records(&log);
    assert_eq!(records.len(), 7, "{records:#?}");
    let start = &records[0];
    assert_eq!(start["event"], "start");
    assert_eq!(start["seq"], 1);
    assert_eq!(start["prev"], "0".repeat(64));
    assert_eq!(start["mode"], "replay");

    let request_id = |reply: &common::Reply| {
        reply.headers["x-amzn-requestid"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let expected = [
        (&replayed, "cassette", 200, None, Some(4), WINDOW),
        (
            &replayed_error,
            "cassette",
            400,
            Some("DoesNotExistException"),
            Some(5),
            WINDOW,
        ),
        (
            &invalid,
            "proxy",
            400,
            Some("ValidationException"),
            None,
            "mw-123\\u{0}",
        ),
        (
            &missed,
            "proxy",
            400,
            Some("ReplayMissException"),
            None,
            WINDOW,
        ),
        (
            &malformed,
            "proxy",
            400,
            Some("SerializationException"),
            None,
            "7",
        ),
        (
            &bad_path,
            "proxy",
            400,
            Some("InvalidCassetteNameException"),
            None,
            "",
        ),
    ];
    for (i, (reply, source, status, error_type, interaction, window)) in
        expected.into_iter().enumerate()
    {
        let record = &records[i + 1];
        let case = format!("record {}: {record}", i + 2);
        assert_eq!(record["seq"], i as u64 + 2, "{case}");
        assert_eq!(record["event"], "outcome", "{case}");
        assert_eq!(record["mode"], "replay", "{case}");
        assert_eq!(record["source"], source, "{case}");
        assert_eq!(record["status"], status, "{case}");
        assert_eq!(reply.status.as_u16(), status, "{case}");
        assert_eq!(record["error_type"].as_str(), error_type, "{case}");
        assert_eq!(
            record["request_id"].as_str().unwrap(),
            request_id(reply),
            "{case}"
        );
        assert_eq!(record["access_key_id"], "AKIDEXAMPLE", "{case}");
        assert_eq!(record["region"], "us-east-1", "{case}");
        assert!(
            record["client"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{case}"
        );
        assert!(record["latency_us"].is_u64(), "{case}");
        assert!(record["time"].as_str().unwrap().ends_with('Z'), "{case}");
        assert_eq!(
            record["interaction"].as_u64(),
            interaction.map(|i: u64| i),
            "{case}"
        );
        assert_eq!(record["operation"], DEREGISTER, "{case}");
        assert_eq!(
            record["what"]["WindowId"].as_str().unwrap_or(""),
            window,
            "{case}"
        );
        assert_eq!(record["prev"].as_str().unwrap().len(), 64, "{case}");
        assert_eq!(record["hash"].as_str().unwrap().len(), 64, "{case}");
    }
    assert_eq!(records[1]["what"]["WindowTaskId"], TASK_1);
    assert_eq!(records[1]["cassette"], "maintenance-window-flow");
    assert!(
        records[6].get("cassette").is_none(),
        "an invalid cassette name is not recorded as one"
    );

    let summary = assert_verifies(&[log]);
    assert_eq!((summary.records, summary.calls), (7, 6));
    assert_eq!(
        (
            summary.succeeded,
            summary.rejected,
            summary.aws_errors,
            summary.failed
        ),
        (1, 4, 1, 0)
    );
}

#[tokio::test]
async fn a_restart_continues_the_chain_with_a_start_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    for _ in 0..2 {
        let proxy = TestProxy::start(config_with_audit(&log)).await;
        proxy
            .ssm("/", DEREGISTER, &deregister_body(WINDOW, TASK_1))
            .await;
        proxy.stop().await;
    }
    let records = records(&log);
    let events: Vec<&str> = records
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["start", "outcome", "start", "outcome"]);
    assert!(
        records[2]["detail"]
            .as_str()
            .unwrap()
            .ends_with("restarted; the chain continues from seq 2")
    );
    assert_eq!(records[2]["prev"], records[1]["hash"]);
    assert_eq!(assert_verifies(&[log]).starts, 2);
}

/// A log of `n` outcome records written through the proxy.
async fn written_log(dir: &Path, n: usize) -> PathBuf {
    let log = dir.join("audit.jsonl");
    let proxy = TestProxy::start(config_with_audit(&log)).await;
    for _ in 0..n {
        proxy.ssm("/", DEREGISTER, "{}").await;
    }
    proxy.stop().await;
    log
}

#[tokio::test]
async fn verify_names_the_record_when_any_byte_is_changed() {
    let dir = tempfile::tempdir().unwrap();
    let log = written_log(dir.path(), 3).await;
    let original = std::fs::read(&log).unwrap();
    assert_verifies(&[&log]);
    let line_of = |offset: usize| original[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
    for offset in 0..original.len() {
        if original[offset] == b'\n' {
            continue;
        }
        let mut tampered = original.clone();
        tampered[offset] = if tampered[offset] == b'1' { b'2' } else { b'1' };
        std::fs::write(&log, &tampered).unwrap();
        let broken = verify(&[&log])
            .broken
            .unwrap_or_else(|| panic!("byte {offset} changed undetected"));
        assert_eq!(broken.line, line_of(offset), "byte {offset}: {broken}");
    }
}

#[tokio::test]
async fn verify_names_deleted_swapped_and_truncated_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = written_log(dir.path(), 4).await;
    let original = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let rewrite = |lines: &[&str]| {
        std::fs::write(
            &log,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap()
    };
    let broken = |log: &PathBuf| verify(&[&log]).broken.expect("the check fails").to_string();
    let name = log.display().to_string();

    rewrite(&[lines[0], lines[1], lines[3], lines[4]]);
    assert_eq!(
        broken(&log),
        format!(
            "{name} line 3: seq 4: expected seq 3 after seq 2: records were removed, inserted or reordered"
        )
    );

    rewrite(&[lines[0], lines[2], lines[1], lines[3], lines[4]]);
    assert_eq!(
        broken(&log),
        format!(
            "{name} line 2: seq 3: expected seq 2 after seq 1: records were removed, inserted or reordered"
        )
    );

    let cut = original.len() - lines[4].len() / 2;
    std::fs::write(&log, &original[..cut]).unwrap();
    let message = broken(&log);
    assert!(
        message.starts_with(&format!("{name} line 5: incomplete record (")),
        "{message}"
    );
    assert!(
        message.ends_with("the 4 records before it verify"),
        "{message}"
    );

    // The binary says the same and exits 1.
    let output = Command::new(env!("CARGO_BIN_EXE_ssm-vcr"))
        .args(["audit", "verify", &name])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: the audit chain is broken at {name} line 5: incomplete record"
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_torn_last_record_is_repaired_and_recorded_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = written_log(dir.path(), 2).await;
    // What a crash mid-write leaves: part of a record, then the zeros preallocated after it
    // (more of them than the one block read back at start-up).
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    file.write_all(br#"{"seq":4,"time":"2026-11-25T"#).unwrap();
    file.write_all(&vec![0; 3 << 20]).unwrap();
    drop(file);
    assert!(
        verify(&[&log])
            .broken
            .unwrap()
            .reason
            .starts_with("incomplete record (28 bytes")
    );

    let proxy = TestProxy::start(config_with_audit(&log)).await;
    proxy.stop().await;
    let records = records(&log);
    let start = records.last().unwrap();
    assert_eq!(start["seq"], 4);
    assert!(
        start["detail"]
            .as_str()
            .unwrap()
            .contains("dropped 28 bytes of a record that was never acknowledged"),
        "{start}"
    );
    assert_verifies(&[log]);
}

#[tokio::test]
async fn rotation_keeps_one_chain_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let mut config = config_with_audit(&log);
    config.audit.max_file_bytes = 2000;
    let proxy = TestProxy::start(config).await;
    for _ in 0..20 {
        proxy.ssm("/", DEREGISTER, "{}").await;
    }
    proxy.stop().await;

    let files = chain_of(&log);
    assert!(files.len() >= 4, "{files:?}");
    assert_eq!(files[0], dir.path().join("audit.jsonl.1"));
    let summary = assert_verifies(&files);
    assert_eq!(summary.calls, 20);
    assert!(summary.from_genesis);
    let first_of_second = &records(&files[1])[0];
    assert_eq!(first_of_second["event"], "rotate");
    assert_eq!(
        first_of_second["detail"],
        format!("continues the chain of {}", files[0].display())
    );

    // A rotated file taken out of the middle breaks the chain where the next one begins.
    let without_second: Vec<PathBuf> = files
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, f)| f.clone())
        .collect();
    let broken = verify(&without_second).broken.unwrap();
    assert_eq!(
        (broken.file.clone(), broken.line),
        (files[2].clone(), 1),
        "{broken}"
    );
}

fn audit_show(log: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_ssm-vcr"))
        .args(["audit", "show", log.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// A proxy on `config` that has answered one deregistration of `TASK_1`.
async fn after_one_deregistration(config: ssm_vcr::Config) -> TestProxy {
    let proxy = TestProxy::start(config).await;
    proxy
        .ssm("/", DEREGISTER, &deregister_body(WINDOW, TASK_1))
        .await;
    proxy
}

#[tokio::test]
async fn a_preallocated_live_log_is_cut_to_plain_json_lines_when_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let mut config = config_with_audit(&log);
    config.audit.preallocate = true;
    let proxy = after_one_deregistration(config).await;

    // While the proxy runs, the file is grown ahead of its records with zeros...
    let live = std::fs::read(&log).unwrap();
    assert_eq!(live.len() as u64, PREALLOCATION);
    let records_end = live.iter().rposition(|&b| b == b'\n').unwrap() + 1;
    assert!(live[records_end..].iter().all(|&b| b == 0));
    // ...that the readers leave out: the live log verifies and shows its deregistration.
    assert_eq!(assert_verifies(&[&log]).calls, 1);
    assert!(audit_show(&log, &[]).contains(TASK_1));

    proxy.stop().await;
    assert_eq!(std::fs::read(&log).unwrap(), live[..records_end]);
    assert_eq!(records(&log).len(), 2);
}

#[tokio::test]
async fn by_default_the_live_log_is_plain_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let proxy = after_one_deregistration(config_with_audit(&log)).await;
    let live = std::fs::read(&log).unwrap();
    assert!(live.ends_with(b"}\n") && !live.contains(&0), "{live:?}");
    assert_eq!(records(&log).len(), 2);
    proxy.stop().await;
}

#[tokio::test]
async fn audit_show_filters_deregistrations_by_window() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let proxy = after_one_deregistration(config_with_audit(&log)).await;
    proxy
        .ssm(
            "/",
            DEREGISTER,
            &deregister_body("mw-0123456789abcdef0", TASK_2),
        )
        .await;
    proxy.stop().await;
    let text = audit_show(&log, &["--window-id", WINDOW]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("TIME "));
    for field in ["AKIDEXAMPLE", WINDOW, TASK_1, " 200 ", "cassette"] {
        assert!(
            lines[1].contains(field),
            "{field} missing from {}",
            lines[1]
        );
    }
}

/// `ssm-vcr audit follow` on `log`, and its output, line by line, as it comes.
struct Follower {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Follower {
    fn start(log: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ssm-vcr"))
            .args(["audit", "follow", log.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(stdout).map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The next line printed, waiting for it as long as a loaded CI machine might need.
    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("audit follow printed the next line")
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn audit_follow_prints_each_deregistration_as_it_is_written_across_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let mut config = config_with_audit(&log);
    config.audit.max_file_bytes = 2000; // a new file every few records
    config.audit.preallocate = true; // the harder case: a file whose size says nothing
    let proxy = after_one_deregistration(config).await;
    let follower = Follower::start(&log);
    assert!(follower.next_line().starts_with("TIME "));
    assert!(follower.next_line().contains(TASK_1));

    // Each call's row, in order, while the live file is preallocated and rotated under it.
    for n in 0..12 {
        let task = format!("3f2a1b4c-0000-4000-8000-{n:012x}");
        proxy
            .ssm("/", DEREGISTER, &deregister_body(WINDOW, &task))
            .await;
        let row = follower.next_line();
        assert!(row.contains(&task) && row.contains(WINDOW), "{task}: {row}");
    }
    let files = chain_of(&log);
    assert!(files.len() >= 3, "the log rotated: {files:?}");
    proxy.stop().await;
    assert_verifies(&files);
}

fn spawn_proxy(log: &Path, shell_prefix: &str) -> (std::process::Child, String) {
    spawn_serve(shell_prefix, &["--audit-log", log.to_str().unwrap()], &[])
}

#[test]
fn sigkill_under_16_clients_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let (mut child, address) = spawn_proxy(&log, "");
    let (acknowledged, received) = mpsc::channel::<String>();
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (address, acknowledged) = (address.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                // Invalid calls: each answer carries a fresh request id to look for in the log.
                while let Some((400, request_id, _)) = call(&address, DEREGISTER, "{}") {
                    if acknowledged.send(request_id).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(acknowledged);
    let mut seen: Vec<String> = received.iter().take(400).collect();
    child.kill().unwrap(); // SIGKILL, mid-traffic
    child.wait().unwrap();
    for client in clients {
        client.join().unwrap();
    }
    seen.extend(received.try_iter());

    let report = verify(&[&log]);
    if let Some(broken) = &report.broken {
        // Only a torn last line is acceptable after a crash, and it hides nothing before it.
        assert!(broken.reason.starts_with("incomplete record"), "{broken}");
    }
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    let on_disk: std::collections::HashSet<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|r| r["request_id"].as_str().map(str::to_owned))
        .collect();
    let missing: Vec<&String> = seen.iter().filter(|id| !on_disk.contains(*id)).collect();
    assert!(seen.len() >= 400);
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged calls have no record: {missing:?}",
        missing.len(),
        seen.len()
    );

    // What an operator reaches for first reads the crashed log as it is.
    let path = log.to_str().unwrap();
    let grep = std::process::Command::new("grep")
        .args(["-c", "\"event\":\"outcome\"", path])
        .output()
        .unwrap();
    let counted = String::from_utf8_lossy(&grep.stdout).trim().to_owned();
    assert_eq!(
        counted,
        (on_disk.len()).to_string(),
        "grep said {counted:?}"
    );
    let jq = std::process::Command::new("jq")
        .args(["-c", ".event", path])
        .output()
        .expect("jq is installed (it is part of the project machine's image)");
    assert!(
        jq.status.success(),
        "{}",
        String::from_utf8_lossy(&jq.stderr)
    );
    assert_eq!(
        jq.stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        text.lines().count()
    );
}

#[test]
fn a_full_disk_refuses_deregistrations_and_keeps_the_chain_whole() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    // Files this process writes may not grow past 4 KiB: audit writes then fail with EFBIG.
    let (mut child, address) = spawn_proxy(&log, "trap '' XFSZ; ulimit -f 4;");
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(
            call(&address, DEREGISTER, "{}")
                .expect("the proxy stays up")
                .0,
        );
    }
    let refused = statuses.iter().filter(|&&s| s == 500).count();
    assert!(statuses[0] == 400 && refused > 0, "{statuses:?}");
    assert!(
        statuses.iter().all(|&s| s == 400 || s == 500),
        "{statuses:?}"
    );
    // Other operations are not audited, so they are still answered.
    let describe = format!(r#"{{"WindowId":"{WINDOW}"}}"#);
    assert_eq!(
        call(&address, "DescribeMaintenanceWindowTasks", &describe)
            .unwrap()
            .0,
        200
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let summary = assert_verifies(&[&log]);
    assert_eq!(summary.calls as usize, statuses.len() - refused);
    assert!(std::fs::metadata(&log).unwrap().len() <= 4096);
}

#[tokio::test]
async fn a_log_of_the_first_record_format_verifies_shows_and_grows() {
    // Written by a8fed88, before records named their operation and carried `what`.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    std::fs::copy("tests/fixtures/audit/format-1.jsonl", &log).unwrap();
    assert_eq!(assert_verifies(&[&log]).calls, 2);
    let text = audit_show(&log, &["--window-id", "bad"]);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{text}");
    for field in [DEREGISTER, "WindowId=bad", " 400 ", "ValidationException"] {
        assert!(rows[0].contains(field), "{field} missing from {}", rows[0]);
    }

    let proxy = after_one_deregistration(config_with_audit(&log)).await;
    proxy.stop().await;
    assert_verifies(&[&log]);
    let records = records(&log);
    let newest = records.last().unwrap();
    assert_eq!(newest["seq"], 5, "the chain goes on: {records:#?}");
    assert_eq!(newest["operation"], DEREGISTER);
    assert_eq!(newest["what"]["WindowTaskId"], TASK_1);
}

#[tokio::test]
async fn the_audited_operations_are_configured_and_identified_from_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let mut config = config_with_audit(&log);
    config.audit.operations = vec!["PutParameter".to_owned()];
    let proxy = after_one_deregistration(config).await;
    let put = r#"{"Name":"/app/db-password","Value":"hunter2-secret","Type":"SecureString"}"#;
    proxy.ssm("/", "PutParameter", put).await;
    proxy.stop().await;

    let records = records(&log);
    assert_eq!(
        records.len(),
        2,
        "start and the PutParameter outcome only: {records:#?}"
    );
    let put = &records[1];
    assert_eq!(put["operation"], "PutParameter");
    // `Name` is its one required plain string; `Value` is sensitive and never written.
    assert_eq!(put["what"], serde_json::json!({"Name": "/app/db-password"}));
    let bytes = std::fs::read_to_string(&log).unwrap();
    assert!(!bytes.contains("hunter2"), "{bytes}");
    let text = audit_show(&log, &["--operation", "PutParameter"]);
    assert!(text.contains("Name=/app/db-password"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deregistrations_share_fsyncs_and_the_metrics_count_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let proxy = std::sync::Arc::new(TestProxy::start(config_with_audit(&log)).await);
    // 32 clients, each calling again as soon as it is answered: the callers one fsync answers
    // come back together, and join the next batch.
    let (clients, rounds) = (32, 4);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let proxy = std::sync::Arc::clone(&proxy);
        calls.spawn(async move {
            for _ in 0..rounds {
                let body = deregister_body(WINDOW, TASK_1);
                proxy.ssm("/", DEREGISTER, &body).await;
            }
        });
    }
    calls.join_all().await;

    let metrics = proxy.request("GET", "/__ssm-vcr/metrics").await;
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    let sample = |series: &str| {
        metric_sample(&text, series).unwrap_or_else(|| panic!("no {series} in {text}")) as u64
    };
    let written = sample("ssm_vcr_audit_write_duration_seconds_count");
    let syncs = sample("ssm_vcr_audit_syncs_total");
    assert_eq!(written, clients * rounds, "one record per call");
    assert!(
        syncs >= 1 && syncs * 2 <= written,
        "{written} records took {syncs} fsyncs: concurrent calls must share them"
    );
    std::sync::Arc::into_inner(proxy).unwrap().stop().await;
    let outcomes = records(&log)
        .iter()
        .filter(|record| record["event"] == "outcome")
        .count();
    assert_eq!(outcomes as u64, clients * rounds);
    assert_verifies(&[&log]);
}
