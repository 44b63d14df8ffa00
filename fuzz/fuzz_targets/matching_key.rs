//! The matching key and the miss diff on two JSON bodies (split on the first NUL): keys of equal
//! bodies are equal, and a body always matches itself with no differences.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use ssm_vcr::cassette::matching::{IgnoreRules, MatchKey, differences};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |&b| b == 0);
    let (Some(a), Some(b)) = (parts.next(), parts.next()) else { return };
    let (Ok(a), Ok(b)) = (serde_json::from_slice::<Value>(a), serde_json::from_slice::<Value>(b)) else {
        return;
    };
    let rules = IgnoreRules::new(&["Targets[*].Values", "$.Tags.*.Value"]).expect("valid paths");
    let key_a = MatchKey::new("Op", "us-east-1", &a, &rules);
    let key_b = MatchKey::new("Op", "us-east-1", &b, &rules);
    assert!(differences(&key_a, &key_a).is_empty());
    let diffs = differences(&key_a, &key_b);
    if key_a == key_b {
        assert!(diffs.is_empty(), "equal keys but differences: {diffs:?}");
    }
});
