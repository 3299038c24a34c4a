//! The simulator's one loop: a single pod watcher for every node, one timer heap for every
//! heartbeat and pod step, and at most `max_in_flight` API calls at once.

use crate::cidr;
use crate::config::{Names, SimConfig};
use crate::execute::{self, Completion, Request};
use crate::lifecycle::{PodRecord, Stage, Step};
use crate::node::{self, NodeState};
use crate::pod::PodShape;
use crate::timers::{self, Timer, Timers};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_stream::StreamExt;

/// How long a pod waits before its address is looked for again when its node has none free.
const NO_ADDRESS_RETRY: Duration = Duration::from_secs(5);
/// How long before a failed pod request is tried again.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// What the [`crate::Sim`] handle tells the loop.
#[derive(Debug)]
pub enum Command {
    /// Stop heartbeats and pod progress of node `.0`.
    Fail(u32),
    /// Resume them.
    Recover(u32),
    /// Finish the calls in flight and stop.
    Shutdown(oneshot::Sender<()>),
}

/// A pod the loop tracks, with its bookkeeping.
#[derive(Debug)]
struct Tracked {
    record: PodRecord,
    /// Bumped on every re-arm; older timers are stale.
    epoch: u32,
    /// A request for the pod is in flight (its steps wait, to keep writes in order).
    busy: bool,
    /// A step came due while busy.
    deferred: bool,
    /// A step came due while its node was failed.
    parked: bool,
    /// The watch generation that last listed it.
    seen: u64,
    /// A failed request to send again.
    retry: Option<Box<Request>>,
}

/// The loop's state.
pub struct Driver {
    client: kube::Client,
    config: Arc<SimConfig>,
    names: Arc<Names>,
    nodes: Vec<NodeState>,
    pods: HashMap<Arc<str>, Tracked>,
    timers: Timers,
    queue: VecDeque<Request>,
    in_flight: JoinSet<Completion>,
    generation: u64,
}

/// The instant at which wall-clock time `at` comes (now if it has passed).
fn instant_for(at: Timestamp, wall_now: Timestamp, now: Instant) -> Instant {
    let wait = Duration::try_from(wall_now.duration_until(at)).unwrap_or(Duration::ZERO);
    now + wait
}

impl Driver {
    /// A loop over registered nodes.
    pub fn new(
        client: kube::Client,
        config: Arc<SimConfig>,
        names: Arc<Names>,
        nodes: Vec<NodeState>,
    ) -> Driver {
        Driver {
            client,
            config,
            names,
            nodes,
            pods: HashMap::new(),
            timers: Timers::default(),
            queue: VecDeque::new(),
            in_flight: JoinSet::new(),
            generation: 0,
        }
    }

    /// Runs until told to shut down (or the handle is dropped).
    pub async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let start = Instant::now();
        let count = self.names.count();
        for index in 0..count {
            if !self.nodes[index as usize].failed {
                self.arm_heartbeats(index, start);
            }
        }
        let pods: Api<Pod> = Api::all(self.client.clone());
        // One watch for every node: pods bound anywhere, filtered by node name here. Its
        // (re)lists are streamed through the watch (`sendInitialEvents`) from the server's
        // cache: at 5,000 nodes a relist by 500-pod pages, every page after the first read
        // from the store, outlasted the watch window, and the watch after it was too old.
        let config = watcher::Config::default()
            .fields("spec.nodeName!=")
            .streaming_lists();
        let mut events = Box::pin(watcher::watcher(pods, config).default_backoff());
        let max = self.config.max_in_flight;
        let reply = loop {
            self.dispatch();
            let room = self.queue.is_empty() && self.in_flight.len() < max;
            let next = self.timers.next_at();
            let idle = Instant::now() + Duration::from_secs(3600);
            let sleep = tokio::time::sleep_until(next.unwrap_or(idle));
            tokio::select! {
                Some(done) = self.in_flight.join_next(), if !self.in_flight.is_empty() => {
                    match done {
                        Ok(completion) => self.completed(completion),
                        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                        Err(_) => {}
                    }
                }
                command = commands.recv() => match command {
                    Some(Command::Fail(index)) => self.fail(index),
                    Some(Command::Recover(index)) => self.recover(index),
                    Some(Command::Shutdown(reply)) => break Some(reply),
                    None => break None,
                },
                event = events.next(), if room => match event {
                    Some(event) => self.on_event(event),
                    None => break None,
                },
                () = sleep, if room && next.is_some() => self.fire(),
            }
        };
        while let Some(done) = self.in_flight.join_next().await {
            if let Err(err) = done
                && err.is_panic()
            {
                std::panic::resume_unwind(err.into_panic());
            }
        }
        if let Some(reply) = reply {
            let _ = reply.send(());
        }
    }

    /// Starts queued requests while there is room.
    fn dispatch(&mut self) {
        while self.in_flight.len() < self.config.max_in_flight {
            let Some(request) = self.queue.pop_front() else {
                break;
            };
            let client = self.client.clone();
            let seconds = self.config.lease_duration_seconds;
            self.in_flight
                .spawn(execute::execute(client, request, seconds));
        }
    }

    fn arm_heartbeats(&mut self, index: u32, start: Instant) {
        let count = self.names.count();
        let epoch = self.nodes[index as usize].epoch;
        let lease = timers::spread(start, self.config.lease_renew_interval, index, count);
        let status = timers::spread(start, self.config.node_status_interval, index, count);
        self.timers.push(lease, Timer::Lease(index, epoch));
        self.timers.push(status, Timer::Status(index, epoch));
    }

    /// Takes every due timer (while requests fit).
    fn fire(&mut self) {
        let now = Instant::now();
        while self.queue.len() < self.config.max_in_flight {
            let Some((due, timer)) = self.timers.pop_due(now) else {
                break;
            };
            match timer {
                Timer::Lease(index, epoch) | Timer::Status(index, epoch) => {
                    let node = &self.nodes[index as usize];
                    if node.failed || node.epoch != epoch {
                        continue;
                    }
                    let name = self.names.name(index);
                    let (request, interval) = if matches!(timer, Timer::Lease(..)) {
                        (Request::Lease { name }, self.config.lease_renew_interval)
                    } else {
                        let wall = rkube_api::time::now();
                        let since = node.ready_since.unwrap_or(wall);
                        let patch = node::heartbeat_patch(wall, since);
                        let request = Request::NodeStatus { name, patch };
                        (request, self.config.node_status_interval)
                    };
                    self.queue.push_back(request);
                    let next = timers::next_due(due, interval, now);
                    let timer = match timer {
                        Timer::Lease(..) => Timer::Lease(index, epoch),
                        _ => Timer::Status(index, epoch),
                    };
                    self.timers.push(next, timer);
                }
                Timer::Pod(uid, epoch) => self.pod_due(&uid, epoch),
            }
        }
    }

    fn pod_due(&mut self, uid: &Arc<str>, epoch: u32) {
        let Some(tracked) = self.pods.get_mut(uid) else {
            return;
        };
        if tracked.epoch != epoch {
            return;
        }
        if self.nodes[tracked.record.node as usize].failed {
            tracked.parked = true;
        } else if tracked.busy {
            tracked.deferred = true;
        } else if let Some(retry) = tracked.retry.take() {
            tracked.busy = true;
            self.queue.push_back(*retry);
        } else {
            self.step(uid);
        }
    }

    /// Arms the pod's next step (a new epoch makes older timers stale).
    fn arm(&mut self, uid: &str) {
        let Some((key, _)) = self.pods.get_key_value(uid) else {
            return;
        };
        let key = key.clone();
        let Some(tracked) = self.pods.get_mut(uid) else {
            return;
        };
        tracked.epoch = tracked.epoch.wrapping_add(1);
        if let Some((at, _)) = tracked.record.next_step(self.config.pod_start_delay) {
            let at = instant_for(at, rkube_api::time::now(), Instant::now());
            self.timers.push(at, Timer::Pod(key, tracked.epoch));
        }
    }

    /// Takes the pod's next step if it is due, and arms the one after.
    fn step(&mut self, uid: &Arc<str>) {
        let now = rkube_api::time::now();
        let Some(tracked) = self.pods.get_mut(uid) else {
            return;
        };
        let record = &mut tracked.record;
        let Some((at, step)) = record.next_step(self.config.pod_start_delay) else {
            return;
        };
        if at > now {
            return self.arm(uid);
        }
        let node = &mut self.nodes[record.node as usize];
        let host_ip = cidr::node_ip(record.node);
        if step == Step::Start && !record.shape.host_network && record.ip.is_none() {
            let ip = node.pod_cidr.and_then(|range| node.pool.allocate(range));
            if ip.is_none() {
                tracing::warn!(
                    pod = %format!("{}/{}", record.namespace, record.name),
                    node = %self.names.name(record.node),
                    "no free pod address on the node; the pod stays Pending"
                );
                let at = Instant::now() + NO_ADDRESS_RETRY;
                self.timers.push(at, Timer::Pod(uid.clone(), tracked.epoch));
                return;
            }
            record.ip = ip;
        }
        let effect = record.take_step(step, now, host_ip);
        if effect.release_ip
            && let (Some(ip), Some(range)) = (record.ip.take(), node.pod_cidr)
        {
            node.pool.release(range, ip);
        }
        if record.stage == Stage::Done {
            // Finished pods are kept only to be deleted: drop what statuses needed.
            record.shape.containers = Box::default();
            record.shape.init_containers = Box::default();
        }
        if effect.status.is_some() || effect.delete {
            tracked.busy = true;
            self.queue.push_back(Request::Pod {
                uid: uid.clone(),
                namespace: record.namespace.to_string(),
                name: record.name.to_string(),
                patch: effect.status,
                delete: effect.delete,
            });
        }
        self.arm(uid);
    }

    fn completed(&mut self, completion: Completion) {
        let Completion::Pod { uid, retry } = completion else {
            return;
        };
        let Some(tracked) = self.pods.get_mut(&uid) else {
            return;
        };
        tracked.busy = false;
        if let Some(retry) = retry {
            tracked.retry = Some(Box::new(retry));
            let at = Instant::now() + RETRY_DELAY;
            self.timers.push(at, Timer::Pod(uid.clone(), tracked.epoch));
        } else if std::mem::take(&mut tracked.deferred) {
            self.step(&uid);
        }
    }

    fn on_event(&mut self, event: Result<Event<Pod>, watcher::Error>) {
        match event {
            Ok(Event::Init) => self.generation += 1,
            Ok(Event::InitApply(pod) | Event::Apply(pod)) => self.on_pod(&pod),
            Ok(Event::InitDone) => {
                // Pods missing from a fresh list were deleted while the watch was down.
                let generation = self.generation;
                let gone: Vec<Arc<str>> = (self.pods.iter())
                    .filter(|(_, t)| t.seen != generation)
                    .map(|(uid, _)| uid.clone())
                    .collect();
                for uid in gone {
                    self.forget(&uid);
                }
            }
            Ok(Event::Delete(pod)) => {
                if let Some(uid) = pod.metadata.uid.as_deref() {
                    self.forget(uid);
                }
            }
            Err(err) => tracing::warn!(%err, "pod watch"),
        }
    }

    fn on_pod(&mut self, pod: &Pod) {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        let Some(index) = node.and_then(|n| self.names.index(n)) else {
            return;
        };
        let Some(uid) = pod.metadata.uid.as_deref() else {
            return;
        };
        let now = rkube_api::time::now();
        let deleting = pod.metadata.deletion_timestamp.is_some();
        let grace = pod.metadata.deletion_grace_period_seconds;
        let cap = self.config.max_termination_delay;
        if let Some(tracked) = self.pods.get_mut(uid) {
            tracked.seen = self.generation;
            if deleting && tracked.record.kill_at.is_none() {
                tracked.record.deletion_seen(now, grace, cap);
                if tracked.busy {
                    tracked.deferred = true;
                } else if !tracked.parked {
                    self.arm(uid);
                }
            }
            return;
        }
        let Some(shape) = PodShape::of(pod) else {
            return;
        };
        let uid = shape.uid.clone();
        let mut record = PodRecord::adopt(pod, shape, index, now);
        if let Some(ip) = record.ip {
            let node = &mut self.nodes[index as usize];
            let reserved = node.pod_cidr.is_some_and(|r| node.pool.reserve(r, ip));
            if !reserved {
                // Not ours to free later.
                record.ip = None;
            }
        }
        if record.stage == Stage::Done {
            record.shape.containers = Box::default();
            record.shape.init_containers = Box::default();
        }
        if deleting {
            record.deletion_seen(now, grace, cap);
        }
        self.pods.insert(
            uid.clone(),
            Tracked {
                record,
                epoch: 0,
                busy: false,
                deferred: false,
                parked: false,
                seen: self.generation,
                retry: None,
            },
        );
        self.arm(&uid);
    }

    /// Drops a pod that is gone from the API, returning its address.
    fn forget(&mut self, uid: &str) {
        let Some(tracked) = self.pods.remove(uid) else {
            return;
        };
        let node = &mut self.nodes[tracked.record.node as usize];
        if let (Some(ip), Some(range)) = (tracked.record.ip, node.pod_cidr) {
            node.pool.release(range, ip);
        }
    }

    fn fail(&mut self, index: u32) {
        if let Some(node) = self.nodes.get_mut(index as usize) {
            node.failed = true;
            tracing::info!(node = %self.names.name(index), "node failed");
        }
    }

    fn recover(&mut self, index: u32) {
        let Some(node) = self.nodes.get_mut(index as usize) else {
            return;
        };
        if !node.failed {
            return;
        }
        node.failed = false;
        node.epoch = node.epoch.wrapping_add(1);
        node.ready_since = Some(rkube_api::time::now());
        let now = Instant::now();
        let epoch = node.epoch;
        self.timers.push(now, Timer::Lease(index, epoch));
        self.timers.push(now, Timer::Status(index, epoch));
        let parked: Vec<Arc<str>> = (self.pods.iter_mut())
            .filter_map(|(uid, t)| {
                (t.record.node == index && std::mem::take(&mut t.parked)).then(|| uid.clone())
            })
            .collect();
        for uid in parked {
            self.arm(&uid);
        }
        tracing::info!(node = %self.names.name(index), "node recovered");
    }
}
