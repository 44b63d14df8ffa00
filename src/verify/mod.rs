//! `ssm-vcr verify`: sends a cassette's read-only calls to the upstream again and reports how
//! the live answers differ from the recorded ones, in `cassette diff`'s classes; `--offline`
//! checks the recordings against this build's model instead (`offline.rs`).
//!
//! Only operations of the read-only allow-list are sent (`read_only.rs`); every other call is
//! reported skipped and never leaves, and so is a call whose request holds a placeholder, which
//! AWS would read as a value. Calls are signed as record mode signs them, paced (5 a second by
//! default) and retried with a doubling wait on `ThrottlingException`. A live answer goes
//! through the cassette's redaction before it is compared, so no secret reaches a report or the
//! cassette; an error saying the fixture itself is gone (`ParameterNotFound`,
//! `DoesNotExistException`, …) is a missing fixture, not drift. This module sends and compares;
//! `report.rs` renders, and the command line decides what is written.

pub mod offline;
pub mod read_only;
pub mod report;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use serde::Serialize;
use tokio::time::Instant;

use crate::aws::error::JSON_1_1;
use crate::aws::error::headers::X_AMZ_TARGET;
use crate::aws::is_region_name;
use crate::cassette::diff::{self, Change, Reason};
use crate::cassette::format::{Cassette, Interaction};
use crate::cassette::placeholder::is_placeholder;
use crate::cassette::recorder;
use crate::cassette::redact::{Placeholders, Redaction};
use crate::cassette::replay::error_type;
use crate::json::Json;
use crate::text::printable;
use crate::upstream::{Forwarded, Upstream};
use read_only::may_send;

/// What checking one recorded call found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing shown differs.
    Same,
    /// Something shown differs.
    Drift {
        /// What, in the diff's classes.
        changes: Vec<Change>,
    },
    /// The fixture the call reads is gone: the live answer is this error.
    MissingFixture {
        /// The error AWS answered.
        error: String,
    },
    /// Not sent.
    Skipped {
        /// Why.
        reason: String,
    },
    /// No answer came to compare.
    Failed {
        /// Why.
        reason: String,
    },
}

/// One recorded call, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checked {
    /// Its index in the cassette, from 0.
    pub index: usize,
    /// Its operation.
    pub operation: String,
    /// Its region.
    pub region: String,
    /// What was found.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Value changes counted but not shown.
    pub hidden_values: usize,
}

/// One cassette, checked.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// The file.
    pub file: String,
    /// What the reader should know of the cassette as a whole (the model it was recorded with).
    pub note: Option<String>,
    /// Each recorded call.
    pub checked: Vec<Checked>,
    /// Drifted answers written into the cassette (`--update`).
    pub updated: usize,
}

impl Verified {
    /// How many calls had an outcome like `matches`.
    pub fn count(&self, matches: fn(&Outcome) -> bool) -> usize {
        self.checked.iter().filter(|c| matches(&c.outcome)).count()
    }
}

/// How calls are sent.
#[derive(Debug, Clone)]
pub struct Options {
    /// Operations sent although the allow-list leaves them out.
    pub allowed: Vec<String>,
    /// The region to send every call to, instead of the recorded one.
    pub region: Option<String>,
    /// Show every value change.
    pub all_values: bool,
    /// Write drifted answers into the cassette.
    pub update: bool,
}

/// Throttled answers retried before the call is reported failed.
const MAX_THROTTLED: u32 = 4;

/// Spaces calls out to a rate.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next: Option<Instant>,
}

impl Pacer {
    /// The slowest rate accepted: a call every 100 s.
    pub const SLOWEST: f64 = 0.01;

    /// At most `per_second` calls a second; `None` below [`Pacer::SLOWEST`] or for a rate that
    /// is not a number.
    pub fn new(per_second: f64) -> Option<Self> {
        // NaN compares false with everything, so it is refused here too.
        if per_second.is_nan() || per_second < Self::SLOWEST {
            return None;
        }
        let interval = Duration::try_from_secs_f64(1.0 / per_second).ok()?;
        Some(Self {
            interval,
            next: None,
        })
    }

    /// Waits for the next call's turn.
    async fn turn(&mut self) {
        if let Some(next) = self.next {
            tokio::time::sleep_until(next).await;
        }
        self.next = Some(Instant::now() + self.interval);
    }
}

/// Sends `cassette`'s calls that may be sent and compares the answers; with `update`, drifted
/// answers replace the recorded ones in `cassette` (the caller writes it).
pub async fn verify_cassette(
    upstream: &Upstream,
    redaction: &Redaction,
    cassette: &mut Cassette,
    options: &Options,
    pacer: &mut Pacer,
) -> (Vec<Checked>, usize) {
    let mut placeholders = Placeholders::continuing(cassette);
    let mut checked = Vec::with_capacity(cassette.interactions.len());
    let mut updated = 0;
    for (index, recorded) in cassette.interactions.iter_mut().enumerate() {
        let found = check(
            upstream,
            redaction,
            &mut placeholders,
            pacer,
            recorded,
            options,
        )
        .await;
        if let Some(answer) = found.drifted.filter(|_| options.update) {
            recorded.response = answer.response;
            recorded.recorded_at = answer.recorded_at;
            updated += 1;
        }
        checked.push(Checked {
            index,
            operation: recorded.operation.clone(),
            region: recorded.region.clone(),
            outcome: found.outcome,
            hidden_values: found.hidden_values,
        });
    }
    (checked, updated)
}

/// What checking one recorded call found, and the live answer, redacted, when it drifted.
struct Found {
    outcome: Outcome,
    hidden_values: usize,
    drifted: Option<Interaction>,
}

impl From<Outcome> for Found {
    fn from(outcome: Outcome) -> Self {
        Self {
            outcome,
            hidden_values: 0,
            drifted: None,
        }
    }
}

/// Sends a recorded call, unless it must not be sent, and compares the redacted answer.
async fn check(
    upstream: &Upstream,
    redaction: &Redaction,
    placeholders: &mut Placeholders,
    pacer: &mut Pacer,
    recorded: &Interaction,
    options: &Options,
) -> Found {
    let region = options.region.as_deref().unwrap_or(&recorded.region);
    if let Err(not_sent) = may_send(&recorded.operation, &options.allowed) {
        let reason = not_sent.reason().to_owned();
        return Outcome::Skipped { reason }.into();
    }
    if !is_region_name(region) {
        let reason = format!("'{}' is not a region name", printable(region, 64));
        return Outcome::Failed { reason }.into();
    }
    if holds_placeholder(&recorded.request.body) {
        let reason = "its request holds redacted values, which AWS would read as values";
        return Outcome::Skipped {
            reason: reason.to_owned(),
        }
        .into();
    }
    let live = match ask(upstream, recorded, region, pacer).await {
        Ok(live) => live,
        Err(reason) => return Outcome::Failed { reason }.into(),
    };
    let mut answer = recorder::forwarded(
        &recorded.operation,
        &recorded.region,
        recorded.request.body.clone(),
        live.status,
        &live.headers,
        &live.body,
    );
    redaction.apply(&mut answer, placeholders);
    let (changes, hidden_values) = diff::answers(recorded, &answer, options.all_values);
    // An error now where the recording had another answer, saying the thing is gone.
    let gone = (changes.iter())
        .find(|change| change.reason == Reason::ErrorChanged)
        .and_then(|change| change.new.clone())
        .filter(|error| names_a_missing_fixture(error));
    let (outcome, drifted) = match gone {
        Some(error) => (Outcome::MissingFixture { error }, None),
        None if changes.is_empty() => (Outcome::Same, None),
        None => (Outcome::Drift { changes }, Some(answer)),
    };
    Found {
        outcome,
        hidden_values,
        drifted,
    }
}

/// Sends a recorded call, at its turn, waiting longer after each throttled answer.
async fn ask(
    upstream: &Upstream,
    recorded: &Interaction,
    region: &str,
    pacer: &mut Pacer,
) -> Result<Forwarded, String> {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_1_1));
    let target = format!("AmazonSSM.{}", recorded.operation);
    let target =
        HeaderValue::try_from(target).map_err(|_| "the operation is not a header value")?;
    headers.insert(X_AMZ_TARGET, target);
    let body = Bytes::from(recorded.request.body.to_vec());
    let mut wait = pacer.interval * 2;
    let mut throttled = 0;
    loop {
        pacer.turn().await;
        let answer = (upstream.forward(&headers, body.clone(), region).await)
            .map_err(|e| crate::text::chain(&e))?;
        let error = error_type(answer.status, &answer.headers, &answer.body);
        if error.as_deref() != Some("ThrottlingException") {
            return Ok(answer);
        }
        throttled += 1;
        if throttled > MAX_THROTTLED {
            return Err(format!("throttled {throttled} times in a row"));
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
}

/// Whether an error says the thing a call reads no longer exists, rather than that it changed.
fn names_a_missing_fixture(error: &str) -> bool {
    const INVALID_ID: [&str; 5] = [
        "InvalidResourceId",
        "InvalidInstanceId",
        "InvalidCommandId",
        "InvalidDocument",
        "InvalidActivationId",
    ];
    error.ends_with("NotFound")
        || error.ends_with("NotFoundException")
        || error.contains("DoesNotExist")
        || INVALID_ID.contains(&error)
}

/// Whether a request holds a placeholder anywhere.
fn holds_placeholder(value: &Json<'_>) -> bool {
    match value {
        Json::String(text) => is_placeholder(text),
        Json::Array(items) => items.iter().any(holds_placeholder),
        Json::Object(members) => members.iter().any(|(_, value)| holds_placeholder(value)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_about_a_vanished_fixture_are_told_from_others() {
        for gone in [
            "ParameterNotFound",
            "DoesNotExistException",
            "InvalidResourceId",
            "OpsItemNotFoundException",
            "AssociationDoesNotExist",
        ] {
            assert!(names_a_missing_fixture(gone), "{gone}");
        }
        for other in [
            "ValidationException",
            "ThrottlingException",
            "InternalServerError",
        ] {
            assert!(!names_a_missing_fixture(other), "{other}");
        }
    }
}
