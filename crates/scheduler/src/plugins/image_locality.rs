//! ImageLocality: prefers nodes that already have the pod's images, weighing each image's
//! size by the fraction of nodes that have it (upstream's scaled image score).

use crate::framework::{
    CycleState, IMAGE_SPREAD_KEY, ImageSpread, MAX_NODE_SCORE, NodeInfo, Plugin, PodInfo,
    ScorePlugin,
};
use crate::plugins::names::IMAGE_LOCALITY;

pub use crate::framework::normalized_image_name;

const MB: i64 = 1024 * 1024;
/// Image sizes below this sum score 0.
pub const MIN_THRESHOLD: i64 = 23 * MB;
/// Per container, image sizes above this score the maximum.
pub const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// The ImageLocality score.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImageLocality;

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        IMAGE_LOCALITY
    }
}

/// Upstream's `calculatePriority`: the summed image score clamped to
/// [23MB, 1000MB × containers] and mapped linearly onto 0..=100.
pub fn calculate_priority(sum_scores: i64, num_containers: usize) -> i64 {
    let max_threshold = MAX_CONTAINER_THRESHOLD.saturating_mul(num_containers as i64);
    let sum = if sum_scores < MIN_THRESHOLD {
        MIN_THRESHOLD
    } else if sum_scores > max_threshold {
        max_threshold
    } else {
        sum_scores
    };
    let range = max_threshold - MIN_THRESHOLD;
    if range == 0 {
        return 0;
    }
    MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / range
}

impl ScorePlugin for ImageLocality {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let images = crate::framework::pod_images(pod);
        let spread = state.read::<ImageSpread>(IMAGE_SPREAD_KEY);
        let mut sum = 0i64;
        for image in images {
            let Some(size) = node.image_sizes.get(image) else {
                continue;
            };
            // Without the framework's spread data, assume the image is on this node only.
            let (num, total) = match spread {
                Some(s) => (
                    s.num_nodes.get(image).copied().unwrap_or(1),
                    s.total_nodes.max(1),
                ),
                None => (1, 1),
            };
            let scaled = (*size as f64 * (num as f64 / total as f64)) as i64;
            sum = sum.saturating_add(scaled);
        }
        calculate_priority(sum, images.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Profile;
    use crate::plugins::testutil::{node, pod, snapshot};
    use serde_json::{Value, json};

    fn image_node(name: &str, images: Value) -> NodeInfo {
        node(json!({"metadata": {"name": name}, "status": {"images": images}}))
    }

    fn scores(p: &PodInfo, nodes: Vec<NodeInfo>) -> Vec<i64> {
        let snap = snapshot(nodes);
        let mut profile = Profile::empty("t");
        profile.score.push((std::sync::Arc::new(ImageLocality), 1));
        let mut st = CycleState::new();
        assert!(
            profile
                .run_pre_scores(&mut st, p, &snap, &snap.nodes)
                .is_success()
        );
        profile.score_nodes(&st, p, &snap.nodes)
    }

    #[test]
    fn normalization() {
        assert_eq!(normalized_image_name("nginx"), "nginx:latest");
        assert_eq!(normalized_image_name("nginx:1.25"), "nginx:1.25");
        assert_eq!(
            normalized_image_name("localhost:5000/nginx"),
            "localhost:5000/nginx:latest"
        );
        assert_eq!(normalized_image_name("gcr.io/a/b:v1"), "gcr.io/a/b:v1");
        assert_eq!(normalized_image_name("a/b@sha256:abc"), "a/b@sha256:abc");
    }

    #[test]
    fn upstream_table() {
        // Upstream's test: node1 has gcr.io/40:latest (40MB) and gcr.io/300:latest (300MB),
        // node2 has gcr.io/250:latest (250MB) and gcr.io/10:latest (10MB).
        let n1 = || {
            image_node(
                "n1",
                json!([
                    {"names": ["gcr.io/40:latest", "gcr.io/40:v1"], "sizeBytes": 40 * MB},
                    {"names": ["gcr.io/300:latest", "gcr.io/300:v1"], "sizeBytes": 300 * MB},
                ]),
            )
        };
        let n2 = || {
            image_node(
                "n2",
                json!([
                    {"names": ["gcr.io/250:latest"], "sizeBytes": 250 * MB},
                    {"names": ["gcr.io/10:latest", "gcr.io/10:v1"], "sizeBytes": 10 * MB},
                ]),
            )
        };
        let containers = |images: &[&str]| {
            let cs: Vec<Value> = images
                .iter()
                .enumerate()
                .map(|(i, im)| json!({"name": format!("c{i}"), "image": im}))
                .collect();
            pod(json!({"metadata": {"name": "p"}, "spec": {"containers": cs}}))
        };
        // pod with 40 and 250: node1 score = 40MB * 1/2 = 20MB -> below threshold -> 0;
        // node2 = 250MB/2 = 125MB -> 100*(125-23)/(2000-23) = 5
        let p = containers(&["gcr.io/40", "gcr.io/250"]);
        assert_eq!(scores(&p, vec![n1(), n2()]), vec![0, 5]);
        // pod with 300 (tagged) and 10: node1 150MB -> 100*(150-23)/(1977) = 6; node2 5MB -> 0
        let p = containers(&["gcr.io/300:v1", "gcr.io/10:v1"]);
        assert_eq!(scores(&p, vec![n1(), n2()]), vec![6, 0]);
        // image on both nodes counts fully: 3 containers, 2000MB image on both nodes
        let big = |name: &str| {
            image_node(
                name,
                json!([{"names": ["gcr.io/2000:latest"], "sizeBytes": 2000 * MB}]),
            )
        };
        let p = containers(&["gcr.io/2000", "gcr.io/10", "gcr.io/x"]);
        // sum 2000MB, max 3000MB: 100*(2000-23)/(3000-23) = 66
        assert_eq!(scores(&p, vec![big("a"), big("b")]), vec![66, 66]);
        // same image, one of two nodes: 1000MB -> 100*(977)/(2977) = 32, other node 0
        assert_eq!(
            scores(&p, vec![big("a"), image_node("b", json!([]))]),
            vec![32, 0]
        );
    }

    #[test]
    fn priority_edges() {
        assert_eq!(calculate_priority(0, 1), 0);
        assert_eq!(calculate_priority(5000 * MB, 1), 100);
        assert_eq!(calculate_priority(0, 0), 0);
    }
}
