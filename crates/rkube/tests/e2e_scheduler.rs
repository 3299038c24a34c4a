//! `rkube scheduler` standalone: scheduling for a server that runs none itself, through a
//! kubeconfig, with a KubeSchedulerConfiguration naming the profile.

use rkube_testkit::ServerProcess;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new("/usr/bin/kubectl")
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Stop(Child);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

#[test]
fn standalone_scheduler_binds_pods_of_its_profile() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_rkube")),
        &dir.path().join("data"),
        &["--disable-scheduler"],
    )
    .expect("server starts");
    let kc = server.kubeconfig().to_owned();
    let config = dir.path().join("sched.yaml");
    std::fs::write(
        &config,
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: my-scheduler\n",
    )
    .unwrap();
    let scheduler = Stop(
        Command::new(env!("CARGO_BIN_EXE_rkube"))
            .args([
                "scheduler",
                "--kubeconfig",
                kc.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let node = dir.path().join("node.yaml");
    std::fs::write(&node, "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n").unwrap();
    kubectl(&kc, &["create", "-f", node.to_str().unwrap()]);
    kubectl(
        &kc,
        &[
            "patch",
            "node",
            "n1",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},"capacity":{"cpu":"4","memory":"8Gi","pods":"110"}}}"#,
        ],
    );
    let pods = dir.path().join("pods.yaml");
    std::fs::write(
        &pods,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: mine\nspec:\n  schedulerName: my-scheduler\n  containers:\n  - name: c\n    image: busybox:1.36\n\
         ---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: other\nspec:\n  containers:\n  - name: c\n    image: busybox:1.36\n",
    )
    .unwrap();
    kubectl(&kc, &["create", "-f", pods.to_str().unwrap()]);
    let mut node_of_mine = String::new();
    for _ in 0..100 {
        node_of_mine = kubectl(
            &kc,
            &["get", "pod", "mine", "-o", "jsonpath={.spec.nodeName}"],
        );
        if !node_of_mine.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(node_of_mine, "n1");
    let events = kubectl(
        &kc,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=mine",
            "-o",
            "jsonpath={.items[*].reason}",
        ],
    );
    assert!(events.contains("Scheduled"), "{events}");
    // The default-scheduler's pod is not this scheduler's business (and no other runs).
    assert_eq!(
        kubectl(
            &kc,
            &["get", "pod", "other", "-o", "jsonpath={.spec.nodeName}"]
        ),
        ""
    );
    // The scheduler holds its lease.
    let holder = kubectl(
        &kc,
        &[
            "get",
            "lease",
            "kube-scheduler",
            "-n",
            "kube-system",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
    );
    assert!(!holder.is_empty());
    drop(scheduler);
}
