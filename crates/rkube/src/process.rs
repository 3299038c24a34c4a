//! What every long-running subcommand does alike: reach an API server through a kubeconfig,
//! name itself for leader election, and run until SIGTERM or SIGINT.

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::Path;

/// How a component's client talks to the API server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1, a connection per request in flight (kube's own client), which the
    /// controller manager and the simulated nodes keep. The controller manager holds a
    /// long-lived watch per resource (its garbage collector watches every one, custom ones
    /// included): over HTTP/2 they would all share one connection, and past the server's
    /// limit of concurrent streams per connection (200 here, 100 upstream) a watch would
    /// wait for a stream that never frees, where client-go would open another connection.
    Http1,
    /// HTTP/2 when the server offers it: see [`http2_client`]. For the scheduler, whose
    /// handful of watches leaves its streams to bindings and events.
    Http2,
}

/// A client for the API server (and user) of a kubeconfig file, sending `agent` as its
/// `User-Agent` (one of [`rkube_api::agent`]'s, which names the component's writes).
pub async fn client(
    kubeconfig: &Path,
    agent: &'static str,
    protocol: Protocol,
) -> anyhow::Result<kube::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let file = Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("reading {}", kubeconfig.display()))?;
    let mut config =
        kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default()).await?;
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(agent),
    ));
    match protocol {
        Protocol::Http1 => Ok(kube::Client::try_from(config)?),
        Protocol::Http2 => http2_client(&config),
    }
}

/// A client of `config` that speaks HTTP/2 when the server offers it (ALPN), as client-go
/// does: every request and watch shares one TLS connection, and a burst of requests and
/// answers goes out in a few writes instead of one write (and TLS record) per request on
/// hundreds of HTTP/1.1 connections. kube's own client speaks only HTTP/1.1. Otherwise the
/// same stack as kube's (base URI, retries of 429/503/504, credentials, extra headers);
/// HTTP/2 pings, not a read timeout, find a dead connection, since idle watches share it.
/// The windows let a large LIST stream without waiting on window updates.
pub fn http2_client(config: &kube::Config) -> anyhow::Result<kube::Client> {
    use kube::client::ConfigExt;
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(config.connect_timeout);
    // Requests of many streams go out as small writes: with Nagle's algorithm one could wait
    // for the server's delayed acknowledgement of the last (40 ms).
    http.set_nodelay(true);
    let mut https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config.rustls_client_config()?)
        .https_or_http();
    if let Some(name) = &config.tls_server_name {
        let name = rustls::pki_types::ServerName::try_from(name.clone())
            .with_context(|| format!("TLS server name {name:?}"))?;
        https = https.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name));
    }
    let connector = https.enable_http1().enable_http2().wrap_connector(http);
    let hyper = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .timer(hyper_util::rt::TokioTimer::new())
        .http2_keep_alive_interval(std::time::Duration::from_secs(30))
        .http2_keep_alive_timeout(std::time::Duration::from_secs(20))
        .http2_initial_stream_window_size(16 << 20)
        .http2_initial_connection_window_size(64 << 20)
        .build::<_, kube::client::Body>(connector);
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.default_retry.then(|| {
            tower::retry::RetryLayer::new(kube::client::retry::RetryPolicy::server_retry())
        }))
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(tower::BoxError::from)
        .service(hyper);
    Ok(kube::Client::new(service, config.default_namespace.clone()))
}

/// This process's leader-election identity: host name and process id.
pub fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}_{}", host.trim(), std::process::id())
}

/// Watches for SIGTERM and SIGINT.
pub struct Signals(tokio::signal::unix::Signal);

impl Signals {
    /// Starts listening (before the work starts, so an early signal is not lost).
    pub fn listen() -> anyhow::Result<Signals> {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        Ok(Signals(term))
    }

    /// Waits for SIGTERM or SIGINT and logs which came.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.0.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::http2_client;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;

    /// The components' client picks HTTP/2 when the server offers it: the TLS handshake
    /// agrees on `h2` and the first bytes are HTTP/2's connection preface.
    #[tokio::test]
    async fn the_components_client_speaks_http2_when_the_server_offers_it() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let mut tls = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let mut config = kube::Config::new(url.parse().unwrap());
        config.root_cert = Some(vec![cert.der().to_vec()]);
        let client = http2_client(&config).unwrap();
        let request = tokio::spawn(async move {
            let request = http::Request::get("/version").body(Vec::new()).unwrap();
            let _ = client.request_text(request).await;
        });
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = tokio_rustls::TlsAcceptor::from(Arc::new(tls))
            .accept(stream)
            .await
            .unwrap();
        assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let mut preface = [0u8; 24];
        stream.read_exact(&mut preface).await.unwrap();
        assert_eq!(&preface, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        request.abort();
    }
}
