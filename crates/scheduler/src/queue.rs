//! The scheduling queue: pods waiting for a node, in three parts as upstream has them —
//! active (ordered by priority, then by when they were queued), backoff (failed recently,
//! retried after an exponential delay), and unschedulable (nothing fitted; moved back when the
//! cluster changes in a way that might make them fit).

use k8s_openapi::api::core::v1::Pod;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The first retry delay of a pod that failed to schedule.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// The longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long a pod stays unschedulable without a cluster event before it is retried anyway.
pub const UNSCHEDULABLE_TIMEOUT: Duration = Duration::from_secs(300);

/// A pod in the queue.
#[derive(Clone, Debug)]
pub struct QueuedPod {
    /// The pod as last seen.
    pub pod: Arc<Pod>,
    /// How many times it has been tried.
    pub attempts: u32,
    /// When it first entered the queue (for latency figures).
    pub first_queued: Instant,
}

impl QueuedPod {
    /// The pod's uid.
    pub fn uid(&self) -> &str {
        self.pod.metadata.uid.as_deref().unwrap_or("")
    }
}

/// Whether an update changed more than the status and bookkeeping fields (upstream's
/// `isPodUpdated`): only such updates may make an unschedulable pod fit.
fn updated_beyond_status(old: &Pod, new: &Pod) -> bool {
    let strip = |pod: &Pod| {
        let mut meta = pod.metadata.clone();
        meta.resource_version = None;
        meta.generation = None;
        meta.managed_fields = None;
        (meta, pod.spec.clone())
    };
    strip(old) != strip(new)
}

fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// Where a pod is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Active,
    Backoff(Instant),
    Unschedulable(Instant),
    /// Popped and being scheduled.
    InFlight,
}

impl Place {
    /// When a waiting pod is retried without a cluster event.
    fn due(self) -> Option<Instant> {
        match self {
            Place::Backoff(at) => Some(at),
            Place::Unschedulable(since) => Some(since + UNSCHEDULABLE_TIMEOUT),
            Place::Active | Place::InFlight => None,
        }
    }
}

#[derive(Default)]
struct Inner {
    /// (-priority, sequence, uid): the first entry is the next pod.
    active: BTreeSet<(i64, u64, String)>,
    entries: HashMap<String, (QueuedPod, Place, u64)>,
    /// Waiting pods (backoff, unschedulable) by when they are retried anyway, so a pop does
    /// not scan every queued pod.
    timers: BTreeSet<(Instant, String)>,
    /// An update arrived while the pod was being scheduled.
    dirty_in_flight: HashMap<String, Arc<Pod>>,
    sequence: u64,
    closed: bool,
}

impl Inner {
    /// Moves a queued pod to `place`, keeping the timers in step.
    fn set_place(&mut self, uid: &str, place: Place) {
        let Some(entry) = self.entries.get_mut(uid) else {
            return;
        };
        if let Some(due) = entry.1.due() {
            self.timers.remove(&(due, uid.to_owned()));
        }
        entry.1 = place;
        if let Some(due) = place.due() {
            self.timers.insert((due, uid.to_owned()));
        }
    }

    /// Forgets a pod entirely.
    fn remove(&mut self, uid: &str) {
        self.remove_active(uid);
        if let Some((_, place, _)) = self.entries.remove(uid)
            && let Some(due) = place.due()
        {
            self.timers.remove(&(due, uid.to_owned()));
        }
        self.dirty_in_flight.remove(uid);
    }

    fn push_active(&mut self, uid: &str) {
        self.set_place(uid, Place::Active);
        self.sequence += 1;
        let seq = self.sequence;
        if let Some((qp, _, key)) = self.entries.get_mut(uid) {
            *key = seq;
            self.active
                .insert((-i64::from(priority(&qp.pod)), seq, uid.to_owned()));
        }
    }

    fn remove_active(&mut self, uid: &str) {
        if let Some((qp, Place::Active, seq)) = self.entries.get(uid) {
            let key = (-i64::from(priority(&qp.pod)), *seq, uid.to_owned());
            self.active.remove(&key);
        }
    }
}

/// The scheduling queue, shared by the informers (which add) and the scheduling loop (which pops).
#[derive(Default)]
pub struct SchedulingQueue {
    inner: Mutex<Inner>,
    ready: Notify,
}

fn backoff_for(attempts: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX);
    INITIAL_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

impl SchedulingQueue {
    /// An empty queue.
    pub fn new() -> Arc<SchedulingQueue> {
        Arc::new(SchedulingQueue::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a new pending pod, or updates one already queued (an update of an unschedulable pod
    /// makes it active again, as upstream does).
    pub fn add_or_update(&self, pod: Arc<Pod>) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let mut inner = self.lock();
        match inner.entries.get(&uid).map(|(_, place, _)| *place) {
            None => {
                let qp = QueuedPod {
                    pod,
                    attempts: 0,
                    first_queued: Instant::now(),
                };
                inner.entries.insert(uid.clone(), (qp, Place::Active, 0));
                inner.push_active(&uid);
            }
            Some(Place::InFlight) => {
                inner.dirty_in_flight.insert(uid, pod);
                return;
            }
            Some(Place::Active) => {
                inner.remove_active(&uid);
                if let Some(entry) = inner.entries.get_mut(&uid) {
                    entry.0.pod = pod;
                }
                inner.push_active(&uid);
            }
            Some(Place::Backoff(_)) | Some(Place::Unschedulable(_)) => {
                let Some(entry) = inner.entries.get_mut(&uid) else {
                    return;
                };
                // Our own status writes (PodScheduled=False) must not retry the pod at once.
                let changed = updated_beyond_status(&entry.0.pod, &pod);
                entry.0.pod = pod;
                if !changed {
                    return;
                }
                inner.push_active(&uid);
            }
        }
        drop(inner);
        self.ready.notify_one();
    }

    /// Forgets a pod (deleted, or scheduled by someone else).
    pub fn delete(&self, uid: &str) {
        self.lock().remove(uid);
    }

    /// Forgets every queued pod whose uid `keep` refuses (deleted while the watch was away).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let mut inner = self.lock();
        let gone: Vec<String> = (inner.entries.keys())
            .filter(|uid| !keep(uid))
            .cloned()
            .collect();
        for uid in gone {
            inner.remove(&uid);
        }
    }

    /// Waits for the next pod to schedule; `None` once the queue is closed.
    pub async fn pop(&self) -> Option<QueuedPod> {
        loop {
            let notified = self.ready.notified();
            let wait = {
                let mut inner = self.lock();
                if inner.closed {
                    return None;
                }
                self.flush_expired(&mut inner);
                if let Some(first) = inner.active.pop_first() {
                    let uid = first.2;
                    inner.set_place(&uid, Place::InFlight);
                    if let Some(entry) = inner.entries.get_mut(&uid) {
                        entry.0.attempts += 1;
                        return Some(entry.0.clone());
                    }
                    continue;
                }
                Self::next_expiry(&inner)
            };
            match wait {
                Some(at) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    fn flush_expired(&self, inner: &mut Inner) {
        let now = Instant::now();
        while let Some((due, uid)) = inner.timers.first().cloned()
            && due <= now
        {
            inner.push_active(&uid);
        }
    }

    fn next_expiry(inner: &Inner) -> Option<Instant> {
        inner.timers.first().map(|(due, _)| *due)
    }

    /// The pod was bound (or handed to the binder): it leaves the queue.
    pub fn done(&self, uid: &str) {
        self.lock().remove(uid);
    }

    /// Nothing fitted: the pod waits for a cluster change (or backs off, if the cluster already
    /// changed while it was being scheduled).
    pub fn unschedulable(&self, uid: &str, cluster_changed: bool) {
        self.requeue(uid, !cluster_changed);
    }

    /// Scheduling failed for another reason (a binding error): retry after the backoff.
    pub fn backoff(&self, uid: &str) {
        self.requeue(uid, false);
    }

    fn requeue(&self, uid: &str, unschedulable: bool) {
        let mut inner = self.lock();
        let updated = inner.dirty_in_flight.remove(uid);
        let Some(entry) = inner.entries.get_mut(uid) else {
            return;
        };
        if let Some(pod) = updated {
            entry.0.pod = pod;
        }
        let now = Instant::now();
        let place = if unschedulable {
            Place::Unschedulable(now)
        } else {
            Place::Backoff(now + backoff_for(entry.0.attempts))
        };
        inner.set_place(uid, place);
        drop(inner);
        self.ready.notify_one();
    }

    /// A cluster event that may make unschedulable pods fit: move them to backoff (or active,
    /// if their backoff is over).
    pub fn move_all_unschedulable(&self) {
        let mut inner = self.lock();
        let now = Instant::now();
        let mut to_active = Vec::new();
        let mut to_backoff = Vec::new();
        for (uid, (qp, place, _)) in inner.entries.iter() {
            if let Place::Unschedulable(since) = *place {
                let until = since + backoff_for(qp.attempts);
                if until <= now {
                    to_active.push(uid.clone());
                } else {
                    to_backoff.push((uid.clone(), until));
                }
            }
        }
        for (uid, until) in to_backoff {
            inner.set_place(&uid, Place::Backoff(until));
        }
        for uid in to_active {
            inner.push_active(&uid);
        }
        drop(inner);
        self.ready.notify_one();
    }

    /// Counts of pods: (active, backoff, unschedulable, in flight).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let inner = self.lock();
        let mut counts = (0, 0, 0, 0);
        for (_, place, _) in inner.entries.values() {
            match place {
                Place::Active => counts.0 += 1,
                Place::Backoff(_) => counts.1 += 1,
                Place::Unschedulable(_) => counts.2 += 1,
                Place::InFlight => counts.3 += 1,
            }
        }
        counts
    }

    /// Wakes every waiter and makes `pop` return `None` from now on.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str, priority: i32) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": uid, "namespace": "default", "uid": uid},
                "spec": {"containers": [], "priority": priority},
            }))
            .unwrap(),
        )
    }

    #[tokio::test]
    async fn higher_priority_first_then_fifo() {
        let q = SchedulingQueue::new();
        q.add_or_update(pod("a", 0));
        q.add_or_update(pod("b", 10));
        q.add_or_update(pod("c", 0));
        let order: Vec<String> = [q.pop().await, q.pop().await, q.pop().await]
            .into_iter()
            .map(|p| p.unwrap().uid().to_owned())
            .collect();
        assert_eq!(order, vec!["b", "a", "c"]);
    }

    #[tokio::test]
    async fn unschedulable_pods_wait_for_a_cluster_event() {
        let q = SchedulingQueue::new();
        q.add_or_update(pod("a", 0));
        let a = q.pop().await.unwrap();
        q.unschedulable(a.uid(), false);
        assert_eq!(q.counts(), (0, 0, 1, 0));
        q.move_all_unschedulable();
        let (active, backoff, unschedulable, _) = q.counts();
        assert_eq!((active + backoff, unschedulable), (1, 0));
        let again = tokio::time::timeout(Duration::from_secs(3), q.pop())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.attempts, 2);
    }

    #[tokio::test]
    async fn updates_while_in_flight_are_kept() {
        let q = SchedulingQueue::new();
        q.add_or_update(pod("a", 0));
        let _a = q.pop().await.unwrap();
        q.add_or_update(pod("a", 5));
        q.backoff("a");
        let again = tokio::time::timeout(Duration::from_secs(3), q.pop())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.pod.spec.as_ref().unwrap().priority, Some(5));
    }

    #[tokio::test]
    async fn status_updates_do_not_retry_an_unschedulable_pod() {
        let q = SchedulingQueue::new();
        q.add_or_update(pod("a", 0));
        let a = q.pop().await.unwrap();
        q.unschedulable(a.uid(), false);
        let mut with_status = (*pod("a", 0)).clone();
        with_status.metadata.resource_version = Some("9".to_owned());
        with_status.status = Some(Default::default());
        q.add_or_update(Arc::new(with_status));
        assert_eq!(q.counts(), (0, 0, 1, 0));
        let mut relabelled = (*pod("a", 0)).clone();
        relabelled.metadata.labels = Some([("x".to_owned(), "y".to_owned())].into());
        q.add_or_update(Arc::new(relabelled));
        assert_eq!(q.counts(), (1, 0, 0, 0));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff_for(1), Duration::from_secs(1));
        assert_eq!(backoff_for(2), Duration::from_secs(2));
        assert_eq!(backoff_for(4), Duration::from_secs(8));
        assert_eq!(backoff_for(9), MAX_BACKOFF);
        assert_eq!(backoff_for(100), MAX_BACKOFF);
    }
}
