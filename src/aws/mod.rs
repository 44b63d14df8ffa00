//! The AWS side of the wire: the JSON 1.1 request envelope, AWS-shaped error responses and
//! the operation model that validation is driven by.
//!
//! Nothing here knows about cassettes, modes or the network; these are pure functions of a
//! request's parts and body, so they are unit-tested without a socket.

pub mod envelope;
pub mod error;
pub mod model;
