//! [`Hall`]: everything the proxy's handlers share, built in one place from validated
//! [`Settings`]: the mode, the library of cassettes, the upstream, the audit log, the
//! interceptor of the forward-proxy mode, and the run's counts and metrics.
//!
//! [`Hall::open`] is the proxy's one composition root; the router, the pipeline, the proxy's
//! own endpoints and the public [`crate::Proxy`] read the hall's state directly. The hall does
//! not answer requests (`pipeline/`, `admin.rs`) nor own sockets (`server/`).

use std::sync::Arc;

use aws_credential_types::provider::SharedCredentialsProvider;

use crate::audit::keys::SigningKey;
use crate::audit::{AuditLog, CheckpointPolicy};
use crate::aws::model::Operation;
use crate::aws::sigv4::Signer;
use crate::cassette::format::Cassette;
use crate::cassette::name::CassetteName;
use crate::cassette::redact::Redaction;
use crate::cassette::store::Library;
use crate::config::{Forwarding, OnAuditFailure, Settings};
use crate::intercept::Interceptor;
use crate::metrics::Metrics;
use crate::mode::Mode;
use crate::report::Report;
use crate::start_error::StartError;
use crate::tally::Tally;
use crate::upstream::Upstream;

/// The proxy's shared state.
#[derive(Debug)]
pub(crate) struct Hall {
    pub(crate) mode: Mode,
    /// The region of calls that carry no SigV4 credential scope.
    pub(crate) region: String,
    pub(crate) max_body_bytes: usize,
    /// Shared with the blocking task that compacts it.
    pub(crate) library: Arc<Library>,
    /// `None` in replay mode, which never opens an outbound connection.
    pub(crate) upstream: Option<Upstream>,
    pub(crate) recording: Recording,
    /// Operations that may be forwarded; `None` means every SSM operation.
    pub(crate) forwardable: Option<Vec<Operation>>,
    /// `None` when the audit log is off.
    pub(crate) audit: Option<Audit>,
    pub(crate) interceptor: Interceptor,
    pub(crate) tally: Tally,
}

/// What recording needs beyond the cassette.
#[derive(Debug)]
pub(crate) struct Recording {
    /// Shared with the blocking task that records.
    pub(crate) redaction: Arc<Redaction>,
    /// Whether 5xx answers are recorded.
    pub(crate) record_server_errors: bool,
}

/// The audit log and the calls it holds.
#[derive(Debug)]
pub(crate) struct Audit {
    pub(crate) log: AuditLog,
    /// The operations whose every call is audited.
    pub(crate) operations: Vec<Operation>,
    pub(crate) on_failure: OnAuditFailure,
}

/// The client to the upstream, re-signing with `credentials`, else the standard AWS chain;
/// `purpose` (the mode, or `verify`) is what the error names when no credentials are found.
pub(crate) async fn signing_upstream(
    forwarding: &Forwarding,
    credentials: Option<SharedCredentialsProvider>,
    purpose: &'static str,
) -> Result<Upstream, StartError> {
    let signer = match credentials {
        Some(provider) => Signer::with_provider(provider).await,
        None => Signer::from_environment().await,
    };
    let signer = signer.map_err(|source| StartError::Credentials {
        mode: purpose,
        source,
    })?;
    Upstream::new(forwarding, Some(signer)).map_err(StartError::CaFile)
}

impl Hall {
    /// Builds the shared state for `settings`, with the default cassette's interactions taken
    /// from `in_memory` instead of its file when given. The default cassette and the audit
    /// log are opened now, and in forwarding modes credentials are resolved (from
    /// `credentials`, else the standard AWS chain), so that a broken setup stops start-up with
    /// a clear message.
    pub(crate) async fn open(
        settings: Settings,
        credentials: Option<SharedCredentialsProvider>,
        in_memory: Option<Cassette>,
    ) -> Result<Self, StartError> {
        let mode = settings.mode;
        let upstream = match (mode.forwards(), settings.interception.only) {
            (false, _) => None,
            // Forwarded calls carry their clients' own signatures.
            (true, true) => {
                Some(Upstream::new(&settings.forwarding, None).map_err(StartError::CaFile)?)
            }
            (true, false) => {
                let forwarding = &settings.forwarding;
                Some(signing_upstream(forwarding, credentials, mode.as_str()).await?)
            }
        };
        // Read the model now, so that the first call does not wait for it; patterns are
        // compiled on first use, which keeps the memory of the ones never used.
        crate::aws::model::ssm();
        let cassettes = settings.cassettes;
        if in_memory.is_some() && cassettes.default.is_none() {
            return Err(StartError::InMemoryWithoutName);
        }
        let library = Library::new(
            cassettes.dir,
            cassettes.default,
            in_memory,
            cassettes.opening,
        )
        .map_err(|unopened| StartError::Cassette {
            path: unopened.path,
            source: unopened.source,
        })?;
        let mut metrics = Metrics::default();
        let audit = match settings.audit {
            Some(auditing) => {
                let checkpoints = match auditing.checkpoints {
                    Some(checkpoints) => Some(CheckpointPolicy {
                        key: (SigningKey::load(&checkpoints.key_file))
                            .map_err(|e| StartError::Audit(e.into()))?,
                        every: checkpoints.every,
                        interval: checkpoints.interval,
                        origin: checkpoints.origin,
                    }),
                    None => None,
                };
                let log = AuditLog::open(
                    &auditing.file,
                    auditing.layout,
                    auditing.batch_wait,
                    mode.as_str(),
                    checkpoints,
                )
                .map_err(StartError::Audit)?;
                metrics.count_audit_syncs(log.syncs());
                metrics.show_audit_checkpoints(log.latest_checkpoint());
                Some(Audit {
                    log,
                    operations: auditing.operations,
                    on_failure: auditing.on_failure,
                })
            }
            None => None,
        };
        for kept in cassettes.redaction.kept() {
            tracing::warn!(
                kept = %kept,
                "cassettes.keep_sensitive: this sensitive value is recorded in plain text; \
                 do not commit such cassettes where others can read them"
            );
        }
        let interception = settings.interception;
        let interceptor = Interceptor::new(
            mode,
            interception.ca_dir,
            interception.tunnel_hosts,
            settings.forwarding.connect_timeout,
        );
        Ok(Self {
            mode,
            region: settings.region,
            max_body_bytes: settings.limits.max_body_bytes,
            library: Arc::new(library),
            upstream,
            recording: Recording {
                redaction: Arc::new(cassettes.redaction),
                record_server_errors: cassettes.record_server_errors,
            },
            forwardable: settings.forwarding.allowed,
            audit,
            interceptor,
            tally: Tally::new(mode, metrics),
        })
    }

    /// The audit log, if this operation is audited and the log is on.
    pub(crate) fn audit_for(&self, operation: Option<&Operation>) -> Option<&Audit> {
        let operation = operation?;
        (self.audit.as_ref()).filter(|audit| audit.operations.contains(operation))
    }

    /// The run report so far.
    pub(crate) fn report(&self) -> Report {
        Report {
            mode: self.mode.as_str().to_owned(),
            calls: self.tally.calls(),
            cassettes: self.library.report(),
        }
    }

    /// Rewinds a cassette's replay queues; `false` when no call has opened it.
    pub(crate) fn rewind(&self, cassette: &CassetteName) -> bool {
        self.library.rewind(cassette)
    }

    /// Writes every recording cassette whole from its journal.
    pub(crate) async fn compact(&self) {
        let library = Arc::clone(&self.library);
        if let Err(e) = tokio::task::spawn_blocking(move || library.compact_all()).await {
            tracing::error!(error = %e, "compacting the cassettes was interrupted; their journals keep every recording");
        }
    }

    /// Writes the cassettes being recorded and releases what the handlers hold open (the
    /// audit log) once no request is in flight any more; requests after it are refused if
    /// they need the audit log.
    pub(crate) async fn shutdown(&self) {
        self.compact().await;
        if let Some(audit) = &self.audit {
            audit.log.close();
        }
    }
}
