//! Kept-alive HTTP/1.1 connections to the upstream, one exchange at a time on each.
//!
//! hyper-util's pooled client drives each connection from a task of its own and spawns one more
//! per request to put the connection back; every forwarded call then hops between tasks, and on
//! a two-core machine those hops wake the other runtime worker about twice per call. Here the
//! request's own task drives its connection ([`Lease::drive`]) and hands it back once the whole
//! answer is read ([`Lease::release`]), so a forwarded call stays where it was received. An idle
//! connection is polled once when taken again, which notices an upstream that closed it
//! meanwhile; one closed between that and our write is retried on a new connection, as the
//! request provably never left.
//!
//! This module owns connecting (TCP, TLS) and reuse; it does not sign, time out or read
//! answers (`mod.rs`).

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Mutex;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;
use tracing::debug;

/// Idle connections kept per pool; more are closed when handed back.
const MAX_IDLE: usize = 64;

/// Why an exchange got no answer head.
#[derive(Debug)]
pub(super) enum PoolError {
    /// No connection could be made (refused, unreachable, DNS, TLS handshake or certificate).
    Connect(Box<dyn std::error::Error + Send + Sync>),
    /// The connection broke or the answer was not HTTP.
    Exchange(hyper::Error),
}

/// One HTTP/1.1 connection: the handle requests go in by, and the I/O that carries them.
type Connection = http1::Connection<MaybeHttpsStream<TokioIo<TcpStream>>, Full<Bytes>>;

/// Connections to any number of upstreams, reused while they stay open.
#[derive(Debug)]
pub(super) struct Pool {
    connector: HttpsConnector<HttpConnector>,
    idle: Mutex<Vec<Idle>>,
    idle_timeout: Duration,
}

/// A connection waiting for its next exchange.
#[derive(Debug)]
struct Idle {
    origin: Origin,
    sender: SendRequest<Full<Bytes>>,
    connection: Connection,
    since: Instant,
}

/// Where a connection goes: requests to the same origin share connections.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: Option<Scheme>,
    authority: Option<Authority>,
}

impl Origin {
    fn of(uri: &Uri) -> Self {
        Self {
            scheme: uri.scheme().cloned(),
            authority: uri.authority().cloned(),
        }
    }
}

/// A connection in use; [`Lease::release`] returns it once its answer is read whole. Dropped
/// instead, it is closed (its answer was not read to the end, so it cannot carry another).
#[derive(Debug)]
pub(super) struct Lease<'a> {
    pool: &'a Pool,
    origin: Origin,
    sender: SendRequest<Full<Bytes>>,
    /// `None` once its I/O ended (closed or failed). It is dropped then, which fails what is
    /// still queued on it, handing back a request that was never written.
    connection: Option<Connection>,
}

impl Lease<'_> {
    /// Runs `work` (reading the answer) while driving the connection that feeds it. A failing
    /// connection fails `work` itself, through hyper's own error.
    pub(super) async fn drive<F: Future>(&mut self, work: F) -> F::Output {
        let mut work = pin!(work);
        poll_fn(|cx| {
            if let Some(connection) = &mut self.connection
                && Pin::new(connection).poll(cx).is_ready()
            {
                self.connection = None;
            }
            work.as_mut().poll(cx)
        })
        .await
    }

    /// Makes the connection available to the next exchange.
    pub(super) fn release(self) {
        let Some(connection) = self.connection else {
            return;
        };
        let now = Instant::now();
        let mut idle = self.pool.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|kept| now.duration_since(kept.since) < self.pool.idle_timeout);
        if idle.len() < MAX_IDLE {
            idle.push(Idle {
                origin: self.origin,
                sender: self.sender,
                connection,
                since: now,
            });
        }
    }
}

impl Pool {
    /// A pool connecting through `connector`; idle connections older than `idle_timeout` are
    /// closed instead of reused.
    pub(super) fn new(connector: HttpsConnector<HttpConnector>, idle_timeout: Duration) -> Self {
        Self {
            connector,
            idle: Mutex::new(Vec::new()),
            idle_timeout,
        }
    }

    /// Sends `request` (absolute URI, `Host` set) and returns the answer's head with the
    /// connection its body arrives on.
    pub(super) async fn send(
        &self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<(Response<Incoming>, Lease<'_>), PoolError> {
        let origin = Origin::of(request.uri());
        let path = origin_form(request.uri());
        let uri = std::mem::replace(request.uri_mut(), path);
        loop {
            let (sender, connection, reused) = match self.checkout(&origin).await {
                Some((sender, connection)) => (sender, connection, true),
                None => {
                    let (sender, connection) = self.connect(&uri).await?;
                    (sender, connection, false)
                }
            };
            let mut lease = Lease {
                pool: self,
                origin: origin.clone(),
                sender,
                connection: Some(connection),
            };
            let sent = lease.sender.try_send_request(request);
            match lease.drive(sent).await {
                Ok(response) => return Ok((response, lease)),
                Err(mut failed) => match failed.take_message() {
                    // The kept-alive connection closed before the request was written: it
                    // never reached the upstream, so it is safe to send on a fresh one.
                    Some(unsent) if reused => {
                        debug!(error = %failed.error(), "an idle upstream connection was closed; retrying on a new one");
                        request = unsent;
                    }
                    _ => return Err(PoolError::Exchange(failed.into_error())),
                },
            }
        }
    }

    /// The most recently used open connection to `origin`.
    async fn checkout(&self, origin: &Origin) -> Option<(SendRequest<Full<Bytes>>, Connection)> {
        loop {
            let mut candidate = {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                let at = idle.iter().rposition(|kept| &kept.origin == origin)?;
                idle.remove(at)
            };
            if candidate.since.elapsed() >= self.idle_timeout {
                continue; // dropping it closes it
            }
            // One poll reads what arrived while nobody was looking: a close ends it here, and
            // the end of the previous exchange readies it for the next.
            let ended =
                poll_fn(|cx| Poll::Ready(Pin::new(&mut candidate.connection).poll(cx).is_ready()))
                    .await;
            if !ended && !candidate.sender.is_closed() {
                return Some((candidate.sender, candidate.connection));
            }
        }
    }

    async fn connect(
        &self,
        uri: &Uri,
    ) -> Result<(SendRequest<Full<Bytes>>, Connection), PoolError> {
        let stream = self
            .connector
            .clone()
            .call(uri.clone())
            .await
            .map_err(PoolError::Connect)?;
        http1::handshake(stream).await.map_err(PoolError::Exchange)
    }
}

/// `/path?query` of an absolute URI: what an HTTP/1.1 request line carries.
fn origin_form(uri: &Uri) -> Uri {
    uri.path_and_query()
        .map_or_else(|| Uri::from_static("/"), |path| Uri::from(path.clone()))
}
