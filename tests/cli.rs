//! The `ssm-vcr` binary as scripts use it: exact output, exit codes and signals.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Output};

use common::process::{finish, sigterm, start};
use common::response_bytes;

fn ssm_vcr() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ssm-vcr"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG");
    command
}

/// `serve` on port 0 with the shipped config, auditing to a file of the test's own.
fn serve(audit: &tempfile::TempDir, extra: &[&str]) -> Command {
    let mut command = ssm_vcr();
    let log = audit.path().join("audit.jsonl");
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--audit-log",
            log.to_str().unwrap(),
        ])
        .args(extra);
    command
}

fn run(args: &[&str]) -> Output {
    ssm_vcr().args(args).output().expect("the binary runs")
}

/// `ssm-vcr config check --config tests/fixtures/<path>`.
fn config_check(path: &str) -> Output {
    run(&[
        "config",
        "check",
        "--config",
        fixture(path).to_str().unwrap(),
    ])
}

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn serve_prints_its_address_answers_and_exits_0_on_sigterm() {
    let audit = tempfile::tempdir().unwrap();
    // `start` reads the first line and insists it is exactly `listening on http://ADDR:PORT`.
    let (mut child, address) = start(serve(&audit, &[]).stderr(std::process::Stdio::piped()));
    assert!(
        address.starts_with("127.0.0.1:") && !address.ends_with(":0"),
        "{address}"
    );

    let mut stream = TcpStream::connect(&address).unwrap();
    let body = r#"{"WindowId":"mw-0c50858d01e8a7b6f","WindowTaskId":"50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c"}"#;
    write!(
        stream,
        "POST / HTTP/1.1\r\nhost: {address}\r\nx-amz-target: AmazonSSM.DeregisterTaskFromMaintenanceWindow\r\n\
         content-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with(body), "{response}");

    sigterm(&child);
    let (exit, log) = finish(&mut child);
    assert!(exit.success(), "serve exited with {exit:?}");
    assert!(
        log.contains("ssm_target=\"DeregisterTaskFromMaintenanceWindow\""),
        "{log}"
    );
    assert!(log.contains("outcome=\"replayed\""), "{log}");
}

/// Sends `request`, raw, on a connection of its own; everything the proxy answered before
/// closing it.
fn exchange(address: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// Stops a `serve --log-format json` child with SIGINT, as Ctrl-C does; its first access line.
fn interrupt_and_read_access_line(child: &mut std::process::Child) -> serde_json::Value {
    Command::new("bash")
        .args(["-c", &format!("kill -INT {}", child.id())])
        .status()
        .unwrap();
    let (exit, log) = finish(child);
    assert!(exit.success());
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["target"] == "ssm_vcr::access")
        .unwrap_or_else(|| panic!("no access line in {log}"))
}

#[test]
fn json_logs_carry_one_object_per_request() {
    let audit = tempfile::tempdir().unwrap();
    let (mut child, address) =
        start(serve(&audit, &["--log-format", "json"]).stderr(std::process::Stdio::piped()));
    exchange(
        &address,
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    );
    let access = interrupt_and_read_access_line(&mut child);
    assert_eq!(access["outcome"], "rejected");
    assert_eq!(access["status"], 400);
    assert_eq!(access["ssm_target"], "-");
}

#[test]
fn config_check_accepts_the_shipped_config() {
    let output = run(&["config", "check"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "ok: mode replay, listen 127.0.0.1:4590, cassettes in cassettes (default 'maintenance-window-flow')\n"
    );
}

#[test]
fn config_check_names_unknown_keys_and_bad_values() {
    let output = config_check("configs/unknown-key.toml");
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("unknown field `max_body`"), "{stderr}");
    assert!(stderr.contains("line 4"), "{stderr}");

    let output = config_check("configs/bad-value.toml");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "error: invalid configuration: limits.idle_timeout_ms: must be at least 1\n"
    );
}

#[test]
fn a_refused_connect_leaves_an_access_line_with_its_reason_and_is_counted() {
    let audit = tempfile::tempdir().unwrap();
    let (mut child, address) =
        start(serve(&audit, &["--log-format", "json"]).stderr(std::process::Stdio::piped()));
    let answer = exchange(
        &address,
        "CONNECT sts.us-east-1.amazonaws.com:443 HTTP/1.1\r\nhost: sts.us-east-1.amazonaws.com:443\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let text = exchange(
        &address,
        "GET /__ssm-vcr/metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert!(
        text.contains("\nssm_vcr_forward_proxy_refusals_total 1\n"),
        "{text}"
    );
    let access = interrupt_and_read_access_line(&mut child);
    assert_eq!(
        (&access["method"], &access["outcome"], &access["status"]),
        (&"CONNECT".into(), &"refused".into(), &403.into())
    );
    assert_eq!(
        access["reason"],
        "ssm-vcr refused CONNECT to sts.us-east-1.amazonaws.com:443: in replay mode nothing leaves \
         this machine. It intercepts ssm.<region>.amazonaws.com (and the FIPS and dual-stack SSM \
         hosts) on port 443; list other hosts in NO_PROXY"
    );
}

#[test]
fn each_config_error_is_printed_once_by_serve_and_by_config_check() {
    let folder = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[limits]\nmax_body = 3\n",
            "TOML parse error at line 2, column 1\n  |\n2 | max_body = 3\n  | ^^^^^^^^\n\
             unknown field `max_body`, expected one of `max_body_bytes`, `header_read_timeout_ms`, \
             `idle_timeout_ms`, `max_connections`, `shutdown_grace_ms`",
        ),
        (
            "mode = \"bogus\"\n",
            "TOML parse error at line 1, column 8\n  |\n1 | mode = \"bogus\"\n  |        ^^^^^^^\n\
             unknown variant `bogus`, expected one of `replay`, `record`, `auto`, `passthrough`",
        ),
        (
            "mode = \"replay\n",
            "TOML parse error at line 1, column 15\n  |\n1 | mode = \"replay\n  |               ^\n\
             invalid basic string",
        ),
        (
            "listen = 5\n",
            "TOML parse error at line 1, column 10\n  |\n1 | listen = 5\n  |          ^\n\
             invalid type: integer `5`, expected socket address",
        ),
    ];
    for (index, (toml, error)) in cases.iter().enumerate() {
        let file = folder.path().join(format!("config-{index}.toml"));
        std::fs::write(&file, toml).unwrap();
        let path = file.to_str().unwrap();
        for command in [&["config", "check"][..], &["serve"][..]] {
            let output = run(&[command, &["--config", path]].concat());
            assert_eq!(output.status.code(), Some(2));
            assert_eq!(
                text(&output.stderr),
                format!("error: invalid configuration: {path}: {error}\n"),
                "{command:?}"
            );
        }
    }
}

#[test]
fn cassette_check_passes_the_shipped_cassette_and_checks_a_configured_folder() {
    // The file by name: cassettes a user recorded beside it are not this test's business.
    let shipped = "cassettes/maintenance-window-flow.json";
    let output = run(&["cassette", "check", shipped]);
    assert!(output.status.success(), "{}", text(&output.stdout));
    assert_eq!(
        text(&output.stdout),
        format!("{MODEL_LINE}\nok: {shipped} (7 interactions)\n")
    );

    // Without files, every cassette of the configured folder: here one of the test's own.
    let folder = tempfile::tempdir().unwrap();
    std::fs::create_dir(folder.path().join("tapes")).unwrap();
    std::fs::copy(shipped, folder.path().join("tapes/flow.json")).unwrap();
    let config = folder.path().join("config.toml");
    std::fs::write(
        &config,
        "[cassettes]\ndir = \"tapes\"\ndefault = \"flow\"\n",
    )
    .unwrap();
    let output = run(&["cassette", "check", "--config", config.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output.stdout));
    let listed = folder.path().join("tapes/flow.json");
    assert_eq!(
        text(&output.stdout),
        format!("{MODEL_LINE}\nok: {} (7 interactions)\n", listed.display())
    );
}

/// The first line of `cassette check`: the model every file is judged by.
const MODEL_LINE: &str = "model: botocore 1.44.8 \
    (sha256 5ed04be51fc332f7fb0329aaf4fd692e2c5b6b0cbcb71da640b7e8594a4ef83c)";

#[test]
fn model_prints_the_vendored_models_provenance() {
    let output = run(&["model"]);
    assert!(output.status.success());
    assert_eq!(
        text(&output.stdout),
        "SSM API model from botocore 1.44.8 \
         (sha256 5ed04be51fc332f7fb0329aaf4fd692e2c5b6b0cbcb71da640b7e8594a4ef83c): \
         154 operations, 1360 shapes\n"
    );
}

#[test]
fn cassette_check_flags_plain_secrets_and_cassette_redact_rewrites_them() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("parameters.json");
    std::fs::copy(fixture("cassettes/plaintext-secrets.json"), &file).unwrap();
    let path = file.to_str().unwrap();

    let output = run(&["cassette", "check", path]);
    assert_eq!(output.status.code(), Some(1));
    let advice = format!("run `ssm-vcr cassette redact {path}`");
    assert_eq!(
        text(&output.stdout),
        format!(
            "{MODEL_LINE}\n\
             error: {path}: interaction 0 (PutParameter): 1 sensitive value(s) stored in plain text in the request; {advice}\n\
             error: {path}: interaction 1 (GetParameter): 1 sensitive value(s) stored in plain text in the response; {advice}\n\
             error: {path}: interaction 2 (GetParametersByPath): 1 sensitive value(s) stored in plain text in the response; {advice}\n"
        )
    );

    let output = run(&["cassette", "redact", path]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        format!("redacted: {path} (3 sensitive value(s) replaced by placeholders)\n")
    );
    let redacted = std::fs::read_to_string(&file).unwrap();
    assert!(
        !redacted.contains("correct-horse-battery-staple"),
        "{redacted}"
    );
    // One value, one placeholder, wherever it was.
    assert_eq!(redacted.matches("REDACTED-1").count(), 3, "{redacted}");
    assert!(redacted.contains(r#""botocore": "1.44.8""#), "{redacted}");

    let output = run(&["cassette", "check", path]);
    assert!(output.status.success(), "{}", text(&output.stdout));
    let output = run(&["cassette", "redact", path]);
    assert_eq!(
        text(&output.stdout),
        format!("ok: {path} holds no sensitive value in plain text\n")
    );
}

#[test]
fn cassette_fmt_lays_older_cassettes_out_readable_and_keeps_every_answers_bytes() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("flow.json");
    // The shipped flow as builds before readable bodies wrote it.
    std::fs::copy(fixture("cassettes/text-bodies.json"), &file).unwrap();
    let path = file.to_str().unwrap();
    let before = std::fs::read_to_string(&file).unwrap();

    let output = run(&["cassette", "fmt", "--check", path]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stdout),
        format!("would rewrite: {path} (7 response bodies made readable JSON)\n")
    );
    assert_eq!(
        text(&output.stderr),
        "error: 1 of 1 cassette file(s) are not laid out as this build writes them; \
         run `ssm-vcr cassette fmt` on them\n"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        before,
        "--check writes nothing"
    );

    let output = run(&["cassette", "fmt", path]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        format!("rewrote: {path} (7 response bodies made readable JSON)\n")
    );
    let after = std::fs::read_to_string(&file).unwrap();
    assert!(after.contains("\"json\": {\n"), "{after}");
    assert!(!after.contains("\"utf8\""), "{after}");
    assert_eq!(response_bytes(&after), response_bytes(&before));

    for args in [
        &["cassette", "fmt", path][..],
        &["cassette", "fmt", "--check", path],
    ] {
        let output = run(args);
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert_eq!(
            text(&output.stdout),
            format!("ok: {path} is laid out as this build writes it\n")
        );
    }
    let output = run(&["cassette", "check", path]);
    assert!(output.status.success(), "{}", text(&output.stdout));

    // moto's answers have spaces between tokens: laying them out would change their bytes, so
    // they stay text; only its two `{}` become JSON.
    std::fs::copy(
        fixture("cassettes/aws-cli-maintenance-window-flow.json"),
        &file,
    )
    .unwrap();
    let before = std::fs::read_to_string(&file).unwrap();
    let output = run(&["cassette", "fmt", path]);
    assert_eq!(
        text(&output.stdout),
        format!("rewrote: {path} (2 response bodies made readable JSON)\n")
    );
    let after = std::fs::read_to_string(&file).unwrap();
    assert_eq!(after.matches("\"utf8\"").count(), 6, "{after}");
    assert_eq!(response_bytes(&after), response_bytes(&before));
}

#[test]
fn cassette_diff_exits_0_for_a_file_against_itself_1_for_differences_and_2_for_what_it_cannot_read()
{
    let shipped = "cassettes/maintenance-window-flow.json";
    let output = run(&["cassette", "diff", shipped, shipped]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        format!(
            "--- {shipped}\n+++ {shipped}\nno differences: 0 breaking, 0 additive, 0 value; 0 added, 0 removed\n"
        )
    );

    // moto's recording of the flow against the shipped one: other ids and names (hidden values),
    // members moto leaves out, a 500 where AWS answered an error.
    let moto = fixture("cassettes/aws-cli-maintenance-window-flow.json");
    let output = run(&["cassette", "diff", moto.to_str().unwrap(), shipped]);
    assert_eq!(output.status.code(), Some(1));
    let report = text(&output.stdout);
    for line in [
        "- #7 DeleteMaintenanceWindow (us-east-1): removed\n",
        "    additive  response.Tasks[0].Type: member added: \"RUN_COMMAND\"\n",
        "    breaking  status: status changed: 500 → 400\n",
        "    breaking  error: error changed: none → DoesNotExistException\n",
        "summary: 2 breaking, 16 additive, 0 value; 1 added, 2 removed; 23 value change(s) hidden (--values shows them)\n",
    ] {
        assert!(report.contains(line), "{line} in {report}");
    }
    assert!(
        !report.contains("recorded_at") && !report.contains("requestid"),
        "{report}"
    );
    assert_eq!(text(&output.stderr), "error: 1 of 1 cassette(s) differ\n");

    let output = run(&["cassette", "diff", "no-such.json", shipped]);
    assert_eq!(output.status.code(), Some(2));
    let output = run(&["cassette", "diff", shipped]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "error: cassette diff takes OLD NEW, or --git REV [FILE...]; 1 file(s) given\n"
    );
}

#[test]
fn cassette_diff_git_compares_each_file_with_its_version_at_a_revision() {
    let repository = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let output = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(repository.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            text(&output.stderr)
        );
    };
    git(&["init", "--quiet"]);
    let folder = repository.path().join("cassettes");
    std::fs::create_dir(&folder).unwrap();
    let flow = folder.join("flow.json");
    std::fs::copy(fixture("cassettes/text-bodies.json"), &flow).unwrap();
    git(&["add", "."]);
    git(&["commit", "--quiet", "-m", "recorded"]);

    // Re-recorded: AWS stopped sending a task's TaskArn.
    let recorded = std::fs::read_to_string(&flow).unwrap();
    let rerecorded = recorded.replacen(r#"\"TaskArn\":\"AWS-RunShellScript\","#, "", 1);
    assert_ne!(recorded, rerecorded);
    std::fs::write(&flow, rerecorded).unwrap();
    std::fs::copy(
        fixture("cassettes/invalid-deregistration.json"),
        folder.join("new.json"),
    )
    .unwrap();

    let output = ssm_vcr()
        .current_dir(repository.path())
        .args(["cassette", "diff", "--git", "HEAD", "--format", "markdown"])
        .args(["cassettes/flow.json", "cassettes/new.json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let report = text(&output.stdout);
    assert!(
        report.starts_with("### `cassettes/flow.json` against `HEAD:cassettes/flow.json`\n"),
        "{report}"
    );
    assert!(
        report.contains(
            "| breaking | #3 DescribeMaintenanceWindowTasks (us-east-1) | `response.Tasks[1].TaskArn` | member removed (was \"AWS-RunShellScript\") |\n"
        ),
        "{report}"
    );
    // A cassette the revision lacks: every interaction is new.
    assert!(
        report.contains("### `cassettes/new.json` against `HEAD:cassettes/new.json`"),
        "{report}"
    );
    assert!(
        report.contains("| added | #0 DeregisterTaskFromMaintenanceWindow (us-east-1) | | |"),
        "{report}"
    );
    assert_eq!(text(&output.stderr), "error: 2 of 2 cassette(s) differ\n");

    let output = ssm_vcr()
        .current_dir(repository.path())
        .args([
            "cassette",
            "diff",
            "--git",
            "no-such-revision",
            "cassettes/flow.json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("git cannot show cassettes/flow.json at no-such-revision")
    );
}

#[test]
fn cassette_check_reads_a_repeat_count_and_refuses_one_of_zero() {
    let (_folder, file, _) = shipped_flow_copy();
    let path = file.to_str().unwrap();
    let original = std::fs::read_to_string(&file).unwrap();
    let with_repeat = |count: u32| {
        original.replacen(
            "\"recorded_at\"",
            &format!("\"repeat\": {count},\n      \"recorded_at\""),
            1,
        )
    };
    std::fs::write(&file, with_repeat(3)).unwrap();
    let output = run(&["cassette", "check", path]);
    assert!(output.status.success(), "{}", text(&output.stdout));

    std::fs::write(&file, with_repeat(0)).unwrap();
    let output = run(&["cassette", "check", path]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stdout).contains(
            "interaction 0: repeat is 0: it counts the times in a row an answer was given, at least 1"
        ),
        "{}",
        text(&output.stdout)
    );
}

/// A copy of the shipped cassette as `flow.json` in a new folder, and what it holds.
fn shipped_flow_copy() -> (tempfile::TempDir, PathBuf, ssm_vcr::Cassette) {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("flow.json");
    std::fs::copy("cassettes/maintenance-window-flow.json", &file).unwrap();
    let shipped = ssm_vcr::Cassette::from_json(&std::fs::read(&file).unwrap()).unwrap();
    (folder, file, shipped)
}

/// The first line of a journal that continues its cassette file as it is.
const JOURNAL_ON_THE_FILE: &str = "{\"ssm_vcr_journal\":1,\"base\":\"file\"}\n";

#[test]
fn a_journal_left_by_a_killed_recording_fails_the_check_until_serve_folds_it_in() {
    let (folder, file, shipped) = shipped_flow_copy();
    let path = file.to_str().unwrap();
    // What a proxy in auto mode killed after recording one more call leaves: the journal.
    let mut interaction = serde_json::to_value(&shipped.interactions[0]).unwrap();
    interaction["request"]["body"]["Name"] = "recorded-after".into();
    let journal = format!(
        "{JOURNAL_ON_THE_FILE}{}\n{{\"index\":8,\"interac",
        serde_json::json!({"index": 7, "interaction": interaction})
    );
    std::fs::write(folder.path().join("flow.json.journal"), journal).unwrap();

    let output = run(&["cassette", "check", path]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stdout),
        format!(
            "{MODEL_LINE}\nerror: {path}: a recording journal is beside it ({path}.journal), \
             holding recordings the file lacks; start `ssm-vcr serve` on this folder once to \
             fold it in (docs/cassettes.md)\n"
        )
    );

    let audit = tempfile::tempdir().unwrap();
    let folder_arg = folder.path().to_str().unwrap();
    let (mut child, _) = start(
        serve(
            &audit,
            &["--cassette-dir", folder_arg, "--cassette", "flow"],
        )
        .stderr(std::process::Stdio::piped()),
    );
    sigterm(&child);
    let (exit, log) = finish(&mut child);
    assert!(exit.success(), "{log}");
    assert!(log.contains("folded a recording journal"), "{log}");
    assert!(log.contains("folded=1 torn_bytes=19"), "{log}");
    let folded = ssm_vcr::Cassette::from_json(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(folded.interactions.len(), 8);
    assert_eq!(
        folded.interactions[7].request.body["Name"],
        "recorded-after"
    );
    assert_eq!(&folded.interactions[..7], &shipped.interactions[..]);
    let output = run(&["cassette", "check", path]);
    assert!(output.status.success(), "{}", text(&output.stdout));
}

#[test]
fn a_journal_that_does_not_continue_its_cassette_stops_serve_and_is_kept() {
    let (folder, file, shipped) = shipped_flow_copy();
    let journal = folder.path().join("flow.json.journal");
    let lines = format!(
        "{JOURNAL_ON_THE_FILE}{}\n",
        serde_json::json!({"index": 9, "interaction": shipped.interactions[0]})
    );
    std::fs::write(&journal, &lines).unwrap();

    let audit = tempfile::tempdir().unwrap();
    let folder_arg = folder.path().to_str().unwrap();
    let output = serve(
        &audit,
        &["--cassette-dir", folder_arg, "--cassette", "flow"],
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "the default cassette {} is unusable (fix it, pick another with --cassette or the \
             library's cassette_file, or run with --cassette none to serve only \
             /cassette/<name>/): the recording journal {} does not continue {}: it \
             continues at interaction 9, and the cassette holds 7; move the journal aside",
            file.display(),
            journal.display(),
            file.display()
        )),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), lines);
    assert_eq!(
        ssm_vcr::Cassette::from_json(&std::fs::read(&file).unwrap()).unwrap(),
        shipped
    );
}

#[test]
fn cassette_check_names_the_file_and_interaction_of_an_invalid_request() {
    let file = fixture("cassettes/invalid-deregistration.json");
    let output = run(&["cassette", "check", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stdout),
        format!(
            "{MODEL_LINE}\nerror: {}: interaction 1 (DeregisterTaskFromMaintenanceWindow): recorded request fails the model: \
             2 validation errors detected: \
             Value 'mw-123' at 'windowId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^mw-[0-9a-f]{{17}}$; \
             Value 'mw-123' at 'windowId' failed to satisfy constraint: Member must have length greater than or equal to 20\n",
            file.display()
        )
    );
    assert_eq!(
        text(&output.stderr),
        "error: 1 of 1 cassette file(s) failed the check\n"
    );
}

#[test]
fn serve_names_an_address_in_use_and_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let audit = tempfile::tempdir().unwrap();
    let log = audit.path().join("audit.jsonl");
    let output = run(&[
        "serve",
        "--listen",
        &address,
        "--audit-log",
        log.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: cannot start: cannot listen on {address}: "
        )),
        "{stderr}"
    );
    assert!(
        !log.exists(),
        "no audit start record for a proxy that never listened"
    );
}

#[test]
fn serve_refuses_to_start_without_its_default_cassette_and_lists_those_there_are() {
    // A folder of its own: what a user recorded beside the shipped cassette is not listed here.
    let (folder, _, _) = shipped_flow_copy();
    let dir = folder.path().to_str().unwrap();
    let output = run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--cassette-dir",
        dir,
        "--cassette",
        "does-not-exist",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        format!(
            "error: cannot start: the default cassette {dir}/does-not-exist.json is unusable (fix \
             it, pick another with --cassette or the library's cassette_file, or run with \
             --cassette none to serve only /cassette/<name>/): no cassette file at \
             {dir}/does-not-exist.json; the cassettes in its folder are flow\n"
        )
    );
}

#[test]
fn serve_refuses_a_non_loopback_address_unless_allowed() {
    let audit = tempfile::tempdir().unwrap();
    let mut command = ssm_vcr();
    let log = audit.path().join("audit.jsonl");
    let output = command
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--audit-log",
            log.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "error: invalid configuration: listen: 0.0.0.0:0 is not a loopback address, and a re-signing proxy \
         on an open port lends your AWS credentials to anyone who reaches it; set allow_remote = true (or \
         --allow-remote) to bind it anyway\n"
    );
}

#[test]
fn serve_warns_at_start_for_each_sensitive_value_kept_in_plain_text() {
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("config.toml");
    let cassettes = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cassettes");
    std::fs::write(
        &config,
        format!(
            "[cassettes]\ndir = {cassettes:?}\nkeep_sensitive = [\"GetParameter:response:Parameter.Value\"]\n\
             [audit]\nenabled = false\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let mut command = ssm_vcr();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--config", config])
        .stderr(std::process::Stdio::piped());
    let (mut child, _) = start(&mut command);
    sigterm(&child);
    let (exit, log) = finish(&mut child);
    assert!(exit.success(), "{log}");
    assert!(
        log.contains("cassettes.keep_sensitive: this sensitive value is recorded in plain text")
            && log.contains("kept=GetParameter:response:Parameter.Value"),
        "{log}"
    );

    // A path outside the model's operations is refused, naming the key.
    std::fs::write(
        folder.path().join("bad.toml"),
        "[cassettes]\nkeep_sensitive = [\"GetParameters:reply:Value\"]\n",
    )
    .unwrap();
    let output = run(&[
        "config",
        "check",
        "--config",
        folder.path().join("bad.toml").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "error: invalid configuration: cassettes.keep_sensitive: 'GetParameters:reply:Value' is not \
         <Operation>:<request|response>:<path>, e.g. 'GetParameter:response:Parameter.Value'\n"
    );
}

#[test]
fn ca_init_path_and_rotate_print_the_certificate_and_keep_the_key_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    let ca = |command: &str| run(&["ca", command, "--ca-dir", ca_dir.to_str().unwrap()]);
    let cert = ca_dir.join("ca.pem");
    let key = ca_dir.join("ca-key.pem");

    // Before `ca init`, `ca path` says to run it.
    let missing = ca("path");
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        text(&missing.stderr),
        format!(
            "error: the local CA is unusable: there is no local CA in {} yet; run \
             `ssm-vcr ca init`, which creates one and prints its certificate's path\n",
            ca_dir.display()
        )
    );

    let init = ca("init");
    assert!(init.status.success(), "{}", text(&init.stderr));
    assert_eq!(text(&init.stdout), format!("{}\n", cert.display()));
    let first = std::fs::read_to_string(&cert).unwrap();
    assert!(first.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Init again keeps it; path finds it.
    assert!(ca("init").status.success());
    assert_eq!(text(&ca("path").stdout), format!("{}\n", cert.display()));
    assert_eq!(std::fs::read_to_string(&cert).unwrap(), first);

    assert!(ca("rotate").status.success());
    assert_ne!(std::fs::read_to_string(&cert).unwrap(), first);
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Nothing the CA commands print is the key.
    assert!(!text(&ca("path").stdout).contains("PRIVATE KEY"));

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let exposed = ca("path");
    assert_eq!(exposed.status.code(), Some(1));
    assert!(
        text(&exposed.stderr).contains("is readable by others (mode 644)"),
        "{}",
        text(&exposed.stderr)
    );
}
