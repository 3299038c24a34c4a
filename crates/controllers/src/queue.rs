//! The work queue controllers reconcile from, with client-go's guarantees: a key waits at most
//! once (adding it again while it waits is a no-op), no key is handled by two workers at once
//! (a key added while being handled is handled again afterwards), and failed keys come back
//! after a per-key exponential delay.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

/// The first retry delay of a failing key.
pub const BASE_DELAY: Duration = Duration::from_millis(5);
/// The longest retry delay.
pub const MAX_DELAY: Duration = Duration::from_secs(1000);

#[derive(Default)]
struct State {
    queue: VecDeque<String>,
    dirty: HashSet<String>,
    processing: HashSet<String>,
    failures: HashMap<String, u32>,
    closed: bool,
}

/// A deduplicating, rate-limited queue of object keys.
#[derive(Clone, Default)]
pub struct WorkQueue {
    state: Arc<Mutex<State>>,
    ready: Arc<Notify>,
}

impl WorkQueue {
    /// An empty queue.
    pub fn new() -> WorkQueue {
        WorkQueue::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks for `key` to be handled.
    pub fn add(&self, key: impl Into<String>) {
        let key = key.into();
        let mut state = self.lock();
        if state.closed || state.dirty.contains(&key) {
            return;
        }
        state.dirty.insert(key.clone());
        if !state.processing.contains(&key) {
            state.queue.push_back(key);
            drop(state);
            self.ready.notify_one();
        }
    }

    /// Asks for `key` to be handled after `delay`.
    pub fn add_after(&self, key: impl Into<String>, delay: Duration) {
        let key = key.into();
        if delay.is_zero() {
            return self.add(key);
        }
        let queue = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            queue.add(key);
        });
    }

    /// Asks for `key` to be handled again after its next backoff delay (5 ms doubling per
    /// consecutive failure, at most 1,000 s).
    pub fn add_rate_limited(&self, key: &str) {
        let failures = {
            let mut state = self.lock();
            let n = state.failures.entry(key.to_owned()).or_insert(0);
            *n += 1;
            *n
        };
        self.add_after(key, backoff(failures));
    }

    /// Forgets `key`'s failures (after a successful sync).
    pub fn forget(&self, key: &str) {
        self.lock().failures.remove(key);
    }

    /// How many times in a row `key` has failed.
    pub fn failures(&self, key: &str) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// The next key to handle; `None` once the queue is shut down. Call [`WorkQueue::done`]
    /// when finished with it.
    pub async fn get(&self) -> Option<String> {
        loop {
            let notified = self.ready.notified();
            {
                let mut state = self.lock();
                if state.closed {
                    return None;
                }
                if let Some(key) = state.queue.pop_front() {
                    state.dirty.remove(&key);
                    state.processing.insert(key.clone());
                    let more = !state.queue.is_empty();
                    drop(state);
                    if more {
                        self.ready.notify_one();
                    }
                    return Some(key);
                }
            }
            notified.await;
        }
    }

    /// Marks `key` as handled; if it was added meanwhile it goes back in line.
    pub fn done(&self, key: &str) {
        let mut state = self.lock();
        state.processing.remove(key);
        if state.dirty.contains(key) {
            state.queue.push_back(key.to_owned());
            drop(state);
            self.ready.notify_one();
        }
    }

    /// Stops the queue: waiting and future [`WorkQueue::get`] calls return `None`.
    pub fn shut_down(&self) {
        self.lock().closed = true;
        self.ready.notify_waiters();
    }

    /// How many keys wait.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Whether no key waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn backoff(failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(31));
    BASE_DELAY.saturating_mul(factor).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dedups_and_serializes_keys() {
        let q = WorkQueue::new();
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        let a = q.get().await.unwrap();
        assert_eq!(a, "a");
        // Added while being handled: not handed out again until done.
        q.add("a");
        assert_eq!(q.get().await.unwrap(), "b");
        assert!(q.is_empty());
        q.done("a");
        assert_eq!(q.get().await.unwrap(), "a");
        q.done("a");
        q.done("b");
        q.shut_down();
        assert_eq!(q.get().await, None);
    }

    #[test]
    fn backoff_doubles_to_a_cap() {
        assert_eq!(backoff(1), Duration::from_millis(5));
        assert_eq!(backoff(2), Duration::from_millis(10));
        assert_eq!(backoff(5), Duration::from_millis(80));
        assert_eq!(backoff(40), MAX_DELAY);
    }

    #[tokio::test]
    async fn rate_limited_keys_come_back() {
        let q = WorkQueue::new();
        q.add_rate_limited("k");
        assert_eq!(q.failures("k"), 1);
        let k = tokio::time::timeout(Duration::from_secs(5), q.get()).await;
        assert_eq!(k.unwrap().as_deref(), Some("k"));
        q.forget("k");
        assert_eq!(q.failures("k"), 0);
    }
}
