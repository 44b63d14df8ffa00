//! The run report: what a run did with its cassettes, for a CI job to fail on and a test suite
//! to assert on.
//!
//! A [`Report`] is plain data: the calls answered, by outcome, and one [`CassetteReport`] per
//! cassette that calls reached, with the recorded interactions they never used and the calls
//! that found no recording. It is printed by `serve` at shutdown, written as JSON by
//! `--report`, served at `/__ssm-vcr/report` and returned by the library's handle. This module
//! owns the report's shape, its text and the `--fail-on-*` verdict; counting is the
//! pipeline's and the cassettes' job.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// How a call was answered: the label of the `ssm_vcr_calls_total` metric, the access log's
/// `outcome` and the run report's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// From a cassette.
    Replayed,
    /// By the upstream, not recorded.
    Forwarded,
    /// By the upstream, and recorded into a cassette.
    Recorded,
    /// No recorded answer was left for it (replay mode).
    Missed,
    /// Refused by validation, as AWS would (`ValidationException`).
    Invalid,
    /// Its cassette could not be opened.
    CassetteUnavailable,
    /// Its audit record could not be written, so it was refused.
    AuditFailed,
    /// The upstream gave no answer.
    UpstreamFailed,
    /// Refused before validation: not an SSM call, bad envelope, body too large, not forwardable.
    Rejected,
}

impl Outcome {
    /// Every outcome, in the order reports list them.
    pub const ALL: [Self; 9] = [
        Self::Replayed,
        Self::Forwarded,
        Self::Recorded,
        Self::Missed,
        Self::Invalid,
        Self::CassetteUnavailable,
        Self::AuditFailed,
        Self::UpstreamFailed,
        Self::Rejected,
    ];

    /// The outcome's name in logs, metrics and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replayed => "replayed",
            Self::Forwarded => "forwarded",
            Self::Recorded => "recorded",
            Self::Missed => "missed",
            Self::Invalid => "invalid",
            Self::CassetteUnavailable => "cassette_unavailable",
            Self::AuditFailed => "audit_failed",
            Self::UpstreamFailed => "upstream_failed",
            Self::Rejected => "rejected",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A count of calls per outcome, shared by concurrent requests without a lock.
#[derive(Debug, Default)]
pub(crate) struct OutcomeCounts([AtomicU64; Outcome::ALL.len()]);

impl OutcomeCounts {
    /// Counts one call.
    pub(crate) fn add(&self, outcome: Outcome) {
        self.0[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// How many calls had `outcome`.
    pub(crate) fn get(&self, outcome: Outcome) -> u64 {
        self.0[outcome as usize].load(Ordering::Relaxed)
    }

    /// Whether any call was counted.
    pub(crate) fn any(&self) -> bool {
        Outcome::ALL.iter().any(|&outcome| self.get(outcome) > 0)
    }

    /// The outcomes that happened, by name, as the report lists them.
    pub(crate) fn by_name(&self) -> BTreeMap<&'static str, u64> {
        (Outcome::ALL.iter())
            .map(|&outcome| (outcome.as_str(), self.get(outcome)))
            .filter(|&(_, count)| count > 0)
            .collect()
    }
}

/// What a run did, so far or at its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The proxy's mode.
    pub mode: String,
    /// Every call answered, by outcome name (outcomes that never happened are left out).
    pub calls: BTreeMap<&'static str, u64>,
    /// The cassettes that calls reached, by name.
    pub cassettes: Vec<CassetteReport>,
}

/// One cassette's part of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CassetteReport {
    /// The cassette's name (`/cassette/<name>/`, or the default one).
    pub name: String,
    /// Its file.
    pub path: PathBuf,
    /// Interactions it held when it was opened (0 when recording into a new cassette).
    pub interactions: usize,
    /// Calls answered from it.
    pub replayed: u64,
    /// Recorded interactions no call has used (since the last reset), in cassette order.
    pub unused: Vec<UnusedInteraction>,
    /// Calls to it that found no recorded answer.
    pub misses: u64,
    /// The first [`MAX_LISTED_MISSES`] of those calls.
    pub missed: Vec<MissedCall>,
    /// Calls to it refused by validation.
    pub invalid: u64,
    /// Interactions recorded into it.
    pub recorded: u64,
    /// Recorded polls that fast-forward answered past: a waiter got the answer that ends its
    /// wait at once, and these count as used.
    pub skipped_polls: u64,
    /// What replay did with the placeholders of the client's secrets.
    pub secrets: SecretsReport,
}

/// What replay did with a cassette's placeholders of sensitive values; never a value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SecretsReport {
    /// Placeholders bound now, to what clients sent or to the environment.
    pub bound: usize,
    /// Placeholders that answers carried while unbound, so the client read `REDACTED-n`.
    pub served_unbound: Vec<String>,
    /// Placeholders a client sent two different values for, the first ones listed.
    pub conflicts: Vec<SecretConflict>,
}

/// A client that sent two different values where the recording had one placeholder: the flow
/// diverged in a way matching cannot see, as values are never matched on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretConflict {
    /// The placeholder, e.g. `REDACTED-1`.
    pub placeholder: String,
    /// The interaction whose request brought the other value, from 0.
    pub interaction: usize,
    /// Its operation.
    pub operation: String,
}

/// How many missed calls a cassette's report lists; the rest are only counted.
pub const MAX_LISTED_MISSES: usize = 20;

/// A recorded interaction that no call used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnusedInteraction {
    /// Its position in the cassette, from 0.
    pub index: usize,
    /// Its operation.
    pub operation: String,
}

/// A call that found no recorded answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissedCall {
    /// The operation called.
    pub operation: String,
    /// Why nothing answered it.
    pub reason: String,
}

/// What makes a run fail (`--fail-on-unused`, `--fail-on-miss`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailOn {
    /// A recorded interaction of a reported cassette was never used.
    pub unused: bool,
    /// A call found no recorded answer.
    pub miss: bool,
}

impl Report {
    /// Recorded interactions never used, over every reported cassette.
    pub fn unused_count(&self) -> usize {
        self.cassettes.iter().map(|c| c.unused.len()).sum()
    }

    /// Calls that found no recorded answer.
    pub fn misses(&self) -> u64 {
        self.calls
            .get(Outcome::Missed.as_str())
            .copied()
            .unwrap_or(0)
    }

    /// Why this run fails under `fail_on`, one reason per line; empty when it passes.
    pub fn failures(&self, fail_on: FailOn) -> Vec<String> {
        let mut reasons = Vec::new();
        let unused = self.unused_count();
        if fail_on.unused && unused > 0 {
            reasons.push(format!(
                "{unused} recorded interaction(s) were never used (--fail-on-unused)"
            ));
        }
        let misses = self.misses();
        if fail_on.miss && misses > 0 {
            reasons.push(format!(
                "{misses} call(s) found no recorded answer (--fail-on-miss)"
            ));
        }
        reasons
    }
}

impl fmt::Display for Report {
    /// The report as `serve` prints it at shutdown: totals, then per cassette what was used,
    /// what was not and what missed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total: u64 = self.calls.values().sum();
        write!(f, "run report ({} mode): {total} call(s)", self.mode)?;
        for (outcome, count) in &self.calls {
            write!(f, ", {count} {outcome}")?;
        }
        writeln!(f)?;
        if self.cassettes.is_empty() {
            writeln!(f, "  no call reached a cassette")?;
        }
        for cassette in &self.cassettes {
            write!(
                f,
                "  cassette '{}' ({}): {} call(s) replayed",
                cassette.name,
                cassette.path.display(),
                cassette.replayed
            )?;
            if cassette.interactions > 0 {
                let used = cassette.interactions - cassette.unused.len();
                write!(
                    f,
                    ", {used} of {} interaction(s) used",
                    cassette.interactions
                )?;
            }
            for (count, what) in [
                (cassette.misses, "missed"),
                (cassette.invalid, "invalid"),
                (cassette.recorded, "recorded"),
                (cassette.skipped_polls, "poll(s) skipped"),
            ] {
                if count > 0 {
                    write!(f, ", {count} {what}")?;
                }
            }
            writeln!(f)?;
            for unused in &cassette.unused {
                writeln!(
                    f,
                    "    unused: interaction {} ({})",
                    unused.index, unused.operation
                )?;
            }
            for missed in &cassette.missed {
                writeln!(f, "    missed: {}: {}", missed.operation, missed.reason)?;
            }
            let unlisted = cassette.misses.saturating_sub(cassette.missed.len() as u64);
            if unlisted > 0 {
                writeln!(f, "    … and {unlisted} more missed call(s)")?;
            }
            let secrets = &cassette.secrets;
            if let Some(first) = secrets.served_unbound.first() {
                writeln!(
                    f,
                    "    served unbound: {} (no client sent these values; bind one from the \
                     environment with --bind-secret {first}=env:VARIABLE)",
                    secrets.served_unbound.join(", ")
                )?;
            }
            for conflict in &secrets.conflicts {
                writeln!(
                    f,
                    "    diverged: {} at interaction {} ({}): the client sent another value \
                     than before for this placeholder",
                    conflict.placeholder, conflict.interaction, conflict.operation
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            mode: "replay".to_owned(),
            calls: [("replayed", 3), ("missed", 1)].into_iter().collect(),
            cassettes: vec![CassetteReport {
                name: "flow".to_owned(),
                path: "cassettes/flow.json".into(),
                interactions: 4,
                replayed: 3,
                unused: vec![UnusedInteraction {
                    index: 2,
                    operation: "DescribeMaintenanceWindows".to_owned(),
                }],
                misses: 1,
                missed: vec![MissedCall {
                    operation: "GetParameter".to_owned(),
                    reason: "never recorded".to_owned(),
                }],
                invalid: 0,
                recorded: 0,
                skipped_polls: 2,
                secrets: SecretsReport {
                    bound: 1,
                    served_unbound: vec!["REDACTED-3".to_owned()],
                    conflicts: vec![SecretConflict {
                        placeholder: "REDACTED-1".to_owned(),
                        interaction: 5,
                        operation: "PutParameter".to_owned(),
                    }],
                },
            }],
        }
    }

    #[test]
    fn the_text_names_each_unused_interaction_and_missed_call() {
        assert_eq!(
            report().to_string(),
            "run report (replay mode): 4 call(s), 1 missed, 3 replayed\n  \
             cassette 'flow' (cassettes/flow.json): 3 call(s) replayed, 3 of 4 interaction(s) used, 1 missed, \
             2 poll(s) skipped\n    \
             unused: interaction 2 (DescribeMaintenanceWindows)\n    \
             missed: GetParameter: never recorded\n    \
             served unbound: REDACTED-3 (no client sent these values; bind one from the environment with \
             --bind-secret REDACTED-3=env:VARIABLE)\n    \
             diverged: REDACTED-1 at interaction 5 (PutParameter): the client sent another value than before \
             for this placeholder\n"
        );
    }

    #[test]
    fn fails_only_on_what_was_asked() {
        let report = report();
        assert!(report.failures(FailOn::default()).is_empty());
        assert_eq!(
            report.failures(FailOn {
                unused: true,
                miss: false
            }),
            ["1 recorded interaction(s) were never used (--fail-on-unused)"]
        );
        assert_eq!(
            report
                .failures(FailOn {
                    unused: true,
                    miss: true
                })
                .len(),
            2
        );
    }
}
