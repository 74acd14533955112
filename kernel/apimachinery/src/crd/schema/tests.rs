//! Pruning, defaulting and validation of custom resources against compiled schemas, with
//! kube-apiserver's messages.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use serde_json::{Value, json};

use super::Schema;

fn schema(s: Value) -> Schema {
    let props: JSONSchemaProps = serde_json::from_value(s).unwrap();
    Schema::compile(&props).unwrap()
}

/// The messages `field: message` of validating `obj`.
fn problems(s: &Schema, obj: &Value) -> Vec<String> {
    s.validate(obj)
        .into_iter()
        .map(|f| format!("{}: {}", f.cause.field, f.cause.message))
        .collect()
}

fn widget() -> Schema {
    schema(json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["size"],
                "properties": {
                    "size": {"type": "string", "enum": ["small", "large"]},
                    "replicas": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                    "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
                    "email": {"type": "string", "format": "email"},
                    "ratio": {"type": "number", "exclusiveMaximum": true, "maximum": 1.5, "multipleOf": 0.5},
                    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2, "minItems": 1, "x-kubernetes-list-type": "set"},
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "required": ["name"], "properties": {
                            "name": {"type": "string"},
                            "port": {"x-kubernetes-int-or-string": true},
                        }},
                    },
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "note": {"type": "string", "nullable": true},
                    "template": {
                        "type": "object",
                        "x-kubernetes-embedded-resource": true,
                        "x-kubernetes-preserve-unknown-fields": true,
                    },
                    "defaulted": {
                        "type": "object",
                        "default": {},
                        "properties": {"mode": {"type": "string", "default": "auto"}},
                    },
                },
            },
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
        },
    }))
}

#[test]
fn type_errors_read_like_kube() {
    let s = widget();
    let obj = json!({"spec": {"size": "small", "replicas": "three"}});
    assert_eq!(
        problems(&s, &obj),
        [
            r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
        ]
    );
    let f = &s.validate(&obj)[0];
    assert_eq!(f.cause.reason, "FieldValueTypeInvalid");
    // An integral float is an integer; a fraction is not.
    assert!(problems(&s, &json!({"spec": {"size": "small", "replicas": 2.0}})).is_empty());
    assert_eq!(
        problems(&s, &json!({"spec": {"size": "small", "replicas": 2.5}})),
        [
            r#"spec.replicas: Invalid value: "number": spec.replicas in body must be of type integer: "number""#
        ]
    );
}

#[test]
fn value_checks_read_like_kube() {
    let s = widget();
    let obj = json!({"spec": {
        "size": "medium",
        "replicas": 11,
        "name": "ABCDEFG",
        "email": "nope",
        "ratio": 1.5,
        "tags": ["a", "b", "a"],
        "ports": [{"name": "http", "port": 80}, {"name": "http", "port": "web"}, {"port": true}],
    }});
    assert_eq!(
        problems(&s, &obj),
        [
            r#"spec.email: Invalid value: "nope": spec.email in body must be of type email: "nope""#,
            "spec.name: Too long: must have at most 5 bytes",
            r#"spec.name: Invalid value: "ABCDEFG": spec.name in body should match '^[a-z]+$'"#,
            "spec.ports[2].name: Required value",
            r#"spec.ports[2].port: Invalid value: "boolean": spec.ports[2].port in body must be of type integer,string: "boolean""#,
            "spec.ratio: Invalid value: 1.5: spec.ratio in body should be less than 1.5",
            "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
            r#"spec.size: Unsupported value: "medium": supported values: "small", "large""#,
            "spec.tags: Too many: 3: must have at most 2 items",
            r#"spec.ports[1]: Duplicate value: {"name":"http"}"#,
            r#"spec.tags[2]: Duplicate value: "a""#,
        ]
    );
    assert_eq!(
        problems(&s, &json!({"spec": {"tags": [], "name": "a"}})),
        [
            // Required fields are checked before the fields present, as kube-openapi does.
            "spec.size: Required value",
            r#"spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long"#,
            "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items",
        ]
    );
}

#[test]
fn nulls_are_types_unless_nullable() {
    let s = widget();
    assert!(problems(&s, &json!({"spec": {"size": "small", "note": null}})).is_empty());
    assert_eq!(
        problems(
            &s,
            &json!({"spec": {"size": "small", "labels": {"a": null}}})
        ),
        [
            r#"spec.labels.a: Invalid value: "null": spec.labels.a in body must be of type string: "null""#
        ]
    );
}

#[test]
fn pruning_drops_unknown_fields_but_keeps_what_is_preserved() {
    let s = widget();
    let mut obj = json!({
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "unknownMeta": 1},
        "extra": true,
        "spec": {
            "size": "small",
            "bogus": 1,
            "replicas": null,
            "note": null,
            "labels": {"a": "b"},
            "free": {"anything": {"goes": 1}},
            "ports": [{"name": "http", "junk": 1}],
            "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "junk": 1}, "spec": {"x": 1}},
        },
        "status": {"ready": true, "phase": "x"},
    });
    s.prune(&mut obj);
    assert_eq!(
        obj,
        json!({
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            // Root metadata is the caller's to coerce.
            "metadata": {"name": "w", "unknownMeta": 1},
            "spec": {
                "size": "small",
                // A null with a default stays, to be defaulted; a nullable null stays.
                "replicas": null,
                "note": null,
                "labels": {"a": "b"},
                "free": {"anything": {"goes": 1}},
                "ports": [{"name": "http"}],
                "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}},
            },
            "status": {"ready": true},
        })
    );
}

#[test]
fn defaults_apply_from_the_outside_in() {
    let s = widget();
    let mut obj = json!({"spec": {"size": "small", "replicas": null}});
    s.apply_defaults(&mut obj);
    assert_eq!(
        obj["spec"],
        json!({"size": "small", "replicas": 1, "defaulted": {"mode": "auto"}})
    );
    let mut obj =
        json!({"spec": {"size": "small", "replicas": 3, "defaulted": {"mode": "manual"}}});
    s.apply_defaults(&mut obj);
    assert_eq!(obj["spec"]["replicas"], 3);
    assert_eq!(obj["spec"]["defaulted"]["mode"], "manual");
}

#[test]
fn embedded_resources_need_api_version_and_kind() {
    let s = widget();
    let obj = json!({"spec": {"size": "small", "template": {"metadata": {"name": "Bad_Name"}, "kind": "no way"}}});
    assert_eq!(
        problems(&s, &obj),
        [
            "spec.template.apiVersion: Required value: must not be empty",
            r#"spec.template.kind: Invalid value: "no way": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"#,
        ]
    );
}

#[test]
fn compositions() {
    let s = schema(json!({
        "type": "object",
        "properties": {"spec": {
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
            "not": {"required": ["c"]},
        }},
    }));
    assert!(problems(&s, &json!({"spec": {"a": "x"}})).is_empty());
    assert_eq!(
        problems(&s, &json!({"spec": {"a": "x", "b": "y"}})),
        [
            r#"spec: Invalid value: "": spec in body must validate one and only one schema (oneOf). Found 2 valid alternatives"#
        ]
    );
    assert_eq!(
        problems(&s, &json!({"spec": {}})),
        [
            r#"spec: Invalid value: "": spec in body must validate one and only one schema (oneOf). Found none valid"#,
            "spec.a: Required value",
        ]
    );
}

#[test]
fn patterns_take_go_regexp_syntax() {
    let s = schema(json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {
            "name": {"type": "string", "pattern": r"^\p{Lu}\w*(?i:-x)?$"},
            "greek": {"type": "string", "pattern": r"^\p{Greek}+$"},
        }}},
    }));
    assert!(problems(&s, &json!({"spec": {"name": "Web_1-X", "greek": "αβγ"}})).is_empty());
    assert_eq!(
        problems(&s, &json!({"spec": {"name": "web", "greek": "abc"}})).len(),
        2
    );
}
