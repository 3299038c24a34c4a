//! `rkube controller-manager`: the controllers on their own, for any Kubernetes API server
//! reachable through a kubeconfig; and the controller flags `rkube server` shares.

use crate::process::{self, Signals};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Controller flags (kube-controller-manager's names).
#[derive(Debug, Args)]
pub struct ControllerFlags {
    /// Controllers to run: `*` for the default set, `name` to add one, `-name` to leave one out.
    #[arg(long, value_delimiter = ',', default_value = "*")]
    controllers: Vec<String>,
    /// The pod network; each node gets a range of it as spec.podCIDR.
    #[arg(long, default_value = "10.42.0.0/16")]
    cluster_cidr: String,
    /// The prefix length of each node's pod range.
    #[arg(long, default_value_t = 24)]
    node_cidr_mask_size: u8,
    /// Seconds without a node heartbeat before the node is marked unhealthy.
    #[arg(long, default_value_t = 40)]
    node_monitor_grace_period: u64,
    /// Finished pods kept before the oldest are deleted.
    #[arg(long, default_value_t = 12_500)]
    terminated_pod_gc_threshold: usize,
}

impl ControllerFlags {
    /// The controller options these flags ask for.
    pub fn options(&self) -> anyhow::Result<rkube_controllers::Options> {
        let unknown = rkube_controllers::unknown(&self.controllers);
        if !unknown.is_empty() {
            anyhow::bail!(
                "--controllers: unknown controller(s) {}",
                unknown.join(", ")
            );
        }
        Ok(rkube_controllers::Options {
            controllers: self.controllers.clone(),
            cluster_cidr: self.cluster_cidr.clone(),
            node_cidr_mask_size: self.node_cidr_mask_size,
            node_monitor_grace_period: Duration::from_secs(self.node_monitor_grace_period),
            terminated_pod_gc_threshold: self.terminated_pod_gc_threshold,
            ..rkube_controllers::Options::default()
        })
    }
}

/// Flags of `rkube controller-manager`.
#[derive(Debug, Args)]
pub struct ControllerManagerArgs {
    /// The kubeconfig to reach the API server with.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Elect a leader through the Lease kube-system/kube-controller-manager before acting.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    #[command(flatten)]
    flags: ControllerFlags,
}

impl ControllerManagerArgs {
    /// Runs the controllers until SIGTERM or SIGINT.
    pub async fn run(self) -> anyhow::Result<()> {
        let options = self.flags.options()?;
        let client = process::client(
            &self.kubeconfig,
            rkube_api::agent::CONTROLLER_MANAGER,
            process::Protocol::Http1,
        )
        .await?;
        let mut signals = Signals::listen()?;
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let controllers = rkube_controllers::spawn(
            client,
            options,
            self.leader_elect,
            &process::identity(),
            shutdown,
        );
        signals.recv().await;
        let _ = stop.send(true);
        let _ = controllers.await;
        Ok(())
    }
}
