//! The forward-proxy mode as `HTTPS_PROXY` clients meet it: a `CONNECT` to an SSM host is
//! intercepted with a certificate from the local CA and answered through the same pipeline;
//! every other host is refused in replay mode, and nothing leaves the machine.

mod common;

use std::net::TcpListener as StdListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use common::{DEREGISTER, TASK_1, TestProxy, WINDOW, authorization, config, deregister_body};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, pki_types::ServerName};

const HOST: &str = "ssm.us-east-1.amazonaws.com";

/// Sends `CONNECT target` and reads the answer's head; the stream and the status line.
async fn connect(proxy: &TestProxy, target: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    let request = format!("CONNECT {target} HTTP/1.1\r\nhost: {target}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status = head.lines().next().unwrap().to_owned();
    (stream, status)
}

/// A TLS client that trusts only the CA in `ca_dir`, offering `alpn`.
fn tls_client(ca_dir: &Path, alpn: &[u8]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca_dir.join("ca.pem")).unwrap();
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    roots
        .add(CertificateDer::from_pem_slice(&pem).unwrap())
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// A Deregister call as botocore sends it through a proxy: to `/`, with the SSM host.
fn deregister() -> Request<Full<Bytes>> {
    Request::post("/")
        .header("host", HOST)
        .header("x-amz-target", format!("AmazonSSM.{DEREGISTER}"))
        .header("content-type", "application/x-amz-json-1.1")
        .header("authorization", authorization("us-east-1"))
        .body(Full::new(Bytes::from(deregister_body(WINDOW, TASK_1))))
        .unwrap()
}

#[tokio::test]
async fn a_connect_to_an_ssm_host_is_intercepted_and_replayed_over_http1_and_http2() {
    let ca = tempfile::tempdir().unwrap();
    let ca_dir = ca.path().join("ca");
    let mut config = config();
    config.forward_proxy.ca_dir = Some(ca_dir.clone());
    let proxy = TestProxy::start(config).await;

    // HTTP/1.1 inside the tunnel: the first deregistration, as recorded.
    let (stream, status) = connect(&proxy, &format!("{HOST}:443")).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let name = ServerName::try_from(HOST).unwrap();
    let tls = tls_client(&ca_dir, b"http/1.1")
        .connect(name.clone(), stream)
        .await
        .expect("the host's certificate verifies against the local CA");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    let first = sender.send_request(deregister()).await.unwrap();
    assert_eq!(first.status(), 200);
    let body = first.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains(TASK_1));

    // HTTP/2 inside another tunnel: the second one, DoesNotExistException as recorded.
    let (stream, status) = connect(&proxy, &format!("{HOST}:443")).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let tls = tls_client(&ca_dir, b"h2")
        .connect(name, stream)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);
    let second = sender.send_request(deregister()).await.unwrap();
    assert_eq!(second.status(), 400);
    assert_eq!(
        second.headers()["x-amzn-errortype"],
        "DoesNotExistException"
    );

    let report = proxy.stop().await;
    assert_eq!(report.cassettes[0].replayed, 2);
    // The CA was made on first use, its key for its owner alone.
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&ca_dir), 0o700);
    assert_eq!(mode(&ca_dir.join("ca-key.pem")), 0o600);
}

#[tokio::test]
async fn replay_mode_refuses_every_other_host_and_connects_to_none() {
    let ca = tempfile::tempdir().unwrap();
    let mut config = config();
    config.forward_proxy.ca_dir = Some(ca.path().join("ca"));
    let proxy = TestProxy::start(config).await;
    let elsewhere = StdListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let elsewhere_addr = elsewhere.local_addr().unwrap().to_string();

    for target in [
        "sts.us-east-1.amazonaws.com:443",
        "ssm.us-east-1.amazonaws.com:80",
        elsewhere_addr.as_str(),
    ] {
        let (mut stream, status) = connect(&proxy, target).await;
        assert_eq!(status, "HTTP/1.1 403 Forbidden", "{target}");
        let mut rest = String::new();
        stream.read_to_string(&mut rest).await.unwrap_or_default();
        assert!(
            rest.contains("in replay mode nothing leaves this machine"),
            "{target}: {rest}"
        );
    }
    // A proxy library that sends the SSM call itself, not a tunnel, is intercepted the same way.
    let absolute = proxy
        .ssm(
            &format!("https://{HOST}/"),
            DEREGISTER,
            &deregister_body(WINDOW, TASK_1),
        )
        .await;
    assert_eq!(absolute.status, 200, "{:?}", absolute.body);
    let plain = proxy
        .request("GET", "http://169.254.169.254/latest/meta-data/")
        .await;
    assert!(
        plain
            .aws_error(403, "AccessDeniedException")
            .starts_with("ssm-vcr refused a proxy request for http://169.254.169.254/latest/")
    );

    // Every answer above came back before this check: a connection attempt would be queued.
    assert_eq!(
        elsewhere.accept().map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::WouldBlock),
        "the proxy connected to another host"
    );
    // No SSM host was asked for, so no CA was made.
    assert!(!ca.path().join("ca").exists());
    proxy.stop().await;
}

/// Signs a call as its client would, with the client's own credentials, for `HOST`.
async fn client_signed(operation: &str, body: &str, secret: &str) -> Request<Full<Bytes>> {
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    let credentials = Credentials::new("AKIDCLIENTEXAMPLE", secret, None, None, "client");
    let signer =
        ssm_vcr::harness::Signer::with_provider(SharedCredentialsProvider::new(credentials))
            .await
            .unwrap();
    let mut request = Request::post(format!("https://{HOST}/"))
        .header("host", HOST)
        .header("x-amz-target", format!("AmazonSSM.{operation}"))
        .header("content-type", "application/x-amz-json-1.1")
        .body(Bytes::from(body.to_owned()))
        .unwrap();
    signer.sign(&mut request, "us-east-1").await.unwrap();
    let (mut parts, body) = request.into_parts();
    parts.uri = "/".parse().unwrap();
    Request::from_parts(parts, Full::new(body))
}

#[tokio::test]
async fn recording_through_the_forward_proxy_relays_the_clients_own_signature_and_needs_no_credentials()
 {
    use common::create_window_body;
    use common::fake_ssm::{FakeSsm, PROXY_SECRET, test_tls};

    let (acceptor, upstream_ca) = test_tls();
    let fake = FakeSsm::start_tls(acceptor).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("upstream-ca.pem"), upstream_ca).unwrap();
    let ca_dir = dir.path().join("ca");
    let log = dir.path().join("audit.jsonl");
    let mut config = common::config_with_audit(&log);
    config.mode = ssm_vcr::Mode::Record;
    config.upstream = Some(fake.url.clone());
    config.forward.ca_file = Some(dir.path().join("upstream-ca.pem"));
    config.cassettes.dir = dir.path().to_owned();
    config.cassettes.default = "flow".to_owned();
    config.audit.operations = vec!["CreateMaintenanceWindow".to_owned()];
    config.forward_proxy.ca_dir = Some(ca_dir.clone());
    config.forward_proxy.only = true;
    // No credentials given, and none looked for: the builder would fail without them otherwise.
    let proxy = TestProxy::start(config).await;

    let (stream, status) = connect(&proxy, &format!("{HOST}:443")).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let name = ServerName::try_from(HOST).unwrap();
    let tls = tls_client(&ca_dir, b"http/1.1")
        .connect(name, stream)
        .await
        .unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    // The fake knows one secret; here it stands for the client's own.
    let signed = client_signed(
        "CreateMaintenanceWindow",
        &create_window_body("nightly"),
        PROXY_SECRET,
    )
    .await;
    let sent_authorization = signed.headers()["authorization"].clone();
    let created = sender.send_request(signed).await.unwrap();
    assert_eq!(created.status(), 200);
    let forged = client_signed(
        "CreateMaintenanceWindow",
        &create_window_body("forged"),
        "not-the-clients-secret",
    )
    .await;
    let refused = sender.send_request(forged).await.unwrap();
    assert_eq!(
        refused.status(),
        403,
        "AWS, not the proxy, judges signatures"
    );

    // Sent to the endpoint instead, a call is refused: the proxy has nothing to sign it with.
    let endpoint = proxy
        .ssm(
            "/",
            "CreateMaintenanceWindow",
            &create_window_body("endpoint"),
        )
        .await;
    assert!(
        endpoint
            .aws_error(403, "AccessDeniedException")
            .contains("forward_proxy.only")
    );
    proxy.stop().await;

    let received = fake.received();
    assert_eq!(received.len(), 2, "the endpoint call never left");
    assert_eq!(received[0].headers["authorization"], sent_authorization);
    assert_eq!(received[0].headers["host"], HOST);
    assert_eq!(received[0].signature, Ok(()));
    let outcomes: Vec<(String, String, u64)> = common::audit_records(&log)
        .iter()
        .filter(|r| r["event"] == "outcome")
        .map(|r| {
            (
                r["identity"].as_str().unwrap().to_owned(),
                r["access_key_id"].as_str().unwrap().to_owned(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (
                "authenticated".to_owned(),
                "AKIDCLIENTEXAMPLE".to_owned(),
                200
            ),
            ("claimed".to_owned(), "AKIDCLIENTEXAMPLE".to_owned(), 403),
            ("claimed".to_owned(), "AKIDEXAMPLE".to_owned(), 403),
        ]
    );
    let cassette = std::fs::read_to_string(dir.path().join("flow.json")).unwrap();
    assert!(!cassette.contains("AKIDCLIENTEXAMPLE") && !cassette.contains(PROXY_SECRET));
}

#[tokio::test]
async fn forwarding_modes_tunnel_allowed_hosts_untouched_and_refuse_the_rest() {
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = echo.accept().await.unwrap();
        let (mut reader, mut writer) = stream.split();
        tokio::io::copy(&mut reader, &mut writer).await.unwrap();
    });
    let closed = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let ca = tempfile::tempdir().unwrap();
    let mut config = config();
    config.mode = ssm_vcr::Mode::Passthrough;
    config.forward_proxy.only = true;
    config.forward_proxy.ca_dir = Some(ca.path().join("ca"));
    config.forward_proxy.tunnel_hosts = vec![echo_addr.to_string(), closed.to_string()];
    let proxy = TestProxy::start(config).await;

    let (mut tunnel, status) = connect(&proxy, &echo_addr.to_string()).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    tunnel.write_all(b"not HTTP, not TLS: bytes").await.unwrap();
    let mut echoed = [0u8; 24];
    tunnel.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"not HTTP, not TLS: bytes");

    let (_, status) = connect(&proxy, &format!("localhost:{}", echo_addr.port())).await;
    assert_eq!(status, "HTTP/1.1 403 Forbidden");
    let (mut refused, status) = connect(&proxy, &closed.to_string()).await;
    assert_eq!(status, "HTTP/1.1 502 Bad Gateway");
    let mut why = String::new();
    refused.read_to_string(&mut why).await.unwrap();
    assert!(
        why.contains(&format!("cannot open a tunnel to {closed}")),
        "{why}"
    );
    proxy.stop().await;
}
