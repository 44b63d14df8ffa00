//! [`HostPattern`]: one `forward_proxy.tunnel_hosts` entry, parsed once at start-up and
//! matched against each `CONNECT`'s `host:port`.

use std::fmt;

/// The port a pattern without `:port` allows: the one HTTPS clients tunnel to.
const HTTPS_PORT: u16 = 443;

/// A host name, or `*.` and a domain (any host below it, not the domain itself), on one port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    /// Lower case; with its leading `.` when the pattern is `*.` and a domain.
    host: String,
    wildcard: bool,
    port: u16,
}

impl HostPattern {
    /// Parses `host`, `*.domain`, either with `:port`; `None` when the entry is none of those.
    pub fn parse(entry: &str) -> Option<Self> {
        let (host, port) = match entry.rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().ok().filter(|&p| p > 0)?),
            None => (entry, HTTPS_PORT),
        };
        let (name, wildcard) = match host.strip_prefix("*.") {
            Some(domain) => (domain, true),
            None => (host, false),
        };
        let is_label = |label: &str| {
            !label.is_empty() && (label.bytes()).all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if name.is_empty() || !name.split('.').all(is_label) {
            return None;
        }
        let name = name.to_ascii_lowercase();
        Some(Self {
            host: if wildcard { format!(".{name}") } else { name },
            wildcard,
            port,
        })
    }

    /// Whether a `CONNECT` to `host` (lower case) on `port` is one this pattern allows.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        let host_matches = if self.wildcard {
            host.len() > self.host.len() && host.ends_with(&self.host)
        } else {
            host == self.host
        };
        host_matches && port == self.port
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let star = if self.wildcard { "*" } else { "" };
        write!(f, "{star}{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_host_names_or_domains_with_an_optional_port() {
        for good in ["*.amazonaws.com", "sso.example.com:8443", "127.0.0.1:4443"] {
            assert!(HostPattern::parse(good).is_some(), "{good}");
        }
        for bad in [
            "*",
            "*.",
            "a..b",
            "host:",
            "host:0",
            "host:99999",
            "https://x",
            "a b",
            "sts.amazonaws.com:https",
        ] {
            assert_eq!(HostPattern::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_domain_matches_the_hosts_below_it_on_its_port() {
        let aws = HostPattern::parse("*.AmazonAWS.com").unwrap();
        assert!(aws.matches("sts.amazonaws.com", 443));
        assert!(!aws.matches("amazonaws.com", 443));
        assert!(!aws.matches("evilamazonaws.com", 443));
        assert!(!aws.matches("sts.amazonaws.com", 8443));
        let sso = HostPattern::parse("sso.example.com:8443").unwrap();
        assert!(sso.matches("sso.example.com", 8443));
        assert!(!sso.matches("sso.example.com", 443));
        assert_eq!(aws.to_string(), "*.amazonaws.com:443");
    }
}
