//! The embedded schema data: inflating it and reading its definitions one at a time.
//!
//! The definitions are read as borrowed raw JSON (`RawValue`) over the inflated text, so a
//! generation run holds the 1.5 MB text plus the one definition it is converting, never a
//! parsed tree of all of them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Read;

use serde_json::value::RawValue;

/// The embedded schema, gzip-compressed JSON Schema with the definitions under `$defs`.
const DEFINITIONS_GZ: &[u8] = include_bytes!("../data/definitions-v1.35.json.gz");

/// kmicro's own kinds (`modules.kmicro.io`), written by hand in the same form as the embedded
/// data (JSON Schema, definitions under `$defs`, references as `#/$defs/<name>`), so every
/// consumer of the embedded definitions treats them alike.
const KMICRO_DEFINITIONS: &str = include_str!("../data/kmicro-definitions.json");

/// The embedded data could not be read: a build defect, never an input error.
#[derive(Debug, thiserror::Error)]
#[error("embedded Kubernetes schema data is unreadable: {0}")]
pub struct DataError(String);

/// The inflated JSON text of the embedded data.
pub(crate) fn inflate() -> Result<Vec<u8>, DataError> {
    let mut json = Vec::with_capacity(inflated_len());
    flate2::read::GzDecoder::new(DEFINITIONS_GZ)
        .read_to_end(&mut json)
        .map_err(|e| DataError(e.to_string()))?;
    Ok(json)
}

/// The size of the inflated data, from the gzip trailer (its last four bytes), so the text
/// is allocated once at its size.
fn inflated_len() -> usize {
    DEFINITIONS_GZ
        .len()
        .checked_sub(4)
        .and_then(|at| DEFINITIONS_GZ.get(at..))
        .and_then(|tail| <[u8; 4]>::try_from(tail).ok())
        .map_or(0, |size| u32::from_le_bytes(size) as usize)
}

/// The top level of the embedded data, its definitions left unparsed.
#[derive(serde::Deserialize)]
struct Top<'a> {
    #[serde(rename = "$defs", borrow)]
    defs: BTreeMap<Cow<'a, str>, &'a RawValue>,
}

/// The definitions in `json` (the inflated data), by name, each still unparsed.
pub(crate) fn raw_definitions(json: &[u8]) -> Result<BTreeMap<Cow<'_, str>, &RawValue>, DataError> {
    serde_json::from_slice::<Top<'_>>(json)
        .map(|top| top.defs)
        .map_err(|e| DataError(e.to_string()))
}

/// kmicro's own definitions, by name, each still unparsed.
pub(crate) fn own_raw_definitions()
-> Result<BTreeMap<Cow<'static, str>, &'static RawValue>, DataError> {
    raw_definitions(KMICRO_DEFINITIONS.as_bytes())
}

/// Parses one definition's JSON.
pub(crate) fn parse(json: &[u8]) -> Result<serde_json::Value, DataError> {
    serde_json::from_slice(json).map_err(|e| DataError(e.to_string()))
}

/// Inflates and parses the embedded definitions, with kmicro's own: the object mapping each
/// definition name (`io.k8s.api.core.v1.Pod`, `io.kmicro.modules.v1alpha1.Module`) to its JSON
/// Schema. The caller owns (and drops) the result; it is several megabytes, so hold it only
/// while it is used.
pub fn definitions() -> Result<serde_json::Map<String, serde_json::Value>, DataError> {
    let json = inflate()?;
    raw_definitions(&json)?
        .into_iter()
        .chain(own_raw_definitions()?)
        .map(|(name, raw)| Ok((name.into_owned(), parse(raw.get().as_bytes())?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_allocated_at_its_size() {
        let json = inflate().unwrap();
        assert_eq!(json.len(), inflated_len());
        assert_eq!(json.capacity(), json.len());
    }

    #[test]
    fn own_definitions_resolve_against_the_embedded_ones() {
        let defs = definitions().unwrap();
        let module = &defs["io.kmicro.modules.v1alpha1.Module"];
        assert_eq!(
            module["x-kubernetes-group-version-kind"][0]["group"],
            "modules.kmicro.io"
        );
        let mut pending = vec![module.clone()];
        while let Some(schema) = pending.pop() {
            match schema {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(target)) = map.get("$ref") {
                        let name = target.strip_prefix("#/$defs/").unwrap();
                        assert!(defs.contains_key(name), "{name} is not defined");
                    }
                    pending.extend(map.into_iter().map(|(_, v)| v));
                }
                serde_json::Value::Array(items) => pending.extend(items),
                _ => {}
            }
        }
    }

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
}
