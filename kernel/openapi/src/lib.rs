//! The Kubernetes API schema that kmicro embeds, and the OpenAPI documents generated from it.
//!
//! The schema data (`data/definitions-v1.35.json.gz`, see `data/README.md` for its origin and
//! licence) is held compressed in the binary and inflated only while something is built from
//! it, so it costs no memory between uses.
//!
//! From it and the list of served resources ([`ServedApi`]: the built-in table today, custom
//! resources with their schemas later) this crate generates what kube-apiserver serves:
//! - [`v3::generate`]: the OpenAPI 3.0 documents of `/openapi/v3/<path>` (one per
//!   group-version, with every operation kube has and every schema they reach) and their
//!   index (`/openapi/v3`), which names each document with the hash of its content;
//! - [`v2::generate`]: the Swagger 2.0 document of `/openapi/v2`.
//!
//! It also builds [`builtin_schemas`], the structural schemas of the served built-in kinds
//! that managedFields and server-side apply work from (built once and kept).
//!
//! Documents are written straight into a gzip stream and kept compressed ([`Document`]);
//! [`Cache`] keeps the last generated set until the served API changes. No I/O, no HTTP.
//!
//! Data flow: `embedded` (inflate, definitions one at a time) → `schema` (JSON Schema to
//! OpenAPI 3.0 / Swagger 2.0) → `catalog` (converted schemas, references, kinds) →
//! `operations` + `params` (paths and operations) → [`v3`] / [`v2`] (rendering, through
//! `document`'s hashing, compressing writer).

mod cache;
mod catalog;
mod document;
mod embedded;
mod error;
mod operations;
mod params;
mod schema;
mod served;
pub mod v2;
pub mod v3;

pub use cache::Cache;
pub use document::Document;
pub use embedded::{DataError, definitions};
pub use error::GenerateError;
pub use served::{ExtraSchema, Resource, ServedApi};
pub use v3::V3Documents;

use std::sync::OnceLock;

use kmicro_apimachinery::registry;
use kmicro_apimachinery::schema::SchemaSet;

/// The Kubernetes version whose schema is embedded.
pub const KUBERNETES_VERSION: &str = "1.35";

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
        // kmicro's own kinds come from its own definitions; free-form places stay free.
        let module = set.kind("modules.kmicro.io", "v1alpha1", "Module").unwrap();
        let spec = set.child(module, "spec").unwrap();
        assert!(set.field(spec, "config").is_some());
        // Kinds kmicro does not serve are left out.
        assert!(set.kind("resource.k8s.io", "v1", "ResourceClaim").is_none());
    }
}
