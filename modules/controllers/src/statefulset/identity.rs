//! A StatefulSet pod's stable identity (kube's `stateful_set_utils`): its name
//! `<set>-<ordinal>`, hostname and subdomain, the `statefulset.kubernetes.io/pod-name` and
//! `apps.kubernetes.io/pod-index` labels, and its volume claims `<claim>-<set>-<ordinal>`.

use std::collections::BTreeMap;

use kmicro_module_sdk::ResourceExt;
use kmicro_module_sdk::k8s_openapi::api::apps::v1::StatefulSet;
use kmicro_module_sdk::k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::workload::history::REVISION_HASH_LABEL;
use crate::workload::pods;

/// The label naming a StatefulSet pod.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label with a StatefulSet pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// The StatefulSet's name and ordinal a pod name has (`web-3` → `("web", 3)`).
pub fn parent_and_ordinal(name: &str) -> Option<(&str, i32)> {
    let (parent, ordinal) = name.rsplit_once('-')?;
    if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, ordinal.parse().ok()?))
}

/// Whether `pod` is named as a pod of `set`.
pub fn is_member(set: &StatefulSet, pod: &Pod) -> bool {
    parent_and_ordinal(pod.name_any()).is_some_and(|(parent, _)| parent == set.name_any())
}

/// The name of `set`'s pod `ordinal`.
pub fn pod_name(set: &StatefulSet, ordinal: i32) -> String {
    format!("{}-{ordinal}", set.name_any())
}

/// The name of the claim from template `claim` for `set`'s pod `ordinal`.
pub fn claim_name(claim: &str, set: &StatefulSet, ordinal: i32) -> String {
    format!("{claim}-{}-{ordinal}", set.name_any())
}

/// kube's `identityMatches`.
pub fn identity_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let Some((parent, ordinal)) = parent_and_ordinal(pod.name_any()) else {
        return false;
    };
    ordinal >= 0
        && parent == set.name_any()
        && pod.namespace_any() == set.namespace_any()
        && pod.labels().get(POD_NAME_LABEL).map(String::as_str) == Some(pod.name_any())
        && pod.labels().get(POD_INDEX_LABEL) == Some(&ordinal.to_string())
}

/// The volume claims `set` wants for pod `ordinal`, by template name, in template order.
pub fn claims(set: &StatefulSet, ordinal: i32) -> Vec<(String, PersistentVolumeClaim)> {
    let spec = set.spec.clone().unwrap_or_default();
    let selector_labels = spec.selector.match_labels.clone().unwrap_or_default();
    let delete_with_set = spec
        .persistent_volume_claim_retention_policy
        .as_ref()
        .and_then(|p| p.when_deleted.as_deref())
        == Some("Delete");
    spec.volume_claim_templates
        .unwrap_or_default()
        .into_iter()
        .map(|template| {
            let template_name = template.name_any().to_string();
            let mut claim = template;
            claim.metadata.name = Some(claim_name(&template_name, set, ordinal));
            claim.metadata.namespace = Some(set.namespace_any().to_string());
            let labels = claim.metadata.labels.get_or_insert_with(BTreeMap::new);
            labels.extend(selector_labels.clone());
            if delete_with_set {
                claim.metadata.owner_references = Some(vec![OwnerReference {
                    api_version: "apps/v1".to_string(),
                    kind: "StatefulSet".to_string(),
                    name: set.name_any().to_string(),
                    uid: set.uid_any().to_string(),
                    controller: None,
                    block_owner_deletion: None,
                }]);
            }
            claim.status = None;
            (template_name, claim)
        })
        .collect()
}

/// kube's `storageMatches`: every claim template is mounted from its claim.
pub fn storage_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let Some((_, ordinal)) = parent_and_ordinal(pod.name_any()) else {
        return false;
    };
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_deref())
        .unwrap_or(&[]);
    claims(set, ordinal).iter().all(|(template, claim)| {
        volumes.iter().any(|v| {
            v.name == *template
                && v.persistent_volume_claim
                    .as_ref()
                    .map(|c| c.claim_name.as_str())
                    == claim.metadata.name.as_deref()
        })
    })
}

/// Sets the identity labels of `pod` as pod `ordinal` of `set` (kube's `updateIdentity`).
pub fn set_identity_labels(pod: &mut Pod, ordinal: i32) {
    let name = pod.name_any().to_string();
    let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(POD_NAME_LABEL.to_string(), name);
    labels.insert(POD_INDEX_LABEL.to_string(), ordinal.to_string());
}

/// kube's `newVersionedStatefulSetPod`: pod `ordinal` of `set` from `template` (the
/// revision's), labelled with `revision`.
pub fn new_pod(set: &StatefulSet, template: &PodTemplateSpec, revision: &str, ordinal: i32) -> Pod {
    let name = pod_name(set, ordinal);
    let mut pod = pods::from_template(
        template,
        set.namespace_any(),
        set.name_any(),
        Some(&name),
        set.controller_reference(),
    );
    // kube builds the pod with generateName and then names it; both are kept.
    pod.metadata.generate_name = Some(format!("{}-", set.name_any()));
    set_identity_labels(&mut pod, ordinal);
    pod.metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(REVISION_HASH_LABEL.to_string(), revision.to_string());
    let service = set
        .spec
        .as_ref()
        .and_then(|s| s.service_name.clone())
        .filter(|s| !s.is_empty());
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.hostname = Some(name);
    spec.subdomain = service;
    let wanted = claims(set, ordinal);
    let mut volumes: Vec<Volume> = wanted
        .iter()
        .map(|(template, claim)| Volume {
            name: template.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.metadata.name.clone().unwrap_or_default(),
                read_only: Some(false),
            }),
            ..Volume::default()
        })
        .collect();
    volumes.extend(
        spec.volumes
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|v| !wanted.iter().any(|(t, _)| *t == v.name)),
    );
    spec.volumes = (!volumes.is_empty()).then_some(volumes);
    pod
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmicro_module_sdk::serde_json::{self, json};

    pub(crate) fn set() -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "sts-uid"},
            "spec": {
                "serviceName": "nginx",
                "selector": {"matchLabels": {"app": "nginx"}},
                "template": {
                    "metadata": {"labels": {"app": "nginx"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}],
                             "volumes": [{"name": "www", "emptyDir": {}}, {"name": "cfg", "emptyDir": {}}]}
                },
                "volumeClaimTemplates": [{"metadata": {"name": "www"},
                                          "spec": {"accessModes": ["ReadWriteOnce"]}}]
            }
        }))
        .unwrap()
    }

    #[test]
    fn names_and_ordinals() {
        assert_eq!(parent_and_ordinal("web-12"), Some(("web", 12)));
        assert_eq!(parent_and_ordinal("my-db-0"), Some(("my-db", 0)));
        assert_eq!(parent_and_ordinal("web-x"), None);
        assert_eq!(parent_and_ordinal("web-"), None);
        assert_eq!(parent_and_ordinal("web"), None);
        assert_eq!(claim_name("www", &set(), 3), "www-web-3");
    }

    #[test]
    fn new_pods_have_a_stable_identity_and_storage() {
        let s = set();
        let template = s.spec.as_ref().unwrap().template.clone();
        let pod = new_pod(&s, &template, "web-abc", 2);
        assert_eq!(pod.name_any(), "web-2");
        assert_eq!(pod.labels().get(POD_NAME_LABEL).unwrap(), "web-2");
        assert_eq!(pod.labels().get(POD_INDEX_LABEL).unwrap(), "2");
        assert_eq!(pod.labels().get(REVISION_HASH_LABEL).unwrap(), "web-abc");
        assert_eq!(pod.labels().get("app").unwrap(), "nginx");
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("web-2"));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        let volumes = spec.volumes.as_ref().unwrap();
        assert_eq!(volumes.len(), 2);
        assert_eq!(volumes[0].name, "www");
        assert_eq!(
            volumes[0]
                .persistent_volume_claim
                .as_ref()
                .unwrap()
                .claim_name,
            "www-web-2"
        );
        assert_eq!(volumes[1].name, "cfg");
        assert_eq!(pod.controller_owner().unwrap().uid, "sts-uid");
        assert!(identity_matches(&s, &pod));
        assert!(storage_matches(&s, &pod));
        let mut renamed = pod.clone();
        renamed
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .remove(POD_INDEX_LABEL);
        assert!(!identity_matches(&s, &renamed));
        renamed.spec.as_mut().unwrap().volumes = None;
        assert!(!storage_matches(&s, &renamed));
    }

    #[test]
    fn claims_carry_selector_labels_and_retention_owner() {
        let mut s = set();
        let c = claims(&s, 1);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].1.name_any(), "www-web-1");
        assert_eq!(c[0].1.labels().get("app").unwrap(), "nginx");
        assert!(c[0].1.metadata.owner_references.is_none());
        s.spec
            .as_mut()
            .unwrap()
            .persistent_volume_claim_retention_policy =
            serde_json::from_value(json!({"whenDeleted": "Delete", "whenScaled": "Retain"}))
                .unwrap();
        let c = claims(&s, 1);
        assert_eq!(c[0].1.owner_references()[0].uid, "sts-uid");
    }
}
