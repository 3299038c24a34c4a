//! `rkube scheduler`: the scheduler on its own, for any Kubernetes API server reachable through
//! a kubeconfig (upstream's included).

use crate::process::{self, Signals};
use anyhow::Context;
use clap::Args;
use rkube_scheduler::Options;
use rkube_scheduler::config::KubeSchedulerConfiguration;
use std::path::PathBuf;

/// Flags of `rkube scheduler` (kube-scheduler's names).
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// The kubeconfig to reach the API server with.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// A KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1, YAML or JSON).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Elect a leader through the Lease kube-system/kube-scheduler before scheduling.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
}

impl SchedulerArgs {
    /// Runs the scheduler until SIGTERM or SIGINT.
    pub async fn run(self) -> anyhow::Result<()> {
        let options = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let config = KubeSchedulerConfiguration::parse(&text)
                    .with_context(|| format!("{}", path.display()))?;
                Options::from_profile(
                    config
                        .build_first_profile()
                        .with_context(|| format!("{}", path.display()))?,
                )
            }
            None => Options::default(),
        };
        let client = process::client(
            &self.kubeconfig,
            rkube_api::agent::SCHEDULER,
            process::Protocol::Http2,
        )
        .await?;
        let mut signals = Signals::listen()?;
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let scheduler = rkube_scheduler::spawn(
            client,
            options,
            self.leader_elect,
            &process::identity(),
            shutdown,
        );
        signals.recv().await;
        let _ = stop.send(true);
        let _ = scheduler.await;
        Ok(())
    }
}
