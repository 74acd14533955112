//! Namespace lifecycle (kube's namespace controller): a namespace being deleted (Terminating,
//! with the `kubernetes` finalizer in `spec.finalizers`) loses every namespaced object of the
//! served kinds, reports its progress in kube's five deletion conditions, and once empty
//! loses the `kubernetes` finalizer through the `namespaces/finalize` subresource.
//!
//! The kinds are the namespaced built-in resources kmicro serves ([`content_resources`]) and
//! the served versions of every CustomResourceDefinition of namespaced scope (a module
//! cannot walk discovery, so the definitions stand in for it; failing to list them is the
//! `NamespaceDeletionDiscoveryFailure` condition). Keys are the namespace's name.

use std::collections::BTreeMap;

use kmicro_module_sdk::api::Deleted;
use kmicro_module_sdk::k8s_openapi::api::core::v1::{Namespace, NamespaceCondition};
use kmicro_module_sdk::{
    Action, Api, ApiResource, DeleteParams, DynamicApi, DynamicObject, Error, Key, ListParams,
    ResourceExt, Rule, info, serde_json, time,
};

use crate::caches::Caches;
use crate::gc;

/// The key kind of this controller.
pub const KIND: &str = "namespace";
/// The finalizer in `spec.finalizers` this controller owns.
pub const FINALIZER: &str = "kubernetes";
/// How soon a namespace whose content is still going is looked at again, at the least.
const RECHECK_MS: u64 = 2_000;
/// How soon, when nothing says how long the remaining content takes.
const DEFAULT_RECHECK_MS: u64 = 5_000;

/// The API access the controller needs.
pub fn permissions() -> Vec<Rule> {
    vec![
        Rule::new(&[""], &["namespaces"], &["get", "list", "watch"]),
        Rule::new(
            &[""],
            &["namespaces/status", "namespaces/finalize"],
            &["update"],
        ),
        Rule::new(&["*"], &["*"], &["list", "delete"]),
    ]
}

/// A namespace being deleted is the controller's to finish.
pub fn keys_for_namespace(ns: &Namespace) -> Vec<Key> {
    if ns.is_deleting() {
        vec![Key::new(KIND, "", ns.name_any())]
    } else {
        Vec::new()
    }
}

/// The namespaced built-in resources whose objects a namespace deletion removes (core
/// Events once: `events.k8s.io` Events are the same objects; the review resources are
/// virtual).
pub fn content_resources() -> Vec<ApiResource> {
    let r = |group, kind, plural| ApiResource::new(group, "v1", kind, plural, true);
    vec![
        r("apps", "Deployment", "deployments"),
        r("apps", "DaemonSet", "daemonsets"),
        r("apps", "StatefulSet", "statefulsets"),
        r("apps", "ReplicaSet", "replicasets"),
        r("apps", "ControllerRevision", "controllerrevisions"),
        r("batch", "CronJob", "cronjobs"),
        r("batch", "Job", "jobs"),
        r("", "Pod", "pods"),
        r("", "Service", "services"),
        r("", "Endpoints", "endpoints"),
        r("discovery.k8s.io", "EndpointSlice", "endpointslices"),
        r("", "ConfigMap", "configmaps"),
        r("", "Secret", "secrets"),
        r("", "ServiceAccount", "serviceaccounts"),
        r("", "PersistentVolumeClaim", "persistentvolumeclaims"),
        r("", "ResourceQuota", "resourcequotas"),
        r("", "LimitRange", "limitranges"),
        r("", "Event", "events"),
        r("coordination.k8s.io", "Lease", "leases"),
        r("networking.k8s.io", "Ingress", "ingresses"),
        r("networking.k8s.io", "NetworkPolicy", "networkpolicies"),
        r("policy", "PodDisruptionBudget", "poddisruptionbudgets"),
        r("rbac.authorization.k8s.io", "RoleBinding", "rolebindings"),
        r("rbac.authorization.k8s.io", "Role", "roles"),
    ]
}

/// `resource` as kube prints a GroupResource: `pods`, `deployments.apps`.
pub fn group_resource(resource: &ApiResource) -> String {
    if resource.group.is_empty() {
        resource.plural.clone()
    } else {
        format!("{}.{}", resource.plural, resource.group)
    }
}

/// What one pass over a namespace's content found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sweep {
    /// Why the custom resources could not be found, if they could not.
    pub discovery_failure: Option<String>,
    /// Resources whose objects could not be listed or deleted, with the error.
    pub failures: Vec<String>,
    /// Objects still there (being deleted), by group-resource.
    pub remaining: BTreeMap<String, usize>,
    /// Finalizers of the objects still there, with how many objects carry each.
    pub finalizers: BTreeMap<String, usize>,
    /// Seconds until the slowest object still there is due to go (pods' grace periods).
    pub estimate_secs: u64,
}

impl Sweep {
    /// Whether the namespace is empty and nothing failed: it may be finalized.
    pub fn is_clean(&self) -> bool {
        self.discovery_failure.is_none() && self.failures.is_empty() && self.remaining.is_empty()
    }

    /// Counts `obj` of `resource` as still there.
    pub fn count_remaining(&mut self, resource: &ApiResource, obj: &DynamicObject, now_ms: u64) {
        *self.remaining.entry(group_resource(resource)).or_default() += 1;
        for f in obj.metadata.finalizers.iter().flatten() {
            *self.finalizers.entry(f.clone()).or_default() += 1;
        }
        if let Some(due) = &obj.metadata.deletion_timestamp {
            let secs = time::millis_of(due).saturating_sub(now_ms).div_ceil(1000);
            self.estimate_secs = self.estimate_secs.max(secs);
        }
    }

    /// When to look again, while content remains.
    pub fn recheck_ms(&self) -> u64 {
        if self.estimate_secs == 0 {
            DEFAULT_RECHECK_MS
        } else {
            (self.estimate_secs * 1000).max(RECHECK_MS)
        }
    }
}

/// kube's five namespace deletion conditions for `sweep` (transition times unset).
pub fn conditions(sweep: &Sweep) -> Vec<NamespaceCondition> {
    let condition = |type_: &str, failed: Option<(&str, String)>, ok: (&str, &str)| {
        let (status, reason, message) = match failed {
            Some((reason, message)) => ("True", reason.to_string(), message),
            None => ("False", ok.0.to_string(), ok.1.to_string()),
        };
        NamespaceCondition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: Some(reason),
            message: Some(message),
            last_transition_time: None,
        }
    };
    let remaining = (!sweep.remaining.is_empty()).then(|| {
        let parts: Vec<String> = sweep
            .remaining
            .iter()
            .map(|(gr, n)| format!("{gr} has {n} resource instances"))
            .collect();
        (
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", parts.join(", ")),
        )
    });
    let finalizers = (!sweep.finalizers.is_empty()).then(|| {
        let parts: Vec<String> = sweep
            .finalizers
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        (
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                parts.join(", ")
            ),
        )
    });
    vec![
        condition(
            "NamespaceDeletionDiscoveryFailure",
            sweep.discovery_failure.as_ref().map(|e| {
                (
                    "DiscoveryFailed",
                    format!("Discovery failed for some groups, 1 failing: {e}"),
                )
            }),
            (
                "ResourcesDiscovered",
                "All resources successfully discovered",
            ),
        ),
        condition(
            "NamespaceDeletionGroupVersionParsingFailure",
            None,
            (
                "ParsedGroupVersions",
                "All legacy kube types successfully parsed",
            ),
        ),
        condition(
            "NamespaceDeletionContentFailure",
            (!sweep.failures.is_empty()).then(|| {
                (
                    "ContentDeletionFailed",
                    format!(
                        "Failed to delete all resource types, {} remaining: {}",
                        sweep.failures.len(),
                        sweep.failures.join(", ")
                    ),
                )
            }),
            (
                "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization",
            ),
        ),
        condition(
            "NamespaceContentRemaining",
            remaining,
            ("ContentRemoved", "All content successfully removed"),
        ),
        condition(
            "NamespaceFinalizersRemaining",
            finalizers,
            (
                "ContentHasNoFinalizers",
                "All content-preserving finalizers finished",
            ),
        ),
    ]
}

/// `new` conditions over `old` ones: a condition whose status, reason and message did not
/// change keeps its transition time; the others take `now`. Conditions of other types stay.
/// None when nothing changed.
pub fn merge_conditions(
    old: &[NamespaceCondition],
    new: Vec<NamespaceCondition>,
    now: &kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
) -> Option<Vec<NamespaceCondition>> {
    let mut changed = false;
    let mut merged: Vec<NamespaceCondition> = old
        .iter()
        .filter(|c| !new.iter().any(|n| n.type_ == c.type_))
        .cloned()
        .collect();
    for mut condition in new {
        match old.iter().find(|c| c.type_ == condition.type_) {
            Some(prev)
                if prev.status == condition.status
                    && prev.reason == condition.reason
                    && prev.message == condition.message =>
            {
                condition.last_transition_time = prev.last_transition_time.clone();
            }
            _ => {
                changed = true;
                condition.last_transition_time = Some(now.clone());
            }
        }
        merged.push(condition);
    }
    changed.then_some(merged)
}

/// The spec finalizers left once this controller is done.
pub fn finalized(finalizers: &[String]) -> Vec<String> {
    finalizers
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect()
}

/// Finishes the deletion of the namespace named by `key`.
pub fn reconcile(caches: &Caches, key: &Key) -> Result<Action, Error> {
    let Some(ns) = caches.namespaces.get("", &key.name) else {
        return Ok(Action::Done);
    };
    let spec_finalizers = ns
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.clone())
        .unwrap_or_default();
    if !ns.is_deleting() || !spec_finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(Action::Done);
    }
    let sweep = sweep(&key.name, time::now_millis());
    let old = ns
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    if let Some(merged) = merge_conditions(&old, conditions(&sweep), &time::now()) {
        let mut updated = (*ns).clone();
        updated.status.get_or_insert_default().conditions = Some(merged);
        let stored = Api::<Namespace>::all().replace_status(&updated)?;
        caches.namespaces.record(stored);
    }
    if !sweep.is_clean() {
        return Ok(Action::RequeueAfter(sweep.recheck_ms()));
    }
    let Some(ns) = caches.namespaces.get("", &key.name) else {
        return Ok(Action::Done);
    };
    let mut obj: DynamicObject = serde_json::from_value(serde_json::to_value(&*ns)?)?;
    obj.data.insert(
        "spec".to_string(),
        serde_json::json!({"finalizers": finalized(&spec_finalizers)}),
    );
    let namespaces = ApiResource::new("", "v1", "Namespace", "namespaces", false);
    match DynamicApi::new(&namespaces, None).replace(&obj, Some("finalize")) {
        Ok(_) => {
            info!("namespace {}: content removed, finalized", key.name);
            Ok(Action::Done)
        }
        Err(Error::Api(e)) if e.is_not_found() => Ok(Action::Done),
        Err(e) => Err(e),
    }
}

/// Deletes what is left in `namespace` and reports what remains.
fn sweep(namespace: &str, now_ms: u64) -> Sweep {
    let mut sweep = Sweep::default();
    let mut resources = content_resources();
    match custom_content_resources() {
        Ok(custom) => resources.extend(custom),
        Err(e) => sweep.discovery_failure = Some(e.to_string()),
    }
    for resource in &resources {
        if let Err(e) = sweep_resource(resource, namespace, now_ms, &mut sweep) {
            sweep
                .failures
                .push(format!("{}: {e}", group_resource(resource)));
        }
    }
    sweep
}

/// One served version of each namespaced custom resource.
fn custom_content_resources() -> Result<Vec<ApiResource>, Error> {
    let crds = DynamicApi::new(&gc::crd_resource(), None).list_all(&ListParams::default())?;
    Ok(crds
        .iter()
        .filter_map(|crd| gc::custom_resources_of(crd).into_iter().next())
        .filter(|r| r.namespaced)
        .collect())
}

fn sweep_resource(
    resource: &ApiResource,
    namespace: &str,
    now_ms: u64,
    sweep: &mut Sweep,
) -> Result<(), Error> {
    let api = DynamicApi::new(resource, Some(namespace));
    let objects = match api.list_all(&ListParams::default()) {
        Ok(objects) => objects,
        // Not served (a definition going away, say): nothing of it to delete.
        Err(Error::Api(e)) if e.code == 404 || e.code == 405 => return Ok(()),
        Err(e) => return Err(e),
    };
    for obj in objects {
        if obj.metadata.deletion_timestamp.is_some() {
            sweep.count_remaining(resource, &obj, now_ms);
            continue;
        }
        let params = DeleteParams {
            propagation_policy: Some("Background".to_string()),
            ..DeleteParams::with_uid(obj.uid_any())
        };
        match api.delete(obj.name_any(), &params) {
            Ok(Deleted::Gone) => {}
            Ok(Deleted::Pending(left)) => sweep.count_remaining(resource, &left, now_ms),
            Err(Error::Api(e)) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn object(finalizers: &[&str], due_ms: Option<u64>) -> DynamicObject {
        let mut obj = DynamicObject::default();
        obj.metadata.finalizers = Some(finalizers.iter().map(|f| f.to_string()).collect());
        obj.metadata.deletion_timestamp = due_ms.map(|ms| Time(time::timestamp(ms)));
        obj
    }

    #[test]
    fn a_clean_sweep_reports_every_condition_false() {
        let sweep = Sweep::default();
        assert!(sweep.is_clean());
        let conds = conditions(&sweep);
        assert_eq!(conds.len(), 5);
        assert!(conds.iter().all(|c| c.status == "False"));
        assert_eq!(conds[3].type_, "NamespaceContentRemaining");
        assert_eq!(conds[3].reason.as_deref(), Some("ContentRemoved"));
    }

    #[test]
    fn remaining_content_and_finalizers_are_reported_as_kube_does() {
        let mut sweep = Sweep::default();
        let pods = ApiResource::new("", "v1", "Pod", "pods", true);
        let deploys = ApiResource::new("apps", "v1", "Deployment", "deployments", true);
        sweep.count_remaining(&pods, &object(&[], Some(31_000)), 1_000);
        sweep.count_remaining(&pods, &object(&["example.com/x"], Some(2_000)), 1_000);
        sweep.count_remaining(&deploys, &object(&["example.com/x"], None), 1_000);
        assert!(!sweep.is_clean());
        assert_eq!(sweep.estimate_secs, 30);
        assert_eq!(sweep.recheck_ms(), 30_000);
        let conds = conditions(&sweep);
        let remaining = &conds[3];
        assert_eq!(remaining.status, "True");
        assert_eq!(remaining.reason.as_deref(), Some("SomeResourcesRemain"));
        assert_eq!(
            remaining.message.as_deref(),
            Some(
                "Some resources are remaining: deployments.apps has 1 resource instances, pods has 2 resource instances"
            )
        );
        assert_eq!(
            conds[4].message.as_deref(),
            Some(
                "Some content in the namespace has finalizers remaining: example.com/x in 2 resource instances"
            )
        );
    }

    #[test]
    fn failures_are_content_failures() {
        let sweep = Sweep {
            failures: vec!["secrets: Forbidden (403): no".into()],
            ..Sweep::default()
        };
        assert!(!sweep.is_clean());
        let conds = conditions(&sweep);
        assert_eq!(conds[2].reason.as_deref(), Some("ContentDeletionFailed"));
        assert_eq!(
            conds[2].message.as_deref(),
            Some("Failed to delete all resource types, 1 remaining: secrets: Forbidden (403): no")
        );
        let discovery = Sweep {
            discovery_failure: Some("boom".into()),
            ..Sweep::default()
        };
        assert!(!discovery.is_clean());
        assert_eq!(conditions(&discovery)[0].status, "True");
    }

    #[test]
    fn unchanged_conditions_keep_their_transition_time() {
        let t0 = Time(time::timestamp(1_000));
        let t1 = Time(time::timestamp(2_000));
        let first = merge_conditions(&[], conditions(&Sweep::default()), &t0).unwrap();
        assert!(
            first
                .iter()
                .all(|c| c.last_transition_time == Some(t0.clone()))
        );
        assert_eq!(
            merge_conditions(&first, conditions(&Sweep::default()), &t1),
            None
        );
        let failing = Sweep {
            failures: vec!["x".into()],
            ..Sweep::default()
        };
        let second = merge_conditions(&first, conditions(&failing), &t1).unwrap();
        let changed: Vec<_> = second
            .iter()
            .filter(|c| c.last_transition_time == Some(t1.clone()))
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(changed, ["NamespaceDeletionContentFailure"]);
    }

    #[test]
    fn finalizing_drops_only_the_kubernetes_finalizer() {
        let left = finalized(&["kubernetes".into(), "example.com/keep".into()]);
        assert_eq!(left, ["example.com/keep"]);
        assert_eq!(group_resource(&content_resources()[0]), "deployments.apps");
    }
}
