//! The plugin model (upstream's scheduling framework): statuses, per-cycle state, the
//! extension-point traits and the [`Profile`] that runs enabled plugins in order.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

pub mod labels;
mod profile;
mod types;

#[cfg(test)]
mod tests;

pub use profile::{
    FilterOutcome, Filters, PluginWeight, Profile, normalized_image_name, pod_images,
};
pub use types::{
    AffinityTerm, DEFAULT_BIND_ALL_HOST_IP, HostPort, HostPortInfo, NodeInfo, PodInfo, Snapshot,
    WeightedAffinityTerm, host_ports, pod_namespace,
};

/// The highest score a score plugin may give a node after normalization.
pub const MAX_NODE_SCORE: i64 = 100;

/// The error message upstream reports when the cluster has no nodes at all.
pub const NO_NODES_AVAILABLE_MSG: &str = "no nodes available to schedule pods";

/// The outcome class of a plugin call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// The plugin is satisfied.
    Success,
    /// The pod does not fit now; preemption might help.
    Unschedulable,
    /// The pod does not fit and preemption would not help.
    UnschedulableAndUnresolvable,
    /// An internal error.
    Error,
    /// From PreFilter/PreScore: the plugin has nothing to do for this pod, so its
    /// Filter/Score is skipped for the rest of the cycle.
    Skip,
}

/// A plugin's verdict with upstream's reason strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The outcome.
    pub code: Code,
    /// Human-readable reasons (upstream's exact texts).
    pub reasons: Vec<String>,
    /// The plugin that produced a non-success status ("" for success).
    pub plugin: &'static str,
}

impl Status {
    /// A success.
    pub fn success() -> Status {
        Status {
            code: Code::Success,
            reasons: Vec::new(),
            plugin: "",
        }
    }

    /// A status with one reason.
    pub fn new(code: Code, reason: impl Into<String>) -> Status {
        Status {
            code,
            reasons: vec![reason.into()],
            plugin: "",
        }
    }

    /// A status with several reasons.
    pub fn with_reasons(code: Code, reasons: Vec<String>) -> Status {
        Status {
            code,
            reasons,
            plugin: "",
        }
    }

    /// A skip (see [`Code::Skip`]).
    pub fn skip() -> Status {
        Status {
            code: Code::Skip,
            reasons: Vec::new(),
            plugin: "",
        }
    }

    /// An internal error.
    pub fn error(message: impl Into<String>) -> Status {
        Status::new(Code::Error, message)
    }

    /// Sets the plugin name.
    pub fn with_plugin(mut self, plugin: &'static str) -> Status {
        self.plugin = plugin;
        self
    }

    /// Whether the code is [`Code::Success`].
    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    /// Whether the code is [`Code::Skip`].
    pub fn is_skip(&self) -> bool {
        self.code == Code::Skip
    }

    /// Whether the pod was rejected (Unschedulable or UnschedulableAndUnresolvable).
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable
        )
    }

    /// The reasons joined with ", " (upstream's `Status.Message`).
    pub fn message(&self) -> String {
        self.reasons.join(", ")
    }
}

/// A small set of plugin names (checked for every node, so a vector, not a hash set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameSet(Vec<&'static str>);

impl NameSet {
    /// Adds a name.
    pub fn insert(&mut self, name: &'static str) {
        if !self.0.contains(&name) {
            self.0.push(name);
        }
    }

    /// Whether the name is in the set.
    pub fn contains(&self, name: &'static str) -> bool {
        self.0.contains(&name)
    }

    /// The names.
    pub fn iter(&self) -> impl Iterator<Item = &&'static str> {
        self.0.iter()
    }
}

/// Data plugins compute in PreFilter/PreScore for their Filter/Score calls in the same cycle,
/// plus what the framework records about the cycle (skipped plugins, PreFilter node sets).
#[derive(Default)]
pub struct CycleState {
    /// A handful of entries, read for every node: a vector beats hashing here.
    data: Vec<(&'static str, Box<dyn Any + Send + Sync>)>,
    /// Plugins whose PreFilter returned Skip: their Filter is not run.
    pub skip_filter_plugins: NameSet,
    /// Plugins whose PreScore returned Skip: their Score is not run.
    pub skip_score_plugins: NameSet,
    /// When a PreFilter plugin narrowed the candidate nodes: the allowed node names and the
    /// plugins that narrowed them. Filtering rejects other nodes.
    pub pre_filter_nodes: Option<(BTreeSet<String>, Vec<&'static str>)>,
}

impl std::fmt::Debug for CycleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CycleState")
            .field(
                "keys",
                &self.data.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            )
            .field("skip_filter_plugins", &self.skip_filter_plugins)
            .field("skip_score_plugins", &self.skip_score_plugins)
            .field("pre_filter_nodes", &self.pre_filter_nodes)
            .finish()
    }
}

impl CycleState {
    /// An empty state for a new cycle.
    pub fn new() -> CycleState {
        CycleState::default()
    }

    /// Stores a plugin's data under `key`.
    pub fn write<T: Any + Send + Sync>(&mut self, key: &'static str, value: T) {
        match self.data.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = Box::new(value),
            None => self.data.push((key, Box::new(value))),
        }
    }

    /// Reads data stored under `key`, if it has that type.
    pub fn read<T: Any + Send + Sync>(&self, key: &'static str) -> Option<&T> {
        self.data
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, b)| b.downcast_ref::<T>())
    }

    /// Whether the node passes the PreFilter node-set restriction (if any).
    pub fn node_allowed_by_pre_filter(&self, node: &str) -> bool {
        self.pre_filter_nodes
            .as_ref()
            .is_none_or(|(names, _)| names.contains(node))
    }
}

/// The node names a PreFilter plugin narrows the candidates to (upstream's `PreFilterResult`),
/// returned through [`PreFilterPlugin::pre_filter_nodes`].
pub type PreFilterNodes = BTreeSet<String>;

/// Key under which [`Profile::run_pre_scores`] stores the [`ImageSpread`] of the pod's images.
pub const IMAGE_SPREAD_KEY: &str = "framework/ImageSpread";

/// How many nodes of the snapshot have each of the pod's images (by normalized name).
#[derive(Debug, Clone, Default)]
pub struct ImageSpread {
    /// Image name → number of nodes that have it.
    pub num_nodes: HashMap<String, usize>,
    /// Number of nodes in the snapshot.
    pub total_nodes: usize,
}

/// Every plugin has a name.
pub trait Plugin: Send + Sync {
    /// The upstream plugin name, e.g. `NodeResourcesFit`.
    fn name(&self) -> &'static str;
}

/// Runs once per cycle before filtering; may precompute state, skip, or reject the pod.
pub trait PreFilterPlugin: Plugin {
    /// Precomputes state for Filter. Returns Skip when the plugin's Filter has nothing to do.
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Status;

    /// Optionally restricts the nodes worth filtering (upstream's `PreFilterResult`); called
    /// right after a successful `pre_filter`. `None` means all nodes.
    fn pre_filter_nodes(&self, _state: &CycleState, _pod: &PodInfo) -> Option<PreFilterNodes> {
        None
    }
}

/// Decides whether the pod can run on one node.
pub trait FilterPlugin: Plugin {
    /// Success, or a rejection with upstream's reason.
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status;
}

/// Runs once per cycle before scoring, with the nodes that passed filtering.
pub trait PreScorePlugin: Plugin {
    /// Precomputes state for Score. Returns Skip when the plugin's Score has nothing to do.
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        feasible: &[Arc<NodeInfo>],
    ) -> Status;
}

/// Scores a feasible node; scores are normalized to 0..=[`MAX_NODE_SCORE`] afterwards.
pub trait ScorePlugin: Plugin {
    /// The raw score of one node.
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64;

    /// Rewrites the raw scores of all feasible nodes (same order) into 0..=100.
    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, _scores: &mut [i64]) {}
}

/// Upstream's `DefaultNormalizeScore`: scales scores so the highest becomes `max_priority`
/// (all `max_priority` when every score is 0 and `reverse`), optionally reversed.
pub fn default_normalize_score(max_priority: i64, reverse: bool, scores: &mut [i64]) {
    let max = scores.iter().copied().max().unwrap_or(0).max(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = max_priority);
        }
        return;
    }
    for s in scores.iter_mut() {
        let mut v = max_priority.saturating_mul(*s) / max;
        if reverse {
            v = max_priority - v;
        }
        *s = v;
    }
}

fn format_message(total_nodes: usize, body: Option<String>, post_filter_msg: &str) -> String {
    let mut msg = format!("0/{total_nodes} nodes are available:");
    if let Some(body) = body {
        msg.push_str(&format!(" {body}."));
    }
    if !post_filter_msg.is_empty() {
        msg.push_str(&format!(" {post_filter_msg}."));
    }
    msg
}

/// Upstream's `FitError` message when filtering rejected every node: each node's reasons
/// counted, formatted as `<count> <reason>`, sorted as strings and joined with ", ", then a
/// period; `post_filter_msg` (upstream's PostFilter status message) is appended as
/// ` <msg>.` when not empty. Upstream's preemption message is itself a `FitError` message
/// ending in a period, so pass it verbatim to get upstream's exact text, which ends in `..`:
///
/// `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint
/// {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: 3
/// Preemption is not helpful for scheduling..`
pub fn unschedulable_message(
    total_nodes: usize,
    statuses: &[(String, Status)],
    post_filter_msg: &str,
) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, status) in statuses {
        for reason in &status.reasons {
            *counts.entry(reason.as_str()).or_insert(0) += 1;
        }
    }
    let mut parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    let body = if parts.is_empty() {
        None
    } else {
        Some(parts.join(", "))
    };
    format_message(total_nodes, body, post_filter_msg)
}

/// Upstream's `FitError` message when a PreFilter plugin rejected the pod: its message
/// instead of per-node counts (e.g. `0/3 nodes are available: pod affinity terms conflict.`).
pub fn pre_filter_unschedulable_message(
    total_nodes: usize,
    pre_filter_status: &Status,
    post_filter_msg: &str,
) -> String {
    let msg = pre_filter_status.message();
    let body = if msg.is_empty() { None } else { Some(msg) };
    format_message(total_nodes, body, post_filter_msg)
}
