//! The listener: accept loop, connection cap, HTTP/1.1 and h2c, timeouts and graceful shutdown.
//!
//! [`serve`] takes an already-bound listener and a shutdown future, so callers choose the port
//! (tests bind `127.0.0.1:0`) and the signal. hyper keeps the header-read timeout, `idle.rs`
//! the idle timeout, and hyper-util's graceful shutdown lets each connection finish the
//! request in flight and close. When the router intercepts a `CONNECT`, the connection it
//! upgrades to is served here too, over TLS, with the same timeouts and the same graceful
//! shutdown. This module does not look at requests; it hands each one to the router
//! (`router.rs`) with the [`Hall`] they are answered from.

mod idle;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;

use hyper::rt::{Read, Write};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulConnection, GracefulShutdown, Watcher};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::config::ServerLimits;
use crate::hall::Hall;
use crate::intercept::{Handover, Interception, Takeover, Tunnel};
use crate::peer::Peer;
use crate::router;
use idle::Activity;

/// How long to wait before accepting again after `accept` failed (e.g. out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves connections from `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish within the grace period and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    hall: Arc<Hall>,
    limits: &ServerLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256);

    // A permit per open connection: at the cap, further clients wait in the kernel's backlog.
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Connections {
        builder,
        idle_timeout: limits.idle_timeout,
        handshake_timeout: limits.header_read_timeout,
    });
    tokio::pin!(shutdown);

    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(error = %e, "accept failed; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // The permit lives as long as the connection, or the tunnel a CONNECT turns it into.
        let client = Arc::new(Client {
            peer: Peer::new(peer),
            takeover: Mutex::new(Some((graceful.watcher(), permit))),
            connections: Arc::clone(&connections),
        });
        let served = connections.serve(TokioIo::new(stream), &hall, client);
        let connection = graceful.watch(served.connection);
        let activity = served.activity;
        let idle_timeout = connections.idle_timeout;
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => if let Err(e) = ended {
                    debug!(%peer, error = %e, "connection ended with an error");
                },
                () = activity.expired(idle_timeout) => {
                    debug!(%peer, "closed an idle connection");
                }
            }
        });
    }

    drop(listener);
    info!("shutting down: finishing in-flight requests");
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        warn!(
            grace_ms = limits.shutdown_grace.as_millis() as u64,
            "grace period elapsed; dropping open connections"
        );
    }
    hall.shutdown().await;
    Ok(())
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How every client connection is served, the intercepted ones included.
struct Connections {
    builder: auto::Builder<TokioExecutor>,
    idle_timeout: Duration,
    /// How long a client has to complete the TLS handshake of an intercepted connection.
    handshake_timeout: Duration,
}

/// What a connection's requests share: who the client is, and what the one tunnel a `CONNECT`
/// can open takes over (the connection's HTTP ends with it): the graceful-shutdown watch, and
/// the connection's permit, so that tunnels count against `limits.max_connections` too.
struct Client {
    peer: Peer,
    takeover: Mutex<Option<(Watcher, OwnedSemaphorePermit)>>,
    /// How the tunnel is served.
    connections: Arc<Connections>,
}

/// A connection being served, and its idle clock.
struct Served<C> {
    connection: C,
    activity: Arc<Activity>,
}

impl Connections {
    /// Serves `io`'s requests from `hall`; an intercepted `CONNECT` continues as a tunnel.
    fn serve<I>(
        &self,
        io: I,
        hall: &Arc<Hall>,
        client: Arc<Client>,
    ) -> Served<impl GracefulConnection<Error = BoxError> + Send + use<I>>
    where
        I: Read + Write + Unpin + Send + 'static,
    {
        let activity = Activity::new();
        let service = {
            let (hall, activity) = (Arc::clone(hall), Arc::clone(&activity));
            let open = hall.tally.metrics.connection();
            service_fn(move |request| {
                // The gauge counts the connection for as long as its service lives.
                let _open = &open;
                let (hall, client) = (Arc::clone(&hall), Arc::clone(&client));
                let request_in_flight = activity.begin();
                async move {
                    let _request_in_flight = request_in_flight;
                    let mut response = router::handle(&hall, request, &client.peer).await;
                    if let Some(handover) = response.extensions_mut().remove::<Handover>() {
                        client.connections.take_over(handover, hall, &client);
                    }
                    Ok::<_, Infallible>(response)
                }
            })
        };
        let connection = self
            .builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        Served {
            connection,
            activity,
        }
    }

    /// Takes over a `CONNECT`'s connection once its 200 answer is sent.
    fn take_over(self: &Arc<Self>, handover: Handover, hall: Arc<Hall>, client: &Arc<Client>) {
        let taken = client
            .takeover
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let peer = client.peer.addr();
        match (handover.take(), taken) {
            (Some(Takeover::Intercept(interception)), Some((watcher, permit))) => {
                self.intercept(interception, watcher, permit, hall, peer);
            }
            (Some(Takeover::Tunnel(tunnel)), Some((_, permit))) => {
                tokio::spawn(async move {
                    let _permit = permit;
                    relay_bytes(tunnel, peer).await;
                });
            }
            // A CONNECT inside an intercepted connection: there is nothing further to take.
            _ => {}
        }
    }

    /// Serves an intercepted connection: TLS with the host's certificate, then the same router
    /// and hall for every request inside.
    fn intercept(
        self: &Arc<Self>,
        interception: Interception,
        watcher: Watcher,
        permit: OwnedSemaphorePermit,
        hall: Arc<Hall>,
        peer: std::net::SocketAddr,
    ) {
        let connections = Arc::clone(self);
        tokio::spawn(async move {
            let _permit = permit;
            let Interception { upgrade, tls, host } = interception;
            let upgraded = match upgrade.await {
                Ok(upgraded) => upgraded,
                Err(e) => return debug!(%peer, %host, error = %e, "the CONNECT was not completed"),
            };
            let accept = TlsAcceptor::from(tls).accept(TokioIo::new(upgraded));
            let stream = match tokio::time::timeout(connections.handshake_timeout, accept).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    return warn!(
                        %peer, %host, error = %e,
                        "TLS handshake failed: does the client trust the local CA (ssm-vcr ca path)?"
                    );
                }
                Err(_) => return debug!(%peer, %host, "no TLS handshake in time"),
            };
            let inner = Arc::new(Client {
                peer: Peer::intercepted(peer, host.clone()),
                takeover: Mutex::new(None),
                connections: Arc::clone(&connections),
            });
            let served = connections.serve(TokioIo::new(stream), &hall, inner);
            let connection = watcher.watch(served.connection);
            tokio::select! {
                ended = connection => if let Err(e) = ended {
                    debug!(%peer, %host, error = %e, "intercepted connection ended with an error");
                },
                () = served.activity.expired(connections.idle_timeout) => {
                    debug!(%peer, %host, "closed an idle intercepted connection");
                }
            }
        });
    }
}

/// Copies bytes between a tunnelled client and its target until either side closes. Tunnels
/// carry no request the proxy could let finish, so shutdown does not wait for them.
async fn relay_bytes(tunnel: Tunnel, peer: std::net::SocketAddr) {
    let Tunnel {
        upgrade,
        target,
        mut upstream,
    } = tunnel;
    let mut client = match upgrade.await {
        Ok(upgraded) => TokioIo::new(upgraded),
        Err(e) => return debug!(%peer, %target, error = %e, "the CONNECT was not completed"),
    };
    match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        Ok((sent, received)) => debug!(%peer, %target, sent, received, "tunnel closed"),
        Err(e) => debug!(%peer, %target, error = %e, "tunnel ended with an error"),
    }
}
