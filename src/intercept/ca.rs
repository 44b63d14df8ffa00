//! The local certificate authority of the forward-proxy mode: created on first use, kept in a
//! folder of its own, and issuing each intercepted host a certificate that strict verifiers
//! accept.
//!
//! The folder holds `ca.pem`, the certificate a client trusts (`AWS_CA_BUNDLE`), and
//! `ca-key.pem`, its private key, created `0600` in a `0700` folder. The key is read here and
//! nowhere else: never logged, recorded, audited or exported. Host certificates live in memory
//! only, one per host for the life of the process. This module does not accept connections
//! (`intercept/mod.rs`).
//!
//! What strict X.509 verification (Python 3.13's `VERIFY_X509_STRICT`, browsers) asks, and
//! these certificates have: the CA's basic constraints critical, its key usage `keyCertSign`,
//! subject key identifiers on both, an authority key identifier on the host certificate, the
//! host name in its subject alternative names, and `serverAuth` as its extended key usage.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use foldhash::HashMap;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::OffsetDateTime;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// The CA certificate's file in the CA folder.
pub const CERT_FILE: &str = "ca.pem";

/// The CA key's file in the CA folder (`0600`).
pub const KEY_FILE: &str = "ca-key.pem";

/// How long a new CA is valid.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// How long a host certificate is valid: within the 398 days that browsers and strict clients
/// accept for a server certificate.
const HOST_VALIDITY: Duration = Duration::from_secs(397 * 24 * 3600);

/// Why the CA cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// Reading or writing the CA folder failed.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The key file is readable by others: refused rather than used.
    #[error(
        "{} is readable by others (mode {mode:o}); run `chmod 600` on it, or `ssm-vcr ca rotate`",
        path.display()
    )]
    KeyExposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// There is no CA in the folder yet.
    #[error(
        "there is no local CA in {} yet; run `ssm-vcr ca init`, which creates one and prints its \
         certificate's path",
        dir.display()
    )]
    Missing {
        /// The CA folder.
        dir: PathBuf,
    },
    /// The files are not a certificate and key this build wrote.
    #[error("{} holds no usable CA ({reason}); run `ssm-vcr ca rotate` for a new one", dir.display())]
    Invalid {
        /// The CA folder.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The CA folder used when none is configured: `$XDG_DATA_HOME/ssm-vcr/ca`, else
/// `~/.local/share/ssm-vcr/ca`, else `.ssm-vcr/ca` in the current folder.
pub fn default_dir() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/share")));
    match data {
        Some(data) => data.join("ssm-vcr").join("ca"),
        None => PathBuf::from(".ssm-vcr").join("ca"),
    }
}

/// A CA ready to issue host certificates.
pub struct LocalCa {
    cert_path: PathBuf,
    cert: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    /// Server configurations by host, issued on first use.
    hosts: Mutex<HashMap<String, Arc<ServerConfig>>>,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("LocalCa")
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

impl LocalCa {
    /// The CA in `dir`, created there first if the folder holds none.
    ///
    /// Two proxies starting at once with an empty folder cannot mix their keys: each writes a
    /// whole CA into a folder of its own and renames it into place, and the loser uses the
    /// winner's.
    pub fn open_or_create(dir: &Path) -> Result<Self, CaError> {
        if !dir.join(KEY_FILE).exists() {
            let staged = stage(dir)?;
            if let Err(source) = fs::rename(&staged, dir) {
                let _ = fs::remove_dir_all(&staged);
                if !dir.join(KEY_FILE).exists() {
                    return Err(io_error("cannot create", dir, source));
                }
            }
        }
        Self::open(dir)
    }

    /// Replaces the CA in `dir` with a new one; clients must trust the new `ca.pem`. Proxies
    /// running keep the CA they loaded until they restart.
    pub fn rotate(dir: &Path) -> Result<Self, CaError> {
        if !dir.join(KEY_FILE).exists() {
            return Self::open_or_create(dir);
        }
        let staged = stage(dir)?;
        let moved = [KEY_FILE, CERT_FILE].iter().try_for_each(|name| {
            fs::rename(staged.join(name), dir.join(name))
                .map_err(|source| io_error("cannot replace", &dir.join(name), source))
        });
        let _ = fs::remove_dir_all(&staged);
        moved?;
        Self::open(dir)
    }

    /// The CA in `dir`, which must exist.
    pub fn open(dir: &Path) -> Result<Self, CaError> {
        let key_path = dir.join(KEY_FILE);
        let mode = match fs::metadata(&key_path) {
            Ok(metadata) => metadata.permissions().mode(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CaError::Missing {
                    dir: dir.to_owned(),
                });
            }
            Err(source) => return Err(io_error("cannot read", &key_path, source)),
        };
        if mode & 0o077 != 0 {
            return Err(CaError::KeyExposed {
                path: key_path,
                mode: mode & 0o777,
            });
        }
        let invalid = |reason: String| CaError::Invalid {
            dir: dir.to_owned(),
            reason,
        };
        let key_pem = fs::read_to_string(&key_path)
            .map_err(|source| io_error("cannot read", &key_path, source))?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| invalid(e.to_string()))?;
        let cert_path = dir.join(CERT_FILE);
        let cert_pem =
            fs::read(&cert_path).map_err(|source| io_error("cannot read", &cert_path, source))?;
        let cert = CertificateDer::from_pem_slice(&cert_pem)
            .map_err(|e| invalid(format!("{CERT_FILE}: {e}")))?;
        // The issuer is rebuilt from the parameters every CA of this build has: its subject and
        // key usages are fixed, and its key identifier is derived from the key.
        let issuer = Issuer::new(ca_params(OffsetDateTime::now_utc()), key);
        Ok(Self {
            cert_path,
            cert,
            issuer,
            hosts: Mutex::default(),
        })
    }

    /// The CA certificate's file, for `AWS_CA_BUNDLE`.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The TLS configuration that presents `host`'s certificate, issued on first use.
    pub fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, rcgen::Error> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(config) = hosts.get(host) {
            return Ok(Arc::clone(config));
        }
        let config = Arc::new(self.issue(host)?);
        hosts.insert(host.to_owned(), Arc::clone(&config));
        Ok(config)
    }

    fn issue(&self, host: &str) -> Result<ServerConfig, rcgen::Error> {
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::new(vec![host.to_owned()])?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, host);
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + HOST_VALIDITY;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let key_der = PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| rcgen::Error::PemError(e.to_string()))?
                .with_no_client_auth()
                .with_single_cert(vec![cert.der().clone(), self.cert.clone()], key_der)
                .map_err(|e| rcgen::Error::PemError(e.to_string()))?;
        // What the pipeline serves, whatever the upstream speaks.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// The parameters of every CA this build makes, valid from `now`.
fn ca_params(now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "ssm-vcr local CA");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "ssm-vcr");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + CA_VALIDITY;
    params
}

/// Writes a new CA into a fresh `0700` folder beside `dir`, and returns that folder: the key
/// `0600`, then the certificate, both synced.
fn stage(dir: &Path) -> Result<PathBuf, CaError> {
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut folders = fs::DirBuilder::new();
    folders.recursive(true).mode(0o700);
    folders
        .create(parent)
        .map_err(|source| io_error("cannot create", parent, source))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let staged = parent.join(format!(".{name}.new-{}-{nanos}", std::process::id()));
    folders
        .create(&staged)
        .map_err(|source| io_error("cannot create", &staged, source))?;
    let invalid = |e: rcgen::Error| CaError::Invalid {
        dir: dir.to_owned(),
        reason: e.to_string(),
    };
    let key = KeyPair::generate().map_err(invalid)?;
    let cert = ca_params(OffsetDateTime::now_utc())
        .self_signed(&key)
        .map_err(invalid)?;
    write_new(
        &staged.join(KEY_FILE),
        0o600,
        key.serialize_pem().as_bytes(),
    )?;
    write_new(&staged.join(CERT_FILE), 0o644, cert.pem().as_bytes())?;
    Ok(staged)
}

/// Creates `path` with `mode` and `bytes`, synced.
fn write_new(path: &Path, mode: u32, bytes: &[u8]) -> Result<(), CaError> {
    let mut file: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|source| io_error("cannot create", path, source))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|source| io_error("cannot write", path, source))
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> CaError {
    CaError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}
