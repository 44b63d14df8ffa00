//! What is allowed into a cassette: the response headers worth keeping, the model's sensitive
//! values replaced by stable placeholders, configured redaction of JSON paths, and the last line
//! of defence, a scan that refuses to write anything that looks like AWS credentials.
//!
//! Request headers are never stored at all (the format has no place for them), so
//! `Authorization`, `X-Amz-Security-Token`, `X-Amz-Date` and cookies cannot leak through them.
//! This module decides; `recorder.rs` writes.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use http::HeaderMap;
use regex::bytes::Regex;
use sha2::{Digest, Sha256};

use super::format::{Body, Cassette, Interaction};
use super::json_path::JsonPath;
use super::placeholder::{PLACEHOLDER_PREFIX, REDACTED, is_placeholder, placeholder};
use super::secrets::Bindings;
use crate::aws::model::{Operation, ShapeId, walk};
use crate::json::Json;

/// Response headers recorded (lower case); every other response header is dropped.
pub const RECORDED_RESPONSE_HEADERS: [&str; 3] =
    ["content-type", "x-amzn-errortype", "x-amzn-requestid"];

/// Access key ids (long-term `AKIA…`, temporary `ASIA…`) and secrets assigned to a key name.
static CREDENTIAL_SHAPES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|(?i:secret_?access_?key|aws_secret|SecretAccessKey)["'\s:=]+[A-Za-z0-9/+]{40}"#,
    )
    .expect("a valid pattern")
});

/// What a recorded interaction loses before it is written: every value the model marks
/// `sensitive`, replaced by a placeholder (unless configured to be kept), and the configured
/// JSON paths, replaced by `REDACTED`.
#[derive(Debug, Clone, Default)]
pub struct Redaction {
    paths: Vec<JsonPath>,
    kept: Vec<KeptSensitive>,
}

/// A sensitive value the configuration asks to record as it is:
/// `<Operation>:<request|response>:<path>`, the path as [`walk::redact`] names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptSensitive {
    operation: Operation,
    direction: Direction,
    path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Request,
    Response,
}

impl KeptSensitive {
    /// Parses `GetParameter:response:Parameter.Value`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let usage = || {
            format!(
                "'{spec}' is not <Operation>:<request|response>:<path>, e.g. \
                 'GetParameter:response:Parameter.Value'"
            )
        };
        let mut parts = spec.splitn(3, ':');
        let (Some(operation), Some(direction), Some(path)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(usage());
        };
        let operation = Operation::named(operation)
            .ok_or_else(|| format!("'{operation}' is not an operation of the SSM model"))?;
        let direction = match direction {
            "request" => Direction::Request,
            "response" => Direction::Response,
            _ => return Err(usage()),
        };
        if path.is_empty() {
            return Err(usage());
        }
        Ok(Self {
            operation,
            direction,
            path: path.to_owned(),
        })
    }
}

impl fmt::Display for KeptSensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let direction = match self.direction {
            Direction::Request => "request",
            Direction::Response => "response",
        };
        write!(f, "{}:{direction}:{}", self.operation, self.path)
    }
}

/// The placeholders of one cassette: the same value always gets the same one, so a test that
/// compares two reads of a secret still passes. Only digests of values are kept, besides the
/// replay bindings of a cassette that auto mode both replays and records.
#[derive(Default)]
pub struct Placeholders {
    numbers: HashMap<[u8; 32], u64>,
    last: u64,
    replayed: Option<Arc<Bindings>>,
}

impl fmt::Debug for Placeholders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Placeholders({} values)", self.numbers.len())
    }
}

impl Placeholders {
    /// Placeholders numbered after the highest one already in `cassette` (auto mode appends).
    pub fn continuing(cassette: &Cassette) -> Self {
        let text = String::from_utf8_lossy(&cassette.to_json()).into_owned();
        let last = text
            .match_indices(PLACEHOLDER_PREFIX)
            .filter_map(|(at, prefix)| {
                let digits = &text[at + prefix.len()..];
                let end = digits
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(digits.len());
                digits[..end].parse::<u64>().ok()
            })
            .max()
            .unwrap_or(0);
        Self {
            numbers: HashMap::new(),
            last,
            replayed: None,
        }
    }

    /// [`Self::continuing`], giving a value that the replay of the same cassette has bound the
    /// number it is bound to, so one value keeps one placeholder.
    pub fn continuing_replay(cassette: &Cassette, replayed: Arc<Bindings>) -> Self {
        Self {
            replayed: Some(replayed),
            ..Self::continuing(cassette)
        }
    }

    /// The placeholder of `value`; a placeholder stays as it is.
    pub fn placeholder(&mut self, value: &str) -> String {
        if is_placeholder(value) {
            return value.to_owned();
        }
        let digest: [u8; 32] = Sha256::digest(value.as_bytes()).into();
        let number = match self.numbers.get(&digest) {
            Some(&number) => number,
            None => {
                let replayed = self.replayed.as_ref().and_then(|b| b.number_of(value));
                let number = replayed.unwrap_or(self.last + 1);
                self.numbers.insert(digest, number);
                number
            }
        };
        self.last = self.last.max(number);
        placeholder(number)
    }
}

/// Which of a redaction's two lists holds an entry that does not parse, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRedaction {
    /// An entry of the redacted paths.
    Path(String),
    /// An entry of the sensitive values kept in plain text.
    Kept(String),
}

impl Redaction {
    /// Redaction of the configured paths, keeping the listed sensitive values.
    pub fn new<S: AsRef<str>>(paths: &[S], kept: &[S]) -> Result<Self, BadRedaction> {
        let paths = paths
            .iter()
            .map(|p| JsonPath::parse(p.as_ref()))
            .collect::<Result<_, _>>()
            .map_err(BadRedaction::Path)?;
        let kept = kept
            .iter()
            .map(|k| KeptSensitive::parse(k.as_ref()))
            .collect::<Result<_, _>>()
            .map_err(BadRedaction::Kept)?;
        Ok(Self { paths, kept })
    }

    /// The sensitive values configured to be recorded in plain text.
    pub fn kept(&self) -> &[KeptSensitive] {
        &self.kept
    }

    /// Redacts an interaction about to be written. The response body stays byte-exact unless
    /// something in it was replaced; then it is written again as compact JSON.
    pub fn apply(&self, interaction: &mut Interaction, placeholders: &mut Placeholders) {
        let operation = Operation::named(&interaction.operation);
        let body = &mut interaction.request.body;
        self.redact(body, operation, Direction::Request, placeholders);
        // Most answers hold nothing to redact: they are not parsed at all.
        let output = operation.and_then(|op| op.output());
        let anything = !self.paths.is_empty() || output.is_some_and(walk::holds_sensitive);
        if anything
            && let Some(text) = interaction.response.body.text()
            && let Ok(mut json) = Json::parse(text.as_bytes())
            && self.redact(&mut json, operation, Direction::Response, placeholders) > 0
        {
            let written = json.to_string();
            // The tree borrows the old body's text.
            drop(json);
            interaction.response.body = Body::from_text(written);
        }
    }

    /// Replaces what must not be written in `body`; returns how many values were replaced.
    fn redact(
        &self,
        body: &mut Json<'_>,
        operation: Option<Operation>,
        direction: Direction,
        placeholders: &mut Placeholders,
    ) -> usize {
        let redacted = Json::from(REDACTED);
        let mut replaced: usize = self
            .paths
            .iter()
            .map(|path| path.replace(body, &redacted))
            .sum();
        let shape = operation.and_then(|op| match direction {
            Direction::Request => op.input(),
            Direction::Response => op.output(),
        });
        if let (Some(operation), Some(shape)) = (operation, shape) {
            let kept = |path: &str| {
                self.kept
                    .iter()
                    .any(|k| k.operation == operation && k.direction == direction && k.path == path)
            };
            walk::redact(shape, body, &mut |path, value| {
                if kept(path) {
                    value.to_owned()
                } else {
                    replaced += 1;
                    placeholders.placeholder(value)
                }
            });
        }
        replaced
    }
}

/// How many sensitive values of `interaction` are stored in plain text (not placeholders).
pub fn plain_sensitive_values(interaction: &Interaction) -> (usize, usize) {
    let Some(operation) = Operation::named(&interaction.operation) else {
        return (0, 0);
    };
    let count = |shape: Option<ShapeId>, body: &Json<'_>| {
        let mut plain = 0;
        if let Some(shape) = shape {
            walk::sensitive_strings(shape, body, &mut |_, value| {
                plain += usize::from(!is_placeholder(value));
            });
        }
        plain
    };
    let request = count(operation.input(), &interaction.request.body);
    let response = (interaction.response.body.text())
        .and_then(|text| Json::parse(text.as_bytes()).ok())
        .map_or(0, |json| count(operation.output(), &json));
    (request, response)
}

/// The response headers to record, names lower case.
pub fn recorded_headers(headers: &HeaderMap) -> std::collections::BTreeMap<String, String> {
    RECORDED_RESPONSE_HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect()
}

/// Where something secret-looking was found, never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("it contains {what} at byte {offset} of the serialised cassette")]
pub struct SecretFound {
    /// What it looks like.
    pub what: &'static str,
    /// Where, in the bytes about to be written.
    pub offset: usize,
}

/// Refuses bytes that contain an access key id, an assigned secret, or any of `live_secrets`
/// (the proxy's own current credentials).
pub fn scan(bytes: &[u8], live_secrets: &[String]) -> Result<(), SecretFound> {
    if let Some(found) = CREDENTIAL_SHAPES.find(bytes) {
        return Err(SecretFound {
            what: "an AWS access key id or secret access key",
            offset: found.start(),
        });
    }
    for secret in live_secrets.iter().filter(|s| s.len() >= 8) {
        if let Some(offset) = bytes
            .windows(secret.len())
            .position(|w| w == secret.as_bytes())
        {
            return Err(SecretFound {
                what: "the proxy's own AWS credentials",
                offset,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    mod scan {
        use super::*;

        #[test]
        fn finds_key_ids_and_assigned_secrets() {
            assert!(scan(br#"{"id":"AKIAIOSFODNN7EXAMPLE"}"#, &[]).is_err());
            assert!(scan(br#"{"id":"ASIAIOSFODNN7EXAMPLE"}"#, &[]).is_err());
            assert!(
                scan(
                    br#"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"#,
                    &[]
                )
                .is_err()
            );
            assert!(
                scan(
                    br#"{"SecretAccessKey":"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}"#,
                    &[]
                )
                .is_err()
            );
        }

        #[test]
        fn finds_the_live_credentials_whatever_their_shape() {
            let live = vec!["AKIDEXAMPLE".to_owned(), "session-token-xyz".to_owned()];
            let found = scan(b"..{\"Token\":\"session-token-xyz\"}", &live).unwrap_err();
            assert_eq!(found.what, "the proxy's own AWS credentials");
        }

        #[test]
        fn lets_ordinary_ids_and_hashes_through() {
            let body = br#"{"WindowId":"mw-0c50858d01e8a7b6f","sha1":"da39a3ee5e6b4b0d3255bfef95601890afd80709"}"#;
            assert!(scan(body, &["AKIDEXAMPLE".to_owned()]).is_ok());
        }
    }

    mod redaction {
        use super::*;
        use crate::cassette::format::{RecordedRequest, RecordedResponse};
        use serde_json::json;

        fn interaction(operation: &str, request: serde_json::Value, response: &str) -> Interaction {
            Interaction {
                operation: operation.to_owned(),
                region: "us-east-1".to_owned(),
                recorded_at: "2024-02-25T18:01:33Z".to_owned(),
                request: RecordedRequest {
                    body: Json::from(&request),
                },
                response: RecordedResponse {
                    status: 200,
                    headers: Default::default(),
                    body: Body::Utf8(response.to_owned()),
                },
                repeat: 1,
            }
        }

        #[test]
        fn leaves_bodies_byte_exact_when_nothing_matches() {
            let redaction = Redaction::new(&["Parameter.Value"], &[]).unwrap();
            let response = r#"{ "Parameter" : {"Name": "n", "Type": "String"} }"#;
            let mut recorded = interaction("GetParameter", json!({"Name": "n"}), response);
            redaction.apply(&mut recorded, &mut Placeholders::default());
            assert_eq!(recorded.response.body, Body::Utf8(response.to_owned()));
        }

        #[test]
        fn sensitive_values_become_placeholders_stable_within_a_cassette() {
            let redaction = Redaction::default();
            let mut placeholders = Placeholders::default();
            let mut put = interaction(
                "PutParameter",
                json!({"Name": "/db", "Value": "hunter2", "Type": "SecureString"}),
                r#"{"Version":1,"Tier":"Standard"}"#,
            );
            let mut get = interaction(
                "GetParameters",
                json!({"Names": ["/db", "/other"], "WithDecryption": true}),
                r#"{"Parameters":[{"Name":"/db","Value":"hunter2"},{"Name":"/other","Value":"x"}]}"#,
            );
            redaction.apply(&mut put, &mut placeholders);
            redaction.apply(&mut get, &mut placeholders);
            assert_eq!(put.request.body["Value"], "REDACTED-1");
            assert_eq!(
                get.response.body,
                Body::Utf8(
                    r#"{"Parameters":[{"Name":"/db","Value":"REDACTED-1"},{"Name":"/other","Value":"REDACTED-2"}]}"#
                        .to_owned()
                )
            );
            assert_eq!(plain_sensitive_values(&put), (0, 0));
            assert_eq!(plain_sensitive_values(&get), (0, 0));
        }

        #[test]
        fn a_kept_path_is_recorded_as_it_is() {
            let redaction =
                Redaction::new::<&str>(&[], &["GetParameter:response:Parameter.Value"]).unwrap();
            let response = r#"{"Parameter":{"Name":"/flag","Value":"on"}}"#;
            let mut get = interaction("GetParameter", json!({"Name": "/flag"}), response);
            redaction.apply(&mut get, &mut Placeholders::default());
            assert_eq!(get.response.body, Body::Utf8(response.to_owned()));
            assert_eq!(plain_sensitive_values(&get), (0, 1));
            assert!(KeptSensitive::parse("GetParameter:reply:Parameter.Value").is_err());
            assert!(KeptSensitive::parse("NoSuchOperation:response:Value").is_err());
        }

        #[test]
        fn numbering_continues_after_the_placeholders_of_a_cassette() {
            let mut cassette = Cassette::new();
            cassette.interactions.push(interaction(
                "PutParameter",
                json!({"Name": "/a", "Value": "REDACTED-7", "Type": "SecureString"}),
                "{}",
            ));
            let mut placeholders = Placeholders::continuing(&cassette);
            assert_eq!(placeholders.placeholder("new secret"), "REDACTED-8");
            assert_eq!(placeholders.placeholder("REDACTED-7"), "REDACTED-7");
        }
    }
}
