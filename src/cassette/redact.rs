//! What is allowed into a cassette: the response headers worth keeping, configured redaction of
//! JSON paths, and the last line of defence, a scan that refuses to write anything that looks
//! like AWS credentials.
//!
//! Request headers are never stored at all (the format has no place for them), so
//! `Authorization`, `X-Amz-Security-Token`, `X-Amz-Date` and cookies cannot leak through them.
//! This module decides; `recorder.rs` writes.

use std::sync::LazyLock;

use http::HeaderMap;
use regex::bytes::Regex;
use serde_json::Value;

use super::format::Body;
use super::json_path::JsonPath;

/// Response headers recorded (lower case); every other response header is dropped.
pub const RECORDED_RESPONSE_HEADERS: [&str; 3] =
    ["content-type", "x-amzn-errortype", "x-amzn-requestid"];

/// The value written in place of a redacted one.
pub const REDACTED: &str = "REDACTED";

/// Access key ids (long-term `AKIA…`, temporary `ASIA…`) and secrets assigned to a key name.
static CREDENTIAL_SHAPES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|(?i:secret_?access_?key|aws_secret|SecretAccessKey)["'\s:=]+[A-Za-z0-9/+]{40}"#,
    )
    .expect("a valid pattern")
});

/// JSON paths whose values are replaced before a cassette is written.
#[derive(Debug, Clone, Default)]
pub struct Redaction {
    paths: Vec<JsonPath>,
}

impl Redaction {
    /// Redaction of the configured paths.
    pub fn new<S: AsRef<str>>(paths: &[S]) -> Result<Self, String> {
        let paths = paths
            .iter()
            .map(|p| JsonPath::parse(p.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { paths })
    }

    /// The request body to store.
    pub fn request(&self, body: &Value) -> Value {
        let mut body = body.clone();
        let redacted = Value::from(REDACTED);
        for path in &self.paths {
            path.replace(&mut body, &redacted);
        }
        body
    }

    /// The response body to store: the exact bytes, unless a configured path matched, in which
    /// case the JSON is written again with those values replaced (and so is no longer
    /// byte-identical to what AWS sent).
    pub fn response(&self, bytes: &[u8]) -> Body {
        if !self.paths.is_empty()
            && let Ok(mut json) = serde_json::from_slice::<Value>(bytes)
        {
            let redacted = Value::from(REDACTED);
            let replaced: usize = self
                .paths
                .iter()
                .map(|p| p.replace(&mut json, &redacted))
                .sum();
            if replaced > 0 {
                return Body::Utf8(json.to_string());
            }
        }
        Body::from_bytes(bytes)
    }
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

        #[test]
        fn leaves_bodies_byte_exact_when_nothing_matches() {
            let redaction = Redaction::new(&["Parameter.Value"]).unwrap();
            let bytes = br#"{ "WindowId" : "mw-1" }"#;
            assert_eq!(
                redaction.response(bytes),
                Body::Utf8(String::from_utf8(bytes.to_vec()).unwrap())
            );
            assert_eq!(
                redaction.response(br#"{"Parameter":{"Name":"n","Value":"s"}}"#),
                Body::Utf8(r#"{"Parameter":{"Name":"n","Value":"REDACTED"}}"#.to_owned())
            );
        }
    }
}
