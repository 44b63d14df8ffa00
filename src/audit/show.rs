//! `ssm-vcr audit show` and `audit follow`: the audited calls of a log as a table, filtered the
//! way people ask ("who deregistered tasks of this window, and when?"), once or as they are
//! written. It reads both record formats; it does not verify (run `audit verify` for that).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use super::files::{rotated_files, written_part};
use super::record::{Event, Record, Source, unseal};

const HEADER: &str = "TIME                      ACCESS KEY            CLIENT                 \
                      OPERATION                               STATUS  ERROR                         SOURCE    WHAT\n";

/// Which outcome records to show; also the filter flags of `audit show` and `audit follow`.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Filter {
    /// Only this operation.
    #[arg(long)]
    pub operation: Option<String>,
    /// Only calls with this `WindowId`.
    #[arg(long)]
    pub window_id: Option<String>,
    /// Only this access key id.
    #[arg(long)]
    pub access_key_id: Option<String>,
    /// Only at or after this UTC time (e.g. 2026-11-25T09:00:00Z; RFC 3339, compared as text).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only before this UTC time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

impl Filter {
    fn keeps(&self, record: &Record<'_>) -> bool {
        let same = |wanted: &Option<String>, actual: Option<&str>| {
            wanted.as_deref().is_none_or(|w| actual == Some(w))
        };
        record.event == Event::Outcome
            && same(&self.operation, record.operation_name())
            && same(&self.window_id, record.identified("WindowId"))
            && same(&self.access_key_id, record.access_key_id.as_deref())
            && self
                .since
                .as_ref()
                .is_none_or(|since| *record.time >= **since)
            && self
                .until
                .as_ref()
                .is_none_or(|until| *record.time < **until)
    }
}

/// The matching audited calls as a table, one per line, oldest first.
pub fn table(files: &[PathBuf], filter: &Filter) -> Result<String, String> {
    let mut out = String::new();
    out.push_str(HEADER);
    for file in files {
        let bytes =
            std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        rows(written_part(&bytes), filter, &mut out);
    }
    Ok(out)
}

/// How often [`follow`] looks for new records when it found none: unnoticeable to a person
/// watching, and a few small reads a second for the machine.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Prints the matching audited calls of the live log `live` and of its rotated
/// predecessors, then each new one as the proxy writes it; returns only on an I/O error.
///
/// Only whole lines of the file's written part are read, so neither the preallocated zeros
/// nor a batch still being written show, and a row appears as soon as its record is written
/// (a moment before its fsync returns). When the proxy rotates the file, the rest of it is
/// read before the new live file.
pub fn follow(live: &Path, filter: &Filter, out: &mut impl Write) -> io::Result<()> {
    // The rotated files and the live one as of one moment: a rotation in between would show
    // the same records twice.
    let (rotated, file) = loop {
        let rotated = rotated_files(live);
        let file = File::open(live)?;
        if rotated_files(live) == rotated {
            break (rotated, file);
        }
    };
    let mut text = String::from(HEADER);
    for file in &rotated {
        rows(written_part(&std::fs::read(file)?), filter, &mut text);
    }
    out.write_all(text.as_bytes())?;
    out.flush()?;
    let mut tail = Tail::new(file)?;
    loop {
        if tail.print_new_rows(filter, out)? {
            continue;
        }
        if tail.moved_aside(live)? {
            // No record is added to a file once it is moved aside: print what it got last.
            tail.print_new_rows(filter, out)?;
            tail = Tail::new(reopen(live)?)?;
        } else {
            thread::sleep(FOLLOW_POLL);
        }
    }
}

/// The live file being followed, and how far it has been printed.
struct Tail {
    file: File,
    /// Where the whole lines printed so far end.
    offset: u64,
    /// The sequence number of the file's first record, once it has one: every file of a log
    /// begins with a record of its own (start or rotate), so this tells the files apart.
    first_seq: Option<u64>,
    buffer: Vec<u8>,
}

impl Tail {
    fn new(mut file: File) -> io::Result<Self> {
        let first_seq = first_seq(&mut file)?;
        Ok(Self {
            file,
            offset: 0,
            first_seq,
            buffer: Vec::new(),
        })
    }

    /// Prints the rows of the whole lines written since the last call; whether there were any.
    fn print_new_rows(&mut self, filter: &Filter, out: &mut impl Write) -> io::Result<bool> {
        self.buffer.clear();
        self.file.seek(SeekFrom::Start(self.offset))?;
        self.file.read_to_end(&mut self.buffer)?;
        let written = written_part(&self.buffer);
        let Some(last) = written.iter().rposition(|&b| b == b'\n') else {
            // A failed write is rolled back to the last whole record; continue from there.
            self.offset = self.offset.min(self.file.metadata()?.len());
            return Ok(false);
        };
        let mut text = String::new();
        rows(&written[..=last], filter, &mut text);
        out.write_all(text.as_bytes())?;
        out.flush()?;
        self.offset += last as u64 + 1;
        Ok(true)
    }

    /// Whether `live` now names another file than this one (the proxy rotated the log).
    fn moved_aside(&mut self, live: &Path) -> io::Result<bool> {
        if self.first_seq.is_none() {
            self.first_seq = first_seq(&mut self.file)?;
        }
        let at_path = match File::open(live) {
            Ok(mut file) => first_seq(&mut file)?,
            // Between moving the full file aside and creating the next one.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        Ok(matches!((self.first_seq, at_path), (Some(ours), Some(theirs)) if ours != theirs))
    }
}

/// The sequence number of the first record of `file`, if it has a whole one yet.
fn first_seq(file: &mut File) -> io::Result<Option<u64>> {
    let mut line = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    BufReader::new(Read::by_ref(file).take(FIRST_LINE_LIMIT)).read_until(b'\n', &mut line)?;
    let whole = line.strip_suffix(b"\n");
    Ok(whole
        .and_then(|line| unseal(line).ok())
        .map(|(record, _)| record.seq))
}

/// How far a file's first line is looked for: a start or rotate record is a few hundred bytes.
const FIRST_LINE_LIMIT: u64 = 64 << 10;

/// The live file again, once the proxy has created it after a rotation.
fn reopen(live: &Path) -> io::Result<File> {
    loop {
        match File::open(live) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => thread::sleep(FOLLOW_POLL),
            opened => return opened,
        }
    }
}

/// Appends a row to `out` for each matching audited call in `lines` (whole JSON lines).
fn rows(lines: &[u8], filter: &Filter, out: &mut String) {
    let dash = "-";
    for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let Ok((record, _)) = unseal(line) else {
            continue;
        };
        if !filter.keeps(&record) {
            continue;
        }
        let what = (record.identifying().into_iter())
            .map(|(member, value)| format!("{member}={value}"))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(
            out,
            "{:<24}  {:<20}  {:<21}  {:<38}  {:>6}  {:<28}  {:<8}  {what}",
            record.time,
            record.access_key_id.as_deref().unwrap_or(dash),
            record.client.as_deref().unwrap_or(dash),
            record.operation_name().unwrap_or(dash),
            record.status.map_or(dash.to_owned(), |s| s.to_string()),
            record.error_type.as_deref().unwrap_or(dash),
            record.source.map_or(dash, Source::as_str)
        );
    }
}
