//! Operational logs through `tracing-subscriber`: a `RUST_LOG`-style filter, human or JSON
//! lines, on standard error (standard output carries only `listening on …`).
//!
//! This is not the audit log; that is a separate file with its own guarantees.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Targets capped whatever the filter says: `aws_sigv4` logs the canonical request at debug and
/// trace level, and that includes `X-Amz-Security-Token`.
const SECRET_BEARING_TARGETS: [&str; 1] = ["aws_sigv4=info"];

/// Installs the global subscriber; `RUST_LOG` wins over the configured filter, except for the
/// targets that would log credentials. A second call (tests) keeps the first subscriber.
pub(crate) fn init(settings: &LogSettings) {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    for cap in SECRET_BEARING_TARGETS {
        filter = filter.add_directive(cap.parse().expect("a valid directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
