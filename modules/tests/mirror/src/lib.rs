//! A well-behaved test module: it mirrors the ConfigMaps of one namespace that carry the label
//! `kmicro.test/source=true` into one ConfigMap (the *view*), so a test can compare what the
//! module saw with what the store holds.
//!
//! Config (JSON): `{"namespace": "default", "view": "mirror-view", "tick_ms": 50}`.
//!
//! - `init` counts itself in scratch (`inits`), watches the source ConfigMaps and arms the
//!   timer `tick`.
//! - Events update the in-memory view; after each batch (once synced) the view is written:
//!   `data.objects` is a JSON object `name → data.value`, plus `inits`, `ticks`, `synced`.
//! - The timer counts itself in scratch (`ticks`), re-arms itself and writes the view.
//! - A source object named `crash-me` makes the module panic once (remembered in scratch),
//!   so tests can check restarts and that scratch survives them.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The generated bindings of the `kmicro:module` world, and the export of [`Mirror`].
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../sandbox/wit",
        world: "module",
    });

    use super::Mirror;
    export!(Mirror);
}

use bindings::exports::kmicro::module::handler::Guest;
use bindings::kmicro::module::types::{
    Descriptor, EventType, HealthReport, Level, ListOptions, PolicyRule, ResourceRef, WatchEvent,
    WriteOptions,
};
use bindings::kmicro::module::{api, clock, log, scratch};

struct Mirror;

struct State {
    namespace: String,
    view: String,
    tick_ms: u64,
    objects: BTreeMap<String, String>,
    synced: bool,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn configmaps(namespace: &str) -> ResourceRef {
    ResourceRef {
        group: String::new(),
        version: "v1".into(),
        resource: "configmaps".into(),
        namespace: Some(namespace.into()),
    }
}

fn bump(key: &str) -> u64 {
    let n = scratch::get(key)
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    if let Err(e) = scratch::set(key, n.to_string().as_bytes()) {
        log::log(Level::Error, &format!("scratch: {e}"));
    }
    n
}

fn counter(key: &str) -> u64 {
    scratch::get(key)
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn write_view(state: &State) -> Result<(), String> {
    let objects = serde_json::to_string(&state.objects).map_err(|e| e.to_string())?;
    let body = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": state.view, "namespace": state.namespace},
        "data": {
            "objects": objects,
            "inits": counter("inits").to_string(),
            "ticks": counter("ticks").to_string(),
            "synced": state.synced.to_string(),
        }
    })
    .to_string();
    let res = configmaps(&state.namespace);
    let options = WriteOptions {
        dry_run: false,
        field_manager: None,
        force: false,
    };
    match api::update(&res, &state.view, None, &body, &options) {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 => api::create(&res, &body, &options)
            .map(|_| ())
            .map_err(|e| format!("create view: {} {}", e.code, e.message)),
        Err(e) => Err(format!("update view: {} {}", e.code, e.message)),
    }
}

impl Guest for Mirror {
    fn describe() -> Descriptor {
        Descriptor {
            version: "mirror-1".into(),
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
        let config: Value = serde_json::from_str(&config).map_err(|e| format!("config: {e}"))?;
        let namespace = config["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let view = config["view"].as_str().unwrap_or("mirror-view").to_string();
        let tick_ms = config["tick_ms"].as_u64().unwrap_or(50);
        let inits = bump("inits");
        log::log(
            Level::Info,
            &format!("init #{inits} in namespace {namespace}"),
        );
        println!("hello from stdout");
        eprintln!("hello from stderr");
        let options = ListOptions {
            label_selector: Some("kmicro.test/source=true".into()),
            field_selector: None,
            limit: None,
            continue_token: None,
        };
        api::watch(&configmaps(&namespace), &options)
            .map_err(|e| format!("watch: {} {}", e.code, e.message))?;
        clock::set_timer("tick", tick_ms);
        STATE.with(|s| {
            *s.borrow_mut() = Some(State {
                namespace,
                view,
                tick_ms,
                objects: BTreeMap::new(),
                synced: false,
            })
        });
        Ok(())
    }

    fn handle_events(events: Vec<WatchEvent>) -> Result<(), String> {
        STATE.with(|s| {
            let mut guard = s.borrow_mut();
            let state = guard.as_mut().ok_or("not initialised")?;
            for event in events {
                if matches!(event.event_type, EventType::Synced) {
                    state.synced = true;
                    continue;
                }
                let object: Value =
                    serde_json::from_str(&event.object).map_err(|e| format!("event: {e}"))?;
                let name = object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if name == "crash-me" && counter("crashed") == 0 {
                    bump("crashed");
                    panic!("crash-me seen: crashing once");
                }
                match event.event_type {
                    EventType::Added | EventType::Modified => {
                        let value = object["data"]["value"].as_str().unwrap_or_default();
                        state.objects.insert(name, value.to_string());
                    }
                    EventType::Deleted => {
                        state.objects.remove(&name);
                    }
                    EventType::Synced => {}
                }
            }
            if state.synced {
                write_view(state)
            } else {
                Ok(())
            }
        })
    }

    fn handle_timers(keys: Vec<String>) -> Result<(), String> {
        STATE.with(|s| {
            let guard = s.borrow();
            let state = guard.as_ref().ok_or("not initialised")?;
            for key in keys {
                if key == "tick" {
                    bump("ticks");
                    clock::set_timer("tick", state.tick_ms);
                }
            }
            if state.synced {
                write_view(state)
            } else {
                Ok(())
            }
        })
    }

    fn health() -> HealthReport {
        let synced = STATE.with(|s| s.borrow().as_ref().is_some_and(|s| s.synced));
        HealthReport {
            ready: synced,
            message: if synced {
                "mirroring".into()
            } else {
                "waiting for the initial list".into()
            },
        }
    }
}
