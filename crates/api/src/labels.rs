//! Label selectors, node selectors (required node affinity) and taint tolerations, with
//! upstream's matching semantics (`labels.Selector`, `nodeaffinity.RequiredNodeAffinity`,
//! `Toleration.ToleratesTaint`).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Labels of an object; absent labels are an empty map.
pub type Labels = BTreeMap<String, String>;

static EMPTY_LABELS: Labels = Labels::new();

/// An object's labels, or an empty map.
pub fn labels_of(labels: Option<&Labels>) -> &Labels {
    labels.unwrap_or(&EMPTY_LABELS)
}

/// A node's labels.
pub fn node_labels(node: &Node) -> &Labels {
    labels_of(node.metadata.labels.as_ref())
}

/// A pod's labels.
pub fn pod_labels(pod: &Pod) -> &Labels {
    labels_of(pod.metadata.labels.as_ref())
}

/// A selector operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// The label is present with one of the values.
    In,
    /// The label is absent or has none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
    /// The label is present and, as an integer, greater than the value.
    Gt,
    /// The label is present and, as an integer, less than the value.
    Lt,
}

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// The operator.
    pub operator: Operator,
    /// The values (one integer for `Gt`/`Lt`, none for `Exists`/`DoesNotExist`).
    pub values: BTreeSet<String>,
}

impl Requirement {
    /// Builds a requirement, validating it as upstream's `labels.NewRequirement`.
    pub fn new(key: &str, operator: Operator, values: &[String]) -> Result<Requirement, String> {
        if !is_qualified_name(key) {
            return Err(format!("invalid label key {key:?}"));
        }
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                return Err("for 'in', 'notin' operators, values set can't be empty".into());
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                return Err("values set must be empty for exists and does not exist".into());
            }
            Operator::Gt | Operator::Lt => {
                if values.len() != 1 {
                    return Err("for 'Gt', 'Lt' operators, exactly one value is required".into());
                }
                if values[0].parse::<i64>().is_err() {
                    return Err(format!(
                        "for 'Gt', 'Lt' operators, the value must be an integer: {:?}",
                        values[0]
                    ));
                }
            }
            _ => {}
        }
        for v in values {
            if !matches!(operator, Operator::Gt | Operator::Lt) && !is_label_value(v) {
                return Err(format!("invalid label value {v:?}"));
            }
        }
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values: values.iter().cloned().collect(),
        })
    }

    /// Whether the labels satisfy this requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::Gt | Operator::Lt => {
                let Some(have) = value.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let Some(want) = self
                    .values
                    .iter()
                    .next()
                    .and_then(|v| v.parse::<i64>().ok())
                else {
                    return false;
                };
                if self.operator == Operator::Gt {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

/// A parsed label selector: all requirements must hold. `Nothing` matches no labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Matches nothing (a nil selector).
    Nothing,
    /// Matches when every requirement holds (no requirements: everything).
    Requirements(Vec<Requirement>),
}

impl Default for Selector {
    fn default() -> Self {
        Selector::everything()
    }
}

impl Selector {
    /// A selector matching every label set.
    pub fn everything() -> Selector {
        Selector::Requirements(Vec::new())
    }

    /// Upstream's `LabelSelectorAsSelector`: `None` matches nothing, an empty selector
    /// matches everything.
    pub fn from_label_selector(selector: Option<&LabelSelector>) -> Result<Selector, String> {
        let Some(ls) = selector else {
            return Ok(Selector::Nothing);
        };
        let mut reqs = Vec::new();
        for (k, v) in ls.match_labels.iter().flatten() {
            reqs.push(Requirement::new(k, Operator::In, std::slice::from_ref(v))?);
        }
        for expr in ls.match_expressions.iter().flatten() {
            let op = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            };
            reqs.push(Requirement::new(
                &expr.key,
                op,
                expr.values.as_deref().unwrap_or(&[]),
            )?);
        }
        Ok(Selector::Requirements(reqs))
    }

    /// A selector requiring every key/value of the map (upstream's `SelectorFromSet`).
    pub fn from_map(map: &Labels) -> Selector {
        Selector::Requirements(
            map.iter()
                .map(|(k, v)| Requirement {
                    key: k.clone(),
                    operator: Operator::In,
                    values: [v.clone()].into_iter().collect(),
                })
                .collect(),
        )
    }

    /// Adds a requirement (a `Nothing` selector stays `Nothing`).
    pub fn add(&mut self, req: Requirement) {
        if let Selector::Requirements(reqs) = self {
            reqs.push(req);
        }
    }

    /// Whether this selector matches everything (upstream's `Empty()`).
    pub fn is_everything(&self) -> bool {
        matches!(self, Selector::Requirements(r) if r.is_empty())
    }

    /// Whether the labels match.
    pub fn matches(&self, labels: &Labels) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::Requirements(reqs) => reqs.iter().all(|r| r.matches(labels)),
        }
    }
}

/// A parsed node selector term: label requirements and `metadata.name` field requirements.
#[derive(Debug, Clone)]
struct ParsedTerm {
    labels: Option<Selector>,
    /// (field key, must equal?, value)
    fields: Option<Vec<(String, bool, String)>>,
    error: Option<String>,
}

fn node_operator(op: &str) -> Result<Operator, String> {
    Ok(match op {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        "Gt" => Operator::Gt,
        "Lt" => Operator::Lt,
        other => return Err(format!("{other:?} is not a valid node selector operator")),
    })
}

fn parse_label_requirements(exprs: &[NodeSelectorRequirement]) -> Result<Selector, String> {
    let mut reqs = Vec::new();
    for e in exprs {
        let op = node_operator(&e.operator)?;
        reqs.push(Requirement::new(
            &e.key,
            op,
            e.values.as_deref().unwrap_or(&[]),
        )?);
    }
    Ok(Selector::Requirements(reqs))
}

fn parse_field_requirements(
    exprs: &[NodeSelectorRequirement],
) -> Result<Vec<(String, bool, String)>, String> {
    let mut out = Vec::new();
    for e in exprs {
        let values = e.values.as_deref().unwrap_or(&[]);
        let equal = match e.operator.as_str() {
            "In" => true,
            "NotIn" => false,
            other => {
                return Err(format!(
                    "{other:?} is not a valid node field selector operator"
                ));
            }
        };
        if values.len() != 1 {
            return Err(format!(
                "unexpected number of value ({}) for node field selector operator {:?}",
                values.len(),
                e.operator
            ));
        }
        out.push((e.key.clone(), equal, values[0].clone()));
    }
    Ok(out)
}

fn is_empty_term(term: &NodeSelectorTerm) -> bool {
    term.match_expressions.as_ref().is_none_or(|v| v.is_empty())
        && term.match_fields.as_ref().is_none_or(|v| v.is_empty())
}

impl ParsedTerm {
    fn new(term: &NodeSelectorTerm) -> ParsedTerm {
        let mut parsed = ParsedTerm {
            labels: None,
            fields: None,
            error: None,
        };
        if let Some(exprs) = term.match_expressions.as_ref().filter(|v| !v.is_empty()) {
            match parse_label_requirements(exprs) {
                Ok(s) => parsed.labels = Some(s),
                Err(e) => parsed.error = Some(e),
            }
        }
        if let Some(exprs) = term.match_fields.as_ref().filter(|v| !v.is_empty()) {
            match parse_field_requirements(exprs) {
                Ok(f) => parsed.fields = Some(f),
                Err(e) => parsed.error = Some(e),
            }
        }
        parsed
    }

    fn matches(&self, node: &Node) -> bool {
        if self.error.is_some() {
            return false;
        }
        if let Some(sel) = &self.labels
            && !sel.matches(node_labels(node))
        {
            return false;
        }
        let name = node.metadata.name.as_deref().unwrap_or("");
        if let Some(fields) = &self.fields
            && !name.is_empty()
        {
            for (key, equal, value) in fields {
                let have = if key == "metadata.name" { name } else { "" };
                if (have == value) != *equal {
                    return false;
                }
            }
        }
        true
    }
}

/// Parsed node selector terms (ORed); empty terms select nothing.
#[derive(Debug, Clone, Default)]
pub struct NodeSelectorMatcher {
    terms: Vec<ParsedTerm>,
}

impl NodeSelectorMatcher {
    /// Parses a node selector; terms that do not parse never match.
    pub fn new(selector: &NodeSelector) -> NodeSelectorMatcher {
        NodeSelectorMatcher {
            terms: selector
                .node_selector_terms
                .iter()
                .filter(|t| !is_empty_term(t))
                .map(ParsedTerm::new)
                .collect(),
        }
    }

    /// Whether any term matches the node.
    pub fn matches(&self, node: &Node) -> bool {
        self.terms.iter().any(|t| t.matches(node))
    }
}

/// Whether one (non-empty) node selector term matches the node; `None` when it doesn't parse.
pub fn node_selector_term_matches(term: &NodeSelectorTerm, node: &Node) -> Option<bool> {
    let parsed = ParsedTerm::new(term);
    if parsed.error.is_some() {
        return None;
    }
    Some(parsed.matches(node))
}

/// Whether a node selector term has no requirements at all.
pub fn node_selector_term_is_empty(term: &NodeSelectorTerm) -> bool {
    is_empty_term(term)
}

/// A pod's `spec.nodeSelector` plus its required node affinity (upstream's
/// `GetRequiredNodeAffinity`).
#[derive(Debug, Clone, Default)]
pub struct RequiredNodeAffinity {
    label_selector: Option<Selector>,
    node_selector: Option<NodeSelectorMatcher>,
}

impl RequiredNodeAffinity {
    /// Extracts the pod's required node constraints.
    pub fn from_pod(pod: &Pod) -> RequiredNodeAffinity {
        let spec = pod.spec.as_ref();
        let label_selector = spec
            .and_then(|s| s.node_selector.as_ref())
            .filter(|m| !m.is_empty())
            .map(Selector::from_map);
        let node_selector = spec
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(NodeSelectorMatcher::new);
        RequiredNodeAffinity {
            label_selector,
            node_selector,
        }
    }

    /// Whether there is nothing to satisfy (no node selector, no required affinity): every
    /// node matches.
    pub fn matches_every_node(&self) -> bool {
        self.label_selector.is_none() && self.node_selector.is_none()
    }

    /// Whether the node satisfies both the node selector and the required affinity.
    pub fn matches(&self, node: &Node) -> bool {
        if let Some(sel) = &self.label_selector
            && !sel.matches(node_labels(node))
        {
            return false;
        }
        match &self.node_selector {
            Some(ns) => ns.matches(node),
            None => true,
        }
    }
}

/// Upstream's `Toleration.ToleratesTaint`.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        "Exists" => true,
        _ => false,
    }
}

/// Whether any toleration tolerates the taint.
pub fn tolerations_tolerate(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// The first taint passing `filter` that no toleration tolerates
/// (upstream's `FindMatchingUntoleratedTaint`).
pub fn find_untolerated_taint<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    filter: impl Fn(&Taint) -> bool,
) -> Option<&'a Taint> {
    taints
        .iter()
        .find(|t| filter(t) && !tolerations_tolerate(tolerations, t))
}

/// Taints with effect `NoSchedule` or `NoExecute` (upstream's `DoNotScheduleTaintsFilterFunc`).
pub fn is_do_not_schedule_taint(taint: &Taint) -> bool {
    taint.effect == "NoSchedule" || taint.effect == "NoExecute"
}

/// A node's taints.
pub fn node_taints(node: &Node) -> &[Taint] {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[])
}

/// A pod's tolerations.
pub fn pod_tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[])
}

fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

/// Upstream's `IsQualifiedName`: an optional DNS-subdomain prefix and `/`, then a name of at
/// most 63 alphanumerics, `-`, `_` or `.`, starting and ending alphanumeric.
pub fn is_qualified_name(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_name_part(name),
        None => is_name_part(s),
    }
}

/// Upstream's `IsValidLabelValue`: empty, or a name part.
pub fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_name_part(s)
}
