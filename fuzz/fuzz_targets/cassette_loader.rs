//! The cassette loader: any bytes either fail with a FormatError or load, index for replay, and
//! serialise back to a cassette that loads to the same value. Redacting a loaded cassette
//! leaves no sensitive value of the model in plain text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssm_vcr::Cassette;
use ssm_vcr::harness::{
    IgnoreRules, Operation, Placeholders, Redaction, Replaying, Tape, plain_sensitive_values,
};

fuzz_target!(|data: &[u8]| {
    let Ok(cassette) = Cassette::from_json(data) else {
        return;
    };
    let again = Cassette::from_json(&cassette.to_json()).expect("a saved cassette loads");
    assert_eq!(again, cassette);
    let replaying = Replaying::default();
    let tape = Tape::new(
        "fuzz",
        "fuzz.json".into(),
        cassette.clone(),
        IgnoreRules::default(),
        replaying,
        Default::default(),
    )
    .expect("a loaded cassette indexes");
    for interaction in &cassette.interactions {
        // Well-formed names the model does not know load too; no live call can name them.
        let Some(operation) = Operation::named(&interaction.operation) else {
            continue;
        };
        let _ = tape.play(operation, &interaction.region, &interaction.request.body);
    }
    let mut placeholders = Placeholders::continuing(&cassette);
    for mut interaction in cassette.interactions {
        Redaction::default().apply(&mut interaction, &mut placeholders);
        assert_eq!(
            plain_sensitive_values(&interaction),
            (0, 0),
            "a sensitive value survived redaction"
        );
    }
});
