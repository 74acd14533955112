//! `apps/v1`: deployments, replica sets, daemon sets, stateful sets and controller revisions.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, DaemonSetStatus, Deployment, DeploymentStatus, ReplicaSet,
    ReplicaSetStatus, RollingUpdateDaemonSet, RollingUpdateDeployment, StatefulSet,
    StatefulSetStatus,
};
use k8s_openapi::api::core::v1::{PodTemplateSpec, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Kind;
use super::field::{Bad, Errors, Path, semantic_eq};
use super::meta::{self, NameRule};
use super::pod::{self, default_str, s};
use crate::names;
use crate::quantity;

/// Annotation in which `apps/v1` daemon sets carry kube's internal template generation.
const DS_TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

fn spec_path() -> Path {
    Path::new("spec")
}

/// Checks a required, non-empty selector.
fn validate_selector(sel: &LabelSelector, errs: &mut Errors) {
    let path = spec_path().child("selector");
    if meta::selector_is_empty(sel) {
        errs.required(&path, "");
    } else {
        meta::validate_label_selector(sel, &path, errs);
    }
}

/// Checks that `sel` matches the template's labels, when it can be evaluated and is not empty.
fn validate_selector_matches(
    sel: &LabelSelector,
    template: &PodTemplateSpec,
    path: &Path,
    errs: &mut Errors,
) {
    if meta::selector_is_empty(sel) {
        return;
    }
    let labels = pod::template_labels(template);
    if meta::selector_matches(sel, labels) == Some(false) {
        errs.invalid(
            &path.child("metadata").child("labels"),
            Bad::json(&labels),
            "`selector` does not match template `labels`",
        );
    }
}

/// kube's `ValidatePodTemplateSpecForReplicaSet`: the template matches the selector, is a valid
/// pod template, restarts always and has no deadline.
fn validate_replicated_template(
    sel: &LabelSelector,
    template: &PodTemplateSpec,
    owner: &str,
    errs: &mut Errors,
) {
    let path = spec_path().child("template");
    validate_selector_matches(sel, template, &path, errs);
    pod::validate_template(template, &path, errs);
    validate_always_restart(template, &path, owner, errs);
}

fn validate_always_restart(
    template: &PodTemplateSpec,
    path: &Path,
    owner: &str,
    errs: &mut Errors,
) {
    let policy = pod::template_restart_policy(template);
    if policy != "Always" {
        errs.not_supported(
            &path.child("spec").child("restartPolicy"),
            policy,
            &["Always"],
        );
    }
    if template
        .spec
        .as_ref()
        .is_some_and(|s| s.active_deadline_seconds.is_some())
    {
        errs.forbidden(
            &path.child("spec").child("activeDeadlineSeconds"),
            &format!("activeDeadlineSeconds in {owner} is not Supported"),
        );
    }
}

fn validate_selector_immutable(new: &LabelSelector, old: &LabelSelector, errs: &mut Errors) {
    if !semantic_eq(new, old) {
        errs.immutable(&spec_path().child("selector"), Bad::json(new));
    }
}

/// Checks an int-or-percent that must not be negative.
fn validate_positive_int_or_percent(v: &IntOrString, path: &Path, errs: &mut Errors) {
    match v {
        IntOrString::String(p) => {
            for m in names::is_valid_percent(p) {
                errs.invalid(path, p, &m);
            }
        }
        IntOrString::Int(n) => errs.non_negative(path, Some(i64::from(*n))),
    }
}

fn int_or_percent_value(v: &IntOrString) -> i64 {
    match v {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(p) => names::percent_value(p).unwrap_or(0),
    }
}

fn not_more_than_100_percent(v: &IntOrString, path: &Path, errs: &mut Errors) {
    if let IntOrString::String(p) = v
        && names::percent_value(p).is_some_and(|n| n > 100)
    {
        errs.invalid(path, p, "must not be greater than 100%");
    }
}

fn replicas_and_min_ready(replicas: Option<i32>, min_ready: Option<i32>, errs: &mut Errors) {
    errs.non_negative(&spec_path().child("replicas"), replicas.map(i64::from));
    errs.non_negative(
        &spec_path().child("minReadySeconds"),
        min_ready.map(i64::from),
    );
}

// ---------------------------------------------------------------------------------------------
// Deployment
// ---------------------------------------------------------------------------------------------

impl Kind for Deployment {
    fn set_defaults(&mut self) {
        let spec = self.spec.get_or_insert_default();
        spec.replicas.get_or_insert(1);
        let strategy = spec.strategy.get_or_insert_default();
        default_str(&mut strategy.type_, "RollingUpdate");
        if s(&strategy.type_) == "RollingUpdate" {
            let ru = strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateDeployment::default);
            ru.max_unavailable
                .get_or_insert_with(|| IntOrString::String("25%".to_string()));
            ru.max_surge
                .get_or_insert_with(|| IntOrString::String("25%".to_string()));
        }
        spec.revision_history_limit.get_or_insert(10);
        spec.progress_deadline_seconds.get_or_insert(600);
        pod::default_template(&mut spec.template);
    }

    fn on_create(&mut self) {
        self.status = Some(DeploymentStatus::default());
    }

    fn validate(&self, errs: &mut Errors) {
        let empty = Default::default();
        let spec = self.spec.as_ref().unwrap_or(&empty);
        let path = spec_path();
        errs.non_negative(&path.child("replicas"), spec.replicas.map(i64::from));
        validate_selector(&spec.selector, errs);
        validate_replicated_template(&spec.selector, &spec.template, "ReplicaSet", errs);
        let sp = path.child("strategy");
        if let Some(strategy) = &spec.strategy {
            match s(&strategy.type_) {
                "Recreate" => {
                    if strategy.rolling_update.is_some() {
                        errs.forbidden(
                            &sp.child("rollingUpdate"),
                            "may not be specified when strategy `type` is 'Recreate'",
                        );
                    }
                }
                "RollingUpdate" => match &strategy.rolling_update {
                    None => errs.required(
                        &sp.child("rollingUpdate"),
                        "this should be defaulted and never be nil",
                    ),
                    Some(ru) => {
                        let rp = sp.child("rollingUpdate");
                        let zero = IntOrString::Int(0);
                        let mu = ru.max_unavailable.as_ref().unwrap_or(&zero);
                        let ms = ru.max_surge.as_ref().unwrap_or(&zero);
                        validate_positive_int_or_percent(mu, &rp.child("maxUnavailable"), errs);
                        validate_positive_int_or_percent(ms, &rp.child("maxSurge"), errs);
                        if int_or_percent_value(mu) == 0 && int_or_percent_value(ms) == 0 {
                            errs.invalid(
                                &rp.child("maxUnavailable"),
                                Bad::json(mu),
                                "may not be 0 when `maxSurge` is 0",
                            );
                        }
                        not_more_than_100_percent(mu, &rp.child("maxUnavailable"), errs);
                    }
                },
                _ => errs.not_supported(&sp, Bad::json(strategy), &["Recreate", "RollingUpdate"]),
            }
        }
        errs.non_negative(
            &path.child("minReadySeconds"),
            spec.min_ready_seconds.map(i64::from),
        );
        errs.non_negative(
            &path.child("revisionHistoryLimit"),
            spec.revision_history_limit.map(i64::from),
        );
        if let Some(pds) = spec.progress_deadline_seconds {
            errs.non_negative(&path.child("progressDeadlineSeconds"), Some(i64::from(pds)));
            if pds <= spec.min_ready_seconds.unwrap_or(0) {
                errs.invalid(
                    &path.child("progressDeadlineSeconds"),
                    pds,
                    "must be greater than minReadySeconds",
                );
            }
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        if let (Some(new), Some(old)) = (&self.spec, &old.spec) {
            validate_selector_immutable(&new.selector, &old.selector, errs);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ReplicaSet
// ---------------------------------------------------------------------------------------------

impl Kind for ReplicaSet {
    fn set_defaults(&mut self) {
        let spec = self.spec.get_or_insert_default();
        spec.replicas.get_or_insert(1);
        pod::default_template(spec.template.get_or_insert_default());
    }

    fn on_create(&mut self) {
        self.status = Some(ReplicaSetStatus::default());
    }

    fn validate(&self, errs: &mut Errors) {
        let empty = Default::default();
        let spec = self.spec.as_ref().unwrap_or(&empty);
        replicas_and_min_ready(spec.replicas, spec.min_ready_seconds, errs);
        validate_selector(&spec.selector, errs);
        let template = spec.template.clone().unwrap_or_default();
        validate_replicated_template(&spec.selector, &template, "ReplicaSet", errs);
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        if let (Some(new), Some(old)) = (&self.spec, &old.spec) {
            validate_selector_immutable(&new.selector, &old.selector, errs);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// DaemonSet
// ---------------------------------------------------------------------------------------------

fn ds_template_generation(ds: &DaemonSet) -> i64 {
    ds.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DS_TEMPLATE_GENERATION))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn set_ds_template_generation(ds: &mut DaemonSet, generation: i64) {
    let annotations = ds.metadata.annotations.get_or_insert_default();
    if generation == 0 {
        annotations.remove(DS_TEMPLATE_GENERATION);
    } else {
        annotations.insert(DS_TEMPLATE_GENERATION.to_string(), generation.to_string());
    }
}

impl Kind for DaemonSet {
    fn set_defaults(&mut self) {
        let spec = self.spec.get_or_insert_default();
        let strategy = spec.update_strategy.get_or_insert_default();
        default_str(&mut strategy.type_, "RollingUpdate");
        if s(&strategy.type_) == "RollingUpdate" {
            let ru = strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateDaemonSet::default);
            ru.max_unavailable.get_or_insert(IntOrString::Int(1));
            ru.max_surge.get_or_insert(IntOrString::Int(0));
        }
        spec.revision_history_limit.get_or_insert(10);
        pod::default_template(&mut spec.template);
    }

    fn on_create(&mut self) {
        self.status = Some(DaemonSetStatus::default());
        set_ds_template_generation(self, 1);
    }

    fn on_update(&mut self, old: &Self) {
        let old_generation = ds_template_generation(old);
        let template_changed = match (&self.spec, &old.spec) {
            (Some(a), Some(b)) => !semantic_eq(&a.template, &b.template),
            _ => false,
        };
        let generation = if template_changed {
            old_generation.saturating_add(1)
        } else {
            old_generation
        };
        set_ds_template_generation(self, generation);
    }

    fn validate(&self, errs: &mut Errors) {
        let empty = Default::default();
        let spec = self.spec.as_ref().unwrap_or(&empty);
        let path = spec_path();
        validate_selector(&spec.selector, errs);
        validate_selector_matches(
            &spec.selector,
            &spec.template,
            &path.child("template"),
            errs,
        );
        pod::validate_template(&spec.template, &path.child("template"), errs);
        validate_always_restart(&spec.template, &path.child("template"), "DaemonSet", errs);
        errs.non_negative(
            &path.child("minReadySeconds"),
            spec.min_ready_seconds.map(i64::from),
        );
        let sp = path.child("updateStrategy");
        if let Some(strategy) = &spec.update_strategy {
            match s(&strategy.type_) {
                "OnDelete" => {}
                "RollingUpdate" => match &strategy.rolling_update {
                    None => errs.required(&sp.child("rollingUpdate"), ""),
                    Some(ru) => {
                        let rp = sp.child("rollingUpdate");
                        let zero = IntOrString::Int(0);
                        let mu = ru.max_unavailable.as_ref().unwrap_or(&zero);
                        let ms = ru.max_surge.as_ref().unwrap_or(&zero);
                        validate_positive_int_or_percent(mu, &rp.child("maxUnavailable"), errs);
                        validate_positive_int_or_percent(ms, &rp.child("maxSurge"), errs);
                        not_more_than_100_percent(mu, &rp.child("maxUnavailable"), errs);
                        not_more_than_100_percent(ms, &rp.child("maxSurge"), errs);
                        let (has_mu, has_ms) =
                            (int_or_percent_value(mu) != 0, int_or_percent_value(ms) != 0);
                        if has_mu && has_ms {
                            errs.invalid(
                                &rp.child("maxSurge"),
                                Bad::json(ms),
                                "may not be set when maxUnavailable is non-zero",
                            );
                        } else if !has_mu && !has_ms {
                            errs.required(
                                &rp.child("maxUnavailable"),
                                "cannot be 0 when maxSurge is 0",
                            );
                        }
                    }
                },
                _ => errs.not_supported(&sp, Bad::json(strategy), &["RollingUpdate", "OnDelete"]),
            }
        }
        errs.non_negative(
            &path.child("revisionHistoryLimit"),
            spec.revision_history_limit.map(i64::from),
        );
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        if let (Some(new), Some(old)) = (&self.spec, &old.spec) {
            validate_selector_immutable(&new.selector, &old.selector, errs);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// StatefulSet
// ---------------------------------------------------------------------------------------------

impl Kind for StatefulSet {
    const NAME_RULE: NameRule = NameRule::Label;

    fn set_defaults(&mut self) {
        let spec = self.spec.get_or_insert_default();
        default_str(&mut spec.pod_management_policy, "OrderedReady");
        let strategy = spec.update_strategy.get_or_insert_default();
        if s(&strategy.type_).is_empty() {
            strategy.type_ = Some("RollingUpdate".to_string());
            strategy.rolling_update.get_or_insert_default();
        }
        if s(&strategy.type_) == "RollingUpdate"
            && let Some(ru) = &mut strategy.rolling_update
        {
            ru.partition.get_or_insert(0);
        }
        let retention = spec
            .persistent_volume_claim_retention_policy
            .get_or_insert_default();
        default_str(&mut retention.when_deleted, "Retain");
        default_str(&mut retention.when_scaled, "Retain");
        spec.replicas.get_or_insert(1);
        spec.revision_history_limit.get_or_insert(10);
        pod::default_template(&mut spec.template);
        for claim in spec.volume_claim_templates.iter_mut().flatten() {
            let claim_spec = claim.spec.get_or_insert_default();
            default_str(&mut claim_spec.volume_mode, "Filesystem");
            if let Some(r) = &mut claim_spec.resources {
                quantity::canonicalize_list(r.limits.as_mut());
                quantity::canonicalize_list(r.requests.as_mut());
            }
            default_str(&mut claim.status.get_or_insert_default().phase, "Pending");
        }
    }

    fn on_create(&mut self) {
        self.status = Some(StatefulSetStatus::default());
    }

    fn validate(&self, errs: &mut Errors) {
        let empty = Default::default();
        let spec = self.spec.as_ref().unwrap_or(&empty);
        let path = spec_path();
        match s(&spec.pod_management_policy) {
            "" => errs.required(&path.child("podManagementPolicy"), ""),
            "OrderedReady" | "Parallel" => {}
            other => errs.invalid(
                &path.child("podManagementPolicy"),
                other,
                "must be 'OrderedReady' or 'Parallel'",
            ),
        }
        let sp = path.child("updateStrategy");
        let strategy = spec.update_strategy.clone().unwrap_or_default();
        match s(&strategy.type_) {
            "" => errs.required(&sp, ""),
            "OnDelete" => {
                if let Some(ru) = &strategy.rolling_update {
                    errs.invalid(
                        &sp.child("rollingUpdate"),
                        Bad::json(ru),
                        "only allowed for updateStrategy 'RollingUpdate'",
                    );
                }
            }
            "RollingUpdate" => {
                if let Some(ru) = &strategy.rolling_update {
                    let rp = sp.child("rollingUpdate");
                    errs.non_negative(&rp.child("partition"), ru.partition.map(i64::from));
                    if let Some(mu) = &ru.max_unavailable {
                        let mp = rp.child("maxUnavailable");
                        validate_positive_int_or_percent(mu, &mp, errs);
                        if int_or_percent_value(mu) == 0 {
                            errs.invalid(&mp, Bad::json(mu), "cannot be 0");
                        }
                        not_more_than_100_percent(mu, &mp, errs);
                    }
                }
            }
            _ => errs.invalid(
                &sp,
                Bad::json(&strategy),
                "must be 'RollingUpdate' or 'OnDelete'",
            ),
        }
        if let Some(policy) = &spec.persistent_volume_claim_retention_policy {
            let pp = path.child("persistentVolumeClaimRetentionPolicy");
            for (field, value) in [
                ("whenDeleted", &policy.when_deleted),
                ("whenScaled", &policy.when_scaled),
            ] {
                let v = s(value);
                if !matches!(v, "Retain" | "Delete") {
                    errs.not_supported(&pp.child(field), v, &["Retain", "Delete"]);
                }
            }
        }
        replicas_and_min_ready(spec.replicas, spec.min_ready_seconds, errs);
        if let Some(o) = &spec.ordinals {
            errs.non_negative(&path.child("ordinals.start"), o.start.map(i64::from));
        }
        validate_selector(&spec.selector, errs);
        let tp = path.child("template");
        validate_selector_matches(&spec.selector, &spec.template, &tp, errs);
        // Containers may mount the claims of `volumeClaimTemplates` as volumes.
        let mut template = spec.template.clone();
        if let Some(pod_spec) = &mut template.spec {
            let declared: BTreeSet<String> = pod_spec
                .volumes
                .iter()
                .flatten()
                .map(|v| v.name.clone())
                .collect();
            let volumes = pod_spec.volumes.get_or_insert_default();
            for claim in spec.volume_claim_templates.iter().flatten() {
                let name = claim.metadata.name.clone().unwrap_or_default();
                if !name.is_empty() && !declared.contains(&name) {
                    volumes.push(Volume {
                        name,
                        empty_dir: Some(Default::default()),
                        ..Default::default()
                    });
                }
            }
        }
        pod::validate_template(&template, &tp, errs);
        validate_always_restart(&spec.template, &tp, "StatefulSet", errs);
        errs.non_negative(
            &path.child("revisionHistoryLimit"),
            spec.revision_history_limit.map(i64::from),
        );
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        let (Some(new), Some(old)) = (&self.spec, &old.spec) else {
            return;
        };
        let mut clone = new.clone();
        clone.replicas = old.replicas;
        clone.template.clone_from(&old.template);
        clone.update_strategy.clone_from(&old.update_strategy);
        clone.min_ready_seconds = old.min_ready_seconds;
        clone.ordinals.clone_from(&old.ordinals);
        clone
            .persistent_volume_claim_retention_policy
            .clone_from(&old.persistent_volume_claim_retention_policy);
        if !semantic_eq(&clone, old) {
            errs.forbidden(
                &spec_path(),
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ControllerRevision
// ---------------------------------------------------------------------------------------------

impl Kind for ControllerRevision {
    fn validate(&self, errs: &mut Errors) {
        if self.data.is_none() {
            errs.required(&Path::new("data"), "data is mandatory");
        }
        errs.non_negative(&Path::new("revision"), Some(self.revision));
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        if !semantic_eq(&self.data, &old.data) {
            errs.immutable(&Path::new("data"), Bad::json(&self.data));
        }
    }
}
