//! CustomResourceDefinitions: validation of the CRD itself, its resource served once
//! established (discovery, OpenAPI, versions, schema), and deletion of its objects.

use crate::{Cluster, raw};
use kube::api::{Api, DynamicObject, WatchEvent, WatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_stream::StreamExt;

fn crd(name_plural: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{name_plural}.stable.example.com")},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": name_plural, "kind": "Widget"},
            "versions": [
                {
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {
                        "type": "object",
                        "properties": {"spec": {
                            "type": "object",
                            "properties": {
                                "size": {"type": "integer", "minimum": 1, "default": 2},
                                "color": {"type": "string", "enum": ["red", "blue"]},
                            },
                        }},
                    }},
                },
                {
                    "name": "v1beta1", "served": true, "storage": false,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                },
            ],
        },
    })
}

async fn post(c: &Cluster, path: &str, body: &Value) -> (u16, Value) {
    raw(
        &c.client,
        "POST",
        path,
        "application/json",
        serde_json::to_vec(body).unwrap(),
    )
    .await
}

async fn get(c: &Cluster, path: &str) -> (u16, Value) {
    raw(&c.client, "GET", path, "application/json", Vec::new()).await
}

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const WIDGETS: &str = "/apis/stable.example.com/v1/namespaces/default/widgets";

/// Creates the CRD and waits until it reports Established.
pub async fn establish(c: &Cluster, plural: &str) {
    let (code, body) = post(c, CRDS, &crd(plural)).await;
    assert_eq!(code, 201, "{body}");
    for _ in 0..200 {
        let (_, crd) = get(c, &format!("{CRDS}/{plural}.stable.example.com")).await;
        let established = crd["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        });
        if established {
            assert_eq!(crd["status"]["acceptedNames"]["kind"], "Widget");
            assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the CRD never became established");
}

#[tokio::test]
async fn crds_are_validated_like_upstream() {
    let c = Cluster::start().await;
    let mut bad = crd("widgets");
    bad["spec"]["group"] = json!("nodots");
    bad["spec"]["versions"][1]["storage"] = json!(true);
    bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["size"]
        ["type"] = json!("whole");
    let (code, body) = post(&c, CRDS, &bad).await;
    assert_eq!(code, 422, "{body}");
    let fields: Vec<&str> = body["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    for field in ["spec.group", "metadata.name", "spec.versions"] {
        assert!(fields.contains(&field), "{field} missing in {body}");
    }
    assert!(
        fields
            .iter()
            .any(|f| f.starts_with("spec.versions[0].schema.openAPIV3Schema.properties[spec]")),
        "{body}"
    );
    // Nothing was served.
    let (code, _) = get(&c, WIDGETS).await;
    assert_eq!(code, 404);
    c.server.shutdown().await;
}

#[tokio::test]
async fn custom_objects_follow_their_schema_in_every_served_version() {
    let c = Cluster::start().await;
    establish(&c, "widgets").await;

    // Discovery and OpenAPI know the resource.
    let (code, list) = get(&c, "/apis/stable.example.com/v1").await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["resources"][0]["name"], "widgets");
    let (_, group) = get(&c, "/apis/stable.example.com").await;
    assert_eq!(group["preferredVersion"]["version"], "v1");
    let (_, index) = get(&c, "/openapi/v3").await;
    assert!(
        index["paths"]["apis/stable.example.com/v1"].is_object(),
        "{index}"
    );
    let (_, doc) = get(&c, "/openapi/v3/apis/stable.example.com/v1").await;
    let widget = &doc["components"]["schemas"]["com.example.stable.v1.Widget"];
    assert_eq!(
        widget["properties"]["spec"]["properties"]["size"]["type"],
        "integer"
    );

    // Pruned, defaulted, stored; the warning names the dropped field.
    let w = json!({"apiVersion": "stable.example.com/v1", "kind": "Widget",
        "metadata": {"name": "a"}, "spec": {"color": "red", "shape": "round"}});
    let (code, body) = post(&c, WIDGETS, &w).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["spec"], json!({"color": "red", "size": 2}));
    let (code, body) = post(&c, &format!("{WIDGETS}?fieldValidation=Strict"), &w).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("unknown field \"spec.shape\""),
        "{body}"
    );

    // Invalid values are refused with their paths.
    let bad = json!({"apiVersion": "stable.example.com/v1", "kind": "Widget",
        "metadata": {"name": "b"}, "spec": {"color": "green", "size": 0}});
    let (code, body) = post(&c, WIDGETS, &bad).await;
    assert_eq!(code, 422, "{body}");
    let causes = body["details"]["causes"].as_array().unwrap();
    assert!(
        causes
            .iter()
            .any(|c| c["field"] == "spec.color" && c["reason"] == "FieldValueNotSupported"),
        "{body}"
    );
    assert!(causes.iter().any(|c| c["field"] == "spec.size"), "{body}");

    // The other version reads and writes the same objects.
    let beta = "/apis/stable.example.com/v1beta1/namespaces/default/widgets";
    let (code, a) = get(&c, &format!("{beta}/a")).await;
    assert_eq!(code, 200, "{a}");
    assert_eq!(a["apiVersion"], "stable.example.com/v1beta1");
    let (code, list) = get(&c, beta).await;
    assert_eq!(code, 200);
    assert_eq!(list["items"][0]["apiVersion"], "stable.example.com/v1beta1");
    let (code, created) = post(
        &c,
        beta,
        &json!({"apiVersion": "stable.example.com/v1beta1",
        "kind": "Widget", "metadata": {"name": "c"}, "spec": {"anything": true}}),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["apiVersion"], "stable.example.com/v1beta1");

    // Watches, through a client library's dynamic API.
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("stable.example.com", "v1", "Widget"),
        "widgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(c.client.clone(), "default", &ar);
    let mut events = Box::pin(api.watch(&WatchParams::default(), "0").await.unwrap());
    let mut names = Vec::new();
    while names.len() < 2 {
        match events.next().await.unwrap().unwrap() {
            WatchEvent::Added(o) => names.push(o.metadata.name.unwrap()),
            other => panic!("{other:?}"),
        }
    }
    names.sort();
    assert_eq!(names, ["a", "c"]);
    c.server.shutdown().await;
}

#[tokio::test]
async fn deleting_a_crd_deletes_its_objects() {
    let c = Cluster::start().await;
    establish(&c, "widgets").await;
    for name in ["a", "b"] {
        let w = json!({"apiVersion": "stable.example.com/v1", "kind": "Widget", "metadata": {"name": name}});
        assert_eq!(post(&c, WIDGETS, &w).await.0, 201);
    }
    let (code, body) = raw(
        &c.client,
        "DELETE",
        &format!("{CRDS}/widgets.stable.example.com"),
        "application/json",
        Vec::new(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    for _ in 0..200 {
        if get(&c, &format!("{CRDS}/widgets.stable.example.com"))
            .await
            .0
            == 404
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        get(&c, &format!("{CRDS}/widgets.stable.example.com"))
            .await
            .0,
        404
    );
    assert_eq!(get(&c, WIDGETS).await.0, 404);
    // Nothing is left in the store: a new CRD of the same resource starts empty.
    establish(&c, "widgets").await;
    let (_, list) = get(&c, WIDGETS).await;
    assert_eq!(list["items"], json!([]), "{list}");
    c.server.shutdown().await;
}

/// A custom resource as an operator written with kube-rs defines it.
#[derive(
    kube::CustomResource, serde::Serialize, serde::Deserialize, Clone, Debug, schemars::JsonSchema,
)]
#[kube(
    group = "demo.rkube.dev",
    version = "v1",
    kind = "Gadget",
    namespaced,
    status = "GadgetStatus",
    shortname = "gd",
    printcolumn = r#"{"name":"Size","type":"integer","jsonPath":".spec.size"}"#
)]
pub struct GadgetSpec {
    size: i32,
    #[serde(default)]
    tags: Vec<String>,
    label: Option<String>,
}

/// The status of a [`Gadget`].
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, schemars::JsonSchema)]
pub struct GadgetStatus {
    ready: bool,
}

#[tokio::test]
async fn a_kube_rs_custom_resource_round_trips() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::CustomResourceExt;
    use kube::api::{ListParams, Patch, PatchParams, PostParams};

    let c = Cluster::start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(c.client.clone());
    crds.create(&PostParams::default(), &Gadget::crd())
        .await
        .unwrap();
    let mut established = false;
    for _ in 0..200 {
        let crd = crds.get("gadgets.demo.rkube.dev").await.unwrap();
        established = crd.status.and_then(|s| s.conditions).is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        });
        if established {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(established);

    let gadgets: Api<Gadget> = Api::namespaced(c.client.clone(), "default");
    let mut g = Gadget::new(
        "g1",
        GadgetSpec {
            size: 3,
            tags: vec!["a".into()],
            label: None,
        },
    );
    g.metadata.labels = Some([("team".to_owned(), "x".to_owned())].into());
    let created = gadgets.create(&PostParams::default(), &g).await.unwrap();
    assert_eq!(created.spec.size, 3);
    let listed = gadgets
        .list(&ListParams::default().labels("team=x"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    let status =
        json!({"apiVersion": "demo.rkube.dev/v1", "kind": "Gadget", "status": {"ready": true}});
    let patched = gadgets
        .patch_status(
            "g1",
            &PatchParams::apply("gadget-operator"),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    assert!(patched.status.unwrap().ready);
    let bad = json!({"spec": {"size": "large"}});
    let err = crate::api_error(
        gadgets
            .patch("g1", &PatchParams::default(), &Patch::Merge(&bad))
            .await,
    );
    assert_eq!(err.code, 422, "{err:?}");
    gadgets.delete("g1", &Default::default()).await.unwrap();
    c.server.shutdown().await;
}

#[tokio::test]
async fn cluster_scoped_custom_resources_have_no_namespace() {
    let c = Cluster::start().await;
    let mut def = crd("things");
    def["spec"]["scope"] = json!("Cluster");
    def["spec"]["names"]["kind"] = json!("Thing");
    let (code, body) = post(&c, CRDS, &def).await;
    assert_eq!(code, 201, "{body}");
    let things = "/apis/stable.example.com/v1/things";
    let mut served = false;
    for _ in 0..200 {
        if get(&c, things).await.0 == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served);
    let thing = json!({"apiVersion": "stable.example.com/v1", "kind": "Thing",
        "metadata": {"name": "t1", "namespace": "ignored"}, "spec": {"size": 4}});
    let (code, created) = post(&c, things, &thing).await;
    assert_eq!(code, 201, "{created}");
    assert!(created["metadata"].get("namespace").is_none(), "{created}");
    assert_eq!(get(&c, &format!("{things}/t1")).await.0, 200);
    let namespaced = "/apis/stable.example.com/v1/namespaces/default/things";
    assert_eq!(get(&c, namespaced).await.0, 404);
    let (_, list) = get(&c, "/apis/stable.example.com/v1").await;
    assert_eq!(list["resources"][0]["namespaced"], false);
    c.server.shutdown().await;
}
