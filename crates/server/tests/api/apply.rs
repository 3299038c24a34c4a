//! Server-side apply through a client library, as operators use it: creation by apply,
//! field ownership, conflicts with their causes, forcing, and status applied on its own.

use crate::{Cluster, api_error, raw};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

fn config(data: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": data})
}

#[tokio::test]
async fn apply_creates_merges_and_reports_conflicts() {
    let c = Cluster::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let ci = PatchParams::apply("ci");
    let cm = cms
        .patch(
            "cfg",
            &ci,
            &Patch::Apply(config(json!({"a": "1", "b": "2"}))),
        )
        .await
        .unwrap();
    let managed = cm.metadata.managed_fields.clone().unwrap();
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].manager.as_deref(), Some("ci"));
    assert_eq!(managed[0].operation.as_deref(), Some("Apply"));

    // Another manager applies its own key: both are kept.
    let ops = PatchParams::apply("ops");
    let cm = cms
        .patch("cfg", &ops, &Patch::Apply(config(json!({"c": "3"}))))
        .await
        .unwrap();
    assert_eq!(cm.data.unwrap().len(), 3);

    // ci stops applying b: it goes; c stays (ops owns it).
    let cm = cms
        .patch("cfg", &ci, &Patch::Apply(config(json!({"a": "1"}))))
        .await
        .unwrap();
    let data = cm.data.unwrap();
    assert_eq!(data.keys().collect::<Vec<_>>(), ["a", "c"]);

    // ops changing ci's field conflicts, with the field and the manager.
    let status = api_error(
        cms.patch(
            "cfg",
            &ops,
            &Patch::Apply(config(json!({"a": "9", "c": "3"}))),
        )
        .await,
    );
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"ci\": .data.a"
    );
    let details = status.details.unwrap();
    assert_eq!(details.causes[0].field, ".data.a");
    assert_eq!(details.causes[0].reason, "FieldManagerConflict");
    let forced = cms
        .patch(
            "cfg",
            &PatchParams::apply("ops").force(),
            &Patch::Apply(config(json!({"a": "9", "c": "3"}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["a"], "9");

    // An ordinary update takes the fields it changes from the appliers.
    let mut cm = cms.get("cfg").await.unwrap();
    cm.data
        .as_mut()
        .unwrap()
        .insert("c".into(), "edited".into());
    cms.replace(
        "cfg",
        &kube::api::PostParams {
            field_manager: Some("editor".into()),
            ..Default::default()
        },
        &cm,
    )
    .await
    .unwrap();
    let status = api_error(
        cms.patch(
            "cfg",
            &ops,
            &Patch::Apply(config(json!({"a": "9", "c": "3"}))),
        )
        .await,
    );
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"editor\" using v1: .data.c"
    );
    c.server.shutdown().await;
}

#[tokio::test]
async fn apply_needs_a_field_manager_and_force_needs_apply() {
    let c = Cluster::start().await;
    let path = "/api/v1/namespaces/default/configmaps/cfg";
    let body = serde_json::to_vec(&config(json!({"a": "1"}))).unwrap();
    let (code, status) = raw(
        &c.client,
        "PATCH",
        path,
        "application/apply-patch+yaml",
        body,
    )
    .await;
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["details"]["causes"][0]["field"], "fieldManager");
    let (code, status) = raw(
        &c.client,
        "PATCH",
        &format!("{path}?force=true"),
        "application/merge-patch+json",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(code, 422, "{status}");
    // YAML bodies, as kubectl sends them.
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: \"1\"\n";
    let (code, cm) = raw(
        &c.client,
        "PATCH",
        &format!("{path}?fieldManager=kubectl"),
        "application/apply-patch+yaml",
        yaml.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(code, 201, "{cm}");
    assert_eq!(cm["data"]["a"], "1");
    c.server.shutdown().await;
}

#[tokio::test]
async fn status_is_applied_on_its_own() {
    let c = Cluster::start().await;
    let deployments: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
        "status": {"replicas": 7},
    });
    let created = deployments
        .patch("web", &PatchParams::apply("ci"), &Patch::Apply(&d))
        .await
        .unwrap();
    // The main resource does not take status.
    assert!(created.status.is_none_or(|s| s.replicas.is_none()));
    let status = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "status": {"replicas": 3}});
    let patched = deployments
        .patch_status(
            "web",
            &PatchParams::apply("controller"),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    assert_eq!(patched.status.unwrap().replicas, Some(3));
    let managers: Vec<(String, Option<String>)> = patched
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| (m.manager.unwrap(), m.subresource))
        .collect();
    assert!(
        managers.contains(&("controller".to_owned(), Some("status".to_owned()))),
        "{managers:?}"
    );
    assert!(managers.contains(&("ci".to_owned(), None)), "{managers:?}");
    c.server.shutdown().await;
}
