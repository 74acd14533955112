//! Server-side apply: `PATCH` with `application/apply-patch+yaml`. The body (YAML or JSON) is
//! the manager's whole intent for the object; it is merged into the live object (created if
//! absent) per the kind's schema, with ownership and conflicts in managedFields.

use http::{Response, StatusCode};
use kmicro_apimachinery::apply::{self, ApplyError};
use kmicro_apimachinery::status::Cause;
use serde_json::{Value, json};

use super::write::{Track, check_name, check_namespace, check_type, insert, replace_tracked};
use super::{Ctx, answer, fields, managed};
use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::response::Body;

/// The media type of apply patches.
pub(super) const APPLY_PATCH: &str = "application/apply-patch+yaml";

/// Checks a patch request's options as kube does before anything else: an apply needs a
/// `fieldManager`; `force` is for applies only.
pub(super) fn check_patch_options(ctx: &Ctx<'_>) -> ApiResult<()> {
    let is_apply = ctx.content_type() == APPLY_PATCH;
    let mut causes = Vec::new();
    if is_apply && ctx.query.field_manager.is_none() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "fieldManager",
            "Required value: is required for apply patch",
        ));
    }
    if !is_apply && ctx.query.force.is_some() {
        causes.push(Cause::new(
            "FieldValueForbidden",
            "force",
            "Forbidden: may not be specified for non-apply patch",
        ));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_options("PatchOptions", causes))
    }
}

/// PATCH with an apply configuration: 201 when it creates the object, 200 otherwise.
pub(super) async fn apply(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Response<Body>> {
    let manager = managed::manager(ctx)?;
    let config = configuration(ctx, body)?;
    let force = ctx.query.force.unwrap_or(false);
    let mut last = None;
    for _ in 0..super::write::PATCH_RETRIES {
        let current = ctx
            .storage
            .get(ctx.resource(), ctx.namespace(), ctx.name())
            .await?;
        let live = current.as_ref().map(|c| &c.obj);
        let applied = managed::with_write(ctx, &manager, |write| {
            apply::apply(write, live, &config, force)
        })
        .map_err(|err| apply_error(ctx, err))?;
        let outcome = match &current {
            // Subresources (status) apply only to objects that exist, as in kube.
            None if ctx.rr.subresource.is_some() => {
                return Err(ApiError::not_found(ctx.resource(), ctx.name()));
            }
            None => insert(ctx, ctx.name(), applied, Track::Applied).await,
            Some(current) => replace_tracked(ctx, current, applied, Track::Applied)
                .await
                .map(|(status, obj)| answer(ctx, status, obj)),
        };
        match outcome {
            Err(err) if err.reason == "Conflict" || err.reason == "AlreadyExists" => {
                last = Some(err);
            }
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| ApiError::stale(ctx.resource(), ctx.name())))
}

/// The apply configuration: a YAML (or JSON) object of the endpoint's kind and version, named
/// as the URL names it.
///
/// Fields the kind's schema does not declare are dropped by the merge (kube's
/// `fieldValidation=Ignore`); refusing them under `Strict` belongs here, before the merge.
fn configuration(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Value> {
    let mut config = parse(body)?;
    let r = ctx.resource();
    let version = config
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if version != r.api_version() {
        return Err(ApiError::bad_request(format!(
            "Incorrect version specified in apply patch. Specified patch version: {version}, expected: {}",
            r.api_version()
        )));
    }
    check_type(r, &mut config)?;
    check_namespace(ctx, &mut config)?;
    if object::name(&config).is_empty() {
        object::meta_mut(&mut config).insert("name".into(), json!(ctx.name()));
    }
    check_name(ctx, &config)?;
    // Unknown and repeated fields per `fieldValidation`, as for any other write; unknown
    // fields never reach the merge.
    fields::check_object(ctx, body, &mut config)?;
    Ok(config)
}

/// A YAML document (JSON is YAML) that must be an object.
fn parse(body: &[u8]) -> ApiResult<Value> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(_) => serde_yaml_ng::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?,
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "error decoding YAML: the apply configuration must be an object",
        ));
    }
    Ok(value)
}

/// An apply failure as kube answers it.
fn apply_error(ctx: &Ctx<'_>, err: ApplyError) -> ApiError {
    match &err {
        ApplyError::Conflicts(conflicts) => {
            let causes: Vec<Value> = conflicts
                .iter()
                .map(|c| {
                    json!({
                        "reason": "FieldManagerConflict",
                        "message": format!("conflict with {}", c.manager),
                        "field": c.field,
                    })
                })
                .collect();
            let mut api = ApiError::new(StatusCode::CONFLICT, "Conflict", err.to_string());
            api.details = Some(json!({ "causes": causes }));
            api
        }
        ApplyError::Malformed(why) => {
            let r = ctx.resource();
            ApiError::internal(format!(
                "failed to create typed patch object ({}/{}, Kind={}) {}/{}: {why}",
                r.group,
                r.version,
                r.kind,
                ctx.namespace().unwrap_or_default(),
                ctx.name()
            ))
        }
        ApplyError::ManagedFieldsSet => ApiError::bad_request(err.to_string()),
    }
}
