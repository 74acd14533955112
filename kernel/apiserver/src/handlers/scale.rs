//! The `scale` subresource: an `autoscaling/v1` Scale view of `spec.replicas`.

use http::{Response, StatusCode};
use kmicro_apimachinery::selector::LabelSelector;
use kmicro_apimachinery::status::Cause;
use serde_json::{Value, json};

use super::write::{Patch, get_current, replace};
use super::{Ctx, object_body};
use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::response::{self, Body};
use crate::storage::Stored;

/// GET …/scale
pub(super) async fn get(ctx: &Ctx<'_>) -> ApiResult<Response<Body>> {
    let current = get_current(ctx).await?;
    Ok(response::json(StatusCode::OK, &scale_of(&current.obj)))
}

/// PUT …/scale
pub(super) async fn update(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Response<Body>> {
    let scale = object_body(ctx, body)?;
    let current = get_current(ctx).await?;
    if let Some(rv) = object::resource_version(&scale)
        && rv.map_err(ApiError::bad_request)? != current.revision
    {
        return Err(ApiError::stale(ctx.resource(), ctx.name()));
    }
    set_replicas(ctx, &current, &scale).await
}

/// PATCH …/scale
pub(super) async fn patch(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Response<Body>> {
    let patch = Patch::parse(ctx.resource(), &ctx.content_type(), body)?;
    let mut last = None;
    for _ in 0..5 {
        let current = get_current(ctx).await?;
        let scale = patch.apply(&scale_of(&current.obj))?;
        match set_replicas(ctx, &current, &scale).await {
            Err(err) if err.reason == "Conflict" => last = Some(err),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| ApiError::stale(ctx.resource(), ctx.name())))
}

async fn set_replicas(ctx: &Ctx<'_>, current: &Stored, scale: &Value) -> ApiResult<Response<Body>> {
    let replicas = match scale["spec"]["replicas"].as_i64() {
        Some(n) if (0..=i64::from(i32::MAX)).contains(&n) => n,
        other => {
            let shown =
                other.map_or_else(|| scale["spec"]["replicas"].to_string(), |n| n.to_string());
            return Err(ApiError::invalid(
                ctx.resource(),
                ctx.name(),
                vec![Cause::invalid(
                    "spec.replicas",
                    &shown,
                    "must be greater than or equal to 0",
                )],
            ));
        }
    };
    let mut obj = current.obj.clone();
    obj["spec"]["replicas"] = json!(replicas);
    let (_, stored) = replace(ctx, current, obj).await?;
    Ok(response::json(StatusCode::OK, &scale_of(&stored)))
}

/// The Scale view of a scalable object.
fn scale_of(obj: &Value) -> Value {
    let meta = &obj["metadata"];
    let selector = LabelSelector::from_json(&obj["spec"]["selector"])
        .map(|s| s.to_string())
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {
            "replicas": obj["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector,
        },
    })
}
