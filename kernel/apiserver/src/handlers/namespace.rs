//! What namespaces do differently (kube's namespace storage): deleting one marks it
//! `Terminating` and waits for its `spec.finalizers` (the namespace controller's
//! `kubernetes`, removed through `namespaces/<name>/finalize` once the namespace is empty);
//! a namespace being deleted goes as soon as an update leaves it without finalizers of either
//! kind.

use http::{Response, StatusCode};
use kmicro_apimachinery::rules::{self, RulesError};
use serde_json::{Value, json};

use super::delete::{DeleteOptions, timestamp};
use super::{Ctx, answer, managed, object_body};
use crate::error::{ApiError, ApiResult};
use crate::object::{self, meta_mut};
use crate::response::Body;
use crate::storage::{Stored, Write};

/// Why a namespace being deleted cannot be deleted again yet (kube's words).
const STILL_FINALIZING: &str = "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.";

/// PUT `namespaces/<name>/finalize`: replaces `spec.finalizers` and nothing else; a namespace
/// being deleted that is left with no finalizers at all is deleted.
pub(super) async fn finalize(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Response<Body>> {
    let r = ctx.resource();
    let name = ctx.name();
    let mut new = object_body(ctx, body)?;
    super::write::check_type(r, &mut new)?;
    super::write::check_name(ctx, &new)?;
    let current = super::write::get_current(ctx).await?;
    if let Some(rv) = object::resource_version(&new)
        && rv.map_err(ApiError::bad_request)? != current.revision
    {
        return Err(ApiError::stale(r, name));
    }
    let mut new =
        rules::prepare_namespace_finalize(new, &current.obj).map_err(|err| match err {
            RulesError::Decode(message) => ApiError::bad_request(message),
            RulesError::Invalid(causes) => ApiError::invalid(r, name, causes),
        })?;
    managed::record_update(ctx, &managed::manager(ctx)?, Some(&current.obj), &mut new);
    if ctx.query.dry_run {
        return Ok(answer(ctx, StatusCode::OK, new));
    }
    if object::should_delete_during_update(r, &new, &current.obj) {
        return match ctx.storage.delete(r, None, name, current.revision).await? {
            Write::Done(_) => {
                tracing::info!(namespace = %name, "namespace finalized and deleted");
                Ok(answer(ctx, StatusCode::OK, new))
            }
            Write::Conflict(None) => Err(ApiError::not_found(r, name)),
            Write::Conflict(Some(_)) => Err(ApiError::stale(r, name)),
        };
    }
    match ctx
        .storage
        .update(r, None, name, &new, current.revision)
        .await?
    {
        Write::Done(stored) => Ok(answer(ctx, StatusCode::OK, stored.obj)),
        Write::Conflict(None) => Err(ApiError::not_found(r, name)),
        Write::Conflict(Some(_)) => Err(ApiError::stale(r, name)),
    }
}

/// One attempt at deleting namespace `name` (kube's namespace `Delete`); `None` when it
/// changed meanwhile and the caller should retry.
///
/// The first delete sets `deletionTimestamp`, phase `Terminating` and the garbage collector's
/// finalizers per the options; the namespace then stays while `spec.finalizers` (or
/// `metadata.finalizers`) has any. A namespace without any is deleted at once. Deleting again
/// while `spec.finalizers` remain is a conflict.
pub(super) async fn delete_once(
    ctx: &Ctx<'_>,
    name: &str,
    current: Stored,
    opts: &DeleteOptions,
) -> ApiResult<Option<Value>> {
    let r = ctx.resource();
    let mut obj = current.obj.clone();
    let was_terminating = object::is_terminating(&obj);
    let spec_finalizers = object::spec_finalizers(&obj);
    if was_terminating && !spec_finalizers.is_empty() {
        return Err(ApiError::conflict(r, name, STILL_FINALIZING));
    }
    let finalizers = if was_terminating {
        object::finalizers(&obj)
    } else {
        opts.gc_finalizers(&object::finalizers(&obj))
    };
    if spec_finalizers.is_empty() && finalizers.is_empty() {
        if opts.dry_run {
            return Ok(Some(obj));
        }
        return match ctx.storage.delete(r, None, name, current.revision).await? {
            Write::Done(_) => Ok(Some(obj)),
            Write::Conflict(None) => Err(ApiError::not_found(r, name)),
            Write::Conflict(Some(_)) => Ok(None),
        };
    }
    if was_terminating {
        // Only metadata finalizers are left: their owners finish the deletion.
        return Ok(Some(obj));
    }
    let meta = meta_mut(&mut obj);
    meta.insert(
        "deletionTimestamp".into(),
        json!(timestamp(jiff::Timestamp::now())),
    );
    if finalizers.is_empty() {
        meta.remove("finalizers");
    } else {
        meta.insert("finalizers".into(), json!(finalizers));
        if spec_finalizers.is_empty() {
            // Only metadata finalizers hold it: kube marks it deleting with no grace.
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
        }
    }
    obj["status"]["phase"] = json!("Terminating");
    if opts.dry_run {
        return Ok(Some(obj));
    }
    match ctx
        .storage
        .update(r, None, name, &obj, current.revision)
        .await?
    {
        Write::Done(stored) => {
            crate::namespaces::finish_deletion(ctx.storage.clone(), name.to_string());
            Ok(Some(stored.obj))
        }
        Write::Conflict(None) => Err(ApiError::not_found(r, name)),
        Write::Conflict(Some(_)) => Ok(None),
    }
}
