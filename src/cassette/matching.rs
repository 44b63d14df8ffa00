//! Which recorded request a live request is: the matching key, the ignore rules, and the
//! difference between two requests for replay-miss messages.
//!
//! The key is operation + region + the body as a JSON value ([`Json`]) with ignored paths
//! removed, so key order and whitespace never matter. Signatures, dates, tokens, user agents
//! and every header stay out of it: they change on every run. A live request is looked up
//! through [`KeyRef`], which borrows the parsed body, so matching serialises and copies
//! nothing. This module does not hold replay state (`replay.rs`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use super::json_path::JsonPath;
use crate::aws::model::{Operation, ShapeId, walk};
use crate::json::Json;
use crate::text::printable;

/// What is left out of the matching key: what the model marks (idempotency tokens, and
/// sensitive values, which a cassette holds only as placeholders) and the JSON paths of the
/// configuration (syntax in `JsonPath`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreRules {
    paths: Vec<JsonPath>,
}

impl IgnoreRules {
    /// The model's rules plus `extra` paths from the configuration.
    pub fn new<S: AsRef<str>>(extra: &[S]) -> Result<Self, String> {
        let paths = extra
            .iter()
            .map(|path| JsonPath::parse(path.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { paths })
    }

    /// `body` (the input of an operation whose input shape is `input`) with everything
    /// ignored removed; borrowed when nothing ignored is present, as in most requests, so the
    /// common case copies nothing.
    pub fn strip<'a, 'b>(&self, input: Option<ShapeId>, body: &'a Json<'b>) -> Cow<'a, Json<'b>> {
        let modeled = input.is_some_and(walk::holds_unmatched);
        if !modeled && !self.paths.iter().any(|path| path.reaches(body)) {
            return Cow::Borrowed(body);
        }
        let mut stripped = body.clone();
        self.strip_in_place(input, &mut stripped);
        Cow::Owned(stripped)
    }

    /// Removes everything ignored from `body`.
    pub fn strip_in_place(&self, input: Option<ShapeId>, body: &mut Json<'_>) {
        if let Some(input) = input {
            walk::strip_unmatched(input, body);
        }
        for path in &self.paths {
            path.remove(body);
        }
    }
}

/// What a recorded request is matched on: operation, region, and the body with ignored paths
/// removed. Bodies compare as JSON values, whatever the order of their members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchKey {
    operation: String,
    region: String,
    body: Json<'static>,
}

impl MatchKey {
    /// The key of a recorded request.
    /// An operation the model does not know keeps its whole body.
    pub fn new(operation: &str, region: &str, body: &Json<'_>, rules: &IgnoreRules) -> Self {
        let mut body = body.clone().into_owned();
        let input = Operation::named(operation).and_then(|op| op.input());
        rules.strip_in_place(input, &mut body);
        Self {
            operation: operation.to_owned(),
            region: region.to_owned(),
            body,
        }
    }

    /// The key as a [`KeyRef`], to hash or compare with a live request's.
    pub fn as_ref(&self) -> KeyRef<'_> {
        KeyRef {
            operation: &self.operation,
            region: &self.region,
            body: &self.body,
        }
    }

    /// The SSM operation.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The caller's region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The body, ignored paths removed.
    pub fn body(&self) -> &Json<'static> {
        &self.body
    }
}

/// A matching key that borrows its parts: a live request's, built without copying its body
/// (strip it with [`IgnoreRules::strip`] first). Equal keys hash alike, whichever form they
/// come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyRef<'a> {
    /// The SSM operation.
    pub operation: &'a str,
    /// The caller's region.
    pub region: &'a str,
    /// The body, ignored paths removed.
    pub body: &'a Json<'a>,
}

impl From<KeyRef<'_>> for MatchKey {
    fn from(key: KeyRef<'_>) -> Self {
        Self {
            operation: key.operation.to_owned(),
            region: key.region.to_owned(),
            body: key.body.clone().into_owned(),
        }
    }
}

/// How a live request differs from a recorded one, path by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// `operation`, `region` or a JSON path such as `$.WindowTaskId`.
    pub path: String,
    /// The live value, rendered, or `None` when absent.
    pub sent: Option<String>,
    /// The recorded value, rendered, or `None` when absent.
    pub recorded: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".to_owned());
        write!(
            f,
            "{}: sent {}, recorded {}",
            self.path,
            side(&self.sent),
            side(&self.recorded)
        )
    }
}

/// Every difference between a live request and a recorded one, ignored paths left out,
/// operation and region first, then JSON paths in order.
pub fn differences(sent: &MatchKey, recorded: &MatchKey) -> Vec<Difference> {
    let mut out = Vec::new();
    for (path, a, b) in [
        ("operation", sent.operation(), recorded.operation()),
        ("region", sent.region(), recorded.region()),
    ] {
        if a != b {
            out.push(Difference {
                path: path.to_owned(),
                sent: Some(a.to_owned()),
                recorded: Some(b.to_owned()),
            });
        }
    }
    let sent_leaves = leaves(sent.body());
    let recorded_leaves = leaves(recorded.body());
    let mut paths: Vec<&String> = sent_leaves.keys().chain(recorded_leaves.keys()).collect();
    paths.sort();
    paths.dedup();
    // Compared as values, rendered only to be shown: `0.0` and `-0.0` are equal but print
    // differently.
    let shown = |leaf: Option<&&Json<'_>>| leaf.map(|value| printable(&value.to_string(), 80));
    for path in paths {
        let (a, b) = (sent_leaves.get(path), recorded_leaves.get(path));
        if a != b {
            out.push(Difference {
                path: path.clone(),
                sent: shown(a),
                recorded: shown(b),
            });
        }
    }
    out
}

/// Every scalar (and every empty container) of a JSON value by path.
fn leaves<'a, 'b>(value: &'a Json<'b>) -> BTreeMap<String, &'a Json<'b>> {
    fn walk<'a, 'b>(
        value: &'a Json<'b>,
        path: &mut String,
        out: &mut BTreeMap<String, &'a Json<'b>>,
    ) {
        let len = path.len();
        match value {
            Json::Object(object) if !object.is_empty() => {
                for (key, child) in object.iter() {
                    path.push('.');
                    path.push_str(key);
                    walk(child, path, out);
                    path.truncate(len);
                }
            }
            Json::Array(items) if !items.is_empty() => {
                for (i, child) in items.iter().enumerate() {
                    path.push_str(&format!("[{i}]"));
                    walk(child, path, out);
                    path.truncate(len);
                }
            }
            scalar => {
                out.insert(printable(path, 200), scalar);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(value, &mut "$".to_owned(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    mod match_key {
        use super::*;

        #[test]
        fn ignores_key_order_whitespace_and_the_modeled_idempotency_token() {
            let rules = IgnoreRules::new::<&str>(&[]).unwrap();
            let a =
                Json::parse(br#"{"B": 1, "A": {"y": 2, "x": 1}, "ClientToken": "t1"}"#).unwrap();
            let b = Json::parse(br#"{"A":{"x":1,"y":2},"B":1,"ClientToken":"t2"}"#).unwrap();
            let op = "CreateMaintenanceWindow";
            assert_eq!(
                MatchKey::new(op, "r", &a, &rules),
                MatchKey::new(op, "r", &b, &rules)
            );
            // An operation whose ClientToken the model does not mark matches on it.
            let op = "StartAutomationExecution";
            assert_ne!(
                MatchKey::new(op, "r", &a, &rules),
                MatchKey::new(op, "r", &b, &rules)
            );
        }

        #[test]
        fn sensitive_values_do_not_count() {
            let rules = IgnoreRules::default();
            let a = Json::from(
                &json!({"Name": "/db/password", "Value": "s3cret", "Type": "SecureString"}),
            );
            let b = Json::from(
                &json!({"Name": "/db/password", "Value": "REDACTED-1", "Type": "SecureString"}),
            );
            let key = MatchKey::new("PutParameter", "r", &a, &rules);
            assert_eq!(key, MatchKey::new("PutParameter", "r", &b, &rules));
            assert_eq!(
                key.body().to_string(),
                r#"{"Name":"/db/password","Type":"SecureString"}"#
            );
        }

        #[test]
        fn configured_paths_are_ignored_inside_arrays() {
            let rules = IgnoreRules::new(&["Targets[*].Note"]).unwrap();
            let a = Json::from(&json!({"Targets": [{"Key": "k", "Note": "1"}]}));
            let b = Json::from(&json!({"Targets": [{"Key": "k", "Note": "2"}]}));
            assert_eq!(
                MatchKey::new("Op", "r", &a, &rules),
                MatchKey::new("Op", "r", &b, &rules)
            );
        }

        #[test]
        fn region_and_operation_are_part_of_the_key() {
            let rules = IgnoreRules::default();
            let body = Json::from(&json!({}));
            assert_ne!(
                MatchKey::new("Op", "r1", &body, &rules),
                MatchKey::new("Op", "r2", &body, &rules)
            );
            assert_ne!(
                MatchKey::new("A", "r", &body, &rules),
                MatchKey::new("B", "r", &body, &rules)
            );
        }

        #[test]
        fn parts_read_back_with_ignored_paths_gone() {
            let rules = IgnoreRules::new::<&str>(&[]).unwrap();
            let body = Json::from(&json!({"b": [1, "x"], "a": null, "ClientToken": "t"}));
            let key = MatchKey::new("DeleteInventory", "eu-west-1", &body, &rules);
            assert_eq!(key.operation(), "DeleteInventory");
            assert_eq!(key.region(), "eu-west-1");
            assert_eq!(key.body(), &Json::from(&json!({"a": null, "b": [1, "x"]})));
            assert_ne!(
                MatchKey::new("Opa", "b", &body, &rules),
                MatchKey::new("Op", "ab", &body, &rules)
            );
        }
    }

    mod key_ref {
        use super::*;
        use std::hash::BuildHasher;

        #[test]
        fn a_live_request_hashes_and_compares_like_its_recorded_key() {
            let rules = IgnoreRules::new::<&str>(&[]).unwrap();
            let recorded = Json::parse(
                r#"{"B": 1.5, "A": {"y": [2], "x": "é"}, "ClientToken": "t1"}"#.as_bytes(),
            )
            .unwrap();
            let live =
                Json::parse(br#"{"A":{"x":"\u00e9","y":[2]},"ClientToken":"t2","B":1.5}"#).unwrap();
            let op = Operation::named("CreatePatchBaseline").unwrap();
            let key = MatchKey::new(op.as_str(), "r", &recorded, &rules);
            let stripped = rules.strip(op.input(), &live);
            let live = KeyRef {
                operation: op.as_str(),
                region: "r",
                body: &stripped,
            };
            let hasher = foldhash::fast::RandomState::default();
            assert_eq!(key.as_ref(), live);
            assert_eq!(hasher.hash_one(key.as_ref()), hasher.hash_one(live));
        }

        #[test]
        fn numbers_compare_as_parsed() {
            let parse = |text: &'static str| Json::parse(text.as_bytes()).unwrap();
            fn key<'a>(body: &'a Json<'a>) -> KeyRef<'a> {
                KeyRef {
                    operation: "Op",
                    region: "r",
                    body,
                }
            }
            let hasher = foldhash::fast::RandomState::default();
            let (zero, negative_zero) = (parse(r#"{"N": 0.0}"#), parse(r#"{"N": -0.0}"#));
            assert_eq!(key(&zero), key(&negative_zero));
            assert_eq!(
                hasher.hash_one(key(&zero)),
                hasher.hash_one(key(&negative_zero))
            );
            assert_ne!(key(&parse(r#"{"N": 1}"#)), key(&parse(r#"{"N": 1.0}"#)));
        }

        #[test]
        fn operation_and_region_cannot_trade_characters() {
            let body = Json::from(&json!({}));
            let a = KeyRef {
                operation: "Opa",
                region: "b",
                body: &body,
            };
            let b = KeyRef {
                operation: "Op",
                region: "ab",
                body: &body,
            };
            let hasher = foldhash::fast::RandomState::default();
            assert_ne!(a, b);
            assert_ne!(hasher.hash_one(a), hasher.hash_one(b));
        }
    }

    mod differences {
        use super::*;

        #[test]
        fn values_that_match_are_no_difference_even_when_they_print_differently() {
            let rules = IgnoreRules::default();
            let sent = MatchKey::new("Op", "r", &Json::from(&json!({"N": -0.0})), &rules);
            let recorded = MatchKey::new("Op", "r", &Json::from(&json!({"N": 0.0})), &rules);
            assert_eq!(sent, recorded);
            assert_eq!(differences(&sent, &recorded), []);
        }

        #[test]
        fn lists_changed_missing_and_extra_paths() {
            let rules = IgnoreRules::new::<&str>(&[]).unwrap();
            let sent = Json::from(&json!({"WindowId": "mw-1", "Extra": [1]}));
            let recorded = Json::from(&json!({"WindowId": "mw-2", "WindowTaskId": "t"}));
            let diffs = differences(
                &MatchKey::new("Op", "us-east-1", &sent, &rules),
                &MatchKey::new("Op", "us-east-2", &recorded, &rules),
            );
            let lines: Vec<String> = diffs.iter().map(ToString::to_string).collect();
            assert_eq!(
                lines,
                [
                    "region: sent us-east-1, recorded us-east-2",
                    "$.Extra[0]: sent 1, recorded (absent)",
                    "$.WindowId: sent \"mw-1\", recorded \"mw-2\"",
                    "$.WindowTaskId: sent (absent), recorded \"t\"",
                ]
            );
        }
    }
}
