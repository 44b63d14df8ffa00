//! The way to AWS: hyper-util's pooled client over rustls (certificate verification always on,
//! Mozilla's roots plus an optional extra CA file; HTTP/2 when the upstream offers it, else
//! HTTP/1.1), connect and total timeouts, and SigV4 re-signing of exactly the headers forwarded.
//!
//! A call sent to the proxy's endpoint is re-signed ([`Upstream::forward`]): the client's
//! `Authorization`, `X-Amz-Date`, `X-Amz-Security-Token` and `Host` never leave, only the
//! headers of [`FORWARDED_HEADERS`] are copied, then signed. A call intercepted in the
//! forward-proxy mode is relayed as its client signed it ([`Upstream::relay`]), to the host it
//! asked for. Either way the endpoint is overridden by `upstream` when set. This module does
//! not record or audit (`pipeline/`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::Entry;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::aws::sigv4::{SignError, Signer};
use crate::config::Forwarding;

/// How long an unused upstream connection is kept for the next call.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Client headers copied to the upstream request (then signed). Everything else, credentials
/// and the proxy's own `Host` included, stays behind.
pub(crate) const FORWARDED_HEADERS: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    HeaderName::from_static("x-amz-target"),
    header::USER_AGENT,
    HeaderName::from_static("x-amz-user-agent"),
];

/// Response headers that describe the upstream connection, not the answer.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::CONTENT_LENGTH,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

/// Headers meant for the proxy itself, never relayed.
const PROXY_ONLY: [HeaderName; 3] = [
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
];

/// What the upstream answered, fully read.
#[derive(Debug, Clone)]
pub(crate) struct Forwarded {
    /// Its status.
    pub status: StatusCode,
    /// Its end-to-end headers.
    pub headers: HeaderMap,
    /// Its body bytes.
    pub body: Bytes,
}

/// Why no answer came back from the upstream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum UpstreamError {
    /// No connection could be made (refused, unreachable, DNS, TLS handshake or certificate).
    #[error("cannot connect to {endpoint}: {reason}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// The innermost cause, in words.
        reason: String,
    },
    /// The connection broke or the answer was not HTTP.
    #[error("the exchange with {endpoint} failed: {reason}")]
    Exchange {
        /// The endpoint.
        endpoint: String,
        /// The innermost cause, in words.
        reason: String,
    },
    /// No complete answer within the timeout.
    #[error("{endpoint} did not answer within {} ms", after.as_millis())]
    Timeout {
        /// The endpoint.
        endpoint: String,
        /// The timeout that passed.
        after: Duration,
    },
    /// The answer is larger than `forward.max_response_bytes`.
    #[error("the answer of {endpoint} is larger than {limit} bytes (forward.max_response_bytes)")]
    TooLarge {
        /// The endpoint.
        endpoint: String,
        /// The limit.
        limit: usize,
    },
    /// The request could not be signed.
    #[error("the request could not be re-signed")]
    Sign(#[source] SignError),
    /// A call to the endpoint under `forward_proxy.only`: the proxy holds no credentials.
    #[error("the proxy holds no credentials to re-sign calls sent to its endpoint")]
    NoCredentials,
}

/// Why the upstream client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the extra CA file {}: {reason}", path.display())]
pub struct CaFileError {
    /// The file.
    pub path: std::path::PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// The client to AWS (or the configured upstream).
#[derive(Debug)]
pub(crate) struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    endpoint: Option<Uri>,
    timeout: Duration,
    max_response_bytes: usize,
    /// `None` under `forward_proxy.only`: the proxy holds no credentials and re-signs nothing.
    signer: Option<Signer>,
}

impl Upstream {
    /// A client for `endpoint` (or the regional AWS endpoint when `None`).
    pub(crate) fn new(settings: &Forwarding, signer: Option<Signer>) -> Result<Self, CaFileError> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = &settings.ca_file {
            add_ca_file(&mut roots, path)?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(settings.connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(https);
        Ok(Self {
            client,
            endpoint: settings.upstream.clone(),
            timeout: settings.timeout,
            max_response_bytes: settings.max_response_bytes,
            signer,
        })
    }

    /// The secrets the proxy signs with, for the secret scan of recordings.
    pub(crate) async fn secrets(&self) -> Vec<String> {
        match &self.signer {
            Some(signer) => signer.secrets().await,
            None => Vec::new(),
        }
    }

    /// The endpoint a call in `region` goes to.
    pub(crate) fn endpoint_for(&self, region: &str) -> Uri {
        match &self.endpoint {
            Some(endpoint) => endpoint.clone(),
            // Regions are [A-Za-z0-9-] (checked where they are read), so this always parses.
            None => format!("https://ssm.{region}.amazonaws.com/")
                .parse()
                .expect("a region makes a valid host"),
        }
    }

    /// Re-signs the call for `region` and sends it; the whole answer is read.
    pub(crate) async fn forward(
        &self,
        client_headers: &HeaderMap,
        body: Bytes,
        region: &str,
    ) -> Result<Forwarded, UpstreamError> {
        let signer = self.signer.as_ref().ok_or(UpstreamError::NoCredentials)?;
        let endpoint = self.endpoint_for(region);
        let mut request = Request::post(endpoint.clone())
            .body(body)
            .expect("a POST to a valid URI is a valid request");
        let headers = request.headers_mut();
        for name in &FORWARDED_HEADERS {
            if let Some(value) = client_headers.get(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        let authority = endpoint.authority().map_or("", |a| a.as_str());
        if let Ok(host) = HeaderValue::from_str(authority) {
            headers.insert(header::HOST, host);
        }
        signer
            .sign(&mut request, region)
            .await
            .map_err(UpstreamError::Sign)?;
        self.send(request, endpoint.to_string()).await
    }

    /// Sends an intercepted call to `host` exactly as its client signed it: every header but
    /// the hop-by-hop ones, `Host` included, so that AWS checks the client's own signature. The
    /// `upstream` override, when set, replaces where it goes, never what it says.
    pub(crate) async fn relay(
        &self,
        client_headers: &HeaderMap,
        body: Bytes,
        host: &str,
    ) -> Result<Forwarded, UpstreamError> {
        let endpoint = match &self.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => format!("https://{host}/")
                .parse()
                .map_err(|_| UpstreamError::Connect {
                    endpoint: host.to_owned(),
                    reason: "not a host name".to_owned(),
                })?,
        };
        let mut request = Request::post(endpoint.clone())
            .body(body)
            .expect("a POST to a valid URI is a valid request");
        let headers = request.headers_mut();
        headers.clone_from(client_headers);
        for name in HOP_BY_HOP.iter().chain(&PROXY_ONLY) {
            headers.remove(name);
        }
        // An HTTP/2 client names the host in `:authority`, which the signature covered as `host`.
        if let (Entry::Vacant(entry), Ok(value)) =
            (headers.entry(header::HOST), HeaderValue::from_str(host))
        {
            entry.insert(value);
        }
        self.send(request, endpoint.to_string()).await
    }

    /// Sends `request` to `shown`, reading the whole answer within the timeouts.
    async fn send(
        &self,
        request: Request<Bytes>,
        shown: String,
    ) -> Result<Forwarded, UpstreamError> {
        let exchange = async {
            let response = self
                .client
                .request(request.map(Full::new))
                .await
                .map_err(|e| classify(&shown, &e))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, self.max_response_bytes)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        UpstreamError::TooLarge {
                            endpoint: shown.clone(),
                            limit: self.max_response_bytes,
                        }
                    } else {
                        UpstreamError::Exchange {
                            endpoint: shown.clone(),
                            reason: innermost(e.as_ref()),
                        }
                    }
                })?
                .to_bytes();
            let mut headers = parts.headers;
            for name in &HOP_BY_HOP {
                headers.remove(name);
            }
            Ok(Forwarded {
                status: parts.status,
                headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(UpstreamError::Timeout {
                    endpoint: shown.clone(),
                    after: self.timeout,
                })
            })
    }
}

fn classify(endpoint: &str, error: &hyper_util::client::legacy::Error) -> UpstreamError {
    let endpoint = endpoint.to_owned();
    if !error.is_connect() {
        return UpstreamError::Exchange {
            endpoint,
            reason: innermost(error),
        };
    }
    // The connect timeout surfaces as a bare io::ErrorKind::TimedOut; name it plainly.
    let timed_out = source_chain(error).any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    });
    let reason = if timed_out {
        "connection timed out".to_owned()
    } else {
        innermost(error)
    };
    UpstreamError::Connect { endpoint, reason }
}

fn source_chain<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| e.source())
}

/// The deepest cause's text: "connection refused", "invalid peer certificate: UnknownIssuer".
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    source_chain(error)
        .last()
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<(), CaFileError> {
    let fail = |reason: String| CaFileError {
        path: path.to_owned(),
        reason,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if certificates.is_empty() {
        return Err(fail("it holds no PEM certificate".to_owned()));
    }
    for certificate in certificates {
        roots.add(certificate).map_err(|e| fail(e.to_string()))?;
    }
    Ok(())
}
