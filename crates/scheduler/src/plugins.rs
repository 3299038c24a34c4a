//! Upstream's in-tree scheduling plugins (the ones that do not need volumes, DRA or API
//! access), with upstream's names and reason strings, and a registry by name.

use std::sync::Arc;

use crate::framework::{FilterPlugin, PreFilterPlugin, PreScorePlugin, ScorePlugin};

pub mod balanced_allocation;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod taint_toleration;

#[cfg(test)]
pub(crate) mod testutil;

/// Upstream plugin names.
pub mod names {
    /// NodeResourcesFit.
    pub const NODE_RESOURCES_FIT: &str = "NodeResourcesFit";
    /// NodeResourcesBalancedAllocation.
    pub const NODE_RESOURCES_BALANCED_ALLOCATION: &str = "NodeResourcesBalancedAllocation";
    /// NodeName.
    pub const NODE_NAME: &str = "NodeName";
    /// NodeUnschedulable.
    pub const NODE_UNSCHEDULABLE: &str = "NodeUnschedulable";
    /// TaintToleration.
    pub const TAINT_TOLERATION: &str = "TaintToleration";
    /// NodeAffinity.
    pub const NODE_AFFINITY: &str = "NodeAffinity";
    /// NodePorts.
    pub const NODE_PORTS: &str = "NodePorts";
    /// InterPodAffinity.
    pub const INTER_POD_AFFINITY: &str = "InterPodAffinity";
    /// PodTopologySpread.
    pub const POD_TOPOLOGY_SPREAD: &str = "PodTopologySpread";
    /// ImageLocality.
    pub const IMAGE_LOCALITY: &str = "ImageLocality";
}

/// Upstream plugin names that are accepted in configurations but do nothing here (queue
/// sort, gates, volumes, DRA, preemption and binding are handled elsewhere or not at all).
pub const NOOP_PLUGINS: &[&str] = &[
    "SchedulingGates",
    "PrioritySort",
    "VolumeRestrictions",
    "NodeVolumeLimits",
    "EBSLimits",
    "GCEPDLimits",
    "AzureDiskLimits",
    "CinderLimits",
    "VolumeBinding",
    "VolumeZone",
    "DynamicResources",
    "DefaultPreemption",
    "DefaultBinder",
];

/// One plugin instance seen through each extension point it implements.
#[derive(Clone)]
pub struct PluginEntry {
    /// The plugin name.
    pub name: &'static str,
    /// Its PreFilter side, if any.
    pub pre_filter: Option<Arc<dyn PreFilterPlugin>>,
    /// Its Filter side, if any.
    pub filter: Option<Arc<dyn FilterPlugin>>,
    /// Its PreScore side, if any.
    pub pre_score: Option<Arc<dyn PreScorePlugin>>,
    /// Its Score side, if any.
    pub score: Option<Arc<dyn ScorePlugin>>,
}

impl PluginEntry {
    fn named(name: &'static str) -> PluginEntry {
        PluginEntry {
            name,
            pre_filter: None,
            filter: None,
            pre_score: None,
            score: None,
        }
    }

    /// Whether the plugin does nothing here (see [`NOOP_PLUGINS`]).
    pub fn is_noop(&self) -> bool {
        self.pre_filter.is_none()
            && self.filter.is_none()
            && self.pre_score.is_none()
            && self.score.is_none()
    }
}

/// A new instance of the named plugin, or `None` for an unknown name.
pub fn new_plugin(name: &str) -> Option<PluginEntry> {
    use names::*;
    let entry = match name {
        NODE_RESOURCES_FIT => {
            let p = Arc::new(node_resources_fit::NodeResourcesFit::default());
            PluginEntry {
                name: NODE_RESOURCES_FIT,
                pre_filter: Some(p.clone()),
                filter: Some(p.clone()),
                pre_score: Some(p.clone()),
                score: Some(p),
            }
        }
        NODE_RESOURCES_BALANCED_ALLOCATION => {
            let p = Arc::new(balanced_allocation::BalancedAllocation::default());
            PluginEntry {
                pre_score: Some(p.clone()),
                score: Some(p),
                ..PluginEntry::named(NODE_RESOURCES_BALANCED_ALLOCATION)
            }
        }
        NODE_NAME => PluginEntry {
            filter: Some(Arc::new(node_name::NodeName)),
            ..PluginEntry::named(NODE_NAME)
        },
        NODE_UNSCHEDULABLE => PluginEntry {
            filter: Some(Arc::new(node_unschedulable::NodeUnschedulable)),
            ..PluginEntry::named(NODE_UNSCHEDULABLE)
        },
        TAINT_TOLERATION => {
            let p = Arc::new(taint_toleration::TaintToleration);
            PluginEntry {
                filter: Some(p.clone()),
                pre_score: Some(p.clone()),
                score: Some(p),
                ..PluginEntry::named(TAINT_TOLERATION)
            }
        }
        NODE_AFFINITY => {
            let p = Arc::new(node_affinity::NodeAffinity);
            PluginEntry {
                name: NODE_AFFINITY,
                pre_filter: Some(p.clone()),
                filter: Some(p.clone()),
                pre_score: Some(p.clone()),
                score: Some(p),
            }
        }
        NODE_PORTS => {
            let p = Arc::new(node_ports::NodePorts);
            PluginEntry {
                pre_filter: Some(p.clone()),
                filter: Some(p),
                ..PluginEntry::named(NODE_PORTS)
            }
        }
        INTER_POD_AFFINITY => {
            let p = Arc::new(inter_pod_affinity::InterPodAffinity::default());
            PluginEntry {
                name: INTER_POD_AFFINITY,
                pre_filter: Some(p.clone()),
                filter: Some(p.clone()),
                pre_score: Some(p.clone()),
                score: Some(p),
            }
        }
        POD_TOPOLOGY_SPREAD => {
            let p = Arc::new(pod_topology_spread::PodTopologySpread);
            PluginEntry {
                name: POD_TOPOLOGY_SPREAD,
                pre_filter: Some(p.clone()),
                filter: Some(p.clone()),
                pre_score: Some(p.clone()),
                score: Some(p),
            }
        }
        IMAGE_LOCALITY => PluginEntry {
            score: Some(Arc::new(image_locality::ImageLocality)),
            ..PluginEntry::named(IMAGE_LOCALITY)
        },
        other => PluginEntry::named(NOOP_PLUGINS.iter().find(|n| **n == other)?),
    };
    Some(entry)
}
