//! Throughput, latency and memory of the proxy, side by side with a bare hyper server in the
//! same run.
//!
//! ```text
//! cargo bench --bench replay                          # 16 interleaved rounds, 0.375 s each
//! BENCH_SECONDS=12 cargo bench --bench replay         # total seconds per scenario
//! BENCH_ROUNDS=32 cargo bench --bench replay          # more, shorter rounds
//! BENCH_CLIENT=hyper cargo bench --bench replay       # hyper's client as the load generator
//! BENCH_SSM_VCR=other/ssm-vcr cargo bench --bench replay  # another build of the proxy
//! BENCH_DURABLE_BATCH_WAIT_US=1000 cargo bench --bench replay  # durable baseline batching as the audit does
//! BENCH_DURABLE_LINE_BYTES=666 cargo bench --bench replay     # durable baseline lines as long as audit records
//! ```
//!
//! Every server is a child process (so its peak RSS is its own): the bare hyper baseline (this
//! binary re-run with `--baseline-server`, answering the recorded bytes) and the real `ssm-vcr`
//! binary. The load generator is this process, on one current-thread runtime, driving
//! keep-alive HTTP/1.1 connections with the same 200-byte Deregister POST, at 1 and 32
//! connections. By default it is a lean client, as wrk is: it writes the request's bytes and
//! reads each response by its `Content-Length`. When measuring, every server is pinned to
//! CPU 0 and the load generator to CPU 1 (`taskset`), so neither takes the other's core;
//! `BENCH_CLIENT=hyper` drives the same calls through hyper's client instead. Scenarios run in interleaved rounds, so that drift on a shared
//! machine hits all of them alike. The proxy logs at `warn` (no access lines), as the figures
//! are about the pipeline.
//!
//! Scenarios: the baseline; replay with the audit off; the durable baseline (the bare server
//! again, answering each call only once its body is written and fdatasynced, by a group commit
//! that syncs as soon as a line waits and appends as the audit log does, and nothing else; with
//! `BENCH_DURABLE_BATCH_WAIT_US` its batches wait to fill as the audit log's do); replay with
//! the durable audit on; passthrough forwarding to the baseline server (its added latency is
//! forwarding's cost); the TLS baseline (the bare server behind rustls, presenting a
//! certificate for the SSM host from the same local CA the proxy uses) and replay through the forward-proxy mode (a
//! `CONNECT`, then TLS to the intercepted host, then the same calls). TLS scenarios always use
//! the lean client, over connections opened before the clock starts; the cost of opening one
//! (TCP, `CONNECT`, handshake, first call) is measured apart, one connection after another.
//! Then replay with the access log on (`RUST_LOG=info`, the default filter, standard error
//! to a file), against replay with it off; and the audit log preallocated, and signing
//! checkpoints (`--audit-signing-key`, one every 1000 records), each against the audit log as
//! it is by default.
//! The durable baseline is what any server pays on this disk for answering after an fsync:
//! the audited proxy is compared with it too, to tell the disk's cost from the proxy's.
//!
//! `× req/s` is the median over rounds of each round's rate divided by the baseline's rate in
//! the same round, with the quartiles of those ratios beside it (how much the rounds agreed);
//! the other `×` columns divide a latency percentile over all rounds, or the peak RSS, by the
//! baseline's;
//! `CPU µs` is the server's own CPU time (user + system, all threads) per answered request,
//! read from /proc, which is steadier than rates on a shared machine; `client µs` is the load
//! generator's, and `busy` how much of the whole machine's CPU was in use during the
//! scenario's rounds (kernel work on nobody's account, such as a disk flush, included). A
//! scenario near 100% busy is limited by CPU, whoever spends it; one well below is waiting
//! (on the disk, or on round trips at 1 connection).
//!
//! At the end the audit log (the live file and every file rotated beside it) must hold one
//! outcome record for every call the audited server answered, warm-ups included; the run fails
//! otherwise, in the smoke run under `cargo test` too.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use support::{
    AUTHORIZATION, BODY, CLIENT_CPU, PINNED, SERVER_CPU, Server, TLS_HOST, Transport,
    baseline_command, baseline_server, clock_ticks_per_second, machine_cpu_ticks,
    pin_load_generator, process_cpu_ticks, quartiles, read_response, ssm_vcr_command, wire_request,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, pki_types::ServerName};

const CONNECTIONS: [usize; 2] = [1, 32];

#[derive(Default)]
struct Figures {
    requests: usize,
    errors: usize,
    seconds: f64,
    latencies_us: Vec<u32>,
    /// Each round's rate divided by the baseline's rate in the same round.
    round_ratios: Vec<f64>,
    /// Server CPU used during the rounds, in clock ticks.
    cpu_ticks: u64,
    /// The load generator's own CPU during the rounds, in clock ticks.
    client_ticks: u64,
    /// The machine's busy and total CPU ticks during the rounds.
    machine_busy_ticks: u64,
    machine_ticks: u64,
}

impl Figures {
    fn add(&mut self, other: Figures) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.seconds += other.seconds;
        self.latencies_us.extend(other.latencies_us);
    }

    /// Counts an answer sent at `sent`: a server error is an error, anything else a request
    /// answered, with its latency.
    fn answered(&mut self, sent: Instant, status: u16) {
        if status < 500 {
            self.requests += 1;
            let latency = sent.elapsed().as_micros().min(u128::from(u32::MAX));
            self.latencies_us.push(latency as u32);
        } else {
            self.errors += 1;
        }
    }

    /// The first quartile, median and third quartile of the per-round ratios: rounds run back
    /// to back, so each pair saw the same machine, and one disturbed round cannot move the
    /// median much; the quartiles show how much the rounds agreed.
    fn ratio_quartiles(&self) -> (f64, f64, f64) {
        quartiles(self.round_ratios.clone())
    }

    /// The quartiles of this scenario's rate divided by `other`'s, round by round.
    fn ratio_quartiles_to(&self, other: &Figures) -> (f64, f64, f64) {
        let ratios = self.round_ratios.iter().zip(&other.round_ratios);
        quartiles(ratios.map(|(mine, theirs)| mine / theirs).collect())
    }

    /// `ticks` of CPU (the server's or the client's) as µs per answered request.
    fn us_per_request(&self, ticks: u64, ticks_per_second: f64) -> f64 {
        ticks as f64 / ticks_per_second * 1e6 / self.requests as f64
    }

    /// How busy the whole machine was: near 100%, CPU is what limits the rate.
    fn machine_busy_percent(&self) -> f64 {
        100.0 * self.machine_busy_ticks as f64 / self.machine_ticks as f64
    }

    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn percentile(&mut self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        self.latencies_us.sort_unstable();
        let index = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        f64::from(self.latencies_us[index])
    }
}

/// Which load generator drives the servers (`BENCH_CLIENT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// Writes the request's bytes and reads each response by its `Content-Length`, as wrk
    /// does: the least CPU per request, so that the server under test gets the most of a
    /// machine it shares with its load (the default).
    Lean,
    /// hyper's HTTP/1.1 client: about as much CPU per request as the server, which on two
    /// cores leaves the server one core and turns the rate ratio into a CPU ratio.
    Hyper,
}

impl Client {
    fn from_env() -> Self {
        match std::env::var("BENCH_CLIENT").as_deref() {
            Ok("hyper") => Self::Hyper,
            Ok("lean") | Err(_) => Self::Lean,
            Ok(other) => panic!("BENCH_CLIENT is 'lean' (the default) or 'hyper', not '{other}'"),
        }
    }
}

async fn drive(client: Client, server: &Server, connections: usize, duration: Duration) -> Figures {
    let addr = server.addr;
    let request: std::sync::Arc<[u8]> = wire_request().into();
    if let Transport::Tls { connector, tunnel } = &server.transport {
        // Connections first, then the clock: handshakes are measured apart.
        let mut streams = Vec::with_capacity(connections);
        for _ in 0..connections {
            streams.push(open_tls(addr, connector, *tunnel).await);
        }
        let started = Instant::now();
        let deadline = started + duration;
        let workers: Vec<_> = (streams.into_iter())
            .map(|stream| {
                let request = std::sync::Arc::clone(&request);
                tokio::spawn(async move { keep_calling(stream, deadline, &request).await })
            })
            .collect();
        return gather(workers, started).await;
    }
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let request = std::sync::Arc::clone(&request);
            tokio::spawn(async move {
                match client {
                    Client::Lean => drive_lean(addr, deadline, &request).await,
                    Client::Hyper => drive_hyper(addr, deadline).await,
                }
            })
        })
        .collect();
    gather(workers, started).await
}

async fn gather(workers: Vec<tokio::task::JoinHandle<Figures>>, started: Instant) -> Figures {
    let mut total = Figures::default();
    for worker in workers {
        total.add(worker.await.unwrap());
    }
    total.seconds = started.elapsed().as_secs_f64();
    total
}

/// A TLS connection to [`TLS_HOST`] at `addr`, through a `CONNECT` first when `tunnel`.
async fn open_tls(
    addr: SocketAddr,
    connector: &TlsConnector,
    tunnel: bool,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    if tunnel {
        let connect = format!("CONNECT {TLS_HOST}:443 HTTP/1.1\r\nhost: {TLS_HOST}:443\r\n\r\n");
        stream.write_all(connect.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.unwrap());
        }
        assert!(head.starts_with(b"HTTP/1.1 200"), "the CONNECT was refused");
    }
    let name = ServerName::try_from(TLS_HOST).unwrap();
    connector.connect(name, stream).await.unwrap()
}

/// Calls over one keep-alive connection until `deadline`.
async fn keep_calling<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    deadline: Instant,
    request: &[u8],
) -> Figures {
    let mut figures = Figures::default();
    let mut buffer = Vec::with_capacity(4096);
    while Instant::now() < deadline {
        let sent = Instant::now();
        let answered = match stream.write_all(request).await {
            Ok(()) => read_response(&mut stream, &mut buffer).await,
            Err(e) => Err(e),
        };
        let Ok(status) = answered else {
            figures.errors += 1;
            break;
        };
        figures.answered(sent, status);
    }
    figures
}

/// One keep-alive connection of the lean client until `deadline`.
async fn drive_lean(addr: SocketAddr, deadline: Instant, request: &[u8]) -> Figures {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    keep_calling(stream, deadline, request).await
}

/// The lean client's trust: the local CA of `ca_dir` only, HTTP/1.1.
fn tls_connector(ca_dir: &Path) -> TlsConnector {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let pem = std::fs::read(ca_dir.join("ca.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(&pem).unwrap())
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(std::sync::Arc::new(config))
}

/// Opens `count` connections one after another to a TLS scenario's server, each making one
/// call: the median time to open one and answer its first call, in µs, and the server's CPU
/// per connection.
async fn connection_cost(
    server: &Server,
    connector: &TlsConnector,
    tunnel: bool,
    count: usize,
) -> (f64, f64) {
    let request = wire_request();
    let ticks = server.cpu_ticks();
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let mut stream = open_tls(server.addr, connector, tunnel).await;
        stream.write_all(&request).await.unwrap();
        read_response(&mut stream, &mut Vec::new()).await.unwrap();
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let cpu = (server.cpu_ticks() - ticks) as f64 / clock_ticks_per_second() * 1e6 / count as f64;
    (quartiles(times).1, cpu)
}

/// One keep-alive connection of hyper's client until `deadline`.
async fn drive_hyper(addr: SocketAddr, deadline: Instant) -> Figures {
    let mut figures = Figures::default();
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    while Instant::now() < deadline {
        let request = Request::post("/")
            .header("host", "ssm")
            .header(
                "x-amz-target",
                "AmazonSSM.DeregisterTaskFromMaintenanceWindow",
            )
            .header("content-type", "application/x-amz-json-1.1")
            .header("authorization", AUTHORIZATION)
            .body(Full::new(Bytes::from_static(BODY.as_bytes())))
            .unwrap();
        let sent = Instant::now();
        let Ok(response) = sender.send_request(request).await else {
            figures.errors += 1;
            break;
        };
        let status = response.status().as_u16();
        let _ = response.into_body().collect().await;
        figures.answered(sent, status);
    }
    figures
}

/// The proxy under test, replaying the shipped cassettes.
fn ssm_vcr(args: &[&str]) -> Command {
    let mut command = ssm_vcr_command();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--repeat-last"])
        .args([
            "--cassette-dir",
            concat!(env!("CARGO_MANIFEST_DIR"), "/cassettes"),
        ])
        .args(args);
    command
}

fn main() {
    if std::env::args().any(|arg| arg == "--baseline-server") {
        return baseline_server();
    }
    // `cargo test --all-targets` runs this binary too, without `--bench`: then it only checks
    // that every scenario still answers, briefly, instead of measuring.
    let measuring = support::measuring("replay");
    let total: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if measuring { 6.0 } else { 0.2 });
    // Short rounds pair each scenario with a baseline measured moments apart, which matters
    // more on a shared machine than long ones.
    let rounds: u32 = if measuring {
        std::env::var("BENCH_ROUNDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(16)
    } else {
        1
    };
    let slice = Duration::from_secs_f64(total / f64::from(rounds));
    let client = Client::from_env();
    PINNED.get_or_init(|| measuring);
    if measuring {
        pin_load_generator();
        println!("servers pinned to CPU {SERVER_CPU}, the load generator to CPU {CLIENT_CPU}");
    }

    let logs = tempfile::tempdir().unwrap();
    let audit = logs.path().join("audit.jsonl");
    let ca_dir = logs.path().join("ca");
    ssm_vcr::LocalCa::open_or_create(&ca_dir).unwrap();
    let connector = tls_connector(&ca_dir);
    let ca_dir_arg = ca_dir.to_str().unwrap();
    let baseline_lines = logs.path().join("baseline-lines");
    let baseline = Server::spawn("bare hyper (baseline)", baseline_command(&[]));
    let upstream = format!("http://{}", baseline.addr);
    // Where each scenario is in `servers`, the baseline first: the columns divide by it.
    const REPLAY: usize = 1;
    const DURABLE_BASELINE: usize = 2;
    const AUDITED: usize = 3;
    const PASSTHROUGH: usize = 4;
    const TLS_BASELINE: usize = 5;
    const INTERCEPTED: usize = 6;
    const ACCESS_LOGGED: usize = 7;
    const PREALLOCATED: usize = 8;
    const SIGNED: usize = 9;
    let preallocating = logs.path().join("preallocate.toml");
    std::fs::write(&preallocating, "[audit]\npreallocate = true\n").unwrap();
    let preallocated_audit = logs.path().join("preallocated-audit.jsonl");
    // Made by this checkout's binary: a build under comparison (BENCH_SSM_VCR) only reads it.
    let signing_key = logs.path().join("audit.key");
    let made = Command::new(env!("CARGO_BIN_EXE_ssm-vcr"))
        .args(["audit", "keygen", "--out", signing_key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let signed_audit = logs.path().join("signed-audit.jsonl");
    let servers = [
        baseline,
        Server::spawn("replay, audit off", ssm_vcr(&["--no-audit"])),
        Server::spawn(
            "bare hyper + fsync",
            baseline_command(&["--fsync-to", baseline_lines.to_str().unwrap()]),
        ),
        Server::spawn(
            "replay, audit on (fsync)",
            ssm_vcr(&["--audit-log", audit.to_str().unwrap()]),
        ),
        Server::spawn(
            "passthrough to baseline",
            ssm_vcr(&[
                "--mode",
                "passthrough",
                "--upstream",
                &upstream,
                "--no-audit",
            ]),
        ),
        Server::spawn(
            "bare hyper + rustls",
            baseline_command(&["--tls-ca-dir", ca_dir_arg]),
        )
        .over(Transport::Tls {
            connector: connector.clone(),
            tunnel: false,
        }),
        Server::spawn(
            "replay via CONNECT + TLS",
            ssm_vcr(&["--no-audit", "--ca-dir", ca_dir_arg]),
        )
        .over(Transport::Tls {
            connector: connector.clone(),
            tunnel: true,
        }),
        Server::spawn_logging_to(
            "replay, access log on",
            {
                // The default filter: one access line per call, to a file as a service's log.
                let mut command = ssm_vcr(&["--no-audit"]);
                command.env("RUST_LOG", "info");
                command
            },
            &logs.path().join("access.log"),
        ),
        Server::spawn(
            "replay, audit preallocated",
            ssm_vcr(&[
                "--config",
                preallocating.to_str().unwrap(),
                "--audit-log",
                preallocated_audit.to_str().unwrap(),
            ]),
        ),
        Server::spawn(
            "replay, audit signed",
            ssm_vcr(&[
                "--audit-log",
                signed_audit.to_str().unwrap(),
                "--audit-signing-key",
                signing_key.to_str().unwrap(),
            ]),
        ),
    ];

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut figures: Vec<Vec<Figures>> = (0..servers.len())
        .map(|_| CONNECTIONS.iter().map(|_| Figures::default()).collect())
        .collect();
    // Every call each server answered, warm-ups included: the audit log is checked against it.
    let mut answered = vec![0; servers.len()];
    // The audited server's records and fsyncs during each connection count's rounds.
    let mut shared_syncs = Vec::new();
    runtime.block_on(async {
        for (c, connections) in CONNECTIONS.iter().enumerate() {
            let before = audit_syncs(servers[AUDITED].addr).await;
            for (s, server) in servers.iter().enumerate() {
                let warm_up = drive(
                    client,
                    server,
                    *connections,
                    slice.min(Duration::from_millis(200)),
                )
                .await;
                answered[s] += warm_up.requests;
            }
            for _ in 0..rounds {
                let mut base_rate = f64::NAN;
                for (s, server) in servers.iter().enumerate() {
                    let ticks = server.cpu_ticks();
                    let client_ticks = process_cpu_ticks("self");
                    let (busy, all) = machine_cpu_ticks();
                    let round = drive(client, server, *connections, slice).await;
                    let rate = round.rate();
                    if s == 0 {
                        base_rate = rate;
                    }
                    let f = &mut figures[s][c];
                    f.cpu_ticks += server.cpu_ticks() - ticks;
                    f.client_ticks += process_cpu_ticks("self") - client_ticks;
                    let (busy_after, all_after) = machine_cpu_ticks();
                    f.machine_busy_ticks += busy_after - busy;
                    f.machine_ticks += all_after - all;
                    f.round_ratios.push(rate / base_rate);
                    answered[s] += round.requests;
                    f.add(round);
                }
            }
            let after = audit_syncs(servers[AUDITED].addr).await;
            shared_syncs.push(before.zip(after).map(|(before, after)| {
                (after.0 - before.0) as f64 / (after.1 - before.1).max(1) as f64
            }));
        }
    });

    let purpose = if measuring {
        "proxy benchmark"
    } else {
        "smoke run (cargo bench measures)"
    };
    println!(
        "{purpose}: {total} s per scenario in {rounds} interleaved rounds, {} cores, loopback, servers in child processes, {client:?} client",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<26} {:>5} {:>9} {:>7} {:>11} {:>6} {:>7} {:>6} {:>7} {:>6} {:>8} {:>7} {:>7} {:>9} {:>6} {:>8} {:>6}",
        "scenario",
        "conns",
        "req/s",
        "× req/s",
        "quartiles",
        "errors",
        "p50 µs",
        "× p50",
        "p99 µs",
        "× p99",
        "p99.9 µs",
        "× p99.9",
        "CPU µs",
        "client µs",
        "busy",
        "peak MB",
        "× MB"
    );
    let ticks_per_second = clock_ticks_per_second();
    let names: Vec<&str> = servers.iter().map(|s| s.name).collect();
    let peaks: Vec<f64> = servers.iter().map(Server::peak_rss_mb).collect();
    for (c, connections) in CONNECTIONS.iter().enumerate() {
        let latencies = |f: &mut Figures| [0.5, 0.99, 0.999].map(|p| f.percentile(p));
        let base = latencies(&mut figures[0][c]);
        for s in 0..names.len() {
            let f = &mut figures[s][c];
            assert!(
                f.requests > 0 && f.errors == 0,
                "{} failed to answer",
                names[s]
            );
            let [p50, p99, p999] = latencies(f);
            let (q1, ratio, q3) = f.ratio_quartiles();
            println!(
                "{:<26} {:>5} {:>9.0} {:>7.2} {:>11} {:>6} {:>7.0} {:>6.2} {:>7.0} {:>6.2} {:>8.0} {:>7.2} {:>7.1} {:>9.1} {:>5.0}% {:>8.1} {:>6.2}",
                names[s],
                connections,
                f.rate(),
                ratio,
                format!("{q1:.2}–{q3:.2}"),
                f.errors,
                p50,
                p50 / base[0],
                p99,
                p99 / base[1],
                p999,
                p999 / base[2],
                f.us_per_request(f.cpu_ticks, ticks_per_second),
                f.us_per_request(f.client_ticks, ticks_per_second),
                f.machine_busy_percent(),
                peaks[s],
                peaks[s] / peaks[0]
            );
        }
    }
    let added = figures[PASSTHROUGH][0].percentile(0.5) - figures[0][0].percentile(0.5);
    println!(
        "forwarding adds {added:.0} µs at p50 (passthrough vs the same upstream called directly, 1 connection)"
    );
    for (c, connections) in CONNECTIONS.iter().enumerate() {
        let (q1, ratio, q3) = figures[AUDITED][c].ratio_quartiles_to(&figures[DURABLE_BASELINE][c]);
        let shared = shared_syncs[c].map_or("not exposed by this build".to_owned(), |records| {
            format!("{records:.1}")
        });
        println!(
            "durable audit at {connections} connection(s): {ratio:.2}× the bare hyper server that fsyncs each call (quartiles {q1:.2}–{q3:.2}); records per fsync: {shared}"
        );
    }

    for (c, connections) in CONNECTIONS.iter().enumerate() {
        let (q1, ratio, q3) = figures[INTERCEPTED][c].ratio_quartiles_to(&figures[TLS_BASELINE][c]);
        println!(
            "forward-proxy replay at {connections} connection(s): {ratio:.2}× the bare hyper + rustls server with a certificate of the same CA (quartiles {q1:.2}–{q3:.2})"
        );
    }
    for (c, connections) in CONNECTIONS.iter().enumerate() {
        let (q1, ratio, q3) = figures[PREALLOCATED][c].ratio_quartiles_to(&figures[AUDITED][c]);
        println!(
            "preallocated audit at {connections} connection(s): {ratio:.2}× the audit log appended to (quartiles {q1:.2}–{q3:.2})"
        );
    }
    for (c, connections) in CONNECTIONS.iter().enumerate() {
        let (q1, ratio, q3) = figures[SIGNED][c].ratio_quartiles_to(&figures[AUDITED][c]);
        let (b1, baseline, b3) =
            figures[SIGNED][c].ratio_quartiles_to(&figures[DURABLE_BASELINE][c]);
        println!(
            "signed audit (a checkpoint every 1000 records) at {connections} connection(s): {ratio:.2}× the unsigned audit log (quartiles {q1:.2}–{q3:.2}), {baseline:.2}× the durable baseline (quartiles {b1:.2}–{b3:.2})"
        );
    }
    for (c, connections) in CONNECTIONS.iter().enumerate() {
        let (q1, ratio, q3) = figures[ACCESS_LOGGED][c].ratio_quartiles_to(&figures[REPLAY][c]);
        println!(
            "access log on at {connections} connection(s): {ratio:.2}× replay with the access log off (quartiles {q1:.2}–{q3:.2})"
        );
    }
    let handshakes = if measuring { 400 } else { 4 };
    runtime.block_on(async {
        for (s, tunnel) in [(TLS_BASELINE, false), (INTERCEPTED, true)] {
            let (median, cpu) = connection_cost(&servers[s], &connector, tunnel, handshakes).await;
            println!(
                "opening a connection and its first call, {}: {median:.0} µs median, {cpu:.0} µs of server CPU ({handshakes} in a row)",
                servers[s].name
            );
        }
    });

    // Memory with 512 connections open at once, each having made a call.
    let replay = &servers[REPLAY];
    runtime.block_on(async {
        let mut open = Vec::new();
        for _ in 0..512 {
            let stream = TcpStream::connect(replay.addr).await.unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let request = Request::post("/")
                .header(
                    "x-amz-target",
                    "AmazonSSM.DeregisterTaskFromMaintenanceWindow",
                )
                .header("content-type", "application/x-amz-json-1.1")
                .body(Full::new(Bytes::from_static(BODY.as_bytes())))
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            let _ = response.into_body().collect().await;
            open.push(sender);
        }
        println!(
            "replay with 512 open connections: RSS {:.1} MB, peak {:.1} MB",
            replay.rss_mb(),
            replay.peak_rss_mb()
        );
    });
    // Every call the audited server answered must have its record on disk by now.
    let audited = answered[AUDITED];
    let (outcomes, files) = audit_outcomes(&audit);
    println!(
        "durable audit: {outcomes} outcome records in {files} file(s) for {audited} calls answered, warm-ups included"
    );
    assert_eq!(
        outcomes, audited,
        "every answered deregistration must have its audit record"
    );
    // And the durable baseline must have written every call it answered, or it is no floor.
    let written = std::fs::read(&baseline_lines).unwrap();
    let lines = written.iter().filter(|&&b| b == b'\n').count();
    println!(
        "durable baseline: {lines} lines on disk for {} calls answered",
        answered[DURABLE_BASELINE]
    );
    assert_eq!(
        lines, answered[DURABLE_BASELINE],
        "the durable baseline must write every call it answers"
    );
}

/// The audit records written and the fsyncs that made them durable so far, from the proxy's
/// metrics; builds from before `ssm_vcr_audit_syncs_total` give none.
async fn audit_syncs(addr: SocketAddr) -> Option<(u64, u64)> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::get("/__ssm-vcr/metrics")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let text = response.into_body().collect().await.unwrap().to_bytes();
    let text = std::str::from_utf8(&text).unwrap();
    let sample = |series: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    };
    Some((
        sample("ssm_vcr_audit_write_duration_seconds_count ")?,
        sample("ssm_vcr_audit_syncs_total ")?,
    ))
}

/// Outcome records in the audit log `live` and in the files rotated beside it
/// (`<live>.1`, `<live>.2`, …), and how many files there are.
fn audit_outcomes(live: &Path) -> (usize, usize) {
    let name = live.file_name().unwrap().to_str().unwrap();
    let mut outcomes = 0;
    let mut files = 0;
    for entry in std::fs::read_dir(live.parent().unwrap()).unwrap() {
        let entry = entry.unwrap();
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let part_of_log = file_name
            .strip_prefix(name)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
        if part_of_log {
            files += 1;
            let text = std::fs::read(entry.path()).unwrap();
            let outcome = br#""event":"outcome""#;
            outcomes += text
                .split(|&b| b == b'\n')
                .filter(|line| line.windows(outcome.len()).any(|w| w == outcome))
                .count();
        }
    }
    (outcomes, files)
}
