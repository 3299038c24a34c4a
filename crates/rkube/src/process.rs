//! What every long-running subcommand does alike: reach an API server through a kubeconfig,
//! name itself for leader election, and run until SIGTERM or SIGINT.

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::Path;

/// A client for the API server (and user) of a kubeconfig file, sending `agent` as its
/// `User-Agent` (one of [`rkube_api::agent`]'s, which names the component's writes).
pub async fn client(kubeconfig: &Path, agent: &'static str) -> anyhow::Result<kube::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let file = Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("reading {}", kubeconfig.display()))?;
    let mut config =
        kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default()).await?;
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(agent),
    ));
    Ok(kube::Client::try_from(config)?)
}

/// This process's leader-election identity: host name and process id.
pub fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}_{}", host.trim(), std::process::id())
}

/// Watches for SIGTERM and SIGINT.
pub struct Signals(tokio::signal::unix::Signal);

impl Signals {
    /// Starts listening (before the work starts, so an early signal is not lost).
    pub fn listen() -> anyhow::Result<Signals> {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        Ok(Signals(term))
    }

    /// Waits for SIGTERM or SIGINT and logs which came.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.0.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        }
    }
}
