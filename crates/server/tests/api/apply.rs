//! Server-side apply through a client library, as operators use it: creation by apply,
//! field ownership, conflicts with their causes, forcing, and status applied on its own.

use crate::{Cluster, api_error, raw, send};
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

/// A request as kubectl sends it: its user agent, and `fieldManager` when the command
/// names one.
async fn kubectl(
    c: &Cluster,
    method: &str,
    path: &str,
    content_type: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let (code, _, bytes) = send(
        &c.client,
        method,
        path,
        &[
            ("content-type", content_type),
            (
                "user-agent",
                "kubectl/v1.33.0 (linux/amd64) kubernetes/abcdef",
            ),
        ],
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    (code, serde_json::from_slice(&bytes).unwrap())
}

fn entries(obj: &serde_json::Value) -> Vec<(String, String, Option<String>)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["manager"].as_str().unwrap().to_owned(),
                e["operation"].as_str().unwrap().to_owned(),
                e["subresource"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn web(image: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]}}},
    })
}

#[tokio::test]
async fn creates_updates_and_scales_are_tracked_and_conflict_with_a_later_apply() {
    let c = Cluster::start().await;
    let base = "/apis/apps/v1/namespaces/default/deployments";
    let (code, created) = kubectl(
        &c,
        "POST",
        &format!("{base}?fieldManager=kubectl-create"),
        "application/json",
        web("nginx"),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(
        entries(&created),
        [("kubectl-create".to_owned(), "Update".to_owned(), None)]
    );
    let entry = &created["metadata"]["managedFields"][0];
    assert_eq!(entry["apiVersion"], "apps/v1");
    assert_eq!(entry["fieldsType"], "FieldsV1");
    assert!(entry["time"].is_string());
    assert!(
        entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]
            ["f:image"]
            .is_object(),
        "{entry}"
    );

    // kubectl scale: a merge patch of the scale subresource, named by the user agent.
    let (code, scaled) = kubectl(
        &c,
        "PATCH",
        &format!("{base}/web/scale"),
        "application/merge-patch+json",
        json!({"spec": {"replicas": 3}}),
    )
    .await;
    assert_eq!(code, 200, "{scaled}");
    let (_, live) = raw(&c.client, "GET", &format!("{base}/web"), "", Vec::new()).await;
    assert!(
        entries(&live).contains(&(
            "kubectl".to_owned(),
            "Update".to_owned(),
            Some("scale".to_owned())
        )),
        "{:?}",
        entries(&live)
    );

    // A first apply over them conflicts with both.
    let deployments: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    let status = api_error(
        deployments
            .patch(
                "web",
                &PatchParams::apply("kubectl"),
                &Patch::Apply(web("nginx:1.27")),
            )
            .await,
    );
    assert_eq!(status.code, 409);
    assert_eq!(
        status.message,
        "Apply failed with 2 conflicts: conflicts with \"kubectl\" with subresource \"scale\" using apps/v1:\n- .spec.replicas\nconflicts with \"kubectl-create\" using apps/v1:\n- .spec.template.spec.containers[name=\"web\"].image"
    );
    let forced = deployments
        .patch(
            "web",
            &PatchParams::apply("kubectl").force(),
            &Patch::Apply(web("nginx:1.27")),
        )
        .await
        .unwrap();
    let forced = serde_json::to_value(forced).unwrap();
    assert!(entries(&forced).contains(&("kubectl".to_owned(), "Apply".to_owned(), None)));
    c.server.shutdown().await;
}

#[tokio::test]
async fn managed_fields_in_a_body_replace_or_clear_the_entries() {
    let c = Cluster::start().await;
    let path = "/api/v1/namespaces/default/configmaps";
    let (code, cm) = kubectl(
        &c,
        "POST",
        &format!("{path}?fieldManager=kubectl-create"),
        "application/json",
        config(json!({"a": "1"})),
    )
    .await;
    assert_eq!(code, 201, "{cm}");

    // A write that changes nothing keeps the resource version and the entries' times.
    let (code, same) = kubectl(
        &c,
        "PUT",
        &format!("{path}/cfg"),
        "application/json",
        cm.clone(),
    )
    .await;
    assert_eq!(code, 200, "{same}");
    assert_eq!(
        same["metadata"]["resourceVersion"],
        cm["metadata"]["resourceVersion"]
    );
    assert_eq!(
        same["metadata"]["managedFields"],
        cm["metadata"]["managedFields"]
    );

    // A dry run shows the entry it would write and writes nothing.
    let (code, dry) = kubectl(
        &c,
        "PATCH",
        &format!("{path}/cfg?dryRun=All&fieldManager=kubectl-edit"),
        "application/merge-patch+json",
        json!({"data": {"a": "2"}}),
    )
    .await;
    assert_eq!(code, 200, "{dry}");
    assert_eq!(
        entries(&dry),
        [("kubectl-edit".to_owned(), "Update".to_owned(), None)]
    );
    let (_, live) = raw(&c.client, "GET", &format!("{path}/cfg"), "", Vec::new()).await;
    assert_eq!(
        live["metadata"]["managedFields"],
        cm["metadata"]["managedFields"]
    );

    // Entries in the body replace the stored ones.
    let given = json!([{"manager": "importer", "operation": "Update", "apiVersion": "v1",
        "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}}]);
    let mut body = live.clone();
    body["metadata"]["managedFields"] = given.clone();
    let (code, replaced) =
        kubectl(&c, "PUT", &format!("{path}/cfg"), "application/json", body).await;
    assert_eq!(code, 200, "{replaced}");
    assert_eq!(replaced["metadata"]["managedFields"], given);

    // `[{}]` (or `[]`) clears them; the object is not tracked from then on.
    let (code, cleared) = kubectl(
        &c,
        "PATCH",
        &format!("{path}/cfg"),
        "application/merge-patch+json",
        json!({"metadata": {"managedFields": [{}]}}),
    )
    .await;
    assert_eq!(code, 200, "{cleared}");
    assert!(
        cleared["metadata"].get("managedFields").is_none(),
        "{cleared}"
    );
    let (_, later) = kubectl(
        &c,
        "PATCH",
        &format!("{path}/cfg"),
        "application/merge-patch+json",
        json!({"data": {"b": "2"}}),
    )
    .await;
    assert_eq!(later["data"]["b"], "2");
    assert!(later["metadata"].get("managedFields").is_none(), "{later}");
    c.server.shutdown().await;
}
