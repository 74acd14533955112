//! Discovery documents: the older per-group lists and aggregated discovery (apidiscovery v2),
//! of the served resources (built-in and custom, in discovery order:
//! [`Resources::all`](crate::resources::Resources::all)).

use kmicro_apimachinery::registry::ResourceInfo;
use serde_json::{Value, json};

use crate::resources::group_versions;

/// The served resources, in discovery order.
pub type Served<'a> = &'a [&'static ResourceInfo];

/// The content type that tells kubectl the answer is aggregated discovery.
pub const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the Accept header asks for aggregated discovery (v2).
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let part = part.replace(' ', "");
        part.contains("g=apidiscovery.k8s.io")
            && part.contains("v=v2")
            && part.contains("as=APIGroupDiscoveryList")
    })
}

/// `/api`: the core group's versions.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// `/apis`: every non-core group.
pub fn groups(served: Served<'_>) -> Value {
    let groups: Vec<Value> = non_core_groups(served)
        .into_iter()
        .map(|g| group(g, served))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, or `None` when the group is not served.
pub fn group_document(name: &str, served: Served<'_>) -> Option<Value> {
    non_core_groups(served)
        .into_iter()
        .find(|g| *g == name)
        .map(|g| group(g, served))
}

fn non_core_groups(served: Served<'_>) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for (g, _) in group_versions(served) {
        if !g.is_empty() && !out.contains(&g) {
            out.push(g);
        }
    }
    out
}

fn group(name: &'static str, served: Served<'_>) -> Value {
    let versions: Vec<Value> = group_versions(served)
        .into_iter()
        .filter(|(g, _)| *g == name)
        .map(|(g, v)| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": versions, "preferredVersion": preferred})
}

/// `/api/v1` or `/apis/<group>/<version>`: the resources of one group-version.
pub fn resource_list(group: &str, version: &str, served: Served<'_>) -> Value {
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut resources = Vec::new();
    for r in served
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs(),
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        resources.push(entry);
        for sub in subresources(r) {
            let mut entry = json!({
                "name": format!("{}/{}", r.plural, sub.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": sub.kind,
                "verbs": sub.verbs,
            });
            // Only a subresource of another group-version names it (`pods/eviction`:
            // `policy/v1`; not `pods/binding`).
            if let Some(g) = sub
                .group
                .filter(|g| (*g, sub.version) != (r.group, r.version))
            {
                entry["group"] = json!(g);
                entry["version"] = json!(sub.version);
            }
            resources.push(entry);
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

/// A subresource as discovery describes it.
struct Subresource {
    name: &'static str,
    kind: &'static str,
    group: Option<&'static str>,
    version: &'static str,
    verbs: &'static [&'static str],
}

/// The verbs of `status` and `scale`.
const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];

fn subresources(r: &ResourceInfo) -> Vec<Subresource> {
    let mut out = Vec::new();
    if r.status {
        out.push(Subresource {
            name: "status",
            kind: r.kind,
            group: None,
            version: r.version,
            verbs: GET_PATCH_UPDATE,
        });
    }
    if r.scale {
        out.push(Subresource {
            name: "scale",
            kind: "Scale",
            group: Some("autoscaling"),
            version: "v1",
            verbs: GET_PATCH_UPDATE,
        });
    }
    out.extend(r.other_subresources().iter().map(|o| Subresource {
        name: o.name,
        kind: o.kind,
        group: Some(o.group),
        version: o.version,
        verbs: o.verbs,
    }));
    out
}

/// Aggregated discovery for `/api` (`core == true`) or `/apis`.
pub fn aggregated(core: bool, served: Served<'_>) -> Value {
    let mut items = Vec::new();
    let mut names: Vec<&'static str> = Vec::new();
    for (g, _) in group_versions(served) {
        if g.is_empty() == core && !names.contains(&g) {
            names.push(g);
        }
    }
    for name in names {
        let versions: Vec<Value> = group_versions(served)
            .into_iter()
            .filter(|(g, _)| *g == name)
            .map(|(g, v)| aggregated_version(g, v, served))
            .collect();
        let mut metadata = json!({"creationTimestamp": null});
        if !name.is_empty() {
            metadata["name"] = json!(name);
        }
        items.push(json!({"metadata": metadata, "versions": versions}));
    }
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

fn aggregated_version(group: &str, version: &str, served: Served<'_>) -> Value {
    let resources: Vec<Value> = served
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .map(|r| {
            let subs: Vec<Value> = subresources(r)
                .into_iter()
                .map(|s| {
                    json!({
                        "subresource": s.name,
                        "responseKind": {"group": s.group.unwrap_or(r.group), "version": s.version, "kind": s.kind},
                        "verbs": s.verbs,
                    })
                })
                .collect();
            let mut entry = json!({
                "resource": r.plural,
                "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": r.singular,
                "verbs": r.verbs(),
            });
            if !r.short_names.is_empty() {
                entry["shortNames"] = json!(r.short_names);
            }
            if !r.categories.is_empty() {
                entry["categories"] = json!(r.categories);
            }
            if !subs.is_empty() {
                entry["subresources"] = json!(subs);
            }
            entry
        })
        .collect();
    json!({"version": version, "resources": resources, "freshness": "Current"})
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmicro_apimachinery::registry::BUILTIN;

    fn builtin() -> Vec<&'static ResourceInfo> {
        BUILTIN.iter().collect()
    }

    #[test]
    fn pod_and_namespace_subresources_name_their_kinds() {
        let core = resource_list("", "v1", &builtin());
        let entry = |name: &str| {
            core["resources"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == name)
                .unwrap_or_else(|| panic!("{name} is not discoverable"))
                .clone()
        };
        assert_eq!(
            entry("pods/binding"),
            json!({"name": "pods/binding", "singularName": "", "namespaced": true, "kind": "Binding", "verbs": ["create"]})
        );
        assert_eq!(
            entry("pods/eviction"),
            json!({"name": "pods/eviction", "singularName": "", "namespaced": true, "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]})
        );
        assert_eq!(
            entry("namespaces/finalize"),
            json!({"name": "namespaces/finalize", "singularName": "", "namespaced": false, "kind": "Namespace", "verbs": ["update"]})
        );
    }

    #[test]
    fn deployments_scale_is_discoverable() {
        let apps = resource_list("apps", "v1", &builtin());
        let names: Vec<&str> = apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"deployments/scale"));
        let agg = aggregated(false, &builtin());
        let apps = agg["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == "apps")
            .unwrap();
        let deploy = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        assert!(
            deploy["subresources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["subresource"] == "scale")
        );
    }

    #[test]
    fn accept_negotiation() {
        assert!(wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        ));
        assert!(!wants_aggregated("application/json"));
        assert!(
            aggregated(true, &builtin())["items"][0]["metadata"]
                .get("name")
                .is_none()
        );
    }
}
