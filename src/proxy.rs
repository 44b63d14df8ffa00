//! The request pipeline: the one place that knows the order of the stages.
//!
//! ```text
//! operation (method, target) ─ route (cassette) ─ content type ─ caller ─ body (size limit)
//!   ─ input (JSON) ─ validate ─ answer ─ audit outcome (audited operations)
//!   ─ count (run report, metrics) ─ respond
//!
//! answer: replay from the cassette            (replay; auto when recorded)
//!       | audit attempt ─ forward, re-signed   (record, auto on a miss, passthrough)
//!         ─ record into the cassette           (record, auto)
//! ```
//!
//! Every failure is a [`ProxyError`], answered through its single mapping to an AWS-shaped
//! response. An audited call's attempt record is on disk before it leaves for AWS, and its
//! outcome record before its response leaves the proxy; which operations are audited, and what
//! their records name, is data (`audit.operations`, the model). Invalid calls are never
//! forwarded. The pipeline holds no lock across an await; replay mode opens no outbound
//! connection. It does not own sockets or connection limits (`server/`) nor choose which
//! requests reach it (`router.rs`).

use std::borrow::Cow;
use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use aws_credential_types::provider::SharedCredentialsProvider;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, header};
use http_body::Body;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use tracing::{error, info};

use crate::audit::{self, AuditFailed, AuditLog, Event, Identity, Record, Source};
use crate::aws::envelope::{self, Caller, CassetteName, EnvelopeHeaders, Input, Operation};
use crate::aws::error::headers;
use crate::aws::model::validate::validate;
use crate::aws::sigv4::Signer;
use crate::cassette::format::Cassette;
use crate::cassette::recorder;
use crate::cassette::redact::Redaction;
use crate::cassette::replay::error_type;
use crate::cassette::store::{Library, Opening, Session, Unavailable};
use crate::config::{Mode, OnAuditFailure, Settings};
use crate::error::{ProxyError, StartError};
use crate::json::Json;
use crate::metrics::Metrics;
use crate::report::{MissedCall, Outcome, OutcomeCounts, Report};
use crate::text::printable;
use crate::upstream::Upstream;

/// Longest identifying value kept in an audit record; longer ones are cut.
const MAX_AUDITED_ID_CHARS: usize = 128;

/// The request pipeline and everything it answers from.
#[derive(Debug)]
pub(crate) struct Pipeline {
    mode: Mode,
    default_region: String,
    max_body_bytes: usize,
    library: Arc<Library>,
    upstream: Option<Upstream>,
    redaction: Arc<Redaction>,
    record_server_errors: bool,
    /// Operations that may be forwarded; `None` means every SSM operation.
    forwardable: Option<Vec<Operation>>,
    audited: Vec<Operation>,
    audit: Option<AuditLog>,
    on_audit_failure: OnAuditFailure,
    /// Every call answered, by outcome, for the run report.
    counts: OutcomeCounts,
    metrics: Metrics,
}

/// The client at the other end of a connection.
///
/// Its address is formatted the first time an audit record needs it, then kept for the
/// connection's later calls, as SDKs keep connections alive.
#[derive(Debug)]
pub(crate) struct Peer {
    addr: SocketAddr,
    text: OnceLock<String>,
    /// The SSM host a forward-proxy client asked for, when the connection was intercepted.
    intercepted: Option<String>,
}

impl Peer {
    /// A client connected to the proxy's endpoint from `addr`.
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            text: OnceLock::new(),
            intercepted: None,
        }
    }

    /// A forward-proxy client at `addr` whose connection to `host` was intercepted.
    pub(crate) fn intercepted(addr: SocketAddr, host: String) -> Self {
        Self {
            intercepted: Some(host),
            ..Self::new(addr)
        }
    }

    /// The client's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address as audit records write it.
    pub(crate) fn as_str(&self) -> &str {
        self.text.get_or_init(|| self.addr.to_string())
    }
}

/// What the stages learn about one exchange, for the log line and the audit records.
#[derive(Debug)]
struct Exchange<'p> {
    peer: &'p Peer,
    started: Instant,
    operation: Option<Operation>,
    /// The caller's tokens, copied only when the call is audited.
    access_key_id: Option<String>,
    signing_region: Option<String>,
    cassette: Option<CassetteName>,
    /// The cassette once opened for this call.
    session: Option<Arc<Session>>,
    interaction: Option<usize>,
    /// The audited call's identifying members, as sent.
    what: Vec<(&'static str, String)>,
    source: Option<Source>,
    answer_error_type: Option<String>,
}

/// A call that passed validation: what forwarding and recording need of it.
struct Call<'a> {
    operation: &'a Operation,
    region: &'a str,
    headers: &'a HeaderMap,
    body: &'a Bytes,
    input: &'a Json<'a>,
}

/// How an exchange ended, before auditing.
struct Answered {
    response: Response<Full<Bytes>>,
    outcome: Outcome,
    source: Source,
    error_type: Option<String>,
    /// What a replay miss lacked, for the run report.
    missed: Option<MissedCall>,
}

impl Pipeline {
    /// The pipeline for validated settings, with the default cassette's interactions taken
    /// from `in_memory` instead of its file when given. The default cassette and the audit log
    /// are opened now, and in forwarding modes credentials are resolved (from `credentials`, else the
    /// standard AWS chain), so that a broken setup stops start-up with a clear message.
    pub(crate) async fn build(
        config: &Settings,
        credentials: Option<SharedCredentialsProvider>,
        in_memory: Option<Cassette>,
    ) -> Result<Self, StartError> {
        let upstream = if config.mode.forwards() {
            let signer = if config.forward_proxy.only {
                // Forwarded calls carry their clients' own signatures.
                None
            } else {
                let signer = match credentials {
                    Some(provider) => Signer::with_provider(provider).await,
                    None => Signer::from_environment().await,
                };
                Some(signer.map_err(|source| StartError::Credentials {
                    mode: config.mode.as_str(),
                    source,
                })?)
            };
            Some(
                Upstream::new(config.upstream_uri().cloned(), &config.forward, signer)
                    .map_err(StartError::CaFile)?,
            )
        } else {
            None
        };
        // Read the model now, so that the first call does not wait for it; patterns are
        // compiled on first use, which keeps the memory of the ones never used.
        crate::aws::model::ssm();
        let opening = Opening {
            mode: config.mode,
            rules: config.ignore_rules().clone(),
            replaying: config.replaying(),
            env_bindings: config.env_bindings().clone(),
            compact_journal_bytes: config.cassettes.compact_journal_bytes,
        };
        let default = config.default_cassette().cloned();
        if in_memory.is_some() && default.is_none() {
            return Err(StartError::InMemoryWithoutName);
        }
        let library = Library::new(config.cassettes.dir.clone(), default, in_memory, opening)
            .map_err(|unopened| StartError::Cassette {
                path: unopened.path,
                source: unopened.source,
            })?;
        let audit = if config.audit.enabled {
            let layout = audit::Layout {
                max_file_bytes: config.audit.max_file_bytes,
                preallocate: config.audit.preallocate,
            };
            let log = AuditLog::open(
                &config.audit.file,
                layout,
                config.audit.batch_wait(),
                config.mode.as_str(),
            )
            .map_err(StartError::Audit)?;
            Some(log)
        } else {
            None
        };
        let mut metrics = Metrics::default();
        if let Some(log) = &audit {
            metrics.count_audit_syncs(log.syncs());
        }
        let redaction = config.redaction().clone();
        for kept in redaction.kept() {
            tracing::warn!(
                kept = %kept,
                "cassettes.keep_sensitive: this sensitive value is recorded in plain text; \
                 do not commit such cassettes where others can read them"
            );
        }
        Ok(Self {
            mode: config.mode,
            default_region: config.region.clone(),
            max_body_bytes: config.limits.max_body_bytes,
            library: Arc::new(library),
            upstream,
            redaction: Arc::new(redaction),
            record_server_errors: config.cassettes.record_server_errors,
            forwardable: config.forwardable().map(<[Operation]>::to_vec),
            audited: config.audited().to_vec(),
            audit,
            on_audit_failure: config.audit.on_failure,
            counts: OutcomeCounts::default(),
            metrics,
        })
    }

    /// The run report so far.
    pub(crate) fn report(&self) -> Report {
        Report {
            mode: self.mode.as_str().to_owned(),
            calls: self.counts.by_name(),
            cassettes: self.library.report(),
        }
    }

    /// The proxy's metrics.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The mode calls are answered in.
    pub(crate) fn mode(&self) -> Mode {
        self.mode
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

    /// Writes the cassettes being recorded and releases what the pipeline holds open (the
    /// audit log) once no request is in flight any more; requests after it are refused if
    /// they need the audit log.
    pub(crate) async fn shutdown(&self) {
        self.compact().await;
        if let Some(log) = &self.audit {
            log.close();
        }
    }

    /// Answers one request. Never fails: every error becomes an AWS-shaped response.
    pub(crate) async fn handle<B>(&self, request: Request<B>, peer: &Peer) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let mut exchange = Exchange {
            peer,
            started: Instant::now(),
            operation: None,
            access_key_id: None,
            signing_region: None,
            cassette: None,
            session: None,
            interaction: None,
            what: Vec::new(),
            source: None,
            answer_error_type: None,
        };
        let mut answered = match self.answer(request, &mut exchange).await {
            Ok(response) => Answered {
                response,
                outcome: match (exchange.source, exchange.interaction) {
                    (Some(Source::Upstream), Some(_)) => Outcome::Recorded,
                    (Some(Source::Upstream), None) => Outcome::Forwarded,
                    _ => Outcome::Replayed,
                },
                source: exchange.source.unwrap_or(Source::Proxy),
                error_type: exchange.answer_error_type.take(),
                missed: None,
            },
            Err(error) => self.answer_error(&error),
        };
        if let Some(log) = self.audit_log_for(exchange.operation.as_ref()) {
            let record = self.outcome_record(&exchange, &answered);
            if let Err(refusal) = self.durable(log.append(record)).await {
                answered = self.answer_error(&refusal);
            }
        }
        self.count(&exchange, &mut answered);
        let took = exchange.started.elapsed();
        let operation = exchange.operation.as_ref().map(Operation::as_str);
        self.metrics.call(operation, answered.outcome, took);
        let response = answered.response;
        info!(
            target: "ssm_vcr::access",
            peer = %peer.addr,
            mode = self.mode.as_str(),
            ssm_target = operation.unwrap_or("-"),
            cassette = exchange.cassette.as_ref().map_or("-", CassetteName::as_str),
            interaction = exchange.interaction,
            outcome = answered.outcome.as_str(),
            status = response.status().as_u16(),
            latency_us = took.as_micros() as u64,
        );
        response
    }

    async fn answer<B>(
        &self,
        request: Request<B>,
        exchange: &mut Exchange<'_>,
    ) -> Result<Response<Full<Bytes>>, ProxyError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        // The target first: once a call is known to be audited, every later failure
        // of it is audited.
        let headers = EnvelopeHeaders::read(&parts.headers);
        let operation = *exchange
            .operation
            .insert(envelope::operation(&parts.method, headers.target)?);
        let caller = Caller::from_authorization(headers.authorization);
        let audited = self.audit_log_for(Some(&operation)).is_some();
        if audited {
            exchange.access_key_id = caller.access_key_id.map(str::to_owned);
            exchange.signing_region = caller.region.map(str::to_owned);
        }
        let cassette = envelope::route(parts.uri.path())?;
        exchange.cassette = cassette
            .clone()
            .or_else(|| self.library.default_name().cloned());
        envelope::check_content_type(headers.content_type)?;
        let bytes = read_body(headers.content_length, body, self.max_body_bytes).await?;
        let input = envelope::input(&bytes)?;
        if audited {
            exchange.what = identified(operation, &input);
        }
        validate(operation, &input)?;

        let region = self.region(caller.region);
        let input = Json::Object(input);
        let session = self.library.session(cassette.as_ref()).await?;
        exchange.session = Some(Arc::clone(&session));
        let miss = match &session.tape {
            Some(tape) => match tape.play(operation, region, &input) {
                Ok(played) => {
                    exchange.interaction = Some(played.index);
                    if played.skipped_polls > 0 {
                        self.metrics.skipped_polls(played.skipped_polls);
                    }
                    exchange.source = Some(Source::Cassette);
                    if audited {
                        // Only the audit record keeps it.
                        exchange
                            .answer_error_type
                            .clone_from(&played.answer.error_type);
                    }
                    return Ok(played.to_response());
                }
                Err(miss) => Some(miss),
            },
            None => None,
        };
        let upstream = match (&self.upstream, miss) {
            (Some(upstream), _) => upstream,
            (None, Some(miss)) => return Err(ProxyError::ReplayMiss(miss)),
            (None, None) => {
                return Err(ProxyError::CassetteUnavailable(Unavailable {
                    name: exchange
                        .cassette
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    reason: "it cannot answer in this mode".to_owned(),
                }));
            }
        };

        let call = Call {
            operation: &operation,
            region,
            headers: &parts.headers,
            body: &bytes,
            input: &input,
        };
        // Boxed: forwarding's future is most of this one's size, and a replayed call, which
        // never forwards, would otherwise move it around with every request.
        Box::pin(self.forward(upstream, &session, call, exchange)).await
    }

    /// Re-signs and forwards a call, records the answer where the mode says so, and answers
    /// with it.
    async fn forward(
        &self,
        upstream: &Upstream,
        session: &Arc<Session>,
        call: Call<'_>,
        exchange: &mut Exchange<'_>,
    ) -> Result<Response<Full<Bytes>>, ProxyError> {
        let operation = call.operation;
        if self
            .forwardable
            .as_ref()
            .is_some_and(|allowed| !allowed.contains(operation))
        {
            return Err(ProxyError::NotForwarded {
                operation: operation.to_string(),
            });
        }
        if let Some(log) = self.audit_log_for(Some(operation)) {
            // On disk before the call leaves: a refusal means it is not forwarded.
            self.durable(log.append(self.attempt_record(exchange)))
                .await?;
        }
        let forwarded = match &exchange.peer.intercepted {
            Some(host) => upstream.relay(call.headers, call.body.clone(), host).await,
            None => {
                upstream
                    .forward(call.headers, call.body.clone(), call.region)
                    .await
            }
        }
        .map_err(ProxyError::Upstream)?;
        exchange.source = Some(Source::Upstream);
        exchange.answer_error_type =
            error_type(forwarded.status, &forwarded.headers, &forwarded.body);
        let wanted = forwarded.status.as_u16() < 500 || self.record_server_errors;
        if session.recorder.is_some() && wanted {
            let interaction = recorder::forwarded(
                operation.as_str(),
                call.region,
                call.input.to_value(),
                forwarded.status,
                &forwarded.headers,
                &forwarded.body,
            );
            let secrets = upstream.secrets().await;
            exchange.interaction = session.record(interaction, &self.redaction, secrets).await;
        }
        let mut response = Response::new(Full::new(forwarded.body));
        *response.status_mut() = forwarded.status;
        *response.headers_mut() = forwarded.headers;
        Ok(response)
    }

    fn answer_error(&self, error: &ProxyError) -> Answered {
        let chain = crate::text::chain(error);
        if matches!(error, ProxyError::Upstream(_)) {
            tracing::warn!(error = %chain, "the upstream gave no answer");
        } else {
            tracing::debug!(error = %chain, "answered with an error");
        }
        let aws = error.to_aws();
        let error_type = Some(aws.error_type.to_owned());
        let mut response = aws.into_response();
        if error.closes_connection() {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Answered {
            response,
            outcome: error.outcome(),
            source: Source::Proxy,
            error_type,
            missed: match error {
                ProxyError::ReplayMiss(miss) => Some(miss.summary()),
                _ => None,
            },
        }
    }

    /// Counts a call for the run report, in the totals and in its cassette's part when a call
    /// has opened that cassette (a call refused before it was opened, for one not opened yet,
    /// counts in the totals only).
    fn count(&self, exchange: &Exchange<'_>, answered: &mut Answered) {
        self.counts.add(answered.outcome);
        let missed = answered.missed.take();
        if let Some(session) = &exchange.session {
            session.count(answered.outcome, missed);
        } else if let Some(session) =
            (exchange.cassette.as_ref()).and_then(|name| self.library.opened(name))
        {
            session.count(answered.outcome, missed);
        }
    }

    /// The audit log, if this operation is audited and the log is on.
    fn audit_log_for(&self, operation: Option<&Operation>) -> Option<&AuditLog> {
        let audited = operation.is_some_and(|op| self.audited.contains(op));
        self.audit.as_ref().filter(|_| audited)
    }

    /// The region a call is answered in: its signing region, else the configured one.
    fn region<'a>(&'a self, signing_region: Option<&'a str>) -> &'a str {
        signing_region.unwrap_or(&self.default_region)
    }

    /// The audit record of this exchange, without its outcome. It borrows the exchange's text.
    fn audit_record<'a>(&'a self, event: Event, exchange: &'a Exchange<'_>) -> Record<'a> {
        Record {
            time: audit::record::now().into(),
            event,
            mode: Some(self.mode.as_str().into()),
            client: Some(exchange.peer.as_str().into()),
            access_key_id: exchange.access_key_id.as_deref().map(Cow::Borrowed),
            region: Some(self.region(exchange.signing_region.as_deref()).into()),
            operation: exchange.operation.map(|op| op.as_str().into()),
            what: (!exchange.what.is_empty()).then(|| {
                (exchange.what.iter())
                    .map(|(member, value)| (Cow::Borrowed(*member), Cow::Borrowed(value.as_str())))
                    .collect()
            }),
            cassette: exchange.cassette.as_ref().map(|name| name.as_str().into()),
            ..Record::default()
        }
    }

    /// The attempt record of a call about to leave for AWS.
    fn attempt_record<'a>(&'a self, exchange: &'a Exchange<'_>) -> Record<'a> {
        let mut record = self.audit_record(Event::Attempt, exchange);
        record.source = Some(Source::Upstream);
        record
    }

    /// The outcome record of this exchange: how it was answered.
    fn outcome_record<'a>(
        &'a self,
        exchange: &'a Exchange<'_>,
        answered: &'a Answered,
    ) -> Record<'a> {
        let response = &answered.response;
        let mut record = self.audit_record(Event::Outcome, exchange);
        record.source = Some(answered.source);
        record.status = Some(response.status().as_u16());
        record.error_type = answered.error_type.as_deref().map(Cow::Borrowed);
        record.request_id = response
            .headers()
            .get(headers::X_AMZN_REQUEST_ID)
            .map(|v| printable(&String::from_utf8_lossy(v.as_bytes()), 64).into());
        record.latency_us = Some(exchange.started.elapsed().as_micros() as u64);
        record.interaction = exchange.interaction;
        record.identity = Some(identity(exchange, answered));
        record
    }

    /// Waits for a record to be durable; `Err` is the refusal to go on (forward, or answer)
    /// when the configuration says a call that cannot be audited is refused.
    async fn durable(
        &self,
        written: impl Future<Output = Result<u64, AuditFailed>>,
    ) -> Result<(), ProxyError> {
        let started = Instant::now();
        let written = written.await;
        self.metrics.audit_write(started.elapsed(), written.is_ok());
        match written {
            Ok(_) => Ok(()),
            Err(failed) => {
                error!(error = %failed, "an audited call could not be audited");
                match self.on_audit_failure {
                    OnAuditFailure::Refuse => Err(ProxyError::AuditFailed(failed)),
                    OnAuditFailure::Answer => Ok(()),
                }
            }
        }
    }
}

/// Whether AWS vouched for the caller: only a call relayed with its client's own signature and
/// answered by the upstream with anything but an authentication refusal.
fn identity(exchange: &Exchange<'_>, answered: &Answered) -> Identity {
    let relayed = exchange.peer.intercepted.is_some() && answered.source == Source::Upstream;
    let refused = answered
        .error_type
        .as_deref()
        .is_some_and(|shape| AUTHENTICATION_REFUSALS.contains(&shape));
    if relayed && !refused {
        Identity::Authenticated
    } else {
        Identity::Claimed
    }
}

/// The error shapes with which AWS refuses a signature or the credentials behind it.
const AUTHENTICATION_REFUSALS: [&str; 7] = [
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignatureException",
    "MissingAuthenticationTokenException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
];

/// The operation's identifying members as sent, safe to store: strings made printable and
/// bounded, other JSON values rendered, absent ones left out.
fn identified(operation: Operation, input: &Input<'_>) -> Vec<(&'static str, String)> {
    (operation.identifying_members())
        .filter_map(|member| {
            let value = match input.get(member)? {
                Json::String(text) => printable(text, MAX_AUDITED_ID_CHARS),
                other => printable(&other.to_string(), MAX_AUDITED_ID_CHARS),
            };
            Some((member, value))
        })
        .collect()
}

/// Collects the body, refusing it as soon as it is known to exceed `limit`.
async fn read_body<B>(
    content_length: Option<&HeaderValue>,
    body: B,
    limit: usize,
) -> Result<Bytes, ProxyError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let declared = content_length
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ProxyError::BodyTooLarge { limit });
    }
    let collected = Limited::new(body, limit).collect().await.map_err(|e| {
        if e.is::<LengthLimitError>() {
            ProxyError::BodyTooLarge { limit }
        } else {
            ProxyError::BodyRead(e)
        }
    })?;
    // Trailers carry nothing an SSM call needs; a body in one frame is not copied.
    Ok(collected.to_bytes())
}
