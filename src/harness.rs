//! The parts the repo's own benchmarks, fuzz targets and client-playing tests drive directly,
//! behind the `harness` feature: the model and its validator, cassette
//! matching, redaction, replay and the library of cassettes, audit records, the group-commit
//! queue, the envelope's readers, SigV4 signing, and an error with its causes as the binary
//! prints it.
//!
//! Not an API: nothing here is stable, and a program that embeds the proxy uses [`crate::Proxy`].
//! The feature is on for the repo's own tests and benches (a dev-dependency of the crate on
//! itself) and for the fuzz targets; a build of the binary or of a dependent crate leaves it off.

pub use crate::audit::record::{GENESIS, unseal};
pub use crate::audit::{Event, Identity, Record, Source};
pub use crate::aws::envelope::{self, Caller};
pub use crate::aws::model::pattern::{Engine, translate};
pub use crate::aws::model::validate::{MAX_LISTED, validate};
pub use crate::aws::model::{Kind, Operation, Rejection, provenance, ssm};
pub use crate::aws::sigv4::Signer;
pub use crate::cassette::file::read_cassette;
pub use crate::cassette::format::{Body, Interaction, RecordedRequest, RecordedResponse};
pub use crate::cassette::matching::{IgnoreRules, KeyRef, MatchKey, differences};
pub use crate::cassette::name::CassetteName;
pub use crate::cassette::redact::{Placeholders, Redaction, plain_sensitive_values};
pub use crate::cassette::replay::{Replaying, Tape, WhenExhausted};
pub use crate::cassette::store::{Library, Opening};
pub use crate::durable::batch::{BatchQueue, Fill};
pub use crate::text::{chain, printable};
