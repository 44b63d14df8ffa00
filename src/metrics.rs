//! The proxy's Prometheus metrics, kept per proxy (two proxies of one test process never share a
//! count) and rendered in the Prometheus text format (0.0.4) by `prometheus-client`.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `ssm_vcr_calls_total` | counter | `operation`, `outcome` |
//! | `ssm_vcr_call_duration_seconds` | histogram | |
//! | `ssm_vcr_upstream_errors_total` | counter | |
//! | `ssm_vcr_skipped_polls_total` | counter | |
//! | `ssm_vcr_forward_proxy_refusals_total` | counter | |
//! | `ssm_vcr_audit_write_duration_seconds` | histogram | |
//! | `ssm_vcr_audit_write_failures_total` | counter | |
//! | `ssm_vcr_audit_syncs_total` | counter (with the audit log on) | |
//! | `ssm_vcr_audit_checkpoint_size` | gauge (once a checkpoint is issued) | |
//! | `ssm_vcr_audit_checkpoint_timestamp_seconds` | gauge (once a checkpoint is issued) | |
//! | `ssm_vcr_log_lines_dropped_total` | counter | |
//! | `ssm_vcr_open_connections` | gauge | |
//!
//! This module counts what it is told; the pipeline and the listener decide what happened.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::audit::{LatestCheckpoint, SyncCount};
use crate::aws::model::{Operation, ssm};
use crate::report::{Outcome, OutcomeCounts};

/// The `Content-Type` of [`Metrics::render`]'s text.
pub(crate) const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The `operation` label of a call whose operation is not known (not an SSM call).
const NO_OPERATION: &str = "unknown";

#[derive(Debug, EncodeLabelSet)]
struct CallLabels {
    operation: &'static str,
    outcome: &'static str,
}

/// `ssm_vcr_calls_total`: one row of counts per model operation, then one for calls that
/// named none. Counting a call indexes it, where a label family would hash its labels under a
/// lock on every call.
#[derive(Debug, Clone)]
struct CallCounts(Arc<[OutcomeCounts]>);

impl CallCounts {
    fn new() -> Self {
        let rows = ssm().operation_count() + 1;
        Self((0..rows).map(|_| OutcomeCounts::default()).collect())
    }

    fn add(&self, operation: Option<Operation>, outcome: Outcome) {
        let row = operation.map_or(self.0.len() - 1, |operation| operation.index());
        self.0[row].add(outcome);
    }
}

impl Collector for CallCounts {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "ssm_vcr_calls",
            "SSM calls answered, by operation and outcome",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        let operations =
            (ssm().operations().map(|operation| operation.as_str())).chain([NO_OPERATION]);
        for (operation, counts) in operations.zip(self.0.iter()) {
            for outcome in Outcome::ALL {
                let count = counts.get(outcome);
                if count > 0 {
                    let labels = CallLabels {
                        operation,
                        outcome: outcome.as_str(),
                    };
                    ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }
}

/// One proxy's metrics.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    calls: CallCounts,
    call_duration: Histogram,
    upstream_errors: Counter,
    skipped_polls: Counter,
    forward_proxy_refusals: Counter,
    audit_write_duration: Histogram,
    audit_write_failures: Counter,
    open_connections: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let calls = CallCounts::new();
        registry.register_collector(Box::new(calls.clone()));
        // 50 µs to about 13 s: a replayed call to a forwarded one that times out.
        let call_duration = Histogram::new(exponential_buckets(50e-6, 2.0, 19));
        registry.register(
            "ssm_vcr_call_duration_seconds",
            "Time from a call's arrival to its answer, audit included",
            call_duration.clone(),
        );
        let upstream_errors = Counter::default();
        registry.register(
            "ssm_vcr_upstream_errors",
            "Forwarded calls the upstream gave no answer to",
            upstream_errors.clone(),
        );
        let skipped_polls = Counter::default();
        registry.register(
            "ssm_vcr_skipped_polls",
            "Recorded polls of a waiter's operation answered past, straight to the answer that ends the wait",
            skipped_polls.clone(),
        );
        let forward_proxy_refusals = Counter::default();
        registry.register(
            "ssm_vcr_forward_proxy_refusals",
            "CONNECTs and proxy requests answered with an error instead of being served: a host that is not intercepted or tunnelled, or a tunnel that could not be opened",
            forward_proxy_refusals.clone(),
        );
        // 10 µs to about 2.6 s: a page-cache write to a disk that stalls.
        let audit_write_duration = Histogram::new(exponential_buckets(10e-6, 2.0, 19));
        registry.register(
            "ssm_vcr_audit_write_duration_seconds",
            "Time for an audit record to be written and fsynced",
            audit_write_duration.clone(),
        );
        let audit_write_failures = Counter::default();
        registry.register(
            "ssm_vcr_audit_write_failures",
            "Audit records that could not be written",
            audit_write_failures.clone(),
        );
        let open_connections = Gauge::default();
        registry.register(
            "ssm_vcr_open_connections",
            "Client connections open now",
            open_connections.clone(),
        );
        registry.register_collector(Box::new(DroppedLogLines));
        Self {
            registry,
            calls,
            call_duration,
            upstream_errors,
            skipped_polls,
            forward_proxy_refusals,
            audit_write_duration,
            audit_write_failures,
            open_connections,
        }
    }
}

impl Metrics {
    /// Counts recorded polls that a replayed call answered past.
    pub(crate) fn skipped_polls(&self, polls: usize) {
        self.skipped_polls.inc_by(polls as u64);
    }

    /// Counts a forward-proxy request answered with an error.
    pub(crate) fn forward_proxy_refusal(&self) {
        self.forward_proxy_refusals.inc();
    }

    /// Counts an answered call.
    pub(crate) fn call(&self, operation: Option<Operation>, outcome: Outcome, took: Duration) {
        self.calls.add(operation, outcome);
        self.call_duration.observe(took.as_secs_f64());
        if outcome == Outcome::UpstreamFailed {
            self.upstream_errors.inc();
        }
    }

    /// Counts an audit write, done in `took` or failed.
    pub(crate) fn audit_write(&self, took: Duration, written: bool) {
        self.audit_write_duration.observe(took.as_secs_f64());
        if !written {
            self.audit_write_failures.inc();
        }
    }

    /// Exposes the audit log's fsyncs; with the records' count (the write histogram's) it
    /// tells how well concurrent calls share them.
    pub(crate) fn count_audit_syncs(&mut self, syncs: SyncCount) {
        self.registry
            .register_collector(Box::new(AuditSyncs(syncs)));
    }

    /// Exposes the latest audit checkpoint's tree size and time: an alert on its age catches a
    /// writer that stopped signing.
    pub(crate) fn show_audit_checkpoints(&mut self, latest: LatestCheckpoint) {
        self.registry
            .register_collector(Box::new(AuditCheckpoints(latest)));
    }

    /// Counts a connection as open until the returned guard is dropped.
    pub(crate) fn connection(&self) -> OpenConnection {
        self.open_connections.inc();
        OpenConnection(self.open_connections.clone())
    }

    /// Every metric, in the Prometheus text format.
    pub(crate) fn render(&self) -> String {
        let mut text = String::new();
        prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// `ssm_vcr_log_lines_dropped_total`, read from the operational log's queue at each scrape.
#[derive(Debug)]
struct DroppedLogLines;

impl Collector for DroppedLogLines {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let dropped = ConstCounter::new(crate::logging::dropped_lines());
        let metric = encoder.encode_descriptor(
            "ssm_vcr_log_lines_dropped",
            "Operational log lines (access lines included) dropped because the log's queue was full",
            None,
            dropped.metric_type(),
        )?;
        dropped.encode(metric)
    }
}

/// `ssm_vcr_audit_syncs_total`, read from the audit writer's own count at each scrape.
#[derive(Debug)]
struct AuditSyncs(SyncCount);

impl Collector for AuditSyncs {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let syncs = ConstCounter::new(self.0.get());
        let metric = encoder.encode_descriptor(
            "ssm_vcr_audit_syncs",
            "Audit log fsyncs, each making a batch of records durable",
            None,
            syncs.metric_type(),
        )?;
        syncs.encode(metric)
    }
}

/// `ssm_vcr_audit_checkpoint_size` and `…_timestamp_seconds`, read from the latest checkpoint
/// at each scrape.
#[derive(Debug)]
struct AuditCheckpoints(LatestCheckpoint);

impl Collector for AuditCheckpoints {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(latest) = self.0.get() else {
            return Ok(());
        };
        let size = ConstGauge::new(i64::try_from(latest.size).unwrap_or(i64::MAX));
        let metric = encoder.encode_descriptor(
            "ssm_vcr_audit_checkpoint_size",
            "Records covered by the latest signed audit checkpoint",
            None,
            size.metric_type(),
        )?;
        size.encode(metric)?;
        let time = ConstGauge::new(latest.unix_seconds);
        let metric = encoder.encode_descriptor(
            "ssm_vcr_audit_checkpoint_timestamp_seconds",
            "When the latest signed audit checkpoint was issued, in seconds since the Unix epoch",
            None,
            time.metric_type(),
        )?;
        time.encode(metric)
    }
}

/// An open client connection, counted until dropped.
#[derive(Debug)]
pub(crate) struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_calls_by_operation_and_outcome() {
        let metrics = Metrics::default();
        let took = Duration::from_micros(120);
        let describe = Operation::named("DescribeMaintenanceWindows");
        metrics.call(describe, Outcome::Replayed, took);
        metrics.call(describe, Outcome::Replayed, took);
        metrics.call(None, Outcome::Rejected, took);
        let open = metrics.connection();
        let text = metrics.render();
        assert!(text.contains(
            "ssm_vcr_calls_total{operation=\"DescribeMaintenanceWindows\",outcome=\"replayed\"} 2\n"
        ));
        assert!(
            text.contains("ssm_vcr_calls_total{operation=\"unknown\",outcome=\"rejected\"} 1\n")
        );
        assert!(text.contains("ssm_vcr_call_duration_seconds_count 3\n"));
        assert!(text.contains("ssm_vcr_open_connections 1\n"));
        drop(open);
        assert!(metrics.render().contains("ssm_vcr_open_connections 0\n"));
        assert!(
            !text.contains("ssm_vcr_audit_syncs"),
            "no audit log, no sync count"
        );
    }

    #[test]
    fn renders_the_audit_logs_sync_count() {
        let mut metrics = Metrics::default();
        metrics.count_audit_syncs(SyncCount::default());
        let text = metrics.render();
        assert!(
            text.contains("# TYPE ssm_vcr_audit_syncs_total counter\n"),
            "{text}"
        );
        assert!(text.contains("ssm_vcr_audit_syncs_total 0\n"), "{text}");
    }
}
