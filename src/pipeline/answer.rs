//! [`Answer`]: how a call was answered, the one value every stage after the answer reads (the
//! audit outcome record, the count, the access log).

use std::borrow::Cow;

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
    /// By the proxy itself.
    Refused(ProxyError),
}

impl Answer {
    pub(super) fn outcome(&self) -> Outcome {
        match self {
            Self::Replayed { .. } => Outcome::Replayed,
            Self::Forwarded {
                recorded: Some(_), ..
            } => Outcome::Recorded,
            Self::Forwarded { recorded: None, .. } => Outcome::Forwarded,
            Self::Refused(error) => error.outcome(),
        }
    }

    pub(super) fn source(&self) -> Source {
        match self {
            Self::Replayed { .. } => Source::Cassette,
            Self::Forwarded { .. } => Source::Upstream,
            Self::Refused(_) => Source::Proxy,
        }
    }

    pub(super) fn interaction(&self) -> Option<usize> {
        match self {
            Self::Replayed { interaction, .. } => Some(*interaction),
            Self::Forwarded { recorded, .. } => *recorded,
            Self::Refused(_) => None,
        }
    }

    /// The AWS error shape answered, if the answer is an error.
    pub(super) fn error_type(&self) -> Option<Cow<'_, str>> {
        match self {
            Self::Replayed { error_type, .. } | Self::Forwarded { error_type, .. } => {
                error_type.as_deref().map(Cow::Borrowed)
            }
            Self::Refused(error) => Some(Cow::Borrowed(error.to_aws().error_type)),
        }
    }
}
