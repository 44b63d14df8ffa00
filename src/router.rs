//! Routing: each request goes, by its method and path alone, to the handler that owns it,
//! before anything of the SSM envelope is read.
//!
//! SSM calls go to the pipeline ([`Pipeline`]), the proxy's own endpoints (`/__ssm-vcr/…`)
//! to `admin.rs`. `CONNECT` (forward-proxy mode) has its route reserved and is refused in
//! AWS's shape until it exists. This module does not own sockets (`server/`) nor know any
//! operation (`proxy.rs`).

use std::error::Error as StdError;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::Full;

use crate::admin::{self, OWN_ENDPOINTS};
use crate::aws::envelope::{CassetteName, Refusal};
use crate::error::ProxyError;
use crate::metrics::OpenConnection;
use crate::proxy::{Peer, Pipeline};
use crate::report::Report;

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
        match route(request.method(), request.uri().path()) {
            Route::Ssm => self.pipeline.handle(request, peer).await,
            Route::OwnEndpoint => {
                admin::handle(&self.pipeline, request.method(), request.uri().path())
            }
            Route::Connect => {
                let refusal = Refusal::MethodNotAllowed {
                    method: Method::CONNECT.to_string(),
                };
                tracing::debug!(%refusal, "answered a reserved route");
                ProxyError::Envelope(refusal).to_aws().into_response()
            }
        }
    }

    /// Counts a client connection as open until the returned guard is dropped.
    pub(crate) fn connection(&self) -> OpenConnection {
        self.pipeline.metrics().connection()
    }

    /// The run report so far.
    pub(crate) fn report(&self) -> Report {
        self.pipeline.report()
    }

    /// Rewinds a cassette's replay queues; `false` when no call has opened it.
    pub(crate) fn rewind(&self, cassette: &CassetteName) -> bool {
        self.pipeline.rewind(cassette)
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
