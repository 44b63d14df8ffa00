//! The public API as an embedding test suite uses it: start a proxy in-process, point a client
//! at its endpoint, stop it; and a bad setup is an error, never a panic.

mod common;

use common::process::call;
use common::{DEREGISTER, TASK_1, WINDOW, deregister_body, shipped_cassettes};
use ssm_vcr::harness::chain;
use ssm_vcr::{Mode, Proxy, StartError};

fn host_port(url: &str) -> &str {
    url.strip_prefix("http://").expect("an http URL")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_started_in_process_answers_at_its_endpoint_until_stopped() {
    let proxy = start_on_shipped("maintenance-window-flow")
        .await
        .expect("starts on the shipped cassettes");
    let endpoint = proxy.endpoint_url();
    assert_eq!(endpoint, format!("http://{}", proxy.addr()));
    assert!(proxy.addr().ip().is_loopback());
    assert_eq!(
        proxy.cassette_url("flow"),
        format!("{endpoint}/cassette/flow/")
    );

    let address = host_port(&endpoint).to_owned();
    let body = deregister_body(WINDOW, TASK_1);
    let (status, _, answer) = tokio::task::spawn_blocking({
        let address = address.clone();
        move || call(&address, DEREGISTER, &body)
    })
    .await
    .unwrap()
    .expect("an answer");
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains(TASK_1), "{answer}");

    proxy.stop().await.expect("stops cleanly");
    let after = tokio::task::spawn_blocking(move || call(&address, DEREGISTER, "{}"))
        .await
        .unwrap();
    assert_eq!(after, None, "nothing listens once stop has returned");
}

/// A replay proxy on the shipped cassettes, answering `/` from `default`.
async fn start_on_shipped(default: &str) -> Result<Proxy, StartError> {
    Proxy::builder()
        .cassettes(shipped_cassettes(), default)
        .start()
        .await
}

#[tokio::test]
async fn an_invalid_configuration_is_a_start_error() {
    let error = start_on_shipped("../outside")
        .await
        .expect_err("a cassette name may not leave the folder");
    assert!(matches!(error, StartError::Config(_)), "{error:?}");
    assert_eq!(
        chain(&error),
        "invalid configuration: cassettes.default: must be a cassette name: letters, digits, \
         '.', '_' and '-', not starting with '.'; or \"none\" for no default cassette"
    );
}

#[tokio::test]
async fn a_missing_default_cassette_is_a_start_error() {
    let error = start_on_shipped("no-such-cassette")
        .await
        .expect_err("replay needs its default cassette");
    assert!(matches!(error, StartError::Cassette { .. }), "{error:?}");
    // The message names the file, for a library user who prints only the error itself.
    let file = common::shipped_cassettes().join("no-such-cassette.json");
    assert_eq!(
        error.to_string(),
        format!(
            "the default cassette {} is unusable (fix it, pick another with --cassette or the \
             library's cassette_file, or run with --cassette none to serve only /cassette/<name>/)",
            file.display()
        )
    );
}

#[tokio::test]
async fn a_taken_address_is_a_start_error() {
    let first = start_on_shipped("maintenance-window-flow").await.unwrap();
    let mut config = ssm_vcr::Config {
        listen: first.addr(),
        ..ssm_vcr::Config::default()
    };
    config.audit.enabled = false;
    let error = Proxy::builder()
        .config(config)
        .mode(Mode::Replay)
        .cassettes(shipped_cassettes(), "maintenance-window-flow")
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StartError::Listen { address, .. } if *address == first.addr()),
        "{error:?}"
    );
    first.stop().await.unwrap();
}

#[tokio::test]
async fn an_in_memory_cassette_answers_and_reports_unused_recordings() {
    let bytes = std::fs::read(shipped_cassettes().join("maintenance-window-flow.json")).unwrap();
    let cassette = ssm_vcr::Cassette::from_json(&bytes).unwrap();
    let proxy = Proxy::builder()
        .cassette(cassette)
        .start()
        .await
        .expect("starts from memory");
    let address = host_port(&proxy.endpoint_url()).to_owned();
    let body = deregister_body(WINDOW, TASK_1);
    let (status, _, answer) =
        tokio::task::spawn_blocking(move || call(&address, DEREGISTER, &body))
            .await
            .unwrap()
            .expect("an answer");
    assert_eq!(status, 200, "{answer}");

    let report = proxy.stop().await.unwrap();
    let cassette = &report.cassettes[0];
    assert_eq!(cassette.path.to_str(), Some("(in memory)"));
    assert_eq!((cassette.replayed, cassette.unused.len()), (1, 6));
}

#[tokio::test]
async fn an_in_memory_cassette_is_refused_by_a_recording_mode() {
    let started = Proxy::builder()
        .cassette(ssm_vcr::Cassette::from_json(br#"{"version": 1, "interactions": []}"#).unwrap())
        .mode(Mode::Record)
        .start()
        .await;
    let error = started.expect_err("a recording cannot go to memory");
    assert!(
        matches!(error, StartError::InMemoryCassette { mode: "record" }),
        "{error}"
    );
}

#[tokio::test]
async fn a_cassette_file_names_the_folder_and_the_default_cassette() {
    let proxy = Proxy::builder()
        .cassette_file(shipped_cassettes().join("maintenance-window-flow.json"))
        .start()
        .await
        .expect("starts on the shipped file");
    assert_eq!(proxy.reset("maintenance-window-flow"), Ok(true));
    assert_eq!(proxy.reset("another"), Ok(false));
    assert!(proxy.reset("../escape").is_err());
    let report = proxy.stop().await.unwrap();
    assert_eq!(report.cassettes[0].name, "maintenance-window-flow");
    assert_eq!(report.cassettes[0].interactions, 7);
}

#[test]
fn the_readmes_library_example_is_the_example_crates_test_as_it_is() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split_once("<!-- library-example -->\n```rust\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .expect("the README marks its library example");
    let test = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/my-automation/tests/nightly_cleanup.rs"
    ))
    .unwrap();
    assert_eq!(block, test, "the README and examples/my-automation differ");
}
