//! A checkpoint: the signed head of the audit log's Merkle tree, as a C2SP `tlog-checkpoint`
//! in a C2SP `signed-note`:
//!
//! ```text
//! build-7/ssm-vcr/deregistrations.jsonl
//! 4121
//! 3CH7vBnAHxa0aGsz9kgYFJ2qeyS8Ohy/JPBdvxXdTQ4=
//! time 2026-12-08T09:04:00.123Z
//! heartbeat 60000ms
//!
//! — build-7/ssm-vcr/audit Az3grrTqtq6Yzk1Y9W7m8FqoDNN4B44WIeZpFhUlyHuSaKvzCymGZ0xwwrWHfY4IEKb8mP3pbFAOxhrBzPUSIfcyxA8=
//! ```
//!
//! The origin (the node and the log), the tree size, the root in base64, and two extension
//! lines: when it was signed, and how often the proxy issues one while idle, which is what a
//! verifier needs to tell a silent proxy from a stopped one. Then a blank line and one signature
//! line per key. This module reads and writes notes; the tree is `merkle`'s, the keys are
//! `keys`'s, and when checkpoints are issued is the writer's.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::keys::{SigningKey, VerifierKey};
use super::merkle::Hash;

/// How a signature line starts: an em dash and a space.
const SIGNATURE_DASH: &str = "\u{2014} ";

/// A tree head, signed or to be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The node and the log: `<host>/ssm-vcr/<log file name>`.
    pub origin: String,
    /// Records in the tree: the last `seq` it covers.
    pub size: u64,
    /// The tree's root.
    pub root: Hash,
    /// When it was issued, RFC 3339 UTC with milliseconds.
    pub time: String,
    /// How often the proxy issues one while idle, in milliseconds.
    pub heartbeat_ms: u64,
}

/// Why a note is not a checkpoint signed by the given key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// It is not a signed checkpoint at all.
    #[error("it is not a signed checkpoint: {0}")]
    Malformed(String),
    /// No signature line names a key given: a different key signed it (or the wrong key was
    /// given).
    #[error("it is not signed by the key {key} (it is signed by {signers})")]
    OtherKey {
        /// The names of the keys given.
        key: String,
        /// The names on its signature lines.
        signers: String,
    },
    /// The signature line names the key but does not verify: the note was altered or forged.
    #[error("its signature by {0} does not verify: the checkpoint was altered or forged")]
    BadSignature(String),
}

impl Checkpoint {
    /// The note's text: what is signed.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\ntime {}\nheartbeat {}ms\n",
            self.origin,
            self.size,
            BASE64.encode(self.root),
            self.time,
            self.heartbeat_ms
        )
    }

    /// The signed note.
    pub fn sign(&self, key: &SigningKey) -> String {
        let text = self.text();
        let line = key.signature_line(text.as_bytes());
        format!("{text}\n{SIGNATURE_DASH}{line}\n")
    }

    /// Reads a note's checkpoint and checks its signature by one of `keys` (several across a
    /// key rotation: each checkpoint names the one that signed it).
    pub fn open(note: &str, keys: &[VerifierKey]) -> Result<Self, NoteError> {
        let (text, signatures) = split_note(note)?;
        let mut signers = Vec::new();
        for (name, signature) in signatures {
            if let Some(key) = keys.iter().find(|key| key.names(name, &signature)) {
                return if key.verifies(text.as_bytes(), &signature) {
                    Self::parse_text(text)
                } else {
                    Err(NoteError::BadSignature(name.to_owned()))
                };
            }
            signers.push(name);
        }
        let names: Vec<&str> = keys.iter().map(VerifierKey::name).collect();
        Err(NoteError::OtherKey {
            key: names.join(", "),
            signers: signers.join(", "),
        })
    }

    /// Reads a note's checkpoint without checking any signature (no key was given).
    pub fn read_unverified(note: &str) -> Result<Self, NoteError> {
        Self::parse_text(split_note(note)?.0)
    }

    fn parse_text(text: &str) -> Result<Self, NoteError> {
        let malformed = |what: &str| NoteError::Malformed(what.to_owned());
        let mut lines = text.lines();
        let origin = lines.next().filter(|o| !o.is_empty());
        let origin = origin.ok_or_else(|| malformed("no origin line"))?;
        let size = (lines.next().and_then(|s| s.parse().ok()))
            .ok_or_else(|| malformed("its second line is not a tree size"))?;
        let root = (lines.next().and_then(|r| BASE64.decode(r).ok()))
            .and_then(|r| Hash::try_from(r).ok())
            .ok_or_else(|| malformed("its third line is not a base64 SHA-256 root"))?;
        let (mut time, mut heartbeat_ms) = (None, None);
        for line in lines {
            if let Some(at) = line.strip_prefix("time ") {
                time = Some(at.to_owned());
            } else if let Some(ms) = line.strip_prefix("heartbeat ") {
                heartbeat_ms = ms.strip_suffix("ms").and_then(|ms| ms.parse().ok());
            }
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            time: time.ok_or_else(|| malformed("no time line"))?,
            heartbeat_ms: heartbeat_ms.ok_or_else(|| malformed("no heartbeat line"))?,
        })
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at size {} ({}, root {})",
            self.origin,
            self.size,
            self.time,
            BASE64.encode(self.root)
        )
    }
}

type Signatures<'a> = Vec<(&'a str, Vec<u8>)>;

/// A note's text (ending in its last line's `\n`) and its signatures, by key name.
fn split_note(note: &str) -> Result<(&str, Signatures<'_>), NoteError> {
    let malformed = |what: &str| NoteError::Malformed(what.to_owned());
    let end = note
        .find("\n\n")
        .ok_or_else(|| malformed("no blank line before its signatures"))?;
    let (text, rest) = note.split_at(end + 1);
    let signatures = rest[1..]
        .lines()
        .map(|line| {
            let (name, encoded) = line
                .strip_prefix(SIGNATURE_DASH)
                .and_then(|line| line.split_once(' '))
                .ok_or_else(|| malformed("a signature line is not `— <key name> <base64>`"))?;
            let signature = BASE64
                .decode(encoded)
                .map_err(|_| malformed("a signature is not base64"))?;
            Ok((name, signature))
        })
        .collect::<Result<Signatures<'_>, _>>()?;
    if signatures.is_empty() {
        return Err(malformed("it has no signature"));
    }
    Ok((text, signatures))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "build-7/ssm-vcr/deregistrations.jsonl".to_owned(),
            size: 4121,
            root: [7; 32],
            time: "2026-12-08T09:04:00.123Z".to_owned(),
            heartbeat_ms: 60_000,
        }
    }

    #[test]
    fn a_signed_checkpoint_opens_with_its_key() {
        let key = SigningKey::generate("build-7/ssm-vcr/audit").unwrap();
        let note = checkpoint().sign(&key);
        assert!(note.starts_with("build-7/ssm-vcr/deregistrations.jsonl\n4121\n"));
        assert!(note.contains("\n\n\u{2014} build-7/ssm-vcr/audit "));
        assert_eq!(Checkpoint::open(&note, &[key.verifier()]), Ok(checkpoint()));
        assert_eq!(Checkpoint::read_unverified(&note), Ok(checkpoint()));
    }

    #[test]
    fn another_key_is_refused_and_a_changed_note_is_forged() {
        let key = SigningKey::generate("build-7/ssm-vcr/audit").unwrap();
        let note = checkpoint().sign(&key);
        let other = SigningKey::generate("build-7/ssm-vcr/audit").unwrap();
        assert!(matches!(
            Checkpoint::open(&note, &[other.verifier()]),
            Err(NoteError::OtherKey { .. })
        ));
        let grown = note.replacen("\n4121\n", "\n4122\n", 1);
        assert_eq!(
            Checkpoint::open(&grown, &[key.verifier()]),
            Err(NoteError::BadSignature("build-7/ssm-vcr/audit".to_owned()))
        );
    }

    #[test]
    fn a_note_without_signatures_or_lines_is_malformed() {
        for note in [
            "",
            "origin\n4\n",
            "origin\n4\nroot\n\n",
            "o\nx\n\n\u{2014} k AAAA\n",
        ] {
            assert!(
                matches!(
                    Checkpoint::read_unverified(note),
                    Err(NoteError::Malformed(_))
                ),
                "{note:?}"
            );
        }
    }
}
