//! Cassettes: the file format, the matching key, the replay queues and the folder they live in.
//!
//! `format` owns the bytes on disk, `matching` decides which recorded request a live one is,
//! `replay` hands out recorded answers in order, `redact` decides what may be written,
//! `recorder` writes new interactions crash-safely, `store` opens cassettes by name for the
//! mode, and `check` reviews them. Nothing here touches the network or the HTTP listener.

pub mod check;
pub mod format;
pub mod json_path;
pub mod matching;
pub mod recorder;
pub mod redact;
pub mod replay;
pub mod store;
