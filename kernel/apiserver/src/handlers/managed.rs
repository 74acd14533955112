//! The managedFields side of writes: who the writer is (`fieldManager`, else the User-Agent),
//! which schema its object has, what part of the object it may own, and the hook that records
//! an update's fields before the object is stored.

use std::sync::Arc;

use http::header;
use kmicro_apimachinery::apply::{self, Scope, Write};
use kmicro_apimachinery::crd::CustomResource;
use kmicro_apimachinery::registry::ResourceInfo;
use kmicro_apimachinery::schema::{SchemaRef, SchemaSet};
use kmicro_apimachinery::status::Cause;
use serde_json::Value;

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::route::Verb;

/// The request's field manager: `fieldManager` if given (checked as kube checks it), else
/// the User-Agent's product (`kubectl-edit`, `kubectl-client-side-apply`, `kubectl`).
pub(super) fn manager(ctx: &Ctx<'_>) -> ApiResult<String> {
    match &ctx.query.field_manager {
        Some(name) => {
            check_name(ctx, name)?;
            Ok(name.clone())
        }
        None => Ok(apply::manager_from_user_agent(
            ctx.headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default(),
        )),
    }
}

/// Refuses a `fieldManager` kube refuses (too long, unprintable characters): 422 on the
/// request's options.
pub(super) fn check_name(ctx: &Ctx<'_>, name: &str) -> ApiResult<()> {
    let causes: Vec<Cause> = apply::check_manager_name(name)
        .into_iter()
        .map(|message| Cause::new("FieldValueInvalid", "fieldManager", message))
        .collect();
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_options(options_kind(ctx), causes))
    }
}

/// The options type kube validates a request's query against.
pub(super) fn options_kind(ctx: &Ctx<'_>) -> &'static str {
    match ctx.rr.verb {
        Verb::Create => "CreateOptions",
        Verb::Update => "UpdateOptions",
        _ => "PatchOptions",
    }
}

/// The structural schema of a built-in resource's objects, else one that takes anything
/// (objects granular, lists atomic). Custom resources have their version's own
/// ([`Structure`]).
pub(super) fn schema(r: &ResourceInfo) -> (&'static SchemaSet, SchemaRef) {
    let set = kmicro_openapi::builtin_schemas();
    let at = set
        .kind(r.group, r.version, r.kind)
        .unwrap_or_else(|| set.any());
    (set, at)
}

/// The structural schema of the objects a request writes: a custom resource version's own
/// ([`CustomResource::structure`]), else [`schema`]. Holds the custom resource while in use.
pub(super) struct Structure {
    resource: &'static ResourceInfo,
    custom: Option<Arc<CustomResource>>,
}

impl Structure {
    /// The structure of the request's resource.
    pub(super) fn of(ctx: &Ctx<'_>) -> Self {
        Self {
            resource: ctx.resource(),
            custom: ctx.custom(),
        }
    }

    /// The schema set and the objects' schema in it.
    pub(super) fn get(&self) -> (&SchemaSet, SchemaRef) {
        match &self.custom {
            Some(custom) => custom.structure(),
            None => schema(self.resource),
        }
    }
}

/// What a write to this endpoint may change: status only through `status`, everything but
/// status on the main resource of kinds that have a status subresource.
fn scope(ctx: &Ctx<'_>) -> Scope {
    match ctx.rr.subresource.as_deref() {
        Some("status") => Scope::Status,
        Some(_) => Scope::Whole,
        None if ctx.resource().status => Scope::NotStatus,
        None => Scope::Whole,
    }
}

/// Runs `f` with the description of this request's write by `manager`, at the current time.
pub(super) fn with_write<T>(ctx: &Ctx<'_>, manager: &str, f: impl FnOnce(&Write<'_>) -> T) -> T {
    let r = ctx.resource();
    let structure = Structure::of(ctx);
    let (schemas, kind) = structure.get();
    let api_version = r.api_version();
    let now = object::now_rfc3339();
    f(&Write {
        schemas,
        kind,
        manager,
        api_version: &api_version,
        subresource: ctx.rr.subresource.as_deref().unwrap_or_default(),
        scope: scope(ctx),
        now: &now,
    })
}

/// Records a create (`live` = `None`), update or patch in `new`'s managedFields.
pub(super) fn record_update(ctx: &Ctx<'_>, manager: &str, live: Option<&Value>, new: &mut Value) {
    with_write(ctx, manager, |write| apply::record_update(write, live, new));
}
