//! The request pipeline: the one place that knows the order of the stages.
//!
//! ```text
//! operation (method, target) ─ route (cassette) ─ content type ─ caller ─ body (size limit)
//!   ─ input (JSON) ─ validate ─ answer ─ audit outcome (audited operations)
//!   ─ count (run report, metrics, access log) ─ respond
//!
//! answer: replay from the cassette            (replay; auto when recorded)
//!       | audit attempt ─ forward, re-signed   (record, auto on a miss, passthrough)
//!         ─ record into the cassette           (record, auto)
//! ```
//!
//! Each call ends in one [`Answer`], the value every later stage reads: replayed, forwarded
//! (and perhaps recorded), or refused with a [`ProxyError`], answered through its single
//! mapping to an AWS-shaped response. An audited call's attempt record is on disk before it
//! leaves for AWS, and its outcome record before its response leaves the proxy; which
//! operations are audited, and what their records name, is data (`audit.operations`, the
//! model). Invalid calls are never forwarded. The pipeline holds no lock across an await;
//! replay mode opens no outbound connection. It reads its state from the [`Hall`], and does
//! not own sockets or connection limits (`server/`) nor choose which requests reach it
//! (`router.rs`).

use std::borrow::Cow;
use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, header};
use http_body::Body;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use tracing::error;

use crate::audit::{self, AuditFailed, Event, Identity, Record, Source};
use crate::aws::envelope::{self, Caller, EnvelopeHeaders, Input, Operation};
use crate::aws::error::headers;
use crate::aws::model::validate::validate;
use crate::cassette::name::CassetteName;
use crate::cassette::recorder;
use crate::cassette::replay::error_type;
use crate::cassette::store::{Session, Unavailable};
use crate::config::OnAuditFailure;
use crate::error::ProxyError;
use crate::hall::{Audit, Hall};
use crate::json::Json;
use crate::peer::Peer;
use crate::report::Outcome;
use crate::tally::CallRecord;
use crate::text::printable;
use crate::upstream::Upstream;

/// Longest identifying value kept in an audit record; longer ones are cut.
const MAX_AUDITED_ID_CHARS: usize = 128;

/// How a call was answered.
#[derive(Debug)]
enum Answer {
    /// From the cassette's interaction `interaction`.
    Replayed {
        interaction: usize,
        /// Recorded polls of a waiter answered past.
        skipped_polls: usize,
        /// The recorded answer's error shape, kept only for an audited call's record.
        error_type: Option<String>,
    },
    /// By the upstream; `recorded` is the interaction it became, when it was recorded.
    Forwarded {
        recorded: Option<usize>,
        error_type: Option<String>,
    },
    /// By the proxy itself.
    Refused(ProxyError),
}

impl Answer {
    fn outcome(&self) -> Outcome {
        match self {
            Self::Replayed { .. } => Outcome::Replayed,
            Self::Forwarded {
                recorded: Some(_), ..
            } => Outcome::Recorded,
            Self::Forwarded { recorded: None, .. } => Outcome::Forwarded,
            Self::Refused(error) => error.outcome(),
        }
    }

    fn source(&self) -> Source {
        match self {
            Self::Replayed { .. } => Source::Cassette,
            Self::Forwarded { .. } => Source::Upstream,
            Self::Refused(_) => Source::Proxy,
        }
    }

    fn interaction(&self) -> Option<usize> {
        match self {
            Self::Replayed { interaction, .. } => Some(*interaction),
            Self::Forwarded { recorded, .. } => *recorded,
            Self::Refused(_) => None,
        }
    }

    /// The AWS error shape answered, if the answer is an error.
    fn error_type(&self) -> Option<Cow<'_, str>> {
        match self {
            Self::Replayed { error_type, .. } | Self::Forwarded { error_type, .. } => {
                error_type.as_deref().map(Cow::Borrowed)
            }
            Self::Refused(error) => Some(Cow::Borrowed(error.to_aws().error_type)),
        }
    }
}

/// What the stages learn of a call before it is answered: what its count and its audit
/// records name.
#[derive(Debug)]
struct Exchange<'p> {
    peer: &'p Peer,
    started: Instant,
    operation: Option<Operation>,
    /// What only an audited call keeps of its request.
    audited: Option<Audited>,
    /// The cassette the call selects, by its path or as the default.
    cassette: Option<CassetteName>,
    /// That cassette, once opened for this call.
    session: Option<Arc<Session>>,
}

/// An audited call's caller and identifying members, copied from its request.
#[derive(Debug, Default)]
struct Audited {
    access_key_id: Option<String>,
    signing_region: Option<String>,
    what: Vec<(&'static str, String)>,
}

/// A call that passed validation: what forwarding and recording need of it.
struct Call<'a> {
    operation: Operation,
    region: &'a str,
    headers: &'a HeaderMap,
    body: &'a Bytes,
    input: &'a Json<'a>,
}

/// Answers one SSM call. Never fails: every error becomes an AWS-shaped response.
pub(crate) async fn handle<B>(
    hall: &Hall,
    request: Request<B>,
    peer: &Peer,
) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let mut exchange = Exchange {
        peer,
        started: Instant::now(),
        operation: None,
        audited: None,
        cassette: None,
        session: None,
    };
    let (mut answer, mut response) = match answer(hall, request, &mut exchange).await {
        Ok(answered) => answered,
        Err(error) => refused(error),
    };
    if let Some(audit) = hall.audit_for(exchange.operation.as_ref()) {
        let record = outcome_record(hall, &exchange, &answer, &response);
        if let Err(refusal) = durable(hall, audit, audit.log.append(record)).await {
            (answer, response) = refused(refusal);
        }
    }
    count(hall, &exchange, answer, &response);
    response
}

/// The stages up to the answer.
async fn answer<B>(
    hall: &Hall,
    request: Request<B>,
    exchange: &mut Exchange<'_>,
) -> Result<(Answer, Response<Full<Bytes>>), ProxyError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let (parts, body) = request.into_parts();
    // The target first: once a call is known to be audited, every later failure of it is
    // audited.
    let headers = EnvelopeHeaders::read(&parts.headers);
    let operation = *exchange
        .operation
        .insert(envelope::operation(&parts.method, headers.target)?);
    let caller = Caller::from_authorization(headers.authorization);
    if hall.audit_for(Some(&operation)).is_some() {
        exchange.audited = Some(Audited {
            access_key_id: caller.access_key_id.map(str::to_owned),
            signing_region: caller.region.map(str::to_owned),
            what: Vec::new(),
        });
    }
    let cassette = envelope::route(parts.uri.path())?;
    exchange.cassette = (cassette.clone()).or_else(|| hall.library.default_name().cloned());
    envelope::check_content_type(headers.content_type)?;
    let bytes = read_body(headers.content_length, body, hall.max_body_bytes).await?;
    let input = envelope::input(&bytes)?;
    if let Some(audited) = &mut exchange.audited {
        audited.what = identified(operation, &input);
    }
    validate(operation, &input)?;

    let region = caller.region.unwrap_or(&hall.region);
    let input = Json::Object(input);
    let session = Arc::clone(
        exchange
            .session
            .insert(hall.library.session(cassette.as_ref()).await?),
    );
    let miss = match &session.tape {
        Some(tape) => match tape.play(operation, region, &input) {
            Ok(played) => {
                let answer = Answer::Replayed {
                    interaction: played.index,
                    skipped_polls: played.skipped_polls,
                    // Only the audit record keeps it.
                    error_type: (exchange.audited.as_ref())
                        .and_then(|_| played.answer.error_type.clone()),
                };
                return Ok((answer, played.to_response()));
            }
            Err(miss) => Some(miss),
        },
        None => None,
    };
    let upstream = match (&hall.upstream, miss) {
        (Some(upstream), _) => upstream,
        (None, Some(miss)) => return Err(ProxyError::ReplayMiss(miss)),
        (None, None) => {
            return Err(ProxyError::CassetteUnavailable(Unavailable {
                name: (exchange.cassette.as_ref())
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                reason: "it cannot answer in this mode".to_owned(),
            }));
        }
    };

    let call = Call {
        operation,
        region,
        headers: &parts.headers,
        body: &bytes,
        input: &input,
    };
    // Boxed: forwarding's future is most of this one's size, and a replayed call, which never
    // forwards, would otherwise move it around with every request.
    Box::pin(forward(hall, upstream, &session, call, exchange)).await
}

/// Re-signs and forwards a call, records the answer where the mode says so, and answers with
/// it.
async fn forward(
    hall: &Hall,
    upstream: &Upstream,
    session: &Arc<Session>,
    call: Call<'_>,
    exchange: &Exchange<'_>,
) -> Result<(Answer, Response<Full<Bytes>>), ProxyError> {
    let operation = call.operation;
    if (hall.forwardable.as_ref()).is_some_and(|allowed| !allowed.contains(&operation)) {
        return Err(ProxyError::NotForwarded {
            operation: operation.to_string(),
        });
    }
    if let Some(audit) = hall.audit_for(Some(&operation)) {
        // On disk before the call leaves: a refusal means it is not forwarded.
        let mut attempt = audit_record(hall, Event::Attempt, exchange);
        attempt.source = Some(Source::Upstream);
        durable(hall, audit, audit.log.append(attempt)).await?;
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
    let error_type = error_type(forwarded.status, &forwarded.headers, &forwarded.body);
    let recording = &hall.recording;
    let wanted = forwarded.status.as_u16() < 500 || recording.record_server_errors;
    let recorded = if session.recorder.is_some() && wanted {
        let interaction = recorder::forwarded(
            operation.as_str(),
            call.region,
            call.input.clone().into_owned(),
            forwarded.status,
            &forwarded.headers,
            &forwarded.body,
        );
        let secrets = upstream.secrets().await;
        (session.record(interaction, &recording.redaction, secrets)).await
    } else {
        None
    };
    let mut response = Response::new(Full::new(forwarded.body));
    *response.status_mut() = forwarded.status;
    *response.headers_mut() = forwarded.headers;
    Ok((
        Answer::Forwarded {
            recorded,
            error_type,
        },
        response,
    ))
}

/// The proxy's own answer to a call it refuses, in AWS's error shape.
fn refused(error: ProxyError) -> (Answer, Response<Full<Bytes>>) {
    let chain = crate::text::chain(&error);
    if matches!(error, ProxyError::Upstream(_)) {
        tracing::warn!(error = %chain, "the upstream gave no answer");
    } else {
        tracing::debug!(error = %chain, "answered with an error");
    }
    let mut response = error.to_aws().into_response();
    if error.closes_connection() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    (Answer::Refused(error), response)
}

/// Counts the call once: run report (in its cassette's part when a call has opened that
/// cassette; a call refused before it was opened, for one not opened yet, counts in the totals
/// only), metrics and access log.
fn count(hall: &Hall, exchange: &Exchange<'_>, answer: Answer, response: &Response<Full<Bytes>>) {
    let outcome = answer.outcome();
    let interaction = answer.interaction();
    let (skipped_polls, missed) = match answer {
        Answer::Replayed { skipped_polls, .. } => (skipped_polls, None),
        Answer::Refused(ProxyError::ReplayMiss(miss)) => (0, Some(miss.summary())),
        Answer::Forwarded { .. } | Answer::Refused(_) => (0, None),
    };
    let opened = match &exchange.session {
        Some(session) => Some(Arc::clone(session)),
        None => (exchange.cassette.as_ref()).and_then(|name| hall.library.opened(name)),
    };
    hall.tally.count(CallRecord {
        peer: exchange.peer.addr(),
        operation: exchange.operation.as_ref().map(Operation::as_str),
        cassette: exchange.cassette.as_ref(),
        session: opened.as_deref(),
        interaction,
        outcome,
        status: response.status().as_u16(),
        took: exchange.started.elapsed(),
        missed,
        skipped_polls,
    });
}

/// The audit record of this exchange, without its outcome. It borrows the exchange's text.
fn audit_record<'a>(hall: &'a Hall, event: Event, exchange: &'a Exchange<'_>) -> Record<'a> {
    let audited = exchange.audited.as_ref();
    let signing_region = audited.and_then(|audited| audited.signing_region.as_deref());
    Record {
        time: audit::record::now().into(),
        event,
        mode: Some(hall.mode.as_str().into()),
        client: Some(exchange.peer.as_str().into()),
        access_key_id: (audited.and_then(|audited| audited.access_key_id.as_deref()))
            .map(Cow::Borrowed),
        region: Some(signing_region.unwrap_or(&hall.region).into()),
        operation: exchange.operation.map(|op| op.as_str().into()),
        what: audited
            .filter(|audited| !audited.what.is_empty())
            .map(|audited| {
                (audited.what.iter())
                    .map(|(member, value)| (Cow::Borrowed(*member), Cow::Borrowed(value.as_str())))
                    .collect()
            }),
        cassette: exchange.cassette.as_ref().map(|name| name.as_str().into()),
        ..Record::default()
    }
}

/// The outcome record of this exchange: how it was answered.
fn outcome_record<'a>(
    hall: &'a Hall,
    exchange: &'a Exchange<'_>,
    answer: &'a Answer,
    response: &Response<Full<Bytes>>,
) -> Record<'a> {
    let mut record = audit_record(hall, Event::Outcome, exchange);
    record.source = Some(answer.source());
    record.status = Some(response.status().as_u16());
    record.error_type = answer.error_type();
    record.request_id = response
        .headers()
        .get(headers::X_AMZN_REQUEST_ID)
        .map(|v| printable(&String::from_utf8_lossy(v.as_bytes()), 64).into());
    record.latency_us = Some(exchange.started.elapsed().as_micros() as u64);
    record.interaction = answer.interaction();
    record.identity = Some(identity(exchange, answer));
    record
}

/// Waits for a record to be durable; `Err` is the refusal to go on (forward, or answer) when
/// the configuration says a call that cannot be audited is refused.
async fn durable(
    hall: &Hall,
    audit: &Audit,
    written: impl Future<Output = Result<u64, AuditFailed>>,
) -> Result<(), ProxyError> {
    let started = Instant::now();
    let written = written.await;
    (hall.tally.metrics).audit_write(started.elapsed(), written.is_ok());
    match written {
        Ok(_) => Ok(()),
        Err(failed) => {
            error!(error = %failed, "an audited call could not be audited");
            match audit.on_failure {
                OnAuditFailure::Refuse => Err(ProxyError::AuditFailed(failed)),
                OnAuditFailure::Answer => Ok(()),
            }
        }
    }
}

/// Whether AWS vouched for the caller: only a call relayed with its client's own signature and
/// answered by the upstream with anything but an authentication refusal.
fn identity(exchange: &Exchange<'_>, answer: &Answer) -> Identity {
    let relayed = exchange.peer.intercepted.is_some() && answer.source() == Source::Upstream;
    let refused =
        (answer.error_type()).is_some_and(|shape| AUTHENTICATION_REFUSALS.contains(&&*shape));
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
