//! Writing a cassette while recording: each new interaction is durable before its response is
//! sent, a crash never leaves a truncated file, and concurrent recordings never lose or
//! interleave interactions.
//!
//! The whole cassette is kept in memory and written again for every interaction: to a
//! temporary file in the same folder, fsynced, then renamed over the cassette, and the folder
//! fsynced. One lock serialises the writers of one cassette. Before any byte is written, the
//! model's sensitive values are replaced and the secret scan of `redact.rs` must pass. This
//! module does not decide what is recorded (`proxy.rs`).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::format::{Body, Cassette, Interaction, ModelStamp, RecordedRequest, RecordedResponse};
use super::redact::{Placeholders, Redaction, SecretFound, recorded_headers, scan};

/// A forwarded call as the cassette keeps it, recorded now; unredacted until
/// [`Recorder::append`].
pub fn forwarded(
    operation: &str,
    region: &str,
    request: Value,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Interaction {
    Interaction {
        operation: operation.to_owned(),
        region: region.to_owned(),
        recorded_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        request: RecordedRequest { body: request },
        response: RecordedResponse {
            status: status.as_u16(),
            headers: recorded_headers(headers),
            body: Body::from_bytes(body),
        },
    }
}

/// Distinguishes temporary files of concurrent writers in one process.
static TEMPORARY_FILES: AtomicU64 = AtomicU64::new(0);

/// Appends interactions to one cassette file.
#[derive(Debug)]
pub struct Recorder {
    path: PathBuf,
    recorded: Mutex<Recorded>,
}

/// What the writers of one cassette share.
#[derive(Debug)]
struct Recorded {
    cassette: Cassette,
    placeholders: Placeholders,
}

/// An interaction was not written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The secret scan refused the write.
    #[error("refused to write {}: {source}; redact the value with cassettes.redact_paths", path.display())]
    Secret {
        /// The cassette file.
        path: PathBuf,
        /// What was found.
        #[source]
        source: SecretFound,
    },
    /// The file system refused the write.
    #[error("cannot write {}", path.display())]
    Io {
        /// The cassette file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl Recorder {
    /// A recorder that continues `start` (empty in record mode, the file's content in auto mode).
    /// The file is stamped with the model it is written with.
    pub fn new(path: PathBuf, mut start: Cassette) -> Self {
        let placeholders = Placeholders::continuing(&start);
        start.model = Some(ModelStamp::current());
        Self {
            path,
            recorded: Mutex::new(Recorded {
                cassette: start,
                placeholders,
            }),
        }
    }

    /// Redacts, appends and makes the cassette durable; returns the interaction's index.
    /// Blocking: call it from the blocking pool. On failure the interaction is not kept.
    pub fn append(
        &self,
        mut interaction: Interaction,
        redaction: &Redaction,
        live_secrets: &[String],
    ) -> Result<usize, RecordError> {
        let mut recorded = self.recorded.lock().unwrap_or_else(|e| e.into_inner());
        let Recorded {
            cassette,
            placeholders,
        } = &mut *recorded;
        // Under the lock: placeholders are numbered in the order interactions are written.
        redaction.apply(&mut interaction, placeholders);
        cassette.interactions.push(interaction);
        let index = cassette.interactions.len() - 1;
        let bytes = cassette.to_json();
        let written = scan(&bytes, live_secrets)
            .map_err(|source| RecordError::Secret {
                path: self.path.clone(),
                source,
            })
            .and_then(|()| {
                write_atomically(&self.path, &bytes).map_err(|source| RecordError::Io {
                    path: self.path.clone(),
                    source,
                })
            });
        if written.is_err() {
            cassette.interactions.pop();
        }
        written.map(|()| index)
    }
}

/// Temporary file, fsync, rename, fsync of the folder: readers see the old file or the new
/// one, never a part of either.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("cassette");
    let temporary = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        TEMPORARY_FILES.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}
