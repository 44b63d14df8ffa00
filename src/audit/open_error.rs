//! Why the audit log could not be opened: its files, its lock, a last record that does not
//! verify, or (with checkpoints) a signing key or a tree that cannot be rebuilt.

use std::io;
use std::path::{Path, PathBuf};

use crate::durable;

/// Why the audit log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file or its folder could not be opened, read or written.
    #[error("cannot open the audit log {}", path.display())]
    Io {
        /// The audit file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Another process holds the log.
    #[error("the audit log {} is in use by another process", path.display())]
    Locked {
        /// The audit file.
        path: PathBuf,
    },
    /// The key that signs checkpoints cannot be used.
    #[error("cannot use the audit log's signing key (audit.signing_key)")]
    Key(#[from] super::keys::KeyError),
    /// The last record does not verify, so the chain cannot continue from it.
    #[error(
        "the audit log {} ends with a record that does not verify ({reason}); run `ssm-vcr audit verify` \
         on it, and move it aside to start a new log", path.display()
    )]
    Broken {
        /// The audit file.
        path: PathBuf,
        /// What is wrong with its last record.
        reason: String,
    },
}

impl From<durable::OpenError> for OpenError {
    fn from(error: durable::OpenError) -> Self {
        match error {
            durable::OpenError::Locked { path } => Self::Locked { path },
            durable::OpenError::Io { path, source } => Self::Io { path, source },
        }
    }
}

impl OpenError {
    pub(super) fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}
