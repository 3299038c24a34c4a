//! `KubeSchedulerConfiguration` (kubescheduler.config.k8s.io/v1) parsing and building
//! [`Profile`]s from it: upstream's default plugins, merged with the configured
//! enabled/disabled sets per extension point and expanded from `multiPoint` as upstream does.

use std::collections::{BTreeSet, HashSet};

use serde::Deserialize;

use crate::framework::Profile;
use crate::plugins::{PluginEntry, new_plugin};

#[cfg(test)]
mod tests;

/// The only supported `apiVersion`.
pub const API_VERSION: &str = "kubescheduler.config.k8s.io/v1";
/// The only supported `kind`.
pub const KIND: &str = "KubeSchedulerConfiguration";
/// The scheduler name of the default profile.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// Upstream's v1 default plugins (`multiPoint`), in order, with score weights.
pub const DEFAULT_PLUGINS: &[(&str, Option<i32>)] = &[
    ("SchedulingGates", None),
    ("PrioritySort", None),
    ("NodeUnschedulable", None),
    ("NodeName", None),
    ("TaintToleration", Some(3)),
    ("NodeAffinity", Some(2)),
    ("NodePorts", None),
    ("NodeResourcesFit", Some(1)),
    ("VolumeRestrictions", None),
    ("NodeVolumeLimits", None),
    ("VolumeBinding", None),
    ("VolumeZone", None),
    ("PodTopologySpread", Some(2)),
    ("InterPodAffinity", Some(2)),
    ("DynamicResources", None),
    ("DefaultPreemption", None),
    ("NodeResourcesBalancedAllocation", Some(1)),
    ("ImageLocality", Some(1)),
    ("DefaultBinder", None),
];

/// Why a configuration could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not valid YAML/JSON or not of the expected shape.
    #[error("parsing scheduler configuration: {0}")]
    Parse(String),
    /// Wrong `apiVersion`.
    #[error("unsupported apiVersion {0:?}, want {API_VERSION:?}")]
    ApiVersion(String),
    /// Wrong `kind`.
    #[error("unsupported kind {0:?}, want {KIND:?}")]
    Kind(String),
    /// Plugin names that are not upstream plugins.
    #[error("unknown plugin(s): {}", .0.join(", "))]
    UnknownPlugins(Vec<String>),
    /// Any other invalid setting (upstream's validation/framework errors).
    #[error("{0}")]
    Invalid(String),
}

/// A plugin reference in a plugin set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginRef {
    /// Plugin name (`*` in `disabled` means all).
    pub name: String,
    /// Score weight (score and multiPoint only).
    #[serde(default)]
    pub weight: Option<i32>,
}

/// Enabled and disabled plugins of one extension point.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginSet {
    /// Plugins to enable (appended after the defaults, or replacing a default in place).
    #[serde(default)]
    pub enabled: Vec<PluginRef>,
    /// Plugins to disable (`*` for all defaults).
    #[serde(default)]
    pub disabled: Vec<PluginRef>,
}

/// A profile's `plugins`, per extension point.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plugins {
    /// preEnqueue (names validated, otherwise unused).
    #[serde(default)]
    pub pre_enqueue: PluginSet,
    /// queueSort (names validated, otherwise unused).
    #[serde(default)]
    pub queue_sort: PluginSet,
    /// preFilter.
    #[serde(default)]
    pub pre_filter: PluginSet,
    /// filter.
    #[serde(default)]
    pub filter: PluginSet,
    /// postFilter (names validated, otherwise unused).
    #[serde(default)]
    pub post_filter: PluginSet,
    /// preScore.
    #[serde(default)]
    pub pre_score: PluginSet,
    /// score.
    #[serde(default)]
    pub score: PluginSet,
    /// reserve (names validated, otherwise unused).
    #[serde(default)]
    pub reserve: PluginSet,
    /// permit (names validated, otherwise unused).
    #[serde(default)]
    pub permit: PluginSet,
    /// preBind (names validated, otherwise unused).
    #[serde(default)]
    pub pre_bind: PluginSet,
    /// bind (names validated, otherwise unused).
    #[serde(default)]
    pub bind: PluginSet,
    /// postBind (names validated, otherwise unused).
    #[serde(default)]
    pub post_bind: PluginSet,
    /// multiPoint: plugins enabled at every extension point they implement.
    #[serde(default)]
    pub multi_point: PluginSet,
}

impl Plugins {
    fn all_sets(&self) -> [&PluginSet; 13] {
        [
            &self.pre_enqueue,
            &self.queue_sort,
            &self.pre_filter,
            &self.filter,
            &self.post_filter,
            &self.pre_score,
            &self.score,
            &self.reserve,
            &self.permit,
            &self.pre_bind,
            &self.bind,
            &self.post_bind,
            &self.multi_point,
        ]
    }
}

/// One entry of `profiles`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileConfig {
    /// The scheduler name (default `default-scheduler`).
    #[serde(default)]
    pub scheduler_name: Option<String>,
    /// Per-profile percentage of nodes to score.
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
    /// Plugin changes relative to the defaults.
    #[serde(default)]
    pub plugins: Option<Plugins>,
}

/// The parts of a `KubeSchedulerConfiguration` this scheduler uses; other fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeSchedulerConfiguration {
    /// Must be `kubescheduler.config.k8s.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// Must be `KubeSchedulerConfiguration`.
    #[serde(default)]
    pub kind: String,
    /// Percentage of nodes to find feasible before scoring (0 = adaptive).
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
    /// Scheduling profiles.
    #[serde(default)]
    pub profiles: Vec<ProfileConfig>,
}

impl KubeSchedulerConfiguration {
    /// Parses YAML or JSON and checks `apiVersion`, `kind` and the percentages.
    pub fn parse(text: &str) -> Result<KubeSchedulerConfiguration, ConfigError> {
        let cfg: KubeSchedulerConfiguration = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?
        } else {
            serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?
        };
        if cfg.api_version != API_VERSION {
            return Err(ConfigError::ApiVersion(cfg.api_version));
        }
        if cfg.kind != KIND {
            return Err(ConfigError::Kind(cfg.kind));
        }
        check_percentage("percentageOfNodesToScore", cfg.percentage_of_nodes_to_score)?;
        for (i, p) in cfg.profiles.iter().enumerate() {
            check_percentage(
                &format!("profiles[{i}].percentageOfNodesToScore"),
                p.percentage_of_nodes_to_score,
            )?;
        }
        Ok(cfg)
    }

    /// Builds every profile (a single default profile when none is configured); scheduler
    /// names must be unique. A profile without its own percentage inherits the global one.
    pub fn build_profiles(&self) -> Result<Vec<Profile>, ConfigError> {
        if self.profiles.is_empty() {
            let mut p = default_profile();
            p.percentage_of_nodes_to_score = self.percentage_of_nodes_to_score;
            return Ok(vec![p]);
        }
        let mut names = HashSet::new();
        let mut out = Vec::new();
        for cfg in &self.profiles {
            let mut p = build_profile(cfg)?;
            if p.percentage_of_nodes_to_score.is_none() {
                p.percentage_of_nodes_to_score = self.percentage_of_nodes_to_score;
            }
            if !names.insert(p.scheduler_name.clone()) {
                return Err(ConfigError::Invalid(format!(
                    "duplicate profile with scheduler name {:?}",
                    p.scheduler_name
                )));
            }
            out.push(p);
        }
        Ok(out)
    }

    /// The first profile (`profiles[0]`), or the default profile.
    pub fn build_first_profile(&self) -> Result<Profile, ConfigError> {
        let mut all = self.build_profiles()?;
        Ok(all.swap_remove(0))
    }
}

fn check_percentage(field: &str, value: Option<i32>) -> Result<(), ConfigError> {
    match value {
        Some(v) if !(0..=100).contains(&v) => Err(ConfigError::Invalid(format!(
            "{field}: Invalid value: {v}: not in valid range [0-100]"
        ))),
        _ => Ok(()),
    }
}

/// How many feasible nodes to look for before scoring (upstream's `numFeasibleNodesToFind`):
/// all nodes below 100 nodes; otherwise `percentage` (adaptive `50 - nodes/125`, at least 5,
/// when 0 or unset) of the nodes, but at least 100.
pub fn num_feasible_nodes_to_find(percentage: Option<i32>, num_all_nodes: usize) -> usize {
    const MIN_FEASIBLE_NODES: usize = 100;
    const MIN_FEASIBLE_PERCENTAGE: i64 = 5;
    if num_all_nodes < MIN_FEASIBLE_NODES {
        return num_all_nodes;
    }
    let all = i64::try_from(num_all_nodes).unwrap_or(i64::MAX);
    let mut pct = i64::from(percentage.unwrap_or(0));
    if pct == 0 {
        pct = (50 - all / 125).max(MIN_FEASIBLE_PERCENTAGE);
    }
    let n = usize::try_from(all.saturating_mul(pct) / 100).unwrap_or(num_all_nodes);
    n.max(MIN_FEASIBLE_NODES)
}

/// The default profile (`default-scheduler`, upstream's default plugins and weights).
pub fn default_profile() -> Profile {
    match build_profile(&ProfileConfig::default()) {
        Ok(p) => p,
        // The defaults always build; keep a usable (empty) profile rather than panic.
        Err(e) => {
            tracing::error!(%e, "building the default profile");
            Profile::empty(DEFAULT_SCHEDULER_NAME)
        }
    }
}

/// Upstream's `mergePluginSet`: defaults minus disabled (all with `*`), custom entries
/// replacing defaults of the same name in place, other custom entries appended.
fn merge_plugin_set(defaults: &PluginSet, custom: &PluginSet) -> PluginSet {
    let disabled: HashSet<&str> = custom
        .disabled
        .iter()
        .chain(&defaults.disabled)
        .map(|p| p.name.as_str())
        .collect();
    let mut replaced = HashSet::new();
    let mut enabled = Vec::new();
    if !disabled.contains("*") {
        for d in &defaults.enabled {
            if disabled.contains(d.name.as_str()) {
                continue;
            }
            match custom.enabled.iter().position(|c| c.name == d.name) {
                Some(i) => {
                    replaced.insert(i);
                    enabled.push(custom.enabled[i].clone());
                }
                None => enabled.push(d.clone()),
            }
        }
    }
    for (i, c) in custom.enabled.iter().enumerate() {
        if !replaced.contains(&i) {
            enabled.push(c.clone());
        }
    }
    let mut all_disabled = custom.disabled.clone();
    all_disabled.extend(defaults.disabled.iter().cloned());
    PluginSet {
        enabled,
        disabled: all_disabled,
    }
}

/// The extension points a profile runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Point {
    PreFilter,
    Filter,
    PreScore,
    Score,
}

impl Point {
    fn implemented_by(self, e: &PluginEntry) -> bool {
        match self {
            Point::PreFilter => e.pre_filter.is_some(),
            Point::Filter => e.filter.is_some(),
            Point::PreScore => e.pre_score.is_some(),
            Point::Score => e.score.is_some(),
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            Point::PreFilter => "PreFilterPlugin",
            Point::Filter => "FilterPlugin",
            Point::PreScore => "PreScorePlugin",
            Point::Score => "ScorePlugin",
        }
    }
}

/// Upstream's `expandMultiPointPlugins` for one extension point: the plugin names, in order.
fn expand(
    point: Point,
    specific: &PluginSet,
    multi_point: &PluginSet,
    entries: &dyn Fn(&str) -> Option<PluginEntry>,
) -> Result<Vec<String>, ConfigError> {
    let mut specific_names: Vec<String> = Vec::new();
    for p in &specific.enabled {
        let Some(entry) = entries(&p.name) else {
            continue;
        };
        if entry.is_noop() {
            continue;
        }
        if !point.implemented_by(&entry) {
            return Err(ConfigError::Invalid(format!(
                "plugin {:?} does not extend {} plugin",
                p.name,
                point.type_name()
            )));
        }
        if specific_names.contains(&p.name) {
            return Err(ConfigError::Invalid(format!(
                "plugin {:?} already registered as {:?}",
                p.name,
                point.type_name()
            )));
        }
        specific_names.push(p.name.clone());
    }
    let disabled: HashSet<&str> = specific.disabled.iter().map(|p| p.name.as_str()).collect();
    if disabled.contains("*") {
        return Ok(specific_names);
    }
    let mut overrides: Vec<String> = Vec::new();
    let mut multi: Vec<String> = Vec::new();
    for p in &multi_point.enabled {
        let Some(entry) = entries(&p.name) else {
            continue;
        };
        if !point.implemented_by(&entry) || disabled.contains(p.name.as_str()) {
            continue;
        }
        if specific_names.contains(&p.name) {
            if !overrides.contains(&p.name) {
                overrides.push(p.name.clone());
            }
            continue;
        }
        if multi.contains(&p.name) {
            return Err(ConfigError::Invalid(format!(
                "plugin {:?} already registered as {:?}",
                p.name,
                point.type_name()
            )));
        }
        multi.push(p.name.clone());
    }
    let mut order = overrides;
    order.extend(multi);
    for n in specific_names {
        if !order.contains(&n) {
            order.push(n);
        }
    }
    Ok(order)
}

fn unknown_names(plugins: &Plugins) -> Vec<String> {
    let mut unknown = BTreeSet::new();
    for set in plugins.all_sets() {
        for p in set.enabled.iter().chain(&set.disabled) {
            if p.name != "*" && new_plugin(&p.name).is_none() {
                unknown.insert(p.name.clone());
            }
        }
    }
    unknown.into_iter().collect()
}

fn default_plugins() -> Plugins {
    Plugins {
        multi_point: PluginSet {
            enabled: DEFAULT_PLUGINS
                .iter()
                .map(|(n, w)| PluginRef {
                    name: n.to_string(),
                    weight: *w,
                })
                .collect(),
            disabled: Vec::new(),
        },
        ..Plugins::default()
    }
}

/// Builds one profile: defaults merged with the configured plugin sets, expanded per
/// extension point; score weights from `score.enabled`, then `multiPoint.enabled` (0 → 1).
pub fn build_profile(cfg: &ProfileConfig) -> Result<Profile, ConfigError> {
    let custom = cfg.plugins.clone().unwrap_or_default();
    let unknown = unknown_names(&custom);
    if !unknown.is_empty() {
        return Err(ConfigError::UnknownPlugins(unknown));
    }
    let defaults = default_plugins();
    let multi_point = merge_plugin_set(&defaults.multi_point, &custom.multi_point);
    let pre_filter = merge_plugin_set(&defaults.pre_filter, &custom.pre_filter);
    let filter = merge_plugin_set(&defaults.filter, &custom.filter);
    let pre_score = merge_plugin_set(&defaults.pre_score, &custom.pre_score);
    let score = merge_plugin_set(&defaults.score, &custom.score);
    for p in score.enabled.iter().chain(&multi_point.enabled) {
        if let Some(w) = p.weight
            && w < 0
        {
            return Err(ConfigError::Invalid(format!(
                "plugin {:?}: score weight {w} must not be negative",
                p.name
            )));
        }
    }

    // One instance per plugin name, shared by its extension points.
    let mut instances: Vec<PluginEntry> = Vec::new();
    let mut entry = |name: &str| -> Option<PluginEntry> {
        if let Some(e) = instances.iter().find(|e| e.name == name) {
            return Some(e.clone());
        }
        let e = new_plugin(name)?;
        instances.push(e.clone());
        Some(e)
    };
    let lookup = |name: &str| new_plugin(name);
    let pre_filter_names = expand(Point::PreFilter, &pre_filter, &multi_point, &lookup)?;
    let filter_names = expand(Point::Filter, &filter, &multi_point, &lookup)?;
    let pre_score_names = expand(Point::PreScore, &pre_score, &multi_point, &lookup)?;
    let score_names = expand(Point::Score, &score, &multi_point, &lookup)?;

    let name = cfg
        .scheduler_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_SCHEDULER_NAME.to_string());
    let mut profile = Profile::empty(name);
    profile.percentage_of_nodes_to_score = cfg.percentage_of_nodes_to_score;
    for n in &pre_filter_names {
        if let Some(p) = entry(n).and_then(|e| e.pre_filter) {
            profile.pre_filter.push(p);
        }
    }
    for n in &filter_names {
        if let Some(p) = entry(n).and_then(|e| e.filter) {
            profile.filter.push(p);
        }
    }
    for n in &pre_score_names {
        if let Some(p) = entry(n).and_then(|e| e.pre_score) {
            profile.pre_score.push(p);
        }
    }
    for n in &score_names {
        let weight = score
            .enabled
            .iter()
            .chain(&multi_point.enabled)
            .find(|p| &p.name == n)
            .and_then(|p| p.weight)
            .filter(|w| *w != 0)
            .unwrap_or(1);
        if let Some(p) = entry(n).and_then(|e| e.score) {
            profile.score.push((p, i64::from(weight)));
        }
    }
    Ok(profile)
}
