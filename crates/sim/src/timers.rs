//! Deadlines for every node and pod in one heap, so one loop drives them all; and how
//! periodic work is spread evenly over its interval instead of arriving in bursts.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Something due at a time. Each carries the epoch of what armed it; a timer whose epoch
/// is no longer current is stale and ignored when it fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timer {
    /// Renew node `.0`'s Lease.
    Lease(u32, u32),
    /// Refresh node `.0`'s status.
    Status(u32, u32),
    /// Take the next step of the pod with this uid.
    Pod(Arc<str>, u32),
}

#[derive(Debug)]
struct Entry {
    at: Instant,
    seq: u64,
    timer: Timer,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Pending timers, earliest first (ties in the order they were armed).
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

impl Timers {
    /// Arms `timer` for `at`.
    pub fn push(&mut self, at: Instant, timer: Timer) {
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            at,
            seq: self.seq,
            timer,
        }));
    }

    /// When the earliest timer is due.
    pub fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.0.at)
    }

    /// The earliest timer if it is due at `now`, with the time it was due.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, Timer)> {
        if self.next_at()? > now {
            return None;
        }
        self.heap.pop().map(|e| (e.0.at, e.0.timer))
    }

    /// How many timers are armed.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.heap.len()
    }
}

/// The first due time of item `index` of `count` when each recurs every `interval`: the items
/// are spaced evenly over one interval from `start`.
pub fn spread(start: Instant, interval: Duration, index: u32, count: u32) -> Instant {
    let count = count.max(1);
    let offset = interval.as_nanos() * u128::from(index % count) / u128::from(count);
    start + Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX))
}

/// The next due time of work that was due at `due` and recurs every `interval`: one interval
/// later, keeping its place in the spread; when the work ran late by more than an interval,
/// missed slots are skipped rather than run in a burst.
pub fn next_due(due: Instant, interval: Duration, now: Instant) -> Instant {
    let next = due + interval;
    if next > now {
        return next;
    }
    let behind = now.duration_since(due).as_nanos();
    let step = interval.as_nanos().max(1);
    let slots = behind / step + 1;
    let offset = step * slots;
    due + Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_and_only_when_due() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.push(t0 + Duration::from_secs(2), Timer::Lease(2, 0));
        timers.push(t0 + Duration::from_secs(1), Timer::Status(1, 0));
        timers.push(t0 + Duration::from_secs(1), Timer::Lease(1, 0));
        assert_eq!(timers.next_at(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(timers.pop_due(t0), None);
        let due: Vec<_> = std::iter::from_fn(|| timers.pop_due(t0 + Duration::from_secs(1)))
            .map(|(_, t)| t)
            .collect();
        assert_eq!(
            due,
            [Timer::Status(1, 0), Timer::Lease(1, 0)],
            "ties keep arming order"
        );
        assert_eq!(timers.len(), 1);
    }

    #[test]
    fn spreads_items_evenly_over_the_interval() {
        let t0 = Instant::now();
        let interval = Duration::from_secs(10);
        let dues: Vec<_> = (0..5).map(|i| spread(t0, interval, i, 5) - t0).collect();
        assert_eq!(
            dues,
            [0, 2, 4, 6, 8].map(Duration::from_secs),
            "one renewal every 2 s, not five at once"
        );
        assert_eq!(spread(t0, interval, 0, 0), t0);
    }

    #[test]
    fn recurring_work_keeps_its_phase_and_skips_missed_slots() {
        let t0 = Instant::now();
        let interval = Duration::from_secs(10);
        let s = Duration::from_secs;
        assert_eq!(next_due(t0, interval, t0 + s(1)), t0 + s(10));
        assert_eq!(next_due(t0, interval, t0 + s(10)), t0 + s(20));
        assert_eq!(next_due(t0, interval, t0 + s(35)), t0 + s(40));
    }
}
