//! Properties every table has, whatever the resource.

use serde_json::json;

use super::{now, resource};
use crate::registry::{BUILTIN, ResourceInfo};
use crate::table::{IncludeObject, table};

#[test]
fn every_builtin_resource_has_a_name_column_and_survives_odd_objects() {
    let odd = [
        json!({}),
        json!({"metadata": {"name": "x"}}),
        json!({"metadata": null, "spec": null, "status": null}),
        json!({"metadata": {"name": 7}, "spec": [], "status": "weird"}),
        json!([]),
        json!(null),
    ];
    for r in BUILTIN {
        let t = table(r, &odd, IncludeObject::Metadata, now());
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"], json!({}));
        let columns = t["columnDefinitions"].as_array().unwrap();
        let name = columns
            .iter()
            .find(|c| c["name"] == "Name")
            .unwrap_or_else(|| panic!("{} has no Name column", r.plural));
        assert_eq!(name["format"], "name", "{}", r.plural);
        for c in columns {
            for key in ["name", "type", "format", "description", "priority"] {
                assert!(c.get(key).is_some(), "{}: column without {key}", r.plural);
            }
            assert!(
                ["string", "integer", "boolean", "date"].contains(&c["type"].as_str().unwrap()),
                "{}",
                r.plural
            );
            assert!(!c["description"].as_str().unwrap().is_empty());
        }
        let rows = t["rows"].as_array().unwrap();
        assert_eq!(rows.len(), odd.len());
        for row in rows {
            assert_eq!(
                row["cells"].as_array().unwrap().len(),
                columns.len(),
                "{}: one cell per column",
                r.plural
            );
        }
        // The name cell of an object without a name is empty, never an error.
        let name_index = columns.iter().position(|c| c["name"] == "Name").unwrap();
        assert_eq!(rows[0]["cells"][name_index], "", "{}", r.plural);
        assert_eq!(rows[1]["cells"][name_index], "x", "{}", r.plural);
    }
}

#[test]
fn an_empty_list_has_columns_and_no_rows() {
    let t = table(resource("", "pods"), &[], IncludeObject::Metadata, now());
    assert_eq!(t["rows"], json!([]));
    assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 9);
}

#[test]
fn include_object_controls_what_rows_carry() {
    let pod = json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]},
    });
    let pods = resource("", "pods");

    let t = table(
        pods,
        std::slice::from_ref(&pod),
        IncludeObject::Metadata,
        now(),
    );
    assert_eq!(
        t["rows"][0]["object"],
        json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        })
    );

    let t = table(
        pods,
        std::slice::from_ref(&pod),
        IncludeObject::Object,
        now(),
    );
    assert_eq!(t["rows"][0]["object"], pod);

    let t = table(pods, std::slice::from_ref(&pod), IncludeObject::None, now());
    assert!(t["rows"][0].get("object").is_none());

    // Metadata is the default, as kube's includeObject.
    assert_eq!(IncludeObject::default(), IncludeObject::Metadata);
    assert_eq!("".parse(), Ok(IncludeObject::Metadata));
    assert_eq!("None".parse(), Ok(IncludeObject::None));
    assert_eq!("Object".parse(), Ok(IncludeObject::Object));
    assert_eq!(
        "all".parse::<IncludeObject>(),
        Err(r#"unrecognized includeObject value: "all""#.to_string())
    );

    // An object without metadata still gets a PartialObjectMetadata.
    let t = table(pods, &[json!({})], IncludeObject::Metadata, now());
    assert_eq!(t["rows"][0]["object"]["metadata"], json!({}));
}

#[test]
fn column_definitions_have_kube_shape() {
    let t = table(resource("", "pods"), &[], IncludeObject::None, now());
    let columns = t["columnDefinitions"].as_array().unwrap();
    assert_eq!(columns[0]["name"], "Name");
    assert_eq!(columns[0]["type"], "string");
    assert_eq!(columns[0]["format"], "name");
    assert_eq!(columns[0]["priority"], 0);
    assert!(
        columns[0]["description"]
            .as_str()
            .unwrap()
            .starts_with("Name must be unique within a namespace.")
    );
    assert_eq!(columns[1]["format"], "");
    assert_eq!(columns[5]["name"], "IP");
    assert_eq!(columns[5]["priority"], 1);
}

#[test]
fn limit_ranges_use_kube_default_table() {
    let t = table(
        resource("", "limitranges"),
        &[
            json!({"metadata": {"name": "cpu-limit-range", "creationTimestamp": "2024-04-30T08:15:30Z"}}),
            json!({"metadata": {"name": "no-time"}}),
        ],
        IncludeObject::None,
        now(),
    );
    let columns = t["columnDefinitions"].as_array().unwrap();
    assert_eq!(columns.len(), 2);
    assert_eq!(columns[1]["name"], "Created At");
    assert_eq!(columns[1]["type"], "date");
    assert_eq!(
        t["rows"][0]["cells"],
        json!(["cpu-limit-range", "2024-04-30T08:15:30Z"])
    );
    assert_eq!(
        t["rows"][1]["cells"],
        json!(["no-time", "0001-01-01T00:00:00Z"])
    );
}

#[test]
fn unknown_resources_print_name_and_age() {
    let crd = ResourceInfo {
        group: "stable.example.com",
        version: "v1",
        kind: "CronTab",
        plural: "crontabs",
        singular: "crontab",
        namespaced: true,
        short_names: &["ct"],
        categories: &[],
        status: false,
        scale: false,
    };
    let t = table(
        &crd,
        &[
            json!({"metadata": {"name": "my-new-cron-object", "creationTimestamp": "2024-05-01T11:55:00Z"}}),
            json!({"metadata": {"name": "no-time"}}),
        ],
        IncludeObject::None,
        now(),
    );
    let columns = t["columnDefinitions"].as_array().unwrap();
    assert_eq!(columns.len(), 2);
    assert_eq!(columns[1]["name"], "Age");
    assert_eq!(columns[1]["type"], "date");
    assert_eq!(t["rows"][0]["cells"], json!(["my-new-cron-object", "5m"]));
    assert_eq!(t["rows"][1]["cells"], json!(["no-time", null]));
}

#[test]
fn a_missing_creation_timestamp_prints_unknown_age() {
    let t = table(
        resource("", "configmaps"),
        &[json!({"metadata": {"name": "x"}})],
        IncludeObject::None,
        now(),
    );
    assert_eq!(t["rows"][0]["cells"], json!(["x", 0, "<unknown>"]));
}
