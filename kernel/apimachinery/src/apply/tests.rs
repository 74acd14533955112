//! A small Deployment-shaped schema for the apply tests, and tests of whole operations.

use serde_json::{Value, json};

use super::*;
use crate::schema::{SchemaRef, SchemaSet};

/// A Deployment schema with the shapes apply cares about: a struct spec, an atomic selector,
/// a label map, containers keyed by name, ports keyed by port and protocol, a finalizer set.
pub(crate) fn deployment_schema() -> (SchemaSet, SchemaRef) {
    let defs = json!({
        "Deployment": {
            "type": "object",
            "x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "Deployment"}],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"$ref": "#/$defs/ObjectMeta"},
                "spec": {"type": "object", "properties": {
                    "replicas": {"type": "integer"},
                    "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                                 "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}}},
                    "strategy": {"type": "object", "properties": {"type": {"type": "string"}}},
                    "template": {"type": "object", "properties": {
                        "metadata": {"$ref": "#/$defs/ObjectMeta"},
                        "spec": {"type": "object", "properties": {
                            "containers": {"type": "array", "items": {"$ref": "#/$defs/Container"},
                                           "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}
                        }}
                    }}
                }},
                "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}
            }
        },
        "ObjectMeta": {"type": "object", "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "uid": {"type": "string"},
            "resourceVersion": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "finalizers": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
            "managedFields": {"type": "array", "items": {"type": "object", "properties": {"manager": {"type": "string"}}}}
        }},
        "Container": {"type": "object", "properties": {
            "name": {"type": "string"},
            "image": {"type": "string"},
            "imagePullPolicy": {"type": "string"},
            "args": {"type": "array", "items": {"type": "string"}},
            "ports": {"type": "array", "items": {"type": "object", "properties": {
                "containerPort": {"type": "integer"}, "protocol": {"type": "string"}
            }}, "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["containerPort", "protocol"]}
        }}
    });
    let Value::Object(defs) = defs else {
        unreachable!()
    };
    let set = SchemaSet::from_definitions(&defs).unwrap();
    let at = set.kind("apps", "v1", "Deployment").unwrap();
    (set, at)
}

fn write<'a>(set: &'a SchemaSet, at: SchemaRef, manager: &'a str, now: &'a str) -> Write<'a> {
    Write {
        schemas: set,
        kind: at,
        manager,
        api_version: "apps/v1",
        subresource: "",
        scope: Scope::NotStatus,
        now,
    }
}

fn deployment(replicas: i64, containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"replicas": replicas, "template": {"spec": {"containers": containers}}}})
}

fn entries(obj: &Value) -> Vec<(String, String, Value)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["manager"].as_str().unwrap().to_string(),
                e["operation"].as_str().unwrap().to_string(),
                e["fieldsV1"].clone(),
            )
        })
        .collect()
}

#[test]
fn create_then_apply_conflicts_unless_forced() {
    let (set, at) = deployment_schema();
    let mut created = deployment(1, json!([{"name": "app", "image": "a"}]));
    created["metadata"]["uid"] = json!("u");
    created["status"] = json!({"replicas": 0});
    record_update(&write(&set, at, "kubectl-create", "T1"), None, &mut created);
    let e = entries(&created);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, "kubectl-create");
    assert_eq!(
        e[0].2,
        json!({"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
            ".": {},
            "k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}
        }}}}})
    );

    let config = deployment(3, json!([{"name": "app", "image": "a"}]));
    let err = apply(
        &write(&set, at, "kubectl", "T2"),
        Some(&created),
        &config,
        false,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-create\" using apps/v1: .spec.replicas"
    );

    let forced = apply(
        &write(&set, at, "kubectl", "T2"),
        Some(&created),
        &config,
        true,
    )
    .unwrap();
    assert_eq!(forced["spec"]["replicas"], 3);
    let e = entries(&forced);
    assert_eq!(e[0].0, "kubectl");
    assert_eq!(e[0].1, "Apply");
    // Same image: shared ownership, no conflict.
    assert!(
        e[0].2["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]
            .get("f:image")
            .is_some()
    );
    assert_eq!(e[1].0, "kubectl-create");
    assert!(e[1].2["f:spec"].get("f:replicas").is_none());
}

#[test]
fn reapply_removes_what_was_dropped_unless_someone_else_owns_it() {
    let (set, at) = deployment_schema();
    let first = deployment(
        1,
        json!([{"name": "app", "image": "a", "args": ["x"]}, {"name": "side", "image": "s"}]),
    );
    let mut first = first.clone();
    first["metadata"]["labels"] = json!({"a": "1", "b": "2"});
    let live = apply(&write(&set, at, "mgr", "T1"), None, &first, false).unwrap();

    // Another manager updates label b.
    let mut edited = live.clone();
    edited["metadata"]["labels"]["b"] = json!("3");
    record_update(
        &write(&set, at, "kubectl-edit", "T2"),
        Some(&live),
        &mut edited,
    );

    let mut second = deployment(1, json!([{"name": "app", "image": "a"}]));
    second["metadata"]["labels"] = json!({});
    let out = apply(&write(&set, at, "mgr", "T3"), Some(&edited), &second, false).unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "app", "image": "a"}])
    );
    assert_eq!(out["metadata"]["labels"], json!({"b": "3"}));
}

#[test]
fn two_appliers_keep_their_own_list_elements() {
    let (set, at) = deployment_schema();
    let a = deployment(1, json!([{"name": "a", "image": "a"}]));
    let live = apply(&write(&set, at, "one", "T1"), None, &a, false).unwrap();
    let b = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                   "spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b"}]}}}});
    let live = apply(&write(&set, at, "two", "T2"), Some(&live), &b, false).unwrap();
    let names: Vec<&str> = live["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    // The first applier re-applies: b stays, it is not the first applier's.
    let live = apply(&write(&set, at, "one", "T3"), Some(&live), &a, false).unwrap();
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(entries(&live).len(), 2);
}

#[test]
fn an_untracked_object_is_credited_to_before_first_apply() {
    let (set, at) = deployment_schema();
    let live = deployment(2, json!([{"name": "a", "image": "a"}]));
    let err = apply(
        &write(&set, at, "kubectl", "T"),
        Some(&live),
        &deployment(3, json!([])),
        false,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("conflict with \"before-first-apply\" using apps/v1: .spec.replicas"),
        "{err}"
    );
}

#[test]
fn updates_reset_keep_or_take_client_managed_fields() {
    let (set, at) = deployment_schema();
    let mut live = deployment(1, json!([]));
    record_update(&write(&set, at, "a", "T1"), None, &mut live);
    // No managedFields in the body: the stored ones carry on, plus the new writer's.
    let mut new = deployment(2, json!([]));
    record_update(&write(&set, at, "b", "T2"), Some(&live), &mut new);
    let e = entries(&new);
    assert_eq!(e.len(), 2);
    assert_eq!(
        (e[0].0.as_str(), &e[0].2),
        (
            "a",
            &json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {}}}}})
        )
    );
    assert_eq!(
        (e[1].0.as_str(), &e[1].2),
        ("b", &json!({"f:spec": {"f:replicas": {}}}))
    );
    // `[]` resets: only this write's changes are recorded.
    let mut reset = deployment(2, json!([{"name": "x"}]));
    reset["metadata"]["managedFields"] = json!([]);
    record_update(&write(&set, at, "c", "T3"), Some(&new), &mut reset);
    let e = entries(&reset);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, "c");
    assert!(e[0].2["f:spec"].get("f:replicas").is_none());
    // A no-op changes nothing.
    let mut same = reset.clone();
    record_update(&write(&set, at, "d", "T4"), Some(&reset), &mut same);
    assert_eq!(same, reset);
}

#[test]
fn status_writes_own_only_status() {
    let (set, at) = deployment_schema();
    let live = deployment(1, json!([]));
    let mut new = live.clone();
    new["status"] = json!({"replicas": 1});
    let w = Write {
        subresource: "status",
        scope: Scope::Status,
        ..write(&set, at, "ctl", "T")
    };
    record_update(&w, Some(&live), &mut new);
    let e = &new["metadata"]["managedFields"][0];
    assert_eq!(e["subresource"], "status");
    assert_eq!(e["fieldsV1"], json!({"f:status": {"f:replicas": {}}}));
}

#[test]
fn malformed_configurations_and_managed_fields_are_refused() {
    let (set, at) = deployment_schema();
    let dup = deployment(1, json!([{"name": "a"}, {"name": "a"}]));
    assert!(matches!(
        apply(&write(&set, at, "m", "T"), None, &dup, false),
        Err(ApplyError::Malformed(_))
    ));
    let mut with_mf = deployment(1, json!([]));
    with_mf["metadata"]["managedFields"] = json!([]);
    assert_eq!(
        apply(&write(&set, at, "m", "T"), None, &with_mf, false),
        Err(ApplyError::ManagedFieldsSet)
    );
}

#[test]
fn several_conflicts_are_grouped_by_manager() {
    let c = |m: &str, f: &str| Conflict {
        manager: m.into(),
        field: f.into(),
    };
    assert_eq!(
        conflict_message(&[c("\"b\"", ".x"), c("\"a\"", ".y"), c("\"b\"", ".z")]),
        "Apply failed with 3 conflicts: conflicts with \"a\":\n- .y\nconflicts with \"b\":\n- .x\n- .z"
    );
}
