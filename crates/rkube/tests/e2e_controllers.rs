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
    rkube(&[
        "sim",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--nodes",
        nodes,
        "--pod-start-delay",
        "100ms",
        "--max-termination-delay",
        "100ms",
    ])
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
    let server = ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_rkube")),
        &dir.path().join("data"),
        &[],
    )
    .expect("server starts");
    let kc = server.kubeconfig().to_owned();
    let _sim = sim(&kc, "3");
    kubectl_until(&kc, &["get", "nodes", "--no-headers"], |out| {
        out.lines().filter(|l| l.contains(" Ready")).count() == 3
    });

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
    let history = kubectl(&kc, &["rollout", "history", "deployment/web"]);
    assert!(
        history.contains("1 ") && history.contains("2 "),
        "{history}"
    );

    kubectl(&kc, &["rollout", "undo", "deployment/web"]);
    kubectl(
        &kc,
        &["rollout", "status", "deployment/web", "--timeout=120s"],
    );
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

    // A deleted pod comes back.
    let pods = kubectl(&kc, &["get", "pods", "-l", "app=web", "-o", "name"]);
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
