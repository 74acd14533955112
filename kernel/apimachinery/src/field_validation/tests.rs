use serde_json::{Value, json};

use super::*;
use crate::schema::{SchemaRef, SchemaSet};

fn schemas() -> (SchemaSet, SchemaRef) {
    let defs = json!({
        "Deployment": {
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "metadata": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}}
                    }
                },
                "spec": {
                    "type": "object",
                    "properties": {
                        "replicas": {"type": "integer"},
                        "template": {"$ref": "#/$defs/Template"},
                        "raw": {"type": "object"}
                    }
                }
            },
            "x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "Deployment"}]
        },
        "Template": {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "containers": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"name": {"type": "string"}, "imagePullPolicy": {"type": "string"}}
                            }
                        }
                    }
                }
            }
        }
    });
    let Value::Object(defs) = defs else {
        unreachable!()
    };
    let set = SchemaSet::from_definitions(&defs).unwrap();
    let root = set.kind("apps", "v1", "Deployment").unwrap();
    (set, root)
}

fn unknown(path: &str) -> FieldProblem {
    FieldProblem::Unknown(path.into())
}

fn duplicate(path: &str) -> FieldProblem {
    FieldProblem::Duplicate(path.into())
}

#[test]
fn directive_values() {
    assert_eq!(FieldValidation::parse(""), Ok(FieldValidation::Warn));
    assert_eq!(FieldValidation::parse("Warn"), Ok(FieldValidation::Warn));
    assert_eq!(
        FieldValidation::parse("Strict"),
        Ok(FieldValidation::Strict)
    );
    assert_eq!(
        FieldValidation::parse("Ignore"),
        Ok(FieldValidation::Ignore)
    );
    let cause = FieldValidation::parse("strict").unwrap_err();
    assert_eq!(cause.reason, "FieldValueNotSupported");
    assert_eq!(cause.field, "fieldValidation");
    assert_eq!(
        cause.message,
        r#"Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn""#
    );
}

#[test]
fn problems_read_like_kubes_strict_decoding_errors() {
    let problems = [unknown("spec.foo"), duplicate("x")];
    assert_eq!(problems[0].to_string(), r#"unknown field "spec.foo""#);
    assert_eq!(
        strict_decoding_error(&problems),
        r#"strict decoding error: unknown field "spec.foo", duplicate field "x""#
    );
}

#[test]
fn a_body_is_checked_in_document_order_at_any_depth() {
    let (set, root) = schemas();
    let body = br#"{
        "metadata": {"name": "a", "labels": {"x": "1", "x": "2"}, "name": "b"},
        "spec": {
            "replicas": 1,
            "foo": {"a": 1, "a": 2},
            "template": {"spec": {"containers": [
                {"name": "a"},
                {"name": "b", "imagePullPolicyy": "Always"}
            ]}},
            "raw": {"anything": {"goes": 1, "goes": 2}}
        },
        "apiVersion": "apps/v1",
        "status": 1
    }"#;
    assert_eq!(
        check_json(body, &set, Some(root)).unwrap(),
        [
            duplicate("metadata.labels.x"),
            duplicate("metadata.name"),
            unknown("spec.foo"),
            unknown("spec.template.spec.containers[1].imagePullPolicyy"),
            duplicate("spec.raw.anything.goes"),
            unknown("status"),
        ]
    );
}

#[test]
fn values_of_the_wrong_type_are_left_to_decoding() {
    let (set, root) = schemas();
    let body = br#"{"spec": {"replicas": {"a": 1, "a": 2}, "template": [{"x": 1}]}}"#;
    assert_eq!(check_json(body, &set, Some(root)).unwrap(), []);
}

#[test]
fn without_a_schema_only_repeated_keys_count() {
    let (set, _) = schemas();
    let body = br#"{"spec": {"made": {"up": 1, "up": 2}}, "list": [{"a": 1, "a": 1}], "spec": {}}"#;
    assert_eq!(
        check_json(body, &set, None).unwrap(),
        [
            duplicate("spec.made.up"),
            duplicate("list[0].a"),
            duplicate("spec")
        ]
    );
}

#[test]
fn keys_with_escapes_and_malformed_json() {
    let (set, root) = schemas();
    assert_eq!(
        check_json(br#"{"spe\u0063": {"f\u006fo": 1}}"#, &set, Some(root)).unwrap(),
        [unknown("spec.foo")]
    );
    assert!(check_json(br#"{"spec": "#, &set, Some(root)).is_err());
    assert!(check_json(br#"{} {}"#, &set, Some(root)).is_err());
}

#[test]
fn unknown_fields_are_pruned_and_reported() {
    let (set, root) = schemas();
    let mut obj = json!({
        "metadata": {"name": "a", "labels": {"any": "key"}, "bogus": true},
        "spec": {
            "template": {"spec": {"containers": [{"name": "a", "imagePullPolicyy": "Always"}]}},
            "raw": {"kept": {"as": "is"}},
            "replicas": "wrong type is decoding's business"
        },
        "zzz": null
    });
    let found = prune_unknown(&mut obj, &set, root);
    assert_eq!(
        found,
        [
            unknown("metadata.bogus"),
            unknown("spec.template.spec.containers[0].imagePullPolicyy"),
            unknown("zzz"),
        ]
    );
    assert_eq!(
        obj,
        json!({
            "metadata": {"name": "a", "labels": {"any": "key"}},
            "spec": {
                "template": {"spec": {"containers": [{"name": "a"}]}},
                "raw": {"kept": {"as": "is"}},
                "replicas": "wrong type is decoding's business"
            }
        })
    );
}

#[test]
fn refused_patches_show_what_kube_shows() {
    let problems = [unknown("spec.foo")];
    let patch = json!({"spec": {"foo": 1, "bar": "x"}});
    let cause = strict_patch_cause(ShownPatch::Strategic(&patch), &problems);
    assert_eq!(cause.field, "patch");
    assert_eq!(cause.reason, "FieldValueInvalid");
    assert_eq!(
        cause.message,
        r#"Invalid value: "map[spec:map[bar:x foo:1]]": strict decoding error: unknown field "spec.foo""#
    );
    let cause = strict_patch_cause(ShownPatch::Result(&patch), &problems);
    assert_eq!(
        cause.message,
        r#"Invalid value: "{\"spec\":{\"bar\":\"x\",\"foo\":1}}": strict decoding error: unknown field "spec.foo""#
    );
}
