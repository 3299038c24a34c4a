//! `rkube server`: the control plane: datastore, API server, scheduler and controllers.

use crate::controller_manager::ControllerFlags;
use crate::datastore::DatastoreArgs;
use crate::process::Signals;
use clap::Args;
use rkube_server::{Datastore, ServerConfig};
use std::net::IpAddr;
use std::path::PathBuf;

/// Flags of `rkube server` (k3s's names where k3s has one).
#[derive(Debug, Args)]
pub struct ServerArgs {
    #[command(flatten)]
    datastore: DatastoreArgs,
    /// The address to serve the API on.
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: IpAddr,
    /// The HTTPS port of the API.
    #[arg(long, default_value_t = 6443)]
    https_listen_port: u16,
    /// Where to write the admin kubeconfig (default <data-dir>/admin.kubeconfig).
    #[arg(long, short = 'o')]
    write_kubeconfig: Option<PathBuf>,
    /// A static token file (token,user,uid,"group1,group2" per line).
    #[arg(long)]
    token_auth_file: Option<PathBuf>,
    /// Append an audit log (JSON lines) of every request here.
    #[arg(long)]
    audit_log_path: Option<PathBuf>,
    /// The issuer (`iss`) of service account tokens.
    #[arg(long, default_value = rkube_server::DEFAULT_SERVICE_ACCOUNT_ISSUER)]
    service_account_issuer: String,
    /// Audiences the API accepts tokens for (default: the issuer).
    #[arg(long, value_delimiter = ',')]
    api_audiences: Vec<String>,
    /// The Services' cluster IP range.
    #[arg(long, default_value = "10.43.0.0/16")]
    service_cidr: String,
    /// Events each resource's watch cache keeps at least, so watches that fall behind or
    /// reconnect resume without relisting; those of the last 75 s are kept beyond it, up to
    /// 102,400.
    #[arg(long, default_value_t = 16_384)]
    default_watch_cache_size: usize,
    /// Extra host names or addresses for the serving certificate.
    #[arg(long)]
    tls_san: Vec<String>,
    /// Do not run the scheduler in this server.
    #[arg(long)]
    disable_scheduler: bool,
    /// Do not run the controllers in this server.
    #[arg(long)]
    disable_controllers: bool,
    #[command(flatten)]
    controllers: ControllerFlags,
}

impl ServerArgs {
    /// Runs the server until SIGTERM or SIGINT.
    pub async fn run(self) -> anyhow::Result<()> {
        let mut config = ServerConfig::new(self.datastore.data_dir());
        config.bind_address = self.bind_address;
        config.https_port = self.https_listen_port;
        config.datastore = match self.datastore.etcd() {
            Some(etcd) => Datastore::Etcd(etcd),
            None => Datastore::Embedded,
        };
        config.write_kubeconfig = self.write_kubeconfig;
        config.token_auth_file = self.token_auth_file;
        config.audit_log_path = self.audit_log_path;
        config.service_cidr = self.service_cidr;
        config.service_account_issuer = self.service_account_issuer;
        config.api_audiences = self.api_audiences;
        config.tls_san = self.tls_san;
        config.watch_cache_size = self.default_watch_cache_size;
        config.scheduler = !self.disable_scheduler;
        config.controllers = !self.disable_controllers;
        config.controller_options = self.controllers.options()?;
        let mut signals = Signals::listen()?;
        let server = rkube_server::start(config).await?;
        signals.recv().await;
        server.shutdown().await;
        Ok(())
    }
}
