//! End to end: the rest of everyday kubectl with stock kubectl 1.33 — imperative creates,
//! run, expose, set image, wait, output options, cascading deletes, diff and server dry-run,
//! explain, and the informational commands.

use rkube_testkit::kubectl::KUBECTL_133;
use rkube_testkit::{Kubectl, ServerProcess};
use std::path::Path;

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

#[test]
fn everyday_kubectl_commands() {
    let dir = tempfile::tempdir().unwrap();
    // The Deployment and ReplicaSet controllers report conditions to wait for; the garbage
    // collector acts on cascading deletes.
    let server = ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_rkube")),
        &dir.path().join("data"),
        &[
            "--controllers=namespace,deployment,replicaset,garbagecollector,serviceaccount",
            "--disable-scheduler",
        ],
    )
    .expect("rkube server starts");
    let k = Kubectl::new(KUBECTL_133, server.kubeconfig(), dir.path());

    // Informational commands.
    assert!(k.ok(&["version"]).contains("Server Version: v1.33"));
    assert!(
        k.ok(&["cluster-info"])
            .contains("is running at https://127.0.0.1:")
    );
    let versions = k.ok(&["api-versions"]);
    for v in ["v1", "apps/v1", "batch/v1", "apiextensions.k8s.io/v1"] {
        assert!(versions.lines().any(|l| l == v), "{versions}");
    }

    // Imperative creates.
    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.25",
        "--replicas=2",
    ]);
    k.ok(&["create", "configmap", "cfg", "--from-literal=a=1"]);
    k.ok(&[
        "create",
        "secret",
        "generic",
        "pw",
        "--from-literal=p=hunter2",
    ]);
    k.ok(&["create", "service", "clusterip", "plain", "--tcp=80:8080"]);
    k.ok(&["create", "job", "once", "--image=busybox", "--", "true"]);
    k.ok(&["run", "solo", "--image=nginx", "--labels=app=solo,tier=one"]);
    k.ok(&[
        "expose",
        "deployment",
        "web",
        "--port=80",
        "--target-port=8080",
    ]);
    assert_eq!(
        k.jsonpath("svc", "web", "default", "{.spec.selector.app}"),
        "web"
    );
    assert_eq!(
        k.jsonpath("secret", "pw", "default", "{.data.p}"),
        "aHVudGVyMg=="
    );
    k.ok(&["set", "image", "deployment/web", "nginx=nginx:1.26"]);
    assert_eq!(
        k.jsonpath(
            "deploy",
            "web",
            "default",
            "{.spec.template.spec.containers[0].image}"
        ),
        "nginx:1.26"
    );

    // wait for a condition and for deletion.
    k.ok(&[
        "wait",
        "--for=condition=Progressing",
        "deploy/web",
        "--timeout=60s",
    ]);
    k.ok(&["delete", "pod", "solo", "--wait=false"]);
    k.ok(&["wait", "--for=delete", "pod/solo", "--timeout=60s"]);

    // Output options.
    let labels = k.ok(&["get", "deploy", "web", "--show-labels"]);
    assert!(
        words(labels.lines().next().unwrap()).contains(&"LABELS"),
        "{labels}"
    );
    assert!(labels.contains("app=web"), "{labels}");
    k.ok(&["create", "configmap", "aaa", "--from-literal=z=1"]);
    let sorted = k.ok(&["get", "cm", "--sort-by=.metadata.name", "-o", "name"]);
    let names: Vec<&str> = sorted.lines().collect();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(names, expected);
    let columns = k.ok(&[
        "get",
        "cm",
        "cfg",
        "-o",
        "custom-columns=NAME:.metadata.name,A:.data.a",
    ]);
    assert_eq!(
        words(columns.lines().nth(1).unwrap()),
        ["cfg", "1"],
        "{columns}"
    );
    let watch = k
        .command(&[
            "get",
            "cm",
            "cfg",
            "-w",
            "-o",
            "yaml",
            "--request-timeout=3s",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    k.ok(&["label", "cm", "cfg", "seen=yes"]);
    let out = watch.wait_with_output().unwrap();
    let streamed = String::from_utf8_lossy(&out.stdout);
    assert!(streamed.contains("seen: \"yes\""), "{streamed}");

    // diff and server dry-run.
    let manifest = k.file(
        "cfg.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: default\ndata:\n  a: \"2\"\n",
    );
    let diff = k.run(&["diff", "-f", &manifest]);
    assert_eq!(diff.status.code(), Some(1), "{diff:?}");
    let diff = String::from_utf8_lossy(&diff.stdout);
    assert!(
        diff.contains("-  a: \"1\"") && diff.contains("+  a: \"2\""),
        "{diff}"
    );
    let dry = k.ok(&["apply", "--dry-run=server", "-f", &manifest]);
    assert!(dry.contains("(server dry run)"), "{dry}");
    assert_eq!(k.jsonpath("cm", "cfg", "default", "{.data.a}"), "1");

    // explain, from the OpenAPI v3 documents.
    let explained = k.ok(&["explain", "deployment.spec.replicas"]);
    assert!(
        explained.contains("FIELD: replicas <integer>"),
        "{explained}"
    );
    let recursive = k.ok(&["explain", "pod.spec.containers", "--recursive"]);
    assert!(
        recursive
            .lines()
            .any(|l| words(l) == ["livenessProbe", "<Probe>"]),
        "{recursive}"
    );

    // Cascading deletes: orphan keeps the ReplicaSets, background removes them.
    k.until(&["get", "rs", "-l", "app=web", "-o", "name"], |out| {
        !out.trim().is_empty()
    });
    k.ok(&["delete", "deploy", "web", "--cascade=orphan"]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let orphans = k.ok(&["get", "rs", "-l", "app=web", "-o", "name"]);
    assert!(!orphans.trim().is_empty(), "orphaned ReplicaSets are kept");
    let rs = orphans.lines().next().unwrap().to_owned();
    assert_eq!(
        k.ok(&["get", &rs, "-o", "jsonpath={.metadata.ownerReferences}"]),
        ""
    );
    k.ok(&["create", "deployment", "gone", "--image=nginx"]);
    k.until(&["get", "rs", "-l", "app=gone", "-o", "name"], |out| {
        !out.trim().is_empty()
    });
    k.ok(&["delete", "deploy", "gone", "--cascade=foreground"]);
    k.until(&["get", "rs", "-l", "app=gone", "-o", "name"], |out| {
        out.trim().is_empty()
    });
}

#[test]
fn kubectl_1_27_explains_from_openapi_v2() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_rkube")),
        &dir.path().join("data"),
        &["--controllers=namespace", "--disable-scheduler"],
    )
    .expect("rkube server starts");
    let k = Kubectl::new(
        rkube_testkit::kubectl::KUBECTL_127,
        server.kubeconfig(),
        dir.path(),
    );
    let explained = k.ok(&["explain", "deployment.spec.replicas"]);
    assert!(
        explained.contains("FIELD:    replicas <integer>")
            || explained.contains("FIELD: replicas <integer>"),
        "{explained}"
    );
    assert!(explained.contains("Number of desired pods."), "{explained}");
    let recursive = k.ok(&["explain", "pod.spec.containers", "--recursive"]);
    assert!(
        recursive
            .lines()
            .any(|l| words(l) == ["livenessProbe", "<Object>"]
                || words(l) == ["livenessProbe", "<Probe>"]),
        "{recursive}"
    );
    // The core flow still works with the larger document.
    k.ok(&["create", "configmap", "c", "--from-literal=a=b"]);
    k.ok(&["apply", "-f", &k.file("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c2\n  namespace: default\ndata:\n  a: b\n")]);
}
