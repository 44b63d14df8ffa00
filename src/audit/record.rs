//! One audit record and the hash chain that links it to the one before.
//!
//! A record is one JSON line, written by serde_json. Its `hash` is the SHA-256 of the exact
//! bytes of the line with the `,"hash":"…"` member removed, and its `prev` is the `hash` of the
//! record before it (the first record of a new log chains to [`GENESIS`]). Hashing bytes rather
//! than re-serialised values means any changed byte is detected, even one that leaves the JSON
//! meaning unchanged.
//!
//! A record is serialised where it is made, as a [`Draft`]: all of it but `seq` and `prev`,
//! which only the writer knows, so the one writer thread that every audited call waits on only
//! numbers, chains and hashes bytes. This module neither writes nor reads files.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev` of the first record of a new log.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The member appended to each sealed line, before the hash itself.
const HASH_MEMBER: &[u8] = b",\"hash\":\"";

/// What a record is about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The proxy started writing to this log.
    Start,
    /// This file continues the chain of a rotated file.
    Rotate,
    /// An audited call is about to leave for AWS.
    Attempt,
    /// An audited call was answered (the common case, hence the default).
    #[default]
    Outcome,
    /// A signed tree head over every record before this one (`checkpoint`).
    Checkpoint,
}

impl Event {
    /// Every event, for whoever must cover them all (the tests, the fuzz target).
    pub const ALL: [Self; 5] = [
        Self::Start,
        Self::Rotate,
        Self::Attempt,
        Self::Outcome,
        Self::Checkpoint,
    ];
}

/// Who produced the answer to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The proxy itself: rejected, missed, or failed to reach AWS.
    Proxy,
    /// A recorded answer from a cassette.
    Cassette,
    /// AWS (or the configured upstream).
    Upstream,
}

/// How far the caller's identity in a record can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    /// AWS accepted the caller's own signature: the call came through the forward proxy and
    /// was sent on untouched, and the upstream did not refuse its authentication.
    Authenticated,
    /// Only what the caller's signature says, never checked: replayed calls, calls to the
    /// endpoint (re-signed by the proxy), and calls AWS refused to authenticate.
    Claimed,
}

/// One line of the audit log. Field order is the line's order; absent fields are left out.
///
/// Text is borrowed where a record is made from what the proxy already holds (so an audited
/// call copies no string into it), and owned where a record is read back from a file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record<'a> {
    /// Position in the chain, from 1, never reset by rotation or restart.
    pub seq: u64,
    /// UTC time of the event, RFC 3339 with milliseconds.
    pub time: Cow<'a, str>,
    /// What happened.
    pub event: Event,
    /// For start and rotate records: what the proxy did, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Cow<'a, str>>,
    /// For checkpoint records: the signed checkpoint, a C2SP signed note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Cow<'a, str>>,
    /// For checkpoint records: the right edge of the tree the checkpoint signs (the roots of
    /// its perfect subtrees, largest first, base64), from which a restart continues the tree
    /// without reading the records before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<Vec<Cow<'a, str>>>,
    /// `replay`, `record`, `auto` or `passthrough`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Cow<'a, str>>,
    /// Who answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<Cow<'a, str>>,
    /// The access key id of the SigV4 credential scope (never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<Cow<'a, str>>,
    /// Outcome records: whether AWS authenticated that access key, or it is only claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// The region of the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Cow<'a, str>>,
    /// The audited operation, e.g. `DeregisterTaskFromMaintenanceWindow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Cow<'a, str>>,
    /// What the call is about: its identifying input members (the model's required string
    /// members) as sent, made printable and bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub what: Option<BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
    /// Format 1 only (logs written before `operation` and `what`): `WindowId` as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_id: Option<Cow<'a, str>>,
    /// Format 1 only: `WindowTaskId` as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_task_id: Option<Cow<'a, str>>,
    /// HTTP status of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// AWS error shape of the answer, when it is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<Cow<'a, str>>,
    /// `x-amzn-RequestId` of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Cow<'a, str>>,
    /// Time from request to answer, microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<u64>,
    /// The cassette answered from (or selected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cassette: Option<Cow<'a, str>>,
    /// Index of the replayed interaction in the cassette.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interaction: Option<usize>,
    /// The hash of the previous record.
    pub prev: Cow<'a, str>,
}

/// UTC now, RFC 3339 with milliseconds: `2026-11-25T09:04:00.123Z`.
pub fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// A record's members but `seq` and `prev`, serialised: `"time":…,"event":…,` up to the comma
/// before `prev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    members: Vec<u8>,
}

/// How every serialised record starts and ends when its `seq` is 0 and its `prev` empty: what
/// [`Record::into_draft`] cuts off and [`Draft::seal_into`] writes back, filled in.
const UNSEALED_START: &[u8] = b"{\"seq\":0,";
const UNSEALED_END: &[u8] = b"\"prev\":\"\"}";

/// The operation of format-1 records, which audited nothing else and did not name it.
pub const FORMAT_1_OPERATION: &str = "DeregisterTaskFromMaintenanceWindow";

impl Record<'_> {
    /// The record, serialised but for its `seq` and `prev` (which the writer sets).
    pub fn into_draft(self) -> Draft {
        let unsealed = Record {
            seq: 0,
            prev: Cow::Borrowed(""),
            ..self
        };
        let mut members = serde_json::to_vec(&unsealed).expect("a record always serialises");
        members.truncate(members.len() - UNSEALED_END.len());
        members.drain(..UNSEALED_START.len());
        Draft { members }
    }

    /// The audited operation; format-1 records name none, and were all deregistrations.
    pub fn operation_name(&self) -> Option<&str> {
        match (&self.operation, self.event) {
            (Some(operation), _) => Some(operation),
            (None, Event::Attempt | Event::Outcome) => Some(FORMAT_1_OPERATION),
            (None, Event::Start | Event::Rotate | Event::Checkpoint) => None,
        }
    }

    /// The identifying input members as recorded, in either format.
    pub fn identifying(&self) -> Vec<(&str, &str)> {
        match &self.what {
            Some(what) => what.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect(),
            None => [
                ("WindowId", &self.window_id),
                ("WindowTaskId", &self.window_task_id),
            ]
            .into_iter()
            .filter_map(|(member, value)| Some((member, value.as_deref()?)))
            .collect(),
        }
    }

    /// The identifying input member `name` as recorded, in either format.
    pub fn identified(&self, name: &str) -> Option<&str> {
        (self.identifying().into_iter())
            .find(|(member, _)| *member == name)
            .map(|(_, value)| value)
    }
}

impl Source {
    /// Every source, for whoever must cover them all (the tests, the fuzz target).
    pub const ALL: [Self; 3] = [Self::Proxy, Self::Cassette, Self::Upstream];

    /// The name a record gives it (its serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proxy => "proxy",
            Self::Cassette => "cassette",
            Self::Upstream => "upstream",
        }
    }
}

impl Draft {
    /// Appends the sealed line (ending in `\n`) numbered `seq` and chained to `prev` to `out`,
    /// and returns its hash: the bytes `serde_json` writes for the whole record, then the hash.
    ///
    /// The line is written in place so that a batch of records shares one buffer: no line of
    /// its own, no copy into the batch.
    pub fn seal_into(&self, seq: u64, prev: &str, out: &mut Vec<u8>) -> String {
        let start = out.len();
        write!(out, "{{\"seq\":{seq},").expect("writing to a Vec cannot fail");
        out.extend_from_slice(&self.members);
        out.extend_from_slice(b"\"prev\":\"");
        out.extend_from_slice(prev.as_bytes()); // a hex hash: nothing to escape
        out.extend_from_slice(b"\"}");
        let hash = sha256_hex(&out[start..]);
        out.pop(); // the closing brace, put back after the hash member
        out.extend_from_slice(HASH_MEMBER);
        out.extend_from_slice(hash.as_bytes());
        out.extend_from_slice(b"\"}\n");
        hash
    }
}

/// Why one line does not verify on its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// No well-formed `"hash"` member at the end of the line.
    #[error("it has no hash member at its end")]
    NoHash,
    /// The hash does not match the bytes.
    #[error("its hash does not match its content: the record was altered")]
    HashMismatch,
    /// The hash matches but the content is not a record.
    #[error("it is not an audit record: {0}")]
    Malformed(String),
}

/// Checks a line's own hash and parses it; the line has no trailing newline.
pub fn unseal(line: &[u8]) -> Result<(Record<'static>, String), LineError> {
    let suffix_len = HASH_MEMBER.len() + 64 + 2;
    let split = line
        .len()
        .checked_sub(suffix_len)
        .ok_or(LineError::NoHash)?;
    let (body, suffix) = line.split_at(split);
    let hash = suffix
        .strip_prefix(HASH_MEMBER)
        .and_then(|rest| rest.strip_suffix(b"\"}"))
        .filter(|hex| hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .ok_or(LineError::NoHash)?;
    let mut original = body.to_vec();
    original.push(b'}');
    if sha256_hex(&original).as_bytes() != hash {
        return Err(LineError::HashMismatch);
    }
    let record: Record<'static> =
        serde_json::from_slice(&original).map_err(|e| LineError::Malformed(e.to_string()))?;
    Ok((record, String::from_utf8_lossy(hash).into_owned()))
}

/// Lowercase hex of the SHA-256 of `bytes`, encoded into a buffer: `hex::encode` builds its
/// string a character at a time, on the writer thread every audited call waits for.
fn sha256_hex(bytes: &[u8]) -> String {
    let mut hex = [0; 64];
    hex::encode_to_slice(Sha256::digest(bytes), &mut hex).expect("a SHA-256 is 32 bytes");
    String::from_utf8(hex.to_vec()).expect("hex digits are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record<'static> {
        Record {
            seq: 7,
            time: "2026-11-25T09:04:00.123Z".into(),
            event: Event::Outcome,
            operation: Some(FORMAT_1_OPERATION.into()),
            what: Some(BTreeMap::from([(
                "WindowId".into(),
                "mw-\"quoted\"\u{1}".into(),
            )])),
            status: Some(200),
            prev: GENESIS.into(),
            ..Record::default()
        }
    }

    /// Seals `record` with its own `seq` and `prev`, as the writer would number and chain it.
    fn sealed(record: Record<'_>, out: &mut Vec<u8>) -> String {
        let (seq, prev) = (record.seq, record.prev.clone());
        record.into_draft().seal_into(seq, &prev, out)
    }

    /// Seals `record` and checks that the line, up to its hash member, is what serde_json
    /// writes for the whole record; returns the line.
    fn assert_sealed_as_serde_json_writes(record: &Record<'_>) -> Vec<u8> {
        let mut line = Vec::new();
        sealed(record.clone(), &mut line);
        let whole = serde_json::to_vec(record).unwrap();
        let before_hash = &whole[..whole.len() - 1];
        assert_eq!(
            String::from_utf8_lossy(&line[..before_hash.len()]),
            String::from_utf8_lossy(before_hash)
        );
        line
    }

    mod seal {
        use super::*;

        #[test]
        fn a_sealed_draft_is_the_whole_record_as_serde_json_writes_it() {
            // Readers that re-serialise a record rely on it.
            let line = assert_sealed_as_serde_json_writes(&record());
            let whole = serde_json::to_vec(&record()).unwrap();
            assert!(line[whole.len() - 1..].starts_with(HASH_MEMBER));
        }

        /// Every field set, so that a field added to `Record` is covered here.
        fn every_field(text: &str, event: Event, source: Source, number: u64) -> Record<'_> {
            Record {
                seq: number,
                time: text.into(),
                event,
                detail: Some(text.into()),
                checkpoint: Some(text.into()),
                tree: Some(vec![text.into(), text.into()]),
                mode: Some(text.into()),
                source: Some(source),
                client: Some(text.into()),
                access_key_id: Some(text.into()),
                identity: Some(Identity::Authenticated),
                region: Some(text.into()),
                operation: Some(text.into()),
                what: Some(BTreeMap::from([(text.into(), text.into())])),
                window_id: Some(text.into()),
                window_task_id: Some(text.into()),
                status: Some(number as u16),
                error_type: Some(text.into()),
                request_id: Some(text.into()),
                latency_us: Some(number),
                cassette: Some(text.into()),
                interaction: Some(number as usize),
                prev: GENESIS.into(),
            }
        }

        #[test]
        fn a_draft_writes_every_field_and_escape_as_serde_json_does() {
            let texts = [
                "",
                "mw-0c50858d01e8a7b6f",
                "a \"quoted\" \\ back\\slash",
                "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f} controls",
                "\u{7f} del, é, \u{2028}, 🦀",
            ];
            let (events, sources) = (Event::ALL, Source::ALL);
            for (i, text) in texts.into_iter().enumerate() {
                for (event, source) in events.into_iter().zip(sources.into_iter().cycle()) {
                    for number in [0, 7, u64::from(u16::MAX), u64::MAX] {
                        let number = number.wrapping_add(i as u64);
                        assert_sealed_as_serde_json_writes(&every_field(
                            text, event, source, number,
                        ));
                    }
                }
            }
        }

        #[test]
        fn a_draft_leaves_absent_fields_out() {
            let bare = Record {
                time: "2026-11-25T09:04:00.123Z".into(),
                prev: GENESIS.into(),
                ..Record::default()
            };
            let line = assert_sealed_as_serde_json_writes(&bare);
            assert!(line.starts_with(
                b"{\"seq\":0,\"time\":\"2026-11-25T09:04:00.123Z\",\"event\":\"outcome\",\"prev\":"
            ));
        }

        #[test]
        fn hashes_are_lowercase_hex_sha256() {
            // FIPS 180-2's "abc" vector: logs written by any version must keep verifying.
            assert_eq!(
                sha256_hex(b"abc"),
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            );
        }

        #[test]
        fn round_trips_through_unseal() {
            let mut line = Vec::new();
            let hash = sealed(record(), &mut line);
            assert!(line.ends_with(b"\"}\n"));
            let (parsed, unsealed_hash) = unseal(&line[..line.len() - 1]).unwrap();
            assert_eq!(parsed, record());
            assert_eq!(unsealed_hash, hash);
        }

        #[test]
        fn lines_appended_to_a_batch_each_verify_alone() {
            let mut batch = b"earlier bytes\n".to_vec();
            let first = sealed(record(), &mut batch);
            let second = sealed(
                Record {
                    prev: first.clone().into(),
                    ..record()
                },
                &mut batch,
            );
            let lines: Vec<&[u8]> = batch.split(|&b| b == b'\n').collect();
            assert_eq!(unseal(lines[1]).unwrap().1, first);
            assert_eq!(unseal(lines[2]).unwrap().1, second);
            assert_ne!(first, second);
        }

        #[test]
        fn any_changed_byte_is_detected() {
            let mut line = Vec::new();
            sealed(record(), &mut line);
            let line = &line[..line.len() - 1];
            for i in 0..line.len() {
                let mut tampered = line.to_vec();
                tampered[i] ^= 0x01;
                assert!(unseal(&tampered).is_err(), "byte {i} changed undetected");
            }
        }
    }
}
