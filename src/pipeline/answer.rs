//! [`Answer`]: how a call was answered, the one value every stage after the answer reads (the
//! audit outcome record, the count, the access log).

use crate::audit::Source;
use crate::error::ProxyError;
use crate::report::Outcome;

/// How a call was answered.
#[derive(Debug)]
pub(super) enum Answer {
    /// From the cassette's interaction `interaction`.
    Replayed {
        /// Its position in the cassette.
        interaction: usize,
        /// The recorded answer's error shape, kept only for an audited call's record.
        error_type: Option<String>,
    },
    /// By the upstream; `recorded` is the interaction it became, when it was recorded.
    Forwarded {
        /// The interaction it became.
        recorded: Option<usize>,
        /// The upstream's error shape, for an error answer.
        error_type: Option<String>,
    },
    /// By the proxy itself, with the error shape its answer carries.
    Refused {
        error: ProxyError,
        error_type: &'static str,
    },
}

impl Answer {
    pub(super) fn outcome(&self) -> Outcome {
        match self {
            Self::Replayed { .. } => Outcome::Replayed,
            Self::Forwarded {
                recorded: Some(_), ..
            } => Outcome::Recorded,
            Self::Forwarded { recorded: None, .. } => Outcome::Forwarded,
            Self::Refused { error, .. } => error.outcome(),
        }
    }

    pub(super) fn source(&self) -> Source {
        match self {
            Self::Replayed { .. } => Source::Cassette,
            Self::Forwarded { .. } => Source::Upstream,
            Self::Refused { .. } => Source::Proxy,
        }
    }

    pub(super) fn interaction(&self) -> Option<usize> {
        match self {
            Self::Replayed { interaction, .. } => Some(*interaction),
            Self::Forwarded { recorded, .. } => *recorded,
            Self::Refused { .. } => None,
        }
    }

    /// The AWS error shape answered, if the answer is an error.
    pub(super) fn error_type(&self) -> Option<&str> {
        match self {
            Self::Replayed { error_type, .. } | Self::Forwarded { error_type, .. } => {
                error_type.as_deref()
            }
            Self::Refused { error_type, .. } => Some(error_type),
        }
    }
}
