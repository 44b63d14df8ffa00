//! The request pipeline: the one place that knows the order of the stages.
//!
//! ```text
//! operation (method, target) ─ route (cassette) ─ content type ─ caller ─ body (size limit)
//!   ─ input (JSON) ─ validate ─ answer from the cassette ─ audit (deregistrations) ─ respond
//! ```
//!
//! Every failure is a [`ProxyError`], answered through its single mapping to an AWS-shaped
//! response. A deregistration's outcome record is on disk before its response leaves. The
//! pipeline holds no lock across an await and never opens an outbound connection: replay mode
//! touches no network beyond the client's own socket. It does not own sockets or connection
//! limits (`server.rs`).

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, header};
use http_body::Body;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use serde_json::Value;
use tracing::{error, info};

use crate::audit::{self, AuditLog, Event, Record, Source};
use crate::aws::envelope::{self, Caller, CassetteName, Input, Operation, printable};
use crate::aws::error::headers;
use crate::aws::model::Model;
use crate::cassette::replay::WhenExhausted;
use crate::cassette::store::{Library, LoadError};
use crate::config::{Config, Mode, OnAuditFailure};
use crate::error::ProxyError;

/// The operation whose every call is audited.
pub const AUDITED_OPERATION: &str = "DeregisterTaskFromMaintenanceWindow";

/// Longest id kept in an audit record; longer values are cut (they fail validation anyway).
const MAX_AUDITED_ID_CHARS: usize = 128;

/// The proxy's request handler and everything it answers from.
#[derive(Debug)]
pub struct Proxy {
    mode: Mode,
    default_region: String,
    max_body_bytes: usize,
    model: Model,
    library: Arc<Library>,
    audit: Option<AuditLog>,
    on_audit_failure: OnAuditFailure,
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The default cassette is missing or invalid.
    #[error("the default cassette is unusable (fix it, or pick another with --cassette)")]
    Cassette(#[source] LoadError),
    /// The audit log cannot be opened.
    #[error(
        "the audit log cannot be opened (fix it, pick another with --audit-log, or run with --no-audit)"
    )]
    Audit(#[source] audit::OpenError),
}

/// What the stages learn about one exchange, for the log line and the audit record.
#[derive(Debug, Default)]
struct Exchange {
    operation: Option<Operation>,
    caller: Caller,
    cassette: Option<CassetteName>,
    interaction: Option<usize>,
    window_id: Option<String>,
    window_task_id: Option<String>,
    recorded_error_type: Option<String>,
}

/// How an exchange ended, before auditing.
struct Answered {
    response: Response<Full<Bytes>>,
    outcome: &'static str,
    source: Source,
    error_type: Option<String>,
}

impl Proxy {
    /// A proxy for a validated configuration. The default cassette is loaded and the audit log
    /// opened now, so that a broken setup stops start-up with a clear message.
    pub fn new(config: &Config) -> Result<Self, StartError> {
        let when_exhausted = if config.cassettes.repeat_last {
            WhenExhausted::RepeatLast
        } else {
            WhenExhausted::Miss
        };
        let library = Library::new(
            config.cassettes.dir.clone(),
            config.default_cassette(),
            config.ignore_rules(),
            when_exhausted,
        );
        library.preload_default().map_err(StartError::Cassette)?;
        let audit = if config.audit.enabled {
            let log = AuditLog::open(
                &config.audit.file,
                config.audit.max_file_bytes,
                config.mode.as_str(),
            )
            .map_err(StartError::Audit)?;
            Some(log)
        } else {
            None
        };
        Ok(Self {
            mode: config.mode,
            default_region: config.region.clone(),
            max_body_bytes: config.limits.max_body_bytes,
            model: Model::builtin(),
            library: Arc::new(library),
            audit,
            on_audit_failure: config.audit.on_failure,
        })
    }

    /// Releases what the proxy holds open (the audit log) once no request is in flight any
    /// more; requests after it are refused if they need the audit log.
    pub fn shutdown(&self) {
        if let Some(log) = &self.audit {
            log.close();
        }
    }

    /// Answers one request. Never fails: every error becomes an AWS-shaped response.
    pub async fn handle<B>(&self, request: Request<B>, peer: SocketAddr) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let started = Instant::now();
        let mut exchange = Exchange::default();
        let mut answered = match self.answer(request, &mut exchange).await {
            Ok(response) => Answered {
                error_type: exchange.recorded_error_type.take(),
                response,
                outcome: "replayed",
                source: Source::Cassette,
            },
            Err(error) => self.answer_error(&error),
        };
        if exchange
            .operation
            .as_ref()
            .is_some_and(|op| op.as_str() == AUDITED_OPERATION)
            && let Err(refusal) = self
                .audit_outcome(&exchange, &answered, peer, started)
                .await
        {
            answered = self.answer_error(&refusal);
        }
        let response = answered.response;
        info!(
            target: "ssm_vcr::access",
            %peer,
            mode = self.mode.as_str(),
            ssm_target = exchange.operation.as_ref().map_or("-", Operation::as_str),
            cassette = exchange.cassette.as_ref().map_or("-", CassetteName::as_str),
            interaction = exchange.interaction,
            outcome = answered.outcome,
            status = response.status().as_u16(),
            latency_us = started.elapsed().as_micros() as u64,
        );
        response
    }

    async fn answer<B>(
        &self,
        request: Request<B>,
        exchange: &mut Exchange,
    ) -> Result<Response<Full<Bytes>>, ProxyError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        // The target first: once a call is known to be a deregistration, every later failure
        // of it is audited.
        let operation = exchange
            .operation
            .insert(envelope::operation(&parts)?)
            .clone();
        exchange.caller = Caller::from_headers(&parts.headers);
        let cassette = envelope::route(parts.uri.path())?;
        exchange.cassette = Some(
            cassette
                .clone()
                .unwrap_or_else(|| self.library.default_name().clone()),
        );
        envelope::check_content_type(&parts.headers)?;
        let bytes = read_body(&parts.headers, body, self.max_body_bytes).await?;
        let input = envelope::input(&bytes)?;
        exchange.window_id = audited_id(&input, "WindowId");
        exchange.window_task_id = audited_id(&input, "WindowTaskId");
        self.model.validate(operation.as_str(), &input)?;

        let tape = self.library.tape(cassette.as_ref()).await?;
        let region = exchange
            .caller
            .region
            .as_deref()
            .unwrap_or(&self.default_region);
        let played = tape
            .play(operation.as_str(), region, &Value::Object(input))
            .map_err(ProxyError::ReplayMiss)?;
        exchange.interaction = Some(played.index);
        exchange
            .recorded_error_type
            .clone_from(&played.answer.error_type);
        Ok(played.answer.to_response())
    }

    fn answer_error(&self, error: &ProxyError) -> Answered {
        tracing::debug!(error = %error, source = ?error.source(), "answered with an error");
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
        }
    }

    /// Makes the outcome durable; `Err` is the refusal to send instead of the answer.
    async fn audit_outcome(
        &self,
        exchange: &Exchange,
        answered: &Answered,
        peer: SocketAddr,
        started: Instant,
    ) -> Result<(), ProxyError> {
        let Some(log) = &self.audit else {
            return Ok(());
        };
        let response = &answered.response;
        let record = Record {
            time: audit::record::now(),
            event: Event::Outcome,
            mode: Some(self.mode.as_str().to_owned()),
            source: Some(answered.source),
            client: Some(peer.to_string()),
            access_key_id: exchange.caller.access_key_id.clone(),
            region: Some(
                exchange
                    .caller
                    .region
                    .clone()
                    .unwrap_or_else(|| self.default_region.clone()),
            ),
            window_id: exchange.window_id.clone(),
            window_task_id: exchange.window_task_id.clone(),
            status: Some(response.status().as_u16()),
            error_type: answered.error_type.clone(),
            request_id: response
                .headers()
                .get(headers::X_AMZN_REQUEST_ID)
                .map(|v| printable(&String::from_utf8_lossy(v.as_bytes()), 64)),
            latency_us: Some(started.elapsed().as_micros() as u64),
            cassette: exchange.cassette.as_ref().map(ToString::to_string),
            interaction: exchange.interaction,
            ..Record::default()
        };
        match log.append(record).await {
            Ok(_) => Ok(()),
            Err(failed) => {
                error!(error = %failed, "a deregistration could not be audited");
                match self.on_audit_failure {
                    OnAuditFailure::Refuse => Err(ProxyError::AuditFailed(failed)),
                    OnAuditFailure::Answer => Ok(()),
                }
            }
        }
    }
}

/// An id member as sent, safe to store: strings made printable and bounded, other JSON values
/// rendered. `None` when absent.
fn audited_id(input: &Input, member: &str) -> Option<String> {
    match input.get(member)? {
        Value::String(text) => Some(printable(text, MAX_AUDITED_ID_CHARS)),
        other => Some(printable(&other.to_string(), MAX_AUDITED_ID_CHARS)),
    }
}

/// Collects the body, refusing it as soon as it is known to exceed `limit`.
async fn read_body<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, ProxyError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ProxyError::BodyTooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(ProxyError::BodyTooLarge { limit }),
        Err(e) => Err(ProxyError::BodyRead(e)),
    }
}
