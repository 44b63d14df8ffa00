//! When the writer issues checkpoints, and where each one goes.
//!
//! With `audit.signing_key` set, the writer keeps the Merkle tree of every record
//! ([`Frontier`], O(log n)), rebuilt from the log's files at start-up, and issues a checkpoint
//! of it every `checkpoint_every` records, every `checkpoint_interval_ms` (also while idle: a
//! heartbeat, so that silence is attested) and at shutdown. A checkpoint goes:
//!
//! - into the log, as a `checkpoint` record written in the same batch (one fsync) as the
//!   records it covers, and itself covered by the next one;
//! - to the sidecar `<log>.checkpoint`, replaced whole once the log's batch is durable, by a
//!   thread of its own, at most once a second ([`SIDECAR_GAP`]): its two fsyncs would otherwise
//!   hold up the batches behind it and share the disk with them 50 times a second under load,
//!   and only the latest checkpoint is worth copying (the log holds every one);
//! - to the operational log, as one line (`audit checkpoint`) that log shippers collect;
//! - to [`LatestCheckpoint`], which `GET /__ssm-vcr/audit/checkpoint` and the metrics read.
//!
//! This module does not write the log (the writer does), nor check checkpoints (`anchor`).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tracing::{error, info};

use super::checkpoint::Checkpoint;
use super::files::{chain_of, written_part};
use super::keys::SigningKey;
use super::merkle::{Frontier, Hash, leaf_hash};
use super::open_error::OpenError;
use super::record::{Draft, Event, Record, now, unseal};
use crate::durable;

/// `[audit]`'s checkpoint settings, with the key read.
#[derive(Debug)]
pub struct CheckpointPolicy {
    /// The key that signs them.
    pub key: SigningKey,
    /// Records between two checkpoints at most.
    pub every: u64,
    /// Time between two checkpoints at most, idle or not.
    pub interval: Duration,
    /// The origin line; `None`: `<host name>/ssm-vcr/<log file name>`.
    pub origin: Option<String>,
}

/// The latest checkpoint issued, shared with whoever serves it.
#[derive(Debug, Clone, Default)]
pub struct LatestCheckpoint(Arc<Mutex<Option<Issued>>>);

/// A checkpoint as it was issued.
#[derive(Debug, Clone, PartialEq)]
pub struct Issued {
    /// The signed note.
    pub note: String,
    /// Its tree size.
    pub size: u64,
    /// When it was issued, in seconds since the Unix epoch.
    pub unix_seconds: f64,
}

impl LatestCheckpoint {
    /// The latest checkpoint, if one was issued since start-up.
    pub fn get(&self) -> Option<Issued> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, issued: Issued) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(issued);
    }
}

/// The `detail` of the checkpoint a proxy issues as it stops: what tells a verifier that a
/// silence after it is a stopped proxy, not a silenced one.
pub const SHUTDOWN: &str = "at shutdown";

/// Why a checkpoint is issued, as its record's `detail` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason {
    Count,
    Interval,
    Shutdown,
}

/// The tree, the policy and where checkpoints go; owned by the writer thread.
#[derive(Debug)]
pub(super) struct Checkpointer {
    policy: CheckpointPolicy,
    origin: String,
    tree: Frontier,
    /// Records since the last checkpoint (or start-up).
    since: u64,
    last: Instant,
    sidecar: Sidecar,
    latest: LatestCheckpoint,
}

/// A checkpoint drafted into a batch, issued once the batch is durable.
#[derive(Debug)]
pub(super) struct Drafted {
    note: String,
    size: u64,
}

/// `<log>.checkpoint`: the latest checkpoint, beside the log.
pub fn sidecar_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".checkpoint");
    PathBuf::from(name)
}

impl Checkpointer {
    /// Rebuilds the tree from every record of the log at `path` (its rotated files first),
    /// which must hold `records` records from seq 1.
    pub(super) fn open(
        path: &Path,
        policy: CheckpointPolicy,
        latest: LatestCheckpoint,
        records: u64,
    ) -> Result<Self, OpenError> {
        let tree = rebuild(path, records)?;
        let origin = (policy.origin.clone())
            .unwrap_or_else(|| format!("{}/ssm-vcr/{}", hostname(), file_name(path)));
        Ok(Self {
            policy,
            origin,
            tree,
            since: 0,
            last: Instant::now(),
            sidecar: Sidecar::spawn(sidecar_path(path))?,
            latest,
        })
    }

    /// The tree as durable records make it.
    pub(super) fn tree(&self) -> &Frontier {
        &self.tree
    }

    /// When the next checkpoint falls due if no record comes.
    pub(super) fn due_at(&self) -> Instant {
        self.last + self.policy.interval
    }

    /// Puts the next heartbeat an interval from now, after one could not be written.
    pub(super) fn postpone(&mut self) {
        self.last = Instant::now();
    }

    /// Whether a checkpoint is due once `added` more records are written.
    pub(super) fn due(&self, added: u64) -> Option<Reason> {
        if self.since + added >= self.policy.every {
            Some(Reason::Count)
        } else if Instant::now() >= self.due_at() {
            Some(Reason::Interval)
        } else {
            None
        }
    }

    /// Signs the head of `tree` and makes its record, to be sealed after the records it covers.
    pub(super) fn draft(&self, tree: &Frontier, reason: Reason) -> (Draft, Drafted) {
        let time = now();
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size: tree.size(),
            root: tree.root(),
            time: time.clone(),
            heartbeat_ms: u64::try_from(self.policy.interval.as_millis()).unwrap_or(u64::MAX),
        };
        let note = checkpoint.sign(&self.policy.key);
        let detail = match reason {
            Reason::Count => format!("every {} records", self.policy.every),
            Reason::Interval => format!("every {} ms", checkpoint.heartbeat_ms),
            Reason::Shutdown => SHUTDOWN.to_owned(),
        };
        let peaks = tree.peaks().iter().map(|peak| BASE64.encode(peak).into());
        let record = Record {
            time: time.into(),
            event: Event::Checkpoint,
            detail: Some(detail.into()),
            checkpoint: Some(note.as_str().into()),
            tree: Some(peaks.collect()),
            ..Record::default()
        }
        .into_draft();
        let drafted = Drafted {
            size: checkpoint.size,
            note,
        };
        (record, drafted)
    }

    /// Takes the tree of a durable batch, and issues its checkpoint, if it drafted one.
    pub(super) fn written(&mut self, tree: Frontier, added: u64, drafted: Option<Drafted>) {
        self.tree = tree;
        self.since += added;
        let Some(Drafted { note, size }) = drafted else {
            return;
        };
        // The checkpoint record itself counts towards the next one.
        self.since = 1;
        self.last = Instant::now();
        self.sidecar.offer(note.clone());
        info!(
            checkpoint = note.as_str(),
            size,
            origin = self.origin.as_str(),
            "audit checkpoint"
        );
        let unix_seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.latest.set(Issued {
            note,
            size,
            unix_seconds,
        });
    }
}

/// The least time between two writes of the sidecar file; the last is written at shutdown.
pub const SIDECAR_GAP: Duration = Duration::from_secs(1);

/// The thread that writes the latest checkpoint to `<log>.checkpoint`, skipping any that a
/// newer one replaced while it wrote; dropping it waits for the last offered to be written.
#[derive(Debug)]
struct Sidecar {
    next: Arc<(Mutex<SidecarState>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct SidecarState {
    note: Option<String>,
    closed: bool,
}

impl Sidecar {
    fn spawn(path: PathBuf) -> Result<Self, OpenError> {
        let next = Arc::new((Mutex::new(SidecarState::default()), Condvar::new()));
        let (shared, file) = (Arc::clone(&next), path.clone());
        let thread = std::thread::Builder::new()
            .name("audit-sidecar".to_owned())
            .spawn(move || write_sidecar(&file, &shared))
            .map_err(|source| OpenError::Io { path, source })?;
        Ok(Self {
            next,
            thread: Some(thread),
        })
    }

    fn offer(&self, note: String) {
        let (state, wake) = &*self.next;
        state.lock().unwrap_or_else(|e| e.into_inner()).note = Some(note);
        wake.notify_one();
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let (state, wake) = &*self.next;
        state.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_sidecar(path: &Path, next: &(Mutex<SidecarState>, Condvar)) {
    let (state, wake) = next;
    loop {
        let note = {
            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
            while state.note.is_none() && !state.closed {
                state = wake.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            match state.note.take() {
                Some(note) => note,
                None => return, // closed, and the last one written
            }
        };
        if let Err(e) = durable::replace(path, note.as_bytes()) {
            error!(error = %e, path = %path.display(), "could not write the audit checkpoint's sidecar file");
        }
        let rested = state.lock().unwrap_or_else(|e| e.into_inner());
        let _ = wake.wait_timeout_while(rested, SIDECAR_GAP, |state| !state.closed);
    }
}

/// The tree of every record of the log at `path`, which must hold `records` from seq 1.
///
/// It continues from the last checkpoint record that carries the tree's right edge, reading
/// the files from the newest back to the one that holds it; a log with none is read whole.
fn rebuild(path: &Path, records: u64) -> Result<Frontier, OpenError> {
    let broken = |file: &Path, reason: String| OpenError::Broken {
        path: file.to_owned(),
        reason,
    };
    // Newest first, up to the file with a checkpoint to continue from.
    let mut read: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut resumed = None;
    for file in chain_of(path).into_iter().rev() {
        let bytes = match fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(OpenError::Io { path: file, source }),
        };
        let found = last_resumable(written_part(&bytes));
        read.push((file, bytes));
        if let Some(found) = found {
            resumed = Some(found);
            break;
        }
    }
    let (mut tree, mut from) = resumed.unwrap_or_default();
    for (file, bytes) in read.iter().rev() {
        let lines = &written_part(bytes)[std::mem::take(&mut from)..];
        for line in lines.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
            if tree.size() == 0 {
                let first = unseal(line).map_err(|e| broken(file, e.to_string()))?.0;
                if first.seq != 1 {
                    return Err(broken(
                        file,
                        format!(
                            "checkpoints cover the log from its first record, and its oldest file \
                             begins at seq {} with no checkpoint after it to continue from: put the \
                             rotated files before it back beside it, or start a new log",
                            first.seq
                        ),
                    ));
                }
            }
            tree.push(leaf_hash(line));
        }
    }
    if tree.size() != records {
        return Err(broken(
            path,
            format!(
                "its files hold {} records but its last is seq {records}: run `ssm-vcr audit verify` on it",
                tree.size()
            ),
        ));
    }
    Ok(tree)
}

/// The last checkpoint record of `written` whose tree's edge hashes to its signed root, as the
/// tree before it and the offset of its line (the first line still to add). Searched from the
/// end, so a log read back to its last checkpoint costs what follows that checkpoint.
fn last_resumable(written: &[u8]) -> Option<(Frontier, usize)> {
    const MARK: &[u8] = b"\"event\":\"checkpoint\"";
    let finder = memchr::memmem::FinderRev::new(MARK);
    let mut before = written.len();
    while let Some(found) = finder.rfind(&written[..before]) {
        let start = memchr::memrchr(b'\n', &written[..found]).map_or(0, |newline| newline + 1);
        let end = memchr::memchr(b'\n', &written[found..]).map_or(written.len(), |n| found + n);
        if let Some(tree) = resumable(&written[start..end]) {
            return Some((tree, start));
        }
        before = start;
    }
    None
}

/// The tree before a checkpoint record's line, if the line is one and carries its tree's edge.
fn resumable(line: &[u8]) -> Option<Frontier> {
    let (record, _) = unseal(line).ok()?;
    let checkpoint = Checkpoint::read_unverified(record.checkpoint.as_deref()?).ok()?;
    let peaks = (record.tree?.iter())
        .map(|peak| Hash::try_from(BASE64.decode(peak.as_bytes()).ok()?).ok())
        .collect::<Option<Vec<Hash>>>()?;
    let tree = Frontier::resume(checkpoint.size, peaks)?;
    (tree.root() == checkpoint.root && record.seq == checkpoint.size + 1).then_some(tree)
}

/// This machine's name, for the origin: checkpoints collected from many nodes say whose they are.
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty() && !name.contains(char::is_whitespace))
        .unwrap_or_else(|| "localhost".to_owned())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| "audit".to_owned(), |n| n.to_string_lossy().into_owned())
}
