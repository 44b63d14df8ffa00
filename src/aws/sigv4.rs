//! Re-signing forwarded requests with SigV4 (the `aws-sigv4` crate), using credentials from the
//! standard AWS chain (`aws-config`: environment, shared profile, SSO, web identity, container,
//! instance metadata).
//!
//! Credentials are resolved once at start-up (so a proxy without any fails at once, saying how
//! to provide them), cached, and refreshed shortly before they expire, as an SDK client does;
//! they are never re-read per request. Nothing here is hand-rolled: the chain and the signature
//! are AWS's own crates. This module does not send requests (`upstream.rs`).

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use bytes::Bytes;
use http::Request;
use tokio::sync::Mutex;

/// The signing name of Systems Manager.
const SERVICE: &str = "ssm";

/// Credentials this close to expiry are refreshed before signing.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// Signs requests for SSM with cached credentials.
pub struct Signer {
    provider: SharedCredentialsProvider,
    cached: Mutex<Credentials>,
}

impl fmt::Debug for Signer {
    // Credentials must never reach a log line, even at debug level.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

/// No usable credentials.
#[derive(Debug, thiserror::Error)]
#[error(
    "no AWS credentials found: give them the way the AWS CLI reads them (AWS_ACCESS_KEY_ID and \
     AWS_SECRET_ACCESS_KEY, plus AWS_SESSION_TOKEN; AWS_PROFILE with ~/.aws/credentials or \
     ~/.aws/config; `aws sso login`; web identity; a container or instance role), or, for \
     clients that come through HTTPS_PROXY, add --forward-proxy-only to relay their own \
     signatures with no credentials here (the credential chain said: {reason})"
)]
pub struct NoCredentials {
    /// What the credential chain said.
    pub reason: String,
}

/// Signing failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// Refreshing credentials failed.
    #[error(transparent)]
    Credentials(#[from] NoCredentials),
    /// `aws-sigv4` refused the request.
    #[error("the request could not be signed: {0}")]
    Signing(String),
}

impl Signer {
    /// The standard AWS credential chain, resolved now.
    pub async fn from_environment() -> Result<Self, NoCredentials> {
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https)
            .load()
            .await;
        let provider = config.credentials_provider().ok_or_else(|| NoCredentials {
            reason: "the credential chain is empty".to_owned(),
        })?;
        Self::with_provider(provider).await
    }

    /// A signer over any credentials provider, resolved now (tests and embedding).
    pub async fn with_provider(provider: SharedCredentialsProvider) -> Result<Self, NoCredentials> {
        let credentials = resolve(&provider).await?;
        Ok(Self {
            provider,
            cached: Mutex::new(credentials),
        })
    }

    /// Current credentials, refreshed when they are about to expire.
    pub async fn credentials(&self) -> Result<Credentials, NoCredentials> {
        let mut cached = self.cached.lock().await;
        let stale = cached
            .expiry()
            .is_some_and(|expiry| expiry <= SystemTime::now() + REFRESH_BEFORE_EXPIRY);
        if stale {
            *cached = resolve(&self.provider).await?;
        }
        Ok(cached.clone())
    }

    /// Signs `request` (whose headers are exactly those to forward, `host` included) for
    /// `region`, adding `x-amz-date`, `authorization` and, for temporary credentials,
    /// `x-amz-security-token`.
    pub async fn sign(&self, request: &mut Request<Bytes>, region: &str) -> Result<(), SignError> {
        let identity = self.credentials().await?.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| SignError::Signing(e.to_string()))?
            .into();
        let headers = request
            .headers()
            .iter()
            .map(|(name, value)| Ok((name.as_str(), value.to_str()?)))
            .collect::<Result<Vec<_>, http::header::ToStrError>>()
            .map_err(|e| SignError::Signing(e.to_string()))?;
        let uri = request.uri().to_string();
        let signable = SignableRequest::new(
            request.method().as_str(),
            &uri,
            headers.into_iter(),
            SignableBody::Bytes(request.body()),
        )
        .map_err(|e| SignError::Signing(e.to_string()))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| SignError::Signing(e.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }

    /// The secret parts of the current credentials, for the cassette secret scan.
    pub async fn secrets(&self) -> Vec<String> {
        let cached = self.cached.lock().await;
        let mut secrets = vec![
            cached.access_key_id().to_owned(),
            cached.secret_access_key().to_owned(),
        ];
        secrets.extend(cached.session_token().map(str::to_owned));
        secrets
    }
}

async fn resolve(provider: &SharedCredentialsProvider) -> Result<Credentials, NoCredentials> {
    provider
        .provide_credentials()
        .await
        .map_err(|e| NoCredentials {
            reason: crate::text::chain(&e),
        })
}
