//! Walks over a body guided by its shape, for the two traits that decide what is written and
//! what is matched: `sensitive` values ([`redact`]) and, beside them, idempotency tokens
//! ([`strip_unmatched`]). Subtrees that hold neither are never entered.
//!
//! This module finds the values; what replaces them is the caller's choice
//! (`cassette::redact`).

use std::borrow::Cow;

use super::{Kind, Shape, ShapeId, ssm};
use crate::json::{Json, Step};

/// Calls `replace` on every string inside a sensitive shape of `value` (read as `shape`) and
/// writes what it returns in its place; numbers and booleans are kept, so the body still
/// deserializes. `replace` is told the string's path in the shape, as configuration names it
/// (`Parameter.Value`, `Parameters[*].Value`, `TaskParameters.*.Values[*]`). Returns how many
/// strings were visited.
pub fn redact(
    shape: ShapeId,
    value: &mut Json<'_>,
    replace: &mut dyn FnMut(&str, &str) -> String,
) -> usize {
    redact_in(
        ssm().shape(shape),
        value,
        false,
        &mut String::new(),
        replace,
    )
}

fn redact_in(
    shape: &Shape,
    value: &mut Json<'_>,
    inside_sensitive: bool,
    path: &mut String,
    replace: &mut dyn FnMut(&str, &str) -> String,
) -> usize {
    let sensitive = inside_sensitive || shape.sensitive;
    if !sensitive && !shape.holds_sensitive {
        return 0;
    }
    let mut below = |step: &str, shape: &Shape, value: &mut Json<'_>, path: &mut String| {
        let len = path.len();
        if !path.is_empty() && !step.starts_with('[') {
            path.push('.');
        }
        path.push_str(step);
        let count = redact_in(shape, value, sensitive, path, replace);
        path.truncate(len);
        count
    };
    match (&shape.kind, value) {
        (_, Json::String(text)) if sensitive => {
            *text = Cow::Owned(replace(path, text));
            1
        }
        (Kind::Structure { members, .. }, Json::Object(object)) => members
            .iter()
            .filter_map(|member| {
                let value = object.get_mut(&member.name)?;
                Some(below(&member.name, ssm().shape(member.shape), value, path))
            })
            .sum(),
        (Kind::List { member, .. }, Json::Array(items)) => {
            let member = ssm().shape(*member);
            items
                .iter_mut()
                .map(|item| below("[*]", member, item, path))
                .sum()
        }
        (Kind::Map { value: entry, .. }, Json::Object(entries)) => {
            let entry = ssm().shape(*entry);
            entries
                .values_mut()
                .map(|value| below("*", entry, value, path))
                .sum()
        }
        // Wrong types are the validator's to refuse; nothing else holds a string.
        _ => 0,
    }
}

/// Calls `found` with the location and the text of every string inside a sensitive shape of
/// `value` (read as `shape`), in member order: where a client's own secret sits in a request.
pub fn sensitive_strings(shape: ShapeId, value: &Json<'_>, found: &mut dyn FnMut(&[Step], &str)) {
    sensitive_in(ssm().shape(shape), value, false, &mut Vec::new(), found);
}

fn sensitive_in(
    shape: &Shape,
    value: &Json<'_>,
    inside_sensitive: bool,
    at: &mut Vec<Step>,
    found: &mut dyn FnMut(&[Step], &str),
) {
    let sensitive = inside_sensitive || shape.sensitive;
    if !sensitive && !shape.holds_sensitive {
        return;
    }
    let mut below = |step: Step, shape: ShapeId, value: &Json<'_>, at: &mut Vec<Step>| {
        at.push(step);
        sensitive_in(ssm().shape(shape), value, sensitive, at, found);
        at.pop();
    };
    match (&shape.kind, value) {
        (_, Json::String(text)) if sensitive => found(at, text),
        (Kind::Structure { members, .. }, Json::Object(object)) => {
            for member in members {
                if let Some(value) = object.get(&member.name) {
                    below(Step::Key(member.name.clone()), member.shape, value, at);
                }
            }
        }
        (Kind::List { member, .. }, Json::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                below(Step::Index(i), *member, item, at);
            }
        }
        (Kind::Map { value: entry, .. }, Json::Object(entries)) => {
            for (key, value) in entries.iter() {
                below(Step::Key(key.to_owned()), *entry, value, at);
            }
        }
        _ => {}
    }
}

/// Removes from `value` (read as `shape`) what never counts for matching: idempotency tokens,
/// which differ on every run by design, and sensitive values, which a cassette holds only as
/// placeholders. A sensitive member is removed; a sensitive list element or map value becomes
/// `null`, so positions still line up.
pub fn strip_unmatched(shape: ShapeId, value: &mut Json<'_>) {
    strip_in(ssm().shape(shape), value);
}

/// Whether [`redact`] can change a value of `shape`.
pub fn holds_sensitive(shape: ShapeId) -> bool {
    ssm().shape(shape).holds_sensitive
}

/// Whether [`strip_unmatched`] can change a value of `shape`.
pub fn holds_unmatched(shape: ShapeId) -> bool {
    ssm().shape(shape).holds_unmatched
}

fn strip_in(shape: &Shape, value: &mut Json<'_>) {
    if !shape.holds_unmatched {
        return;
    }
    match (&shape.kind, value) {
        (Kind::Structure { members, .. }, Json::Object(object)) => {
            for member in members {
                let target = ssm().shape(member.shape);
                if member.idempotency_token || target.sensitive {
                    object.remove(&member.name);
                } else if let Some(value) = object.get_mut(&member.name) {
                    strip_in(target, value);
                }
            }
        }
        (Kind::List { member, .. }, Json::Array(items)) => {
            let member = ssm().shape(*member);
            for item in items {
                strip_or_blank(member, item);
            }
        }
        (Kind::Map { value: entry, .. }, Json::Object(entries)) => {
            let entry = ssm().shape(*entry);
            for value in entries.values_mut() {
                strip_or_blank(entry, value);
            }
        }
        _ => {}
    }
}

fn strip_or_blank(shape: &Shape, value: &mut Json<'_>) {
    if shape.sensitive {
        *value = Json::Null;
    } else {
        strip_in(shape, value);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::aws::model::Operation;

    fn input(operation: &str) -> ShapeId {
        Operation::named(operation).unwrap().input().unwrap()
    }

    fn output(operation: &str) -> ShapeId {
        Operation::named(operation).unwrap().output().unwrap()
    }

    fn tree(value: serde_json::Value) -> Json<'static> {
        Json::from(&value)
    }

    mod redact {
        use super::*;

        #[test]
        fn replaces_parameter_store_values_at_any_depth() {
            let mut body = tree(json!({"Parameters": [
                {"Name": "/a", "Value": "s3cret", "Version": 3},
                {"Name": "/b", "Value": "other"}
            ]}));
            let mut seen = Vec::new();
            let count = redact(output("GetParametersByPath"), &mut body, &mut |path, v| {
                seen.push(format!("{path}={v}"));
                "X".to_owned()
            });
            assert_eq!(count, 2);
            assert_eq!(
                seen,
                ["Parameters[*].Value=s3cret", "Parameters[*].Value=other"]
            );
            assert_eq!(
                body,
                tree(json!({"Parameters": [
                    {"Name": "/a", "Value": "X", "Version": 3},
                    {"Name": "/b", "Value": "X"}
                ]}))
            );
        }

        #[test]
        fn replaces_every_string_of_a_sensitive_map_and_keeps_its_keys() {
            let mut body = tree(json!({
                "WindowId": "mw-0123456789abcdef0",
                "TaskParameters": {"commands": {"Values": ["echo one", "echo two"]}},
                "Description": "who to call at night"
            }));
            let mut paths = Vec::new();
            let count = redact(
                input("RegisterTaskWithMaintenanceWindow"),
                &mut body,
                &mut |p, _| {
                    paths.push(p.to_owned());
                    "X".to_owned()
                },
            );
            assert_eq!(
                paths,
                [
                    "TaskParameters.*.Values[*]",
                    "TaskParameters.*.Values[*]",
                    "Description"
                ]
            );
            assert_eq!(count, 3);
            assert_eq!(
                body["TaskParameters"],
                tree(json!({"commands": {"Values": ["X", "X"]}}))
            );
            assert_eq!(body["Description"], "X");
            assert_eq!(body["WindowId"], "mw-0123456789abcdef0");
        }

        #[test]
        fn leaves_operations_without_sensitive_shapes_alone() {
            let mut body = tree(json!({"WindowId": "mw-0123456789abcdef0", "WindowTaskId": "t"}));
            let before = body.clone();
            let count = redact(
                input("DeregisterTaskFromMaintenanceWindow"),
                &mut body,
                &mut |_, _| unreachable!(),
            );
            assert_eq!((count, body), (0, before));
        }
    }

    mod sensitive_strings {
        use super::*;

        #[test]
        fn names_where_each_secret_sits_so_a_live_body_can_be_read_there() {
            let body = tree(json!({
                "WindowId": "mw-0123456789abcdef0",
                "TaskParameters": {"commands": {"Values": ["echo one", "echo two"]}},
                "Description": "who to call"
            }));
            let mut found = Vec::new();
            sensitive_strings(
                input("RegisterTaskWithMaintenanceWindow"),
                &body,
                &mut |at, text| found.push((at.to_vec(), text.to_owned())),
            );
            let key = |k: &str| Step::Key(k.to_owned());
            assert_eq!(
                found,
                [
                    (
                        vec![
                            key("TaskParameters"),
                            key("commands"),
                            key("Values"),
                            Step::Index(0)
                        ],
                        "echo one".to_owned()
                    ),
                    (
                        vec![
                            key("TaskParameters"),
                            key("commands"),
                            key("Values"),
                            Step::Index(1)
                        ],
                        "echo two".to_owned()
                    ),
                    (vec![key("Description")], "who to call".to_owned()),
                ]
            );
            assert_eq!(body.at(&found[1].0), Some(&Json::String("echo two".into())));
        }
    }

    mod strip_unmatched {
        use super::*;

        #[test]
        fn removes_sensitive_values_and_idempotency_tokens() {
            let bytes = br#"{"Name":"/a","Value":"s3cret","Type":"SecureString"}"#;
            let mut body = Json::parse(bytes).unwrap();
            strip_unmatched(input("PutParameter"), &mut body);
            assert_eq!(
                body,
                Json::parse(br#"{"Name":"/a","Type":"SecureString"}"#).unwrap()
            );

            let bytes = br#"{"Name":"w","ClientToken":"abc","Schedule":"rate(1 day)"}"#;
            let mut body = Json::parse(bytes).unwrap();
            strip_unmatched(input("CreateMaintenanceWindow"), &mut body);
            assert_eq!(
                body,
                Json::parse(br#"{"Name":"w","Schedule":"rate(1 day)"}"#).unwrap()
            );
        }

        #[test]
        fn a_client_token_the_model_does_not_mark_still_counts() {
            let shape = input("StartAutomationExecution");
            assert!(!holds_unmatched(shape));
            let bytes = br#"{"DocumentName":"d","ClientToken":"abc"}"#;
            let mut body = Json::parse(bytes).unwrap();
            strip_unmatched(shape, &mut body);
            assert_eq!(body, Json::parse(bytes).unwrap());
        }
    }
}
