//! Routing: each request goes, by its method and path alone, to the handler that owns it,
//! before anything of the SSM envelope is read.
//!
//! SSM calls go to the pipeline (`pipeline/`), the proxy's own endpoints (`/__ssm-vcr/…`)
//! to `admin.rs`, and what a forward-proxy client sends (`CONNECT`, absolute-form URIs) to
//! the [`Hall`]'s interceptor (`intercept/`). This module does not own sockets (`server/`,
//! which takes over an intercepted connection) nor know any operation (`pipeline/`).

use std::error::Error as StdError;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, Version, header};
use http_body::Body;
use http_body_util::Full;

use crate::admin::{self, OWN_ENDPOINTS};
use crate::error::ProxyError;
use crate::hall::Hall;
use crate::intercept::{Handover, InterceptError};
use crate::peer::Peer;
use crate::pipeline;

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// An SSM call: the pipeline.
    Ssm,
    /// One of the proxy's own endpoints.
    OwnEndpoint,
    /// A tunnel request, as HTTPS clients send to a forward proxy.
    Connect,
    /// A request naming its host in its target, as clients send to a forward proxy.
    PlainProxy,
}

fn route<B>(request: &Request<B>) -> Route {
    let (method, path) = (request.method(), request.uri().path());
    if method == Method::CONNECT {
        Route::Connect
    } else if is_absolute_form(request) {
        Route::PlainProxy
    } else if path.starts_with(OWN_ENDPOINTS) {
        Route::OwnEndpoint
    } else {
        Route::Ssm
    }
}

/// Whether an HTTP/1 request names its host in its target (`GET http://host/ HTTP/1.1`), which
/// only a forward proxy is sent; HTTP/2 requests always carry scheme and authority.
fn is_absolute_form<B>(request: &Request<B>) -> bool {
    request.version() < Version::HTTP_2 && request.uri().authority().is_some()
}

/// Answers one request. Never fails: every error becomes an AWS-shaped response. A `CONNECT`
/// taken is answered 200 with a [`Handover`] in the answer's extensions, for the server to take
/// over the connection once the answer is sent.
pub(crate) async fn handle<B>(
    hall: &Hall,
    mut request: Request<B>,
    peer: &Peer,
) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    match route(&request) {
        Route::Ssm => pipeline::handle(hall, request, peer).await,
        Route::OwnEndpoint => admin::handle(hall, request.method(), request.uri().path())
            .unwrap_or_else(|refusal| {
                let refusal = ProxyError::from(refusal);
                let message = crate::text::chain(&refusal);
                tracing::debug!(%message, "refused a request to the proxy's own endpoints");
                refusal.to_aws().into_response()
            }),
        Route::Connect => match hall.interceptor.connect(&mut request).await {
            Ok(takeover) => {
                tracing::debug!(peer = peer.as_str(), ?takeover, "taking over a CONNECT");
                let mut response = Response::new(Full::default());
                response.extensions_mut().insert(Handover::new(takeover));
                response
            }
            Err(refusal) => {
                // A client whose tunnel was refused has nothing more to send on it.
                let mut response = refused(hall, refusal, "CONNECT", peer);
                let close = HeaderValue::from_static("close");
                response.headers_mut().insert(header::CONNECTION, close);
                response
            }
        },
        Route::PlainProxy => match hall.interceptor.proxy_request(request.uri()) {
            // The client's proxy library sends the SSM call itself rather than a tunnel: the
            // same interception, without TLS between client and proxy.
            Ok(host) => {
                let peer = Peer::intercepted(peer.addr(), host);
                pipeline::handle(hall, request, &peer).await
            }
            Err(refusal) => refused(hall, refusal, request.method().as_str(), peer),
        },
    }
}

/// Answers a forward-proxy request that is not served, with one access-log line and a count:
/// clients such as aws-cli show only "Failed to connect to proxy URL", so the proxy's own log
/// is where the reason can be read.
fn refused(
    hall: &Hall,
    refusal: InterceptError,
    method: &str,
    peer: &Peer,
) -> Response<Full<Bytes>> {
    hall.tally.metrics.forward_proxy_refusal();
    let refusal = ProxyError::from(refusal).to_aws();
    tracing::info!(
        target: "ssm_vcr::access",
        peer = %peer.addr(),
        method,
        outcome = "refused",
        status = refusal.status.as_u16(),
        reason = %refusal.message,
    );
    refusal.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routed(method: Method, uri: &str, version: Version) -> Route {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .version(version)
            .body(())
            .unwrap();
        route(&request)
    }

    #[test]
    fn routes_by_method_and_target_alone() {
        let h1 = Version::HTTP_11;
        assert_eq!(routed(Method::POST, "/", h1), Route::Ssm);
        assert_eq!(routed(Method::POST, "/cassette/flow/", h1), Route::Ssm);
        // Refused by the pipeline, which audits an audited operation sent there.
        assert_eq!(routed(Method::GET, "/elsewhere", h1), Route::Ssm);
        assert_eq!(
            routed(Method::GET, "/__ssm-vcr/health", h1),
            Route::OwnEndpoint
        );
        assert_eq!(
            routed(Method::CONNECT, "ssm.us-east-1.amazonaws.com:443", h1),
            Route::Connect
        );
        assert_eq!(
            routed(Method::GET, "http://169.254.169.254/latest/", h1),
            Route::PlainProxy
        );
        // HTTP/2 names scheme and authority in every request: not a proxy request.
        assert_eq!(
            routed(Method::POST, "http://127.0.0.1:4590/", Version::HTTP_2),
            Route::Ssm
        );
    }
}
