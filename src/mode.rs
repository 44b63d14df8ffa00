//! [`Mode`]: where the proxy's answers come from, the one setting every part of it reads.
//!
//! A value type only: the configuration and the command line both name it, and the cassette
//! store, the pipeline and the interceptor decide by it. It knows nothing of any of them.

use serde::Deserialize;

/// Where answers come from (VCR's record modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Answer from cassettes only; never contact the upstream.
    Replay,
    /// Forward every request and rewrite the cassette.
    Record,
    /// Replay recorded answers, forward and append misses.
    Auto,
    /// Forward everything, record nothing.
    Passthrough,
}

impl Mode {
    /// The mode's name as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replay => "replay",
            Self::Record => "record",
            Self::Auto => "auto",
            Self::Passthrough => "passthrough",
        }
    }

    /// Whether this mode sends requests to AWS (and so needs credentials).
    pub fn forwards(self) -> bool {
        !matches!(self, Self::Replay)
    }

    /// Whether this mode writes forwarded answers into cassettes.
    pub fn records(self) -> bool {
        matches!(self, Self::Record | Self::Auto)
    }
}
