//! Recording cost as one cassette grows: the rate, latency, server CPU and disk writes per
//! recorded interaction while a proxy in record mode records 1k, 10k and 100k distinct calls
//! into one cassette, at 1 and 16 connections, in front of a fast local upstream.
//!
//! ```text
//! cargo bench --bench record
//! BENCH_RECORD_SIZES=1000,10000 cargo bench --bench record      # other cassette sizes
//! BENCH_RECORD_CONNECTIONS=16 cargo bench --bench record        # other connection counts
//! BENCH_RECORD_SECONDS=60 cargo bench --bench record            # cut each run at 60 s
//! BENCH_SSM_VCR=other/ssm-vcr cargo bench --bench record        # another build of the proxy
//! ```
//!
//! Each run starts a fresh proxy (`--mode record`, audit off: its cost is the replay bench's)
//! on an empty cassette folder and drives exactly N calls through it, each a distinct
//! deregistration, then stops it with SIGTERM and times its exit, which includes the final
//! compaction; the cassette must then hold every call answered, or the bench fails. The
//! upstream is the bare hyper server answering the recorded Deregister answer. When measuring,
//! the proxy is pinned to CPU 0, the upstream and the load generator (a lean keep-alive
//! client, as in the replay bench) to CPU 1.
//!
//! Beside each run, in the same run and on the same calls, the durable baseline is driven:
//! the bare server that appends each call's body to a file and answers once it is
//! fdatasynced (group commit). It is the floor of any recorder that answers after a sync, on
//! this disk; its cost does not depend on N, so it makes at most 10k calls.
//!
//! Columns: `calls/s` over the whole run, and over its last tenth (`last 10%`: the marginal
//! cost at that size); `×` the durable baseline's rate; latency percentiles; the proxy's CPU
//! per call (user + system, /proc, 10 ms ticks); `disk KB` written per call (`write_bytes` of
//! /proc/<pid>/io: the journal, compactions and the final write); the cassette's size; the
//! peak RSS; and `exit ms`, the time from SIGTERM to exit. At the end, per connection count,
//! the largest size's figures divided by the smallest's: a recording whose cost does not grow
//! with the cassette stays near 1.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::{
    CLIENT_CPU, PINNED, SERVER_CPU, Server, baseline_command, baseline_server,
    clock_ticks_per_second, deregistration_on_the_wire, pin_load_generator, proc_status_kb,
    read_response, ssm_vcr_command,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Calls the durable baseline makes at most per run.
const BASELINE_CALLS: usize = 10_000;

/// The `n`-th distinct deregistration on the wire.
fn wire_request(n: usize) -> Vec<u8> {
    let body = format!(
        r#"{{"WindowId": "mw-0c50858d01e8a7b6f", "WindowTaskId": "{n:08x}-0000-4000-8000-{n:012x}"}}"#
    );
    deregistration_on_the_wire(&body)
}

/// What one run of `calls` calls measured.
#[derive(Default)]
struct Run {
    answered: usize,
    errors: usize,
    seconds: f64,
    /// When each call was answered, from the start, in order.
    finished: Vec<f64>,
    /// Sorted.
    latencies_us: Vec<f64>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.answered as f64 / self.seconds
    }

    /// The rate over the last tenth of the calls.
    fn last_tenth_rate(&self) -> f64 {
        let n = self.finished.len();
        let start = n - n / 10 - 1;
        (n - 1 - start) as f64 / (self.finished[n - 1] - self.finished[start])
    }

    fn percentile(&self, p: f64) -> f64 {
        let index = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        self.latencies_us[index]
    }
}

/// Makes `calls` distinct calls to `addr` over `connections` keep-alive connections, each
/// taking the next call number, until all are answered or `limit` passes.
async fn drive(addr: SocketAddr, connections: usize, calls: usize, limit: Duration) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + limit;
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                let mut run = Run::default();
                let mut stream = TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let mut buffer = Vec::with_capacity(4096);
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= calls || Instant::now() >= deadline {
                        break;
                    }
                    let sent = Instant::now();
                    stream.write_all(&wire_request(n)).await.unwrap();
                    match read_response(&mut stream, &mut buffer).await {
                        // The upstream answers with the cassette's last Deregister answer, a
                        // DoesNotExistException: recorded as any answer below 500 is.
                        Ok(status) if status < 500 => {
                            run.answered += 1;
                            run.latencies_us.push(sent.elapsed().as_secs_f64() * 1e6);
                            run.finished.push(started.elapsed().as_secs_f64());
                        }
                        _ => run.errors += 1,
                    }
                }
                run
            })
        })
        .collect();
    let mut total = Run::default();
    for worker in workers {
        let run = worker.await.unwrap();
        total.answered += run.answered;
        total.errors += run.errors;
        total.finished.extend(run.finished);
        total.latencies_us.extend(run.latencies_us);
    }
    total.seconds = started.elapsed().as_secs_f64();
    total.finished.sort_by(f64::total_cmp);
    total.latencies_us.sort_by(f64::total_cmp);
    total
}

/// Bytes a process has caused to be written to storage so far (`write_bytes`).
fn disk_written(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("write_bytes: "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(f64::NAN)
}

/// Sends SIGTERM and waits for the exit; the time it took.
fn stop(server: &mut Server) -> Duration {
    let started = Instant::now();
    let sent = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{} exited with {exit:?}", server.name);
    started.elapsed()
}

/// The sizes to record (`BENCH_RECORD_SIZES`): by default 1k, 10k, 100k, and 1k again, so
/// that drift of the machine during the long runs shows.
fn sizes(measuring: bool) -> Vec<usize> {
    match std::env::var("BENCH_RECORD_SIZES") {
        Ok(list) => list
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("BENCH_RECORD_SIZES: numbers, comma-separated")
            })
            .collect(),
        Err(_) if measuring => vec![1_000, 10_000, 100_000, 1_000],
        Err(_) => vec![200],
    }
}

/// The connection counts to record at (`BENCH_RECORD_CONNECTIONS`): by default 1 and 16.
fn connection_counts() -> Vec<usize> {
    std::env::var("BENCH_RECORD_CONNECTIONS").map_or_else(
        |_| vec![1, 16],
        |list| {
            list.split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .expect("BENCH_RECORD_CONNECTIONS: numbers, comma-separated")
                })
                .collect()
        },
    )
}

/// What one recording run measured, for the summary.
struct Recorded {
    connections: usize,
    calls: usize,
    rate: f64,
    /// Its rate divided by the passthrough proxy's in the same round.
    versus_passthrough: f64,
    cpu_us: f64,
    disk_kb: f64,
}

/// What one scenario measured on one server.
struct Measured {
    name: &'static str,
    connections: usize,
    run: Run,
    cpu_us: f64,
    disk_kb: f64,
    peak_mb: f64,
}

impl Measured {
    /// Drives `calls` calls through `server` and reads what its process spent on them.
    fn of(
        runtime: &tokio::runtime::Runtime,
        server: &Server,
        connections: usize,
        calls: usize,
        limit: Duration,
    ) -> Self {
        let pid = server.child.id();
        let (ticks, written) = (server.cpu_ticks(), disk_written(pid));
        let run = runtime.block_on(drive(server.addr, connections, calls, limit));
        let per_call = |total: f64| total / run.answered as f64;
        assert_eq!(run.errors, 0, "{} failed calls", server.name);
        Self {
            name: server.name,
            connections,
            cpu_us: per_call((server.cpu_ticks() - ticks) as f64 / clock_ticks_per_second() * 1e6),
            disk_kb: per_call((disk_written(pid) - written) / 1024.0),
            peak_mb: proc_status_kb(pid, "VmHWM:") / 1024.0,
            run,
        }
    }

    /// One line of the table; `file` is the cassette's size and the exit time, for recordings.
    fn print(&self, versus: f64, file: Option<(f64, Duration)>, cut: bool) {
        let (file_mb, exit_ms) = match file {
            Some((mb, exit)) => (
                format!("{mb:.1}"),
                format!("{:.0}", exit.as_secs_f64() * 1e3),
            ),
            None => (String::new(), String::new()),
        };
        println!(
            "{:<20} {:>5} {:>7} {:>8.0} {:>8.0} {:>6.2} {:>7.0} {:>7.0} {:>8.0} {:>6.0} {:>7.2} {:>7} {:>7.1} {:>7}{}",
            self.name,
            self.connections,
            self.run.answered,
            self.run.rate(),
            self.run.last_tenth_rate(),
            self.run.rate() / versus,
            self.run.percentile(0.5),
            self.run.percentile(0.99),
            self.run.percentile(1.0),
            self.cpu_us,
            self.disk_kb,
            file_mb,
            self.peak_mb,
            exit_ms,
            if cut {
                " (cut by BENCH_RECORD_SECONDS)"
            } else {
                ""
            },
        );
    }
}

fn main() {
    if std::env::args().any(|arg| arg == "--baseline-server") {
        return baseline_server();
    }
    // Without `--bench` (`cargo test --all-targets`), a brief check that recording still works.
    let measuring = support::measuring("record");
    PINNED.get_or_init(|| measuring);
    if measuring {
        pin_load_generator();
        println!(
            "proxy pinned to CPU {SERVER_CPU}; the upstream and the load generator to CPU {CLIENT_CPU}"
        );
    }
    let limit = Duration::from_secs(
        std::env::var("BENCH_RECORD_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(600),
    );
    let sizes = sizes(measuring);
    let connection_counts = connection_counts();
    let upstream = Server::spawn_on(CLIENT_CPU, "upstream", baseline_command(&[]));
    let upstream_url = format!("http://{}", upstream.addr);
    let work = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{:<20} {:>5} {:>7} {:>8} {:>8} {:>6} {:>7} {:>7} {:>8} {:>6} {:>7} {:>7} {:>7} {:>7}",
        "scenario",
        "conns",
        "calls",
        "calls/s",
        "last 10%",
        "× pass",
        "p50 µs",
        "p99 µs",
        "max µs",
        "CPU µs",
        "disk KB",
        "file MB",
        "peak MB",
        "exit ms"
    );
    let mut recorded: Vec<Recorded> = Vec::new();
    for &connections in &connection_counts {
        for (round, &size) in sizes.iter().enumerate() {
            let proxy = |mode: &str, name: &'static str| {
                let cassettes = work.path().join(format!("cassettes-{connections}-{round}"));
                let mut command = ssm_vcr_command();
                command
                    .args(["serve", "--listen", "127.0.0.1:0", "--mode", mode])
                    .args(["--upstream", &upstream_url, "--no-audit"])
                    .args(["--cassette", "recording", "--cassette-dir"])
                    .arg(&cassettes);
                (
                    Server::spawn(name, command),
                    cassettes.join("recording.json"),
                )
            };
            // The baselines first, on at most BASELINE_CALLS calls: their cost does not grow.
            let baseline_calls = size.min(BASELINE_CALLS);
            let (passthrough, _) = proxy("passthrough", "  passthrough");
            let forwarding =
                Measured::of(&runtime, &passthrough, connections, baseline_calls, limit);
            drop(passthrough);
            let lines = work.path().join(format!("baseline-{connections}-{round}"));
            let durable = Server::spawn(
                "  bare hyper + fsync",
                baseline_command(&["--fsync-to", lines.to_str().unwrap()]),
            );
            let floor = Measured::of(&runtime, &durable, connections, baseline_calls, limit);
            drop(durable);

            let (mut recorder, cassette_file) = proxy("record", "record");
            let recording = Measured::of(&runtime, &recorder, connections, size, limit);
            let exit = stop(&mut recorder);
            let cassette = ssm_vcr::harness::read_cassette(&cassette_file).unwrap();
            assert_eq!(
                cassette.interactions.len(),
                recording.run.answered,
                "the cassette must hold every call answered"
            );
            assert!(
                !Path::new(&format!("{}.journal", cassette_file.display())).exists(),
                "a stopped proxy leaves no journal"
            );
            let file_mb = std::fs::metadata(&cassette_file).unwrap().len() as f64 / 1e6;
            let versus = forwarding.run.rate();
            recorded.push(Recorded {
                connections,
                calls: recording.run.answered,
                rate: recording.run.rate(),
                versus_passthrough: recording.run.rate() / versus,
                cpu_us: recording.cpu_us,
                disk_kb: recording.disk_kb,
            });
            let cut = recording.run.answered < size;
            recording.print(versus, Some((file_mb, exit)), cut);
            forwarding.print(versus, None, false);
            floor.print(versus, None, false);
        }
    }
    for &connections in &connection_counts {
        let runs: Vec<&Recorded> = recorded
            .iter()
            .filter(|r| r.connections == connections)
            .collect();
        let (Some(smallest), Some(largest)) = (
            runs.iter().map(|r| r.calls).min(),
            runs.iter().map(|r| r.calls).max(),
        ) else {
            continue;
        };
        // The mean over the runs of one size: the smallest is run twice.
        let mean = |calls: usize, field: fn(&Recorded) -> f64| {
            let of: Vec<f64> = runs
                .iter()
                .filter(|r| r.calls == calls)
                .map(|r| field(r))
                .collect();
            of.iter().sum::<f64>() / of.len() as f64
        };
        let ratio = |field: fn(&Recorded) -> f64| mean(largest, field) / mean(smallest, field);
        println!(
            "{connections} connection(s), {largest} vs {smallest} calls recorded: calls/s {:.2}×, \
             calls/s relative to passthrough {:.2}×, CPU per call {:.2}×, disk per call {:.2}×",
            ratio(|r| r.rate),
            ratio(|r| r.versus_passthrough),
            ratio(|r| r.cpu_us),
            ratio(|r| r.disk_kb),
        );
    }
    drop(upstream);
}
