//! Replay throughput and latency, side by side with a bare hyper server in the same run.
//!
//! ```text
//! cargo bench --bench replay                 # 3 s per scenario
//! BENCH_SECONDS=10 cargo bench --bench replay
//! ```
//!
//! Scenarios, each driven by the same 200-byte Deregister POST over keep-alive HTTP/1.1
//! connections on 127.0.0.1, at 1 and 32 connections:
//! - `bare hyper`: a hyper server answering the recorded bytes, the physical limit here;
//! - `replay, audit off`: ssm-vcr replaying the shipped cassette (`repeat_last` on);
//! - `replay, audit on`: the same with the durable audit log (fsync per group commit).
//!
//! The load generator shares the machine with the server, as a CI job would; compare the
//! ratios to the baseline rather than the absolute figures.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use ssm_vcr::config::Config;
use ssm_vcr::proxy::Proxy;
use tokio::net::{TcpListener, TcpStream};

const BODY: &str = r#"{"WindowId": "mw-0c50858d01e8a7b6f", "WindowTaskId": "50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c"}"#;
const ANSWER: &str =
    r#"{"WindowId":"mw-0c50858d01e8a7b6f","WindowTaskId":"50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c"}"#;

struct Figures {
    requests: usize,
    errors: usize,
    seconds: f64,
    latencies_us: Vec<u32>,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        f64::from(self.latencies_us[index])
    }
}

async fn bare_hyper(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let service = service_fn(|request: Request<hyper::body::Incoming>| async move {
                let _ = request.into_body().collect().await;
                let mut response = Response::new(Full::new(Bytes::from_static(ANSWER.as_bytes())));
                response.headers_mut().insert(
                    "content-type",
                    "application/x-amz-json-1.1".parse().unwrap(),
                );
                response.headers_mut().insert(
                    "x-amzn-requestid",
                    "5d9f6c1e-8a2b-4c3d-9e0f-1a2b3c4d5e05".parse().unwrap(),
                );
                Ok::<_, Infallible>(response)
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn start_proxy(audit: Option<&std::path::Path>) -> SocketAddr {
    let mut config = Config::default();
    config.cassettes.dir = concat!(env!("CARGO_MANIFEST_DIR"), "/cassettes").into();
    config.cassettes.repeat_last = true;
    config.audit.enabled = audit.is_some();
    if let Some(file) = audit {
        config.audit.file = file.to_owned();
    }
    let config = config.validate().expect("valid configuration");
    let proxy = Arc::new(Proxy::with_signer(&config, None).expect("proxy starts"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ =
            ssm_vcr::server::serve(listener, proxy, &config.limits, std::future::pending()).await;
    });
    addr
}

async fn drive(addr: SocketAddr, connections: usize, duration: Duration) -> Figures {
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(1 << 16);
                let mut errors = 0;
                let stream = TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
                tokio::spawn(connection);
                while Instant::now() < deadline {
                    let request = Request::post("/")
                        .header("host", "ssm")
                        .header("x-amz-target", "AmazonSSM.DeregisterTaskFromMaintenanceWindow")
                        .header("content-type", "application/x-amz-json-1.1")
                        .header(
                            "authorization",
                            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/ssm/aws4_request, \
                             SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123abcd",
                        )
                        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
                        .unwrap();
                    let sent = Instant::now();
                    match sender.send_request(request).await {
                        Ok(response) => {
                            let ok = response.status().as_u16() < 500;
                            let _ = response.into_body().collect().await;
                            if ok {
                                latencies.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                            } else {
                                errors += 1;
                            }
                        }
                        Err(_) => {
                            errors += 1;
                            break;
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut figures = Figures {
        requests: 0,
        errors: 0,
        seconds: 0.0,
        latencies_us: Vec::new(),
    };
    for worker in workers {
        let (latencies, errors) = worker.await.unwrap();
        figures.requests += latencies.len();
        figures.errors += errors;
        figures.latencies_us.extend(latencies);
    }
    figures.seconds = started.elapsed().as_secs_f64();
    figures.latencies_us.sort_unstable();
    figures
}

fn main() {
    // `cargo test --all-targets` runs this binary too, without `--bench`: then it only checks
    // that every scenario still answers, briefly, instead of measuring.
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if measuring { 3.0 } else { 0.1 });
    let duration = Duration::from_secs_f64(seconds);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let audit_dir = tempfile::tempdir().unwrap();
    let audit_file = audit_dir.path().join("audit.jsonl");

    runtime.block_on(async {
        let bare = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bare_addr = bare.local_addr().unwrap();
        tokio::spawn(bare_hyper(bare));
        let off = start_proxy(None).await;
        let on = start_proxy(Some(&audit_file)).await;
        let scenarios = [
            ("bare hyper (baseline)", bare_addr),
            ("replay, audit off", off),
            ("replay, audit on (fsync)", on),
        ];

        let purpose = if measuring {
            "replay benchmark"
        } else {
            "smoke run (cargo bench measures)"
        };
        println!(
            "{purpose}: {seconds} s per scenario, {} cores, loopback",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        println!(
            "{:<26} {:>5} {:>10} {:>8} {:>9} {:>9} {:>10} {:>7} {:>9}",
            "scenario",
            "conns",
            "req/s",
            "errors",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "× req/s",
            "× p99"
        );
        for connections in [1, 32] {
            let mut baseline: Option<Figures> = None;
            for (name, addr) in scenarios {
                let _ = drive(addr, connections, Duration::from_millis(300).min(duration)).await; // warm-up
                let figures = drive(addr, connections, duration).await;
                assert!(
                    figures.requests > 0 && figures.errors == 0,
                    "{name} failed to answer"
                );
                let (rate_ratio, p99_ratio) = baseline.as_ref().map_or((1.0, 1.0), |b| {
                    (
                        figures.rate() / b.rate(),
                        figures.percentile(0.99) / b.percentile(0.99),
                    )
                });
                println!(
                    "{:<26} {:>5} {:>10.0} {:>8} {:>9.0} {:>9.0} {:>10.0} {:>7.2} {:>9.2}",
                    name,
                    connections,
                    figures.rate(),
                    figures.errors,
                    figures.percentile(0.5),
                    figures.percentile(0.99),
                    figures.percentile(0.999),
                    rate_ratio,
                    p99_ratio
                );
                if baseline.is_none() {
                    baseline = Some(figures);
                }
            }
        }
    });
    let audited = std::fs::read_to_string(&audit_file)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    println!("audit records written: {audited}");
}
