//! The run report of `ssm-vcr serve`, as a CI job meets it: printed at SIGTERM, written as
//! JSON by `--report`, and failing the run (exit 3) under `--fail-on-unused` and
//! `--fail-on-miss`.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};

use common::process::{call, sigterm};
use common::{WINDOW, shipped_cassettes, shipped_flow};
use serde_json::Value;

/// What a finished run left: its exit status, what it printed after `listening on` and its
/// log.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Serves the shipped cassette with `flags`, sends `calls` one after the other, then stops the
/// proxy with SIGTERM as a CI step's cleanup would.
fn run(flags: &[&str], calls: &[(String, String)]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssm-vcr"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-audit",
            "--cassette-dir",
        ])
        .arg(shipped_cassettes())
        .args(["--cassette", "maintenance-window-flow"])
        .args(flags)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let address = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("serve did not start: {line:?}"))
        .to_owned();
    for (operation, body) in calls {
        call(&address, operation, body).expect("an answer");
    }
    sigterm(&child);
    let status = child.wait().unwrap();
    let mut printed = String::new();
    stdout.read_to_string(&mut printed).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Run {
        status,
        stdout: printed,
        stderr,
    }
}

/// A call the shipped cassette never recorded: another window's tasks.
fn unrecorded_call() -> (String, String) {
    (
        "DescribeMaintenanceWindowTasks".to_owned(),
        serde_json::json!({ "WindowId": "mw-0123456789abcdef0" }).to_string(),
    )
}

#[test]
fn a_skipped_recording_fails_the_run_under_fail_on_unused_and_is_named() {
    let mut flow = shipped_flow();
    let skipped = flow.remove(6);
    assert_eq!(skipped.0, "DescribeMaintenanceWindowTasks");

    let run = run(&["--fail-on-unused"], &flow);

    assert_eq!(run.status.code(), Some(3), "{}", run.stderr);
    assert!(
        run.stdout.contains("cassette 'maintenance-window-flow' (")
            && run.stdout.contains(
                "): 6 call(s) replayed, 6 of 7 interaction(s) used\n    \
             unused: interaction 6 (DescribeMaintenanceWindowTasks)\n"
            ),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(
            "error: the run failed: 1 recorded interaction(s) were never used (--fail-on-unused)"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn a_miss_fails_the_run_under_fail_on_miss_and_says_what_was_closest() {
    let mut flow = shipped_flow();
    flow.push(unrecorded_call());

    let run = run(&["--fail-on-miss", "--fail-on-unused"], &flow);

    assert_eq!(run.status.code(), Some(3), "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "    missed: DescribeMaintenanceWindowTasks: never recorded; closest is interaction 3 \
             (DescribeMaintenanceWindowTasks), which differs at $.WindowId\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("error: the run failed: 1 call(s) found no recorded answer (--fail-on-miss)"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_run_that_used_everything_exits_0_and_writes_the_json_report() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");

    let run = run(
        &[
            "--fail-on-unused",
            "--fail-on-miss",
            "--report",
            file.to_str().unwrap(),
        ],
        &shipped_flow(),
    );

    assert!(run.status.success(), "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("run report (replay mode): 7 call(s), 7 replayed\n"),
        "{}",
        run.stdout
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(report["mode"], "replay");
    assert_eq!(report["calls"], serde_json::json!({ "replayed": 7 }));
    let cassette = &report["cassettes"][0];
    assert_eq!(cassette["name"], "maintenance-window-flow");
    assert_eq!(cassette["interactions"], 7);
    assert_eq!(cassette["replayed"], 7);
    assert_eq!(cassette["unused"], serde_json::json!([]));
    assert_eq!(cassette["misses"], 0);
}

#[test]
fn without_the_fail_flags_unused_and_missed_calls_are_reported_but_the_run_passes() {
    let calls = [unrecorded_call()];

    let run = run(&[], &calls);

    assert!(run.status.success(), "{}", run.stderr);
    assert!(
        run.stdout
            .contains("0 of 7 interaction(s) used, 1 missed\n"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stdout.matches("    unused: ").count(),
        7,
        "{}",
        run.stdout
    );
}

#[test]
fn a_run_no_call_reached_reports_the_default_cassette_unused() {
    let run = run(&["--fail-on-unused"], &[]);

    assert_eq!(run.status.code(), Some(3), "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("run report (replay mode): 0 call(s)\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("unused: interaction 3 (DescribeMaintenanceWindowTasks)")
    );
    // The window is named nowhere in the report: it lists interactions, never their values.
    assert!(!run.stdout.contains(WINDOW));
}
