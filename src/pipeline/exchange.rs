//! [`Exchange`]: what the stages learn of a call before it is answered, for its count and its
//! audit records.

use std::sync::Arc;
use std::time::Instant;

use crate::aws::envelope::Operation;
use crate::cassette::name::CassetteName;
use crate::cassette::store::Session;
use crate::peer::Peer;

/// What the stages learn of a call before it is answered: what its count and its audit
/// records name.
#[derive(Debug)]
pub(super) struct Exchange<'p> {
    pub(super) peer: &'p Peer,
    pub(super) started: Instant,
    pub(super) operation: Option<Operation>,
    /// What only an audited call keeps of its request.
    pub(super) audited: Option<Audited>,
    /// The cassette the call selects, by its path or as the default.
    pub(super) cassette: Option<CassetteName>,
    /// That cassette, once opened for this call.
    pub(super) session: Option<Arc<Session>>,
    /// Recorded polls of a waiter that replay answered past: used up in the cassette whatever
    /// the answer becomes.
    pub(super) skipped_polls: usize,
}

/// An audited call's caller and identifying members, copied from its request.
#[derive(Debug, Default)]
pub(super) struct Audited {
    pub(super) access_key_id: Option<String>,
    pub(super) signing_region: Option<String>,
    pub(super) what: Vec<(&'static str, String)>,
}
