//! kube's documented strategic merge patch behaviours, on a small Pod-like schema with the
//! built-in types' patch metadata. (`kernel/tests/strategic_patch.rs` compares the whole
//! implementation with kubectl's on the real schema.)

use serde_json::{Value, json};

use super::*;

fn schemas() -> (SchemaSet, SchemaRef) {
    let defs = json!({
        "Pod": {
            "type": "object",
            "properties": {
                "metadata": {"$ref": "#/$defs/Meta"},
                "spec": {"$ref": "#/$defs/PodSpec"}
            },
            "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Pod"}]
        },
        "Meta": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "finalizers": {
                    "type": "array", "items": {"type": "string"},
                    "x-kubernetes-patch-strategy": "merge"
                }
            }
        },
        "PodSpec": {
            "type": "object",
            "properties": {
                "containers": {
                    "type": "array", "items": {"$ref": "#/$defs/Container"},
                    "x-kubernetes-patch-merge-key": "name",
                    "x-kubernetes-patch-strategy": "merge"
                },
                "volumes": {
                    "type": "array", "items": {"$ref": "#/$defs/Volume"},
                    "x-kubernetes-patch-merge-key": "name",
                    "x-kubernetes-patch-strategy": "merge,retainKeys"
                },
                "tolerations": {"type": "array", "items": {"$ref": "#/$defs/Toleration"}},
                "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"}},
                "securityContext": {
                    "type": "object",
                    "properties": {"runAsUser": {"type": "integer"}, "fsGroup": {"type": "integer"}}
                }
            }
        },
        "Container": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "image": {"type": "string"},
                "args": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "atomic"},
                "ports": {
                    "type": "array", "items": {"$ref": "#/$defs/Port"},
                    "x-kubernetes-patch-merge-key": "containerPort",
                    "x-kubernetes-patch-strategy": "merge"
                },
                "env": {
                    "type": "array", "items": {"$ref": "#/$defs/Env"},
                    "x-kubernetes-patch-merge-key": "name",
                    "x-kubernetes-patch-strategy": "merge"
                }
            }
        },
        "Port": {
            "type": "object",
            "properties": {"containerPort": {"type": "integer"}, "name": {"type": "string"}, "protocol": {"type": "string"}}
        },
        "Env": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "value": {"type": "string"}}
        },
        "Volume": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "emptyDir": {"type": "object", "properties": {"medium": {"type": "string"}}},
                "configMap": {"type": "object", "properties": {"name": {"type": "string"}}},
                "secret": {"type": "object", "properties": {"secretName": {"type": "string"}}}
            }
        },
        "Toleration": {
            "type": "object",
            "properties": {"key": {"type": "string"}, "operator": {"type": "string"}}
        }
    });
    let Value::Object(defs) = defs else {
        unreachable!()
    };
    let set = SchemaSet::from_definitions(&defs).unwrap();
    let pod = set.kind("", "v1", "Pod").unwrap();
    (set, pod)
}

fn pod() -> Value {
    json!({
        "metadata": {"name": "p", "labels": {"app": "web", "tier": "front"}, "finalizers": ["a", "b", "c"]},
        "spec": {
            "securityContext": {"runAsUser": 1},
            "tolerations": [{"key": "k1", "operator": "Exists"}],
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "conf", "configMap": {"name": "cm"}}],
            "containers": [
                {
                    "name": "web", "image": "nginx:1", "args": ["-a", "-b"],
                    "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
                },
                {"name": "sidecar", "image": "busybox"}
            ]
        }
    })
}

fn patch(original: Value, patch: Value) -> Result<Value, PatchError> {
    let (set, root) = schemas();
    apply(original, patch, &set, root)
}

fn patched(p: Value) -> Value {
    patch(pod(), p).unwrap()
}

fn containers(obj: &Value) -> &Value {
    &obj["spec"]["containers"]
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect()
}

fn bad_request(original: Value, p: Value) -> String {
    match patch(original, p) {
        Err(PatchError::BadRequest(message)) => message,
        other => panic!("expected a bad request, got {other:?}"),
    }
}

#[test]
fn maps_merge_and_null_deletes() {
    let out = patched(json!({"metadata": {"labels": {"tier": null, "new": "1"}}}));
    assert_eq!(out["metadata"]["labels"], json!({"app": "web", "new": "1"}));
    assert_eq!(out["metadata"]["name"], "p");
    let out = patched(json!({"spec": {"securityContext": null}}));
    assert!(out["spec"].get("securityContext").is_none());
}

#[test]
fn containers_merge_by_name_and_keep_the_others() {
    let out = patched(json!({"spec": {"containers": [{"name": "sidecar", "image": "busybox:2"}]}}));
    assert_eq!(names(containers(&out)), ["web", "sidecar"]);
    assert_eq!(containers(&out)[1]["image"], "busybox:2");
    assert_eq!(containers(&out)[0], pod()["spec"]["containers"][0]);
}

#[test]
fn new_elements_follow_the_patch_order() {
    let out = patched(json!({"spec": {"containers": [
        {"name": "extra", "image": "x"}, {"name": "web", "image": "nginx:2"}
    ]}}));
    assert_eq!(names(containers(&out)), ["extra", "web", "sidecar"]);
    let out = patched(json!({"spec": {"containers": [
        {"name": "sidecar", "image": "x"}, {"name": "extra", "image": "y"}
    ]}}));
    assert_eq!(names(containers(&out)), ["web", "sidecar", "extra"]);
}

#[test]
fn ports_merge_by_container_port() {
    let out = patched(json!({"spec": {"containers": [{"name": "web", "ports": [
        {"containerPort": 8080}, {"containerPort": 80, "name": "http"}
    ]}]}}));
    assert_eq!(
        containers(&out)[0]["ports"],
        json!([
            {"containerPort": 8080},
            {"containerPort": 80, "name": "http", "protocol": "TCP"},
            {"containerPort": 443}
        ])
    );
}

#[test]
fn env_merges_by_name_and_an_element_is_deleted() {
    let out = patched(json!({"spec": {"containers": [{"name": "web", "env": [
        {"name": "B", "value": "two"}, {"name": "C", "value": "3"}
    ]}]}}));
    assert_eq!(
        containers(&out)[0]["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "two"}, {"name": "C", "value": "3"}])
    );
    let out = patched(json!({"spec": {"containers": [{"name": "web", "env": [
        {"name": "A", "$patch": "delete"}
    ]}]}}));
    assert_eq!(
        containers(&out)[0]["env"],
        json!([{"name": "B", "value": "2"}])
    );
}

#[test]
fn delete_and_replace_directives_in_lists() {
    let out = patched(json!({"spec": {"containers": [{"name": "web", "$patch": "delete"}]}}));
    assert_eq!(names(containers(&out)), ["sidecar"]);
    let out = patched(json!({"spec": {"containers": [
        {"$patch": "replace"}, {"name": "only", "image": "x"}
    ]}}));
    assert_eq!(containers(&out), &json!([{"name": "only", "image": "x"}]));
}

#[test]
fn replace_and_delete_directives_in_maps() {
    let out = patched(json!({"metadata": {"labels": {"$patch": "replace", "only": "1"}}}));
    assert_eq!(out["metadata"]["labels"], json!({"only": "1"}));
    let out = patched(json!({"spec": {"securityContext": {"$patch": "delete"}}}));
    assert_eq!(out["spec"]["securityContext"], json!({}));
    let out = patched(json!({"$patch": "delete"}));
    assert_eq!(out, json!({}));
}

#[test]
fn lists_without_the_merge_strategy_are_replaced() {
    let out = patched(json!({"spec": {
        "containers": [{"name": "web", "args": ["-c"]}],
        "tolerations": [{"key": "k2"}]
    }}));
    assert_eq!(containers(&out)[0]["args"], json!(["-c"]));
    assert_eq!(out["spec"]["tolerations"], json!([{"key": "k2"}]));
}

#[test]
fn scalar_lists_merge_as_sets_and_delete_from_primitive_list() {
    let out = patched(json!({"metadata": {"finalizers": ["b", "d"]}}));
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "d", "c"]));
    let out = patched(json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "x"]}}));
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "c"]));
    let out = patched(json!({"metadata": {
        "$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["z"]
    }}));
    assert_eq!(out["metadata"]["finalizers"], json!(["z", "b", "c"]));
}

#[test]
fn set_element_order_reorders_merged_lists() {
    let out = patched(json!({"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}],
        "containers": [{"name": "web", "image": "nginx:2"}]
    }}));
    assert_eq!(names(containers(&out)), ["sidecar", "web"]);
    assert_eq!(containers(&out)[1]["image"], "nginx:2");
    assert!(out["spec"].get("$setElementOrder/containers").is_none());
    let out = patched(
        json!({"metadata": {"$setElementOrder/finalizers": ["c", "d", "a"], "finalizers": ["d"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["b", "c", "d", "a"]));
}

#[test]
fn client_side_apply_patches_change_one_container_and_remove_another() {
    let out = patched(json!({"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
        "containers": [{"name": "web", "image": "nginx:2"}]
    }}));
    assert_eq!(names(containers(&out)), ["web", "sidecar"]);
    assert_eq!(containers(&out)[0]["image"], "nginx:2");
    assert_eq!(
        containers(&out)[0]["env"],
        pod()["spec"]["containers"][0]["env"]
    );
    let out = patched(json!({"spec": {
        "$setElementOrder/containers": [{"name": "web"}],
        "containers": [{"name": "sidecar", "$patch": "delete"}]
    }}));
    assert_eq!(names(containers(&out)), ["web"]);
}

#[test]
fn retain_keys_clears_the_other_volume_source() {
    let out = patched(json!({"spec": {"volumes": [{
        "name": "conf", "$retainKeys": ["name", "secret"], "secret": {"secretName": "s"}
    }]}}));
    assert_eq!(
        out["spec"]["volumes"],
        json!([{"name": "data", "emptyDir": {}}, {"name": "conf", "secret": {"secretName": "s"}}])
    );
    assert_eq!(
        bad_request(
            pod(),
            json!({"spec": {"volumes": [{"name": "conf", "$retainKeys": ["name"], "secret": {}}]}})
        ),
        "invalid patch format of retainKeys"
    );
}

#[test]
fn values_new_to_the_original_lose_nulls_and_directive_maps() {
    let mut original = pod();
    original["spec"]
        .as_object_mut()
        .unwrap()
        .remove("securityContext");
    let out = patch(
        original,
        json!({"spec": {
            "securityContext": {"runAsUser": 5, "fsGroup": null},
            "nodeSelector": {"$patch": "replace", "a": "b"}
        }}),
    )
    .unwrap();
    assert_eq!(out["spec"]["securityContext"], json!({"runAsUser": 5}));
    assert!(out["spec"].get("nodeSelector").is_none());
}

#[test]
fn unknown_fields_merge_like_a_merge_patch() {
    let out = patched(
        json!({"spec": {"extra": {"list": [1, 2]}, "containers": [{"name": "web", "nope": {"a": 1}}]}}),
    );
    assert_eq!(out["spec"]["extra"], json!({"list": [1, 2]}));
    assert_eq!(containers(&out)[0]["nope"], json!({"a": 1}));
    let out = patch(out, json!({"spec": {"extra": {"list": [3], "more": true}}})).unwrap();
    assert_eq!(out["spec"]["extra"], json!({"list": [3], "more": true}));
}

#[test]
fn null_patch_changes_nothing_and_non_objects_are_refused() {
    assert_eq!(patched(Value::Null), pod());
    assert_eq!(
        bad_request(pod(), json!([1])),
        "json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
}

#[test]
fn malformed_directives_are_bad_requests_in_kubes_words() {
    assert_eq!(
        bad_request(
            pod(),
            json!({"metadata": {"$patch": "foo", "labels": {"a": "b"}}})
        ),
        "unknown patch type: foo in map: map[$patch:foo labels:map[a:b]]"
    );
    assert_eq!(
        bad_request(
            pod(),
            json!({"spec": {"containers": [{"$patch": "merge"}]}})
        ),
        "merging lists cannot yet be specified in the patch"
    );
    assert_eq!(
        bad_request(pod(), json!({"spec": {"containers": [{"image": "x"}]}})),
        "map: map[image:x] does not contain declared merge key: name"
    );
    assert_eq!(
        bad_request(
            pod(),
            json!({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}})
        ),
        "invalid patch format of primitive list"
    );
    assert_eq!(
        bad_request(
            pod(),
            json!({"metadata": {"$setElementOrderfinalizers": ["a"]}})
        ),
        "invalid patch format of setElementOrder list"
    );
    assert_eq!(
        bad_request(
            pod(),
            json!({"spec": {"$setElementOrder/containers": "web"}})
        ),
        "expected a []interface {}, but received a string"
    );
    assert_eq!(
        bad_request(
            pod(),
            json!({"spec": {"$setElementOrder/nodeSelector": ["x"]}})
        ),
        "expected slice or array type, but got: struct"
    );
    assert_eq!(
        bad_request(pod(), json!({"metadata": {"finalizers": [1]}})),
        "list element types are not identical: [[a b c] [1]]"
    );
    assert_eq!(
        bad_request(
            pod(),
            json!({"spec": {
                "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}],
                "containers": [{"name": "web", "image": "1"}, {"name": "sidecar", "image": "2"}]
            }})
        ),
        "The order in patch list:\n[map[image:1 name:web] map[image:2 name:sidecar]]\n doesn't match $setElementOrder list:\n[map[name:sidecar] map[name:web]]\n"
    );
}

#[test]
fn lists_of_lists_are_unprocessable() {
    let mut original = pod();
    original["metadata"]["finalizers"] = json!([]);
    assert_eq!(
        patch(original, json!({"metadata": {"finalizers": [["x"]]}})),
        Err(PatchError::Unprocessable(
            "lists of lists are not supported".into()
        ))
    );
}

#[test]
fn the_original_is_not_required_to_be_an_object() {
    let out = patch(Value::Null, json!({"metadata": {"name": "n"}})).unwrap();
    assert_eq!(out, json!({"metadata": {"name": "n"}}));
}
