//! A cassette file on disk: read whole, or replaced whole so that readers never see a part.
//!
//! This module does not decide when a cassette is written (`recorder.rs`, `recovery.rs`,
//! `check.rs`) nor what it holds (`format.rs`).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::format::{Cassette, FormatError};

/// Distinguishes temporary files of concurrent writers in one process.
static TEMPORARY_FILES: AtomicU64 = AtomicU64::new(0);

/// Why a cassette file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No file at the expected path.
    #[error("no cassette file at {}; {}", path.display(), listing(others.as_deref()))]
    NotFound {
        /// Where it was looked for.
        path: PathBuf,
        /// The cassettes its folder holds, by name, so that a typo shows; `None` when the
        /// folder cannot be read.
        others: Option<Vec<String>>,
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
    #[error("{}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: FormatError,
    },
}

/// How many cassette names a missing cassette's message lists.
const MAX_LISTED_CASSETTES: usize = 20;

/// The names of the cassettes in `dir`, sorted; `None` when it cannot be read.
fn cassettes_in(dir: &Path) -> Option<Vec<String>> {
    let mut names: Vec<String> = (fs::read_dir(dir).ok()?.filter_map(Result::ok))
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".json")?;
            (!stem.is_empty() && !stem.starts_with('.')).then(|| stem.to_owned())
        })
        .collect();
    names.sort_unstable();
    Some(names)
}

/// What a missing cassette's message says of its folder.
fn listing(others: Option<&[String]>) -> String {
    match others {
        None => "its folder cannot be read".to_owned(),
        Some([]) => "its folder holds no cassette".to_owned(),
        Some(names) => {
            let shown = &names[..names.len().min(MAX_LISTED_CASSETTES)];
            let more = match names.len() - shown.len() {
                0 => String::new(),
                more => format!(" and {more} more"),
            };
            format!("the cassettes in its folder are {}{more}", shown.join(", "))
        }
    }
}

/// Reads and parses one cassette file.
pub fn read_cassette(path: &Path) -> Result<Cassette, LoadError> {
    let bytes = fs::read(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => LoadError::NotFound {
            path: path.to_owned(),
            others: cassettes_in(folder_of(path)),
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

/// The folder `path` is in, `.` for a bare file name.
pub(super) fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// A name for a temporary file beside `path`, unique in this process.
pub(super) fn temporary_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("cassette");
    folder_of(path).join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        TEMPORARY_FILES.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Makes a rename or a removal in `dir` durable.
pub(super) fn sync_folder(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Temporary file, fsync, rename, fsync of the folder: readers see the old file or the new
/// one, never a part of either.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = folder_of(path);
    fs::create_dir_all(dir)?;
    let temporary = temporary_beside(path);
    let result = (|| {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        sync_folder(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}
