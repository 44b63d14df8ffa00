//! What the benchmarks share: servers as pinned child processes, the bare hyper baseline
//! (re-run from the bench binary with `--baseline-server`), /proc readings, and the lean
//! client's view of the wire. Each bench uses a part of it.

#![allow(dead_code, unreachable_pub)] // each bench binary uses a different part

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use ssm_vcr::harness::{BatchQueue, Fill};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub const BODY: &str = r#"{"WindowId": "mw-0c50858d01e8a7b6f", "WindowTaskId": "50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c"}"#;
/// The cassette the proxy replays, and the operation the bench calls.
pub const CASSETTE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/cassettes/maintenance-window-flow.json"
);
pub const OPERATION: &str = "DeregisterTaskFromMaintenanceWindow";
pub const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/ssm/aws4_request, \
     SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123abcd";

/// The host the TLS scenarios reach, as an SDK in the forward-proxy mode would.
pub const TLS_HOST: &str = "ssm.us-east-1.amazonaws.com";

/// Whether this is a measurement (`cargo bench`, which passes `--bench`) rather than the
/// smoke run under `cargo test`; the smoke run says so first, so that its figures, from a
/// debug build and unpinned, are never read as results.
pub fn measuring(bench: &str) -> bool {
    let measuring = std::env::args().any(|arg| arg == "--bench");
    if !measuring {
        println!(
            "SMOKE RUN of the {bench} bench: checks that every scenario answers; its figures \
             come from a debug build, unpinned, and measure nothing (`cargo bench --bench \
             {bench}` measures)"
        );
    }
    measuring
}

/// Whether servers are pinned: when measuring, not in the smoke run under `cargo test`.
pub static PINNED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// How the load generator reaches a server.
#[derive(Clone)]
pub enum Transport {
    /// Plain HTTP/1.1.
    Plain,
    /// TLS to [`TLS_HOST`], first through a `CONNECT` when `tunnel` (the proxy's forward-proxy
    /// mode), else directly (the TLS baseline).
    Tls {
        connector: TlsConnector,
        tunnel: bool,
    },
}

/// A server under test, as a child process.
pub struct Server {
    pub name: &'static str,
    pub child: Child,
    pub addr: SocketAddr,
    pub transport: Transport,
}

impl Server {
    /// The same server, reached over `transport`.
    pub fn over(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Starts `command` on [`SERVER_CPU`] when measuring.
    pub fn spawn(name: &'static str, command: Command) -> Self {
        Self::spawn_on(SERVER_CPU, name, command)
    }

    /// [`Self::spawn`], its standard error (the operational log) written to `log`, as a
    /// service's is.
    pub fn spawn_logging_to(name: &'static str, command: Command, log: &Path) -> Self {
        let log = std::fs::File::create(log).expect("the log file can be created");
        Self::start(SERVER_CPU, name, command, log.into())
    }

    /// Starts `command` on `cpu` when measuring, and waits until it listens.
    pub fn spawn_on(cpu: &str, name: &'static str, command: Command) -> Self {
        Self::start(cpu, name, command, Stdio::null())
    }

    fn start(cpu: &str, name: &'static str, command: Command, stderr: Stdio) -> Self {
        let mut command = if PINNED.get() == Some(&true) {
            pinned(&command, cpu)
        } else {
            command
        };
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("{name} did not start: {command:?} printed {line:?}"))
            .parse()
            .unwrap();
        Self {
            name,
            child,
            addr,
            transport: Transport::Plain,
        }
    }

    /// Peak resident memory so far, from /proc.
    pub fn peak_rss_mb(&self) -> f64 {
        proc_status_kb(self.child.id(), "VmHWM:") / 1024.0
    }

    pub fn rss_mb(&self) -> f64 {
        proc_status_kb(self.child.id(), "VmRSS:") / 1024.0
    }

    /// CPU time used so far (user + system, every thread), in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        process_cpu_ticks(&self.child.id().to_string())
    }
}

/// CPU time a process used so far (user + system, every thread), in clock ticks; `who` is a
/// pid or `self`.
pub fn process_cpu_ticks(who: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{who}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// The whole machine's CPU time so far, in clock ticks: (busy, all). Busy is everything but
/// idle and I/O wait, so it counts the kernel's work for every process (the disk's flush
/// handling in kworkers, interrupts), which no process's own figure shows.
pub fn machine_cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|cpu| cpu.strip_prefix("cpu "))
        .map(|fields| {
            fields
                .split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let all: u64 = ticks.iter().sum();
    let waiting = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    (all - waiting, all)
}

/// Clock ticks per second, as `/proc/<pid>/stat` counts them.
pub fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn proc_status_kb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// The first quartile, median and third quartile of `values`.
pub fn quartiles(mut values: Vec<f64>) -> (f64, f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let position = (values.len() - 1) as f64 * q;
        let (low, high) = (position.floor() as usize, position.ceil() as usize);
        let weight = position - position.floor();
        values[low] * (1.0 - weight) + values[high] * weight
    };
    (at(0.25), at(0.5), at(0.75))
}

/// The Deregister call as it goes on the wire, for the lean client.
pub fn wire_request() -> Vec<u8> {
    deregistration_on_the_wire(BODY)
}

/// A Deregister call with `body` as it goes on the wire.
pub fn deregistration_on_the_wire(body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nhost: ssm\r\nx-amz-target: AmazonSSM.DeregisterTaskFromMaintenanceWindow\r\n\
         content-type: application/x-amz-json-1.1\r\nauthorization: {AUTHORIZATION}\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads one whole response (head, then `Content-Length` bytes of body) into `buffer`;
/// returns its status.
pub async fn read_response<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut Vec<u8>,
) -> std::io::Result<u16> {
    buffer.clear();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let parsed = response
            .parse(buffer)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if let httparse::Status::Complete(head) = parsed {
            let status = response.code.unwrap_or(0);
            let length: usize = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
                .ok_or_else(|| std::io::Error::other("a response without content-length"))?;
            while buffer.len() < head + length {
                if stream.read_buf(buffer).await? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
            }
            return Ok(status);
        }
        if stream.read_buf(buffer).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// `--baseline-server [--fsync-to <file>] [--tls-ca-dir <dir>]`: the bare hyper server, on the
/// same runtime shape as the proxy. With `--tls-ca-dir` it serves TLS with a certificate for
/// [`TLS_HOST`] that the local CA in that folder issues, as the proxy's forward-proxy mode does. It answers every call with the bytes the proxy answers it with: the
/// cassette's last recorded answer to the call, which `--repeat-last` replays (status, headers
/// and body). With `--fsync-to` it is the durable baseline: each call's body is written to the
/// file and fdatasynced before the call is answered ([`group_commit`]); with
/// `BENCH_DURABLE_LINE_BYTES=N` each line is padded to N bytes, to make as many bytes durable a
/// call as an audit record does.
pub fn baseline_server() {
    let cassette = ssm_vcr::harness::read_cassette(Path::new(CASSETTE)).unwrap();
    let recorded = cassette
        .interactions
        .iter()
        .rev()
        .find(|interaction| interaction.operation == OPERATION)
        .expect("the cassette records the bench's call")
        .response
        .clone();
    let status = recorded.status().unwrap();
    let headers = recorded.header_map().unwrap();
    let body = recorded.body.to_bytes().unwrap();
    let line_bytes: usize = std::env::var("BENCH_DURABLE_LINE_BYTES")
        .ok()
        .map_or(0, |n| n.parse().expect("a number of bytes"));
    let durable = std::env::args()
        .skip_while(|arg| arg != "--fsync-to")
        .nth(1)
        .map(|path| {
            let file = std::fs::File::create(path).unwrap();
            Lines::start(file)
        });
    let tls = std::env::args()
        .skip_while(|arg| arg != "--tls-ca-dir")
        .nth(1)
        .map(|dir| {
            let ca = ssm_vcr::LocalCa::open(Path::new(&dir)).unwrap();
            TlsAcceptor::from(ca.server_config(TLS_HOST).unwrap())
        });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening on http://{}", listener.local_addr().unwrap());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (headers, body, durable) = (headers.clone(), body.clone(), durable.clone());
            let tls = tls.clone();
            tokio::spawn(async move {
                let service = service_fn(|request: Request<hyper::body::Incoming>| {
                    let (headers, body, durable) = (headers.clone(), body.clone(), durable.clone());
                    async move {
                        let mut line = request.into_body().collect().await.unwrap().to_bytes();
                        if line.len() < line_bytes {
                            let mut padded = line.to_vec();
                            padded.resize(line_bytes, b' ');
                            line = Bytes::from(padded);
                        }
                        if let Some(queue) = durable {
                            let (done, synced) = oneshot::channel();
                            queue.push((line, done));
                            synced.await.unwrap();
                        }
                        let mut response = Response::new(Full::new(body));
                        *response.status_mut() = status;
                        *response.headers_mut() = headers;
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = match tls {
                    Some(tls) => match tls.accept(stream).await {
                        Ok(stream) => {
                            http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await
                        }
                        Err(_) => return,
                    },
                    None => {
                        http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                    }
                };
            });
        }
    });
}

/// A line of the durable baseline, and who to tell once it is on disk.
type Line = (Bytes, oneshot::Sender<()>);

/// Where the durable baseline's calls queue their lines: a channel that its writer drains at
/// once, the least a group commit can be; or, with `BENCH_DURABLE_BATCH_WAIT_US`, the audit
/// log's own batch queue, waiting that long for each batch to fill as the proxy's does, to tell
/// the proxy's cost from its group commit's policy.
#[derive(Clone)]
enum Lines {
    Channel(mpsc::Sender<Line>),
    Batched(std::sync::Arc<BatchQueue<Line>>),
}

impl Lines {
    /// Starts the writer thread on `file`.
    fn start(file: std::fs::File) -> Self {
        let batch_wait = std::env::var("BENCH_DURABLE_BATCH_WAIT_US")
            .ok()
            .map(|us| Duration::from_micros(us.parse().expect("a number of µs")));
        match batch_wait {
            None => {
                let (queue, lines) = mpsc::channel();
                std::thread::spawn(move || {
                    group_commit(&file, |batch| {
                        let Ok(first) = lines.recv() else {
                            return false;
                        };
                        batch.push(first);
                        batch.extend(lines.try_iter());
                        true
                    });
                });
                Self::Channel(queue)
            }
            Some(wait) => {
                let queue = std::sync::Arc::new(BatchQueue::new());
                let lines = std::sync::Arc::clone(&queue);
                std::thread::spawn(move || {
                    let mut fill = Fill::NOW;
                    group_commit(&file, |batch| {
                        let more = lines.next_batch(batch, fill, 1024);
                        fill = Fill::after(batch.len(), wait);
                        more
                    });
                });
                Self::Batched(queue)
            }
        }
    }

    fn push(&self, line: Line) {
        match self {
            Self::Channel(queue) => queue.send(line).unwrap(),
            Self::Batched(queue) => assert!(queue.push(line).is_ok(), "the writer never closes"),
        }
    }
}

/// The durable baseline's writer: the least a server must do to answer each call only once
/// something of it is on disk. It takes each batch `next_batch` gives, writes it in one
/// `write` and calls `fdatasync` once (group commit), appending as the audit log does by
/// default. No record, no hash chain, no JSON: what the audited proxy adds to this is its own.
pub fn group_commit(file: &std::fs::File, mut next_batch: impl FnMut(&mut Vec<Line>) -> bool) {
    let mut end = 0_u64;
    let mut batch = Vec::new();
    let mut buffer = Vec::new();
    while next_batch(&mut batch) {
        buffer.clear();
        for (line, _) in &batch {
            buffer.extend_from_slice(line);
            buffer.push(b'\n');
        }
        let new_end = end + buffer.len() as u64;
        file.write_all_at(&buffer, end).unwrap();
        file.sync_data().unwrap();
        end = new_end;
        for (_, done) in batch.drain(..) {
            let _ = done.send(());
        }
    }
}

/// The CPU every server runs on while measuring; the load generator takes [`CLIENT_CPU`].
pub const SERVER_CPU: &str = "0";
pub const CLIENT_CPU: &str = "1";

/// `command`, run on `cpu` only.
pub fn pinned(command: &Command, cpu: &str) -> Command {
    let mut pinned = Command::new("taskset");
    pinned
        .args(["-c", cpu])
        .arg(command.get_program())
        .args(command.get_args());
    if let Some(dir) = command.get_current_dir() {
        pinned.current_dir(dir);
    }
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => pinned.env(key, value),
            None => pinned.env_remove(key),
        };
    }
    pinned
}

/// Moves this process (the load generator) and its threads to [`CLIENT_CPU`].
pub fn pin_load_generator() {
    let pid = std::process::id().to_string();
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", CLIENT_CPU, &pid])
        .stdout(Stdio::null())
        .status()
        .expect("taskset (util-linux) pins the servers and the load generator");
    assert!(status.success(), "taskset could not pin the load generator");
}

/// This binary as the bare hyper server, with `args` after `--baseline-server`.
pub fn baseline_command(args: &[&str]) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.arg("--baseline-server").args(args);
    command
}

/// The proxy under test, before its arguments: this tree's build, or another build named by
/// `BENCH_SSM_VCR` (to measure two commits with the same load generator and baseline), with
/// fake credentials and no AWS configuration.
pub fn ssm_vcr_command() -> Command {
    let binary =
        std::env::var_os("BENCH_SSM_VCR").unwrap_or_else(|| env!("CARGO_BIN_EXE_ssm-vcr").into());
    let mut command = Command::new(binary);
    command
        // Built-in defaults, whatever the checkout's config.toml says.
        .current_dir(std::env::temp_dir())
        .env("RUST_LOG", "warn")
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCHEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    command
}
