//! What an audited call's records say, and waiting for them to be durable: the attempt record
//! before a call leaves for AWS, the outcome record before its answer leaves the proxy. Which
//! calls are audited is the [`Hall`]'s; where the records go is `audit/`'s.

use std::borrow::Cow;
use std::time::Instant;

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use tracing::error;

use super::answer::Answer;
use super::exchange::Exchange;
use crate::audit::{self, AuditFailed, Event, Identity, Record, Source};
use crate::aws::envelope::{Input, Operation};
use crate::aws::error::headers;
use crate::config::OnAuditFailure;
use crate::error::ProxyError;
use crate::hall::{Audit, Hall};
use crate::json::Json;
use crate::text::printable;

/// Longest identifying value kept in an audit record; longer ones are cut.
const MAX_AUDITED_ID_CHARS: usize = 128;

/// The audit record of this exchange, without its outcome. It borrows the exchange's text.
pub(super) fn audit_record<'a>(
    hall: &'a Hall,
    event: Event,
    exchange: &'a Exchange<'_>,
) -> Record<'a> {
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
pub(super) fn outcome_record<'a>(
    hall: &'a Hall,
    exchange: &'a Exchange<'_>,
    answer: &'a Answer,
    response: &Response<Full<Bytes>>,
) -> Record<'a> {
    let mut record = audit_record(hall, Event::Outcome, exchange);
    record.source = Some(answer.source());
    record.status = Some(response.status().as_u16());
    record.error_type = answer.error_type().map(Cow::Borrowed);
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
pub(super) async fn durable(
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
        (answer.error_type()).is_some_and(|shape| AUTHENTICATION_REFUSALS.contains(&shape));
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
pub(super) fn identified(operation: Operation, input: &Input<'_>) -> Vec<(&'static str, String)> {
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
