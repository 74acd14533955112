//! Jobs (kube's Job controller, as of 1.31): pods until enough succeed, or too many fail.
//!
//! - Pods: `generateName: <job>-` (Indexed: `<job>-<index>-`, hostname `<job>-<index>`, the
//!   index in the `batch.kubernetes.io/job-completion-index` annotation and label), labelled
//!   `batch.kubernetes.io/controller-uid` and `batch.kubernetes.io/job-name` (and the legacy
//!   `controller-uid`/`job-name`), owned by the Job, with the
//!   `batch.kubernetes.io/job-tracking` finalizer. At most `parallelism` run; NonIndexed jobs
//!   stop creating at `completions` successes (without completions, at the first success);
//!   Indexed ones run each index in `[0, completions)` until it succeeds.
//! - Counting: a finished pod's uid goes into `status.uncountedTerminatedPods` (written
//!   first), then its finalizer is removed, then the uid moves into `succeeded`/`failed`, so
//!   a pod is counted exactly once whatever fails in between. A pod being deleted before it
//!   succeeded counts as failed (kube's default `podReplacementPolicy`).
//! - Failure: more failures than `backoffLimit` (6), or running longer than
//!   `activeDeadlineSeconds`, sets `FailureTarget`, deletes the active pods, and once none
//!   are left `Failed` (reasons `BackoffLimitExceeded` / `DeadlineExceeded`). New pods after
//!   failures wait an exponential back-off: 10 s doubling per failure since the last
//!   success, at most 6 min.
//! - Success: `SuccessCriteriaMet`, then `Complete` with `completionTime` once no pod runs
//!   (reason `CompletionsReached`).
//! - `suspend` deletes the active pods and sets `Suspended`; resuming restarts `startTime`.
//! - `ttlSecondsAfterFinished`: a finished Job is deleted (foreground) that long after it
//!   finished (kube's TTL-after-finished controller).

use std::collections::{BTreeMap, BTreeSet};

use kmicro_module_sdk::events::{self, EventType};
use kmicro_module_sdk::k8s_openapi::Resource;
use kmicro_module_sdk::k8s_openapi::api::batch::v1::{
    Job, JobCondition, JobStatus, UncountedTerminatedPods,
};
use kmicro_module_sdk::k8s_openapi::api::core::v1::{
    EnvVar, EnvVarSource, ObjectFieldSelector, Pod,
};
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kmicro_module_sdk::resource::ObjectRef;
use kmicro_module_sdk::serde_json::json;
use kmicro_module_sdk::{
    Action, Api, DeleteParams, Error, Key, PatchType, ResourceExt, Rule, WriteParams, time, warn,
};

use crate::caches::Caches;

/// The key kind of this controller.
pub const KIND: &str = "job";
/// The finalizer that keeps a pod until the Job has counted it.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// The label with the Job's uid.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// The label with the Job's name.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// The annotation (and label) with an Indexed Job pod's index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// The first back-off after a failure.
pub const BACKOFF_BASE_MS: u64 = 10_000;
/// The longest back-off.
pub const BACKOFF_MAX_MS: u64 = 360_000;
/// The component events are recorded as.
const COMPONENT: &str = "job-controller";

/// The API access the controller needs.
pub fn permissions() -> Vec<Rule> {
    vec![
        Rule::new(
            &["batch"],
            &["jobs"],
            &["get", "list", "watch", "update", "patch", "delete"],
        ),
        Rule::new(&["batch"], &["jobs/status"], &["update"]),
        Rule::new(
            &[""],
            &["pods"],
            &["get", "list", "watch", "create", "patch", "delete"],
        ),
        Rule::new(&["", "events.k8s.io"], &["events"], &["create", "patch"]),
    ]
}

/// A Job changed.
pub fn keys_for_job(j: &Job) -> Vec<Key> {
    vec![Key::new(KIND, j.namespace_any(), j.name_any())]
}

/// A pod changed: its Job's, if a Job controls it.
pub fn keys_for_pod(pod: &Pod) -> Vec<Key> {
    match pod.controller_owner() {
        Some(owner) if owner.kind == Job::KIND && owner.api_version == Job::API_VERSION => {
            vec![Key::new(KIND, pod.namespace_any(), &owner.name)]
        }
        _ => Vec::new(),
    }
}

/// What a pod is to its Job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodState {
    /// Running or about to.
    Active,
    /// Being deleted without the tracking finalizer: neither running nor to be counted.
    Terminating,
    /// Finished successfully.
    Succeeded,
    /// Finished unsuccessfully (or deleted before it succeeded).
    Failed,
}

/// The state of `pod`.
pub fn pod_state(pod: &Pod) -> PodState {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    match phase {
        Some("Succeeded") => PodState::Succeeded,
        Some("Failed") => PodState::Failed,
        _ if pod.is_deleting() && has_finalizer(pod) => PodState::Failed,
        _ if pod.is_deleting() => PodState::Terminating,
        _ => PodState::Active,
    }
}

fn has_finalizer(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == TRACKING_FINALIZER)
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// An Indexed Job pod's completion index.
pub fn pod_index(pod: &Pod) -> Option<i32> {
    pod.annotations()
        .get(COMPLETION_INDEX)
        .or_else(|| pod.labels().get(COMPLETION_INDEX))
        .and_then(|i| i.parse().ok())
        .filter(|i: &i32| *i >= 0)
}

/// When a pod finished: its containers' latest `finishedAt`, else its creation.
pub fn finished_at_ms(pod: &Pod) -> u64 {
    let status = pod.status.as_ref();
    status
        .into_iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(time::millis_of)
        .max()
        .or_else(|| {
            pod.metadata
                .deletion_timestamp
                .as_ref()
                .map(time::millis_of)
        })
        .or_else(|| {
            pod.metadata
                .creation_timestamp
                .as_ref()
                .map(time::millis_of)
        })
        .unwrap_or(0)
}

/// Index sets as kube writes them: `1,3-5,7`.
pub fn format_indexes(indexes: &BTreeSet<i32>) -> String {
    let mut parts = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end = iter.next().unwrap_or(end);
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

/// Reads an index set written by [`format_indexes`]; what does not parse is skipped.
pub fn parse_indexes(s: &str) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<i32>(), b.parse::<i32>()) {
                    out.extend(a..=b);
                }
            }
            None => {
                if let Ok(i) = part.parse() {
                    out.insert(i);
                }
            }
        }
    }
    out
}

/// The back-off before a new pod, after `failures` failures since the last success.
pub fn backoff_ms(failures: u32) -> u64 {
    if failures == 0 {
        return 0;
    }
    BACKOFF_BASE_MS
        .saturating_mul(1 << (failures - 1).min(16))
        .min(BACKOFF_MAX_MS)
}

/// Whether the Job has condition `type_` True.
pub fn has_condition(status: &JobStatus, type_: &str) -> bool {
    status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == type_ && c.status == "True")
}

/// Sets condition `type_`; its transition time changes only when its status does.
fn set_condition(
    status: &mut JobStatus,
    type_: &str,
    value: &str,
    reason: &str,
    message: &str,
    now: &Time,
) {
    let conditions = status.conditions.get_or_insert_default();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != value {
                c.last_transition_time = Some(now.clone());
            }
            c.status = value.to_string();
            c.reason = Some(reason.to_string());
            c.message = Some(message.to_string());
            c.last_probe_time = Some(now.clone());
        }
        None => conditions.push(JobCondition {
            type_: type_.to_string(),
            status: value.to_string(),
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            last_probe_time: Some(now.clone()),
            last_transition_time: Some(now.clone()),
        }),
    }
}

/// One event to record about the Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    /// Warning or not.
    pub warning: bool,
    /// Reason.
    pub reason: String,
    /// Message.
    pub message: String,
}

/// What one pass over a Job decides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// The status to write (when it differs from the Job's).
    pub status: JobStatus,
    /// Pods to create: their completion index (Indexed) or none.
    pub create: Vec<Option<i32>>,
    /// Active pods to delete, by name.
    pub delete: Vec<String>,
    /// Pods whose tracking finalizer goes once the status is written, by name.
    pub remove_finalizers: Vec<String>,
    /// Delete the Job itself (its TTL after finishing ran out).
    pub delete_job: bool,
    /// Look again after this long.
    pub requeue_ms: Option<u64>,
    /// Events to record.
    pub events: Vec<JobEvent>,
}

impl Plan {
    fn event(&mut self, warning: bool, reason: &str, message: &str) {
        self.events.push(JobEvent {
            warning,
            reason: reason.to_string(),
            message: message.to_string(),
        });
    }

    fn requeue(&mut self, ms: u64) {
        let ms = ms.max(1_000);
        self.requeue_ms = Some(self.requeue_ms.map_or(ms, |r| r.min(ms)));
    }
}

const COMPLETIONS_REACHED: (&str, &str) = (
    "CompletionsReached",
    "Reached expected number of succeeded pods",
);
const BACKOFF_EXCEEDED: (&str, &str) = (
    "BackoffLimitExceeded",
    "Job has reached the specified backoff limit",
);
const DEADLINE_EXCEEDED: (&str, &str) = (
    "DeadlineExceeded",
    "Job was active longer than specified deadline",
);

/// Decides one pass over `job`, whose pods are `pods`, at `now_ms`.
pub fn plan(job: &Job, pods: &[&Pod], now_ms: u64) -> Plan {
    let now = Time(time::timestamp(now_ms));
    let spec = job.spec.clone().unwrap_or_default();
    let mut status = job.status.clone().unwrap_or_default();
    let mut plan = Plan::default();
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let completions = spec.completions;
    let backoff_limit = spec.backoff_limit.unwrap_or(6);

    // Counting: uncounted uids whose pods lost their finalizer (or are gone) move into the
    // counters; newly finished pods become uncounted; their finalizers go after the write.
    let uncounted = status.uncounted_terminated_pods.clone().unwrap_or_default();
    let mut uncounted_ok: BTreeSet<String> = uncounted
        .succeeded
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut uncounted_failed: BTreeSet<String> =
        uncounted.failed.unwrap_or_default().into_iter().collect();
    let by_uid: BTreeMap<&str, &Pod> = pods.iter().map(|p| (p.uid_any(), *p)).collect();
    let settled = |uid: &String| by_uid.get(uid.as_str()).is_none_or(|p| !has_finalizer(p));
    let moved_ok = uncounted_ok.iter().filter(|u| settled(u)).count() as i32;
    let moved_failed = uncounted_failed.iter().filter(|u| settled(u)).count() as i32;
    uncounted_ok.retain(|u| !settled(u));
    uncounted_failed.retain(|u| !settled(u));
    status.succeeded = Some(status.succeeded.unwrap_or(0) + moved_ok);
    status.failed = Some(status.failed.unwrap_or(0) + moved_failed);
    let mut completed: BTreeSet<i32> =
        parse_indexes(status.completed_indexes.as_deref().unwrap_or(""));
    let mut active: Vec<&Pod> = Vec::new();
    let mut terminating = 0;
    let mut last_success_ms = 0u64;
    let mut failure_times: Vec<u64> = Vec::new();
    for pod in pods {
        let state = pod_state(pod);
        match state {
            PodState::Active => active.push(pod),
            PodState::Terminating => terminating += 1,
            PodState::Succeeded | PodState::Failed => {
                let at = finished_at_ms(pod);
                if state == PodState::Succeeded {
                    last_success_ms = last_success_ms.max(at);
                } else {
                    failure_times.push(at);
                }
                if has_finalizer(pod) {
                    let uid = pod.uid_any().to_string();
                    if state == PodState::Succeeded {
                        uncounted_ok.insert(uid);
                    } else {
                        uncounted_failed.insert(uid);
                    }
                    plan.remove_finalizers.push(pod.name_any().to_string());
                }
                if state == PodState::Succeeded
                    && indexed
                    && let Some(i) = pod_index(pod).filter(|i| completions.is_none_or(|c| *i < c))
                {
                    completed.insert(i);
                }
            }
        }
    }
    let succeeded = status.succeeded.unwrap_or(0) + uncounted_ok.len() as i32;
    let failed = status.failed.unwrap_or(0) + uncounted_failed.len() as i32;
    status.uncounted_terminated_pods = Some(UncountedTerminatedPods {
        succeeded: (!uncounted_ok.is_empty()).then(|| uncounted_ok.iter().cloned().collect()),
        failed: (!uncounted_failed.is_empty()).then(|| uncounted_failed.iter().cloned().collect()),
    });
    if indexed {
        status.completed_indexes = Some(format_indexes(&completed));
    }

    let finished = has_condition(&status, "Complete") || has_condition(&status, "Failed");
    if finished {
        // Only the TTL is left to watch, and stragglers' pods to let go.
        plan.delete = active.iter().map(|p| p.name_any().to_string()).collect();
        apply_ttl(job, &status, now_ms, &mut plan);
        status.active = Some(0);
        status.ready = Some(0);
        status.terminating = Some(terminating);
        plan.status = status;
        return plan;
    }

    // Suspension.
    let suspended = spec.suspend == Some(true);
    let was_suspended = has_condition(&status, "Suspended");
    if suspended {
        if !was_suspended {
            set_condition(
                &mut status,
                "Suspended",
                "True",
                "JobSuspended",
                "Job suspended",
                &now,
            );
            plan.event(false, "Suspended", "Job suspended");
        }
        plan.delete
            .extend(active.iter().map(|p| p.name_any().to_string()));
        active.clear();
    } else if was_suspended {
        set_condition(
            &mut status,
            "Suspended",
            "False",
            "JobResumed",
            "Job resumed",
            &now,
        );
        plan.event(false, "Resumed", "Job resumed");
        status.start_time = Some(now.clone());
    }
    if !suspended && status.start_time.is_none() {
        status.start_time = Some(now.clone());
    }

    // Failure and success criteria.
    let mut failure = None;
    if failed > backoff_limit {
        failure = Some(BACKOFF_EXCEEDED);
    } else if let (Some(deadline), Some(start)) =
        (spec.active_deadline_seconds, status.start_time.as_ref())
        && !suspended
    {
        let due = time::millis_of(start).saturating_add((deadline.max(0) as u64) * 1000);
        if now_ms >= due {
            failure = Some(DEADLINE_EXCEEDED);
        } else {
            plan.requeue(due - now_ms);
        }
    }
    if has_condition(&status, "FailureTarget") {
        failure = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "FailureTarget")
            .map(|c| {
                if c.reason.as_deref() == Some(DEADLINE_EXCEEDED.0) {
                    DEADLINE_EXCEEDED
                } else {
                    BACKOFF_EXCEEDED
                }
            });
    }
    let success = failure.is_none()
        && (has_condition(&status, "SuccessCriteriaMet")
            || match (indexed, completions) {
                (true, Some(c)) => completed.len() as i32 >= c,
                (false, Some(c)) => succeeded >= c,
                (_, None) => succeeded >= 1 && active.is_empty(),
            });

    if let Some((reason, message)) = failure {
        if !has_condition(&status, "FailureTarget") {
            set_condition(&mut status, "FailureTarget", "True", reason, message, &now);
            plan.event(true, reason, message);
        }
        plan.delete
            .extend(active.iter().map(|p| p.name_any().to_string()));
        active.clear();
    } else if success {
        if !has_condition(&status, "SuccessCriteriaMet") {
            set_condition(
                &mut status,
                "SuccessCriteriaMet",
                "True",
                COMPLETIONS_REACHED.0,
                COMPLETIONS_REACHED.1,
                &now,
            );
        }
        if completions.is_some() {
            plan.delete
                .extend(active.iter().map(|p| p.name_any().to_string()));
            active.clear();
        }
    } else if !suspended {
        plan_pods(
            indexed,
            parallelism,
            completions,
            succeeded,
            &completed,
            &mut active,
            &mut plan,
        );
        // Back-off after failures since the last success.
        let failures = failure_times
            .iter()
            .filter(|t| **t > last_success_ms)
            .count() as u32;
        if failures > 0 && !plan.create.is_empty() {
            let last_failure = failure_times.iter().copied().max().unwrap_or(0);
            let ready_at = last_failure.saturating_add(backoff_ms(failures));
            if now_ms < ready_at {
                plan.create.clear();
                plan.requeue(ready_at - now_ms);
            }
        }
    }

    // Terminal conditions once nothing runs and everything is counted.
    let settled_all = active.is_empty()
        && plan.delete.is_empty()
        && terminating == 0
        && uncounted_ok.is_empty()
        && uncounted_failed.is_empty();
    if settled_all && plan.create.is_empty() {
        if let Some((reason, message)) = failure {
            set_condition(&mut status, "Failed", "True", reason, message, &now);
            apply_ttl(job, &status, now_ms, &mut plan);
        } else if success {
            set_condition(
                &mut status,
                "Complete",
                "True",
                COMPLETIONS_REACHED.0,
                COMPLETIONS_REACHED.1,
                &now,
            );
            status.completion_time = Some(now.clone());
            plan.event(false, "Completed", "Job completed");
            apply_ttl(job, &status, now_ms, &mut plan);
        }
    }
    status.active = Some(active.len() as i32 + plan.create.len() as i32);
    status.ready = Some(active.iter().filter(|p| is_ready(p)).count() as i32);
    status.terminating = Some(terminating + plan.delete.len() as i32);
    plan.status = status;
    plan
}

/// Which pods to create and which excess ones to delete while the Job runs.
fn plan_pods(
    indexed: bool,
    parallelism: i32,
    completions: Option<i32>,
    succeeded: i32,
    completed: &BTreeSet<i32>,
    active: &mut Vec<&Pod>,
    plan: &mut Plan,
) {
    if indexed {
        let total = completions.unwrap_or(0);
        // Pods of completed indexes, duplicates and pods without a valid index go.
        let mut running: BTreeSet<i32> = BTreeSet::new();
        active.retain(|p| match pod_index(p) {
            Some(i) if i < total && !completed.contains(&i) && running.insert(i) => true,
            _ => {
                plan.delete.push(p.name_any().to_string());
                false
            }
        });
        let room = (parallelism as usize).saturating_sub(active.len());
        plan.create = (0..total)
            .filter(|i| !completed.contains(i) && !running.contains(i))
            .take(room)
            .map(Some)
            .collect();
        return;
    }
    let wanted = match completions {
        Some(c) => parallelism.min((c - succeeded).max(0)),
        // Work queue: once one pod succeeded, no new ones; the running ones finish.
        None if succeeded > 0 => active.len() as i32,
        None => parallelism,
    } as usize;
    if active.len() > wanted {
        // Not-ready pods go first, then the newest.
        active.sort_by_key(|p| {
            (
                is_ready(p),
                std::cmp::Reverse(p.metadata.creation_timestamp.as_ref().map(|t| t.0)),
            )
        });
        let excess = active.len() - wanted;
        plan.delete
            .extend(active.drain(..excess).map(|p| p.name_any().to_string()));
    }
    plan.create = vec![None; wanted.saturating_sub(active.len())];
}

/// Deletes the finished Job once `ttlSecondsAfterFinished` ran out, or requeues for then.
fn apply_ttl(job: &Job, status: &JobStatus, now_ms: u64, plan: &mut Plan) {
    let Some(ttl) = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished) else {
        return;
    };
    let finished_at = status
        .conditions
        .iter()
        .flatten()
        .filter(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .filter_map(|c| c.last_transition_time.as_ref())
        .map(time::millis_of)
        .min()
        .unwrap_or(now_ms);
    let due = finished_at.saturating_add((ttl.max(0) as u64) * 1000);
    if now_ms >= due {
        plan.delete_job = true;
    } else {
        plan.requeue(due - now_ms);
    }
}

/// The pod the Job creates, for completion index `index` (Indexed Jobs).
pub fn pod_for(job: &Job, index: Option<i32>) -> Pod {
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    for (k, v) in [
        (CONTROLLER_UID_LABEL, job.uid_any()),
        ("controller-uid", job.uid_any()),
        (JOB_NAME_LABEL, job.name_any()),
        ("job-name", job.name_any()),
    ] {
        labels.insert(k.to_string(), v.to_string());
    }
    let mut spec = template.spec.unwrap_or_default();
    let generate_name = match index {
        Some(i) => {
            labels.insert(COMPLETION_INDEX.to_string(), i.to_string());
            annotations.insert(COMPLETION_INDEX.to_string(), i.to_string());
            spec.hostname = Some(format!("{}-{i}", job.name_any()));
            let env = EnvVar {
                name: "JOB_COMPLETION_INDEX".to_string(),
                value: None,
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        api_version: None,
                        field_path: format!("metadata.labels['{COMPLETION_INDEX}']"),
                    }),
                    ..EnvVarSource::default()
                }),
            };
            for c in spec
                .containers
                .iter_mut()
                .chain(spec.init_containers.iter_mut().flatten())
            {
                let envs = c.env.get_or_insert_default();
                if !envs.iter().any(|e| e.name == env.name) {
                    envs.push(env.clone());
                }
            }
            format!("{}-{i}-", job.name_any())
        }
        None => format!("{}-", job.name_any()),
    };
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name),
            namespace: Some(job.namespace_any().to_string()),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![job.controller_reference()]),
            finalizers: Some(vec![TRACKING_FINALIZER.to_string()]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// Runs the Job named by `key`.
pub fn reconcile(caches: &Caches, key: &Key) -> Result<Action, Error> {
    let Some(job) = caches.jobs.get(&key.namespace, &key.name) else {
        return Ok(Action::Done);
    };
    if job.is_deleting() {
        return release_pods(caches, &job);
    }
    if job
        .spec
        .as_ref()
        .and_then(|s| s.managed_by.as_deref())
        .is_some_and(|m| m != "kubernetes.io/job-controller")
    {
        return Ok(Action::Done);
    }
    let owned = caches.pods.owned_by(&key.namespace, job.uid_any());
    let pods: Vec<&Pod> = owned.iter().map(|p| p.as_ref()).collect();
    let plan = plan(&job, &pods, time::now_millis());
    let pods_api = Api::<Pod>::namespaced(&key.namespace);
    for name in &plan.delete {
        match pods_api.delete(name, &DeleteParams::default()) {
            Ok(_) => event(
                &job,
                false,
                "SuccessfulDelete",
                &format!("Deleted pod: {name}"),
            ),
            Err(Error::Api(e)) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    if job.status.as_ref() != Some(&plan.status) {
        let mut updated = (*job).clone();
        updated.status = Some(plan.status.clone());
        let stored = Api::<Job>::namespaced(&key.namespace).replace_status(&updated)?;
        caches.jobs.record(stored);
    }
    for name in &plan.remove_finalizers {
        if let Some(pod) = caches.pods.get(&key.namespace, name) {
            remove_finalizer(caches, &pod)?;
        }
    }
    for index in &plan.create {
        match pods_api.create(&pod_for(&job, *index)) {
            Ok(created) => {
                event(
                    &job,
                    false,
                    "SuccessfulCreate",
                    &format!("Created pod: {}", created.name_any()),
                );
                caches.pods.record(created);
            }
            Err(e) => {
                event(&job, true, "FailedCreate", &format!("Error creating: {e}"));
                return Err(e);
            }
        }
    }
    for e in &plan.events {
        event(&job, e.warning, &e.reason, &e.message);
    }
    if plan.delete_job {
        let params = DeleteParams {
            propagation_policy: Some("Foreground".to_string()),
            ..DeleteParams::with_uid(job.uid_any())
        };
        match Api::<Job>::namespaced(&key.namespace).delete(&key.name, &params) {
            Ok(_) => {}
            Err(Error::Api(e)) if e.is_not_found() || e.is_conflict() => {}
            Err(e) => return Err(e),
        }
        return Ok(Action::Done);
    }
    Ok(plan.requeue_ms.map_or(Action::Done, Action::RequeueAfter))
}

/// A Job being deleted lets go of its pods' finalizers.
fn release_pods(caches: &Caches, job: &Job) -> Result<Action, Error> {
    for pod in caches.pods.owned_by(job.namespace_any(), job.uid_any()) {
        if has_finalizer(&pod) {
            remove_finalizer(caches, &pod)?;
        }
    }
    Ok(Action::Done)
}

fn remove_finalizer(caches: &Caches, pod: &Pod) -> Result<(), Error> {
    let kept: Vec<&String> = pod
        .metadata
        .finalizers
        .iter()
        .flatten()
        .filter(|f| *f != TRACKING_FINALIZER)
        .collect();
    let patch = json!({"metadata": {
        "resourceVersion": pod.metadata.resource_version,
        "finalizers": if kept.is_empty() { kmicro_module_sdk::serde_json::Value::Null } else { json!(kept) },
    }});
    let api = Api::<Pod>::namespaced(pod.namespace_any());
    match api.patch(
        pod.name_any(),
        None,
        PatchType::Merge,
        &patch,
        &WriteParams::default(),
    ) {
        Ok(stored) => {
            caches.pods.record(stored);
            Ok(())
        }
        Err(Error::Api(e)) if e.is_not_found() => {
            caches.pods.forget(&ObjectRef::of(pod));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn event(job: &Job, warning: bool, reason: &str, message: &str) {
    let kind = if warning {
        EventType::Warning
    } else {
        EventType::Normal
    };
    if let Err(e) = events::record(job, kind, reason, message, COMPONENT) {
        warn!("could not record event {reason}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmicro_module_sdk::k8s_openapi::api::batch::v1::JobSpec;
    use kmicro_module_sdk::k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStatus, PodStatus,
    };

    const T0: u64 = 1_700_000_000_000;

    fn job(completions: Option<i32>, parallelism: i32) -> Job {
        Job {
            metadata: ObjectMeta {
                name: Some("pi".into()),
                namespace: Some("default".into()),
                uid: Some("job-uid".into()),
                ..ObjectMeta::default()
            },
            spec: Some(JobSpec {
                completions,
                parallelism: Some(parallelism),
                ..JobSpec::default()
            }),
            status: None,
        }
    }

    fn pod(name: &str, phase: &str, finished_ms: Option<u64>, finalizer: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("{name}-uid")),
                finalizers: finalizer.then(|| vec![TRACKING_FINALIZER.to_string()]),
                creation_timestamp: Some(Time(time::timestamp(T0))),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(PodStatus {
                phase: Some(phase.into()),
                container_statuses: finished_ms.map(|ms| {
                    vec![ContainerStatus {
                        name: "main".into(),
                        state: Some(ContainerState {
                            terminated: Some(ContainerStateTerminated {
                                finished_at: Some(Time(time::timestamp(ms))),
                                ..ContainerStateTerminated::default()
                            }),
                            ..ContainerState::default()
                        }),
                        ..ContainerStatus::default()
                    }]
                }),
                ..PodStatus::default()
            }),
        }
    }

    fn indexed(mut p: Pod, index: i32) -> Pod {
        p.metadata.annotations = Some([(COMPLETION_INDEX.to_string(), index.to_string())].into());
        p
    }

    fn with_status(mut j: Job, status: JobStatus) -> Job {
        j.status = Some(status);
        j
    }

    #[test]
    fn a_new_job_starts_parallelism_pods() {
        let p = plan(&job(Some(3), 2), &[], T0);
        assert_eq!(p.create, vec![None, None]);
        assert_eq!(p.status.active, Some(2));
        assert_eq!(p.status.start_time, Some(Time(time::timestamp(T0))));
        assert!(p.delete.is_empty());
    }

    #[test]
    fn finished_pods_are_counted_once_through_uncounted_terminated_pods() {
        let j = job(Some(3), 2);
        let done = pod("pi-a", "Succeeded", Some(T0), true);
        let running = pod("pi-b", "Running", None, true);
        let first = plan(&j, &[&done, &running], T0);
        let uncounted = first.status.uncounted_terminated_pods.clone().unwrap();
        assert_eq!(uncounted.succeeded, Some(vec!["pi-a-uid".to_string()]));
        assert_eq!(first.status.succeeded, Some(0));
        assert_eq!(first.remove_finalizers, ["pi-a"]);
        assert_eq!(first.create, vec![None]);

        // The finalizer is gone: the uid moves into the counter.
        let counted = pod("pi-a", "Succeeded", Some(T0), false);
        let second = plan(
            &with_status(j.clone(), first.status),
            &[&counted, &running],
            T0,
        );
        assert_eq!(second.status.succeeded, Some(1));
        let uncounted = second.status.uncounted_terminated_pods.unwrap();
        assert_eq!((uncounted.succeeded, uncounted.failed), (None, None));
        assert!(second.remove_finalizers.is_empty());
    }

    #[test]
    fn enough_successes_complete_the_job() {
        let j = with_status(
            job(Some(2), 2),
            JobStatus {
                succeeded: Some(2),
                start_time: Some(Time(time::timestamp(T0))),
                ..JobStatus::default()
            },
        );
        let a = pod("pi-a", "Succeeded", Some(T0), false);
        let b = pod("pi-b", "Succeeded", Some(T0), false);
        let p = plan(&j, &[&a, &b], T0 + 1_000);
        assert!(p.create.is_empty());
        assert!(has_condition(&p.status, "SuccessCriteriaMet"));
        assert!(has_condition(&p.status, "Complete"));
        let complete = p
            .status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Complete")
            .unwrap();
        assert_eq!(complete.reason.as_deref(), Some("CompletionsReached"));
        assert_eq!(
            p.status.completion_time,
            Some(Time(time::timestamp(T0 + 1_000)))
        );
        assert_eq!(p.events[0].reason, "Completed");
    }

    #[test]
    fn success_waits_for_uncounted_pods_before_complete() {
        let j = job(Some(1), 1);
        let done = pod("pi-a", "Succeeded", Some(T0), true);
        let p = plan(&j, &[&done], T0);
        assert!(has_condition(&p.status, "SuccessCriteriaMet"));
        assert!(!has_condition(&p.status, "Complete"));
        let counted = pod("pi-a", "Succeeded", Some(T0), false);
        let p = plan(&with_status(j, p.status), &[&counted], T0);
        assert!(has_condition(&p.status, "Complete"));
        assert_eq!(p.status.succeeded, Some(1));
    }

    #[test]
    fn a_work_queue_job_stops_creating_after_the_first_success() {
        let j = job(None, 3);
        let done = pod("pi-a", "Succeeded", Some(T0), false);
        let running = pod("pi-b", "Running", None, true);
        let j = with_status(
            j,
            JobStatus {
                succeeded: Some(1),
                ..JobStatus::default()
            },
        );
        let p = plan(&j, &[&done, &running], T0);
        assert!(p.create.is_empty() && p.delete.is_empty());
        assert!(!has_condition(&p.status, "SuccessCriteriaMet"));
        let p = plan(&j, &[&done], T0);
        assert!(has_condition(&p.status, "Complete"));
    }

    #[test]
    fn failures_back_off_exponentially() {
        assert_eq!(backoff_ms(1), 10_000);
        assert_eq!(backoff_ms(2), 20_000);
        assert_eq!(backoff_ms(4), 80_000);
        assert_eq!(backoff_ms(7), BACKOFF_MAX_MS);
        assert_eq!(backoff_ms(40), BACKOFF_MAX_MS);
        let j = with_status(
            job(Some(1), 1),
            JobStatus {
                failed: Some(1),
                ..JobStatus::default()
            },
        );
        let failed = pod("pi-a", "Failed", Some(T0), false);
        let waiting = plan(&j, &[&failed], T0 + 4_000);
        assert!(waiting.create.is_empty());
        assert_eq!(waiting.requeue_ms, Some(6_000));
        let ready = plan(&j, &[&failed], T0 + 10_000);
        assert_eq!(ready.create, vec![None]);
        // Two failures since the last success: 20 s.
        let again = pod("pi-b", "Failed", Some(T0 + 30_000), false);
        let j = with_status(
            job(Some(1), 1),
            JobStatus {
                failed: Some(2),
                ..JobStatus::default()
            },
        );
        let p = plan(&j, &[&failed, &again], T0 + 40_000);
        assert!(p.create.is_empty());
        assert_eq!(p.requeue_ms, Some(10_000));
    }

    #[test]
    fn too_many_failures_fail_the_job() {
        let mut j = job(Some(3), 2);
        j.spec.as_mut().unwrap().backoff_limit = Some(1);
        let j = with_status(
            j,
            JobStatus {
                failed: Some(1),
                ..JobStatus::default()
            },
        );
        let failed = pod("pi-a", "Failed", Some(T0), true);
        let running = pod("pi-b", "Running", None, true);
        let p = plan(&j, &[&failed, &running], T0);
        assert!(has_condition(&p.status, "FailureTarget"));
        assert!(!has_condition(&p.status, "Failed"));
        assert_eq!(p.delete, ["pi-b"]);
        assert!(p.create.is_empty());
        let target = p
            .status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "FailureTarget")
            .unwrap();
        assert_eq!(target.reason.as_deref(), Some("BackoffLimitExceeded"));
        assert_eq!(
            target.message.as_deref(),
            Some("Job has reached the specified backoff limit")
        );

        // Everything counted and gone: Failed.
        let mut status = p.status;
        status.uncounted_terminated_pods = None;
        status.failed = Some(3);
        let a = pod("pi-a", "Failed", Some(T0), false);
        let p = plan(&with_status(j, status), &[&a], T0);
        assert!(has_condition(&p.status, "Failed"));
        assert!(p.status.completion_time.is_none());
    }

    #[test]
    fn a_pod_deleted_before_it_succeeded_counts_as_failed() {
        let mut gone = pod("pi-a", "Running", None, true);
        gone.metadata.deletion_timestamp = Some(Time(time::timestamp(T0)));
        assert_eq!(pod_state(&gone), PodState::Failed);
        gone.metadata.finalizers = None;
        assert_eq!(pod_state(&gone), PodState::Terminating);
    }

    #[test]
    fn the_active_deadline_fails_the_job() {
        let mut j = job(Some(1), 1);
        j.spec.as_mut().unwrap().active_deadline_seconds = Some(60);
        let j = with_status(
            j,
            JobStatus {
                start_time: Some(Time(time::timestamp(T0))),
                ..JobStatus::default()
            },
        );
        let running = pod("pi-a", "Running", None, true);
        let early = plan(&j, &[&running], T0 + 30_000);
        assert_eq!(early.requeue_ms, Some(30_000));
        assert!(!has_condition(&early.status, "FailureTarget"));
        let late = plan(&j, &[&running], T0 + 60_000);
        let target = late
            .status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "FailureTarget")
            .unwrap();
        assert_eq!(target.reason.as_deref(), Some("DeadlineExceeded"));
        assert_eq!(late.delete, ["pi-a"]);
    }

    #[test]
    fn indexed_jobs_run_each_index_until_it_succeeds() {
        let mut j = job(Some(4), 2);
        j.spec.as_mut().unwrap().completion_mode = Some("Indexed".into());
        let one = indexed(pod("pi-1-x", "Succeeded", Some(T0), true), 1);
        let zero = indexed(pod("pi-0-x", "Running", None, true), 0);
        let dup = indexed(pod("pi-0-y", "Running", None, true), 0);
        let p = plan(&j, &[&one, &zero, &dup], T0);
        assert_eq!(p.status.completed_indexes.as_deref(), Some("1"));
        assert_eq!(p.delete, ["pi-0-y"]);
        assert_eq!(p.create, vec![Some(2)]);

        let pod = pod_for(&j, Some(2));
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("pi-2-"));
        assert_eq!(
            pod.metadata.annotations.as_ref().unwrap()[COMPLETION_INDEX],
            "2"
        );
        assert_eq!(pod.metadata.labels.as_ref().unwrap()[COMPLETION_INDEX], "2");
        assert_eq!(pod.spec.as_ref().unwrap().hostname.as_deref(), Some("pi-2"));
    }

    #[test]
    fn index_sets_read_and_write_as_kube_does() {
        let set: BTreeSet<i32> = [0, 1, 2, 5, 7, 8].into();
        assert_eq!(format_indexes(&set), "0-2,5,7-8");
        assert_eq!(parse_indexes("0-2,5,7-8"), set);
        assert_eq!(format_indexes(&BTreeSet::new()), "");
    }

    #[test]
    fn suspending_deletes_active_pods_and_resuming_restarts_the_clock() {
        let mut j = job(Some(2), 2);
        j.spec.as_mut().unwrap().suspend = Some(true);
        let running = pod("pi-a", "Running", None, true);
        let p = plan(&j, &[&running], T0);
        assert_eq!(p.delete, ["pi-a"]);
        assert!(p.create.is_empty());
        assert!(has_condition(&p.status, "Suspended"));
        j.spec.as_mut().unwrap().suspend = Some(false);
        let resumed = plan(&with_status(j, p.status), &[], T0 + 5_000);
        let cond = resumed
            .status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Suspended")
            .unwrap();
        assert_eq!(
            (cond.status.as_str(), cond.reason.as_deref()),
            ("False", Some("JobResumed"))
        );
        assert_eq!(
            resumed.status.start_time,
            Some(Time(time::timestamp(T0 + 5_000)))
        );
        assert_eq!(resumed.create.len(), 2);
    }

    #[test]
    fn lowering_parallelism_deletes_the_excess() {
        let j = job(Some(10), 1);
        let a = pod("pi-a", "Running", None, true);
        let b = pod("pi-b", "Pending", None, true);
        let p = plan(&j, &[&a, &b], T0);
        assert_eq!(p.delete.len(), 1);
        assert!(p.create.is_empty());
    }

    #[test]
    fn finished_jobs_are_deleted_after_their_ttl() {
        let mut j = job(Some(1), 1);
        j.spec.as_mut().unwrap().ttl_seconds_after_finished = Some(100);
        let mut status = JobStatus::default();
        set_condition(
            &mut status,
            "Complete",
            "True",
            "CompletionsReached",
            "",
            &Time(time::timestamp(T0)),
        );
        let j = with_status(j, status);
        let early = plan(&j, &[], T0 + 40_000);
        assert!(!early.delete_job);
        assert_eq!(early.requeue_ms, Some(60_000));
        assert!(plan(&j, &[], T0 + 100_000).delete_job);
    }

    #[test]
    fn pods_carry_the_jobs_labels_owner_and_finalizer() {
        let p = pod_for(&job(Some(1), 1), None);
        let labels = p.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[CONTROLLER_UID_LABEL], "job-uid");
        assert_eq!(labels[JOB_NAME_LABEL], "pi");
        assert_eq!(p.metadata.generate_name.as_deref(), Some("pi-"));
        assert_eq!(
            p.metadata.finalizers.as_deref(),
            Some(&[TRACKING_FINALIZER.to_string()][..])
        );
        assert_eq!(p.metadata.owner_references.as_ref().unwrap()[0].kind, "Job");
        assert_eq!(keys_for_pod(&p), vec![Key::new(KIND, "default", "pi")]);
    }
}
