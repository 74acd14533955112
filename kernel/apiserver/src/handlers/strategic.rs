//! Strategic merge patches (`application/strategic-merge-patch+json`) on built-in kinds, with
//! the schemas kmicro embeds; kinds without one (custom resources) refuse them with 415, as
//! kube-apiserver does.

use http::StatusCode;
use kmicro_apimachinery::patch::strategic::{self, PatchError};
use kmicro_apimachinery::registry::ResourceInfo;
use serde_json::Value;

use super::parse_body;
use crate::error::{ApiError, ApiResult};

/// The content type of strategic merge patches.
pub(super) const CONTENT_TYPE: &str = "application/strategic-merge-patch+json";

/// A strategic merge patch body.
pub(super) struct StrategicPatch(Value);

impl StrategicPatch {
    /// Parses a strategic merge patch on `resource`: 415 for a kind without a built-in
    /// schema, 400 for a body that is not JSON.
    pub(super) fn parse(resource: &ResourceInfo, body: &[u8]) -> ApiResult<Self> {
        if !is_built_in(resource) {
            return Err(ApiError::unsupported_patch_type(CUSTOM_PATCH_TYPES));
        }
        parse_body(body).map(Self)
    }

    /// The patch as sent.
    pub(super) fn value(&self) -> &Value {
        &self.0
    }

    /// Applies the patch to `doc`, whose `apiVersion` and `kind` choose the schema. The Scale
    /// of a scale subresource has none in the set, only scalar fields, and merges without one
    /// (which for scalars is the same).
    pub(super) fn apply(&self, doc: &Value) -> ApiResult<Value> {
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let kind = doc["kind"].as_str().unwrap_or_default();
        let schemas = kmicro_openapi::builtin_schemas();
        let root = schemas
            .kind(group, version, kind)
            .unwrap_or_else(|| schemas.any());
        strategic::apply(doc.clone(), self.0.clone(), schemas, root).map_err(|err| match err {
            PatchError::BadRequest(message) => ApiError::bad_request(message),
            // kube answers these with a generic message, the cause left out.
            PatchError::Unprocessable(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                "the server rejected our request due to an error in our request",
            ),
        })
    }
}

/// The patch types a built-in kind takes, in kube's order.
const BUILT_IN_PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    CONTENT_TYPE,
    "application/apply-patch+yaml",
];

/// The patch types other kinds (custom resources) take.
const CUSTOM_PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];

/// The patch types a resource takes (kube's order), for 415 answers.
pub(super) fn patch_types(resource: &ResourceInfo) -> &'static [&'static str] {
    if is_built_in(resource) {
        BUILT_IN_PATCH_TYPES
    } else {
        CUSTOM_PATCH_TYPES
    }
}

/// Whether the resource's kind has a built-in schema, which strategic merge patch needs.
fn is_built_in(r: &ResourceInfo) -> bool {
    kmicro_openapi::builtin_schemas()
        .kind(r.group, r.version, r.kind)
        .is_some()
}

#[cfg(test)]
mod tests {
    use kmicro_apimachinery::registry::BUILTIN;
    use serde_json::json;

    use super::*;

    #[test]
    fn every_served_kind_takes_strategic_patches() {
        for resource in BUILTIN {
            assert_eq!(
                patch_types(resource),
                BUILT_IN_PATCH_TYPES,
                "{}",
                resource.kind
            );
        }
    }

    #[test]
    fn custom_kinds_refuse_them_with_415() {
        let crontab = ResourceInfo {
            group: "stable.example.com",
            kind: "CronTab",
            plural: "crontabs",
            singular: "crontab",
            ..BUILTIN[0]
        };
        let err = StrategicPatch::parse(&crontab, b"{}").err().unwrap();
        assert_eq!(err.code, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(err.reason, "UnsupportedMediaType");
        assert_eq!(
            err.message,
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        );
    }

    #[test]
    fn errors_map_to_kubes_codes() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"finalizers": []}});
        let bad = StrategicPatch(json!({"metadata": {"$patch": "nope"}}));
        assert_eq!(bad.apply(&pod).err().unwrap().code, StatusCode::BAD_REQUEST);
        let lists = StrategicPatch(json!({"metadata": {"finalizers": [["x"]]}}));
        let err = lists.apply(&pod).err().unwrap();
        assert_eq!(err.code, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.reason, "Invalid");
    }
}
