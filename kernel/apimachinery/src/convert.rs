//! Conversions between versions that share one storage. kube-apiserver stores
//! `events.k8s.io/v1` Events as `core/v1` Events (one resource, two views); so does kmicro,
//! converting on the way in and out.

use serde_json::{Map, Value};

/// Field renames between `events.k8s.io/v1` (left) and `core/v1` (right).
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

/// An `events.k8s.io/v1` Event as the `core/v1` Event it is stored as.
pub fn event_to_core(obj: Value) -> Value {
    rename(obj, "v1", |field| {
        EVENT_FIELDS
            .iter()
            .find(|(new, _)| *new == field)
            .map(|(_, old)| *old)
    })
}

/// A stored `core/v1` Event as the `events.k8s.io/v1` Event clients of that group see.
pub fn event_from_core(obj: Value) -> Value {
    rename(obj, "events.k8s.io/v1", |field| {
        EVENT_FIELDS
            .iter()
            .find(|(_, old)| *old == field)
            .map(|(new, _)| *new)
    })
}

fn rename(obj: Value, api_version: &str, map: impl Fn(&str) -> Option<&'static str>) -> Value {
    let Value::Object(fields) = obj else {
        return obj;
    };
    let mut out = Map::with_capacity(fields.len());
    for (name, value) in fields {
        let name = map(&name).map(str::to_string).unwrap_or(name);
        out.insert(name, value);
    }
    out.insert("apiVersion".into(), Value::from(api_version));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_round_trip_between_the_two_views() {
        let new = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "default"},
            "regarding": {"kind": "Pod", "name": "web"}, "note": "pulled", "reason": "Pulled",
            "reportingController": "kubelet", "reportingInstance": "node-1", "type": "Normal",
            "deprecatedCount": 3,
        });
        let core = event_to_core(new.clone());
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "web");
        assert_eq!(core["message"], "pulled");
        assert_eq!(core["reportingComponent"], "kubelet");
        assert_eq!(core["count"], 3);
        assert!(core.get("note").is_none());
        assert_eq!(event_from_core(core), new);
    }
}
