//! The recording journal: `<cassette>.journal`, JSON Lines beside the cassette file, where each
//! recorded interaction becomes durable by one append instead of a rewrite of the cassette.
//!
//! The first line says what the entries continue ([`Base`]); each further line is one
//! interaction with its index in the cassette. An index written again is the same interaction
//! with a higher `repeat`: the same answer given once more. Writers are serialised by the
//! recorder, which owns when the journal starts and ends. The file is a durable
//! [`AppendLog`]: syncs are shared, so concurrent recordings wait for one `fdatasync`, not one
//! each, and a live journal is locked, so a second process cannot write or fold it. This
//! module owns the lines; it does not merge a journal into its cassette (`recovery.rs`) nor
//! redact (`redact.rs`).

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::format::Interaction;
use crate::durable::{self, AppendLog};

/// The journal's format version, in its first line.
const JOURNAL_VERSION: u32 = 1;

/// What a journal's entries continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Base {
    /// A new cassette: record mode replaces the file, so what it holds does not count.
    Fresh,
    /// The cassette file as it is (empty when there is none).
    File,
}

/// The first line.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    ssm_vcr_journal: u32,
    base: Base,
}

/// A line after the first, as written.
#[derive(Serialize)]
struct Entry<'a> {
    index: usize,
    interaction: &'a Interaction,
}

/// A line after the first, as read back.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadEntry {
    index: usize,
    interaction: Interaction,
}

/// The journal of the cassette file `cassette`.
pub fn path_of(cassette: &Path) -> PathBuf {
    let mut name = cassette.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// The line that records `interaction` at `index`, newline included.
pub(super) fn entry_line(index: usize, interaction: &Interaction) -> Vec<u8> {
    let mut line = serde_json::to_vec(&Entry { index, interaction })
        .expect("an interaction always serializes");
    line.push(b'\n');
    line
}

/// An open journal that this process writes.
#[derive(Debug)]
pub(super) struct Journal(AppendLog);

impl Journal {
    /// Starts the journal at `path`, replacing any: its header and `entries` (each with its
    /// index in the cassette) are durable, and the file locked, when this returns. `check_lock`
    /// refuses to replace a journal that another process holds.
    pub(super) fn start<I>(
        path: &Path,
        base: Base,
        entries: &[(usize, I)],
        check_lock: bool,
    ) -> io::Result<Self>
    where
        I: AsRef<Interaction>,
    {
        if check_lock {
            durable::check_unlocked(path).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::ResourceBusy,
                    "another ssm-vcr process is recording into this cassette",
                )
            })?;
        }
        let mut bytes = serde_json::to_vec(&Header {
            ssm_vcr_journal: JOURNAL_VERSION,
            base,
        })
        .expect("a header always serializes");
        bytes.push(b'\n');
        for (index, interaction) in entries {
            bytes.extend_from_slice(&entry_line(*index, interaction.as_ref()));
        }
        AppendLog::create(path, &bytes).map(Self)
    }

    /// Appends one line; returns where it ends, for [`Self::sync_through`]. The caller
    /// serialises appends. After a failure the journal must not be written again: part of the
    /// line may be in the file.
    pub(super) fn append(&self, line: &[u8]) -> io::Result<u64> {
        self.0.append(line)
    }

    /// Returns once everything up to `end` is on disk; once a sync fails, every later call
    /// fails too.
    pub(super) fn sync_through(&self, end: u64) -> io::Result<()> {
        self.0.sync_through(end)
    }
}

/// Removes the journal at `path`, durably; none there is fine.
pub(super) fn remove(path: &Path) -> io::Result<()> {
    durable::remove(path)
}

/// A journal left behind, read back whole.
#[derive(Debug)]
pub(super) struct Leftover {
    /// Held until the journal is folded and removed, so no other process folds it too.
    pub(super) log: AppendLog,
    /// What the entries continue; `None` when not even the header was written whole.
    pub(super) base: Option<Base>,
    /// The entries, in the order written.
    pub(super) entries: Vec<(usize, Interaction)>,
    /// Bytes of a last line that was cut short: never acknowledged, as it was never synced.
    pub(super) torn_bytes: usize,
}

/// Why a journal left behind cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// It could not be opened or read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The journal.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A running proxy is writing it.
    #[error("{} is being written by another ssm-vcr process", path.display())]
    Locked {
        /// The journal.
        path: PathBuf,
    },
    /// A whole line that is not what this build writes.
    #[error("{} line {line} is not a journal line of this build: {reason}", path.display())]
    Broken {
        /// The journal.
        path: PathBuf,
        /// From 1.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Reads the journal at `path`, locking it; `None` when there is none.
pub(super) fn read_leftover(path: &Path) -> Result<Option<Leftover>, ReadError> {
    let io_error = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let log = match AppendLog::open_existing(path) {
        Ok(Some(log)) => log,
        Ok(None) => return Ok(None),
        Err(durable::OpenError::Locked { .. }) => {
            return Err(ReadError::Locked {
                path: path.to_owned(),
            });
        }
        Err(durable::OpenError::Io { source, .. }) => return Err(io_error(source)),
    };
    let bytes = log.read_all().map_err(io_error)?;
    // Lines are written whole, one `write` each: only the last can be cut short.
    let (whole, torn_bytes) = durable::whole_lines(&bytes);
    let mut lines = whole[..whole.len().saturating_sub(1)]
        .split(|&b| b == b'\n')
        .take_while(|_| !whole.is_empty())
        .enumerate();
    let broken = |line: usize, reason: String| ReadError::Broken {
        path: path.to_owned(),
        line: line + 1,
        reason,
    };
    let base = match lines.next() {
        None => None,
        Some((number, line)) => {
            let header: Header =
                serde_json::from_slice(line).map_err(|e| broken(number, e.to_string()))?;
            if header.ssm_vcr_journal != JOURNAL_VERSION {
                return Err(broken(
                    number,
                    format!(
                        "version {} (this build writes {JOURNAL_VERSION})",
                        header.ssm_vcr_journal
                    ),
                ));
            }
            Some(header.base)
        }
    };
    let entries = lines
        .map(|(number, line)| {
            serde_json::from_slice::<ReadEntry>(line)
                .map(|entry| (entry.index, entry.interaction))
                .map_err(|e| broken(number, e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(Leftover {
        log,
        base,
        entries,
        torn_bytes,
    }))
}
