//! The cassette folder: cassettes loaded by name on first use and kept for the life of the
//! process, so their replay queues advance across requests.
//!
//! Loading reads the disk on the blocking pool, never on a runtime thread. A cassette that
//! fails to load is not remembered, so fixing the file and retrying works without a restart.
//! This module does not write cassettes.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::format::{Cassette, FormatError};
use super::matching::IgnoreRules;
use super::replay::{Tape, WhenExhausted};
use crate::aws::envelope::CassetteName;
use crate::error::ProxyError;

/// Why a cassette file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No file at the expected path.
    #[error("no cassette file at {}", path.display())]
    NotFound {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The file exists but cannot be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The file is not a valid cassette.
    #[error("{}: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: FormatError,
    },
}

/// Reads and parses one cassette file.
pub fn read_cassette(path: &Path) -> Result<Cassette, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => LoadError::NotFound {
            path: path.to_owned(),
        },
        _ => LoadError::Io {
            path: path.to_owned(),
            source,
        },
    })?;
    Cassette::from_json(&bytes).map_err(|source| LoadError::Format {
        path: path.to_owned(),
        source,
    })
}

/// Cassettes of one folder, by name.
#[derive(Debug)]
pub struct Library {
    dir: PathBuf,
    default: CassetteName,
    rules: IgnoreRules,
    when_exhausted: WhenExhausted,
    tapes: RwLock<HashMap<CassetteName, Arc<Tape>>>,
}

impl Library {
    /// A library over `dir`, where `/` selects `default`.
    pub fn new(
        dir: PathBuf,
        default: CassetteName,
        rules: IgnoreRules,
        when_exhausted: WhenExhausted,
    ) -> Self {
        Self {
            dir,
            default,
            rules,
            when_exhausted,
            tapes: RwLock::default(),
        }
    }

    /// The file of a cassette name.
    pub fn path_of(&self, name: &CassetteName) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// The default cassette's name.
    pub fn default_name(&self) -> &CassetteName {
        &self.default
    }

    /// Loads the default cassette now, so that a broken setup fails at start-up, not on the
    /// first request.
    pub fn preload_default(&self) -> Result<Arc<Tape>, LoadError> {
        self.load(&self.default.clone())
    }

    /// The named cassette, or the default one, loading it on first use.
    pub async fn tape(
        self: &Arc<Self>,
        name: Option<&CassetteName>,
    ) -> Result<Arc<Tape>, ProxyError> {
        let name = name.unwrap_or(&self.default);
        if let Some(tape) = self
            .tapes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(Arc::clone(tape));
        }
        let library = Arc::clone(self);
        let owned = name.clone();
        let loaded = tokio::task::spawn_blocking(move || library.load(&owned))
            .await
            .map_err(|e| ProxyError::CassetteUnavailable {
                name: name.to_string(),
                reason: format!("loading was interrupted: {e}"),
            })?;
        loaded.map_err(|e| ProxyError::CassetteUnavailable {
            name: name.to_string(),
            reason: e.to_string(),
        })
    }

    fn load(&self, name: &CassetteName) -> Result<Arc<Tape>, LoadError> {
        let path = self.path_of(name);
        let cassette = read_cassette(&path)?;
        let tape = Tape::new(
            name.as_str(),
            path.clone(),
            cassette,
            self.rules.clone(),
            self.when_exhausted,
        )
        .map_err(|source| LoadError::Format { path, source })?;
        let mut tapes = self.tapes.write().unwrap_or_else(|e| e.into_inner());
        // Two first requests may load the same file at once; the first one in keeps its queues.
        Ok(Arc::clone(
            tapes.entry(name.clone()).or_insert_with(|| Arc::new(tape)),
        ))
    }
}
