//! Operational logs through `tracing-subscriber`: a `RUST_LOG`-style filter, human or JSON
//! lines, on standard error (standard output carries only `listening on …`).
//!
//! Lines leave the request path at once: they are queued to one writer thread, which writes
//! them in batches through a buffer (`tracing-appender`'s non-blocking writer), so a call's
//! access-log line costs its formatting and a queue push, not a `write` of its own. Under
//! overload a full queue drops lines rather than slow calls down, and counts them
//! ([`dropped_lines`], the `ssm_vcr_log_lines_dropped_total` metric). The queue is written out
//! when the [`LogGuard`] is dropped, at exit.
//!
//! This is not the audit log; that is a separate file with its own guarantees.

use std::io::{BufWriter, IsTerminal as _};
use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Targets capped whatever the filter says: `aws_sigv4` logs the canonical request at debug and
/// trace level, and that includes `X-Amz-Security-Token`.
const SECRET_BEARING_TARGETS: [&str; 1] = ["aws_sigv4=info"];

/// Lines the queue holds before it drops them: about a second of access lines at the highest
/// rate measured (docs/BENCHMARKS.md), a few MB at most.
const QUEUED_LINES: usize = 128_000;

/// The writer thread's buffer: each batch of lines taken off the queue is one `write`, or a few.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// The count of lines dropped by the process's log queue, once it exists.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Keeps the log's writer thread alive; dropping it writes out every queued line.
#[must_use = "dropping the guard stops the log writer: hold it until exit"]
pub(crate) struct LogGuard {
    _writer: WorkerGuard,
}

/// Installs the global subscriber; `RUST_LOG` wins over the configured filter, except for the
/// targets that would log credentials. A second call (tests) keeps the first subscriber.
pub(crate) fn init(settings: &LogSettings) -> LogGuard {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    for cap in SECRET_BEARING_TARGETS {
        filter = filter.add_directive(cap.parse().expect("a valid directive"));
    }
    let stderr = std::io::stderr();
    let ansi = stderr.is_terminal();
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("ssm-vcr-log")
        .finish(BufWriter::with_capacity(WRITE_BUFFER_BYTES, stderr));
    let _ = DROPPED.set(writer.error_counter());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    let _ = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    LogGuard { _writer: guard }
}

/// Log lines dropped because the queue was full; 0 when the process has no log queue (a
/// library user's process).
pub(crate) fn dropped_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |counter| counter.dropped_lines() as u64)
}
