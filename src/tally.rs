//! Counting a call, once: one [`CallRecord`] per answered call feeds the run report's counts
//! (the totals and its cassette's part), the Prometheus metrics and the access-log line.
//!
//! This module owns the run's totals and the metrics registry; it decides nothing about how a
//! call is answered (`pipeline/`) and keeps no per-cassette state of its own (the cassette's
//! session does).

use std::net::SocketAddr;
use std::time::Duration;

use tracing::info;

use crate::aws::model::Operation;
use crate::cassette::name::CassetteName;
use crate::cassette::store::Session;
use crate::metrics::Metrics;
use crate::mode::Mode;
use crate::report::{MissedCall, Outcome, OutcomeCounts};

/// Everything counted about one answered call.
#[derive(Debug)]
pub(crate) struct CallRecord<'a> {
    /// The client.
    pub(crate) peer: SocketAddr,
    /// The operation, once the target named one.
    pub(crate) operation: Option<Operation>,
    /// The cassette the call selected, by path or as the default.
    pub(crate) cassette: Option<&'a CassetteName>,
    /// That cassette's session, when a call has opened it.
    pub(crate) session: Option<&'a Session>,
    /// The recorded interaction that answered it, or that it became.
    pub(crate) interaction: Option<usize>,
    /// How it was answered.
    pub(crate) outcome: Outcome,
    /// The answer's status code.
    pub(crate) status: u16,
    /// From the first byte read to the answer.
    pub(crate) took: Duration,
    /// What a replay miss lacked, for the run report.
    pub(crate) missed: Option<MissedCall>,
    /// Recorded polls a waiter was answered past.
    pub(crate) skipped_polls: usize,
}

/// The run's counts and metrics.
#[derive(Debug)]
pub(crate) struct Tally {
    mode: Mode,
    /// Every call answered, by outcome, for the run report.
    counts: OutcomeCounts,
    /// The metrics registry, which the proxy's other parts count into too.
    pub(crate) metrics: Metrics,
}

impl Tally {
    /// Counts for a proxy in `mode`, into `metrics`.
    pub(crate) fn new(mode: Mode, metrics: Metrics) -> Self {
        Self {
            mode,
            counts: OutcomeCounts::default(),
            metrics,
        }
    }

    /// Counts one answered call everywhere it is counted, and writes its access-log line.
    pub(crate) fn count(&self, call: CallRecord<'_>) {
        self.counts.add(call.outcome);
        if let Some(session) = call.session {
            session.count(call.outcome, call.missed);
        }
        self.metrics.call(call.operation, call.outcome, call.took);
        if call.skipped_polls > 0 {
            self.metrics.skipped_polls(call.skipped_polls);
        }
        info!(
            target: "ssm_vcr::access",
            peer = %call.peer,
            mode = self.mode.as_str(),
            ssm_target = call.operation.as_ref().map_or("-", Operation::as_str),
            cassette = call.cassette.map_or("-", CassetteName::as_str),
            interaction = call.interaction,
            outcome = call.outcome.as_str(),
            status = call.status,
            latency_us = call.took.as_micros() as u64,
        );
    }

    /// The run's calls, by outcome name, as the report lists them.
    pub(crate) fn calls(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.counts.by_name()
    }
}
