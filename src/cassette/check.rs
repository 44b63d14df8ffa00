//! `ssm-vcr cassette check`: a review of cassette files, format and recorded requests alike.
//!
//! Every recorded request of a modeled operation must pass the model: the proxy never forwards
//! an invalid call, so an invalid recorded one means a hand edit went wrong. This module reports;
//! it does not fix files.

use std::path::Path;

use super::store::read_cassette;
use crate::aws::model::Model;
use crate::error::ProxyError;
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
pub fn check_file(path: &Path, model: &Model) -> Report {
    let cassette = match read_cassette(path) {
        Ok(cassette) => cassette,
        Err(e) => {
            return Report {
                interactions: 0,
                problems: vec![e.to_string()],
            };
        }
    };
    let mut report = Report {
        interactions: cassette.interactions.len(),
        problems: Vec::new(),
    };
    for (index, interaction) in cassette.interactions.iter().enumerate() {
        let Json::Object(input) = Json::from(&interaction.request.body) else {
            continue; // refused by the format check already
        };
        let verdict = model.validate(&interaction.operation, &input);
        let reason = match verdict {
            Ok(()) => continue,
            Err(
                ProxyError::Validation { message } | ProxyError::Serialization { reason: message },
            ) => message,
            Err(other) => other.to_string(),
        };
        report.problems.push(format!(
            "{}: interaction {index} ({}): recorded request fails the model: {reason}",
            path.display(),
            interaction.operation
        ));
    }
    report
}
