//! Reading and writing the generic parts of an object (`metadata`, `status`) on its JSON.

use kmicro_apimachinery::registry::ResourceInfo;
use serde_json::{Map, Value, json};

/// The object's `metadata` map, created if missing.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    let map = obj.as_object_mut().expect("just made an object");
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta.as_object_mut().expect("just made an object")
}

/// A string field of `metadata`.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// `metadata.name`, or "".
pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or("")
}

/// `metadata.resourceVersion` parsed as a store revision; `None` when absent or empty.
pub fn resource_version(obj: &Value) -> Option<Result<i64, String>> {
    match meta_str(obj, "resourceVersion") {
        None | Some("") => None,
        Some(rv) => Some(parse_resource_version(rv)),
    }
}

/// Parses a resourceVersion string.
pub fn parse_resource_version(rv: &str) -> Result<i64, String> {
    rv.parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| format!("invalid resource version: {rv:?}"))
}

/// Sets `metadata.resourceVersion`.
pub fn set_resource_version(obj: &mut Value, revision: i64) {
    meta_mut(obj).insert(
        "resourceVersion".into(),
        Value::String(revision.to_string()),
    );
}

/// Whether the object is being deleted (has a deletionTimestamp).
pub fn is_terminating(obj: &Value) -> bool {
    obj.get("metadata")
        .and_then(|m| m.get("deletionTimestamp"))
        .is_some_and(|t| !t.is_null())
}

/// The object's finalizers.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A namespace's `spec.finalizers` (what must finish before it goes: `kubernetes`, the
/// namespace controller's).
pub fn spec_finalizers(ns: &Value) -> Vec<String> {
    ns.get("spec")
        .and_then(|s| s.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the object is a namespace (whose `spec.finalizers` hold its deletion too).
pub fn is_namespace(r: &ResourceInfo) -> bool {
    r.group.is_empty() && r.kind == "Namespace"
}

/// Whether an update that leaves `new` over the stored `current` deletes the object instead
/// (kube's `ShouldDeleteDuringUpdate`): a delete was asked for (`current` has a
/// deletionTimestamp) with no grace period left to run (`deletionGracePeriodSeconds` absent or
/// 0, so a pod still within its grace period is not deleted by a status update), and `new`
/// keeps no finalizers — for a namespace, neither in `metadata` nor in `spec`.
pub fn should_delete_during_update(r: &ResourceInfo, new: &Value, current: &Value) -> bool {
    let grace = current["metadata"]["deletionGracePeriodSeconds"]
        .as_i64()
        .unwrap_or(0);
    is_terminating(current)
        && grace == 0
        && finalizers(new).is_empty()
        && (!is_namespace(r) || spec_finalizers(new).is_empty())
}

/// Now, as kube's RFC 3339 timestamps with second precision.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Copies `kind` and `apiVersion` onto an object read from storage that lacks them.
pub fn set_type_meta(obj: &mut Value, kind: &str, api_version: &str) {
    if let Some(map) = obj.as_object_mut() {
        map.insert("kind".into(), Value::String(kind.into()));
        map.insert("apiVersion".into(), Value::String(api_version.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmicro_apimachinery::registry;

    #[test]
    fn resource_versions_parse_or_explain() {
        assert_eq!(parse_resource_version("42"), Ok(42));
        assert!(parse_resource_version("abc").is_err());
        assert!(parse_resource_version("-1").is_err());
        let obj = json!({"metadata": {"resourceVersion": ""}});
        assert!(resource_version(&obj).is_none());
    }

    #[test]
    fn meta_mut_repairs_odd_shapes() {
        let mut obj = json!({"metadata": 5});
        meta_mut(&mut obj).insert("name".into(), json!("x"));
        assert_eq!(name(&obj), "x");
    }

    #[test]
    fn updates_delete_only_what_has_nothing_left_to_wait_for() {
        let namespaces = registry::find("", "v1", "namespaces").unwrap();
        let pods = registry::find("", "v1", "pods").unwrap();
        let deleting = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z", "deletionGracePeriodSeconds": 0}});
        let live = json!({"metadata": {}});
        assert!(should_delete_during_update(pods, &live, &deleting));
        assert!(!should_delete_during_update(pods, &live, &live));
        let with_finalizer = json!({"metadata": {"finalizers": ["example.com/f"]}});
        assert!(!should_delete_during_update(
            pods,
            &with_finalizer,
            &deleting
        ));
        // A pod within its grace period stays until its node agent (or the grace) ends it.
        let graceful = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:30Z", "deletionGracePeriodSeconds": 30}});
        assert!(!should_delete_during_update(pods, &live, &graceful));
        // A namespace waits for its spec finalizers too.
        let ns_deleting = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "spec": {"finalizers": ["kubernetes"]}});
        assert!(!should_delete_during_update(
            namespaces,
            &ns_deleting,
            &ns_deleting
        ));
        let finalized =
            json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "spec": {}});
        assert!(should_delete_during_update(
            namespaces,
            &finalized,
            &ns_deleting
        ));
    }

    #[test]
    fn timestamps_have_second_precision() {
        let ts = now_rfc3339();
        assert_eq!(ts.len(), 20, "{ts}");
        assert!(ts.ends_with('Z'));
    }
}
