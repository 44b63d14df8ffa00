//! `ssm-vcr audit reconcile`: the audit log against what AWS itself saw, from CloudTrail log
//! files as CloudTrail delivers them to S3 (`{"Records": […]}`, gzipped or not, in folders).
//!
//! CloudTrail events of the audited operations (`eventSource` `ssm.amazonaws.com`) are joined
//! with the log's forwarded outcomes on `requestID` ↔ `request_id`, and reported:
//!
//! - **bypassed the proxy**: an event the log has no record of;
//! - **not in CloudTrail**: a forwarded outcome within the span the CloudTrail files cover that
//!   CloudTrail has no event of (outcomes outside that span are counted, not judged: CloudTrail
//!   delivers minutes late, and the files given may cover less than the log);
//! - **identity mismatch**: the log's `access_key_id` is not the event's
//!   `userIdentity.accessKeyId`;
//! - **parameters differ**: an identifying member the log recorded (`WindowId`) is not the
//!   event's `requestParameters` member (`windowId`: CloudTrail writes them lowerCamelCase).
//!
//! Replayed calls never reached AWS and are not joined. This module reads files and returns
//! what it found; `cli/` prints it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flate2::read::MultiGzDecoder;
use serde::Deserialize;
use serde_json::Value;

use super::record::{Event, Record, Source};
use super::verify::verify_with;

/// The CloudTrail `eventSource` of SSM.
const SSM_EVENT_SOURCE: &str = "ssm.amazonaws.com";

/// One CloudTrail event, as much of it as reconciling reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrailEvent {
    event_time: String,
    event_source: String,
    event_name: String,
    #[serde(rename = "requestID")]
    request_id: Option<String>,
    #[serde(default)]
    user_identity: Option<UserIdentity>,
    #[serde(default)]
    request_parameters: Option<Value>,
    #[serde(default)]
    error_code: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity {
    access_key_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrailFile {
    records: Vec<TrailEvent>,
}

/// What reconciling found wrong, one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discrepancy {
    /// AWS saw a call the log has no record of.
    Bypassed(String),
    /// The log has a forwarded outcome CloudTrail has no event of.
    NotInCloudTrail(String),
    /// The log and CloudTrail name different access keys for one call.
    IdentityMismatch(String),
    /// The log and CloudTrail name different parameters for one call.
    ParametersDiffer(String),
}

impl Discrepancy {
    fn rank(&self) -> u8 {
        match self {
            Self::Bypassed(_) => 0,
            Self::NotInCloudTrail(_) => 1,
            Self::IdentityMismatch(_) => 2,
            Self::ParametersDiffer(_) => 3,
        }
    }
}

impl fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bypassed(what) => write!(f, "bypassed the proxy: {what}"),
            Self::NotInCloudTrail(what) => write!(f, "not in CloudTrail: {what}"),
            Self::IdentityMismatch(what) => write!(f, "identity mismatch: {what}"),
            Self::ParametersDiffer(what) => write!(f, "parameters differ: {what}"),
        }
    }
}

/// The outcome of a reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Everything found wrong.
    pub discrepancies: Vec<Discrepancy>,
    /// CloudTrail events of audited operations read.
    pub events: usize,
    /// Forwarded outcomes in the log (with a request id).
    pub forwarded: usize,
    /// Calls found in both.
    pub matched: usize,
    /// Forwarded outcomes outside the span the CloudTrail files cover, not judged.
    pub outside: usize,
    /// The audited operations reconciled.
    pub operations: BTreeSet<String>,
}

impl fmt::Display for Reconciled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let operations: Vec<&str> = self.operations.iter().map(String::as_str).collect();
        write!(
            f,
            "operations: {}\nCloudTrail events: {}; forwarded calls in the log: {} ({} outside the \
             CloudTrail files' span, not judged); in both: {}",
            operations.join(", "),
            self.events,
            self.forwarded,
            self.outside,
            self.matched
        )
    }
}

/// Why reconciling could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A CloudTrail file cannot be read or is not a CloudTrail log file.
    #[error("{}: {reason}", path.display())]
    Trail {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The audit log does not verify.
    #[error("the audit chain is broken at {0}: run `ssm-vcr audit verify`")]
    Broken(String),
}

/// Reconciles the log in `files` with the CloudTrail files and folders in `trails`, for the
/// `operations` given (none: those the log audits, and deregistrations).
pub fn reconcile<P: AsRef<Path>>(
    files: &[P],
    trails: &[PathBuf],
    operations: &[String],
) -> Result<Reconciled, ReconcileError> {
    let mut forwarded: Vec<Record<'static>> = Vec::new();
    let mut audited: BTreeSet<String> = operations.iter().cloned().collect();
    let report = verify_with(files, &mut |record, _| {
        if let Some(operation) = record.operation_name() {
            if operations.is_empty() {
                audited.insert(operation.to_owned());
            }
            let reached_aws = record.event == Event::Outcome
                && record.source == Some(Source::Upstream)
                && record.request_id.is_some();
            if reached_aws {
                forwarded.push(record.clone());
            }
        }
    });
    if let Some(broken) = report.broken {
        return Err(ReconcileError::Broken(broken.to_string()));
    }
    if audited.is_empty() {
        audited.insert(super::record::FORMAT_1_OPERATION.to_owned());
    }
    let mut events: Vec<TrailEvent> = Vec::new();
    for file in trail_files(trails)? {
        events.extend(read_trail(&file)?.into_iter().filter(|event| {
            event.event_source == SSM_EVENT_SOURCE && audited.contains(&event.event_name)
        }));
    }
    // CloudTrail files overlap in time and arrive in any order: report in the order of events.
    events.sort_by(|a, b| (&a.event_time, &a.request_id).cmp(&(&b.event_time, &b.request_id)));
    Ok(compare(&forwarded, &events, audited))
}

fn compare(
    forwarded: &[Record<'static>],
    events: &[TrailEvent],
    operations: BTreeSet<String>,
) -> Reconciled {
    let span = span_of(events);
    let by_id: HashMap<&str, &TrailEvent> = events
        .iter()
        .filter_map(|event| Some((event.request_id.as_deref()?, event)))
        .collect();
    let logged: HashMap<&str, &Record<'static>> = forwarded
        .iter()
        .filter_map(|record| Some((record.request_id.as_deref()?, record)))
        .collect();
    let mut discrepancies = Vec::new();
    let (mut matched, mut outside) = (0, 0);
    for event in events {
        let Some(record) = event.request_id.as_deref().and_then(|id| logged.get(id)) else {
            discrepancies.push(Discrepancy::Bypassed(describe_event(event)));
            continue;
        };
        matched += 1;
        let key = event
            .user_identity
            .as_ref()
            .and_then(|u| u.access_key_id.as_deref());
        if key != record.access_key_id.as_deref() {
            discrepancies.push(Discrepancy::IdentityMismatch(format!(
                "seq {} ({}, request id {}): the log says {}, CloudTrail says {}",
                record.seq,
                event.event_name,
                record.request_id.as_deref().unwrap_or_default(),
                record.access_key_id.as_deref().unwrap_or("no access key"),
                key.unwrap_or("no access key")
            )));
        }
        for (member, value) in record.identifying() {
            let theirs = (event.request_parameters.as_ref())
                .and_then(|parameters| parameters.get(lower_camel(member)))
                .and_then(Value::as_str);
            if let Some(theirs) = theirs.filter(|theirs| *theirs != value) {
                discrepancies.push(Discrepancy::ParametersDiffer(format!(
                    "seq {} (request id {}): the log says {member}={value}, CloudTrail says {}={theirs}",
                    record.seq,
                    record.request_id.as_deref().unwrap_or_default(),
                    lower_camel(member)
                )));
            }
        }
    }
    for record in forwarded {
        let id = record.request_id.as_deref().unwrap_or_default();
        if by_id.contains_key(id) {
            continue;
        }
        let within = humantime::parse_rfc3339(&record.time)
            .ok()
            .zip(span)
            .is_some_and(|(time, (first, last))| first <= time && time <= last);
        if !within {
            outside += 1;
            continue;
        }
        discrepancies.push(Discrepancy::NotInCloudTrail(format!(
            "seq {} {} at {} (request id {id}, status {}): the log says AWS answered it, and \
             CloudTrail has no event of it",
            record.seq,
            record.operation_name().unwrap_or_default(),
            record.time,
            record.status.unwrap_or_default()
        )));
    }
    // Calls AWS saw first, then the log's own, then disagreements; each in log or trail order.
    discrepancies.sort_by_key(Discrepancy::rank);
    Reconciled {
        discrepancies,
        events: events.len(),
        forwarded: forwarded.len(),
        matched,
        outside,
        operations,
    }
}

fn describe_event(event: &TrailEvent) -> String {
    let parameters: BTreeMap<&str, &str> = (event.request_parameters.as_ref())
        .and_then(Value::as_object)
        .map(|object| {
            object
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    let parameters: Vec<String> = parameters.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{} by {} at {} (request id {}{}{}): AWS saw it, and the audit log has no record of it",
        event.event_name,
        (event.user_identity.as_ref())
            .and_then(|u| u.access_key_id.as_deref())
            .unwrap_or("an unknown access key"),
        event.event_time,
        event.request_id.as_deref().unwrap_or("none"),
        if parameters.is_empty() {
            String::new()
        } else {
            format!(", {}", parameters.join(" "))
        },
        event
            .error_code
            .as_deref()
            .map(|code| format!(", failed with {code}"))
            .unwrap_or_default()
    )
}

/// The earliest and latest event times: the span the CloudTrail files cover.
fn span_of(events: &[TrailEvent]) -> Option<(SystemTime, SystemTime)> {
    let times: Vec<SystemTime> = events
        .iter()
        .filter_map(|event| humantime::parse_rfc3339(&event.event_time).ok())
        .collect();
    Some((*times.iter().min()?, *times.iter().max()?))
}

/// `WindowId` → `windowId`: CloudTrail's spelling of SSM's members.
fn lower_camel(member: &str) -> String {
    let mut chars = member.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

/// The files given and, under each folder given, every file (S3's layout nests them by
/// account, region and date), in name order.
fn trail_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ReconcileError> {
    let mut files = Vec::new();
    let mut folders: Vec<PathBuf> = Vec::new();
    for path in paths {
        if path.is_dir() {
            folders.push(path.clone());
        } else {
            files.push(path.clone());
        }
    }
    while let Some(folder) = folders.pop() {
        let entries = fs::read_dir(&folder).map_err(|e| ReconcileError::Trail {
            path: folder.clone(),
            reason: e.to_string(),
        })?;
        let mut found: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        found.sort();
        for path in found {
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    Ok(files)
}

/// One CloudTrail log file's events; gzip (`.json.gz`, as delivered) is told by its magic bytes.
fn read_trail(path: &Path) -> Result<Vec<TrailEvent>, ReconcileError> {
    let failed = |reason: String| ReconcileError::Trail {
        path: path.to_owned(),
        reason,
    };
    let bytes = fs::read(path).map_err(|e| failed(e.to_string()))?;
    let json = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut json = Vec::new();
        MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut json)
            .map_err(|e| failed(format!("not a gzip file: {e}")))?;
        json
    } else {
        bytes
    };
    let file: TrailFile = serde_json::from_slice(&json).map_err(|e| {
        failed(format!(
            "not a CloudTrail log file ({{\"Records\": [...]}}): {e}"
        ))
    })?;
    Ok(file.records)
}
