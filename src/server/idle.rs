//! The idle timeout: a connection with no request in flight for a whole timeout is closed.
//!
//! The count of requests in flight lives in a watch channel that the connection's service
//! updates; [`expired`] restarts its timer each time the count falls back to zero. Reading
//! a request's head is hyper's own header-read timeout, not this one.

use std::time::Duration;

use tokio::sync::watch;

/// The requests in flight on one connection, counted by the guards [`Self::begin`] returns.
#[derive(Debug, Clone)]
pub(super) struct InFlight(watch::Sender<usize>);

/// One request in flight; dropping it ends the request.
#[derive(Debug)]
pub(super) struct Request(watch::Sender<usize>);

impl InFlight {
    /// A connection with no request in flight, and the receiver [`expired`] watches.
    pub(super) fn new() -> (Self, watch::Receiver<usize>) {
        let (count, watched) = watch::channel(0);
        (Self(count), watched)
    }

    /// Counts a request until the guard is dropped.
    pub(super) fn begin(&self) -> Request {
        self.0.send_modify(|n| *n += 1);
        Request(self.0.clone())
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// Completes once no request has been in flight for `timeout`; never, once the service that
/// counts them is gone (the connection is ending anyway).
pub(super) async fn expired(mut in_flight: watch::Receiver<usize>, timeout: Duration) {
    loop {
        if in_flight.wait_for(|&n| n == 0).await.is_err() {
            return std::future::pending().await;
        }
        match tokio::time::timeout(timeout, in_flight.changed()).await {
            Err(_elapsed) => return,
            Ok(Ok(())) => {}
            Ok(Err(_closed)) => return std::future::pending().await,
        }
    }
}
