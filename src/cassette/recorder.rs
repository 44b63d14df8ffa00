//! Recording into a cassette: each new interaction is durable before its response is sent,
//! at a cost that does not grow with the cassette, and the reviewable file is written whole
//! from time to time.
//!
//! An interaction is redacted, scanned for secrets, and appended to the cassette's journal
//! (`journal.rs`); concurrent recordings share the journal's syncs. Compaction writes the
//! cassette file atomically from the interactions kept in memory, then starts the journal again
//! with what was recorded meanwhile. It runs when the journal outgrows both
//! `cassettes.compact_journal_bytes` and the cassette itself (so each byte of the cassette is
//! rewritten a bounded number of times however long the recording), every
//! `cassettes.compact_interval_ms`, and at shutdown. Before any byte is written, the model's
//! sensitive values are replaced and the secret scan of `redact.rs` must pass. This module does
//! not decide what is recorded (`pipeline/`) nor fold a journal left by a crash (`recovery.rs`).

use std::collections::HashMap;
use std::fs;
use std::hash::BuildHasher;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use http::{HeaderMap, StatusCode};

use super::format::{Body, Cassette, Interaction, ModelStamp, RecordedRequest, RecordedResponse};
use super::journal::{self, Base, Journal, entry_line};
use super::matching::{IgnoreRules, MatchKey};
use super::redact::{Placeholders, Redaction, SecretFound, recorded_headers, scan};
use super::secrets::Bindings;
use crate::durable;
use crate::json::Json;

/// A forwarded call as the cassette keeps it, recorded now; unredacted until
/// [`Recorder::append`].
pub fn forwarded(
    operation: &str,
    region: &str,
    request: Json<'static>,
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
        repeat: 1,
    }
}

/// Records interactions into one cassette file.
#[derive(Debug)]
pub struct Recorder {
    path: PathBuf,
    journal_path: PathBuf,
    /// What matching leaves out: an answer that repeats the last one to the same key is
    /// counted, not written again.
    rules: IgnoreRules,
    key_hasher: foldhash::fast::RandomState,
    /// The journal size below which it is never compacted.
    compact_journal_bytes: u64,
    state: Mutex<State>,
    /// Held by the one compaction that may run at a time.
    compacting: Mutex<()>,
}

/// What the writers of one cassette share.
#[derive(Debug)]
struct State {
    /// The file's version, note and model; its interactions are kept apart.
    head: Cassette,
    /// Every interaction of the cassette, shared with the snapshot a compaction writes.
    interactions: Vec<Arc<Interaction>>,
    placeholders: Placeholders,
    /// The last interaction recorded for each matching key, by the key's hash.
    last_of_key: HashMap<u64, usize>,
    /// What the cassette file holds for a new journal to continue.
    base: Base,
    /// Whether `interactions` hold what the cassette file does not (a new one, or a repeat
    /// counted on one it holds).
    unwritten: bool,
    /// The cassette file's size.
    compacted_bytes: u64,
    /// The journal being written; none before the first recording, after a compaction that
    /// left nothing to journal, and after a failure (what it held is compacted before another
    /// one starts).
    journal: Option<Arc<Journal>>,
    /// Whether this recorder has started a journal before, so any there is its own.
    journal_started: bool,
    /// A caller was told to compact, and no compaction has begun since.
    compaction_requested: bool,
}

/// An interaction was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Its position in the cassette.
    pub index: usize,
    /// The journal has grown enough to be compacted.
    pub compaction_due: bool,
}

/// An interaction was not written, or the cassette not compacted.
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
        /// The cassette file or its journal.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl Recorder {
    /// A recorder that replaces the file with a new cassette at its first compaction (record
    /// mode); until then the file is left as it is.
    pub fn fresh(path: PathBuf, rules: IgnoreRules, compact_journal_bytes: u64) -> Self {
        let start = Cassette::recording();
        let placeholders = Placeholders::continuing(&start);
        Self::new(
            path,
            start,
            placeholders,
            rules,
            Base::Fresh,
            0,
            compact_journal_bytes,
        )
    }

    /// A recorder that appends to `cassette`, the file's content (auto mode), whose replay
    /// binds placeholders in `replayed`: a value bound there keeps its number here.
    pub fn continuing(
        path: PathBuf,
        cassette: Cassette,
        rules: IgnoreRules,
        replayed: Arc<Bindings>,
        compact_journal_bytes: u64,
    ) -> Self {
        let size = fs::metadata(&path).map_or(0, |m| m.len());
        let placeholders = Placeholders::continuing_replay(&cassette, replayed);
        Self::new(
            path,
            cassette,
            placeholders,
            rules,
            Base::File,
            size,
            compact_journal_bytes,
        )
    }

    fn new(
        path: PathBuf,
        mut start: Cassette,
        placeholders: Placeholders,
        rules: IgnoreRules,
        base: Base,
        compacted_bytes: u64,
        compact_journal_bytes: u64,
    ) -> Self {
        start.model = Some(ModelStamp::current());
        let key_hasher = foldhash::fast::RandomState::default();
        let interactions: Vec<Arc<Interaction>> =
            start.interactions.drain(..).map(Arc::new).collect();
        let last_of_key = (interactions.iter().enumerate())
            .map(|(index, interaction)| (key_hash(&key_hasher, &rules, interaction), index))
            .collect();
        Self {
            journal_path: journal::path_of(&path),
            path,
            rules,
            key_hasher,
            compact_journal_bytes,
            state: Mutex::new(State {
                head: start,
                unwritten: false,
                interactions,
                placeholders,
                last_of_key,
                base,
                compacted_bytes,
                journal: None,
                journal_started: false,
                compaction_requested: false,
            }),
            compacting: Mutex::new(()),
        }
    }

    /// Redacts and journals an interaction, durably; its position, and whether the cassette
    /// should now be compacted. Blocking: call it from the blocking pool. On failure the
    /// interaction is not kept, unless it was written and only its sync failed: then the
    /// cassette is compacted at once, and an error means it is kept in memory for the next try.
    pub fn append(
        &self,
        mut interaction: Interaction,
        redaction: &Redaction,
        live_secrets: &[String],
    ) -> Result<Appended, RecordError> {
        // Outside the lock: the key leaves out every value that redaction replaces.
        let key = matching_key(&self.rules, &interaction);
        let hash = self.key_hasher.hash_one(key.as_ref());
        let mut state = self.state();
        if state.journal.is_none() && state.unwritten {
            // The journal failed: what it held reaches the cassette before another one starts.
            drop(state);
            self.compact()?;
            state = self.state();
        }
        // Under the lock: placeholders are numbered in the order interactions are written.
        redaction.apply(&mut interaction, &mut state.placeholders);
        let repeated = (state.last_of_key.get(&hash).copied()).filter(|&last| {
            let last = &state.interactions[last];
            last.same_answer(&interaction) && matching_key(&self.rules, last) == key
        });
        let (index, interaction) = match repeated {
            Some(last) => {
                let mut again = Interaction::clone(&state.interactions[last]);
                again.repeat = again.repeat.saturating_add(1);
                (last, again)
            }
            None => (state.interactions.len(), interaction),
        };
        let line = entry_line(index, &interaction);
        scan(&line, live_secrets).map_err(|source| RecordError::Secret {
            path: self.path.clone(),
            source,
        })?;
        let journal = match &state.journal {
            Some(journal) => Arc::clone(journal),
            None => {
                let first = !state.journal_started;
                let journal =
                    Journal::start::<Arc<Interaction>>(&self.journal_path, state.base, &[], first)
                        .map_err(|source| self.journal_error(source))?;
                let journal = Arc::new(journal);
                state.journal = Some(Arc::clone(&journal));
                state.journal_started = true;
                journal
            }
        };
        let end = match journal.append(&line) {
            Ok(end) => end,
            Err(source) => {
                state.journal = None;
                return Err(self.journal_error(source));
            }
        };
        state.unwritten = true;
        if repeated.is_some() {
            state.interactions[index] = Arc::new(interaction);
        } else {
            state.interactions.push(Arc::new(interaction));
            state.last_of_key.insert(hash, index);
        }
        let compaction_due = !state.compaction_requested
            && end >= self.compact_journal_bytes.max(state.compacted_bytes);
        state.compaction_requested |= compaction_due;
        drop(state);
        if let Err(e) = journal.sync_through(end) {
            tracing::error!(error = %e, path = %self.journal_path.display(), "the recording journal could not be synced; writing the cassette whole instead");
            let mut state = self.state();
            if state
                .journal
                .as_ref()
                .is_some_and(|j| Arc::ptr_eq(j, &journal))
            {
                state.journal = None;
            }
            drop(state);
            self.compact()?;
        }
        Ok(Appended {
            index,
            compaction_due,
        })
    }

    /// Writes the cassette with every interaction recorded so far, then starts the journal
    /// again with those recorded meanwhile; `false` when there was nothing to write. Blocking.
    pub fn compact(&self) -> Result<bool, RecordError> {
        let _only = self.compacting.lock().unwrap_or_else(|e| e.into_inner());
        self.compact_now()
    }

    /// [`Self::compact`], unless a compaction is running already (it will cover as much).
    pub fn compact_unless_running(&self) -> Result<bool, RecordError> {
        match self.compacting.try_lock() {
            Ok(_only) => self.compact_now(),
            Err(_) => Ok(false),
        }
    }

    fn compact_now(&self) -> Result<bool, RecordError> {
        let (head, snapshot) = {
            let mut state = self.state();
            state.compaction_requested = false;
            if !state.unwritten {
                // A journal is left only by a failed write, whose line was not kept.
                if state.journal_started {
                    state.journal = None;
                    journal::remove(&self.journal_path)
                        .map_err(|source| self.journal_error(source))?;
                }
                return Ok(false);
            }
            state.unwritten = false;
            (state.head.clone(), state.interactions.clone())
        };
        // Outside the lock: recording goes on while the snapshot is written.
        let bytes = head.to_json_with(&snapshot);
        if let Err(source) = durable::replace(&self.path, &bytes) {
            self.state().unwritten = true;
            return Err(RecordError::Io {
                path: self.path.clone(),
                source,
            });
        }
        let mut state = self.state();
        state.compacted_bytes = bytes.len() as u64;
        state.base = Base::File;
        state.journal = None;
        // Recorded meanwhile: new interactions, and repeats counted on written ones.
        let meanwhile: Vec<(usize, Arc<Interaction>)> = (state.interactions.iter().enumerate())
            .filter(|(index, now)| {
                snapshot
                    .get(*index)
                    .is_none_or(|was| !Arc::ptr_eq(was, now))
            })
            .map(|(index, now)| (index, Arc::clone(now)))
            .collect();
        if meanwhile.is_empty() {
            journal::remove(&self.journal_path).map_err(|source| self.journal_error(source))?;
        } else {
            let journal = Journal::start(&self.journal_path, Base::File, &meanwhile, false)
                .map_err(|source| self.journal_error(source))?;
            state.journal = Some(Arc::new(journal));
        }
        Ok(true)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn journal_error(&self, source: io::Error) -> RecordError {
        RecordError::Io {
            path: self.journal_path.clone(),
            source,
        }
    }
}

/// The hash of an interaction's matching key.
fn key_hash(
    hasher: &foldhash::fast::RandomState,
    rules: &IgnoreRules,
    interaction: &Interaction,
) -> u64 {
    hasher.hash_one(matching_key(rules, interaction).as_ref())
}

fn matching_key(rules: &IgnoreRules, interaction: &Interaction) -> MatchKey {
    MatchKey::new(
        &interaction.operation,
        &interaction.region,
        &interaction.request.body,
        rules,
    )
}
