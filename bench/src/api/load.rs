//! Clients, the objects they create, timed creates and timed LISTs.

use crate::stats::Latencies;
use anyhow::Context;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;
use std::ops::Range;
use std::path::Path;
use std::time::Instant;

/// The client configuration of an admin kubeconfig (client certificates).
pub async fn config(kubeconfig: &Path) -> anyhow::Result<kube::Config> {
    let kc = Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("reading {}", kubeconfig.display()))?;
    Ok(kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?)
}

/// A new client: its own connection pool, so its own connection.
pub fn client(config: &kube::Config) -> anyhow::Result<kube::Client> {
    Ok(kube::Client::try_from(config.clone())?)
}

/// Creates a namespace.
pub async fn namespace(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

/// Waits (up to 10 s) until the controller manager has published `kube-root-ca.crt` in the
/// namespace: it is one more ConfigMap that a LIST there returns, as in any Kubernetes.
pub async fn root_ca_published(client: &kube::Client, namespace: &str) -> anyhow::Result<()> {
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    for _ in 0..100 {
        if configmaps.get_opt("kube-root-ca.crt").await?.is_some() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("kube-root-ca.crt was not published in namespace {namespace} within 10 s")
}

/// ConfigMap number `i`: `cm-<i>`, one small data key.
pub fn configmap(i: usize) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": format!("cm-{i}")},
        "data": {"key": format!("value-{i}")},
    }))
    .expect("a valid ConfigMap")
}

/// Pod number `i`: `pod-<i>`, the minimal valid spec of one container.
pub fn pod(i: usize) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": format!("pod-{i}")},
        "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]},
    }))
    .expect("a valid Pod")
}

/// Creates objects `make(i)` for every `i` in `range` in namespace `ns`
/// from `clients` concurrent clients (client `c` takes every `clients`-th
/// number from `range.start + c`), one create at a time each. Returns
/// creates per second over the whole run and every create's latency.
pub async fn creates<K>(
    config: &kube::Config,
    ns: &str,
    clients: usize,
    range: Range<usize>,
    make: fn(usize) -> K,
) -> anyhow::Result<(f64, Latencies)>
where
    K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + DeserializeOwned
        + Serialize
        + Send
        + Sync
        + 'static,
{
    let mut apis = Vec::new();
    for _ in 0..clients {
        apis.push(Api::<K>::namespaced(client(config)?, ns));
    }
    let count = range.len();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (c, api) in apis.into_iter().enumerate() {
        let range = range.clone();
        tasks.spawn(async move {
            let mut lat = Latencies::default();
            for i in (range.start + c..range.end).step_by(clients) {
                let object = make(i);
                let t = Instant::now();
                api.create(&PostParams::default(), &object)
                    .await
                    .with_context(|| format!("creating object {i}"))?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        });
    }
    let mut all = Latencies::default();
    for result in tasks.join_all().await {
        all.extend(result?);
    }
    Ok((count as f64 / start.elapsed().as_secs_f64(), all))
}

/// Times `rounds` LISTs of `path` as JSON, one at a time, each until its
/// whole body has arrived (not decoded into typed objects). The first is
/// checked to hold `expected` items and no continue token. Returns the
/// latencies and the size of the body.
pub async fn lists(
    client: &kube::Client,
    path: &str,
    expected: usize,
    rounds: usize,
) -> anyhow::Result<(Latencies, usize)> {
    let request = || {
        http::Request::get(path)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
    };
    let body = client.request_text(request()?).await?;
    let size = body.len();
    let list: serde_json::Value = serde_json::from_str(&body)?;
    let items = list["items"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(
        items == expected,
        "LIST {path} returned {items} items, expected {expected}"
    );
    anyhow::ensure!(
        list["metadata"]["continue"]
            .as_str()
            .unwrap_or("")
            .is_empty(),
        "LIST {path} without a limit returned a continue token"
    );
    let mut lat = Latencies::default();
    for _ in 0..rounds {
        let t = Instant::now();
        let body = client.request_text(request()?).await?;
        lat.push(t.elapsed());
        std::hint::black_box(body);
    }
    Ok((lat, size))
}
