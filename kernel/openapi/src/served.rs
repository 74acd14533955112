//! What the server serves: the input of every generated document.

use kmicro_apimachinery::registry::Subresource;
use serde_json::Value;

/// One served API resource, as the documents describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resource<'a> {
    /// API group; empty for the core group.
    pub group: &'a str,
    /// API version within the group.
    pub version: &'a str,
    /// Kind of one object; its schema is the one whose `x-kubernetes-group-version-kind`
    /// names this group, version and kind (and `<kind>List` for its list).
    pub kind: &'a str,
    /// Plural name, used in paths (`deployments`).
    pub plural: &'a str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Whether the resource has a `status` subresource.
    pub status: bool,
    /// Whether the resource has a `scale` subresource (an `autoscaling/v1` Scale).
    pub scale: bool,
    /// Whether PATCH accepts strategic merge patches (built-in kinds do, custom resources
    /// do not).
    pub strategic_merge_patch: bool,
    /// Whether objects are only created (the virtual review resources: POST to the
    /// collection answers, nothing is stored to read, list or watch).
    pub create_only: bool,
    /// Subresources with a kind and verbs of their own (`serviceaccounts/token`).
    pub subresources: &'a [Subresource],
}

/// The group-version's path below `/` (`api/v1`, `apis/apps/v1`), which is also its key in
/// the `/openapi/v3` index: `api/<version>` for the core group, `apis/<group>/<version>`
/// otherwise.
pub(crate) fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// A schema the embedded data lacks (a custom resource's), in OpenAPI 3.0 form: references
/// as `#/components/schemas/<name>`, and `x-kubernetes-group-version-kind` naming the kinds
/// it describes.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtraSchema {
    /// The component name (`com.example.v1.Widget`).
    pub name: String,
    /// The schema.
    pub schema: Value,
}

/// Everything the documents describe: the served resources and the schemas that are not
/// embedded. Group-versions appear in the documents in the order of their first resource.
#[derive(Clone, Copy, Debug)]
pub struct ServedApi<'a> {
    /// The served resources.
    pub resources: &'a [Resource<'a>],
    /// Schemas added to (or replacing) the embedded ones, by name.
    pub extra_schemas: &'a [ExtraSchema],
}

/// A digest of a [`ServedApi`]: equal digests, equal documents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint(Vec<u8>);

impl ServedApi<'_> {
    /// The served group-versions as `(group, version)`, in order of first appearance.
    pub fn group_versions(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        for r in self.resources {
            if !out.contains(&(r.group, r.version)) {
                out.push((r.group, r.version));
            }
        }
        out
    }

    /// The served groups other than core, in order of first appearance.
    pub(crate) fn groups(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (group, _) in self.group_versions() {
            if !group.is_empty() && !out.contains(&group) {
                out.push(group);
            }
        }
        out
    }

    /// The resources of one group-version.
    pub(crate) fn resources_of(&self, group: &str, version: &str) -> Vec<&Resource<'_>> {
        self.resources
            .iter()
            .filter(|r| r.group == group && r.version == version)
            .collect()
    }

    /// A SHA-256 over everything that shapes the documents.
    pub(crate) fn fingerprint(&self) -> Fingerprint {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for r in self.resources {
            for text in [r.group, r.version, r.kind, r.plural] {
                ctx.update(text.as_bytes());
                ctx.update(&[0]);
            }
            ctx.update(&[
                u8::from(r.namespaced),
                u8::from(r.status),
                u8::from(r.scale),
                u8::from(r.strategic_merge_patch),
                u8::from(r.create_only),
            ]);
            for sub in r.subresources {
                for text in [sub.name, sub.group, sub.version, sub.kind]
                    .into_iter()
                    .chain(sub.verbs.iter().copied())
                {
                    ctx.update(text.as_bytes());
                    ctx.update(&[0]);
                }
                ctx.update(&[1]);
            }
        }
        for extra in self.extra_schemas {
            ctx.update(extra.name.as_bytes());
            ctx.update(&[0]);
            ctx.update(extra.schema.to_string().as_bytes());
            ctx.update(&[0]);
        }
        Fingerprint(ctx.finish().as_ref().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PODS: Resource<'static> = Resource {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        namespaced: true,
        status: true,
        scale: false,
        strategic_merge_patch: true,
        create_only: false,
        subresources: &[],
    };

    #[test]
    fn fingerprints_change_with_resources_and_schemas() {
        let deploy = Resource {
            group: "apps",
            kind: "Deployment",
            plural: "deployments",
            scale: true,
            ..PODS
        };
        let one = [PODS];
        let two = [PODS, deploy];
        let extra = [ExtraSchema {
            name: "com.example.v1.Widget".into(),
            schema: serde_json::json!({"type": "object"}),
        }];
        let a = ServedApi {
            resources: &one,
            extra_schemas: &[],
        };
        let b = ServedApi {
            resources: &two,
            extra_schemas: &[],
        };
        let c = ServedApi {
            resources: &one,
            extra_schemas: &extra,
        };
        assert_eq!(a.fingerprint(), a.fingerprint());
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_eq!(b.group_versions(), [("", "v1"), ("apps", "v1")]);
        assert_eq!(b.groups(), ["apps"]);
        assert_eq!(group_version_path("apps", "v1"), "apis/apps/v1");
        assert_eq!(group_version_path("", "v1"), "api/v1");
    }
}
