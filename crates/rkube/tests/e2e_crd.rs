//! End to end: CustomResourceDefinitions with stock kubectl — a CRD's resource is served
//! once established, its objects are pruned, defaulted and validated by the schema, shown
//! with the CRD's printer columns, scaled, read in either version, removed with their
//! namespace, and deleted with the CRD; a restarted server serves them at once.

use rkube_testkit::kubectl::{KUBECTL_127, KUBECTL_133};
use rkube_testkit::{Kubectl, ServerProcess};
use std::path::Path;

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.labelSelector
    additionalPrinterColumns:
    - name: Spec
      type: string
      jsonPath: .spec.cronSpec
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [cronSpec]
            properties:
              cronSpec:
                type: string
                pattern: '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'
              image:
                type: string
              replicas:
                type: integer
                minimum: 1
                maximum: 10
                default: 1
          status:
            type: object
            properties:
              replicas: {type: integer}
              labelSelector: {type: string}
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

const CRONTAB: &str = r#"apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: nightly
  namespace: demo
spec:
  cronSpec: "0 3 * * *"
  image: backup:1
  extra: dropped
"#;

fn start_server(dir: &Path) -> ServerProcess {
    ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_rkube")),
        &dir.join("data"),
        &["--controllers=namespace"],
    )
    .expect("rkube server starts")
}

/// The CronTab without its field the schema does not know.
fn known_fields() -> String {
    CRONTAB.replace("  extra: dropped\n", "")
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Applies the CRD and waits until it is established.
fn install_crd(k: &Kubectl) {
    let crd = k.file("crd.yaml", CRD);
    k.ok(&["apply", "-f", &crd]);
    k.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/crontabs.stable.example.com",
        "--timeout=60s",
    ]);
}

/// The CRD journey with one kubectl.
fn crd_journey(k: &Kubectl) {
    install_crd(k);
    k.ok(&["create", "namespace", "demo"]);

    // kubectl validates strictly by default: the server refuses unknown fields. With
    // warnings, they are pruned; defaults are filled in.
    let crontab = k.file("crontab.yaml", CRONTAB);
    let err = k.fails(&["apply", "-f", &crontab]);
    assert!(
        err.contains("strict decoding error: unknown field \"spec.extra\""),
        "{err}"
    );
    let out = k.run(&["apply", "--validate=warn", "-f", &crontab]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown field \"spec.extra\""), "{stderr}");
    assert_eq!(
        k.jsonpath("crontab", "nightly", "demo", "{.spec.replicas}"),
        "1"
    );
    assert_eq!(k.jsonpath("ct", "nightly", "demo", "{.spec.extra}"), "");

    // The printer columns, the short name, and the version served.
    let table = k.ok(&["get", "ct", "-n", "demo"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        words(lines[0]),
        ["NAME", "SPEC", "REPLICAS", "AGE"],
        "{table}"
    );
    assert_eq!(
        &words(lines[1])[..7],
        ["nightly", "0", "3", "*", "*", "*", "1"],
        "{table}"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "crontabs.v1beta1.stable.example.com",
            "nightly",
            "-n",
            "demo",
            "-o",
            "jsonpath={.apiVersion}",
        ]),
        "stable.example.com/v1beta1"
    );
    assert!(
        k.ok(&["get", "all", "-n", "demo"])
            .contains("crontab.stable.example.com/nightly")
    );
    let resources = k.ok(&["api-resources", "--api-group=stable.example.com"]);
    assert!(
        resources
            .lines()
            .any(|l| words(l) == ["crontabs", "ct", "stable.example.com/v1", "true", "CronTab"]),
        "{resources}"
    );

    // explain reads the schema from the OpenAPI v3 document (kubectl 1.27 from v2).
    let explained = k.ok(&["explain", "crontab.spec"]);
    assert!(
        explained.contains("cronSpec\t<string> -required-"),
        "{explained}"
    );
    assert!(explained.contains("replicas\t<integer>"), "{explained}");

    // The schema refuses what it does not allow, with the field's path.
    let bad = k.file(
        "bad.yaml",
        &known_fields().replace("image: backup:1", "replicas: 20"),
    );
    let err = k.fails(&["apply", "-f", &bad]);
    assert!(
        err.contains("spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10"),
        "{err}"
    );
    let bad = k.file("bad2.yaml", &known_fields().replace("0 3 * * *", "often"));
    let err = k.fails(&["apply", "-f", &bad]);
    assert!(
        err.contains("spec.cronSpec: Invalid value: \"often\""),
        "{err}"
    );

    // Server-side apply works on custom objects too (lists and maps from the schema).
    let applied = k.file(
        "applied.yaml",
        &known_fields().replace("name: nightly", "name: applied"),
    );
    let out = k.ok(&["apply", "--server-side", "-f", &applied]);
    assert!(
        out.contains("crontab.stable.example.com/applied serverside-applied"),
        "{out}"
    );
    k.ok(&["delete", "ct", "applied", "-n", "demo"]);

    // Scale and status subresources.
    k.ok(&["scale", "crontab", "nightly", "-n", "demo", "--replicas=3"]);
    assert_eq!(k.jsonpath("ct", "nightly", "demo", "{.spec.replicas}"), "3");
    k.ok(&[
        "patch",
        "ct",
        "nightly",
        "-n",
        "demo",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":3,"labelSelector":"app=cron"}}"#,
    ]);
    k.ok(&[
        "patch",
        "ct",
        "nightly",
        "-n",
        "demo",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":9}}"#,
    ]);
    assert_eq!(
        k.jsonpath("ct", "nightly", "demo", "{.status.replicas}"),
        "3"
    );

    // A namespace's custom objects go with it.
    k.ok(&["create", "namespace", "gone"]);
    let other = k.file(
        "other.yaml",
        &known_fields().replace("namespace: demo", "namespace: gone"),
    );
    k.ok(&["apply", "-f", &other]);
    k.ok(&["delete", "namespace", "gone", "--timeout=60s"]);
    assert_eq!(
        k.ok(&["get", "crontabs", "-A", "-o", "name"]).trim(),
        "crontab.stable.example.com/nightly"
    );

    // Deleting the CRD deletes its objects, then the resource is no longer served.
    k.ok(&[
        "delete",
        "crd",
        "crontabs.stable.example.com",
        "--timeout=60s",
    ]);
    // (kubectl 1.27 still has the resource in its discovery cache and gets the 404.)
    let err = k.fails(&["get", "crontabs", "-A"]);
    assert!(
        err.contains("the server doesn't have a resource type \"crontabs\"")
            || err.contains("the server could not find the requested resource"),
        "{err}"
    );
    install_crd(k);
    assert_eq!(k.ok(&["get", "crontabs", "-A", "-o", "name"]).trim(), "");
}

#[test]
fn kubectl_1_33_uses_custom_resources() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    crd_journey(&Kubectl::new(KUBECTL_133, server.kubeconfig(), dir.path()));
}

#[test]
fn kubectl_1_27_uses_custom_resources() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    crd_journey(&Kubectl::new(KUBECTL_127, server.kubeconfig(), dir.path()));
}

#[test]
fn a_restarted_server_serves_custom_resources_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server(dir.path());
    let k = Kubectl::new(KUBECTL_133, server.kubeconfig(), dir.path());
    install_crd(&k);
    k.ok(&["create", "namespace", "demo"]);
    k.ok(&[
        "apply",
        "--validate=false",
        "-f",
        &k.file("crontab.yaml", CRONTAB),
    ]);
    assert!(server.terminate());
    let server = start_server(dir.path());
    let k = Kubectl::new(KUBECTL_133, server.kubeconfig(), dir.path());
    assert_eq!(
        k.jsonpath("crontab", "nightly", "demo", "{.spec.cronSpec}"),
        "0 3 * * *"
    );
}
