use super::*;
use crate::workload::testing::{at, pod};

fn spec(replicas: i32, parallel: bool) -> Spec<'static> {
    Spec {
        start: 0,
        replicas,
        parallel,
        min_ready_seconds: 0,
        rolling: true,
        partition: Some(0),
        current_replicas: 0,
        current_revision: "web-old",
        update_revision: "web-new",
    }
}

fn ready(ordinal: i32, revision: &str) -> Pod {
    pod(&format!("web-{ordinal}"))
        .label(REVISION_HASH_LABEL, revision)
        .running_ready(at(0))
        .build()
}

fn pending(ordinal: i32, revision: &str) -> Pod {
    pod(&format!("web-{ordinal}"))
        .label(REVISION_HASH_LABEL, revision)
        .phase("Pending")
        .build()
}

fn members(pods: &[Pod]) -> Vec<(i32, &Pod)> {
    pods.iter()
        .map(|p| {
            (
                super::super::identity::parent_and_ordinal(p.name_any())
                    .unwrap()
                    .1,
                p,
            )
        })
        .collect()
}

fn run(spec: &Spec, pods: &[Pod]) -> Vec<Step> {
    plan(spec, &members(pods), |_| false, at(100))
}

fn create(ordinal: i32) -> Step {
    Step::Create {
        ordinal,
        revision: Revision::Update,
    }
}

#[test]
fn ordered_ready_creates_one_pod_at_a_time() {
    let s = spec(3, false);
    assert_eq!(run(&s, &[]), [create(0)]);
    assert_eq!(
        run(&s, &[pending(0, "web-new")]),
        [Step::CreateClaims { ordinal: 0 }]
    );
    assert_eq!(run(&s, &[ready(0, "web-new")]), [create(1)]);
    assert_eq!(
        run(&s, &[ready(0, "web-new"), ready(1, "web-new")]),
        [create(2)]
    );
    // A gap is filled before anything above it waits.
    assert_eq!(
        run(&s, &[ready(0, "web-new"), ready(2, "web-new")]),
        [create(1)]
    );
    let all = [
        ready(0, "web-new"),
        ready(1, "web-new"),
        ready(2, "web-new"),
    ];
    assert!(run(&s, &all).is_empty());
}

#[test]
fn ordered_ready_waits_for_min_ready_seconds() {
    let mut s = spec(2, false);
    s.min_ready_seconds = 200;
    assert!(run(&s, &[ready(0, "web-new")]).is_empty());
    s.min_ready_seconds = 50;
    assert_eq!(run(&s, &[ready(0, "web-new")]), [create(1)]);
}

#[test]
fn parallel_creates_every_missing_pod() {
    let s = spec(3, true);
    assert_eq!(
        run(&s, &[pending(1, "web-new")]),
        [create(0), Step::CreateClaims { ordinal: 1 }, create(2)]
    );
}

#[test]
fn scale_down_goes_from_the_highest_ordinal() {
    let s = spec(1, false);
    let pods = [
        ready(0, "web-new"),
        ready(1, "web-new"),
        ready(2, "web-new"),
    ];
    assert_eq!(
        run(&s, &pods),
        [Step::ScaleDown {
            name: "web-2".into()
        }]
    );
    // While it terminates, nothing else happens.
    let terminating = pod("web-2")
        .label(REVISION_HASH_LABEL, "web-new")
        .running_ready(at(0))
        .deleting()
        .build();
    assert!(
        run(
            &s,
            &[
                ready(0, "web-new"),
                ready(1, "web-new"),
                terminating.clone()
            ]
        )
        .is_empty()
    );
    // In parallel, all at once (terminating ones skipped).
    let p = spec(1, true);
    assert_eq!(
        run(
            &p,
            &[
                ready(0, "web-new"),
                ready(1, "web-new"),
                terminating,
                ready(3, "web-new")
            ]
        ),
        [
            Step::ScaleDown {
                name: "web-3".into()
            },
            Step::ScaleDown {
                name: "web-1".into()
            }
        ]
    );
    // Scaling to zero removes web-0 last.
    assert_eq!(
        run(&spec(0, false), &[ready(0, "web-new")]),
        [Step::ScaleDown {
            name: "web-0".into()
        }]
    );
}

#[test]
fn scale_down_waits_for_unhealthy_predecessors() {
    let s = spec(1, false);
    // web-0 not ready: OrderedReady waits on it before anything.
    assert!(
        run(&s, &[pending(0, "web-new"), ready(1, "web-new")])
            .iter()
            .all(|st| matches!(st, Step::CreateClaims { .. }))
    );
    // An unhealthy condemned pod that is the first unhealthy one may go.
    let pods = [
        ready(0, "web-new"),
        ready(1, "web-new"),
        pending(2, "web-new"),
    ];
    assert_eq!(
        run(&s, &pods),
        [Step::ScaleDown {
            name: "web-2".into()
        }]
    );
    // A healthy highest pod goes first even when a lower condemned one is unhealthy.
    let pods = [
        ready(0, "web-new"),
        pending(1, "web-new"),
        ready(2, "web-new"),
    ];
    assert_eq!(
        run(&s, &pods),
        [Step::ScaleDown {
            name: "web-2".into()
        }]
    );
    let pods = [
        ready(0, "web-new"),
        ready(1, "web-new"),
        pending(2, "web-new"),
        pending(3, "web-new"),
    ];
    // web-3 is not the first unhealthy (web-2 is): blocked.
    assert!(run(&s, &pods).is_empty());
}

#[test]
fn rolling_update_goes_down_to_the_partition_one_at_a_time() {
    let mut s = spec(3, false);
    let old = [
        ready(0, "web-old"),
        ready(1, "web-old"),
        ready(2, "web-old"),
    ];
    assert_eq!(
        run(&s, &old),
        [Step::Update {
            name: "web-2".into()
        }]
    );
    // web-2 came back at the new revision but is not ready: wait.
    let mid = [
        ready(0, "web-old"),
        ready(1, "web-old"),
        pending(2, "web-new"),
    ];
    assert_eq!(run(&s, &mid), [Step::CreateClaims { ordinal: 2 }]);
    let next = [
        ready(0, "web-old"),
        ready(1, "web-old"),
        ready(2, "web-new"),
    ];
    assert_eq!(
        run(&s, &next),
        [Step::Update {
            name: "web-1".into()
        }]
    );
    // A partition of 2 keeps web-0 and web-1 at the old revision.
    s.partition = Some(2);
    assert!(run(&s, &next).is_empty());
    // OnDelete never deletes for an update.
    let mut on_delete = spec(3, false);
    on_delete.rolling = false;
    on_delete.partition = None;
    assert!(run(&on_delete, &old).is_empty());
}

#[test]
fn new_pods_below_the_partition_use_the_current_revision() {
    let mut s = spec(3, false);
    s.partition = Some(2);
    assert_eq!(s.revision_for(0), Revision::Current);
    assert_eq!(s.revision_for(2), Revision::Update);
    s.partition = None;
    s.current_replicas = 1;
    assert_eq!(s.revision_for(0), Revision::Current);
    assert_eq!(s.revision_for(1), Revision::Update);
    s.rolling = false;
    assert_eq!(s.revision_for(0), Revision::Update);
    s.start = 5;
    s.partition = Some(1);
    assert_eq!(s.revision_for(5), Revision::Current);
    assert_eq!(s.revision_for(6), Revision::Update);
}

#[test]
fn finished_pods_are_recreated() {
    let s = spec(2, false);
    let failed = pod("web-0")
        .label(REVISION_HASH_LABEL, "web-new")
        .phase("Failed")
        .build();
    assert_eq!(
        run(&s, &[failed]),
        [Step::Recreate {
            name: "web-0".into(),
            failed: true
        }]
    );
    let done = pod("web-1")
        .label(REVISION_HASH_LABEL, "web-new")
        .phase("Succeeded")
        .build();
    assert_eq!(
        run(&s, &[ready(0, "web-new"), done]),
        [Step::Recreate {
            name: "web-1".into(),
            failed: false
        }]
    );
}

#[test]
fn identity_is_restored() {
    let s = spec(1, false);
    let pods = [ready(0, "web-new")];
    let steps = plan(&s, &members(&pods), |_| true, at(100));
    assert_eq!(
        steps,
        [Step::FixIdentity {
            name: "web-0".into()
        }]
    );
}

#[test]
fn start_ordinal_shifts_the_range() {
    let mut s = spec(2, false);
    s.start = 3;
    assert_eq!(run(&s, &[]), [create(3)]);
    let pods = [
        ready(0, "web-new"),
        ready(3, "web-new"),
        ready(4, "web-new"),
    ];
    assert_eq!(
        run(&s, &pods),
        [Step::ScaleDown {
            name: "web-0".into()
        }]
    );
}
