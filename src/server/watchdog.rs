//! One watchdog per connection: the idle timeout, the header-read deadline and graceful
//! shutdown, all kept by a task of its own.
//!
//! A connection runs as two tasks sharing an [`Activity`]: the connection itself, wrapped in
//! [`Supervised`], and its watchdog ([`Activity::watch`]), which wakes every quarter of the
//! shorter timeout. The watchdog never runs on the request path: a request costs one atomic
//! store to arm hyper's header-read deadline and one to disarm it, and each poll of the
//! connection registers its waker and reads one flag. There is no lock, no clock read, no
//! timer-wheel entry per request, and nothing else is polled beside the connection: a tokio
//! timer per request cost 1.7k instructions, and a graceful-shutdown watcher and the
//! watchdog's own timer polled beside the connection 0.45k more. Either timeout fires up to
//! a quarter of a timeout late.
//!
//! This module neither accepts connections (`mod.rs`) nor looks at requests (`proxy.rs`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;
use hyper_util::server::graceful::GracefulConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

/// Shortest tick, so that tiny timeouts (in tests) do not spin the watchdog.
const MIN_TICK: Duration = Duration::from_millis(5);

/// How often a watchdog wakes: a quarter of the shorter timeout.
pub(super) fn tick(header_read_timeout: Duration, idle_timeout: Duration) -> Duration {
    (header_read_timeout.min(idle_timeout) / 4).max(MIN_TICK)
}

/// Set on an armed header-read deadline once the watchdog saw it pass.
const FIRED: u64 = 1 << 63;

/// What the watchdog asks of its connection.
const KEEP: u8 = 0;
/// Finish the request in flight, then close (graceful shutdown).
const DRAIN: u8 = 1;
/// Close now: idle for a whole timeout.
const CLOSE: u8 = 2;

/// What a connection and its watchdog share: traffic, requests in flight, the armed
/// header-read deadline, the watchdog's verdict and the connection task to wake for it.
#[derive(Debug)]
pub(super) struct Activity {
    io_events: AtomicU64,
    in_flight: AtomicUsize,
    /// The deadline of the head being read, in µs after `epoch` (never 0), or 0 for none.
    header_deadline: AtomicU64,
    verdict: AtomicU8,
    connection: AtomicWaker,
    epoch: Instant,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            io_events: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            header_deadline: AtomicU64::new(0),
            verdict: AtomicU8::new(KEEP),
            connection: AtomicWaker::new(),
            epoch: Instant::now(),
        }
    }
}

impl Activity {
    /// Runs the watchdog until the connection is idle for a whole `idle_timeout` (it is then
    /// told to close) or `draining` turns true (it is told to finish its request and close).
    /// Either way the connection task is woken to act on it.
    pub(super) async fn watch(
        &self,
        idle_timeout: Duration,
        tick: Duration,
        mut draining: watch::Receiver<bool>,
    ) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut seen = self.io_events.load(Ordering::Relaxed);
        let mut quiet_since = tokio::time::Instant::now();
        let verdict = loop {
            let now = tokio::select! {
                now = ticks.tick() => now,
                _ = draining.wait_for(|draining| *draining) => break DRAIN,
            };
            self.fire_expired_header_read();
            let events = self.io_events.load(Ordering::Relaxed);
            if events != seen || self.in_flight.load(Ordering::Relaxed) > 0 {
                seen = events;
                quiet_since = now;
            } else if now.duration_since(quiet_since) >= idle_timeout {
                break CLOSE;
            }
        };
        self.verdict.fetch_max(verdict, Ordering::Release);
        self.connection.wake();
    }

    /// Marks the armed deadline as fired if it has passed, and wakes the connection to act.
    fn fire_expired_header_read(&self) {
        let armed = self.header_deadline.load(Ordering::Acquire);
        let passed = armed != 0 && armed & FIRED == 0 && armed <= self.micros(Instant::now());
        // A failed exchange means the deadline was disarmed or replaced meanwhile.
        if passed
            && self
                .header_deadline
                .compare_exchange(armed, armed | FIRED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.connection.wake();
        }
    }

    /// `at` as µs after the epoch, at least 1 (0 means "no deadline").
    fn micros(&self, at: Instant) -> u64 {
        let micros = at.saturating_duration_since(self.epoch).as_micros();
        u64::try_from(micros)
            .unwrap_or(FIRED - 1)
            .clamp(1, FIRED - 1)
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
        // Rounded up, so that it never fires early.
        let at = self.0.micros(deadline + Duration::from_micros(1));
        self.0.header_deadline.store(at, Ordering::Release);
        Box::pin(Deadline {
            at,
            activity: Arc::clone(&self.0),
        })
    }
}

/// A header-read deadline: ready once the watchdog has seen it pass. Dropped (the head
/// arrived), it disarms.
#[derive(Debug)]
struct Deadline {
    at: u64,
    activity: Arc<Activity>,
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        // No waker to leave: the connection task registers its own on every poll
        // ([`Supervised`]), and this deadline is only polled from inside it.
        if self.activity.header_deadline.load(Ordering::Acquire) == self.at | FIRED {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl hyper::rt::Sleep for Deadline {}

impl Drop for Deadline {
    fn drop(&mut self) {
        // Disarmed only if it is still this deadline, fired or not.
        let _ = self.activity.header_deadline.fetch_update(
            Ordering::AcqRel,
            Ordering::Acquire,
            |armed| (armed & !FIRED == self.at).then_some(0),
        );
    }
}

/// A connection under its watchdog: closed when the watchdog says so, drained gracefully on
/// shutdown. Completes when the connection does.
pub(super) struct Supervised<C> {
    connection: Pin<Box<C>>,
    activity: Arc<Activity>,
    draining: bool,
}

impl<C> Supervised<C> {
    pub(super) fn new(connection: C, activity: Arc<Activity>) -> Self {
        Self {
            connection: Box::pin(connection),
            activity,
            draining: false,
        }
    }
}

/// How a supervised connection ended.
#[derive(Debug)]
pub(super) enum Ended<T> {
    /// The connection finished (the client closed it, or it drained on shutdown).
    Finished(T),
    /// The watchdog closed it: idle for a whole timeout.
    Idle,
}

impl<C: GracefulConnection> Future for Supervised<C> {
    type Output = Ended<C::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.activity.connection.register(cx.waker());
        match self.activity.verdict.load(Ordering::Acquire) {
            CLOSE => return Poll::Ready(Ended::Idle),
            DRAIN if !self.draining => {
                self.draining = true;
                self.connection.as_mut().graceful_shutdown();
            }
            _ => {}
        }
        self.connection.as_mut().poll(cx).map(Ended::Finished)
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
    use std::task::Waker;

    fn poll<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// A watchdog that is never asked to drain.
    fn watching(activity: &Arc<Activity>, idle: Duration) -> tokio::task::JoinHandle<()> {
        let activity = Arc::clone(activity);
        let (drain, draining) = watch::channel(false);
        tokio::spawn(async move {
            let _drain = drain;
            activity
                .watch(idle, Duration::from_millis(25), draining)
                .await;
        })
    }

    mod deadline {
        use super::*;

        #[tokio::test]
        async fn the_watchdog_fires_a_head_read_whose_deadline_passed_and_wakes_it() {
            let activity = Arc::new(Activity::default());
            let timer = DeadlineTimer::new(Arc::clone(&activity));
            let watchdog = watching(&activity, Duration::from_secs(3600));
            let mut sleep = timer.sleep(Duration::from_millis(100));
            let started = Instant::now();
            // As a connection task does: register, then poll, until the watchdog wakes it.
            let fired = std::future::poll_fn(|cx| {
                activity.connection.register(cx.waker());
                sleep.as_mut().poll(cx)
            });
            assert!(
                tokio::time::timeout(Duration::from_secs(10), fired)
                    .await
                    .is_ok(),
                "the deadline never fired"
            );
            let waited = started.elapsed();
            assert!(
                waited >= Duration::from_millis(100) && waited < Duration::from_secs(2),
                "{waited:?}"
            );
            watchdog.abort();
        }

        #[test]
        fn dropping_a_deadline_disarms_it_and_a_new_one_starts_unfired() {
            let activity = Arc::new(Activity::default());
            let timer = DeadlineTimer::new(Arc::clone(&activity));
            let mut sleep = timer.sleep(Duration::ZERO);
            std::thread::sleep(Duration::from_millis(2)); // let the deadline pass
            activity.fire_expired_header_read();
            assert!(poll(sleep.as_mut()).is_ready());
            drop(sleep);
            assert_eq!(activity.header_deadline.load(Ordering::Relaxed), 0);
            let mut next = timer.sleep(Duration::from_secs(60));
            activity.fire_expired_header_read();
            assert!(poll(next.as_mut()).is_pending());
        }
    }

    mod verdict {
        use super::*;

        #[tokio::test(start_paused = true)]
        async fn a_request_in_flight_keeps_the_connection_open() {
            let activity = Arc::new(Activity::default());
            let in_flight = InFlight::begin(&activity);
            let idle = Duration::from_millis(100);
            let mut watchdog = watching(&activity, idle);
            let watched = tokio::time::timeout(Duration::from_secs(10), &mut watchdog);
            assert!(watched.await.is_err(), "closed with a request in flight");
            watchdog.abort();
            assert_eq!(activity.verdict.load(Ordering::Relaxed), KEEP);
            drop(in_flight);
            let started = tokio::time::Instant::now();
            watching(&activity, idle).await.unwrap();
            let waited = started.elapsed();
            assert!(
                waited >= idle && waited <= idle + Duration::from_millis(50),
                "{waited:?}"
            );
            assert_eq!(activity.verdict.load(Ordering::Relaxed), CLOSE);
        }

        #[tokio::test]
        async fn draining_tells_the_connection_at_once() {
            let activity = Arc::new(Activity::default());
            let (drain, draining) = watch::channel(false);
            let watchdog = {
                let activity = Arc::clone(&activity);
                tokio::spawn(async move {
                    activity
                        .watch(
                            Duration::from_secs(3600),
                            Duration::from_secs(3600),
                            draining,
                        )
                        .await;
                })
            };
            drain.send(true).unwrap();
            watchdog.await.unwrap();
            assert_eq!(activity.verdict.load(Ordering::Relaxed), DRAIN);
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
