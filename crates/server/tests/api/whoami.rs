//! SelfSubjectReview (`kubectl auth whoami`): created, never stored, answered with the user
//! the request was authenticated as, whichever way it was.

use crate::tokens::{claims, create_account, request_token};
use crate::{Cluster, raw};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

/// POSTs a SelfSubjectReview at `version` as `client`; the code and the answer.
async fn review(client: &kube::Client, version: &str) -> (u16, Value) {
    let body = json!({"apiVersion": format!("authentication.k8s.io/{version}"), "kind": "SelfSubjectReview"});
    raw(
        client,
        "POST",
        &format!("/apis/authentication.k8s.io/{version}/selfsubjectreviews"),
        "application/json",
        serde_json::to_vec(&body).unwrap(),
    )
    .await
}

#[tokio::test]
async fn the_admin_certificate_reviews_as_system_admin_of_system_masters() {
    let c = Cluster::start().await;
    let (code, answer) = review(&c.client, "v1").await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["kind"], "SelfSubjectReview");
    assert_eq!(answer["apiVersion"], "authentication.k8s.io/v1");
    assert!(answer["metadata"]["creationTimestamp"].is_string());
    let user = &answer["status"]["userInfo"];
    assert_eq!(user["username"], "system:admin");
    assert_eq!(
        user["groups"],
        json!(["system:masters", "system:authenticated"])
    );
    assert!(user.get("uid").is_none(), "{user}");
    let credential = user["extra"]["authentication.kubernetes.io/credential-id"][0]
        .as_str()
        .unwrap();
    assert!(
        credential.starts_with("X509SHA256=") && credential.len() == 11 + 64,
        "{credential}"
    );
    c.server.shutdown().await;
}

#[tokio::test]
async fn a_token_from_the_token_file_reviews_as_its_user_in_either_version() {
    let c = Cluster::start().await;
    let alice = c.client_with_token(Some("s3cret-token"));
    for version in ["v1", "v1beta1"] {
        let (code, answer) = review(&alice, version).await;
        assert_eq!(code, 201, "{answer}");
        assert_eq!(
            answer["apiVersion"],
            format!("authentication.k8s.io/{version}")
        );
        assert_eq!(
            answer["status"]["userInfo"],
            json!({"username": "alice", "uid": "1001", "groups": ["devs", "ops", "system:authenticated"]})
        );
    }
    let (code, _) = review(&c.client_with_token(None), "v1").await;
    assert_eq!(code, 401);
    c.server.shutdown().await;
}

#[tokio::test]
async fn a_service_account_token_reviews_with_its_id_and_bound_pod() {
    let c = Cluster::start().await;
    let account = create_account(&c, "runner").await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "job"},
        "spec": {"serviceAccountName": "runner", "containers": [{"name": "c", "image": "busybox"}]},
    }))
    .unwrap();
    let pod_uid = pods
        .create(&PostParams::default(), &pod)
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    let spec = json!({"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "job", "uid": pod_uid}});
    let (code, answer) = request_token(&c, "runner", spec).await;
    assert_eq!(code, 201, "{answer}");
    let token = answer["status"]["token"].as_str().unwrap();
    let jti = claims(token)["jti"].as_str().unwrap().to_owned();

    let (code, answer) = review(&c.client_with_token(Some(token)), "v1").await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(
        answer["status"]["userInfo"],
        json!({
            "username": "system:serviceaccount:default:runner",
            "uid": account.metadata.uid,
            "groups": ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"],
            "extra": {
                "authentication.kubernetes.io/credential-id": [format!("JTI={jti}")],
                "authentication.kubernetes.io/pod-name": ["job"],
                "authentication.kubernetes.io/pod-uid": [pod_uid],
            },
        })
    );
    c.server.shutdown().await;
}

/// The body kubectl 1.33 sends for `auth whoami`: an empty SelfSubjectReview in protobuf.
const KUBECTL_PROTOBUF_REVIEW: &[u8] = b"k8s\0\x0a\x2d\x0a\x18authentication.k8s.io/v1\x12\x11SelfSubjectReview\x12\x1a\x0a\x10\x0a\x00\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x00\x38\x00\x42\x00\x12\x06\x0a\x04\x0a\x00\x12\x00\x1a\x00\x22\x00";

#[tokio::test]
async fn reviews_are_created_from_protobuf_and_json_but_never_stored_or_listed() {
    let c = Cluster::start().await;
    let path = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
    let (code, answer) = raw(
        &c.client,
        "POST",
        path,
        "application/vnd.kubernetes.protobuf",
        KUBECTL_PROTOBUF_REVIEW.to_vec(),
    )
    .await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["status"]["userInfo"]["username"], "system:admin");

    let (code, answer) = raw(&c.client, "GET", path, "", vec![]).await;
    assert_eq!(code, 405, "{answer}");
    assert_eq!(answer["reason"], "MethodNotAllowed");
    let (code, _) = raw(&c.client, "GET", &format!("{path}/mine"), "", vec![]).await;
    assert_eq!(code, 404);
    let (code, answer) = raw(
        &c.client,
        "POST",
        path,
        "application/json",
        br#"{"kind":"Pod","apiVersion":"v1"}"#.to_vec(),
    )
    .await;
    assert_eq!(code, 400, "{answer}");

    let (code, discovery) = raw(
        &c.client,
        "GET",
        "/apis/authentication.k8s.io/v1",
        "",
        vec![],
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        discovery["resources"],
        json!([{"name": "selfsubjectreviews", "singularName": "selfsubjectreview", "namespaced": false, "kind": "SelfSubjectReview", "verbs": ["create"]}])
    );
    let stored = c
        .server
        .api
        .storage()
        .store()
        .list(rkube_store::ListRequest {
            prefix: "/registry/".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        !stored
            .kvs
            .iter()
            .any(|kv| kv.key.contains("selfsubjectreview")),
        "a review was stored"
    );
    c.server.shutdown().await;
}
