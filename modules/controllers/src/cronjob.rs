//! CronJobs (kube's CronJob controller v2): a Job per scheduled time, named
//! `<cronjob>-<minutes since the epoch>`, owned by the CronJob.
//!
//! Each pass: the CronJob's Jobs are matched against `status.active` (finished ones leave it,
//! the latest success becomes `lastSuccessfulTime`); then, unless suspended, the most recent
//! scheduled time not yet run (since `lastScheduleTime`, or creation; no further back than
//! `startingDeadlineSeconds`) starts a Job, as `concurrencyPolicy` allows (`Forbid` waits for
//! the running one, `Replace` deletes it); finished Jobs beyond
//! `successfulJobsHistoryLimit` (3) and `failedJobsHistoryLimit` (1) are deleted, oldest
//! first; and the key is requeued for the next scheduled time. Events are kube's
//! (`SuccessfulCreate`, `SawCompletedJob`, `SuccessfulDelete`, `MissSchedule`,
//! `UnparseableSchedule`, `UnknownTimeZone`, `TooManyMissedTimes`, `JobAlreadyActive`).

use jiff::Timestamp;
use jiff::tz::TimeZone;
use kmicro_module_sdk::events::{self, EventType};
use kmicro_module_sdk::k8s_openapi::Resource;
use kmicro_module_sdk::k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use kmicro_module_sdk::k8s_openapi::api::core::v1::ObjectReference;
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kmicro_module_sdk::resource::ObjectRef;
use kmicro_module_sdk::{
    Action, Api, DeleteParams, Error, Key, ResourceExt, Rule, info, time, warn,
};

use crate::caches::Caches;
use crate::cron::Schedule;

/// The key kind of this controller.
pub const KIND: &str = "cronjob";
/// The annotation of a Job with the time it was scheduled for.
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// Missed times beyond this make a warning (kube's limit).
const MISSED_TIMES_CAP: u32 = 100;
/// The component events are recorded as.
const COMPONENT: &str = "cronjob-controller";

/// The API access the controller needs.
pub fn permissions() -> Vec<Rule> {
    vec![
        Rule::new(
            &["batch"],
            &["cronjobs"],
            &["get", "list", "watch", "update"],
        ),
        Rule::new(&["batch"], &["cronjobs/status"], &["update"]),
        Rule::new(
            &["batch"],
            &["jobs"],
            &["get", "list", "watch", "create", "delete"],
        ),
        Rule::new(&["", "events.k8s.io"], &["events"], &["create", "patch"]),
    ]
}

/// A CronJob changed.
pub fn keys_for_cron_job(cj: &CronJob) -> Vec<Key> {
    vec![Key::new(KIND, cj.namespace_any(), cj.name_any())]
}

/// A Job changed: its CronJob's, if a CronJob controls it.
pub fn keys_for_job(j: &Job) -> Vec<Key> {
    match j.controller_owner() {
        Some(owner) if owner.kind == CronJob::KIND && owner.api_version == CronJob::API_VERSION => {
            vec![Key::new(KIND, j.namespace_any(), &owner.name)]
        }
        _ => Vec::new(),
    }
}

/// The name of the Job for `scheduled`: `<cronjob>-<minutes since the epoch>`.
pub fn job_name(cron_job: &str, scheduled: Timestamp) -> String {
    format!("{cron_job}-{}", scheduled.as_second().div_euclid(60))
}

/// The time zone of the CronJob (UTC when none).
pub fn time_zone(cj: &CronJob) -> Result<TimeZone, String> {
    match cj.spec.as_ref().and_then(|s| s.time_zone.as_deref()) {
        None | Some("") => Ok(TimeZone::UTC),
        Some(name) => TimeZone::get(name).map_err(|e| e.to_string()),
    }
}

/// The Job the CronJob starts for `scheduled`.
pub fn job_for(cj: &CronJob, scheduled: Timestamp) -> Job {
    let template = cj
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    annotations.insert(
        SCHEDULED_TIMESTAMP.to_string(),
        scheduled.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(cj.name_any(), scheduled)),
            namespace: Some(cj.namespace_any().to_string()),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![cj.controller_reference()]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// How a Job ended, if it did: `Complete` or `Failed`.
pub fn finished(j: &Job) -> Option<&'static str> {
    let conds = j.status.as_ref().and_then(|s| s.conditions.as_ref())?;
    conds
        .iter()
        .find_map(|c| match (c.type_.as_str(), c.status.as_str()) {
            ("Complete", "True") => Some("Complete"),
            ("Failed", "True") => Some("Failed"),
            _ => None,
        })
}

/// The reference `status.active` keeps to a Job.
fn reference(j: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some(Job::API_VERSION.to_string()),
        kind: Some(Job::KIND.to_string()),
        name: Some(j.name_any().to_string()),
        namespace: Some(j.namespace_any().to_string()),
        uid: j.metadata.uid.clone(),
        resource_version: j.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// The CronJob's status given its Jobs: running ones active, the latest completion as
/// `lastSuccessfulTime`. Also answers the Jobs newly seen finished, with how.
pub fn status_from_jobs(
    cj: &CronJob,
    jobs: &[&Job],
) -> (CronJobStatus, Vec<(String, &'static str)>) {
    let mut status = cj.status.clone().unwrap_or_default();
    let was_active: Vec<String> = status
        .active
        .iter()
        .flatten()
        .filter_map(|r| r.uid.clone())
        .collect();
    let mut active = Vec::new();
    let mut seen_finished = Vec::new();
    for j in jobs {
        match finished(j) {
            None => active.push(reference(j)),
            Some(how) => {
                if was_active.iter().any(|u| u == j.uid_any()) {
                    seen_finished.push((j.name_any().to_string(), how));
                }
                if how == "Complete"
                    && let Some(done) = j.status.as_ref().and_then(|s| s.completion_time.clone())
                    && status
                        .last_successful_time
                        .as_ref()
                        .is_none_or(|t| t.0 < done.0)
                {
                    status.last_successful_time = Some(done);
                }
            }
        }
    }
    active.sort_by(|a, b| a.name.cmp(&b.name));
    status.active = (!active.is_empty()).then_some(active);
    (status, seen_finished)
}

/// Finished Jobs beyond the history limits, oldest first.
pub fn history_to_delete<'a>(
    jobs: &[&'a Job],
    successful_limit: i32,
    failed_limit: i32,
) -> Vec<&'a Job> {
    let mut out = Vec::new();
    for (how, limit) in [("Complete", successful_limit), ("Failed", failed_limit)] {
        let mut done: Vec<&Job> = jobs
            .iter()
            .copied()
            .filter(|j| finished(j) == Some(how))
            .collect();
        done.sort_by_key(|j| {
            let status = j.status.as_ref();
            status
                .and_then(|s| s.start_time.as_ref())
                .or(j.metadata.creation_timestamp.as_ref())
                .map(|t| t.0)
        });
        let excess = done.len().saturating_sub(limit.max(0) as usize);
        out.extend(done.into_iter().take(excess));
    }
    out
}

/// The most recent scheduled time not yet run, if due: after `lastScheduleTime` (or the
/// CronJob's creation), no further back than `startingDeadlineSeconds`. With the number of
/// times missed.
pub fn due_time(
    cj: &CronJob,
    schedule: &Schedule,
    tz: &TimeZone,
    now: Timestamp,
) -> (Option<Timestamp>, u32) {
    let last = cj
        .status
        .as_ref()
        .and_then(|s| s.last_schedule_time.as_ref())
        .or(cj.metadata.creation_timestamp.as_ref())
        .map_or(now, |t| t.0);
    let mut earliest = last;
    if let Some(deadline) = cj.spec.as_ref().and_then(|s| s.starting_deadline_seconds)
        && let Ok(window_start) = now.checked_sub(jiff::SignedDuration::from_secs(deadline))
        && window_start > earliest
    {
        earliest = window_start;
    }
    schedule.most_recent(earliest, now, tz, MISSED_TIMES_CAP)
}

/// Whether `scheduled` is too late to start at `now` under `startingDeadlineSeconds`.
pub fn too_late(cj: &CronJob, scheduled: Timestamp, now: Timestamp) -> bool {
    cj.spec
        .as_ref()
        .and_then(|s| s.starting_deadline_seconds)
        .is_some_and(|d| scheduled.as_second().saturating_add(d) < now.as_second())
}

/// Runs the CronJob named by `key`.
pub fn reconcile(caches: &Caches, key: &Key) -> Result<Action, Error> {
    let Some(cj) = caches.cron_jobs.get(&key.namespace, &key.name) else {
        return Ok(Action::Done);
    };
    let owned: Vec<std::rc::Rc<Job>> = caches.jobs.owned_by(&key.namespace, cj.uid_any());
    let jobs: Vec<&Job> = owned.iter().map(|j| j.as_ref()).collect();
    let (mut status, seen_finished) = status_from_jobs(&cj, &jobs);
    for (name, how) in &seen_finished {
        event(
            &cj,
            EventType::Normal,
            "SawCompletedJob",
            &format!("Saw completed job: {name}, condition: {how}"),
        );
    }
    let spec = cj.spec.clone().unwrap_or_default();
    let now_ms = time::now_millis();
    let now = time::timestamp(now_ms);
    let mut requeue = None;
    if !cj.is_deleting() && spec.suspend != Some(true) {
        requeue = schedule_next(caches, &cj, &jobs, &mut status, now)?;
    }
    let history = history_to_delete(
        &jobs,
        spec.successful_jobs_history_limit.unwrap_or(3),
        spec.failed_jobs_history_limit.unwrap_or(1),
    );
    for j in history {
        delete_job(caches, &cj, j)?;
    }
    if cj.status.as_ref() != Some(&status) {
        let mut updated = (*cj).clone();
        updated.status = Some(status);
        let stored = Api::<CronJob>::namespaced(&key.namespace).replace_status(&updated)?;
        caches.cron_jobs.record(stored);
    }
    Ok(match requeue {
        Some(at) => {
            Action::RequeueAfter((at.as_millisecond() as u64).saturating_sub(now_ms).max(100) + 100)
        }
        None => Action::Done,
    })
}

/// Starts the Job due now, if any; answers when the next one is due.
fn schedule_next(
    caches: &Caches,
    cj: &CronJob,
    jobs: &[&Job],
    status: &mut CronJobStatus,
    now: Timestamp,
) -> Result<Option<Timestamp>, Error> {
    let spec = cj.spec.clone().unwrap_or_default();
    let tz = match time_zone(cj) {
        Ok(tz) => tz,
        Err(e) => {
            let zone = spec.time_zone.unwrap_or_default();
            event(
                cj,
                EventType::Warning,
                "UnknownTimeZone",
                &format!("invalid timeZone: {zone:?}: {e}"),
            );
            return Ok(None);
        }
    };
    let schedule = match Schedule::parse(&spec.schedule) {
        Ok(s) => s,
        Err(e) => {
            event(
                cj,
                EventType::Warning,
                "UnparseableSchedule",
                &format!("unparseable schedule: {:?} : {e}", spec.schedule),
            );
            return Ok(None);
        }
    };
    let next = schedule.next_after(now, &tz);
    let (due, missed) = due_time(cj, &schedule, &tz, now);
    let Some(scheduled) = due else {
        return Ok(next);
    };
    if missed > MISSED_TIMES_CAP {
        event(
            cj,
            EventType::Warning,
            "TooManyMissedTimes",
            &format!(
                "too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
            ),
        );
    }
    if too_late(cj, scheduled, now) {
        event(
            cj,
            EventType::Warning,
            "MissSchedule",
            &format!(
                "Missed scheduled time to start a job: {}",
                scheduled.strftime("%a, %d %b %Y %H:%M:%S %z")
            ),
        );
        return Ok(next);
    }
    let name = job_name(cj.name_any(), scheduled);
    if jobs.iter().any(|j| j.name_any() == name) {
        return Ok(next);
    }
    let running: Vec<&&Job> = jobs.iter().filter(|j| finished(j).is_none()).collect();
    match spec.concurrency_policy.as_deref() {
        Some("Forbid") if !running.is_empty() => {
            info!(
                "cronjob {}/{}: not starting {name}, the previous run is still going (Forbid)",
                cj.namespace_any(),
                cj.name_any()
            );
            event(
                cj,
                EventType::Normal,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
            );
            return Ok(next);
        }
        Some("Replace") => {
            for j in running {
                delete_job(caches, cj, j)?;
                if let Some(active) = status.active.as_mut() {
                    active.retain(|r| r.uid.as_deref() != Some(j.uid_any()));
                }
            }
        }
        _ => {}
    }
    let api = Api::<Job>::namespaced(cj.namespace_any());
    match api.create(&job_for(cj, scheduled)) {
        Ok(created) => {
            event(
                cj,
                EventType::Normal,
                "SuccessfulCreate",
                &format!("Created job {name}"),
            );
            status
                .active
                .get_or_insert_default()
                .push(reference(&created));
            caches.jobs.record(created);
        }
        Err(Error::Api(e)) if e.is_already_exists() => {}
        Err(e) => return Err(e),
    }
    status.last_schedule_time = Some(Time(scheduled));
    Ok(next)
}

fn delete_job(caches: &Caches, cj: &CronJob, j: &Job) -> Result<(), Error> {
    let params = DeleteParams {
        propagation_policy: Some("Background".to_string()),
        ..DeleteParams::with_uid(j.uid_any())
    };
    match Api::<Job>::namespaced(j.namespace_any()).delete(j.name_any(), &params) {
        Ok(_) => {}
        Err(Error::Api(e)) if e.is_not_found() || e.is_conflict() => {}
        Err(e) => return Err(e),
    }
    caches.jobs.forget(&ObjectRef::of(j));
    event(
        cj,
        EventType::Normal,
        "SuccessfulDelete",
        &format!("Deleted job {}", j.name_any()),
    );
    Ok(())
}

fn event(cj: &CronJob, kind: EventType, reason: &str, message: &str) {
    if let Err(e) = events::record(cj, kind, reason, message, COMPONENT) {
        warn!("could not record event {reason}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmicro_module_sdk::k8s_openapi::api::batch::v1::{CronJobSpec, JobCondition, JobStatus};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cron_job(schedule: &str) -> CronJob {
        CronJob {
            metadata: ObjectMeta {
                name: Some("backup".into()),
                namespace: Some("default".into()),
                uid: Some("cj-uid".into()),
                creation_timestamp: Some(Time(ts("2024-01-01T00:00:00Z"))),
                ..ObjectMeta::default()
            },
            spec: Some(CronJobSpec {
                schedule: schedule.into(),
                ..CronJobSpec::default()
            }),
            status: None,
        }
    }

    fn job(name: &str, how: Option<&str>, start: &str) -> Job {
        Job {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("{name}-uid")),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(JobStatus {
                start_time: Some(Time(ts(start))),
                completion_time: (how == Some("Complete")).then(|| Time(ts(start))),
                conditions: how.map(|h| {
                    vec![JobCondition {
                        type_: h.into(),
                        status: "True".into(),
                        ..JobCondition::default()
                    }]
                }),
                ..JobStatus::default()
            }),
        }
    }

    #[test]
    fn job_names_count_minutes_since_the_epoch() {
        assert_eq!(
            job_name("backup", ts("2024-01-01T00:05:00Z")),
            "backup-28401125"
        );
        let j = job_for(&cron_job("*/5 * * * *"), ts("2024-01-01T00:05:00Z"));
        assert_eq!(j.metadata.name.as_deref(), Some("backup-28401125"));
        assert_eq!(
            j.metadata.annotations.unwrap()[SCHEDULED_TIMESTAMP],
            "2024-01-01T00:05:00Z"
        );
        let owner = &j.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("CronJob", "cj-uid", Some(true))
        );
    }

    #[test]
    fn the_latest_missed_time_is_due() {
        let cj = cron_job("*/5 * * * *");
        let s = Schedule::parse("*/5 * * * *").unwrap();
        let (due, missed) = due_time(&cj, &s, &TimeZone::UTC, ts("2024-01-01T00:17:00Z"));
        assert_eq!(due, Some(ts("2024-01-01T00:15:00Z")));
        assert_eq!(missed, 3);
        let mut ran = cj.clone();
        ran.status = Some(CronJobStatus {
            last_schedule_time: Some(Time(ts("2024-01-01T00:15:00Z"))),
            ..CronJobStatus::default()
        });
        assert_eq!(
            due_time(&ran, &s, &TimeZone::UTC, ts("2024-01-01T00:17:00Z")).0,
            None
        );
    }

    #[test]
    fn the_starting_deadline_bounds_how_far_back_and_how_late() {
        let mut cj = cron_job("0 * * * *");
        cj.spec.as_mut().unwrap().starting_deadline_seconds = Some(60);
        let s = Schedule::parse("0 * * * *").unwrap();
        let (due, _) = due_time(&cj, &s, &TimeZone::UTC, ts("2024-01-01T05:30:00Z"));
        assert_eq!(due, None);
        let (due, _) = due_time(&cj, &s, &TimeZone::UTC, ts("2024-01-01T05:00:30Z"));
        assert_eq!(due, Some(ts("2024-01-01T05:00:00Z")));
        assert!(!too_late(
            &cj,
            ts("2024-01-01T05:00:00Z"),
            ts("2024-01-01T05:00:30Z")
        ));
        assert!(too_late(
            &cj,
            ts("2024-01-01T05:00:00Z"),
            ts("2024-01-01T05:01:30Z")
        ));
    }

    #[test]
    fn finished_jobs_leave_active_and_successes_are_remembered() {
        let mut cj = cron_job("* * * * *");
        let running = job("backup-2", None, "2024-01-01T00:02:00Z");
        let done = job("backup-1", Some("Complete"), "2024-01-01T00:01:00Z");
        cj.status = Some(CronJobStatus {
            active: Some(vec![reference(&done), reference(&running)]),
            ..CronJobStatus::default()
        });
        let (status, seen) = status_from_jobs(&cj, &[&done, &running]);
        let active: Vec<_> = status
            .active
            .unwrap()
            .into_iter()
            .map(|r| r.name.unwrap())
            .collect();
        assert_eq!(active, ["backup-2"]);
        assert_eq!(
            status.last_successful_time,
            Some(Time(ts("2024-01-01T00:01:00Z")))
        );
        assert_eq!(seen, [("backup-1".to_string(), "Complete")]);
    }

    #[test]
    fn history_limits_delete_the_oldest_finished_jobs() {
        let jobs = [
            job("ok-1", Some("Complete"), "2024-01-01T00:01:00Z"),
            job("ok-3", Some("Complete"), "2024-01-01T00:03:00Z"),
            job("ok-2", Some("Complete"), "2024-01-01T00:02:00Z"),
            job("bad-1", Some("Failed"), "2024-01-01T00:01:30Z"),
            job("bad-2", Some("Failed"), "2024-01-01T00:02:30Z"),
            job("running", None, "2024-01-01T00:00:00Z"),
        ];
        let refs: Vec<&Job> = jobs.iter().collect();
        let names: Vec<_> = history_to_delete(&refs, 1, 1)
            .iter()
            .map(|j| j.name_any().to_string())
            .collect();
        assert_eq!(names, ["ok-1", "ok-2", "bad-1"]);
        assert!(history_to_delete(&refs, 3, 2).is_empty());
    }

    #[test]
    fn unknown_time_zones_are_errors() {
        let mut cj = cron_job("* * * * *");
        assert_eq!(time_zone(&cj).unwrap(), TimeZone::UTC);
        cj.spec.as_mut().unwrap().time_zone = Some("Mars/Olympus".into());
        assert!(time_zone(&cj).is_err());
        cj.spec.as_mut().unwrap().time_zone = Some("Europe/Paris".into());
        assert!(time_zone(&cj).is_ok());
    }
}
