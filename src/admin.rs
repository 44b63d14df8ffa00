//! The proxy's own endpoints, under `/__ssm-vcr/`: never forwarded, recorded or audited.
//!
//! | method and path | answer |
//! |---|---|
//! | `GET /__ssm-vcr/health` | `200 {"status": "ok", "mode": …, "version": …}` |
//! | `GET /__ssm-vcr/metrics` | Prometheus text format |
//! | `GET /__ssm-vcr/report` | the run report so far, as JSON |
//! | `GET /__ssm-vcr/audit/checkpoint` | the latest signed audit checkpoint, as its note's text |
//! | `POST /__ssm-vcr/cassettes/<name>/reset` | rewinds that cassette's replay queues |
//!
//! Anything else under the prefix is refused ([`AdminRefusal`]) in the same AWS error shape as
//! a wrong path or method of an SSM call. This module reads the [`Hall`]; it changes nothing but the
//! replay queues a reset rewinds.

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::Full;
use serde::Serialize;

use crate::cassette::name::{CassetteName, InvalidCassetteName};
use crate::hall::Hall;
use crate::metrics;
use crate::text::printable;

/// The path prefix kept for the proxy's own endpoints; no SSM call is sent there.
pub(crate) const OWN_ENDPOINTS: &str = "/__ssm-vcr/";

/// Why a request under the prefix is not answered; `error.rs` turns each into AWS's error shape,
/// the one every client of the proxy already reads.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AdminRefusal {
    /// No endpoint has this path.
    #[error("no endpoint {path}")]
    NoEndpoint {
        /// The path, printable and bounded.
        path: String,
    },
    /// The endpoint answers another method.
    #[error("{path} is answered to {expected} requests")]
    WrongMethod {
        /// The path, printable and bounded.
        path: String,
        /// The one method it answers.
        expected: Method,
        /// The method sent, printable and bounded.
        got: String,
    },
    /// No audit checkpoint to show: none issued yet, or no signing key (`signing` false).
    #[error("no audit checkpoint")]
    NoCheckpoint {
        /// Whether the proxy signs checkpoints at all.
        signing: bool,
    },
    /// A reset named no possible cassette.
    #[error(transparent)]
    InvalidCassetteName(#[from] InvalidCassetteName),
}

/// The proxy's own endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint<'a> {
    Health,
    Metrics,
    Report,
    Checkpoint,
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
            "audit/checkpoint" => Some(Self::Checkpoint),
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
            Self::Health | Self::Metrics | Self::Report | Self::Checkpoint => Method::GET,
        }
    }
}

/// Answers a request to one of the proxy's own endpoints.
pub(crate) fn handle(
    hall: &Hall,
    method: &Method,
    path: &str,
) -> Result<Response<Full<Bytes>>, AdminRefusal> {
    let Some(endpoint) = Endpoint::at(path) else {
        return Err(AdminRefusal::NoEndpoint {
            path: printable(path, 80),
        });
    };
    if *method != endpoint.method() {
        return Err(AdminRefusal::WrongMethod {
            path: printable(path, 80),
            expected: endpoint.method(),
            got: printable(method.as_str(), 16),
        });
    }
    Ok(match endpoint {
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
        Endpoint::Checkpoint => {
            let latest = (hall.audit.as_ref()).map(|audit| audit.log.latest_checkpoint());
            match latest.as_ref().and_then(|latest| latest.get()) {
                Some(issued) => answer("text/plain; charset=utf-8", issued.note.into_bytes()),
                None => {
                    let signing = hall.audit.as_ref().is_some_and(|audit| audit.log.signs());
                    return Err(AdminRefusal::NoCheckpoint { signing });
                }
            }
        }
        Endpoint::Reset(name) => {
            let cassette = CassetteName::parse(name)?;
            json(&Reset {
                rewound: hall.rewind(&cassette),
                cassette: cassette.as_str(),
            })
        }
    })
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
