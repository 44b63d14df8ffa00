//! A fake SSM upstream on 127.0.0.1:0, plain or TLS, that verifies every request's SigV4
//! signature with its own implementation (hmac + sha2 here, not `aws-sigv4`) and answers a
//! small maintenance-window model.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The proxy's own test credentials (never the client's).
pub const PROXY_KEY_ID: &str = "AKIDPROXYEXAMPLE";
pub const PROXY_SECRET: &str = "proxy-secret/K7MDENG+bPxRfiCYEXAMPLE";
pub const PROXY_SESSION_TOKEN: &str = "proxy-session-token-EXAMPLE-0123456789";

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub signature: Result<(), String>,
}

#[derive(Default)]
struct State {
    windows: BTreeMap<String, Vec<String>>,
    /// Parameter Store: name → (value, type).
    parameters: BTreeMap<String, (String, String)>,
    /// What `GetCommandInvocation` answers as `Status`, one per call; the last one stays.
    command_statuses: std::collections::VecDeque<String>,
    next_id: u64,
    received: Vec<Received>,
    /// Operations that answer 500 the next time they are called.
    fail_next: Vec<String>,
}

pub struct FakeSsm {
    pub addr: SocketAddr,
    pub url: String,
    state: Arc<Mutex<State>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeSsm {
    pub async fn start() -> Self {
        Self::serve(None).await
    }

    /// Serves HTTPS with `acceptor`; the URL names `localhost`.
    pub async fn start_tls(acceptor: TlsAcceptor) -> Self {
        Self::serve(Some(acceptor)).await
    }

    async fn serve(tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = match tls {
            Some(_) => format!("https://localhost:{}", addr.port()),
            None => format!("http://{addr}"),
        };
        let state = Arc::new(Mutex::new(State::default()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (task_state, task_connections) = (Arc::clone(&state), Arc::clone(&connections));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                task_connections.fetch_add(1, Ordering::SeqCst);
                let state = Arc::clone(&task_state);
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(answer(&state, request).await) }
                    });
                    let builder = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                        None => {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
            }
        });
        Self {
            addr,
            url,
            state,
            connections,
            task,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The next call of `operation` answers 500 InternalServerError.
    pub fn fail_next(&self, operation: &str) {
        self.state
            .lock()
            .unwrap()
            .fail_next
            .push(operation.to_owned());
    }

    /// Makes `GetCommandInvocation` answer these statuses, one per call, then the last again:
    /// a command as a polling client sees it run.
    pub fn command_runs(&self, statuses: &[&str]) {
        let mut state = self.state.lock().unwrap();
        state.command_statuses = statuses.iter().map(|s| (*s).to_owned()).collect();
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

async fn answer(
    state: &Mutex<State>,
    request: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let signature = verify_sigv4(
        "POST",
        parts.uri.path(),
        &parts.headers,
        &body,
        PROXY_SECRET,
    );
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut state = state.lock().unwrap();
    state.received.push(Received {
        target: target.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
        signature: signature.clone(),
    });
    state.next_id += 1;
    let request_id = format!("00000000-0000-4000-8000-{:012x}", state.next_id);
    if let Err(reason) = signature {
        return reply(
            StatusCode::FORBIDDEN,
            &request_id,
            json!({"__type": "InvalidSignatureException", "message": reason}),
        );
    }
    let operation = target.strip_prefix("AmazonSSM.").unwrap_or("");
    if let Some(i) = state.fail_next.iter().position(|op| op == operation) {
        state.fail_next.remove(i);
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            &request_id,
            json!({"__type": "InternalServerError", "Message": "try again"}),
        );
    }
    let input: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let text = |member: &str| input[member].as_str().unwrap_or("").to_owned();
    let id = state.next_id;
    match operation {
        "CreateMaintenanceWindow" => {
            let window = format!("mw-{id:017x}");
            state.windows.insert(window.clone(), Vec::new());
            reply(StatusCode::OK, &request_id, json!({"WindowId": window}))
        }
        "RegisterTaskWithMaintenanceWindow" => match state.windows.get_mut(&text("WindowId")) {
            Some(tasks) => {
                let task = format!("{id:08x}-0000-4000-8000-{id:012x}");
                tasks.push(task.clone());
                reply(StatusCode::OK, &request_id, json!({"WindowTaskId": task}))
            }
            None => does_not_exist(&request_id, &text("WindowId")),
        },
        "DescribeMaintenanceWindowTasks" => match state.windows.get(&text("WindowId")) {
            Some(tasks) => {
                let tasks: Vec<Value> = tasks
                    .iter()
                    .map(|t| json!({"WindowId": text("WindowId"), "WindowTaskId": t}))
                    .collect();
                reply(StatusCode::OK, &request_id, json!({"Tasks": tasks}))
            }
            None => does_not_exist(&request_id, &text("WindowId")),
        },
        "DeregisterTaskFromMaintenanceWindow" => {
            let (window, task) = (text("WindowId"), text("WindowTaskId"));
            let removed = state.windows.get_mut(&window).and_then(|tasks| {
                let at = tasks.iter().position(|t| *t == task)?;
                Some(tasks.remove(at))
            });
            match removed {
                Some(_) => reply(
                    StatusCode::OK,
                    &request_id,
                    json!({"WindowId": window, "WindowTaskId": task}),
                ),
                None => does_not_exist(&request_id, &task),
            }
        }
        "PutParameter" => {
            let kind = Some(text("Type")).filter(|t| !t.is_empty());
            let kind = kind.unwrap_or_else(|| "String".to_owned());
            state.parameters.insert(text("Name"), (text("Value"), kind));
            reply(
                StatusCode::OK,
                &request_id,
                json!({"Version": 1, "Tier": "Standard"}),
            )
        }
        "GetParameter" => {
            // An unknown name is echoed with a value of its own, as if it existed.
            let name = text("Name");
            let (value, kind) = (state.parameters.get(&name).cloned())
                .unwrap_or(("v".to_owned(), "String".to_owned()));
            reply(
                StatusCode::OK,
                &request_id,
                json!({"Parameter": {"Name": name, "Type": kind, "Value": value}}),
            )
        }
        "GetParametersByPath" => {
            let path = text("Path");
            let found: Vec<Value> = (state.parameters.iter())
                .filter(|(name, _)| name.starts_with(&path))
                .map(|(name, (value, kind))| json!({"Name": name, "Type": kind, "Value": value}))
                .collect();
            reply(StatusCode::OK, &request_id, json!({"Parameters": found}))
        }
        "DescribeParameters" => {
            // Written as AWS writes it, not as serde_json would: members in the service's order
            // and a timestamp as Java prints a double.
            let found: Vec<String> = (state.parameters.iter())
                .map(|(name, (_, kind))| {
                    format!(
                        r#"{{"Name":{},"Type":{},"LastModifiedDate":1.700000000123E9,"Version":1,"Tier":"Standard","DataType":"text"}}"#,
                        json!(name),
                        json!(kind)
                    )
                })
                .collect();
            let body = format!(r#"{{"Parameters":[{}]}}"#, found.join(","));
            raw_reply(StatusCode::OK, &request_id, body)
        }
        "DeleteParameter" => {
            state.parameters.remove(&text("Name"));
            reply(StatusCode::OK, &request_id, json!({}))
        }
        "GetCommandInvocation" => {
            let status = match state.command_statuses.len() {
                0 => "Success".to_owned(),
                1 => state.command_statuses[0].clone(),
                _ => state.command_statuses.pop_front().unwrap_or_default(),
            };
            reply(
                StatusCode::OK,
                &request_id,
                json!({"CommandId": text("CommandId"), "InstanceId": text("InstanceId"), "Status": status}),
            )
        }
        "GetMaintenanceWindow" => reply(
            StatusCode::OK,
            &request_id,
            json!({"WindowId": text("WindowId"), "Name": "n"}),
        ),
        _ => reply(
            StatusCode::BAD_REQUEST,
            &request_id,
            json!({"__type": "UnknownOperationException"}),
        ),
    }
}

fn does_not_exist(request_id: &str, id: &str) -> Response<Full<Bytes>> {
    reply(
        StatusCode::BAD_REQUEST,
        request_id,
        json!({"__type": "DoesNotExistException", "Message": format!("{id} does not exist.")}),
    )
}

fn reply(status: StatusCode, request_id: &str, body: Value) -> Response<Full<Bytes>> {
    raw_reply(status, request_id, body.to_string())
}

fn raw_reply(status: StatusCode, request_id: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        "application/x-amz-json-1.1".parse().unwrap(),
    );
    headers.insert("x-amzn-requestid", request_id.parse().unwrap());
    headers.insert("x-fake-header", "dropped by the recorder".parse().unwrap());
    response
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What this fake demands of a forwarded call: a valid SigV4 signature that covers the headers
/// identifying the call.
pub fn verify_sigv4(
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    secret: &str,
) -> Result<(), String> {
    let signed = signed_headers(headers)?;
    for required in ["content-type", "host", "x-amz-date", "x-amz-target"] {
        if !signed.split(';').any(|h| h == required) {
            return Err(format!("{required} is not signed"));
        }
    }
    check_signature(method, path, headers, body, secret)
}

fn signed_headers(headers: &HeaderMap) -> Result<String, String> {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or("no authorization header")?;
    authorization
        .split(", ")
        .find_map(|f| f.strip_prefix("SignedHeaders="))
        .map(str::to_owned)
        .ok_or_else(|| "no SignedHeaders in Authorization".to_owned())
}

/// SigV4 header-signature verification, written from the specification: canonical request,
/// string to sign, derived key, HMAC.
pub fn check_signature(
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    secret: &str,
) -> Result<(), String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(format!("no {name} header"))
    };
    let authorization = header("authorization")?;
    let fields = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("not AWS4-HMAC-SHA256")?;
    let field = |name: &str| {
        fields
            .split(", ")
            .find_map(|f| f.strip_prefix(name))
            .ok_or(format!("no {name} in Authorization"))
    };
    let scope = field("Credential=")?;
    let signed = field("SignedHeaders=")?;
    let signature = field("Signature=")?;
    let mut parts = scope.splitn(2, '/');
    let _key_id = parts.next().ok_or("no key id")?;
    let scope = parts.next().ok_or("no scope")?;
    let scope_parts: Vec<&str> = scope.split('/').collect();
    let [date, region, service, "aws4_request"] = scope_parts[..] else {
        return Err(format!("malformed scope {scope}"));
    };
    let mut canonical_headers = String::new();
    for name in signed.split(';') {
        let value = header(name)?;
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    let canonical_request = format!(
        "{method}\n{path}\n\n{canonical_headers}\n{signed}\n{}",
        hex(&Sha256::digest(body))
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{date}/{region}/{service}/aws4_request\n{}",
        header("x-amz-date")?,
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let key = hmac(format!("AWS4{secret}").as_bytes(), date);
    let key = hmac(&key, region);
    let key = hmac(&key, service);
    let key = hmac(&key, "aws4_request");
    let expected = hex(&hmac(&key, &string_to_sign));
    if expected == signature {
        Ok(())
    } else {
        Err(
            "The request signature we calculated does not match the signature you provided."
                .to_owned(),
        )
    }
}

/// A test CA and a `localhost` / 127.0.0.1 certificate it signed: the acceptor for the fake,
/// and the CA certificate as PEM.
pub fn test_tls() -> (TlsAcceptor, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    use tokio_rustls::rustls;

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ssm-vcr test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
    .unwrap();
    (TlsAcceptor::from(Arc::new(config)), ca_cert.pem())
}
