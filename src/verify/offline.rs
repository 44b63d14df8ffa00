//! `ssm-vcr verify --offline`: each recording read against this build's model, without a
//! network. It names members the model no longer has, enum values it no longer lists, members
//! it now requires that a recorded request lacks, and the model the cassette was recorded with.
//!
//! Requests are read against the operation's input shape and successful answers against its
//! output shape; error answers have shapes of their own and are not read. Placeholders are
//! not values and are never judged.

use super::{Checked, Outcome, Verified};
use crate::aws::model::{Kind, Operation, Shape, provenance, ssm};
use crate::cassette::diff::{Change, Class, Reason, shown};
use crate::cassette::format::{Cassette, Interaction, ModelStamp};
use crate::cassette::placeholder::is_placeholder;
use crate::json::Json;

/// Checks every recording of `cassette`, read from `file`, against this build's model.
pub fn verify_offline(file: String, cassette: &Cassette) -> Verified {
    let note = match &cassette.model {
        None => Some(format!(
            "recorded without a model stamp; this build's model: {}",
            provenance()
        )),
        Some(stamp) if *stamp != ModelStamp::current() => Some(format!(
            "recorded with botocore {} (sha256 {}); this build's model: {}",
            stamp.botocore,
            stamp.sha256,
            provenance()
        )),
        Some(_) => None,
    };
    let checked = (cassette.interactions.iter().enumerate())
        .map(|(index, interaction)| {
            let changes = findings(interaction);
            Checked {
                index,
                operation: interaction.operation.clone(),
                region: interaction.region.clone(),
                outcome: if changes.is_empty() {
                    Outcome::Same
                } else {
                    Outcome::Drift { changes }
                },
                hidden_values: 0,
            }
        })
        .collect();
    Verified {
        file,
        note,
        checked,
        updated: 0,
    }
}

/// What the model says of one recording.
fn findings(interaction: &Interaction) -> Vec<Change> {
    let Some(operation) = Operation::named(&interaction.operation) else {
        return vec![Change {
            class: Class::Breaking,
            reason: Reason::OperationNotInModel,
            path: "operation".to_owned(),
            old: Some(interaction.operation.clone()),
            new: None,
        }];
    };
    let mut found = Vec::new();
    if let Some(input) = operation.input() {
        let shape = ssm().shape(input);
        walk(
            shape,
            &interaction.request.body,
            "request",
            true,
            &mut found,
        );
    }
    let response = &interaction.response;
    let answer = (response.body.text()).and_then(|text| Json::parse(text.as_bytes()).ok());
    if let (true, Some(output), Some(answer)) = (response.status < 300, operation.output(), answer)
    {
        walk(ssm().shape(output), &answer, "response", false, &mut found);
    }
    found
}

/// Reads `value` against `shape` at `path`; `request` says whether required members must be
/// present (answers are not held to it: AWS leaves out what it has nothing for).
fn walk(shape: &Shape, value: &Json<'_>, path: &str, request: bool, found: &mut Vec<Change>) {
    match (&shape.kind, value) {
        (Kind::Structure { members, .. }, Json::Object(object)) => {
            // An unknown member's value is not printed: nothing says whether it is a secret.
            for (name, _) in object.iter() {
                if !members.iter().any(|member| member.name == name) {
                    let at = format!("{path}.{name}");
                    found.push(finding(Class::Additive, Reason::MemberNotInModel, at, None));
                }
            }
            for member in members {
                let at = format!("{path}.{}", member.name);
                match object.get(&member.name) {
                    None | Some(Json::Null) if request && member.required => {
                        found.push(finding(Class::Breaking, Reason::RequiredMissing, at, None));
                    }
                    None | Some(Json::Null) => {}
                    Some(inner) => walk(ssm().shape(member.shape), inner, &at, request, found),
                }
            }
        }
        (Kind::List { member, .. }, Json::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                let at = format!("{path}[{index}]");
                walk(ssm().shape(*member), item, &at, request, found);
            }
        }
        (Kind::Map { value: values, .. }, Json::Object(entries)) => {
            for (key, entry) in entries.iter() {
                let at = format!("{path}[{key:?}]");
                walk(ssm().shape(*values), entry, &at, request, found);
            }
        }
        (Kind::String { enumeration, .. }, Json::String(text))
            if !enumeration.is_empty()
                && !is_placeholder(text)
                && !enumeration.iter().any(|listed| listed == text) =>
        {
            let shown = Some(shown(Some(shape), value));
            found.push(finding(
                Class::Additive,
                Reason::UnknownEnumValue,
                path.to_owned(),
                shown,
            ));
        }
        _ => {}
    }
}

fn finding(class: Class, reason: Reason, path: String, value: Option<String>) -> Change {
    Change {
        class,
        reason,
        path,
        old: value,
        new: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cassette(model: Option<serde_json::Value>, interactions: serde_json::Value) -> Cassette {
        let mut file = json!({"version": 1, "interactions": interactions});
        if let Some(model) = model {
            file["model"] = model;
        }
        Cassette::from_json(file.to_string().as_bytes()).unwrap()
    }

    fn interaction(
        operation: &str,
        request: serde_json::Value,
        response: serde_json::Value,
    ) -> serde_json::Value {
        json!({
            "operation": operation, "region": "us-east-1", "recorded_at": "2026-12-01T00:00:00Z",
            "request": {"body": request},
            "response": {"status": 200, "body": {"utf8": response.to_string()}},
        })
    }

    #[test]
    fn names_what_the_model_no_longer_has_lists_or_requires_and_the_model_recorded_with() {
        let recorded = cassette(
            Some(json!({"botocore": "1.30.0", "sha256": "00"})),
            json!([
                interaction(
                    "DescribeParameters",
                    json!({"MaxResults": 10}),
                    json!({"Parameters": [{"Name": "/a", "Type": "Strange", "Shiny": true}]}),
                ),
                interaction("GetParameter", json!({"WithDecryption": true}), json!({})),
                interaction("GetWidget", json!({}), json!({})),
                interaction(
                    "GetParameter",
                    json!({"Name": "/a"}),
                    json!({"Parameter": {"Name": "/a", "Type": "String"}})
                ),
            ]),
        );
        let verified = verify_offline("x.json".to_owned(), &recorded);
        let note = verified.note.unwrap();
        assert!(
            note.starts_with(
                "recorded with botocore 1.30.0 (sha256 00); this build's model: botocore 1.44.8"
            ),
            "{note}"
        );
        let found: Vec<Vec<(Class, Reason, &str)>> = (verified.checked.iter())
            .map(|checked| match &checked.outcome {
                Outcome::Drift { changes } => (changes.iter())
                    .map(|c| (c.class, c.reason, c.path.as_str()))
                    .collect(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(
            found,
            [
                vec![
                    (
                        Class::Additive,
                        Reason::MemberNotInModel,
                        "response.Parameters[0].Shiny"
                    ),
                    (
                        Class::Additive,
                        Reason::UnknownEnumValue,
                        "response.Parameters[0].Type"
                    ),
                ],
                vec![(Class::Breaking, Reason::RequiredMissing, "request.Name")],
                vec![(Class::Breaking, Reason::OperationNotInModel, "operation")],
                vec![],
            ]
        );
    }

    #[test]
    fn a_cassette_recorded_with_this_builds_model_has_no_note() {
        let current = serde_json::to_value(ModelStamp::current()).unwrap();
        let recorded = cassette(Some(current), json!([]));
        assert_eq!(verify_offline("x.json".to_owned(), &recorded).note, None);
    }
}
