//! The AWS side of the wire: the JSON 1.1 request envelope, AWS-shaped error responses, the
//! operation model that validation is driven by, and SigV4 re-signing.
//!
//! Nothing here knows about cassettes or modes, and only `sigv4` touches the network (through
//! the credential chain); the rest are pure functions of a request's parts and body, so they
//! are unit-tested without a socket.

pub mod envelope;
pub mod error;
pub mod model;
pub mod sigv4;

/// Longest region name accepted.
const MAX_REGION_CHARS: usize = 64;

/// Whether `region` is a region name that can name an endpoint host
/// (`ssm.<region>.amazonaws.com`): 1 to 64 ASCII letters, digits or dashes.
pub fn is_region_name(region: &str) -> bool {
    (1..=MAX_REGION_CHARS).contains(&region.len())
        && (region.bytes()).all(|b| b.is_ascii_alphanumeric() || b == b'-')
}
