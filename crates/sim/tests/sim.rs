//! Simulated nodes against the real server, started in-process on a temporary store: its
//! scheduler binds pods to the simulated nodes, which run them as kubelets would report.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use rkube_server::{RunningServer, ServerConfig};
use rkube_sim::{Ipv4Cidr, SimConfig};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::Ipv4Addr;
use std::time::Duration;
use tempfile::TempDir;

/// How long any wait may take before the test gives up (generous: machines are shared).
const PATIENCE: Duration = Duration::from_secs(60);

struct Cluster {
    server: RunningServer,
    client: kube::Client,
    _dir: TempDir,
}

/// A server; with `controllers`, its node IPAM controller gives nodes their pod ranges.
async fn cluster(controllers: bool) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(dir.path().join("data"));
    config.bind_address = [127, 0, 0, 1].into();
    config.https_port = 0;
    config.controllers = controllers;
    let server = rkube_server::start(config).await.unwrap();
    let kubeconfig = Kubeconfig::read_from(&server.kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    Cluster {
        server,
        client,
        _dir: dir,
    }
}

/// `nodes` quick nodes; the simulator assigns pod ranges itself (no IPAM controller).
fn config(nodes: u32) -> SimConfig {
    SimConfig {
        nodes,
        pod_cidr_from_ipam: false,
        lease_renew_interval: Duration::from_millis(500),
        node_status_interval: Duration::from_secs(2),
        pod_start_delay: Duration::from_millis(100),
        ..SimConfig::default()
    }
}

/// Polls `check` until it yields a value (up to [`PATIENCE`]).
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: gave up after {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn pod(name: &str, extra: Value) -> Pod {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]},
    });
    json_patch_merge(&mut pod, &extra);
    serde_json::from_value(pod).unwrap()
}

fn json_patch_merge(doc: &mut Value, patch: &Value) {
    match (doc, patch) {
        (Value::Object(doc), Value::Object(patch)) => {
            for (key, value) in patch {
                json_patch_merge(doc.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (doc, patch) => *doc = patch.clone(),
    }
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

async fn renew_time(leases: &Api<Lease>, name: &str) -> Option<String> {
    let lease = leases.get_opt(name).await.ok()??;
    let renew = lease.spec?.renew_time?;
    Some(format!("{:?}", renew.0))
}

/// Waits until node `witness`'s Lease has been renewed twice more: a whole renewal cycle
/// for every healthy node has passed.
async fn two_renewals_of(leases: &Api<Lease>, witness: &str) {
    for _ in 0..2 {
        let before = renew_time(leases, witness).await;
        eventually("a renewal of a healthy node's lease", || async {
            let now = renew_time(leases, witness).await;
            (now != before).then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_nodes_register_and_run_pods_as_kubelets_report_them() {
    // No controllers: nothing else writes pod ranges, and nothing evicts from failed nodes.
    let c = cluster(false).await;
    let sim = rkube_sim::start(c.client.clone(), config(10))
        .await
        .unwrap();
    assert_eq!(sim.node_names().len(), 10);

    // Registered, Ready, with labels and a pod range each.
    let nodes: Api<Node> = Api::all(c.client.clone());
    let list = nodes
        .list(&ListParams::default().labels("type=sim"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 10);
    let mut ranges = BTreeMap::new();
    for node in &list.items {
        let name = node.metadata.name.clone().unwrap();
        let status = node.status.as_ref().unwrap();
        let ready = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Ready");
        assert_eq!(ready.map(|c| c.status.as_str()), Some("True"), "{name}");
        assert_eq!(status.capacity.as_ref().unwrap()["pods"].0, "110");
        let labels = node.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["kubernetes.io/hostname"], name);
        assert_eq!(labels["topology.kubernetes.io/zone"], "zone-0");
        let cidr: Ipv4Cidr = node
            .spec
            .as_ref()
            .unwrap()
            .pod_cidr
            .as_deref()
            .unwrap()
            .parse()
            .unwrap();
        ranges.insert(name, cidr);
    }
    let distinct: BTreeSet<_> = ranges.values().map(ToString::to_string).collect();
    assert_eq!(
        distinct.len(),
        10,
        "every node has its own range: {ranges:?}"
    );

    // Thirty bare pods: scheduled by the server, run by the simulated nodes.
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    for i in 0..30 {
        pods.create(&PostParams::default(), &pod(&format!("web-{i}"), json!({})))
            .await
            .unwrap();
    }
    let running = eventually("30 pods Running", || async {
        let list = pods.list(&ListParams::default()).await.ok()?;
        let running: Vec<Pod> = list
            .items
            .into_iter()
            .filter(|p| {
                p.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with("web-"))
            })
            .filter(|p| phase(p) == Some("Running"))
            .collect();
        (running.len() == 30).then_some(running)
    })
    .await;
    let mut ips = BTreeSet::new();
    for p in &running {
        let name = p.metadata.name.as_deref().unwrap();
        let node = p.spec.as_ref().unwrap().node_name.clone().unwrap();
        let status = p.status.as_ref().unwrap();
        let ip: Ipv4Addr = status.pod_ip.as_deref().unwrap().parse().unwrap();
        assert!(
            ranges[&node].contains(ip),
            "{name}: {ip} outside {node}'s range"
        );
        assert!(ips.insert(ip), "{name}: {ip} given twice");
        assert!(
            status.host_ip.is_some() && status.start_time.is_some(),
            "{name}"
        );
        let conditions: BTreeMap<_, _> = status
            .conditions
            .iter()
            .flatten()
            .map(|c| (c.type_.as_str(), c.status.as_str()))
            .collect();
        for kind in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
            assert_eq!(conditions.get(kind), Some(&"True"), "{name}: {kind}");
        }
        let container = &status.container_statuses.as_ref().unwrap()[0];
        assert!(container.ready && container.started == Some(true), "{name}");
        assert!(
            container
                .container_id
                .as_deref()
                .unwrap()
                .starts_with("sim://")
        );
    }

    // Leases exist and are renewed.
    let leases: Api<Lease> = Api::namespaced(c.client.clone(), "kube-node-lease");
    for name in sim.node_names() {
        let lease = leases.get(&name).await.unwrap();
        assert_eq!(
            lease.spec.unwrap().holder_identity.as_deref(),
            Some(name.as_str())
        );
    }
    let first = renew_time(&leases, "sim-0000").await;
    eventually("sim-0000's lease renewed", || async {
        (renew_time(&leases, "sim-0000").await != first).then_some(())
    })
    .await;

    // Exiting as annotated under restartPolicy Never: Succeeded.
    let job = pod(
        "job",
        json!({"metadata": {"annotations": {"sim.rkube.io/exit-after": "1"}},
               "spec": {"restartPolicy": "Never"}}),
    );
    pods.create(&PostParams::default(), &job).await.unwrap();
    let done = eventually("the annotated pod Succeeded", || async {
        let p = pods.get("job").await.ok()?;
        (phase(&p) == Some("Succeeded")).then_some(p)
    })
    .await;
    let state = done.status.unwrap().container_statuses.unwrap()[0].clone();
    let terminated = state.state.unwrap().terminated.unwrap();
    assert_eq!(
        (terminated.exit_code, terminated.reason.as_deref()),
        (0, Some("Completed"))
    );

    // activeDeadlineSeconds: Failed, DeadlineExceeded.
    let deadline = pod("deadline", json!({"spec": {"activeDeadlineSeconds": 2}}));
    pods.create(&PostParams::default(), &deadline)
        .await
        .unwrap();
    eventually("the pod past its deadline Failed", || async {
        let p = pods.get("deadline").await.ok()?;
        let status = p.status?;
        (status.phase.as_deref() == Some("Failed"))
            .then(|| assert_eq!(status.reason.as_deref(), Some("DeadlineExceeded")))
    })
    .await;

    // Deleting: the node stops the containers and removes the pod.
    pods.delete("web-0", &DeleteParams::default())
        .await
        .unwrap();
    eventually("web-0 gone", || async {
        pods.get_opt("web-0").await.ok()?.is_none().then_some(())
    })
    .await;

    // A failed node stops renewing its Lease; recovered, it renews again.
    sim.fail_node("sim-0003").unwrap();
    // A renewal may have been in flight when it failed: let a full cycle pass first.
    two_renewals_of(&leases, "sim-0000").await;
    let frozen = renew_time(&leases, "sim-0003").await;
    two_renewals_of(&leases, "sim-0000").await;
    assert_eq!(
        renew_time(&leases, "sim-0003").await,
        frozen,
        "a failed node heartbeats"
    );
    sim.recover_node("sim-0003").unwrap();
    eventually("sim-0003 renewing again", || async {
        (renew_time(&leases, "sim-0003").await != frozen).then_some(())
    })
    .await;
    assert!(sim.fail_node("nope").is_err());

    sim.shutdown().await.unwrap();
    c.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_simulator_adopts_its_nodes_and_pods_and_can_delete_them_on_exit() {
    let c = cluster(true).await;
    // Pod ranges from the server's node IPAM controller (or, were it slow, our own).
    let ipam = SimConfig {
        pod_cidr_from_ipam: true,
        ipam_wait: Duration::from_secs(20),
        ..config(2)
    };
    let sim = rkube_sim::start(c.client.clone(), ipam.clone())
        .await
        .unwrap();
    let nodes: Api<Node> = Api::all(c.client.clone());
    let mut ranges = BTreeMap::new();
    for node in nodes
        .list(&ListParams::default().labels("type=sim"))
        .await
        .unwrap()
    {
        let spec = node.spec.unwrap();
        let cidr: Ipv4Cidr = spec.pod_cidr.unwrap().parse().unwrap();
        ranges.insert(node.metadata.name.unwrap(), cidr);
    }
    assert_eq!(ranges.len(), 2);
    assert_ne!(ranges["sim-0000"], ranges["sim-0001"]);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let restarting = pod(
        "crashy",
        json!({"metadata": {"annotations": {"sim.rkube.io/exit-after": "0.5",
                                            "sim.rkube.io/exit-code": "1"}}}),
    );
    pods.create(&PostParams::default(), &restarting)
        .await
        .unwrap();
    let before = eventually("crashy restarted and Running", || async {
        let p = pods.get("crashy").await.ok()?;
        let status = p.status.clone()?;
        let restarts = status.container_statuses.as_ref()?.first()?.restart_count;
        (status.phase.as_deref() == Some("Running") && restarts >= 1).then_some(p)
    })
    .await;
    let ip = before.status.unwrap().pod_ip;
    let node = before.spec.unwrap().node_name.unwrap();
    let address: Ipv4Addr = ip.as_deref().unwrap().parse().unwrap();
    assert!(
        ranges[&node].contains(address),
        "{address} outside {node}'s range"
    );
    sim.shutdown().await.unwrap();

    // Again, with a node failed from the start.
    let config = SimConfig {
        failed_nodes: vec!["sim-0001".to_owned()],
        delete_nodes_on_exit: true,
        ..ipam
    };
    let sim = rkube_sim::start(c.client.clone(), config).await.unwrap();
    assert_eq!(
        nodes
            .list(&ListParams::default().labels("type=sim"))
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    let p = pods.get("crashy").await.unwrap();
    assert_eq!(
        p.status.unwrap().pod_ip,
        ip,
        "the adopted pod keeps its address"
    );
    // Its node goes on restarting it (unless that node is the failed one).
    if p.spec.unwrap().node_name.as_deref() == Some("sim-0000") {
        let restarts = |p: &Pod| {
            p.status.as_ref().and_then(|s| {
                s.container_statuses
                    .as_ref()?
                    .first()
                    .map(|c| c.restart_count)
            })
        };
        let seen = restarts(&pods.get("crashy").await.unwrap());
        eventually("crashy restarted again", || async {
            let now = restarts(&pods.get("crashy").await.ok()?);
            (now > seen).then_some(())
        })
        .await;
    }
    sim.shutdown().await.unwrap();
    let left = nodes
        .list(&ListParams::default().labels("type=sim"))
        .await
        .unwrap();
    assert!(left.items.is_empty(), "nodes deleted on exit");
    c.server.shutdown().await;
}
