//! What the SSM model costs: reading it at start-up, compiling each pattern on its first use,
//! and validating a call.
//!
//! ```text
//! cargo bench --bench model
//! ```
//!
//! The model is read once per process, so its figure is this process's first read (run the
//! bench a few times to see its spread). Patterns are compiled on the first value checked
//! against them; the table lists the slowest, which is what the first call of an operation can
//! wait for. Validation is timed on the deregistration every benchmark sends, and on a nested
//! SendCommand call.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ssm_vcr::Json;
use ssm_vcr::harness::{Kind, Operation, provenance, ssm, validate};

fn main() {
    // Under `cargo test` the bench only checks that every step still runs.
    let measuring = std::env::args().any(|arg| arg == "--bench");
    if !measuring {
        println!(
            "SMOKE RUN of the model bench: checks that it runs; its figures come from a debug \
             build and measure nothing (`cargo bench --bench model` measures)"
        );
    }
    let started = Instant::now();
    let model = ssm();
    let read = started.elapsed();
    let started = Instant::now();
    let digest = provenance().sha256;
    let digested = started.elapsed();
    println!(
        "model read: {:.1} ms ({} operations, {} shapes); digest: {:.1} ms ({}…)",
        ms(read),
        model.operations().count(),
        model.shapes().count(),
        ms(digested),
        &digest[..12]
    );

    let mut compiled: Vec<(Duration, String, String)> = model
        .shapes()
        .filter_map(|shape| match &shape.kind {
            Kind::String {
                pattern: Some(pattern),
                ..
            } => {
                let started = Instant::now();
                let engine = pattern.engine();
                let took = started.elapsed();
                let kib = pattern.memory_usage() / 1024;
                Some((took, shape.name.clone(), format!("{engine:?}, {kib} KiB")))
            }
            _ => None,
        })
        .collect();
    let total: Duration = compiled.iter().map(|(took, ..)| *took).sum();
    compiled.sort_by_key(|(took, ..)| std::cmp::Reverse(*took));
    println!(
        "patterns: {} compiled in {:.1} ms in all; slowest first uses:",
        compiled.len(),
        ms(total)
    );
    for (took, shape, engine) in compiled.iter().take(12) {
        println!("  {:>8.2} ms  {shape} ({engine})", ms(*took));
    }

    for (name, body) in [
        (
            "DeregisterTaskFromMaintenanceWindow",
            r#"{"WindowId":"mw-0c50858d01e8a7b6f","WindowTaskId":"50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c"}"#,
        ),
        (
            "SendCommand",
            r#"{"DocumentName":"AWS-RunShellScript","Targets":[{"Key":"tag:Env","Values":["prod","staging"]}],"Parameters":{"commands":["uptime"]},"TimeoutSeconds":600,"MaxConcurrency":"10%","MaxErrors":"1"}"#,
        ),
    ] {
        let operation = Operation::named(name).expect("modeled");
        let Json::Object(input) = Json::parse(body.as_bytes()).expect("JSON") else {
            unreachable!("an object");
        };
        validate(operation, &input).expect("valid");
        let calls = if measuring { 200_000u32 } else { 10 };
        let started = Instant::now();
        for _ in 0..calls {
            black_box(validate(operation, black_box(&input))).expect("valid");
        }
        let each = started.elapsed().as_secs_f64() * 1e9 / f64::from(calls);
        println!("validate {name}: {each:.0} ns per call");
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
