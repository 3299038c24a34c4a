//! Integration tests: the whole server started in-process on a temporary SQLite store,
//! driven over TLS with kube-rs as a client library user would.

mod apply;
mod clients;
mod crd;
mod crud;
mod errors;
mod events;
mod leader;
mod metrics;
mod protobuf;
mod scheduling;
mod scheduling_inputs;
mod tokens;
mod watch;
mod whoami;

use kube::config::{KubeConfigOptions, Kubeconfig};
use rkube_server::{RunningServer, ServerConfig};
use serde_json::json;
use tempfile::TempDir;

/// A running server on 127.0.0.1 with its data directory.
pub struct Cluster {
    /// The server.
    pub server: RunningServer,
    /// An admin client (client certificate from the kubeconfig).
    pub client: kube::Client,
    _dir: TempDir,
}

impl Cluster {
    /// Starts a fresh server on a free port and an admin client for it.
    pub async fn start() -> Cluster {
        Cluster::start_with(|_| {}).await
    }

    /// The same, with the configuration changed by `configure` first.
    pub async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(dir.path().join("data"));
        config.bind_address = [127, 0, 0, 1].into();
        config.https_port = 0;
        // These tests check the API's own semantics: no controller writes to their objects.
        config.controllers = false;
        config.audit_log_path = Some(dir.path().join("audit.log"));
        let token_file = dir.path().join("tokens.csv");
        std::fs::write(&token_file, "s3cret-token,alice,1001,\"devs,ops\"\n").unwrap();
        config.token_auth_file = Some(token_file);
        configure(&mut config);
        let server = rkube_server::start(config).await.unwrap();
        let client = client_for(&server.kubeconfig).await;
        Cluster {
            server,
            client,
            _dir: dir,
        }
    }

    /// The data directory's parent (holds the audit log).
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// A client that trusts the cluster CA and presents `token` (or no credentials).
    pub fn client_with_token(&self, token: Option<&str>) -> kube::Client {
        let ca = std::fs::read_to_string(self.dir().join("data/tls/ca.crt")).unwrap();
        let url: http::Uri = format!("https://127.0.0.1:{}", self.server.addr.port())
            .parse()
            .unwrap();
        let mut config = kube::Config::new(url);
        config.root_cert = Some(vec![pem_to_der(&ca)]);
        config.auth_info.token = token.map(|t| t.to_owned().into());
        kube::Client::try_from(config).unwrap()
    }
}

/// A client from a kubeconfig file.
pub async fn client_for(path: &std::path::Path) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// The API error of a failed call, or a panic naming what happened instead.
pub fn api_error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Sends a request with `headers`; returns the status code, the content type and the body.
pub async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String, Vec<u8>) {
    let mut req = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = client
        .send(req.body(body).unwrap().map(kube::client::Body::from))
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (code, content_type, bytes.to_vec())
}

/// Sends a raw request and returns the status code and the body as JSON (or text).
pub async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let (code, _, bytes) = send(
        client,
        method,
        path,
        &[("content-type", content_type)],
        body,
    )
    .await;
    let body =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
    (code, body)
}

/// The DER bytes of a PEM certificate.
fn pem_to_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}
