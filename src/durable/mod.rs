//! Durable files: the one place that makes the audit log, the recording journals and the
//! cassette files survive a crash or a power cut.
//!
//! [`AppendLog`] is an append-only file of whole lines, locked against every other process,
//! whose lines are on disk once [`AppendLog::sync_through`] returns. Syncs are shared:
//! whoever syncs makes every line written before it durable, so concurrent writers wait for one
//! `fdatasync`, not one each; `batch` forms the batches of a writer thread that waits for
//! them to fill (the audit log's group commit). A line cut short by a crash was never
//! acknowledged (its sync never returned): [`whole_lines`] tells it from the rest, and
//! [`AppendLog::cut_to`] takes it off. A failed write or sync is rolled back to what is known
//! to be on disk.
//!
//! **Preallocation**, which a log's owner may turn on ([`AppendLog::preallocate`]). An
//! `fdatasync` after an append must also write the inode, as the file grew; one after
//! overwriting bytes already inside the file writes the data alone (`scripts/fsync-cost`). So
//! a preallocating log grows its file with zeros ahead of its lines, and lines overwrite them:
//! the replay bench's audited server answers 1.36× as many calls with it at 1 connection, 1.19×
//! at 32 (docs/BENCHMARKS.md). The zeros are not part of the log: they are cut off by
//! [`AppendLog::close`] and before a rotation, and by the owner at start-up after a crash.
//! Preallocation is best effort: once the disk refuses the zeros, lines are appended.
//!
//! [`replace`] writes a file whole, so that readers see the old one or the new one and never a
//! part of either; [`remove`] removes one durably. What the lines or files say is their
//! owners' (`audit/`, `cassette/`).

pub mod batch;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Temporary files made by this process so far, for unique names.
static TEMPORARY_FILES: AtomicU64 = AtomicU64::new(0);

/// An open append-only file of lines that this process alone writes.
#[derive(Debug)]
pub struct AppendLog {
    path: PathBuf,
    file: File,
    /// Where the written bytes end.
    written: AtomicU64,
    /// How far the file is known to be on disk, and whether a sync failed since.
    synced: Mutex<Synced>,
    /// Where the file ends, zeros included, and how far ahead it is grown; appends are
    /// serialised by the caller, so this lock is never contended.
    allocation: Mutex<Allocation>,
}

#[derive(Debug, Default)]
struct Allocation {
    /// The file's length: past `written` it holds zeros.
    end: u64,
    /// The step the file is grown by; 0 when it is not.
    step: u64,
}

#[derive(Debug, Default)]
struct Synced {
    through: u64,
    /// After a failed sync nothing written may be called durable again, as the kernel may
    /// have dropped the unsynced pages, until the file is rolled back to `through`.
    failed: bool,
}

/// Why a log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process holds its lock.
    #[error("{} is in use by another process", path.display())]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// It could not be opened or read.
    #[error("cannot open {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// The whole lines of `bytes`, and how many bytes follow the last newline.
pub fn whole_lines(bytes: &[u8]) -> (&[u8], usize) {
    let whole = bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |end| end + 1);
    (&bytes[..whole], bytes.len() - whole)
}

impl AppendLog {
    /// Opens the log at `path`, creating it and its folder if need be, and locks it.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        fs::create_dir_all(folder_of(path)).map_err(|e| io_error(path, e))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| io_error(path, e))?;
        Self::locked(path, file)
    }

    /// Opens and locks the log at `path` if there is one.
    pub fn open_existing(path: &Path) -> Result<Option<Self>, OpenError> {
        match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => Self::locked(path, file).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(path, e)),
        }
    }

    /// Creates the log at `path` holding `lines`, replacing any, durably and whole: a crash
    /// leaves the old file or the new one. The old one is not asked for its lock
    /// ([`check_unlocked`]): its owner may be replacing it.
    pub fn create(path: &Path, lines: &[u8]) -> io::Result<Self> {
        let dir = folder_of(path);
        fs::create_dir_all(dir)?;
        let temporary = temporary_beside(path);
        let created = (|| {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&temporary)?;
            // The lock belongs to the file, so it moves with the rename.
            file.try_lock().map_err(io::Error::other)?;
            file.write_all(lines)?;
            file.sync_data()?;
            fs::rename(&temporary, path)?;
            sync_folder(dir)?;
            Ok(file)
        })();
        match created {
            Ok(file) => Ok(Self::new(path, file, lines.len() as u64)),
            Err(e) => {
                let _ = fs::remove_file(&temporary);
                Err(e)
            }
        }
    }

    fn locked(path: &Path, file: File) -> Result<Self, OpenError> {
        file.try_lock().map_err(|_| OpenError::Locked {
            path: path.to_owned(),
        })?;
        let len = file.metadata().map_err(|e| io_error(path, e))?.len();
        Ok(Self::new(path, file, len))
    }

    fn new(path: &Path, file: File, len: u64) -> Self {
        Self {
            path: path.to_owned(),
            file,
            written: AtomicU64::new(len),
            synced: Mutex::new(Synced {
                through: len,
                failed: false,
            }),
            allocation: Mutex::new(Allocation { end: len, step: 0 }),
        }
    }

    /// Grows the file by `step` bytes of zeros at a time ahead of its lines (see the module
    /// docs); 0 turns it off.
    pub fn preallocate(&self, step: u64) {
        self.allocation().step = step;
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the written bytes end.
    pub fn len(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Reads the whole file.
    pub fn read_all(&self) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let mut file = &self.file;
        file.seek(SeekFrom::Start(0))?;
        file.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// Cuts the file to `len` bytes, durably: the repair of a torn tail.
    pub fn cut_to(&self, len: u64) -> io::Result<()> {
        let mut synced = self.synced();
        self.file.set_len(len)?;
        self.allocation().end = len;
        self.file.sync_data()?;
        self.written.store(len, Ordering::Release);
        *synced = Synced {
            through: len,
            failed: false,
        };
        Ok(())
    }

    /// Appends `lines` (whole lines, one `write`); returns where they end, for
    /// [`Self::sync_through`]. The caller serialises appends.
    pub fn append(&self, lines: &[u8]) -> io::Result<u64> {
        let start = self.written.load(Ordering::Relaxed);
        let end = start + lines.len() as u64;
        self.preallocate_to(end);
        self.write_at(lines, start)?;
        self.written.store(end, Ordering::Release);
        Ok(end)
    }

    /// Grows the file with zeros past `end`, unless it already reaches it. The zeros reach the
    /// disk with the lines' own sync. On a refusal (a full disk, a file size limit) the file is
    /// left as it was and lines are appended from then on: the zeros are an optimisation, not
    /// worth writing and cutting off again before every append.
    fn preallocate_to(&self, end: u64) {
        let mut allocation = self.allocation();
        if allocation.step == 0 || end <= allocation.end {
            return;
        }
        let target = end.next_multiple_of(allocation.step);
        match self.write_at(&vec![0; (target - end) as usize], end) {
            Ok(()) => allocation.end = target,
            Err(_) => {
                let _ = self.file.set_len(allocation.end.max(self.len()));
                allocation.step = 0;
            }
        }
    }

    /// Cuts preallocated zeros off, durably, so that the file is plain lines again.
    fn release_preallocation(&self) -> io::Result<()> {
        let len = self.len();
        let mut allocation = self.allocation();
        if allocation.end > len {
            self.file.set_len(len)?;
            self.file.sync_data()?;
            allocation.end = len;
        }
        Ok(())
    }

    /// Cuts preallocated zeros off and releases the file; the lines stay.
    pub fn close(self) -> io::Result<()> {
        self.release_preallocation()
    }

    /// Returns once everything up to `end` is on disk: the caller syncs, unless a sync that
    /// began after its bytes were written has already returned. Once a sync fails, every later
    /// call fails too, until [`Self::roll_back`].
    pub fn sync_through(&self, end: u64) -> io::Result<()> {
        let mut synced = self.synced();
        if synced.failed {
            return Err(io::Error::other("an earlier sync of this file failed"));
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

    /// Takes off everything not known to be on disk, so that the file ends on the last whole
    /// line that was synced, and lets it be written again.
    pub fn roll_back(&self) -> io::Result<()> {
        let through = self.synced().through;
        self.cut_to(through)
    }

    /// Moves the file aside to `to` and goes on in a new, empty file at the old path, locked
    /// as the old one was; the rename is durable when this returns.
    pub fn rotate(&mut self, to: &Path) -> io::Result<()> {
        self.release_preallocation()?;
        fs::rename(&self.path, to)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&self.path)?;
        file.try_lock()
            .map_err(|_| io::Error::other("the new file is locked by another process"))?;
        let step = self.allocation().step;
        *self = Self::new(&self.path, file, 0);
        self.preallocate(step);
        sync_folder(folder_of(&self.path))
    }

    /// Fills `buffer` from `offset`.
    pub fn read_at(&self, buffer: &mut [u8], offset: u64) -> io::Result<()> {
        let mut file = &self.file;
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(buffer)
    }

    /// Writes all of `bytes` at `offset`. Appends are serialised by the caller and reads happen
    /// only before them, so a seek and a write stand for a positioned write on every platform.
    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        let mut file = &self.file;
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(bytes)
    }

    fn synced(&self) -> MutexGuard<'_, Synced> {
        self.synced.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn allocation(&self) -> MutexGuard<'_, Allocation> {
        self.allocation.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Fails with [`io::ErrorKind::ResourceBusy`] when an [`AppendLog`] of another process, or
/// another one of this process, holds the file at `path`.
pub fn check_unlocked(path: &Path) -> io::Result<()> {
    match File::open(path) {
        Ok(existing) => existing
            .try_lock()
            .map_err(|_| io::Error::new(io::ErrorKind::ResourceBusy, "another process holds it")),
        Err(_) => Ok(()),
    }
}

/// Writes `bytes` as the file at `path`, whole: a temporary file beside it, synced, renamed
/// over it, and the rename synced. Readers see the old file or the new one, never a part.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = folder_of(path);
    fs::create_dir_all(dir)?;
    let temporary = temporary_beside(path);
    let replaced = (|| {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        sync_folder(dir)
    })();
    if replaced.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    replaced
}

/// Removes the file at `path`, durably; none there is fine.
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_folder(folder_of(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// The folder `path` is in, `.` for a bare file name.
pub fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Makes a rename or a removal in `dir` durable.
fn sync_folder(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A name for a temporary file beside `path`, unique in this process, hidden, and ending in
/// `.tmp` so that no reader of the folder takes it for the real file.
fn temporary_beside(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    folder_of(path).join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        TEMPORARY_FILES.fetch_add(1, Ordering::Relaxed)
    ))
}

fn io_error(path: &Path, source: io::Error) -> OpenError {
    OpenError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_found_and_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, b"one\ntwo\nthr").unwrap();
        let log = AppendLog::open(&path).unwrap();
        let bytes = log.read_all().unwrap();
        let (whole, torn_bytes) = whole_lines(&bytes);
        assert_eq!((whole, torn_bytes), (&b"one\ntwo\n"[..], 3));
        log.cut_to(whole.len() as u64).unwrap();
        let end = log.append(b"three\n").unwrap();
        log.sync_through(end).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one\ntwo\nthree\n");
    }

    #[test]
    fn a_second_opener_is_refused_while_the_first_holds_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let _held = AppendLog::open(&path).unwrap();
        assert!(matches!(
            AppendLog::open(&path),
            Err(OpenError::Locked { .. })
        ));
        let busy = check_unlocked(&path).unwrap_err();
        assert_eq!(busy.kind(), io::ErrorKind::ResourceBusy);
    }

    #[test]
    fn rolling_back_drops_what_was_not_synced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let log = AppendLog::create(&path, b"kept\n").unwrap();
        log.append(b"unsynced\n").unwrap();
        log.roll_back().unwrap();
        assert_eq!(log.len(), 5);
        assert_eq!(std::fs::read(&path).unwrap(), b"kept\n");
    }

    #[test]
    fn a_preallocated_log_is_plain_lines_once_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let log = AppendLog::open(&path).unwrap();
        log.preallocate(4096);
        let end = log.append(b"one\n").unwrap();
        log.sync_through(end).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096);
        let end = log.append(b"two\n").unwrap();
        log.sync_through(end).unwrap();
        log.close().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one\ntwo\n");
    }

    #[test]
    fn a_replaced_file_leaves_no_temporary_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cassette.json");
        replace(&path, b"old").unwrap();
        replace(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
