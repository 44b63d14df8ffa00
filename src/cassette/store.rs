//! The cassette folder: cassettes opened by name on first use, as the mode needs them, and
//! kept for the life of the process, so replay queues advance across requests and recordings
//! accumulate.
//!
//! | mode | replays from | records into |
//! |---|---|---|
//! | replay | the file (must exist) | — |
//! | record | — | a fresh cassette, replacing the file at the first write |
//! | auto | the file as it was (or nothing) | the file, appended |
//! | passthrough | — | — |
//!
//! Opening reads the disk on the blocking pool, never on a runtime thread. A cassette that
//! fails to open is not remembered, so fixing the file and retrying works without a restart.
//! Each open cassette counts the calls that reached it and keeps its first misses: its part of
//! the run report (`report.rs` owns the report's shape).

use foldhash::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use super::format::{Cassette, FormatError, Interaction};
use super::matching::IgnoreRules;
use super::recorder::Recorder;
use super::redact::Redaction;
use super::replay::{Tape, WhenExhausted};
use crate::aws::envelope::CassetteName;
use crate::cli::Mode;
use crate::report::{CassetteReport, MAX_LISTED_MISSES, MissedCall, Outcome, OutcomeCounts};

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
            interactions: tape.map_or(0, Tape::len),
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
        }
    }

    /// Appends a forwarded exchange, unredacted (the recorder numbers placeholders per cassette
    /// and redacts under its lock), on the blocking pool; its position once written. A failure
    /// is logged, never sent to the client, who still gets the answer.
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
            Ok(Some(Ok(index))) => Some(index),
            Ok(Some(Err(e))) => {
                tracing::error!(error = %e, "an interaction was not recorded; the client still got its answer");
                None
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "recording was interrupted");
                None
            }
        }
    }
}

/// Why a cassette file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No file at the expected path.
    #[error("no cassette file at {}", path.display())]
    NotFound {
        /// Where it was looked for.
        path: PathBuf,
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
    #[error("{}: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: FormatError,
    },
}

/// Reads and parses one cassette file.
pub fn read_cassette(path: &Path) -> Result<Cassette, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => LoadError::NotFound {
            path: path.to_owned(),
        },
        _ => LoadError::Io {
            path: path.to_owned(),
            source,
        },
    })?;
    Cassette::from_json(&bytes).map_err(|source| LoadError::Format {
        path: path.to_owned(),
        source,
    })
}

/// Cassettes of one folder, by name: the default one opened at start, the others on first use.
#[derive(Debug)]
pub struct Library {
    dir: PathBuf,
    default: CassetteName,
    /// Held apart from `sessions`, so that calls to `/` take no lock.
    default_session: Arc<Session>,
    mode: Mode,
    rules: IgnoreRules,
    when_exhausted: WhenExhausted,
    sessions: RwLock<HashMap<CassetteName, Arc<Session>>>,
}

impl Library {
    /// A library over `dir` for `mode`, where `/` selects `default`. The default cassette is
    /// opened now, so that a broken setup fails at start-up, not on the first request; in
    /// replay mode, `in_memory` stands for its file.
    pub fn new(
        dir: PathBuf,
        default: CassetteName,
        in_memory: Option<Cassette>,
        mode: Mode,
        rules: IgnoreRules,
        when_exhausted: WhenExhausted,
    ) -> Result<Self, LoadError> {
        let default_session = match in_memory {
            Some(cassette) => {
                let path = PathBuf::from(IN_MEMORY);
                let tape = replay_tape(&default, &path, cassette, &rules, when_exhausted)?;
                Session::new(default.clone(), path, Some(tape), None)
            }
            None => {
                let path = cassette_path(&dir, &default);
                load_session(&default, path, mode, &rules, when_exhausted)?
            }
        };
        let default_session = Arc::new(default_session);
        let sessions = HashMap::from_iter([(default.clone(), Arc::clone(&default_session))]);
        Ok(Self {
            dir,
            default,
            default_session,
            mode,
            rules,
            when_exhausted,
            sessions: RwLock::new(sessions),
        })
    }

    /// The default cassette's name.
    pub fn default_name(&self) -> &CassetteName {
        &self.default
    }

    /// The default cassette's session.
    pub fn default_session(&self) -> &Arc<Session> {
        &self.default_session
    }

    /// The named cassette, opened on first use, or the default one.
    pub async fn session(
        self: &Arc<Self>,
        name: Option<&CassetteName>,
    ) -> Result<Arc<Session>, Unavailable> {
        let Some(name) = name else {
            return Ok(Arc::clone(&self.default_session));
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
            reason: e.to_string(),
        })
    }

    /// The named cassette if it is open already (the default one always is); never opens.
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
            reached.push(&self.default_session);
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

    fn open(&self, name: &CassetteName) -> Result<Arc<Session>, LoadError> {
        let session = load_session(
            name,
            cassette_path(&self.dir, name),
            self.mode,
            &self.rules,
            self.when_exhausted,
        )?;
        let mut sessions = self.sessions.write().unwrap_or_else(|e| e.into_inner());
        // Two first requests may open the same file at once; the first one in is kept.
        Ok(Arc::clone(
            sessions
                .entry(name.clone())
                .or_insert_with(|| Arc::new(session)),
        ))
    }
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

/// Indexes `cassette`, the contents of `path`, for replay.
fn replay_tape(
    name: &CassetteName,
    path: &Path,
    cassette: Cassette,
    rules: &IgnoreRules,
    when_exhausted: WhenExhausted,
) -> Result<Tape, LoadError> {
    Tape::new(
        name.as_str(),
        path.to_owned(),
        cassette,
        rules.clone(),
        when_exhausted,
    )
    .map_err(|source| LoadError::Format {
        path: path.to_owned(),
        source,
    })
}

/// Reads (or, for recording, prepares) the cassette at `path` for `mode`.
fn load_session(
    name: &CassetteName,
    path: PathBuf,
    mode: Mode,
    rules: &IgnoreRules,
    when_exhausted: WhenExhausted,
) -> Result<Session, LoadError> {
    let tape = |cassette: Cassette| replay_tape(name, &path, cassette, rules, when_exhausted);
    let (tape, recorder) = match mode {
        Mode::Replay => (Some(tape(read_cassette(&path)?)?), None),
        Mode::Record => (None, Some(Recorder::new(path.clone(), recorded_cassette()))),
        Mode::Auto => {
            let cassette = match read_cassette(&path) {
                Ok(cassette) => cassette,
                Err(LoadError::NotFound { .. }) => recorded_cassette(),
                Err(e) => return Err(e),
            };
            let tape = tape(cassette.clone())?;
            (Some(tape), Some(Recorder::new(path.clone(), cassette)))
        }
        Mode::Passthrough => (None, None),
    };
    Ok(Session::new(name.clone(), path, tape, recorder))
}

/// A new cassette that says where it came from.
fn recorded_cassette() -> Cassette {
    Cassette {
        note: Some(format!(
            "Recorded by ssm-vcr {}.",
            env!("CARGO_PKG_VERSION")
        )),
        ..Cassette::new()
    }
}
