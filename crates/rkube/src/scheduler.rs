//! `rkube scheduler`: the scheduler on its own, for any Kubernetes API server reachable through
//! a kubeconfig (upstream's included).

use anyhow::Context;
use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig};
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
        let _ = rustls::crypto::ring::default_provider().install_default();
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
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)
            .with_context(|| format!("reading {}", self.kubeconfig.display()))?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        let client = kube::Client::try_from(config)?;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let identity = format!("{}_{}", host.trim(), std::process::id());
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let scheduler =
            rkube_scheduler::spawn(client, options, self.leader_elect, &identity, shutdown);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        }
        let _ = stop.send(true);
        let _ = scheduler.await;
        Ok(())
    }
}
