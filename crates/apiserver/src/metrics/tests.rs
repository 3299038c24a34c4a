use super::*;
use crate::request::{parse_query, resource_request};
use http::Method;
use rkube_registry::kinds;

fn labels(
    method: Method,
    path: &str,
    query: &str,
    content_type: Option<&str>,
) -> Option<RequestLabels> {
    let query = parse_query(Some(query));
    let rr = resource_request(&method, path, &query)?;
    let info = kinds::find(&rr.group, &rr.version, &rr.resource)?;
    RequestLabels::for_request(info, &rr, &query, content_type)
}

fn verb_and_scope(method: Method, path: &str, query: &str) -> (&'static str, &'static str) {
    let l = labels(method, path, query, None).expect("a served resource");
    (l.verb, l.scope)
}

#[test]
fn verbs_and_scopes_are_upstreams() {
    let pods = "/api/v1/namespaces/default/pods";
    assert_eq!(verb_and_scope(Method::GET, pods, ""), ("LIST", "namespace"));
    assert_eq!(
        verb_and_scope(Method::GET, pods, "watch=true"),
        ("WATCH", "namespace")
    );
    assert_eq!(
        verb_and_scope(Method::GET, "/api/v1/watch/pods", ""),
        ("WATCH", "cluster")
    );
    assert_eq!(
        verb_and_scope(Method::GET, &format!("{pods}/web"), ""),
        ("GET", "resource")
    );
    assert_eq!(verb_and_scope(Method::POST, pods, ""), ("POST", "resource"));
    assert_eq!(
        verb_and_scope(Method::PUT, &format!("{pods}/web"), ""),
        ("PUT", "resource")
    );
    assert_eq!(
        verb_and_scope(Method::PATCH, &format!("{pods}/web"), ""),
        ("PATCH", "resource")
    );
    assert_eq!(
        verb_and_scope(Method::DELETE, &format!("{pods}/web"), ""),
        ("DELETE", "resource")
    );
    assert_eq!(
        verb_and_scope(Method::DELETE, pods, ""),
        ("DELETE", "namespace")
    );
    assert_eq!(
        verb_and_scope(Method::GET, "/api/v1/nodes", ""),
        ("LIST", "cluster")
    );
    let apply = labels(
        Method::PATCH,
        &format!("{pods}/web"),
        "",
        Some("application/apply-patch+yaml"),
    )
    .unwrap();
    assert_eq!(apply.verb, "APPLY");
}

#[test]
fn labels_name_the_served_resource_and_nothing_unbounded() {
    let l = labels(
        Method::PUT,
        "/apis/apps/v1/namespaces/ns/deployments/d/scale",
        "dryRun=All",
        None,
    )
    .unwrap();
    assert_eq!(
        (
            l.group,
            l.version,
            l.resource,
            l.subresource,
            l.dry_run,
            l.component
        ),
        ("apps", "v1", "deployments", "scale", "All", "apiserver")
    );
    assert_eq!(
        labels(Method::GET, "/api/v1/pods", "dryRun=bogus", None)
            .unwrap()
            .dry_run,
        "invalid"
    );
    assert!(
        labels(
            Method::GET,
            "/api/v1/namespaces/ns/pods/p/nonsense",
            "",
            None
        )
        .is_none()
    );
    assert!(labels(Method::GET, "/apis/nope.example.com/v1/things", "", None).is_none());
}

fn pods_list() -> RequestLabels {
    labels(Method::GET, "/api/v1/namespaces/default/pods", "", None).unwrap()
}

#[test]
fn requests_are_counted_by_code_and_timed_in_upstreams_buckets() {
    let metrics = Metrics::default();
    metrics.observe(pods_list(), 200, Duration::from_millis(3));
    metrics.observe(pods_list(), 200, Duration::from_millis(30));
    metrics.observe(pods_list(), 404, Duration::from_secs(100));
    let text = metrics.render(&[]);
    let series = "component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"namespace\",subresource=\"\",verb=\"LIST\",version=\"v1\"";
    assert!(
        text.contains(&format!(
            "apiserver_request_total{{code=\"200\",{series}}} 2\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "apiserver_request_total{{code=\"404\",{series}}} 1\n"
        )),
        "{text}"
    );
    for (le, count) in [
        ("0.005", 1),
        ("0.025", 1),
        ("0.05", 2),
        ("60", 2),
        ("+Inf", 3),
    ] {
        let line =
            format!("apiserver_request_duration_seconds_bucket{{{series},le=\"{le}\"}} {count}\n");
        assert!(text.contains(&line), "missing {line} in {text}");
    }
    assert!(text.contains(&format!(
        "apiserver_request_duration_seconds_count{{{series}}} 3\n"
    )));
    assert!(
        text.contains(&format!(
            "apiserver_request_duration_seconds_sum{{{series}}} 100.033\n"
        )),
        "{text}"
    );
    assert!(text.contains("# TYPE apiserver_request_total counter\n"));
    assert!(text.contains("# TYPE apiserver_request_duration_seconds histogram\n"));
}

#[test]
fn watches_are_counted_but_not_timed() {
    let metrics = Metrics::default();
    let watch = labels(Method::GET, "/api/v1/pods", "watch=1", None).unwrap();
    metrics.observe(watch, 200, Duration::from_secs(300));
    let text = metrics.render(&[]);
    assert!(
        text.contains("verb=\"WATCH\",version=\"v1\"} 1\n"),
        "{text}"
    );
    assert!(
        !text.contains("apiserver_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[test]
fn health_checks_and_stored_objects() {
    let metrics = Metrics::default();
    metrics.observe(RequestLabels::for_health("/readyz"), 200, Duration::ZERO);
    let deployments = kinds::find("apps", "v1", "deployments").unwrap();
    let text = metrics.render(&[
        (storage_resource_label(deployments), 2),
        (
            storage_resource_label(kinds::find("", "v1", "pods").unwrap()),
            5,
        ),
    ]);
    assert!(text.contains("apiserver_request_total{code=\"200\",component=\"\",dry_run=\"\",group=\"\",resource=\"\",scope=\"\",subresource=\"/readyz\",verb=\"GET\",version=\"\"} 1\n"), "{text}");
    assert!(text.contains("# TYPE apiserver_storage_objects gauge\napiserver_storage_objects{resource=\"deployments.apps\"} 2\napiserver_storage_objects{resource=\"pods\"} 5\n"), "{text}");
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    assert_eq!(escape("plain"), "plain");
}
