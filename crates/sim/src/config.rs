//! What the simulator runs: [`SimConfig`] and its parts, the node naming scheme and a small
//! duration parser for flags and annotations.

use crate::SimError;
use crate::cidr::{self, Ipv4Cidr};
use std::time::Duration;

/// What each simulated node offers (capacity and allocatable alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeResources {
    /// CPU, as a quantity (`"32"`, `"7500m"`).
    pub cpu: String,
    /// Memory, as a quantity (`"256Gi"`).
    pub memory: String,
    /// How many pods the node takes.
    pub pods: u32,
    /// Ephemeral storage, as a quantity; not reported when `None`.
    pub ephemeral_storage: Option<String>,
}

impl Default for NodeResources {
    fn default() -> Self {
        NodeResources {
            cpu: "32".to_owned(),
            memory: "256Gi".to_owned(),
            pods: 110,
            ephemeral_storage: None,
        }
    }
}

/// How a simulator runs: the nodes it registers and how they behave.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// How many nodes.
    pub nodes: u32,
    /// Node names are this prefix and the zero-padded index (`sim-0000`).
    pub name_prefix: String,
    /// What each node offers.
    pub resources: NodeResources,
    /// Nodes are spread round-robin over `zone-0` … `zone-{zones-1}`.
    pub zones: u32,
    /// The network per-node pod ranges are carved from when the simulator assigns them itself.
    pub cluster_cidr: String,
    /// The prefix length of each node's own pod range.
    pub node_cidr_mask_size: u8,
    /// Wait for a node IPAM controller to set `spec.podCIDR` before assigning one.
    pub pod_cidr_from_ipam: bool,
    /// How long to wait for the node IPAM controller.
    pub ipam_wait: Duration,
    /// `leaseDurationSeconds` of each node's Lease.
    pub lease_duration_seconds: i32,
    /// How often each node renews its Lease (renewals are spread over the interval).
    pub lease_renew_interval: Duration,
    /// How often each node refreshes its status (`Ready`, `lastHeartbeatTime`); spread too.
    pub node_status_interval: Duration,
    /// How long a pod bound to a simulated node stays `Pending` before it runs.
    pub pod_start_delay: Duration,
    /// The longest a deleted pod is kept terminating (its grace period, capped by this).
    pub max_termination_delay: Duration,
    /// Nodes that start failed: registered, then silent (no Lease, no status, pods frozen).
    pub failed_nodes: Vec<String>,
    /// Delete the nodes (and their Leases) on [`crate::Sim::shutdown`].
    pub delete_nodes_on_exit: bool,
    /// The most API requests in flight at once.
    pub max_in_flight: usize,
    /// The `kubeletVersion` the nodes report.
    pub kubelet_version: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 1,
            name_prefix: "sim-".to_owned(),
            resources: NodeResources::default(),
            zones: 1,
            cluster_cidr: "10.42.0.0/16".to_owned(),
            node_cidr_mask_size: 24,
            pod_cidr_from_ipam: true,
            ipam_wait: Duration::from_secs(10),
            lease_duration_seconds: 40,
            lease_renew_interval: Duration::from_secs(10),
            node_status_interval: Duration::from_secs(60),
            pod_start_delay: Duration::from_secs(1),
            max_termination_delay: Duration::from_secs(1),
            failed_nodes: Vec::new(),
            delete_nodes_on_exit: false,
            max_in_flight: 64,
            kubelet_version: "v1.33.0-rkube-sim".to_owned(),
        }
    }
}

impl SimConfig {
    /// Checks the configuration and resolves what the simulator derives from it.
    pub(crate) fn validate(&self) -> Result<Names, SimError> {
        let invalid =
            |field: &'static str, reason: String| SimError::InvalidConfig { field, reason };
        if self.nodes == 0 || self.nodes > cidr::MAX_NODES {
            return Err(invalid(
                "nodes",
                format!("must be between 1 and {}", cidr::MAX_NODES),
            ));
        }
        if self.zones == 0 {
            return Err(invalid("zones", "must be at least 1".to_owned()));
        }
        if self.max_in_flight == 0 {
            return Err(invalid("max_in_flight", "must be at least 1".to_owned()));
        }
        if self.lease_renew_interval.is_zero() || self.node_status_interval.is_zero() {
            return Err(invalid(
                "lease_renew_interval",
                "intervals must be above zero".to_owned(),
            ));
        }
        let cluster: Ipv4Cidr = self.cluster_cidr.parse()?;
        if self.node_cidr_mask_size < cluster.prefix() || self.node_cidr_mask_size > 30 {
            return Err(invalid(
                "node_cidr_mask_size",
                format!(
                    "must be between the cluster CIDR's prefix ({}) and 30",
                    cluster.prefix()
                ),
            ));
        }
        // Without IPAM every node takes its range from the cluster CIDR; check up front.
        if !self.pod_cidr_from_ipam
            && cluster.subnet_count(self.node_cidr_mask_size) < u64::from(self.nodes)
        {
            return Err(SimError::ClusterCidrExhausted {
                cidr: self.cluster_cidr.clone(),
                mask: self.node_cidr_mask_size,
                nodes: self.nodes,
            });
        }
        let names = Names::new(&self.name_prefix, self.nodes);
        for name in &self.failed_nodes {
            if names.index(name).is_none() {
                return Err(SimError::UnknownNode(name.clone()));
            }
        }
        Ok(names)
    }
}

/// The node naming scheme: prefix plus the index zero-padded to at least four digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    prefix: String,
    width: usize,
    count: u32,
}

impl Names {
    /// Names for `count` nodes.
    pub fn new(prefix: &str, count: u32) -> Names {
        let digits = count.saturating_sub(1).max(1).ilog10() as usize + 1;
        Names {
            prefix: prefix.to_owned(),
            width: digits.max(4),
            count,
        }
    }

    /// The name of node `index`.
    pub fn name(&self, index: u32) -> String {
        format!("{}{:0width$}", self.prefix, index, width = self.width)
    }

    /// The index of the node called `name`, if it is one of ours.
    pub fn index(&self, name: &str) -> Option<u32> {
        let digits = name.strip_prefix(&self.prefix)?;
        if digits.len() != self.width || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().filter(|i| *i < self.count)
    }

    /// How many nodes there are.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Every name, in index order.
    pub fn all(&self) -> Vec<String> {
        (0..self.count).map(|i| self.name(i)).collect()
    }
}

/// Parses a duration: `"1.5"` (seconds), `"500ms"`, `"10s"`, `"2m"`, `"1h"`, or Go-style
/// combinations such as `"1m30s"`.
pub fn parse_duration(text: &str) -> Result<Duration, SimError> {
    let bad = || SimError::InvalidDuration(text.to_owned());
    let text = text.trim();
    if text.is_empty() {
        return Err(bad());
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|_| bad());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, tail) = rest.split_at(number_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let value: f64 = number.parse().map_err(|_| bad())?;
        let scale = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += Duration::try_from_secs_f64(value * scale).map_err(|_| bad())?;
        rest = tail;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_zero_padded_to_four_digits_or_more() {
        let names = Names::new("sim-", 10);
        assert_eq!(names.name(3), "sim-0003");
        assert_eq!(names.index("sim-0003"), Some(3));
        assert_eq!(names.index("sim-3"), None);
        assert_eq!(names.index("sim-0010"), None, "beyond the count");
        assert_eq!(names.index("other-0003"), None);
        let names = Names::new("n", 12_345);
        assert_eq!(names.name(7), "n00007");
        assert_eq!(names.all().len(), 12_345);
        assert_eq!(Names::new("n", 1).name(0), "n0000");
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        for bad in ["", "s", "10x", "-1", "1s2"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn validates_the_configuration() {
        assert!(SimConfig::default().validate().is_ok());
        let config = SimConfig {
            nodes: 300,
            pod_cidr_from_ipam: false,
            ..SimConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(SimError::ClusterCidrExhausted { .. })
        ));
        let config = SimConfig {
            failed_nodes: vec!["sim-0001".to_owned()],
            ..SimConfig::default()
        };
        assert!(matches!(config.validate(), Err(SimError::UnknownNode(_))));
        let config = SimConfig {
            cluster_cidr: "10.42.0.0".to_owned(),
            ..SimConfig::default()
        };
        assert!(matches!(config.validate(), Err(SimError::Cidr(_))));
    }
}
