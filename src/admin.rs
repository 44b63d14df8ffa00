//! The proxy's own endpoints, under `/__ssm-vcr/`: never forwarded, recorded or audited.
//!
//! | method and path | answer |
//! |---|---|
//! | `GET /__ssm-vcr/health` | `200 {"status": "ok", "mode": …, "version": …}` |
//! | `GET /__ssm-vcr/metrics` | Prometheus text format |
//! | `GET /__ssm-vcr/report` | the run report so far, as JSON |
//! | `POST /__ssm-vcr/cassettes/<name>/reset` | rewinds that cassette's replay queues |
//!
//! Anything else under the prefix is refused in the same AWS error shape as a wrong path or
//! method of an SSM call. This module reads the [`Hall`]; it changes nothing but the
//! replay queues a reset rewinds.

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::Full;
use serde::Serialize;

use crate::aws::error::AwsError;
use crate::cassette::name::CassetteName;
use crate::error::ProxyError;
use crate::hall::Hall;
use crate::metrics;
use crate::text::printable;

/// The path prefix kept for the proxy's own endpoints; no SSM call is sent there.
pub(crate) const OWN_ENDPOINTS: &str = "/__ssm-vcr/";

/// The proxy's own endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint<'a> {
    Health,
    Metrics,
    Report,
    /// Rewind the named cassette.
    Reset(&'a str),
}

impl<'a> Endpoint<'a> {
    /// The endpoint at `path`, if any.
    fn at(path: &'a str) -> Option<Self> {
        match path.strip_prefix(OWN_ENDPOINTS)? {
            "health" => Some(Self::Health),
            "metrics" => Some(Self::Metrics),
            "report" => Some(Self::Report),
            other => other
                .strip_prefix("cassettes/")?
                .strip_suffix("/reset")
                .map(Self::Reset),
        }
    }

    /// The one method it answers.
    fn method(self) -> Method {
        match self {
            Self::Reset(_) => Method::POST,
            Self::Health | Self::Metrics | Self::Report => Method::GET,
        }
    }
}

/// Answers a request to one of the proxy's own endpoints.
pub(crate) fn handle(hall: &Hall, method: &Method, path: &str) -> Response<Full<Bytes>> {
    let Some(endpoint) = Endpoint::at(path) else {
        return refused(
            StatusCode::NOT_FOUND,
            format!(
                "no endpoint '{}': the proxy's own are GET {OWN_ENDPOINTS}health, \
                 GET {OWN_ENDPOINTS}metrics, GET {OWN_ENDPOINTS}report and \
                 POST {OWN_ENDPOINTS}cassettes/<name>/reset",
                printable(path, 80)
            ),
        );
    };
    if *method != endpoint.method() {
        return refused(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "{} is answered to {} requests; got {}",
                printable(path, 80),
                endpoint.method(),
                printable(method.as_str(), 16)
            ),
        );
    }
    match endpoint {
        Endpoint::Health => json(&Health {
            status: "ok",
            mode: hall.mode.as_str(),
            version: env!("CARGO_PKG_VERSION"),
        }),
        Endpoint::Metrics => answer(
            metrics::CONTENT_TYPE,
            hall.tally.metrics.render().into_bytes(),
        ),
        Endpoint::Report => json(&hall.report()),
        Endpoint::Reset(name) => match CassetteName::parse(name) {
            Ok(cassette) => json(&Reset {
                rewound: hall.rewind(&cassette),
                cassette: cassette.as_str(),
            }),
            Err(invalid) => ProxyError::Envelope(invalid.into())
                .to_aws()
                .into_response(),
        },
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    mode: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Reset<'a> {
    cassette: &'a str,
    /// `false` when no call had opened the cassette yet: nothing to rewind.
    rewound: bool,
}

fn json(value: &impl Serialize) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_vec_pretty(value).expect("these values always serialise");
    body.push(b'\n');
    answer("application/json", body)
}

fn answer(content_type: &'static str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A refusal in the AWS error shape every client of the proxy already reads.
fn refused(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    tracing::debug!(%message, "refused a request to the proxy's own endpoints");
    AwsError::new(status, "UnknownOperationException", message).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_found_by_their_exact_path() {
        assert_eq!(Endpoint::at("/__ssm-vcr/health"), Some(Endpoint::Health));
        assert_eq!(
            Endpoint::at("/__ssm-vcr/cassettes/flow/reset"),
            Some(Endpoint::Reset("flow"))
        );
        assert_eq!(Endpoint::at("/__ssm-vcr/health/"), None);
        assert_eq!(Endpoint::at("/__ssm-vcr/cassettes/flow"), None);
        assert_eq!(Endpoint::at("/health"), None);
    }
}
