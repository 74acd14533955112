//! What custom resources do differently from built-in ones, hooked into the common verbs: their
//! version's schema instead of a kind's rules, no creates while their definition is being
//! deleted, and tables from their printer columns (strategic merge patches are refused by
//! `strategic`, field validation and managedFields use the version's structure: `managed`).

use std::sync::Arc;

use http::StatusCode;
use kmicro_apimachinery::crd::CustomResource;
use kmicro_apimachinery::registry;
use kmicro_apimachinery::rules::{self, RulesError};
use serde_json::Value;

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::render::Printer;
use crate::route::Verb;

impl Ctx<'_> {
    /// The custom resource version addressed, if the resource is one (and still served).
    pub fn custom(&self) -> Option<Arc<CustomResource>> {
        self.storage.resources().custom(self.resource())
    }

    /// How objects of the resource print in Tables.
    pub fn printer(&self) -> Printer {
        match self.custom() {
            Some(c) => Printer::Custom(c),
            None => Printer::Builtin(self.resource()),
        }
    }
}

/// What kube refuses of custom resources before any verb runs.
pub(super) fn check(ctx: &Ctx<'_>) -> ApiResult<()> {
    let r = ctx.resource();
    if registry::find(r.group, r.version, r.plural).is_some() {
        return Ok(());
    }
    // Routed a moment ago, and its definition is gone since.
    let custom = ctx.custom().ok_or_else(ApiError::path_not_found)?;
    if custom.terminating() && ctx.rr.verb == Verb::Create {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "create not allowed while custom resource definition is terminating",
        ));
    }
    if custom.needs_webhook_conversion() {
        return Err(ApiError::internal(format!(
            "conversion webhook for {}, Kind={} failed: conversion webhooks are not supported by kmicro; use the storage version",
            r.api_version(),
            r.kind
        )));
    }
    Ok(())
}

/// kube's preparation of a new object: the kind's rules, or the custom resource's schema.
pub(super) fn prepare_create(ctx: &Ctx<'_>, obj: Value) -> Result<Value, RulesError> {
    match custom_or_builtin(ctx)? {
        Some(custom) => custom.prepare_create(obj),
        None => rules::prepare_create(ctx.resource(), obj),
    }
}

/// kube's preparation of a replacement of `old`: the kind's rules, or the custom resource's
/// schema.
pub(super) fn prepare_update(ctx: &Ctx<'_>, new: Value, old: &Value) -> Result<Value, RulesError> {
    match custom_or_builtin(ctx)? {
        Some(custom) => custom.prepare_update(new, old),
        None => rules::prepare_update(ctx.resource(), new, old),
    }
}

/// The custom resource, `None` for a built-in one; an error when the resource is neither (its
/// definition went away during the request).
fn custom_or_builtin(ctx: &Ctx<'_>) -> Result<Option<Arc<CustomResource>>, RulesError> {
    let r = ctx.resource();
    if registry::find(r.group, r.version, r.plural).is_some() {
        return Ok(None);
    }
    ctx.custom().map(Some).ok_or_else(|| {
        RulesError::Decode(format!(
            "{} is no longer served: its CustomResourceDefinition was deleted",
            crate::error::qualified(r)
        ))
    })
}
