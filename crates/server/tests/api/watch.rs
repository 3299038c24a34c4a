//! Watches: events after a resourceVersion, bookmarks, and 410 past compaction.

use crate::Cluster;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use tokio_stream::StreamExt;

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}),
    )
    .unwrap()
}

#[tokio::test]
async fn watch_sees_changes_after_its_resource_version() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let before = api
        .create(&PostParams::default(), &configmap("before"))
        .await
        .unwrap();
    let rv = before.metadata.resource_version.unwrap();
    let stream = api
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap();
    let mut stream = Box::pin(stream);
    api.create(&PostParams::default(), &configmap("after"))
        .await
        .unwrap();
    api.delete("before", &Default::default()).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match stream.next().await.expect("the watch ends early").unwrap() {
            WatchEvent::Added(cm) => seen.push(format!("ADDED {}", cm.metadata.name.unwrap())),
            WatchEvent::Deleted(cm) => seen.push(format!("DELETED {}", cm.metadata.name.unwrap())),
            WatchEvent::Modified(cm) => {
                seen.push(format!("MODIFIED {}", cm.metadata.name.unwrap()))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, vec!["ADDED after", "DELETED before"]);
    c.server.shutdown().await;
}

/// Creates `churn` and patches it until `n` revisions have passed.
async fn churn(api: &Api<ConfigMap>, n: usize) {
    for i in 0..n {
        let mut cm = configmap("churn");
        cm.data = Some([("i".to_owned(), i.to_string())].into());
        if i == 0 {
            api.create(&PostParams::default(), &cm).await.unwrap();
        } else {
            api.patch(
                "churn",
                &Default::default(),
                &kube::api::Patch::Merge(json!({"data": {"i": i.to_string()}})),
            )
            .await
            .unwrap();
        }
    }
}

/// A watcher dropped for falling behind (4,096 events) resumes from its last resource
/// version: the default window keeps more than that.
#[tokio::test]
async fn a_watch_resumes_from_five_thousand_events_back() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let first = api
        .create(&PostParams::default(), &configmap("c0"))
        .await
        .unwrap();
    let old_rv = first.metadata.resource_version.unwrap();
    churn(&api, 5000).await;
    let stream = api
        .watch(&WatchParams::default().timeout(5), &old_rv)
        .await
        .unwrap();
    let mut stream = Box::pin(stream);
    match stream.next().await.expect("an event") {
        Ok(WatchEvent::Added(cm)) => {
            assert_eq!(cm.metadata.name.as_deref(), Some("churn"));
        }
        other => panic!("expected the first change after the revision, got {other:?}"),
    }
    c.server.shutdown().await;
}

#[tokio::test]
async fn watch_from_a_compacted_revision_gets_410() {
    let c = Cluster::start_with(|config| {
        config.watch_cache_size = 1000;
        config.watch_cache_fresh = std::time::Duration::ZERO;
    })
    .await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let first = api
        .create(&PostParams::default(), &configmap("c0"))
        .await
        .unwrap();
    let old_rv = first.metadata.resource_version.unwrap();
    // Push the first revision out of the watch cache's window.
    churn(&api, 1100).await;
    let stream = api
        .watch(&WatchParams::default().timeout(5), &old_rv)
        .await
        .unwrap();
    let mut stream = Box::pin(stream);
    match stream.next().await.expect("an event") {
        Ok(WatchEvent::Error(status)) => assert_eq!(status.code, 410, "{status:?}"),
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 410),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
    c.server.shutdown().await;
}

#[tokio::test]
async fn bookmarks_arrive_when_asked_for() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    let cm = api
        .create(&PostParams::default(), &configmap("x"))
        .await
        .unwrap();
    let rv = cm.metadata.resource_version.unwrap();
    let params = WatchParams::default().timeout(70);
    let stream = api.watch(&params, &rv).await.unwrap();
    let mut stream = Box::pin(stream);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(45);
    loop {
        let next = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("a bookmark within 45 s");
        if let Some(Ok(WatchEvent::Bookmark(b))) = next {
            assert!(!b.metadata.resource_version.is_empty());
            break;
        }
    }
    c.server.shutdown().await;
}

#[tokio::test]
async fn stuck_watchers_do_not_hold_writers_up() {
    let c = Cluster::start().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), "default");
    // Watches nobody reads: their connections fill up and stay full.
    let mut stuck = Vec::new();
    for _ in 0..5 {
        stuck.push(Box::pin(
            api.watch(&WatchParams::default().timeout(290), "0")
                .await
                .unwrap(),
        ));
    }
    let mut writers = Vec::new();
    for w in 0..8 {
        let api = api.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..400 {
                let mut cm = configmap(&format!("w{w}-{i}"));
                cm.data = Some([("pad".to_owned(), "x".repeat(2048))].into());
                api.create(&PostParams::default(), &cm).await.unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let listed = api.list(&Default::default()).await.unwrap();
    assert_eq!(listed.items.len(), 3200);
    drop(stuck);
    c.server.shutdown().await;
}
