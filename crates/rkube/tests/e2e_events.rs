//! End to end: events written through events.k8s.io/v1 (as the scheduler and kubelets
//! of upstream write them) show in `kubectl describe` of pods, nodes, deployments and
//! services, which reads core/v1 events: one store, two views.

use rkube_testkit::kubectl::KUBECTL_133;
use rkube_testkit::{Kubectl, ServerProcess};
use std::path::Path;

const OBJECTS: &str = r#"apiVersion: v1
kind: Node
metadata:
  name: node-1
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
spec:
  containers: [{name: web, image: nginx}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
"#;

/// An events.k8s.io/v1 Event about one object.
fn event(
    kind: &str,
    api_version: &str,
    name: &str,
    namespace: &str,
    uid: &str,
    note: &str,
) -> String {
    let regarding_ns = if kind == "Node" {
        String::new()
    } else {
        format!("  namespace: {namespace}\n")
    };
    format!(
        "apiVersion: events.k8s.io/v1\nkind: Event\nmetadata:\n  name: {name}-{}\n  namespace: default\n\
eventTime: \"2026-01-01T00:00:00.000000Z\"\nreportingController: rkube.dev/test\nreportingInstance: test-1\n\
action: Testing\nreason: Checked\ntype: Normal\nnote: \"{note}\"\nregarding:\n  apiVersion: {api_version}\n  kind: {kind}\n  name: {name}\n{regarding_ns}  uid: \"{uid}\"\n",
        kind.to_lowercase()
    )
}

#[test]
fn kubectl_describe_shows_events_written_through_events_k8s_io() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_rkube")),
        &dir.path().join("data"),
        &["--controllers=namespace"],
    )
    .expect("rkube server starts");
    let k = Kubectl::new(KUBECTL_133, server.kubeconfig(), dir.path());
    k.ok(&["create", "-f", &k.file("objects.yaml", OBJECTS)]);
    for (kind, resource, api_version) in [
        ("Pod", "pod", "v1"),
        ("Service", "service", "v1"),
        ("Deployment", "deployment", "apps/v1"),
        ("Node", "node", "v1"),
    ] {
        let name = if kind == "Node" { "node-1" } else { "web" };
        // kubectl finds node events by the node's name as uid, as kubelets record them.
        let uid = if kind == "Node" {
            name.to_owned()
        } else {
            k.jsonpath(resource, name, "default", "{.metadata.uid}")
        };
        let note = format!("{kind} looked at by the test");
        let manifest = event(kind, api_version, name, "default", &uid, &note);
        k.ok(&[
            "create",
            "-f",
            &k.file(&format!("{resource}-event.yaml"), &manifest),
        ]);
        let described = k.ok(&["describe", resource, name, "-n", "default"]);
        let events = described
            .split("Events:")
            .nth(1)
            .unwrap_or_else(|| panic!("no events section:\n{described}"));
        assert!(events.contains("Checked"), "{described}");
        assert!(events.contains(&note), "{described}");
        assert!(events.contains("rkube.dev/test"), "{described}");
    }
    // Both APIs list the same events.
    let core = k.ok(&["get", "events.v1.", "-n", "default", "-o", "name"]);
    let v1 = k.ok(&[
        "get",
        "events.v1.events.k8s.io",
        "-n",
        "default",
        "-o",
        "name",
    ]);
    assert_eq!(core, v1.replace("event.events.k8s.io/", "event/"));
    for name in ["web-pod", "web-service", "web-deployment", "node-1-node"] {
        assert!(core.contains(&format!("event/{name}\n")), "{core}");
    }
}
