//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`), read as the kind the
//! endpoint takes and turned into the JSON object the rest of the write path works on.

use kmicro_protobuf::DecodeError;
use serde_json::Value;

use super::Ctx;
use crate::error::{ApiError, ApiResult};

/// Decodes a protobuf create or update body. A kind without a protobuf form (a custom
/// resource) is 415, as kube answers; a body that does not decode is 400 with kube's wording.
pub(super) fn object(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Value> {
    let unsupported = || ApiError::unsupported_media_type(kmicro_protobuf::MEDIA_TYPE);
    let (group, version, kind) = endpoint_kind(ctx).ok_or_else(unsupported)?;
    kmicro_protobuf::decode(body, group, version, kind).map_err(|err| match err {
        DecodeError::UnsupportedKind(_) => unsupported(),
        DecodeError::Malformed(why) => ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {kind}): {why}"
        )),
    })
}

/// The group, version and kind of the object an endpoint takes: the resource's own for the
/// resource and its status (and a namespace's `finalize`), `autoscaling/v1` Scale for `scale`,
/// TokenRequest for `serviceaccounts/…/token`; `None` for any other subresource (a Binding or
/// an Eviction, whose protobuf forms are not decoded yet: 415).
fn endpoint_kind(ctx: &Ctx<'_>) -> Option<(&'static str, &'static str, &'static str)> {
    let r = ctx.resource();
    match ctx.rr.subresource.as_deref() {
        None | Some("status") => Some((r.group, r.version, r.kind)),
        Some("finalize") if r.group.is_empty() && r.kind == "Namespace" => {
            Some((r.group, r.version, r.kind))
        }
        Some("scale") => Some(("autoscaling", "v1", "Scale")),
        Some("token") if r.group.is_empty() && r.kind == "ServiceAccount" => {
            Some(("authentication.k8s.io", "v1", "TokenRequest"))
        }
        Some(_) => None,
    }
}
