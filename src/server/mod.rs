//! The listener: accept loop, connection cap, HTTP/1.1 and h2c, and graceful shutdown.
//!
//! [`serve`] takes an already-bound listener and a shutdown future, so callers choose the port
//! (tests bind `127.0.0.1:0`) and the signal. Each connection gets a watchdog (`watchdog.rs`)
//! for its header-read and idle timeouts; at shutdown every watchdog tells its connection to
//! finish the request in flight and close, and `serve` returns once every connection's permit
//! is back (or the grace period ends). This module does not look at requests; it hands each
//! one to [`Proxy::handle`].

mod watchdog;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tracing::{debug, info, warn};

use crate::config::Limits;
use crate::proxy::{Peer, Proxy};
use watchdog::{Activity, DeadlineTimer, Ended, InFlight, Supervised, Tracked};

/// How long to wait before accepting again after `accept` failed (e.g. out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves connections from `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish within the grace period and returns.
pub async fn serve(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .header_read_timeout(limits.header_read_timeout());
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256);

    // A permit per open connection: the cap while serving, and at shutdown, once every permit
    // is back, every connection has finished.
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (drain, draining) = watch::channel(false);
    let idle_timeout = limits.idle_timeout();
    let tick = watchdog::tick(limits.header_read_timeout(), idle_timeout);
    tokio::pin!(shutdown);

    loop {
        // At the cap, stop accepting: further clients wait in the kernel's backlog.
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
        let activity = Arc::new(Activity::default());
        let io = TokioIo::new(Tracked::new(stream, Arc::clone(&activity)));
        let service = {
            let (proxy, activity) = (Arc::clone(&proxy), Arc::clone(&activity));
            let client = Arc::new(Peer::new(peer));
            service_fn(move |request| {
                let (proxy, client) = (Arc::clone(&proxy), Arc::clone(&client));
                let in_flight = InFlight::begin(&activity);
                async move {
                    let _in_flight = in_flight;
                    Ok::<_, Infallible>(proxy.handle(request, &client).await)
                }
            })
        };
        // The connection's own header-read timer: its deadlines live in its watchdog. The
        // connection borrows this builder inside its task, so the builder is cloned once.
        let mut builder = builder.clone();
        builder
            .http1()
            .timer(DeadlineTimer::new(Arc::clone(&activity)));
        let watchdog = {
            let (activity, draining) = (Arc::clone(&activity), draining.clone());
            tokio::spawn(async move { activity.watch(idle_timeout, tick, draining).await })
        };
        tokio::spawn(async move {
            let _permit = permit;
            let connection = Supervised::new(builder.serve_connection(io, service), activity);
            match connection.await {
                Ended::Finished(Err(e)) => {
                    debug!(%peer, error = %e, "connection ended with an error");
                }
                Ended::Finished(Ok(())) => {}
                Ended::Idle => debug!(%peer, "closed an idle connection"),
            }
            watchdog.abort();
        });
    }

    drop(listener);
    info!("shutting down: finishing in-flight requests");
    let _ = drain.send(true);
    // (A cap above u32::MAX permits cannot be waited for whole; no machine holds that many.)
    let all_closed =
        permits.acquire_many(u32::try_from(limits.max_connections).unwrap_or(u32::MAX));
    if tokio::time::timeout(limits.shutdown_grace(), all_closed)
        .await
        .is_err()
    {
        warn!(
            grace_ms = limits.shutdown_grace_ms,
            "grace period elapsed; dropping open connections"
        );
    }
    proxy.shutdown();
    Ok(())
}
