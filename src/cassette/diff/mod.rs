//! `ssm-vcr cassette diff`: what changed between two recordings of a flow, each change classed
//! by the SSM model.
//!
//! Interactions are paired by their matching key (operation, region, request body without
//! what matching ignores), in order: the n-th call with a key in the old cassette pairs with
//! the n-th with that key in the new one. Those left pair by operation and region, in order,
//! and their requests are compared too: two recordings of one flow send ids AWS generated
//! anew. Interactions still left were removed or added. In a pair:
//!
//! - **breaking**: the status or the error changed, a member is gone, a value changed type;
//! - **additive**: a new member, or an enum value the model does not list;
//! - **value**: a changed value. Shown for enum members and what the operation's waiters read,
//!   counted but hidden otherwise (timestamps, ids), unless all values are asked for.
//!
//! `recorded_at`, request ids and renumbered placeholders are never differences. This module
//! holds what a diff finds and runs one; which interactions pair is `pairing.rs`'s, how two
//! answers compare `compare.rs`'s, and `report.rs` renders. It neither reads nor writes files.

mod compare;
mod pairing;
pub mod report;

use serde::Serialize;

use super::format::{Cassette, Interaction};
use super::matching::{IgnoreRules, MatchKey};
use compare::Comparison;
pub(crate) use compare::shown;
use pairing::Pairing;

/// How much a change matters to a client, by the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// A client that read the old answer may fail on the new one.
    Breaking,
    /// Something new a client can ignore.
    Additive,
    /// The same member with another value.
    Value,
}

impl Class {
    /// The class's name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Breaking => "breaking",
            Self::Additive => "additive",
            Self::Value => "value",
        }
    }
}

/// What changed at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The HTTP status.
    StatusChanged,
    /// The AWS error shape of the answer.
    ErrorChanged,
    /// A member present before is absent.
    MemberRemoved,
    /// A member absent before is present.
    MemberAdded,
    /// A value of another JSON type.
    TypeChanged,
    /// A value the model's enum does not list.
    UnknownEnumValue,
    /// Another value of an enum the model lists.
    EnumValueChanged,
    /// Another value where a waiter of the operation reads.
    WaiterReads,
    /// Another value.
    ValueChanged,
    /// A body that is not JSON, with other bytes.
    BodyChanged,
    /// A list element the other side lacks.
    ElementRemoved,
    /// A list element the old side lacked.
    ElementAdded,
    /// A recorded member this build's model does not have (`verify --offline`).
    MemberNotInModel,
    /// A member this build's model requires, absent from a recorded request.
    RequiredMissing,
    /// A recorded operation this build's model does not have.
    OperationNotInModel,
}

impl Reason {
    /// What a report says of it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StatusChanged => "status changed",
            Self::ErrorChanged => "error changed",
            Self::MemberRemoved => "member removed",
            Self::MemberAdded => "member added",
            Self::TypeChanged => "type changed",
            Self::UnknownEnumValue => "value not in the model's enum",
            Self::EnumValueChanged => "enum value changed",
            Self::WaiterReads => "read by a waiter",
            Self::ValueChanged => "value changed",
            Self::BodyChanged => "body changed",
            Self::ElementRemoved => "element removed",
            Self::ElementAdded => "element added",
            Self::MemberNotInModel => "member not in the model",
            Self::RequiredMissing => "required member missing",
            Self::OperationNotInModel => "operation not in the model",
        }
    }
}

/// One difference in a pair's responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// How much it matters.
    pub class: Class,
    /// What changed.
    pub reason: Reason,
    /// Where: `status`, `error`, `repeat`, `response.Tasks[0].TaskArn` or `request.WindowId`.
    pub path: String,
    /// The old value as compact JSON, bounded; absent when the member was.
    pub old: Option<String>,
    /// The new value likewise.
    pub new: Option<String>,
}

impl Change {
    /// What a report says of it after its path: `member removed (was "x")`, `enum value
    /// changed: "a" → "b"`.
    pub fn describe(&self) -> String {
        let reason = self.reason.as_str();
        match (&self.old, &self.new) {
            (Some(old), Some(new)) => format!("{reason}: {old} → {new}"),
            (Some(old), None) => format!("{reason} (was {old})"),
            (None, Some(new)) => format!("{reason}: {new}"),
            (None, None) => reason.to_owned(),
        }
    }
}

/// An interaction that only one side has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unpaired {
    /// Its index in its cassette, from 0.
    pub index: usize,
    /// Its operation.
    pub operation: String,
    /// Its region.
    pub region: String,
}

/// A pair whose responses differ in what is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pair {
    /// The operation.
    pub operation: String,
    /// The region.
    pub region: String,
    /// Its index in the old cassette.
    pub old_index: usize,
    /// Its index in the new cassette.
    pub new_index: usize,
    /// What changed, in the order met.
    pub changes: Vec<Change>,
}

/// Everything a diff found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CassetteDiff {
    /// Interactions only the old cassette has.
    pub removed: Vec<Unpaired>,
    /// Interactions only the new cassette has.
    pub added: Vec<Unpaired>,
    /// Pairs with a change shown.
    pub changed: Vec<Pair>,
    /// Value changes counted but not shown.
    pub hidden_values: usize,
}

impl CassetteDiff {
    /// Whether nothing is reported (hidden values aside).
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty() && self.changed.is_empty()
    }
}

/// Compares two cassettes; `all_values` shows every value change.
pub fn diff(old: &Cassette, new: &Cassette, all_values: bool) -> CassetteDiff {
    let rules = IgnoreRules::default();
    let keys = |cassette: &Cassette| -> Vec<MatchKey> {
        (cassette.interactions.iter())
            .map(|i| MatchKey::new(&i.operation, &i.region, &i.request.body, &rules))
            .collect()
    };
    let (old_keys, new_keys) = (keys(old), keys(new));
    let pairing = Pairing::of(&old_keys, &new_keys);
    let mut found = CassetteDiff::default();
    for &(old_index, new_index, same_request) in &pairing.pairs {
        let (before, after) = (&old.interactions[old_index], &new.interactions[new_index]);
        let mut comparison = Comparison::new(&before.operation, all_values);
        if !same_request {
            comparison.requests(&old_keys[old_index], &new_keys[new_index]);
        }
        comparison.responses(before, after);
        comparison.repeats(before, after);
        found.hidden_values += comparison.hidden;
        if !comparison.changes.is_empty() {
            found.changed.push(Pair {
                operation: before.operation.clone(),
                region: before.region.clone(),
                old_index,
                new_index,
                changes: comparison.changes,
            });
        }
    }
    found.changed.sort_by_key(|pair| pair.new_index);
    let left = |indices: &[usize], cassette: &Cassette| -> Vec<Unpaired> {
        (indices.iter())
            .map(|&index| unpaired(index, &cassette.interactions[index]))
            .collect()
    };
    found.removed = left(&pairing.old_left, old);
    found.added = left(&pairing.new_left, new);
    found
}

/// The changes between a recorded answer and another answer to the same request (a live one,
/// for `verify`), and how many value changes were counted but not shown.
pub fn answers(
    recorded: &Interaction,
    other: &Interaction,
    all_values: bool,
) -> (Vec<Change>, usize) {
    let mut comparison = Comparison::new(&recorded.operation, all_values);
    comparison.responses(recorded, other);
    (comparison.changes, comparison.hidden)
}

fn unpaired(index: usize, interaction: &Interaction) -> Unpaired {
    Unpaired {
        index,
        operation: interaction.operation.clone(),
        region: interaction.region.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// A cassette of `(operation, request, status, response)`, each answer with its own
    /// request id and time.
    fn cassette(interactions: &[(&str, Value, u16, Value)]) -> Cassette {
        let interactions: Vec<Value> = (interactions.iter().enumerate())
            .map(|(index, (operation, request, status, response))| {
                let mut headers = json!({"x-amzn-requestid": format!("id-{index}-{}", rand_like(response))});
                if let Some(error) = response.get("__type") {
                    headers["x-amzn-errortype"] = error.clone();
                }
                json!({
                    "operation": operation,
                    "region": "us-east-1",
                    "recorded_at": format!("2026-12-0{}T00:00:00Z", index % 9 + 1),
                    "request": {"body": request},
                    "response": {"status": status, "headers": headers, "body": {"utf8": response.to_string()}},
                })
            })
            .collect();
        let file = json!({"version": 1, "interactions": interactions});
        Cassette::from_json(file.to_string().as_bytes()).unwrap()
    }

    /// A request id that differs with the answer, as AWS's do between recordings.
    fn rand_like(response: &Value) -> usize {
        response.to_string().len()
    }

    fn parameter(kind: &str, modified: f64, extra: Value) -> Value {
        let mut parameter =
            json!({"Name": "/app/url", "Type": kind, "LastModifiedDate": modified, "Version": 1});
        for (key, value) in extra.as_object().unwrap() {
            parameter[key] = value.clone();
        }
        json!({"Parameters": [parameter]})
    }

    fn describe(response: Value) -> (&'static str, Value, u16, Value) {
        (
            "DescribeParameters",
            json!({"MaxResults": 10}),
            200,
            response,
        )
    }

    fn changes(diff: &CassetteDiff) -> Vec<(Class, Reason, &str)> {
        (diff.changed.iter().flat_map(|pair| &pair.changes))
            .map(|change| (change.class, change.reason, change.path.as_str()))
            .collect()
    }

    #[test]
    fn a_cassette_against_itself_or_a_re_recording_that_moved_only_times_and_ids_is_no_difference()
    {
        let old = cassette(&[describe(parameter("String", 1.7e9, json!({})))]);
        assert!(diff(&old, &old, true).is_empty());
        let new = cassette(&[describe(parameter("String", 1.8e9, json!({})))]);
        let found = diff(&old, &new, false);
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(found.hidden_values, 1, "the timestamp, counted");
        let all = diff(&old, &new, true);
        assert_eq!(
            changes(&all),
            [(
                Class::Value,
                Reason::ValueChanged,
                "response.Parameters[0].LastModifiedDate"
            )]
        );
    }

    #[test]
    fn each_change_is_classed_by_the_model() {
        let old = cassette(&[
            describe(parameter(
                "String",
                1.7e9,
                json!({"Tier": "Standard", "Version": 1}),
            )),
            (
                "GetCommandInvocation",
                json!({"CommandId": "c", "InstanceId": "i-1"}),
                200,
                json!({"Status": "InProgress"}),
            ),
            (
                "GetParameter",
                json!({"Name": "/a"}),
                200,
                json!({"Parameter": {"Name": "/a"}}),
            ),
        ]);
        let new = cassette(&[
            describe(parameter(
                "Strange",
                1.7e9,
                json!({"Version": "1", "DataType": "text"}),
            )),
            (
                "GetCommandInvocation",
                json!({"CommandId": "c", "InstanceId": "i-1"}),
                200,
                json!({"Status": "Success"}),
            ),
            (
                "GetParameter",
                json!({"Name": "/a"}),
                400,
                json!({"__type": "ParameterNotFound"}),
            ),
        ]);
        let found = diff(&old, &new, false);
        assert_eq!(
            changes(&found),
            [
                (
                    Class::Breaking,
                    Reason::MemberRemoved,
                    "response.Parameters[0].Tier"
                ),
                (
                    Class::Additive,
                    Reason::UnknownEnumValue,
                    "response.Parameters[0].Type"
                ),
                (
                    Class::Breaking,
                    Reason::TypeChanged,
                    "response.Parameters[0].Version"
                ),
                (
                    Class::Additive,
                    Reason::MemberAdded,
                    "response.Parameters[0].DataType"
                ),
                (Class::Value, Reason::WaiterReads, "response.Status"),
                (Class::Breaking, Reason::StatusChanged, "status"),
                (Class::Breaking, Reason::ErrorChanged, "error"),
            ]
        );
        let error = &found.changed[2].changes[1];
        assert_eq!(
            (error.old.as_deref(), error.new.as_deref()),
            (Some("none"), Some("ParameterNotFound"))
        );
    }

    #[test]
    fn an_enum_value_the_model_lists_is_shown_and_other_values_hidden() {
        let old = cassette(&[describe(parameter(
            "String",
            1.7e9,
            json!({"Description": "a"}),
        ))]);
        let new = cassette(&[describe(parameter(
            "SecureString",
            1.7e9,
            json!({"Description": "b"}),
        ))]);
        let found = diff(&old, &new, false);
        assert_eq!(
            changes(&found),
            [(
                Class::Value,
                Reason::EnumValueChanged,
                "response.Parameters[0].Type"
            )]
        );
        assert_eq!(found.hidden_values, 1);
        let change = &found.changed[0].changes[0];
        assert_eq!(change.old.as_deref(), Some(r#""String""#));
        assert_eq!(change.new.as_deref(), Some(r#""SecureString""#));
    }

    #[test]
    fn tokens_placeholders_and_sensitive_values_are_never_differences_nor_shown() {
        // aws-cli sends a new ClientToken each run; placeholders are numbered per cassette.
        let create = |token: &str, description: &str| {
            let window = json!({
                "Name": "nightly", "Schedule": "rate(1 day)", "Duration": 2, "Cutoff": 1,
                "AllowUnassociatedTargets": false, "ClientToken": token, "Description": description,
            });
            (
                "CreateMaintenanceWindow",
                window,
                200,
                json!({"WindowId": "mw-0c50858d01e8a7b6f"}),
            )
        };
        let old = cassette(&[create("t-1", "REDACTED-1")]);
        let new = cassette(&[create("t-2", "REDACTED-4")]);
        let found = diff(&old, &new, true);
        assert!(found.is_empty(), "{found:?}");

        let get = |value: &str| {
            (
                "GetParameter",
                json!({"Name": "/db"}),
                200,
                json!({"Parameter": {"Name": "/db", "Value": value}}),
            )
        };
        let found = diff(
            &cassette(&[get("old-secret")]),
            &cassette(&[get("new-secret")]),
            true,
        );
        assert_eq!(
            found.changed[0].changes[0].old.as_deref(),
            Some("(sensitive)")
        );
        assert_eq!(
            found.changed[0].changes[0].new.as_deref(),
            Some("(sensitive)")
        );
    }

    #[test]
    fn calls_pair_by_request_then_by_operation_in_order_and_the_rest_are_added_or_removed() {
        let deregister = |window: &str| {
            (
                "DeregisterTaskFromMaintenanceWindow",
                json!({"WindowId": window, "WindowTaskId": "t"}),
                200,
                json!({}),
            )
        };
        let delete = (
            "DeleteMaintenanceWindow",
            json!({"WindowId": "mw-1"}),
            200,
            json!({}),
        );
        let old = cassette(&[deregister("mw-1"), deregister("mw-1"), delete.clone()]);
        let new = cassette(&[deregister("mw-2"), deregister("mw-1")]);
        let found = diff(&old, &new, true);
        assert_eq!(found.added, []);
        assert_eq!(
            found.removed,
            [Unpaired {
                index: 2,
                operation: "DeleteMaintenanceWindow".into(),
                region: "us-east-1".into()
            }]
        );
        // The same request pairs first (old #0 with new #1); the rest by operation.
        assert_eq!(found.changed.len(), 1);
        let pair = &found.changed[0];
        assert_eq!((pair.old_index, pair.new_index), (1, 0));
        assert_eq!(
            changes(&found),
            [(Class::Value, Reason::ValueChanged, "request.WindowId")]
        );
    }

    #[test]
    fn list_elements_pair_by_the_member_that_names_them_so_an_insertion_is_one_element_added() {
        let listed = |parameters: Value| describe(json!({"Parameters": parameters}));
        let a = json!({"Name": "/a", "Type": "String", "Tier": "Standard"});
        let b = json!({"Name": "/b", "Type": "String"});
        let c = json!({"Name": "/c", "Type": "String"});
        let old = cassette(&[listed(json!([a, b]))]);
        let new = cassette(&[listed(json!([c, a, b]))]);
        // By position, /a against /c would have lost its Tier: a breaking change that is not.
        let found = diff(&old, &new, true);
        assert_eq!(
            changes(&found),
            [(Class::Value, Reason::ElementAdded, "response.Parameters[0]")]
        );
        assert!(
            !changes(&found)
                .iter()
                .any(|(class, ..)| *class == Class::Breaking)
        );
        // Without a member that names them, elements pair by position.
        let old = cassette(&[listed(json!([{"Type": "String"}]))]);
        let new = cassette(&[listed(json!([{"Type": "String"}, {"Type": "String"}]))]);
        assert_eq!(
            changes(&diff(&old, &new, true)),
            [(Class::Value, Reason::ElementAdded, "response.Parameters[1]")]
        );
    }
}
