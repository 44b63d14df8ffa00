//! Every SSM operation validated from AWS's model, answered in AWS's words: exact texts for
//! each kind of constraint, nested paths, maps, sensitive members and the ten-error cap.

mod common;

use common::{TestProxy, config};

/// What the proxy answers `body` sent as `operation`: the error type and message, or `None`
/// when the call passed validation (and so reached the cassette: a replay miss).
async fn verdict(proxy: &TestProxy, operation: &str, body: &str) -> Option<(String, String)> {
    let reply = proxy.ssm("/", operation, body).await;
    let json = reply.json();
    let error_type = json["__type"].as_str().unwrap_or_default().to_owned();
    if error_type == "ReplayMissException" {
        return None;
    }
    let message = json["message"].as_str().unwrap_or_default().to_owned();
    Some((error_type, message))
}

fn one(error: &str) -> String {
    format!("1 validation error detected: {error}")
}

#[tokio::test]
async fn invalid_calls_of_every_constraint_kind_get_aws_exact_text() {
    let proxy = TestProxy::start(config()).await;
    let tag_pattern = r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$";
    let target_key_pattern =
        r"^[\p{L}\p{Z}\p{N}_.:/=\-@]*$|resource-groups:ResourceTypeFilters|resource-groups:Name";
    let cases: Vec<(&str, String, String)> = vec![
        // String length.
        (
            "GetParameter",
            r#"{"Name": ""}"#.into(),
            one("Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1"),
        ),
        (
            "GetParameter",
            format!(r#"{{"Name": "{}"}}"#, "p".repeat(2049)),
            one(&format!("Value '{}' at 'name' failed to satisfy constraint: Member must have length less than or equal to 2048", "p".repeat(2049))),
        ),
        // Required.
        (
            "GetParameter",
            r#"{"WithDecryption": true}"#.into(),
            one("Value null at 'name' failed to satisfy constraint: Member must not be null"),
        ),
        // Integer range, the value quoted.
        (
            "DescribeMaintenanceWindows",
            r#"{"MaxResults": 5}"#.into(),
            one("Value '5' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 10"),
        ),
        (
            "DescribeMaintenanceWindows",
            r#"{"MaxResults": 101}"#.into(),
            one("Value '101' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100"),
        ),
        (
            "DescribeInstanceInformation",
            r#"{"MaxResults": 4}"#.into(),
            one("Value '4' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 5"),
        ),
        (
            "RegisterTaskWithMaintenanceWindow",
            r#"{"WindowId": "mw-0123456789abcdef0", "TaskArn": "AWS-RunShellScript", "TaskType": "RUN_COMMAND", "Priority": -1}"#.into(),
            one("Value '-1' at 'priority' failed to satisfy constraint: Member must have value greater than or equal to 0"),
        ),
        // Several members in model order; a sensitive one is never echoed.
        (
            "CreateMaintenanceWindow",
            r#"{"Name": "nightly", "Description": "", "Schedule": "rate(1 day)", "Duration": 30, "Cutoff": 1, "AllowUnassociatedTargets": false}"#.into(),
            "2 validation errors detected: \
             Value at 'description' failed to satisfy constraint: Member must have length greater than or equal to 1; \
             Value '30' at 'duration' failed to satisfy constraint: Member must have value less than or equal to 24".into(),
        ),
        (
            "CreateMaintenanceWindow",
            "{}".into(),
            "5 validation errors detected: \
             Value null at 'name' failed to satisfy constraint: Member must not be null; \
             Value null at 'schedule' failed to satisfy constraint: Member must not be null; \
             Value null at 'duration' failed to satisfy constraint: Member must not be null; \
             Value null at 'cutoff' failed to satisfy constraint: Member must not be null; \
             Value null at 'allowUnassociatedTargets' failed to satisfy constraint: Member must not be null".into(),
        ),
        // Pattern before length for one member.
        (
            "CreateMaintenanceWindow",
            r#"{"Name": "a b", "Schedule": "rate(1 day)", "Duration": 2, "Cutoff": 1, "AllowUnassociatedTargets": false}"#.into(),
            one(r"Value 'a b' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\-.]{3,128}$"),
        ),
        (
            "CreateMaintenanceWindow",
            r#"{"Name": "ab", "Schedule": "rate(1 day)", "Duration": 2, "Cutoff": 24, "AllowUnassociatedTargets": false}"#.into(),
            "3 validation errors detected: \
             Value 'ab' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\\-.]{3,128}$; \
             Value 'ab' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 3; \
             Value '24' at 'cutoff' failed to satisfy constraint: Member must have value less than or equal to 23".into(),
        ),
        // Enum, as the one published SSM capture prints it.
        (
            "PutParameter",
            r#"{"Name": "/app/flag", "Value": "on", "Type": "Text"}"#.into(),
            one("Value 'Text' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]"),
        ),
        (
            "RegisterTaskWithMaintenanceWindow",
            r#"{"WindowId": "mw-0123456789abcdef0", "TaskArn": "AWS-RunShellScript", "TaskType": "SHELL"}"#.into(),
            one("Value 'SHELL' at 'taskType' failed to satisfy constraint: Member must satisfy enum value set: [LAMBDA, STEP_FUNCTIONS, AUTOMATION, RUN_COMMAND]"),
        ),
        (
            "AddTagsToResource",
            r#"{"ResourceType": "Instance", "ResourceId": "i-1", "Tags": []}"#.into(),
            one("Value 'Instance' at 'resourceType' failed to satisfy constraint: Member must satisfy enum value set: [CloudConnector, Association, Automation, OpsMetadata, OpsItem, PatchBaseline, Parameter, MaintenanceWindow, ManagedInstance, Document]"),
        ),
        // A required sensitive member: null is said, a value never is.
        (
            "PutParameter",
            r#"{"Name": "/db/password"}"#.into(),
            one("Value null at 'value' failed to satisfy constraint: Member must not be null"),
        ),
        // List length, printed as Java prints a list.
        (
            "GetParameters",
            r#"{"Names": []}"#.into(),
            one("Value '[]' at 'names' failed to satisfy constraint: Member must have length greater than or equal to 1"),
        ),
        (
            "GetParameters",
            r#"{"Names": ["a","b","c","d","e","f","g","h","i","j","k"]}"#.into(),
            one("Value '[a, b, c, d, e, f, g, h, i, j, k]' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10"),
        ),
        // A list of strings whose elements fail: one error at the list, printed whole, with
        // every constraint of the element shape (Coral's form, captured from AWS).
        (
            "GetParameters",
            r#"{"Names": ["/a", ""]}"#.into(),
            one("Value '[/a, ]' at 'names' failed to satisfy constraint: Member must satisfy constraint: \
                 [Member must have length less than or equal to 2048, Member must have length greater than or equal to 1]"),
        ),
        (
            "GetParameters",
            format!(r#"{{"Names": ["/a", "{}", "/b"]}}"#, "p".repeat(2049)),
            one(&format!("Value '[/a, {}, /b]' at 'names' failed to satisfy constraint: Member must satisfy constraint: \
                 [Member must have length less than or equal to 2048, Member must have length greater than or equal to 1]", "p".repeat(2049))),
        ),
        (
            "LabelParameterVersion",
            format!(r#"{{"Name": "/a", "Labels": ["{}", "{}"]}}"#, "l".repeat(101), "m".repeat(101)),
            one(&format!("Value '[{}, {}]' at 'labels' failed to satisfy constraint: Member must satisfy constraint: \
                 [Member must have length less than or equal to 100, Member must have length greater than or equal to 1]",
                 "l".repeat(101), "m".repeat(101))),
        ),
        (
            "DescribeParameters",
            format!(r#"{{"ParameterFilters": [{{"Key": "Name", "Values": ["ok", "{}"]}}]}}"#, "v".repeat(1025)),
            one(&format!("Value '[ok, {}]' at 'parameterFilters.1.member.values' failed to satisfy constraint: \
                 Member must satisfy constraint: [Member must have length less than or equal to 1024, \
                 Member must have length greater than or equal to 1]", "v".repeat(1025))),
        ),
        (
            "SendCommand",
            r#"{"DocumentName": "AWS-RunShellScript", "InstanceIds": ["i-0123456789abcdef0", "i-bad!", "mi-0123456789abcdef0"]}"#.into(),
            one(r"Value '[i-0123456789abcdef0, i-bad!, mi-0123456789abcdef0]' at 'instanceIds' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy regular expression pattern: (^i-(\w{8}|\w{17})$)|(^mi-\w{17}$)]"),
        ),
        // The list's own length and its elements: two errors, the list counted once for its
        // elements.
        (
            "GetParameters",
            r#"{"Names": ["","b","c","d","e","f","g","h","i","j","k"]}"#.into(),
            "2 validation errors detected: \
             Value '[, b, c, d, e, f, g, h, i, j, k]' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10; \
             Value '[, b, c, d, e, f, g, h, i, j, k]' at 'names' failed to satisfy constraint: Member must satisfy constraint: \
             [Member must have length less than or equal to 2048, Member must have length greater than or equal to 1]".to_owned(),
        ),
        // Nested structures inside lists.
        (
            "SendCommand",
            r#"{"DocumentName": "AWS-RunShellScript", "Targets": [{"Key": "tag:Env", "Values": ["prod"]}, {"Key": "tag:Env#1", "Values": ["prod"]}]}"#.into(),
            one(&format!("Value 'tag:Env#1' at 'targets.2.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: {target_key_pattern}")),
        ),
        (
            "AddTagsToResource",
            r#"{"ResourceType": "Parameter", "ResourceId": "/a", "Tags": [{"Key": "team", "Value": "ops"}, {"Key": "", "Value": "x*y"}]}"#.into(),
            format!(
                "2 validation errors detected: \
                 Value '' at 'tags.2.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1; \
                 Value 'x*y' at 'tags.2.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: {tag_pattern}"
            ),
        ),
        (
            "AddTagsToResource",
            r#"{"ResourceType": "Parameter", "ResourceId": "/a", "Tags": [{"Key": "team"}]}"#.into(),
            one("Value null at 'tags.1.member.value' failed to satisfy constraint: Member must not be null"),
        ),
        (
            "SendCommand",
            r#"{"DocumentName": "AWS-RunShellScript", "Targets": [{"Key": "k", "Values": []}, {"Key": "k"}, {"Key": "k"}, {"Key": "k"}, {"Key": "k"}, {"Key": "k"}]}"#.into(),
            one("Value '[{Key=k, Values=[]}, {Key=k}, {Key=k}, {Key=k}, {Key=k}, {Key=k}]' at 'targets' failed to satisfy constraint: Member must have length less than or equal to 5"),
        ),
        // Patterns match the whole value, unanchored ones too.
        (
            "SendCommand",
            r#"{"DocumentName": "AWS-RunShellScript", "DocumentVersion": "$LATEST-1"}"#.into(),
            one("Value '$LATEST-1' at 'documentVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: ([$]LATEST|[$]DEFAULT|^[1-9][0-9]*$)"),
        ),
        (
            "ListCommands",
            r#"{"InstanceId": "i-0123456789abcdef0x"}"#.into(),
            one(r"Value 'i-0123456789abcdef0x' at 'instanceId' failed to satisfy constraint: Member must satisfy regular expression pattern: (^i-(\w{8}|\w{17})$)|(^mi-\w{17}$)"),
        ),
        (
            "ListCommands",
            r#"{"CommandId": "too-short"}"#.into(),
            one("Value 'too-short' at 'commandId' failed to satisfy constraint: Member must have length greater than or equal to 36"),
        ),
        // `\w` is ASCII, as in Java.
        (
            "ListCommands",
            r#"{"InstanceId": "i-0123456é"}"#.into(),
            one(r"Value 'i-0123456é' at 'instanceId' failed to satisfy constraint: Member must satisfy regular expression pattern: (^i-(\w{8}|\w{17})$)|(^mi-\w{17}$)"),
        ),
        // Look-ahead patterns, on the backtracking engine.
        (
            "CreateOpsItem",
            r#"{"Description": "disk full", "Source": "   ", "Title": "disk"}"#.into(),
            one(r"Value '   ' at 'source' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(?!\s*$).+"),
        ),
        (
            "CreateOpsItem",
            r#"{"Description": " \n ", "Source": "ec2", "Title": "disk", "Priority": 6}"#.into(),
            "2 validation errors detected: \
             Value ' \n ' at 'description' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\s\\S]*\\S[\\s\\S]*; \
             Value '6' at 'priority' failed to satisfy constraint: Member must have value less than or equal to 5".into(),
        ),
        // Maps: keys and values once each, with every constraint of their shape.
        (
            "CreateOpsItem",
            r#"{"Description": "disk full", "Source": "ec2", "Title": "disk", "OperationalData": {" ": {"Value": "v"}}}"#.into(),
            one(r"Value '{ ={Value=v}}' at 'operationalData' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: ^(?!\s*$).+]"),
        ),
        (
            "StartAutomationExecution",
            r#"{"DocumentName": "AWS-RestartEC2Instance", "Parameters": {}}"#.into(),
            one("Value '{}' at 'parameters' failed to satisfy constraint: Member must have length greater than or equal to 1"),
        ),
        (
            "StartAutomationExecution",
            format!(r#"{{"DocumentName": "AWS-RestartEC2Instance", "Parameters": {{"{}": ["i-1"]}}}}"#, "k".repeat(51)),
            one(&format!("Value '{{{}=[i-1]}}' at 'parameters' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 50, Member must have length greater than or equal to 1]", "k".repeat(51))),
        ),
        (
            "CreateOpsItem",
            r#"{"Description": "disk full", "Source": "ec2", "Title": "disk", "OperationalData": {"team": {"Value": " ", "Type": "Number"}}}"#.into(),
            "2 validation errors detected: \
             Value ' ' at 'operationalData.team.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\s\\S]*\\S[\\s\\S]*; \
             Value 'Number' at 'operationalData.team.member.type' failed to satisfy constraint: Member must satisfy enum value set: [String, SearchableString]".into(),
        ),
        // A sensitive map is never echoed, whole or in part.
        (
            "RegisterTaskWithMaintenanceWindow",
            r#"{"WindowId": "mw-0123456789abcdef0", "TaskArn": "AWS-RunShellScript", "TaskType": "RUN_COMMAND", "TaskParameters": {"": {"Values": ["echo s3cret"]}}}"#.into(),
            one("Value at 'taskParameters' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 255, Member must have length greater than or equal to 1]"),
        ),
        // At most ten errors listed.
        (
            "AddTagsToResource",
            format!(
                r#"{{"ResourceType": "Parameter", "ResourceId": "/a", "Tags": [{}]}}"#,
                [r#"{"Key": "", "Value": "v"}"#; 12].join(", ")
            ),
            format!(
                "10 validation errors detected: {}",
                (1..=10)
                    .map(|i| format!("Value '' at 'tags.{i}.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ),
    ];
    let mut operations: Vec<&str> = cases.iter().map(|(op, _, _)| *op).collect();
    operations.sort_unstable();
    operations.dedup();
    assert!(cases.len() >= 30 && operations.len() >= 10);
    for (operation, body, expected) in &cases {
        assert_eq!(
            verdict(&proxy, operation, body).await,
            Some(("ValidationException".to_owned(), expected.clone())),
            "{operation} {body}"
        );
    }
    proxy.stop().await;
}

#[tokio::test]
async fn a_value_of_the_wrong_json_type_anywhere_is_a_serialization_error() {
    let proxy = TestProxy::start(config()).await;
    for (operation, body, reason) in [
        (
            "DescribeMaintenanceWindows",
            r#"{"MaxResults": "10"}"#,
            "member 'MaxResults' must be a JSON number, not a string",
        ),
        (
            "SendCommand",
            r#"{"DocumentName": "d", "Targets": [{"Key": 1}]}"#,
            "member 'Targets[0].Key' must be a JSON string, not a number",
        ),
        (
            "GetParameters",
            r#"{"Names": "/a"}"#,
            "member 'Names' must be a JSON array, not a string",
        ),
        (
            "GetParameter",
            r#"{"Name": "/a", "WithDecryption": "yes"}"#,
            "member 'WithDecryption' must be a JSON boolean, not a string",
        ),
        (
            "CreateOpsItem",
            r#"{"Description": "d", "Source": "s", "Title": "t", "OperationalData": {"k": "v"}}"#,
            "member 'OperationalData[\"k\"]' must be a JSON object, not a string",
        ),
    ] {
        assert_eq!(
            verdict(&proxy, operation, body).await,
            Some(("SerializationException".to_owned(), reason.to_owned())),
            "{operation} {body}"
        );
    }
    proxy.stop().await;
}

#[tokio::test]
async fn a_sensitive_value_appears_in_no_message() {
    let proxy = TestProxy::start(config()).await;
    let secret = "hunter2-but-longer-than-allowed";
    let body = format!(
        r#"{{"Name": "nightly", "Description": "{}", "Schedule": "rate(1 day)", "Duration": 2, "Cutoff": 1, "AllowUnassociatedTargets": false}}"#,
        secret.repeat(5)
    );
    let (_, message) = verdict(&proxy, "CreateMaintenanceWindow", &body)
        .await
        .unwrap();
    assert_eq!(
        message,
        one(
            "Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 128"
        )
    );
    assert!(!message.contains(secret));
    proxy.stop().await;
}

#[tokio::test]
async fn valid_calls_and_unknown_members_pass_validation() {
    let proxy = TestProxy::start(config()).await;
    for (operation, body) in [
        (
            "GetParameter",
            r#"{"Name": "/app/db", "WithDecryption": true, "Extra": [1]}"#,
        ),
        (
            "DescribeMaintenanceWindows",
            r#"{"MaxResults": 10, "Filters": []}"#,
        ),
        (
            "CreateOpsItem",
            r#"{"Description": "x\n", "Source": "ec2", "Title": "t", "OperationalData": {"k": {"Value": "v", "Type": "String"}}}"#,
        ),
        ("ListCommands", r#"{"InstanceId": "mi-0123456789abcdef0"}"#),
        (
            "SendCommand",
            r#"{"DocumentName": "AWS-RunShellScript", "DocumentVersion": "$DEFAULT"}"#,
        ),
    ] {
        assert_eq!(
            verdict(&proxy, operation, body).await,
            None,
            "{operation} {body}"
        );
    }
    proxy.stop().await;
}

/// Valid inputs built from the model alone: every member (to a depth), strings drawn from
/// their pattern's syntax tree and sized to their length bounds, numbers inside their range.
mod generate {
    use regex_syntax::hir::{Class, Hir, HirKind};
    use serde_json::{Map, Value, json};
    use ssm_vcr::aws::model::pattern::translate;
    use ssm_vcr::aws::model::{Bounds, Kind, ShapeId, ssm};

    /// Values for the patterns no syntax tree can describe (look-around, back-references),
    /// checked by hand against their Java meaning.
    const BY_HAND: &[(&str, &str)] = &[
        (r"^(?!\s*$).+", "x"),
        (
            r"^([\-]?\d{4}(?!\d{2}\b))((-?)((0[1-9]|1[0-2])(\3([12]\d|0[1-9]|3[01]))?|W([0-4]\d|5[0-2])(-?[1-7])?|(00[1-9]|0[1-9]\d|[12]\d{2}|3([0-5]\d|6[1-6])))([T\s]((([01]\d|2[0-3])((:?)[0-5]\d)?|24\:?00)([\.,]\d(?!:))?)?(\17[0-5]\d([\.,]\d)?)?([zZ]|([\-])([01]\d|2[0-3]):?([0-5]\d)?)?)?)?$",
            "2024-02-25T18:01",
        ),
    ];

    pub(crate) fn value(id: ShapeId, depth: usize) -> Option<Value> {
        let shape = ssm().shape(id);
        Some(match &shape.kind {
            Kind::Structure { members, union } => {
                let mut object = Map::new();
                for member in members {
                    if !member.required && depth >= 4 {
                        continue;
                    }
                    if let Some(value) = value(member.shape, depth + 1) {
                        object.insert(member.name.clone(), value);
                    }
                    if *union && !object.is_empty() {
                        break;
                    }
                }
                Value::Object(object)
            }
            Kind::List { member, length } => {
                let count = count(*length);
                let item = value(*member, depth + 1)?;
                Value::Array(vec![item; count])
            }
            Kind::Map {
                key,
                value: val,
                length,
            } => {
                let mut object = Map::new();
                let Value::String(key) = value(*key, depth + 1)? else {
                    return None;
                };
                if count(*length) > 0 {
                    object.insert(key, value(*val, depth + 1)?);
                }
                Value::Object(object)
            }
            Kind::String {
                length,
                pattern,
                enumeration,
            } => Value::String(match (enumeration.first(), pattern) {
                (Some(first), _) => first.clone(),
                (None, Some(pattern)) => matching(pattern.as_str(), *length),
                (None, None) => "a".repeat(count(*length).max(1)),
            }),
            Kind::Number { min, max } => match (min, max) {
                (Some(min), _) => Value::Number(min.clone()),
                (None, Some(max)) if max.as_f64() < Some(1.0) => Value::Number(max.clone()),
                _ => json!(1),
            },
            Kind::Boolean => json!(true),
            Kind::Timestamp => json!(1_700_000_000),
            Kind::Blob => json!("aGVsbG8="),
        })
    }

    fn count(length: Bounds) -> usize {
        let wanted = length.min.unwrap_or(1).max(1);
        length.max.map_or(wanted, |max| wanted.min(max)) as usize
    }

    /// A string that the pattern's syntax tree produces, its repetitions stretched until its
    /// length is inside `length`.
    fn matching(pattern: &str, length: Bounds) -> String {
        if let Some((_, value)) = BY_HAND.iter().find(|(p, _)| *p == pattern) {
            return (*value).to_owned();
        }
        let hir = regex_syntax::parse(&translate(pattern))
            .unwrap_or_else(|e| panic!("{pattern} has no syntax tree and no value by hand: {e}"));
        for stretch in 0..2100 {
            let mut out = String::new();
            produce(&hir, stretch, &mut out);
            let chars = out.chars().count() as u64;
            if length.min.is_none_or(|min| chars >= min)
                && length.max.is_none_or(|max| chars <= max)
            {
                return out;
            }
        }
        panic!("no string of {pattern} fits {length:?}");
    }

    fn produce(hir: &Hir, stretch: u32, out: &mut String) {
        match hir.kind() {
            HirKind::Empty | HirKind::Look(_) => {}
            HirKind::Literal(literal) => out.push_str(std::str::from_utf8(&literal.0).unwrap()),
            HirKind::Class(Class::Unicode(class)) => {
                let ranges = class.ranges();
                let preferred = ['a', '0', 'A'];
                let c = preferred
                    .into_iter()
                    .find(|c| ranges.iter().any(|r| r.start() <= *c && *c <= r.end()))
                    .unwrap_or(ranges[0].start());
                out.push(c);
            }
            HirKind::Class(Class::Bytes(class)) => out.push(class.ranges()[0].start() as char),
            HirKind::Repetition(repetition) => {
                let times = (repetition.min + stretch).min(repetition.max.unwrap_or(u32::MAX));
                for _ in 0..times {
                    produce(&repetition.sub, stretch, out);
                }
            }
            HirKind::Capture(capture) => produce(&capture.sub, stretch, out),
            HirKind::Concat(items) => items.iter().for_each(|item| produce(item, stretch, out)),
            HirKind::Alternation(branches) => produce(&branches[0], stretch, out),
        }
    }
}

#[test]
fn a_generated_valid_input_of_every_operation_is_accepted() {
    use ssm_vcr::aws::model::ssm;
    use ssm_vcr::aws::model::validate::validate;
    use ssm_vcr::json::Json;

    let mut checked = 0;
    for operation in ssm().operations() {
        let Some(input) = operation.input() else {
            continue;
        };
        let body = generate::value(input, 0).expect("every input shape can be generated");
        let text = body.to_string();
        let Json::Object(object) = Json::parse(text.as_bytes()).unwrap() else {
            panic!("{operation}: not an object");
        };
        assert_eq!(validate(operation, &object), Ok(()), "{operation} {text}");
        checked += 1;
    }
    assert_eq!(checked, 154);
}

#[test]
fn every_modeled_pattern_compiles_and_only_the_listed_ones_leave_the_automata() {
    use ssm_vcr::aws::model::pattern::Engine;
    use ssm_vcr::aws::model::{Kind, ssm};

    let mut off_automata: Vec<(Engine, &str)> = ssm()
        .shapes()
        .filter_map(|shape| match &shape.kind {
            Kind::String {
                pattern: Some(pattern),
                ..
            } => {
                let engine = pattern
                    .engine()
                    .unwrap_or_else(|e| panic!("{}: {e}", shape.name));
                matches!(engine, Engine::Backtracking | Engine::ClassRun)
                    .then_some((engine, pattern.as_str()))
            }
            _ => None,
        })
        .collect();
    off_automata.sort_unstable_by_key(|(_, pattern)| *pattern);
    off_automata.dedup();
    // docs/validation.md lists these; a model update that adds one shows up here.
    assert_eq!(
        off_automata,
        [
            (Engine::Backtracking, r"^(?!\s*$).+"),
            (
                Engine::Backtracking,
                r"^([\-]?\d{4}(?!\d{2}\b))((-?)((0[1-9]|1[0-2])(\3([12]\d|0[1-9]|3[01]))?|W([0-4]\d|5[0-2])(-?[1-7])?|(00[1-9]|0[1-9]\d|[12]\d{2}|3([0-5]\d|6[1-6])))([T\s]((([01]\d|2[0-3])((:?)[0-5]\d)?|24\:?00)([\.,]\d(?!:))?)?(\17[0-5]\d([\.,]\d)?)?([zZ]|([\-])([01]\d|2[0-3]):?([0-5]\d)?)?)?)?$"
            ),
            (Engine::ClassRun, r"^.{1,100000}$"),
        ]
    );
}
