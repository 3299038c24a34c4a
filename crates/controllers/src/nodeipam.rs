//! Node IPAM: every node gets its own pod range (`spec.podCIDR`, `spec.podCIDRs`) carved from
//! the cluster CIDR, released when the node is deleted, never handed out twice.

use crate::events::EventType;
use crate::informer::{Change, Informer};
use crate::queue::WorkQueue;
use crate::{Context, Controller, Reconciler};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Node pod ranges of one size carved from one IPv4 network.
#[derive(Debug)]
pub struct CidrSet {
    base: u32,
    cluster_prefix: u8,
    node_prefix: u8,
    used: Vec<bool>,
    next: usize,
}

impl CidrSet {
    /// Ranges of `/node_prefix` inside `cidr` (e.g. `10.42.0.0/16` and 24).
    pub fn new(cidr: &str, node_prefix: u8) -> Result<CidrSet, String> {
        let (addr, prefix) = cidr
            .split_once('/')
            .ok_or_else(|| format!("{cidr}: not a CIDR"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{cidr}: not an IPv4 CIDR"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| format!("{cidr}: bad prefix length"))?;
        if prefix > 32 || node_prefix > 32 || node_prefix < prefix || node_prefix - prefix > 20 {
            return Err(format!(
                "node prefix /{node_prefix} does not fit cluster CIDR {cidr}"
            ));
        }
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        Ok(CidrSet {
            base: u32::from(addr) & mask,
            cluster_prefix: prefix,
            node_prefix,
            used: vec![false; 1 << (node_prefix - prefix)],
            next: 0,
        })
    }

    fn render(&self, index: usize) -> String {
        let addr = self.base + ((index as u32) << (32 - u32::from(self.node_prefix)));
        format!("{}/{}", Ipv4Addr::from(addr), self.node_prefix)
    }

    fn index_of(&self, cidr: &str) -> Option<usize> {
        let (addr, prefix) = cidr.split_once('/')?;
        let addr = u32::from(addr.parse::<Ipv4Addr>().ok()?);
        if prefix.parse::<u8>().ok()? != self.node_prefix {
            return None;
        }
        let offset = addr.checked_sub(self.base)?;
        let index = (offset >> (32 - u32::from(self.node_prefix))) as usize;
        let inside = self.cluster_prefix == 0
            || (addr >> (32 - u32::from(self.cluster_prefix)))
                == (self.base >> (32 - u32::from(self.cluster_prefix)));
        (inside && index < self.used.len()).then_some(index)
    }

    /// Takes the next free range.
    pub fn allocate(&mut self) -> Option<String> {
        let n = self.used.len();
        let index = (0..n)
            .map(|i| (self.next + i) % n)
            .find(|i| !self.used[*i])?;
        self.used[index] = true;
        self.next = (index + 1) % n;
        Some(self.render(index))
    }

    /// Marks a range as in use (a node that already has it); false if outside this set.
    pub fn occupy(&mut self, cidr: &str) -> bool {
        match self.index_of(cidr) {
            Some(i) => {
                self.used[i] = true;
                true
            }
            None => false,
        }
    }

    /// Returns a range to the pool.
    pub fn release(&mut self, cidr: &str) {
        if let Some(i) = self.index_of(cidr) {
            self.used[i] = false;
        }
    }
}

fn pod_cidr(node: &Node) -> Option<&str> {
    node.spec
        .as_ref()
        .and_then(|s| s.pod_cidr.as_deref())
        .filter(|c| !c.is_empty())
}

/// The node IPAM controller's state.
pub struct NodeIpam {
    client: kube::Client,
    nodes: Informer<Node>,
    cidrs: Arc<Mutex<CidrSet>>,
    events: crate::events::Recorder,
}

/// The node IPAM controller, its informer callbacks registered.
pub fn controller(ctx: &Context) -> Controller {
    let nodes = ctx.informers.get::<Node>();
    let queue = WorkQueue::new();
    let cidrs = match CidrSet::new(&ctx.options.cluster_cidr, ctx.options.node_cidr_mask_size) {
        Ok(set) => set,
        Err(err) => {
            tracing::error!(%err, "node IPAM: invalid --cluster-cidr; no ranges to hand out");
            CidrSet::new("0.0.0.0/32", 32).unwrap_or_else(|_| unreachable!("a /32 of /32 fits"))
        }
    };
    let cidrs = Arc::new(Mutex::new(cidrs));
    {
        let (queue, cidrs) = (queue.clone(), cidrs.clone());
        nodes.on_change(move |change| {
            let lock = || cidrs.lock().unwrap_or_else(PoisonError::into_inner);
            match change {
                Change::Added(node) | Change::Updated { new: node, .. } => match pod_cidr(node) {
                    Some(cidr) => {
                        lock().occupy(cidr);
                    }
                    None => queue.add(node.metadata.name.clone().unwrap_or_default()),
                },
                Change::Deleted(node) => {
                    if let Some(cidr) = pod_cidr(node) {
                        lock().release(cidr);
                    }
                }
            }
        });
    }
    Controller {
        name: "nodeipam",
        queue,
        // One worker: allocation order stays simple and each patch is small.
        workers: 1,
        resync: None,
        tasks: Vec::new(),
        reconciler: Arc::new(NodeIpam {
            client: ctx.client.clone(),
            nodes,
            cidrs,
            events: ctx.events.for_component("cidrAllocator"),
        }),
    }
}

#[async_trait::async_trait]
impl Reconciler for NodeIpam {
    async fn sync(&self, key: &str) -> Result<Option<Duration>, crate::Error> {
        let Some(node) = self.nodes.get(key) else {
            return Ok(None);
        };
        if pod_cidr(&node).is_some() {
            return Ok(None);
        }
        let allocated = self
            .cidrs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .allocate();
        let Some(cidr) = allocated else {
            self.events.record(
                node.as_ref(),
                EventType::Normal,
                "CIDRNotAvailable",
                format!("Node {key} status is now: CIDRNotAvailable"),
            );
            return Ok(Some(Duration::from_secs(30)));
        };
        let api: Api<Node> = Api::all(self.client.clone());
        // Guarded by the resourceVersion seen: a range set meanwhile (by another allocator or
        // the node itself) is never overwritten.
        let patch = json!({
            "metadata": {"resourceVersion": node.metadata.resource_version},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        });
        match api
            .patch(key, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => {
                tracing::debug!(node = key, %cidr, "pod CIDR assigned");
                Ok(None)
            }
            Err(err) => {
                self.cidrs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .release(&cidr);
                // Gone, or its range was set meanwhile (422): nothing more to do.
                if matches!(&err, kube::Error::Api(s) if s.code == 404 || s.code == 422) {
                    return Ok(None);
                }
                Err(err.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_unique_and_reused_after_release() {
        let mut set = CidrSet::new("10.42.0.0/16", 24).unwrap();
        assert!(set.occupy("10.42.0.0/24"));
        assert_eq!(set.allocate().as_deref(), Some("10.42.1.0/24"));
        assert_eq!(set.allocate().as_deref(), Some("10.42.2.0/24"));
        assert!(!set.occupy("10.43.0.0/24"));
        assert!(!set.occupy("10.42.0.0/25"));
        set.release("10.42.1.0/24");
        // Round robin: released ranges come back only after the rest.
        assert_eq!(set.allocate().as_deref(), Some("10.42.3.0/24"));
        let mut small = CidrSet::new("10.0.0.0/30", 31).unwrap();
        assert_eq!(small.allocate().as_deref(), Some("10.0.0.0/31"));
        assert_eq!(small.allocate().as_deref(), Some("10.0.0.2/31"));
        assert_eq!(small.allocate(), None);
        assert!(CidrSet::new("10.42.0.0/16", 8).is_err());
    }
}
