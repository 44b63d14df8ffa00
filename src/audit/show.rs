//! `ssm-vcr audit show`: the deregistrations of a log as a table, filtered the way people ask
//! ("who deregistered tasks of this window, and when?"). It reads; it does not verify (run
//! `audit verify` for that).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::PathBuf;

use super::record::{Event, Record, unseal};
use super::writer::written_part;

const HEADER: &str = "TIME                      ACCESS KEY            CLIENT                 WINDOW                \
                      TASK                                  STATUS  ERROR                         SOURCE\n";

/// Which outcome records to show.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Only this window id.
    pub window_id: Option<String>,
    /// Only this access key id.
    pub access_key_id: Option<String>,
    /// Only at or after this time (RFC 3339, compared as UTC text).
    pub since: Option<String>,
    /// Only before this time.
    pub until: Option<String>,
}

impl Filter {
    fn keeps(&self, record: &Record<'_>) -> bool {
        let same = |wanted: &Option<String>, actual: &Option<Cow<'_, str>>| {
            wanted
                .as_deref()
                .is_none_or(|w| actual.as_deref() == Some(w))
        };
        record.event == Event::Outcome
            && same(&self.window_id, &record.window_id)
            && same(&self.access_key_id, &record.access_key_id)
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

/// The matching deregistrations as a table, one per line, oldest first.
pub fn table(files: &[PathBuf], filter: &Filter) -> Result<String, String> {
    let mut out = String::new();
    out.push_str(HEADER);
    let dash = "-";
    for file in files {
        let bytes =
            std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        for line in written_part(&bytes)
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
        {
            let Ok((record, _)) = unseal(line) else {
                continue;
            };
            if !filter.keeps(&record) {
                continue;
            }
            let source = record
                .source
                .map_or(dash.to_owned(), |s| format!("{s:?}").to_lowercase());
            let _ = writeln!(
                out,
                "{:<24}  {:<20}  {:<21}  {:<20}  {:<36}  {:>6}  {:<28}  {}",
                record.time,
                record.access_key_id.as_deref().unwrap_or(dash),
                record.client.as_deref().unwrap_or(dash),
                record.window_id.as_deref().unwrap_or(dash),
                record.window_task_id.as_deref().unwrap_or(dash),
                record.status.map_or(dash.to_owned(), |s| s.to_string()),
                record.error_type.as_deref().unwrap_or(dash),
                source
            );
        }
    }
    Ok(out)
}
