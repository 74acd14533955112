//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded into the
//! JSON object a JSON body with the same content would have been, so everything after decoding
//! (type checks, defaulting, validation, storage) is the JSON path unchanged.
//!
//! kubectl sends protobuf for `create namespace|configmap|secret|deployment|…` and `auth
//! can-i`, and Go controllers (client-go) send it for every built-in kind. A body is the magic
//! `k8s\0`, then a `runtime.Unknown` envelope (`envelope`) whose `raw` is the object's own
//! message. That message is read with the protobuf wire format (`wire`) and written as JSON
//! field by field from a generated table (`schema`, shaped by `table`): for every message
//! reachable from a decodable kind, each field's number, JSON name, type and what Go's JSON
//! encoder does with it. The messages with their own JSON form (times, int-or-string,
//! quantities, raw JSON, string lists) are in `well_known`; the rest is `json`.
//!
//! The table comes from two sources that must agree field by field (`gen/generate.py`): the
//! `k8s-pb` crate's messages and the Kubernetes API's Go types (Kubernetes 1.35). Fields a
//! newer client sends that the table does not know are skipped, as kube skips them.
//!
//! No I/O; nothing here panics on input.

mod envelope;
mod json;
mod schema;
mod table;
mod well_known;
mod wire;

#[cfg(test)]
mod table_tests;

use serde_json::Value;

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Why a protobuf body was not decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The kind has no protobuf form here (custom resources, kinds not built in): kube
    /// answers 415 Unsupported Media Type.
    #[error("{0} objects cannot be sent as protobuf")]
    UnsupportedKind(String),
    /// The body is not a protobuf envelope, or its message does not parse: 400 Bad Request.
    #[error("{0}")]
    Malformed(String),
}

impl DecodeError {
    fn malformed(message: impl Into<String>) -> Self {
        Self::Malformed(message.into())
    }
}

/// Decodes a protobuf body sent to an endpoint of `group`/`version`/`kind` ("" for the core
/// group) into the JSON object. The object's message is read as that kind's, as kube reads it
/// as the endpoint's type; `apiVersion` and `kind` are the envelope's (left out when it has
/// none), for the caller to check against the endpoint as it does for JSON.
pub fn decode(body: &[u8], group: &str, version: &str, kind: &str) -> Result<Value, DecodeError> {
    let Some(msg) = table::kind_message(group, version, kind) else {
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        return Err(DecodeError::UnsupportedKind(format!("{gv}, Kind={kind}")));
    };
    let unknown = envelope::open(body)?;
    let mut obj = json::object(msg, unknown.raw)?;
    if !unknown.api_version.is_empty() {
        obj.insert("apiVersion".into(), Value::String(unknown.api_version));
    }
    if !unknown.kind.is_empty() {
        obj.insert("kind".into(), Value::String(unknown.kind));
    }
    Ok(Value::Object(obj))
}
