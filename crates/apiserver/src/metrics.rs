//! The API server's Prometheus metrics (`/metrics`, text exposition format 0.0.4), named and
//! labelled as upstream's: `apiserver_request_total`, `apiserver_request_duration_seconds`
//! and `apiserver_storage_objects`.
//!
//! Every label value is a `&'static str` (resource names come from the registry's
//! `'static` infos), so recording a request allocates nothing: it looks its series up under
//! a read lock and bumps atomics. The write lock is taken only the first time a series is
//! seen.

use crate::request::{Query, ResourceRequest, Verb};
use rkube_registry::ResourceInfo;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of `apiserver_request_duration_seconds`' buckets, as upstream's.
pub const DURATION_BUCKETS: [f64; 23] = [
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0,
    10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
];

/// The labels of one request series (all but `code`), as upstream reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestLabels {
    /// `component`: `apiserver` for API requests, empty for health checks.
    pub component: &'static str,
    /// `dry_run`: empty, `All`, or `invalid`.
    pub dry_run: &'static str,
    /// `group`: the API group ("" for core).
    pub group: &'static str,
    /// `resource`: the plural resource name.
    pub resource: &'static str,
    /// `scope`: `resource` (one object, or a create), `namespace`, `cluster`, or empty.
    pub scope: &'static str,
    /// `subresource`: the subresource, or a health check's path.
    pub subresource: &'static str,
    /// `verb`: `GET`, `LIST`, `WATCH`, `POST`, `PUT`, `PATCH`, `APPLY`, `DELETE`.
    pub verb: &'static str,
    /// `version`: the API version.
    pub version: &'static str,
}

impl RequestLabels {
    /// The labels of a resource request for a served resource, as upstream derives them: the
    /// verb from the HTTP method (GET split into GET, LIST and WATCH; deletes of one object
    /// and of a collection both `DELETE`; server-side apply `APPLY`), the scope `resource`
    /// for a named object or a create. `None` for a subresource the resource does not have,
    /// which keeps every label value bounded by what the server serves.
    pub fn for_request(
        info: &'static ResourceInfo,
        rr: &ResourceRequest,
        query: &Query,
        content_type: Option<&str>,
    ) -> Option<RequestLabels> {
        let subresource = match rr.subresource.as_deref() {
            None => "",
            Some(name) => info
                .subresources
                .iter()
                .map(|s| s.name())
                .find(|s| *s == name)?,
        };
        let verb = match rr.verb {
            Verb::Get => "GET",
            Verb::List => "LIST",
            Verb::Watch => "WATCH",
            Verb::Create => "POST",
            Verb::Update => "PUT",
            Verb::Patch if content_type == Some("application/apply-patch+yaml") => "APPLY",
            Verb::Patch => "PATCH",
            Verb::Delete | Verb::DeleteCollection => "DELETE",
        };
        let scope = if rr.name.is_some() || rr.verb == Verb::Create {
            "resource"
        } else if rr.namespace.is_some() {
            "namespace"
        } else {
            "cluster"
        };
        let dry_run = match query.get("dryRun").map(String::as_str) {
            None => "",
            Some("All") => "All",
            Some(_) => "invalid",
        };
        Some(RequestLabels {
            component: "apiserver",
            dry_run,
            group: info.group,
            resource: info.plural,
            scope,
            subresource,
            verb,
            version: info.version,
        })
    }

    /// The labels of a health check (`/healthz`, `/livez`, `/readyz`), which upstream reports
    /// with the path as the subresource and no component.
    pub fn for_health(path: &'static str) -> RequestLabels {
        RequestLabels {
            component: "",
            dry_run: "",
            group: "",
            resource: "",
            scope: "",
            subresource: path,
            verb: "GET",
            version: "",
        }
    }

    /// Whether the request is long-running (a watch): its duration is how long the client
    /// watched, so upstream keeps it out of the latency histogram.
    fn long_running(&self) -> bool {
        self.verb == "WATCH"
    }

    fn write(&self, out: &mut String, code: Option<u16>, le: Option<&str>) {
        out.push('{');
        if let Some(code) = code {
            let _ = write!(out, "code=\"{code}\",");
        }
        for (name, value) in [
            ("component", self.component),
            ("dry_run", self.dry_run),
            ("group", self.group),
            ("resource", self.resource),
            ("scope", self.scope),
            ("subresource", self.subresource),
            ("verb", self.verb),
            ("version", self.version),
        ] {
            let _ = write!(out, "{name}=\"{}\",", escape(value));
        }
        if let Some(le) = le {
            let _ = write!(out, "le=\"{le}\",");
        }
        out.pop();
        out.push('}');
    }
}

/// A label value escaped for the text format.
fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains(['\\', '"', '\n']) {
        value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .into()
    } else {
        value.into()
    }
}

/// One latency histogram: per-bucket counts (not cumulative), the count and the sum.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; DURATION_BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = DURATION_BUCKETS.iter().position(|le| seconds <= *le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// Series by their labels; readers share the lock, a new series takes it once to insert.
#[derive(Debug)]
struct Family<K, V> {
    series: RwLock<HashMap<K, Arc<V>>>,
}

impl<K, V> Default for Family<K, V> {
    fn default() -> Self {
        Family {
            series: RwLock::new(HashMap::new()),
        }
    }
}

impl<K: Copy + Eq + Hash + Ord, V: Default> Family<K, V> {
    fn get(&self, key: K) -> Arc<V> {
        let found = self
            .series
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        match found {
            Some(series) => series,
            None => self
                .series
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key)
                .or_default()
                .clone(),
        }
    }

    /// Every series, ordered by labels (so the output is stable).
    fn sorted(&self) -> Vec<(K, Arc<V>)> {
        let mut all: Vec<(K, Arc<V>)> = self
            .series
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        all.sort_by_key(|(k, _)| *k);
        all
    }
}

/// The API server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Family<(RequestLabels, u16), AtomicU64>,
    durations: Family<RequestLabels, Histogram>,
}

impl Metrics {
    /// Records one finished request: its response code and how long it took (watches are
    /// counted but not timed).
    pub fn observe(&self, labels: RequestLabels, code: u16, elapsed: Duration) {
        self.requests
            .get((labels, code))
            .fetch_add(1, Ordering::Relaxed);
        if !labels.long_running() {
            self.durations.get(labels).observe(elapsed);
        }
    }

    /// The text exposition of every metric; `objects` are the stored objects per resource
    /// (upstream's `resource` label: `pods`, `deployments.apps`).
    pub fn render(&self, objects: &[(String, usize)]) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP apiserver_request_total [STABLE] Requests served, by verb, dry run, group, version, resource, subresource, scope, component and response code.\n\
             # TYPE apiserver_request_total counter\n",
        );
        for ((labels, code), count) in self.requests.sorted() {
            out.push_str("apiserver_request_total");
            labels.write(&mut out, Some(code), None);
            let _ = writeln!(out, " {}", count.load(Ordering::Relaxed));
        }
        out.push_str(
            "# HELP apiserver_request_duration_seconds [STABLE] How long requests took to answer, in seconds, by verb, dry run, group, version, resource, subresource, scope and component (watches left out).\n\
             # TYPE apiserver_request_duration_seconds histogram\n",
        );
        for (labels, histogram) in self.durations.sorted() {
            let mut cumulative = 0;
            for (le, bucket) in DURATION_BUCKETS.iter().zip(&histogram.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                out.push_str("apiserver_request_duration_seconds_bucket");
                labels.write(&mut out, None, Some(&le.to_string()));
                let _ = writeln!(out, " {cumulative}");
            }
            let count = histogram.count.load(Ordering::Relaxed);
            out.push_str("apiserver_request_duration_seconds_bucket");
            labels.write(&mut out, None, Some("+Inf"));
            let _ = writeln!(out, " {count}");
            out.push_str("apiserver_request_duration_seconds_sum");
            labels.write(&mut out, None, None);
            let sum = histogram.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(out, " {sum}");
            out.push_str("apiserver_request_duration_seconds_count");
            labels.write(&mut out, None, None);
            let _ = writeln!(out, " {count}");
        }
        out.push_str(
            "# HELP apiserver_storage_objects [STABLE] Objects stored now, by resource.\n\
             # TYPE apiserver_storage_objects gauge\n",
        );
        let mut objects: Vec<&(String, usize)> = objects.iter().collect();
        objects.sort();
        for (resource, count) in objects {
            let _ = writeln!(
                out,
                "apiserver_storage_objects{{resource=\"{}\"}} {count}",
                escape(resource)
            );
        }
        out
    }
}

/// The `resource` label `apiserver_storage_objects` names a resource by: `pods`,
/// `deployments.apps`.
pub fn storage_resource_label(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        info.plural.to_owned()
    } else {
        format!("{}.{}", info.plural, info.group)
    }
}

#[cfg(test)]
mod tests;
