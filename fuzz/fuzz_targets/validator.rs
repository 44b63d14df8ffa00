//! The validator on any JSON object, as a DeregisterTaskFromMaintenanceWindow input: it must
//! answer Ok, a ValidationException or a SerializationException, and never panic. A modeled
//! pattern's failure must be reported exactly when the regex crate finds no match in the
//! value: the validator runs the patterns as dense DFAs, and must agree with it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regex::Regex;
use ssm_vcr::aws::envelope;
use ssm_vcr::aws::model::{Model, OPERATIONS, Shape};
use ssm_vcr::error::ProxyError;
use ssm_vcr::json::Json;

const OPERATION: &str = "DeregisterTaskFromMaintenanceWindow";

struct Oracle {
    model: Model,
    /// Each modeled member with a pattern: its wire name, the pattern and the regex crate's
    /// compilation of it.
    patterns: Vec<(&'static str, &'static str, Regex)>,
}

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static ORACLE: Oracle = Oracle {
            model: Model::builtin(),
            patterns: OPERATIONS
                .iter()
                .filter(|op| op.name == OPERATION)
                .flat_map(|op| op.members)
                .filter_map(|member| {
                    let Shape::String { pattern, .. } = member.shape;
                    pattern.map(|p| (member.name, p, Regex::new(p).unwrap()))
                })
                .collect(),
        };
    }
    let Ok(input) = envelope::input(data) else { return };
    ORACLE.with(|oracle| {
        let message = match oracle.model.validate(OPERATION, &input) {
            Ok(()) => String::new(),
            Err(ProxyError::Validation { message }) => message,
            Err(ProxyError::Serialization { .. }) => return,
            Err(other) => panic!("unexpected error: {other:?}"),
        };
        for (name, pattern, regex) in &oracle.patterns {
            let Some(Json::String(text)) = input.get(name) else { continue };
            let member = name[..1].to_ascii_lowercase() + &name[1..];
            let failure = format!(
                "Value '{text}' at '{member}' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: {pattern}"
            );
            assert_eq!(
                message.contains(&failure),
                !regex.is_match(text),
                "{name} = {text:?}: the validator and the regex crate disagree ({message})"
            );
        }
    });
});
