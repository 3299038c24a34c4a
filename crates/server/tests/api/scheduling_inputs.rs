//! What the scheduler reads besides pods and nodes: namespace labels (affinity terms with a
//! namespace selector) and the Services and controllers that give pods upstream's default
//! spreading.

use crate::Cluster;
use crate::scheduling::{node_of, pod, scheduled_condition, two_zones, wait_pod};
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn labelled(mut p: Pod, app: &str) -> Pod {
    p.metadata.labels = Some([("app".to_owned(), app.to_owned())].into());
    p
}

#[tokio::test]
async fn affinity_terms_select_namespaces_by_their_labels() {
    let c = Cluster::start().await;
    two_zones(&c, "8", "8").await;
    let namespaces: Api<Namespace> = Api::all(c.client.clone());
    for name in ["team-db", "team-web"] {
        let ns = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
    }
    // The database runs in zone b, in a namespace that is not labelled yet.
    let db_pods: Api<Pod> = Api::namespaced(c.client.clone(), "team-db");
    let db = labelled(pod("db", "100m", json!({"nodeName": "b1"})), "db");
    db_pods.create(&PostParams::default(), &db).await.unwrap();

    // A web pod must run in the zone of a database pod from a namespace labelled tier=data.
    let web_pods: Api<Pod> = Api::namespaced(c.client.clone(), "team-web");
    let near_db = json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "labelSelector": {"matchLabels": {"app": "db"}},
        "namespaceSelector": {"matchLabels": {"tier": "data"}},
        "topologyKey": "topology.kubernetes.io/zone"}]}}});
    web_pods
        .create(&PostParams::default(), &pod("web", "100m", near_db))
        .await
        .unwrap();
    let p = wait_pod(&web_pods, "web", "marked unschedulable", |p| {
        scheduled_condition(p).is_some()
    })
    .await;
    assert_eq!(node_of(&p), None);
    let message = scheduled_condition(&p).unwrap().2;
    assert!(
        message.contains("didn't match pod affinity rules"),
        "{message}"
    );

    // Labelling the namespace lets it fit, in zone b.
    namespaces
        .patch(
            "team-db",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "data"}}})),
        )
        .await
        .unwrap();
    let p = wait_pod(&web_pods, "web", "bound", |p| node_of(p).is_some()).await;
    assert_eq!(node_of(&p).as_deref(), Some("b1"));
    c.server.shutdown().await;
}

#[tokio::test]
async fn pods_of_a_service_are_spread_by_default() {
    let c = Cluster::start().await;
    // a1 is large and empty; b1 is small and half used, so least-allocated scoring alone
    // puts every pod on a1.
    two_zones(&c, "64", "8").await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &labelled(pod("hog", "4", json!({"nodeName": "b1"})), "hog"),
    )
    .await
    .unwrap();
    let services: Api<Service> = Api::namespaced(c.client.clone(), "default");
    let svc = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}))
    .unwrap();
    services.create(&PostParams::default(), &svc).await.unwrap();
    // Give the scheduler's Service cache a moment (it is a watch, like upstream's informer).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    for (app, count) in [("solo", 4), ("web", 4)] {
        for i in 0..count {
            let name = format!("{app}-{i}");
            pods.create(
                &PostParams::default(),
                &labelled(pod(&name, "100m", json!({})), app),
            )
            .await
            .unwrap();
            // One at a time, so each decision sees the previous ones.
            wait_pod(&pods, &name, "bound", |p| node_of(p).is_some()).await;
        }
    }
    let list = pods.list(&ListParams::default()).await.unwrap();
    let on = |app: &str, node: &str| {
        list.items
            .iter()
            .filter(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("app"))
                    .map(String::as_str)
                    == Some(app)
                    && node_of(p).as_deref() == Some(node)
            })
            .count()
    };
    assert_eq!(
        on("solo", "a1"),
        4,
        "nothing selects these pods: no spreading"
    );
    assert!(
        on("web", "b1") >= 1,
        "the Service's pods are spread over hosts and zones: {} on a1, {} on b1",
        on("web", "a1"),
        on("web", "b1")
    );
    c.server.shutdown().await;
}
