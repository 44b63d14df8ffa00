//! The matching key and the miss diff on two JSON bodies (split on the first NUL): keys of equal
//! bodies are equal, and a body always matches itself with no differences. Also: reading a
//! body live, borrowing its strings, always gives what serde_json's `Value` gives, and writing
//! it gives serde_json's bytes, so cassettes written from the tree are what they were.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use ssm_vcr::Json;
use ssm_vcr::harness::{IgnoreRules, KeyRef, MatchKey, Operation, differences};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |&b| b == 0);
    let sent = parts.next().unwrap_or_default();
    match (Json::parse(sent), serde_json::from_slice::<Value>(sent)) {
        (Ok(live), Ok(value)) => {
            assert_eq!(live, Json::from(&value), "read differently live");
            let written = serde_json::to_vec(&value).expect("a value serialises");
            assert_eq!(live.to_vec(), written, "written differently");
        }
        (Err(_), Err(_)) => {}
        (live, value) => panic!("live reading disagrees: {live:?} against {value:?}"),
    }
    let Some(b) = parts.next() else { return };
    // Recorded bodies own their strings, as a cassette's do.
    let (Ok(a), Ok(b)) = (Json::parse(sent), Json::parse(b)) else {
        return;
    };
    let (a, b) = (a.into_owned(), b.into_owned());
    let rules = IgnoreRules::new(&["Targets[*].Values", "$.Tags.*.Value"]).expect("valid paths");
    // An operation with an idempotency token and a sensitive member, so the model's rules run.
    let operation = Operation::named("RegisterTaskWithMaintenanceWindow").expect("modeled");
    let op = operation.as_str();
    let key_a = MatchKey::new(op, "us-east-1", &a, &rules);
    // The same bytes read live, as a request is, must find the key recorded from them.
    let live = Json::parse(sent).expect("reads whatever serde_json's Value reads");
    let stripped = rules.strip(operation.input(), &live);
    let live = KeyRef {
        operation: op,
        region: "us-east-1",
        body: &stripped,
    };
    assert_eq!(live, key_a.as_ref(), "a live body misses its own recording");
    let key_b = MatchKey::new(op, "us-east-1", &b, &rules);
    assert!(differences(&key_a, &key_a).is_empty());
    let diffs = differences(&key_a, &key_b);
    if key_a == key_b {
        assert!(diffs.is_empty(), "equal keys but differences: {diffs:?}");
    }
});
