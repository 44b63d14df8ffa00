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
        // Lengths count characters, not bytes: 36 bytes, 18 characters.
        (
            "ListCommands",
            format!(r#"{{"CommandId": "{}"}}"#, "é".repeat(18)),
            one(&format!("Value '{}' at 'commandId' failed to satisfy constraint: Member must have length greater than or equal to 36", "é".repeat(18))),
        ),
        (
            "GetParameter",
            format!(r#"{{"Name": "{}"}}"#, "€".repeat(2049)),
            one(&format!("Value '{}' at 'name' failed to satisfy constraint: Member must have length less than or equal to 2048", "€".repeat(2049))),
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
    let name_of_2048_characters = format!(r#"{{"Name": "{}"}}"#, "€".repeat(2048));
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
        // 2048 characters in 6144 bytes: within `Name`'s 2048.
        ("GetParameter", &name_of_2048_characters),
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
