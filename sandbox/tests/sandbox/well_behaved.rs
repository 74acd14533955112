//! A module that does its job: describe/init, the initial list, changes, writes through the
//! API, timers, scratch, logs, health; loading and unloading.

use std::time::Duration;

use kmicro_sandbox::{Artifact, LogSource, Phase, PolicyRule, SandboxError, Target};
use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_follows_its_watch_and_writes_through_the_api() {
    let (api, sandbox) = sandbox();
    api.put_configmap("default", "a", source(), json!({"value": "1"}));
    api.put_configmap("default", "b", source(), json!({"value": "2"}));
    api.put_configmap("default", "unlabelled", json!({}), json!({"value": "x"}));
    api.put_configmap("other", "elsewhere", source(), json!({"value": "x"}));

    let status = sandbox
        .load(mirror_spec("mirror", "default"))
        .await
        .unwrap();
    assert_eq!(status.phase, Phase::Running);
    assert_eq!(status.version, "mirror-1");
    assert_eq!(status.generation, 1);
    assert!(
        status.digest.starts_with("sha256:") && status.digest.len() == 71,
        "{}",
        status.digest
    );
    assert_eq!(status.permissions.len(), 1);
    assert_eq!(status.permissions[0].resources, ["configmaps"]);
    assert!(status.memory_bytes > 0);

    // The initial list, then `synced`: the view holds exactly the two sources.
    mirror_converges(&api, "default").await;
    assert_eq!(view(&api, "default").unwrap()["synced"], "true");
    assert_eq!(view_objects(&api, "default").unwrap().len(), 2);

    // Changes after the list.
    api.put_configmap("default", "c", source(), json!({"value": "3"}));
    api.put_configmap("default", "a", source(), json!({"value": "1b"}));
    assert!(api.delete_configmap("default", "b"));
    mirror_converges(&api, "default").await;
    assert_eq!(
        view_objects(&api, "default")
            .unwrap()
            .get("a")
            .map(String::as_str),
        Some("1b")
    );

    // Writes carry the module's name as field manager when it gives none.
    assert!(api.managers.lock().unwrap().iter().all(|m| m == "mirror"));

    // Timers fire again and again (the module re-arms `tick` every 50 ms).
    let ticks = view_counter(&api, "default", "ticks");
    eventually("more ticks", Duration::from_secs(5), || {
        (view_counter(&api, "default", "ticks") >= ticks + 3).then_some(())
    })
    .await;

    // Health is asked from time to time.
    let health = eventually("a health report", Duration::from_secs(5), || {
        sandbox.status("mirror").unwrap().health
    })
    .await;
    assert!(health.ready, "{health:?}");
    assert_eq!(health.message, "mirroring");

    // Its log: the `log` import, stdout and stderr, and the sandbox's own lines.
    let lines = log_lines(&sandbox, "mirror");
    let find = |text: &str| {
        lines
            .iter()
            .find(|l| l.message.contains(text))
            .unwrap_or_else(|| panic!("no {text:?} in {lines:#?}"))
    };
    assert_eq!(
        find("init #1 in namespace default").source,
        LogSource::Module
    );
    assert_eq!(find("hello from stdout").source, LogSource::Stdout);
    assert_eq!(find("hello from stderr").source, LogSource::Stderr);
    assert_eq!(find("started (version mirror-1)").source, LogSource::Host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_new_lines() {
    let (api, sandbox) = sandbox();
    sandbox
        .load(mirror_spec("mirror", "default"))
        .await
        .unwrap();
    let (_, mut follow) = sandbox.logs("mirror").unwrap();
    api.put_configmap("default", "crash-me", source(), json!({"value": "x"}));
    let line = within("a followed line", Duration::from_secs(10), async {
        loop {
            let line = follow.recv().await.unwrap();
            if line.message.contains("restarting in") {
                return line;
            }
        }
    })
    .await;
    assert_eq!(line.source, LogSource::Host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scratch_and_timers_outlive_a_crash() {
    let (api, sandbox) = sandbox();
    sandbox
        .load(mirror_spec("mirror", "default"))
        .await
        .unwrap();
    mirror_converges(&api, "default").await;
    assert_eq!(view_counter(&api, "default", "inits"), 1);

    // `crash-me` makes the mirror panic once; it remembers that in scratch.
    api.put_configmap("default", "crash-me", source(), json!({"value": "boom"}));
    let status = eventually("a restart", Duration::from_secs(10), || {
        let s = sandbox.status("mirror").unwrap();
        (s.restarts >= 1 && s.phase == Phase::Running).then_some(s)
    })
    .await;
    let error = status.last_error.unwrap();
    assert!(error.starts_with("handle-events: trap:"), "{error}");
    assert!(
        logged(&sandbox, "mirror", "crash-me seen: crashing once"),
        "the panic message reaches the log through stderr"
    );

    // The new instance listed again (crash-me included, no second crash: scratch kept the
    // flag) and counted a second init in the same scratch.
    mirror_converges(&api, "default").await;
    eventually("inits = 2 in the view", Duration::from_secs(5), || {
        (view_counter(&api, "default", "inits") == 2).then_some(())
    })
    .await;
    assert_eq!(sandbox.status("mirror").unwrap().restarts, 1);
    // Ticks counted before the crash are still there and keep growing.
    let ticks = view_counter(&api, "default", "ticks");
    eventually("ticks after the restart", Duration::from_secs(5), || {
        (view_counter(&api, "default", "ticks") > ticks).then_some(())
    })
    .await;
    // Only the new instance's watch is open.
    eventually("one live watch", Duration::from_secs(5), || {
        (api.live_watches() == 1).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_too_far_behind_lists_again() {
    let (api, sandbox) = sandbox();
    api.put_configmap("default", "a", source(), json!({"value": "1"}));
    sandbox
        .load(mirror_spec("mirror", "default"))
        .await
        .unwrap();
    mirror_converges(&api, "default").await;
    let lists = api.lists_of("mirror");
    // Changes the watch never sees, then a broken stream and a history too short to watch
    // from where it was: the sandbox gets a 410, lists again and delivers the difference.
    api.unseen(|api| {
        api.put_configmap("default", "b", source(), json!({"value": "2"}));
        assert!(api.delete_configmap("default", "a"));
    });
    api.compact_and_break_watches();
    mirror_converges(&api, "default").await;
    assert_eq!(api.lists_of("mirror"), lists + 1);
    assert_eq!(
        view_objects(&api, "default")
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["b"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_precompiled_artifact_loads_without_compiling() {
    let (api, sandbox) = sandbox();
    let mut spec = mirror_spec("mirror", "default");
    spec.artifact = Artifact::Precompiled(precompiled("mirror"));
    let status = sandbox.load(spec).await.unwrap();
    assert_eq!(status.phase, Phase::Running);
    mirror_alive(&api, "default", "precompiled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_refuses_what_cannot_run() {
    let (_api, sandbox) = sandbox();
    let config = json!({});

    let err = sandbox
        .load(spec(
            "cmd",
            Artifact::Wasm(wasm("not-a-module")),
            config.clone(),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SandboxError::Start { stage: "link", .. }),
        "{err}"
    );

    let err = sandbox
        .load(spec(
            "junk",
            Artifact::Wasm(b"\0asm junk".to_vec().into()),
            config.clone(),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::Compile { .. }), "{err}");

    let foreign = kmicro_sandbox::precompile(&wasm("mirror"), &Target::pulley64()).unwrap();
    let foreign: &'static [u8] = Box::leak(foreign.into_boxed_slice());
    let err = sandbox
        .load(spec(
            "foreign",
            Artifact::Precompiled(foreign),
            config.clone(),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::Deserialize { .. }), "{err}");
    let err = sandbox
        .load(spec(
            "raw",
            Artifact::Precompiled(b"\0asm\x0d\0\x01\0"),
            config.clone(),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::Deserialize { .. }), "{err}");

    let err = sandbox
        .load(spec(
            "Not_A_Label",
            Artifact::Wasm(wasm("mirror")),
            config.clone(),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::InvalidName(_)), "{err}");
    let mut bad_config = mirror_spec("mirror", "default");
    bad_config.config = "{oops".into();
    assert!(matches!(
        sandbox.load(bad_config).await.unwrap_err(),
        SandboxError::InvalidConfig { .. }
    ));

    sandbox
        .load(mirror_spec("mirror", "default"))
        .await
        .unwrap();
    let err = sandbox
        .load(mirror_spec("mirror", "default"))
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::AlreadyLoaded(_)), "{err}");
    assert_eq!(sandbox.list().len(), 1, "nothing refused was kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_narrows_the_manifest() {
    let (api, sandbox) = sandbox();
    let mut spec = mirror_spec("mirror", "default");
    // The mirror declares get/list/watch/create/update; without create and update it
    // cannot write its view.
    spec.permissions = Some(vec![PolicyRule {
        api_groups: vec![String::new()],
        resources: vec!["configmaps".into()],
        verbs: vec!["get".into(), "list".into(), "watch".into()],
    }]);
    let status = sandbox.load(spec).await.unwrap();
    assert_eq!(status.granted.as_ref().map(Vec::len), Some(1));
    let status = eventually(
        "the mirror to fail writing its view",
        Duration::from_secs(10),
        || {
            let s = sandbox.status("mirror").unwrap();
            s.last_error.is_some().then_some(s)
        },
    )
    .await;
    let error = status.last_error.unwrap();
    assert!(
        error.contains("403") && error.contains("not granted to the module by its operator"),
        "{error}"
    );
    assert!(view(&api, "default").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unload_stops_the_module_and_its_watches() {
    let (api, sandbox) = sandbox();
    sandbox
        .load(mirror_spec("mirror", "default"))
        .await
        .unwrap();
    mirror_converges(&api, "default").await;
    assert_eq!(api.live_watches(), 1);
    sandbox.unload("mirror").await.unwrap();
    assert!(matches!(
        sandbox.status("mirror"),
        Err(SandboxError::NotFound(_))
    ));
    assert!(matches!(
        sandbox.unload("mirror").await,
        Err(SandboxError::NotFound(_))
    ));
    eventually("no live watch", Duration::from_secs(5), || {
        (api.live_watches() == 0).then_some(())
    })
    .await;
    let calls = api.calls_of("mirror");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        api.calls_of("mirror"),
        calls,
        "an unloaded module makes no more calls"
    );
    // The name is free again.
    sandbox
        .load(mirror_spec("mirror", "default"))
        .await
        .unwrap();
}
