//! Expectations, as upstream's controllers keep them: after a controller creates or deletes
//! pods it waits until its informer has seen those changes before it counts pods again, so a
//! cache that lags behind the writes never makes it create or delete twice.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long unmet expectations are trusted before a controller counts afresh anyway.
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Clone, Debug)]
struct Expected {
    adds: i64,
    /// The uids of the pods whose deletion is awaited (a pod seen deleted twice counts once).
    dels: HashSet<String>,
    since: Instant,
}

/// Outstanding creations and deletions per controller key.
#[derive(Clone, Default)]
pub struct Expectations {
    by_key: Arc<Mutex<HashMap<String, Expected>>>,
}

impl Expectations {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Expected>) -> R) -> R {
        f(&mut self.by_key.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Records that `adds` creations and the deletions of the pods `dels` (uids) are about to
    /// be made for `key`.
    pub fn expect(&self, key: &str, adds: usize, dels: impl IntoIterator<Item = String>) {
        self.with(|m| {
            m.insert(
                key.to_owned(),
                Expected {
                    adds: adds as i64,
                    dels: dels.into_iter().collect(),
                    since: Instant::now(),
                },
            );
        });
    }

    /// One expected creation was seen (or will never happen because it failed).
    pub fn creation_observed(&self, key: &str) {
        self.with(|m| {
            if let Some(e) = m.get_mut(key) {
                e.adds -= 1;
            }
        });
    }

    /// The deletion of the pod `uid` was seen (or will never happen because it failed).
    pub fn deletion_observed(&self, key: &str, uid: &str) {
        self.with(|m| {
            if let Some(e) = m.get_mut(key) {
                e.dels.remove(uid);
            }
        });
    }

    /// Whether `key`'s controller may count pods from its cache again.
    pub fn satisfied(&self, key: &str) -> bool {
        self.with(|m| match m.get(key) {
            None => true,
            Some(e) => {
                (e.adds <= 0 && e.dels.is_empty()) || e.since.elapsed() > EXPECTATIONS_TIMEOUT
            }
        })
    }

    /// Drops `key`'s expectations (its controller object is gone).
    pub fn forget(&self, key: &str) {
        self.with(|m| {
            m.remove(key);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn satisfied_after_every_expected_change() {
        let e = Expectations::default();
        assert!(e.satisfied("ns/rs"));
        e.expect("ns/rs", 2, ["u1".to_owned()]);
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        e.creation_observed("ns/rs");
        assert!(!e.satisfied("ns/rs"));
        e.deletion_observed("ns/rs", "u2");
        assert!(!e.satisfied("ns/rs"));
        e.deletion_observed("ns/rs", "u1");
        e.deletion_observed("ns/rs", "u1");
        assert!(e.satisfied("ns/rs"));
        e.expect("ns/rs", 1, []);
        e.forget("ns/rs");
        assert!(e.satisfied("ns/rs"));
    }
}
