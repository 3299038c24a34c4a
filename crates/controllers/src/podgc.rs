//! Pod garbage collection: finished pods beyond `--terminated-pod-gc-threshold` (oldest
//! first), pods bound to nodes that no longer exist, and unscheduled pods being deleted.

use crate::informer::Informer;
use crate::pods;
use crate::queue::WorkQueue;
use crate::{Context, Controller, Reconciler};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// The pod garbage collector's state.
pub struct PodGc {
    client: kube::Client,
    pods: Informer<Pod>,
    nodes: Informer<Node>,
    threshold: usize,
}

/// The pod garbage collector: it looks at every pod each `--pod-gc-period`.
pub fn controller(ctx: &Context) -> Controller {
    Controller {
        name: "podgc",
        queue: WorkQueue::new(),
        workers: 1,
        resync: Some(("all".to_owned(), ctx.options.pod_gc_period)),
        tasks: Vec::new(),
        reconciler: Arc::new(PodGc {
            client: ctx.client.clone(),
            pods: ctx.informers.get::<Pod>(),
            nodes: ctx.informers.get::<Node>(),
            threshold: ctx.options.terminated_pod_gc_threshold,
        }),
    }
}

/// The finished pods to delete so that at most `threshold` remain (oldest first).
pub fn terminated_over_threshold(all: &[Arc<Pod>], threshold: usize) -> Vec<Arc<Pod>> {
    let mut done: Vec<Arc<Pod>> = all
        .iter()
        .filter(|p| pods::is_terminated(p) && p.metadata.deletion_timestamp.is_none())
        .cloned()
        .collect();
    if threshold == 0 || done.len() <= threshold {
        return Vec::new();
    }
    done.sort_by(|a, b| {
        let t = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
        t(a).cmp(&t(b))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    let excess = done.len() - threshold;
    done.truncate(excess);
    done
}

impl PodGc {
    async fn delete(&self, pod: &Pod, force: bool) {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let name = pod.metadata.name.as_deref().unwrap_or("");
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let params = if force {
            DeleteParams::default().grace_period(0)
        } else {
            DeleteParams::default()
        };
        match api.delete(name, &params).await {
            Ok(_) => tracing::info!(pod = %format!("{ns}/{name}"), "pod garbage collected"),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(err) => tracing::warn!(pod = %format!("{ns}/{name}"), %err, "pod GC"),
        }
    }
}

#[async_trait::async_trait]
impl Reconciler for PodGc {
    async fn sync(&self, _key: &str) -> Result<Option<Duration>, crate::Error> {
        let all = self.pods.list();
        for pod in terminated_over_threshold(&all, self.threshold) {
            self.delete(&pod, false).await;
        }
        let nodes: HashSet<String> = self
            .nodes
            .list()
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        let api: Api<Node> = Api::all(self.client.clone());
        for pod in &all {
            let node = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .unwrap_or("");
            if !node.is_empty() && !nodes.contains(node) {
                // The cache may lag behind a node just created: ask the API before deleting.
                if let Ok(None) = api.get_opt(node).await {
                    self.delete(pod, true).await;
                }
            } else if node.is_empty() && pod.metadata.deletion_timestamp.is_some() {
                self.delete(pod, true).await;
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn oldest_finished_pods_go_first() {
        let pod = |name: &str, phase: &str, t: &str| {
            Arc::new(
                serde_json::from_value::<Pod>(
                    json!({"metadata": {"name": name, "creationTimestamp": t},
                    "status": {"phase": phase}}),
                )
                .unwrap(),
            )
        };
        let all = vec![
            pod("c", "Succeeded", "2026-01-03T00:00:00Z"),
            pod("a", "Failed", "2026-01-01T00:00:00Z"),
            pod("r", "Running", "2026-01-01T00:00:00Z"),
            pod("b", "Succeeded", "2026-01-02T00:00:00Z"),
        ];
        let gone: Vec<_> = terminated_over_threshold(&all, 1)
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(gone, ["a", "b"]);
        assert!(terminated_over_threshold(&all, 3).is_empty());
    }
}
