//! The AWS JSON 1.1 envelope (Smithy `awsJson1_1`): which operation a request calls, who
//! signed it, which cassette its path selects, and its input as a JSON object.
//!
//! Each check is a small function of the request's parts so that `pipeline/` can run them in
//! the order AWS does. This module does not validate members against the model
//! (`model/`) and never trusts the SigV4 signature: the credential scope is read for
//! identification only. Its refusals are its own ([`Refusal`]); the pipeline turns them into
//! AWS-shaped answers.

use http::{HeaderMap, HeaderValue, Method, header};

use super::error::{JSON_1_1, headers};
pub use super::model::Operation;
use crate::cassette::name::{CassetteName, InvalidCassetteName};
use crate::json::{Json, Object};
use crate::text::printable;

/// Why a request's envelope is refused, before anything else is read of it. Values are made
/// printable and bounded, so each can be echoed.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The path is neither `/` nor `/cassette/<name>/`.
    #[error("unknown path {path}")]
    UnknownPath {
        /// The path as sent.
        path: String,
    },
    /// `/cassette/<name>/` with a name outside `[A-Za-z0-9._-]+` or starting with a dot.
    #[error(transparent)]
    InvalidCassetteName(#[from] InvalidCassetteName),
    /// Not a `POST`.
    #[error("method {method} not allowed")]
    MethodNotAllowed {
        /// The method as sent.
        method: String,
    },
    /// `X-Amz-Target` missing, malformed, outside `AmazonSSM.*` or not in the model.
    #[error("unknown operation target")]
    UnknownOperation {
        /// The target as sent, if any.
        target: Option<String>,
    },
    /// `Content-Type` is not `application/x-amz-json-1.1`.
    #[error("unsupported content type")]
    UnsupportedMediaType {
        /// The content type as sent, if any.
        content_type: Option<String>,
    },
    /// The body is not JSON, or not a JSON object.
    #[error("malformed request body")]
    Serialization {
        /// What is wrong, for the client.
        reason: String,
    },
}

/// The JSON object a call carries, borrowing its strings from the body; an empty body means
/// `{}`.
pub type Input<'a> = Object<'a>;

/// The prefix of every SSM target.
const SSM_TARGET_PREFIX: &str = "AmazonSSM.";

/// Who made a call, as far as the SigV4 credential scope says; never a secret.
///
/// The two identifying tokens are borrowed from the request's `Authorization` header, which
/// also holds the signature: only they are kept, so a caller can be logged as it is. Reading a
/// caller copies nothing; the audit copies the tokens it records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caller<'h> {
    /// The access key id of the credential scope.
    pub access_key_id: Option<&'h str>,
    /// The signing region, e.g. `us-east-2`.
    pub region: Option<&'h str>,
}

impl<'h> Caller<'h> {
    /// Reads `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, …`.
    ///
    /// An unsigned request or an unreadable header yields an anonymous caller: the proxy does
    /// not authenticate, it only records who the client claims to be.
    pub fn from_authorization(authorization: Option<&'h HeaderValue>) -> Self {
        authorization
            .and_then(|value| credential_scope(value.as_bytes()))
            .unwrap_or_default()
    }
}

/// The request headers the envelope reads, found in one pass over the request's headers:
/// looking each one up by name would hash the name, four times a call.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvelopeHeaders<'h> {
    /// `X-Amz-Target`.
    pub target: Option<&'h HeaderValue>,
    /// `Content-Type`.
    pub content_type: Option<&'h HeaderValue>,
    /// `Content-Length`.
    pub content_length: Option<&'h HeaderValue>,
    /// `Authorization`.
    pub authorization: Option<&'h HeaderValue>,
}

impl<'h> EnvelopeHeaders<'h> {
    /// The first value of each, as `HeaderMap::get` would give it.
    pub fn read(headers: &'h HeaderMap) -> Self {
        let mut found = Self::default();
        for (name, value) in headers {
            let slot = if name == header::CONTENT_TYPE {
                &mut found.content_type
            } else if name == header::CONTENT_LENGTH {
                &mut found.content_length
            } else if name == header::AUTHORIZATION {
                &mut found.authorization
            } else if name == headers::X_AMZ_TARGET {
                &mut found.target
            } else {
                continue;
            };
            slot.get_or_insert(value);
        }
        found
    }
}

/// The access key id and the region of an `Authorization` header, if it is SigV4.
fn credential_scope(value: &[u8]) -> Option<Caller<'_>> {
    const SCHEME: &[u8] = b"AWS4-HMAC-SHA256";
    const CREDENTIAL: &[u8] = b"Credential=";
    // Components are `Name=value`, separated by commas and optional whitespace; every SDK sends
    // `Credential` first.
    let mut rest = value.strip_prefix(SCHEME)?;
    let credential = loop {
        let (component, next) = split_at_byte(rest, b',');
        if let Some(credential) = component.trim_ascii_start().strip_prefix(CREDENTIAL) {
            break credential;
        }
        rest = next?;
    };
    // AKID/DATE/REGION/SERVICE/aws4_request; the date and service are not kept. Only short
    // ASCII tokens are kept, so a hostile header cannot smuggle anything into an audit record.
    let (access_key_id, date_on) = split_at_byte(credential, b'/');
    let region = date_on
        .and_then(|date_on| split_at_byte(date_on, b'/').1)
        .map(|region_on| split_at_byte(region_on, b'/').0);
    Some(Caller {
        access_key_id: token(access_key_id),
        region: region.and_then(token),
    })
}

/// `bytes` up to the first `separator`, and what follows it if there is one.
fn split_at_byte(bytes: &[u8], separator: u8) -> (&[u8], Option<&[u8]>) {
    // memchr: the credential scope ends some 90 bytes into the header, read on every call.
    match memchr::memchr(separator, bytes) {
        Some(at) => (&bytes[..at], Some(&bytes[at + 1..])),
        None => (bytes, None),
    }
}

/// A credential-scope token worth keeping: 1 to 128 ASCII letters, digits or dashes.
fn token(bytes: &[u8]) -> Option<&str> {
    let kept = !bytes.is_empty()
        && bytes.len() <= 128
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-');
    kept.then(|| std::str::from_utf8(bytes).ok()).flatten()
}

/// Which cassette the request path selects.
///
/// `/` is the configured default; `/cassette/<name>` and `/cassette/<name>/` select `<name>`
/// (botocore appends the trailing slash to an endpoint URL with a path).
pub fn route(path: &str) -> Result<Option<CassetteName>, Refusal> {
    if path == "/" || path.is_empty() {
        return Ok(None);
    }
    let Some(rest) = path.strip_prefix("/cassette/") else {
        return Err(Refusal::UnknownPath {
            path: printable(path, 80),
        });
    };
    let name = rest.strip_suffix('/').unwrap_or(rest);
    Ok(Some(CassetteName::parse(name)?))
}

/// Checks method and target, and returns the SSM operation.
pub fn operation(method: &Method, target: Option<&HeaderValue>) -> Result<Operation, Refusal> {
    if method != Method::POST {
        return Err(Refusal::MethodNotAllowed {
            method: printable(method.as_str(), 20),
        });
    }
    let Some(target) = target else {
        return Err(Refusal::UnknownOperation { target: None });
    };
    target
        .as_bytes()
        .strip_prefix(SSM_TARGET_PREFIX.as_bytes())
        .and_then(|name| std::str::from_utf8(name).ok())
        .and_then(Operation::named)
        .ok_or_else(|| Refusal::UnknownOperation {
            target: Some(printable(&String::from_utf8_lossy(target.as_bytes()), 120)),
        })
}

/// Accepts `application/x-amz-json-1.1`, with parameters such as `; charset=utf-8` ignored.
pub fn check_content_type(content_type: Option<&HeaderValue>) -> Result<(), Refusal> {
    let content_type = content_type.map(HeaderValue::as_bytes);
    if content_type == Some(JSON_1_1.as_bytes()) {
        return Ok(()); // as every SDK spells it
    }
    let media_type = content_type.map(|ct| {
        let end = ct.iter().position(|&b| b == b';').unwrap_or(ct.len());
        ct[..end].trim_ascii()
    });
    match media_type {
        Some(media_type) if media_type.eq_ignore_ascii_case(JSON_1_1.as_bytes()) => Ok(()),
        _ => Err(Refusal::UnsupportedMediaType {
            content_type: content_type.map(|ct| printable(&String::from_utf8_lossy(ct), 80)),
        }),
    }
}

/// Parses the body as a JSON object; an empty body is `{}`.
pub fn input(body: &[u8]) -> Result<Input<'_>, Refusal> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Input::default());
    }
    match Json::parse(body) {
        Ok(Json::Object(object)) => Ok(object),
        Ok(other) => Err(Refusal::Serialization {
            reason: format!(
                "the request body must be a JSON object, not {}",
                other.kind()
            ),
        }),
        Err(e) => Err(Refusal::Serialization {
            reason: format!("the request body is not valid JSON: {e}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod operation {
        use super::*;

        fn named(target: &[u8]) -> Option<String> {
            let target = HeaderValue::from_bytes(target).unwrap();
            operation(&Method::POST, Some(&target))
                .ok()
                .map(|op| op.to_string())
        }

        #[test]
        fn only_the_models_operations_are_known() {
            for name in [
                "DeregisterTaskFromMaintenanceWindow",
                "DescribeMaintenanceWindows",
            ] {
                let target = format!("AmazonSSM.{name}");
                assert_eq!(named(target.as_bytes()).as_deref(), Some(name));
            }
            // A name near a modeled one is no operation at all.
            for name in [
                "NoSuchOperation",
                "DeregisterTaskFromMaintenanceWindow2",
                "deregisterTaskFromMaintenanceWindow",
            ] {
                let target = format!("AmazonSSM.{name}");
                assert_eq!(named(target.as_bytes()), None, "{name}");
            }
        }

        #[test]
        fn refuses_malformed_names_and_other_services() {
            for target in [
                &b"AmazonSSM."[..],
                b"AmazonSSM.Deregister Task",
                b"AmazonSSM.1Deregister",
                b"AmazonSSM.Deregister\xc3\xa9",
                b"AmazonSSM.Deregister\xff",
                b"amazonssm.DeregisterTaskFromMaintenanceWindow",
                b"DynamoDB_20120810.GetItem",
            ] {
                assert_eq!(named(target), None, "{}", String::from_utf8_lossy(target));
            }
            let too_long = format!("AmazonSSM.A{}", "b".repeat(128));
            assert_eq!(named(too_long.as_bytes()), None);
        }
    }

    mod content_type {
        use super::*;

        fn accepts(content_type: &str) -> bool {
            check_content_type(Some(&HeaderValue::from_str(content_type).unwrap())).is_ok()
        }

        #[test]
        fn accepts_the_json_1_1_media_type_in_any_case_with_parameters() {
            assert!(accepts("application/x-amz-json-1.1"));
            assert!(accepts("Application/X-Amz-Json-1.1"));
            assert!(accepts("application/x-amz-json-1.1; charset=utf-8"));
            assert!(!accepts("application/json"));
            assert!(!accepts("application/x-amz-json-1.0"));
            assert!(check_content_type(None).is_err());
        }
    }

    mod route {
        use super::*;

        #[test]
        fn root_selects_the_default_cassette() {
            assert_eq!(route("/").unwrap(), None);
        }

        #[test]
        fn prefix_selects_a_named_cassette_with_or_without_slash() {
            assert_eq!(
                route("/cassette/a.b_c-1/").unwrap().unwrap().as_str(),
                "a.b_c-1"
            );
            assert_eq!(route("/cassette/flow").unwrap().unwrap().as_str(), "flow");
        }

        #[test]
        fn refuses_names_that_could_leave_the_folder() {
            for path in [
                "/cassette/../",
                "/cassette/./",
                "/cassette/%2e%2e/",
                "/cassette/a/b/",
                "/cassette//",
                "/cassette/.hidden",
            ] {
                assert!(
                    matches!(route(path), Err(Refusal::InvalidCassetteName(_))),
                    "{path} was accepted"
                );
            }
        }

        #[test]
        fn refuses_other_paths() {
            assert!(matches!(route("/other"), Err(Refusal::UnknownPath { .. })));
        }
    }

    mod caller {
        use super::*;

        fn signed(authorization: &[u8]) -> HeaderMap {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_bytes(authorization).unwrap(),
            );
            headers
        }

        /// The access key id and region read from this `Authorization` header.
        fn caller(authorization: &[u8]) -> (Option<String>, Option<String>) {
            let headers = signed(authorization);
            let caller = Caller::from_authorization(EnvelopeHeaders::read(&headers).authorization);
            let owned = |token: Option<&str>| token.map(str::to_owned);
            (owned(caller.access_key_id), owned(caller.region))
        }

        #[test]
        fn reads_the_credential_scope() {
            let caller = caller(
                b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240225/us-east-2/ssm/aws4_request, \
                 SignedHeaders=content-type;host, Signature=abc",
            );
            assert_eq!(
                caller,
                (Some("AKIDEXAMPLE".into()), Some("us-east-2".into()))
            );
        }

        #[test]
        fn finds_credential_after_other_components() {
            let caller = caller(
                b"AWS4-HMAC-SHA256 SignedHeaders=host,Signature=abc,Credential=AKID/d/eu-west-3/ssm",
            );
            assert_eq!(caller, (Some("AKID".into()), Some("eu-west-3".into())));
        }

        #[test]
        fn ignores_other_schemes_and_hostile_scopes() {
            assert_eq!(caller(b"Basic abc"), (None, None));
            assert_eq!(caller(b"AWS4-HMAC-SHA256 SignedHeaders=host"), (None, None));
            let hostile = caller(b"AWS4-HMAC-SHA256 Credential=AK\"ID/x/us east/ssm");
            assert_eq!(hostile, (None, None));
            let decoyed = caller(
                b"AWS4-HMAC-SHA256 SignedHeaders=host, XCredential=AKID/d/us-east-1/ssm, \
                  Credential=AK\xffID/d/eu-west-1/ssm",
            );
            assert_eq!(decoyed, (None, Some("eu-west-1".into())));
            let short = caller(b"AWS4-HMAC-SHA256 Credential=AKID");
            assert_eq!(short, (Some("AKID".into()), None));
            for cut in [&b"AKID/d"[..], b"AKID/d/", b"AKID/d/,"] {
                let value = [&b"AWS4-HMAC-SHA256 Credential="[..], cut].concat();
                assert_eq!(caller(&value), (Some("AKID".into()), None), "{cut:?}");
            }
            let bare = caller(b"AWS4-HMAC-SHA256 Credential=/d/eu-west-1/ssm");
            assert_eq!(bare, (None, Some("eu-west-1".into())));
        }

        #[test]
        fn debug_shows_the_tokens_not_the_signature() {
            let headers =
                signed(b"AWS4-HMAC-SHA256 Credential=AKID/d/us-east-1/ssm, Signature=deadbeef");
            let shown = format!(
                "{:?}",
                Caller::from_authorization(headers.get(header::AUTHORIZATION))
            );
            assert!(shown.contains("AKID") && shown.contains("us-east-1"));
            assert!(!shown.contains("deadbeef"), "{shown}");
        }
    }

    mod envelope_headers {
        use super::*;

        #[test]
        fn finds_each_header_and_keeps_its_first_value_as_get_does() {
            let mut headers = HeaderMap::new();
            headers.append(header::CONTENT_TYPE, HeaderValue::from_static("first"));
            headers.append("X-Amz-Target", HeaderValue::from_static("AmazonSSM.Op"));
            headers.append(header::CONTENT_TYPE, HeaderValue::from_static("second"));
            headers.append(header::USER_AGENT, HeaderValue::from_static("aws-cli"));
            let found = EnvelopeHeaders::read(&headers);
            assert_eq!(found.content_type, headers.get(header::CONTENT_TYPE));
            assert_eq!(found.content_type.unwrap(), "first");
            assert_eq!(found.target.unwrap(), "AmazonSSM.Op");
            assert_eq!((found.authorization, found.content_length), (None, None));
        }
    }

    mod input {
        use super::*;

        #[test]
        fn empty_body_is_an_empty_object() {
            assert!(input(b"").unwrap().is_empty());
            assert!(input(b" \n").unwrap().is_empty());
        }

        #[test]
        fn non_objects_are_serialization_errors() {
            for body in [&b"[]"[..], b"not json", b"\"s\"", b"null", b"{\"a\":"] {
                assert!(matches!(input(body), Err(Refusal::Serialization { .. })));
            }
        }
    }
}
