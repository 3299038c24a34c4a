//! End to end: what an operator asks a cluster about itself, with stock kubectl —
//! `kubectl auth whoami` (kubectl 1.33 asks authentication.k8s.io/v1 in protobuf, 1.27
//! v1beta1 in JSON) for a client certificate, a token from the token file and a service
//! account token, and `kubectl get --raw /metrics`.

use rkube_testkit::kubectl::{KUBECTL_127, KUBECTL_133};
use rkube_testkit::{Kubectl, ServerProcess};
use std::path::Path;

/// Starts a server with a token file holding alice's token.
fn start_server(dir: &Path) -> ServerProcess {
    let tokens = dir.join("tokens.csv");
    std::fs::write(&tokens, "alice-token,alice,1001,\"devs,ops\"\n").expect("write the token file");
    ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_rkube")),
        &dir.join("data"),
        &[
            "--disable-controllers",
            "--disable-scheduler",
            "--token-auth-file",
            tokens.to_str().expect("a UTF-8 path"),
        ],
    )
    .expect("rkube server starts")
}

/// kubectl `binary` with a copy of the admin kubeconfig whose user presents `token` only.
fn with_token(admin: &Kubectl, binary: &'static str, name: &str, token: &str) -> Kubectl {
    let kubeconfig = admin.dir.join(format!("{name}.kubeconfig"));
    std::fs::copy(&admin.kubeconfig, &kubeconfig).expect("copy the kubeconfig");
    let k = Kubectl::new(binary, &kubeconfig, &admin.dir);
    k.ok(&[
        "config",
        "set-credentials",
        name,
        &format!("--token={token}"),
    ]);
    k.ok(&[
        "config",
        "set-context",
        "--current",
        &format!("--user={name}"),
    ]);
    k
}

/// `kubectl auth whoami` as rows of (attribute, value).
fn whoami(k: &Kubectl) -> Vec<(String, String)> {
    let out = k.ok(&["auth", "whoami"]);
    out.lines()
        .skip(1)
        .filter_map(|l| {
            let (attribute, value) = l.split_once("  ")?;
            Some((attribute.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

fn attribute<'a>(rows: &'a [(String, String)], name: &str) -> Option<&'a str> {
    rows.iter()
        .find(|(a, _)| a == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn kubectl_auth_whoami_names_certificate_token_and_service_account_users() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = start_server(dir.path());
    let admin = Kubectl::new(KUBECTL_133, server.kubeconfig(), dir.path());
    admin.ok(&["create", "serviceaccount", "robot"]);
    let sa_uid = admin.jsonpath("serviceaccount", "robot", "default", "{.metadata.uid}");
    let sa_token = admin.ok(&["create", "token", "robot"]).trim().to_owned();

    for binary in [KUBECTL_133, KUBECTL_127] {
        let k = Kubectl::new(binary, server.kubeconfig(), dir.path());
        let me = whoami(&k);
        assert_eq!(
            attribute(&me, "Username"),
            Some("system:admin"),
            "{binary}: {me:?}"
        );
        assert_eq!(
            attribute(&me, "Groups"),
            Some("[system:masters system:authenticated]")
        );
        let credential = attribute(&me, "Extra: authentication.kubernetes.io/credential-id");
        assert!(
            credential.is_some_and(|c| c.starts_with("[X509SHA256=")),
            "{binary}: {me:?}"
        );

        let alice = whoami(&with_token(&k, binary, "alice", "alice-token"));
        assert_eq!(attribute(&alice, "Username"), Some("alice"), "{binary}");
        assert_eq!(attribute(&alice, "UID"), Some("1001"));
        assert_eq!(
            attribute(&alice, "Groups"),
            Some("[devs ops system:authenticated]")
        );

        let robot = whoami(&with_token(&k, binary, "robot", &sa_token));
        assert_eq!(
            attribute(&robot, "Username"),
            Some("system:serviceaccount:default:robot"),
            "{binary}"
        );
        assert_eq!(attribute(&robot, "UID"), Some(sa_uid.as_str()));
        assert_eq!(
            attribute(&robot, "Groups"),
            Some("[system:serviceaccounts system:serviceaccounts:default system:authenticated]")
        );
        assert!(
            attribute(&robot, "Extra: authentication.kubernetes.io/credential-id")
                .is_some_and(|c| c.starts_with("[JTI=")),
            "{binary}: {robot:?}"
        );
    }
    let yaml = admin.ok(&["auth", "whoami", "-o", "yaml"]);
    assert!(
        yaml.contains("apiVersion: authentication.k8s.io/v1\nkind: SelfSubjectReview\n"),
        "{yaml}"
    );
    let resources = admin.ok(&["api-resources", "--api-group=authentication.k8s.io"]);
    assert!(resources.contains("selfsubjectreviews"), "{resources}");
    let refused = admin.fails(&["get", "selfsubjectreviews"]);
    assert!(refused.contains("MethodNotAllowed"), "{refused}");
}

#[test]
fn kubectl_get_raw_metrics_shows_request_counts_latencies_and_stored_objects() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = start_server(dir.path());
    let k = Kubectl::new(KUBECTL_133, server.kubeconfig(), dir.path());
    k.ok(&["create", "configmap", "settings", "--from-literal=a=1"]);
    k.ok(&["get", "configmap", "settings"]);
    k.ok(&["get", "configmaps"]);

    let metrics = k.ok(&["get", "--raw", "/metrics"]);
    let configmaps = |verb: &str, scope: &str| {
        format!(
            "component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"configmaps\",scope=\"{scope}\",subresource=\"\",verb=\"{verb}\",version=\"v1\""
        )
    };
    for (code, verb, scope) in [
        ("201", "POST", "resource"),
        ("200", "GET", "resource"),
        ("200", "LIST", "namespace"),
    ] {
        let series = format!(
            "apiserver_request_total{{code=\"{code}\",{}}} 1\n",
            configmaps(verb, scope)
        );
        assert!(metrics.contains(&series), "no {series} in:\n{metrics}");
    }
    let count = format!(
        "apiserver_request_duration_seconds_count{{{}}} 1\n",
        configmaps("POST", "resource")
    );
    assert!(metrics.contains(&count), "{metrics}");
    assert!(
        metrics.contains("apiserver_storage_objects{resource=\"configmaps\"} 1\n"),
        "{metrics}"
    );

    let anonymous = with_token(&k, KUBECTL_133, "nobody", "not-a-token");
    let refused = anonymous.fails(&["get", "--raw", "/metrics"]);
    assert!(refused.contains("Unauthorized"), "{refused}");
}
