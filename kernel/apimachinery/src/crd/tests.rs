//! CustomResourceDefinitions end to end without I/O: validation of definitions with kube's
//! messages, names and conditions, and what create and update do to custom resources.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

use super::{CustomResource, names};
use crate::registry::find;
use crate::rules::{RulesError, prepare_create, prepare_update};

fn crd_resource() -> &'static crate::registry::ResourceInfo {
    find("apiextensions.k8s.io", "v1", "customresourcedefinitions").unwrap()
}

/// A valid definition of `widgets.example.com`, served at v1beta1 and v1 (storage).
fn definition() -> Value {
    let schema = json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer", "minimum": 0, "default": 1},
                    "size": {"type": "string"},
                },
            },
            "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
        },
    });
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [
                {"name": "v1beta1", "served": true, "storage": false, "schema": {"openAPIV3Schema": schema}},
                {
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                    "additionalPrinterColumns": [{"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}],
                },
            ],
        },
    })
}

fn invalid(obj: Value) -> Vec<String> {
    match prepare_create(crd_resource(), obj) {
        Err(RulesError::Invalid(causes)) => causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect(),
        other => panic!("expected 422, got {other:?}"),
    }
}

#[test]
fn a_valid_definition_gets_defaults_and_stored_versions() {
    let crd = prepare_create(crd_resource(), definition()).unwrap();
    assert_eq!(crd["spec"]["names"]["singular"], "widget");
    assert_eq!(crd["spec"]["names"]["listKind"], "WidgetList");
    assert_eq!(crd["spec"]["conversion"]["strategy"], "None");
    assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
    assert_eq!(crd["metadata"]["generation"], 1);
}

#[test]
fn definition_rules_read_like_kube() {
    let mut crd = definition();
    crd["metadata"]["name"] = json!("widgets.other.com");
    crd["spec"]["group"] = json!("example");
    crd["spec"]["scope"] = json!("Everywhere");
    crd["spec"]["names"]["kind"] = json!("WidgetList");
    crd["spec"]["names"]["listKind"] = json!("WidgetList");
    crd["spec"]["versions"][0]["storage"] = json!(true);
    let found = invalid(crd);
    assert_eq!(found.len(), 6, "{found:#?}");
    assert_eq!(
        found[0],
        r#"metadata.name: Invalid value: "widgets.other.com": must be spec.names.plural+"."+spec.group"#
    );
    assert_eq!(
        found[1],
        r#"spec.group: Invalid value: "example": should be a domain with at least one dot"#
    );
    assert_eq!(
        found[2],
        r#"spec.scope: Unsupported value: "Everywhere": supported values: "Cluster", "Namespaced""#
    );
    assert!(
        found[3].starts_with("spec.versions: Invalid value: [{"),
        "{}",
        found[3]
    );
    assert!(found[3].ends_with(": must have exactly one version marked as storage version"));
    assert_eq!(
        found[4],
        r#"spec.names.listKind: Invalid value: "WidgetList": kind and listKind cannot be the same (this would cause ambiguity)"#
    );
    // The first storage version became the stored one; the second is missing from it.
    assert!(found[5].starts_with("status.storedVersions: Invalid value: {"));
    assert!(found[5].ends_with(": must have the storage version v1"));
}

#[test]
fn schemas_must_be_structural() {
    let mut crd = definition();
    crd["spec"]["versions"][0]["schema"] = json!(null);
    crd["spec"]["versions"][1]["schema"]["openAPIV3Schema"] = json!({
        "type": "object",
        "properties": {
            "spec": {
                "properties": {"a": {"type": "string"}},
                "anyOf": [{"properties": {"b": {"minLength": 1}}}, {"type": "object"}],
            },
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
        },
    });
    let p = "spec.versions[1].schema.openAPIV3Schema";
    assert_eq!(
        invalid(crd),
        [
            "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"
                .to_string(),
            format!(
                "{p}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"
            ),
            format!(
                "{p}.properties[spec].anyOf[1].type: Forbidden: must be empty to be structural"
            ),
            format!(
                "{p}.properties[spec].properties[b]: Required value: because it is defined in {p}.properties[spec].anyOf[0].properties[b]"
            ),
            format!(
                "{p}.properties[spec].type: Required value: must not be empty for specified object fields"
            ),
        ]
    );
}

#[test]
fn openapi_restrictions_and_defaults() {
    let mut crd = definition();
    let schema = &mut crd["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    schema["properties"]["replicas"]["default"] = json!("one");
    schema["properties"]["tags"] =
        json!({"type": "array", "items": {"type": "string"}, "uniqueItems": true});
    let found = invalid(crd);
    let p = "spec.versions[1].schema.openAPIV3Schema.properties[spec]";
    assert_eq!(
        found,
        [format!(
            "{p}.properties[tags].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
        )]
    );
    let mut crd = definition();
    crd["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["replicas"]
        ["default"] = json!("one");
    assert_eq!(
        invalid(crd),
        [format!(
            r#"{p}.properties[replicas].default: Invalid value: "string":  in body must be of type integer: "string""#
        )]
    );
}

#[test]
fn group_and_plural_never_change_scope_and_kind_once_established() {
    let old = prepare_create(crd_resource(), definition()).unwrap();
    let mut established = old.clone();
    established["status"]["conditions"] = json!([{"type": "Established", "status": "True"}]);
    let mut new = established.clone();
    new["spec"]["scope"] = json!("Cluster");
    new["spec"]["names"]["kind"] = json!("Gadget");
    new["spec"]["names"]["listKind"] = json!("GadgetList");
    let Err(RulesError::Invalid(causes)) = prepare_update(crd_resource(), new, &established) else {
        panic!("scope and kind are immutable once established")
    };
    let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["spec.scope", "spec.names.kind"]);
    // Not yet established: they may change.
    let mut new = old.clone();
    new["spec"]["scope"] = json!("Cluster");
    assert!(prepare_update(crd_resource(), new, &old).is_ok());
}

fn typed(v: Value) -> CustomResourceDefinition {
    serde_json::from_value(v).unwrap()
}

fn accepted_definition() -> CustomResourceDefinition {
    let crd = typed(prepare_create(crd_resource(), definition()).unwrap());
    let status = names::reconcile(&crd, &[], jiff::Timestamp::now());
    CustomResourceDefinition {
        status: Some(status),
        ..crd
    }
}

#[test]
fn names_are_accepted_unless_another_definition_holds_them() {
    let crd = accepted_definition();
    assert!(names::condition_true(&crd, names::NAMES_ACCEPTED));
    assert!(names::condition_true(&crd, names::ESTABLISHED));
    let established = names::condition(&crd, names::ESTABLISHED).unwrap();
    assert_eq!(established.reason.as_deref(), Some("InitialNamesAccepted"));
    let accepted = names::accepted(&crd);
    assert_eq!(accepted.short_names, Some(vec!["wd".to_string()]));

    // A second definition in the group asking for the same short name and kind.
    let mut other = definition();
    other["metadata"]["name"] = json!("gadgets.example.com");
    other["spec"]["names"] = json!({"plural": "gadgets", "kind": "Widget", "shortNames": ["wd"]});
    let other = typed(prepare_create(crd_resource(), other).unwrap());
    let status = names::reconcile(&other, &[&crd], jiff::Timestamp::now());
    let other = CustomResourceDefinition {
        status: Some(status),
        ..other
    };
    let cond = names::condition(&other, names::NAMES_ACCEPTED).unwrap();
    assert_eq!(cond.status, "False");
    assert_eq!(cond.reason.as_deref(), Some("ListKindConflict"));
    assert_eq!(
        cond.message.as_deref(),
        Some(r#""WidgetList" is already in use"#)
    );
    assert_eq!(
        names::condition(&other, names::ESTABLISHED).unwrap().status,
        "False"
    );
    assert_eq!(names::accepted(&other).plural, "gadgets");
    assert_eq!(names::accepted(&other).kind, "");
}

#[test]
fn served_versions_in_priority_order() {
    let served = CustomResource::served(&accepted_definition()).unwrap();
    let versions: Vec<&str> = served.iter().map(|c| c.info().version).collect();
    assert_eq!(versions, ["v1", "v1beta1"]);
    let v1 = &served[0];
    assert_eq!(v1.info().short_names, ["wd"]);
    assert!(v1.info().status && v1.info().scale);
    assert!(!served[1].info().status);
    assert_eq!(served[1].storage_api_version(), "example.com/v1");
}

#[test]
fn custom_resources_are_pruned_defaulted_and_validated() {
    let served = CustomResource::served(&accepted_definition()).unwrap();
    let v1 = &served[0];
    let obj = json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "default", "bogus": 1},
        "spec": {"size": "s", "unknown": true},
        "status": {"replicas": 3},
    });
    let created = v1.prepare_create(obj).unwrap();
    assert_eq!(created["spec"], json!({"size": "s", "replicas": 1}));
    assert!(created.get("status").is_none(), "create cannot set status");
    assert!(created["metadata"].get("bogus").is_none());
    assert_eq!(created["metadata"]["generation"], 1);

    let bad = json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "W_1", "namespace": "default"},
        "spec": {"replicas": -1},
    });
    let Err(RulesError::Invalid(causes)) = v1.prepare_create(bad) else {
        panic!("invalid")
    };
    let messages: Vec<String> = causes
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(
        messages[0]
            .starts_with(r#"metadata.name: Invalid value: "W_1": a lowercase RFC 1123 subdomain"#)
    );
    assert_eq!(
        messages[1],
        "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"
    );
    assert_eq!(
        messages[2],
        ".spec.replicas: Invalid value: -1: should be a non-negative integer"
    );
}

#[test]
fn updates_bump_generation_and_tolerate_old_problems() {
    let served = CustomResource::served(&accepted_definition()).unwrap();
    let v1 = &served[0];
    let mut old = v1
        .prepare_create(json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w1", "namespace": "default"},
            "spec": {"size": "s"},
        }))
        .unwrap();
    // Stored before a stricter schema: size is now an integer in this test's old object.
    old["spec"]["size"] = json!(5);
    let mut new = old.clone();
    new["metadata"]["labels"] = json!({"a": "b"});
    let same = v1.prepare_update(new, &old).unwrap();
    assert_eq!(
        same["metadata"]["generation"], 1,
        "metadata changes keep the generation"
    );
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(4);
    let bumped = v1.prepare_update(new, &old).unwrap();
    assert_eq!(bumped["metadata"]["generation"], 2);
    let mut new = old.clone();
    new["spec"]["size"] = json!(6);
    assert!(
        v1.prepare_update(new, &old).is_err(),
        "a changed invalid value is refused"
    );
}

#[test]
fn printer_columns_and_default_age() {
    let served = CustomResource::served(&accepted_definition()).unwrap();
    let now = jiff::Timestamp::now();
    let obj = json!({"metadata": {"name": "w1", "creationTimestamp": "2020-01-01T00:00:00Z"}, "spec": {"replicas": 2}});
    let t = served[0].table(
        std::slice::from_ref(&obj),
        crate::table::IncludeObject::None,
        now,
    );
    let names: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Name", "Replicas"]);
    assert_eq!(t["rows"][0]["cells"], json!(["w1", 2]));
    let t = served[1].table(
        std::slice::from_ref(&obj),
        crate::table::IncludeObject::None,
        now,
    );
    let names: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Name", "Age"]);
}

#[test]
fn openapi_definitions_name_the_kind_and_its_list() {
    let served = CustomResource::served(&accepted_definition()).unwrap();
    let defs = served[0].openapi_definitions();
    let names: Vec<&str> = defs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["com.example.v1.Widget", "com.example.v1.WidgetList"]
    );
    let widget = &defs[0].1;
    assert_eq!(
        widget["x-kubernetes-group-version-kind"],
        json!([{"group": "example.com", "version": "v1", "kind": "Widget"}])
    );
    assert_eq!(
        widget["properties"]["spec"]["properties"]["replicas"]["type"],
        "integer"
    );
    assert_eq!(
        widget["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert_eq!(
        defs[1].1["properties"]["items"]["items"]["$ref"],
        "#/components/schemas/com.example.v1.Widget"
    );
}
