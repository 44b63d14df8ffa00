//! Which interactions of two cassettes pair: the same request first, then the same operation
//! and region, each in order. Indices only; `compare.rs` compares what pairs.

use std::collections::{HashMap, VecDeque};

use crate::cassette::matching::{KeyRef, MatchKey};

/// Which interactions of two cassettes pair, by their matching keys.
pub(super) struct Pairing {
    /// Old index, new index, and whether their requests are the same.
    pub(super) pairs: Vec<(usize, usize, bool)>,
    /// Old interactions with no partner, in order.
    pub(super) old_left: Vec<usize>,
    /// New interactions with no partner, in order.
    pub(super) new_left: Vec<usize>,
}

impl Pairing {
    /// The same request first, then the same operation and region, each in order.
    pub(super) fn of(old_keys: &[MatchKey], new_keys: &[MatchKey]) -> Self {
        let mut pairs = Vec::new();
        let mut by_key: HashMap<KeyRef<'_>, VecDeque<usize>> = HashMap::new();
        for (index, key) in new_keys.iter().enumerate() {
            by_key.entry(key.as_ref()).or_default().push_back(index);
        }
        let mut old_left = Vec::new();
        for (old_index, key) in old_keys.iter().enumerate() {
            match by_key.get_mut(&key.as_ref()).and_then(VecDeque::pop_front) {
                Some(new_index) => pairs.push((old_index, new_index, true)),
                None => old_left.push(old_index),
            }
        }
        let mut paired = vec![false; new_keys.len()];
        for &(_, new_index, _) in &pairs {
            paired[new_index] = true;
        }
        let mut by_call: HashMap<(&str, &str), VecDeque<usize>> = HashMap::new();
        for (index, key) in new_keys.iter().enumerate().filter(|(i, _)| !paired[*i]) {
            let call = (key.operation(), key.region());
            by_call.entry(call).or_default().push_back(index);
        }
        old_left.retain(|&old_index| {
            let key = &old_keys[old_index];
            let call = (key.operation(), key.region());
            match by_call.get_mut(&call).and_then(VecDeque::pop_front) {
                Some(new_index) => {
                    paired[new_index] = true;
                    pairs.push((old_index, new_index, false));
                    false
                }
                None => true,
            }
        });
        let new_left = (0..new_keys.len()).filter(|&i| !paired[i]).collect();
        Self {
            pairs,
            old_left,
            new_left,
        }
    }
}
