//! Integration tests of the garbage collector and the namespace controller: the server
//! in-process without its own controllers, these two run by the test, driven through kube-rs.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use rkube_server::RunningServer;
use serde_json::json;
use std::time::Duration;

mod common;
use common::eventually;

/// How long a condition may take to come true.
const WAIT: Duration = Duration::from_secs(60);
use tempfile::TempDir;
use tokio::sync::watch;

struct Cluster {
    server: RunningServer,
    client: kube::Client,
    stop: watch::Sender<bool>,
    controllers: Option<tokio::task::JoinHandle<()>>,
    _dir: TempDir,
}

/// The server alone; call [`Cluster::run_controllers`] to start the two under test.
async fn server() -> Cluster {
    let common::Server {
        server,
        client,
        dir,
    } = common::server(|config| {
        config.scheduler = false;
        config.controllers = false;
    })
    .await;
    Cluster {
        server,
        client,
        stop: watch::channel(false).0,
        controllers: None,
        _dir: dir,
    }
}

async fn start() -> Cluster {
    let mut cluster = server().await;
    cluster.run_controllers();
    cluster
}

impl Cluster {
    fn run_controllers(&mut self) {
        let options = rkube_controllers::Options {
            controllers: vec!["garbagecollector".into(), "namespace".into()],
            ..Default::default()
        };
        self.controllers = Some(rkube_controllers::spawn(
            self.client.clone(),
            options,
            false,
            "test",
            self.stop.subscribe(),
        ));
    }

    fn configmaps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), "default")
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.controllers {
            let _ = task.await;
        }
        self.server.shutdown().await;
    }
}

fn reference(owner: &ConfigMap, block: bool) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: owner.metadata.name.clone().unwrap(),
        uid: owner.metadata.uid.clone().unwrap(),
        block_owner_deletion: block.then_some(true),
        controller: None,
    }
}

async fn create(api: &Api<ConfigMap>, name: &str, owners: Vec<OwnerReference>) -> ConfigMap {
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": name, "ownerReferences": owners},
        "data": {"k": "v"}
    }))
    .unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap()
}

async fn gone(api: &Api<ConfigMap>, name: &str) -> Option<()> {
    api.get_opt(name).await.unwrap().is_none().then_some(())
}

fn owner_uids(cm: &ConfigMap) -> Vec<String> {
    cm.metadata
        .owner_references
        .iter()
        .flatten()
        .map(|r| r.uid.clone())
        .collect()
}

#[tokio::test]
async fn dependents_of_a_deleted_owner_are_collected_in_the_background() {
    let cluster = start().await;
    let api = cluster.configmaps();
    let owner = create(&api, "owner", vec![]).await;
    create(&api, "dep-1", vec![reference(&owner, false)]).await;
    create(&api, "dep-2", vec![reference(&owner, true)]).await;
    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    eventually("dep-1 collected", || gone(&api, "dep-1")).await;
    eventually("dep-2 collected", || gone(&api, "dep-2")).await;
    cluster.stop().await;
}

#[tokio::test]
async fn a_foreground_deleted_owner_waits_for_its_blocking_dependents() {
    let cluster = start().await;
    let api = cluster.configmaps();
    let owner = create(&api, "owner", vec![]).await;
    let dep = create(&api, "dep", vec![reference(&owner, true)]).await;
    // A finalizer of our own keeps the dependent around, being deleted, until we let it go.
    let hold = json!({"metadata": {"finalizers": ["example.com/hold"]}});
    api.patch("dep", &PatchParams::default(), &Patch::Merge(&hold))
        .await
        .unwrap();
    api.delete("owner", &DeleteParams::foreground())
        .await
        .unwrap();
    eventually("the dependent being deleted", || async {
        let d = api.get_opt("dep").await.unwrap()?;
        d.metadata.deletion_timestamp.is_some().then_some(())
    })
    .await;
    let waiting = api.get("owner").await.unwrap();
    assert!(waiting.metadata.deletion_timestamp.is_some());
    assert!(
        waiting
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == "foregroundDeletion")
    );
    assert_eq!(
        api.get("dep").await.unwrap().metadata.uid,
        dep.metadata.uid,
        "the dependent is the one created"
    );
    let release = json!({"metadata": {"finalizers": null}});
    api.patch("dep", &PatchParams::default(), &Patch::Merge(&release))
        .await
        .unwrap();
    eventually("dependent gone", || gone(&api, "dep")).await;
    eventually("owner gone after its dependent", || gone(&api, "owner")).await;
    cluster.stop().await;
}

#[tokio::test]
async fn orphan_deletion_releases_the_dependents() {
    let cluster = start().await;
    let api = cluster.configmaps();
    let owner = create(&api, "owner", vec![]).await;
    let other = create(&api, "other", vec![]).await;
    create(&api, "dep-1", vec![reference(&owner, true)]).await;
    create(
        &api,
        "dep-2",
        vec![reference(&owner, false), reference(&other, false)],
    )
    .await;
    api.delete("owner", &DeleteParams::orphan()).await.unwrap();
    eventually("owner gone", || gone(&api, "owner")).await;
    // The orphan finalizer goes only after every dependent was released.
    let dep1 = api.get("dep-1").await.unwrap();
    assert!(owner_uids(&dep1).is_empty());
    let dep2 = api.get("dep-2").await.unwrap();
    assert_eq!(owner_uids(&dep2), [other.metadata.uid.clone().unwrap()]);
    // And nothing collects them afterwards (the other owner and the released one stay).
    create(&api, "ghost-dep", vec![ghost()]).await;
    eventually("a later orphan collected", || gone(&api, "ghost-dep")).await;
    assert!(api.get_opt("dep-1").await.unwrap().is_some());
    assert!(api.get_opt("dep-2").await.unwrap().is_some());
    cluster.stop().await;
}

fn ghost() -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: "never-was".into(),
        uid: "00000000-0000-0000-0000-00000000dead".into(),
        block_owner_deletion: None,
        controller: None,
    }
}

#[tokio::test]
async fn a_dependent_of_an_owner_that_never_existed_is_collected() {
    let cluster = start().await;
    let api = cluster.configmaps();
    create(&api, "dep", vec![ghost()]).await;
    eventually("dep collected", || gone(&api, "dep")).await;
    // An owner of that name but another uid does not save it either.
    create(&api, "never-was", vec![]).await;
    create(&api, "dep-2", vec![ghost()]).await;
    eventually("dep-2 collected", || gone(&api, "dep-2")).await;
    assert!(api.get_opt("never-was").await.unwrap().is_some());
    cluster.stop().await;
}

#[tokio::test]
async fn a_dependent_with_a_living_owner_keeps_that_reference() {
    let cluster = start().await;
    let api = cluster.configmaps();
    let first = create(&api, "first", vec![]).await;
    let second = create(&api, "second", vec![]).await;
    create(
        &api,
        "dep",
        vec![reference(&first, false), reference(&second, true)],
    )
    .await;
    api.delete("first", &DeleteParams::background())
        .await
        .unwrap();
    let dep = eventually("the reference to the deleted owner removed", || async {
        let dep = api.get_opt("dep").await.unwrap()?;
        (owner_uids(&dep).len() == 1).then_some(dep)
    })
    .await;
    assert_eq!(owner_uids(&dep), [second.metadata.uid.clone().unwrap()]);
    let kept = &dep.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(kept.block_owner_deletion, Some(true));
    cluster.stop().await;
}

#[tokio::test]
async fn objects_listed_at_start_up_are_not_mistaken_for_orphans() {
    let mut cluster = server().await;
    let api = cluster.configmaps();
    let owner = create(&api, "owner", vec![]).await;
    create(&api, "dep", vec![reference(&owner, false)]).await;
    create(&api, "orphan", vec![ghost()]).await;
    cluster.run_controllers();
    eventually("the orphan collected", || gone(&api, "orphan")).await;
    assert!(api.get_opt("dep").await.unwrap().is_some());
    api.delete("owner", &DeleteParams::default()).await.unwrap();
    eventually("dep collected", || gone(&api, "dep")).await;
    cluster.stop().await;
}

#[tokio::test]
async fn a_deleted_namespace_is_emptied_then_removed() {
    let cluster = start().await;
    let client = cluster.client.clone();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "doomed");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "doomed");
    for i in 0..3 {
        create(&cms, &format!("cm-{i}"), vec![]).await;
    }
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "s"}, "stringData": {"a": "b"}}))
            .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the namespace gone", || async {
        namespaces
            .get_opt("doomed")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let lp = ListParams::default();
    assert!(cms.list(&lp).await.unwrap().items.is_empty());
    assert!(secrets.list(&lp).await.unwrap().items.is_empty());
    assert!(pods.list(&lp).await.unwrap().items.is_empty());
    cluster.stop().await;
}

#[tokio::test]
async fn a_namespace_waits_for_content_held_by_finalizers_and_says_why() {
    let cluster = start().await;
    let client = cluster.client.clone();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "held"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "held");
    create(&cms, "plain", vec![]).await;
    create(&cms, "kept", vec![]).await;
    let hold = json!({"metadata": {"finalizers": ["example.com/hold"]}});
    cms.patch("kept", &PatchParams::default(), &Patch::Merge(&hold))
        .await
        .unwrap();
    namespaces
        .delete("held", &DeleteParams::default())
        .await
        .unwrap();
    let condition = |ns: &Namespace, type_: &str| {
        let c = ns
            .status
            .as_ref()?
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == type_)?;
        Some((c.status.clone(), c.message.clone().unwrap_or_default()))
    };
    let terminating = eventually("the remaining content reported", || async {
        let ns = namespaces.get_opt("held").await.unwrap()?;
        let (status, _) = condition(&ns, "NamespaceFinalizersRemaining")?;
        (status == "True").then_some(ns)
    })
    .await;
    assert_eq!(
        condition(&terminating, "NamespaceFinalizersRemaining")
            .unwrap()
            .1,
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
    );
    assert_eq!(
        condition(&terminating, "NamespaceContentRemaining")
            .unwrap()
            .1,
        "Some resources are remaining: configmaps. has 1 resource instances"
    );
    assert_eq!(
        terminating.status.as_ref().unwrap().phase.as_deref(),
        Some("Terminating")
    );
    assert!(cms.get_opt("plain").await.unwrap().is_none());
    let release = json!({"metadata": {"finalizers": null}});
    cms.patch("kept", &PatchParams::default(), &Patch::Merge(&release))
        .await
        .unwrap();
    eventually("the namespace gone", || async {
        namespaces
            .get_opt("held")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    cluster.stop().await;
}
