//! Test harness: the proxy in-process on `127.0.0.1:0`, and a plain HTTP/1.1 client that
//! speaks exactly what botocore sends.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different part of the harness

pub mod fake_ssm;
pub mod process;

use std::net::SocketAddr;
use std::path::PathBuf;

use aws_credential_types::Credentials;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use ssm_vcr::{Config, Proxy};
use tokio::net::TcpStream;

pub const WINDOW: &str = "mw-0c50858d01e8a7b6f";
pub const TASK_1: &str = "50772993-c6b5-4a2a-8d04-7bfd7e1a2b3c";
pub const TASK_2: &str = "8c9e5a61-1f0d-4b7e-9a3c-2d4f6b8e0a17";
pub const DEREGISTER: &str = "DeregisterTaskFromMaintenanceWindow";

/// The value of the sample `name{labels}` in Prometheus text, if exposed.
pub fn metric_sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

/// The bytes each response body of a cassette file stands for, read without the crate's own
/// code: a readable JSON body is its text in the file without the whitespace between tokens.
pub fn response_bytes(cassette: &str) -> Vec<Vec<u8>> {
    #[derive(serde::Deserialize)]
    struct File {
        interactions: Vec<Interaction>,
    }
    #[derive(serde::Deserialize)]
    struct Interaction {
        response: Response,
    }
    #[derive(serde::Deserialize)]
    struct Response {
        body: Body,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Body {
        Json(Box<serde_json::value::RawValue>),
        Utf8(String),
    }
    let file: File = serde_json::from_str(cassette).unwrap();
    (file.interactions.into_iter())
        .map(|interaction| match interaction.response.body {
            Body::Utf8(text) => text.into_bytes(),
            Body::Json(raw) => {
                let (mut in_string, mut escaped) = (false, false);
                let mut compact = Vec::new();
                for byte in raw.get().bytes() {
                    if in_string {
                        (in_string, escaped) = match (escaped, byte) {
                            (true, _) => (true, false),
                            (false, b'\\') => (true, true),
                            (false, b'"') => (false, false),
                            _ => (true, false),
                        };
                    } else if byte == b'"' {
                        in_string = true;
                    } else if byte.is_ascii_whitespace() {
                        continue;
                    }
                    compact.push(byte);
                }
                compact
            }
        })
        .collect()
}

/// The repository's shipped cassette folder.
pub fn shipped_cassettes() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cassettes")
}

/// The built-in configuration on the shipped cassettes, listening on port 0.
pub fn config() -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    config.cassettes.dir = shipped_cassettes();
    config.audit.enabled = false;
    // Never the user's own CA folder.
    config.forward_proxy.ca_dir = Some(test_ca_dir());
    config
}

/// The local CA folder of the test proxies: one per test binary, under cargo's target folder.
pub fn test_ca_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "ca-{}",
        std::env::current_exe()
            .unwrap()
            .file_stem()
            .unwrap()
            .to_string_lossy()
    ))
}

/// [`config`] with the audit log on, writing to `file`.
pub fn config_with_audit(file: &std::path::Path) -> Config {
    let mut config = config();
    config.audit.enabled = true;
    config.audit.file = file.to_owned();
    config
}

/// A proxy started through the crate's public API; [`TestProxy::stop`] shuts it down and
/// re-raises any panic of the server.
pub struct TestProxy {
    pub addr: SocketAddr,
    proxy: Proxy,
}

impl TestProxy {
    pub async fn start(config: Config) -> Self {
        Self::started(Proxy::builder().config(config)).await
    }

    /// A proxy whose forwarding modes sign with `credentials` (never the environment's).
    pub async fn start_with_credentials(config: Config, credentials: Credentials) -> Self {
        Self::started(Proxy::builder().config(config).credentials(credentials)).await
    }

    async fn started(builder: ssm_vcr::ProxyBuilder) -> Self {
        let proxy = builder.start().await.expect("the proxy starts");
        Self {
            addr: proxy.addr(),
            proxy,
        }
    }

    pub async fn stop(self) -> ssm_vcr::Report {
        self.proxy.stop().await.expect("server ended cleanly")
    }

    /// The running proxy's handle.
    pub fn proxy(&self) -> &Proxy {
        &self.proxy
    }

    /// Sends a bodiless request with `method` to `path` on a fresh connection.
    pub async fn request(&self, method: &str, path: &str) -> Reply {
        self.exchange(method, path, &[], Vec::new()).await
    }

    /// Sends a botocore-shaped SSM call signed for `us-east-1` to `path`.
    pub async fn ssm(&self, path: &str, operation: &str, body: &str) -> Reply {
        self.send(
            path,
            &[
                ("x-amz-target", &format!("AmazonSSM.{operation}")),
                ("content-type", "application/x-amz-json-1.1"),
                ("authorization", &authorization("us-east-1")),
            ],
            body.as_bytes().to_vec(),
        )
        .await
    }

    /// Sends any POST on a fresh HTTP/1.1 connection.
    pub async fn send(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
        self.exchange("POST", path, headers, body).await
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let stream = TcpStream::connect(self.addr)
            .await
            .expect("connect to the proxy");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::from(body))).unwrap();
        let response = sender.send_request(request).await.expect("a response");
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.expect("the whole body").to_bytes(),
        }
    }
}

/// A SigV4 `Authorization` header as botocore sends it (the signature is never checked).
pub fn authorization(region: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/{region}/ssm/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123abcd"
    )
}

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// Asserts an AWS-shaped error and returns its message.
    pub fn aws_error(&self, status: u16, error_type: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "status of {:?}", self.body);
        assert_eq!(self.headers["content-type"], "application/x-amz-json-1.1");
        let request_id = self.headers["x-amzn-requestid"].to_str().unwrap();
        assert_eq!(request_id.len(), 36, "request id {request_id}");
        let json = self.json();
        assert_eq!(json["__type"], error_type, "{json}");
        json["message"].as_str().expect("a message").to_owned()
    }
}

/// An audit log's records as plain JSON, read without the crate's own code.
pub fn audit_records(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// A CreateMaintenanceWindow call the model accepts, for the window `name`.
#[allow(dead_code, reason = "not every test binary creates windows")]
pub fn create_window_body(name: &str) -> String {
    serde_json::json!({
        "Name": name, "Schedule": "rate(1 day)", "Duration": 2, "Cutoff": 1,
        "AllowUnassociatedTargets": false
    })
    .to_string()
}

pub fn deregister_body(window: &str, task: &str) -> String {
    serde_json::json!({ "WindowId": window, "WindowTaskId": task }).to_string()
}

/// The shipped cassette's calls, in recorded order: each interaction's operation and request
/// body, which replay its answer.
pub fn shipped_flow() -> Vec<(String, String)> {
    let path = shipped_cassettes().join("maintenance-window-flow.json");
    let cassette: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    (cassette["interactions"].as_array().unwrap().iter())
        .map(|interaction| {
            let operation = interaction["operation"].as_str().unwrap().to_owned();
            (operation, interaction["request"]["body"].to_string())
        })
        .collect()
}
