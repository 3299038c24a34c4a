//! Discovery documents, derived from the registry's kinds: `/api`,
//! `/apis`, per group and version, and aggregated discovery.

use rkube_registry::kinds::{ResourceInfo, Subresource};
use serde_json::{Value, json};

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn verbs(info: &ResourceInfo) -> Vec<&'static str> {
    if !info.stored {
        return vec!["create"];
    }
    VERBS
        .iter()
        .copied()
        .filter(|v| !(info.plural == "namespaces" && *v == "deletecollection"))
        .collect()
}

/// The kind a subresource answers with.
fn sub_kind(
    info: &ResourceInfo,
    sub: Subresource,
) -> (&'static str, &'static str, &'static str, Vec<&'static str>) {
    match sub {
        Subresource::Status => (
            info.group,
            info.version,
            info.kind,
            vec!["get", "patch", "update"],
        ),
        Subresource::Scale => ("autoscaling", "v1", "Scale", vec!["get", "patch", "update"]),
        Subresource::Binding => ("", "v1", "Binding", vec!["create"]),
        Subresource::Token => (
            "authentication.k8s.io",
            "v1",
            "TokenRequest",
            vec!["create"],
        ),
        Subresource::Finalize => (info.group, info.version, info.kind, vec!["update"]),
    }
}

/// The API groups of `served`, in order, each with its versions (in order).
fn groups<'a>(served: &[&'a ResourceInfo]) -> Vec<(&'a str, Vec<&'a str>)> {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for r in served {
        match groups.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) if !versions.contains(&r.version) => versions.push(r.version),
            Some(_) => {}
            None => groups.push((r.group, vec![r.version])),
        }
    }
    groups
}

/// `/api`.
pub fn api_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [],
    })
}

fn group_entry(group: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({
        "name": group,
        "versions": versions,
        "preferredVersion": versions[0],
    })
}

/// `/apis`.
pub fn api_group_list(served: &[&ResourceInfo]) -> Value {
    let groups: Vec<Value> = groups(served)
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, versions)| group_entry(g, &versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, if served.
pub fn api_group(served: &[&ResourceInfo], group: &str) -> Option<Value> {
    let (g, versions) = groups(served)
        .into_iter()
        .find(|(g, _)| *g == group && !g.is_empty())?;
    let mut entry = group_entry(g, &versions);
    entry["kind"] = json!("APIGroup");
    entry["apiVersion"] = json!("v1");
    Some(entry)
}

/// `/api/v1` or `/apis/<group>/<version>`, if served.
pub fn api_resource_list(served: &[&ResourceInfo], group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for info in served
        .iter()
        .filter(|i| i.group == group && i.version == version)
    {
        let mut entry = json!({
            "name": info.plural,
            "singularName": info.singular,
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": verbs(info),
        });
        if !info.short_names.is_empty() {
            entry["shortNames"] = json!(info.short_names);
        }
        if !info.categories.is_empty() {
            entry["categories"] = json!(info.categories);
        }
        resources.push(entry);
        for sub in info.subresources {
            let (g, v, kind, verbs) = sub_kind(info, *sub);
            let mut entry = json!({
                "name": format!("{}/{}", info.plural, sub.name()),
                "singularName": "",
                "namespaced": info.namespaced,
                "kind": kind,
                "verbs": verbs,
            });
            if *sub == Subresource::Scale {
                entry["group"] = json!(g);
                entry["version"] = json!(v);
            }
            resources.push(entry);
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

fn discovery_resource(info: &ResourceInfo) -> Value {
    let subresources: Vec<Value> = info
        .subresources
        .iter()
        .map(|sub| {
            let (g, v, kind, verbs) = sub_kind(info, *sub);
            json!({
                "subresource": sub.name(),
                "responseKind": {"group": g, "version": v, "kind": kind},
                "verbs": verbs,
            })
        })
        .collect();
    let mut entry = json!({
        "resource": info.plural,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": if info.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": info.singular,
        "verbs": verbs(info),
    });
    if !info.short_names.is_empty() {
        entry["shortNames"] = json!(info.short_names);
    }
    if !info.categories.is_empty() {
        entry["categories"] = json!(info.categories);
    }
    if !subresources.is_empty() {
        entry["subresources"] = json!(subresources);
    }
    entry
}

/// Aggregated discovery for `/api` (`core`) or `/apis` (the rest), at
/// `apidiscovery.k8s.io/<version>`.
pub fn aggregated(served: &[&ResourceInfo], core: bool, version: &str) -> Value {
    let items: Vec<Value> = groups(served)
        .into_iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = served
                        .iter()
                        .filter(|i| i.group == g && i.version == *v)
                        .map(|i| discovery_resource(i))
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let metadata = if g.is_empty() {
                json!({"creationTimestamp": null})
            } else {
                json!({"name": g, "creationTimestamp": null})
            };
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rkube_registry::kinds::BUILTIN;

    fn builtin() -> Vec<&'static ResourceInfo> {
        BUILTIN.iter().collect()
    }

    #[test]
    fn deployments_list_their_subresources() {
        let list = api_resource_list(&builtin(), "apps", "v1").unwrap();
        let names: Vec<&str> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"deployments"));
        assert!(names.contains(&"deployments/scale"));
        assert!(names.contains(&"deployments/status"));
        assert!(api_resource_list(&builtin(), "nope", "v1").is_none());
    }

    #[test]
    fn reviews_are_only_created() {
        for version in ["v1", "v1beta1"] {
            let list = api_resource_list(&builtin(), "authentication.k8s.io", version).unwrap();
            let review = &list["resources"][0];
            assert_eq!(review["name"], "selfsubjectreviews");
            assert_eq!(review["kind"], "SelfSubjectReview");
            assert_eq!(review["namespaced"], false);
            assert_eq!(review["verbs"], json!(["create"]));
        }
        let group = api_group(&builtin(), "authentication.k8s.io").unwrap();
        assert_eq!(group["preferredVersion"]["version"], "v1");
        let groups = aggregated(&builtin(), false, "v2");
        let auth = groups["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["metadata"]["name"] == "authentication.k8s.io")
            .unwrap();
        let resource = &auth["versions"][0]["resources"][0];
        assert_eq!(resource["resource"], "selfsubjectreviews");
        assert_eq!(resource["scope"], "Cluster");
        assert_eq!(resource["verbs"], json!(["create"]));
    }

    #[test]
    fn aggregated_discovery_splits_core_from_groups() {
        let core = aggregated(&builtin(), true, "v2");
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        let groups = aggregated(&builtin(), false, "v2");
        assert!(
            groups["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["metadata"]["name"] == "apps")
        );
    }
}
