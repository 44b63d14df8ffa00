//! The listener: accept loop, connection cap, HTTP/1.1 and h2c, timeouts and graceful shutdown.
//!
//! [`serve`] takes an already-bound listener and a shutdown future, so callers choose the port
//! (tests bind `127.0.0.1:0`) and the signal. hyper keeps the header-read timeout, `idle.rs`
//! the idle timeout, and hyper-util's graceful shutdown lets each connection finish the
//! request in flight and close. This module does not look at requests; it hands each one to
//! [`Router::handle`].

mod idle;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::config::Limits;
use crate::proxy::Peer;
use crate::router::Router;
use idle::Activity;

/// How long to wait before accepting again after `accept` failed (e.g. out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves connections from `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish within the grace period and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Arc<Router>,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout());
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256);

    // A permit per open connection: at the cap, further clients wait in the kernel's backlog.
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let idle_timeout = limits.idle_timeout();
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
        let activity = Activity::new();
        let service = {
            let (router, activity) = (Arc::clone(&router), Arc::clone(&activity));
            let client = Arc::new(Peer::new(peer));
            service_fn(move |request| {
                let (router, client) = (Arc::clone(&router), Arc::clone(&client));
                let request_in_flight = activity.begin();
                async move {
                    let _request_in_flight = request_in_flight;
                    Ok::<_, Infallible>(router.handle(request, &client).await)
                }
            })
        };
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        let open = router.connection();
        tokio::spawn(async move {
            let (_permit, _open) = (permit, open);
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
    if tokio::time::timeout(limits.shutdown_grace(), graceful.shutdown())
        .await
        .is_err()
    {
        warn!(
            grace_ms = limits.shutdown_grace_ms,
            "grace period elapsed; dropping open connections"
        );
    }
    router.shutdown();
    Ok(())
}
