//! End to end: the real `rkube server` binary driven with stock kubectl, as a user would —
//! kubectl 1.33 (protobuf bodies on `create`) and 1.27 (JSON), on the embedded store and on etcd.

use rkube_testkit::kubectl::{KUBECTL_127, KUBECTL_133};
use rkube_testkit::{EtcdProcess, Kubectl, ServerProcess};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const MANIFEST: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: demo
  labels: {app: web}
data:
  a: "1"
---
apiVersion: v1
kind: Secret
metadata:
  name: sec
  namespace: demo
stringData:
  password: hunter2
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  labels: {app: web}
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
        ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
"#;

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// The API with only the namespace controller (deleted namespaces go): the journey checks
/// what the API server answers, so no other controller may change its objects meanwhile
/// (tests/e2e_controllers.rs covers the controllers).
fn start_server(dir: &Path, extra: &[&str]) -> ServerProcess {
    let mut flags = vec!["--controllers=namespace"];
    flags.extend_from_slice(extra);
    ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_rkube")),
        &dir.join("data"),
        &flags,
    )
    .expect("rkube server starts")
}

/// The whole user journey of the issue, against one server with one kubectl.
fn journey(k: &Kubectl) {
    // Discovery.
    let resources = k.ok(&["api-resources"]);
    let deploy = resources
        .lines()
        .find(|l| l.starts_with("deployments "))
        .expect("deployments listed");
    assert_eq!(
        words(deploy),
        vec!["deployments", "deploy", "apps/v1", "true", "Deployment"]
    );
    assert!(resources.lines().any(|l| words(l)
        == vec![
            "priorityclasses",
            "pc",
            "scheduling.k8s.io/v1",
            "false",
            "PriorityClass"
        ]));

    // create -f of a multi-document manifest.
    let manifest = k.file("app.yaml", MANIFEST);
    let created = k.ok(&["create", "-f", &manifest]);
    for line in [
        "namespace/demo created",
        "configmap/cfg created",
        "secret/sec created",
        "deployment.apps/web created",
        "service/web created",
    ] {
        assert!(created.contains(line), "{line} missing from:\n{created}");
    }
    let again = k.fails(&["create", "-f", &manifest]);
    assert!(
        again.contains("AlreadyExists") || again.contains("already exists"),
        "{again}"
    );

    // get: table, wide, yaml, jsonpath, selectors, all namespaces.
    let table = k.ok(&["get", "deployments", "-n", "demo"]);
    let mut lines = table.lines();
    assert_eq!(
        words(lines.next().unwrap()),
        vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(words(lines.next().unwrap())[..4], ["web", "0/2", "0", "0"]);
    let wide = k.ok(&["get", "deploy", "web", "-n", "demo", "-o", "wide"]);
    assert_eq!(
        words(wide.lines().next().unwrap()),
        vec![
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert!(
        wide.contains("nginx:1.25") && wide.contains("app=web"),
        "{wide}"
    );
    let yaml = k.ok(&["get", "cm", "cfg", "-n", "demo", "-o", "yaml"]);
    assert!(
        yaml.contains("kind: ConfigMap") && yaml.contains("a: \"1\"") && yaml.contains("uid:"),
        "{yaml}"
    );
    assert_eq!(k.jsonpath("deploy", "web", "demo", "{.spec.replicas}"), "2");
    let secret = k.jsonpath("secret", "sec", "demo", "{.data.password}");
    assert_eq!(secret, "aHVudGVyMg==");
    let svc_ip = k.jsonpath("svc", "web", "demo", "{.spec.clusterIP}");
    assert!(
        svc_ip.starts_with("10.43.") && svc_ip != "10.43.0.1",
        "{svc_ip}"
    );
    let labelled = k.ok(&[
        "get",
        "cm,deploy",
        "-n",
        "demo",
        "-l",
        "app=web",
        "-o",
        "name",
    ]);
    assert_eq!(
        labelled.lines().collect::<Vec<_>>(),
        vec!["configmap/cfg", "deployment.apps/web"]
    );
    let by_field = k.ok(&[
        "get",
        "cm",
        "-A",
        "--field-selector",
        "metadata.name=cfg",
        "-o",
        "name",
    ]);
    assert_eq!(by_field.trim(), "configmap/cfg");
    let all_ns = k.ok(&["get", "ns"]);
    assert_eq!(
        words(all_ns.lines().next().unwrap()),
        vec!["NAME", "STATUS", "AGE"]
    );
    assert!(
        all_ns
            .lines()
            .any(|l| words(l)[..2] == ["kube-system", "Active"]),
        "{all_ns}"
    );
    let everywhere = k.ok(&["get", "svc", "-A"]);
    assert_eq!(
        words(everywhere.lines().next().unwrap())[..3],
        ["NAMESPACE", "NAME", "TYPE"]
    );
    assert!(
        everywhere
            .lines()
            .any(|l| words(l)[..4] == ["default", "kubernetes", "ClusterIP", "10.43.0.1"]),
        "{everywhere}"
    );

    // describe.
    let described = k.ok(&["describe", "deployment", "web", "-n", "demo"]);
    assert!(
        described.contains("Name:") && described.contains("web"),
        "{described}"
    );
    assert!(described.contains("Replicas:"), "{described}");

    // label, annotate.
    assert_eq!(
        k.ok(&["label", "cm", "cfg", "-n", "demo", "tier=front"])
            .trim(),
        "configmap/cfg labeled"
    );
    // kubectl 1.27 prints "annotate" here (fixed in later versions).
    let annotated = k.ok(&["annotate", "cm", "cfg", "-n", "demo", "note=hi"]);
    assert!(
        ["configmap/cfg annotated", "configmap/cfg annotate"].contains(&annotated.trim()),
        "{annotated}"
    );
    assert_eq!(
        k.jsonpath(
            "cm",
            "cfg",
            "demo",
            "{.metadata.labels.tier}/{.metadata.annotations.note}"
        ),
        "front/hi"
    );

    // patch of all three types.
    k.ok(&[
        "patch",
        "cm",
        "cfg",
        "-n",
        "demo",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"b":"2"}}"#,
    ]);
    k.ok(&[
        "patch",
        "cm",
        "cfg",
        "-n",
        "demo",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/data/a","value":"3"}]"#,
    ]);
    let patched = k.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "demo",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}}"#,
    ]);
    assert_eq!(patched.trim(), "deployment.apps/web patched");
    assert_eq!(k.jsonpath("cm", "cfg", "demo", "{.data.a}{.data.b}"), "32");
    assert_eq!(
        k.jsonpath(
            "deploy",
            "web",
            "demo",
            "{.spec.template.spec.containers[*].image}"
        ),
        "nginx:1.26"
    );

    // scale.
    assert_eq!(
        k.ok(&["scale", "deploy", "web", "-n", "demo", "--replicas=5"])
            .trim(),
        "deployment.apps/web scaled"
    );
    assert_eq!(k.jsonpath("deploy", "web", "demo", "{.spec.replicas}"), "5");

    // edit with a scripted editor.
    let editor = k.file(
        "editor.sh",
        "#!/bin/sh\nsed -i 's/^  a: \"3\"$/  a: edited/' \"$1\"\n",
    );
    Command::new("chmod")
        .args(["+x", &editor])
        .status()
        .unwrap();
    let edited = k
        .command(&["edit", "cm", "cfg", "-n", "demo"])
        .env("KUBE_EDITOR", &editor)
        .output()
        .unwrap();
    assert!(
        edited.status.success(),
        "{}",
        String::from_utf8_lossy(&edited.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&edited.stdout).trim(),
        "configmap/cfg edited"
    );
    assert_eq!(k.jsonpath("cm", "cfg", "demo", "{.data.a}"), "edited");

    // --watch sees a later change.
    let mut watch = k
        .command(&[
            "get",
            "cm",
            "cfg",
            "-n",
            "demo",
            "--watch",
            "-o",
            "jsonpath={.data.a}{\"\\n\"}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(watch.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "edited");
    k.ok(&[
        "patch",
        "cm",
        "cfg",
        "-n",
        "demo",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"a":"watched"}}"#,
    ]);
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "watched");
    let _ = watch.kill();
    let _ = watch.wait();

    // apply -f: create, then configure, then unchanged.
    let applied_manifest = MANIFEST
        .replace("name: demo", "name: applied")
        .replace("namespace: demo", "namespace: applied");
    let apply_file = k.file("apply.yaml", &applied_manifest);
    let first = k.ok(&["apply", "-f", &apply_file]);
    assert!(first.contains("deployment.apps/web created"), "{first}");
    let changed = k.file(
        "apply2.yaml",
        &applied_manifest.replace("replicas: 2", "replicas: 4"),
    );
    let second = k.ok(&["apply", "-f", &changed]);
    assert!(
        second.contains("deployment.apps/web configured"),
        "{second}"
    );
    assert!(second.contains("configmap/cfg unchanged"), "{second}");
    assert_eq!(
        k.jsonpath("deploy", "web", "applied", "{.spec.replicas}"),
        "4"
    );

    // Invalid manifests get field paths; conflicts get 409.
    let bad = k.file(
        "bad.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\n  namespace: demo\nspec:\n  containers:\n  - name: c\n",
    );
    let err = k.fails(&["create", "-f", &bad]);
    assert!(
        err.contains("The Pod \"bad\" is invalid: spec.containers[0].image: Required value"),
        "{err}"
    );
    let unknown = k.file(
        "unknown.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: u\n  namespace: demo\ndatta: {}\n",
    );
    let err = k.fails(&["create", "-f", &unknown]);
    assert!(err.contains("unknown field \"datta\""), "{err}");
    let stale = k.ok(&["get", "cm", "cfg", "-n", "demo", "-o", "yaml"]);
    k.ok(&["label", "cm", "cfg", "-n", "demo", "bump=1"]);
    let stale_file = k.file("stale.yaml", &stale);
    let err = k.fails(&["replace", "-f", &stale_file]);
    assert!(
        err.contains("Conflict") && err.contains("the object has been modified"),
        "{err}"
    );

    // delete: the objects, then their namespace (Terminating until its contents are gone).
    let objects = k.file("objects.yaml", MANIFEST.split_once("---\n").unwrap().1);
    let deleted = k.ok(&["delete", "-f", &objects]);
    for line in [
        "configmap \"cfg\" deleted",
        "secret \"sec\" deleted",
        "deployment.apps \"web\" deleted",
        "service \"web\" deleted",
    ] {
        assert!(deleted.contains(line), "{line} missing from:\n{deleted}");
    }
    let err = k.fails(&["get", "deploy", "web", "-n", "demo"]);
    assert!(
        err.contains("(NotFound)") && err.contains("not found"),
        "{err}"
    );
    assert_eq!(
        k.ok(&["delete", "namespace", "applied"]).trim(),
        "namespace \"applied\" deleted"
    );
    let err = k.fails(&["get", "deploy", "web", "-n", "applied"]);
    assert!(err.contains("not found"), "{err}");
    let err = k.fails(&["create", "configmap", "late", "-n", "applied"]);
    assert!(
        err.contains("not found") || err.contains("being terminated"),
        "{err}"
    );
}

/// The imperative `create` commands, which kubectl 1.33 sends as protobuf.
fn imperative_creates(k: &Kubectl) {
    assert_eq!(
        k.ok(&["create", "namespace", "pb"]).trim(),
        "namespace/pb created"
    );
    assert_eq!(
        k.ok(&[
            "create",
            "configmap",
            "pbcm",
            "-n",
            "pb",
            "--from-literal=k=v"
        ])
        .trim(),
        "configmap/pbcm created"
    );
    assert_eq!(
        k.ok(&[
            "create",
            "secret",
            "generic",
            "pbs",
            "-n",
            "pb",
            "--from-literal=p=q"
        ])
        .trim(),
        "secret/pbs created"
    );
    assert_eq!(
        k.ok(&[
            "create",
            "deployment",
            "pbd",
            "-n",
            "pb",
            "--image=busybox:1.36",
            "--replicas=3"
        ])
        .trim(),
        "deployment.apps/pbd created"
    );
    assert_eq!(k.jsonpath("cm", "pbcm", "pb", "{.data.k}"), "v");
    assert_eq!(k.jsonpath("secret", "pbs", "pb", "{.data.p}"), "cQ==");
    assert_eq!(
        k.jsonpath(
            "deploy",
            "pbd",
            "pb",
            "{.spec.replicas} {.spec.template.spec.containers[0].image}"
        ),
        "3 busybox:1.36"
    );
}

/// A kubeconfig that trusts the cluster CA and presents only `token`.
fn token_kubeconfig(server: &ServerProcess, dir: &Path, name: &str, token: &str) -> PathBuf {
    let ca = server.data_dir().join("tls/ca.crt");
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {}\n\
         contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: {token}\n",
        server.url(),
        ca.display()
    );
    let path = dir.join(format!("{name}.kubeconfig"));
    std::fs::write(&path, config).unwrap();
    path
}

/// `kubectl get pods` with only a token: its stdout, or its stderr on failure.
fn get_pods_with_token(
    server: &ServerProcess,
    binary: &str,
    dir: &Path,
    token: &str,
) -> Result<String, String> {
    let out = Command::new(binary)
        .env("KUBECONFIG", token_kubeconfig(server, dir, "token", token))
        .env("HOME", dir)
        .args(["get", "pods", "-n", "default"])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn unauthenticated_gets_401(server: &ServerProcess, binary: &str, dir: &Path) {
    // A token the server does not know (with no credentials at all kubectl would prompt for
    // a password; the integration tests cover requests without any credentials).
    let err = get_pods_with_token(server, binary, dir, "not-a-known-token").unwrap_err();
    assert!(err.contains("Unauthorized"), "{err}");
}

/// `kubectl create token` issues a service account token that kubectl can then use, until
/// the service account is deleted.
fn service_account_tokens(k: &Kubectl, server: &ServerProcess) {
    k.ok(&["create", "serviceaccount", "robot", "-n", "default"]);
    let create_token = |duration: &str| {
        k.run(&[
            "create",
            "token",
            "robot",
            "-n",
            "default",
            "--duration",
            duration,
        ])
    };
    let out = create_token("15m");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).into_owned();
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    get_pods_with_token(server, k.binary, &k.dir, token).expect("the token authenticates");
    let out = create_token("1m");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("may not specify a duration less than 10 minutes"),
        "{err}"
    );
    let err = k.fails(&["create", "token", "nobody", "-n", "default"]);
    assert!(
        err.contains("serviceaccounts \"nobody\" not found"),
        "{err}"
    );
    k.ok(&["delete", "serviceaccount", "robot", "-n", "default"]);
    let err = get_pods_with_token(server, k.binary, &k.dir, token).unwrap_err();
    assert!(err.contains("Unauthorized"), "{err}");
}

fn kubectl(binary: &'static str, server: &ServerProcess, dir: &Path) -> Kubectl {
    Kubectl::new(binary, server.kubeconfig(), dir)
}

#[test]
fn kubectl_1_33_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server(dir.path(), &[]);
    let k = kubectl(KUBECTL_133, &server, dir.path());
    journey(&k);
    imperative_creates(&k);
    unauthenticated_gets_401(&server, KUBECTL_133, dir.path());
    service_account_tokens(&k, &server);
    assert!(
        server.terminate(),
        "SIGTERM ends the server cleanly:\n{}",
        server.log()
    );
    assert!(server.log().contains("rkube server is ready"));

    // A restart reuses the certificates and the data.
    let ca = std::fs::read(dir.path().join("data/tls/ca.crt")).unwrap();
    let server = start_server(dir.path(), &[]);
    assert_eq!(
        std::fs::read(dir.path().join("data/tls/ca.crt")).unwrap(),
        ca
    );
    let k = kubectl(KUBECTL_133, &server, dir.path());
    assert_eq!(
        k.ok(&["get", "cm", "pbcm", "-n", "pb", "-o", "name"])
            .trim(),
        "configmap/pbcm"
    );
    // The built-in objects follow the new port.
    let port = k.ok(&[
        "get",
        "endpoints",
        "kubernetes",
        "-o",
        "jsonpath={.subsets[0].ports[0].port}",
    ]);
    assert_eq!(port, server.port().to_string());
}

#[test]
fn kubectl_1_27_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &[]);
    let k = kubectl(KUBECTL_127, &server, dir.path());
    journey(&k);
    imperative_creates(&k);
    unauthenticated_gets_401(&server, KUBECTL_127, dir.path());
    service_account_tokens(&k, &server);
}

#[tokio::test]
async fn kubectl_1_33_on_etcd() {
    let etcd = EtcdProcess::start().await.expect("etcd starts");
    let dir = tempfile::tempdir().unwrap();
    let endpoint = etcd.endpoint();
    let server = start_server(dir.path(), &["--datastore-endpoint", &endpoint]);
    let k = kubectl(KUBECTL_133, &server, dir.path());
    tokio::task::spawn_blocking(move || {
        journey(&k);
        imperative_creates(&k);
        drop(server);
    })
    .await
    .unwrap();
}
