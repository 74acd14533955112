//! A misbehaving test module. What it does wrong is chosen by its config,
//! `{"mode": "..."}`:
//!
//! - `spin-init`: loops forever in `init` (CPU deadline).
//! - `spin-timer`: initialises fine, then loops forever when its timer fires.
//! - `alloc`: allocates without bound when its timer fires (memory limit).
//! - `trap-init`: panics in `init` (a trap).
//! - `err-init`: returns an error from `init`.
//! - `forbidden`: calls outside its manifest and logs the answers, then runs normally.
//! - `garbage`: calls the API with garbage arguments and logs the answers.
//! - `flood`: calls the API 5000 times in one call and logs how many got 429.
//! - `hammer`: calls the API in an endless loop (429s, then the CPU deadline).
//! - `reinit-traps`: runs fine (a timer logs `tick N` every 20 ms), but any later instance
//!   (a restart or a swap) panics in `init`.
//!
//! Answers are logged as `<label>: <code> <reason>` (or `<label>: ok`).

use serde_json::Value;

/// The generated bindings of the `kmicro:module` world, and the export of [`Hostile`].
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../sandbox/wit",
        world: "module",
    });

    use super::Hostile;
    export!(Hostile);
}

use bindings::exports::kmicro::module::handler::Guest;
use bindings::kmicro::module::types::{
    ApiError, DeleteOptions, Descriptor, HealthReport, Level, ListOptions, PolicyRule, ResourceRef,
    WatchEvent, WriteOptions,
};
use bindings::kmicro::module::{api, clock, log, scratch};

struct Hostile;

fn res(resource: &str, namespace: Option<&str>) -> ResourceRef {
    ResourceRef {
        group: String::new(),
        version: "v1".into(),
        resource: resource.into(),
        namespace: namespace.map(String::from),
    }
}

fn no_list_options() -> ListOptions {
    ListOptions {
        label_selector: None,
        field_selector: None,
        limit: None,
        continue_token: None,
    }
}

fn write_options() -> WriteOptions {
    WriteOptions {
        dry_run: false,
        field_manager: None,
        force: false,
    }
}

fn report<T>(label: &str, answer: Result<T, ApiError>) {
    match answer {
        Ok(_) => log::log(Level::Info, &format!("{label}: ok")),
        Err(e) => log::log(
            Level::Info,
            &format!("{label}: {} {} {}", e.code, e.reason, e.message),
        ),
    }
}

fn mode() -> String {
    scratch::get("mode")
        .and_then(|m| String::from_utf8(m).ok())
        .unwrap_or_default()
}

fn spin() -> u64 {
    let mut x: u64 = 1;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        if x == 0 {
            return x;
        }
    }
}

impl Guest for Hostile {
    fn describe() -> Descriptor {
        Descriptor {
            version: "hostile-1".into(),
            permissions: vec![PolicyRule {
                api_groups: vec![String::new()],
                resources: vec!["configmaps".into()],
                verbs: ["get", "list", "watch", "create", "update"]
                    .map(String::from)
                    .to_vec(),
            }],
        }
    }

    fn init(config: String) -> Result<(), String> {
        let config: Value = serde_json::from_str(&config).map_err(|e| e.to_string())?;
        let mode = config["mode"].as_str().unwrap_or_default().to_string();
        scratch::set("mode", mode.as_bytes())?;
        log::log(Level::Info, &format!("init in mode {mode}"));
        let cm = res("configmaps", Some("default"));
        match mode.as_str() {
            "spin-init" => {
                spin();
            }
            "trap-init" => panic!("trap-init: panicking as asked"),
            "err-init" => return Err("err-init: refusing to start".into()),
            "spin-timer" | "alloc" => clock::set_timer("go", 10),
            "forbidden" => {
                report(
                    "list secrets",
                    api::list(&res("secrets", Some("default")), &no_list_options()),
                );
                report(
                    "delete configmap",
                    api::delete(
                        &cm,
                        "x",
                        &DeleteOptions {
                            propagation_policy: None,
                            grace_period_seconds: None,
                            precondition_uid: None,
                            precondition_resource_version: None,
                        },
                    ),
                );
                report(
                    "get pods/log",
                    api::get(&res("pods", Some("default")), "p", Some("log")),
                );
                report(
                    "watch nodes",
                    api::watch(&res("nodes", None), &no_list_options()),
                );
                report("get configmap", api::get(&cm, "absent", None));
            }
            "garbage" => {
                report("bad name", api::get(&cm, "../../secrets/x", None));
                report("empty name", api::get(&cm, "", None));
                report(
                    "bad namespace",
                    api::get(&res("configmaps", Some("a/b")), "x", None),
                );
                report(
                    "bad resource",
                    api::get(&res("config maps", Some("default")), "x", None),
                );
                report(
                    "bad subresource",
                    api::get(&cm, "x", Some("status/../../x")),
                );
                let huge = format!("{{\"data\":\"{}\"}}", "x".repeat(4 << 20));
                report("huge body", api::create(&cm, &huge, &write_options()));
                report(
                    "invalid json",
                    api::create(&cm, "{not json", &write_options()),
                );
                report("not an object", api::create(&cm, "[1,2]", &write_options()));
                let opts = WriteOptions {
                    field_manager: Some("m".repeat(300)),
                    ..write_options()
                };
                report("long field manager", api::create(&cm, "{}", &opts));
                report(
                    "bad selector",
                    api::list(
                        &cm,
                        &ListOptions {
                            label_selector: Some("x".repeat(100_000)),
                            ..no_list_options()
                        },
                    ),
                );
            }
            "flood" => {
                let mut refused = 0;
                for _ in 0..5000 {
                    if let Err(e) = api::get(&cm, "absent", None)
                        && e.code == 429
                    {
                        refused += 1;
                    }
                }
                log::log(
                    Level::Info,
                    &format!("flood: {refused} of 5000 refused with 429"),
                );
            }
            "reinit-traps" => {
                if scratch::get("started").is_some() {
                    panic!("reinit-traps: an instance started before");
                }
                scratch::set("started", b"yes")?;
                clock::set_timer("tick", 20);
            }
            "hammer" => loop {
                let _ = api::get(&cm, "absent", None);
            },
            other => log::log(Level::Warn, &format!("unknown mode {other:?}")),
        }
        Ok(())
    }

    fn handle_events(_events: Vec<WatchEvent>) -> Result<(), String> {
        Ok(())
    }

    fn handle_timers(_keys: Vec<String>) -> Result<(), String> {
        match mode().as_str() {
            "spin-timer" => {
                spin();
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "reinit-traps" => {
                let ticks = scratch::get("ticks").map_or(0, |t| t.len()) + 1;
                scratch::set("ticks", &vec![0; ticks])?;
                log::log(Level::Info, &format!("tick {ticks}"));
                clock::set_timer("tick", 20);
            }
            _ => {}
        }
        Ok(())
    }

    fn health() -> HealthReport {
        HealthReport {
            ready: true,
            message: format!("mode {}", mode()),
        }
    }
}
