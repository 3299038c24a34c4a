//! The scheduler benchmark: `rkube server` (with its scheduler) as a child process, N nodes
//! made as API objects (Ready, 32 cpu, 256Gi, 110 pods), then M pods (10m cpu, 10Mi) created
//! from 64 clients; measured: pods/s from the first create until every pod has a node,
//! per-pod latency from create acknowledgement to the binding seen by a watch, the spread of
//! pods over nodes, and the server's RSS.
//!
//! With `--backlog` the server runs without a scheduler; the pods are created first and left
//! pending, then `rkube scheduler --kubeconfig` starts as its own process (as upstream's
//! kube-scheduler was measured): pods/s from its start until every pod is bound, and its RSS.

use crate::api::{load, server};
use crate::stats::Latencies;
use anyhow::Context;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use rkube_testkit::ServerProcess;
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;

/// Options of `rkube-bench scheduler`.
#[derive(Debug, clap::Args)]
pub struct SchedulerArgs {
    /// Nodes (default 1,000).
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Pods (default 10,000).
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    /// The `rkube` binary to start; by default the one next to this one.
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Create every pod first, then start a standalone scheduler on the backlog.
    #[arg(long)]
    backlog: bool,
    /// Extra flags for `rkube server` (e.g. `--server-flag=--disable-controllers`).
    #[arg(long = "server-flag", allow_hyphen_values = true)]
    server_flags: Vec<String>,
}

/// A standalone `rkube scheduler`, stopped (by its PID) when dropped.
struct SchedulerProcess(std::process::Child);

impl Drop for SchedulerProcess {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn node(i: usize) -> Node {
    let name = format!("node-{i:05}");
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                              "topology.kubernetes.io/zone": format!("zone-{}", i % 3)}},
        "status": {
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }))
    .unwrap_or_default()
}

fn pod(i: usize) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("pod-{i:06}"), "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                 "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}}}]},
    }))
    .unwrap_or_default()
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: SchedulerArgs) -> anyhow::Result<()> {
    let binary = match args.binary {
        Some(b) => b,
        None => std::env::current_exe()?.with_file_name("rkube"),
    };
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let server_binary = binary.clone();
    let mut flags = args.server_flags.clone();
    if args.backlog {
        flags.push("--disable-scheduler".to_owned());
    }
    let server = tokio::task::spawn_blocking(move || {
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        ServerProcess::start(&server_binary, &data, &flags)
    })
    .await?
    .context("starting rkube server")?;
    let config = load::config(server.kubeconfig()).await?;
    let admin = load::client(&config)?;

    println!("creating {} nodes…", args.nodes);
    let nodes: Api<Node> = Api::all(admin.clone());
    let mut tasks = Vec::new();
    for w in 0..16 {
        let nodes = Api::<Node>::all(load::client(&config)?);
        let count = args.nodes;
        tasks.push(tokio::spawn(async move {
            for i in (w..count).step_by(16) {
                let n = node(i);
                nodes.create(&PostParams::default(), &n).await?;
                // A patch: the node controllers may write to the node meanwhile.
                let name = n.metadata.name.clone().unwrap_or_default();
                nodes
                    .patch_status(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"status": n.status})),
                    )
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    drop(nodes);
    // Let the scheduler's node cache catch up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = server::rss_bytes(server.pid())?;

    let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");
    let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let total = args.pods;
    // A reflector-style watch (list, then watch, relisting if the server cuts it for
    // falling behind), so every binding is seen even when this process is slow to read.
    let (listed_tx, listed_rx) = tokio::sync::oneshot::channel();
    let watcher = {
        let acked = acked.clone();
        let stream = watcher::watcher(pods.clone(), watcher::Config::default()).default_backoff();
        tokio::spawn(async move {
            let mut stream = Box::pin(stream);
            let mut latencies = Latencies::default();
            let mut bound: HashMap<String, String> = HashMap::new();
            let mut listed = Some(listed_tx);
            let mut relists = 0usize;
            while bound.len() < total {
                let Some(event) = stream.next().await else {
                    break;
                };
                let pod = match event {
                    Ok(Event::Apply(p) | Event::InitApply(p)) => p,
                    Ok(Event::Init) => {
                        relists += 1;
                        continue;
                    }
                    Ok(Event::InitDone) => {
                        if let Some(tx) = listed.take() {
                            let _ = tx.send(());
                        }
                        continue;
                    }
                    Ok(Event::Delete(_)) | Err(_) => continue,
                };
                if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    if bound.insert(name.clone(), node).is_none() {
                        let at = acked.lock().map(|m| m.get(&name).copied()).ok().flatten();
                        latencies.push(at.map_or(Duration::ZERO, |t| t.elapsed()));
                    }
                }
            }
            (bound, latencies, Instant::now(), relists.saturating_sub(1))
        })
    };
    listed_rx
        .await
        .context("the pod watch lists before the pods are created")?;

    println!("creating {total} pods from 64 clients…");
    let mut started = Instant::now();
    let mut creators = Vec::new();
    for w in 0..64 {
        let pods = Api::<Pod>::namespaced(load::client(&config)?, "default");
        let acked = acked.clone();
        creators.push(tokio::spawn(async move {
            for i in (w..total).step_by(64) {
                let p = pod(i);
                let name = p.metadata.name.clone().unwrap_or_default();
                pods.create(&PostParams::default(), &p).await?;
                if let Ok(mut m) = acked.lock() {
                    m.insert(name, Instant::now());
                }
            }
            anyhow::Ok(())
        }));
    }
    for c in creators {
        c.await??;
    }
    let created_in = started.elapsed();
    if args.backlog {
        // The server's controllers are still digesting the creates for a moment: the
        // scheduler starts on a quiet server, so that this tail is not measured as its start.
        let settled = settle(server.pid()).await?;
        println!(
            "server settled {} ms after the last create",
            settled.as_millis()
        );
    }
    let server_cpu_before = server::cpu_seconds(server.pid())?;
    let scheduler = if args.backlog {
        println!("starting rkube scheduler on the backlog of {total} pods…");
        started = Instant::now();
        if let Ok(mut m) = acked.lock() {
            m.values_mut().for_each(|t| *t = started);
        }
        Some(SchedulerProcess(
            std::process::Command::new(&binary)
                .arg("scheduler")
                .arg("--kubeconfig")
                .arg(server.kubeconfig())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .context("starting rkube scheduler")?,
        ))
    } else {
        None
    };
    let (bound, mut latencies, finished, relists) =
        tokio::time::timeout(Duration::from_secs(600), watcher)
            .await
            .context("every pod bound within 10 minutes")??;
    anyhow::ensure!(
        bound.len() == total,
        "the watch ended with {} of {total} pods bound",
        bound.len()
    );
    let elapsed = finished.duration_since(started);
    let rss_after = server::rss_bytes(server.pid())?;
    let mut per_node: HashMap<&str, usize> = HashMap::new();
    for node in bound.values() {
        *per_node.entry(node.as_str()).or_default() += 1;
    }
    let max = per_node.values().max().copied().unwrap_or(0);
    let min = if per_node.len() < args.nodes {
        0
    } else {
        per_node.values().min().copied().unwrap_or(0)
    };
    let server_cpu = server::cpu_seconds(server.pid())? - server_cpu_before;
    let scheduler_cpu = match &scheduler {
        Some(p) => server::cpu_seconds(p.0.id())?,
        None => 0.0,
    };
    let scheduler_rss = match &scheduler {
        Some(p) => format!(" / scheduler {} MiB", server::rss_bytes(p.0.id())? >> 20),
        None => String::new(),
    };
    drop(scheduler);
    let (title, from, latency) = if args.backlog {
        (
            "standalone rkube scheduler on a backlog",
            "scheduler start → every pod bound",
            "scheduler start → binding seen by a watch (p50 / p99)",
        )
    } else {
        (
            "rkube scheduler in rkube server",
            "first create → every pod bound",
            "create ack → binding seen by a watch (p50 / p99)",
        )
    };
    println!("| {title} ({} nodes, {} pods) | value |", args.nodes, total);
    println!("|---|---|");
    println!(
        "| pods created from 64 clients in | {:.2} s |",
        created_in.as_secs_f64()
    );
    println!(
        "| {from} | {:.2} s ({:.0} pods/s) |",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    println!("| {latency} | {} |", latencies.p50_p99());
    if args.backlog {
        // What the scheduler spends starting (its lists) before the first binding.
        println!(
            "| scheduler start → first binding seen | {:.0} ms |",
            latencies.quantile(0.0).as_secs_f64() * 1e3
        );
    }
    println!("| pods per node (min / max; capacity 110) | {min} / {max} |");
    if relists > 0 {
        println!("| the benchmark's pod watch was cut and relisted | {relists} times |");
    }
    if args.backlog {
        println!(
            "| CPU while scheduling: server / scheduler | {server_cpu:.1} / {scheduler_cpu:.1} s |"
        );
    }
    println!(
        "| RSS: server with the nodes / after all pods{} | {} / {} MiB{scheduler_rss} |",
        if scheduler_rss.is_empty() {
            ""
        } else {
            " / scheduler"
        },
        rss_before >> 20,
        rss_after >> 20
    );
    server::stop(server).await
}

/// Waits until the process `pid` is quiet (under a tenth of a core over 200 ms), at most
/// 10 s; returns how long that took.
async fn settle(pid: u32) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut last = server::cpu_seconds(pid)?;
    while start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = server::cpu_seconds(pid)?;
        if now - last < 0.02 {
            break;
        }
        last = now;
    }
    Ok(start.elapsed())
}
