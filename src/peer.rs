//! [`Peer`]: the client at the other end of a connection, as the server accepted it and as
//! the pipeline, the access log and audit records name it.

use std::net::SocketAddr;
use std::sync::OnceLock;

/// The client at the other end of a connection.
///
/// Its address is formatted the first time an audit record needs it, then kept for the
/// connection's later calls, as SDKs keep connections alive.
#[derive(Debug)]
pub(crate) struct Peer {
    addr: SocketAddr,
    text: OnceLock<String>,
    /// The SSM host a forward-proxy client asked for, when the connection was intercepted.
    pub(crate) intercepted: Option<String>,
}

impl Peer {
    /// A client connected to the proxy's endpoint from `addr`.
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            text: OnceLock::new(),
            intercepted: None,
        }
    }

    /// A forward-proxy client at `addr` whose connection to `host` was intercepted.
    pub(crate) fn intercepted(addr: SocketAddr, host: String) -> Self {
        Self {
            intercepted: Some(host),
            ..Self::new(addr)
        }
    }

    /// The client's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address as audit records write it.
    pub(crate) fn as_str(&self) -> &str {
        self.text.get_or_init(|| self.addr.to_string())
    }
}
