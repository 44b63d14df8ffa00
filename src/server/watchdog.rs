//! One watchdog per connection: the idle timeout and the header-read deadline, both enforced by
//! one coarse timer that belongs to the connection.
//!
//! hyper arms a header-read timer for every request head, and again while a keep-alive
//! connection waits for its next request. With tokio's timer that is an entry inserted into
//! and removed from the runtime's timer wheel for every request: about 1.7k instructions, a
//! twentieth of a replayed call. Here the deadline is a field of its connection, which the
//! connection's watchdog checks on a tick of a quarter of the shorter timeout; arming it costs
//! an uncontended lock, and it fires up to a quarter of a timeout late. The watchdog also
//! counts the bytes moved and the requests in flight, for the idle timeout.
//!
//! This module neither accepts connections (`mod.rs`) nor looks at requests (`proxy.rs`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::MissedTickBehavior;

/// Shortest tick, so that tiny timeouts (in tests) do not spin the watchdog.
const MIN_TICK: Duration = Duration::from_millis(5);

/// How often a watchdog wakes: a quarter of the shorter timeout.
pub(super) fn tick(header_read_timeout: Duration, idle_timeout: Duration) -> Duration {
    (header_read_timeout.min(idle_timeout) / 4).max(MIN_TICK)
}

/// What the watchdog of one connection knows: traffic, requests in flight, and the deadline of
/// the request head being read, if any.
#[derive(Debug, Default)]
pub(super) struct Activity {
    io_events: AtomicU64,
    in_flight: AtomicUsize,
    header_deadline: Mutex<Option<Armed>>,
}

/// A header-read deadline and the task to wake when it has passed.
#[derive(Debug)]
struct Armed {
    at: Instant,
    waker: Waker,
}

impl Activity {
    /// Runs the watchdog: wakes header reads whose deadline has passed, and completes once the
    /// connection was idle (no bytes moved, no request in flight) for a whole `idle_timeout`.
    pub(super) async fn watch(&self, idle_timeout: Duration, tick: Duration) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut seen = self.io_events.load(Ordering::Relaxed);
        let mut quiet_since = tokio::time::Instant::now();
        loop {
            let now = ticks.tick().await;
            // hyper's deadlines are on the system clock; the idle timeout is on the runtime's.
            self.wake_expired_header_read(Instant::now());
            let events = self.io_events.load(Ordering::Relaxed);
            if events != seen || self.in_flight.load(Ordering::Relaxed) > 0 {
                seen = events;
                quiet_since = now;
            } else if now.duration_since(quiet_since) >= idle_timeout {
                return;
            }
        }
    }

    fn wake_expired_header_read(&self, now: Instant) {
        let expired = self
            .header_deadline()
            .take_if(|armed| armed.at <= now)
            .map(|armed| armed.waker);
        if let Some(waker) = expired {
            waker.wake();
        }
    }

    fn header_deadline(&self) -> std::sync::MutexGuard<'_, Option<Armed>> {
        // A poisoned lock only means a panic elsewhere; the deadline itself is still whole.
        self.header_deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// hyper's timer for one connection's header reads: each deadline is kept by the connection's
/// watchdog instead of the runtime's timer wheel.
#[derive(Debug, Clone)]
pub(super) struct DeadlineTimer(Arc<Activity>);

impl DeadlineTimer {
    pub(super) fn new(activity: Arc<Activity>) -> Self {
        Self(activity)
    }
}

impl hyper::rt::Timer for DeadlineTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Deadline {
            at: deadline,
            activity: Arc::clone(&self.0),
        })
    }
}

/// A header-read deadline: ready once `at` has passed. Polled while the head is incomplete, it
/// leaves its waker with the watchdog; dropped (the head arrived), it disarms.
#[derive(Debug)]
struct Deadline {
    at: Instant,
    activity: Arc<Activity>,
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        let mut armed = self.activity.header_deadline();
        match armed.as_mut() {
            Some(armed) if armed.at == self.at && armed.waker.will_wake(cx.waker()) => {}
            _ => {
                *armed = Some(Armed {
                    at: self.at,
                    waker: cx.waker().clone(),
                });
            }
        }
        Poll::Pending
    }
}

impl hyper::rt::Sleep for Deadline {}

impl Drop for Deadline {
    fn drop(&mut self) {
        // One head is read at a time on a connection, so the armed deadline, if any, is this
        // one's.
        *self.activity.header_deadline() = None;
    }
}

/// Counts a request as in flight until dropped.
pub(super) struct InFlight(Arc<Activity>);

impl InFlight {
    pub(super) fn begin(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A TCP stream that counts completed reads and writes.
pub(super) struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl Tracked {
    pub(super) fn new(inner: TcpStream, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }

    fn note<T>(&self, poll: Poll<T>) -> Poll<T> {
        if poll.is_ready() {
            self.activity.io_events.fetch_add(1, Ordering::Relaxed);
        }
        poll
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.note(poll)
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note(poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer;

    mod deadline {
        use super::*;

        #[tokio::test]
        async fn the_watchdog_wakes_a_head_read_whose_deadline_passed() {
            let activity = Arc::new(Activity::default());
            let timer = DeadlineTimer::new(Arc::clone(&activity));
            let watchdog = {
                let activity = Arc::clone(&activity);
                tokio::spawn(async move {
                    activity
                        .watch(Duration::from_secs(3600), Duration::from_millis(25))
                        .await;
                })
            };
            let started = Instant::now();
            let woken = tokio::time::timeout(
                Duration::from_secs(10),
                timer.sleep(Duration::from_millis(100)),
            );
            assert!(woken.await.is_ok(), "the deadline never fired");
            let waited = started.elapsed();
            // Woken by the watchdog's next tick, not by whatever polls the future next.
            assert!(
                waited >= Duration::from_millis(100) && waited < Duration::from_secs(2),
                "{waited:?}"
            );
            watchdog.abort();
        }

        #[test]
        fn dropping_a_pending_deadline_disarms_it() {
            let activity = Arc::new(Activity::default());
            let timer = DeadlineTimer::new(Arc::clone(&activity));
            let mut sleep = timer.sleep(Duration::from_secs(60));
            let waker = Waker::noop();
            let pending = sleep.as_mut().poll(&mut Context::from_waker(waker));
            assert!(pending.is_pending());
            assert!(activity.header_deadline().is_some());
            drop(sleep);
            assert!(activity.header_deadline().is_none());
        }
    }

    mod watch {
        use super::*;

        #[tokio::test(start_paused = true)]
        async fn a_request_in_flight_keeps_the_connection_open() {
            let activity = Arc::new(Activity::default());
            let in_flight = InFlight::begin(&activity);
            let idle = Duration::from_millis(100);
            let watched = tokio::time::timeout(
                Duration::from_secs(10),
                activity.watch(idle, Duration::from_millis(25)),
            );
            assert!(watched.await.is_err(), "closed with a request in flight");
            drop(in_flight);
            let started = tokio::time::Instant::now();
            activity.watch(idle, Duration::from_millis(25)).await;
            let waited = started.elapsed();
            assert!(
                waited >= idle && waited <= idle + Duration::from_millis(50),
                "{waited:?}"
            );
        }
    }

    #[test]
    fn ticks_are_a_quarter_of_the_shorter_timeout() {
        let s = Duration::from_secs;
        assert_eq!(tick(s(10), s(60)), Duration::from_millis(2500));
        assert_eq!(tick(s(60), s(8)), s(2));
        assert_eq!(tick(Duration::ZERO, s(1)), MIN_TICK);
    }
}
