//! The Ed25519 keys that sign and verify checkpoints, in the text forms of C2SP `signed-note`
//! (the forms of Go's `golang.org/x/mod/sumdb/note`, so its tools read them too):
//!
//! - a signer key, kept secret: `PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>`;
//! - a verifier key, handed out: `<name>+<key id>+<base64(0x01 ‖ public key)>`.
//!
//! The key id is the first four bytes of SHA-256(name ‖ `\n` ‖ 0x01 ‖ public key), in hex; a
//! signature line names it, so a note signed by another key is told from a forged one. This
//! module owns the keys and their files (`audit keygen`, the mode-0600 rule); what is signed is
//! `checkpoint`'s.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use sha2::{Digest, Sha256};

/// The signed-note signature type of Ed25519.
const ED25519_TYPE: u8 = 0x01;

/// The first four bytes of the hash that names a key.
pub type KeyId = [u8; 4];

/// A key that signs checkpoints.
pub struct SigningKey {
    name: String,
    id: KeyId,
    /// What the key file holds, and the pair is made from.
    seed: [u8; 32],
    pair: Ed25519KeyPair,
}

/// A key that checks checkpoint signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: KeyId,
    public: [u8; 32],
}

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("cannot use the key file {}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// A secret key that other users can read is not a secret.
    #[error(
        "the signing key {} can be read by other users (mode {mode:o}): run `chmod 600 {}`, and make a \
         new key with `ssm-vcr audit keygen` if it may have been copied", path.display(), path.display()
    )]
    Readable {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The text is not a key of this kind.
    #[error("{} is not {expected}: {reason}", path.display())]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// What it should hold.
        expected: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Debug for SigningKey {
    /// Names the key, never its secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("name", &self.name)
            .field("id", &hex::encode(self.id))
            .finish_non_exhaustive()
    }
}

fn key_id(name: &str, public: &[u8]) -> KeyId {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ED25519_TYPE]);
    hasher.update(public);
    let hash = hasher.finalize();
    [hash[0], hash[1], hash[2], hash[3]]
}

/// A key name, as signed-note allows it: printable, no space, no `+`.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
    {
        return Err(format!(
            "the key name {name:?} must be non-empty, without spaces or '+'"
        ));
    }
    Ok(())
}

impl SigningKey {
    /// A new random key named `name`.
    pub fn generate(name: &str) -> Result<Self, String> {
        check_name(name)?;
        let mut seed = [0; 32];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| "the system's random source failed".to_owned())?;
        Ok(Self::from_seed(name, seed))
    }

    fn from_seed(name: &str, seed: [u8; 32]) -> Self {
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).expect("any 32 bytes are a seed");
        Self {
            name: name.to_owned(),
            id: key_id(name, pair.public_key().as_ref()),
            seed,
            pair,
        }
    }

    /// Reads the key from a file that only its owner can read.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let mode = fs::metadata(path).map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(KeyError::Readable {
                path: path.to_owned(),
                mode: mode & 0o777,
            });
        }
        let text = fs::read_to_string(path).map_err(io)?;
        Self::parse(text.trim_end()).map_err(|reason| KeyError::Malformed {
            path: path.to_owned(),
            expected: "an ssm-vcr audit signing key (PRIVATE+KEY+…)",
            reason,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<id>+<base64>`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or("it does not start with PRIVATE+KEY+")?;
        let (name, id, key) = three_parts(rest)?;
        let seed: [u8; 32] = typed_key(key)?;
        let key = Self::from_seed(name, seed);
        if hex::encode(key.id) != id {
            return Err(format!("its key id {id} does not match its key"));
        }
        Ok(key)
    }

    /// The public half, to hand to whoever verifies.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            id: self.id,
            public: (self.pair.public_key().as_ref())
                .try_into()
                .expect("an Ed25519 public key is 32 bytes"),
        }
    }

    /// The signature line of `text`, without its `— ` dash: `<name> <base64(id ‖ signature)>`.
    pub fn signature_line(&self, text: &[u8]) -> String {
        let mut signed = self.id.to_vec();
        signed.extend_from_slice(self.pair.sign(text).as_ref());
        format!("{} {}", self.name, BASE64.encode(signed))
    }

    /// The key file's text: `PRIVATE+KEY+<name>+<id>+<base64>`.
    pub fn private_text(&self) -> String {
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex::encode(self.id),
            typed_base64(&self.seed)
        )
    }

    /// Writes the key to `path`, readable by its owner only, and its verifier key beside it
    /// as `<path>.pub`; refuses to overwrite either.
    pub fn write_pair(&self, path: &Path) -> Result<PathBuf, KeyError> {
        let public = public_path(path);
        let private = format!("{}\n", self.private_text());
        write_new(path, private.as_bytes(), 0o600)?;
        write_new(&public, format!("{}\n", self.verifier()).as_bytes(), 0o644)?;
        Ok(public)
    }
}

/// `audit keygen`: a new key named `name`, written to `path` (0600) and `<path>.pub`; returns
/// the verifier key's file.
pub fn keygen(path: &Path, name: &str) -> Result<(VerifierKey, PathBuf), KeyError> {
    let key = SigningKey::generate(name).map_err(|reason| KeyError::Malformed {
        path: path.to_owned(),
        expected: "a place for a new key",
        reason,
    })?;
    let public = key.write_pair(path)?;
    Ok((key.verifier(), public))
}

/// `<key file>.pub`.
pub fn public_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let written = (|| {
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(folder)?;
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    written.map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })
}

impl VerifierKey {
    /// Reads a verifier key file (`audit keygen`'s `.pub`).
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(text.trim_end()).map_err(|reason| KeyError::Malformed {
            path: path.to_owned(),
            expected: "a verifier key (<name>+<key id>+<key>, as `audit keygen` writes FILE.pub)",
            reason,
        })
    }

    /// Parses `<name>+<id>+<base64>`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with("PRIVATE+KEY+") {
            return Err("it is the secret signing key: give its .pub file".to_owned());
        }
        let (name, id, key) = three_parts(text)?;
        let public: [u8; 32] = typed_key(key)?;
        let key = Self {
            name: name.to_owned(),
            id: key_id(name, &public),
            public,
        };
        if hex::encode(key.id) != id {
            return Err(format!("its key id {id} does not match its key"));
        }
        Ok(key)
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `signature` (a signature line's base64, decoded) names this key.
    pub fn names(&self, name: &str, signature: &[u8]) -> bool {
        name == self.name && signature.get(..4) == Some(&self.id[..])
    }

    /// Whether `signature` (id ‖ Ed25519 signature) signs `text` with this key.
    pub fn verifies(&self, text: &[u8], signature: &[u8]) -> bool {
        signature.len() == 4 + 64
            && UnparsedPublicKey::new(&ED25519, self.public)
                .verify(text, &signature[4..])
                .is_ok()
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            typed_base64(&self.public)
        )
    }
}

/// `<name>+<8 hex digits>+<base64>`; the base64 may hold `+` itself.
fn three_parts(text: &str) -> Result<(&str, &str, &str), String> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("expected <name>+<key id>+<key>".to_owned());
    };
    check_name(name)?;
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("its key id {id:?} is not 8 hex digits"));
    }
    Ok((name, id, key))
}

/// 32 key bytes from `base64(0x01 ‖ key)`.
fn typed_key(text: &str) -> Result<[u8; 32], String> {
    let bytes = BASE64
        .decode(text)
        .map_err(|e| format!("its key is not base64: {e}"))?;
    match bytes.split_first() {
        Some((&ED25519_TYPE, key)) => key
            .try_into()
            .map_err(|_| format!("an Ed25519 key is 32 bytes, not {}", key.len())),
        _ => Err("it is not an Ed25519 key (type 0x01)".to_owned()),
    }
}

fn typed_base64(key: &[u8; 32]) -> String {
    let mut typed = vec![ED25519_TYPE];
    typed.extend_from_slice(key);
    BASE64.encode(typed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_text_forms() {
        let key = SigningKey::generate("host-1/ssm-vcr/audit").unwrap();
        let verifier = key.verifier();
        let parsed = VerifierKey::parse(&verifier.to_string()).unwrap();
        assert_eq!(parsed, verifier);
        assert!(verifier.to_string().starts_with("host-1/ssm-vcr/audit+"));
    }

    #[test]
    fn a_signature_verifies_with_its_key_only() {
        let key = SigningKey::generate("a").unwrap();
        let other = SigningKey::generate("a").unwrap().verifier();
        let line = key.signature_line(b"text\n");
        let (name, encoded) = line.split_once(' ').unwrap();
        let signature = BASE64.decode(encoded).unwrap();
        let verifier = key.verifier();
        assert!(verifier.names(name, &signature) && verifier.verifies(b"text\n", &signature));
        assert!(!verifier.verifies(b"text!\n", &signature));
        assert!(!other.names(name, &signature) && !other.verifies(b"text\n", &signature));
    }

    #[test]
    fn keygen_writes_a_private_file_and_a_public_one_and_load_refuses_a_readable_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/audit.key");
        let (verifier, public) = keygen(&path, "node-7/ssm-vcr/audit").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(VerifierKey::load(&public).unwrap(), verifier);
        assert_eq!(SigningKey::load(&path).unwrap().verifier(), verifier);
        assert!(matches!(keygen(&path, "again"), Err(KeyError::Io { .. })));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let refused = SigningKey::load(&path).unwrap_err().to_string();
        assert!(
            refused.contains("can be read by other users (mode 640)"),
            "{refused}"
        );
        assert!(
            VerifierKey::load(&path)
                .unwrap_err()
                .to_string()
                .contains("give its .pub")
        );
    }

    #[test]
    fn a_signing_keys_debug_names_it_and_hides_its_secret() {
        let key = SigningKey::generate("node-7/ssm-vcr/audit").unwrap();
        let shown = format!("{key:?}");
        let secret = key.private_text();
        let seed = secret.rsplit('+').next().unwrap();
        assert!(
            shown.contains("node-7/ssm-vcr/audit") && !shown.contains(seed),
            "{shown}"
        );
        assert!(!shown.contains(&format!("{:?}", key.seed)), "{shown}");
    }

    #[test]
    fn a_key_id_that_does_not_match_the_key_is_refused() {
        let verifier = SigningKey::generate("a").unwrap().verifier().to_string();
        let tampered = verifier.replacen("a+", "b+", 1);
        assert!(
            VerifierKey::parse(&tampered)
                .unwrap_err()
                .contains("does not match")
        );
    }
}
