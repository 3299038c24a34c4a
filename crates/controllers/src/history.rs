//! ControllerRevisions, as the DaemonSet and StatefulSet controllers keep them: one revision
//! per pod template the set has had (the template stored as a replacing patch), numbered in
//! the order templates became current, named `<set>-<hash>` and labelled with
//! `controller-revision-hash`; a hash collision bumps the set's `collisionCount`; revisions
//! no live pod uses are pruned down to `revisionHistoryLimit`.

use crate::claim::{Owner, claim};
use crate::informer::Informer;
use crate::pods::controller_of;
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;

/// The label naming the revision (its hash) on revisions and on the pods made from them.
pub const HASH_LABEL: &str = "controller-revision-hash";

/// How many hash collisions in a row are resolved in one sync before giving up.
const MAX_COLLISIONS: usize = 5;

/// A revision's data for a template: the patch that restores it (`$patch: replace`).
pub fn data_of(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut t {
        map.insert("$patch".to_owned(), json!("replace"));
    }
    json!({"spec": {"template": t}})
}

/// The template a revision holds, if it holds one.
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = revision
        .data
        .as_ref()?
        .0
        .get("spec")?
        .get("template")?
        .clone();
    if let Value::Object(map) = &mut t {
        map.remove("$patch");
    }
    serde_json::from_value(t).ok()
}

/// The hash of a template with the set's collision count (the suffix of a revision's name).
pub fn hash_of(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    crate::deployment::template_hash(template, collision_count)
}

/// The hash a revision carries in its label (empty when unlabelled).
pub fn hash_label(meta: &ObjectMeta) -> &str {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(HASH_LABEL))
        .map(String::as_str)
        .unwrap_or("")
}

/// What to do so that the current template has a revision.
#[derive(Debug, PartialEq, Eq)]
pub enum Choice {
    /// `revisions[index]` holds the template; give it `renumber` when it is not the newest.
    Reuse {
        /// Its position in the slice.
        index: usize,
        /// Its new revision number, when it must become the newest.
        renumber: Option<i64>,
    },
    /// No revision holds the template: create one with this number.
    Create {
        /// The number of the new revision.
        revision: i64,
    },
}

/// The highest revision number plus one.
pub fn next_revision(revisions: &[Arc<ControllerRevision>]) -> i64 {
    revisions.iter().map(|r| r.revision).max().unwrap_or(0) + 1
}

/// Chooses the revision for the template whose data is `data` (upstream reuses the newest
/// equal one and renumbers it when a rollback makes it current again).
pub fn choose(revisions: &[Arc<ControllerRevision>], data: &Value) -> Choice {
    let max = revisions.iter().map(|r| r.revision).max().unwrap_or(0);
    let equal = revisions
        .iter()
        .enumerate()
        .filter(|(_, r)| r.data.as_ref().map(|d| &d.0) == Some(data))
        .max_by_key(|(_, r)| r.revision);
    match equal {
        Some((index, r)) => Choice::Reuse {
            index,
            renumber: (r.revision < max).then_some(max + 1),
        },
        None => Choice::Create { revision: max + 1 },
    }
}

/// The revisions to delete: those not in `keep` (the current ones and those live pods use,
/// by name), oldest first, beyond `limit`.
pub fn prune(
    revisions: &[Arc<ControllerRevision>],
    keep: &HashSet<String>,
    limit: i32,
) -> Vec<Arc<ControllerRevision>> {
    let mut old: Vec<Arc<ControllerRevision>> = revisions
        .iter()
        .filter(|r| !keep.contains(r.metadata.name.as_deref().unwrap_or("")))
        .cloned()
        .collect();
    old.sort_by_key(|r| r.revision);
    let excess = old.len().saturating_sub(limit.max(0) as usize);
    old.truncate(excess);
    old
}

/// One set's revision history: where it lives and who owns it.
pub struct History<'a> {
    /// The client writes go through.
    pub client: kube::Client,
    /// The set's namespace.
    pub namespace: &'a str,
    /// The set, its reference and selector (revisions are adopted and released as pods are).
    pub owner: Owner<'a>,
    /// The labels of the set's template (revisions carry them).
    pub labels: std::collections::BTreeMap<String, String>,
}

impl History<'_> {
    fn api(&self) -> Api<ControllerRevision> {
        Api::namespaced(self.client.clone(), self.namespace)
    }

    /// The revisions the set owns (after adopting and releasing), oldest first.
    pub async fn owned(
        &self,
        informer: &Informer<ControllerRevision>,
    ) -> Result<Vec<Arc<ControllerRevision>>, crate::Error> {
        let candidates = informer.list_namespace(self.namespace);
        let uid = self.owner.meta.uid.as_deref().unwrap_or("");
        // Only candidates that are ours or orphans go through the claim.
        let candidates = candidates
            .into_iter()
            .filter(|r| controller_of(&r.metadata).is_none_or(|c| c.uid == uid))
            .collect();
        let mut owned = claim(&self.api(), &self.owner, candidates).await?;
        owned.sort_by_key(|r| r.revision);
        Ok(owned)
    }

    /// The revision of `template`, made or renumbered as needed; `collision_count` grows when
    /// another template's revision already has the name this one would get.
    pub async fn ensure(
        &self,
        revisions: &[Arc<ControllerRevision>],
        template: &PodTemplateSpec,
        collision_count: &mut i32,
    ) -> Result<ControllerRevision, crate::Error> {
        let data = data_of(template);
        let revision = match choose(revisions, &data) {
            Choice::Reuse { index, renumber } => {
                let existing = &revisions[index];
                let Some(number) = renumber else {
                    return Ok((**existing).clone());
                };
                let name = existing.metadata.name.clone().unwrap_or_default();
                let patch = json!({"revision": number});
                return Ok(self
                    .api()
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?);
            }
            Choice::Create { revision } => revision,
        };
        let set = self.owner.meta.name.as_deref().unwrap_or("");
        for _ in 0..MAX_COLLISIONS {
            let hash = hash_of(template, Some(*collision_count).filter(|c| *c > 0));
            let mut labels = self.labels.clone();
            labels.insert(HASH_LABEL.to_owned(), hash.clone());
            let new = ControllerRevision {
                metadata: ObjectMeta {
                    name: Some(format!("{set}-{hash}")),
                    namespace: Some(self.namespace.to_owned()),
                    labels: Some(labels),
                    owner_references: Some(vec![self.owner.reference.clone()]),
                    ..ObjectMeta::default()
                },
                data: Some(RawExtension(data.clone())),
                revision,
            };
            match self.api().create(&PostParams::default(), &new).await {
                Ok(created) => return Ok(created),
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    let name = new.metadata.name.as_deref().unwrap_or("");
                    let existing = self.api().get(name).await?;
                    let ours = controller_of(&existing.metadata)
                        .is_some_and(|r| Some(r.uid.as_str()) == self.owner.meta.uid.as_deref());
                    if ours && existing.data.as_ref().map(|d| &d.0) == Some(&data) {
                        return Ok(existing);
                    }
                    *collision_count += 1;
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(crate::Error::Invalid(format!(
            "too many revision name collisions for {set}"
        )))
    }

    /// Deletes the given revisions (already gone is fine).
    pub async fn delete(&self, revisions: &[Arc<ControllerRevision>]) -> Result<(), crate::Error> {
        for r in revisions {
            let name = r.metadata.name.as_deref().unwrap_or("");
            match self.api().delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(image: &str) -> PodTemplateSpec {
        serde_json::from_value(json!({"metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": image}]}}))
        .unwrap()
    }

    fn revision(name: &str, number: i64, image: &str) -> Arc<ControllerRevision> {
        Arc::new(ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            data: Some(RawExtension(data_of(&template(image)))),
            revision: number,
        })
    }

    #[test]
    fn data_round_trips_the_template() {
        let t = template("nginx:1");
        let data = data_of(&t);
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        let r = ControllerRevision {
            data: Some(RawExtension(data)),
            ..ControllerRevision::default()
        };
        assert_eq!(template_of(&r), Some(t));
    }

    #[test]
    fn equal_templates_reuse_their_revision_and_rollbacks_renumber_it() {
        let revs = vec![revision("a", 1, "v1"), revision("b", 2, "v2")];
        assert_eq!(
            choose(&revs, &data_of(&template("v2"))),
            Choice::Reuse {
                index: 1,
                renumber: None
            }
        );
        assert_eq!(
            choose(&revs, &data_of(&template("v1"))),
            Choice::Reuse {
                index: 0,
                renumber: Some(3)
            }
        );
        assert_eq!(
            choose(&revs, &data_of(&template("v3"))),
            Choice::Create { revision: 3 }
        );
        assert_eq!(
            choose(&[], &data_of(&template("v3"))),
            Choice::Create { revision: 1 }
        );
    }

    #[test]
    fn pruning_keeps_live_revisions_and_the_newest_within_the_limit() {
        let revs: Vec<_> = (1..=5)
            .map(|i| revision(&format!("r{i}"), i, &format!("v{i}")))
            .collect();
        let keep: HashSet<String> = ["r5".to_owned(), "r1".to_owned()].into();
        let names = |v: Vec<Arc<ControllerRevision>>| {
            v.iter()
                .map(|r| r.metadata.name.clone().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(prune(&revs, &keep, 1)), ["r2", "r3"]);
        assert!(prune(&revs, &keep, 10).is_empty());
    }
}
