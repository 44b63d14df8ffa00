//! [`Settings`]: a configuration that passed validation, in the types the proxy works in
//! (durations, parsed URLs, host patterns, operations of the model, cassette names), read out
//! of the raw [`Config`] once, one section at a time.
//!
//! Each section of `config.toml` is validated by its own function here, which names the key of
//! any value it refuses. Nothing downstream parses a setting again or sees a raw one. This
//! module does not read files ([`super`]) nor start anything.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{
    AuditSettings, CassetteSettings, Config, ConfigError, ForwardProxySettings, ForwardSettings,
    Limits, LogSettings, NO_DEFAULT_CASSETTE, OnAuditFailure, ReplaySettings, ReportSettings,
};
use crate::audit::Layout;
use crate::aws::is_region_name;
use crate::aws::model::Operation;
use crate::cassette::matching::IgnoreRules;
use crate::cassette::name::CassetteName;
use crate::cassette::redact::{BadRedaction, Redaction};
use crate::cassette::replay::{Replaying, WhenExhausted};
use crate::cassette::secrets::EnvBindings;
use crate::cassette::store::Opening;
use crate::intercept::host_pattern::HostPattern;
use crate::mode::Mode;

/// Shortest time between two checkpoints, in ms.
const MIN_CHECKPOINT_INTERVAL_MS: u64 = 100;

/// Longest wait of a group commit of the audit log, in µs: every audited call may wait it.
const MAX_BATCH_WAIT_US: u64 = 1_000_000;

/// A configuration that passed [`Config::validate`]: the only form the proxy starts from.
#[derive(Debug)]
pub(crate) struct Settings {
    /// Where answers come from.
    pub(crate) mode: Mode,
    /// The address to listen on.
    pub(crate) listen: SocketAddr,
    /// The region of calls that carry no SigV4 credential scope.
    pub(crate) region: String,
    /// The cassettes and how they are opened.
    pub(crate) cassettes: Cassettes,
    /// How calls are forwarded, in the modes that forward.
    pub(crate) forwarding: Forwarding,
    /// What the listener allows each client.
    pub(crate) limits: ServerLimits,
    /// The audit log; `None` when it is off.
    pub(crate) audit: Option<Auditing>,
    /// The forward-proxy mode.
    pub(crate) interception: Interception,
    /// The run report.
    pub(crate) report: ReportSettings,
    /// Operational logging.
    pub(crate) log: LogSettings,
}

/// `[cassettes]` and `[replay]`, validated.
#[derive(Debug)]
pub(crate) struct Cassettes {
    /// The cassette folder.
    pub(crate) dir: PathBuf,
    /// The cassette for calls sent to `/`.
    pub(crate) default: Option<CassetteName>,
    /// How each cassette is opened for the mode.
    pub(crate) opening: Opening,
    /// What recordings may not hold.
    pub(crate) redaction: Redaction,
    /// Whether 5xx answers are recorded.
    pub(crate) record_server_errors: bool,
    /// How often recording cassettes are written whole; `None` only at shutdown and when the
    /// journal is large.
    pub(crate) compact_interval: Option<Duration>,
}

/// `upstream` and `[forward]`, validated.
#[derive(Debug)]
pub(crate) struct Forwarding {
    /// The upstream override; `None` is `https://ssm.<region>.amazonaws.com`.
    pub(crate) upstream: Option<http::Uri>,
    /// Extra CA certificates to trust.
    pub(crate) ca_file: Option<PathBuf>,
    /// Time to open a connection (TCP and TLS).
    pub(crate) connect_timeout: Duration,
    /// Time for a whole exchange.
    pub(crate) timeout: Duration,
    /// Largest answer accepted.
    pub(crate) max_response_bytes: usize,
    /// The operations that may be forwarded; `None` allows every SSM operation.
    pub(crate) allowed: Option<Vec<Operation>>,
}

/// `[limits]`, validated.
#[derive(Debug, Clone)]
pub(crate) struct ServerLimits {
    /// Largest accepted request body.
    pub(crate) max_body_bytes: usize,
    /// Time a client has to send a request's headers.
    pub(crate) header_read_timeout: Duration,
    /// A connection idle this long is closed.
    pub(crate) idle_timeout: Duration,
    /// Open connections at most.
    pub(crate) max_connections: usize,
    /// On shutdown, time given to in-flight requests.
    pub(crate) shutdown_grace: Duration,
}

/// `[audit]`, validated, when it is on.
#[derive(Debug)]
pub(crate) struct Auditing {
    /// The active audit file.
    pub(crate) file: PathBuf,
    /// Rotation size and preallocation.
    pub(crate) layout: Layout,
    /// How long a group commit may wait for more records.
    pub(crate) batch_wait: Duration,
    /// The operations whose every call is audited.
    pub(crate) operations: Vec<Operation>,
    /// What to do with a call whose record cannot be written.
    pub(crate) on_failure: OnAuditFailure,
    /// Checkpoints, with a signing key.
    pub(crate) checkpoints: Option<Checkpoints>,
}

/// `[audit]`'s checkpoint keys, validated; the key is read at start-up.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    /// The signing key's file.
    pub(crate) key_file: PathBuf,
    /// Records between two checkpoints at most.
    pub(crate) every: u64,
    /// Time between two checkpoints at most.
    pub(crate) interval: Duration,
    /// The checkpoints' origin line, if not the default.
    pub(crate) origin: Option<String>,
}

/// `[forward_proxy]`, validated.
#[derive(Debug)]
pub(crate) struct Interception {
    /// The local CA's folder.
    pub(crate) ca_dir: PathBuf,
    /// Forward only calls made through the forward proxy, with their clients' own signatures.
    pub(crate) only: bool,
    /// Hosts tunnelled untouched in the forwarding modes.
    pub(crate) tunnel_hosts: Vec<HostPattern>,
}

impl Config {
    /// Checks values that the types alone do not, section by section, and reads out what they
    /// describe.
    pub(crate) fn validate(self) -> Result<Settings, ConfigError> {
        check_listen(self.listen, self.allow_remote)?;
        let region = region(&self.region)?;
        let forwarding = self.forward.validate(self.upstream.as_deref())?;
        let interception = self.forward_proxy.validate()?;
        let audit = self.audit.validate()?;
        let cassettes = self.cassettes.validate(self.mode, &self.replay)?;
        let limits = self.limits.validate()?;
        self.log.validate()?;
        Ok(Settings {
            mode: self.mode,
            listen: self.listen,
            region,
            cassettes,
            forwarding,
            limits,
            audit,
            interception,
            report: self.report,
            log: self.log,
        })
    }
}

fn check_listen(listen: SocketAddr, allow_remote: bool) -> Result<(), ConfigError> {
    if listen.ip().is_loopback() || allow_remote {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        key: "listen",
        reason: format!(
            "{listen} is not a loopback address, and a re-signing proxy on an open port lends your AWS \
             credentials to anyone who reaches it; set allow_remote = true (or --allow-remote) to \
             bind it anyway"
        ),
    })
}

fn region(region: &str) -> Result<String, ConfigError> {
    if !is_region_name(region) {
        return Err(invalid("region", "must be a region name such as us-east-1"));
    }
    Ok(region.to_owned())
}

impl ForwardSettings {
    fn validate(&self, upstream: Option<&str>) -> Result<Forwarding, ConfigError> {
        let (every, named): (Vec<&String>, Vec<&String>) =
            (self.allowed_operations.iter()).partition(|op| *op == "*");
        let named = operations(
            "forward.allowed_operations",
            named,
            " (or \"*\" for every SSM operation)",
        )?;
        Ok(Forwarding {
            upstream: upstream.map(upstream_uri).transpose()?,
            ca_file: self.ca_file.clone(),
            connect_timeout: millis("forward.connect_timeout_ms", self.connect_timeout_ms)?,
            timeout: millis("forward.timeout_ms", self.timeout_ms)?,
            max_response_bytes: at_least_one(
                "forward.max_response_bytes",
                self.max_response_bytes,
            )?,
            allowed: every.is_empty().then_some(named),
        })
    }
}

fn upstream_uri(upstream: &str) -> Result<http::Uri, ConfigError> {
    let uri: http::Uri = upstream.parse().map_err(|_| {
        invalid(
            "upstream",
            "must be a URL such as https://ssm.us-east-1.amazonaws.com",
        )
    })?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(invalid(
            "upstream",
            "must be an http:// or https:// URL with a host",
        ));
    }
    Ok(uri)
}

impl ForwardProxySettings {
    fn validate(&self) -> Result<Interception, ConfigError> {
        let tunnel_hosts = (self.tunnel_hosts.iter())
            .map(|entry| {
                HostPattern::parse(entry).ok_or_else(|| ConfigError::Invalid {
                    key: "forward_proxy.tunnel_hosts",
                    reason: format!(
                        "{entry:?} is not a host name or `*.` and a domain, with an optional :port \
                         (e.g. \"*.amazonaws.com\", \"sso.example.com:8443\")"
                    ),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Interception {
            ca_dir: self.ca_dir(),
            only: self.only,
            tunnel_hosts,
        })
    }
}

impl AuditSettings {
    /// Checks every key, so that a mistake is found before the log is turned on.
    fn validate(&self) -> Result<Option<Auditing>, ConfigError> {
        let operations = operations("audit.operations", &self.operations, "")?;
        let max_file_bytes = at_least_one("audit.max_file_bytes", self.max_file_bytes)?;
        if self.batch_wait_us > MAX_BATCH_WAIT_US {
            return Err(invalid(
                "audit.batch_wait_us",
                "must be at most 1000000 (1 s): every audited call may wait this long",
            ));
        }
        let every = at_least_one("audit.checkpoint_every", self.checkpoint_every)?;
        if self.checkpoint_interval_ms < MIN_CHECKPOINT_INTERVAL_MS {
            return Err(invalid(
                "audit.checkpoint_interval_ms",
                "must be at least 100: every checkpoint is a signed, fsynced record",
            ));
        }
        let origin = self.checkpoint_origin.as_deref();
        if origin
            .is_some_and(|o| o.is_empty() || o.chars().any(char::is_control) || o.contains('+'))
        {
            return Err(invalid(
                "audit.checkpoint_origin",
                "must be one non-empty line without '+', e.g. \"build-7.example.com/ssm-vcr/deregistrations\"",
            ));
        }
        let checkpoints = self.signing_key.as_ref().map(|key_file| Checkpoints {
            key_file: key_file.clone(),
            every,
            interval: Duration::from_millis(self.checkpoint_interval_ms),
            origin: self.checkpoint_origin.clone(),
        });
        Ok(self.enabled.then(|| Auditing {
            file: self.file.clone(),
            layout: Layout {
                max_file_bytes,
                preallocate: self.preallocate,
            },
            batch_wait: Duration::from_micros(self.batch_wait_us),
            operations,
            on_failure: self.on_failure,
            checkpoints,
        }))
    }
}

impl CassetteSettings {
    fn validate(&self, mode: Mode, replay: &ReplaySettings) -> Result<Cassettes, ConfigError> {
        let default = match self.default.as_str() {
            NO_DEFAULT_CASSETTE => None,
            name => Some(CassetteName::parse(name).map_err(|_| {
                invalid(
                    "cassettes.default",
                    "must be a cassette name: letters, digits, '.', '_' and '-', not starting \
                     with '.'; or \"none\" for no default cassette",
                )
            })?),
        };
        let redaction =
            Redaction::new(&self.redact_paths, &self.keep_sensitive).map_err(|bad| match bad {
                BadRedaction::Path(reason) => invalid_because("cassettes.redact_paths")(reason),
                BadRedaction::Kept(reason) => invalid_because("cassettes.keep_sensitive")(reason),
            })?;
        // Redacted paths (valid by now) are ignored for matching too: their recorded value is
        // `REDACTED`, never what a client sends.
        let ignored: Vec<&String> = (self.ignore_paths.iter())
            .chain(&self.redact_paths)
            .collect();
        let rules =
            IgnoreRules::new(&ignored).map_err(invalid_because("cassettes.ignore_paths"))?;
        let when_exhausted = if self.repeat_last {
            WhenExhausted::RepeatLast
        } else {
            WhenExhausted::Miss
        };
        Ok(Cassettes {
            dir: self.dir.clone(),
            default,
            opening: Opening {
                mode,
                rules,
                replaying: Replaying {
                    when_exhausted,
                    fast_forward_waiters: replay.fast_forward_waiters,
                },
                env_bindings: replay.env_bindings()?,
                compact_journal_bytes: self.compact_journal_bytes,
            },
            redaction,
            record_server_errors: self.record_server_errors,
            compact_interval: (self.compact_interval_ms > 0)
                .then(|| Duration::from_millis(self.compact_interval_ms)),
        })
    }
}

impl ReplaySettings {
    /// The placeholders bound from the environment, read now: a variable that is not set
    /// stops start-up.
    fn env_bindings(&self) -> Result<EnvBindings, ConfigError> {
        if let Some((cassette, _)) = (self.secrets.keys())
            .filter_map(|key| key.rsplit_once('/'))
            .find(|(cassette, _)| CassetteName::parse(cassette).is_err())
        {
            return Err(ConfigError::Invalid {
                key: "replay.secrets",
                reason: format!("'{cassette}' is not a cassette name"),
            });
        }
        let entries = (self.secrets.iter()).map(|(k, v)| (k.as_str(), v.as_str()));
        EnvBindings::read(entries, |variable| std::env::var(variable).ok())
            .map_err(invalid_because("replay.secrets"))
    }
}

impl Limits {
    fn validate(&self) -> Result<ServerLimits, ConfigError> {
        Ok(ServerLimits {
            max_body_bytes: at_least_one("limits.max_body_bytes", self.max_body_bytes)?,
            header_read_timeout: millis(
                "limits.header_read_timeout_ms",
                self.header_read_timeout_ms,
            )?,
            idle_timeout: millis("limits.idle_timeout_ms", self.idle_timeout_ms)?,
            max_connections: at_least_one("limits.max_connections", self.max_connections)?,
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
        })
    }
}

impl LogSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        match self.filter.parse::<tracing_subscriber::EnvFilter>() {
            Ok(_) => Ok(()),
            Err(_) => Err(invalid(
                "log.filter",
                "must be a RUST_LOG-style filter such as 'info' or 'ssm_vcr=debug'",
            )),
        }
    }
}

/// The operations `names` lists, each checked against the SSM model.
fn operations<'a>(
    key: &'static str,
    names: impl IntoIterator<Item = &'a String>,
    hint: &str,
) -> Result<Vec<Operation>, ConfigError> {
    names
        .into_iter()
        .map(|name| {
            Operation::named(name).ok_or_else(|| ConfigError::Invalid {
                key,
                reason: format!("'{name}' is not an operation of the SSM model{hint}"),
            })
        })
        .collect()
}

/// A duration in milliseconds that must not be 0.
fn millis(key: &'static str, ms: u64) -> Result<Duration, ConfigError> {
    at_least_one(key, ms).map(Duration::from_millis)
}

fn at_least_one<N: Default + PartialEq>(key: &'static str, value: N) -> Result<N, ConfigError> {
    if value == N::default() {
        return Err(invalid(key, "must be at least 1"));
    }
    Ok(value)
}

fn invalid(key: &'static str, reason: &str) -> ConfigError {
    invalid_because(key)(reason.to_owned())
}

fn invalid_because(key: &'static str) -> impl Fn(String) -> ConfigError {
    move |reason| ConfigError::Invalid { key, reason }
}
