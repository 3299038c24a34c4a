//! `/metrics`: upstream's request counter and latency histogram, with its names, labels and
//! buckets, and the stored objects per resource; only for authenticated users.

use crate::{Cluster, raw, send};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use serde_json::json;

/// GETs `/metrics` as `client`: the status code, the content type and the text.
async fn scrape(client: &kube::Client) -> (u16, String, String) {
    let (code, content_type, body) = send(client, "GET", "/metrics", &[], Vec::new()).await;
    (code, content_type, String::from_utf8(body).unwrap())
}

/// The value of the series `name{labels}` in `text`, with labels in upstream's order.
fn value(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.parse().unwrap())
}

fn configmaps(verb: &str, scope: &str, dry_run: &str) -> String {
    format!(
        "component=\"apiserver\",dry_run=\"{dry_run}\",group=\"\",resource=\"configmaps\",scope=\"{scope}\",subresource=\"\",verb=\"{verb}\",version=\"v1\""
    )
}

#[tokio::test]
async fn metrics_count_and_time_requests_as_upstream_labels_them() {
    let c = Cluster::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "settings", "labels": {"app": "web"}}, "data": {"a": "1"}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    cms.get("settings").await.unwrap();
    assert!(cms.get("missing").await.is_err());
    cms.list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    let dry = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    cms.patch("settings", &dry, &Patch::Merge(json!({"data": {"a": "2"}})))
        .await
        .unwrap();
    {
        use tokio_stream::StreamExt;
        let stream = cms
            .watch(&WatchParams::default().timeout(1), "0")
            .await
            .unwrap();
        let _ = stream.take(1).collect::<Vec<_>>().await;
    }
    cms.delete("settings", &DeleteParams::default())
        .await
        .unwrap();

    // The object counts are the watch cache's, whose feed applies the delete on its own
    // thread, maybe after the delete has answered: scrape until it shows.
    let mut attempts = 0;
    let (code, content_type, text) = loop {
        let (code, content_type, text) = scrape(&c.client).await;
        let counted = value(
            &text,
            "apiserver_storage_objects",
            "resource=\"configmaps\"",
        );
        attempts += 1;
        if counted == Some(0.0) || attempts == 50 {
            break (code, content_type, text);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(code, 200, "{text}");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(text.contains("# TYPE apiserver_request_total counter\n"));
    assert!(text.contains("# TYPE apiserver_request_duration_seconds histogram\n"));
    let total = |verb, scope, dry_run, code: &str| {
        let labels = format!("code=\"{code}\",{}", configmaps(verb, scope, dry_run));
        value(&text, "apiserver_request_total", &labels)
    };
    assert_eq!(total("POST", "resource", "", "201"), Some(1.0), "{text}");
    assert_eq!(total("GET", "resource", "", "200"), Some(1.0));
    assert_eq!(total("GET", "resource", "", "404"), Some(1.0));
    assert_eq!(total("LIST", "namespace", "", "200"), Some(1.0));
    assert_eq!(total("PATCH", "resource", "All", "200"), Some(1.0));
    assert_eq!(total("WATCH", "namespace", "", "200"), Some(1.0));
    assert_eq!(total("DELETE", "resource", "", "200"), Some(1.0));

    let post = configmaps("POST", "resource", "");
    let bucket = |le: &str| {
        value(
            &text,
            "apiserver_request_duration_seconds_bucket",
            &format!("{post},le=\"{le}\""),
        )
    };
    assert_eq!(bucket("+Inf"), Some(1.0));
    assert_eq!(bucket("60"), Some(1.0));
    assert!(bucket("0.005").is_some());
    let buckets = text
        .lines()
        .filter(|l| {
            l.starts_with(&format!(
                "apiserver_request_duration_seconds_bucket{{{post},"
            ))
        })
        .count();
    assert_eq!(buckets, 24, "upstream's 23 bounds and +Inf");
    assert!(value(&text, "apiserver_request_duration_seconds_sum", &post).unwrap() > 0.0);
    let watch = configmaps("WATCH", "namespace", "");
    assert!(
        value(&text, "apiserver_request_duration_seconds_count", &watch).is_none(),
        "watches are not timed"
    );
    assert_eq!(
        value(
            &text,
            "apiserver_storage_objects",
            "resource=\"namespaces\""
        ),
        Some(4.0),
        "default, kube-system, kube-public, kube-node-lease"
    );
    assert_eq!(
        value(
            &text,
            "apiserver_storage_objects",
            "resource=\"configmaps\""
        ),
        Some(0.0)
    );
    assert!(text.contains("apiserver_storage_objects{resource=\"deployments.apps\"} 0\n"));

    let (code, _, _) = scrape(&c.client_with_token(None)).await;
    assert_eq!(code, 401);
    let (code, body) = raw(&c.client, "POST", "/metrics", "text/plain", vec![]).await;
    assert_eq!(code, 405, "{body}");
    c.server.shutdown().await;
}
