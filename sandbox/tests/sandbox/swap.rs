//! Hot swap: no event lost while objects change, failed new versions leave the old one
//! running, and the pause.

use std::time::Duration;

use kmicro_sandbox::{Artifact, Limits, Phase, SandboxError};
use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_swaps_while_objects_change_lose_no_event() {
    let (api, sandbox) = sandbox();
    for i in 0..10 {
        api.put_configmap("default", &format!("o{i}"), source(), json!({"value": "0"}));
    }
    sandbox
        .load(mirror_spec("mirror", "default"))
        .await
        .unwrap();
    mirror_converges(&api, "default").await;

    let writer = {
        let api = api.clone();
        tokio::spawn(async move {
            // Creates, updates and deletes over 20 names, interleaved with the swaps.
            for step in 0..400u32 {
                let name = format!("o{}", (step * 7) % 20);
                if step % 5 == 4 {
                    api.delete_configmap("default", &name);
                } else {
                    api.put_configmap(
                        "default",
                        &name,
                        source(),
                        json!({"value": step.to_string()}),
                    );
                }
                if step % 4 == 0 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        })
    };
    let mut generation = 1;
    for i in 0..5 {
        let artifact = if i % 2 == 0 {
            Artifact::Wasm(wasm("mirror"))
        } else {
            Artifact::Precompiled(precompiled("mirror"))
        };
        let report = sandbox.swap("mirror", artifact).await.unwrap();
        generation += 1;
        assert_eq!(report.generation, generation);
        assert_eq!(report.version, "mirror-1");
    }
    writer.await.unwrap();
    // Every change, including those racing the swaps, reached the last instance.
    mirror_converges(&api, "default").await;

    let status = sandbox.status("mirror").unwrap();
    assert_eq!(
        (status.phase, status.generation, status.restarts),
        (Phase::Running, 6, 0)
    );
    // Scratch carried over: six instances counted their inits in it.
    eventually("inits = 6", Duration::from_secs(5), || {
        (view_counter(&api, "default", "inits") == 6).then_some(())
    })
    .await;
    // The old instances' watches are gone.
    eventually("one live watch", Duration::from_secs(5), || {
        (api.live_watches() == 1).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_that_does_not_instantiate_leaves_the_old_running() {
    let (api, sandbox) = sandbox();
    sandbox
        .load(mirror_spec("mirror", "default"))
        .await
        .unwrap();
    mirror_converges(&api, "default").await;
    let before = sandbox.status("mirror").unwrap();

    let err = sandbox
        .swap("mirror", Artifact::Wasm(wasm("not-a-module")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SandboxError::Start { stage: "link", .. }),
        "{err}"
    );
    let err = sandbox
        .swap("mirror", Artifact::Wasm(b"garbage".to_vec().into()))
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::Compile { .. }), "{err}");
    assert!(matches!(
        sandbox.swap("nobody", Artifact::Wasm(wasm("mirror"))).await,
        Err(SandboxError::NotFound(_))
    ));

    let after = sandbox.status("mirror").unwrap();
    assert_eq!(
        (after.phase, after.generation, &after.digest),
        (Phase::Running, before.generation, &before.digest)
    );
    assert!(logged(&sandbox, "mirror", "swap refused"));
    mirror_alive(&api, "default", "after-failed-swaps").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_that_traps_in_init_leaves_the_old_running() {
    let (_api, sandbox) = sandbox();
    let spec = spec(
        "hostile",
        Artifact::Wasm(wasm("hostile")),
        json!({"mode": "reinit-traps"}),
    );
    sandbox.load(spec).await.unwrap();
    wait_logged(&sandbox, "hostile", "tick 3").await;

    let err = sandbox
        .swap("hostile", Artifact::Wasm(wasm("hostile")))
        .await
        .unwrap_err();
    match &err {
        SandboxError::Start {
            stage: "init",
            message,
            ..
        } => assert!(message.starts_with("trap:"), "{message}"),
        other => panic!("{other}"),
    }
    let status = sandbox.status("hostile").unwrap();
    assert_eq!(
        (status.phase, status.generation, status.restarts),
        (Phase::Running, 1, 0)
    );
    // The old instance keeps ticking.
    let ticks = |s: &kmicro_sandbox::Sandbox| {
        log_lines(s, "hostile")
            .iter()
            .filter(|l| l.message.starts_with("tick "))
            .count()
    };
    let seen = ticks(&sandbox);
    eventually(
        "more ticks after the failed swap",
        Duration::from_secs(5),
        || (ticks(&sandbox) > seen + 2).then_some(()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_brings_a_backing_off_module_back() {
    let (_api, sandbox) = sandbox();
    let mut spec = spec(
        "hostile",
        Artifact::Wasm(wasm("hostile")),
        json!({"mode": "spin-init"}),
    );
    spec.limits = Limits {
        deadline: Duration::from_millis(100),
        ..Limits::default()
    };
    assert_eq!(sandbox.load(spec).await.unwrap().phase, Phase::BackOff);
    // The same config spins again: the swap fails and the module keeps backing off.
    let err = sandbox
        .swap("hostile", Artifact::Wasm(wasm("hostile")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CPU deadline exceeded"), "{err}");
    assert_ne!(sandbox.status("hostile").unwrap().phase, Phase::Running);
}

/// Swap pause and preparation times over 50 swaps of the mirror from a precompiled
/// artifact, while it follows a watch. Prints median and p99 (run with `--nocapture`,
/// in release for meaningful figures).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swap_pause_figures() {
    let (api, sandbox) = sandbox();
    for i in 0..50 {
        api.put_configmap("default", &format!("o{i}"), source(), json!({"value": "0"}));
    }
    sandbox
        .load(mirror_spec("mirror", "default"))
        .await
        .unwrap();
    mirror_converges(&api, "default").await;
    let artifact = precompiled("mirror");
    let mut pauses = Vec::new();
    let mut prepares = Vec::new();
    for i in 0..50 {
        api.put_configmap(
            "default",
            &format!("o{}", i % 50),
            source(),
            json!({"value": i.to_string()}),
        );
        let report = sandbox
            .swap("mirror", Artifact::Precompiled(artifact))
            .await
            .unwrap();
        pauses.push(report.pause);
        prepares.push(report.prepare);
    }
    mirror_converges(&api, "default").await;
    pauses.sort();
    prepares.sort();
    let pct = |v: &[Duration], p: usize| v[(v.len() * p / 100).min(v.len() - 1)];
    println!(
        "swap of the mirror ({} bytes precompiled), 50 swaps: pause median {:?} p99 {:?}; prepare (instantiate + describe + init + list of 50) median {:?} p99 {:?}",
        artifact.len(),
        pct(&pauses, 50),
        pct(&pauses, 99),
        pct(&prepares, 50),
        pct(&prepares, 99),
    );
    assert!(
        pct(&pauses, 50) < Duration::from_millis(10),
        "pause median {:?}",
        pct(&pauses, 50)
    );
}

/// The host-call budget is the module's, shared by the old and new version during a swap;
/// registering watches does not take from it (the watch limit bounds them), so a new
/// version's `init` succeeds beside an old version that spent the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_lands_while_the_old_version_has_spent_its_call_budget() {
    let (api, sandbox) = sandbox();
    for i in 0..20 {
        api.put_configmap("default", &format!("o{i}"), source(), json!({"value": "0"}));
    }
    let mut spec = mirror_spec("mirror", "default");
    spec.limits = Limits {
        host_calls_per_second: 1,
        host_call_burst: 1,
        ..Limits::default()
    };
    sandbox.load(spec).await.unwrap();
    // The mirror's writes for 20 objects spend the single token and then get 429s.
    eventually(
        "the old version out of host calls",
        Duration::from_secs(10),
        || {
            log_lines(&sandbox, "mirror")
                .iter()
                .any(|l| l.message.contains("429"))
                .then_some(())
        },
    )
    .await;
    let report = sandbox
        .swap("mirror", Artifact::Precompiled(precompiled("mirror")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.generation, 2);
}
