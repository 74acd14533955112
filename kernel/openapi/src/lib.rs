//! The Kubernetes API schema that kmicro embeds, and what is generated from it.
//!
//! The schema data (`data/definitions-v1.35.json.gz`, see `data/README.md` for its origin and
//! licence) is held compressed in the binary and inflated only while something is built from it,
//! so it costs no memory between uses.

use std::io::Read;
use std::sync::OnceLock;

use kmicro_apimachinery::registry;
use kmicro_apimachinery::schema::SchemaSet;

/// The Kubernetes version whose schema is embedded.
pub const KUBERNETES_VERSION: &str = "1.35";

/// The embedded schema, gzip-compressed JSON Schema with the definitions under `$defs`.
const DEFINITIONS_GZ: &[u8] = include_bytes!("../data/definitions-v1.35.json.gz");

/// The embedded data could not be read: a build defect, never an input error.
#[derive(Debug, thiserror::Error)]
#[error("embedded Kubernetes schema data is unreadable: {0}")]
pub struct DataError(String);

/// Inflates and parses the embedded definitions: the object mapping each definition name
/// (`io.k8s.api.core.v1.Pod`) to its JSON Schema. The caller owns (and drops) the result.
pub fn definitions() -> Result<serde_json::Map<String, serde_json::Value>, DataError> {
    let mut json = Vec::with_capacity(1 << 21);
    flate2::read::GzDecoder::new(DEFINITIONS_GZ)
        .read_to_end(&mut json)
        .map_err(|e| DataError(e.to_string()))?;
    let mut doc: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| DataError(e.to_string()))?;
    match doc.get_mut("$defs").map(serde_json::Value::take) {
        Some(serde_json::Value::Object(defs)) => Ok(defs),
        _ => Err(DataError("no `$defs` object".into())),
    }
}

/// The structural schemas of every built-in kind kmicro serves, built from the embedded data on
/// first use and kept (about 0.35 MiB; the inflated JSON, 7 MiB at the peak, is dropped).
pub fn builtin_schemas() -> &'static SchemaSet {
    static SCHEMAS: OnceLock<SchemaSet> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        // The data is fixed at build time and checked by this crate's tests, so a failure
        // here is a defect of the build, not of any input.
        let defs = definitions().expect("embedded schema data inflates and parses");
        SchemaSet::from_definitions_for(&defs, |group, version, kind| {
            registry::BUILTIN
                .iter()
                .any(|r| r.group == group && r.version == version && r.kind == kind)
        })
        .expect("embedded schema references resolve")
    })
}

#[cfg(test)]
mod tests {
    use kmicro_apimachinery::schema::{ListType, Schema};

    use super::*;

    #[test]
    fn embedded_definitions_hold_the_served_types_with_patch_metadata() {
        let defs = definitions().unwrap();
        assert!(defs.len() > 700);
        let containers = &defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(containers["x-kubernetes-list-type"], "map");
        assert_eq!(
            defs["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"][0]["kind"],
            "Deployment"
        );
    }

    #[test]
    fn builtin_schemas_know_merge_keys_and_list_types() {
        let set = builtin_schemas();
        let deployment = set.kind("apps", "v1", "Deployment").unwrap();
        let template = set
            .child(set.child(deployment, "spec").unwrap(), "template")
            .unwrap();
        let pod_spec = set.child(template, "spec").unwrap();
        let containers = set.field(pod_spec, "containers").unwrap();
        assert!(containers.patch.merge);
        assert_eq!(containers.patch.merge_key.as_deref(), Some("name"));
        let Schema::List(list) = set.get(containers.schema) else {
            panic!("containers is a list")
        };
        assert_eq!(list.list_type, ListType::Map(vec!["name".into()]));
        assert!(set.field(list.items, "image").is_some());
        assert!(set.kind("", "v1", "ConfigMap").is_some());
        assert!(set.kind("batch", "v1", "CronJob").is_some());
        // Kinds kmicro does not serve are left out.
        assert!(set.kind("resource.k8s.io", "v1", "ResourceClaim").is_none());
    }
}
