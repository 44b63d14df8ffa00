//! `ssm-vcr cassette check`, `redact` and `fmt`: a review of cassette files against the SSM
//! model, the rewrite of older recordings that hold sensitive values in plain text, and the
//! rewrite of older files in the current layout (response bodies as readable JSON).
//!
//! Every recorded request must name an operation of the model and pass its validation: the
//! proxy never forwards an invalid call, so an invalid recorded one means a hand edit went
//! wrong or the model changed. Every value the model marks `sensitive` must be a placeholder.
//! This module reports and rewrites files; it does not serve them.

use std::path::Path;

use super::file::{LoadError, read_cassette, read_cassette_and_bytes};
use super::format::ModelStamp;
use super::journal;
use super::redact::{Placeholders, Redaction, plain_sensitive_values};
use crate::aws::model::validate::validate;
use crate::aws::model::{Operation, Rejection, provenance};
use crate::durable;
use crate::json::Json;

/// What a check found in one file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Interactions read.
    pub interactions: usize,
    /// Problems, each naming the file and the interaction index.
    pub problems: Vec<String>,
}

/// Checks one cassette file.
pub fn check_file(path: &Path) -> Report {
    let cassette = match read_cassette(path) {
        Ok(cassette) => cassette,
        Err(e) => {
            return Report {
                interactions: 0,
                problems: vec![crate::text::chain(&e)],
            };
        }
    };
    let mut report = Report {
        interactions: cassette.interactions.len(),
        problems: Vec::new(),
    };
    let journal = journal::path_of(path);
    if journal.exists() {
        report.problems.push(format!(
            "{}: a recording journal is beside it ({}), holding recordings the file lacks; \
             start `ssm-vcr serve` on this folder once to fold it in (docs/cassettes.md)",
            path.display(),
            journal.display()
        ));
    }
    let mut problem = |index: usize, operation: &str, what: String| {
        report.problems.push(format!(
            "{}: interaction {index} ({operation}): {what}",
            path.display()
        ));
    };
    for (index, interaction) in cassette.interactions.iter().enumerate() {
        let name = &interaction.operation;
        let Some(operation) = Operation::named(name) else {
            problem(
                index,
                name,
                format!("not an operation of the SSM model ({})", provenance()),
            );
            continue;
        };
        if let Json::Object(input) = &interaction.request.body
            && let Err(
                Rejection::Validation { message: reason } | Rejection::Serialization { reason },
            ) = validate(operation, input)
        {
            problem(
                index,
                name,
                format!("recorded request fails the model: {reason}"),
            );
        }
        let (request, response) = plain_sensitive_values(interaction);
        for (count, side) in [(request, "request"), (response, "response")] {
            if count > 0 {
                problem(
                    index,
                    name,
                    format!(
                        "{count} sensitive value(s) stored in plain text in the {side}; \
                         run `ssm-vcr cassette redact {}`",
                        path.display()
                    ),
                );
            }
        }
    }
    report
}

/// Why a cassette could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// The file is missing or not a valid cassette.
    #[error("cannot read the cassette")]
    Load(#[from] LoadError),
    /// The rewritten file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The cassette file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Rewrites a cassette with every sensitive value replaced by a placeholder (the same value
/// gets the same placeholder throughout the file) and the current model stamped on it;
/// returns how many values were replaced. The file is replaced atomically, and not at all when
/// nothing needed replacing.
pub fn redact_file(path: &Path, redaction: &Redaction) -> Result<usize, RewriteError> {
    let mut cassette = read_cassette(path)?;
    let mut placeholders = Placeholders::continuing(&cassette);
    let plain: usize = cassette
        .interactions
        .iter()
        .map(|interaction| {
            let (request, response) = plain_sensitive_values(interaction);
            request + response
        })
        .sum();
    if plain == 0 {
        return Ok(0);
    }
    for interaction in &mut cassette.interactions {
        redaction.apply(interaction, &mut placeholders);
    }
    cassette.model = Some(ModelStamp::current());
    replace(path, &cassette.to_json())?;
    Ok(plain)
}

/// Replaces a cassette file whole, atomically.
fn replace(path: &Path, bytes: &[u8]) -> Result<(), RewriteError> {
    durable::replace(path, bytes).map_err(|source| RewriteError::Write {
        path: path.to_owned(),
        source,
    })
}

/// What formatting one cassette file did, or would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formatted {
    /// Response bodies now stored as readable JSON.
    pub bodies_made_readable: usize,
    /// Whether the file's bytes differ from the current layout of its content.
    pub changed: bool,
}

/// Lays a cassette file out as this build writes cassettes: every response body that is
/// compact JSON becomes readable JSON, and the file is written in the canonical layout. The
/// bytes every interaction replays are unchanged. Nothing is written when `rewrite` is false
/// or the file is already in that layout; otherwise it is replaced atomically.
pub fn format_file(path: &Path, rewrite: bool) -> Result<Formatted, RewriteError> {
    let (mut cassette, bytes) = read_cassette_and_bytes(path)?;
    let mut bodies_made_readable = 0;
    for interaction in &mut cassette.interactions {
        if let Some(readable) = interaction.response.body.made_readable() {
            interaction.response.body = readable;
            bodies_made_readable += 1;
        }
    }
    let laid_out = cassette.to_json();
    let changed = bytes != laid_out;
    if changed && rewrite {
        replace(path, &laid_out)?;
    }
    Ok(Formatted {
        bodies_made_readable,
        changed,
    })
}
