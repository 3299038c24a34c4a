//! Start-up: every node registered (or adopted) with bounded concurrency, its status and
//! Lease written, and its pod range found (from the node IPAM controller, or assigned).

use crate::SimError;
use crate::cidr::Ipv4Cidr;
use crate::config::{Names, SimConfig};
use crate::node::{self, LEASE_NAMESPACE, NodeState, TYPE_LABEL};
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio_stream::StreamExt;

/// Runs `f` over `items` with at most `limit` at once; the first error ends the run.
pub async fn bounded<T, R, F, Fut>(
    items: impl IntoIterator<Item = T>,
    limit: usize,
    mut f: F,
) -> Result<Vec<R>, SimError>
where
    F: FnMut(T) -> Fut,
    Fut: Future<Output = Result<R, SimError>> + Send + 'static,
    R: Send + 'static,
{
    fn joined<R>(
        result: Option<Result<Result<R, SimError>, tokio::task::JoinError>>,
    ) -> Result<Option<R>, SimError> {
        match result {
            None => Ok(None),
            Some(Ok(r)) => r.map(Some),
            Some(Err(err)) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Some(Err(_)) => Err(SimError::Stopped),
        }
    }
    let mut set = JoinSet::new();
    let mut out = Vec::new();
    for item in items {
        while set.len() >= limit.max(1) {
            out.extend(joined(set.join_next().await)?);
        }
        set.spawn(f(item));
    }
    while let Some(r) = joined(set.join_next().await)? {
        out.push(r);
    }
    Ok(out)
}

/// Creates the Lease namespace when the cluster lacks it.
async fn ensure_lease_namespace(client: &kube::Client) -> Result<(), SimError> {
    let api: Api<Namespace> = Api::all(client.clone());
    if api
        .get_opt(LEASE_NAMESPACE)
        .await
        .map_err(SimError::Namespace)?
        .is_some()
    {
        return Ok(());
    }
    let namespace: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": LEASE_NAMESPACE},
    }))
    .unwrap_or_default();
    match api.create(&PostParams::default(), &namespace).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(err) => Err(SimError::Namespace(err)),
    }
}

/// Registers node `index` (adopting one that exists: its labels are brought up to date),
/// writes its status, and creates its Lease unless it starts failed. Returns its pod range.
async fn register_one(
    client: kube::Client,
    config: Arc<SimConfig>,
    names: Arc<Names>,
    index: u32,
    failed: bool,
) -> Result<(u32, Option<Ipv4Cidr>), SimError> {
    let name = names.name(index);
    let error = |source| SimError::Register {
        node: name.clone(),
        source,
    };
    let api: Api<Node> = Api::all(client.clone());
    let object = node::node_object(&names, &config, index);
    let created = match api.create(&PostParams::default(), &object).await {
        Ok(node) => node,
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let patch = serde_json::json!({"metadata": {
                "labels": node::labels(&names, &config, index),
            }});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(error)?
        }
        Err(err) => return Err(error(err)),
    };
    let now = rkube_api::time::now();
    let status = node::status_patch(&names, &config, index, now);
    api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&status))
        .await
        .map_err(error)?;
    if !failed {
        let uid = created.metadata.uid.as_deref();
        crate::execute::create_lease(&client, &name, uid, config.lease_duration_seconds)
            .await
            .map_err(error)?;
    }
    Ok((index, node::pod_cidr_of(&created)))
}

/// Waits (up to the configured time) for the node IPAM controller to give the nodes in
/// `missing` their pod ranges; returns those it did.
async fn wait_for_ipam(
    client: &kube::Client,
    config: &SimConfig,
    names: &Names,
    missing: &BTreeSet<u32>,
) -> Vec<(u32, Ipv4Cidr)> {
    let api: Api<Node> = Api::all(client.clone());
    let selector = format!("{}={}", TYPE_LABEL.0, TYPE_LABEL.1);
    let stream = watcher::watcher(api, watcher::Config::default().labels(&selector));
    let mut stream = Box::pin(stream.default_backoff());
    let deadline = tokio::time::Instant::now() + config.ipam_wait;
    let mut found = Vec::new();
    let mut left = missing.clone();
    while !left.is_empty() {
        let Ok(Some(event)) = tokio::time::timeout_at(deadline, stream.next()).await else {
            break;
        };
        let node = match event {
            Ok(Event::Apply(node) | Event::InitApply(node)) => node,
            Ok(_) => continue,
            Err(err) => {
                tracing::debug!(%err, "node watch while waiting for pod CIDRs");
                continue;
            }
        };
        let index = node.metadata.name.as_deref().and_then(|n| names.index(n));
        if let (Some(index), Some(cidr)) = (index, node::pod_cidr_of(&node))
            && left.remove(&index)
        {
            found.push((index, cidr));
        }
    }
    found
}

/// Gives node `index` its range from the cluster CIDR, unless it got one meanwhile (then
/// that one is returned).
async fn assign_pod_cidr(
    client: kube::Client,
    names: Arc<Names>,
    cidr: Ipv4Cidr,
    index: u32,
) -> Result<(u32, Ipv4Cidr), SimError> {
    let name = names.name(index);
    let error = |source| SimError::PodCidr {
        node: name.clone(),
        source,
    };
    let api: Api<Node> = Api::all(client);
    let patch: json_patch::Patch = serde_json::from_value(node::pod_cidr_patch(cidr))
        .unwrap_or_else(|_| json_patch::Patch(Vec::new()));
    let result = api
        .patch(&name, &PatchParams::default(), &Patch::Json::<()>(patch))
        .await;
    match result {
        Ok(node) => Ok((index, node::pod_cidr_of(&node).unwrap_or(cidr))),
        // The test failed: someone set it first.
        Err(kube::Error::Api(s)) if s.code == 422 || s.code == 409 => {
            let node = api.get(&name).await.map_err(error)?;
            Ok((index, node::pod_cidr_of(&node).unwrap_or(cidr)))
        }
        Err(err) => Err(error(err)),
    }
}

/// Registers every node and finds its pod range; returns the per-node state.
pub async fn register_all(
    client: &kube::Client,
    config: &Arc<SimConfig>,
    names: &Arc<Names>,
) -> Result<Vec<NodeState>, SimError> {
    ensure_lease_namespace(client).await?;
    let failed: BTreeSet<u32> = config
        .failed_nodes
        .iter()
        .filter_map(|n| names.index(n))
        .collect();
    let registered = bounded(0..names.count(), config.max_in_flight, |index| {
        register_one(
            client.clone(),
            config.clone(),
            names.clone(),
            index,
            failed.contains(&index),
        )
    })
    .await?;
    let now = rkube_api::time::now();
    let mut nodes: Vec<NodeState> = (0..names.count())
        .map(|index| NodeState {
            failed: failed.contains(&index),
            ready_since: Some(now),
            ..NodeState::default()
        })
        .collect();
    let mut missing = BTreeSet::new();
    for (index, cidr) in registered {
        match cidr {
            Some(cidr) => nodes[index as usize].pod_cidr = Some(cidr),
            None => {
                missing.insert(index);
            }
        }
    }
    tracing::info!(nodes = names.count(), "simulated nodes registered");
    if missing.is_empty() {
        return Ok(nodes);
    }
    if config.pod_cidr_from_ipam {
        for (index, cidr) in wait_for_ipam(client, config, names, &missing).await {
            nodes[index as usize].pod_cidr = Some(cidr);
            missing.remove(&index);
        }
        if !missing.is_empty() {
            tracing::info!(
                nodes = missing.len(),
                wait = ?config.ipam_wait,
                "no pod CIDR from a node IPAM controller; assigning them from the cluster CIDR"
            );
        }
    }
    let cluster: Ipv4Cidr = config.cluster_cidr.parse()?;
    let mask = config.node_cidr_mask_size;
    let mut ranges = Vec::new();
    for index in missing {
        let range = cluster.subnet(mask, u64::from(index)).ok_or_else(|| {
            SimError::ClusterCidrExhausted {
                cidr: config.cluster_cidr.clone(),
                mask,
                nodes: names.count(),
            }
        })?;
        ranges.push((index, range));
    }
    let assigned = bounded(ranges, config.max_in_flight, |(index, range)| {
        assign_pod_cidr(client.clone(), names.clone(), range, index)
    })
    .await?;
    for (index, cidr) in assigned {
        nodes[index as usize].pod_cidr = Some(cidr);
    }
    Ok(nodes)
}

/// Deletes every node and its Lease (on shutdown, when asked to).
pub async fn delete_all(
    client: &kube::Client,
    config: &SimConfig,
    names: &Arc<Names>,
) -> Result<(), SimError> {
    bounded(0..names.count(), config.max_in_flight, |index| {
        let (client, name) = (client.clone(), names.name(index));
        async move {
            let nodes: Api<Node> = Api::all(client.clone());
            let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
                Api::namespaced(client, LEASE_NAMESPACE);
            let params = kube::api::DeleteParams::default();
            for result in [
                nodes.delete(&name, &params).await.map(|_| ()),
                leases.delete(&name, &params).await.map(|_| ()),
            ] {
                match result {
                    Ok(()) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(source) => return Err(SimError::Delete { node: name, source }),
                }
            }
            Ok(())
        }
    })
    .await?;
    Ok(())
}
