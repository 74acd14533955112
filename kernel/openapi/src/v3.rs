//! OpenAPI 3.0 documents (`/openapi/v3`): one per group-version (and per discovery path),
//! as kube-apiserver splits them, with the index that names each with its hash.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{Map, Value, json};

use crate::catalog::Catalog;
use crate::document::{self, Document, Writer};
use crate::error::GenerateError;
use crate::operations::{self, Body, Operation, PATCH, PathItem, Produces};
use crate::params::Param;
use crate::schema::Dialect;
use crate::served::{ServedApi, group_version_path};

/// The patch content types, each with whether it is the strategic one.
const PATCH_TYPES: [(&str, bool); 4] = [
    ("application/apply-patch+yaml", false),
    ("application/json-patch+json", false),
    ("application/merge-patch+json", false),
    ("application/strategic-merge-patch+json", true),
];

/// Every OpenAPI 3.0 document of one served API, by the path they are served under below
/// `/openapi/v3/` (`api`, `api/v1`, `apis`, `apis/apps`, `apis/apps/v1`, `version`).
#[derive(Clone, Debug)]
pub struct V3Documents {
    documents: BTreeMap<String, Document>,
}

impl V3Documents {
    /// The document served at `/openapi/v3/<path>`.
    pub fn get(&self, path: &str) -> Option<&Document> {
        self.documents.get(path)
    }

    /// The index served at `/openapi/v3`: each document's URL with its hash.
    pub fn index(&self) -> Value {
        let paths: Map<String, Value> = self
            .documents
            .iter()
            .map(|(path, doc)| {
                (
                    path.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", doc.hash())}),
                )
            })
            .collect();
        json!({ "paths": paths })
    }

    /// The compressed bytes held, all documents together.
    pub fn gzip_len(&self) -> usize {
        self.documents.values().map(|d| d.gzip().len()).sum()
    }

    /// The size of all documents' JSON together, uncompressed.
    pub fn json_len(&self) -> usize {
        self.documents.values().map(Document::json_len).sum()
    }
}

/// Generates every OpenAPI 3.0 document of `api`.
pub fn generate(api: &ServedApi<'_>) -> Result<V3Documents, GenerateError> {
    let catalog = Catalog::build(api, Dialect::V3)?;
    let mut documents = BTreeMap::new();
    documents.insert(
        "api".into(),
        write(&catalog, vec![operations::core_versions()])?,
    );
    documents.insert("apis".into(), write(&catalog, vec![operations::groups()])?);
    for group in api.groups() {
        documents.insert(
            format!("apis/{group}"),
            write(&catalog, vec![operations::group(group)])?,
        );
    }
    for (group, version) in api.group_versions() {
        let paths =
            operations::group_version(&catalog, group, version, &api.resources_of(group, version))?;
        documents.insert(group_version_path(group, version), write(&catalog, paths)?);
    }
    documents.insert(
        "version".into(),
        write(&catalog, vec![operations::code_version()])?,
    );
    Ok(V3Documents { documents })
}

/// One document: the schemas `paths` reach, then the paths.
fn write(catalog: &Catalog, mut paths: Vec<PathItem>) -> Result<Document, GenerateError> {
    let mut w = Writer::new();
    w.write_all(b"{\"components\":{\"schemas\":")?;
    w.schemas(catalog, &paths)?;
    w.write_all(b",\"securitySchemes\":")?;
    w.value(&document::bearer_token())?;
    w.write_all(b"},\"info\":")?;
    w.value(&document::info())?;
    w.write_all(b",\"openapi\":\"3.0.0\",\"paths\":")?;
    w.paths(&mut paths, path_item)?;
    w.write_all(b"}")?;
    Ok(w.finish()?)
}

/// One path item in OpenAPI 3.0 form.
fn path_item(item: &PathItem) -> Value {
    let mut out = Map::new();
    for op in &item.operations {
        out.insert(op.method.as_str().into(), operation(op));
    }
    if !item.params.is_empty() {
        out.insert("parameters".into(), params(&item.params));
    }
    Value::Object(out)
}

fn operation(op: &Operation) -> Value {
    let mut out = json!({
        "description": op.description,
        "operationId": op.id,
        "responses": responses(op),
        "tags": [op.tag],
    });
    if !op.params.is_empty() {
        out["parameters"] = params(&op.params);
    }
    match &op.body {
        Some(Body::Object { schema, required }) => {
            let mut body = json!({"content": {"*/*": {"schema": reference(schema)}}});
            if *required {
                body["required"] = json!(true);
            }
            out["requestBody"] = body;
        }
        Some(Body::Patch { strategic }) => {
            let content: Map<String, Value> = PATCH_TYPES
                .iter()
                .filter(|(_, is_strategic)| *strategic || !is_strategic)
                .map(|(ct, _)| ((*ct).into(), json!({"schema": reference(PATCH)})))
                .collect();
            out["requestBody"] = json!({"content": content, "required": true});
        }
        None => {}
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

fn responses(op: &Operation) -> Value {
    let replies: Map<String, Value> = op
        .replies
        .iter()
        .map(|reply| {
            let mut out = json!({"description": reply.description()});
            if let Some(schema) = &reply.schema {
                let mut content = Map::new();
                content.insert(
                    "application/json".into(),
                    json!({"schema": reference(schema)}),
                );
                if op.produces == Produces::Stream {
                    content.insert(
                        "application/json;stream=watch".into(),
                        json!({"schema": reference(schema)}),
                    );
                }
                out["content"] = Value::Object(content);
            }
            (reply.code.to_string(), out)
        })
        .collect();
    Value::Object(replies)
}

fn params(params: &[Param]) -> Value {
    params
        .iter()
        .map(|p| {
            let mut out = json!({
                "description": p.description,
                "in": p.location.as_str(),
                "name": p.name,
                "schema": {"type": p.kind.as_str(), "uniqueItems": true},
            });
            if p.required() {
                out["required"] = json!(true);
            }
            out
        })
        .collect()
}

fn reference(name: &str) -> Value {
    Dialect::V3.reference(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::served::Resource;

    fn builtin() -> Vec<Resource<'static>> {
        let r = |group, kind, plural, namespaced, status, scale| Resource {
            group,
            version: "v1",
            kind,
            plural,
            namespaced,
            status,
            scale,
            strategic_merge_patch: true,
            create_only: false,
            subresources: &[],
        };
        vec![
            r("", "Namespace", "namespaces", false, true, false),
            r("", "Pod", "pods", true, true, false),
            r("", "ConfigMap", "configmaps", true, false, false),
            r("apps", "Deployment", "deployments", true, true, true),
            r(
                "networking.k8s.io",
                "Ingress",
                "ingresses",
                true,
                true,
                false,
            ),
        ]
    }

    fn parsed(docs: &V3Documents, path: &str) -> Value {
        serde_json::from_slice(&docs.get(path).unwrap().json().unwrap()).unwrap()
    }

    /// Every `$ref` in `value` names a schema of `doc`.
    fn assert_refs_resolve(doc: &Value) {
        let mut refs = Vec::new();
        crate::schema::references(doc, Dialect::V3, &mut refs);
        assert!(!refs.is_empty());
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for name in refs {
            assert!(schemas.contains_key(&name), "{name} is not in the document");
        }
        let text = doc.to_string();
        assert!(!text.contains("#/$defs/") && !text.contains("\"null\""));
    }

    #[test]
    fn index_names_each_document_with_its_hash() {
        let resources = builtin();
        let docs = generate(&ServedApi {
            resources: &resources,
            extra_schemas: &[],
        })
        .unwrap();
        let index = docs.index();
        let paths: Vec<&String> = index["paths"].as_object().unwrap().keys().collect();
        assert_eq!(
            paths,
            [
                "api",
                "api/v1",
                "apis",
                "apis/apps",
                "apis/apps/v1",
                "apis/networking.k8s.io",
                "apis/networking.k8s.io/v1",
                "version"
            ]
        );
        let hash = docs.get("apis/apps/v1").unwrap().hash();
        assert_eq!(
            index["paths"]["apis/apps/v1"]["serverRelativeURL"],
            format!("/openapi/v3/apis/apps/v1?hash={hash}")
        );
        assert!(
            hash.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        for path in paths {
            let doc = parsed(&docs, path);
            assert_eq!(doc["openapi"], "3.0.0");
            assert_refs_resolve(&doc);
        }
    }

    #[test]
    fn modules_are_described_by_kmicros_own_definitions() {
        let resources = [Resource {
            group: "modules.kmicro.io",
            version: "v1alpha1",
            kind: "Module",
            plural: "modules",
            namespaced: false,
            status: true,
            scale: false,
            strategic_merge_patch: true,
            create_only: false,
            subresources: &[],
        }];
        let docs = generate(&ServedApi {
            resources: &resources,
            extra_schemas: &[],
        })
        .unwrap();
        let doc = parsed(&docs, "apis/modules.kmicro.io/v1alpha1");
        assert_refs_resolve(&doc);
        let schemas = &doc["components"]["schemas"];
        let module = &schemas["io.kmicro.modules.v1alpha1.Module"];
        assert_eq!(
            module["x-kubernetes-group-version-kind"][0]["kind"],
            "Module"
        );
        let config = &schemas["io.kmicro.modules.v1alpha1.ModuleSpec"]["properties"]["config"];
        assert_eq!(config["x-kubernetes-preserve-unknown-fields"], true);
        assert!(
            doc["paths"]
                .get("/apis/modules.kmicro.io/v1alpha1/modules/{name}/status")
                .is_some()
        );
    }

    #[test]
    fn deployment_patch_is_what_kubectl_looks_for() {
        let resources = builtin();
        let docs = generate(&ServedApi {
            resources: &resources,
            extra_schemas: &[],
        })
        .unwrap();
        let doc = parsed(&docs, "apis/apps/v1");
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "apps", "kind": "Deployment", "version": "v1"})
        );
        assert_eq!(patch["x-kubernetes-action"], "patch");
        let names: Vec<&str> = patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["dryRun", "fieldManager", "fieldValidation", "force"]
        );
        let content = patch["requestBody"]["content"].as_object().unwrap();
        for ct in PATCH_TYPES.map(|(ct, _)| ct) {
            assert!(content.contains_key(ct), "{ct}");
        }
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]["x-kubernetes-patch-merge-key"],
            "name"
        );
        assert_eq!(
            schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]["items"],
            json!({"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"})
        );
        assert!(schemas.get("io.k8s.api.autoscaling.v1.Scale").is_some());
        assert!(schemas.get("io.k8s.api.core.v1.ConfigMap").is_none());
        // The same inputs give the same bytes.
        let again = generate(&ServedApi {
            resources: &resources,
            extra_schemas: &[],
        })
        .unwrap();
        assert_eq!(
            again.get("apis/apps/v1").unwrap().hash(),
            docs.get("apis/apps/v1").unwrap().hash()
        );
    }

    #[test]
    fn custom_resources_come_with_their_schemas_and_no_strategic_patch() {
        let widget = Resource {
            group: "example.com",
            version: "v1",
            kind: "Widget",
            plural: "widgets",
            namespaced: true,
            status: false,
            scale: false,
            strategic_merge_patch: false,
            create_only: false,
            subresources: &[],
        };
        let schema = |kind: &str, props: Value| crate::served::ExtraSchema {
            name: format!("com.example.v1.{kind}"),
            schema: json!({
                "type": "object",
                "properties": props,
                "x-kubernetes-group-version-kind": [{"group": "example.com", "version": "v1", "kind": kind}],
            }),
        };
        let extras = [
            schema(
                "Widget",
                json!({"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}),
            ),
            schema(
                "WidgetList",
                json!({"items": {"type": "array", "items": {"$ref": "#/components/schemas/com.example.v1.Widget"}}}),
            ),
        ];
        let resources = [widget];
        let docs = generate(&ServedApi {
            resources: &resources,
            extra_schemas: &extras,
        })
        .unwrap();
        let doc = parsed(&docs, "apis/example.com/v1");
        assert_refs_resolve(&doc);
        let patch =
            &doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
        assert_eq!(patch["operationId"], "patchExampleComV1NamespacedWidget");
        assert!(
            patch["requestBody"]["content"]
                .get("application/strategic-merge-patch+json")
                .is_none()
        );
        assert!(
            doc["components"]["schemas"]
                .get("com.example.v1.WidgetList")
                .is_some()
        );

        let missing = generate(&ServedApi {
            resources: &resources,
            extra_schemas: &extras[..1],
        });
        assert!(matches!(missing, Err(GenerateError::MissingKind { .. })));
    }
}
