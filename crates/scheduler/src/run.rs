//! The scheduler as a running component: informers feeding the queue and the cache, the
//! scheduling loop, background binding through `pods/binding`, and what the scheduler writes
//! back (the `PodScheduled` condition and events).

use crate::cache::Cache;
use crate::framework::Profile;
use crate::queue::SchedulingQueue;
use crate::schedule::{Algorithm, Decision, Shared, cycle};
use k8s_openapi::api::core::v1::{Binding, Event, EventSource, Node, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event as WatchEvent};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;

/// The default scheduler name pods ask for.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
/// How many bindings may be in flight at once.
pub const MAX_BINDINGS_IN_FLIGHT: usize = 256;

/// How the scheduler runs.
#[derive(Clone)]
pub struct Options {
    /// The `schedulerName` this scheduler serves.
    pub scheduler_name: String,
    /// The plugins and weights.
    pub profile: Arc<Profile>,
    /// `percentageOfNodesToScore`.
    pub percentage_of_nodes_to_score: Option<i32>,
}

impl Options {
    /// Options serving one profile (e.g. from a KubeSchedulerConfiguration).
    pub fn from_profile(profile: Profile) -> Options {
        Options {
            scheduler_name: profile.scheduler_name.clone(),
            percentage_of_nodes_to_score: profile.percentage_of_nodes_to_score,
            profile: Arc::new(profile),
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            scheduler_name: DEFAULT_SCHEDULER_NAME.to_owned(),
            profile: Arc::new(Profile::default_profile()),
            percentage_of_nodes_to_score: None,
        }
    }
}

fn responsible(pod: &Pod, name: &str) -> bool {
    let spec = pod.spec.as_ref();
    spec.and_then(|s| s.scheduler_name.as_deref())
        .unwrap_or(DEFAULT_SCHEDULER_NAME)
        == name
}

fn bound(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

fn pending_and_ours(pod: &Pod, name: &str) -> bool {
    !bound(pod)
        && responsible(pod, name)
        && pod.metadata.deletion_timestamp.is_none()
        && crate::cache::is_active(pod)
}

/// The keys a watch's relist has shown so far: when the relist completes, the objects it did
/// not show were deleted while the watch was away.
#[derive(Default)]
struct Relist(HashSet<String>);

impl Relist {
    /// Follows one event of the watch; returns every key listed when it completes a relist.
    fn follow<K>(
        &mut self,
        event: &Result<WatchEvent<K>, watcher::Error>,
        key: impl Fn(&K) -> Option<&String>,
    ) -> Option<HashSet<String>> {
        match event {
            Ok(WatchEvent::Init) => self.0.clear(),
            Ok(WatchEvent::InitApply(object)) => {
                self.0.insert(key(object).cloned().unwrap_or_default());
            }
            Ok(WatchEvent::InitDone) => return Some(std::mem::take(&mut self.0)),
            _ => {}
        }
        None
    }
}

/// Feeds pod events into the queue (unscheduled pods) and the cache (bound pods).
async fn watch_pods(
    client: kube::Client,
    shared: Arc<Shared>,
    name: String,
    synced: watch::Sender<bool>,
) {
    // managedFields are never read here: they are skipped while decoding (upstream's
    // scheduler drops them once decoded).
    let api: Api<crate::wire::WirePod> = Api::all(client);
    let mut stream = Box::pin(
        watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .map(|event| event.map(crate::wire::unwrap_event)),
    );
    let mut relist = Relist::default();
    while let Some(event) = stream.next().await {
        if let Some(listed) = relist.follow(&event, |pod: &Pod| pod.metadata.uid.as_ref()) {
            shared.queue.retain(|uid| listed.contains(uid));
            shared.cache().retain_listed_pods(&listed);
            shared.queue.move_all_unschedulable();
            tracing::debug!(pods = listed.len(), "pods listed");
            synced.send_replace(true);
        }
        match event {
            Ok(WatchEvent::Apply(pod) | WatchEvent::InitApply(pod)) => on_pod(&shared, pod, &name),
            Ok(WatchEvent::Init | WatchEvent::InitDone) => {}
            Ok(WatchEvent::Delete(pod)) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                shared.queue.delete(&uid);
                shared.cache().remove_pod(&uid);
                // Freed resources may let waiting pods fit.
                shared.queue.move_all_unschedulable();
            }
            Err(err) => tracing::warn!(%err, "pod watch"),
        }
    }
}

fn on_pod(shared: &Shared, pod: Pod, name: &str) {
    let pod = Arc::new(pod);
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    if bound(&pod) {
        shared.queue.delete(&uid);
        let freed = !crate::cache::is_active(&pod);
        shared.cache().upsert_bound_pod(pod);
        if freed {
            shared.queue.move_all_unschedulable();
        }
    } else if pending_and_ours(&pod, name) {
        let assumed = shared.cache().is_assumed(&uid);
        // An assumed pod shows up unbound until the watch reaches its binding: it is not
        // scheduled again (upstream skips assumed pods the same way).
        if !assumed {
            shared.queue.add_or_update(pod);
        }
    } else {
        shared.queue.delete(&uid);
    }
}

/// Feeds node events into the cache; a new or changed node may let waiting pods fit.
async fn watch_nodes(client: kube::Client, shared: Arc<Shared>, synced: watch::Sender<bool>) {
    let api: Api<Node> = Api::all(client);
    let mut stream = Box::pin(watcher::watcher(api, watcher::Config::default()).default_backoff());
    let mut relist = Relist::default();
    while let Some(event) = stream.next().await {
        if let Some(listed) = relist.follow(&event, |node: &Node| node.metadata.name.as_ref()) {
            shared.cache().retain_listed_nodes(&listed);
            tracing::debug!(nodes = listed.len(), "nodes listed");
            synced.send_replace(true);
        }
        match event {
            Ok(WatchEvent::Apply(node) | WatchEvent::InitApply(node)) => {
                shared.cache().upsert_node(Arc::new(node));
                shared.queue.move_all_unschedulable();
            }
            Ok(WatchEvent::Delete(node)) => {
                let name = node.metadata.name.unwrap_or_default();
                shared.cache().remove_node(&name);
            }
            Ok(WatchEvent::Init | WatchEvent::InitDone) => {}
            Err(err) => tracing::warn!(%err, "node watch"),
        }
    }
}

fn now_time() -> k8s_openapi::jiff::Timestamp {
    rkube_api::time::now()
}

/// Records an event about a pod (core/v1, so `kubectl describe` shows it).
async fn record_event(client: &kube::Client, pod: &Pod, kind: &str, reason: &str, message: &str) {
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let name = pod.metadata.name.clone().unwrap_or_default();
    let now = now_time();
    let event = Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}.")),
            namespace: Some(ns.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("Pod".to_owned()),
            name: Some(name),
            namespace: Some(ns.clone()),
            uid: pod.metadata.uid.clone(),
            resource_version: pod.metadata.resource_version.clone(),
            ..ObjectReference::default()
        },
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        type_: Some(kind.to_owned()),
        source: Some(EventSource {
            component: Some(DEFAULT_SCHEDULER_NAME.to_owned()),
            host: None,
        }),
        reporting_component: Some(DEFAULT_SCHEDULER_NAME.to_owned()),
        reporting_instance: Some(DEFAULT_SCHEDULER_NAME.to_owned()),
        action: Some(
            if reason == "Scheduled" {
                "Binding"
            } else {
                "Scheduling"
            }
            .to_owned(),
        ),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        count: Some(1),
        ..Event::default()
    };
    let api: Api<Event> = Api::namespaced(client.clone(), &ns);
    if let Err(err) = create_unread(client, api.resource_url(), &event).await {
        tracing::debug!(%err, "recording an event");
    }
}

/// POSTs `object` to the collection at `url`, checking the answer's status but not decoding
/// its body: the scheduler never reads back the events and bindings it writes, and decoding
/// them was a tenth of its CPU on a backlog.
async fn create_unread<T: serde::Serialize>(
    client: &kube::Client,
    url: &str,
    object: &T,
) -> kube::Result<()> {
    let body = serde_json::to_vec(object).map_err(kube::Error::SerdeError)?;
    let request = kube::core::Request::new(url)
        .create(&PostParams::default(), body)
        .map_err(kube::Error::BuildRequest)?;
    client.request_text(request).await.map(drop)
}

/// Sets `PodScheduled=False, reason Unschedulable` with the message.
async fn mark_unschedulable(client: &kube::Client, pod: &Pod, message: &str) {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let now = Time(now_time());
    let patch = serde_json::json!({"status": {"conditions": [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": message, "lastProbeTime": null, "lastTransitionTime": now,
    }]}});
    if let Err(err) = api
        .patch_status(&name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
    {
        tracing::debug!(%err, pod = %name, "setting PodScheduled=False");
    }
}

/// Nominates `node` for the pod and evicts the victims (graceful deletion), as upstream's
/// DefaultPreemption does.
async fn preempt(
    client: &kube::Client,
    pod: &Pod,
    node: &str,
    victims: &[Arc<crate::framework::PodInfo>],
) {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let nominate = serde_json::json!({"status": {"nominatedNodeName": node}});
    if let Err(err) = pods
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(nominate))
        .await
    {
        tracing::debug!(%err, pod = %name, "nominating a node");
    }
    for victim in victims {
        let v = &victim.pod;
        let vns = v.metadata.namespace.clone().unwrap_or_default();
        let vname = v.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(client.clone(), &vns);
        let condition = serde_json::json!({"status": {"conditions": [{
            "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
            "message": format!("{DEFAULT_SCHEDULER_NAME}: preempting to accommodate a higher priority pod"),
            "lastTransitionTime": Time(now_time()),
        }]}});
        let _ = api
            .patch_status(
                &vname,
                &PatchParams::default(),
                &Patch::Strategic(condition),
            )
            .await;
        match api.delete(&vname, &Default::default()).await {
            Ok(_) => {
                let message = format!(
                    "Preempted by pod {}",
                    pod.metadata.uid.as_deref().unwrap_or_default()
                );
                record_event(client, v, "Normal", "Preempted", &message).await;
            }
            Err(err) => tracing::info!(%err, victim = %vname, "evicting a preemption victim"),
        }
    }
}

/// Writes the binding of an assumed pod; on failure the pod is forgotten and retried.
async fn bind(client: kube::Client, shared: Arc<Shared>, pod: Arc<Pod>, node: String) {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            uid: Some(uid.clone()),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            kind: Some("Node".to_owned()),
            name: Some(node.clone()),
            api_version: Some("v1".to_owned()),
            ..ObjectReference::default()
        },
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let url = format!("{}/{name}/binding", api.resource_url());
    let request = create_unread(&client, &url, &binding).await;
    match request {
        Ok(_) => {
            // The pod stays assumed until the watch shows it bound.
            shared.queue.done(&uid);
            let message = format!("Successfully assigned {ns}/{name} to {node}");
            record_event(&client, &pod, "Normal", "Scheduled", &message).await;
        }
        Err(err) => {
            tracing::info!(pod = %format!("{ns}/{name}"), %node, %err, "binding failed; retrying");
            shared.cache().forget(&uid);
            match err {
                // Gone, or bound by someone else: nothing to retry.
                kube::Error::Api(s) if s.code == 404 || s.code == 409 => shared.queue.done(&uid),
                _ => shared.queue.backoff(&uid),
            }
        }
    }
}

/// Runs the scheduler with `client` until `shutdown` turns true (or `leading` turns false for
/// good: the caller decides; the loop only schedules while `leading` is true).
pub async fn run(
    client: kube::Client,
    options: Options,
    mut leading: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut watches = Vec::new();
    // Both discoveries at once: each is a round trip before its watches can start.
    let (mut owner_watches, mut budget_watches) = (Vec::new(), Vec::new());
    let (owners, budgets) = tokio::join!(
        crate::listers::Owners::spawn(&client, &mut owner_watches),
        crate::listers::DisruptionBudgets::spawn(&client, &mut budget_watches),
    );
    watches.extend(owner_watches);
    watches.extend(budget_watches);
    tracing::debug!("owner and budget watches started");
    let shared = Arc::new(Shared {
        queue: SchedulingQueue::new(),
        cache: Arc::new(Mutex::new(Cache::new())),
        owners: Some(owners),
        disruption_budgets: Some(budgets),
    });
    let (namespaces_synced, mut namespaces_listed) = watch::channel(false);
    watches.push(crate::listers::watch_namespaces(
        &client,
        shared.clone(),
        namespaces_synced,
    ));
    let (pods_synced, mut pods_listed) = watch::channel(false);
    let (nodes_synced, mut nodes_listed) = watch::channel(false);
    let pods = tokio::spawn(watch_pods(
        client.clone(),
        shared.clone(),
        options.scheduler_name.clone(),
        pods_synced,
    ));
    let nodes = tokio::spawn(watch_nodes(client.clone(), shared.clone(), nodes_synced));
    let in_flight = Arc::new(Semaphore::new(MAX_BINDINGS_IN_FLIGHT));
    let mut algorithm = Algorithm::new(
        options.profile.clone(),
        options.percentage_of_nodes_to_score,
    );
    // As upstream waits for its informers to sync: a pod scheduled against a half-listed
    // node cache would be placed among a few nodes, or found unschedulable.
    let listers_ready = async {
        let _ = nodes_listed.wait_for(|listed| *listed).await;
        let _ = pods_listed.wait_for(|listed| *listed).await;
        let _ = namespaces_listed.wait_for(|listed| *listed).await;
        if let Some(owners) = &shared.owners {
            owners.ready().await;
        }
        if let Some(budgets) = &shared.disruption_budgets {
            budgets.ready().await;
        }
    };
    tokio::select! {
        _ = listers_ready => {}
        _ = rkube_leader::changed(&mut shutdown) => {}
    }
    if !*shutdown.borrow() {
        tracing::info!(scheduler = %options.scheduler_name, "scheduler started");
    }
    loop {
        while !*leading.borrow_and_update() && !*shutdown.borrow() {
            tokio::select! {
                _ = rkube_leader::changed(&mut leading) => {}
                _ = rkube_leader::changed(&mut shutdown) => {}
            }
        }
        if *shutdown.borrow() {
            break;
        }
        let next = tokio::select! {
            next = shared.queue.pop() => next,
            _ = rkube_leader::changed(&mut shutdown) => continue,
            _ = rkube_leader::changed(&mut leading) => continue,
        };
        let Some(queued) = next else { break };
        let generation_before = shared.cache().generation();
        let (decision, _) = cycle(&mut algorithm, &shared, &queued);
        // A cycle is CPU work between awaits; without a yield the loop ran cycle after cycle
        // while the scheduler's own watches waited, and at 2,500 nodes its cache fell tens
        // of seconds behind its own bindings.
        tokio::task::yield_now().await;
        match decision {
            Decision::Bind(node) => {
                let Ok(permit) = in_flight.clone().acquire_owned().await else {
                    break;
                };
                let (client, shared, pod) = (client.clone(), shared.clone(), queued.pod.clone());
                tokio::spawn(async move {
                    bind(client, shared, pod, node).await;
                    drop(permit);
                });
            }
            Decision::Unschedulable(message) => {
                let changed = shared.cache().generation() != generation_before;
                shared.queue.unschedulable(queued.uid(), changed);
                let (client, pod) = (client.clone(), queued.pod.clone());
                tokio::spawn(async move {
                    mark_unschedulable(&client, &pod, &message).await;
                    record_event(&client, &pod, "Warning", "FailedScheduling", &message).await;
                });
            }
            Decision::Preempt {
                node,
                victims,
                message,
            } => {
                // The pod waits (as unschedulable) until the victims are gone; their deletion
                // events move it back to the active queue.
                shared.queue.unschedulable(queued.uid(), false);
                let (client, pod) = (client.clone(), queued.pod.clone());
                tokio::spawn(async move {
                    preempt(&client, &pod, &node, &victims).await;
                    mark_unschedulable(&client, &pod, &message).await;
                    record_event(&client, &pod, "Warning", "FailedScheduling", &message).await;
                });
            }
            Decision::Error(message) => {
                tracing::warn!(pod = %queued.uid(), %message, "scheduling failed");
                shared.queue.backoff(queued.uid());
            }
        }
    }
    shared.queue.close();
    pods.abort();
    nodes.abort();
    watches.iter().for_each(JoinHandle::abort);
}

/// Starts the scheduler in the background: with leader election through the Lease
/// `kube-system/kube-scheduler` when `leader_elect`, else leading from the start.
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
        "kube-scheduler",
        identity,
        leader_elect,
        shutdown.clone(),
    );
    tokio::spawn(run(client, options, leading, shutdown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Node {
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap()
    }

    #[test]
    fn a_relist_reports_what_it_listed_once_complete() {
        let mut relist = Relist::default();
        fn key(node: &Node) -> Option<&String> {
            node.metadata.name.as_ref()
        }
        let mut follow = |event: WatchEvent<Node>| relist.follow(&Ok(event), key);
        assert_eq!(follow(WatchEvent::Init), None);
        assert_eq!(
            follow(WatchEvent::InitApply(named("gone-with-the-first"))),
            None
        );
        // A relist that starts over forgets what the interrupted one showed.
        assert_eq!(follow(WatchEvent::Init), None);
        assert_eq!(follow(WatchEvent::InitApply(named("a"))), None);
        assert_eq!(follow(WatchEvent::Apply(named("b"))), None);
        assert_eq!(follow(WatchEvent::InitApply(named("c"))), None);
        let listed = follow(WatchEvent::InitDone).expect("a complete relist");
        assert_eq!(listed, ["a".to_owned(), "c".to_owned()].into());
        assert_eq!(follow(WatchEvent::InitDone), Some(HashSet::new()));
    }
}
