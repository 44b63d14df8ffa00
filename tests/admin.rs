//! The proxy's own endpoints (`/__ssm-vcr/…`) and the library handle's report, as a test suite
//! or an operator uses them: health, Prometheus metrics, the run report, rewinding a cassette.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::{
    DEREGISTER, TASK_1, TestProxy, WINDOW, audit_records, config, config_with_audit,
    deregister_body, metric_sample as sample, shipped_cassettes, shipped_flow,
};
use serde_json::{Value, json};

/// Replays the shipped flow through `path`; the status of each answer.
async fn replay_flow(proxy: &TestProxy, path: &str) -> Vec<u16> {
    let mut statuses = Vec::new();
    for (operation, body) in shipped_flow() {
        statuses.push(proxy.ssm(path, &operation, &body).await.status.as_u16());
    }
    statuses
}

#[tokio::test]
async fn health_answers_ok_with_the_mode() {
    let proxy = TestProxy::start(config()).await;
    let reply = proxy.request("GET", "/__ssm-vcr/health").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/json");
    let health = reply.json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["mode"], "replay");
    proxy.stop().await;
}

#[tokio::test]
async fn metrics_count_a_replayed_flow_by_operation_and_outcome() {
    let proxy = TestProxy::start(config()).await;
    replay_flow(&proxy, "/").await;
    let invalid = proxy
        .ssm("/", DEREGISTER, &deregister_body("mw-nope", TASK_1))
        .await;
    assert_eq!(invalid.status, 400);
    let not_ssm = proxy.request("GET", "/").await;
    assert_eq!(not_ssm.status, 405);

    let reply = proxy.request("GET", "/__ssm-vcr/metrics").await;

    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = String::from_utf8(reply.body.to_vec()).unwrap();
    let calls = |operation: &str, outcome: &str| {
        sample(
            &text,
            &format!("ssm_vcr_calls_total{{operation=\"{operation}\",outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(calls(DEREGISTER, "replayed"), Some(2.0), "{text}");
    assert_eq!(
        calls("DescribeMaintenanceWindowTasks", "replayed"),
        Some(2.0)
    );
    assert_eq!(
        calls("RegisterTaskWithMaintenanceWindow", "replayed"),
        Some(2.0)
    );
    assert_eq!(calls("CreateMaintenanceWindow", "replayed"), Some(1.0));
    assert_eq!(calls(DEREGISTER, "invalid"), Some(1.0));
    assert_eq!(calls("unknown", "rejected"), Some(1.0));
    assert_eq!(
        sample(&text, "ssm_vcr_call_duration_seconds_count"),
        Some(9.0)
    );
    assert_eq!(sample(&text, "ssm_vcr_upstream_errors_total"), Some(0.0));
    // A library user's process has no log queue, so none of its lines can have been dropped.
    assert_eq!(sample(&text, "ssm_vcr_log_lines_dropped_total"), Some(0.0));
    // The connection of this very request is the one open.
    assert_eq!(sample(&text, "ssm_vcr_open_connections"), Some(1.0));
    assert!(text.contains("# TYPE ssm_vcr_audit_write_duration_seconds histogram\n"));
    proxy.stop().await;
}

#[tokio::test]
async fn the_report_endpoint_lists_what_is_unused_so_far_and_reset_rewinds() {
    let proxy = TestProxy::start(config()).await;
    let flow = shipped_flow();
    for (operation, body) in &flow[..4] {
        proxy.ssm("/", operation, body).await;
    }

    let report = proxy.request("GET", "/__ssm-vcr/report").await.json();
    assert_eq!(report["calls"], json!({ "replayed": 4 }));
    let unused: Vec<u64> = (report["cassettes"][0]["unused"].as_array().unwrap().iter())
        .map(|u| u["index"].as_u64().unwrap())
        .collect();
    assert_eq!(unused, [4, 5, 6]);

    let reset = proxy
        .request("POST", "/__ssm-vcr/cassettes/maintenance-window-flow/reset")
        .await;
    assert_eq!(reset.status, 200);
    assert_eq!(
        reset.json(),
        json!({ "cassette": "maintenance-window-flow", "rewound": true })
    );
    // From the start again: the whole flow replays, its second deregistration failing again.
    let statuses = replay_flow(&proxy, "/").await;
    assert_eq!(statuses, [200, 200, 200, 200, 200, 400, 200]);
    let report = proxy.stop().await;
    assert!(report.cassettes[0].unused.is_empty());
    assert_eq!(report.cassettes[0].replayed, 11);
}

#[tokio::test]
async fn per_test_cassettes_each_get_their_own_section() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = shipped_cassettes().join("maintenance-window-flow.json");
    for name in ["maintenance-window-flow", "test-a", "test-b"] {
        std::fs::copy(&shipped, dir.path().join(format!("{name}.json"))).unwrap();
    }
    let mut config = config();
    config.cassettes.dir = dir.path().to_owned();
    let proxy = TestProxy::start(config).await;
    replay_flow(&proxy, "/cassette/test-a/").await;
    let (operation, body) = &shipped_flow()[0];
    proxy.ssm("/cassette/test-b/", operation, body).await;

    let report = proxy.stop().await;

    let sections: Vec<(&str, usize)> = (report.cassettes.iter())
        .map(|c| (c.name.as_str(), c.unused.len()))
        .collect();
    // The default cassette no call reached is not reported.
    assert_eq!(sections, [("test-a", 0), ("test-b", 6)]);
}

#[tokio::test]
async fn own_endpoints_refuse_other_paths_and_methods_in_the_aws_shape() {
    let proxy = TestProxy::start(config()).await;

    let unknown = proxy.request("GET", "/__ssm-vcr/stats").await;
    assert!(
        unknown
            .aws_error(404, "UnknownOperationException")
            .starts_with("no endpoint '/__ssm-vcr/stats'")
    );
    let wrong_method = proxy.request("POST", "/__ssm-vcr/metrics").await;
    assert_eq!(
        wrong_method.aws_error(405, "UnknownOperationException"),
        "/__ssm-vcr/metrics is answered to GET requests; got POST"
    );
    let bad_name = proxy
        .request("POST", "/__ssm-vcr/cassettes/..%2Fetc/reset")
        .await;
    bad_name.aws_error(400, "InvalidCassetteNameException");
    let never_opened = proxy
        .request("POST", "/__ssm-vcr/cassettes/elsewhere/reset")
        .await;
    assert_eq!(never_opened.json()["rewound"], false);
    proxy.stop().await;
}

#[tokio::test]
async fn own_endpoints_are_never_audited() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let proxy = TestProxy::start(config_with_audit(&log)).await;
    for path in [
        "/__ssm-vcr/health",
        "/__ssm-vcr/metrics",
        "/__ssm-vcr/report",
    ] {
        assert_eq!(proxy.request("GET", path).await.status, 200);
    }
    // A deregistration sent to an own endpoint is not a call either.
    proxy
        .ssm(
            "/__ssm-vcr/cassettes/maintenance-window-flow/reset",
            DEREGISTER,
            &deregister_body(WINDOW, TASK_1),
        )
        .await;
    proxy.stop().await;
    let events: Vec<Value> = audit_records(&log)
        .iter()
        .map(|r| r["event"].clone())
        .collect();
    assert_eq!(events, ["start"]);
}

#[tokio::test]
async fn assert_all_used_names_the_unused_recordings() {
    let proxy = TestProxy::start(config()).await;
    let flow = shipped_flow();
    for (operation, body) in &flow[..6] {
        proxy.ssm("/", operation, body).await;
    }

    let failed = catch_unwind(AssertUnwindSafe(|| proxy.proxy().assert_all_used()));

    let message = failed.expect_err("a recording is unused");
    let message = message.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("1 recorded interaction(s) were never used")
            && message.contains("unused: interaction 6 (DescribeMaintenanceWindowTasks)"),
        "{message}"
    );
    let (operation, body) = &flow[6];
    proxy.ssm("/", operation, body).await;
    proxy.proxy().assert_all_used();
    proxy.stop().await;
}

#[test]
fn dropping_a_running_proxy_while_a_test_panics_does_not_panic_again() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            let proxy = TestProxy::start(config()).await;
            replay_flow(&proxy, "/").await;
            panic!("the test under way fails");
        })
    }));
    let message = unwound.expect_err("the test's own panic");
    assert_eq!(
        message.downcast_ref::<&str>(),
        Some(&"the test under way fails")
    );
}
