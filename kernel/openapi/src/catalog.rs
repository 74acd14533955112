//! The schemas one generation run draws from: every embedded definition, kmicro's own, and every extra
//! schema, with what each references and the kinds each describes. Built per run and dropped
//! after it.
//!
//! It holds the inflated data (1.5 MB) and where each definition lies in it, not parsed or
//! converted schemas: a schema is parsed and converted again each time a document writes it,
//! which costs some CPU (a definition is in several documents) and saves holding every
//! converted schema at once.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use serde_json::Value;

use crate::embedded;
use crate::error::GenerateError;
use crate::schema::{self, Dialect};
use crate::served::ServedApi;

/// A group, version and kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Gvk {
    /// API group; empty for core.
    pub group: String,
    /// Version.
    pub version: String,
    /// Kind.
    pub kind: String,
}

impl Gvk {
    /// A GVK from borrowed parts.
    pub(crate) fn new(group: &str, version: &str, kind: &str) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
        }
    }

    /// `group/version`, or `version` for core.
    pub(crate) fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// Where a schema comes from.
enum Source {
    /// A definition: its bytes in the inflated data.
    Embedded(Range<usize>),
    /// One of kmicro's own definitions (same form as the embedded ones).
    Own(&'static serde_json::value::RawValue),
    /// A caller's schema, already in OpenAPI 3.0 form.
    Extra(Value),
}

/// Schemas by name, sorted by name (indexes follow that order).
pub(crate) struct Catalog {
    dialect: Dialect,
    json: Vec<u8>,
    names: Vec<String>,
    sources: Vec<Source>,
    refs: Vec<Vec<usize>>,
    kinds: HashMap<Gvk, usize>,
}

impl Catalog {
    /// Indexes every embedded definition and `api`'s extra schemas (which win on a name
    /// clash), for documents in `dialect`.
    pub(crate) fn build(api: &ServedApi<'_>, dialect: Dialect) -> Result<Self, GenerateError> {
        let json = embedded::inflate()?;
        let mut sources: BTreeMap<String, Source> = BTreeMap::new();
        for (name, raw) in embedded::raw_definitions(&json)? {
            // A borrowed raw value is a slice of `json`.
            let start = raw.get().as_ptr() as usize - json.as_ptr() as usize;
            let range = start..start + raw.get().len();
            sources.insert(name.into_owned(), Source::Embedded(range));
        }
        for (name, raw) in embedded::own_raw_definitions()? {
            sources.insert(name.into_owned(), Source::Own(raw));
        }
        for extra in api.extra_schemas {
            sources.insert(extra.name.clone(), Source::Extra(extra.schema.clone()));
        }
        let (names, sources): (Vec<String>, Vec<Source>) = sources.into_iter().unzip();
        let mut catalog = Catalog {
            dialect,
            json,
            refs: Vec::with_capacity(names.len()),
            names,
            sources,
            kinds: HashMap::new(),
        };
        for i in 0..catalog.names.len() {
            let converted = catalog.schema(i)?;
            let mut targets = Vec::new();
            schema::references(&converted, dialect, &mut targets);
            let mut refs = Vec::with_capacity(targets.len());
            for target in targets {
                let to = catalog
                    .find(&target)
                    .ok_or_else(|| GenerateError::Dangling {
                        from: catalog.names[i].clone(),
                        to: target.clone(),
                    })?;
                refs.push(to);
            }
            for gvk in kinds_described(&converted) {
                catalog.kinds.entry(gvk).or_insert(i);
            }
            catalog.refs.push(refs);
        }
        Ok(catalog)
    }

    /// The name of the schema describing `gvk`.
    pub(crate) fn kind(&self, gvk: &Gvk) -> Result<&str, GenerateError> {
        self.kinds
            .get(gvk)
            .map(|&i| self.names[i].as_str())
            .ok_or_else(|| GenerateError::MissingKind {
                group_version: gvk.group_version(),
                kind: gvk.kind.clone(),
            })
    }

    /// The index of the schema `name`.
    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        self.names.binary_search_by(|n| n.as_str().cmp(name)).ok()
    }

    /// The name of the schema at `index`.
    pub(crate) fn name(&self, index: usize) -> &str {
        &self.names[index]
    }

    /// The schema at `index`, in the catalog's dialect.
    pub(crate) fn schema(&self, index: usize) -> Result<Value, GenerateError> {
        Ok(match &self.sources[index] {
            Source::Embedded(range) => schema::from_embedded(
                &self.names[index],
                embedded::parse(&self.json[range.clone()])?,
                self.dialect,
            ),
            Source::Own(raw) => schema::from_embedded(
                &self.names[index],
                embedded::parse(raw.get().as_bytes())?,
                self.dialect,
            ),
            Source::Extra(extra) => schema::from_v3(extra.clone(), self.dialect),
        })
    }

    /// Every schema reachable from `roots` (which are included), ascending, so by name.
    pub(crate) fn closure(&self, roots: impl IntoIterator<Item = usize>) -> Vec<usize> {
        let mut seen = vec![false; self.names.len()];
        let mut pending: Vec<usize> = roots.into_iter().collect();
        while let Some(i) = pending.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                pending.extend(self.refs[i].iter().copied().filter(|&j| !seen[j]));
            }
        }
        seen.iter()
            .enumerate()
            .filter_map(|(i, &s)| s.then_some(i))
            .collect()
    }

    /// How many schemas there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }
}

/// The kinds a schema's `x-kubernetes-group-version-kind` names.
fn kinds_described(schema: &Value) -> Vec<Gvk> {
    let Some(Value::Array(items)) = schema.get("x-kubernetes-group-version-kind") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            Some(Gvk::new(
                item.get("group")?.as_str()?,
                item.get("version")?.as_str()?,
                item.get("kind")?.as_str()?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::served::ExtraSchema;

    #[test]
    fn every_embedded_reference_resolves_and_kinds_are_indexed() {
        let api = ServedApi {
            resources: &[],
            extra_schemas: &[],
        };
        let catalog = Catalog::build(&api, Dialect::V3).unwrap();
        assert!(catalog.len() > 700);
        assert_eq!(
            catalog.kind(&Gvk::new("apps", "v1", "Deployment")).unwrap(),
            "io.k8s.api.apps.v1.Deployment"
        );
        assert_eq!(
            catalog.kind(&Gvk::new("", "v1", "Pod")).unwrap(),
            "io.k8s.api.core.v1.Pod"
        );
        let pod = catalog.find("io.k8s.api.core.v1.Pod").unwrap();
        let reachable: Vec<&str> = catalog
            .closure([pod])
            .into_iter()
            .map(|i| catalog.name(i))
            .collect();
        assert!(reachable.contains(&"io.k8s.api.core.v1.Container"));
        assert!(reachable.contains(&"io.k8s.apimachinery.pkg.util.intstr.IntOrString"));
        assert!(!reachable.contains(&"io.k8s.api.apps.v1.Deployment"));
        assert!(reachable.is_sorted_by(|a, b| a < b));
    }

    #[test]
    fn extra_schemas_join_and_must_resolve() {
        let widget = ExtraSchema {
            name: "com.example.v1.Widget".into(),
            schema: serde_json::json!({
                "type": "object",
                "properties": {"metadata": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}},
                "x-kubernetes-group-version-kind": [{"group": "example.com", "version": "v1", "kind": "Widget"}],
            }),
        };
        let extras = [widget.clone()];
        let api = ServedApi {
            resources: &[],
            extra_schemas: &extras,
        };
        let catalog = Catalog::build(&api, Dialect::V2).unwrap();
        let name = catalog
            .kind(&Gvk::new("example.com", "v1", "Widget"))
            .unwrap();
        let body = catalog.schema(catalog.find(name).unwrap()).unwrap();
        assert!(
            body.to_string()
                .contains("#/definitions/io.k8s.apimachinery")
        );

        let broken = [ExtraSchema {
            schema: serde_json::json!({"$ref": "#/components/schemas/nope"}),
            ..widget
        }];
        let api = ServedApi {
            resources: &[],
            extra_schemas: &broken,
        };
        assert!(matches!(
            Catalog::build(&api, Dialect::V3),
            Err(GenerateError::Dangling { .. })
        ));
    }
}
