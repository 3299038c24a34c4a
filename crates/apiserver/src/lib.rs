//! rkube's API server: HTTP on top of the registry. Every request goes
//! through authentication, authorization, admission and storage, and is
//! written to the audit log.

mod admission;
mod apply;
pub mod audit;
pub mod auth;
pub mod crd;
mod custom;
mod discovery;
pub mod metrics;
mod negotiate;
pub mod openapi;
pub mod request;
mod resource;
mod respond;
mod review;
pub mod tokens;
mod watch;

use audit::{AuditEntry, AuditLog};
use auth::{AllowAuthenticated, Attributes, Authorizer, Decision, TokenFile, UserInfo};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
use axum::response::Response;
use request::{parse_query, resource_request};
use rkube_api::status::StatusError;
use rkube_registry::Storage;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// The Kubernetes version rkube reports (kubectl picks its matching version).
pub const KUBERNETES_VERSION: (&str, &str) = ("1", "33");

/// What the API server is built from.
pub struct ApiServer {
    storage: Storage,
    tokens: TokenFile,
    service_accounts: Option<tokens::ServiceAccountTokens>,
    authorizer: Box<dyn Authorizer>,
    audit: Option<AuditLog>,
    metrics: metrics::Metrics,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

/// The client address of a connection, as a request extension.
#[derive(Clone, Debug)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// `/version`.
fn version() -> serde_json::Value {
    json!({
        "major": KUBERNETES_VERSION.0,
        "minor": KUBERNETES_VERSION.1,
        "gitVersion": format!("v{}.{}.0+rkube-{}", KUBERNETES_VERSION.0, KUBERNETES_VERSION.1, env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    })
}

fn now_micros() -> String {
    rkube_api::time::now_micro_rfc3339()
}

impl ApiServer {
    /// An API server over `storage`, authenticating bearer tokens from
    /// `tokens` and service account tokens signed by `service_accounts` (which also serves
    /// the TokenRequest API), auditing to `audit` when given. Client certificates are
    /// authenticated by the listener.
    pub fn new(
        storage: Storage,
        tokens: TokenFile,
        service_accounts: Option<tokens::ServiceAccountTokens>,
        audit: Option<AuditLog>,
    ) -> Arc<Self> {
        Arc::new(ApiServer {
            storage,
            tokens,
            service_accounts,
            authorizer: Box::new(AllowAuthenticated),
            audit,
            metrics: metrics::Metrics::default(),
        })
    }

    /// The storage behind the API.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The metrics of the requests served so far.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// `/metrics`: the request metrics and the stored objects, in Prometheus' text format.
    fn metrics_page(&self) -> Response {
        let objects: Vec<(String, usize)> = self
            .storage
            .object_counts()
            .into_iter()
            .map(|(info, count)| (metrics::storage_resource_label(info), count))
            .collect();
        let mut resp = Response::new(Body::from(self.metrics.render(&objects)));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        );
        resp
    }

    /// The HTTP service: every path, with panics turned into 500 answers.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        axum::Router::new()
            .fallback(handle)
            .with_state(self.clone())
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
                respond::status(&StatusError::internal_error(
                    "the request handler failed unexpectedly",
                ))
            }))
    }

    async fn authenticate(&self, req: &axum::http::request::Parts) -> Option<UserInfo> {
        if let Some(user) = req.extensions.get::<UserInfo>() {
            return Some(user.clone());
        }
        let auth = req.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let token = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer "))?
            .trim();
        if let Some(user) = self.tokens.user(token) {
            return Some(user.clone());
        }
        match &self.service_accounts {
            Some(issuer) if tokens::looks_like_jwt(token) => {
                tokens::authenticate(issuer, &self.storage, token).await
            }
            _ => None,
        }
    }

    async fn non_resource(
        &self,
        method: &Method,
        path: &str,
        accept: Option<&str>,
    ) -> Result<Response, StatusError> {
        if method != Method::GET && method != Method::HEAD {
            return Err(StatusError::method_not_supported(
                &rkube_api::gvk::GroupResource::default(),
                method.as_str(),
            ));
        }
        let output = negotiate::choose_output(accept).unwrap_or(negotiate::Output::Json);
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let served = self.storage.served();
        let doc = match (segments.as_slice(), output) {
            (["api"], negotiate::Output::Discovery(v)) => {
                return Ok(discovery_response(
                    discovery::aggregated(&served, true, v),
                    v,
                ));
            }
            (["apis"], negotiate::Output::Discovery(v)) => {
                return Ok(discovery_response(
                    discovery::aggregated(&served, false, v),
                    v,
                ));
            }
            (["api"], _) => Some(discovery::api_versions()),
            (["apis"], _) => Some(discovery::api_group_list(&served)),
            (["api", version], _) => discovery::api_resource_list(&served, "", version),
            (["apis", group], _) => discovery::api_group(&served, group),
            (["apis", group, version], _) => discovery::api_resource_list(&served, group, version),
            (["metrics"], _) => return Ok(self.metrics_page()),
            ([".well-known", "openid-configuration"], _) => self
                .service_accounts
                .as_ref()
                .map(tokens::ServiceAccountTokens::openid_configuration),
            (["openid", "v1", "jwks"], _) => {
                return Ok(match &self.service_accounts {
                    Some(issuer) => {
                        let mut resp = respond::value(200, &issuer.jwks());
                        resp.headers_mut().insert(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/jwk-set+json"),
                        );
                        resp
                    }
                    None => not_found_page(),
                });
            }
            (["openapi", "v2"], _) => {
                let custom = self.storage.custom().all();
                let (content_type, body) = openapi::Documents::builtin().v2(accept, &custom);
                let mut resp = respond::json(200, body);
                resp.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                return Ok(resp);
            }
            (["openapi", "v3"], _) => {
                let custom = self.storage.custom().all();
                return Ok(respond::json(
                    200,
                    openapi::Documents::builtin().index(&custom),
                ));
            }
            (["openapi", "v3", rest @ ..], _) => {
                if let Some(doc) = openapi::Documents::builtin().get(&rest.join("/")) {
                    return Ok(respond::json(200, doc.body.clone()));
                }
                let custom = self.storage.custom().all();
                return Ok(match rest {
                    ["apis", group, version] => openapi::custom::served(&custom, group, version)
                        .map_or_else(not_found_page, |doc| respond::json(200, doc.body)),
                    _ => not_found_page(),
                });
            }
            _ => None,
        };
        match doc {
            Some(doc) => Ok(respond::value(200, &doc)),
            None => Ok(not_found_page()),
        }
    }
}

/// Upstream's plain-text answer for a path nothing serves.
fn not_found_page() -> Response {
    let mut resp = Response::new(Body::from("404 page not found\n"));
    *resp.status_mut() = axum::http::StatusCode::NOT_FOUND;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn discovery_response(doc: serde_json::Value, version: &str) -> Response {
    let mut resp = respond::value(200, &doc);
    let content_type =
        format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

fn plain(text: &'static str) -> Response {
    let mut resp = Response::new(Body::from(text));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Serves every request.
async fn handle(State(api): State<Arc<ApiServer>>, req: Request) -> Response {
    // Timestamps cost a formatting each: only taken when there is an audit log.
    let received = api.audit.is_some().then(now_micros);
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let health = match path.as_str() {
        "/healthz" => Some("/healthz"),
        "/livez" => Some("/livez"),
        "/readyz" => Some("/readyz"),
        // Upstream serves both; the Python client asks for `/version/`.
        "/version" | "/version/" => return respond::value(200, &version()),
        _ => None,
    };
    if let Some(path) = health {
        let labels = metrics::RequestLabels::for_health(path);
        api.metrics.observe(labels, 200, started.elapsed());
        return plain("ok");
    }
    let query = parse_query(parts.uri.query());
    let user = api.authenticate(&parts).await;
    let rr = resource_request(&parts.method, &path, &query);
    let response = match &user {
        None => respond::status(&StatusError::unauthorized("Unauthorized")),
        Some(user) => match serve(&api, user, rr.as_ref(), &query, &parts, body).await {
            Ok(resp) => resp,
            Err(err) => respond::status(&err),
        },
    };
    // Like upstream, only authenticated requests for served resources are counted.
    if user.is_some()
        && let Some(rr) = &rr
        && let Some(info) = api.storage.find(&rr.group, &rr.version, &rr.resource)
    {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(negotiate::media_type);
        if let Some(labels) = metrics::RequestLabels::for_request(info, rr, &query, content_type) {
            let code = response.status().as_u16();
            api.metrics.observe(labels, code, started.elapsed());
        }
    }
    if let Some(audit) = &api.audit {
        audit.record(AuditEntry {
            received: received.unwrap_or_default(),
            completed: now_micros(),
            user: user
                .as_ref()
                .map_or("system:anonymous".to_owned(), |u| u.name.clone()),
            groups: user.as_ref().map(|u| u.groups.clone()).unwrap_or_default(),
            verb: rr.as_ref().map_or_else(
                || parts.method.as_str().to_lowercase(),
                |r| r.verb.as_str().to_owned(),
            ),
            uri: parts.uri.to_string(),
            object: rr.map(|r| {
                (
                    r.group,
                    r.version,
                    r.resource,
                    r.subresource,
                    r.namespace,
                    r.name,
                )
            }),
            code: response.status().as_u16(),
            source_ip: parts
                .extensions
                .get::<ClientAddr>()
                .map(|a| a.0.ip().to_string()),
        });
    }
    response
}

async fn serve(
    api: &ApiServer,
    user: &UserInfo,
    rr: Option<&request::ResourceRequest>,
    query: &request::Query,
    parts: &axum::http::request::Parts,
    body: Body,
) -> Result<Response, StatusError> {
    let path = parts.uri.path();
    let attrs = match rr {
        Some(r) => Attributes {
            verb: r.verb.as_str(),
            group: &r.group,
            resource: &r.resource,
            subresource: r.subresource.as_deref(),
            namespace: r.namespace.as_deref(),
            name: r.name.as_deref(),
            path,
        },
        None => Attributes {
            verb: parts.method.as_str(),
            group: "",
            resource: "",
            subresource: None,
            namespace: None,
            name: None,
            path,
        },
    };
    if let Decision::Deny(reason) = api.authorizer.authorize(user, &attrs) {
        return Err(StatusError {
            code: 403,
            reason: "Forbidden".to_owned(),
            message: reason,
            details: None,
        });
    }
    let Some(rr) = rr else {
        let accept = parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        return api.non_resource(&parts.method, path, accept).await;
    };
    let body = axum::body::to_bytes(body, negotiate::MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            StatusError::request_entity_too_large("the request body is larger than 3 MiB")
        })?;
    if let Some(info) = api.storage.find(&rr.group, &rr.version, &rr.resource)
        && !info.stored
    {
        return review::serve(info, rr, query, user, &parts.headers, &body);
    }
    api.resource(rr, query, &parts.headers, body).await
}

/// A user every in-process component acts as: full access, like upstream's
/// loopback client.
pub fn loopback_user() -> UserInfo {
    UserInfo::new("system:apiserver", "", vec!["system:masters".to_owned()])
}

/// The API as an in-process HTTP service (no socket, no TLS) acting as `user`: what
/// in-process components and tests build their clients on (e.g.
/// `kube::Client::new(service, "default")`). Requests without a `User-Agent` carry `agent`
/// (e.g. `kube-scheduler/v1.33.0`), which names the component as the manager of its writes
/// in `managedFields`, as upstream's components are named.
pub fn in_process<B>(
    api: Arc<ApiServer>,
    user: UserInfo,
    agent: Option<&'static str>,
) -> impl tower::Service<
    Request<B>,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let router = api.router();
    tower::ServiceBuilder::new()
        .map_request(move |mut req: Request<B>| {
            req.extensions_mut().insert(user.clone());
            if let Some(agent) = agent {
                req.headers_mut()
                    .entry(axum::http::header::USER_AGENT)
                    .or_insert(axum::http::HeaderValue::from_static(agent));
            }
            req
        })
        .service(router)
}

type Request<B = Body> = axum::http::Request<B>;
