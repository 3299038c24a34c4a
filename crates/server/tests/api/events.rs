//! Events: core/v1 and events.k8s.io/v1 are two views of one store.

use crate::{Cluster, raw};
use serde_json::{Value, json};

async fn call(c: &Cluster, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body
        .map(|b| serde_json::to_vec(&b).unwrap())
        .unwrap_or_default();
    raw(&c.client, method, path, "application/json", body).await
}

const CORE: &str = "/api/v1/namespaces/default/events";
const V1: &str = "/apis/events.k8s.io/v1/namespaces/default/events";

#[tokio::test]
async fn both_event_apis_show_the_same_events() {
    let c = Cluster::start().await;
    let (code, created) = call(&c, "POST", V1, Some(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "web.1"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "regarding": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1"},
        "reason": "Started", "note": "Started container web", "type": "Normal",
        "action": "Start", "reportingController": "rkube.dev/kubelet", "reportingInstance": "node-1",
    }))).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["apiVersion"], "events.k8s.io/v1");
    assert_eq!(created["note"], "Started container web");

    // The core view, selected by the involved object as kubectl describe asks.
    let (code, list) = call(
        &c,
        "GET",
        &format!("{CORE}?fieldSelector=involvedObject.name%3Dweb,involvedObject.kind%3DPod"),
        None,
    )
    .await;
    assert_eq!(code, 200, "{list}");
    let event = &list["items"][0];
    assert_eq!(event["apiVersion"], "v1");
    assert_eq!(event["message"], "Started container web");
    assert_eq!(event["involvedObject"]["uid"], "u1");
    assert_eq!(event["reportingComponent"], "rkube.dev/kubelet");

    // A core event, read through events.k8s.io.
    let (code, _) = call(
        &c,
        "POST",
        CORE,
        Some(json!({
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.2"},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web"},
            "reason": "Pulled", "message": "pulled", "type": "Normal", "count": 3,
            "source": {"component": "kubelet"},
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:01Z",
        })),
    )
    .await;
    assert_eq!(code, 201);
    let (code, event) = call(&c, "GET", &format!("{V1}/web.2"), None).await;
    assert_eq!(code, 200, "{event}");
    assert_eq!(event["regarding"]["name"], "web");
    assert_eq!(event["deprecatedCount"], 3);
    assert_eq!(event["deprecatedSource"]["component"], "kubelet");
    let (_, list) = call(&c, "GET", V1, None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["apiVersion"] == "events.k8s.io/v1")
    );

    // Updates through events.k8s.io keep the stored form.
    let (code, patched) = raw(
        &c.client,
        "PATCH",
        &format!("{V1}/web.2"),
        "application/merge-patch+json",
        br#"{"note":"pulled again"}"#.to_vec(),
    )
    .await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["note"], "pulled again");
    let (_, core) = call(&c, "GET", &format!("{CORE}/web.2"), None).await;
    assert_eq!(core["message"], "pulled again");
    assert_eq!(core["count"], 3);
    c.server.shutdown().await;
}
