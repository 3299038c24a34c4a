//! `rkube sim`: simulated nodes (KWOK-like) against any Kubernetes API server reachable
//! through a kubeconfig. See `docs/sim.md`.

use crate::process::{self, Signals};
use clap::Args;
use rkube_sim::{ControlFile, NodeResources, SimConfig};
use std::path::PathBuf;
use std::time::Duration;

fn duration(text: &str) -> Result<Duration, String> {
    rkube_sim::parse_duration(text).map_err(|err| err.to_string())
}

/// Flags of `rkube sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// The kubeconfig to reach the API server with.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// How many nodes to simulate.
    #[arg(long, default_value_t = 1)]
    nodes: u32,
    /// Node names are this prefix and the zero-padded index (sim-0000, sim-0001, …).
    #[arg(long, default_value = "sim-")]
    name_prefix: String,
    /// CPU of each node (capacity and allocatable).
    #[arg(long, default_value = "32")]
    cpu: String,
    /// Memory of each node.
    #[arg(long, default_value = "256Gi")]
    memory: String,
    /// Pods each node takes.
    #[arg(long, default_value_t = 110)]
    pods: u32,
    /// Ephemeral storage of each node (not reported when unset).
    #[arg(long)]
    ephemeral_storage: Option<String>,
    /// Spread the nodes round-robin over this many zones (zone-0, zone-1, …).
    #[arg(long, default_value_t = 1)]
    zones: u32,
    /// Wait for a node IPAM controller to set each node's spec.podCIDR.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pod_cidr_from_ipam: bool,
    /// How long to wait for the node IPAM controller before assigning ranges ourselves.
    #[arg(long, default_value = "10s", value_parser = duration)]
    ipam_wait: Duration,
    /// The network node pod ranges are assigned from (node i takes the i-th range).
    #[arg(long, default_value = "10.42.0.0/16")]
    cluster_cidr: String,
    /// The prefix length of each node's pod range.
    #[arg(long, default_value_t = 24)]
    node_cidr_mask_size: u8,
    /// How often each node renews its Lease.
    #[arg(long, default_value = "10s", value_parser = duration)]
    lease_renew_interval: Duration,
    /// How often each node refreshes its status.
    #[arg(long, default_value = "60s", value_parser = duration)]
    node_status_interval: Duration,
    /// How long a pod bound to a simulated node stays Pending before it runs.
    #[arg(long, default_value = "1s", value_parser = duration)]
    pod_start_delay: Duration,
    /// The longest a deleted pod stays terminating (its grace period, capped).
    #[arg(long, default_value = "1s", value_parser = duration)]
    max_termination_delay: Duration,
    /// Start this node failed: registered, then no heartbeats and frozen pods (repeatable).
    #[arg(long = "fail-node", value_name = "NAME")]
    fail_nodes: Vec<String>,
    /// A file naming nodes to fail, one per line, read every second; remove a name to
    /// recover the node.
    #[arg(long)]
    control_file: Option<PathBuf>,
    /// Delete the nodes (and their Leases) on exit instead of leaving them.
    #[arg(long)]
    delete_nodes_on_exit: bool,
    /// The most API requests in flight at once.
    #[arg(long, default_value_t = 64)]
    max_in_flight: usize,
}

impl SimArgs {
    fn config(self) -> SimConfig {
        SimConfig {
            nodes: self.nodes,
            name_prefix: self.name_prefix,
            resources: NodeResources {
                cpu: self.cpu,
                memory: self.memory,
                pods: self.pods,
                ephemeral_storage: self.ephemeral_storage,
            },
            zones: self.zones,
            cluster_cidr: self.cluster_cidr,
            node_cidr_mask_size: self.node_cidr_mask_size,
            pod_cidr_from_ipam: self.pod_cidr_from_ipam,
            ipam_wait: self.ipam_wait,
            lease_renew_interval: self.lease_renew_interval,
            node_status_interval: self.node_status_interval,
            pod_start_delay: self.pod_start_delay,
            max_termination_delay: self.max_termination_delay,
            failed_nodes: self.fail_nodes,
            delete_nodes_on_exit: self.delete_nodes_on_exit,
            max_in_flight: self.max_in_flight,
            ..SimConfig::default()
        }
    }

    /// Runs the simulated nodes until SIGTERM or SIGINT.
    pub async fn run(self) -> anyhow::Result<()> {
        let client = process::client(
            &self.kubeconfig,
            rkube_api::agent::KUBELET,
            process::Protocol::Http1,
        )
        .await?;
        let mut control = self
            .control_file
            .clone()
            .map(|path| ControlFile::new(path, &self.fail_nodes));
        let sim = rkube_sim::start(client, self.config()).await?;
        let mut signals = Signals::listen()?;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = signals.recv() => break,
                _ = tick.tick(), if control.is_some() => {
                    if let Some(control) = control.as_mut() {
                        control.poll(&sim)?;
                    }
                }
            }
        }
        sim.shutdown().await?;
        Ok(())
    }
}
