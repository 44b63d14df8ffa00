//! How cassette cost grows with size: load time, memory and lookup time for cassettes of 1k,
//! 10k and 100k interactions.
//!
//! ```text
//! cargo bench --bench cassette_scale
//! ```
//!
//! Each cassette holds distinct deregistrations (one per task id), written to a temporary
//! folder in the real format and opened the way `serve` opens its default cassette. Lookups
//! replay random recorded requests, building the matching key each time as a request does.

mod support;

use std::time::Instant;

use serde_json::json;
use ssm_vcr::Json;
use ssm_vcr::harness::{
    Body, CassetteName, IgnoreRules, Interaction, Library, Opening, Operation, RecordedRequest,
    RecordedResponse, Replaying, WhenExhausted,
};
use ssm_vcr::{Cassette, Mode};
use support::proc_status_kb;

const WINDOW: &str = "mw-0c50858d01e8a7b6f";

fn task(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

fn interaction(i: usize) -> Interaction {
    let body = json!({"WindowId": WINDOW, "WindowTaskId": task(i)});
    Interaction {
        operation: "DeregisterTaskFromMaintenanceWindow".to_owned(),
        region: "us-east-1".to_owned(),
        recorded_at: "2026-11-25T09:00:00Z".to_owned(),
        response: RecordedResponse {
            status: 200,
            headers: [
                (
                    "content-type".to_owned(),
                    "application/x-amz-json-1.1".to_owned(),
                ),
                (
                    "x-amzn-requestid".to_owned(),
                    format!("00000000-0000-4000-8000-{i:012x}"),
                ),
            ]
            .into(),
            // As the recorder stores it: readable JSON.
            body: Body::from_bytes(body.to_string().as_bytes()),
        },
        request: RecordedRequest {
            body: Json::from(&body),
        },
        repeat: 1,
    }
}

/// This process's resident memory, in KB.
fn rss_kb() -> f64 {
    proc_status_kb(std::process::id(), "VmRSS:")
}

fn main() {
    let measuring = support::measuring("cassette_scale");
    let sizes: &[usize] = if measuring {
        &[1_000, 10_000, 100_000]
    } else {
        &[1_000]
    };
    let lookups = if measuring { 200_000 } else { 1_000 };
    let dir = tempfile::tempdir().unwrap();
    println!(
        "{:>13} {:>10} {:>11} {:>12} {:>15}",
        "interactions", "file MB", "load ms", "memory MB", "lookup µs"
    );
    for &size in sizes {
        let name = format!("scale-{size}");
        let mut cassette = Cassette::new();
        cassette.interactions = (0..size).map(interaction).collect();
        let bytes = cassette.to_json();
        std::fs::write(dir.path().join(format!("{name}.json")), &bytes).unwrap();
        drop(cassette);

        let before = rss_kb();
        let started = Instant::now();
        let library = Library::new(
            dir.path().to_owned(),
            Some(CassetteName::parse(&name).unwrap()),
            None,
            Opening {
                mode: Mode::Replay,
                rules: IgnoreRules::new::<&str>(&[]).unwrap(),
                replaying: Replaying {
                    when_exhausted: WhenExhausted::RepeatLast,
                    fast_forward_waiters: true,
                },
                env_bindings: Default::default(),
                compact_journal_bytes: u64::MAX,
            },
        )
        .unwrap();
        let session = library
            .default_session()
            .expect("a default cassette was named");
        let load = started.elapsed();
        let memory = (rss_kb() - before) / 1024.0;
        let tape = session.tape.as_ref().unwrap();
        let deregister = Operation::named("DeregisterTaskFromMaintenanceWindow").unwrap();

        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let started = Instant::now();
        for _ in 0..lookups {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state % size as u64) as usize;
            let sent = format!(r#"{{"WindowId":"{WINDOW}","WindowTaskId":"{}"}}"#, task(i));
            let body = Json::parse(sent.as_bytes()).unwrap();
            let played = tape.play(deregister, "us-east-1", &body).unwrap();
            assert_eq!(played.index, i);
        }
        let lookup = started.elapsed().as_secs_f64() * 1e6 / f64::from(lookups);
        println!(
            "{size:>13} {:>10.1} {:>11.1} {memory:>12.1} {lookup:>15.2}",
            bytes.len() as f64 / 1e6,
            load.as_secs_f64() * 1e3
        );
    }
}
