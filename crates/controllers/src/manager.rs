//! Running the controllers: options, the context they share, the worker loops, and leadership
//! (everything starts when this process becomes leader and stops when it no longer is).

use crate::events::Recorder;
use crate::informer::Informers;
use crate::queue::WorkQueue;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How the controllers run (kube-controller-manager's flags).
#[derive(Clone, Debug)]
pub struct Options {
    /// Which controllers run (`--controllers`: `*`, `name`, `-name`).
    pub controllers: Vec<String>,
    /// The pod network nodes get their `podCIDR` from (`--cluster-cidr`).
    pub cluster_cidr: String,
    /// The prefix length of each node's pod range (`--node-cidr-mask-size`).
    pub node_cidr_mask_size: u8,
    /// How long a node may go without a heartbeat before it is NotReady/Unknown
    /// (`--node-monitor-grace-period`).
    pub node_monitor_grace_period: Duration,
    /// How often node health is checked (`--node-monitor-period`).
    pub node_monitor_period: Duration,
    /// How many finished pods may exist before the oldest are deleted
    /// (`--terminated-pod-gc-threshold`).
    pub terminated_pod_gc_threshold: usize,
    /// How often the pod garbage collector runs.
    pub pod_gc_period: Duration,
    /// Workers per controller (`--concurrent-*-syncs`).
    pub workers: usize,
    /// At most this many endpoints in one EndpointSlice (`--max-endpoints-per-slice`).
    pub max_endpoints_per_slice: usize,
    /// The cluster CA certificate (PEM) published in every namespace as `kube-root-ca.crt`;
    /// without it nothing is published.
    pub root_ca_pem: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            controllers: vec!["*".to_owned()],
            cluster_cidr: "10.42.0.0/16".to_owned(),
            node_cidr_mask_size: 24,
            node_monitor_grace_period: Duration::from_secs(40),
            node_monitor_period: Duration::from_secs(5),
            terminated_pod_gc_threshold: 12_500,
            pod_gc_period: Duration::from_secs(20),
            workers: 5,
            max_endpoints_per_slice: 100,
            root_ca_pem: None,
        }
    }
}

/// What every controller gets: the client, the shared informers, the options and events.
#[derive(Clone)]
pub struct Context {
    /// The client every write goes through.
    pub client: kube::Client,
    /// The shared informers.
    pub informers: Informers,
    /// The options.
    pub options: Arc<Options>,
    /// Records events (as the component each controller names).
    pub events: Recorder,
}

/// One controller's reconciliation of a key.
#[async_trait::async_trait]
pub trait Reconciler: Send + Sync + 'static {
    /// Brings the object with `key` to its desired state; `Ok(Some(d))` asks to look again
    /// after `d` (e.g. when a pod becomes available), an error retries with backoff.
    async fn sync(&self, key: &str) -> Result<Option<Duration>, crate::Error>;
}

/// A controller ready to run: its queue (fed by the informer callbacks it registered) and its
/// reconciler.
pub struct Controller {
    /// Its upstream name.
    pub name: &'static str,
    /// Its work queue.
    pub queue: WorkQueue,
    /// What reconciles a key.
    pub reconciler: Arc<dyn Reconciler>,
    /// How many keys it reconciles at once.
    pub workers: usize,
    /// A key added every period (for controllers that check the whole cluster regularly).
    pub resync: Option<(String, Duration)>,
    /// Background tasks started with the workers and stopped with them (e.g. the garbage
    /// collector's own watches).
    pub tasks: Vec<Box<dyn FnOnce() -> tokio::task::JoinHandle<()> + Send>>,
}

impl Controller {
    fn start(self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks: Vec<_> = self.tasks.into_iter().map(|start| start()).collect();
        for _ in 0..self.workers.max(1) {
            let (queue, reconciler, name) =
                (self.queue.clone(), self.reconciler.clone(), self.name);
            tasks.push(tokio::spawn(async move {
                while let Some(key) = queue.get().await {
                    match reconciler.sync(&key).await {
                        Ok(again) => {
                            queue.forget(&key);
                            if let Some(after) = again {
                                queue.add_after(key.clone(), after);
                            }
                        }
                        Err(err) => {
                            let conflict = matches!(&err, crate::Error::Api(kube::Error::Api(s)) if s.code == 409);
                            if conflict {
                                tracing::debug!(controller = name, %key, %err, "sync conflict; retrying");
                            } else {
                                tracing::warn!(controller = name, %key, %err, "sync failed; retrying");
                            }
                            queue.add_rate_limited(&key);
                        }
                    }
                    queue.done(&key);
                }
            }));
        }
        if let Some((key, period)) = self.resync {
            let queue = self.queue.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    queue.add(key.clone());
                    tokio::time::sleep(period).await;
                }
            }));
        }
        tasks
    }
}

fn build(ctx: &Context) -> Vec<Controller> {
    type Make = fn(&Context) -> Controller;
    let all: &[(&str, Make)] = &[
        ("replicaset", crate::replicaset::controller),
        ("deployment", crate::deployment::controller),
        ("daemonset", crate::daemonset::controller),
        ("statefulset", crate::statefulset::controller),
        ("nodeipam", crate::nodeipam::controller),
        ("nodelifecycle", crate::nodelifecycle::controller),
        ("podgc", crate::podgc::controller),
        ("endpoint", crate::endpoints::controller),
        ("endpointslice", crate::endpointslice::controller),
        ("serviceaccount", crate::serviceaccount::controller),
        (
            "root-ca-certificate-publisher",
            crate::rootcacertpublisher::controller,
        ),
        ("garbagecollector", crate::garbagecollector::controller),
        ("namespace", crate::namespace::controller),
        ("job", crate::job::controller),
        ("ttl-after-finished", crate::ttlafterfinished::controller),
        ("cronjob", crate::cronjob::controller),
        ("disruption", crate::disruption::controller),
    ];
    all.iter()
        .filter(|(name, _)| crate::enabled(&ctx.options.controllers, name))
        .map(|(_, make)| make(ctx))
        .collect()
}

/// Runs the enabled controllers whenever `leading` is true, until `shutdown` turns true.
pub async fn run(
    client: kube::Client,
    options: Options,
    mut leading: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let options = Arc::new(options);
    loop {
        while !*leading.borrow_and_update() && !*shutdown.borrow() {
            tokio::select! {
                _ = rkube_leader::changed(&mut leading) => {}
                _ = rkube_leader::changed(&mut shutdown) => {}
            }
        }
        if *shutdown.borrow() {
            return;
        }
        let ctx = Context {
            client: client.clone(),
            informers: Informers::new(client.clone()),
            options: options.clone(),
            events: Recorder::new(client.clone(), "controller-manager"),
        };
        let controllers = build(&ctx);
        let names: Vec<&str> = controllers.iter().map(|c| c.name).collect();
        let queues: Vec<WorkQueue> = controllers.iter().map(|c| c.queue.clone()).collect();
        let mut tasks = tokio::select! {
            tasks = ctx.informers.start() => tasks,
            _ = rkube_leader::changed(&mut shutdown) => return,
        };
        tracing::info!(controllers = ?names, "controllers started");
        for controller in controllers {
            tasks.extend(controller.start());
        }
        loop {
            tokio::select! {
                _ = rkube_leader::changed(&mut leading) => {}
                _ = rkube_leader::changed(&mut shutdown) => {}
            }
            if !*leading.borrow() || *shutdown.borrow() {
                break;
            }
        }
        for queue in queues {
            queue.shut_down();
        }
        for task in tasks {
            task.abort();
        }
        tracing::info!("controllers stopped");
    }
}

/// Starts the controllers in the background: with leader election through the Lease
/// `kube-system/kube-controller-manager` when `leader_elect`, else leading from the start.
pub fn spawn(
    client: kube::Client,
    options: Options,
    leader_elect: bool,
    identity: &str,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let leading = rkube_leader::leading(
        client.clone(),
        "kube-system",
        "kube-controller-manager",
        identity,
        leader_elect,
        shutdown.clone(),
    );
    tokio::spawn(run(client, options, leading, shutdown))
}
