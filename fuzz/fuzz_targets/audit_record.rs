//! An audit record's draft, sealed, must be byte for byte what serde_json writes for the same
//! record, whatever its text holds (quotes, backslashes, control characters, any Unicode), and
//! it must read back as that record.
//!
//! The input's first four bytes say which optional members are present (the first two also
//! pick the event and source), the next eight are the numbers, and the rest, split on 0xFF
//! bytes (never part of UTF-8), is the text of each member in turn.
#![no_main]

use std::borrow::Cow;
use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use ssm_vcr::harness::{Event, GENESIS, Identity, Record, Source, unseal};

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<12>() else {
        return;
    };
    // A bit per optional member: more members than bits would overflow the shift.
    let flags = u32::from_le_bytes(head[..4].try_into().expect("four bytes"));
    let number = u64::from_le_bytes(head[4..].try_into().expect("eight bytes"));
    let mut texts = rest.split(|&b| b == 0xff).map(String::from_utf8_lossy);
    let mut bit = 0;
    let mut present = || {
        bit += 1;
        flags & (1 << bit) != 0
    };
    let mut text = || texts.next().unwrap_or(Cow::Borrowed(""));
    let (events, sources) = (Event::ALL, Source::ALL);
    let identities = [Identity::Authenticated, Identity::Claimed];
    let record = Record {
        seq: number,
        time: text(),
        event: events[usize::from(head[0]) % events.len()],
        detail: present().then(&mut text),
        checkpoint: present().then(&mut text),
        tree: present().then(|| vec![text(), text()]),
        mode: present().then(&mut text),
        source: present().then(|| sources[usize::from(head[1]) % sources.len()]),
        client: present().then(&mut text),
        access_key_id: present().then(&mut text),
        identity: present().then(|| identities[usize::from(head[1] >> 4) % identities.len()]),
        region: present().then(&mut text),
        operation: present().then(&mut text),
        what: present().then(|| BTreeMap::from([(text(), text())])),
        window_id: present().then(&mut text),
        window_task_id: present().then(&mut text),
        status: present().then_some(number as u16),
        error_type: present().then(&mut text),
        request_id: present().then(&mut text),
        latency_us: present().then_some(number),
        cassette: present().then(&mut text),
        interaction: present().then_some(number as usize),
        prev: Cow::Borrowed(GENESIS),
    };

    let mut line = Vec::new();
    record
        .clone()
        .into_draft()
        .seal_into(number, GENESIS, &mut line);
    let whole = serde_json::to_vec(&record).expect("a record serialises");
    let before_hash = &whole[..whole.len() - 1];
    assert_eq!(
        &line[..before_hash.len()],
        before_hash,
        "the draft is not serde_json's bytes"
    );
    let (read_back, _) = unseal(&line[..line.len() - 1]).expect("a sealed line unseals");
    assert_eq!(read_back, record);
});
