//! The controllers as a user meets them: `rkube server` and `rkube sim` as processes, stock
//! kubectl creating, scaling, updating and rolling back Deployments; and `rkube
//! controller-manager` standalone against a server that runs no controllers.

use rkube_testkit::ServerProcess;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn kubectl_result(kubeconfig: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("/usr/bin/kubectl")
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    kubectl_result(kubeconfig, args).unwrap_or_else(|err| panic!("kubectl {args:?}: {err}"))
}

/// Runs kubectl until its output satisfies `check`, or panics after a generous timeout.
fn kubectl_until(kubeconfig: &Path, args: &[&str], check: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..600 {
        if let Ok(out) = kubectl_result(kubeconfig, args) {
            if check(&out) {
                return out;
            }
            last = out;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("kubectl {args:?} never satisfied the check; last output:\n{last}");
}

/// A child process stopped with SIGTERM (by its PID) when dropped.
struct Stop(Child);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn rkube(args: &[&str]) -> Stop {
    Stop(
        Command::new(env!("CARGO_BIN_EXE_rkube"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn sim(kubeconfig: &Path, nodes: &str) -> Stop {
    sim_with(kubeconfig, nodes, &[])
}

fn sim_with(kubeconfig: &Path, nodes: &str, extra: &[&str]) -> Stop {
    let mut args = vec![
        "sim",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--nodes",
        nodes,
        "--pod-start-delay",
        "100ms",
        "--max-termination-delay",
        "100ms",
    ];
    args.extend_from_slice(extra);
    rkube(&args)
}

/// `rkube server` (with `server_flags`) and `rkube sim` with three nodes (with `sim_flags`),
/// once the three nodes are Ready; the server, its kubeconfig and the simulator.
fn three_node_cluster(
    dir: &Path,
    server_flags: &[&str],
    sim_flags: &[&str],
) -> (ServerProcess, std::path::PathBuf, Stop) {
    let server = ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_rkube")),
        &dir.join("data"),
        server_flags,
    )
    .expect("server starts");
    let kc = server.kubeconfig().to_owned();
    let sim = sim_with(&kc, "3", sim_flags);
    kubectl_until(&kc, &["get", "nodes", "--no-headers"], |out| {
        out.lines().filter(|l| l.contains(" Ready")).count() == 3
    });
    (server, kc, sim)
}

/// `kubectl rollout history` lists two revisions, then `rollout undo` completes.
fn two_revisions_then_undo(kubeconfig: &Path, workload: &str) {
    let history = kubectl(kubeconfig, &["rollout", "history", workload]);
    assert!(
        history.contains("1 ") && history.contains("2 "),
        "{history}"
    );
    kubectl(kubeconfig, &["rollout", "undo", workload]);
    kubectl(
        kubeconfig,
        &["rollout", "status", workload, "--timeout=120s"],
    );
}

fn image_of(kubeconfig: &Path, deployment: &str) -> String {
    kubectl(
        kubeconfig,
        &[
            "get",
            "deployment",
            deployment,
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
    )
}

#[test]
fn kubectl_deployment_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, kc, _sim) = three_node_cluster(dir.path(), &[], &[]);

    kubectl(
        &kc,
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.26",
            "--replicas=3",
        ],
    );
    kubectl(
        &kc,
        &["rollout", "status", "deployment/web", "--timeout=120s"],
    );
    kubectl(&kc, &["scale", "deployment/web", "--replicas=5"]);
    kubectl(
        &kc,
        &["rollout", "status", "deployment/web", "--timeout=120s"],
    );
    kubectl_until(
        &kc,
        &["get", "pods", "-l", "app=web", "--no-headers"],
        |out| out.lines().filter(|l| l.contains("Running")).count() == 5,
    );

    kubectl(&kc, &["set", "image", "deployment/web", "nginx=nginx:1.27"]);
    kubectl(
        &kc,
        &["rollout", "status", "deployment/web", "--timeout=120s"],
    );
    assert_eq!(image_of(&kc, "web"), "nginx:1.27");
    two_revisions_then_undo(&kc, "deployment/web");
    assert_eq!(image_of(&kc, "web"), "nginx:1.26");
    kubectl_until(
        &kc,
        &[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].spec.containers[0].image}",
        ],
        |out| {
            out.split_whitespace().count() == 5 && out.split_whitespace().all(|i| i == "nginx:1.26")
        },
    );

    // pause, a change that waits, resume; restart makes new pods.
    kubectl(&kc, &["rollout", "pause", "deployment/web"]);
    kubectl(&kc, &["set", "image", "deployment/web", "nginx=nginx:1.28"]);
    let rs_before = kubectl(&kc, &["get", "rs", "-l", "app=web", "--no-headers"]);
    assert!(!rs_before.is_empty());
    kubectl(&kc, &["rollout", "resume", "deployment/web"]);
    kubectl(
        &kc,
        &["rollout", "status", "deployment/web", "--timeout=120s"],
    );
    kubectl(&kc, &["rollout", "restart", "deployment/web"]);
    kubectl(
        &kc,
        &["rollout", "status", "deployment/web", "--timeout=120s"],
    );

    // A deleted pod comes back. The restart's old pods may still be terminating when the
    // rollout is done, so the victim is picked once only the five current pods are left.
    let pods = kubectl_until(
        &kc,
        &["get", "pods", "-l", "app=web", "-o", "name"],
        |out| out.lines().count() == 5,
    );
    let victim = pods.lines().next().unwrap().to_owned();
    kubectl(&kc, &["delete", &victim, "--wait=false"]);
    kubectl_until(
        &kc,
        &[
            "get",
            "pods",
            "-l",
            "app=web",
            "--field-selector=status.phase=Running",
            "-o",
            "name",
        ],
        |out| out.lines().count() == 5 && !out.lines().any(|l| l == victim),
    );

    // Deleting a namespace empties it.
    kubectl(&kc, &["create", "namespace", "scratch"]);
    kubectl(
        &kc,
        &[
            "-n",
            "scratch",
            "create",
            "deployment",
            "tmp",
            "--image=busybox",
            "--replicas=2",
        ],
    );
    kubectl(
        &kc,
        &[
            "-n",
            "scratch",
            "rollout",
            "status",
            "deployment/tmp",
            "--timeout=120s",
        ],
    );
    kubectl(&kc, &["delete", "namespace", "scratch", "--timeout=120s"]);
    let left = kubectl(
        &kc,
        &[
            "get",
            "pods",
            "-n",
            "scratch",
            "--no-headers",
            "--ignore-not-found",
        ],
    );
    assert!(left.trim().is_empty(), "{left}");
}

#[test]
fn standalone_controller_manager_runs_deployments() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_rkube")),
        &dir.path().join("data"),
        &["--disable-controllers"],
    )
    .expect("server starts");
    let kc = server.kubeconfig().to_owned();
    kubectl(
        &kc,
        &[
            "create",
            "deployment",
            "solo",
            "--image=pause",
            "--replicas=2",
        ],
    );
    // Nothing acts on it without controllers.
    std::thread::sleep(Duration::from_secs(1));
    let none = kubectl(&kc, &["get", "rs", "--no-headers", "--ignore-not-found"]);
    assert!(none.trim().is_empty(), "{none}");
    let _cm = rkube(&["controller-manager", "--kubeconfig", kc.to_str().unwrap()]);
    let _sim = sim(&kc, "2");
    kubectl(
        &kc,
        &["rollout", "status", "deployment/solo", "--timeout=120s"],
    );
    let holder = kubectl(
        &kc,
        &[
            "get",
            "lease",
            "-n",
            "kube-system",
            "kube-controller-manager",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
    );
    assert!(!holder.is_empty());
    // Node IPAM ran too: every node has a pod range.
    let cidrs = kubectl(
        &kc,
        &["get", "nodes", "-o", "jsonpath={.items[*].spec.podCIDR}"],
    );
    assert_eq!(cidrs.split_whitespace().count(), 2, "{cidrs}");
}

/// Replicas that tolerate an unreachable or not-ready node for 2 s only, so eviction is quick.
const SURVIVOR: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: survivor}
spec:
  replicas: 6
  selector: {matchLabels: {app: survivor}}
  template:
    metadata: {labels: {app: survivor}}
    spec:
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      containers:
      - {name: app, image: busybox:1.36}
"#;

/// (node, phase, terminating) of every `app=survivor` pod.
fn survivors(kubeconfig: &Path) -> Vec<(String, String, bool)> {
    let out = kubectl(
        kubeconfig,
        &[
            "get",
            "pods",
            "-l",
            "app=survivor",
            "-o",
            r#"jsonpath={range .items[*]}{.spec.nodeName} {.status.phase} {.metadata.deletionTimestamp}{"\n"}{end}"#,
        ],
    );
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f.first().unwrap_or(&"").to_string(),
                f.get(1).unwrap_or(&"").to_string(),
                f.len() > 2,
            )
        })
        .collect()
}

/// Waits until the node has (or no longer has) the `node.kubernetes.io/unreachable` taint.
fn wait_for_unreachable_taint(kubeconfig: &Path, node: &str, present: bool) {
    kubectl_until(
        kubeconfig,
        &["get", "node", node, "-o", "jsonpath={.spec.taints[*].key}"],
        |out| out.contains("node.kubernetes.io/unreachable") == present,
    );
}

#[test]
fn a_node_that_stops_heartbeating_has_its_pods_recreated_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join("failed-nodes");
    let (_server, kc, _sim) = three_node_cluster(
        dir.path(),
        &["--node-monitor-grace-period", "5"],
        &["--control-file", control.to_str().unwrap()],
    );
    let manifest = dir.path().join("survivor.yaml");
    std::fs::write(&manifest, SURVIVOR).unwrap();
    kubectl(&kc, &["apply", "-f", manifest.to_str().unwrap()]);
    kubectl(
        &kc,
        &["rollout", "status", "deployment/survivor", "--timeout=120s"],
    );
    let failed = survivors(&kc)[0].0.clone();
    assert!(!failed.is_empty());

    // The node goes silent: NotReady, tainted unreachable, its pods evicted and replaced.
    std::fs::write(&control, format!("{failed}\n")).unwrap();
    kubectl_until(&kc, &["get", "node", &failed, "--no-headers"], |out| {
        out.contains("NotReady")
    });
    wait_for_unreachable_taint(&kc, &failed, true);
    kubectl_until(&kc, &["get", "pods", "-l", "app=survivor"], |_| {
        let pods = survivors(&kc);
        let serving = pods
            .iter()
            .filter(|(node, phase, terminating)| {
                !terminating && phase == "Running" && *node != failed
            })
            .count();
        let live_on_failed = pods
            .iter()
            .filter(|(node, _, terminating)| !terminating && *node == failed)
            .count();
        serving == 6 && live_on_failed == 0
    });
    kubectl(
        &kc,
        &["rollout", "status", "deployment/survivor", "--timeout=120s"],
    );

    // Heartbeats resume: Ready again, untainted, and the evicted pods finish terminating.
    std::fs::write(&control, "").unwrap();
    kubectl_until(&kc, &["get", "node", &failed, "--no-headers"], |out| {
        out.contains(" Ready")
    });
    wait_for_unreachable_taint(&kc, &failed, false);
    kubectl_until(&kc, &["get", "pods", "-l", "app=survivor"], |_| {
        let pods = survivors(&kc);
        pods.len() == 6 && pods.iter().all(|(_, phase, t)| phase == "Running" && !t)
    });
}

const AGENT_AND_DB: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
      - {name: agent, image: busybox:1.36}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - {name: db, image: busybox:1.36}
"#;

/// The images of the pods with this label, sorted.
fn pod_images(kubeconfig: &Path, label: &str) -> Vec<String> {
    let out = kubectl(
        kubeconfig,
        &[
            "get",
            "pods",
            "-l",
            label,
            "-o",
            "jsonpath={.items[*].spec.containers[0].image}",
        ],
    );
    let mut images: Vec<String> = out.split_whitespace().map(str::to_owned).collect();
    images.sort();
    images
}

#[test]
fn kubectl_rolls_out_daemonsets_and_statefulsets() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, kc, _sim) = three_node_cluster(dir.path(), &[], &[]);
    let manifest = dir.path().join("agent-db.yaml");
    std::fs::write(&manifest, AGENT_AND_DB).unwrap();
    kubectl(&kc, &["apply", "-f", manifest.to_str().unwrap()]);
    for workload in ["daemonset/agent", "statefulset/db"] {
        kubectl(&kc, &["rollout", "status", workload, "--timeout=120s"]);
    }
    assert_eq!(pod_images(&kc, "app=agent"), vec!["busybox:1.36"; 3]);
    let names = kubectl(&kc, &["get", "pods", "-l", "app=db", "-o", "name"]);
    assert_eq!(names.lines().count(), 3);
    for ordinal in 0..3 {
        assert!(names.contains(&format!("pod/db-{ordinal}")), "{names}");
    }

    kubectl(
        &kc,
        &["set", "image", "daemonset/agent", "agent=busybox:1.37"],
    );
    kubectl(&kc, &["set", "image", "statefulset/db", "db=busybox:1.37"]);
    for workload in ["daemonset/agent", "statefulset/db"] {
        kubectl(&kc, &["rollout", "status", workload, "--timeout=120s"]);
    }
    kubectl_until(&kc, &["get", "pods", "-l", "app=agent"], |_| {
        pod_images(&kc, "app=agent") == vec!["busybox:1.37"; 3]
    });
    kubectl_until(&kc, &["get", "pods", "-l", "app=db"], |_| {
        pod_images(&kc, "app=db") == vec!["busybox:1.37"; 3]
    });
    two_revisions_then_undo(&kc, "daemonset/agent");
    kubectl_until(&kc, &["get", "pods", "-l", "app=agent"], |_| {
        pod_images(&kc, "app=agent") == vec!["busybox:1.36"; 3]
    });
}
