//! The cassette folder: cassettes opened by name on first use, as the mode needs them, and
//! kept for the life of the process, so replay queues advance across requests and recordings
//! accumulate.
//!
//! | mode | replays from | records into |
//! |---|---|---|
//! | replay | the file (must exist) | — |
//! | record | — | a fresh cassette, replacing the file at its first compaction |
//! | auto | the file as it was (or nothing) | the file, appended |
//! | passthrough | — | — |
//!
//! In every mode, a journal that a recording left beside a cassette is folded into it before
//! the cassette is read: all of them when the library starts, and each cassette's own when it is
//! opened. Opening reads the disk on the blocking pool, never on a runtime thread. A cassette that
//! fails to open is not remembered, so fixing the file and retrying works without a restart.
//! Each open cassette counts the calls that reached it and keeps its first misses: its part of
//! the run report (`report.rs` owns the report's shape).

use foldhash::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use super::file::{LoadError, read_cassette};
use super::format::{Cassette, Interaction};
use super::matching::IgnoreRules;
use super::recorder::{Appended, RecordError, Recorder};
use super::recovery::{Recovered, RecoveryError, recover, recover_folder};
use super::redact::Redaction;
use super::replay::{Replaying, Tape};
use super::secrets::{Bindings, EnvBindings};
use crate::cassette::name::CassetteName;
use crate::mode::Mode;
use crate::report::{CassetteReport, MAX_LISTED_MISSES, MissedCall, Outcome, OutcomeCounts};
use crate::text::chain;

/// What the report and the miss messages name as the file of a cassette given in memory.
pub const IN_MEMORY: &str = "(in memory)";

/// One cassette as the mode uses it.
#[derive(Debug)]
pub struct Session {
    name: CassetteName,
    path: PathBuf,
    /// Recorded answers to replay (replay and auto modes).
    pub tape: Option<Tape>,
    /// Where new interactions go (record and auto modes).
    pub recorder: Option<Recorder>,
    /// The calls that reached it, by outcome.
    counts: OutcomeCounts,
    /// The first of its missed calls, for the run report.
    missed: Mutex<Vec<MissedCall>>,
}

impl Session {
    fn new(
        name: CassetteName,
        path: PathBuf,
        tape: Option<Tape>,
        recorder: Option<Recorder>,
    ) -> Self {
        Self {
            name,
            path,
            tape,
            recorder,
            counts: OutcomeCounts::default(),
            missed: Mutex::default(),
        }
    }

    /// Counts a call that reached this cassette; `missed` is what a miss found lacking.
    pub fn count(&self, outcome: Outcome, missed: Option<MissedCall>) {
        self.counts.add(outcome);
        if let Some(missed) = missed {
            let mut listed = self.missed.lock().unwrap_or_else(|e| e.into_inner());
            if listed.len() < MAX_LISTED_MISSES {
                listed.push(missed);
            }
        }
    }

    /// This cassette's part of the run report.
    pub fn report(&self) -> CassetteReport {
        let tape = self.tape.as_ref();
        CassetteReport {
            name: self.name.to_string(),
            path: self.path.clone(),
            interactions: tape.map_or(0, Tape::interactions),
            replayed: self.counts.get(Outcome::Replayed),
            unused: tape.map(Tape::unused).unwrap_or_default(),
            misses: self.counts.get(Outcome::Missed),
            missed: self
                .missed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            invalid: self.counts.get(Outcome::Invalid),
            recorded: self.counts.get(Outcome::Recorded),
            skipped_polls: tape.map_or(0, Tape::skipped_polls),
            secrets: tape.map(Tape::secrets).unwrap_or_default(),
        }
    }

    /// Appends a forwarded exchange, unredacted (the recorder numbers placeholders per cassette
    /// and redacts under its lock), on the blocking pool; its position once durable. A failure
    /// is logged, never sent to the client, who still gets the answer. A journal grown enough
    /// is compacted in the background.
    pub async fn record(
        self: &Arc<Self>,
        interaction: Interaction,
        redaction: &Arc<Redaction>,
        live_secrets: Vec<String>,
    ) -> Option<usize> {
        let (session, redaction) = (Arc::clone(self), Arc::clone(redaction));
        let written = tokio::task::spawn_blocking(move || {
            (session.recorder.as_ref())
                .map(|recorder| recorder.append(interaction, &redaction, &live_secrets))
        })
        .await;
        match written {
            Ok(Some(Ok(Appended {
                index,
                compaction_due,
            }))) => {
                if compaction_due {
                    let session = Arc::clone(self);
                    tokio::task::spawn_blocking(move || session.compact_unless_running());
                }
                Some(index)
            }
            Ok(Some(Err(e))) => {
                tracing::error!(error = %chain(&e), "an interaction was not recorded durably; the client still got its answer");
                None
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "recording was interrupted");
                None
            }
        }
    }

    /// Writes the cassette whole from what it recorded, if it records, once a compaction
    /// already running has finished; blocking.
    fn compact(&self) {
        if let Some(recorder) = &self.recorder {
            self.compacted(recorder.compact());
        }
    }

    /// [`Self::compact`], unless a compaction is running already: it covers as much.
    fn compact_unless_running(&self) {
        if let Some(recorder) = &self.recorder {
            self.compacted(recorder.compact_unless_running());
        }
    }

    fn compacted(&self, compacted: Result<bool, RecordError>) {
        match compacted {
            Ok(true) => {
                tracing::debug!(cassette = %self.path.display(), "compacted the recording journal into the cassette")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %chain(&e), "the cassette could not be compacted; its journal keeps every recording, and the next compaction tries again")
            }
        }
    }
}

/// Why a cassette cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Its file is missing, unreadable or invalid.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A journal left beside it by a recording cannot be folded in.
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
}

/// Cassettes of one folder, by name: the default one opened at start, the others on first use.
#[derive(Debug)]
pub struct Library {
    dir: PathBuf,
    /// The cassette of calls to `/`, held apart from `sessions` so that they take no lock;
    /// none when every call selects its own (`cassettes.default = "none"`).
    default: Option<(CassetteName, Arc<Session>)>,
    opening: Opening,
    sessions: RwLock<HashMap<CassetteName, Arc<Session>>>,
}

impl Library {
    /// A library over `dir`, where `/` selects `default`, opening cassettes as `opening` says.
    /// The default cassette is opened now, so that a broken setup fails at start-up, not on the
    /// first request; in replay mode, `in_memory` stands for its file (and needs a default
    /// name to be reported under).
    pub fn new(
        dir: PathBuf,
        default: Option<CassetteName>,
        in_memory: Option<Cassette>,
        opening: Opening,
    ) -> Result<Self, DefaultUnopened> {
        if in_memory.is_none() {
            // Every journal left by a crash first, so no cassette is read without its own.
            let default_path = default.as_ref().map(|name| cassette_path(&dir, name));
            for (cassette, recovered) in recover_folder(&dir) {
                match recovered {
                    Ok(recovered) => report_recovered(&recovered),
                    // The default cassette's own failure is the start-up error below.
                    Err(_) if Some(&cassette) == default_path.as_ref() => {}
                    Err(e) => {
                        tracing::error!(error = %chain(&e), "a cassette's recording journal was left as it is; the cassette cannot be opened until it is folded in")
                    }
                }
            }
        }
        let default = match (default, in_memory) {
            (Some(name), Some(cassette)) => {
                let path = PathBuf::from(IN_MEMORY);
                let tape =
                    (opening.tape(&name, &path, cassette)).map_err(|source| DefaultUnopened {
                        path: path.clone(),
                        source: source.into(),
                    })?;
                let session = Session::new(name.clone(), path, Some(tape), None);
                Some((name, Arc::new(session)))
            }
            (Some(name), None) => {
                let path = cassette_path(&dir, &name);
                let session = (opening.session(&name, path.clone()))
                    .map_err(|source| DefaultUnopened { path, source })?;
                Some((name, Arc::new(session)))
            }
            (None, _) => None,
        };
        let sessions = (default.iter())
            .map(|(name, session)| (name.clone(), Arc::clone(session)))
            .collect();
        Ok(Self {
            dir,
            default,
            opening,
            sessions: RwLock::new(sessions),
        })
    }

    /// The default cassette's name, if there is one.
    pub fn default_name(&self) -> Option<&CassetteName> {
        self.default.as_ref().map(|(name, _)| name)
    }

    /// The default cassette's session, if there is one.
    pub fn default_session(&self) -> Option<&Arc<Session>> {
        self.default.as_ref().map(|(_, session)| session)
    }

    /// The named cassette, opened on first use, or the default one.
    pub async fn session(
        self: &Arc<Self>,
        name: Option<&CassetteName>,
    ) -> Result<Arc<Session>, Unavailable> {
        let Some(name) = name else {
            return self
                .default_session()
                .map(Arc::clone)
                .ok_or_else(|| Unavailable {
                    name: "(none)".to_owned(),
                    reason: "this proxy has no default cassette (cassettes.default = \"none\"): \
                         every call selects its own, with the endpoint \
                         http://<proxy>/cassette/<name>, to which clients post \
                         /cassette/<name>/"
                        .to_owned(),
                });
        };
        if let Some(session) = self
            .sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(Arc::clone(session));
        }
        let library = Arc::clone(self);
        let owned = name.clone();
        let opened = tokio::task::spawn_blocking(move || library.open(&owned))
            .await
            .map_err(|e| Unavailable {
                name: name.to_string(),
                reason: format!("opening was interrupted: {e}"),
            })?;
        opened.map_err(|e| Unavailable {
            name: name.to_string(),
            reason: chain(&e),
        })
    }

    /// The named cassette if it is open already (a default one always is); never opens.
    pub fn opened(&self, name: &CassetteName) -> Option<Arc<Session>> {
        let sessions = self.sessions.read().unwrap_or_else(|e| e.into_inner());
        sessions.get(name).cloned()
    }

    /// The run report's cassettes: those that calls reached, by name. When no call reached
    /// any, the default cassette is reported, so that a run whose tests never reached the
    /// proxy shows every recording unused.
    pub fn report(&self) -> Vec<CassetteReport> {
        let sessions = self.sessions.read().unwrap_or_else(|e| e.into_inner());
        let mut reached: Vec<&Arc<Session>> = (sessions.values())
            .filter(|session| session.counts.any())
            .collect();
        if reached.is_empty() {
            reached.extend(self.default_session());
        }
        reached.sort_unstable_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
        reached
            .into_iter()
            .map(|session| session.report())
            .collect()
    }

    /// Rewinds the named cassette's replay queues to their first answers; `false` when no
    /// call has opened it, which leaves nothing to rewind.
    pub fn rewind(&self, name: &CassetteName) -> bool {
        let Some(session) = self.opened(name) else {
            return false;
        };
        if let Some(tape) = &session.tape {
            tape.rewind();
        }
        true
    }

    /// Writes every recording cassette whole from its journal, waiting for compactions
    /// already running; blocking. At shutdown this leaves no journal behind.
    pub fn compact_all(&self) {
        let sessions: Vec<Arc<Session>> = (self.sessions.read())
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for session in sessions {
            session.compact();
        }
    }

    fn open(&self, name: &CassetteName) -> Result<Arc<Session>, OpenError> {
        let session = (self.opening).session(name, cassette_path(&self.dir, name))?;
        let mut sessions = self.sessions.write().unwrap_or_else(|e| e.into_inner());
        // Two first requests may open the same file at once; the first one in is kept.
        Ok(Arc::clone(
            sessions
                .entry(name.clone())
                .or_insert_with(|| Arc::new(session)),
        ))
    }
}

/// The default cassette could not be opened at start-up.
#[derive(Debug)]
pub struct DefaultUnopened {
    /// Its file ([`IN_MEMORY`] for one given in memory).
    pub path: PathBuf,
    /// Why.
    pub source: OpenError,
}

/// A cassette that a request selected cannot answer it.
#[derive(Debug, thiserror::Error)]
#[error("cassette {name} is unavailable: {reason}")]
pub struct Unavailable {
    /// The cassette name.
    pub name: String,
    /// Why, for the client and the log.
    pub reason: String,
}

/// The file of a cassette name in `dir`.
fn cassette_path(dir: &Path, name: &CassetteName) -> PathBuf {
    dir.join(format!("{name}.json"))
}

/// How the library opens a cassette file: for which mode, with which matching, replay and
/// recording settings.
#[derive(Debug)]
pub struct Opening {
    /// Where answers come from.
    pub mode: Mode,
    /// What matching leaves out.
    pub rules: IgnoreRules,
    /// How recorded answers are handed out.
    pub replaying: Replaying,
    /// Placeholders bound from the environment.
    pub env_bindings: EnvBindings,
    /// The journal size below which a recording is never compacted.
    pub compact_journal_bytes: u64,
}

impl Opening {
    /// Indexes `cassette`, the contents of `path`, for replay, its placeholders bound as the
    /// environment says.
    fn tape(
        &self,
        name: &CassetteName,
        path: &Path,
        cassette: Cassette,
    ) -> Result<Tape, LoadError> {
        let bindings = Bindings::new(self.env_bindings.for_cassette(name.as_str()));
        Tape::new(
            name.as_str(),
            path.to_owned(),
            cassette,
            self.rules.clone(),
            self.replaying,
            Arc::new(bindings),
        )
        .map_err(|source| LoadError::Format {
            path: path.to_owned(),
            source,
        })
    }

    /// Folds a journal left beside `path` in, then reads (or, for recording, prepares) the
    /// cassette for the mode.
    fn session(&self, name: &CassetteName, path: PathBuf) -> Result<Session, OpenError> {
        if let Some(recovered) = recover(&path)? {
            report_recovered(&recovered);
        }
        let (tape, recorder) = match self.mode {
            Mode::Replay => (Some(self.tape(name, &path, read_cassette(&path)?)?), None),
            Mode::Record => (
                None,
                Some(Recorder::fresh(
                    path.clone(),
                    self.rules.clone(),
                    self.compact_journal_bytes,
                )),
            ),
            Mode::Auto => {
                let cassette = match read_cassette(&path) {
                    Ok(cassette) => cassette,
                    Err(LoadError::NotFound { .. }) => Cassette::recording(),
                    Err(e) => return Err(e.into()),
                };
                let tape = self.tape(name, &path, cassette.clone())?;
                // A value the replayed part bound keeps its number in what is recorded.
                let recorder = Recorder::continuing(
                    path.clone(),
                    cassette,
                    self.rules.clone(),
                    tape.bindings(),
                    self.compact_journal_bytes,
                );
                (Some(tape), Some(recorder))
            }
            Mode::Passthrough => (None, None),
        };
        Ok(Session::new(name.clone(), path, tape, recorder))
    }
}

/// Says what folding a journal left by a crash did.
fn report_recovered(recovered: &Recovered) {
    tracing::warn!(
        journal = %recovered.journal.display(),
        folded = recovered.folded,
        torn_bytes = recovered.torn_bytes,
        "folded a recording journal left by a proxy that stopped without compacting into its \
         cassette; a cut-short last entry (torn_bytes) was never acknowledged to a client",
    );
}
