//! The validator on any JSON object, as the input of any operation of the model (picked by the
//! first byte): it must answer Ok, a ValidationException or a SerializationException, and never
//! panic. Where a top-level member's pattern runs on a dense DFA, its failure must be reported
//! exactly when the regex crate finds no whole match of the same translated pattern.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use regex::Regex;
use ssm_vcr::Json;
use ssm_vcr::harness::{
    Engine, Kind, MAX_LISTED, Operation, Rejection, envelope, ssm, translate, validate,
};

thread_local! {
    static REGEXES: std::cell::RefCell<HashMap<String, Regex>> = Default::default();
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let operations: Vec<Operation> = ssm().operations().collect();
    let operation = operations[usize::from(pick) % operations.len()];
    let Ok(input) = envelope::input(body) else {
        return;
    };
    let message = match validate(operation, &input) {
        Ok(()) => String::new(),
        Err(Rejection::Validation { message }) => message,
        Err(Rejection::Serialization { .. }) => return,
    };
    if message.split("; ").count() >= MAX_LISTED {
        return; // the list may be cut before the member
    }
    let Some(shape) = operation.input() else {
        return;
    };
    let Kind::Structure { members, .. } = &ssm().shape(shape).kind else {
        return;
    };
    for member in members {
        let target = ssm().shape(member.shape);
        let Kind::String {
            pattern: Some(pattern),
            ..
        } = &target.kind
        else {
            continue;
        };
        let Some(Json::String(text)) = input.get(&member.name) else {
            continue;
        };
        if target.sensitive || pattern.engine() != Ok(Engine::Automaton) {
            continue;
        }
        let failure = format!(
            "Value '{text}' at '{}' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: {}",
            member.message_name,
            pattern.as_str()
        );
        let whole = REGEXES.with(|cache| {
            let mut cache = cache.borrow_mut();
            let regex = cache.entry(pattern.as_str().to_owned()).or_insert_with(|| {
                Regex::new(&format!(r"\A(?:{})\z", translate(pattern.as_str()))).unwrap()
            });
            regex.is_match(text)
        });
        assert_eq!(
            message.contains(&failure),
            !whole,
            "{operation}.{} = {text:?}: the validator and the regex crate disagree ({message})",
            member.name
        );
    }
});
