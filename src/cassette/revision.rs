//! A cassette file as it was at a git revision, for `cassette diff --git REV`.
//!
//! Runs the `git` of the machine in the file's own folder, so a path means what it means to the
//! shell, relative or absolute. This module reads history; it never changes a work tree.

use std::path::Path;
use std::process::Command;

use super::format::{Cassette, FormatError};

/// Why a cassette could not be read at a revision.
#[derive(Debug, thiserror::Error)]
pub enum RevisionError {
    /// git could not be run, or refused (no repository, unknown revision).
    #[error("git cannot show {path} at {revision}: {reason}")]
    Git {
        /// The file.
        path: String,
        /// The revision asked for.
        revision: String,
        /// git's own words.
        reason: String,
    },
    /// The file at that revision is not a cassette this build reads.
    #[error("{path} at {revision}")]
    Format {
        /// The file.
        path: String,
        /// The revision.
        revision: String,
        /// What is wrong.
        #[source]
        source: FormatError,
    },
}

/// The cassette at `path` as of `revision`; `None` when the file did not exist then.
pub fn cassette_at(revision: &str, path: &Path) -> Result<Option<Cassette>, RevisionError> {
    let shown = path.display().to_string();
    let failed = |reason: String| RevisionError::Git {
        path: shown.clone(),
        revision: revision.to_owned(),
        reason,
    };
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| failed("it is not a file".to_owned()))?;
    let output = Command::new("git")
        .arg("-C")
        .arg(folder)
        .arg("show")
        .arg(format!("{revision}:./{}", name.to_string_lossy()))
        .output()
        .map_err(|e| failed(format!("git did not run ({e})")))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        // git's words for a path the revision lacks, whether or not it is on disk now.
        if said.contains("does not exist in") || said.contains("exists on disk, but not in") {
            return Ok(None);
        }
        return Err(failed(said));
    }
    Cassette::from_json(&output.stdout)
        .map(Some)
        .map_err(|source| RevisionError::Format {
            path: shown.clone(),
            revision: revision.to_owned(),
            source,
        })
}
