//! The audit log: durable, hash-chained JSON Lines, a record per call of an audited operation.
//!
//! [`AuditLog::append`] returns only once the record is on disk (fsynced), so the proxy can
//! hold a response until its outcome is durable. `record` defines a line and the chain,
//! `writer` owns the file (numbering, group commit, rotation, torn-tail repair) through
//! `durable/`, which makes its bytes durable, `verify` checks a chain
//! and `show` prints the audited calls for people. The format is documented in
//! `docs/audit.md`. Which operations are audited is configuration (`audit.operations`), and
//! what a record says of a call comes from the model; `pipeline/` applies both.

pub mod anchor;
pub mod checkpoint;
pub mod checkpointer;
pub mod files;
pub mod keys;
pub mod merkle;
mod open_error;
pub mod reconcile;
pub mod record;
pub mod show;
pub mod verify;
pub mod writer;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

pub use checkpointer::{CheckpointPolicy, LatestCheckpoint};
pub use open_error::OpenError;
pub use record::{Event, Identity, Record, Source};
pub use writer::Layout;

use crate::durable::batch::BatchQueue;
use writer::{Pending, Writer};

/// The open audit log; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct AuditLog {
    queue: Arc<BatchQueue<Pending>>,
    syncs: SyncCount,
    latest: LatestCheckpoint,
    signs: bool,
    thread: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
}

/// A record could not be made durable.
#[derive(Debug, thiserror::Error)]
#[error("the audit record could not be written to {} ({kind})", path.display())]
pub struct AuditFailed {
    /// The audit file.
    pub path: PathBuf,
    /// What the file system said.
    pub kind: io::ErrorKind,
}

impl AuditLog {
    /// Opens the log at `path` (writing a start record) and starts its writer thread, whose
    /// batches wait up to `batch_wait` to fill before each sync (`audit.batch_wait_us`), and
    /// which issues checkpoints as `checkpoints` says, if given.
    pub fn open(
        path: &Path,
        layout: Layout,
        batch_wait: Duration,
        mode: &str,
        checkpoints: Option<CheckpointPolicy>,
    ) -> Result<Self, OpenError> {
        let latest = LatestCheckpoint::default();
        let signs = checkpoints.is_some();
        let checkpointing = checkpoints.map(|policy| (policy, latest.clone()));
        let writer = Writer::open(path, layout, mode, checkpointing)?;
        let queue = Arc::new(BatchQueue::new());
        let syncs = SyncCount::default();
        let (pending, counted) = (Arc::clone(&queue), syncs.clone());
        let thread = std::thread::Builder::new()
            .name("audit-writer".to_owned())
            .spawn(move || writer::run(writer, &pending, batch_wait, &counted))
            .map_err(|source| OpenError::Io {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            queue,
            syncs,
            latest,
            signs,
            thread: Mutex::new(Some(thread)),
            path: path.to_owned(),
        })
    }

    /// Appends a record and waits until it is on disk; returns its sequence number.
    ///
    /// The record is serialised now, on the caller's thread, and queued when the future is
    /// first polled. The future holds only the serialised line, not the record nor what the
    /// record borrows: a caller that awaits it inline (every audited call does) stays small and
    /// allocates no box for it.
    pub fn append<'s>(
        &'s self,
        record: Record<'_>,
    ) -> impl Future<Output = Result<u64, AuditFailed>> + use<'s> {
        let draft = record.into_draft();
        async move {
            let failed = |kind| AuditFailed {
                path: self.path.clone(),
                kind,
            };
            let (done, written) = oneshot::channel();
            self.queue
                .push(Pending { draft, done })
                .map_err(|_| failed(io::ErrorKind::BrokenPipe))?;
            match written.await {
                Ok(result) => result.map_err(failed),
                Err(_) => Err(failed(io::ErrorKind::BrokenPipe)),
            }
        }
    }
}

impl AuditLog {
    /// Whether the writer signs checkpoints.
    pub fn signs(&self) -> bool {
        self.signs
    }

    /// A handle on the latest checkpoint issued (none without a signing key).
    pub fn latest_checkpoint(&self) -> LatestCheckpoint {
        self.latest.clone()
    }

    /// A handle on the count of batches the writer has made durable, one fsync each.
    pub fn syncs(&self) -> SyncCount {
        self.syncs.clone()
    }

    /// Stops the writer once every record queued so far is on disk, and releases the file, so
    /// that a restart can open it at once. Later appends fail. Blocks until the writer is done.
    pub fn close(&self) {
        self.queue.close();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for AuditLog {
    /// Lets the writer finish what is queued and release the file, without waiting for it.
    fn drop(&mut self) {
        self.queue.close();
    }
}

/// The number of batches the writer has fsynced, read where it is exposed (the metrics).
#[derive(Debug, Clone, Default)]
pub struct SyncCount(Arc<AtomicU64>);

impl SyncCount {
    /// Batches fsynced so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add_one(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}
