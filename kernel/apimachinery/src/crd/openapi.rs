//! The OpenAPI definitions of a custom resource version, as kube-apiserver publishes them for
//! `/openapi/v3` and `/openapi/v2` (so `kubectl explain` and kubectl's client-side validation
//! know custom resources): `<reversed group>.<version>.<Kind>` (the version's schema with
//! `apiVersion`, `kind` and `metadata` declared) and its `…List`, both in OpenAPI 3.0 form
//! (references to `#/components/schemas/…`) and tagged with `x-kubernetes-group-version-kind`.

use serde_json::{Value, json};

use super::CustomResource;

const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DOC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const METADATA_DOC: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const LIST_METADATA_DOC: &str = "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const META: &str = "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1";

impl CustomResource {
    /// The definitions of the object and of its list, `(name, schema)`.
    pub fn openapi_definitions(&self) -> Vec<(String, Value)> {
        let r = self.info();
        let reversed: Vec<&str> = r.group.split('.').rev().collect();
        let prefix = format!("{}.{}", reversed.join("."), r.version);
        let gvk = |kind: &str| json!([{"group": r.group, "version": r.version, "kind": kind}]);
        let name = format!("{prefix}.{}", r.kind);

        let mut object = match self.openapi_schema() {
            Value::Object(map) => Value::Object(map.clone()),
            _ => json!({"type": "object"}),
        };
        let props = object
            .as_object_mut()
            .map(|m| m.entry("properties").or_insert_with(|| json!({})));
        if let Some(props) = props {
            props["apiVersion"] = json!({"type": "string", "description": API_VERSION_DOC});
            props["kind"] = json!({"type": "string", "description": KIND_DOC});
            props["metadata"] = json!({
                "allOf": [{"$ref": format!("{META}.ObjectMeta")}],
                "description": METADATA_DOC,
            });
        }
        object["x-kubernetes-group-version-kind"] = gvk(r.kind);

        let list_kind = r.list_kind();
        let list = json!({
            "type": "object",
            "description": format!("{list_kind} is a list of {}", r.kind),
            "required": ["items"],
            "properties": {
                "apiVersion": {"type": "string", "description": API_VERSION_DOC},
                "kind": {"type": "string", "description": KIND_DOC},
                "items": {
                    "type": "array",
                    "description": format!("List of {}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", r.plural),
                    "items": {"$ref": format!("#/components/schemas/{name}")},
                },
                "metadata": {
                    "allOf": [{"$ref": format!("{META}.ListMeta")}],
                    "description": LIST_METADATA_DOC,
                },
            },
            "x-kubernetes-group-version-kind": gvk(&list_kind),
        });
        vec![(name, object), (format!("{prefix}.{list_kind}"), list)]
    }
}
