//! Cassette format version 1: one pretty-printed JSON file per cassette.
//!
//! The format is documented with an example in `docs/cassettes.md`. Serialization is
//! deterministic (struct fields in declaration order, JSON object keys sorted), so the same
//! interactions always produce the same bytes. This module checks the shape of a file; it does
//! not check recorded requests against the AWS model (`check.rs` does).

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

pub use super::body::Body;
use super::body::to_vec_pretty;
use crate::aws::error::headers::X_AMZN_REQUEST_ID;
use crate::aws::model::{is_operation_name, provenance};
use crate::json::Json;

/// Headers that describe the connection or the body's framing, never replayed from a file.
const FRAMING_HEADERS: [HeaderName; 3] = [
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
];

/// The most answers one cassette may replay, repeats counted: a bound on the memory a
/// hand-edited `repeat` can ask for.
pub const MAX_REPLAYED_ANSWERS: u64 = 10_000_000;

/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// A whole cassette file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cassette {
    /// Format version; always `FORMAT_VERSION` (1) for files this build accepts.
    pub version: u32,
    /// Free text for reviewers, e.g. where the cassette came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The SSM model the proxy judged and redacted these recordings with (absent in files
    /// written by hand or by older builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelStamp>,
    /// Interactions in the order they were recorded.
    pub interactions: Vec<Interaction>,
}

/// Which SSM model a cassette was written with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelStamp {
    /// The botocore release the model comes from.
    pub botocore: String,
    /// SHA-256 of the model file, lower-case hex.
    pub sha256: String,
}

impl ModelStamp {
    /// The model of this build.
    pub fn current() -> Self {
        let model = provenance();
        Self {
            botocore: model.botocore.to_owned(),
            sha256: model.sha256.to_owned(),
        }
    }
}

/// One request and the answer AWS gave to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interaction {
    /// The SSM operation, e.g. `DeregisterTaskFromMaintenanceWindow`.
    pub operation: String,
    /// The region of the caller's credential scope.
    pub region: String,
    /// When the answer was recorded (RFC 3339, UTC).
    pub recorded_at: String,
    /// What the client sent.
    pub request: RecordedRequest,
    /// What AWS answered.
    pub response: RecordedResponse,
    /// How many times in a row AWS gave this answer to this request, as a polling client
    /// saw it (absent when once): replay serves it that many times.
    #[serde(default = "once", skip_serializing_if = "is_once")]
    pub repeat: u32,
}

fn once() -> u32 {
    1
}

fn is_once(repeat: &u32) -> bool {
    *repeat == 1
}

/// The recorded request: its JSON input only. Request headers are never stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedRequest {
    /// The request body as a JSON object.
    #[serde(deserialize_with = "crate::json::owned")]
    pub body: Json<'static>,
}

/// The recorded response, replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedResponse {
    /// HTTP status.
    pub status: u16,
    /// The response headers that matter, lower-case names.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The exact body bytes.
    pub body: Body,
}

/// A problem with a file's shape, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Not JSON, or not the structure of a cassette.
    #[error("{0}")]
    Syntax(String),
    /// A version this build does not understand.
    #[error("format version {found} is not supported (this build reads version {FORMAT_VERSION})")]
    Version {
        /// The version in the file.
        found: u32,
    },
    /// An interaction whose content is unusable.
    #[error("interaction {index}: {reason}")]
    Interaction {
        /// Position in `interactions`, from 0.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

impl Cassette {
    /// An empty cassette of the current version.
    pub fn new() -> Self {
        Self {
            version: FORMAT_VERSION,
            note: None,
            model: None,
            interactions: Vec::new(),
        }
    }

    /// Parses and checks a cassette file's bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, FormatError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        // Read the version first so that a newer file says "newer version", not "unknown field".
        if let Ok(VersionOnly { version }) = serde_json::from_slice::<VersionOnly>(bytes)
            && version != FORMAT_VERSION
        {
            return Err(FormatError::Version { found: version });
        }
        let cassette: Self =
            serde_json::from_slice(bytes).map_err(|e| FormatError::Syntax(e.to_string()))?;
        if cassette.version != FORMAT_VERSION {
            return Err(FormatError::Version {
                found: cassette.version,
            });
        }
        for (index, interaction) in cassette.interactions.iter().enumerate() {
            interaction
                .check()
                .map_err(|reason| FormatError::Interaction { index, reason })?;
        }
        cassette.check_answers()?;
        Ok(cassette)
    }

    /// Refuses a cassette that replays more than `MAX_REPLAYED_ANSWERS` (10,000,000) answers.
    pub fn check_answers(&self) -> Result<(), FormatError> {
        let answers: u64 = self.interactions.iter().map(|i| u64::from(i.repeat)).sum();
        if answers > MAX_REPLAYED_ANSWERS {
            return Err(FormatError::Syntax(format!(
                "the cassette replays {answers} answers, repeats counted; at most \
                 {MAX_REPLAYED_ANSWERS} are read"
            )));
        }
        Ok(())
    }

    /// A new cassette for recording into, saying where it came from.
    pub fn recording() -> Self {
        Self {
            note: Some(format!(
                "Recorded by ssm-vcr {}.",
                env!("CARGO_PKG_VERSION")
            )),
            ..Self::new()
        }
    }

    /// The file's bytes: pretty JSON with a final newline, deterministic.
    pub fn to_json(&self) -> Vec<u8> {
        self.to_json_with(&self.interactions)
    }

    /// The bytes of a file with this cassette's version, note and model, and `interactions`
    /// instead of its own: a recorder keeps its interactions apart, shared with the snapshot
    /// it writes while recording goes on.
    pub fn to_json_with<I>(&self, interactions: &[I]) -> Vec<u8>
    where
        I: std::borrow::Borrow<Interaction>,
    {
        /// The fields of [`Cassette`], in its order, with the same rules for absent ones.
        #[derive(Serialize)]
        #[serde(bound(serialize = "I: std::borrow::Borrow<Interaction>"))]
        struct File<'a, I> {
            version: u32,
            #[serde(skip_serializing_if = "Option::is_none")]
            note: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            model: Option<&'a ModelStamp>,
            interactions: Interactions<'a, I>,
        }
        struct Interactions<'a, I>(&'a [I]);
        impl<I: std::borrow::Borrow<Interaction>> Serialize for Interactions<'_, I> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.iter().map(std::borrow::Borrow::borrow))
            }
        }
        let file = File {
            version: self.version,
            note: self.note.as_deref(),
            model: self.model.as_ref(),
            interactions: Interactions(interactions),
        };
        let mut bytes = to_vec_pretty(&file);
        bytes.push(b'\n');
        bytes
    }
}

impl Default for Cassette {
    fn default() -> Self {
        Self::new()
    }
}

impl Interaction {
    /// Whether `other` is this interaction's answer again, as a poll gets it: the same status,
    /// headers and body bytes, request ids and recording time aside.
    pub fn same_answer(&self, other: &Self) -> bool {
        let (a, b) = (&self.response, &other.response);
        fn headers(r: &RecordedResponse) -> impl Iterator<Item = (&String, &String)> {
            (r.headers.iter()).filter(|(name, _)| *name != X_AMZN_REQUEST_ID.as_str())
        }
        a.status == b.status && a.body == b.body && headers(a).eq(headers(b))
    }

    fn check(&self) -> Result<(), String> {
        // Any well-formed name: whether the model knows it is `cassette check`'s question, so a
        // cassette recorded with a newer model still loads.
        if !is_operation_name(&self.operation) {
            return Err(format!(
                "operation '{}' is not an operation name",
                self.operation
            ));
        }
        if self.region.is_empty() {
            return Err("region is empty".to_owned());
        }
        if self.repeat == 0 {
            return Err(
                "repeat is 0: it counts the times in a row an answer was given, at least 1"
                    .to_owned(),
            );
        }
        if !matches!(self.request.body, Json::Object(_)) {
            return Err("request.body must be a JSON object".to_owned());
        }
        self.response.status()?;
        self.response.header_map()?;
        self.response.body.to_bytes()?;
        Ok(())
    }
}

impl RecordedResponse {
    /// The status as an HTTP status code.
    pub fn status(&self) -> Result<StatusCode, String> {
        StatusCode::from_u16(self.status)
            .ok()
            .filter(|s| (200..600).contains(&s.as_u16()))
            .ok_or_else(|| {
                format!(
                    "response.status {} is not an HTTP status between 200 and 599",
                    self.status
                )
            })
    }

    /// The headers as an HTTP header map, framing headers left out: the replayed body sets its
    /// own length, so a hand-edited body can never disagree with a recorded `content-length`.
    pub fn header_map(&self) -> Result<HeaderMap, String> {
        let mut map = HeaderMap::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("response header name '{name}' is invalid"))?;
            if FRAMING_HEADERS.contains(&name) {
                continue;
            }
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("response header '{name}' has an invalid value"))?;
            map.insert(name, value);
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"{
  "version": 1,
  "interactions": [
    {
      "operation": "DeregisterTaskFromMaintenanceWindow",
      "region": "us-east-1",
      "recorded_at": "2024-02-25T18:01:33Z",
      "request": {
        "body": {
          "WindowId": "mw-0123456789abcdef0",
          "WindowTaskId": "3f2a1b4c-0000-4000-8000-00000000abcd"
        }
      },
      "response": {
        "status": 200,
        "headers": {
          "content-type": "application/x-amz-json-1.1"
        },
        "body": {
          "utf8": "{}"
        }
      }
    }
  ]
}
"#;

    mod from_json {
        use super::*;

        #[test]
        fn round_trips_to_identical_bytes() {
            let cassette = Cassette::from_json(ONE.as_bytes()).unwrap();
            assert_eq!(String::from_utf8(cassette.to_json()).unwrap(), ONE);
        }

        #[test]
        fn names_a_newer_version() {
            let err = Cassette::from_json(br#"{"version": 2, "whatever": []}"#).unwrap_err();
            assert_eq!(
                err.to_string(),
                "format version 2 is not supported (this build reads version 1)"
            );
        }

        #[test]
        fn names_the_bad_interaction() {
            let bad = ONE.replace("\"status\": 200", "\"status\": 42");
            let err = Cassette::from_json(bad.as_bytes()).unwrap_err();
            assert_eq!(
                err.to_string(),
                "interaction 0: response.status 42 is not an HTTP status between 200 and 599"
            );
        }

        #[test]
        fn reports_syntax_errors_with_their_position() {
            let err = Cassette::from_json(b"{\"version\": 1,\n \"interactions\": [}").unwrap_err();
            assert!(err.to_string().contains("line 2"), "{err}");
        }
    }

    mod body {
        use super::*;

        #[test]
        fn binary_bodies_survive_as_base64() {
            let bytes = [0xff_u8, 0x00, 0x7b];
            let body = Body::from_bytes(&bytes);
            assert!(matches!(body, Body::Base64(_)));
            assert_eq!(&body.to_bytes().unwrap()[..], &bytes);
        }
    }
}
