//! What checkpoints prove about a log: `audit verify --checkpoint … --public-key …` and
//! `audit prove`.
//!
//! The chain is walked as `verify` walks it; on the way the Merkle tree is rebuilt, and every
//! checkpoint record the log holds is checked: its signature (with a key), and its root against
//! the records before it. Then each trusted checkpoint, kept elsewhere, is checked against the
//! log, and each finding is one plain line with its own exit code:
//!
//! - **truncated** (3): a trusted checkpoint covers more records than the log holds;
//! - **replaced or forked** (4): at a trusted checkpoint's size the log's root differs, or two
//!   checkpoints of one size disagree;
//! - **gap** (5): records were written, or the proxy is still running, longer than twice the
//!   heartbeat after the last checkpoint;
//! - **forged** (6): a checkpoint names the key but its signature does not verify.
//!
//! A checkpoint signed by another key is refused outright (exit 2): the wrong key was given.
//! Trusted checkpoints are also checked against one another: each is shown consistent with the
//! next by an RFC 9162 consistency proof made from the log. This module reads files and prints
//! nothing; `cli/` prints.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;

use super::checkpoint::{Checkpoint, NoteError};
use super::checkpointer::SHUTDOWN;
use super::keys::VerifierKey;
use super::merkle::{Frontier, Hash, Leaves, leaf_hash, verify_consistency, verify_inclusion};
use super::record::{Event, Record};
use super::verify::{Report, verify_with};

/// A checkpoint read from a file, kept away from the log.
#[derive(Debug, Clone)]
pub struct Trusted {
    /// The file it came from.
    pub file: PathBuf,
    /// The signed note as read.
    pub note: String,
}

/// What a check against checkpoints found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The log holds fewer records than a trusted checkpoint covers.
    Truncated(String),
    /// The log's root at a checkpoint's size differs from the checkpoint's.
    Replaced(String),
    /// Checkpoints stopped while the log shows the proxy running.
    Gap(String),
    /// A checkpoint's signature does not verify.
    Forged(String),
    /// What was given cannot be checked: a checkpoint signed by another key than the one given,
    /// or a log that does not begin at its first record.
    Refused(String),
}

impl Finding {
    /// The exit code of `audit verify` when this is the worst finding.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Refused(_) => 2,
            Self::Truncated(_) => 3,
            Self::Replaced(_) => 4,
            Self::Gap(_) => 5,
            Self::Forged(_) => 6,
        }
    }

    /// How bad it is, worst first: a replaced log, then forgery, truncation, a gap.
    fn rank(&self) -> u8 {
        match self {
            Self::Refused(_) => 0,
            Self::Replaced(_) => 1,
            Self::Forged(_) => 2,
            Self::Truncated(_) => 3,
            Self::Gap(_) => 4,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated(what) => write!(f, "truncated: {what}"),
            Self::Replaced(what) => write!(f, "replaced or forked: {what}"),
            Self::Gap(what) => write!(f, "gap: {what}"),
            Self::Forged(what) => write!(f, "forged: {what}"),
            Self::Refused(what) => write!(f, "refused: {what}"),
        }
    }
}

/// The outcome of `audit verify` with checkpoints.
#[derive(Debug)]
pub struct Anchored {
    /// The chain's own check.
    pub report: Report,
    /// What held, one line each.
    pub held: Vec<String>,
    /// What could not be checked, and why, one line each.
    pub unchecked: Vec<String>,
    /// What did not, worst first.
    pub findings: Vec<Finding>,
}

/// Reads trusted checkpoints: files, and every file of a folder (a central witness's
/// collection); each holds one signed note.
pub fn read_trusted(paths: &[PathBuf]) -> Result<Vec<Trusted>, (PathBuf, std::io::Error)> {
    let mut trusted = Vec::new();
    for path in paths {
        let files = if path.is_dir() {
            let entries = fs::read_dir(path).map_err(|e| (path.clone(), e))?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|file| file.is_file())
                .collect();
            files.sort();
            files
        } else {
            vec![path.clone()]
        };
        for file in files {
            let note = fs::read_to_string(&file).map_err(|e| (file.clone(), e))?;
            trusted.push(Trusted { file, note });
        }
    }
    Ok(trusted)
}

/// The walk's state: the tree so far, and what the log's own checkpoints said.
struct Walk<'k> {
    /// The keys signatures are checked with; none, signatures are not checked.
    keys: &'k [VerifierKey],
    /// The seq of the first record read: the tree's leaf `i` is seq `i + 1` only from seq 1.
    first_seq: Option<u64>,
    leaves: Vec<Hash>,
    tree: Frontier,
    /// The origins of the log's own checkpoints (more than one if it moved between hosts).
    origins: BTreeSet<String>,
    /// The heartbeat the latest checkpoint announced.
    heartbeat: Option<Duration>,
    /// When the proxy last showed it was alive and checkpointing: a checkpoint or a start.
    alive_at: Option<SystemTime>,
    /// The newest checkpoint record: its checkpoint, and whether the proxy stopped with it.
    newest: Option<(Checkpoint, bool)>,
    embedded: u64,
    /// Whether the log's checkpoints were found signed by another key: said once.
    refused: bool,
    gaps: Vec<String>,
    findings: Vec<Finding>,
}

impl Walk<'_> {
    fn visit(&mut self, record: &Record, line: &[u8]) {
        if *self.first_seq.get_or_insert(record.seq) != 1 {
            // The tree cannot be rebuilt without the records before: only counted.
            self.embedded += u64::from(record.event == Event::Checkpoint);
            return;
        }
        let time = humantime::parse_rfc3339(&record.time).ok();
        match record.event {
            Event::Checkpoint => self.checkpoint_record(record, time),
            Event::Start => self.alive_at = time,
            Event::Rotate | Event::Attempt | Event::Outcome => self.look_for_gap(record, time),
        }
        let leaf = leaf_hash(line);
        self.leaves.push(leaf);
        self.tree.push(leaf);
    }

    fn checkpoint_record(&mut self, record: &Record, time: Option<SystemTime>) {
        self.embedded += 1;
        let seq = record.seq;
        let note = record.checkpoint.as_deref().unwrap_or_default();
        let opened = match self.keys {
            [] => Checkpoint::read_unverified(note),
            keys => Checkpoint::open(note, keys),
        };
        let checkpoint = match opened {
            Ok(checkpoint) => checkpoint,
            Err(NoteError::OtherKey { .. }) if self.refused => return,
            Err(NoteError::OtherKey { key, signers }) => {
                self.refused = true;
                return self.findings.push(Finding::Refused(format!(
                    "the log's checkpoints are signed by {signers}, not by the key {key}: give the \
                     public key of the proxy that wrote the log"
                )));
            }
            Err(e) => {
                return self.findings.push(Finding::Forged(format!(
                    "the checkpoint record seq {seq}: {e}"
                )));
            }
        };
        if checkpoint.size != self.tree.size() || checkpoint.root != self.tree.root() {
            self.findings.push(Finding::Replaced(format!(
                "the checkpoint record seq {seq} signs a tree of {} records that is not the {} \
                 records before it: records before it were replaced",
                checkpoint.size,
                self.tree.size()
            )));
        }
        self.origins.insert(checkpoint.origin.clone());
        self.heartbeat = Some(Duration::from_millis(checkpoint.heartbeat_ms));
        self.alive_at = time;
        let shutdown = record.detail.as_deref() == Some(SHUTDOWN);
        self.newest = Some((checkpoint, shutdown));
    }

    fn look_for_gap(&mut self, record: &Record, time: Option<SystemTime>) {
        let (Some(heartbeat), Some(alive_at), Some(time)) = (self.heartbeat, self.alive_at, time)
        else {
            return;
        };
        if let Ok(silence) = time.duration_since(alive_at)
            && silence > heartbeat * 2
        {
            self.gaps.push(format!(
                "seq {} was written {} after the last checkpoint or start, with a heartbeat every \
                 {}: the proxy ran without issuing checkpoints",
                record.seq,
                humantime::format_duration(round_to_seconds(silence)),
                humantime::format_duration(heartbeat)
            ));
            // One finding per silence, not one per record in it.
            self.alive_at = Some(time);
        }
    }
}

fn round_to_seconds(duration: Duration) -> Duration {
    Duration::from_secs(duration.as_secs())
}

/// Verifies the chain of `files`, the checkpoints it holds and the `trusted` ones, at `now`;
/// signatures are checked with `keys` (any of them may have signed a checkpoint), and not at
/// all without any.
pub fn verify_anchored<P: AsRef<Path>>(
    files: &[P],
    keys: &[VerifierKey],
    trusted: &[Trusted],
    now: SystemTime,
) -> Anchored {
    let mut walk = Walk {
        keys,
        first_seq: None,
        leaves: Vec::new(),
        tree: Frontier::default(),
        origins: BTreeSet::new(),
        heartbeat: None,
        alive_at: None,
        newest: None,
        embedded: 0,
        refused: false,
        gaps: Vec::new(),
        findings: Vec::new(),
    };
    let report = verify_with(files, &mut |record, line| walk.visit(record, line));
    if let Some(first) = walk.first_seq.filter(|&seq| seq != 1) {
        // A chain that continues unchecked files verifies as it always did; only checkpoints
        // need every record from seq 1.
        let (unchecked, findings) = match (trusted.is_empty(), walk.embedded) {
            (false, _) => (vec![], vec![Finding::Refused(from_the_first_record(first))]),
            (true, 0) => (vec![], vec![]),
            (true, embedded) => (
                vec![format!(
                    "the log's {embedded} checkpoint(s) were not checked against its records: {}",
                    from_the_first_record(first)
                )],
                vec![],
            ),
        };
        return Anchored {
            report,
            held: Vec::new(),
            unchecked,
            findings,
        };
    }
    let leaves = Leaves(std::mem::take(&mut walk.leaves));
    let mut held = Vec::new();
    if walk.embedded > 0 && walk.findings.is_empty() {
        held.push(format!(
            "the log's {} checkpoint(s) match its records{}",
            walk.embedded,
            if !keys.is_empty() {
                ", and their signatures verify"
            } else {
                " (signatures not checked: no --public-key)"
            }
        ));
    }
    let mut findings = walk.findings;
    findings.extend(walk.gaps.into_iter().map(Finding::Gap));
    if report.broken.is_none()
        && let Some((newest, false)) = &walk.newest
        && let Some(finding) = silent_since(newest, now)
    {
        findings.push(finding);
    }
    if !keys.is_empty() {
        check_trusted(
            &leaves,
            keys,
            trusted,
            &walk.origins,
            &mut held,
            &mut findings,
        );
    }
    findings.sort_by_key(Finding::rank);
    Anchored {
        report,
        held,
        unchecked: Vec::new(),
        findings,
    }
}

/// A gap at the end: the log does not end with a shutdown checkpoint, and its newest is older
/// than twice its heartbeat.
fn silent_since(newest: &Checkpoint, now: SystemTime) -> Option<Finding> {
    let issued = humantime::parse_rfc3339(&newest.time).ok()?;
    let age = now.duration_since(issued).ok()?;
    let heartbeat = Duration::from_millis(newest.heartbeat_ms);
    (age > heartbeat * 2).then(|| {
        Finding::Gap(format!(
            "the newest checkpoint ({}, size {}) is {} old, with a heartbeat every {}, and the log \
             does not end with a shutdown checkpoint: the proxy stopped issuing checkpoints, or \
             stopped without its last one",
            newest.time,
            newest.size,
            humantime::format_duration(round_to_seconds(age)),
            humantime::format_duration(heartbeat)
        ))
    })
}

/// Kept checkpoints at most named one by one; more are summed up in one line.
const NAMED_ONE_BY_ONE: usize = 5;

fn check_trusted(
    leaves: &Leaves,
    keys: &[VerifierKey],
    trusted: &[Trusted],
    origins: &BTreeSet<String>,
    held: &mut Vec<String>,
    findings: &mut Vec<Finding>,
) {
    // A witness's folder holds other logs' checkpoints too: told apart by their origin, once
    // the log's own checkpoints name its own.
    let another_log = |origin: &str| !origins.is_empty() && !origins.contains(origin);
    let mut by_size: BTreeMap<u64, (Checkpoint, &Path)> = BTreeMap::new();
    let mut others = 0;
    for Trusted { file, note } in trusted {
        let shown = file.display();
        let checkpoint = match Checkpoint::open(note, keys) {
            Ok(checkpoint) => checkpoint,
            Err(NoteError::OtherKey { .. }) if another_log(note.lines().next().unwrap_or("")) => {
                others += 1; // another node's log, in a witness's folder
                continue;
            }
            Err(NoteError::OtherKey { key, signers }) => {
                findings.push(Finding::Refused(format!(
                    "{shown} is signed by {signers}, not by the key {key}: give the public key of \
                     the proxy that signed it"
                )));
                continue;
            }
            Err(e) => {
                findings.push(Finding::Forged(format!("{shown}: {e}")));
                continue;
            }
        };
        if another_log(&checkpoint.origin) {
            others += 1;
        } else if let Some((first, first_file)) = by_size.get(&checkpoint.size) {
            if first.root != checkpoint.root {
                findings.push(Finding::Replaced(format!(
                    "{shown} and {} both sign a tree of {} records, with different roots: the log \
                     was forked",
                    first_file.display(),
                    checkpoint.size
                )));
            }
        } else {
            by_size.insert(checkpoint.size, (checkpoint, file));
        }
    }
    let size = leaves.0.len() as u64;
    let roots = leaves.roots_at(by_size.keys().copied());
    let mut matched = Vec::new();
    for (checkpoint, file) in by_size.values() {
        let shown = file.display();
        match roots.get(&checkpoint.size) {
            None => findings.push(Finding::Truncated(format!(
                "the log holds {size} records, and {shown} (issued {}) covers {}: the last {} \
                 records were cut off",
                checkpoint.time,
                checkpoint.size,
                checkpoint.size - size
            ))),
            Some(root) if *root != checkpoint.root => findings.push(Finding::Replaced(format!(
                "{shown} (issued {}) signs root {} for the first {} records, and the log's is {}: \
                 the log was replaced, or records within it rewritten with a new chain",
                checkpoint.time,
                BASE64.encode(checkpoint.root),
                checkpoint.size,
                BASE64.encode(root)
            ))),
            Some(_) => matched.push((checkpoint, *file)),
        }
    }
    match matched.as_slice() {
        few if few.len() <= NAMED_ONE_BY_ONE => held.extend(few.iter().map(|(checkpoint, file)| {
            format!(
                "{} (size {}, issued {}) matches the log",
                file.display(),
                checkpoint.size,
                checkpoint.time
            )
        })),
        [(first, first_file), .., (last, last_file)] => held.push(format!(
            "{} kept checkpoints match the log, from {} (size {}, issued {}) to {} (size {}, issued {})",
            matched.len(),
            first_file.display(),
            first.size,
            first.time,
            last_file.display(),
            last.size,
            last.time
        )),
        _ => {}
    }
    if others > 0 {
        held.push(format!(
            "{others} checkpoint(s) of other logs left aside (another origin)"
        ));
    }
    if let [(oldest, oldest_file), .., (newest, newest_file)] = matched.as_slice() {
        consistent(
            leaves,
            (oldest, oldest_file),
            (newest, newest_file),
            held,
            findings,
        );
    }
}

/// The oldest kept checkpoint the log matches is shown a prefix of the newest by a
/// consistency proof made from the log and checked against the two signed roots alone: what a
/// witness holding only those two would check. (Every one between matches the same log.)
fn consistent(
    leaves: &Leaves,
    (old, old_file): (&Checkpoint, &Path),
    (new, new_file): (&Checkpoint, &Path),
    held: &mut Vec<String>,
    findings: &mut Vec<Finding>,
) {
    let Some(path) = leaves.consistency_path(old.size, new.size) else {
        return; // both matched the log, so it reaches both
    };
    if verify_consistency(old.size, new.size, &old.root, &new.root, &path) {
        held.push(format!(
            "{} (size {}) is consistent with {} (size {})",
            old_file.display(),
            old.size,
            new_file.display(),
            new.size
        ));
    } else {
        // Unreachable when both roots match the log; kept so that a proof bug cannot pass.
        findings.push(Finding::Replaced(format!(
            "no consistency proof from {} to {} verifies",
            old_file.display(),
            new_file.display()
        )));
    }
}

/// `audit prove`'s answer: an RFC 6962 inclusion proof, in base64 as checkpoints are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InclusionProof {
    /// The record's leaf index: its `seq` − 1.
    pub leaf_index: u64,
    /// The size of the tree the proof is for: the checkpoint's.
    pub tree_size: u64,
    /// The checkpoint's root.
    pub root: String,
    /// The sibling hashes from the leaf up.
    pub inclusion_path: Vec<String>,
    /// SHA-256(0x00 ‖ record), the leaf the path starts from.
    pub leaf_hash: String,
    /// The record's line: hash it to get `leaf_hash`.
    pub record: String,
}

/// Why the records cannot be read as a tree from seq 1.
fn from_the_first_record(first: u64) -> String {
    format!(
        "checkpoints cover the log from seq 1, and the files given begin at seq {first}: give the \
         rotated files before them too (one file is read with its rotated predecessors)"
    )
}

/// The inclusion proof of record `seq` of the log in `files` under `checkpoint`, whose root
/// must be the log's at its size.
pub fn prove<P: AsRef<Path>>(
    files: &[P],
    seq: u64,
    checkpoint: &Checkpoint,
) -> Result<InclusionProof, String> {
    let (mut leaves, mut record, mut first) = (Vec::new(), None, None);
    let report = verify_with(files, &mut |read, line| {
        first.get_or_insert(read.seq);
        if read.seq == seq {
            record = Some(line.to_vec());
        }
        leaves.push(leaf_hash(line));
    });
    if let Some(broken) = report.broken {
        return Err(format!("the audit chain is broken at {broken}"));
    }
    if let Some(first) = first.filter(|&first| first != 1) {
        return Err(from_the_first_record(first));
    }
    let leaves = Leaves(leaves);
    let index = seq.checked_sub(1).ok_or("seq starts at 1")?;
    if index >= checkpoint.size {
        return Err(format!(
            "the checkpoint covers seq 1 to {}, not seq {seq}: use a later checkpoint",
            checkpoint.size
        ));
    }
    match leaves.root(checkpoint.size) {
        Some(root) if root == checkpoint.root => {}
        Some(_) => {
            return Err(
                "the log's root at the checkpoint's size differs from the checkpoint's: run \
                 `ssm-vcr audit verify` with it"
                    .to_owned(),
            );
        }
        None => {
            return Err(format!(
                "the log holds {} records, fewer than the checkpoint's {}: it was truncated",
                leaves.0.len(),
                checkpoint.size
            ));
        }
    }
    let (Some(path), Some(record)) = (leaves.inclusion_path(index, checkpoint.size), record) else {
        return Err(format!("the log has no record seq {seq}"));
    };
    let leaf = leaf_hash(&record);
    if !verify_inclusion(&leaf, index, checkpoint.size, &path, &checkpoint.root) {
        // Checked as any verifier will: a proof that fails here is never printed.
        return Err(format!("the inclusion proof of seq {seq} does not verify"));
    }
    Ok(InclusionProof {
        leaf_index: index,
        tree_size: checkpoint.size,
        root: BASE64.encode(checkpoint.root),
        inclusion_path: path.iter().map(|hash| BASE64.encode(hash)).collect(),
        leaf_hash: BASE64.encode(leaf),
        record: String::from_utf8_lossy(&record).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::audit::checkpointer::{CheckpointPolicy, LatestCheckpoint};
    use crate::audit::keys::SigningKey;
    use crate::audit::writer::{Layout, Writer};

    const HEARTBEAT: Duration = Duration::from_secs(60);

    /// A new log, and its writer signing with `key`, checkpointing every 1000 records or
    /// `HEARTBEAT`.
    struct Signing {
        /// Held: the folder lives as long as the log in it.
        _dir: tempfile::TempDir,
        log: PathBuf,
        key: SigningKey,
        latest: LatestCheckpoint,
        writer: Writer,
    }

    fn signing() -> Signing {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.jsonl");
        let key = SigningKey::generate("k").unwrap();
        let latest = LatestCheckpoint::default();
        let layout = Layout {
            max_file_bytes: 1 << 30,
            preallocate: false,
        };
        let policy = CheckpointPolicy {
            key: SigningKey::parse(&key.private_text()).unwrap(),
            every: 1000,
            interval: HEARTBEAT,
            origin: None,
        };
        let writer = Writer::open(&log, layout, "replay", Some((policy, latest.clone()))).unwrap();
        Signing {
            _dir: dir,
            log,
            key,
            latest,
            writer,
        }
    }

    fn outcome_at(time: SystemTime) -> crate::audit::record::Draft {
        Record {
            time: humantime::format_rfc3339_millis(time).to_string().into(),
            status: Some(200),
            ..Record::default()
        }
        .into_draft()
    }

    fn gaps(anchored: &Anchored) -> Vec<&str> {
        (anchored.findings.iter())
            .filter_map(|finding| match finding {
                Finding::Gap(what) => Some(what.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn records_written_long_after_the_last_checkpoint_are_a_gap() {
        let mut run = signing();
        run.writer.heartbeat().unwrap();
        let now = SystemTime::now();
        run.writer.append([&outcome_at(now + HEARTBEAT)]).unwrap();
        run.writer
            .append([&outcome_at(now + HEARTBEAT * 10)])
            .unwrap();
        run.writer.close();
        let anchored = verify_anchored(&[&run.log], &[run.key.verifier()], &[], now);
        assert_eq!(
            gaps(&anchored),
            [
                "seq 4 was written 10m after the last checkpoint or start, with a heartbeat every \
              1m: the proxy ran without issuing checkpoints"
            ],
            "within twice the heartbeat is no gap; beyond it is: {:?}",
            anchored.findings
        );
    }

    #[test]
    fn a_log_whose_newest_checkpoint_is_old_and_not_a_shutdown_is_a_gap() {
        let mut run = signing();
        run.writer.heartbeat().unwrap();
        run.writer.close();
        let whole = std::fs::read_to_string(&run.log).unwrap();
        let without_shutdown: Vec<&str> = whole.lines().take(2).collect();
        std::fs::write(&run.log, without_shutdown.join("\n") + "\n").unwrap();

        let now = SystemTime::now();
        let fresh = verify_anchored(&[&run.log], &[run.key.verifier()], &[], now);
        assert!(fresh.findings.is_empty(), "{:?}", fresh.findings);
        let later = verify_anchored(&[&run.log], &[run.key.verifier()], &[], now + HEARTBEAT * 3);
        let gap = gaps(&later);
        assert_eq!(gap.len(), 1, "{:?}", later.findings);
        assert!(
            gap[0].contains("size 1) is 3m old, with a heartbeat every 1m, and the log does not end with a shutdown checkpoint"),
            "{}",
            gap[0]
        );
    }

    #[test]
    fn trusted_checkpoints_are_shown_consistent_with_one_another() {
        let mut run = signing();
        let mut trusted = Vec::new();
        for n in 0..7 {
            run.writer.append([&outcome_at(SystemTime::now())]).unwrap();
            run.writer.heartbeat().unwrap();
            trusted.push(Trusted {
                file: PathBuf::from(format!("kept-{n}")),
                note: run.latest.get().unwrap().note,
            });
        }
        run.writer.close();
        let anchored = verify_anchored(
            &[&run.log],
            &[run.key.verifier()],
            &trusted,
            SystemTime::now(),
        );
        assert!(anchored.findings.is_empty(), "{:?}", anchored.findings);
        let held = &anchored.held;
        assert!(
            held[1].starts_with("7 kept checkpoints match the log, from kept-0 (size 2, issued ")
                && held[1].contains(" to kept-6 (size 14, issued "),
            "more than five are summed up: {held:?}"
        );
        assert_eq!(
            held[2], "kept-0 (size 2) is consistent with kept-6 (size 14)",
            "{held:?}"
        );

        // Two checkpoints of one size that disagree are a fork, whatever the log says.
        let other = SigningKey::parse(&run.key.private_text()).unwrap();
        let mut forked = Checkpoint::open(&trusted[1].note, &[run.key.verifier()]).unwrap();
        forked.root = [9; 32];
        trusted.push(Trusted {
            file: PathBuf::from("forked"),
            note: forked.sign(&other),
        });
        let anchored = verify_anchored(
            &[&run.log],
            &[run.key.verifier()],
            &trusted,
            SystemTime::now(),
        );
        assert!(
            matches!(&anchored.findings[0], Finding::Replaced(what) if what.contains("forked and kept-1 both sign a tree of 4 records")),
            "{:?}",
            anchored.findings
        );
    }
}
