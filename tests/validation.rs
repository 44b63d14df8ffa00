//! Every bad DeregisterTaskFromMaintenanceWindow call, answered as AWS answers it.

mod common;

use common::{DEREGISTER, TASK_1, TestProxy, WINDOW, authorization, config, deregister_body};

const WINDOW_PATTERN: &str = "^mw-[0-9a-f]{17}$";
const TASK_PATTERN: &str =
    r"^[0-9a-fA-F]{8}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{12}$";

async fn validation_message(proxy: &TestProxy, body: &str) -> String {
    proxy
        .ssm("/", DEREGISTER, body)
        .await
        .aws_error(400, "ValidationException")
}

#[tokio::test]
async fn every_invalid_deregistration_gets_aws_exact_validation_text() {
    let proxy = TestProxy::start(config()).await;
    let cases = [
        (
            "the seed's own sample ids",
            deregister_body(
                "mw-0c50858d01EXAMPLE",
                "50772993-c6b5-4a2a-8d04-7bfd7EXAMPLE",
            ),
            format!(
                "2 validation errors detected: \
                 Value 'mw-0c50858d01EXAMPLE' at 'windowId' failed to satisfy constraint: Member must satisfy regular expression pattern: {WINDOW_PATTERN}; \
                 Value '50772993-c6b5-4a2a-8d04-7bfd7EXAMPLE' at 'windowTaskId' failed to satisfy constraint: Member must satisfy regular expression pattern: {TASK_PATTERN}"
            ),
        ),
        (
            "mw-123",
            deregister_body("mw-123", TASK_1),
            format!(
                "2 validation errors detected: \
                 Value 'mw-123' at 'windowId' failed to satisfy constraint: Member must satisfy regular expression pattern: {WINDOW_PATTERN}; \
                 Value 'mw-123' at 'windowId' failed to satisfy constraint: Member must have length greater than or equal to 20"
            ),
        ),
        (
            "a 21-character window id",
            deregister_body("mw-0123456789abcdef01", TASK_1),
            format!(
                "2 validation errors detected: \
                 Value 'mw-0123456789abcdef01' at 'windowId' failed to satisfy constraint: Member must satisfy regular expression pattern: {WINDOW_PATTERN}; \
                 Value 'mw-0123456789abcdef01' at 'windowId' failed to satisfy constraint: Member must have length less than or equal to 20"
            ),
        ),
        (
            "an upper-case hex window id",
            deregister_body("mw-0123456789ABCDEF0", TASK_1),
            format!(
                "1 validation error detected: \
                 Value 'mw-0123456789ABCDEF0' at 'windowId' failed to satisfy constraint: Member must satisfy regular expression pattern: {WINDOW_PATTERN}"
            ),
        ),
        (
            "a task id with a non-hex character",
            deregister_body(WINDOW, "50772993-c6b5-4a2a-8d04-7bfd7e1a2b3g"),
            format!(
                "1 validation error detected: \
                 Value '50772993-c6b5-4a2a-8d04-7bfd7e1a2b3g' at 'windowTaskId' failed to satisfy constraint: Member must satisfy regular expression pattern: {TASK_PATTERN}"
            ),
        ),
        (
            "a missing WindowTaskId",
            format!(r#"{{"WindowId":"{WINDOW}"}}"#),
            "1 validation error detected: \
             Value null at 'windowTaskId' failed to satisfy constraint: Member must not be null"
                .to_owned(),
        ),
        (
            "a JSON-null WindowId",
            format!(r#"{{"WindowId":null,"WindowTaskId":"{TASK_1}"}}"#),
            "1 validation error detected: \
             Value null at 'windowId' failed to satisfy constraint: Member must not be null"
                .to_owned(),
        ),
        (
            "both members missing, an unknown one present",
            r#"{"Unknown":"x"}"#.to_owned(),
            "2 validation errors detected: \
             Value null at 'windowId' failed to satisfy constraint: Member must not be null; \
             Value null at 'windowTaskId' failed to satisfy constraint: Member must not be null"
                .to_owned(),
        ),
        (
            "{}",
            "{}".to_owned(),
            "2 validation errors detected: \
             Value null at 'windowId' failed to satisfy constraint: Member must not be null; \
             Value null at 'windowTaskId' failed to satisfy constraint: Member must not be null"
                .to_owned(),
        ),
        (
            "an empty body",
            String::new(),
            "2 validation errors detected: \
             Value null at 'windowId' failed to satisfy constraint: Member must not be null; \
             Value null at 'windowTaskId' failed to satisfy constraint: Member must not be null"
                .to_owned(),
        ),
    ];
    for (case, body, expected) in cases {
        assert_eq!(
            validation_message(&proxy, &body).await,
            expected,
            "case: {case}"
        );
    }
    proxy.stop().await;
}

#[tokio::test]
async fn malformed_bodies_are_serialization_exceptions() {
    let proxy = TestProxy::start(config()).await;
    let cases = [
        (
            format!(r#"{{"WindowId":123,"WindowTaskId":"{TASK_1}"}}"#),
            "member 'WindowId' must be a JSON string, not a number",
        ),
        (
            "[]".to_owned(),
            "the request body must be a JSON object, not an array",
        ),
        (
            "not json".to_owned(),
            "the request body is not valid JSON: expected ident at line 1 column 2",
        ),
    ];
    for (body, expected) in cases {
        let message = proxy
            .ssm("/", DEREGISTER, &body)
            .await
            .aws_error(400, "SerializationException");
        assert_eq!(message, expected, "body: {body}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn targets_outside_amazon_ssm_are_unknown_operations() {
    let proxy = TestProxy::start(config()).await;
    let body = deregister_body(WINDOW, TASK_1).into_bytes();
    let auth = authorization("us-east-1");
    let json = ("content-type", "application/x-amz-json-1.1");
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[json],
            "missing X-Amz-Target header: expected AmazonSSM.<Operation>",
        ),
        (
            &[json, ("x-amz-target", "AmazonSSM.")],
            "unknown operation target 'AmazonSSM.': ssm-vcr serves AmazonSSM.<Operation> only",
        ),
        (
            &[json, ("x-amz-target", "AmazonSSM.Deregister Task")],
            "unknown operation target 'AmazonSSM.Deregister Task': ssm-vcr serves AmazonSSM.<Operation> only",
        ),
        (
            &[json, ("x-amz-target", "AmazonSSM.NoSuchOperation")],
            "unknown operation 'NoSuchOperation': the SSM API model (botocore 1.44.8) has no such \
             operation; check the spelling, or refresh the model with scripts/update-ssm-model",
        ),
        (
            &[
                json,
                ("x-amz-target", "DynamoDB_20120810.GetItem"),
                ("authorization", &auth),
            ],
            "unknown operation target 'DynamoDB_20120810.GetItem': ssm-vcr serves AmazonSSM.<Operation> only",
        ),
    ];
    for (headers, expected) in cases {
        let reply = proxy.send("/", headers, body.clone()).await;
        assert_eq!(reply.aws_error(400, "UnknownOperationException"), expected);
    }
    proxy.stop().await;
}

#[tokio::test]
async fn a_wrong_content_type_is_unsupported_but_parameters_are_accepted() {
    let proxy = TestProxy::start(config()).await;
    let target = format!("AmazonSSM.{DEREGISTER}");
    let body = deregister_body("mw-123", TASK_1).into_bytes();
    let reply = proxy
        .send(
            "/",
            &[
                ("x-amz-target", &target),
                ("content-type", "application/json"),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(
        reply.aws_error(415, "UnsupportedMediaTypeException"),
        "Content-Type must be application/x-amz-json-1.1, got 'application/json'"
    );
    // With parameters, the body reaches validation.
    let reply = proxy
        .send(
            "/",
            &[
                ("x-amz-target", &target),
                ("content-type", "application/x-amz-json-1.1; charset=utf-8"),
            ],
            body,
        )
        .await;
    reply.aws_error(400, "ValidationException");
    proxy.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let mut config = config();
    config.limits.max_body_bytes = 1024;
    let proxy = TestProxy::start(config).await;
    let big = format!(
        r#"{{"WindowId":"{WINDOW}","WindowTaskId":"{TASK_1}","Pad":"{}"}}"#,
        "x".repeat(2000)
    );
    let message = proxy
        .ssm("/", DEREGISTER, &big)
        .await
        .aws_error(413, "RequestEntityTooLargeException");
    assert_eq!(
        message,
        "request body is larger than the limit of 1024 bytes (limits.max_body_bytes)"
    );
    proxy.stop().await;
}
