//! Tests of the table printers: each family against objects shaped like a real cluster's, with
//! the cells `kubectl get -o wide` shows for them.

use serde_json::Value;

use super::{IncludeObject, table};
use crate::registry::{self, ResourceInfo};

/// The reference time of every test: 2024-05-01T12:00:00Z.
fn now() -> jiff::Timestamp {
    "2024-05-01T12:00:00Z".parse().unwrap()
}

/// An RFC 3339 time `secs` seconds before [`now`].
fn ago(secs: i64) -> String {
    let t = now() - jiff::SignedDuration::from_secs(secs);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The built-in resource `group`/`plural`.
fn resource(group: &str, plural: &str) -> &'static ResourceInfo {
    registry::BUILTIN
        .iter()
        .find(|r| r.group == group && r.plural == plural)
        .unwrap()
}

/// The column names of the table of `group`/`plural`.
fn headers(group: &str, plural: &str) -> Vec<String> {
    let t = table(resource(group, plural), &[], IncludeObject::None, now());
    t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// The cells of one object's row, rendered as kubectl renders them (strings as is, numbers and
/// booleans in decimal and `true`/`false`).
fn row(group: &str, plural: &str, object: Value) -> Vec<String> {
    let t = table(
        resource(group, plural),
        &[object],
        IncludeObject::None,
        now(),
    );
    t["rows"][0]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| match c {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

mod apps;
mod batch;
mod core_v1;
mod duration;
mod events;
mod generic;
mod networking;
mod others;
mod pod;
mod quantity;
mod rbac;
mod storage;
