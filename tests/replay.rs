//! Replay: recorded bytes in recorded order, misses that explain themselves, cassettes chosen
//! by path, and no outbound connection ever.

mod common;

use std::io::ErrorKind;
use std::net::TcpListener as StdListener;

use common::{
    DEREGISTER, TASK_1, TASK_2, TestProxy, WINDOW, authorization, config, deregister_body,
    response_bytes, shipped_cassettes,
};
use serde_json::Value;

/// The shipped cassette as plain JSON, read without the crate's own code.
fn shipped_interactions() -> Vec<Value> {
    let cassette: Value = serde_json::from_str(&shipped_text()).unwrap();
    cassette["interactions"].as_array().unwrap().clone()
}

fn shipped_text() -> String {
    std::fs::read_to_string(shipped_cassettes().join("maintenance-window-flow.json")).unwrap()
}

#[tokio::test]
async fn the_shipped_flow_replays_recorded_bytes_in_recorded_order() {
    let proxy = TestProxy::start(config()).await;
    let answers = response_bytes(&shipped_text());
    // Recorded answers are stored readable, one member per line.
    assert!(shipped_text().contains("\"json\": {\n"));
    for (index, interaction) in shipped_interactions().iter().enumerate() {
        let operation = interaction["operation"].as_str().unwrap();
        let mut body = interaction["request"]["body"].clone();
        // Clients send a fresh idempotency token on every run; it must not matter.
        if operation == "CreateMaintenanceWindow" {
            body["ClientToken"] = Value::from(format!("token-{index}"));
        }
        let reply = proxy.ssm("/", operation, &body.to_string()).await;
        let recorded = &interaction["response"];
        assert_eq!(
            reply.status.as_u16(),
            recorded["status"],
            "interaction {index}"
        );
        assert_eq!(
            String::from_utf8_lossy(&reply.body),
            String::from_utf8_lossy(&answers[index]),
            "interaction {index}"
        );
        for (name, value) in recorded["headers"].as_object().unwrap() {
            assert_eq!(
                reply.headers[name.as_str()],
                value.as_str().unwrap(),
                "header {name} of interaction {index}"
            );
        }
    }
    proxy.stop().await;
}

#[tokio::test]
async fn deregistering_twice_answers_200_then_does_not_exist() {
    let proxy = TestProxy::start(config()).await;
    let body = deregister_body(WINDOW, TASK_1);
    let first = proxy.ssm("/", DEREGISTER, &body).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.json(),
        serde_json::json!({"WindowId": WINDOW, "WindowTaskId": TASK_1})
    );
    let second = proxy.ssm("/", DEREGISTER, &body).await;
    assert_eq!(second.status, 400);
    assert_eq!(second.json()["__type"], "DoesNotExistException");
    assert_eq!(second.headers["x-amzn-errortype"], "DoesNotExistException");

    let third = proxy.ssm("/", DEREGISTER, &body).await;
    let dir = shipped_cassettes();
    assert_eq!(
        third.aws_error(400, "ReplayMissException"),
        format!(
            "no recorded answer left in cassette 'maintenance-window-flow' ({}) for \
             DeregisterTaskFromMaintenanceWindow in us-east-1: all 2 answer(s) recorded for this exact \
             request were already replayed (POST /__ssm-vcr/cassettes/maintenance-window-flow/reset, \
             or a restart, replays the cassette from the start; cassettes.repeat_last = true repeats \
             the last answer)",
            dir.join("maintenance-window-flow.json").display()
        )
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_miss_names_the_cassette_and_diffs_the_closest_request() {
    let proxy = TestProxy::start(config()).await;
    let other_task = "8c9e5a61-1f0d-4b7e-9a3c-2d4f6b8e0a18";
    let reply = proxy
        .ssm("/", DEREGISTER, &deregister_body(WINDOW, other_task))
        .await;
    assert_eq!(
        reply.aws_error(400, "ReplayMissException"),
        format!(
            "no recorded answer left in cassette 'maintenance-window-flow' ({}) for \
             DeregisterTaskFromMaintenanceWindow in us-east-1. Closest recorded request: interaction 4 \
             (DeregisterTaskFromMaintenanceWindow in us-east-1), which differs at:\n  \
             $.WindowTaskId: sent \"{other_task}\", recorded \"{TASK_1}\"",
            shipped_cassettes()
                .join("maintenance-window-flow.json")
                .display()
        )
    );
    proxy.stop().await;
}

#[tokio::test]
async fn the_region_comes_from_the_credential_scope() {
    let proxy = TestProxy::start(config()).await;
    let target = format!("AmazonSSM.{DEREGISTER}");
    let reply = proxy
        .send(
            "/",
            &[
                ("x-amz-target", &target),
                ("content-type", "application/x-amz-json-1.1"),
                ("authorization", &authorization("eu-west-1")),
            ],
            deregister_body(WINDOW, TASK_1).into_bytes(),
        )
        .await;
    let message = reply.aws_error(400, "ReplayMissException");
    assert!(
        message.contains("for DeregisterTaskFromMaintenanceWindow in eu-west-1."),
        "{message}"
    );
    assert!(
        message.ends_with("which differs at:\n  region: sent eu-west-1, recorded us-east-1"),
        "{message}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn repeat_last_replays_the_last_answer_again() {
    let mut config = config();
    config.cassettes.repeat_last = true;
    let proxy = TestProxy::start(config).await;
    let body = deregister_body(WINDOW, TASK_1);
    let statuses = [
        proxy.ssm("/", DEREGISTER, &body).await.status,
        proxy.ssm("/", DEREGISTER, &body).await.status,
        proxy.ssm("/", DEREGISTER, &body).await.status,
    ];
    assert_eq!(statuses.map(|s| s.as_u16()), [200, 400, 400]);
    proxy.stop().await;
}

#[tokio::test]
async fn the_path_prefix_selects_a_cassette_with_its_own_queues() {
    let dir = tempfile::tempdir().unwrap();
    let shipped =
        std::fs::read_to_string(shipped_cassettes().join("maintenance-window-flow.json")).unwrap();
    std::fs::write(dir.path().join("maintenance-window-flow.json"), &shipped).unwrap();
    std::fs::write(dir.path().join("second-run.json"), &shipped).unwrap();
    let mut config = config();
    config.cassettes.dir = dir.path().to_owned();
    let proxy = TestProxy::start(config).await;
    let body = deregister_body(WINDOW, TASK_1);

    assert_eq!(proxy.ssm("/", DEREGISTER, &body).await.status, 200);
    // A separate cassette has its own queue: its first deregistration is answered 200 too.
    assert_eq!(
        proxy
            .ssm("/cassette/second-run/", DEREGISTER, &body)
            .await
            .status,
        200
    );
    assert_eq!(
        proxy
            .ssm("/cassette/second-run", DEREGISTER, &body)
            .await
            .status,
        400
    );
    assert_eq!(proxy.ssm("/", DEREGISTER, &body).await.status, 400);

    let missing = proxy.ssm("/cassette/nope/", DEREGISTER, &body).await;
    assert_eq!(
        missing.aws_error(400, "CassetteUnavailableException"),
        format!(
            "cassette 'nope' is unavailable: no cassette file at {}; the cassettes in its \
             folder are maintenance-window-flow, second-run",
            dir.path().join("nope.json").display()
        )
    );
    proxy.stop().await;
}

#[tokio::test]
async fn cassette_names_cannot_leave_the_folder() {
    let proxy = TestProxy::start(config()).await;
    let body = deregister_body(WINDOW, TASK_2);
    for (path, shown) in [
        ("/cassette/../", ".."),
        ("/cassette/%2e%2e/", "%2e%2e"),
        ("/cassette/..%2fconfig/", "..%2fconfig"),
        ("/cassette/a/b/", "a/b"),
        ("/cassette/.hidden/", ".hidden"),
    ] {
        let message = proxy
            .ssm(path, DEREGISTER, &body)
            .await
            .aws_error(400, "InvalidCassetteNameException");
        assert_eq!(
            message,
            format!(
                "cassette name '{shown}' is not allowed: use letters, digits, '.', '_' and '-' only, not starting with '.'"
            ),
            "path {path}"
        );
    }
    let message = proxy
        .ssm("/other/", DEREGISTER, &body)
        .await
        .aws_error(404, "UnknownOperationException");
    assert_eq!(
        message,
        "no route for path '/other/': send calls to / or to /cassette/<name>/"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn replay_mode_never_connects_to_the_upstream() {
    let upstream = StdListener::bind("127.0.0.1:0").unwrap();
    upstream.set_nonblocking(true).unwrap();
    let mut config = config();
    config.upstream = Some(format!("http://{}", upstream.local_addr().unwrap()));
    let proxy = TestProxy::start(config).await;

    // A hit, a repeat, a miss, an unmodeled operation and an invalid call.
    let body = deregister_body(WINDOW, TASK_1);
    assert_eq!(proxy.ssm("/", DEREGISTER, &body).await.status, 200);
    assert_eq!(proxy.ssm("/", DEREGISTER, &body).await.status, 400);
    proxy
        .ssm("/", DEREGISTER, &deregister_body(WINDOW, TASK_2))
        .await
        .aws_error(400, "ReplayMissException");
    proxy
        .ssm("/", "ListDocuments", "{}")
        .await
        .aws_error(400, "ReplayMissException");
    proxy
        .ssm("/", DEREGISTER, "{}")
        .await
        .aws_error(400, "ValidationException");
    proxy.stop().await;

    // Every request above was answered, so any connection attempt would already sit in the
    // listener's backlog.
    match upstream.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("the upstream received a connection from {peer}"),
        Err(e) => panic!("accept failed: {e}"),
    }
}

#[tokio::test]
async fn with_no_default_cassette_each_call_selects_its_own_and_root_calls_are_told_how() {
    let dir = tempfile::tempdir().unwrap();
    let shipped =
        std::fs::read_to_string(shipped_cassettes().join("maintenance-window-flow.json")).unwrap();
    std::fs::write(dir.path().join("nightly.json"), &shipped).unwrap();
    let mut config = config();
    config.cassettes.dir = dir.path().to_owned();
    config.cassettes.default = "none".to_owned();
    let proxy = TestProxy::start(config).await;
    let body = deregister_body(WINDOW, TASK_1);

    let selected = proxy.ssm("/cassette/nightly/", DEREGISTER, &body).await;
    assert_eq!(selected.status, 200);
    let root = proxy.ssm("/", DEREGISTER, &body).await;
    assert_eq!(
        root.aws_error(400, "CassetteUnavailableException"),
        "cassette '(none)' is unavailable: this proxy has no default cassette \
         (cassettes.default = \"none\"): every call selects its own, with the endpoint \
         http://<proxy>/cassette/<name>, to which clients post /cassette/<name>/"
    );
    let report = proxy.stop().await;
    let names: Vec<&str> = report.cassettes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["nightly"]);
}
