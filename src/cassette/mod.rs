//! Cassettes: the file format, the matching key, the replay queues and the folder they live in.
//!
//! `format` owns the bytes on disk, `matching` decides which recorded request a live one is,
//! `replay` hands out recorded answers in order, `store` loads cassettes by name and `check`
//! reviews them. Nothing here touches the network or the HTTP listener.

pub mod check;
pub mod format;
pub mod matching;
pub mod replay;
pub mod store;
