//! [`Config`]: `config.toml` as written, overridden by CLI flags, validated once at start-up
//! into [`Settings`] (`settings.rs`).
//!
//! `flags.apply_to(Config::load(path)?).validate()?` is the whole pipeline; it ends in
//! [`Settings`], the only form the proxy accepts, so nothing downstream meets an unvalidated
//! value or parses one again. Unknown keys and bad values are refused with a message naming
//! the key. Relative paths in a file are resolved against that file's folder, so
//! `--config elsewhere/config.toml` works from any directory. This module does not start
//! anything.

mod settings;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub(crate) use settings::{Forwarding, ServerLimits, Settings};

use crate::mode::Mode;
use crate::report::FailOn;

/// The `cassettes.default` that names no cassette: every call selects its own.
pub(crate) const NO_DEFAULT_CASSETTE: &str = "none";

/// The file read when `--config` is not given, if it exists.
pub(crate) const DEFAULT_CONFIG_FILE: &str = "config.toml";

/// Operational log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    Pretty,
    /// One JSON object per event.
    Json,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where answers come from.
    pub mode: Mode,
    /// The address to listen on.
    pub listen: SocketAddr,
    /// Allow a non-loopback `listen` address: anyone who reaches it can use the proxy (and, in
    /// forwarding modes, the credentials it signs with).
    pub allow_remote: bool,
    /// The region used for requests that carry no SigV4 credential scope.
    pub region: String,
    /// The upstream endpoint (default `https://ssm.<region>.amazonaws.com`); never contacted
    /// in replay mode.
    pub upstream: Option<String>,
    /// How requests are forwarded in record, auto and passthrough modes.
    pub forward: ForwardSettings,
    /// Cassette settings.
    pub cassettes: CassetteSettings,
    /// How recorded answers are replayed.
    pub replay: ReplaySettings,
    /// Resource limits.
    pub limits: Limits,
    /// The audit log.
    pub audit: AuditSettings,
    /// The run report printed at shutdown.
    pub report: ReportSettings,
    /// The forward-proxy mode (`HTTPS_PROXY` clients).
    pub forward_proxy: ForwardProxySettings,
    /// Operational logging.
    pub log: LogSettings,
}

/// `[cassettes]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CassetteSettings {
    /// The cassette folder.
    pub dir: PathBuf,
    /// The cassette used for requests to `/`; `"none"` for none, when every call selects its
    /// own with `/cassette/<name>/` (requests to `/` are then refused, saying so).
    pub default: String,
    /// Replay the last answer again once a request's recorded answers are used up.
    pub repeat_last: bool,
    /// JSON paths left out of the matching key, beyond what the model marks (idempotency
    /// tokens and sensitive values).
    pub ignore_paths: Vec<String>,
    /// JSON paths whose values are written as `REDACTED` (requests and responses); they are
    /// ignored for matching too.
    pub redact_paths: Vec<String>,
    /// Sensitive values recorded in plain text anyway, as `<Operation>:<request|response>:<path>`
    /// (docs/recording.md); each one is warned about at start-up.
    pub keep_sensitive: Vec<String>,
    /// Record 5xx answers too (so a retry sequence replays as it happened).
    pub record_server_errors: bool,
    /// While recording, the cassette file is written whole from its journal once the journal
    /// holds this many bytes and as many as the cassette (docs/cassettes.md).
    pub compact_journal_bytes: u64,
    /// While recording, the cassette file is also written whole this often; 0 only at
    /// shutdown and when the journal is large.
    pub compact_interval_ms: u64,
}

/// `[replay]`: how recorded answers are handed out.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplaySettings {
    /// Answer a poll of a waiter's operation (botocore's `waiters-2.json`) with the recorded
    /// answer that ends the wait, skipping the polls before it, so clients do not sleep.
    pub fast_forward_waiters: bool,
    /// Placeholders of values only AWS knew, bound from the environment:
    /// `"REDACTED-3" = "env:DB_PASSWORD"`, or `"<cassette>/REDACTED-3"` for one cassette.
    pub secrets: std::collections::BTreeMap<String, String>,
}

impl Default for ReplaySettings {
    fn default() -> Self {
        Self {
            fast_forward_waiters: true,
            secrets: Default::default(),
        }
    }
}

/// `[forward]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardSettings {
    /// A PEM file of extra CA certificates to trust, beyond Mozilla's roots.
    pub ca_file: Option<PathBuf>,
    /// Time to open a connection (TCP and TLS).
    pub connect_timeout_ms: u64,
    /// Time for a whole exchange, from sending to the last byte of the answer.
    pub timeout_ms: u64,
    /// Largest answer accepted from the upstream.
    pub max_response_bytes: usize,
    /// SSM operations that may be forwarded (re-signed with your credentials); `"*"` is every
    /// `AmazonSSM.*` operation. Others are refused, never forwarded.
    pub allowed_operations: Vec<String>,
}

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Time a client has to send a request's headers (also bounds idle keep-alive HTTP/1).
    pub header_read_timeout_ms: u64,
    /// A connection with no traffic and no request in flight for this long is closed.
    pub idle_timeout_ms: u64,
    /// Open connections at most; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// On shutdown, time given to in-flight requests before connections are dropped.
    pub shutdown_grace_ms: u64,
}

/// `[audit]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Whether the audit log is written.
    pub enabled: bool,
    /// The operations whose every call is audited, by their SSM model name.
    pub operations: Vec<String>,
    /// The active audit file; rotated files sit beside it as `<file>.1`, `<file>.2`, …
    pub file: PathBuf,
    /// Size at which the active file is rotated.
    pub max_file_bytes: u64,
    /// Whether the active file is grown with zeros ahead of its records, so that each fsync
    /// writes data only (see `audit::writer`); the zeros are cut off at rotation and shutdown.
    /// Off by default: a plain JSON Lines file is what `grep`, `jq` and `tail -f` read.
    pub preallocate: bool,
    /// How long, in µs, each group commit may wait for as many records as went into the last
    /// one before it syncs (see `audit::batch`); 0 syncs as soon as one record waits.
    pub batch_wait_us: u64,
    /// What to do with a call whose audit record cannot be written.
    pub on_failure: OnAuditFailure,
    /// The Ed25519 key (`ssm-vcr audit keygen`) that signs checkpoints of the log; none, no
    /// checkpoints. It must be readable by its owner only.
    pub signing_key: Option<PathBuf>,
    /// Records between two checkpoints at most.
    pub checkpoint_every: u64,
    /// Time between two checkpoints at most, in ms, idle or not: the heartbeat that attests a
    /// silent proxy was running.
    pub checkpoint_interval_ms: u64,
    /// The first line of every checkpoint, naming the node and the log; default
    /// `<host name>/ssm-vcr/<log file name>`. Set it where host names are not stable (a
    /// container's), so that a witness tells the logs of a fleet apart.
    pub checkpoint_origin: Option<String>,
}

/// `[forward_proxy]`: how `CONNECT`s to SSM hosts are intercepted, and which others tunnelled.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardProxySettings {
    /// The local CA's folder (`ca.pem`, `ca-key.pem`), created on the first `CONNECT` to an
    /// SSM host; default `$XDG_DATA_HOME/ssm-vcr/ca`, else `~/.local/share/ssm-vcr/ca`.
    pub ca_dir: Option<PathBuf>,
    /// In the forwarding modes, forward only calls made through the forward proxy, each with
    /// its client's own signature: the proxy then needs, holds and lends no AWS credentials,
    /// and calls sent to its endpoint are refused rather than re-signed.
    pub only: bool,
    /// Hosts whose `CONNECT`s are tunnelled untouched in the forwarding modes: exact names, or
    /// `*.` and a domain, on port 443 unless `:port` follows; never in replay mode. Default:
    /// AWS's own domains, for the STS and SSO calls SDKs send through the same proxy.
    pub tunnel_hosts: Vec<String>,
}

impl Default for ForwardProxySettings {
    fn default() -> Self {
        Self {
            ca_dir: None,
            only: false,
            tunnel_hosts: ["*.amazonaws.com", "*.amazonaws.com.cn", "*.api.aws"]
                .map(str::to_owned)
                .to_vec(),
        }
    }
}

impl ForwardProxySettings {
    /// The CA folder: the configured one, else the default.
    pub fn ca_dir(&self) -> PathBuf {
        self.ca_dir
            .clone()
            .unwrap_or_else(crate::intercept::ca::default_dir)
    }
}

/// `[report]`: the run report `serve` prints at shutdown, and what makes the run fail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSettings {
    /// Where to write the report as JSON too.
    pub file: Option<PathBuf>,
    /// Exit with status 3 when a cassette that calls reached holds recordings no call used.
    pub fail_on_unused: bool,
    /// Exit with status 3 when a call found no recorded answer.
    pub fail_on_miss: bool,
}

impl ReportSettings {
    /// What makes the run fail.
    pub fn fail_on(&self) -> FailOn {
        FailOn {
            unused: self.fail_on_unused,
            miss: self.fail_on_miss,
        }
    }
}

/// What to do when an audit record cannot be made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnAuditFailure {
    /// Answer the call with a 500 `InternalServerError` instead: nothing unaudited gets through.
    Refuse,
    /// Answer normally and log the failure.
    Answer,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// Human-readable lines or JSON objects.
    pub format: LogFormat,
    /// A `RUST_LOG`-style filter; the `RUST_LOG` variable wins when set.
    pub filter: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mode: Mode::Replay,
            listen: SocketAddr::from(([127, 0, 0, 1], 4590)),
            allow_remote: false,
            region: "us-east-1".to_owned(),
            upstream: None,
            forward: ForwardSettings::default(),
            cassettes: CassetteSettings::default(),
            replay: ReplaySettings::default(),
            limits: Limits::default(),
            audit: AuditSettings::default(),
            report: ReportSettings::default(),
            forward_proxy: ForwardProxySettings::default(),
            log: LogSettings::default(),
        }
    }
}

impl Default for CassetteSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("cassettes"),
            default: "maintenance-window-flow".to_owned(),
            repeat_last: false,
            ignore_paths: Vec::new(),
            redact_paths: Vec::new(),
            keep_sensitive: Vec::new(),
            record_server_errors: true,
            compact_journal_bytes: 4 * 1024 * 1024,
            compact_interval_ms: 30_000,
        }
    }
}

impl Default for ForwardSettings {
    fn default() -> Self {
        Self {
            ca_file: None,
            connect_timeout_ms: 5_000,
            timeout_ms: 30_000,
            max_response_bytes: 16 * 1024 * 1024,
            allowed_operations: vec!["*".to_owned()],
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_connections: 4096,
            shutdown_grace_ms: 10_000,
        }
    }
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            operations: vec!["DeregisterTaskFromMaintenanceWindow".to_owned()],
            file: PathBuf::from("audit/deregistrations.jsonl"),
            max_file_bytes: 64 * 1024 * 1024,
            preallocate: false,
            batch_wait_us: 1_000,
            on_failure: OnAuditFailure::Refuse,
            signing_key: None,
            checkpoint_every: 1_000,
            checkpoint_interval_ms: 60_000,
            checkpoint_origin: None,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info".to_owned(),
        }
    }
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys or wrongly typed values.
    #[error("{}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause, with line, column and key.
        #[source]
        source: toml::de::Error,
    },
    /// A value is out of range or inconsistent.
    #[error("{key}: {reason}")]
    Invalid {
        /// The key, dotted (`limits.max_body_bytes`).
        key: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
}

impl Config {
    /// Reads `path`, or `config.toml` in the current folder when it exists, or the built-in
    /// defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let path = match path {
            Some(path) => path,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => Path::new(DEFAULT_CONFIG_FILE),
            None => return Ok(Self::default()),
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config: Self = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if config.cassettes.dir.is_relative() {
                config.cassettes.dir = folder.join(&config.cassettes.dir);
            }
            if config.audit.file.is_relative() {
                config.audit.file = folder.join(&config.audit.file);
            }
            let key = config.audit.signing_key.as_mut();
            if let Some(key) = key.filter(|p| p.is_relative()) {
                *key = folder.join(&*key);
            }
            if let Some(ca) = config.forward.ca_file.as_mut().filter(|p| p.is_relative()) {
                *ca = folder.join(&*ca);
            }
            if let Some(file) = config.report.file.as_mut().filter(|p| p.is_relative()) {
                *file = folder.join(&*file);
            }
            let ca_dir = config.forward_proxy.ca_dir.as_mut();
            if let Some(dir) = ca_dir.filter(|p| p.is_relative()) {
                *dir = folder.join(&*dir);
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_hosts_must_be_host_patterns() {
        let mut config = Config::default();
        config.forward_proxy.tunnel_hosts = vec!["sts.amazonaws.com:https".to_owned()];
        let error = config.validate().unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("forward_proxy.tunnel_hosts: \"sts.amazonaws.com:https\"")
        );
    }

    fn parse(text: &str) -> Result<Settings, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate().map_err(|e| e.to_string())
    }

    mod validate {
        use super::*;

        #[test]
        fn the_defaults_are_valid() {
            Config::default().validate().unwrap();
        }

        #[test]
        fn unknown_keys_are_named() {
            let err = parse("[limits]\nmax_body = 3\n").unwrap_err();
            assert!(err.contains("unknown field `max_body`"), "{err}");
        }

        #[test]
        fn bad_values_are_named() {
            assert_eq!(
                parse("[limits]\nmax_connections = 0\n").unwrap_err(),
                "limits.max_connections: must be at least 1"
            );
            assert!(
                parse("[audit]\ncheckpoint_origin = \"a\\nb\"\n")
                    .unwrap_err()
                    .starts_with("audit.checkpoint_origin: must be one non-empty line without '+'")
            );
            assert_eq!(
                parse("[audit]\ncheckpoint_interval_ms = 10\n").unwrap_err(),
                "audit.checkpoint_interval_ms: must be at least 100: every checkpoint is a signed, \
                 fsynced record"
            );
            assert_eq!(
                parse("[audit]\nbatch_wait_us = 5000000\n").unwrap_err(),
                "audit.batch_wait_us: must be at most 1000000 (1 s): every audited call may \
                 wait this long"
            );
            parse("[audit]\nbatch_wait_us = 0\n").expect("0 turns the wait off");
            assert_eq!(
                parse("[audit]\noperations = [\"DeregisterTask\"]\n").unwrap_err(),
                "audit.operations: 'DeregisterTask' is not an operation of the SSM model"
            );
            assert_eq!(
                parse("[forward]\nallowed_operations = [\"*\", \"Nope\"]\n").unwrap_err(),
                "forward.allowed_operations: 'Nope' is not an operation of the SSM model \
                 (or \"*\" for every SSM operation)"
            );
            assert!(
                parse("mode = \"sideways\"\n")
                    .unwrap_err()
                    .contains("unknown variant `sideways`")
            );
            assert!(
                parse("[cassettes]\ndefault = \"../etc\"\n")
                    .unwrap_err()
                    .starts_with("cassettes.default:")
            );
            assert!(
                parse("upstream = \"ftp://x\"\n")
                    .unwrap_err()
                    .starts_with("upstream:")
            );
        }
    }
}
