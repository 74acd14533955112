//! delete and deletecollection, with finalizers, preconditions, propagation policy and pod
//! grace periods.

use http::{Response, StatusCode};
use kmicro_apimachinery::registry::ResourceInfo;
use serde_json::{Value, json};

use super::{Ctx, answer};
use crate::error::{ApiError, ApiResult};
use crate::object::{self, meta_mut};
use crate::response::{self, Body};
use crate::storage::{Stored, Write};

/// Namespaces that can never be deleted.
const IMMORTAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// How often a delete is retried when the object changes underneath it.
const RETRIES: usize = 5;

/// The parts of DeleteOptions kmicro acts on.
#[derive(Debug, Default)]
struct DeleteOptions {
    grace_period_seconds: Option<i64>,
    propagation_policy: Option<String>,
    precondition_uid: Option<String>,
    precondition_rv: Option<String>,
    dry_run: bool,
}

impl DeleteOptions {
    /// From the body (a DeleteOptions object, optional) and the query.
    fn parse(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Self> {
        let q = ctx.query;
        let mut opts = DeleteOptions {
            grace_period_seconds: q.grace_period_seconds,
            propagation_policy: q.propagation_policy.clone(),
            dry_run: q.dry_run,
            ..Default::default()
        };
        if q.orphan_dependents == Some(true) && opts.propagation_policy.is_none() {
            opts.propagation_policy = Some("Orphan".into());
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(opts);
        }
        let body: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?;
        if let Some(g) = body.get("gracePeriodSeconds").and_then(Value::as_i64) {
            opts.grace_period_seconds = Some(g);
        }
        if let Some(p) = body.get("propagationPolicy").and_then(Value::as_str) {
            opts.propagation_policy = Some(p.to_string());
        }
        if body.get("orphanDependents").and_then(Value::as_bool) == Some(true)
            && opts.propagation_policy.is_none()
        {
            opts.propagation_policy = Some("Orphan".into());
        }
        if let Some(pre) = body.get("preconditions") {
            opts.precondition_uid = pre.get("uid").and_then(Value::as_str).map(String::from);
            opts.precondition_rv = pre
                .get("resourceVersion")
                .and_then(Value::as_str)
                .map(String::from);
        }
        if body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"))
        {
            opts.dry_run = true;
        }
        match opts.propagation_policy.as_deref() {
            None | Some("Orphan" | "Background" | "Foreground") => Ok(opts),
            Some(other) => Err(ApiError::bad_request(format!(
                "unsupported propagationPolicy {other:?}; supported: Orphan, Background, Foreground"
            ))),
        }
    }
}

/// DELETE one object.
pub(super) async fn delete(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Response<Body>> {
    let opts = DeleteOptions::parse(ctx, body)?;
    let r = ctx.resource();
    if r.kind == "Namespace" && IMMORTAL_NAMESPACES.contains(&ctx.name()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "namespaces \"{}\" is forbidden: this namespace may not be deleted",
                ctx.name()
            ),
        ));
    }
    for _ in 0..RETRIES {
        let current = super::write::get_current(ctx).await?;
        check_preconditions(r, ctx.name(), &current, &opts)?;
        match delete_once(ctx, r, ctx.name(), current, &opts).await? {
            Some(obj) => return Ok(answer(ctx, StatusCode::OK, obj)),
            None => continue,
        }
    }
    Err(ApiError::stale(r, ctx.name()))
}

/// One attempt; `None` when the object changed and the caller should retry.
async fn delete_once(
    ctx: &Ctx<'_>,
    r: &ResourceInfo,
    name: &str,
    current: Stored,
    opts: &DeleteOptions,
) -> ApiResult<Option<Value>> {
    let ns = ctx.namespace();
    let mut obj = current.obj.clone();
    let mut finalizers = object::finalizers(&obj);
    let add = match opts.propagation_policy.as_deref() {
        Some("Orphan") => Some("orphan"),
        Some("Foreground") => Some("foregroundDeletion"),
        _ => None,
    };
    if let Some(f) = add
        && !finalizers.iter().any(|x| x == f)
        && !object::is_terminating(&obj)
    {
        finalizers.push(f.to_string());
    }
    if crate::crds::is_definitions(r) && !object::is_terminating(&obj) {
        crate::crds::begin_deletion(&mut obj, &mut finalizers);
    }
    let grace = pod_grace_period(r, &obj, opts);
    let namespace = r.kind == "Namespace" && r.group.is_empty();
    if finalizers.is_empty() && grace.is_none() && !namespace {
        if opts.dry_run {
            return Ok(Some(obj));
        }
        return match ctx.storage.delete(r, ns, name, current.revision).await? {
            Write::Done(_) => Ok(Some(obj)),
            Write::Conflict(None) => Err(ApiError::not_found(r, name)),
            Write::Conflict(Some(_)) => Ok(None),
        };
    }
    // Graceful: mark the object; finalizers' owners (the node agent, the namespace cleanup)
    // finish the deletion.
    let was_terminating = object::is_terminating(&obj);
    if !was_terminating {
        let meta = meta_mut(&mut obj);
        let grace_secs = grace.unwrap_or(0);
        let when = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(grace_secs))
            .unwrap_or_else(|_| jiff::Timestamp::now());
        meta.insert(
            "deletionTimestamp".into(),
            json!(when.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        );
        meta.insert("deletionGracePeriodSeconds".into(), json!(grace_secs));
        if !finalizers.is_empty() {
            meta.insert("finalizers".into(), json!(finalizers));
        }
        if namespace {
            obj["status"]["phase"] = json!("Terminating");
        }
    }
    if opts.dry_run {
        return Ok(Some(obj));
    }
    match ctx
        .storage
        .update(r, ns, name, &obj, current.revision)
        .await?
    {
        Write::Done(stored) => {
            if namespace && !was_terminating {
                crate::namespaces::finish_deletion(ctx.storage.clone(), name.to_string());
            }
            Ok(Some(stored.obj))
        }
        Write::Conflict(None) => Err(ApiError::not_found(r, name)),
        Write::Conflict(Some(_)) => Ok(None),
    }
}

/// Pods on a node are deleted gracefully (the node agent stops them first); everything else,
/// and pods with gracePeriodSeconds=0 or not yet scheduled, immediately.
fn pod_grace_period(r: &ResourceInfo, obj: &Value, opts: &DeleteOptions) -> Option<i64> {
    if r.kind != "Pod" || !r.group.is_empty() {
        return None;
    }
    let scheduled = obj["spec"]["nodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty());
    let finished = matches!(
        obj["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    );
    let grace = opts
        .grace_period_seconds
        .or_else(|| obj["spec"]["terminationGracePeriodSeconds"].as_i64())
        .unwrap_or(30);
    (scheduled && !finished && grace > 0).then_some(grace)
}

fn check_preconditions(
    r: &ResourceInfo,
    name: &str,
    current: &Stored,
    opts: &DeleteOptions,
) -> ApiResult<()> {
    if let Some(uid) = &opts.precondition_uid {
        let actual = object::meta_str(&current.obj, "uid").unwrap_or("");
        if uid != actual {
            return Err(ApiError::conflict(
                r,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                ),
            ));
        }
    }
    if let Some(rv) = &opts.precondition_rv
        && *rv != current.revision.to_string()
    {
        return Err(ApiError::conflict(
            r,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                current.revision
            ),
        ));
    }
    Ok(())
}

/// DELETE a collection: every object the selectors match, one by one.
pub(super) async fn delete_collection(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Response<Body>> {
    let opts = DeleteOptions::parse(ctx, body)?;
    let r = ctx.resource();
    let selectors = ctx.selectors()?;
    let prefix = r.namespace_prefix(ctx.namespace());
    let (items, _) = ctx
        .storage
        .list_all(r, &prefix, &|obj| selectors.matches(obj))
        .await?;
    let mut deleted = Vec::new();
    for obj in items {
        let name = object::name(&obj).to_string();
        let current = match ctx.storage.get(r, ctx.namespace(), &name).await? {
            Some(current) => current,
            None => continue,
        };
        if let Some(obj) = delete_once(ctx, r, &name, current, &opts).await? {
            deleted.push(obj);
        }
    }
    let list = json!({
        "kind": r.list_kind(),
        "apiVersion": r.api_version(),
        "metadata": {"resourceVersion": ""},
        "items": deleted,
    });
    Ok(response::json(StatusCode::OK, &list))
}
