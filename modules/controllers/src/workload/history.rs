//! ControllerRevisions: the template history of DaemonSets and StatefulSets (kube's
//! `controller/history`). A revision's data is the patch that puts its template back
//! (`{"spec":{"template":{…,"$patch":"replace"}}}`), which is also what `kubectl rollout undo`
//! applies to the owner.

use std::collections::{BTreeMap, BTreeSet};

use kmicro_module_sdk::ResourceExt;
use kmicro_module_sdk::k8s_openapi::api::apps::v1::ControllerRevision;
use kmicro_module_sdk::k8s_openapi::api::core::v1::PodTemplateSpec;
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    ObjectMeta, OwnerReference,
};
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kmicro_module_sdk::serde_json::{self, Value};

use super::hash::canonical_json;

/// The label naming the revision a pod (or revision) belongs to.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// Longest prefix kube keeps in a revision name.
const MAX_PREFIX: usize = 223;

/// The data of a revision of `template`.
pub fn revision_data(template: &PodTemplateSpec) -> Value {
    let mut template = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Some(map) = template.as_object_mut() {
        map.insert("$patch".to_string(), Value::String("replace".to_string()));
    }
    serde_json::json!({ "spec": { "template": template } })
}

/// The canonical bytes of a revision's data (what its hash and equality are of).
pub fn raw(revision: &ControllerRevision) -> Vec<u8> {
    revision
        .data
        .as_ref()
        .map(|d| canonical_json(&d.0))
        .unwrap_or_default()
}

/// The template a revision records.
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut template = revision
        .data
        .as_ref()?
        .0
        .get("spec")?
        .get("template")?
        .clone();
    template.as_object_mut()?.remove("$patch");
    serde_json::from_value(template).ok()
}

/// kube's `ControllerRevisionName`: `<prefix>-<hash>`, the prefix cut to 223 bytes.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let mut end = prefix.len().min(MAX_PREFIX);
    while !prefix.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}-{hash}", &prefix[..end])
}

/// A new revision owned by `owner`: named `<parent>-<hash>`, labelled with the template's
/// labels and `controller-revision-hash`.
pub fn new_revision(
    namespace: &str,
    parent: &str,
    owner: OwnerReference,
    template: &PodTemplateSpec,
    hash: &str,
    number: i64,
) -> ControllerRevision {
    let mut labels: BTreeMap<String, String> = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.to_string(), hash.to_string());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(parent, hash)),
            namespace: Some(namespace.to_string()),
            labels: Some(labels),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        data: Some(RawExtension(revision_data(template))),
        revision: number,
    }
}

/// Whether two revisions record the same template.
pub fn same_data(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    raw(a) == raw(b)
}

/// The revision number after the highest of `revisions` (1 for none).
pub fn next_number<'a>(revisions: impl IntoIterator<Item = &'a ControllerRevision>) -> i64 {
    revisions
        .into_iter()
        .map(|r| r.revision)
        .max()
        .unwrap_or(0)
        .saturating_add(1)
}

/// kube's revision order: by number, then creation, then name (oldest first).
pub fn oldest_first(a: &ControllerRevision, b: &ControllerRevision) -> std::cmp::Ordering {
    a.revision
        .cmp(&b.revision)
        .then_with(|| super::pods::created(&a.metadata).cmp(&super::pods::created(&b.metadata)))
        .then_with(|| a.name_any().cmp(b.name_any()))
}

/// Orders revisions oldest first ([`oldest_first`]).
pub fn sort_oldest_first(revisions: &mut [&ControllerRevision]) {
    revisions.sort_by(|a, b| oldest_first(a, b));
}

/// The revisions to delete so that at most `limit` of those not `live` remain: the oldest
/// first. Live revisions (current, update, or still named by a pod) are never deleted.
pub fn to_prune<'a>(
    revisions: &[&'a ControllerRevision],
    live: &BTreeSet<String>,
    limit: i32,
) -> Vec<&'a ControllerRevision> {
    let mut history: Vec<&ControllerRevision> = revisions
        .iter()
        .copied()
        .filter(|r| !live.contains(r.name_any()))
        .collect();
    let excess = history.len().saturating_sub(limit.max(0) as usize);
    sort_oldest_first(&mut history);
    history.into_iter().take(excess).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(image: &str) -> PodTemplateSpec {
        serde_json::from_value(serde_json::json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": image}]}
        }))
        .unwrap()
    }

    fn owner() -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: "DaemonSet".into(),
            name: "ds".into(),
            uid: "u".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    #[test]
    fn revision_round_trips_its_template() {
        let t = template("nginx:1");
        let rev = new_revision("ns", "ds", owner(), &t, "abc", 3);
        assert_eq!(rev.name_any(), "ds-abc");
        assert_eq!(rev.labels().get(REVISION_HASH_LABEL).unwrap(), "abc");
        assert_eq!(rev.labels().get("app").unwrap(), "web");
        assert_eq!(
            rev.data.as_ref().unwrap().0["spec"]["template"]["$patch"],
            "replace"
        );
        assert_eq!(template_of(&rev), Some(t.clone()));
        let same = new_revision("ns", "ds", owner(), &t, "abc", 4);
        let other = new_revision("ns", "ds", owner(), &template("nginx:2"), "def", 5);
        assert!(same_data(&rev, &same));
        assert!(!same_data(&rev, &other));
        assert_eq!(next_number([&rev, &same, &other]), 6);
        assert_eq!(next_number([]), 1);
    }

    #[test]
    fn long_prefixes_are_cut() {
        let long = "x".repeat(300);
        assert_eq!(revision_name(&long, "h").len(), 223 + 2);
    }

    #[test]
    fn prunes_oldest_non_live_beyond_the_limit() {
        let revs: Vec<ControllerRevision> = (1..=5)
            .map(|n| {
                new_revision(
                    "ns",
                    "ds",
                    owner(),
                    &template(&format!("i:{n}")),
                    &format!("h{n}"),
                    n,
                )
            })
            .collect();
        let refs: Vec<&ControllerRevision> = revs.iter().collect();
        let live: BTreeSet<String> = ["ds-h1".to_string(), "ds-h5".to_string()].into();
        let pruned: Vec<&str> = to_prune(&refs, &live, 1)
            .iter()
            .map(|r| r.name_any())
            .collect();
        assert_eq!(pruned, ["ds-h2", "ds-h3"]);
        assert!(to_prune(&refs, &live, 10).is_empty());
    }
}
