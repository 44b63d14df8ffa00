//! The queue between audited calls and the writer thread, where each group commit's batch forms.
//!
//! A writer that syncs as soon as one record waits splits a steady stream of calls into small
//! batches: every call answered by the last sync comes back a moment after the next one has
//! started, and waits for a whole sync more. So the writer waits, before each sync, until as
//! many records wait as went into the last one (the callers it just answered, back again), but
//! never longer than the configured wait (`audit.batch_wait_us`). One caller at a time never
//! waits: the last batch held one record. This is PostgreSQL's `commit_delay`, with the batch
//! sized by the load instead of by a setting.
//!
//! Callers wake the writer only when its batch is full (or it waits for a first record), not
//! once per record. This module neither writes records nor decides what is in them.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Records waiting for the writer, shared by every caller and the writer thread.
#[derive(Debug)]
pub struct BatchQueue<T> {
    state: Mutex<State<T>>,
    filled: Condvar,
}

#[derive(Debug)]
struct State<T> {
    waiting: Vec<T>,
    /// How many waiting records wake the writer; 0 while it is not waiting.
    wake_at: usize,
    closed: bool,
}

/// How the writer wants its next batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    /// Records to wait for once the first is there.
    pub records: usize,
    /// How long to wait for them after the first.
    pub wait: Duration,
    /// When to give up waiting for a first record and hand over an empty batch, for a writer
    /// with something to do while idle (the audit log's heartbeat checkpoints).
    pub idle_until: Option<Instant>,
}

impl Fill {
    /// Take whatever waits: the start, and after a batch of one.
    pub const NOW: Self = Self {
        records: 1,
        wait: Duration::ZERO,
        idle_until: None,
    };

    /// The next batch's fill after a sync of `records`, waiting at most `wait` for as many.
    pub fn after(records: usize, wait: Duration) -> Self {
        Self {
            records,
            wait,
            idle_until: None,
        }
    }

    /// The same fill, but an empty batch at `deadline` if no record has come by then.
    pub fn idle_until(self, deadline: Instant) -> Self {
        Self {
            idle_until: Some(deadline),
            ..self
        }
    }
}

impl<T> Default for BatchQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> BatchQueue<T> {
    /// An empty, open queue.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                waiting: Vec::new(),
                wake_at: 0,
                closed: false,
            }),
            filled: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic elsewhere cannot leave the queue half-changed: every change is one push or
        // one swap.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item` for the writer; gives it back once the queue is closed.
    pub fn push(&self, item: T) -> Result<(), T> {
        let full = {
            let mut state = self.lock();
            if state.closed {
                return Err(item);
            }
            state.waiting.push(item);
            let full = state.wake_at != 0 && state.waiting.len() >= state.wake_at;
            if full {
                state.wake_at = 0;
            }
            full
        };
        // Woken after the lock is released, so that the writer does not wake only to wait
        // for it: it shares a core with the callers under load.
        if full {
            self.filled.notify_one();
        }
        Ok(())
    }

    /// Refuses later pushes; the writer still takes what is queued.
    pub fn close(&self) {
        self.lock().closed = true;
        self.filled.notify_one();
    }

    /// Blocks until at least one record waits, then until `fill.records` do or its wait
    /// runs out, and moves at most `max` of them into `batch` (which must be empty). Returns
    /// false once the queue is closed and empty, and true with `batch` empty when
    /// `fill.idle_until` passes first.
    pub fn next_batch(&self, batch: &mut Vec<T>, fill: Fill, max: usize) -> bool {
        let mut state = self.lock();
        while state.waiting.is_empty() && !state.closed {
            state.wake_at = 1;
            state = match fill.idle_until {
                None => self.filled.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        state.wake_at = 0;
                        return true;
                    }
                    (self.filled.wait_timeout(state, left))
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        let (target, deadline) = (fill.records.min(max), Instant::now() + fill.wait);
        while state.waiting.len() < target && !state.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state.wake_at = target;
            state = (self.filled.wait_timeout(state, left))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        state.wake_at = 0;
        if state.waiting.is_empty() {
            return false;
        }
        if state.waiting.len() <= max {
            std::mem::swap(batch, &mut state.waiting);
        } else {
            batch.extend(state.waiting.drain(..max));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_batch_of_one_is_taken_at_once() {
        let queue = BatchQueue::new();
        queue.push(1).unwrap();
        let mut batch = Vec::new();
        assert!(queue.next_batch(&mut batch, Fill::NOW, 8));
        assert_eq!(batch, [1]);
    }

    #[test]
    fn a_batch_waits_for_as_many_records_as_the_last_one_had() {
        let queue = Arc::new(BatchQueue::new());
        queue.push(0).unwrap();
        let callers = Arc::clone(&queue);
        // The rest arrive while the writer waits; it wakes once the third is in.
        let late = std::thread::spawn(move || {
            for item in 1..3 {
                callers.push(item).unwrap();
            }
        });
        let mut batch = Vec::new();
        let fill = Fill::after(3, Duration::from_secs(60));
        assert!(queue.next_batch(&mut batch, fill, 8));
        late.join().unwrap();
        batch.sort_unstable();
        assert_eq!(batch, [0, 1, 2], "the writer waited for the whole batch");
    }

    #[test]
    fn a_batch_that_does_not_fill_goes_when_its_wait_runs_out() {
        let queue = BatchQueue::new();
        queue.push(0).unwrap();
        let mut batch = Vec::new();
        let wait = Duration::from_millis(2);
        let started = Instant::now();
        assert!(queue.next_batch(&mut batch, Fill::after(32, wait), 64));
        assert_eq!(batch, [0]);
        let waited = started.elapsed();
        assert!(
            (wait..Duration::from_secs(5)).contains(&waited),
            "waited {waited:?} for a batch that was never going to fill"
        );
    }

    #[test]
    fn an_idle_queue_hands_over_an_empty_batch_at_the_deadline() {
        let queue = BatchQueue::<u8>::new();
        let mut batch = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(2);
        assert!(queue.next_batch(&mut batch, Fill::NOW.idle_until(deadline), 8));
        assert!(batch.is_empty() && Instant::now() >= deadline);
        queue.push(1).unwrap();
        assert!(queue.next_batch(&mut batch, Fill::NOW.idle_until(deadline), 8));
        assert_eq!(batch, [1], "a waiting record goes, deadline or not");
    }

    #[test]
    fn a_batch_takes_at_most_max_and_leaves_the_rest_queued() {
        let queue = BatchQueue::new();
        for item in 0..5 {
            queue.push(item).unwrap();
        }
        let mut batch = Vec::new();
        assert!(queue.next_batch(&mut batch, Fill::after(5, Duration::ZERO), 3));
        assert_eq!(batch, [0, 1, 2]);
        batch.clear();
        assert!(queue.next_batch(&mut batch, Fill::NOW, 3));
        assert_eq!(batch, [3, 4]);
    }

    #[test]
    fn a_closed_queue_is_drained_then_ends() {
        let queue = BatchQueue::new();
        queue.push(1).unwrap();
        queue.close();
        assert_eq!(queue.push(2), Err(2), "pushes after closing are refused");
        let mut batch = Vec::new();
        // Closing ends the wait for more at once.
        assert!(queue.next_batch(&mut batch, Fill::after(8, Duration::from_secs(60)), 8));
        assert_eq!(batch, [1]);
        batch.clear();
        assert!(!queue.next_batch(&mut batch, Fill::NOW, 8));
    }
}
