//! Create, read, update, patch, delete: upstream's object semantics.

use crate::{Cluster, api_error};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn configmap(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"},
    }))
    .unwrap()
}

fn deployment(name: &str, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }))
    .unwrap()
}

#[tokio::test]
async fn builtin_objects_exist_at_start() {
    let c = Cluster::start().await;
    let namespaces: Api<Namespace> = Api::all(c.client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    for want in ["default", "kube-node-lease", "kube-public", "kube-system"] {
        assert!(
            names.contains(&want.to_owned()),
            "{want} missing from {names:?}"
        );
    }
    let svc = Api::<Service>::namespaced(c.client.clone(), "default")
        .get("kubernetes")
        .await
        .unwrap();
    assert_eq!(svc.spec.unwrap().cluster_ip.as_deref(), Some("10.43.0.1"));
    c.server.shutdown().await;
}

#[tokio::test]
async fn configmap_lifecycle_with_resource_versions() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let created = api
        .create(
            &PostParams::default(),
            &configmap("one", json!({"app": "a"})),
        )
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.as_deref().is_some_and(|u| u.len() == 36));
    assert!(meta.creation_timestamp.is_some());
    let rv1: i64 = meta.resource_version.as_deref().unwrap().parse().unwrap();

    let dup = api_error(
        api.create(&PostParams::default(), &configmap("one", json!({})))
            .await,
    );
    assert_eq!((dup.code, dup.reason.as_str()), (409, "AlreadyExists"));

    let mut changed = created.clone();
    changed.data = Some([("k".to_owned(), "w".to_owned())].into());
    let updated = api
        .replace("one", &PostParams::default(), &changed)
        .await
        .unwrap();
    let rv2: i64 = updated
        .metadata
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);

    // The first copy's resourceVersion is stale now.
    let stale = api_error(api.replace("one", &PostParams::default(), &changed).await);
    assert_eq!((stale.code, stale.reason.as_str()), (409, "Conflict"));
    assert!(
        stale.message.contains("the object has been modified"),
        "{}",
        stale.message
    );

    api.delete("one", &DeleteParams::default()).await.unwrap();
    let gone = api_error(api.get("one").await);
    assert_eq!(
        (gone.code, gone.message.as_str()),
        (404, "configmaps \"one\" not found")
    );
    c.server.shutdown().await;
}

#[tokio::test]
async fn generate_name_and_dry_run() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let mut cm = configmap("", json!({}));
    cm.metadata.name = None;
    cm.metadata.generate_name = Some("gen-".to_owned());
    let created = api.create(&PostParams::default(), &cm).await.unwrap();
    let name = created.metadata.name.unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let answered = api
        .create(&dry, &configmap("dry", json!({})))
        .await
        .unwrap();
    assert_eq!(answered.metadata.name.as_deref(), Some("dry"));
    assert_eq!(api_error(api.get("dry").await).code, 404);
    c.server.shutdown().await;
}

#[tokio::test]
async fn generation_moves_on_spec_changes_only() {
    let c = Cluster::start().await;
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    let d = api
        .create(&PostParams::default(), &deployment("web", "nginx:1.25"))
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    // Defaults upstream applies.
    let spec = d.spec.as_ref().unwrap();
    assert_eq!(spec.revision_history_limit, Some(10));
    assert_eq!(
        spec.strategy.as_ref().unwrap().type_.as_deref(),
        Some("RollingUpdate")
    );
    let pod_spec = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod_spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(pod_spec.dns_policy.as_deref(), Some("ClusterFirst"));
    assert_eq!(
        pod_spec.containers[0].image_pull_policy.as_deref(),
        Some("IfNotPresent")
    );

    let labelled = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(1));
    let image = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}}}})),
        )
        .await
        .unwrap();
    assert_eq!(image.metadata.generation, Some(2));
    let containers = image.spec.unwrap().template.spec.unwrap().containers;
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].image.as_deref(), Some("nginx:1.26"));

    // The main resource ignores status; the status subresource changes status only.
    let with_status = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 7}})),
        )
        .await
        .unwrap();
    assert_eq!(with_status.status.and_then(|s| s.replicas), None);
    let status = api
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 9}, "status": {"replicas": 7}})),
        )
        .await
        .unwrap();
    assert_eq!(status.status.and_then(|s| s.replicas), Some(7));
    assert_eq!(status.spec.and_then(|s| s.replicas), Some(2));
    c.server.shutdown().await;
}

#[tokio::test]
async fn json_patch_and_scale() {
    let c = Cluster::start().await;
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    api.create(&PostParams::default(), &deployment("web", "nginx:1.25"))
        .await
        .unwrap();
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/spec/replicas", "value": 4},
    ]))
    .unwrap();
    let patched = api
        .patch("web", &PatchParams::default(), &Patch::Json::<()>(ops))
        .await
        .unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(4));
    let scale = api.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(4));
    let scaled = api
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(1));
    assert_eq!(
        api.get("web").await.unwrap().spec.unwrap().replicas,
        Some(1)
    );
    c.server.shutdown().await;
}

#[tokio::test]
async fn services_get_unique_cluster_ips_and_node_ports() {
    let c = Cluster::start().await;
    let api: Api<Service> = Api::namespaced(c.client.clone(), "default");
    let mut ips = std::collections::BTreeSet::new();
    for i in 0..5 {
        let svc: Service = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": format!("s{i}")},
            "spec": {"type": "NodePort", "selector": {"app": "x"}, "ports": [{"port": 80}]},
        }))
        .unwrap();
        let svc = api.create(&PostParams::default(), &svc).await.unwrap();
        let spec = svc.spec.unwrap();
        assert_eq!(spec.session_affinity.as_deref(), Some("None"));
        let port = &spec.ports.as_ref().unwrap()[0];
        let node_port = port.node_port.unwrap();
        assert!((30000..=32767).contains(&node_port), "{node_port}");
        assert!(ips.insert(spec.cluster_ip.unwrap()));
    }
    assert!(!ips.contains("10.43.0.1"));
    // clusterIP is immutable.
    let mut svc = api.get("s0").await.unwrap();
    svc.spec.as_mut().unwrap().cluster_ip = Some("10.43.9.9".to_owned());
    svc.spec.as_mut().unwrap().cluster_ips = None;
    let err = api_error(api.replace("s0", &PostParams::default(), &svc).await);
    assert_eq!(err.code, 422, "{err:?}");
    c.server.shutdown().await;
}

#[tokio::test]
async fn selectors_and_pagination() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    for i in 0..5 {
        let tier = if i % 2 == 0 { "even" } else { "odd" };
        api.create(
            &PostParams::default(),
            &configmap(&format!("cm{i}"), json!({"tier": tier})),
        )
        .await
        .unwrap();
    }
    let even = api
        .list(&ListParams::default().labels("tier=even"))
        .await
        .unwrap();
    assert_eq!(even.items.len(), 3);
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=cm3"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);

    let mut seen = Vec::new();
    let mut params = ListParams::default().limit(2).labels("tier");
    loop {
        let page = api.list(&params).await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().filter_map(|c| c.metadata.name));
        match page.metadata.continue_.filter(|t| !t.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(seen, vec!["cm0", "cm1", "cm2", "cm3", "cm4"]);

    // Without a selector the later pages are read from the store without decoding: the same
    // objects, each with its resource version.
    let mut seen = Vec::new();
    let mut params = ListParams::default().limit(2);
    loop {
        let page = api.list(&params).await.unwrap();
        assert!(page.items.len() <= 2);
        for cm in page.items {
            assert!(
                cm.metadata
                    .resource_version
                    .is_some_and(|rv| !rv.is_empty())
            );
            seen.extend(cm.metadata.name);
        }
        match page.metadata.continue_.filter(|t| !t.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(seen, vec!["cm0", "cm1", "cm2", "cm3", "cm4"]);

    // A change between pages: the later pages still show the list as it was at the first
    // page's revision (from the store: the watch cache has moved on). Unchanged, as above,
    // they come from the watch cache.
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    let mut params = ListParams::default()
        .limit(2)
        .continue_token(&first.metadata.continue_.clone().unwrap());
    let mut seen: Vec<String> = first
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    api.delete("cm2", &DeleteParams::default()).await.unwrap();
    api.create(
        &PostParams::default(),
        &configmap("cm5", json!({"tier": "odd"})),
    )
    .await
    .unwrap();
    loop {
        let page = api.list(&params).await.unwrap();
        seen.extend(page.items.into_iter().filter_map(|c| c.metadata.name));
        match page.metadata.continue_.filter(|t| !t.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(seen, vec!["cm0", "cm1", "cm2", "cm3", "cm4"]);

    // `resourceVersion=0` with a limit (client-go's first list) is served whole from the
    // watch cache, the limit ignored, as upstream's watch cache does.
    let all = api.list(&ListParams::default()).await.unwrap();
    let (code, whole) = crate::raw(
        &c.client,
        "GET",
        "/api/v1/namespaces/default/configmaps?resourceVersion=0&limit=2",
        "application/json",
        Vec::new(),
    )
    .await;
    assert_eq!(code, 200, "{whole}");
    assert!(all.items.len() >= 5);
    assert_eq!(
        whole["items"].as_array().map(Vec::len),
        Some(all.items.len())
    );
    assert!(
        whole["metadata"]["continue"]
            .as_str()
            .is_none_or(str::is_empty)
    );

    let pods: Api<Pod> = Api::all(c.client.clone());
    let on_node = pods
        .list(&ListParams::default().fields("spec.nodeName=n1"))
        .await
        .unwrap();
    assert!(on_node.items.is_empty());
    c.server.shutdown().await;
}

#[tokio::test]
async fn delete_collection_by_selector_namespaced_and_cluster_scoped() {
    use k8s_openapi::api::scheduling::v1::PriorityClass;
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    for (name, tier) in [("a", "x"), ("b", "x"), ("c", "y")] {
        api.create(
            &PostParams::default(),
            &configmap(name, json!({"tier": tier})),
        )
        .await
        .unwrap();
    }
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("tier=x"),
    )
    .await
    .unwrap();
    let left: Vec<String> = api
        .list(&ListParams::default().labels("tier"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, vec!["c"]);

    let classes: Api<PriorityClass> = Api::all(c.client.clone());
    for name in ["p1", "p2"] {
        let pc: PriorityClass = serde_json::from_value(json!({
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name, "labels": {"batch": "yes"}}, "value": 10,
        }))
        .unwrap();
        classes.create(&PostParams::default(), &pc).await.unwrap();
    }
    classes
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("batch=yes"),
        )
        .await
        .unwrap();
    assert!(
        classes
            .list(&ListParams::default().labels("batch"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    c.server.shutdown().await;
}

#[tokio::test]
async fn metadata_only_gets_lists_and_watches() {
    use kube::api::{WatchEvent, WatchParams};
    use tokio_stream::StreamExt;
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    api.create(&PostParams::default(), &configmap("m1", json!({"k": "v"})))
        .await
        .unwrap();
    let list = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].metadata.name.as_deref(), Some("m1"));
    assert_eq!(list.items[0].metadata.labels.as_ref().unwrap()["k"], "v");
    let one = api.get_metadata("m1").await.unwrap();
    assert_eq!(one.metadata.name.as_deref(), Some("m1"));
    let rv = list.metadata.resource_version.unwrap();
    let mut stream = Box::pin(
        api.watch_metadata(&WatchParams::default().timeout(10), &rv)
            .await
            .unwrap(),
    );
    api.create(&PostParams::default(), &configmap("m2", json!({})))
        .await
        .unwrap();
    match stream.next().await.unwrap().unwrap() {
        WatchEvent::Added(m) => assert_eq!(m.metadata.name.as_deref(), Some("m2")),
        other => panic!("unexpected {other:?}"),
    }
    c.server.shutdown().await;
}

/// Patches without a resourceVersion never fail with a conflict: the server re-applies them
/// to the newest object, as upstream does (concurrent writers such as a kubelet and a
/// controller patching one node both succeed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_without_resource_version_all_apply() {
    let cluster = Cluster::start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(cluster.client.clone());
    api.create(&PostParams::default(), &configmap("busy", json!({})))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let patch = json!({"metadata": {"labels": {format!("l{i}"): "x"}}});
            api.patch("busy", &PatchParams::default(), &Patch::Merge(patch))
                .await
                .map(|_| ())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let cm = api.get("busy").await.unwrap();
    assert_eq!(cm.metadata.labels.unwrap().len(), 32);
    // A patch that names a stale resourceVersion is still a conflict.
    let stale = json!({"metadata": {"resourceVersion": "1", "labels": {"late": "x"}}});
    let status = api_error(
        api.patch("busy", &PatchParams::default(), &Patch::Merge(stale))
            .await,
    );
    assert_eq!(status.code, 409);
}

/// A node's pod range is set once and then immutable (upstream's rule), so two allocators
/// can never give one node two ranges.
#[tokio::test]
async fn node_pod_cidr_is_set_once() {
    let cluster = Cluster::start().await;
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(cluster.client.clone());
    let node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let set = json!({"spec": {"podCIDR": "10.42.7.0/24", "podCIDRs": ["10.42.7.0/24"]}});
    nodes
        .patch("n1", &PatchParams::default(), &Patch::Merge(set))
        .await
        .unwrap();
    let change = json!({"spec": {"podCIDR": "10.42.8.0/24", "podCIDRs": ["10.42.8.0/24"]}});
    let status = api_error(
        nodes
            .patch("n1", &PatchParams::default(), &Patch::Merge(change))
            .await,
    );
    assert_eq!(status.code, 422);
    let causes = status.details.unwrap().causes;
    assert!(
        causes.iter().any(|c| c.field == "spec.podCIDR"),
        "{causes:?}"
    );
}
