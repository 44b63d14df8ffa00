//! The idle timeout: a connection with no request in flight for a whole timeout is closed.
//!
//! The connection's service counts requests in flight and notes when the last one ended;
//! [`Activity::expired`] sleeps until that moment plus the timeout, and sleeps again when a
//! request came or is still in flight. A request costs two atomic counts and a clock read, and
//! wakes nothing. Reading a request's head is hyper's own header-read timeout, not this one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// What the connection's service and its idle timer share.
#[derive(Debug)]
pub(super) struct Activity {
    in_flight: AtomicUsize,
    /// When the last request ended (or the connection opened), in µs after `opened`.
    last_end_us: AtomicU64,
    opened: Instant,
}

/// One request in flight; dropping it ends the request.
#[derive(Debug)]
pub(super) struct Request(Arc<Activity>);

impl Activity {
    /// A connection opened now, with no request yet.
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            in_flight: AtomicUsize::new(0),
            last_end_us: AtomicU64::new(0),
            opened: Instant::now(),
        })
    }

    /// Counts a request until the guard is dropped.
    pub(super) fn begin(self: &Arc<Self>) -> Request {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Request(Arc::clone(self))
    }

    fn idle_since(&self) -> Instant {
        self.opened + Duration::from_micros(self.last_end_us.load(Ordering::Acquire))
    }

    /// Completes once no request has been in flight for `timeout`.
    pub(super) async fn expired(&self, timeout: Duration) {
        loop {
            let deadline = self.idle_since() + timeout;
            tokio::time::sleep_until(deadline).await;
            if self.in_flight.load(Ordering::Acquire) > 0 {
                // Checked again a whole timeout later, or sooner after it ends.
                tokio::time::sleep(timeout).await;
            } else if self.idle_since() + timeout <= Instant::now() {
                return;
            }
        }
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        let activity = &self.0;
        let ended = activity.opened.elapsed().as_micros() as u64;
        activity.last_end_us.fetch_max(ended, Ordering::AcqRel);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
