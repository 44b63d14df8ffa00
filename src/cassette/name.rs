//! [`CassetteName`]: the name that selects a cassette, from a path, the configuration or the
//! library; and [`InvalidCassetteName`], why one is refused.
//!
//! A name is also a file name in the cassette folder, so this is where names that could
//! reach outside it are stopped. It does not know where the folder is (`store`).

use std::fmt;
use std::sync::Arc;

use crate::text::printable;

/// Longest cassette name accepted.
const MAX_NAME_BYTES: usize = 200;

/// A cassette's name: `[A-Za-z0-9._-]+`, not starting with a dot, so `.`, `..` and hidden files
/// are refused and a name can never leave the cassette folder. Shared, as every request names
/// one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CassetteName(Arc<str>);

/// A cassette name that no cassette can have; it holds the name as sent, made printable and
/// bounded so that it can be echoed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid cassette name {0:?}: use letters, digits, '.', '_' and '-', not starting with '.'"
)]
pub struct InvalidCassetteName(pub String);

impl CassetteName {
    /// Parses a cassette name, or says why it is refused.
    pub fn parse(name: &str) -> Result<Self, InvalidCassetteName> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if name.is_empty()
            || name.len() > MAX_NAME_BYTES
            || name.starts_with('.')
            || !name.chars().all(allowed)
        {
            return Err(InvalidCassetteName(printable(name, 80)));
        }
        Ok(Self(name.into()))
    }

    /// The cassette name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CassetteName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_the_folder_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "a\\b",
            "é",
            &"a".repeat(201),
        ] {
            assert!(CassetteName::parse(bad).is_err(), "{bad:?}");
        }
        for good in ["flow", "maintenance-window_flow.v2", "0"] {
            assert_eq!(CassetteName::parse(good).unwrap().as_str(), good);
        }
    }
}
