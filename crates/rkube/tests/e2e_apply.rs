//! End to end: `kubectl apply --server-side` with stock kubectl 1.33 and 1.27 — creation,
//! update, removal of a field no longer applied, conflicts with another manager and
//! `--force-conflicts`, server dry-run — and client-side apply re-applied unchanged.

use rkube_testkit::kubectl::{KUBECTL_127, KUBECTL_133};
use rkube_testkit::{Kubectl, ServerProcess};
use std::path::Path;

const MANIFEST: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: default
  labels: {app: web}
data:
  a: "1"
  b: "2"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
"#;

fn start_server(dir: &Path) -> ServerProcess {
    ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_rkube")),
        &dir.join("data"),
        &["--controllers=namespace"],
    )
    .expect("rkube server starts")
}

fn server_side_apply(k: &Kubectl) {
    let manifest = k.file("app.yaml", MANIFEST);
    let out = k.ok(&["apply", "--server-side", "-f", &manifest]);
    assert!(out.contains("configmap/cfg serverside-applied"), "{out}");
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    assert_eq!(
        k.jsonpath(
            "cm",
            "cfg",
            "default",
            "{.metadata.managedFields[0].manager}"
        ),
        "kubectl"
    );
    assert_eq!(
        k.jsonpath(
            "cm",
            "cfg",
            "default",
            "{.metadata.managedFields[0].operation}"
        ),
        "Apply"
    );

    // A field no longer applied goes; a changed one changes.
    let changed = k.file(
        "app2.yaml",
        &MANIFEST
            .replace("  b: \"2\"\n", "")
            .replace("a: \"1\"", "a: \"10\""),
    );
    k.ok(&["apply", "--server-side", "-f", &changed]);
    assert_eq!(
        k.jsonpath("cm", "cfg", "default", "{.data}"),
        r#"{"a":"10"}"#
    );

    // Server dry-run changes nothing.
    let dry = k.file("dry.yaml", &MANIFEST.replace("replicas: 2", "replicas: 9"));
    k.ok(&["apply", "--server-side", "--dry-run=server", "-f", &dry]);
    assert_eq!(
        k.jsonpath("deploy", "web", "default", "{.spec.replicas}"),
        "2"
    );

    // Another manager takes a field only by force.
    let other = k.file(
        "other.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: default\ndata:\n  a: \"99\"\n",
    );
    let err = k.fails(&[
        "apply",
        "--server-side",
        "--field-manager=ops",
        "-f",
        &other,
    ]);
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"kubectl\": .data.a"),
        "{err}"
    );
    k.ok(&[
        "apply",
        "--server-side",
        "--field-manager=ops",
        "--force-conflicts",
        "-f",
        &other,
    ]);
    assert_eq!(k.jsonpath("cm", "cfg", "default", "{.data.a}"), "99");

    // A manual scale owns the replicas: re-applying another count conflicts.
    k.ok(&["scale", "deploy", "web", "--replicas=5"]);
    let err = k.fails(&["apply", "--server-side", "-f", &changed]);
    assert!(err.contains(".spec.replicas"), "{err}");
    k.ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        &changed,
    ]);
    assert_eq!(
        k.jsonpath("deploy", "web", "default", "{.spec.replicas}"),
        "2"
    );
}

fn client_side_apply(k: &Kubectl) {
    let manifest = k.file(
        "csa.yaml",
        &MANIFEST
            .replace("name: cfg", "name: csa")
            .replace("name: web", "name: csa-web"),
    );
    let out = k.ok(&["apply", "-f", &manifest]);
    assert!(out.contains("configmap/csa created"), "{out}");
    let out = k.ok(&["apply", "-f", &manifest]);
    assert!(out.contains("configmap/csa unchanged"), "{out}");
    assert!(out.contains("deployment.apps/csa-web unchanged"), "{out}");
}

/// Objects written by other kubectl commands are tracked under those commands' managers:
/// a first server-side apply that changes a field `kubectl create` set conflicts with it,
/// `kubectl scale` is recorded through the scale subresource, and client-side apply's
/// create is its own manager's.
fn create_then_server_side_apply(k: &Kubectl) {
    k.ok(&["create", "deployment", "made", "--image=nginx"]);
    assert_eq!(
        k.jsonpath(
            "deploy",
            "made",
            "default",
            "{.metadata.managedFields[*].manager}"
        ),
        "kubectl-create"
    );
    let manifest = k.file(
        "made.yaml",
        &MANIFEST
            .replace("name: web\n  namespace", "name: made\n  namespace")
            .replace("app: web", "app: made")
            .replace("replicas: 2", "replicas: 3"),
    );
    let err = k.fails(&["apply", "--server-side", "-f", &manifest]);
    assert!(
        err.contains("conflict with \"kubectl-create\" using apps/v1: .spec.replicas"),
        "{err}"
    );
    k.ok(&["scale", "deploy", "made", "--replicas=4"]);
    assert_eq!(
        k.jsonpath(
            "deploy",
            "made",
            "default",
            "{.metadata.managedFields[?(@.subresource==\"scale\")].fieldsV1}"
        ),
        r#"{"f:spec":{"f:replicas":{}}}"#
    );
    let csa = k.file(
        "csa-made.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: made\n  namespace: default\ndata:\n  a: \"1\"\n",
    );
    k.ok(&["apply", "-f", &csa]);
    assert_eq!(
        k.jsonpath(
            "cm",
            "made",
            "default",
            "{.metadata.managedFields[*].manager}"
        ),
        "kubectl-client-side-apply"
    );
}

#[test]
fn kubectl_1_33_applies_server_side() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let k = Kubectl::new(KUBECTL_133, server.kubeconfig(), dir.path());
    server_side_apply(&k);
    client_side_apply(&k);
    create_then_server_side_apply(&k);
}

#[test]
fn kubectl_1_27_applies_server_side() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let k = Kubectl::new(KUBECTL_127, server.kubeconfig(), dir.path());
    server_side_apply(&k);
    client_side_apply(&k);
    create_then_server_side_apply(&k);
}
