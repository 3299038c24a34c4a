//! What the controllers' integration tests share: an in-process server on 127.0.0.1 with a
//! client, optionally with simulated nodes, and polling until a condition holds. Each test
//! file uses a part of it.
#![allow(dead_code)]

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use rkube_server::{RunningServer, ServerConfig};
use std::future::Future;
use std::time::Duration;
use tempfile::TempDir;

/// A running server and an admin client for it.
pub struct Server {
    /// The server.
    pub server: RunningServer,
    /// An admin client (client certificate from the kubeconfig).
    pub client: kube::Client,
    /// The data directory's parent, removed when dropped.
    pub dir: TempDir,
}

/// Starts a server on a free 127.0.0.1 port in a fresh directory; `configure` adjusts its
/// configuration first.
pub async fn server(configure: impl FnOnce(&mut ServerConfig)) -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(dir.path().join("data"));
    config.bind_address = [127, 0, 0, 1].into();
    config.https_port = 0;
    configure(&mut config);
    let server = rkube_server::start(config).await.unwrap();
    let kubeconfig = Kubeconfig::read_from(&server.kubeconfig).unwrap();
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap(),
    )
    .unwrap();
    Server {
        server,
        client,
        dir,
    }
}

/// Simulated nodes named `<prefix>NNNN` with fast heartbeats and pod transitions.
pub fn sim_config(nodes: u32, prefix: &str) -> rkube_sim::SimConfig {
    rkube_sim::SimConfig {
        nodes,
        name_prefix: prefix.to_owned(),
        lease_renew_interval: Duration::from_secs(1),
        node_status_interval: Duration::from_secs(1),
        pod_start_delay: Duration::from_millis(100),
        max_termination_delay: Duration::from_millis(100),
        ..Default::default()
    }
}

/// A server running every controller, with simulated nodes running its pods.
pub struct SimCluster {
    /// The server.
    pub server: RunningServer,
    /// An admin client.
    pub client: kube::Client,
    /// The simulated nodes (`sims[0]` from the start; tests may add more).
    pub sims: Vec<rkube_sim::Sim>,
    _dir: TempDir,
}

/// Starts a server with every controller (after `configure`) and `nodes` simulated nodes.
pub async fn sim_cluster(nodes: u32, configure: impl FnOnce(&mut ServerConfig)) -> SimCluster {
    let Server {
        server,
        client,
        dir,
    } = server(|config| {
        config.controller_options.controllers = vec!["*".to_owned()];
        configure(config);
    })
    .await;
    let sim = rkube_sim::start(client.clone(), sim_config(nodes, "sim-"))
        .await
        .unwrap();
    SimCluster {
        server,
        client,
        sims: vec![sim],
        _dir: dir,
    }
}

impl SimCluster {
    /// Stops the simulated nodes, then the server.
    pub async fn stop(mut self) {
        for sim in self.sims.drain(..) {
            sim.shutdown().await.unwrap();
        }
        self.server.shutdown().await;
    }
}

/// Creates the object `v` describes through `api`.
pub async fn create<K>(api: &Api<K>, v: serde_json::Value) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(v).unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap()
}

/// Polls `check` every 100 ms until it returns `Some`, or panics naming `what` after the
/// test file's `WAIT`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let polls = crate::WAIT.as_millis() / 100;
    for _ in 0..polls {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Merges JSON `b` into `a` (objects key by key, anything else replaced).
pub fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

/// Running, Ready and not being deleted.
pub fn running_ready(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    status.and_then(|s| s.phase.as_deref()) == Some("Running")
        && status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        && pod.metadata.deletion_timestamp.is_none()
}

/// The default namespace's pods labelled `app=<app>`.
pub async fn pods_of(client: &kube::Client, app: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::default_namespaced(client.clone());
    api.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
}
