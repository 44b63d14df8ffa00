//! [`ProxyError`], every way a request can fail, with the one table that turns each into the
//! AWS-shaped response the client sees ([`ProxyError::to_aws`]). Starting has its own errors
//! (`start_error.rs`).
//!
//! The stages keep errors of their own (the envelope's [`Refusal`], the model's [`Rejection`],
//! the store's [`Unavailable`], the upstream's, the audit's, the interceptor's and the proxy's
//! own endpoints'); `ProxyError` only wraps them, at the handlers' edge, so no stage imports
//! this module, and its one table words every answer the proxy gives of its own.
//!
//! Status codes are chosen so that no standard AWS retry policy retries them: botocore and
//! smithy-rs retry 500/502/503/504 and throttling codes, so nothing the client can only fix by
//! changing its request or the cassette uses those. The one 500 is an audit write failure,
//! which a retry may well get past (a full disk freed, a remount). This module does not log; `pipeline/` does.

use http::StatusCode;

use crate::admin::{AdminRefusal, OWN_ENDPOINTS};
use crate::audit::AuditFailed;
use crate::aws::envelope::Refusal;
use crate::aws::error::AwsError;
use crate::aws::model::{Rejection, is_operation_name, provenance};
use crate::cassette::name::InvalidCassetteName;
use crate::cassette::replay::ReplayMiss;
use crate::cassette::store::Unavailable;
use crate::intercept::InterceptError;
use crate::report::Outcome;
use crate::text::chain;
use crate::upstream::UpstreamError;

/// Why a request was answered by the proxy itself rather than from a cassette.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ProxyError {
    /// The request's envelope (path, method, target, content type, JSON body) was refused.
    #[error("the request was refused")]
    Envelope(#[from] Refusal),
    /// The body is larger than `limits.max_body_bytes`.
    #[error("request body over the limit of {limit} bytes")]
    BodyTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The client stopped sending its body, or sent a malformed one.
    #[error("failed to read the request body")]
    BodyRead(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The input fails the SSM model: a wrong JSON type or a failed constraint.
    #[error("the input fails the SSM model")]
    Invalid(#[from] Rejection),
    /// No recorded answer is left for this request.
    #[error("no recorded answer in the cassette")]
    ReplayMiss(Box<ReplayMiss>),
    /// The operation is not in `forward.allowed_operations`, so it is not re-signed and sent.
    #[error("operation {operation} may not be forwarded")]
    NotForwarded {
        /// The operation.
        operation: String,
    },
    /// No answer came back from the upstream (never recorded).
    #[error("the upstream gave no answer")]
    Upstream(#[source] UpstreamError),
    /// An audited call's record could not be made durable, so it is not answered.
    #[error("the call could not be audited")]
    AuditFailed(#[source] AuditFailed),
    /// The selected cassette does not exist or cannot be read.
    #[error("the selected cassette is unavailable")]
    CassetteUnavailable(#[from] Unavailable),
    /// A forward-proxy request (`CONNECT`, an absolute-form URI) that is not served.
    #[error("the forward-proxy request was not served")]
    Intercept(#[from] InterceptError),
    /// A request under `/__ssm-vcr/` that no endpoint of the proxy's own answers.
    #[error("the proxy's own endpoints refused the request")]
    OwnEndpoint(#[from] AdminRefusal),
}

impl ProxyError {
    /// The AWS-shaped response for this error: the single mapping from error to status.
    pub(crate) fn to_aws(&self) -> AwsError {
        use StatusCode as S;
        let (status, error_type, message) = match self {
            Self::Envelope(Refusal::UnknownPath { path }) => (
                S::NOT_FOUND,
                "UnknownOperationException",
                format!("no route for path '{path}': send calls to / or to /cassette/<name>/"),
            ),
            Self::Envelope(Refusal::InvalidCassetteName(InvalidCassetteName(name)))
            | Self::OwnEndpoint(AdminRefusal::InvalidCassetteName(InvalidCassetteName(name))) => (
                S::BAD_REQUEST,
                "InvalidCassetteNameException",
                format!(
                    "cassette name '{name}' is not allowed: use letters, digits, '.', '_' and '-' only, \
                     not starting with '.'"
                ),
            ),
            Self::Envelope(Refusal::MethodNotAllowed { method }) => (
                S::METHOD_NOT_ALLOWED,
                "UnknownOperationException",
                format!("AWS JSON 1.1 calls are POST requests; got {method}"),
            ),
            Self::Envelope(Refusal::UnknownOperation { target: None }) => (
                S::BAD_REQUEST,
                "UnknownOperationException",
                "missing X-Amz-Target header: expected AmazonSSM.<Operation>".to_owned(),
            ),
            Self::Envelope(Refusal::UnknownOperation {
                target: Some(target),
            }) => (
                S::BAD_REQUEST,
                "UnknownOperationException",
                match target.strip_prefix("AmazonSSM.") {
                    Some(name) if is_operation_name(name) => format!(
                        "unknown operation '{name}': the SSM API model (botocore {}) has no such \
                         operation; check the spelling, or refresh the model with \
                         scripts/update-ssm-model",
                        provenance().botocore
                    ),
                    _ => format!(
                        "unknown operation target '{target}': ssm-vcr serves AmazonSSM.<Operation> only"
                    ),
                },
            ),
            Self::Envelope(Refusal::UnsupportedMediaType { content_type }) => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaTypeException",
                format!(
                    "Content-Type must be application/x-amz-json-1.1, got {}",
                    content_type
                        .as_deref()
                        .map_or("none".to_owned(), |ct| format!("'{ct}'"))
                ),
            ),
            Self::BodyTooLarge { limit } => (
                S::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLargeException",
                format!(
                    "request body is larger than the limit of {limit} bytes (limits.max_body_bytes)"
                ),
            ),
            Self::BodyRead(_) => (
                S::BAD_REQUEST,
                "SerializationException",
                "the request body could not be read completely".to_owned(),
            ),
            Self::Envelope(Refusal::Serialization { reason })
            | Self::Invalid(Rejection::Serialization { reason }) => {
                (S::BAD_REQUEST, "SerializationException", reason.clone())
            }
            Self::Invalid(Rejection::Validation { message }) => {
                (S::BAD_REQUEST, "ValidationException", message.clone())
            }
            Self::ReplayMiss(miss) => (S::BAD_REQUEST, "ReplayMissException", miss.to_string()),
            Self::NotForwarded { operation } => (
                S::BAD_REQUEST,
                "AccessDeniedException",
                format!(
                    "ssm-vcr does not forward AmazonSSM.{operation} to AWS: it is not in forward.allowed_operations"
                ),
            ),
            Self::Upstream(UpstreamError::Timeout { .. }) => (
                S::GATEWAY_TIMEOUT,
                "UpstreamTimeoutException",
                format!(
                    "ssm-vcr forwarded the call but got no answer: {}",
                    self_text(self)
                ),
            ),
            Self::Upstream(UpstreamError::NoCredentials) => (
                S::FORBIDDEN,
                "AccessDeniedException",
                "ssm-vcr forwards only calls made through it as an HTTPS proxy (forward_proxy.only): \
                 set HTTPS_PROXY and AWS_CA_BUNDLE instead of the endpoint, or give the proxy \
                 credentials and turn forward_proxy.only off"
                    .to_owned(),
            ),
            Self::Upstream(UpstreamError::Sign(_)) => (
                S::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                format!(
                    "ssm-vcr could not re-sign the call for AWS: {}",
                    self_text(self)
                ),
            ),
            Self::Upstream(_) => (
                S::BAD_GATEWAY,
                "UpstreamUnavailableException",
                format!("ssm-vcr could not forward the call: {}", self_text(self)),
            ),
            Self::AuditFailed(failed) => (
                S::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                format!(
                    "ssm-vcr could not write the audit record of this call, so it was not answered \
                     (audit.on_failure = \"refuse\"): {failed}"
                ),
            ),
            Self::CassetteUnavailable(Unavailable { name, reason }) => (
                S::BAD_REQUEST,
                "CassetteUnavailableException",
                format!("cassette '{name}' is unavailable: {reason}"),
            ),
            Self::Intercept(InterceptError::NotAllowed {
                what,
                target,
                replaying,
            }) => (
                S::FORBIDDEN,
                "AccessDeniedException",
                format!(
                    "ssm-vcr refused {what} {target}: {}. It intercepts ssm.<region>.amazonaws.com \
                     (and the FIPS and dual-stack SSM hosts) on port 443; list other hosts in NO_PROXY",
                    if *replaying {
                        "in replay mode nothing leaves this machine"
                    } else {
                        "the host is not in forward_proxy.tunnel_hosts"
                    }
                ),
            ),
            Self::Intercept(InterceptError::Tunnel { target, source }) => (
                S::BAD_GATEWAY,
                "UpstreamUnavailableException",
                format!("ssm-vcr cannot open a tunnel to {target}: {source}"),
            ),
            Self::Intercept(InterceptError::Ca(source)) => (
                S::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                format!("the local CA is unusable: {}", chain(source)),
            ),
            Self::Intercept(InterceptError::Certificate { host, source }) => (
                S::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                format!("the local CA could not issue a certificate for {host}: {source}"),
            ),
            Self::OwnEndpoint(AdminRefusal::NoEndpoint { path }) => (
                S::NOT_FOUND,
                "UnknownOperationException",
                format!(
                    "no endpoint '{path}': the proxy's own are GET {OWN_ENDPOINTS}health, \
                     GET {OWN_ENDPOINTS}metrics, GET {OWN_ENDPOINTS}report, \
                     GET {OWN_ENDPOINTS}audit/checkpoint and \
                     POST {OWN_ENDPOINTS}cassettes/<name>/reset"
                ),
            ),
            Self::OwnEndpoint(AdminRefusal::NoCheckpoint { signing }) => (
                S::NOT_FOUND,
                "ResourceNotFoundException",
                if *signing {
                    "no audit checkpoint has been issued yet: the first comes after \
                     audit.checkpoint_every records or audit.checkpoint_interval_ms"
                        .to_owned()
                } else {
                    "this proxy issues no audit checkpoints: set [audit] signing_key to a key made \
                     by `ssm-vcr audit keygen`"
                        .to_owned()
                },
            ),
            Self::OwnEndpoint(AdminRefusal::WrongMethod {
                path,
                expected,
                got,
            }) => (
                S::METHOD_NOT_ALLOWED,
                "UnknownOperationException",
                format!("{path} is answered to {expected} requests; got {got}"),
            ),
        };
        AwsError::new(status, error_type, message)
    }

    /// Whether the connection must close after the response: a body that was refused part-way
    /// may still be in flight, and nothing after it on the connection can be trusted.
    pub(crate) fn closes_connection(&self) -> bool {
        matches!(self, Self::BodyTooLarge { .. } | Self::BodyRead(_))
    }

    /// How the call ended, for logs, metrics and the run report.
    pub(crate) fn outcome(&self) -> Outcome {
        match self {
            Self::Invalid(Rejection::Validation { .. }) => Outcome::Invalid,
            Self::ReplayMiss(_) => Outcome::Missed,
            Self::CassetteUnavailable(_) => Outcome::CassetteUnavailable,
            Self::AuditFailed(_) => Outcome::AuditFailed,
            Self::Upstream(_) => Outcome::UpstreamFailed,
            _ => Outcome::Rejected,
        }
    }
}

/// The causes of an error (not the error itself), for the client's message.
fn self_text(error: &ProxyError) -> String {
    std::error::Error::source(error)
        .map(chain)
        .unwrap_or_default()
}
