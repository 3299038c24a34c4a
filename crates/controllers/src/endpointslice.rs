//! The EndpointSlice controller ("endpointslice"): the pods a Service with a selector selects,
//! published as discovery.k8s.io/v1 EndpointSlices owned by the Service, one address type per
//! IP family it serves, with upstream's ready/serving/terminating conditions, the pod's node
//! and zone, grouped by the ports they resolve to, at most `--max-endpoints-per-slice` per
//! slice. Existing slices are reused: endpoints stay where they are, new ones fill slices with
//! room before new slices are made, emptied slices are reused or deleted, and only slices that
//! change are written. Services without a selector get nothing (no mirroring).

use crate::endpoints::members::{
    self, IpFamily, PortKey, service_families, should_be_in_endpoints,
};
use crate::informer::{Informer, key_of, split_key};
use crate::pods::{self, controller_ref};
use crate::queue::WorkQueue;
use crate::{Context, Controller, Reconciler};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, PostParams};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The label naming a slice's Service.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The label naming who manages a slice.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's value of [`LABEL_MANAGED_BY`].
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// The node label an endpoint's zone comes from.
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";

/// How long a write may take to show up in the informer before it is no longer waited for.
const EXPECTATION_TIMEOUT: Duration = Duration::from_secs(30);

/// The EndpointSlice controller's state.
pub struct EndpointSliceController {
    client: kube::Client,
    services: Informer<Service>,
    pods: Informer<Pod>,
    nodes: Informer<Node>,
    slices: Informer<EndpointSlice>,
    max_per_slice: usize,
    tracker: Tracker,
}

/// The EndpointSlice controller, its informer callbacks registered; keys are Service keys.
pub fn controller(ctx: &Context) -> Controller {
    let services = ctx.informers.get::<Service>();
    let pods = ctx.informers.get::<Pod>();
    let nodes = ctx.informers.get::<Node>();
    let slices = ctx.informers.get::<EndpointSlice>();
    let queue = WorkQueue::new();
    {
        let queue = queue.clone();
        services.on_change(move |change| queue.add(key_of(change.object().as_ref())));
    }
    {
        let (queue, services) = (queue.clone(), services.clone());
        pods.on_change(move |change| members::enqueue_services(&queue, &services, change));
    }
    {
        let queue = queue.clone();
        slices.on_change(move |change| {
            if let Some(key) = service_key(change.object()) {
                queue.add(key);
            }
        });
    }
    Controller {
        name: "endpointslice",
        queue,
        workers: ctx.options.workers,
        resync: None,
        tasks: Vec::new(),
        reconciler: Arc::new(EndpointSliceController {
            client: ctx.client.clone(),
            services,
            pods,
            nodes,
            slices,
            max_per_slice: ctx.options.max_endpoints_per_slice,
            tracker: Tracker::default(),
        }),
    }
}

fn label<'a>(slice: &'a EndpointSlice, key: &str) -> Option<&'a str> {
    slice.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

/// The key of the Service a slice this controller manages belongs to.
pub fn service_key(slice: &EndpointSlice) -> Option<String> {
    if label(slice, LABEL_MANAGED_BY) != Some(CONTROLLER_NAME) {
        return None;
    }
    let service = label(slice, LABEL_SERVICE_NAME)?;
    let ns = slice.metadata.namespace.as_deref().unwrap_or("default");
    Some(format!("{ns}/{service}"))
}

/// Upstream's conditions of a pod's endpoint: serving when the pod is ready, terminating when
/// it is being deleted, ready when serving and not terminating — or always, with
/// `publishNotReadyAddresses`.
pub fn conditions(svc: &Service, pod: &Pod) -> EndpointConditions {
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let serving = pods::is_ready(pod);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    EndpointConditions {
        ready: Some(publish || (serving && !terminating)),
        serving: Some(serving),
        terminating: Some(terminating),
    }
}

/// The endpoint of a pod for one IP family, if the pod has an IP of it.
pub fn endpoint(
    svc: &Service,
    pod: &Pod,
    family: IpFamily,
    node: Option<&Node>,
) -> Option<Endpoint> {
    let ip = members::pod_ip(pod, family)?;
    let zone = node
        .and_then(|n| n.metadata.labels.as_ref()?.get(LABEL_ZONE).cloned())
        .filter(|z| !z.is_empty());
    Some(Endpoint {
        addresses: vec![ip],
        conditions: Some(conditions(svc, pod)),
        hostname: members::hostname(pod, svc),
        node_name: members::node_name(pod),
        target_ref: Some(members::target_ref(pod)),
        zone,
        deprecated_topology: None,
        hints: None,
    })
}

/// One group of desired endpoints: the ports they serve (in the Service's order) and them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    /// The resolved ports.
    pub ports: Vec<PortKey>,
    /// The endpoints, in pod order.
    pub endpoints: Vec<Endpoint>,
}

/// Desired endpoints by their sorted port set.
pub type Desired = BTreeMap<Vec<PortKey>, Group>;

/// What a Service publishes for one IP family: the pods that should be in endpoints (those
/// being deleted included, with their conditions saying so), grouped by resolved ports. Pods
/// whose node is unknown are left out (unless `publishNotReadyAddresses`) and counted.
pub fn desired(
    svc: &Service,
    pods: &[Arc<Pod>],
    family: IpFamily,
    node: impl Fn(&str) -> Option<Arc<Node>>,
) -> (Desired, usize) {
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let mut out = Desired::new();
    let mut unknown_node = 0;
    for pod in pods {
        if !should_be_in_endpoints(pod, true) {
            continue;
        }
        let node = members::node_name(pod).and_then(|n| node(&n));
        if node.is_none() && !publish {
            unknown_node += 1;
            continue;
        }
        let Some(ep) = endpoint(svc, pod, family, node.as_deref()) else {
            continue;
        };
        let ports = members::resolved_ports(svc, pod);
        let mut key = ports.clone();
        key.sort();
        out.entry(key)
            .or_insert_with(|| Group {
                ports,
                endpoints: Vec::new(),
            })
            .endpoints
            .push(ep);
    }
    (out, unknown_node)
}

/// What every slice of a Service for one address type carries.
#[derive(Clone, Debug)]
pub struct SliceTemplate {
    namespace: String,
    service: String,
    address_type: String,
    labels: BTreeMap<String, String>,
    owner: OwnerReference,
}

impl SliceTemplate {
    /// The template of the Service's slices for `family`: the Service's labels plus the
    /// service-name, managed-by and (without a cluster IP) headless labels, and a controller
    /// reference to the Service.
    pub fn new(svc: &Service, family: IpFamily) -> SliceTemplate {
        let service = svc.metadata.name.clone().unwrap_or_default();
        let mut labels = svc.metadata.labels.clone().unwrap_or_default();
        labels.insert(LABEL_SERVICE_NAME.to_owned(), service.clone());
        labels.insert(LABEL_MANAGED_BY.to_owned(), CONTROLLER_NAME.to_owned());
        if members::is_headless(svc) {
            labels.insert(crate::endpoints::HEADLESS.to_owned(), String::new());
        } else {
            labels.remove(crate::endpoints::HEADLESS);
        }
        SliceTemplate {
            namespace: svc
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_owned()),
            service,
            address_type: family.name().to_owned(),
            labels,
            owner: controller_ref("v1", "Service", &svc.metadata),
        }
    }

    fn stamp(&self, slice: &mut EndpointSlice) {
        slice.metadata.labels = Some(self.labels.clone());
        slice.metadata.owner_references = Some(vec![self.owner.clone()]);
    }

    fn new_slice(&self, ports: &[PortKey], endpoints: Vec<Endpoint>) -> EndpointSlice {
        let mut slice = EndpointSlice {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}-", self.service)),
                namespace: Some(self.namespace.clone()),
                ..ObjectMeta::default()
            },
            address_type: self.address_type.clone(),
            endpoints,
            ports: slice_ports(ports),
        };
        self.stamp(&mut slice);
        slice
    }
}

fn slice_ports(ports: &[PortKey]) -> Option<Vec<EndpointPort>> {
    (!ports.is_empty()).then(|| ports.iter().map(PortKey::to_slice).collect())
}

fn endpoint_id(ep: &Endpoint) -> (String, String) {
    let uid = ep
        .target_ref
        .as_ref()
        .and_then(|r| r.uid.clone())
        .unwrap_or_default();
    (uid, ep.addresses.first().cloned().unwrap_or_default())
}

/// The writes that make one address type's slices hold the desired endpoints.
#[derive(Debug, Default)]
pub struct Plan {
    /// Slices to create (named by the API server).
    pub create: Vec<EndpointSlice>,
    /// Slices to replace.
    pub update: Vec<EndpointSlice>,
    /// Slices to delete.
    pub delete: Vec<EndpointSlice>,
}

/// Plans one address type's slices: endpoints already in a slice of the right ports stay
/// there (updated), endpoints no longer wanted are dropped, new endpoints fill slices with
/// room (those changing anyway first), then slices no longer needed are reused for the rest
/// before new ones are made; leftovers are deleted. With nothing to publish one empty
/// placeholder slice remains, as upstream keeps.
pub fn plan(
    template: &SliceTemplate,
    desired: Desired,
    existing: Vec<EndpointSlice>,
    max: usize,
) -> Plan {
    let max = max.max(1);
    let mut plan = Plan::default();
    if desired.is_empty() {
        let mut existing = existing.into_iter();
        match existing.next() {
            Some(first) => {
                let mut placeholder = first.clone();
                placeholder.endpoints = Vec::new();
                placeholder.ports = None;
                template.stamp(&mut placeholder);
                if placeholder != first {
                    plan.update.push(placeholder);
                }
            }
            None => plan.create.push(template.new_slice(&[], Vec::new())),
        }
        plan.delete.extend(existing);
        return plan;
    }
    // Per port set: the ports in the Service's order and the endpoints not yet placed.
    type Pending = BTreeMap<Vec<PortKey>, (Vec<PortKey>, Vec<Option<Endpoint>>)>;
    let mut pending = Pending::new();
    let mut index: HashMap<(Vec<PortKey>, (String, String)), usize> = HashMap::new();
    for (key, group) in desired {
        for (i, ep) in group.endpoints.iter().enumerate() {
            index.insert((key.clone(), endpoint_id(ep)), i);
        }
        pending.insert(
            key,
            (group.ports, group.endpoints.into_iter().map(Some).collect()),
        );
    }
    let mut kept: Vec<(Vec<PortKey>, EndpointSlice, EndpointSlice)> = Vec::new();
    let mut spare: Vec<EndpointSlice> = Vec::new();
    for slice in existing {
        let mut key: Vec<PortKey> = slice
            .ports
            .iter()
            .flatten()
            .map(PortKey::of_slice_port)
            .collect();
        key.sort();
        let Some((ports, wanted)) = pending.get_mut(&key) else {
            spare.push(slice);
            continue;
        };
        let mut endpoints = Vec::new();
        for ep in &slice.endpoints {
            if endpoints.len() >= max {
                break;
            }
            if let Some(&i) = index.get(&(key.clone(), endpoint_id(ep)))
                && let Some(want) = wanted[i].take()
            {
                endpoints.push(want);
            }
        }
        if endpoints.is_empty() {
            spare.push(slice);
            continue;
        }
        let mut updated = slice.clone();
        updated.endpoints = endpoints;
        updated.ports = slice_ports(ports);
        kept.push((key, updated, slice));
    }
    for (key, (ports, wanted)) in pending {
        let mut left: VecDeque<Endpoint> = wanted.into_iter().flatten().collect();
        let mut room: Vec<usize> = (0..kept.len()).filter(|&i| kept[i].0 == key).collect();
        // Slices that are written anyway take new endpoints first.
        room.sort_by_key(|&i| kept[i].1.endpoints == kept[i].2.endpoints);
        for i in room {
            while kept[i].1.endpoints.len() < max
                && let Some(ep) = left.pop_front()
            {
                kept[i].1.endpoints.push(ep);
            }
        }
        while !left.is_empty() {
            let chunk: Vec<Endpoint> = left.drain(..left.len().min(max)).collect();
            match spare.pop() {
                Some(mut reused) => {
                    reused.ports = slice_ports(&ports);
                    reused.endpoints = chunk;
                    template.stamp(&mut reused);
                    plan.update.push(reused);
                }
                None => plan.create.push(template.new_slice(&ports, chunk)),
            }
        }
    }
    for (_, mut updated, original) in kept {
        template.stamp(&mut updated);
        if updated != original {
            plan.update.push(updated);
        }
    }
    plan.delete = spare;
    plan
}

fn owned_by(slice: &EndpointSlice, uid: Option<&str>) -> bool {
    slice
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && Some(r.uid.as_str()) == uid)
}

/// Remembers this controller's writes until the informer shows them, so that a sync never
/// works from a cache that misses its own slices (and, say, creates them twice).
#[derive(Default)]
struct Tracker {
    expected: Mutex<HashMap<String, Writes>>,
}

/// A Service's slice writes not yet seen: by slice name, the resourceVersion written (`None`
/// for a deletion) and when.
type Writes = HashMap<String, (Option<String>, Instant)>;

fn resource_version_reached(cached: Option<&str>, written: &str) -> bool {
    match (cached.map(str::parse::<u64>), written.parse::<u64>()) {
        (Some(Ok(cached)), Ok(written)) => cached >= written,
        _ => cached == Some(written),
    }
}

impl Tracker {
    /// Records a write of slice `name` of `service`: `Some(resourceVersion)`, or `None` for a
    /// deletion.
    fn expect(&self, service: &str, name: &str, version: Option<String>) {
        let mut expected = self.expected.lock().unwrap_or_else(PoisonError::into_inner);
        expected
            .entry(service.to_owned())
            .or_default()
            .insert(name.to_owned(), (version, Instant::now()));
    }

    fn forget(&self, service: &str) {
        let mut expected = self.expected.lock().unwrap_or_else(PoisonError::into_inner);
        expected.remove(service);
    }

    /// Whether the cache still misses some of the Service's writes (forgetting those it has
    /// and those that waited too long).
    fn stale(&self, service: &str, cached: impl Fn(&str) -> Option<Arc<EndpointSlice>>) -> bool {
        let mut expected = self.expected.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(writes) = expected.get_mut(service) else {
            return false;
        };
        writes.retain(|name, (version, at)| {
            let seen = cached(name);
            let met = match version {
                None => seen.is_none(),
                Some(v) => seen.is_some_and(|s| {
                    resource_version_reached(s.metadata.resource_version.as_deref(), v)
                }),
            };
            !met && at.elapsed() < EXPECTATION_TIMEOUT
        });
        let stale = !writes.is_empty();
        if !stale {
            expected.remove(service);
        }
        stale
    }
}

fn is_status(err: &kube::Error, code: u16) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == code)
}

impl EndpointSliceController {
    async fn apply(&self, key: &str, ns: &str, plan: Plan) -> Result<(), crate::Error> {
        let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), ns);
        let params = PostParams::default();
        for slice in &plan.create {
            match api.create(&params, slice).await {
                Ok(made) => self.tracker.expect(
                    key,
                    made.metadata.name.as_deref().unwrap_or(""),
                    made.metadata.resource_version,
                ),
                // The namespace is being deleted: nothing more to publish there.
                Err(err) if is_status(&err, 403) => return Ok(()),
                Err(err) => return Err(err.into()),
            }
        }
        for slice in &plan.update {
            let name = slice.metadata.name.as_deref().unwrap_or("");
            let written = api.replace(name, &params, slice).await?;
            self.tracker
                .expect(key, name, written.metadata.resource_version);
        }
        for slice in &plan.delete {
            let name = slice.metadata.name.as_deref().unwrap_or("");
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => self.tracker.expect(key, name, None),
                Err(err) if is_status(&err, 404) => self.tracker.expect(key, name, None),
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Reconciler for EndpointSliceController {
    async fn sync(&self, key: &str) -> Result<Option<Duration>, crate::Error> {
        let (ns, name) = split_key(key);
        let Some(svc) = self.services.get(key) else {
            // The slices are the Service's: the garbage collector deletes them.
            self.tracker.forget(key);
            return Ok(None);
        };
        if svc.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let Some(pods) = members::selected_pods(&svc, &self.pods) else {
            return Ok(None);
        };
        if self
            .tracker
            .stale(key, |slice| self.slices.get_in(ns, slice))
        {
            // The informer's events for those writes will queue the Service again.
            return Ok(Some(Duration::from_secs(1)));
        }
        let uid = svc.metadata.uid.as_deref();
        let ours: Vec<Arc<EndpointSlice>> = self
            .slices
            .list_namespace(ns)
            .into_iter()
            .filter(|s| service_key(s).as_deref() == Some(key))
            .collect();
        let families = service_families(&svc);
        let mut all = Plan::default();
        let mut unknown_node = 0;
        for family in &families {
            let existing = ours
                .iter()
                .filter(|s| s.address_type == family.name() && owned_by(s, uid))
                .map(|s| (**s).clone())
                .collect();
            let (want, missing) = desired(&svc, &pods, *family, |n| self.nodes.get(n));
            unknown_node = missing;
            let plan = plan(
                &SliceTemplate::new(&svc, *family),
                want,
                existing,
                self.max_per_slice,
            );
            all.create.extend(plan.create);
            all.update.extend(plan.update);
            all.delete.extend(plan.delete);
        }
        // Slices of address types the Service no longer serves, or of an earlier Service of
        // the same name.
        all.delete.extend(
            ours.iter()
                .filter(|s| {
                    !owned_by(s, uid) || !families.iter().any(|f| f.name() == s.address_type)
                })
                .map(|s| (**s).clone()),
        );
        self.apply(key, ns, all).await?;
        if unknown_node > 0 {
            return Err(crate::Error::Invalid(format!(
                "{unknown_node} pods of service {ns}/{name} are on nodes not (yet) known"
            )));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
