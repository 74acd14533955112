//! Misbehaving modules, each beside a well-behaved mirror that must keep working.

use std::time::Duration;

use kmicro_sandbox::{Artifact, Limits, ModuleStatus, Phase, Sandbox};
use serde_json::json;

use crate::common::*;
use crate::fake_api::FakeApi;

/// A sandbox with a working mirror of `default`.
async fn beside_a_mirror() -> (std::sync::Arc<FakeApi>, Sandbox) {
    let (api, sandbox) = sandbox();
    sandbox
        .load(mirror_spec("mirror", "default"))
        .await
        .unwrap();
    mirror_converges(&api, "default").await;
    (api, sandbox)
}

/// Loads the hostile module in `mode` with `limits`.
async fn load_hostile(sandbox: &Sandbox, mode: &str, limits: Limits) -> ModuleStatus {
    let mut spec = spec(
        "hostile",
        Artifact::Wasm(wasm("hostile")),
        json!({"mode": mode}),
    );
    spec.limits = limits;
    sandbox.load(spec).await.unwrap()
}

/// Limits with a short CPU deadline, so endless loops end quickly.
fn short_deadline() -> Limits {
    Limits {
        deadline: Duration::from_millis(200),
        ..Limits::default()
    }
}

/// Waits until the hostile module has been restarted `n` times and is backing off, and
/// answers its status.
async fn restarted(sandbox: &Sandbox, n: u32) -> ModuleStatus {
    eventually(&format!("{n} restarts"), Duration::from_secs(20), || {
        let s = sandbox.status("hostile").unwrap();
        (s.restarts >= n && s.phase == Phase::BackOff).then_some(s)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_in_init_hits_the_deadline_and_backs_off() {
    let (api, sandbox) = beside_a_mirror().await;
    let status = load_hostile(&sandbox, "spin-init", short_deadline()).await;
    assert_eq!(status.phase, Phase::BackOff);
    assert_eq!(
        status.last_error.as_deref(),
        Some("init: CPU deadline exceeded")
    );
    let status = restarted(&sandbox, 2).await;
    assert_eq!(
        status.last_error.as_deref(),
        Some("init: CPU deadline exceeded")
    );
    mirror_alive(&api, "default", "after-spin-init").await;
    assert!(
        logged(&sandbox, "hostile", "restarting in 200ms"),
        "back-off doubles: {:#?}",
        log_lines(&sandbox, "hostile")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_in_a_handler_restarts_the_module() {
    let (api, sandbox) = beside_a_mirror().await;
    let status = load_hostile(&sandbox, "spin-timer", short_deadline()).await;
    assert_eq!(status.phase, Phase::Running);
    let status = restarted(&sandbox, 1).await;
    assert_eq!(
        status.last_error.as_deref(),
        Some("handle-timers: CPU deadline exceeded")
    );
    mirror_alive(&api, "default", "after-spin-timer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_allocation_hits_the_memory_limit() {
    let (api, sandbox) = beside_a_mirror().await;
    let limits = Limits {
        memory_bytes: 16 << 20,
        ..Limits::default()
    };
    let status = load_hostile(&sandbox, "alloc", limits).await;
    assert!(
        status.memory_bytes > 0 && status.memory_bytes <= 16 << 20,
        "{}",
        status.memory_bytes
    );
    let status = restarted(&sandbox, 1).await;
    let error = status.last_error.unwrap();
    assert!(
        error.starts_with("handle-timers: memory limit exceeded"),
        "{error}"
    );
    assert!(error.contains("the limit is 16777216"), "{error}");
    mirror_alive(&api, "default", "after-alloc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_in_init_keeps_the_module_backing_off() {
    let (api, sandbox) = beside_a_mirror().await;
    let status = load_hostile(&sandbox, "trap-init", Limits::default()).await;
    assert_eq!(status.phase, Phase::BackOff);
    let error = status.last_error.unwrap();
    assert!(error.starts_with("init: trap:"), "{error}");
    wait_logged(&sandbox, "hostile", "trap-init: panicking as asked").await;
    restarted(&sandbox, 2).await;
    mirror_alive(&api, "default", "after-trap-init").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_from_init_is_the_last_error() {
    let (_api, sandbox) = beside_a_mirror().await;
    let status = load_hostile(&sandbox, "err-init", Limits::default()).await;
    assert_eq!(status.phase, Phase::BackOff);
    assert_eq!(status.version, "hostile-1", "what describe said is kept");
    assert_eq!(
        status.last_error.as_deref(),
        Some("init: error: err-init: refusing to start")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_outside_the_manifest_are_forbidden() {
    let (api, sandbox) = beside_a_mirror().await;
    let status = load_hostile(&sandbox, "forbidden", Limits::default()).await;
    assert_eq!(status.phase, Phase::Running);
    let calls_before = api.calls_of("hostile");
    assert_eq!(calls_before, 1, "only the allowed get reached the API");
    for expected in [
        "list secrets: 403 Forbidden secrets is forbidden: User \"system:module:hostile\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\": not in the module's manifest",
        "delete configmap: 403 Forbidden configmaps \"x\" is forbidden: User \"system:module:hostile\" cannot delete resource \"configmaps\"",
        "get pods/log: 403 Forbidden pods/log \"p\" is forbidden",
        "watch nodes: 403 Forbidden nodes is forbidden: User \"system:module:hostile\" cannot list resource \"nodes\" in API group \"\" at the cluster scope",
        "get configmap: 404 NotFound",
    ] {
        assert!(
            logged(&sandbox, "hostile", expected),
            "no {expected:?} in {:#?}",
            log_lines(&sandbox, "hostile")
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sandbox.status("hostile").unwrap().phase,
        Phase::Running,
        "a refused call does not stop the module"
    );
    mirror_alive(&api, "default", "after-forbidden").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_arguments_get_clean_errors() {
    let (api, sandbox) = beside_a_mirror().await;
    let status = load_hostile(&sandbox, "garbage", Limits::default()).await;
    assert_eq!(status.phase, Phase::Running);
    for expected in [
        "bad name: 400 BadRequest invalid object name \"../../secrets/x\"",
        "empty name: 400 BadRequest",
        "bad namespace: 400 BadRequest invalid namespace \"a/b\"",
        "bad resource: 400 BadRequest invalid resource",
        "bad subresource: 400 BadRequest invalid subresource",
        "huge body: 413 RequestEntityTooLarge",
        "invalid json: 400 BadRequest the request body is not JSON",
        "not an object: 400 BadRequest the request body is not a JSON object",
        "long field manager: 422 Invalid fieldManager",
        "bad selector: 400 BadRequest invalid labelSelector",
    ] {
        assert!(
            logged(&sandbox, "hostile", expected),
            "no {expected:?} in {:#?}",
            log_lines(&sandbox, "hostile")
        );
    }
    assert_eq!(api.calls_of("hostile"), 0, "no garbage reached the API");
    mirror_alive(&api, "default", "after-garbage").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_the_host_gets_429() {
    let (api, sandbox) = beside_a_mirror().await;
    let status = load_hostile(&sandbox, "flood", Limits::default()).await;
    assert_eq!(status.phase, Phase::Running);
    let line = log_lines(&sandbox, "hostile")
        .into_iter()
        .find(|l| l.message.starts_with("flood: "))
        .expect("the flood's count");
    let refused: u32 = line
        .message
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    // A burst of 1000, then 200/s: nearly all of the other 4000 are refused.
    assert!((3500..=4000).contains(&refused), "{}", line.message);
    assert!(
        api.calls_of("hostile") <= 1500,
        "{} calls reached the API",
        api.calls_of("hostile")
    );
    mirror_alive(&api, "default", "after-flood").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hammering_the_host_still_hits_the_deadline() {
    let (api, sandbox) = beside_a_mirror().await;
    let status = load_hostile(&sandbox, "hammer", short_deadline()).await;
    assert_eq!(status.phase, Phase::BackOff);
    assert_eq!(
        status.last_error.as_deref(),
        Some("init: CPU deadline exceeded")
    );
    mirror_alive(&api, "default", "after-hammer").await;
}
