//! A scheduling profile: the enabled plugins per extension point, in order, with score
//! weights, and the functions that run them the way upstream's framework does.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{
    CycleState, FilterPlugin, IMAGE_SPREAD_KEY, ImageSpread, MAX_NODE_SCORE, NodeInfo, PodInfo,
    PreFilterPlugin, PreScorePlugin, ScorePlugin, Snapshot, Status,
};
use crate::framework::Code;

/// A score plugin's name and weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginWeight {
    /// The plugin name.
    pub name: &'static str,
    /// Its weight in the weighted sum.
    pub weight: i64,
}

/// The result of filtering every node.
#[derive(Debug, Clone, Default)]
pub struct FilterOutcome {
    /// Nodes that passed every filter, in snapshot order.
    pub feasible: Vec<Arc<NodeInfo>>,
    /// (node name, status) of the nodes that did not, in snapshot order.
    pub failed: Vec<(String, Status)>,
}

/// The enabled plugins of one scheduler profile, per extension point, in run order.
#[derive(Clone)]
pub struct Profile {
    /// The `schedulerName` pods select this profile with.
    pub scheduler_name: String,
    /// The profile's `percentageOfNodesToScore`, if set (else the configuration's).
    pub percentage_of_nodes_to_score: Option<i32>,
    /// PreFilter plugins.
    pub pre_filter: Vec<Arc<dyn PreFilterPlugin>>,
    /// Filter plugins.
    pub filter: Vec<Arc<dyn FilterPlugin>>,
    /// PreScore plugins.
    pub pre_score: Vec<Arc<dyn PreScorePlugin>>,
    /// Score plugins with their weights.
    pub score: Vec<(Arc<dyn ScorePlugin>, i64)>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("scheduler_name", &self.scheduler_name)
            .field(
                "percentage_of_nodes_to_score",
                &self.percentage_of_nodes_to_score,
            )
            .field("pre_filter", &self.pre_filter_names())
            .field("filter", &self.filter_names())
            .field("pre_score", &self.pre_score_names())
            .field("score", &self.score_weights())
            .finish()
    }
}

/// The ImageLocality image-name normalization: a name without a tag gets `:latest`.
pub fn normalized_image_name(name: &str) -> String {
    let last_colon = name.rfind(':');
    let last_slash = name.rfind('/');
    let has_tag = match (last_colon, last_slash) {
        (Some(c), Some(s)) => c > s,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if has_tag {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// The normalized image names of a pod's init containers and containers, in that order
/// (computed once per pod: scoring asks for them on every node).
pub fn pod_images(pod: &PodInfo) -> &[String] {
    pod.images.get_or_init(|| {
        let Some(spec) = pod.pod.spec.as_ref() else {
            return Vec::new();
        };
        spec.init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
            .map(|c| normalized_image_name(c.image.as_deref().unwrap_or("")))
            .collect()
    })
}

impl Profile {
    /// A profile without plugins.
    pub fn empty(scheduler_name: impl Into<String>) -> Profile {
        Profile {
            scheduler_name: scheduler_name.into(),
            percentage_of_nodes_to_score: None,
            pre_filter: Vec::new(),
            filter: Vec::new(),
            pre_score: Vec::new(),
            score: Vec::new(),
        }
    }

    /// Upstream's default profile (`default-scheduler`) with the v1 default plugins and
    /// weights.
    pub fn default_profile() -> Profile {
        crate::config::default_profile()
    }

    /// PreFilter plugin names in order.
    pub fn pre_filter_names(&self) -> Vec<&'static str> {
        self.pre_filter.iter().map(|p| p.name()).collect()
    }

    /// Filter plugin names in order.
    pub fn filter_names(&self) -> Vec<&'static str> {
        self.filter.iter().map(|p| p.name()).collect()
    }

    /// PreScore plugin names in order.
    pub fn pre_score_names(&self) -> Vec<&'static str> {
        self.pre_score.iter().map(|p| p.name()).collect()
    }

    /// Score plugins with weights, in order.
    pub fn score_weights(&self) -> Vec<PluginWeight> {
        self.score
            .iter()
            .map(|(p, w)| PluginWeight {
                name: p.name(),
                weight: *w,
            })
            .collect()
    }

    /// Runs the PreFilter plugins (upstream's `RunPreFilterPlugins`). Skips are recorded in
    /// `state`; an UnschedulableAndUnresolvable result stops at once, an Unschedulable one is
    /// returned after the others ran; node-set restrictions are intersected and stored in
    /// `state.pre_filter_nodes`. A rejection means every node fails with this status (use
    /// [`super::pre_filter_unschedulable_message`]).
    pub fn run_pre_filters(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Status {
        let mut returned = Status::success();
        let mut result: Option<BTreeSet<String>> = None;
        let mut plugins_with_nodes: Vec<&'static str> = Vec::new();
        for pl in &self.pre_filter {
            let name = pl.name();
            let status = pl.pre_filter(state, pod, snapshot);
            if status.is_skip() {
                state.skip_filter_plugins.insert(name);
                continue;
            }
            if !status.is_success() {
                let status = status.with_plugin(name);
                match status.code {
                    Code::UnschedulableAndUnresolvable => return status,
                    Code::Unschedulable => {
                        returned = status;
                        continue;
                    }
                    _ => {
                        return Status::error(format!(
                            "running PreFilter plugin {name:?}: {}",
                            status.message()
                        ))
                        .with_plugin(name);
                    }
                }
            }
            if let Some(nodes) = pl.pre_filter_nodes(state, pod) {
                plugins_with_nodes.push(name);
                let merged = match result.take() {
                    None => nodes,
                    Some(prev) => prev.intersection(&nodes).cloned().collect(),
                };
                if merged.is_empty() {
                    let msg = if plugins_with_nodes.len() == 1 {
                        format!("node(s) didn't satisfy plugin {name}")
                    } else {
                        format!(
                            "node(s) didn't satisfy plugin(s) [{}] simultaneously",
                            plugins_with_nodes.join(" ")
                        )
                    };
                    state.pre_filter_nodes = Some((merged, plugins_with_nodes));
                    return Status::new(Code::UnschedulableAndUnresolvable, msg);
                }
                result = Some(merged);
            }
        }
        state.pre_filter_nodes = result.map(|r| (r, plugins_with_nodes));
        returned
    }

    /// Runs the Filter plugins on one node (upstream's `RunFilterPlugins`): the first plugin
    /// that does not succeed decides; plugins whose PreFilter skipped are not run. Nodes
    /// outside a PreFilter node-set get `node(s) didn't satisfy plugin(s) [..]`.
    pub fn run_filters(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        self.filters_for(state).run(state, pod, node)
    }

    /// The Filter plugins a cycle runs on each node: those whose PreFilter did not skip,
    /// picked once per cycle instead of once per node.
    pub fn filters_for(&self, state: &CycleState) -> Filters<'_> {
        Filters(
            self.filter
                .iter()
                .filter(|pl| !state.skip_filter_plugins.contains(pl.name()))
                .collect(),
        )
    }

    /// Runs [`Profile::run_filters`] on every node of the snapshot (in snapshot order).
    /// Stops at the first internal error, returning it as `Err`.
    pub fn filter_all(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> Result<FilterOutcome, Status> {
        let mut feasible = Vec::new();
        let mut failed = Vec::new();
        let filters = self.filters_for(state);
        for node in snapshot.nodes.iter() {
            let status = filters.run(state, pod, node);
            if status.is_success() {
                feasible.push(node.clone());
            } else if status.code == Code::Error {
                return Err(status);
            } else {
                failed.push((node.name().to_string(), status));
            }
        }
        Ok(FilterOutcome { feasible, failed })
    }

    /// Runs the PreScore plugins (upstream's `RunPreScorePlugins`); Skip is recorded in
    /// `state`, any other non-success is returned as an error. Also records how many nodes
    /// have each of the pod's images (for ImageLocality).
    pub fn run_pre_scores(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        feasible: &[Arc<NodeInfo>],
    ) -> Status {
        let mut spread = ImageSpread {
            total_nodes: snapshot.len(),
            ..ImageSpread::default()
        };
        for image in pod_images(pod) {
            if spread.num_nodes.contains_key(image) {
                continue;
            }
            let n = snapshot
                .nodes
                .iter()
                .filter(|n| n.image_sizes.contains_key(image))
                .count();
            spread.num_nodes.insert(image.clone(), n);
        }
        state.write(IMAGE_SPREAD_KEY, spread);
        for pl in &self.pre_score {
            let name = pl.name();
            let status = pl.pre_score(state, pod, snapshot, feasible);
            if status.is_skip() {
                state.skip_score_plugins.insert(name);
                continue;
            }
            if !status.is_success() {
                return Status::error(format!(
                    "running PreScore plugin {name:?}: {}",
                    status.message()
                ))
                .with_plugin(name);
            }
        }
        Status::success()
    }

    /// Per-plugin weighted scores (after normalization) for each node, in `nodes` order;
    /// plugins whose PreScore skipped are left out.
    pub fn score_breakdown(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
    ) -> Vec<(&'static str, Vec<i64>)> {
        let mut out = Vec::new();
        for (pl, weight) in &self.score {
            let name = pl.name();
            if state.skip_score_plugins.contains(name) {
                continue;
            }
            let mut scores: Vec<i64> = nodes.iter().map(|n| pl.score(state, pod, n)).collect();
            pl.normalize(state, pod, &mut scores);
            for s in scores.iter_mut() {
                if !(0..=MAX_NODE_SCORE).contains(s) {
                    tracing::warn!(
                        plugin = name,
                        score = *s,
                        "score out of range after normalizing"
                    );
                    *s = (*s).clamp(0, MAX_NODE_SCORE);
                }
                *s = s.saturating_mul(*weight);
            }
            out.push((name, scores));
        }
        out
    }

    /// Total weighted score of each node (upstream's `RunScorePlugins` summed), in `nodes`
    /// order.
    pub fn score_nodes(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[Arc<NodeInfo>],
    ) -> Vec<i64> {
        let mut totals = vec![0i64; nodes.len()];
        for (_, scores) in self.score_breakdown(state, pod, nodes) {
            for (t, s) in totals.iter_mut().zip(scores) {
                *t = t.saturating_add(s);
            }
        }
        totals
    }
}

/// The Filter plugins of one cycle (see [`Profile::filters_for`]).
pub struct Filters<'a>(Vec<&'a Arc<dyn FilterPlugin>>);

impl Filters<'_> {
    /// Runs the filters on one node: see [`Profile::run_filters`].
    pub fn run(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if let Some((names, plugins)) = &state.pre_filter_nodes
            && !names.contains(node.name())
        {
            let mut plugins = plugins.clone();
            plugins.sort_unstable();
            return Status::new(
                Code::UnschedulableAndUnresolvable,
                format!("node(s) didn't satisfy plugin(s) [{}]", plugins.join(" ")),
            );
        }
        for pl in &self.0 {
            let status = pl.filter(state, pod, node);
            if status.is_success() {
                continue;
            }
            let name = pl.name();
            if !status.is_rejected() {
                return Status::error(format!(
                    "running {name:?} filter plugin: {}",
                    status.message()
                ))
                .with_plugin(name);
            }
            return status.with_plugin(name);
        }
        Status::success()
    }
}
