use super::*;
use crate::deployment::util::{DESIRED_REPLICAS, MAX_REPLICAS, resolve_fenceposts};
use crate::workload::testing::{at, time};
use kmicro_module_sdk::k8s_openapi::api::apps::v1::{
    DeploymentSpec, DeploymentStrategy, ReplicaSetSpec, ReplicaSetStatus, RollingUpdateDeployment,
};
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

fn ios(s: &str) -> IntOrString {
    match s.parse() {
        Ok(n) => IntOrString::Int(n),
        Err(_) => IntOrString::String(s.to_string()),
    }
}

pub(crate) fn deployment(replicas: i32, surge: &str, unavailable: &str) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("ns".into()),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(ios(surge)),
                    max_unavailable: Some(ios(unavailable)),
                }),
            }),
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

pub(crate) fn recreate(replicas: i32) -> Deployment {
    let mut d = deployment(replicas, "0", "1");
    d.spec.as_mut().unwrap().strategy = Some(DeploymentStrategy {
        type_: Some("Recreate".into()),
        rolling_update: None,
    });
    d
}

pub(crate) fn rs(name: &str, created: u64, replicas: i32, available: i32) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            creation_timestamp: Some(time(at(created))),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            ..ReplicaSetSpec::default()
        }),
        status: Some(ReplicaSetStatus {
            replicas: available,
            available_replicas: Some(available),
            ready_replicas: Some(available),
            ..ReplicaSetStatus::default()
        }),
    }
}

fn annotated(mut set: ReplicaSet, desired: i32, max: i32) -> ReplicaSet {
    let a = set
        .metadata
        .annotations
        .get_or_insert_with(Default::default);
    a.insert(DESIRED_REPLICAS.into(), desired.to_string());
    a.insert(MAX_REPLICAS.into(), max.to_string());
    set
}

fn apply(sets: &mut [ReplicaSet], resizes: &[Resize]) {
    for r in resizes {
        sets[r.index].spec.as_mut().unwrap().replicas = Some(r.to);
        // Scaling down removes unavailable pods first.
        let status = sets[r.index].status.as_mut().unwrap();
        let available = status.available_replicas.unwrap_or(0).min(r.to);
        status.available_replicas = Some(available);
    }
}

#[test]
fn fenceposts_round_as_kube() {
    let p = |s: &str| IntOrString::String(s.into());
    assert_eq!(
        resolve_fenceposts(Some(&p("25%")), Some(&p("25%")), 10),
        Ok((3, 2))
    );
    assert_eq!(
        resolve_fenceposts(Some(&p("25%")), Some(&p("25%")), 1),
        Ok((1, 0))
    );
    assert_eq!(
        resolve_fenceposts(Some(&p("0%")), Some(&p("10%")), 5),
        Ok((0, 1))
    );
    assert_eq!(resolve_fenceposts(None, None, 5), Ok((0, 1)));
    assert_eq!(
        resolve_fenceposts(Some(&IntOrString::Int(2)), Some(&p("50%")), 5),
        Ok((2, 2))
    );
    assert_eq!(max_unavailable(&deployment(3, "0", "5")), 3);
    assert_eq!(max_unavailable(&deployment(0, "1", "1")), 0);
    assert_eq!(max_surge(&recreate(3)), 0);
    assert_eq!(max_unavailable(&recreate(3)), 0);
}

/// Rolls `old` pods over to a new ReplicaSet step by step, pods becoming available between
/// steps, checking kube's two promises at every step.
fn roll(desired: i32, surge: &str, unavailable: &str) -> usize {
    let d = deployment(desired, surge, unavailable);
    let (max_surge, max_unavailable) = (max_surge(&d), max_unavailable(&d));
    let mut sets = vec![rs("old", 0, desired, desired), rs("new", 10, 0, 0)];
    let all: Vec<&ReplicaSet> = sets.iter().collect();
    let first = new_rs_new_replicas(&d, &all, &sets[1]);
    apply(
        &mut sets,
        &[Resize {
            index: 1,
            to: first,
        }],
    );
    for step in 0..200 {
        let total: i32 = sets.iter().map(rs_replicas).sum();
        assert!(
            total <= desired + max_surge,
            "{desired}/{surge}/{unavailable}: {total} pods at step {step}"
        );
        let available: i32 = sets.iter().map(rs_available).sum();
        assert!(
            available >= desired - max_unavailable || step == 0,
            "{desired}/{surge}/{unavailable}: {available} available at step {step}"
        );
        // Pods start and become available.
        for set in sets.iter_mut() {
            let n = rs_replicas(set);
            let status = set.status.as_mut().unwrap();
            status.available_replicas = Some(n);
            status.replicas = n;
        }
        let resizes = match scale_new(&d, &sets, 1) {
            Some(r) => vec![r],
            None => scale_old(&d, &sets, Some(1)),
        };
        if resizes.is_empty() {
            assert_eq!(rs_replicas(&sets[1]), desired);
            assert_eq!(rs_replicas(&sets[0]), 0);
            return step;
        }
        apply(&mut sets, &resizes);
        let available: i32 = sets.iter().map(rs_available).sum();
        assert!(
            available >= desired - max_unavailable,
            "{desired}/{surge}/{unavailable}: scaled down to {available} available"
        );
    }
    panic!("{desired}/{surge}/{unavailable}: the rollout never finished");
}

#[test]
fn rolling_updates_respect_surge_and_unavailability() {
    let values = ["0", "1", "2", "25%", "50%", "100%", "0%", "10%"];
    for desired in [1, 2, 3, 5, 10, 17] {
        for surge in values {
            for unavailable in values {
                roll(desired, surge, unavailable);
            }
        }
    }
}

#[test]
fn rolling_update_steps_match_kube() {
    // 10 replicas, 25%/25%: surge 3, unavailable 2 → the new RS starts at 3.
    let d = deployment(10, "25%", "25%");
    let sets = [rs("old", 0, 10, 10), rs("new", 10, 0, 0)];
    let all: Vec<&ReplicaSet> = sets.iter().collect();
    assert_eq!(new_rs_new_replicas(&d, &all, &sets[1]), 3);
    // With 3 new not yet available: old may drop by 13 - 8 - 3 = 2.
    let sets = [rs("old", 0, 10, 10), rs("new", 10, 3, 0)];
    assert_eq!(scale_new(&d, &sets, 1), None);
    assert_eq!(
        scale_old(&d, &sets, Some(1)),
        vec![Resize { index: 0, to: 8 }]
    );
    // Max surge 0, unavailable 1: one at a time, scale-down first.
    let d = deployment(3, "0", "1");
    let sets = [rs("old", 0, 3, 3), rs("new", 10, 0, 0)];
    assert_eq!(scale_new(&d, &sets, 1), None);
    assert_eq!(
        scale_old(&d, &sets, Some(1)),
        vec![Resize { index: 0, to: 2 }]
    );
    // An over-sized new ReplicaSet shrinks to the desired count.
    let sets = [rs("new", 10, 5, 5)];
    assert_eq!(scale_new(&d, &sets, 0), Some(Resize { index: 0, to: 3 }));
}

#[test]
fn unhealthy_old_replicas_go_first() {
    // Two old generations: the oldest has 2 unavailable pods.
    let d = deployment(4, "1", "0");
    let sets = [rs("v1", 0, 2, 0), rs("v2", 5, 3, 3), rs("v3", 10, 0, 0)];
    // all 5, min available 4, new unavailable 0 → may scale down 1: an unhealthy v1 pod.
    assert_eq!(
        scale_old(&d, &sets, Some(2)),
        vec![Resize { index: 0, to: 1 }]
    );
    let d = deployment(4, "1", "2");
    // may scale down 3: both unhealthy v1 pods, then 1 available v2 pod (3 available > 2).
    assert_eq!(
        scale_old(&d, &sets, Some(2)),
        vec![Resize { index: 0, to: 0 }, Resize { index: 1, to: 2 }]
    );
}

#[test]
fn recreate_scales_every_old_set_to_zero() {
    let sets = [rs("a", 0, 2, 2), rs("b", 1, 0, 0), rs("c", 2, 1, 0)];
    assert_eq!(
        recreate_scale_down(&sets, Some(1)),
        vec![Resize { index: 0, to: 0 }, Resize { index: 2, to: 0 }]
    );
    let all: Vec<&ReplicaSet> = sets.iter().collect();
    assert_eq!(new_rs_new_replicas(&recreate(5), &all, &sets[1]), 5);
}

#[test]
fn scaling_a_single_active_set_takes_all() {
    let d = deployment(5, "25%", "25%");
    let sets = [rs("old", 0, 0, 0), rs("new", 5, 3, 3)];
    assert_eq!(scale(&d, &sets, Some(1)), vec![Resize { index: 1, to: 5 }]);
    // No active set: the new one (or the newest old one).
    let sets = [rs("newer", 5, 0, 0), rs("older", 0, 0, 0)];
    assert_eq!(scale(&d, &sets, None), vec![Resize { index: 0, to: 5 }]);
    let idle = [rs("a", 0, 5, 5)];
    assert!(scale(&d, &idle, Some(0)).is_empty());
}

#[test]
fn scaling_mid_rollout_is_proportional() {
    // Was 10 replicas + 3 surge = 13: old 8, new 5. Now 20 (+ 5 surge = 25)... with an
    // integer surge of 3 the new maximum is 23.
    let mut d = deployment(20, "3", "2");
    let sets = [
        annotated(rs("old", 0, 8, 8), 10, 13),
        annotated(rs("new", 10, 5, 0), 10, 13),
    ];
    assert!(is_scaling_event(&d, &sets));
    let mut got = scale(&d, &sets, Some(1));
    got.sort_by_key(|r| r.index);
    assert_eq!(
        got,
        vec![Resize { index: 0, to: 14 }, Resize { index: 1, to: 9 }]
    );
    // And back down to 10 (max 13) from old 14, new 9 (annotated max 23).
    d.spec.as_mut().unwrap().replicas = Some(10);
    let sets = [
        annotated(rs("old", 0, 14, 14), 20, 23),
        annotated(rs("new", 10, 9, 0), 20, 23),
    ];
    let mut got = scale(&d, &sets, Some(1));
    got.sort_by_key(|r| r.index);
    assert_eq!(
        got,
        vec![Resize { index: 0, to: 8 }, Resize { index: 1, to: 5 }]
    );
    // Scaling to zero takes everything away.
    d.spec.as_mut().unwrap().replicas = Some(0);
    let mut got = scale(&d, &sets, Some(1));
    got.sort_by_key(|r| r.index);
    assert_eq!(
        got,
        vec![Resize { index: 0, to: 0 }, Resize { index: 1, to: 0 }]
    );
}

#[test]
fn leftovers_go_to_the_largest_set() {
    // 3 equal sets of 1 (annotated max 3) growing to 4 + 0 surge: fractions round to 0.
    let d = deployment(4, "0", "1");
    let sets = [
        annotated(rs("a", 0, 1, 1), 3, 3),
        annotated(rs("b", 1, 1, 1), 3, 3),
        annotated(rs("c", 2, 1, 1), 3, 3),
    ];
    let got = scale(&d, &sets, None);
    let total: i32 = got.iter().map(|r| r.to).sum();
    assert_eq!(total, 4);
    // Growing: among equals the newest gets the leftover.
    assert!(got.contains(&Resize { index: 2, to: 2 }), "{got:?}");
}

#[test]
fn saturated_new_set_scales_old_ones_away() {
    let d = deployment(3, "1", "0");
    let sets = [rs("old", 0, 2, 2), annotated(rs("new", 10, 3, 3), 3, 4)];
    assert_eq!(scale(&d, &sets, Some(1)), vec![Resize { index: 0, to: 0 }]);
    assert!(!is_scaling_event(&d, &sets));
}

#[test]
fn history_beyond_the_limit_is_deleted_oldest_revision_first() {
    use crate::deployment::util::REVISION;
    let mut d = deployment(1, "1", "0");
    d.spec.as_mut().unwrap().revision_history_limit = Some(1);
    let revised = |name: &str, rev: i64, replicas: i32| {
        let mut set = rs(name, 0, replicas, replicas);
        set.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(REVISION.into(), rev.to_string());
        set
    };
    let sets = [
        revised("r3", 3, 0),
        revised("r1", 1, 0),
        revised("r2", 2, 1),
        revised("r4", 4, 0),
        revised("r5", 5, 1),
    ];
    // Four old sets, limit 1: the three lowest revisions, but r2 still has a pod.
    assert_eq!(history_to_delete(&d, &sets, Some(4)), vec![1, 0]);
    d.spec.as_mut().unwrap().revision_history_limit = None;
    assert!(history_to_delete(&d, &sets, Some(4)).is_empty());
}

#[test]
fn rollback_keeps_revision_history() {
    use crate::deployment::util::{REVISION, REVISION_HISTORY, revision, set_new_rs_annotations};
    let mut d = deployment(2, "1", "0");
    d.metadata.annotations = Some(
        [
            ("kubernetes.io/change-cause".to_string(), "undo".to_string()),
            (REVISION.to_string(), "3".to_string()),
        ]
        .into(),
    );
    let mut old = rs("web-a", 0, 0, 0);
    old.metadata.annotations = Some([(REVISION.to_string(), "1".to_string())].into());
    // Rolling back to revision 1 when the highest other revision is 3.
    assert!(set_new_rs_annotations(&d, &mut old, 4, true));
    assert_eq!(revision(&old), 4);
    let a = old.metadata.annotations.as_ref().unwrap();
    assert_eq!(a.get(REVISION_HISTORY).map(String::as_str), Some("1"));
    assert_eq!(
        a.get("kubernetes.io/change-cause").map(String::as_str),
        Some("undo")
    );
    assert!(
        !a.contains_key(DESIRED_REPLICAS),
        "existing sets keep their replica annotations"
    );
    // And again later: the history grows.
    assert!(set_new_rs_annotations(&d, &mut old, 6, true));
    assert_eq!(
        old.metadata
            .annotations
            .as_ref()
            .unwrap()
            .get(REVISION_HISTORY)
            .map(String::as_str),
        Some("1,4")
    );
    // Nothing changes when it already has the revision.
    assert!(!set_new_rs_annotations(&d, &mut old, 6, true));
    // A set about to be created gets the replica annotations.
    let mut fresh = rs("web-b", 0, 0, 0);
    assert!(set_new_rs_annotations(&d, &mut fresh, 7, false));
    let a = fresh.metadata.annotations.as_ref().unwrap();
    assert_eq!(a.get(DESIRED_REPLICAS).map(String::as_str), Some("2"));
    assert_eq!(a.get(MAX_REPLICAS).map(String::as_str), Some("3"));
    assert!(!a.contains_key(REVISION_HISTORY));
}

#[test]
fn the_new_set_is_the_oldest_with_the_template_ignoring_the_hash() {
    use crate::deployment::util::{POD_TEMPLATE_HASH, find_new};
    use kmicro_module_sdk::k8s_openapi::api::core::v1::PodTemplateSpec;
    let template = |image: &str, hash: Option<&str>| -> PodTemplateSpec {
        let mut labels = serde_json::json!({"app": "web"});
        if let Some(h) = hash {
            labels[POD_TEMPLATE_HASH] = h.into();
        }
        serde_json::from_value(serde_json::json!({
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "c", "image": image}]}
        }))
        .unwrap()
    };
    use kmicro_module_sdk::serde_json;
    let mut d = deployment(1, "1", "0");
    d.spec.as_mut().unwrap().template = template("nginx:2", None);
    let with = |mut set: ReplicaSet, t: PodTemplateSpec| {
        set.spec.as_mut().unwrap().template = Some(t);
        set
    };
    let sets = [
        with(rs("a", 0, 1, 1), template("nginx:1", Some("h1"))),
        with(rs("c", 20, 0, 0), template("nginx:2", Some("h3"))),
        with(rs("b", 10, 0, 0), template("nginx:2", Some("h2"))),
    ];
    assert_eq!(find_new(&d, &sets), Some(2));
    assert_eq!(find_new(&d, &sets[..1]), None);
}
