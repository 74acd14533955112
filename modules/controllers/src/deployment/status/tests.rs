use super::*;
use crate::deployment::plan::tests::{deployment, rs};
use crate::workload::testing::at;

fn with_deadline(mut d: Deployment, seconds: i32) -> Deployment {
    d.spec.as_mut().unwrap().progress_deadline_seconds = Some(seconds);
    d.metadata.generation = Some(2);
    d
}

fn progressing(status: &DeploymentStatus) -> (String, String, String) {
    let c = get(status, PROGRESSING).expect("a Progressing condition");
    (
        c.status.clone(),
        c.reason.clone().unwrap_or_default(),
        c.message.clone().unwrap_or_default(),
    )
}

#[test]
fn counts_come_from_the_replica_sets() {
    let d = deployment(5, "1", "1");
    let mut new = rs("web-new", 10, 3, 2);
    new.status.as_mut().unwrap().replicas = 3;
    let mut old = rs("web-old", 0, 3, 3);
    old.status.as_mut().unwrap().replicas = 3;
    let s = calculate(&d, &[old, new], Some(1), at(1));
    assert_eq!(s.replicas, Some(6));
    assert_eq!(s.updated_replicas, Some(3));
    assert_eq!(s.ready_replicas, Some(5));
    assert_eq!(s.available_replicas, Some(5));
    assert_eq!(s.unavailable_replicas, Some(1));
    let available = get(&s, AVAILABLE).unwrap();
    assert_eq!(available.status, "True");
    assert_eq!(
        available.reason.as_deref(),
        Some("MinimumReplicasAvailable")
    );
    let s = calculate(&d, &[rs("web-new", 10, 5, 2)], Some(0), at(1));
    assert_eq!(get(&s, AVAILABLE).unwrap().status, "False");
    assert_eq!(s.unavailable_replicas, Some(3));
}

#[test]
fn progressing_moves_from_updated_to_available() {
    let mut d = with_deadline(deployment(2, "1", "0"), 600);
    let mut status = DeploymentStatus::default();
    set(
        &mut status,
        condition(
            PROGRESSING,
            "True",
            NEW_RS_CREATED,
            "Created new replica set \"web-1\"",
            at(0),
        ),
    );
    d.status = Some(status);
    // One pod up: progress.
    let mut sets = vec![rs("web-1", 0, 2, 1)];
    sets[0].status.as_mut().unwrap().replicas = 2;
    let s = rollout(&d, &sets, Some(0), at(5));
    assert_eq!(
        progressing(&s),
        (
            "True".into(),
            RS_UPDATED.into(),
            "ReplicaSet \"web-1\" is progressing.".into()
        )
    );
    let c = get(&s, PROGRESSING).unwrap();
    assert_eq!(c.last_transition_time.as_ref().map(millis), Some(at(0)));
    assert_eq!(c.last_update_time.as_ref().map(millis), Some(at(5)));
    // All up: complete.
    d.status = Some(s);
    let sets = vec![rs("web-1", 0, 2, 2)];
    let s = rollout(&d, &sets, Some(0), at(9));
    assert_eq!(
        progressing(&s),
        (
            "True".into(),
            NEW_RS_AVAILABLE.into(),
            "ReplicaSet \"web-1\" has successfully progressed.".into()
        )
    );
    assert!(is_complete(&d, &s));
    assert_eq!(stuck_requeue(&d, &s, at(9)), None);
}

#[test]
fn a_stalled_rollout_times_out() {
    let mut d = with_deadline(deployment(2, "1", "0"), 60);
    let mut status = DeploymentStatus {
        replicas: Some(1),
        updated_replicas: Some(1),
        ..DeploymentStatus::default()
    };
    set(
        &mut status,
        condition(PROGRESSING, "True", RS_UPDATED, "x", at(0)),
    );
    d.status = Some(status);
    let mut sets = vec![rs("web-1", 0, 2, 0)];
    sets[0].status.as_mut().unwrap().replicas = 1;
    // Before the deadline: no change, look again when it passes.
    let s = rollout(&d, &sets, Some(0), at(30));
    assert_eq!(progressing(&s).1, RS_UPDATED);
    assert_eq!(stuck_requeue(&d, &s, at(30)), Some(31_000));
    // After it: timed out.
    let s = rollout(&d, &sets, Some(0), at(61));
    assert_eq!(
        progressing(&s),
        (
            "False".into(),
            TIMED_OUT.into(),
            "ReplicaSet \"web-1\" has timed out progressing.".into()
        )
    );
    d.status = Some(s.clone());
    assert_eq!(stuck_requeue(&d, &s, at(62)), None);
}

#[test]
fn no_deadline_means_no_progressing_condition() {
    let mut d = deployment(1, "1", "0");
    d.spec.as_mut().unwrap().progress_deadline_seconds = Some(i32::MAX);
    let mut status = DeploymentStatus::default();
    set(
        &mut status,
        condition(PROGRESSING, "True", RS_UPDATED, "x", at(0)),
    );
    d.status = Some(status);
    let s = rollout(&d, &[rs("web-1", 0, 1, 1)], Some(0), at(1));
    assert!(get(&s, PROGRESSING).is_none());
    assert!(paused_condition(&d, true, at(1)).is_none());
}

#[test]
fn pause_and_resume_conditions() {
    let d = with_deadline(deployment(1, "1", "0"), 600);
    let paused = paused_condition(&d, true, at(1)).expect("paused");
    assert_eq!(
        progressing(&paused),
        (
            "Unknown".into(),
            PAUSED.into(),
            "Deployment is paused".into()
        )
    );
    let mut d2 = d.clone();
    d2.status = Some(paused);
    assert!(paused_condition(&d2, true, at(2)).is_none());
    let resumed = paused_condition(&d2, false, at(3)).expect("resumed");
    assert_eq!(
        progressing(&resumed),
        (
            "Unknown".into(),
            RESUMED.into(),
            "Deployment is resumed".into()
        )
    );
    assert!(paused_condition(&d, false, at(1)).is_none());
}

#[test]
fn replica_failures_are_surfaced() {
    let d = deployment(1, "1", "0");
    let mut failing = rs("web-1", 0, 1, 0);
    failing.status.as_mut().unwrap().conditions = Some(vec![
        kmicro_module_sdk::k8s_openapi::api::apps::v1::ReplicaSetCondition {
            type_: REPLICA_FAILURE.into(),
            status: "True".into(),
            reason: Some("FailedCreate".into()),
            message: Some("forbidden".into()),
            last_transition_time: None,
        },
    ]);
    let s = rollout(&d, &[failing], Some(0), at(1));
    let c = get(&s, REPLICA_FAILURE).unwrap();
    assert_eq!(c.reason.as_deref(), Some("FailedCreate"));
    let mut d2 = d.clone();
    d2.status = Some(s);
    let s = rollout(&d2, &[rs("web-1", 0, 1, 1)], Some(0), at(2));
    assert!(get(&s, REPLICA_FAILURE).is_none());
}

#[test]
fn set_keeps_transition_time_when_only_the_reason_changes() {
    let mut s = DeploymentStatus::default();
    set(
        &mut s,
        condition(PROGRESSING, "True", NEW_RS_CREATED, "a", at(0)),
    );
    set(
        &mut s,
        condition(PROGRESSING, "True", NEW_RS_CREATED, "b", at(5)),
    );
    assert_eq!(get(&s, PROGRESSING).unwrap().message.as_deref(), Some("a"));
    set(
        &mut s,
        condition(PROGRESSING, "True", FOUND_NEW_RS, "c", at(7)),
    );
    let c = get(&s, PROGRESSING).unwrap();
    assert_eq!(c.last_transition_time.as_ref().map(millis), Some(at(0)));
    assert_eq!(c.last_update_time.as_ref().map(millis), Some(at(7)));
    set(
        &mut s,
        condition(PROGRESSING, "False", TIMED_OUT, "d", at(9)),
    );
    let c = get(&s, PROGRESSING).unwrap();
    assert_eq!(c.last_transition_time.as_ref().map(millis), Some(at(9)));
    remove(&mut s, PROGRESSING);
    assert!(s.conditions.is_none());
}
