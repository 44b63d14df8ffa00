//! The request pipeline: the one place that knows the order of the stages.
//!
//! ```text
//! route ─ operation (method, target, content type) ─ caller ─ body (size limit) ─ input (JSON)
//!       ─ validate ─ answer from the cassette ─ respond, one log line
//! ```
//!
//! Every failure is a [`ProxyError`], answered through its single mapping to an AWS-shaped
//! response. The pipeline holds no lock across an await and never opens an outbound
//! connection: replay mode touches no network beyond the client's own socket. It does not own
//! sockets or connection limits (`server.rs`).

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, header};
use http_body::Body;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use serde_json::Value;
use tracing::info;

use crate::aws::envelope::{self, Caller, CassetteName};
use crate::aws::model::Model;
use crate::cassette::replay::WhenExhausted;
use crate::cassette::store::{Library, LoadError};
use crate::config::{Config, Mode};
use crate::error::ProxyError;

/// The proxy's request handler and everything it answers from.
#[derive(Debug)]
pub struct Proxy {
    mode: Mode,
    default_region: String,
    max_body_bytes: usize,
    model: Model,
    library: Arc<Library>,
}

/// What the log line says about one exchange, filled in as the stages learn it.
#[derive(Debug, Default)]
struct Exchange {
    operation: Option<String>,
    cassette: Option<CassetteName>,
    interaction: Option<usize>,
}

impl Proxy {
    /// A proxy for a validated configuration. The default cassette is loaded now so that a
    /// missing or broken one stops start-up with a clear message.
    pub fn new(config: &Config) -> Result<Self, LoadError> {
        let when_exhausted = if config.cassettes.repeat_last {
            WhenExhausted::RepeatLast
        } else {
            WhenExhausted::Miss
        };
        let library = Library::new(
            config.cassettes.dir.clone(),
            config.default_cassette(),
            config.ignore_rules(),
            when_exhausted,
        );
        library.preload_default()?;
        Ok(Self {
            mode: config.mode,
            default_region: config.region.clone(),
            max_body_bytes: config.limits.max_body_bytes,
            model: Model::builtin(),
            library: Arc::new(library),
        })
    }

    /// Answers one request. Never fails: every error becomes an AWS-shaped response.
    pub async fn handle<B>(&self, request: Request<B>, peer: SocketAddr) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let started = Instant::now();
        let mut exchange = Exchange::default();
        let (response, outcome) = match self.answer(request, &mut exchange).await {
            Ok(response) => (response, "replayed"),
            Err(error) => {
                tracing::debug!(error = %error, source = ?error.source(), "answered with an error");
                let mut response = error.to_aws().into_response();
                if error.closes_connection() {
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                (response, error.outcome())
            }
        };
        info!(
            target: "ssm_vcr::access",
            %peer,
            mode = self.mode.as_str(),
            ssm_target = exchange.operation.as_deref().unwrap_or("-"),
            cassette = exchange.cassette.as_ref().map_or("-", CassetteName::as_str),
            interaction = exchange.interaction,
            outcome,
            status = response.status().as_u16(),
            latency_us = started.elapsed().as_micros() as u64,
        );
        response
    }

    async fn answer<B>(
        &self,
        request: Request<B>,
        exchange: &mut Exchange,
    ) -> Result<Response<Full<Bytes>>, ProxyError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let cassette = envelope::route(parts.uri.path())?;
        exchange.cassette = Some(
            cassette
                .clone()
                .unwrap_or_else(|| self.library.default_name().clone()),
        );
        let operation = envelope::operation(&parts)?;
        exchange.operation = Some(operation.to_string());
        let caller = Caller::from_headers(&parts.headers);
        let bytes = read_body(&parts.headers, body, self.max_body_bytes).await?;
        let input = envelope::input(&bytes)?;
        self.model.validate(operation.as_str(), &input)?;

        let tape = self.library.tape(cassette.as_ref()).await?;
        let region = caller.region.as_deref().unwrap_or(&self.default_region);
        let played = tape
            .play(operation.as_str(), region, &Value::Object(input))
            .map_err(ProxyError::ReplayMiss)?;
        exchange.interaction = Some(played.index);
        Ok(played.answer.to_response())
    }
}

/// Collects the body, refusing it as soon as it is known to exceed `limit`.
async fn read_body<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, ProxyError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ProxyError::BodyTooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(ProxyError::BodyTooLarge { limit }),
        Err(e) => Err(ProxyError::BodyRead(e)),
    }
}
