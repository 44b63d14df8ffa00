//! The forward-proxy mode: what to do with a `CONNECT`, as clients configured with
//! `HTTPS_PROXY` send one for every host they call.
//!
//! A `CONNECT` to an SSM host on port 443 is intercepted: the proxy answers 200, terminates
//! TLS with a certificate its local CA (`ca.rs`) issues for that host, and serves each request
//! inside through the same router, so validation, audit, replay and recording are the same as
//! for a client pointed at the proxy's endpoint. The cassette is the configured default one (a
//! path prefix cannot be chosen through a proxy).
//!
//! Every other host is refused in replay mode: nothing may leave the machine. In the forwarding
//! modes, a host that `forward_proxy.tunnel_hosts` allows (by default AWS's own domains, as
//! SDKs also send STS and SSO calls through `HTTPS_PROXY`) is tunnelled untouched, without
//! interception; any other is refused. A request that names an `https://` SSM URI instead of
//! tunnelling to it (some proxy libraries send those) is intercepted the same way; any other
//! such request (plain HTTP, IMDS) is refused.
//!
//! This module decides and prepares; `server/` owns the connection that the upgrade hands
//! over.

pub mod ca;
pub mod host_pattern;

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Request;
use hyper::upgrade::OnUpgrade;
use tokio::net::TcpStream;
use tokio::sync::OnceCell;
use tokio_rustls::rustls::ServerConfig;

use crate::mode::Mode;
use crate::text::printable;
use ca::{CaError, LocalCa};
use host_pattern::HostPattern;

/// Why a forward-proxy request is not served; `error.rs` turns each into AWS's error shape.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InterceptError {
    /// The target is neither an SSM host nor, in the forwarding modes, a tunnelled one.
    #[error("{what} {target} is refused")]
    NotAllowed {
        /// What was asked: `CONNECT to`, `a proxy request for`.
        what: &'static str,
        /// The target as sent, printable and bounded.
        target: String,
        /// Whether the proxy is in replay mode, where nothing leaves the machine.
        replaying: bool,
    },
    /// The tunnel's target could not be reached.
    #[error("cannot open a tunnel to {target}")]
    Tunnel {
        /// `host:port`.
        target: String,
        /// What the system said, or that the connect timed out.
        #[source]
        source: io::Error,
    },
    /// The local CA could not be opened or created.
    #[error("the local CA is unusable")]
    Ca(#[source] CaError),
    /// The local CA could not issue the host's certificate.
    #[error("the local CA could not issue a certificate for {host}")]
    Certificate {
        /// The SSM host.
        host: String,
        /// What rcgen said.
        #[source]
        source: rcgen::Error,
    },
}

/// A `CONNECT` that is intercepted: the connection it upgrades to, and the TLS configuration
/// that presents its host's certificate.
#[derive(Debug)]
pub(crate) struct Interception {
    /// The client's connection once the 200 answer is sent.
    pub(crate) upgrade: OnUpgrade,
    /// TLS with a certificate for the host.
    pub(crate) tls: Arc<ServerConfig>,
    /// The SSM host the client believes it reaches.
    pub(crate) host: String,
}

/// A `CONNECT` to a host that is tunnelled, not intercepted: bytes copied both ways.
#[derive(Debug)]
pub(crate) struct Tunnel {
    /// The client's connection once the 200 answer is sent.
    pub(crate) upgrade: OnUpgrade,
    /// `host:port`, as the client asked.
    pub(crate) target: String,
    /// The connection to it, opened before the client is told the tunnel is up.
    pub(crate) upstream: TcpStream,
}

/// What the server does with a connection once a `CONNECT`'s 200 answer is sent.
#[derive(Debug)]
pub(crate) enum Takeover {
    /// Terminate TLS and serve the requests inside.
    Intercept(Interception),
    /// Copy bytes to and from the target.
    Tunnel(Tunnel),
}

/// The takeover, carried in the 200 answer's extensions (which hold only `Clone` values) to
/// the server, which takes it once.
#[derive(Debug, Clone)]
pub(crate) struct Handover(Arc<Mutex<Option<Takeover>>>);

impl Handover {
    /// Wraps a takeover for the answer's extensions.
    pub(crate) fn new(takeover: Takeover) -> Self {
        Self(Arc::new(Mutex::new(Some(takeover))))
    }

    /// The takeover, the first time only.
    pub(crate) fn take(&self) -> Option<Takeover> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Decides each `CONNECT`, and holds the local CA once a `CONNECT` needed it.
#[derive(Debug)]
pub(crate) struct Interceptor {
    mode: Mode,
    ca_dir: PathBuf,
    ca: OnceCell<Arc<LocalCa>>,
    /// Hosts tunnelled in the forwarding modes.
    tunnel_hosts: Vec<HostPattern>,
    connect_timeout: Duration,
}

impl Interceptor {
    /// An interceptor whose CA lives in `ca_dir`, created there on the first `CONNECT` to an
    /// SSM host, and which tunnels `tunnel_hosts` in the forwarding modes.
    pub(crate) fn new(
        mode: Mode,
        ca_dir: PathBuf,
        tunnel_hosts: Vec<HostPattern>,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            mode,
            ca_dir,
            ca: OnceCell::new(),
            tunnel_hosts,
            connect_timeout,
        }
    }

    /// Intercepts a `CONNECT` to an SSM host, tunnels one to an allowed host, or refuses it
    /// in AWS's error shape.
    pub(crate) async fn connect<B>(
        &self,
        request: &mut Request<B>,
    ) -> Result<Takeover, InterceptError> {
        let refused = || self.refusal("CONNECT to", &request.uri().to_string());
        let Some((host, Some(port))) = request.uri().authority().map(|a| (a.host(), a.port_u16()))
        else {
            return Err(refused());
        };
        let host = host.to_ascii_lowercase();
        if !is_intercepted(&host, port) {
            if self.mode.forwards() && self.tunnels(&host, port) {
                let target = format!("{host}:{port}");
                let upstream = self.open_tunnel(&target).await?;
                return Ok(Takeover::Tunnel(Tunnel {
                    upgrade: hyper::upgrade::on(request),
                    target,
                    upstream,
                }));
            }
            return Err(refused());
        }
        let ca = self.ca().await?;
        let tls = (ca.server_config(&host)).map_err(|source| InterceptError::Certificate {
            host: host.clone(),
            source,
        })?;
        Ok(Takeover::Intercept(Interception {
            upgrade: hyper::upgrade::on(request),
            tls,
            host,
        }))
    }

    async fn open_tunnel(&self, target: &str) -> Result<TcpStream, InterceptError> {
        let connected = tokio::time::timeout(self.connect_timeout, TcpStream::connect(target))
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection timed out",
                ))
            });
        connected.map_err(|source| InterceptError::Tunnel {
            target: target.to_owned(),
            source,
        })
    }

    /// Whether `forward_proxy.tunnel_hosts` allows `host:port`.
    fn tunnels(&self, host: &str, port: u16) -> bool {
        self.tunnel_hosts
            .iter()
            .any(|allowed| allowed.matches(host, port))
    }

    /// The SSM host of a proxy request (an absolute-form URI, `POST https://ssm…/`), which is
    /// intercepted like a `CONNECT` to it; any other host is refused.
    pub(crate) fn proxy_request(&self, uri: &http::Uri) -> Result<String, InterceptError> {
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        match uri.authority() {
            Some(authority)
                if https
                    && is_intercepted(authority.host(), authority.port_u16().unwrap_or(443)) =>
            {
                Ok(authority.host().to_ascii_lowercase())
            }
            _ => Err(self.refusal("a proxy request for", &uri.to_string())),
        }
    }

    fn refusal(&self, what: &'static str, target: &str) -> InterceptError {
        InterceptError::NotAllowed {
            what,
            target: printable(target, 120),
            replaying: self.mode == Mode::Replay,
        }
    }

    async fn ca(&self) -> Result<&Arc<LocalCa>, InterceptError> {
        self.ca
            .get_or_try_init(|| async {
                let dir = self.ca_dir.clone();
                let opened = tokio::task::spawn_blocking(move || LocalCa::open_or_create(&dir))
                    .await
                    .unwrap_or_else(|interrupted| {
                        Err(CaError::Io {
                            action: "opening the CA in",
                            path: self.ca_dir.clone(),
                            source: io::Error::other(interrupted),
                        })
                    });
                match opened {
                    Ok(ca) => {
                        tracing::info!(ca = %ca.cert_path().display(), "intercepting SSM hosts with the local CA");
                        Ok(Arc::new(ca))
                    }
                    Err(e) => {
                        tracing::error!(reason = %crate::text::chain(&e), "the local CA is unusable");
                        Err(InterceptError::Ca(e))
                    }
                }
            })
            .await
    }
}

/// Whether a connection to `host:port` is intercepted: an SSM host, on HTTPS's port.
fn is_intercepted(host: &str, port: u16) -> bool {
    port == 443 && is_ssm_host(host)
}

/// Whether `host` is an SSM endpoint: `ssm` or `ssm-fips`, a region, and `amazonaws.com`,
/// `amazonaws.com.cn` or the dual-stack `api.aws`.
pub(crate) fn is_ssm_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let Some(rest) = host
        .strip_prefix("ssm.")
        .or_else(|| host.strip_prefix("ssm-fips."))
    else {
        return false;
    };
    let Some((region, domain)) = rest.split_once('.') else {
        return false;
    };
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    region_ok && matches!(domain, "amazonaws.com" | "amazonaws.com.cn" | "api.aws")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_hosts_match_exactly_or_by_domain() {
        let interceptor = Interceptor::new(
            Mode::Passthrough,
            PathBuf::new(),
            ["*.amazonaws.com", "portal.sso.example:8443"]
                .map(|entry| HostPattern::parse(entry).unwrap())
                .to_vec(),
            Duration::from_secs(1),
        );
        assert!(interceptor.tunnels("sts.us-east-1.amazonaws.com", 443));
        assert!(interceptor.tunnels("portal.sso.example", 8443));
        assert!(!interceptor.tunnels("sts.us-east-1.amazonaws.com", 22));
        assert!(!interceptor.tunnels("portal.sso.example", 443));
        assert!(!interceptor.tunnels("amazonaws.com", 443));
        assert!(!interceptor.tunnels("evilamazonaws.com", 443));
        assert!(!interceptor.tunnels("sts.amazonaws.com.example", 443));
    }

    #[test]
    fn ssm_hosts_are_the_regional_fips_and_dual_stack_ones() {
        for host in [
            "ssm.us-east-2.amazonaws.com",
            "ssm-fips.us-gov-west-1.amazonaws.com",
            "ssm.eu-west-1.api.aws",
            "ssm.cn-north-1.amazonaws.com.cn",
            "SSM.US-EAST-1.AMAZONAWS.COM",
        ] {
            assert!(is_ssm_host(host), "{host}");
        }
        for host in [
            "sts.us-east-1.amazonaws.com",
            "ssm.amazonaws.com",
            "ssm.us-east-1.amazonaws.com.evil.example",
            "ssmmessages.us-east-1.amazonaws.com",
            "ssm.us_east.amazonaws.com",
            "169.254.169.254",
        ] {
            assert!(!is_ssm_host(host), "{host}");
        }
    }
}
