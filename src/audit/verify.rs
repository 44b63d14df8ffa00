//! `ssm-vcr audit verify`: checks every record's own hash, the sequence, and the chain from
//! record to record and file to file, and summarises what the log says.
//!
//! The first problem stops the check and is named by file, line and sequence number. A hash
//! chain cannot show that records were cut off the *end* of the newest file, nor a file
//! replaced whole: signed checkpoints kept elsewhere do (`anchor`), reading the records this
//! walk shows them ([`verify_with`]).

use std::fmt;
use std::path::{Path, PathBuf};

use super::files::written_part;
use super::record::{Event, GENESIS, Record, Source, unseal};

/// What a verified log holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Files checked, in chain order.
    pub files: Vec<PathBuf>,
    /// Records checked.
    pub records: u64,
    /// Whether the first record chains to the genesis hash (a complete log).
    pub from_genesis: bool,
    /// Proxy starts recorded.
    pub starts: u64,
    /// Attempt records (calls forwarded to AWS).
    pub attempts: u64,
    /// Audited calls answered (outcome records).
    pub calls: u64,
    /// Checkpoint records (signed tree heads).
    pub checkpoints: u64,
    /// Outcomes with a 2xx status.
    pub succeeded: u64,
    /// Outcomes refused by the proxy itself (validation, miss, bad input).
    pub rejected: u64,
    /// Outcomes where AWS (or its recording) answered with a 4xx error.
    pub aws_errors: u64,
    /// Outcomes with a 5xx status (AWS failure, transport failure, audit failure).
    pub failed: u64,
    /// Time of the first record.
    pub first_time: Option<String>,
    /// Time of the last record.
    pub last_time: Option<String>,
    /// Hash of the last record: keep it elsewhere to detect a later truncation.
    pub last_hash: Option<String>,
}

/// Where and why the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The file.
    pub file: PathBuf,
    /// Line number, from 1.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} line {}: {}",
            self.file.display(),
            self.line,
            self.reason
        )
    }
}

/// The outcome of a check: what verified, and where the chain breaks, if it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Everything up to the first problem.
    pub summary: Summary,
    /// The first problem, if any.
    pub broken: Option<Broken>,
}

/// Verifies the files as one chain, in the order given.
pub fn verify<P: AsRef<Path>>(files: &[P]) -> Report {
    verify_with(files, &mut |_, _| {})
}

/// Verifies the files as one chain, and shows `visit` each record that verifies, with its line
/// (without the line end), in chain order: what a check of checkpoints reads.
pub fn verify_with<P: AsRef<Path>>(
    files: &[P],
    visit: &mut dyn FnMut(&Record<'static>, &[u8]),
) -> Report {
    let mut summary = Summary::default();
    match check(files, &mut summary, visit) {
        Ok(()) => Report {
            summary,
            broken: None,
        },
        Err(broken) => Report {
            summary,
            broken: Some(broken),
        },
    }
}

fn check<P: AsRef<Path>>(
    files: &[P],
    summary: &mut Summary,
    visit: &mut dyn FnMut(&Record<'static>, &[u8]),
) -> Result<(), Broken> {
    let mut previous: Option<(u64, String)> = None;
    for file in files {
        let file = file.as_ref();
        summary.files.push(file.to_owned());
        let broken = |line: usize, reason: String| Broken {
            file: file.to_owned(),
            line,
            reason,
        };
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) => return Err(broken(0, format!("cannot be read: {e}"))),
        };
        let mut lines: Vec<&[u8]> = written_part(&bytes).split(|&b| b == b'\n').collect();
        let torn = lines.pop().filter(|rest| !rest.is_empty());
        for (index, line) in lines.iter().enumerate() {
            let number = index + 1;
            let (record, hash) = match unseal(line) {
                Ok(ok) => ok,
                Err(e) => return Err(broken(number, format!("the record does not verify: {e}"))),
            };
            if let Err(reason) = check_link(&record, previous.as_ref()) {
                return Err(broken(number, format!("seq {}: {reason}", record.seq)));
            }
            if previous.is_none() {
                summary.from_genesis = record.prev == GENESIS;
                summary.first_time = Some(record.time.to_string());
            }
            count(summary, &record);
            visit(&record, line);
            summary.last_time = Some(record.time.to_string());
            summary.last_hash = Some(hash.clone());
            previous = Some((record.seq, hash));
        }
        if let Some(rest) = torn {
            let reason = format!(
                "incomplete record ({} bytes without a line end): a torn write from a crash, or the file \
                 was truncated; the {} records before it verify",
                rest.len(),
                summary.records
            );
            return Err(broken(lines.len() + 1, reason));
        }
    }
    Ok(())
}

fn check_link(record: &Record, previous: Option<&(u64, String)>) -> Result<(), String> {
    let Some((seq, hash)) = previous else {
        return Ok(()); // the first record checked may continue an older, unchecked file
    };
    if record.seq != seq + 1 {
        return Err(format!(
            "expected seq {} after seq {seq}: records were removed, inserted or reordered",
            seq + 1
        ));
    }
    if &record.prev != hash {
        return Err(format!(
            "its prev does not match the hash of seq {seq}: the record before it was replaced"
        ));
    }
    Ok(())
}

fn count(summary: &mut Summary, record: &Record) {
    summary.records += 1;
    match record.event {
        Event::Start => summary.starts += 1,
        Event::Rotate => {}
        Event::Checkpoint => summary.checkpoints += 1,
        Event::Attempt => summary.attempts += 1,
        Event::Outcome => {
            summary.calls += 1;
            match (record.status.unwrap_or(0), record.source) {
                (200..=299, _) => summary.succeeded += 1,
                (500.., _) | (0, _) => summary.failed += 1,
                (_, Some(Source::Proxy)) => summary.rejected += 1,
                _ => summary.aws_errors += 1,
            }
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files: Vec<String> = self.files.iter().map(|p| p.display().to_string()).collect();
        writeln!(f, "files: {}", files.join(", "))?;
        writeln!(
            f,
            "records: {} ({}; {} proxy start(s), {} checkpoint(s))",
            self.records,
            if self.from_genesis {
                "complete from the first record"
            } else {
                "continuing an earlier file that was not checked"
            },
            self.starts,
            self.checkpoints
        )?;
        writeln!(
            f,
            "audited calls: {} ({} succeeded, {} rejected by the proxy, {} AWS errors, {} failed); {} forwarded to AWS",
            self.calls, self.succeeded, self.rejected, self.aws_errors, self.failed, self.attempts
        )?;
        if let (Some(first), Some(last)) = (&self.first_time, &self.last_time) {
            writeln!(f, "from {first} to {last}")?;
        }
        if let Some(hash) = &self.last_hash {
            write!(f, "last hash: {hash}")?;
        }
        Ok(())
    }
}
