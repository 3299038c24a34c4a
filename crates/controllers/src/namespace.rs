//! The namespace controller: empties a namespace being deleted, resource by resource through
//! the API, reports progress in the namespace's status conditions as upstream does
//! (`NamespaceDeletionContentFailure`, `NamespaceContentRemaining`,
//! `NamespaceFinalizersRemaining`, …), and once nothing is left removes the `kubernetes`
//! finalizer (`namespaces/<name>/finalize`) so the API server deletes the namespace.

use crate::informer::{Change, key_of};
use crate::queue::WorkQueue;
use crate::resources::RESOURCES;
use crate::{Context, Controller, Reconciler};
use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::ApiResource;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The finalizer (in `spec.finalizers`) this controller is responsible for.
pub const FINALIZER: &str = "kubernetes";

/// How soon a namespace whose content is still going is looked at again.
pub const RECHECK: Duration = Duration::from_secs(2);

/// The condition types upstream reports while deleting a namespace, in its order.
pub const CONDITION_TYPES: [&str; 5] = [
    "NamespaceDeletionDiscoveryFailure",
    "NamespaceDeletionGroupVersionParsingFailure",
    "NamespaceDeletionContentFailure",
    "NamespaceContentRemaining",
    "NamespaceFinalizersRemaining",
];

/// The namespace controller's state.
pub struct Namespaces {
    client: kube::Client,
}

/// The namespace controller: namespaces being deleted are enqueued by name.
pub fn controller(ctx: &Context) -> Controller {
    let namespaces = ctx.informers.get::<Namespace>();
    let queue = WorkQueue::new();
    {
        let queue = queue.clone();
        namespaces.on_change(move |change| match change {
            Change::Added(ns) | Change::Updated { new: ns, .. } => {
                if ns.metadata.deletion_timestamp.is_some() {
                    queue.add(key_of(ns.as_ref()));
                }
            }
            Change::Deleted(_) => {}
        });
    }
    Controller {
        name: "namespace",
        queue,
        workers: ctx.options.workers,
        resync: None,
        tasks: Vec::new(),
        reconciler: Arc::new(Namespaces {
            client: ctx.client.clone(),
        }),
    }
}

/// What is left of one resource in the namespace after its deletion was asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Remaining {
    /// The resource's group (empty for core).
    pub group: String,
    /// The resource's version.
    pub version: String,
    /// The plural resource name.
    pub resource: String,
    /// How many objects remain.
    pub count: usize,
    /// How many remaining objects carry each finalizer.
    pub finalizers: BTreeMap<String, usize>,
    /// Seconds the remaining objects may still take to terminate gracefully (pods).
    pub grace_seconds: i64,
}

impl Remaining {
    /// Whether the remaining objects are unexpected: no finalizer and no grace period holds
    /// them (upstream: "unexpected items still remain").
    pub fn unexpected(&self) -> bool {
        self.count > 0 && self.finalizers.is_empty() && self.grace_seconds <= 0
    }
}

/// One condition as upstream words it: type, status, reason, message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// The condition type.
    pub type_: &'static str,
    /// `True` when something is wrong or left, `False` when fine.
    pub status: &'static str,
    /// The reason.
    pub reason: &'static str,
    /// The message.
    pub message: String,
}

fn ok_condition(type_: &'static str) -> Condition {
    let (reason, message) = match type_ {
        "NamespaceDeletionDiscoveryFailure" => (
            "ResourcesDiscovered",
            "All resources successfully discovered",
        ),
        "NamespaceDeletionGroupVersionParsingFailure" => (
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
        "NamespaceDeletionContentFailure" => (
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
        ),
        "NamespaceContentRemaining" => ("ContentRemoved", "All content successfully removed"),
        _ => (
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished",
        ),
    };
    Condition {
        type_,
        status: "False",
        reason,
        message: message.to_owned(),
    }
}

/// The conditions for a deletion pass that met `errors` and left `remaining`.
pub fn conditions(errors: &[String], remaining: &[Remaining]) -> Vec<Condition> {
    let mut out: Vec<Condition> = CONDITION_TYPES.iter().map(|t| ok_condition(t)).collect();
    let mut set = |c: Condition| {
        if let Some(slot) = out.iter_mut().find(|o| o.type_ == c.type_) {
            *slot = c;
        }
    };
    if !errors.is_empty() {
        set(Condition {
            type_: "NamespaceDeletionContentFailure",
            status: "True",
            reason: "ContentDeletionFailed",
            message: format!(
                "Failed to delete all resource types, {} remaining: {}",
                errors.len(),
                aggregate(errors)
            ),
        });
    }
    let mut resources: Vec<String> = remaining
        .iter()
        .filter(|r| r.count > 0)
        .map(|r| {
            format!(
                "{}.{} has {} resource instances",
                r.resource, r.group, r.count
            )
        })
        .collect();
    resources.sort();
    if !resources.is_empty() {
        set(Condition {
            type_: "NamespaceContentRemaining",
            status: "True",
            reason: "SomeResourcesRemain",
            message: format!("Some resources are remaining: {}", resources.join(", ")),
        });
    }
    let mut by_finalizer: BTreeMap<&str, usize> = BTreeMap::new();
    for (finalizer, n) in remaining.iter().flat_map(|r| r.finalizers.iter()) {
        *by_finalizer.entry(finalizer).or_default() += n;
    }
    let mut finalizers: Vec<String> = by_finalizer
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(f, n)| format!("{f} in {n} resource instances"))
        .collect();
    finalizers.sort();
    if !finalizers.is_empty() {
        set(Condition {
            type_: "NamespaceFinalizersRemaining",
            status: "True",
            reason: "SomeFinalizersRemain",
            message: format!(
                "Some content in the namespace has finalizers remaining: {}",
                finalizers.join(", ")
            ),
        });
    }
    out
}

/// Errors joined as Go's aggregate error prints them.
fn aggregate(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// Writes `wanted` into `existing` as upstream's `updateConditions` does (the transition time
/// moves only when the status changes); returns whether anything changed.
pub fn merge_conditions(
    existing: &mut Vec<NamespaceCondition>,
    wanted: &[Condition],
    now: Timestamp,
) -> bool {
    let mut changed = false;
    for want in wanted {
        match existing.iter_mut().find(|c| c.type_ == want.type_) {
            None => {
                existing.push(NamespaceCondition {
                    type_: want.type_.to_owned(),
                    status: want.status.to_owned(),
                    reason: Some(want.reason.to_owned()),
                    message: Some(want.message.clone()),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
            Some(have) => {
                let same = have.status == want.status
                    && have.reason.as_deref() == Some(want.reason)
                    && have.message.as_deref() == Some(want.message.as_str());
                if !same {
                    if have.status != want.status {
                        have.last_transition_time = Some(Time(now));
                    }
                    have.status = want.status.to_owned();
                    have.reason = Some(want.reason.to_owned());
                    have.message = Some(want.message.clone());
                    changed = true;
                }
            }
        }
    }
    changed
}

/// The namespace's `spec.finalizers` without ours; `None` when ours is not there.
pub fn without_finalizer(ns: &Namespace) -> Option<Vec<String>> {
    let finalizers = ns.spec.as_ref()?.finalizers.as_ref()?;
    finalizers.iter().any(|f| f == FINALIZER).then(|| {
        finalizers
            .iter()
            .filter(|f| *f != FINALIZER)
            .cloned()
            .collect()
    })
}

fn api_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

impl Namespaces {
    /// Asks for every object of one resource in `namespace` to go and reports what is left;
    /// `Ok(None)` when the resource is not served.
    async fn empty_resource(
        &self,
        namespace: &str,
        res: &ApiResource,
    ) -> Result<Option<Remaining>, String> {
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, res);
        let lp = ListParams::default();
        match api
            .delete_collection(&DeleteParams::background(), &lp)
            .await
        {
            Ok(_) => {}
            Err(err) if api_code(&err) == Some(404) => return Ok(None),
            Err(err) if api_code(&err) == Some(405) => {
                // No deletecollection: one by one.
                let list = api.list_metadata(&lp).await.map_err(|e| e.to_string())?;
                for item in list.items {
                    let name = item.metadata.name.unwrap_or_default();
                    match api.delete(&name, &DeleteParams::background()).await {
                        Ok(_) => {}
                        Err(e) if api_code(&e) == Some(404) => {}
                        Err(e) => return Err(e.to_string()),
                    }
                }
            }
            Err(err) => return Err(err.to_string()),
        }
        let left = api.list_metadata(&lp).await.map_err(|e| e.to_string())?;
        let mut remaining = Remaining {
            group: res.group.clone(),
            version: res.version.clone(),
            resource: res.plural.clone(),
            count: left.items.len(),
            ..Remaining::default()
        };
        for item in &left.items {
            for finalizer in item.metadata.finalizers.iter().flatten() {
                *remaining.finalizers.entry(finalizer.clone()).or_default() += 1;
            }
            let grace = item.metadata.deletion_grace_period_seconds.unwrap_or(0);
            remaining.grace_seconds = remaining.grace_seconds.max(grace);
        }
        Ok(Some(remaining))
    }

    /// The namespaced resources the server serves beyond the built-ins (custom
    /// resources) that can be listed and deleted, found through discovery.
    async fn discover_others(&self) -> Result<Vec<ApiResource>, kube::Error> {
        let discovery = kube::discovery::Discovery::new(self.client.clone())
            .run()
            .await?;
        let mut found = Vec::new();
        for group in discovery.groups() {
            for (ar, caps) in group.recommended_resources() {
                let builtin = RESOURCES
                    .iter()
                    .any(|r| r.group == ar.group && r.plural == ar.plural);
                if !builtin
                    && caps.scope == kube::discovery::Scope::Namespaced
                    && caps.supports_operation(kube::discovery::verbs::DELETE)
                    && caps.supports_operation(kube::discovery::verbs::LIST)
                {
                    found.push(ar);
                }
            }
        }
        Ok(found)
    }

    /// Removes our finalizer through `namespaces/<name>/finalize`, or by updating the
    /// namespace where that subresource is not served.
    async fn finalize(&self, ns: &Namespace, finalizers: Vec<String>) -> Result<(), kube::Error> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let name = ns.metadata.name.clone().unwrap_or_default();
        let mut done = ns.clone();
        done.spec.get_or_insert_with(Default::default).finalizers = Some(finalizers);
        let pp = PostParams::default();
        match api.replace_subresource("finalize", &name, &pp, &done).await {
            // Gone already: someone else finished it.
            Err(err) if api_code(&err) == Some(404) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

#[async_trait::async_trait]
impl Reconciler for Namespaces {
    async fn sync(&self, name: &str) -> Result<Option<Duration>, crate::Error> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let Some(mut ns) = api.get_opt(name).await? else {
            return Ok(None);
        };
        if ns.metadata.deletion_timestamp.is_none() {
            return Ok(None);
        }
        let Some(finalizers) = without_finalizer(&ns) else {
            // Ours is done; other finalizers may still hold the namespace.
            return Ok(None);
        };
        let mut errors = Vec::new();
        let mut remaining = Vec::new();
        let mut resources: Vec<ApiResource> = RESOURCES
            .iter()
            .filter(|r| r.namespaced)
            .map(|r| r.api_resource())
            .collect();
        match self.discover_others().await {
            Ok(others) => resources.extend(others),
            Err(err) => errors.push(format!("discovering the namespaced resources: {err}")),
        }
        for res in &resources {
            match self.empty_resource(name, res).await {
                Ok(Some(left)) => {
                    if left.unexpected() {
                        errors.push(format!(
                            "unexpected items still remain in namespace: {name} for gvr: {{{} {} {}}}",
                            left.group, left.version, left.resource
                        ));
                    }
                    if left.count > 0 {
                        remaining.push(left);
                    }
                }
                Ok(None) => {}
                Err(err) => errors.push(err),
            }
        }
        let status = ns.status.get_or_insert_with(Default::default);
        let mut changed = status.phase.as_deref() != Some("Terminating");
        status.phase = Some("Terminating".to_owned());
        let existing = status.conditions.get_or_insert_with(Vec::new);
        changed |= merge_conditions(existing, &conditions(&errors, &remaining), Timestamp::now());
        if changed {
            ns = api
                .replace_status(name, &PostParams::default(), &ns)
                .await?;
        }
        if !errors.is_empty() {
            return Err(crate::Error::Invalid(format!(
                "namespace {name}: {}",
                aggregate(&errors)
            )));
        }
        if !remaining.is_empty() {
            return Ok(Some(RECHECK));
        }
        tracing::info!(
            namespace = name,
            "namespace emptied; removing its finalizer"
        );
        self.finalize(&ns, finalizers).await?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn left(resource: &str, count: usize, finalizers: &[(&str, usize)], grace: i64) -> Remaining {
        Remaining {
            group: String::new(),
            version: "v1".into(),
            resource: resource.into(),
            count,
            finalizers: finalizers
                .iter()
                .map(|(f, n)| (f.to_string(), *n))
                .collect(),
            grace_seconds: grace,
        }
    }

    #[test]
    fn an_empty_namespace_reports_every_condition_false() {
        let all = conditions(&[], &[]);
        assert_eq!(all.len(), 5);
        assert!(all.iter().all(|c| c.status == "False"));
        assert_eq!(all[3].reason, "ContentRemoved");
        assert_eq!(all[4].message, "All content-preserving finalizers finished");
    }

    #[test]
    fn remaining_content_and_finalizers_are_reported_like_upstream() {
        let remaining = [
            left("pods", 2, &[], 30),
            left("configmaps", 1, &[("example.com/hold", 1)], 0),
        ];
        let all = conditions(&["boom".into()], &remaining);
        let get = |t: &str| all.iter().find(|c| c.type_ == t).unwrap();
        let content = get("NamespaceContentRemaining");
        assert_eq!(
            (content.status, content.reason),
            ("True", "SomeResourcesRemain")
        );
        assert_eq!(
            content.message,
            "Some resources are remaining: configmaps. has 1 resource instances, pods. has 2 resource instances"
        );
        let finalizers = get("NamespaceFinalizersRemaining");
        assert_eq!(
            finalizers.message,
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        );
        let failure = get("NamespaceDeletionContentFailure");
        assert_eq!(failure.reason, "ContentDeletionFailed");
        assert_eq!(
            failure.message,
            "Failed to delete all resource types, 1 remaining: boom"
        );
        assert!(!remaining[0].unexpected());
        assert!(!remaining[1].unexpected());
        assert!(left("secrets", 1, &[], 0).unexpected());
    }

    #[test]
    fn conditions_keep_their_transition_time_until_the_status_changes() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let t1 = Timestamp::from_second(2_000).unwrap();
        let mut existing = Vec::new();
        let remaining = [left("pods", 1, &[], 30)];
        assert!(merge_conditions(
            &mut existing,
            &conditions(&[], &remaining),
            t0
        ));
        assert!(!merge_conditions(
            &mut existing,
            &conditions(&[], &remaining),
            t1
        ));
        assert!(merge_conditions(&mut existing, &conditions(&[], &[]), t1));
        let content = existing
            .iter()
            .find(|c| c.type_ == "NamespaceContentRemaining")
            .unwrap();
        assert_eq!(content.status, "False");
        assert_eq!(content.last_transition_time, Some(Time(t1)));
        let discovery = &existing[0];
        assert_eq!(discovery.last_transition_time, Some(Time(t0)));
    }

    #[test]
    fn only_our_finalizer_is_removed() {
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": {"name": "x"},
            "spec": {"finalizers": ["kubernetes", "example.com/other"]}
        }))
        .unwrap();
        assert_eq!(
            without_finalizer(&ns),
            Some(vec!["example.com/other".to_owned()])
        );
        let done: Namespace =
            serde_json::from_value(json!({"metadata": {"name": "x"}, "spec": {"finalizers": []}}))
                .unwrap();
        assert_eq!(without_finalizer(&done), None);
    }
}
