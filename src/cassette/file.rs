//! A cassette file on disk, read whole, with errors that say what to do about a missing or
//! broken one.
//!
//! Replacing a cassette whole, so that readers never see a part, is `durable::replace`'s. This
//! module does not decide when a cassette is written (`recorder.rs`, `recovery.rs`, `check.rs`)
//! nor what it holds (`format.rs`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::format::{Cassette, FormatError};
use crate::durable::folder_of;

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
    read_cassette_and_bytes(path).map(|(cassette, _)| cassette)
}

/// Reads and parses one cassette file, keeping the bytes it was read from.
pub fn read_cassette_and_bytes(path: &Path) -> Result<(Cassette, Vec<u8>), LoadError> {
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
    let cassette = Cassette::from_json(&bytes).map_err(|source| LoadError::Format {
        path: path.to_owned(),
        source,
    })?;
    Ok((cassette, bytes))
}
