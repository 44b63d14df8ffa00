//! Folding a journal left behind into its cassette: a proxy that was killed, or lost power,
//! before it compacted leaves `<cassette>.journal`, and whoever opens the cassette next folds
//! it in before anything else reads the file.
//!
//! Every entry a client could have been answered for was synced, so it is whole and is kept.
//! A cut-short last line was never synced, so never acknowledged: it is dropped and reported.
//! Entries the cassette already holds (a crash between writing the cassette and starting the
//! journal again) are recognised by their index and must be identical. Then the journal is
//! removed. This module does not record (`recorder.rs`) nor decide when to fold (`store.rs`).

use std::fs;
use std::path::{Path, PathBuf};

use super::file::{LoadError, read_cassette};
use super::format::{Cassette, Interaction, ModelStamp};
use super::journal::{self, Base, ReadError, read_leftover};
use crate::durable;

/// What folding a journal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The journal, now removed.
    pub journal: PathBuf,
    /// Interactions added to the cassette.
    pub folded: usize,
    /// Bytes of a last entry that was cut short, dropped.
    pub torn_bytes: usize,
}

/// Why a journal could not be folded in; the journal and the cassette are left as they were.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The journal cannot be read.
    #[error("cannot fold the recording journal: {0}")]
    Read(#[from] ReadError),
    /// The cassette it continues cannot be read.
    #[error("cannot fold the recording journal {}: {source}", journal.display())]
    Cassette {
        /// The journal.
        journal: PathBuf,
        /// Why the cassette cannot be read.
        #[source]
        source: LoadError,
    },
    /// The journal and the cassette disagree: the cassette was changed after the journal began.
    #[error(
        "the recording journal {} does not continue {}: {reason}; move the journal aside to keep the \
         cassette as it is, or restore the cassette the journal was recorded onto",
        journal.display(), cassette.display()
    )]
    Mismatch {
        /// The journal.
        journal: PathBuf,
        /// The cassette.
        cassette: PathBuf,
        /// Where they part.
        reason: String,
    },
    /// The folded cassette cannot be written, or the journal removed.
    #[error("cannot fold the recording journal into {}", path.display())]
    Write {
        /// The file that could not be written or removed.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Folds the journal of the cassette file `cassette` into it, if there is one.
pub fn recover(cassette: &Path) -> Result<Option<Recovered>, RecoveryError> {
    let journal_path = journal::path_of(cassette);
    let Some(leftover) = read_leftover(&journal_path)? else {
        return Ok(None);
    };
    let mismatch = |reason: String| RecoveryError::Mismatch {
        journal: journal_path.clone(),
        cassette: cassette.to_owned(),
        reason,
    };
    let mut folded = 0;
    if !leftover.entries.is_empty() {
        let mut file = match leftover.base {
            Some(Base::File) => match read_cassette(cassette) {
                Ok(file) => file,
                Err(LoadError::NotFound { .. }) => Cassette::recording(),
                Err(source) => {
                    return Err(RecoveryError::Cassette {
                        journal: journal_path,
                        source,
                    });
                }
            },
            // Entries exist only after a whole header.
            Some(Base::Fresh) | None => Cassette::recording(),
        };
        for (index, interaction) in leftover.entries {
            let held = file.interactions.len();
            match index.cmp(&held) {
                std::cmp::Ordering::Less if file.interactions[index] == interaction => {}
                std::cmp::Ordering::Less if repeats(&file.interactions[index], &interaction) => {
                    file.interactions[index] = interaction;
                    folded += 1;
                }
                std::cmp::Ordering::Less => {
                    return Err(mismatch(format!(
                        "its interaction {index} differs from the cassette's"
                    )));
                }
                std::cmp::Ordering::Equal => {
                    file.interactions.push(interaction);
                    folded += 1;
                }
                std::cmp::Ordering::Greater => {
                    return Err(mismatch(format!(
                        "it continues at interaction {index}, and the cassette holds {held}"
                    )));
                }
            }
        }
        if folded > 0 {
            file.model = Some(ModelStamp::current());
            let bytes = file.to_json();
            // Entries were checked as they were recorded; this catches a hand-edited journal.
            if let Err(e) = Cassette::from_json(&bytes) {
                return Err(mismatch(format!("the folded cassette would not load: {e}")));
            }
            durable::replace(cassette, &bytes).map_err(|source| RecoveryError::Write {
                path: cassette.to_owned(),
                source,
            })?;
        }
    }
    journal::remove(&journal_path).map_err(|source| RecoveryError::Write {
        path: journal_path.clone(),
        source,
    })?;
    drop(leftover.log);
    Ok(Some(Recovered {
        journal: journal_path,
        folded,
        torn_bytes: leftover.torn_bytes,
    }))
}

/// Whether `again` is `held` answered more times in a row: what a journal writes when a
/// recorded answer repeats.
fn repeats(held: &Interaction, again: &Interaction) -> bool {
    again.repeat > held.repeat
        && Interaction {
            repeat: held.repeat,
            ..again.clone()
        } == *held
}

/// Folds every journal in `dir`, each into its cassette; one that cannot be folded does not
/// stop the others. Each cassette file with what folding its journal did.
pub fn recover_folder(dir: &Path) -> Vec<(PathBuf, Result<Recovered, RecoveryError>)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut cassettes: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let cassette = name.strip_suffix(".journal")?;
            (cassette.ends_with(".json") && !cassette.starts_with('.')).then(|| dir.join(cassette))
        })
        .collect();
    cassettes.sort();
    cassettes
        .into_iter()
        .filter_map(|cassette| {
            let recovered = recover(&cassette).transpose()?;
            Some((cassette, recovered))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use http::{HeaderMap, StatusCode};
    use serde_json::json;

    use super::*;
    use crate::cassette::matching::IgnoreRules;
    use crate::cassette::recorder::{Recorder, forwarded};
    use crate::cassette::redact::Redaction;
    use crate::json::Json;

    fn window(name: &str) -> crate::cassette::format::Interaction {
        forwarded(
            "CreateMaintenanceWindow",
            "us-east-1",
            Json::from(&json!({"Name": name})),
            StatusCode::OK,
            &HeaderMap::new(),
            br#"{"WindowId":"mw-0123456789abcdef0"}"#,
        )
    }

    /// A record-mode recorder into `c.json` of a new folder, compacting past
    /// `compact_journal_bytes`; the folder lives as long as the first value.
    fn new_recording(compact_journal_bytes: u64) -> (tempfile::TempDir, PathBuf, Recorder) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let recorder = Recorder::fresh(path.clone(), IgnoreRules::default(), compact_journal_bytes);
        (dir, path, recorder)
    }

    /// Records `names`, leaving them in the journal until a compaction, as a killed proxy would.
    fn record(recorder: &Recorder, names: &[&str]) {
        let redaction = Redaction::new::<&str>(&[], &[]).unwrap();
        for name in names {
            recorder.append(window(name), &redaction, &[]).unwrap();
        }
    }

    fn names(path: &Path) -> Vec<String> {
        read_cassette(path)
            .unwrap()
            .interactions
            .iter()
            .map(|i| i.request.body["Name"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn a_torn_last_entry_is_dropped_and_every_whole_one_folded() {
        let (_dir, path, recorder) = new_recording(u64::MAX);
        record(&recorder, &["a", "b", "c"]);
        drop(recorder); // killed: nothing compacted
        assert!(!path.exists());
        let journal = journal::path_of(&path);
        let mut file = fs::OpenOptions::new().append(true).open(&journal).unwrap();
        let torn = br#"{"index":3,"interaction":{"operat"#;
        file.write_all(torn).unwrap();

        let recovered = recover(&path).unwrap().unwrap();
        assert_eq!((recovered.folded, recovered.torn_bytes), (3, torn.len()));
        assert_eq!(names(&path), ["a", "b", "c"]);
        assert!(!journal.exists());
        assert_eq!(recover(&path).unwrap(), None, "nothing is left to fold");
    }

    #[test]
    fn a_damaged_line_before_the_last_is_refused_naming_it() {
        let (_dir, path, recorder) = new_recording(u64::MAX);
        record(&recorder, &["a", "b"]);
        drop(recorder);
        let journal = journal::path_of(&path);
        let text = fs::read_to_string(&journal).unwrap();
        let damaged = text.replacen("\"index\":0", "\"index\":\u{0}", 1);
        fs::write(&journal, &damaged).unwrap();

        let error = recover(&path).unwrap_err().to_string();
        assert!(
            error.contains("c.json.journal line 2 is not a journal line of this build"),
            "{error}"
        );
        assert_eq!(
            fs::read_to_string(&journal).unwrap(),
            damaged,
            "left as it was"
        );
        assert!(!path.exists());
    }

    fn repeats(path: &Path) -> Vec<(String, u32)> {
        let cassette = read_cassette(path).unwrap();
        (cassette.interactions.iter())
            .map(|i| {
                (
                    i.request.body["Name"].as_str().unwrap().to_owned(),
                    i.repeat,
                )
            })
            .collect()
    }

    #[test]
    fn a_repeated_answer_is_counted_on_its_interaction_through_a_crash_and_a_compaction() {
        let (_dir, path, recorder) = new_recording(u64::MAX);
        record(&recorder, &["poll", "poll", "other"]);
        recorder.compact().unwrap();
        assert_eq!(
            repeats(&path),
            [("poll".to_owned(), 2), ("other".to_owned(), 1)]
        );
        // Counted after the compaction: only the journal has it when the proxy is killed.
        record(&recorder, &["poll"]);
        drop(recorder);
        let recovered = recover(&path).unwrap().unwrap();
        assert_eq!(recovered.folded, 1);
        assert_eq!(
            repeats(&path),
            [("poll".to_owned(), 3), ("other".to_owned(), 1)]
        );
    }

    #[test]
    fn a_repeat_counted_after_a_compaction_is_written_by_the_next() {
        let (_dir, path, recorder) = new_recording(u64::MAX);
        record(&recorder, &["poll"]);
        recorder.compact().unwrap();
        record(&recorder, &["poll"]);
        // Nothing new, but a count went up: the file must be written again.
        assert!(recorder.compact().unwrap());
        assert_eq!(repeats(&path), [("poll".to_owned(), 2)]);
        assert!(!recorder.compact().unwrap(), "nothing left to write");
    }

    #[test]
    fn recording_creates_the_cassette_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/folder/c.json");
        let recorder = Recorder::fresh(path.clone(), IgnoreRules::default(), u64::MAX);
        record(&recorder, &["a"]);
        assert!(recorder.compact().unwrap());
        assert_eq!(names(&path), ["a"]);
    }

    #[test]
    fn record_mode_replaces_the_old_file_once_its_journal_is_folded() {
        let (_dir, path, recorder) = new_recording(u64::MAX);
        record(&recorder, &["old"]);
        recorder.compact().unwrap();
        let recorder = Recorder::fresh(path.clone(), IgnoreRules::default(), u64::MAX);
        record(&recorder, &["new"]);
        assert_eq!(names(&path), ["old"], "the file is kept until a compaction");
        drop(recorder);
        recover(&path).unwrap();
        assert_eq!(names(&path), ["new"]);
    }

    #[test]
    fn entries_the_cassette_holds_already_are_not_folded_twice() {
        let (_dir, path, recorder) = new_recording(u64::MAX);
        record(&recorder, &["a"]);
        recorder.compact().unwrap();
        record(&recorder, &["b", "c"]);
        let journal = journal::path_of(&path);
        let before_compaction = fs::read(&journal).unwrap();
        recorder.compact().unwrap();
        drop(recorder);
        // Killed after the cassette was written, before the journal was started again.
        fs::write(&journal, before_compaction).unwrap();
        let written = fs::read(&path).unwrap();

        let recovered = recover(&path).unwrap().unwrap();
        assert_eq!(recovered.folded, 0);
        assert_eq!(
            fs::read(&path).unwrap(),
            written,
            "the cassette is untouched"
        );
        assert!(!journal.exists());
    }

    #[test]
    fn a_journal_that_does_not_continue_the_cassette_is_refused_and_left_as_it_is() {
        let (_dir, path, recorder) = new_recording(u64::MAX);
        record(&recorder, &["a"]);
        recorder.compact().unwrap();
        record(&recorder, &["b"]);
        drop(recorder);
        let mut edited = read_cassette(&path).unwrap();
        edited.interactions.clear();
        fs::write(&path, edited.to_json()).unwrap();

        let error = recover(&path).unwrap_err().to_string();
        assert!(
            error.contains("it continues at interaction 1, and the cassette holds 0"),
            "{error}"
        );
        assert!(error.contains("move the journal aside"), "{error}");
        assert!(journal::path_of(&path).exists());
        assert_eq!(fs::read(&path).unwrap(), edited.to_json());
    }

    #[test]
    fn a_journal_that_a_live_recorder_holds_is_not_folded() {
        let (_dir, path, recorder) = new_recording(u64::MAX);
        record(&recorder, &["a"]);
        let error = recover(&path).unwrap_err().to_string();
        assert!(
            error.ends_with("c.json.journal is being written by another ssm-vcr process"),
            "{error}"
        );
        recorder.compact().unwrap();
        assert_eq!(names(&path), ["a"]);
    }

    #[test]
    fn compactions_while_recording_keep_every_interaction_once_in_order() {
        // A tiny threshold: every append asks for a compaction, as a huge recording would.
        let (_dir, path, recorder) = new_recording(1);
        let redaction = Redaction::new::<&str>(&[], &[]).unwrap();
        let mut due = 0;
        for n in 0..20 {
            let appended = recorder
                .append(window(&format!("w{n}")), &redaction, &[])
                .unwrap();
            assert_eq!(appended.index, n);
            if appended.compaction_due {
                due += 1;
                recorder.compact().unwrap();
            }
        }
        // Each time the journal must outgrow the cassette: compactions come ever further apart.
        assert!((3..10).contains(&due), "{due} compactions");
        assert!(
            journal::path_of(&path).exists(),
            "the last ones are journalled"
        );
        let expected: Vec<String> = (0..20).map(|n| format!("w{n}")).collect();
        drop(recorder); // killed between compactions
        recover(&path).unwrap();
        assert_eq!(names(&path), expected);
        let bytes = fs::read(&path).unwrap();
        assert_eq!(Cassette::from_json(&bytes).unwrap().to_json(), bytes);
    }
}
