//! The Swagger 2.0 document (`/openapi/v2`): every path of the served API in one document,
//! with every schema they reach under `definitions`.

use std::io::Write;

use serde_json::{Map, Value, json};

use crate::catalog::Catalog;
use crate::document::{self, Document, Writer};
use crate::error::GenerateError;
use crate::operations::{self, Body, Operation, PATCH, PathItem, Produces};
use crate::params::Param;
use crate::schema::Dialect;
use crate::served::ServedApi;

/// The patch content types, each with whether it is the strategic one.
const PATCH_TYPES: [(&str, bool); 4] = [
    ("application/json-patch+json", false),
    ("application/merge-patch+json", false),
    ("application/strategic-merge-patch+json", true),
    ("application/apply-patch+yaml", false),
];

/// Generates the Swagger 2.0 document of `api`.
pub fn generate(api: &ServedApi<'_>) -> Result<Document, GenerateError> {
    let catalog = Catalog::build(api, Dialect::V2)?;
    let mut paths = vec![operations::core_versions(), operations::groups()];
    paths.extend(api.groups().into_iter().map(operations::group));
    for (group, version) in api.group_versions() {
        paths.extend(operations::group_version(
            &catalog,
            group,
            version,
            &api.resources_of(group, version),
        )?);
    }
    paths.push(operations::code_version());

    let mut w = Writer::new();
    w.write_all(b"{\"definitions\":")?;
    w.schemas(&catalog, &paths)?;
    w.write_all(b",\"info\":")?;
    w.value(&document::info())?;
    w.write_all(b",\"paths\":")?;
    w.paths(&mut paths, path_item)?;
    w.write_all(b",\"security\":[{\"BearerToken\":[]}],\"securityDefinitions\":")?;
    w.value(&document::bearer_token())?;
    w.write_all(b",\"swagger\":\"2.0\"}")?;
    Ok(w.finish()?)
}

/// One path item in Swagger 2.0 form.
fn path_item(item: &PathItem) -> Value {
    let mut out = Map::new();
    for op in &item.operations {
        out.insert(op.method.as_str().into(), operation(op));
    }
    if !item.params.is_empty() {
        out.insert("parameters".into(), item.params.iter().map(param).collect());
    }
    Value::Object(out)
}

fn operation(op: &Operation) -> Value {
    let mut params: Vec<Value> = Vec::new();
    let consumes: Vec<&str> = match &op.body {
        Some(Body::Object { schema, required }) => {
            params.push(body(schema, *required));
            vec!["*/*"]
        }
        Some(Body::Patch { strategic }) => {
            params.push(body(PATCH, true));
            PATCH_TYPES
                .iter()
                .filter(|(_, is_strategic)| *strategic || !is_strategic)
                .map(|(ct, _)| *ct)
                .collect()
        }
        None => vec!["*/*"],
    };
    params.extend(op.params.iter().map(param));
    let mut produces = vec!["application/json"];
    if op.produces == Produces::Stream {
        produces.push("application/json;stream=watch");
    }
    let responses: Map<String, Value> = op
        .replies
        .iter()
        .map(|reply| {
            let mut out = json!({"description": reply.description()});
            if let Some(schema) = &reply.schema {
                out["schema"] = Dialect::V2.reference(schema);
            }
            (reply.code.to_string(), out)
        })
        .collect();
    let mut out = json!({
        "consumes": consumes,
        "description": op.description,
        "operationId": op.id,
        "produces": produces,
        "responses": responses,
        "schemes": ["https"],
        "tags": [op.tag],
    });
    if !params.is_empty() {
        out["parameters"] = Value::Array(params);
    }
    if let Some(action) = op.action {
        out["x-kubernetes-action"] = json!(action.as_str());
    }
    if let Some(gvk) = &op.gvk {
        out["x-kubernetes-group-version-kind"] =
            json!({"group": gvk.group, "kind": gvk.kind, "version": gvk.version});
    }
    out
}

/// The `body` parameter holding an object of `schema`.
fn body(schema: &str, required: bool) -> Value {
    let mut out = json!({"in": "body", "name": "body", "schema": Dialect::V2.reference(schema)});
    if required {
        out["required"] = json!(true);
    }
    out
}

fn param(p: &Param) -> Value {
    let mut out = json!({
        "description": p.description,
        "in": p.location.as_str(),
        "name": p.name,
        "type": p.kind.as_str(),
        "uniqueItems": true,
    });
    if p.required() {
        out["required"] = json!(true);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::served::Resource;

    #[test]
    fn one_swagger_document_with_every_path_and_resolvable_definitions() {
        let resources = [
            Resource {
                group: "",
                version: "v1",
                kind: "ConfigMap",
                plural: "configmaps",
                namespaced: true,
                status: false,
                scale: false,
                strategic_merge_patch: true,
                create_only: false,
                subresources: &[],
            },
            Resource {
                group: "apps",
                version: "v1",
                kind: "Deployment",
                plural: "deployments",
                namespaced: true,
                status: true,
                scale: true,
                strategic_merge_patch: true,
                create_only: false,
                subresources: &[],
            },
        ];
        let doc = generate(&ServedApi {
            resources: &resources,
            extra_schemas: &[],
        })
        .unwrap();
        let doc: Value = serde_json::from_slice(&doc.json().unwrap()).unwrap();
        assert_eq!(doc["swagger"], "2.0");
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
        assert!(
            patch["consumes"]
                .as_array()
                .unwrap()
                .contains(&json!("application/strategic-merge-patch+json"))
        );
        assert_eq!(patch["parameters"][0]["in"], "body");
        assert!(
            doc["paths"]
                .get("/api/v1/namespaces/{namespace}/configmaps")
                .is_some()
        );
        let mut refs = Vec::new();
        crate::schema::references(&doc, Dialect::V2, &mut refs);
        let definitions = doc["definitions"].as_object().unwrap();
        for name in refs {
            assert!(definitions.contains_key(&name), "{name}");
        }
        let int_or_string = &definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
        assert_eq!(
            int_or_string,
            &json!({"format": "int-or-string", "type": "string"})
        );
        assert!(!doc.to_string().contains("#/components/"));
    }
}
