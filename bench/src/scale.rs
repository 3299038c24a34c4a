//! The scale scenario (Kubernetes' density test shape): `rkube server` as a child process
//! with its scheduler and controllers, N simulated nodes (rkube-sim, in this process), and
//! 30 pods per node created through Deployments (the saturation phase), then single pods
//! created at a steady rate (the latency phase, as upstream's density test runs it). Measured:
//! the time until every saturation pod is Running; pod startup latency (first seen by a watch →
//! seen Running) of both phases, the SLO applying to the latency pods; API call latency of
//! probes made during the run (a single-object GET, a single-object PATCH, a cluster-wide pod
//! LIST) against upstream's SLOs; the server's peak RSS and CPU time; the store's size.

use crate::api::{load, server};
use crate::stats::Latencies;
use anyhow::Context;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use rkube_testkit::ServerProcess;
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;

/// Options of `rkube-bench scale`.
#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    /// Simulated nodes.
    #[arg(long, default_value_t = 100)]
    nodes: u32,
    /// Pods per node (the density test runs 30).
    #[arg(long, default_value_t = 30)]
    pods_per_node: u32,
    /// Replicas of each Deployment.
    #[arg(long, default_value_t = 100)]
    replicas_per_deployment: u32,
    /// How long a simulated pod stays Pending after binding (a kubelet's start time).
    #[arg(long, default_value = "0s")]
    pod_start_delay: String,
    /// Latency pods created after the saturation phase, one single-replica Deployment each, at
    /// `--latency-qps` (upstream's density test: max(500, nodes) at 5 per second). Their
    /// startup latency is the figure the SLO applies to.
    #[arg(long)]
    latency_pods: Option<u32>,
    /// Creation rate of the latency pods' Deployments.
    #[arg(long, default_value_t = 5.0)]
    latency_qps: f64,
    /// The `rkube` binary to start; by default the one next to this one.
    #[arg(long)]
    binary: Option<PathBuf>,
}

const NAMESPACE: &str = "density";
/// The pod network, big enough for the largest scenario.
const CLUSTER_CIDR: &str = "10.64.0.0/10";

fn deployment(i: u32, replicas: u32) -> Deployment {
    let name = format!("density-{i:04}");
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name, "group": "density"}},
                         "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                                   "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}}}]}},
        },
    }))
    .unwrap_or_default()
}

/// A latency pod's Deployment: one replica, requests as upstream's density test sets them.
fn latency_deployment(i: u32) -> Deployment {
    let name = format!("latency-{i:04}");
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"group": "latency"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name, "group": "latency"}},
                         "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                                   "resources": {"requests": {"cpu": "100m", "memory": "350M"}}}]}},
        },
    }))
    .unwrap_or_default()
}

/// Watches the pods matching `selector` until `count` of them have been seen Running; returns
/// each one's startup latency (first seen by the watch → seen Running) and when the last
/// one was.
async fn startup_latencies(
    pods: Api<Pod>,
    selector: &str,
    count: usize,
) -> anyhow::Result<(Latencies, Instant)> {
    let config = watcher::Config::default().labels(selector);
    let mut stream = Box::pin(watcher::watcher(pods, config));
    let mut seen: HashMap<String, Instant> = HashMap::new();
    let mut startup = Latencies::default();
    let mut done: std::collections::HashSet<String> = Default::default();
    while done.len() < count {
        let Some(event) = stream.next().await else {
            break;
        };
        let pod = match event {
            Ok(Event::Apply(p) | Event::InitApply(p)) => p,
            _ => continue,
        };
        let name = pod.metadata.name.clone().unwrap_or_default();
        let first = *seen.entry(name.clone()).or_insert_with(Instant::now);
        if running(&pod) && pod.metadata.deletion_timestamp.is_none() && done.insert(name) {
            startup.push(first.elapsed());
        }
    }
    Ok((startup, Instant::now()))
}

/// The objects the server holds at the end, by resource, largest counts first (from its
/// `apiserver_storage_objects` metric).
async fn stored_objects(client: &kube::Client) -> anyhow::Result<String> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    let mut counts: Vec<(String, f64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("apiserver_storage_objects{resource=\""))
        .filter_map(|l| {
            let (resource, rest) = l.split_once('"')?;
            let value = rest.rsplit(' ').next()?.parse().ok()?;
            Some((resource.to_owned(), value))
        })
        .filter(|(_, n)| *n > 0.0)
        .collect();
    counts.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(counts
        .iter()
        .take(6)
        .map(|(r, n)| format!("{r} {n}"))
        .collect::<Vec<_>>()
        .join(", "))
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn running(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

/// Probe latencies, by kind of call.
#[derive(Default)]
struct Probes {
    get: Latencies,
    patch: Latencies,
    list: Latencies,
    errors: usize,
}

/// A cluster-wide LIST of pods, its body read to the end but not decoded: the SLO is the
/// server's, and decoding 150,000 pods into structs took seconds of this process's CPU,
/// which the figure then included and the simulated nodes beside it lacked.
async fn list_all_pods(client: &kube::Client) -> anyhow::Result<()> {
    use http_body_util::BodyExt;
    let request = http::Request::get("/api/v1/pods").body(kube::client::Body::empty())?;
    let response = client.send(request).await?;
    anyhow::ensure!(
        response.status().is_success(),
        "LIST pods: {}",
        response.status()
    );
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        frame?;
    }
    Ok(())
}

/// Calls the API at a steady rate until `done`: GET and PATCH every 100 ms, a cluster-wide
/// LIST of pods every 5 s.
async fn probe(client: kube::Client, node: String, done: Arc<AtomicBool>) -> Probes {
    let nodes: Api<Node> = Api::all(client.clone());
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), NAMESPACE);
    let mut probes = Probes::default();
    let mut last_list = Instant::now() - Duration::from_secs(5);
    let mut i = 0u64;
    while !done.load(Ordering::Relaxed) {
        let t = Instant::now();
        match nodes.get(&node).await {
            Ok(_) => probes.get.push(t.elapsed()),
            Err(_) => probes.errors += 1,
        }
        i += 1;
        let t = Instant::now();
        let patch = json!({"data": {"probe": i.to_string()}});
        match configmaps
            .patch("probe", &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => probes.patch.push(t.elapsed()),
            Err(_) => probes.errors += 1,
        }
        if last_list.elapsed() >= Duration::from_secs(5) {
            last_list = Instant::now();
            let t = Instant::now();
            match list_all_pods(&client).await {
                Ok(()) => probes.list.push(t.elapsed()),
                Err(_) => probes.errors += 1,
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    probes
}

/// Runs the scenario and prints its figures.
pub async fn run(args: ScaleArgs) -> anyhow::Result<()> {
    let binary = match &args.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("rkube"),
    };
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let data_for_server = data.clone();
    // A /10 of /24s: room for 16,384 nodes (the default /16 holds 256).
    let server = tokio::task::spawn_blocking(move || {
        ServerProcess::start(&binary, &data_for_server, &["--cluster-cidr", CLUSTER_CIDR])
    })
    .await?
    .context("starting rkube server")?;
    let pid = server.pid();
    let config = load::config(server.kubeconfig()).await?;
    let admin = load::client(&config)?;
    load::namespace(&admin, NAMESPACE).await?;
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "probe"}, "data": {}}))?;
    Api::<ConfigMap>::namespaced(admin.clone(), NAMESPACE)
        .create(&PostParams::default(), &cm)
        .await?;

    println!("starting {} simulated nodes…", args.nodes);
    let t = Instant::now();
    let sim = rkube_sim::start(
        load::client(&config)?,
        rkube_sim::SimConfig {
            nodes: args.nodes,
            zones: 3,
            cluster_cidr: CLUSTER_CIDR.to_owned(),
            pod_start_delay: rkube_sim::parse_duration(&args.pod_start_delay)?,
            max_in_flight: 128,
            ..Default::default()
        },
    )
    .await
    .context("starting the simulated nodes")?;
    let nodes_ready = t.elapsed();
    let first_node = sim.node_names().first().cloned().unwrap_or_default();
    let rss_nodes = server::rss_bytes(pid)?;

    let total = args.nodes * args.pods_per_node;
    let deployments = total.div_ceil(args.replicas_per_deployment);
    let watch = tokio::spawn(startup_latencies(
        Api::namespaced(load::client(&config)?, NAMESPACE),
        "group=density",
        total as usize,
    ));
    let done = Arc::new(AtomicBool::new(false));
    let prober = tokio::spawn(probe(load::client(&config)?, first_node, done.clone()));

    println!(
        "creating {deployments} Deployments of {} replicas ({total} pods, {} per node)…",
        args.replicas_per_deployment, args.pods_per_node
    );
    let cpu_before = server::cpu_seconds(pid)?;
    let started = Instant::now();
    let mut creators = Vec::new();
    for w in 0..8u32 {
        let api: Api<Deployment> = Api::namespaced(load::client(&config)?, NAMESPACE);
        let per = args.replicas_per_deployment;
        creators.push(tokio::spawn(async move {
            for i in (w..deployments).step_by(8) {
                let replicas = per.min(total - i * per);
                api.create(&PostParams::default(), &deployment(i, replicas))
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for c in creators {
        c.await??;
    }
    let (mut startup, finished) = tokio::time::timeout(Duration::from_secs(3600), watch)
        .await
        .context("every pod Running within an hour")???;
    let all_running = finished.duration_since(started);

    // The latency phase: single pods created at a steady rate on the saturated cluster.
    let latency_total = args.latency_pods.unwrap_or(args.nodes.max(500));
    println!(
        "creating {latency_total} latency pods at {} per second…",
        args.latency_qps
    );
    let latency_watch = tokio::spawn(startup_latencies(
        Api::namespaced(load::client(&config)?, NAMESPACE),
        "group=latency",
        latency_total as usize,
    ));
    let api: Api<Deployment> = Api::namespaced(load::client(&config)?, NAMESPACE);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.latency_qps.max(0.01)));
    for i in 0..latency_total {
        tick.tick().await;
        api.create(&PostParams::default(), &latency_deployment(i))
            .await?;
    }
    let (mut latency, _) = tokio::time::timeout(Duration::from_secs(900), latency_watch)
        .await
        .context("every latency pod Running within 15 minutes")???;
    done.store(true, Ordering::Relaxed);
    let mut probes = prober.await?;
    let cpu = server::cpu_seconds(pid)? - cpu_before;
    let peak = server::peak_rss_bytes(pid)?;
    let rss_end = server::rss_bytes(pid)?;
    let store = dir_size(&data.join("db"));
    let stored = stored_objects(&admin).await.unwrap_or_default();
    sim.shutdown().await?;

    println!(
        "| scale: {} simulated nodes, {total} pods through {deployments} Deployments | value | SLO |",
        args.nodes
    );
    println!("|---|---|---|");
    println!(
        "| nodes registered and Ready | {:.1} s | |",
        nodes_ready.as_secs_f64()
    );
    println!(
        "| first Deployment created → every pod Running | {:.1} s ({:.0} pods/s) | |",
        all_running.as_secs_f64(),
        f64::from(total) / all_running.as_secs_f64()
    );
    println!(
        "| saturation pods: startup, first seen → Running (p50 / p99) | {} | |",
        startup.p50_p99()
    );
    println!(
        "| latency pods ({latency_total} at {}/s): startup, first seen → Running (p50 / p99) | {} | p99 ≤ 5 s |",
        args.latency_qps,
        latency.p50_p99()
    );
    println!(
        "| GET node during the run (p50 / p99, {} calls) | {} | p99 ≤ 1 s |",
        probes.get.len(),
        probes.get.p50_p99()
    );
    println!(
        "| PATCH configmap during the run (p50 / p99, {} calls) | {} | p99 ≤ 1 s |",
        probes.patch.len(),
        probes.patch.p50_p99()
    );
    println!(
        "| LIST all pods during the run (p50 / p99, {} calls) | {} | p99 ≤ 30 s |",
        probes.list.len(),
        probes.list.p50_p99()
    );
    if probes.errors > 0 || probes.list.is_empty() {
        println!("| probe calls that failed | {} | |", probes.errors);
    }
    println!(
        "| server RSS: with the nodes / peak / at the end | {} / {} / {} MiB | |",
        rss_nodes >> 20,
        peak >> 20,
        rss_end >> 20
    );
    println!("| server CPU time during both phases | {cpu:.1} s | |");
    println!("| store on disk | {} MiB | |", store >> 20);
    println!("| objects stored at the end | {stored} | |");
    server::stop(server).await
}
