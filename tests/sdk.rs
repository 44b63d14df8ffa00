//! `aws-sdk-ssm`, unmodified, against the proxy started through the library: the
//! maintenance-window flow from cassettes that other clients' requests shaped, typed errors
//! included, and a Parameter Store flow recorded against the fake upstream and replayed with
//! its secrets. Needs the `aws-sdk` feature (`cargo test --all-features`, as `scripts/test`
//! runs).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_ssm::Client;
use aws_sdk_ssm::config::retry::RetryConfig;
use aws_sdk_ssm::error::ProvideErrorMetadata;
use aws_sdk_ssm::operation::deregister_task_from_maintenance_window::DeregisterTaskFromMaintenanceWindowError;
use aws_sdk_ssm::types::{MaintenanceWindowTaskType, ParameterType, Target};
use common::fake_ssm::{FakeSsm, PROXY_KEY_ID, PROXY_SECRET};
use ssm_vcr::{Cassette, Mode, Proxy};

fn manifest_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Creates the weekly window both recordings start with; its id.
async fn create_window(ssm: &Client, name: &str) -> String {
    ssm.create_maintenance_window()
        .name(name)
        .schedule("cron(0 2 ? * SUN *)")
        .duration(2)
        .cutoff(1)
        .allow_unassociated_targets(false)
        .send()
        .await
        .unwrap()
        .window_id
        .unwrap()
}

/// Registers the patch-baseline task, then the shell-script one, on `target`, with a
/// concurrency and error limit of `limit` when given; their ids.
async fn register_tasks(
    ssm: &Client,
    window: &str,
    target: (&str, &str),
    limit: Option<&str>,
) -> Vec<String> {
    let mut tasks = Vec::new();
    for arn in ["AWS-RunPatchBaseline", "AWS-RunShellScript"] {
        let registered = ssm
            .register_task_with_maintenance_window()
            .window_id(window)
            .targets(Target::builder().key(target.0).values(target.1).build())
            .task_arn(arn)
            .task_type(MaintenanceWindowTaskType::RunCommand)
            .set_max_concurrency(limit.map(str::to_owned))
            .set_max_errors(limit.map(str::to_owned))
            .send()
            .await
            .unwrap();
        tasks.push(registered.window_task_id.unwrap());
    }
    tasks
}

/// The shipped flow, whose requests are botocore's (aws-cli and boto3 replay it in the e2e
/// suite): create a window, register two tasks, describe, deregister the first twice,
/// describe again.
#[tokio::test]
async fn the_shipped_flow_replays_through_the_rust_sdk_with_typed_errors() {
    let proxy = Proxy::builder()
        .cassette_file(manifest_path("cassettes/maintenance-window-flow.json"))
        .start()
        .await
        .unwrap();
    let ssm = Client::from_conf(proxy.sdk_config());

    let window = create_window(&ssm, "nightly-patching").await;
    assert_eq!(window, "mw-0c50858d01e8a7b6f");
    let target = ("InstanceIds", "i-0123456789abcdef0");
    let tasks = register_tasks(&ssm, &window, target, Some("1")).await;
    let described = ssm
        .describe_maintenance_window_tasks()
        .window_id(&window)
        .send()
        .await
        .unwrap();
    assert_eq!(described.tasks().len(), 2);

    let deregister = || {
        ssm.deregister_task_from_maintenance_window()
            .window_id(&window)
            .window_task_id(&tasks[0])
            .send()
    };
    let deregistered = deregister().await.unwrap();
    assert_eq!(deregistered.window_task_id(), Some(tasks[0].as_str()));
    let again = deregister().await.unwrap_err().into_service_error();
    assert!(
        matches!(
            again,
            DeregisterTaskFromMaintenanceWindowError::DoesNotExistException(_)
        ),
        "{again:?}"
    );
    assert_eq!(
        again.message(),
        Some(
            "Maintenance window task 50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c does not exist in \
             maintenance window mw-0c50858d01e8a7b6f."
        )
    );
    let left = ssm
        .describe_maintenance_window_tasks()
        .window_id(&window)
        .send()
        .await
        .unwrap();
    assert_eq!(left.tasks().len(), 1);

    proxy.assert_all_used();
    proxy.stop().await.unwrap();
}

/// Validation answers before any cassette is read, in AWS's wording; the SDK surfaces it as a
/// service error with its code.
#[tokio::test]
async fn a_validation_error_reaches_the_sdk_as_a_service_error() {
    let empty = Cassette::from_json(br#"{"version": 1, "interactions": []}"#).unwrap();
    let proxy = Proxy::builder().cassette(empty).start().await.unwrap();
    let ssm = Client::from_conf(proxy.sdk_config());

    let error = ssm
        .deregister_task_from_maintenance_window()
        .window_id("mw-nope")
        .window_task_id("50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c")
        .send()
        .await
        .unwrap_err()
        .into_service_error();

    assert_eq!(error.code(), Some("ValidationException"), "{error:?}");
    assert_eq!(
        error.message(),
        Some(
            "2 validation errors detected: Value 'mw-nope' at 'windowId' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: ^mw-[0-9a-f]{17}$; \
             Value 'mw-nope' at 'windowId' failed to satisfy constraint: Member must have \
             length greater than or equal to 20"
        )
    );
    let report = proxy.stop().await.unwrap();
    assert_eq!(report.calls.get("invalid"), Some(&1));
}

/// A real recording made by aws-cli (through the proxy, against moto): moto answered the
/// second deregistration with a 500 and aws-cli, allowed two attempts, tried it twice. An SDK
/// given the same two attempts takes both recorded answers, and the flow ends as recorded.
#[tokio::test]
async fn a_recording_by_a_retrying_client_replays_with_the_same_attempts() {
    let proxy = Proxy::builder()
        .cassette_file(manifest_path(
            "tests/fixtures/cassettes/aws-cli-maintenance-window-flow.json",
        ))
        .start()
        .await
        .unwrap();
    let retry = RetryConfig::standard()
        .with_max_attempts(2)
        .with_initial_backoff(Duration::from_millis(1));
    let ssm = Client::from_conf(proxy.sdk_config().to_builder().retry_config(retry).build());

    let window = create_window(&ssm, "nightly").await;
    let tasks = register_tasks(&ssm, &window, ("WindowTargetIds", "none"), None).await;
    ssm.describe_maintenance_window_tasks()
        .window_id(&window)
        .send()
        .await
        .unwrap();
    let deregister = || {
        ssm.deregister_task_from_maintenance_window()
            .window_id(&window)
            .window_task_id(&tasks[0])
            .send()
    };
    deregister().await.unwrap();
    let failed = deregister().await.unwrap_err();
    let raw = failed
        .raw_response()
        .map(|response| response.status().as_u16());
    assert_eq!(raw, Some(500), "{failed:?}");
    ssm.delete_maintenance_window()
        .window_id(&window)
        .send()
        .await
        .unwrap();

    proxy.assert_all_used();
    proxy.stop().await.unwrap();
}

/// The forward-proxy mode with the Rust SDK: no endpoint override, only a proxy and the local
/// CA in the SDK's HTTP client, as `docs/forward-proxy.md` shows. (With a trust store of its
/// own, aws-smithy-http-client 1.1 sends each call to the proxy as `POST https://ssm…/`
/// rather than through a tunnel; the proxy intercepts either.)
#[tokio::test]
async fn the_rust_sdk_replays_through_its_proxy_configuration() {
    use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    let ca = ssm_vcr::LocalCa::open_or_create(&ca_dir).unwrap();
    let proxy = Proxy::builder()
        .cassette_file(manifest_path("cassettes/maintenance-window-flow.json"))
        .ca_dir(&ca_dir)
        .start()
        .await
        .unwrap();
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(std::fs::read(ca.cert_path()).unwrap());
    let tls_context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap();
    let proxy_config = ProxyConfig::https(proxy.endpoint_url()).unwrap();
    // aws-smithy-http-client 1.x takes a proxy on its connector only, not on its client builder.
    let http_client =
        aws_smithy_http_client::Builder::new().build_with_connector_fn(move |settings, _| {
            let mut connector = aws_smithy_http_client::Connector::builder()
                .proxy_config(proxy_config.clone())
                .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                .tls_context(tls_context.clone());
            if let Some(settings) = settings {
                connector = connector.connector_settings(settings.clone());
            }
            connector.build()
        });
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDEXAMPLE",
            "not-a-secret",
            None,
            None,
            "test",
        ))
        .retry_config(RetryConfig::disabled())
        .http_client(http_client)
        .build();
    let ssm = Client::from_conf(config);

    let deregister = || {
        ssm.deregister_task_from_maintenance_window()
            .window_id("mw-0c50858d01e8a7b6f")
            .window_task_id("50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c")
            .send()
    };
    deregister().await.unwrap();
    let again = deregister().await.unwrap_err().into_service_error();
    assert!(again.is_does_not_exist_exception(), "{again:?}");
    let report = proxy.stop().await.unwrap();
    assert_eq!(report.cassettes[0].replayed, 2);
}

/// What an idempotent configuration tool does with two secrets: put each, read each back
/// decrypted and put it again only if it differs, list them by path, delete them. What it saw.
async fn converge_secrets(ssm: &Client, wanted: &[(&str, &str)]) -> Vec<String> {
    let mut seen = Vec::new();
    let put = |name: &str, value: &str| {
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::SecureString)
            .overwrite(true)
            .send()
    };
    for (name, value) in wanted {
        put(name, value).await.unwrap();
    }
    for (name, value) in wanted {
        let read = ssm
            .get_parameter()
            .name(*name)
            .with_decryption(true)
            .send()
            .await
            .unwrap();
        let stored = read.parameter.and_then(|p| p.value).unwrap_or_default();
        if stored == *value {
            seen.push(format!("{name}: unchanged"));
        } else {
            put(name, value).await.unwrap();
            seen.push(format!("{name}: put again"));
        }
    }
    let listed = ssm
        .get_parameters_by_path()
        .path("/app/")
        .recursive(true)
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    for parameter in listed.parameters() {
        let value = parameter.value().unwrap_or_default();
        let matches = wanted
            .iter()
            .any(|(n, v)| Some(*n) == parameter.name() && *v == value);
        seen.push(format!(
            "listed {}: {}",
            parameter.name().unwrap_or_default(),
            matches
        ));
    }
    for (name, _) in wanted {
        ssm.delete_parameter().name(*name).send().await.unwrap();
    }
    seen
}

#[tokio::test]
async fn a_parameter_store_flow_recorded_by_the_rust_sdk_replays_with_its_own_secrets() {
    let wanted = [
        ("/app/db/password", "correct \"horse\" \\ battery"),
        ("/app/api/token", "tok-19c2-7f3a"),
    ];
    let fake = FakeSsm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let credentials =
        aws_credential_types::Credentials::new(PROXY_KEY_ID, PROXY_SECRET, None, None, "test");
    let recording = Proxy::builder()
        .mode(Mode::Record)
        .cassettes(dir.path(), "parameters")
        .upstream(&fake.url)
        .credentials(credentials)
        .start()
        .await
        .unwrap();
    let recorded = converge_secrets(&Client::from_conf(recording.sdk_config()), &wanted).await;
    recording.stop().await.unwrap();
    assert_eq!(
        recorded,
        [
            "/app/db/password: unchanged",
            "/app/api/token: unchanged",
            "listed /app/api/token: true",
            "listed /app/db/password: true",
        ]
    );
    let file = dir.path().join("parameters.json");
    let text = std::fs::read_to_string(&file).unwrap();
    for (_, secret) in wanted {
        let escaped = serde_json::to_string(secret).unwrap();
        assert!(
            !text.contains(secret) && !text.contains(&escaped[1..escaped.len() - 1]),
            "{text}"
        );
    }

    let replaying = Proxy::builder().cassette_file(&file).start().await.unwrap();
    let replayed = converge_secrets(&Client::from_conf(replaying.sdk_config()), &wanted).await;
    assert_eq!(
        replayed, recorded,
        "no value read back differs, so nothing is put again"
    );
    replaying.assert_all_used();
    let report = replaying.stop().await.unwrap();
    assert_eq!(report.misses(), 0);
    assert!(!format!("{report:?}{report}").contains("horse"));
}
