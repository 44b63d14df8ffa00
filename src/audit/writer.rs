//! The audit file on disk: numbering and chaining records into batches, torn-tail recovery at
//! start-up, and rotation; with a signing key, the Merkle tree grown with each batch and the
//! checkpoint due with it, or due while idle (`checkpointer` decides when, and where they go).
//!
//! One thread owns the file. Callers hand it records through a [`BatchQueue`], where each
//! batch forms (how long it waits to fill is the queue's); the thread writes a batch in one
//! append to the [`AppendLog`], syncs it once, and only then answers each caller. Concurrent
//! requests therefore share fsyncs, and a record is durable before anyone is told it was
//! written. A failed write is rolled back to what is on disk, so the chain on disk never holds
//! a half-written record. This module does not decide which calls are audited (`pipeline/`)
//! nor verify files (`verify.rs`); making bytes durable is `durable/`'s.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::error;

use super::SyncCount;
use super::checkpointer::{CheckpointPolicy, Checkpointer, LatestCheckpoint, Reason};
use super::files::{rotated, rotated_name, written_part};
use super::merkle::{Frontier, leaf_hash};
use super::open_error::OpenError;
use super::record::{Draft, Event, GENESIS, Record, now, unseal};
use crate::durable::batch::{BatchQueue, Fill};
use crate::durable::{self, AppendLog};

/// Most records written in one batch; the rest wait for the next fsync.
const MAX_BATCH: usize = 1024;

/// How far back from the end the last complete record is looked for at start-up.
const TAIL_WINDOW: u64 = 1 << 20;

/// How far ahead of its records a preallocating writer grows the file (`audit.preallocate`,
/// see `durable/`): about 450 records, small enough that the one sync that also writes the
/// zeros does not show in p99.
pub const PREALLOCATION: u64 = 256 << 10;

/// A record waiting for its fsync, and who to tell.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) draft: Draft,
    pub(super) done: oneshot::Sender<Result<u64, io::ErrorKind>>,
}

/// How the log is laid out in files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Size at which the live file is rotated.
    pub max_file_bytes: u64,
    /// Whether the live file is grown ahead of its records ([`PREALLOCATION`]).
    pub preallocate: bool,
}

/// The open audit file and the head of its chain.
#[derive(Debug)]
pub(super) struct Writer {
    log: AppendLog,
    seq: u64,
    prev: String,
    layout: Layout,
    /// The lines of the batch being written, kept from batch to batch.
    buffer: Vec<u8>,
    /// With a signing key: the Merkle tree and when to sign its head.
    checkpoints: Option<Checkpointer>,
}

/// What a writer needs to issue checkpoints: the policy, and where the latest is shown.
pub(super) type Checkpointing = (CheckpointPolicy, LatestCheckpoint);

impl Writer {
    /// Opens (or creates) the log, repairs a torn last line, rebuilds the Merkle tree when it
    /// issues checkpoints, and writes a start record.
    pub(super) fn open(
        path: &Path,
        layout: Layout,
        mode: &str,
        checkpointing: Option<Checkpointing>,
    ) -> Result<Self, OpenError> {
        let log = AppendLog::open(path)?;
        let head = read_head(log.len(), &|buffer, at| log.read_at(buffer, at))
            .map_err(|e| OpenError::io(path, e))?;
        let whole_len = match head {
            Head::Last { whole_len, .. } => whole_len,
            Head::Empty | Head::Broken { .. } => 0,
        };
        if !matches!(head, Head::Broken { .. }) && log.len() > whole_len {
            // A torn record was never acknowledged (its fsync never returned), and zeros past
            // the records are preallocation left by a crash: neither is part of the log.
            log.cut_to(whole_len).map_err(|e| OpenError::io(path, e))?;
        }
        if layout.preallocate {
            log.preallocate(PREALLOCATION);
        }
        let (seq, prev, detail) = match head {
            Head::Empty => {
                let history = rotated(path).pop().map(|(_, file)| file);
                match history.as_deref().map(last_record_of) {
                    Some(Ok((seq, hash))) => (
                        seq,
                        hash,
                        "started; this file continues the rotated chain".to_owned(),
                    ),
                    Some(Err(e)) => return Err(e),
                    None => (0, GENESIS.to_owned(), "started a new audit log".to_owned()),
                }
            }
            Head::Last {
                seq,
                hash,
                torn_bytes: 0,
                ..
            } => (
                seq,
                hash,
                format!("restarted; the chain continues from seq {seq}"),
            ),
            Head::Last {
                seq,
                hash,
                torn_bytes,
                ..
            } => (
                seq,
                hash,
                format!(
                    "restarted after a crash; dropped {torn_bytes} bytes of a record that was never \
                     acknowledged (torn write), the chain continues from seq {seq}"
                ),
            ),
            Head::Broken { reason } => {
                return Err(OpenError::Broken {
                    path: path.to_owned(),
                    reason,
                });
            }
        };
        let checkpoints = match checkpointing {
            Some((policy, latest)) => Some(Checkpointer::open(path, policy, latest, seq)?),
            None => None,
        };
        let mut writer = Self {
            log,
            seq,
            prev,
            layout,
            buffer: Vec::new(),
            checkpoints,
        };
        let start = Record {
            time: now().into(),
            event: Event::Start,
            mode: Some(mode.into()),
            detail: Some(format!("ssm-vcr {} {detail}", env!("CARGO_PKG_VERSION")).into()),
            ..Record::default()
        };
        writer
            .append([&start.into_draft()])
            .map_err(|e| OpenError::io(path, e))?;
        Ok(writer)
    }

    fn path(&self) -> &Path {
        self.log.path()
    }

    /// Numbers, chains, writes and fsyncs the records, with a checkpoint after them when one
    /// is due; on failure nothing is kept. Returns the sequence number of the first.
    pub(super) fn append<'d>(
        &mut self,
        drafts: impl IntoIterator<Item = &'d Draft>,
    ) -> io::Result<u64> {
        self.write(drafts, None)
    }

    /// When an idle writer owes a heartbeat checkpoint.
    pub(super) fn heartbeat_at(&self) -> Option<Instant> {
        self.checkpoints.as_ref().map(Checkpointer::due_at)
    }

    /// Writes a checkpoint of everything so far: idle for its interval. A failed one is tried
    /// again an interval later, not at once: the disk that refused it is likely to again.
    pub(super) fn heartbeat(&mut self) -> io::Result<u64> {
        let written = self.write(std::iter::empty(), Some(Reason::Interval));
        if written.is_err()
            && let Some(checkpoints) = &mut self.checkpoints
        {
            checkpoints.postpone();
        }
        written
    }

    fn write<'d>(
        &mut self,
        drafts: impl IntoIterator<Item = &'d Draft>,
        forced: Option<Reason>,
    ) -> io::Result<u64> {
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        let (mut seq, mut prev) = (self.seq, self.prev.clone());
        // The tree grows with the batch, and is kept only once the batch is durable.
        let mut tree = self.checkpoints.as_ref().map(|c| c.tree().clone());
        for draft in drafts {
            seq += 1;
            prev = seal(draft, seq, &prev, &mut buffer, tree.as_mut());
        }
        let drafted = match (&self.checkpoints, &mut tree) {
            (Some(checkpoints), Some(tree)) => (forced.or_else(|| checkpoints.due(seq - self.seq)))
                .map(|reason| {
                    let (draft, drafted) = checkpoints.draft(tree, reason);
                    seq += 1;
                    prev = seal(&draft, seq, &prev, &mut buffer, Some(tree));
                    drafted
                }),
            _ => None,
        };
        let written = (self.log.append(&buffer)).and_then(|end| self.log.sync_through(end));
        self.buffer = buffer;
        if let Err(e) = written {
            // Leave no partial record behind: the chain on disk must end on a whole line.
            if let Err(rollback) = self.log.roll_back() {
                error!(error = %rollback, path = %self.path().display(), "could not take an unwritten audit batch off the file; the next start cuts it");
            }
            return Err(e);
        }
        let first = self.seq + 1;
        if let (Some(checkpoints), Some(tree)) = (&mut self.checkpoints, tree) {
            checkpoints.written(tree, seq - self.seq, drafted);
        }
        self.seq = seq;
        self.prev = prev;
        Ok(first)
    }

    /// Issues a last checkpoint, cuts the preallocated zeros off and releases the file: what
    /// is left is plain JSON Lines.
    pub(super) fn close(mut self) {
        let path = self.path().to_owned();
        if self.checkpoints.is_some()
            && let Err(e) = self.write(std::iter::empty(), Some(Reason::Shutdown))
        {
            error!(error = %e, path = %path.display(), "could not write the audit log's shutdown checkpoint");
        }
        if let Err(e) = self.log.close() {
            error!(error = %e, path = %path.display(), "could not cut the audit log's preallocated tail; the next start cuts it");
        }
    }

    /// Moves a full file aside as `<file>.<n>` and starts the next one with a rotate record.
    pub(super) fn rotate_if_full(&mut self) -> io::Result<()> {
        if self.log.len() < self.layout.max_file_bytes {
            return Ok(());
        }
        let number = rotated(self.path()).last().map_or(1, |(n, _)| n + 1);
        let rotated = rotated_name(self.path(), number);
        self.log.rotate(&rotated)?;
        let rotate = Record {
            time: now().into(),
            event: Event::Rotate,
            detail: Some(format!("continues the chain of {}", rotated.display()).into()),
            ..Record::default()
        };
        self.append([&rotate.into_draft()]).map(drop)
    }
}

/// Seals `draft` into the batch and adds its leaf to the tree being grown, if any.
fn seal(
    draft: &Draft,
    seq: u64,
    prev: &str,
    buffer: &mut Vec<u8>,
    tree: Option<&mut Frontier>,
) -> String {
    let start = buffer.len();
    let hash = draft.seal_into(seq, prev, buffer);
    if let Some(tree) = tree {
        tree.push(leaf_hash(&buffer[start..buffer.len() - 1]));
    }
    hash
}

/// The writer thread: group commit until the queue is closed and drained. Each batch waits up
/// to `batch_wait` to fill ([`BatchQueue`]).
pub(super) fn run(
    mut writer: Writer,
    queue: &BatchQueue<Pending>,
    batch_wait: Duration,
    syncs: &SyncCount,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut fill = Fill::NOW;
    loop {
        let wanted = match writer.heartbeat_at() {
            Some(at) => fill.idle_until(at),
            None => fill,
        };
        if !queue.next_batch(&mut batch, wanted, MAX_BATCH) {
            break;
        }
        if batch.is_empty() {
            match writer.heartbeat() {
                Ok(_) => syncs.add_one(),
                Err(e) => {
                    error!(error = %e, path = %writer.path().display(), "audit heartbeat checkpoint failed")
                }
            }
            continue;
        }
        let result = writer.append(batch.iter().map(|pending| &pending.draft));
        fill = Fill::after(batch.len(), batch_wait);
        match &result {
            Ok(_) => syncs.add_one(),
            Err(e) => error!(error = %e, path = %writer.path().display(), "audit write failed"),
        }
        for (seq, pending) in (0..).zip(batch.drain(..)) {
            let _ = pending.done.send(
                result
                    .as_ref()
                    .map(|first| first + seq)
                    .map_err(io::Error::kind),
            );
        }
        if result.is_ok()
            && let Err(e) = writer.rotate_if_full()
        {
            error!(error = %e, path = %writer.path().display(), "audit rotation failed; still writing to the full file");
        }
    }
    writer.close();
}

/// What the end of an audit file holds.
enum Head {
    Empty,
    /// The last whole record, where whole lines end, and how many bytes of a torn line follow.
    Last {
        seq: u64,
        hash: String,
        whole_len: u64,
        torn_bytes: u64,
    },
    Broken {
        reason: String,
    },
}

/// Fills a buffer from an offset of the file being read.
type ReadAt<'a> = dyn Fn(&mut [u8], u64) -> io::Result<()> + 'a;

/// Finds the last whole record from the tail of a file of `len` bytes; changes nothing.
fn read_head(len: u64, read_at: &ReadAt<'_>) -> io::Result<Head> {
    let len = written_len(len, read_at)?;
    if len == 0 {
        return Ok(Head::Empty);
    }
    let start = len.saturating_sub(TAIL_WINDOW);
    let mut tail = vec![0; (len - start) as usize];
    read_at(&mut tail, start)?;
    let (whole, torn_bytes) = durable::whole_lines(&tail);
    if whole.is_empty() && start > 0 {
        return Ok(Head::Broken {
            reason: "its last line is longer than any record".to_owned(),
        });
    }
    let Some(last) = (whole.split_last())
        .and_then(|(_, lines)| lines.rsplit(|&b| b == b'\n').next())
        .filter(|line| !line.is_empty())
    else {
        return Ok(if torn_bytes > 0 {
            Head::Broken {
                reason: "it holds only a torn record".to_owned(),
            }
        } else {
            Head::Empty
        });
    };
    Ok(match unseal(last) {
        Ok((record, hash)) => Head::Last {
            seq: record.seq,
            hash,
            whole_len: start + whole.len() as u64,
            torn_bytes: torn_bytes as u64,
        },
        Err(e) => Head::Broken {
            reason: e.to_string(),
        },
    })
}

/// Where the file's written part ends ([`written_part`]), read backwards from its end.
fn written_len(len: u64, read_at: &ReadAt<'_>) -> io::Result<u64> {
    let mut end = len;
    let mut block = vec![0; TAIL_WINDOW as usize];
    while end > 0 {
        let start = end.saturating_sub(TAIL_WINDOW);
        let block = &mut block[..(end - start) as usize];
        read_at(block, start)?;
        let written = written_part(block).len();
        if written > 0 {
            return Ok(start + written as u64);
        }
        end = start;
    }
    Ok(0)
}

/// The sequence number and hash of a rotated file's last record; it must end on a whole one.
fn last_record_of(path: &Path) -> Result<(u64, String), OpenError> {
    let broken = |reason: &str| OpenError::Broken {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    // Read only: a rotated file is never written again, and may be kept read-only.
    let file = File::open(path).map_err(|e| OpenError::io(path, e))?;
    let len = (file.metadata()).map_err(|e| OpenError::io(path, e))?.len();
    let read_at = |buffer: &mut [u8], at: u64| {
        let mut file = &file;
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(buffer)
    };
    match read_head(len, &read_at).map_err(|e| OpenError::io(path, e))? {
        Head::Last {
            seq,
            hash,
            torn_bytes: 0,
            ..
        } => Ok((seq, hash)),
        Head::Last { .. } => Err(broken("it does not end with a whole record")),
        Head::Empty => Err(broken("it holds no record")),
        Head::Broken { reason } => Err(broken(&reason)),
    }
}
