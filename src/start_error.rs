//! [`StartError`]: every way starting the proxy can fail, each saying what to fix.
//!
//! The parts that start keep errors of their own (the configuration's, the cassette store's,
//! the audit log's, the credential chain's, the upstream client's); this one wraps them with
//! the flag or key that changes the outcome.

use std::net::SocketAddr;

use crate::audit;
use crate::aws::sigv4::NoCredentials;
use crate::cassette::store::OpenError;
use crate::config::ConfigError;
use crate::upstream::CaFileError;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is invalid.
    #[error("invalid configuration")]
    Config(#[from] ConfigError),
    /// The default cassette is missing or invalid.
    #[error(
        "the default cassette {} is unusable (fix it, pick another with --cassette or the \
         library's cassette_file, or run with --cassette none to serve only /cassette/<name>/)",
        path.display()
    )]
    Cassette {
        /// Its file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: OpenError,
    },
    /// An in-memory cassette with no default cassette name to report it under.
    #[error(
        "an in-memory cassette answers calls to `/` as the default cassette, and \
         cassettes.default is \"none\": name it"
    )]
    InMemoryWithoutName,
    /// The audit log cannot be opened.
    #[error(
        "the audit log cannot be opened (fix it, pick another with --audit-log, or run with --no-audit)"
    )]
    Audit(#[source] audit::OpenError),
    /// A forwarding mode without credentials.
    #[error("mode '{mode}' forwards to AWS and re-signs every request")]
    Credentials {
        /// The mode asked for.
        mode: &'static str,
        /// What the credential chain said.
        #[source]
        source: NoCredentials,
    },
    /// The extra CA file is unusable.
    #[error("the upstream client cannot be built")]
    CaFile(#[source] CaFileError),
    /// An in-memory cassette was given to a mode that records or forwards.
    #[error(
        "an in-memory cassette can only be replayed, and mode '{mode}' records or forwards: \
         give a cassette file instead"
    )]
    InMemoryCassette {
        /// The mode asked for.
        mode: &'static str,
    },
    /// The listening address cannot be bound.
    #[error("cannot listen on {address}")]
    Listen {
        /// The address asked for.
        address: SocketAddr,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}
