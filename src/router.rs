//! Routing: each request goes, by its method and path alone, to the handler that owns it,
//! before anything of the SSM envelope is read.
//!
//! Today there is one handler, the SSM pipeline ([`Pipeline`]). The proxy's own endpoints
//! (`/__ssm-vcr/…`) and `CONNECT` (forward-proxy mode) have their routes reserved and are
//! refused in AWS's shape until they exist. This module does not own sockets (`server/`) nor
//! know any operation (`proxy.rs`).

use std::error::Error as StdError;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::Full;

use crate::aws::envelope::Refusal;
use crate::error::ProxyError;
use crate::proxy::{Peer, Pipeline};
use crate::text::printable;

/// The path prefix kept for the proxy's own endpoints; no SSM call is sent there.
pub(crate) const OWN_ENDPOINTS: &str = "/__ssm-vcr/";

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// An SSM call: the pipeline.
    Ssm,
    /// One of the proxy's own endpoints.
    OwnEndpoint,
    /// A tunnel request, as HTTPS clients send to a forward proxy.
    Connect,
}

fn route(method: &Method, path: &str) -> Route {
    if method == Method::CONNECT {
        Route::Connect
    } else if path.starts_with(OWN_ENDPOINTS) {
        Route::OwnEndpoint
    } else {
        Route::Ssm
    }
}

/// Sends each request to its handler.
#[derive(Debug)]
pub(crate) struct Router {
    pipeline: Pipeline,
}

impl Router {
    /// A router over `pipeline`.
    pub(crate) fn new(pipeline: Pipeline) -> Self {
        Self { pipeline }
    }

    /// Answers one request. Never fails: every error becomes an AWS-shaped response.
    pub(crate) async fn handle<B>(&self, request: Request<B>, peer: &Peer) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let refusal = match route(request.method(), request.uri().path()) {
            Route::Ssm => return self.pipeline.handle(request, peer).await,
            Route::OwnEndpoint => Refusal::UnknownPath {
                path: printable(request.uri().path(), 80),
            },
            Route::Connect => Refusal::MethodNotAllowed {
                method: Method::CONNECT.to_string(),
            },
        };
        tracing::debug!(%refusal, "answered a reserved route");
        ProxyError::Envelope(refusal).to_aws().into_response()
    }

    /// Releases what the handlers hold open, once no request is in flight any more.
    pub(crate) fn shutdown(&self) {
        self.pipeline.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_method_and_path_alone() {
        assert_eq!(route(&Method::POST, "/"), Route::Ssm);
        assert_eq!(route(&Method::POST, "/cassette/flow/"), Route::Ssm);
        // Refused by the pipeline, which audits an audited operation sent there.
        assert_eq!(route(&Method::GET, "/elsewhere"), Route::Ssm);
        assert_eq!(route(&Method::GET, "/__ssm-vcr/health"), Route::OwnEndpoint);
        assert_eq!(route(&Method::CONNECT, ""), Route::Connect);
    }
}
