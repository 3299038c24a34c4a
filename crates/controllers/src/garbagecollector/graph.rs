//! The ownership graph: per uid an object's identity, its owner references, whether it is
//! being deleted (and with which garbage-collection finalizers), and its dependents. Owners that
//! are referenced but not (yet) seen are "virtual" nodes, to be confirmed or refuted with a GET.
//!
//! Every change returns the uids whose state may now call for action (upstream's
//! `processGraphChanges`); the collector enqueues them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::{BTreeSet, HashMap};

/// The finalizer that makes an owner wait for its blocking dependents (Foreground deletion).
pub const FOREGROUND: &str = "foregroundDeletion";
/// The finalizer that makes an owner release its dependents before it goes (Orphan deletion).
pub const ORPHAN: &str = "orphan";

/// Who an object is: enough to GET it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Identity {
    /// `v1`, `apps/v1`, …
    pub api_version: String,
    /// The kind.
    pub kind: String,
    /// The namespace (empty for cluster-scoped objects; for a virtual owner, the namespace of
    /// the dependent that named it, used only if the owner's kind is namespaced).
    pub namespace: String,
    /// The name.
    pub name: String,
}

/// The part of an owner reference the collector needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnerRef {
    /// The owner's uid.
    pub uid: String,
    /// The owner's apiVersion.
    pub api_version: String,
    /// The owner's kind.
    pub kind: String,
    /// The owner's name.
    pub name: String,
    /// `blockOwnerDeletion`: a Foreground-deleted owner waits for this dependent.
    pub block: bool,
}

impl From<&OwnerReference> for OwnerRef {
    fn from(r: &OwnerReference) -> OwnerRef {
        OwnerRef {
            uid: r.uid.clone(),
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            name: r.name.clone(),
            block: r.block_owner_deletion == Some(true),
        }
    }
}

/// An object as a watch reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// Its uid.
    pub uid: String,
    /// Who it is.
    pub identity: Identity,
    /// Its owner references.
    pub owners: Vec<OwnerRef>,
    /// Whether `deletionTimestamp` is set.
    pub deleting: bool,
    /// Whether it has the `orphan` finalizer.
    pub orphan: bool,
    /// Whether it has the `foregroundDeletion` finalizer.
    pub foreground: bool,
}

impl Observed {
    /// The object of kind `kind` at `api_version` with metadata `meta` (`None` without uid).
    pub fn from_meta(api_version: &str, kind: &str, meta: &ObjectMeta) -> Option<Observed> {
        let uid = meta.uid.clone().filter(|u| !u.is_empty())?;
        let has = |f: &str| meta.finalizers.iter().flatten().any(|x| x == f);
        Some(Observed {
            uid,
            identity: Identity {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
                namespace: meta.namespace.clone().unwrap_or_default(),
                name: meta.name.clone().unwrap_or_default(),
            },
            owners: meta
                .owner_references
                .iter()
                .flatten()
                .map(OwnerRef::from)
                .collect(),
            deleting: meta.deletion_timestamp.is_some(),
            orphan: has(ORPHAN),
            foreground: has(FOREGROUND),
        })
    }
}

/// One object of the graph.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// Who it is.
    pub identity: Identity,
    /// Whether a watch reported it (else it is only named as an owner).
    pub observed: bool,
    /// Its owner references.
    pub owners: Vec<OwnerRef>,
    /// Whether `deletionTimestamp` is set.
    pub deleting: bool,
    /// Whether it has the `orphan` finalizer.
    pub orphan: bool,
    /// Whether it has the `foregroundDeletion` finalizer.
    pub foreground: bool,
    /// The uids of the objects naming it as an owner.
    pub dependents: BTreeSet<String>,
}

impl Node {
    /// Being deleted in the foreground: it waits for its blocking dependents to go.
    pub fn deleting_dependents(&self) -> bool {
        self.deleting && self.foreground
    }

    /// Being deleted with the orphan finalizer: its dependents are to be released.
    pub fn orphaning(&self) -> bool {
        self.deleting && self.orphan
    }
}

/// The graph of every watched object with owners or dependents.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
}

impl Graph {
    /// The node with `uid`.
    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// How many nodes (observed and virtual) there are.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The dependents of `uid` with their nodes.
    pub fn dependents(&self, uid: &str) -> Vec<(String, Node)> {
        let Some(node) = self.nodes.get(uid) else {
            return Vec::new();
        };
        node.dependents
            .iter()
            .filter_map(|d| Some((d.clone(), self.nodes.get(d)?.clone())))
            .collect()
    }

    /// The dependents of `uid` whose reference to it has `blockOwnerDeletion`.
    pub fn blocking_dependents(&self, uid: &str) -> Vec<String> {
        self.dependents(uid)
            .into_iter()
            .filter(|(_, dep)| dep.owners.iter().any(|o| o.uid == uid && o.block))
            .map(|(d, _)| d)
            .collect()
    }

    /// Records an added or changed object; returns the uids to look at.
    pub fn upsert(&mut self, obj: Observed) -> Vec<String> {
        let uid = obj.uid.clone();
        let mut wake = Vec::new();
        let (old_owners, dependents) = match self.nodes.remove(&uid) {
            Some(n) if n.observed => (n.owners, n.dependents),
            Some(n) => (Vec::new(), n.dependents),
            None => (Vec::new(), BTreeSet::new()),
        };
        for old in &old_owners {
            let now = obj.owners.iter().find(|o| o.uid == old.uid);
            // A blocking reference gone or unblocked may let a Foreground-deleted owner go.
            if old.block && now.is_none_or(|n| !n.block) && self.is_deleting_dependents(&old.uid) {
                wake.push(old.uid.clone());
            }
            if now.is_none() {
                self.unlink(&old.uid, &uid);
            }
        }
        for new in &obj.owners {
            if new.uid == uid || old_owners.iter().any(|o| o.uid == new.uid) {
                continue;
            }
            match self.nodes.get_mut(&new.uid) {
                Some(owner) => {
                    owner.dependents.insert(uid.clone());
                }
                None => {
                    // Named but not seen: confirm the owner exists before trusting it.
                    let virtual_owner = Node {
                        identity: Identity {
                            api_version: new.api_version.clone(),
                            kind: new.kind.clone(),
                            namespace: obj.identity.namespace.clone(),
                            name: new.name.clone(),
                        },
                        dependents: BTreeSet::from([uid.clone()]),
                        ..Node::default()
                    };
                    self.nodes.insert(new.uid.clone(), virtual_owner);
                    wake.push(new.uid.clone());
                }
            }
        }
        let node = Node {
            identity: obj.identity,
            observed: true,
            owners: obj.owners,
            deleting: obj.deleting,
            orphan: obj.orphan,
            foreground: obj.foreground,
            dependents,
        };
        if node.orphaning() || node.deleting_dependents() {
            wake.push(uid.clone());
        }
        if node.deleting_dependents() {
            wake.extend(node.dependents.iter().cloned());
        }
        self.nodes.insert(uid, node);
        wake
    }

    /// Forgets an object that is gone (a watch reported its deletion, or a GET found it
    /// absent); returns the uids to look at: its dependents, and owners waiting for it.
    pub fn remove(&mut self, uid: &str) -> Vec<String> {
        let Some(node) = self.nodes.remove(uid) else {
            return Vec::new();
        };
        let mut wake: Vec<String> = node.dependents.iter().cloned().collect();
        for owner in &node.owners {
            if self.is_deleting_dependents(&owner.uid) {
                wake.push(owner.uid.clone());
            }
            self.unlink(&owner.uid, uid);
        }
        wake
    }

    fn is_deleting_dependents(&self, uid: &str) -> bool {
        self.nodes.get(uid).is_some_and(Node::deleting_dependents)
    }

    /// Drops `dependent` from `owner`'s dependents, and a virtual owner nobody names.
    fn unlink(&mut self, owner: &str, dependent: &str) {
        if let Some(node) = self.nodes.get_mut(owner) {
            node.dependents.remove(dependent);
            if !node.observed && node.dependents.is_empty() {
                self.nodes.remove(owner);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner_ref(uid: &str, block: bool) -> OwnerRef {
        OwnerRef {
            uid: uid.into(),
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: format!("cm-{uid}"),
            block,
        }
    }

    fn obj(uid: &str, owners: &[OwnerRef]) -> Observed {
        Observed {
            uid: uid.into(),
            identity: Identity {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: "ns".into(),
                name: format!("cm-{uid}"),
            },
            owners: owners.to_vec(),
            ..Observed::default()
        }
    }

    #[test]
    fn an_unseen_owner_becomes_a_virtual_node_to_verify() {
        let mut g = Graph::default();
        assert_eq!(g.upsert(obj("d", &[owner_ref("o", false)])), ["o"]);
        let owner = g.get("o").unwrap();
        assert!(!owner.observed);
        assert_eq!(owner.identity.namespace, "ns");
        assert_eq!(owner.identity.name, "cm-o");
        // Seeing the owner makes it real and keeps its dependents.
        assert!(g.upsert(obj("o", &[])).is_empty());
        assert!(g.get("o").unwrap().observed);
        assert_eq!(g.dependents("o")[0].0, "d");
    }

    #[test]
    fn a_deleted_owner_wakes_its_dependents() {
        let mut g = Graph::default();
        g.upsert(obj("o", &[]));
        g.upsert(obj("d1", &[owner_ref("o", false)]));
        g.upsert(obj("d2", &[owner_ref("o", false), owner_ref("p", false)]));
        let mut woken = g.remove("o");
        woken.sort();
        assert_eq!(woken, ["d1", "d2"]);
        assert!(g.get("o").is_none());
        // Removing the last dependent of a virtual owner drops it.
        assert!(g.get("p").is_some());
        g.remove("d2");
        assert!(g.get("p").is_none());
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn foreground_deletion_wakes_the_owner_and_its_dependents() {
        let mut g = Graph::default();
        g.upsert(obj("o", &[]));
        g.upsert(obj("d", &[owner_ref("o", true)]));
        g.upsert(obj("n", &[owner_ref("o", false)]));
        let mut deleting = obj("o", &[]);
        deleting.deleting = true;
        deleting.foreground = true;
        let mut woken = g.upsert(deleting);
        woken.sort();
        assert_eq!(woken, ["d", "n", "o"]);
        assert_eq!(g.blocking_dependents("o"), ["d"]);
        // The blocking dependent going wakes the owner; a non-blocking one too (harmless).
        assert_eq!(g.remove("d"), ["o"]);
        assert!(g.blocking_dependents("o").is_empty());
    }

    #[test]
    fn unblocking_or_dropping_a_reference_wakes_a_waiting_owner() {
        let mut g = Graph::default();
        let mut owner = obj("o", &[]);
        (owner.deleting, owner.foreground) = (true, true);
        g.upsert(owner);
        g.upsert(obj("d", &[owner_ref("o", true)]));
        assert_eq!(g.upsert(obj("d", &[owner_ref("o", false)])), ["o"]);
        assert!(g.upsert(obj("d", &[owner_ref("o", false)])).is_empty());
        assert!(g.blocking_dependents("o").is_empty());
        g.upsert(obj("e", &[owner_ref("o", true)]));
        assert_eq!(g.upsert(obj("e", &[])), ["o"]);
        assert_eq!(g.get("o").unwrap().dependents.len(), 1);
    }

    #[test]
    fn orphaning_wakes_the_owner() {
        let mut g = Graph::default();
        let mut owner = obj("o", &[]);
        (owner.deleting, owner.orphan) = (true, true);
        assert_eq!(g.upsert(owner), ["o"]);
        assert!(g.get("o").unwrap().orphaning());
    }

    #[test]
    fn observed_from_metadata() {
        let meta = ObjectMeta {
            uid: Some("u".into()),
            name: Some("n".into()),
            namespace: Some("ns".into()),
            finalizers: Some(vec![FOREGROUND.into()]),
            owner_references: Some(vec![OwnerReference {
                uid: "o".into(),
                block_owner_deletion: Some(true),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        };
        let o = Observed::from_meta("apps/v1", "ReplicaSet", &meta).unwrap();
        assert!(o.foreground && !o.orphan && !o.deleting);
        assert!(o.owners[0].block);
        assert_eq!(o.identity.kind, "ReplicaSet");
        assert!(Observed::from_meta("v1", "Pod", &ObjectMeta::default()).is_none());
    }
}
