//! The text that stands in a cassette where a value was redacted: `REDACTED` for a configured
//! path, `REDACTED-<n>` for a sensitive value, numbered per distinct value within a cassette.
//! Redaction writes these (`redact.rs`) and replay binds them (`secrets.rs`); this module only
//! names and reads them.

/// The value written in place of a configured path's value.
pub const REDACTED: &str = "REDACTED";

/// The prefix of a sensitive value's placeholder: `REDACTED-1`, `REDACTED-2`, …
pub const PLACEHOLDER_PREFIX: &str = "REDACTED-";

/// The placeholder numbered `number`.
pub fn placeholder(number: u64) -> String {
    format!("{PLACEHOLDER_PREFIX}{number}")
}

/// Whether `text` is what redaction writes, rather than a value.
pub fn is_placeholder(text: &str) -> bool {
    text == REDACTED || placeholder_number(text).is_some()
}

/// The number of a sensitive value's placeholder: 3 for `REDACTED-3`.
pub fn placeholder_number(text: &str) -> Option<u64> {
    let digits = text.strip_prefix(PLACEHOLDER_PREFIX)?;
    let plain = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    // `REDACTED-01` is not what redaction writes for 1.
    (plain && !digits.starts_with('0')).then(|| digits.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_read_back_as_their_number_and_nothing_else_does() {
        assert_eq!(placeholder_number(&placeholder(12)), Some(12));
        for text in [
            "REDACTED",
            "REDACTED-",
            "REDACTED-01",
            "REDACTED-1x",
            "redacted-1",
        ] {
            assert_eq!(placeholder_number(text), None, "{text}");
        }
        assert!(is_placeholder("REDACTED") && is_placeholder("REDACTED-3"));
        assert!(!is_placeholder("hunter2"));
    }
}
