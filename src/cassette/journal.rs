//! The recording journal: `<cassette>.journal`, JSON Lines beside the cassette file, where each
//! recorded interaction becomes durable by one append instead of a rewrite of the cassette.
//!
//! The first line says what the entries continue ([`Base`]); each further line is one
//! interaction with its index in the cassette. An index written again is the same interaction
//! with a higher `repeat`: the same answer given once more. Writers are serialised by the recorder, which
//! owns when the journal starts and ends; syncs are shared: whoever syncs makes every line
//! written before it durable, so concurrent recordings wait for one `fdatasync`, not one
//! each. A live journal is locked (`flock`), so a second process cannot write or fold it. This
//! module does not merge a journal into its cassette (`recovery.rs`) nor redact (`redact.rs`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::file::{folder_of, sync_folder, temporary_beside};
use super::format::Interaction;

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
pub(super) struct Journal {
    file: File,
    /// Where the written lines end.
    written: AtomicU64,
    /// How far the file is known to be on disk, and whether a sync failed, after which
    /// nothing written to it may be called durable again.
    synced: Mutex<Synced>,
}

#[derive(Debug, Default)]
struct Synced {
    through: u64,
    failed: bool,
}

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
        if check_lock && let Ok(existing) = File::open(path) {
            existing.try_lock().map_err(|_| {
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
        let temporary = temporary_beside(path);
        let started = (|| {
            fs::create_dir_all(folder_of(path))?;
            let mut file = OpenOptions::new()
                .append(true)
                .create_new(true)
                .open(&temporary)?;
            // The lock belongs to the file, so it moves with the rename.
            file.try_lock().map_err(io::Error::other)?;
            file.write_all(&bytes)?;
            file.sync_data()?;
            fs::rename(&temporary, path)?;
            sync_folder(folder_of(path))?;
            Ok(file)
        })();
        match started {
            Ok(file) => {
                let len = bytes.len() as u64;
                Ok(Self {
                    file,
                    written: AtomicU64::new(len),
                    synced: Mutex::new(Synced {
                        through: len,
                        failed: false,
                    }),
                })
            }
            Err(e) => {
                let _ = fs::remove_file(&temporary);
                Err(e)
            }
        }
    }

    /// Appends one line; returns where it ends, for [`Self::sync_through`]. The caller
    /// serialises appends. After a failure the journal must not be written again: part of the
    /// line may be in the file.
    pub(super) fn append(&self, line: &[u8]) -> io::Result<u64> {
        (&self.file).write_all(line)?;
        let end = self.written.load(Ordering::Relaxed) + line.len() as u64;
        self.written.store(end, Ordering::Release);
        Ok(end)
    }

    /// Returns once everything up to `end` is on disk: the caller syncs, unless a sync that
    /// began after its line was written has already returned. Once a sync fails, every later
    /// call fails too, as the kernel may have dropped the unsynced pages.
    pub(super) fn sync_through(&self, end: u64) -> io::Result<()> {
        let mut synced = self.synced.lock().unwrap_or_else(|e| e.into_inner());
        if synced.failed {
            return Err(io::Error::other("an earlier sync of this journal failed"));
        }
        if synced.through >= end {
            return Ok(());
        }
        let target = self.written.load(Ordering::Acquire);
        match self.file.sync_data() {
            Ok(()) => {
                synced.through = target;
                Ok(())
            }
            Err(e) => {
                synced.failed = true;
                Err(e)
            }
        }
    }
}

/// Removes the journal at `path`, durably; none there is fine.
pub(super) fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_folder(folder_of(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A journal left behind, read back whole.
#[derive(Debug)]
pub(super) struct Leftover {
    /// Held until the journal is folded and removed, so no other process folds it too.
    pub(super) file: File,
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
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(e)),
    };
    file.try_lock().map_err(|_| ReadError::Locked {
        path: path.to_owned(),
    })?;
    let mut bytes = Vec::new();
    (&file).read_to_end(&mut bytes).map_err(io_error)?;
    // Lines are written whole, one `write` each: only the last can be cut short.
    let whole = bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |end| end + 1);
    let torn_bytes = bytes.len() - whole;
    let mut lines = bytes[..whole.saturating_sub(1)]
        .split(|&b| b == b'\n')
        .take_while(|_| whole > 0)
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
        file,
        base,
        entries,
        torn_bytes,
    }))
}
