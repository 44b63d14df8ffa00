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
//! (`router.rs`). Beside the stages: `answer.rs` (the outcome value), `exchange.rs` (what the
//! stages learn of a call) and `audit_records.rs` (what an audited call's records say).

mod answer;
mod audit_records;
mod exchange;

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, header};
use http_body::Body;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};

use crate::audit::{Event, Source};
use crate::aws::envelope::{self, Caller, EnvelopeHeaders, Operation};
use crate::aws::model::validate::validate;
use crate::cassette::recorder;
use crate::cassette::replay::error_type;
use crate::cassette::store::{Session, Unavailable};
use crate::error::ProxyError;
use crate::hall::Hall;
use crate::json::Json;
use crate::peer::Peer;
use crate::tally::CallRecord;
use crate::upstream::Upstream;
use answer::Answer;
use audit_records::{audit_record, durable, identified, outcome_record};
use exchange::{Audited, Exchange};

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
        skipped_polls: 0,
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
                exchange.skipped_polls = played.skipped_polls;
                let answer = Answer::Replayed {
                    interaction: played.index,
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
    let aws = error.to_aws();
    let error_type = aws.error_type;
    let mut response = aws.into_response();
    if error.closes_connection() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    (Answer::Refused { error, error_type }, response)
}

/// Counts the call once: run report (in its cassette's part when a call has opened that
/// cassette; a call refused before it was opened, for one not opened yet, counts in the totals
/// only), metrics and access log.
fn count(hall: &Hall, exchange: &Exchange<'_>, answer: Answer, response: &Response<Full<Bytes>>) {
    let outcome = answer.outcome();
    let interaction = answer.interaction();
    let missed = match answer {
        Answer::Refused {
            error: ProxyError::ReplayMiss(miss),
            ..
        } => Some(miss.summary()),
        _ => None,
    };
    // Looked up only for a call refused before it opened its cassette.
    let looked_up;
    let session = match &exchange.session {
        Some(session) => Some(&**session),
        None => {
            looked_up = (exchange.cassette.as_ref()).and_then(|name| hall.library.opened(name));
            looked_up.as_deref()
        }
    };
    hall.tally.count(CallRecord {
        peer: exchange.peer.addr(),
        operation: exchange.operation,
        cassette: exchange.cassette.as_ref(),
        session,
        interaction,
        outcome,
        status: response.status().as_u16(),
        took: exchange.started.elapsed(),
        missed,
        skipped_polls: exchange.skipped_polls,
    });
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
