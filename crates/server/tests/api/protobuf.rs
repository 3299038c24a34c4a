//! Protobuf responses: objects, lists and watch streams of built-in kinds in Kubernetes
//! protobuf for clients that ask for it; Tables and custom resources stay JSON, or 406 when
//! the client takes nothing else.

use crate::Cluster;
use rkube_protobuf::Codec;
use serde_json::{Value, json};

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// Sends a request with `accept`; returns the status, content type and body bytes.
async fn fetch(
    c: &Cluster,
    method: &str,
    path: &str,
    accept: &str,
    body: Vec<u8>,
) -> (u16, String, Vec<u8>) {
    let headers = [("accept", accept), ("content-type", "application/json")];
    crate::send(&c.client, method, path, &headers, body).await
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test]
async fn built_in_kinds_are_served_as_protobuf() {
    let c = Cluster::start().await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "y"}}, "data": {"k": "v"}});
    let (code, content_type, body) =
        fetch(&c, "POST", CMS, PROTOBUF, serde_json::to_vec(&cm).unwrap()).await;
    assert_eq!((code, content_type.as_str()), (201, PROTOBUF));
    let created = Codec::builtin().decode(&body).unwrap();
    assert_eq!(created["data"], json!({"k": "v"}));

    // GET: the same object as its JSON form.
    let (_, _, json_body) = fetch(
        &c,
        "GET",
        &format!("{CMS}/a"),
        "application/json",
        Vec::new(),
    )
    .await;
    let as_json: Value = serde_json::from_slice(&json_body).unwrap();
    let (code, content_type, body) = fetch(
        &c,
        "GET",
        &format!("{CMS}/a"),
        &format!("{PROTOBUF}, */*"),
        Vec::new(),
    )
    .await;
    assert_eq!((code, content_type.as_str()), (200, PROTOBUF));
    assert_eq!(Codec::builtin().decode(&body).unwrap(), as_json);

    // LIST.
    let (code, _, body) = fetch(&c, "GET", CMS, PROTOBUF, Vec::new()).await;
    assert_eq!(code, 200);
    let list = Codec::builtin().decode(&body).unwrap();
    assert_eq!(list["kind"], "ConfigMapList");
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["metadata"]["name"] == "a")
    );

    // Tables stay JSON.
    let table = "application/json;as=Table;v=v1;g=meta.k8s.io";
    let (code, content_type, _) = fetch(&c, "GET", CMS, table, Vec::new()).await;
    assert_eq!((code, content_type.as_str()), (200, "application/json"));
    c.server.shutdown().await;
}

#[tokio::test]
async fn watch_streams_frame_protobuf_events() {
    let c = Cluster::start().await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w"}});
    let (code, _, _) = fetch(
        &c,
        "POST",
        CMS,
        "application/json",
        serde_json::to_vec(&cm).unwrap(),
    )
    .await;
    assert_eq!(code, 201);
    let path = format!("{CMS}?watch=true&fieldSelector=metadata.name%3Dw&timeoutSeconds=1");
    let (code, content_type, body) = fetch(&c, "GET", &path, PROTOBUF, Vec::new()).await;
    assert_eq!(code, 200);
    assert_eq!(
        content_type,
        "application/vnd.kubernetes.protobuf;stream=watch"
    );
    // One frame: length, then a WatchEvent {type, object.raw} whose raw is a protobuf body.
    let len = u32::from_be_bytes(body[..4].try_into().unwrap()) as usize;
    let event = &body[4..4 + len];
    let added = event.windows(5).any(|w| w == b"ADDED");
    assert!(added, "{event:?}");
    let start = event.windows(4).position(|w| w == b"k8s\0").unwrap();
    let object = Codec::builtin().decode(&event[start..]).unwrap();
    assert_eq!(object["metadata"]["name"], "w");
    c.server.shutdown().await;
}

#[tokio::test]
async fn kinds_without_a_message_fall_back_to_json_or_406() {
    let c = Cluster::start().await;
    crate::crd::establish(&c, "widgets").await;
    let widgets = "/apis/stable.example.com/v1/namespaces/default/widgets";
    let (code, _, _) = fetch(&c, "GET", widgets, PROTOBUF, Vec::new()).await;
    assert_eq!(code, 406);
    let (code, content_type, _) = fetch(
        &c,
        "GET",
        widgets,
        &format!("{PROTOBUF}, application/json"),
        Vec::new(),
    )
    .await;
    assert_eq!((code, content_type.as_str()), (200, "application/json"));
    let (code, _, _) = fetch(
        &c,
        "GET",
        &format!("{widgets}?watch=true"),
        PROTOBUF,
        Vec::new(),
    )
    .await;
    assert_eq!(code, 406);
    c.server.shutdown().await;
}
