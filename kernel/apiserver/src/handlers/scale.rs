//! The `scale` subresource: an `autoscaling/v1` Scale view of the replicas of an object — of
//! `spec.replicas`, `status.replicas` and the `spec.selector` label selector for built-in
//! resources, of the version's `specReplicasPath`, `statusReplicasPath` and
//! `labelSelectorPath` for custom resources.

use http::{Response, StatusCode};
use kmicro_apimachinery::crd::{ScalePaths, simple_path};
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
    Ok(response::json(
        StatusCode::OK,
        &scale_of(&current.obj, paths(ctx).as_ref()),
    ))
}

/// The custom resource version's scale paths; `None` for built-in resources.
fn paths(ctx: &Ctx<'_>) -> Option<ScalePaths> {
    ctx.custom().and_then(|c| c.scale().cloned())
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
    for _ in 0..super::write::PATCH_RETRIES {
        let current = get_current(ctx).await?;
        let scale = patch.apply(&scale_of(&current.obj, paths(ctx).as_ref()))?;
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
    let paths = paths(ctx);
    let mut obj = current.obj.clone();
    match &paths {
        None => obj["spec"]["replicas"] = json!(replicas),
        Some(p) => set_at(&mut obj, &p.spec_replicas, json!(replicas)),
    }
    let (_, stored) = replace(ctx, current, obj).await?;
    Ok(response::json(
        StatusCode::OK,
        &scale_of(&stored, paths.as_ref()),
    ))
}

/// Sets the value at a simple path (`.spec.replicas`), creating the objects on the way.
fn set_at(obj: &mut Value, path: &str, value: Value) {
    let keys: Vec<&str> = path.split('.').filter(|k| !k.is_empty()).collect();
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut at = obj;
    for key in parents {
        if !at.get(*key).is_some_and(Value::is_object) {
            at[*key] = json!({});
        }
        at = &mut at[*key];
    }
    at[*last] = value;
}

/// The Scale view of a scalable object: of a built-in resource (`paths` `None`), or of a
/// custom resource through its version's paths (missing replicas read as 0, as kube's).
fn scale_of(obj: &Value, paths: Option<&ScalePaths>) -> Value {
    let meta = &obj["metadata"];
    let (spec_replicas, status_replicas, selector) = match paths {
        None => (
            obj["spec"]["replicas"].as_i64().unwrap_or(1),
            obj["status"]["replicas"].as_i64().unwrap_or(0),
            LabelSelector::from_json(&obj["spec"]["selector"])
                .map(|s| s.to_string())
                .unwrap_or_default(),
        ),
        Some(p) => {
            let int = |path: &str| simple_path(path).follow(obj).and_then(Value::as_i64);
            let selector = p
                .label_selector
                .as_deref()
                .and_then(|path| simple_path(path).follow(obj))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (
                int(&p.spec_replicas).unwrap_or(0),
                int(&p.status_replicas).unwrap_or(0),
                selector,
            )
        }
    };
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
        "spec": {"replicas": spec_replicas},
        "status": {
            "replicas": status_replicas,
            "selector": selector,
        },
    })
}
