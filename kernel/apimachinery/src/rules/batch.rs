//! `batch/v1`: jobs and cron jobs.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job, JobSpec, JobStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::Kind;
use super::field::{Bad, Errors, Path, semantic_eq};
use super::meta;
use super::pod::{self, default_str, s};
use crate::names;

const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
const LEGACY_JOB_NAME_LABEL: &str = "job-name";
const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";

// ---------------------------------------------------------------------------------------------
// Job
// ---------------------------------------------------------------------------------------------

fn default_job_spec(spec: &mut JobSpec) {
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
        spec.parallelism = Some(1);
    }
    spec.parallelism.get_or_insert(1);
    if spec.backoff_limit.is_none() {
        spec.backoff_limit = Some(if spec.backoff_limit_per_index.is_some() {
            i32::MAX
        } else {
            6
        });
    }
    default_str(&mut spec.completion_mode, "NonIndexed");
    spec.suspend.get_or_insert(false);
    default_pod_failure_policy(spec);
    if spec.pod_replacement_policy.is_none() {
        let policy = if spec.pod_failure_policy.is_some() {
            "Failed"
        } else {
            "TerminatingOrFailed"
        };
        spec.pod_replacement_policy = Some(policy.to_string());
    }
    spec.manual_selector.get_or_insert(false);
}

fn default_pod_failure_policy(spec: &mut JobSpec) {
    if let Some(policy) = &mut spec.pod_failure_policy {
        for rule in &mut policy.rules {
            for pattern in rule.on_pod_conditions.iter_mut().flatten() {
                default_str(&mut pattern.status, "True");
            }
        }
    }
}

impl Kind for Job {
    fn set_defaults(&mut self) {
        let spec = self.spec.get_or_insert_default();
        default_job_spec(spec);
        let template_labels = pod::template_labels(&spec.template).cloned();
        if let Some(labels) = template_labels
            && self.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty)
        {
            self.metadata.labels = Some(labels);
        }
        pod::default_template(&mut spec.template);
    }

    fn on_create(&mut self) {
        self.status = Some(JobStatus::default());
        let name = self.metadata.name.clone().unwrap_or_default();
        let uid = self.metadata.uid.clone().unwrap_or_default();
        let Some(spec) = &mut self.spec else { return };
        if spec.manual_selector == Some(true) {
            return;
        }
        // kube's generateSelector: job-name labels, and the controller-uid label and selector
        // once the object has its uid.
        let labels = spec
            .template
            .metadata
            .get_or_insert_default()
            .labels
            .get_or_insert_default();
        for key in [LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL] {
            labels
                .entry(key.to_string())
                .or_insert_with(|| name.clone());
        }
        if uid.is_empty() {
            return;
        }
        for key in [LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL] {
            labels.entry(key.to_string()).or_insert_with(|| uid.clone());
        }
        spec.selector
            .get_or_insert_default()
            .match_labels
            .get_or_insert_default()
            .entry(CONTROLLER_UID_LABEL.to_string())
            .or_insert(uid);
    }

    fn on_update(&mut self, old: &Self) {
        // The generated selector refers to the uid; a replacement may leave it to the server.
        if self.metadata.uid.as_deref().is_none_or(str::is_empty) {
            self.metadata.uid.clone_from(&old.metadata.uid);
        }
    }

    fn validate(&self, errs: &mut Errors) {
        let empty = Default::default();
        let spec = self.spec.as_ref().unwrap_or(&empty);
        let path = Path::new("spec");
        let name = self.metadata.name.as_deref().unwrap_or("");
        let uid = self.metadata.uid.as_deref().unwrap_or("");
        let generated = spec.manual_selector != Some(true);
        if generated && let Some(sel) = &spec.selector {
            validate_generated_selector(name, uid, spec, sel, errs);
        }
        validate_job_spec(spec, &path, errs);
        match &spec.selector {
            // Without a uid the selector cannot be generated yet; the server assigns it.
            None if generated && uid.is_empty() => {}
            None => errs.required(&path.child("selector"), ""),
            Some(sel) => {
                meta::validate_label_selector(sel, &path.child("selector"), errs);
                if meta::selector_matches(sel, pod::template_labels(&spec.template)) == Some(false)
                {
                    errs.invalid(
                        &path.child("template").child("metadata").child("labels"),
                        Bad::json(&pod::template_labels(&spec.template)),
                        "`selector` does not match template `labels`",
                    );
                }
            }
        }
        if s(&spec.completion_mode) == "Indexed"
            && let Some(completions) = spec.completions
            && completions > 0
        {
            let hostname = format!("{name}-{}", completions - 1);
            if !names::is_dns1123_label(&hostname).is_empty() {
                errs.invalid(
                    &Path::new("metadata").child("name"),
                    name,
                    &format!("will not able to create pod with invalid DNS label: {hostname}"),
                );
            }
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        let empty = JobSpec::default();
        let new = self.spec.as_ref().unwrap_or(&empty);
        let old_spec = old.spec.as_ref().unwrap_or(&empty);
        let path = Path::new("spec");
        let indexed = s(&new.completion_mode) == "Indexed";
        if new.completions != old_spec.completions {
            if !indexed {
                errs.immutable(&path.child("completions"), Bad::json(&new.completions));
            } else if new.completions.is_some() && new.completions != new.parallelism {
                errs.invalid(
                    &path.child("completions"),
                    Bad::json(&new.completions),
                    "can only be modified in tandem with spec.parallelism",
                );
            }
        }
        if !semantic_eq(&new.selector, &old_spec.selector) {
            errs.immutable(&path.child("selector"), Bad::json(&new.selector));
        }
        // A suspended job that never started may change its scheduling directives.
        let mutable_scheduling = new.suspend == Some(true)
            && old.status.as_ref().is_none_or(|st| st.start_time.is_none());
        let mut old_template = old_spec.template.clone();
        if mutable_scheduling {
            let new_meta = new.template.metadata.clone().unwrap_or_default();
            let m = old_template.metadata.get_or_insert_default();
            m.labels = new_meta.labels;
            m.annotations = new_meta.annotations;
            if let (Some(os), Some(ns)) = (&mut old_template.spec, &new.template.spec) {
                os.node_selector.clone_from(&ns.node_selector);
                os.tolerations.clone_from(&ns.tolerations);
                os.scheduling_gates.clone_from(&ns.scheduling_gates);
                let node_affinity = ns.affinity.as_ref().and_then(|a| a.node_affinity.clone());
                match &mut os.affinity {
                    Some(a) => a.node_affinity = node_affinity,
                    None if node_affinity.is_some() => {
                        os.affinity = Some(k8s_openapi::api::core::v1::Affinity {
                            node_affinity,
                            ..Default::default()
                        });
                    }
                    None => {}
                }
            }
        }
        if !semantic_eq(&new.template, &old_template) {
            errs.immutable(&path.child("template"), Bad::json(&new.template));
        }
        for (field, a, b) in [
            (
                "completionMode",
                Bad::json(&new.completion_mode),
                semantic_eq(&new.completion_mode, &old_spec.completion_mode),
            ),
            (
                "podFailurePolicy",
                Bad::json(&new.pod_failure_policy),
                semantic_eq(&new.pod_failure_policy, &old_spec.pod_failure_policy),
            ),
            (
                "backoffLimitPerIndex",
                Bad::json(&new.backoff_limit_per_index),
                new.backoff_limit_per_index == old_spec.backoff_limit_per_index,
            ),
            (
                "managedBy",
                Bad::json(&new.managed_by),
                new.managed_by == old_spec.managed_by,
            ),
            (
                "successPolicy",
                Bad::json(&new.success_policy),
                semantic_eq(&new.success_policy, &old_spec.success_policy),
            ),
        ] {
            if !b {
                errs.immutable(&path.child(field), a);
            }
        }
    }
}

fn validate_generated_selector(
    name: &str,
    uid: &str,
    spec: &JobSpec,
    sel: &LabelSelector,
    errs: &mut Errors,
) {
    if uid.is_empty() {
        errs.required(&Path::new("metadata").child("uid"), "");
    }
    let labels = pod::template_labels(&spec.template);
    let lp = Path::new("spec")
        .child("template")
        .child("metadata")
        .child("labels");
    for (key, want) in [
        (LEGACY_CONTROLLER_UID_LABEL, uid),
        (LEGACY_JOB_NAME_LABEL, name),
        (CONTROLLER_UID_LABEL, uid),
        (JOB_NAME_LABEL, name),
    ] {
        match labels.and_then(|l| l.get(key)) {
            None => errs.required(&lp.key(key), &format!("must be '{want}'")),
            Some(v) if v != want => errs.invalid(
                &lp.key(key),
                Bad::json(&labels),
                &format!("must be '{want}'"),
            ),
            Some(_) => {}
        }
    }
    let expected: BTreeMap<String, String> = [
        (CONTROLLER_UID_LABEL, uid),
        (JOB_NAME_LABEL, name),
        (LEGACY_CONTROLLER_UID_LABEL, uid),
        (LEGACY_JOB_NAME_LABEL, name),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if meta::selector_matches(sel, Some(&expected)) == Some(false) {
        errs.invalid(
            &Path::new("spec").child("selector"),
            Bad::json(sel),
            "`selector` not auto-generated",
        );
    }
}

/// kube's `validateJobSpec`: counts, completion mode, failure policy and the template.
fn validate_job_spec(spec: &JobSpec, path: &Path, errs: &mut Errors) {
    for (field, value) in [
        ("parallelism", spec.parallelism.map(i64::from)),
        ("completions", spec.completions.map(i64::from)),
        ("activeDeadlineSeconds", spec.active_deadline_seconds),
        ("backoffLimit", spec.backoff_limit.map(i64::from)),
        (
            "ttlSecondsAfterFinished",
            spec.ttl_seconds_after_finished.map(i64::from),
        ),
        (
            "backoffLimitPerIndex",
            spec.backoff_limit_per_index.map(i64::from),
        ),
    ] {
        errs.non_negative(&path.child(field), value);
    }
    if let Some(mfi) = spec.max_failed_indexes {
        errs.non_negative(&path.child("maxFailedIndexes"), Some(i64::from(mfi)));
        if spec.backoff_limit_per_index.is_none() {
            errs.required(
                &path.child("backoffLimitPerIndex"),
                "when maxFailedIndexes is specified",
            );
        }
    }
    if let Some(mb) = &spec.managed_by {
        for (value, msg) in names::is_domain_prefixed_path(mb) {
            errs.invalid(&path.child("managedBy"), value, &msg);
        }
        if mb.len() > 63 {
            errs.too_long_max_length(&path.child("managedBy"), 63);
        }
    }
    let mode = s(&spec.completion_mode);
    if !mode.is_empty() && mode != "NonIndexed" && mode != "Indexed" {
        errs.not_supported(
            &path.child("completionMode"),
            mode,
            &["NonIndexed", "Indexed"],
        );
    }
    if mode == "Indexed" {
        if spec.completions.is_none() {
            errs.required(
                &path.child("completions"),
                "when completion mode is Indexed",
            );
        }
        if let Some(p) = spec.parallelism
            && p > 100_000
        {
            errs.invalid(
                &path.child("parallelism"),
                p,
                "must be less than or equal to 100000 when completion mode is Indexed",
            );
        }
        if let (Some(c), Some(m)) = (spec.completions, spec.max_failed_indexes)
            && m > c
        {
            errs.invalid(
                &path.child("maxFailedIndexes"),
                m,
                "must be less than or equal to completions",
            );
        }
    } else {
        if let Some(b) = spec.backoff_limit_per_index {
            errs.invalid(
                &path.child("backoffLimitPerIndex"),
                b,
                "requires indexed completion mode",
            );
        }
        if let Some(m) = spec.max_failed_indexes {
            errs.invalid(
                &path.child("maxFailedIndexes"),
                m,
                "requires indexed completion mode",
            );
        }
    }
    if let Some(policy) = &spec.pod_failure_policy {
        validate_pod_failure_policy(spec, policy, &path.child("podFailurePolicy"), errs);
    }
    if let Some(sp) = &spec.success_policy {
        let p = path.child("successPolicy");
        if mode != "Indexed" {
            errs.invalid(&p, Bad::json(sp), "requires indexed completion mode");
        } else if sp.rules.is_empty() {
            errs.required(
                &p.child("rules"),
                "at least one rules must be specified when the successPolicy is specified",
            );
        }
    }
    if let Some(prp) = &spec.pod_replacement_policy {
        let p = path.child("podReplacementPolicy");
        if spec.pod_failure_policy.is_some() {
            if prp != "Failed" {
                errs.not_supported(&p, prp, &["Failed"]);
            }
        } else if !matches!(prp.as_str(), "Failed" | "TerminatingOrFailed") {
            errs.not_supported(&p, prp, &["Failed", "TerminatingOrFailed"]);
        }
    }
    let tp = path.child("template");
    pod::validate_template(&spec.template, &tp, errs);
    let rp = tp.child("spec").child("restartPolicy");
    match pod::template_restart_policy(&spec.template) {
        "Always" | "" => errs.required(&rp, "valid values: \"OnFailure\", \"Never\""),
        "OnFailure" if spec.pod_failure_policy.is_some() => errs.invalid(
            &rp,
            "OnFailure",
            "only \"Never\" is supported when podFailurePolicy is specified",
        ),
        "OnFailure" | "Never" => {}
        other => errs.not_supported(&rp, other, &["OnFailure", "Never"]),
    }
}

fn validate_pod_failure_policy(
    spec: &JobSpec,
    policy: &k8s_openapi::api::batch::v1::PodFailurePolicy,
    path: &Path,
    errs: &mut Errors,
) {
    const ACTIONS: &[&str] = &["Count", "FailIndex", "FailJob", "Ignore"];
    let rules_path = path.child("rules");
    if policy.rules.len() > 20 {
        errs.too_many(&rules_path, policy.rules.len(), 20);
    }
    let tspec = spec.template.spec.as_ref();
    let container_names: Vec<&str> = tspec
        .into_iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .map(|c| c.name.as_str())
        .collect();
    for (i, rule) in policy.rules.iter().enumerate() {
        let rp = rules_path.index(i);
        let ap = rp.child("action");
        match rule.action.as_str() {
            "" => errs.required(
                &ap,
                "valid values: [\"Count\" \"FailIndex\" \"FailJob\" \"Ignore\"]",
            ),
            "FailIndex" if spec.backoff_limit_per_index.is_none() => {
                errs.invalid(
                    &ap,
                    "FailIndex",
                    "requires the backoffLimitPerIndex to be set",
                );
            }
            a if !ACTIONS.contains(&a) => errs.not_supported(&ap, a, ACTIONS),
            _ => {}
        }
        let conditions = rule.on_pod_conditions.as_deref().unwrap_or_default();
        if let Some(codes) = &rule.on_exit_codes {
            let cp = rp.child("onExitCodes");
            match codes.operator.as_str() {
                "In" | "NotIn" => {}
                "" => errs.required(&cp.child("operator"), "valid values: [\"In\" \"NotIn\"]"),
                op => errs.not_supported(&cp.child("operator"), op, &["In", "NotIn"]),
            }
            if let Some(c) = &codes.container_name
                && !container_names.contains(&c.as_str())
            {
                errs.invalid(
                    &cp.child("containerName"),
                    c,
                    "must be one of the container or initContainer names in the pod template",
                );
            }
            let vp = cp.child("values");
            if codes.values.is_empty() {
                errs.invalid(
                    &vp,
                    Bad::json(&codes.values),
                    "at least one value is required",
                );
            } else if codes.values.len() > 255 {
                errs.too_many(&vp, codes.values.len(), 255);
            }
            let mut seen = std::collections::BTreeSet::new();
            let mut ordered = true;
            for (j, v) in codes.values.iter().enumerate() {
                if codes.operator == "In" && *v == 0 {
                    errs.invalid(&vp.index(j), *v, "must not be 0 for the In operator");
                }
                if !seen.insert(*v) {
                    errs.duplicate(&vp.index(j), *v);
                }
                if j > 0 && codes.values[j - 1] > *v {
                    ordered = false;
                }
            }
            if !ordered {
                errs.invalid(&vp, Bad::json(&codes.values), "must be ordered");
            }
        }
        for (j, pattern) in conditions.iter().enumerate() {
            let pp = rp.child("onPodConditions").index(j);
            errs.invalid_all(
                &pp.child("type"),
                &pattern.type_,
                names::is_qualified_name(&pattern.type_),
            );
            match s(&pattern.status) {
                "True" | "False" | "Unknown" => {}
                "" => errs.required(
                    &pp.child("status"),
                    "valid values: [\"False\" \"True\" \"Unknown\"]",
                ),
                st => errs.not_supported(&pp.child("status"), st, &["False", "True", "Unknown"]),
            }
        }
        match (rule.on_exit_codes.is_some(), !conditions.is_empty()) {
            (true, true) => errs.0.push(crate::status::Cause::new(
                "FieldValueInvalid",
                rp.to_string(),
                "Invalid value: specifying both OnExitCodes and OnPodConditions is not supported",
            )),
            (false, false) => errs.0.push(crate::status::Cause::new(
                "FieldValueInvalid",
                rp.to_string(),
                "Invalid value: specifying one of OnExitCodes and OnPodConditions is required",
            )),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CronJob
// ---------------------------------------------------------------------------------------------

impl Kind for CronJob {
    fn set_defaults(&mut self) {
        let spec = self.spec.get_or_insert_default();
        default_str(&mut spec.concurrency_policy, "Allow");
        spec.suspend.get_or_insert(false);
        spec.successful_jobs_history_limit.get_or_insert(3);
        spec.failed_jobs_history_limit.get_or_insert(1);
        let job = spec.job_template.spec.get_or_insert_default();
        default_pod_failure_policy(job);
        pod::default_template(&mut job.template);
    }

    fn on_create(&mut self) {
        self.status = Some(CronJobStatus::default());
    }

    fn validate(&self, errs: &mut Errors) {
        let empty = Default::default();
        let spec = self.spec.as_ref().unwrap_or(&empty);
        let path = Path::new("spec");
        if spec.schedule.is_empty() {
            errs.required(&path.child("schedule"), "");
        } else if let Err(e) = parse_cron(&spec.schedule) {
            errs.invalid(&path.child("schedule"), &spec.schedule, &e);
        }
        errs.non_negative(
            &path.child("startingDeadlineSeconds"),
            spec.starting_deadline_seconds,
        );
        match s(&spec.concurrency_policy) {
            "Allow" | "Forbid" | "Replace" => {}
            "" => errs.required(&path.child("concurrencyPolicy"), ""),
            other => errs.not_supported(
                &path.child("concurrencyPolicy"),
                other,
                &["Allow", "Forbid", "Replace"],
            ),
        }
        let jp = path.child("jobTemplate").child("spec");
        let job_empty = JobSpec::default();
        let job = spec.job_template.spec.as_ref().unwrap_or(&job_empty);
        validate_job_spec(job, &jp, errs);
        if let Some(sel) = &job.selector {
            errs.invalid(
                &jp.child("selector"),
                Bad::json(sel),
                "`selector` will be auto-generated",
            );
        }
        if job.manual_selector == Some(true) {
            errs.not_supported(&jp.child("manualSelector"), true, &["nil", "false"]);
        }
        errs.non_negative(
            &path.child("successfulJobsHistoryLimit"),
            spec.successful_jobs_history_limit.map(i64::from),
        );
        errs.non_negative(
            &path.child("failedJobsHistoryLimit"),
            spec.failed_jobs_history_limit.map(i64::from),
        );
    }

    fn validate_create(&self, errs: &mut Errors) {
        let name = self.metadata.name.as_deref().unwrap_or("");
        if name.len() > 52 {
            errs.invalid(
                &Path::new("metadata").child("name"),
                name,
                "must be no more than 52 characters",
            );
        }
        if let Some(spec) = &self.spec {
            validate_schedule_tz(&spec.schedule, false, spec.time_zone.as_deref(), errs);
            validate_time_zone(spec.time_zone.as_deref(), errs);
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        let Some(spec) = &self.spec else { return };
        let old_spec = old.spec.as_ref();
        let allow_tz = old_spec.is_some_and(|o| o.schedule.contains("TZ"));
        validate_schedule_tz(&spec.schedule, allow_tz, spec.time_zone.as_deref(), errs);
        if old_spec.is_none_or(|o| o.time_zone != spec.time_zone) {
            validate_time_zone(spec.time_zone.as_deref(), errs);
        }
    }
}

fn validate_schedule_tz(
    schedule: &str,
    allow_tz: bool,
    time_zone: Option<&str>,
    errs: &mut Errors,
) {
    let path = Path::new("spec").child("schedule");
    if allow_tz && schedule.contains("TZ") && time_zone.is_some() {
        errs.invalid(
            &path,
            schedule,
            "cannot use both timeZone field and TZ or CRON_TZ in schedule",
        );
    } else if !allow_tz && schedule.contains("TZ") {
        errs.invalid(
            &path,
            schedule,
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        );
    }
}

fn validate_time_zone(tz: Option<&str>, errs: &mut Errors) {
    let Some(tz) = tz else { return };
    let path = Path::new("spec").child("timeZone");
    if tz.is_empty() {
        errs.invalid(&path, tz, "timeZone must be nil or non-empty string");
        return;
    }
    let part_ok = |p: &str| {
        p != "."
            && p != ".."
            && !p.starts_with('-')
            && (1..=14).contains(&p.len())
            && p.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b".-_+".contains(&c))
    };
    if !tz.split('/').all(part_ok) {
        errs.invalid(&path, tz, &format!("unknown time zone {tz}"));
        return;
    }
    if tz.eq_ignore_ascii_case("Local") {
        errs.invalid(
            &path,
            tz,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        );
    }
}

/// Parses a standard cron schedule (five fields or a `@descriptor`), as kube's cron library
/// does; the error is that library's message.
pub(crate) fn parse_cron(spec: &str) -> Result<(), String> {
    let mut spec = spec.trim();
    if spec.is_empty() {
        return Err("empty spec string".to_string());
    }
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        match spec.split_once(' ') {
            Some((_, rest)) => spec = rest.trim(),
            None => return Err("missing schedule after time zone".to_string()),
        }
    }
    if let Some(descriptor) = spec.strip_prefix('@') {
        return match descriptor {
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => {
                Ok(())
            }
            d if d.starts_with("every ") => {
                let dur = d["every ".len()..].trim();
                crate::duration::parse_go_duration(dur)
                    .map(|_| ())
                    .map_err(|e| format!("failed to parse duration {spec}: {e}"))
            }
            _ => Err(format!("unrecognized descriptor: {spec}")),
        };
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    const MONTHS: &[&str] = &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let bounds: [(u32, u32, &[&str], u32); 5] = [
        (0, 59, &[], 0),
        (0, 23, &[], 0),
        (1, 31, &[], 0),
        (1, 12, MONTHS, 1),
        (0, 6, DAYS, 0),
    ];
    for (i, field) in fields.iter().enumerate() {
        let (min, max, names, offset) = bounds[i];
        let allow_question = i == 2 || i == 4;
        for expr in field.split(',') {
            parse_cron_range(expr, min, max, names, offset, allow_question)?;
        }
    }
    Ok(())
}

fn parse_cron_range(
    expr: &str,
    min: u32,
    max: u32,
    names: &[&str],
    offset: u32,
    allow_question: bool,
) -> Result<(), String> {
    let parts: Vec<&str> = expr.split('/').collect();
    if parts.len() > 2 {
        return Err(format!("too many slashes: {expr}"));
    }
    let range: Vec<&str> = parts[0].split('-').collect();
    let single = range.len() == 1;
    let (start, end) = if parts[0] == "*" || (allow_question && parts[0] == "?") {
        (min, max)
    } else {
        let start = parse_cron_int(range[0], names, offset)?;
        let end = match range.len() {
            1 => start,
            2 => parse_cron_int(range[1], names, offset)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
        (start, end)
    };
    let star = parts[0] == "*" || (allow_question && parts[0] == "?");
    let step = match parts.get(1) {
        None => 1,
        Some(step) => parse_cron_int(step, &[], 0)?,
    };
    // `N/step` means `N-max/step`.
    let end = if parts.len() == 2 && single && !star {
        max
    } else {
        end
    };
    if start < min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({min}): {expr}"
        ));
    }
    if end > max {
        return Err(format!(
            "end of range ({end}) above maximum ({max}): {expr}"
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(())
}

fn parse_cron_int(s: &str, names: &[&str], offset: u32) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + offset);
    }
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "failed to parse int from {s}: strconv.Atoi: parsing \"{s}\": invalid syntax"
        ));
    }
    s.parse::<u32>().map_err(|_| {
        format!("failed to parse int from {s}: strconv.Atoi: parsing \"{s}\": value out of range")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_schedules() {
        for ok in [
            "*/5 * * * *",
            "0 0 1 jan-mar mon",
            "15,45 9-17 * * 1-5",
            "@hourly",
            "@every 1h30m",
            "0 0 ? * *",
            "5/15 * * * *",
            "CRON_TZ=UTC 0 * * * *",
        ] {
            assert_eq!(parse_cron(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            parse_cron("* * *"),
            Err("expected exactly 5 fields, found 3: [* * *]".to_string())
        );
        assert_eq!(
            parse_cron("0-70 * * * *"),
            Err("end of range (70) above maximum (59): 0-70".to_string())
        );
        assert!(parse_cron("x * * * *").is_err());
        assert!(parse_cron("@often").is_err());
        assert!(parse_cron("@every soon").is_err());
        assert!(parse_cron("*/0 * * * *").is_err());
        assert!(parse_cron("0 0 0 * *").is_err());
    }
}
