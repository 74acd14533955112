use serde_json::json;

use super::*;

fn defs() -> Map<String, Value> {
    let doc = json!({
        "io.test.v1.Widget": {
            "type": ["object", "null"],
            "properties": {
                "metadata": {"$ref": "#/$defs/io.test.v1.Meta"},
                "spec": {"allOf": [{"$ref": "#/components/schemas/io.test.v1.WidgetSpec"}]},
                "raw": {"$ref": "#/$defs/io.test.v1.Raw"}
            },
            "x-kubernetes-group-version-kind": [{"group": "test.io", "kind": "Widget", "version": "v1"}]
        },
        "io.test.v1.Meta": {
            "type": "object",
            "properties": {
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "owners": {
                    "type": ["array", "null"],
                    "items": {"$ref": "#/$defs/io.test.v1.Owner"},
                    "x-kubernetes-patch-merge-key": "uid",
                    "x-kubernetes-patch-strategy": "merge"
                },
                "finalizers": {
                    "type": "array", "items": {"type": "string"},
                    "x-kubernetes-patch-strategy": "merge"
                }
            }
        },
        "io.test.v1.Owner": {
            "type": "object",
            "properties": {"uid": {"type": "string"}},
            "x-kubernetes-map-type": "atomic"
        },
        "io.test.v1.WidgetSpec": {
            "properties": {
                "ports": {
                    "type": "array",
                    "items": {"$ref": "#/$defs/io.test.v1.Port"},
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["port", "protocol"],
                    "x-kubernetes-patch-merge-key": "port",
                    "x-kubernetes-patch-strategy": "merge,retainKeys"
                },
                "args": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "atomic"},
                "size": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                "child": {"$ref": "#/$defs/io.test.v1.WidgetSpec"}
            }
        },
        "io.test.v1.Port": {
            "type": "object",
            "properties": {"port": {"type": "integer"}, "protocol": {"type": "string"}}
        },
        "io.test.v1.Raw": {"type": ["object", "null"]}
    });
    match doc {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

fn widget(set: &SchemaSet) -> SchemaRef {
    set.kind("test.io", "v1", "Widget").unwrap()
}

#[test]
fn kinds_are_indexed_by_group_version_kind() {
    let set = SchemaSet::from_definitions(&defs()).unwrap();
    assert!(matches!(set.get(widget(&set)), Schema::Object(_)));
    assert_eq!(set.kind("test.io", "v2", "Widget"), None);
}

#[test]
fn fields_carry_patch_metadata_and_lists_their_type() {
    let set = SchemaSet::from_definitions(&defs()).unwrap();
    let spec = set.child(widget(&set), "spec").unwrap();
    let ports = set.field(spec, "ports").unwrap();
    assert!(ports.patch.merge && ports.patch.retain_keys && !ports.patch.replace);
    assert_eq!(ports.patch.merge_key.as_deref(), Some("port"));
    let Schema::List(list) = set.get(ports.schema) else {
        panic!("ports is a list")
    };
    assert_eq!(
        list.list_type,
        ListType::Map(vec!["port".into(), "protocol".into()])
    );
    assert!(set.field(list.items, "protocol").is_some());
    let Schema::List(args) = set.get(set.child(spec, "args").unwrap()) else {
        panic!("args is a list")
    };
    assert_eq!(args.list_type, ListType::Atomic);
    assert_eq!(set.get(set.child(spec, "size").unwrap()), &Schema::Scalar);
}

#[test]
fn undeclared_list_types_follow_the_patch_strategy() {
    let set = SchemaSet::from_definitions(&defs()).unwrap();
    let meta = set.child(widget(&set), "metadata").unwrap();
    let Schema::List(owners) = set.get(set.child(meta, "owners").unwrap()) else {
        panic!("owners is a list")
    };
    assert_eq!(owners.list_type, ListType::Map(vec!["uid".into()]));
    let Schema::Object(owner) = set.get(owners.items) else {
        panic!("an owner is an object")
    };
    assert!(owner.atomic);
    let Schema::List(finalizers) = set.get(set.child(meta, "finalizers").unwrap()) else {
        panic!("finalizers is a list")
    };
    assert_eq!(finalizers.list_type, ListType::Set);
}

#[test]
fn maps_free_form_objects_and_recursion() {
    let set = SchemaSet::from_definitions(&defs()).unwrap();
    let meta = set.child(widget(&set), "metadata").unwrap();
    let labels = set.child(meta, "labels").unwrap();
    assert_eq!(
        set.get(set.child(labels, "any-key").unwrap()),
        &Schema::Scalar
    );
    assert_eq!(set.child(meta, "unknown"), None);
    let raw = set.child(widget(&set), "raw").unwrap();
    assert_eq!(set.get(raw), &Schema::Any);
    assert_eq!(set.child(raw, "whatever"), Some(raw));
    let spec = set.child(widget(&set), "spec").unwrap();
    assert_eq!(set.child(spec, "child"), Some(spec));
}

#[test]
fn inline_kinds_with_preserved_unknown_fields() {
    let mut set = SchemaSet::default();
    let schema = json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "properties": {"replicas": {"type": "integer"}}
            },
            "port": {"x-kubernetes-int-or-string": true}
        }
    });
    let at = set
        .add_kind("example.com", "v1", "Crontab", &schema)
        .unwrap();
    assert_eq!(set.kind("example.com", "v1", "Crontab"), Some(at));
    let spec = set.child(at, "spec").unwrap();
    assert_eq!(set.get(set.child(spec, "anything").unwrap()), &Schema::Any);
    assert_eq!(set.get(set.child(at, "port").unwrap()), &Schema::Scalar);
    assert_eq!(set.child(at, "nothing"), None);
}

#[test]
fn unresolved_references_are_errors() {
    let mut defs = defs();
    defs.remove("io.test.v1.Port");
    assert_eq!(
        SchemaSet::from_definitions(&defs).unwrap_err(),
        SchemaError::UnresolvedRef("io.test.v1.Port".into())
    );
}
