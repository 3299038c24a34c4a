//! What a request asks for, read from its method, path and query: the
//! upstream API server's "request info".

use std::collections::HashMap;

/// The verb of a resource request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// GET of one object.
    Get,
    /// GET of a collection.
    List,
    /// GET of a collection with `watch`.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH.
    Patch,
    /// DELETE of one object.
    Delete,
    /// DELETE of a collection.
    DeleteCollection,
}

impl Verb {
    /// The name upstream uses in authorization and audit.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

/// A request for a resource (as opposed to discovery or health paths).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceRequest {
    /// The verb.
    pub verb: Verb,
    /// API group ("" for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Namespace from the path.
    pub namespace: Option<String>,
    /// Plural resource name.
    pub resource: String,
    /// Object name.
    pub name: Option<String>,
    /// Subresource name.
    pub subresource: Option<String>,
}

/// Decoded query parameters (last value wins).
pub type Query = HashMap<String, String>;

/// Parses a query string.
pub fn parse_query(query: Option<&str>) -> Query {
    let mut out = Query::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k), percent_decode(v));
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or(""),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a query flag is set (`true` or `1`).
pub fn flag(query: &Query, name: &str) -> bool {
    matches!(query.get(name).map(String::as_str), Some("true" | "1"))
}

/// Subresources of namespaces (so `/api/v1/namespaces/x/status` is one).
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

/// Reads a resource request from a method, path and query; `None` for
/// paths that are not resource paths.
pub fn resource_request(
    method: &http::Method,
    path: &str,
    query: &Query,
) -> Option<ResourceRequest> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, mut rest) = match segments.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => (String::new(), *version, rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => {
            (group.to_string(), *version, rest)
        }
        _ => return None,
    };
    let mut legacy_watch = false;
    if rest.first() == Some(&"watch") {
        legacy_watch = true;
        rest = &rest[1..];
    }
    let (namespace, resource, name, subresource) = match rest {
        ["namespaces", ns, resource, tail @ ..]
            if !(tail.is_empty() && NAMESPACE_SUBRESOURCES.contains(resource)) =>
        {
            (Some(ns.to_string()), *resource, tail.first(), tail.get(1))
        }
        [resource, tail @ ..] => (None, *resource, tail.first(), tail.get(1)),
        [] => return None,
    };
    if rest.len() > 5 || resource.is_empty() {
        return None;
    }
    let name = name.map(|s| s.to_string()).filter(|s| !s.is_empty());
    let verb = match (method.as_str(), name.is_some()) {
        ("GET" | "HEAD", _) if legacy_watch || flag(query, "watch") => Verb::Watch,
        ("GET" | "HEAD", true) => Verb::Get,
        ("GET" | "HEAD", false) => Verb::List,
        ("POST", _) => Verb::Create,
        ("PUT", _) => Verb::Update,
        ("PATCH", _) => Verb::Patch,
        ("DELETE", true) => Verb::Delete,
        ("DELETE", false) => Verb::DeleteCollection,
        _ => return None,
    };
    Some(ResourceRequest {
        verb,
        group,
        version: version.to_string(),
        namespace,
        resource: resource.to_string(),
        name,
        subresource: subresource.map(|s| s.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn req(method: Method, path: &str, query: &str) -> ResourceRequest {
        resource_request(&method, path, &parse_query(Some(query))).expect("a resource request")
    }

    #[test]
    fn namespaced_paths() {
        let r = req(Method::GET, "/api/v1/namespaces/default/pods/web", "");
        assert_eq!(r.verb, Verb::Get);
        assert_eq!(
            (
                r.namespace.as_deref(),
                r.resource.as_str(),
                r.name.as_deref()
            ),
            (Some("default"), "pods", Some("web"))
        );
        let r = req(
            Method::GET,
            "/apis/apps/v1/namespaces/ns/deployments/d/scale",
            "",
        );
        assert_eq!(
            (r.group.as_str(), r.subresource.as_deref()),
            ("apps", Some("scale"))
        );
        let r = req(Method::GET, "/api/v1/namespaces/default/pods", "watch=true");
        assert_eq!(r.verb, Verb::Watch);
        let r = req(Method::GET, "/api/v1/watch/namespaces/default/pods", "");
        assert_eq!(r.verb, Verb::Watch);
    }

    #[test]
    fn namespaces_themselves() {
        let r = req(Method::GET, "/api/v1/namespaces/kube-system", "");
        assert_eq!(
            (r.namespace, r.resource.as_str(), r.name.as_deref()),
            (None, "namespaces", Some("kube-system"))
        );
        let r = req(Method::PUT, "/api/v1/namespaces/x/status", "");
        assert_eq!(
            (
                r.resource.as_str(),
                r.name.as_deref(),
                r.subresource.as_deref()
            ),
            ("namespaces", Some("x"), Some("status"))
        );
        let r = req(Method::DELETE, "/api/v1/namespaces", "");
        assert_eq!(r.verb, Verb::DeleteCollection);
    }

    #[test]
    fn cluster_wide_lists_and_queries() {
        let r = req(
            Method::GET,
            "/api/v1/pods",
            "labelSelector=app%3Dweb&limit=5",
        );
        assert_eq!((r.verb, r.namespace), (Verb::List, None));
        let q = parse_query(Some("labelSelector=app%3Dweb%2Ctier+in+(a)&limit=5"));
        assert_eq!(q["labelSelector"], "app=web,tier in (a)");
        assert!(resource_request(&Method::GET, "/api/v1", &Query::new()).is_none());
        assert!(resource_request(&Method::GET, "/healthz", &Query::new()).is_none());
    }
}
