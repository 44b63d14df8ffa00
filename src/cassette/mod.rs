//! Cassettes: the file format, the matching key, the replay queues and the folder they live in.
//!
//! `format` owns the bytes of a cassette (`body` a response body's: readable JSON, text or
//! base64) and `file` reading and replacing one on disk,
//! `matching` decides which recorded request a live one is, `replay` hands out recorded answers
//! in order, `secrets` gives a client's own secrets back in them, `redact` decides what may be
//! written (`placeholder` names what stands in for a value), `recorder` records new
//! interactions through the append-only `journal` and compacts them into the cassette,
//! `recovery` folds a journal left by a crash in, `name` says which names are cassettes', `store` opens cassettes by name for the mode,
//! `check` reviews them, and `diff` (with `revision` for `--git`) says what changed between two
//! recordings. Nothing here touches the network or the HTTP listener.

pub mod body;
pub mod check;
pub mod diff;
pub mod file;
pub mod format;
pub mod journal;
pub mod json_path;
pub mod matching;
pub mod name;
pub mod placeholder;
pub mod recorder;
pub mod recovery;
pub mod redact;
pub mod replay;
pub mod revision;
pub mod secrets;
pub mod store;
