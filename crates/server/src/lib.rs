//! The composition root of `rkube server`: opens the datastore, makes or
//! loads the PKI, starts the registry, API server and listener in order,
//! writes the admin kubeconfig, and shuts down cleanly.

mod bootstrap;
mod component;
pub mod pki;
mod serve;

use anyhow::{Context, Result};
use rkube_apiserver::ApiServer;
use rkube_apiserver::audit::AuditLog;
use rkube_apiserver::auth::TokenFile;
use rkube_apiserver::tokens::ServiceAccountTokens;
use rkube_registry::Storage;
use rkube_registry::alloc::Allocator;
use rkube_store::etcd::{EtcdConfig, EtcdStore};
use rkube_store::sqlite::{SqliteOptions, SqliteStore};
use rkube_store::{Compactor, DEFAULT_COMPACTION_INTERVAL, Store};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

pub use pki::Pki;
pub use rkube_apiserver::tokens::DEFAULT_ISSUER as DEFAULT_SERVICE_ACCOUNT_ISSUER;

/// Where the cluster's objects are kept.
#[derive(Clone, Debug)]
pub enum Datastore {
    /// The embedded SQLite store in `<data-dir>/db`.
    Embedded,
    /// An etcd cluster.
    Etcd(EtcdConfig),
}

/// Everything `rkube server` is configured with.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The data directory: database, certificates, kubeconfig.
    pub data_dir: PathBuf,
    /// The address to listen on.
    pub bind_address: IpAddr,
    /// The HTTPS port (0: any free port).
    pub https_port: u16,
    /// The datastore.
    pub datastore: Datastore,
    /// Where to write the admin kubeconfig (default `<data-dir>/admin.kubeconfig`).
    pub write_kubeconfig: Option<PathBuf>,
    /// kube-apiserver-style static token file.
    pub token_auth_file: Option<PathBuf>,
    /// Where to append the audit log.
    pub audit_log_path: Option<PathBuf>,
    /// The `iss` of service account tokens.
    pub service_account_issuer: String,
    /// The audiences the API accepts tokens for (the issuer when empty).
    pub api_audiences: Vec<String>,
    /// The Services' cluster IP range.
    pub service_cidr: String,
    /// Events each resource's watch cache keeps for watches that resume, at least.
    pub watch_cache_size: usize,
    /// Younger events are kept beyond `watch_cache_size` (up to upstream's largest cache).
    pub watch_cache_fresh: std::time::Duration,
    /// Extra names and addresses for the serving certificate.
    pub tls_san: Vec<String>,
    /// Run the scheduler inside the server (with leader election).
    pub scheduler: bool,
    /// Run the controllers inside the server (with leader election).
    pub controllers: bool,
    /// How the controllers run (which ones, the cluster CIDR, …).
    pub controller_options: rkube_controllers::Options,
}

impl ServerConfig {
    /// The defaults for a data directory: all addresses, port 6443, the
    /// embedded store, service CIDR 10.43.0.0/16.
    pub fn new(data_dir: PathBuf) -> Self {
        ServerConfig {
            data_dir,
            bind_address: IpAddr::from([0, 0, 0, 0]),
            https_port: 6443,
            datastore: Datastore::Embedded,
            write_kubeconfig: None,
            token_auth_file: None,
            audit_log_path: None,
            service_account_issuer: DEFAULT_SERVICE_ACCOUNT_ISSUER.to_owned(),
            api_audiences: Vec::new(),
            service_cidr: "10.43.0.0/16".to_owned(),
            watch_cache_size: rkube_registry::cache::DEFAULT_WATCH_CACHE_SIZE,
            watch_cache_fresh: rkube_registry::cache::EVENT_FRESH,
            tls_san: Vec::new(),
            scheduler: true,
            controllers: true,
            controller_options: rkube_controllers::Options::default(),
        }
    }
}

/// A started server.
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The API, for in-process clients.
    pub api: Arc<ApiServer>,
    /// The certificates.
    pub pki: Pki,
    /// The admin kubeconfig it wrote.
    pub kubeconfig: PathBuf,
    shutdown: watch::Sender<bool>,
    serving: tokio::task::JoinHandle<()>,
    scheduler: Option<tokio::task::JoinHandle<()>>,
    controllers: Option<tokio::task::JoinHandle<()>>,
    crd_controller: tokio::task::JoinHandle<()>,
    _compactor: Compactor,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// A client of `api` for an in-process component: requests go through the router itself (no
/// socket, no TLS), as the loopback user, with the component's user agent. Its dispatch task
/// runs on the runtime current when it is built.
fn in_process_client(api: Arc<ApiServer>, agent: &'static str) -> kube::Client {
    kube::Client::new(
        rkube_apiserver::in_process(api, rkube_apiserver::loopback_user(), Some(agent)),
        "default",
    )
}

/// This machine's host name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

fn host_names(config: &ServerConfig, service_ip: IpAddr) -> Vec<String> {
    let mut hosts = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "kubernetes".to_owned(),
        "kubernetes.default".to_owned(),
        "kubernetes.default.svc".to_owned(),
        "kubernetes.default.svc.cluster.local".to_owned(),
        service_ip.to_string(),
    ];
    hosts.push(hostname());
    if !config.bind_address.is_unspecified() {
        hosts.push(config.bind_address.to_string());
    }
    hosts.extend(pki::node_addresses().iter().map(ToString::to_string));
    hosts.extend(config.tls_san.iter().cloned());
    hosts.sort();
    hosts.dedup();
    hosts
}

/// Starts the server; it is ready (serving) when this returns.
pub async fn start(config: ServerConfig) -> Result<RunningServer> {
    let started = Instant::now();
    let _ = rustls::crypto::ring::default_provider().install_default();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let store: Arc<dyn Store> = match &config.datastore {
        Datastore::Embedded => Arc::new(SqliteStore::open(
            &config.data_dir.join("db"),
            SqliteOptions::default(),
        )?),
        Datastore::Etcd(etcd) => Arc::new(EtcdStore::connect(etcd.clone()).await?),
    };
    let allocator = Allocator::new(&config.service_cidr)
        .with_context(|| format!("--service-cidr {} is not an IPv4 CIDR", config.service_cidr))?;
    let service_ip = IpAddr::V4(allocator.first_ip());
    let pki = Pki::ensure(
        &config.data_dir.join("tls"),
        &host_names(&config, service_ip),
    )?;
    let window = rkube_registry::cache::Window {
        fresh: config.watch_cache_fresh,
        ..rkube_registry::cache::Window::sized(config.watch_cache_size)
    };
    let storage = Storage::start(store.clone(), allocator, window).await?;
    // Never compact what the watch caches' feed has not read yet: under a write burst it can
    // fall behind by more than the interval, and a compacted feed would stall every watch.
    let fed = storage.clone();
    let compactor = Compactor::spawn(
        store,
        DEFAULT_COMPACTION_INTERVAL,
        Some(Box::new(move || fed.cache_revision())),
    );
    rkube_apiserver::crd::serve_stored(&storage).await?;
    let crd_controller = rkube_apiserver::crd::spawn(storage.clone());
    let tokens = match &config.token_auth_file {
        Some(path) => TokenFile::load(path)?,
        None => TokenFile::default(),
    };
    let audit = match &config.audit_log_path {
        Some(path) => Some(AuditLog::open(path).await?),
        None => None,
    };
    let service_accounts = ServiceAccountTokens::new(
        &pki.service_account_key_der()?,
        &config.service_account_issuer,
        config.api_audiences.clone(),
    )?;
    let api = ApiServer::new(storage, tokens, Some(service_accounts), audit);
    let listener = tokio::net::TcpListener::bind((config.bind_address, config.https_port))
        .await
        .with_context(|| format!("listening on {}:{}", config.bind_address, config.https_port))?;
    let addr = listener.local_addr()?;
    let advertise = if config.bind_address.is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        config.bind_address.to_string()
    };
    bootstrap::run(api.storage(), addr.port(), &advertise).await?;
    let kubeconfig = config
        .write_kubeconfig
        .clone()
        .unwrap_or_else(|| config.data_dir.join("admin.kubeconfig"));
    let server_url = format!(
        "https://{}:{}",
        if config.bind_address.is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            config.bind_address.to_string()
        },
        addr.port()
    );
    pki::write_kubeconfig(&kubeconfig, &server_url, &pki)?;
    let tls = serve::tls_config(&pki.serving.cert, &pki.serving.key, &pki.ca.cert)?;
    let (shutdown, stop) = watch::channel(false);
    let identity = format!("{}_{}", hostname(), addr.port());
    // The scheduler runs on a thread of its own.
    let scheduler = if config.scheduler {
        let (api, identity, stop) = (api.clone(), identity.clone(), stop.clone());
        Some(component::on_own_thread("scheduler", move || {
            // Built on the scheduler's thread: the client's dispatch task runs there.
            rkube_scheduler::spawn(
                in_process_client(api, rkube_api::agent::SCHEDULER),
                rkube_scheduler::Options::default(),
                true,
                &identity,
                stop,
            )
        })?)
    } else {
        None
    };
    let mut controller_options = config.controller_options.clone();
    if controller_options.root_ca_pem.is_none() {
        // Published in every namespace as kube-root-ca.crt.
        controller_options.root_ca_pem = Some(
            std::fs::read_to_string(&pki.ca.cert)
                .with_context(|| format!("reading {}", pki.ca.cert.display()))?,
        );
    }
    let controllers = config.controllers.then(|| {
        rkube_controllers::spawn(
            in_process_client(api.clone(), rkube_api::agent::CONTROLLER_MANAGER),
            controller_options,
            true,
            &identity,
            stop.clone(),
        )
    });
    let serving = tokio::spawn(serve::serve(listener, tls, api.router(), stop));
    tracing::info!(
        address = %addr,
        kubeconfig = %kubeconfig.display(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "rkube server is ready"
    );
    Ok(RunningServer {
        addr,
        api,
        pki,
        kubeconfig,
        shutdown,
        serving,
        scheduler,
        controllers,
        crd_controller,
        _compactor: compactor,
    })
}

impl RunningServer {
    /// Stops accepting connections and closes the datastore.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        self.crd_controller.abort();
        let _ = self.serving.await;
        for task in [self.scheduler, self.controllers].into_iter().flatten() {
            let _ = task.await;
        }
        tracing::info!("rkube server stopped");
    }
}
