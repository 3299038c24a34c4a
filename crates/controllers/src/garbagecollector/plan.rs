//! What the collector does with one object, decided without IO (upstream's
//! `attemptToDeleteItem`, `processDeletingDependentsItem` and `attemptToOrphan`), and the patch
//! bodies it sends.

use super::graph::{FOREGROUND, ORPHAN, OwnerRef};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{Value, json};

/// What a GET found about one owner of a dependent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerState {
    /// It exists (same uid) and is not waiting for its dependents.
    Solid,
    /// It does not exist, or a different object now has its name.
    Dangling,
    /// It is being deleted in the foreground: it waits for its dependents to go.
    Waiting,
}

/// How a dependent is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Deleted now; its own dependents are collected afterwards.
    Background,
    /// Deleted after its own blocking dependents.
    Foreground,
    /// Deleted after its own dependents are released.
    Orphan,
}

/// What to do with an object that has owners and is not being deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// An owner still holds it.
    Keep,
    /// Some owner still holds it: drop only the references to these (gone or waiting) owners.
    RemoveRefs(Vec<String>),
    /// Every owner is gone or waiting: delete it, first clearing `blockOwnerDeletion` on the
    /// references to the `unblock` owners (to break a Foreground cycle).
    Delete {
        /// The propagation policy of the delete.
        policy: Policy,
        /// Owners whose references lose `blockOwnerDeletion` first.
        unblock: Vec<String>,
    },
}

/// Decides about an object with owner references given each owner's state, whether it has
/// dependents itself, whether one of those is itself waiting for its dependents, and the
/// object's finalizers.
pub fn plan_dependent(
    owners: &[(OwnerRef, OwnerState)],
    has_dependents: bool,
    a_dependent_waits: bool,
    finalizers: &[String],
) -> Plan {
    let with = |state: OwnerState| {
        owners
            .iter()
            .filter(move |(_, s)| *s == state)
            .map(|(r, _)| r)
    };
    if owners.is_empty() {
        return Plan::Keep;
    }
    if with(OwnerState::Solid).next().is_some() {
        let gone: Vec<String> = with(OwnerState::Dangling)
            .chain(with(OwnerState::Waiting))
            .map(|r| r.uid.clone())
            .collect();
        return if gone.is_empty() {
            Plan::Keep
        } else {
            Plan::RemoveRefs(gone)
        };
    }
    if with(OwnerState::Waiting).next().is_some() && has_dependents {
        // Its owner waits for it, so it waits for its own dependents; if one of those waits
        // for it in turn, unblock our owners so the cycle does not deadlock.
        let unblock = if a_dependent_waits {
            with(OwnerState::Waiting)
                .filter(|r| r.block)
                .map(|r| r.uid.clone())
                .collect()
        } else {
            Vec::new()
        };
        return Plan::Delete {
            policy: Policy::Foreground,
            unblock,
        };
    }
    let has = |f: &str| finalizers.iter().any(|x| x == f);
    let policy = if has(ORPHAN) {
        Policy::Orphan
    } else if has(FOREGROUND) {
        Policy::Foreground
    } else {
        Policy::Background
    };
    Plan::Delete {
        policy,
        unblock: Vec::new(),
    }
}

/// What to do with an object being deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerPlan {
    /// Nothing for the collector (no collector finalizer).
    Nothing,
    /// Remove the references to it from its dependents, then the `orphan` finalizer.
    Orphan,
    /// Delete its dependents; it waits for the blocking ones.
    DeleteDependents,
    /// No blocking dependent is left: remove the `foregroundDeletion` finalizer.
    Release,
}

/// Decides about an object with `deletionTimestamp` from its finalizers and how many of its
/// dependents block its deletion.
pub fn plan_owner(finalizers: &[String], blocking: usize) -> OwnerPlan {
    let has = |f: &str| finalizers.iter().any(|x| x == f);
    if has(ORPHAN) {
        OwnerPlan::Orphan
    } else if has(FOREGROUND) && blocking > 0 {
        OwnerPlan::DeleteDependents
    } else if has(FOREGROUND) {
        OwnerPlan::Release
    } else {
        OwnerPlan::Nothing
    }
}

/// A change to a dependent's references to some of its owners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefChange {
    /// Remove the references.
    Remove,
    /// Clear their `blockOwnerDeletion`.
    Unblock,
}

/// A strategic merge patch making `change` to the dependent `uid`'s references to `owners`
/// (`refs` are its current references).
pub fn refs_strategic_patch(
    uid: &str,
    refs: &[OwnerReference],
    owners: &[String],
    change: RefChange,
) -> Value {
    let items: Vec<Value> = match change {
        RefChange::Remove => owners
            .iter()
            .map(|o| json!({"$patch": "delete", "uid": o}))
            .collect(),
        RefChange::Unblock => refs
            .iter()
            .filter(|r| owners.contains(&r.uid))
            .map(|r| {
                json!({"apiVersion": r.api_version, "kind": r.kind, "name": r.name,
                    "uid": r.uid, "blockOwnerDeletion": false})
            })
            .collect(),
    };
    json!({"metadata": {"ownerReferences": items, "uid": uid}})
}

/// A JSON merge patch writing the dependent's whole reference list with `change` made to those
/// to `owners`, guarded by its resource version (for kinds without strategic merge patch).
pub fn refs_merge_patch(
    refs: &[OwnerReference],
    owners: &[String],
    change: RefChange,
    rv: &str,
) -> Value {
    let changed: Vec<OwnerReference> = refs
        .iter()
        .filter(|r| change != RefChange::Remove || !owners.contains(&r.uid))
        .map(|r| {
            let mut r = r.clone();
            if owners.contains(&r.uid) {
                r.block_owner_deletion = Some(false);
            }
            r
        })
        .collect();
    json!({"metadata": {"ownerReferences": changed, "resourceVersion": rv}})
}

/// A JSON merge patch writing the finalizers without `finalizer`, guarded by the resource
/// version; `None` when it is not there.
pub fn remove_finalizer_patch(finalizers: &[String], finalizer: &str, rv: &str) -> Option<Value> {
    if !finalizers.iter().any(|f| f == finalizer) {
        return None;
    }
    let kept: Vec<&String> = finalizers.iter().filter(|f| *f != finalizer).collect();
    Some(json!({"metadata": {"finalizers": kept, "resourceVersion": rv}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(uid: &str, block: bool) -> OwnerRef {
        OwnerRef {
            uid: uid.into(),
            block,
            ..OwnerRef::default()
        }
    }

    fn delete(policy: Policy) -> Plan {
        Plan::Delete {
            policy,
            unblock: Vec::new(),
        }
    }

    #[test]
    fn a_dependent_with_all_owners_gone_is_deleted_in_the_background() {
        let owners = [(r("a", false), OwnerState::Dangling)];
        assert_eq!(
            plan_dependent(&owners, false, false, &[]),
            delete(Policy::Background)
        );
        let two = [
            (r("a", false), OwnerState::Dangling),
            (r("b", true), OwnerState::Dangling),
        ];
        assert_eq!(
            plan_dependent(&two, true, false, &[]),
            delete(Policy::Background)
        );
    }

    #[test]
    fn a_dependent_keeps_its_living_owners_references() {
        let owners = [
            (r("a", false), OwnerState::Dangling),
            (r("b", false), OwnerState::Solid),
        ];
        assert_eq!(
            plan_dependent(&owners, false, false, &[]),
            Plan::RemoveRefs(vec!["a".into()])
        );
        let held = [(r("b", false), OwnerState::Solid)];
        assert_eq!(plan_dependent(&held, false, false, &[]), Plan::Keep);
        let waiting = [
            (r("w", true), OwnerState::Waiting),
            (r("b", false), OwnerState::Solid),
        ];
        assert_eq!(
            plan_dependent(&waiting, true, false, &[]),
            Plan::RemoveRefs(vec!["w".into()])
        );
        assert_eq!(plan_dependent(&[], false, false, &[]), Plan::Keep);
    }

    #[test]
    fn a_dependent_of_a_waiting_owner_goes_in_the_foreground_if_it_has_dependents() {
        let owners = [(r("w", true), OwnerState::Waiting)];
        assert_eq!(
            plan_dependent(&owners, true, false, &[]),
            delete(Policy::Foreground)
        );
        assert_eq!(
            plan_dependent(&owners, false, false, &[]),
            delete(Policy::Background)
        );
        assert_eq!(
            plan_dependent(&owners, true, true, &[]),
            Plan::Delete {
                policy: Policy::Foreground,
                unblock: vec!["w".into()]
            }
        );
    }

    #[test]
    fn a_dependents_own_finalizers_choose_the_policy() {
        let owners = [(r("a", false), OwnerState::Dangling)];
        let fin = |f: &str| vec![f.to_owned()];
        assert_eq!(
            plan_dependent(&owners, true, false, &fin(ORPHAN)),
            delete(Policy::Orphan)
        );
        assert_eq!(
            plan_dependent(&owners, true, false, &fin(FOREGROUND)),
            delete(Policy::Foreground)
        );
    }

    #[test]
    fn owners_being_deleted_follow_their_finalizers() {
        let fin = |f: &[&str]| f.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(plan_owner(&fin(&["orphan", "x"]), 3), OwnerPlan::Orphan);
        assert_eq!(
            plan_owner(&fin(&[FOREGROUND]), 2),
            OwnerPlan::DeleteDependents
        );
        assert_eq!(plan_owner(&fin(&[FOREGROUND]), 0), OwnerPlan::Release);
        assert_eq!(plan_owner(&fin(&["x"]), 0), OwnerPlan::Nothing);
    }

    #[test]
    fn patches_remove_only_what_they_name() {
        let refs = vec![
            OwnerReference {
                uid: "o".into(),
                name: "x".into(),
                ..OwnerReference::default()
            },
            OwnerReference {
                uid: "p".into(),
                name: "y".into(),
                block_owner_deletion: Some(true),
                ..OwnerReference::default()
            },
        ];
        assert_eq!(
            refs_strategic_patch("d", &refs, &["o".into()], RefChange::Remove),
            json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "o"}], "uid": "d"}})
        );
        let unblock = refs_strategic_patch("d", &refs, &["p".into()], RefChange::Unblock);
        assert_eq!(
            unblock["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
            false
        );
        assert_eq!(unblock["metadata"]["ownerReferences"][0]["name"], "y");
        let kept = refs_merge_patch(&refs, &["o".into()], RefChange::Remove, "3");
        assert_eq!(kept["metadata"]["resourceVersion"], "3");
        let kept = kept["metadata"]["ownerReferences"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(kept.len(), 1);
        assert_eq!(
            (&kept[0]["uid"], &kept[0]["blockOwnerDeletion"]),
            (&json!("p"), &json!(true))
        );
        let unblocked = refs_merge_patch(&refs, &["p".into()], RefChange::Unblock, "3");
        let all = unblocked["metadata"]["ownerReferences"].as_array().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1]["blockOwnerDeletion"], false);
        let fins = vec!["a".to_owned(), FOREGROUND.to_owned(), "b".to_owned()];
        assert_eq!(
            remove_finalizer_patch(&fins, FOREGROUND, "7"),
            Some(json!({"metadata": {"finalizers": ["a", "b"], "resourceVersion": "7"}}))
        );
        assert_eq!(remove_finalizer_patch(&fins, ORPHAN, "7"), None);
    }
}
