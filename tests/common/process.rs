//! The `ssm-vcr` binary as a child process, and a plain blocking HTTP/1.1 call, for tests that
//! kill the proxy or limit its resources.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};

/// `ssm-vcr serve --listen 127.0.0.1:0 ARGS…` run by `bash -c` after `shell_prefix` (limits,
/// traps), with `env` set; returns the child and its address once it listens.
pub fn spawn_serve(shell_prefix: &str, args: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let bin = env!("CARGO_BIN_EXE_ssm-vcr");
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "{shell_prefix} exec '{bin}' serve --listen 127.0.0.1:0 {}",
        quoted.join(" ")
    );
    let mut command = Command::new("bash");
    command
        .args(["-c", &script])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    start(&mut command)
}

/// Starts `serve` in replay mode on the cassette folder `dir`, default cassette `cassette`,
/// and kills it once it listens: by then it has folded every recording journal in `dir` into
/// its cassette.
pub fn fold_journals(dir: &str, cassette: &str) {
    let args = ["--cassette-dir", dir, "--cassette", cassette, "--no-audit"];
    let (mut child, _) = spawn_serve("", &args, &[]);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Spawns a prepared `ssm-vcr serve …` command and waits for its `listening on` line; returns
/// the child and the address it listens on.
pub fn start(command: &mut Command) -> (Child, String) {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("serve did not start: {line:?}"))
        .to_owned();
    (child, address)
}

/// Sends SIGTERM, as `kill` or a supervisor would.
pub fn sigterm(child: &Child) {
    let sent = Command::new("bash")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// One SSM call on its own connection: status, request id and body, or `None` once the proxy
/// is gone.
pub fn call(address: &str, operation: &str, body: &str) -> Option<(u16, String, String)> {
    let mut stream = TcpStream::connect(address).ok()?;
    write!(
        stream,
        "POST / HTTP/1.1\r\nhost: ssm\r\nx-amz-target: AmazonSSM.{operation}\r\n\
         content-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let request_id = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("x-amzn-requestid: ")
            .map(str::to_owned)
    })?;
    Some((status, request_id, body.to_owned()))
}

/// Waits for the child to exit; its status and everything it wrote to its (piped) stderr.
pub fn finish(child: &mut Child) -> (ExitStatus, String) {
    let exit = child.wait().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    (exit, log)
}
