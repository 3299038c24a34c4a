//! Bad input and missing credentials get upstream's errors, and the server keeps serving.

use crate::{Cluster, api_error, raw};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, PostParams};
use serde_json::json;

#[tokio::test]
async fn invalid_objects_get_422_with_field_paths() {
    let c = Cluster::start().await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "Bad_Name"},
        "spec": {"containers": [{"name": "c"}]},
    }))
    .unwrap();
    let err = api_error(pods.create(&PostParams::default(), &pod).await);
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    let causes = err.details.unwrap().causes;
    let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
    assert!(fields.contains(&"metadata.name"), "{fields:?}");
    assert!(fields.contains(&"spec.containers[0].image"), "{fields:?}");
    c.server.shutdown().await;
}

#[tokio::test]
async fn malformed_bodies_are_rejected_and_the_server_keeps_serving() {
    let c = Cluster::start().await;
    let path = "/api/v1/namespaces/default/configmaps";
    let (code, body) = raw(
        &c.client,
        "POST",
        path,
        "application/json",
        b"{\"kind\": ".to_vec(),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["reason"], "BadRequest");

    let (code, _) = raw(
        &c.client,
        "POST",
        path,
        "application/yaml",
        b"a: [b\n".to_vec(),
    )
    .await;
    assert_eq!(code, 400);

    let (code, body) = raw(&c.client, "POST", path, "text/plain", b"hello".to_vec()).await;
    assert_eq!(code, 415, "{body}");

    let big = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
                     "data": {"x": "a".repeat(4 * 1024 * 1024)}});
    let (code, _) = raw(
        &c.client,
        "POST",
        path,
        "application/json",
        serde_json::to_vec(&big).unwrap(),
    )
    .await;
    assert_eq!(code, 413);

    let stored_limit = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
                              "data": {"x": "a".repeat(2 * 1024 * 1024)}});
    let (code, _) = raw(
        &c.client,
        "POST",
        path,
        "application/json",
        serde_json::to_vec(&stored_limit).unwrap(),
    )
    .await;
    assert_eq!(code, 413);

    let (code, body) = raw(
        &c.client,
        "GET",
        "/api/v1/namespaces/default/widgets",
        "application/json",
        vec![],
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(
        body["message"],
        "the server could not find the requested resource"
    );
    let (code, _) = raw(
        &c.client,
        "GET",
        "/apis/apps/v9/deployments",
        "application/json",
        vec![],
    )
    .await;
    assert_eq!(code, 404);

    // Still serving.
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    assert!(cms.list(&Default::default()).await.is_ok());
    c.server.shutdown().await;
}

#[tokio::test]
async fn strict_field_validation_names_unknown_fields() {
    let c = Cluster::start().await;
    let path = "/api/v1/namespaces/default/configmaps?fieldValidation=Strict";
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "bogus": 1}, "dataa": {}});
    let (code, body) = raw(
        &c.client,
        "POST",
        path,
        "application/json",
        serde_json::to_vec(&cm).unwrap(),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("strict decoding error"), "{message}");
    assert!(message.contains("unknown field \"dataa\""), "{message}");
    assert!(
        message.contains("unknown field \"metadata.bogus\""),
        "{message}"
    );
    // Warn (the default) stores the object without the unknown fields.
    let (code, body) = raw(
        &c.client,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        serde_json::to_vec(&cm).unwrap(),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert!(body.get("dataa").is_none());
    c.server.shutdown().await;
}

#[tokio::test]
async fn requests_without_credentials_get_401_and_tokens_authenticate() {
    let c = Cluster::start().await;
    let anonymous = c.client_with_token(None);
    let cms: Api<ConfigMap> = Api::namespaced(anonymous, "default");
    let err = api_error(cms.list(&Default::default()).await);
    assert_eq!(err.code, 401);

    let alice = c.client_with_token(Some("s3cret-token"));
    let cms: Api<ConfigMap> = Api::namespaced(alice, "default");
    cms.list(&Default::default()).await.unwrap();

    // Both requests are in the audit log, with user and code.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let audit = std::fs::read_to_string(c.dir().join("audit.log")).unwrap();
    let events: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["user"]["username"] == "system:anonymous"
                && e["responseStatus"]["code"] == 401)
    );
    let alice_event = events
        .iter()
        .find(|e| e["user"]["username"] == "alice")
        .expect("alice's request is audited");
    assert_eq!(alice_event["verb"], "list");
    assert_eq!(alice_event["objectRef"]["resource"], "configmaps");
    assert_eq!(alice_event["objectRef"]["namespace"], "default");
    assert_eq!(alice_event["responseStatus"]["code"], 200);
    c.server.shutdown().await;
}

#[tokio::test]
async fn creates_in_a_missing_or_terminating_namespace_are_refused() {
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::DeleteParams;
    let c = Cluster::start().await;
    let cm = |name: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()
    };
    let missing: Api<ConfigMap> = Api::namespaced(c.client.clone(), "nowhere");
    let err = api_error(missing.create(&PostParams::default(), &cm("a")).await);
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));

    let namespaces: Api<Namespace> = Api::all(c.client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "leaving"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    // No namespace controller runs here: the namespace stays Terminating.
    namespaces
        .delete("leaving", &DeleteParams::default())
        .await
        .unwrap();
    let leaving: Api<ConfigMap> = Api::namespaced(c.client.clone(), "leaving");
    // Admission reads the namespace from the watch cache, which follows the delete shortly.
    let mut refused = None;
    for i in 0..50 {
        let name = format!("cm-{i}");
        match leaving.create(&PostParams::default(), &cm(&name)).await {
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            Err(err) => {
                refused = Some((name, api_error::<ConfigMap>(Err(err))));
                break;
            }
        }
    }
    let (name, err) = refused.expect("a create in a terminating namespace is refused");
    assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        err.message,
        format!(
            "configmaps \"{name}\" is forbidden: unable to create new content in namespace \
             leaving because it is being terminated"
        )
    );
    let causes = err.details.unwrap().causes;
    assert_eq!(causes[0].reason, "NamespaceTerminating");
    assert_eq!(causes[0].field, "metadata.namespace");
    c.server.shutdown().await;
}
