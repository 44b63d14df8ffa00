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
