//! delete and deletecollection, as kube's generic registry does them: preconditions,
//! finalizers (the garbage collector's `orphan` and `foregroundDeletion` per propagation
//! policy), and graceful deletion of pods (the pod strategy's grace period, shortened by a
//! later delete). Namespaces follow their own rules (`namespace`).

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
#[derive(Clone, Debug, Default)]
pub(super) struct DeleteOptions {
    /// Seconds a pod is given to stop (negative values count as 1, as in kube).
    pub(super) grace_period_seconds: Option<i64>,
    /// `Orphan`, `Background` or `Foreground`.
    pub(super) propagation_policy: Option<String>,
    /// The uid the object must have.
    pub(super) precondition_uid: Option<String>,
    /// The resourceVersion the object must be at.
    pub(super) precondition_rv: Option<String>,
    /// Nothing is written.
    pub(super) dry_run: bool,
}

impl DeleteOptions {
    /// From the query and the body (a DeleteOptions object, optional).
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
            return opts.checked();
        }
        let body: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?;
        opts.with_body(&body)
    }

    /// These options overridden by what a DeleteOptions object (`null`: none) sets.
    pub(super) fn with_body(mut self, body: &Value) -> ApiResult<Self> {
        if body.is_null() {
            return self.checked();
        }
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "invalid DeleteOptions: not a JSON object",
            ));
        }
        if let Some(g) = body.get("gracePeriodSeconds").and_then(Value::as_i64) {
            self.grace_period_seconds = Some(g);
        }
        if let Some(p) = body.get("propagationPolicy").and_then(Value::as_str) {
            self.propagation_policy = Some(p.to_string());
        }
        if body.get("orphanDependents").and_then(Value::as_bool) == Some(true)
            && self.propagation_policy.is_none()
        {
            self.propagation_policy = Some("Orphan".into());
        }
        if let Some(pre) = body.get("preconditions") {
            self.precondition_uid = pre.get("uid").and_then(Value::as_str).map(String::from);
            self.precondition_rv = pre
                .get("resourceVersion")
                .and_then(Value::as_str)
                .map(String::from);
        }
        if body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"))
        {
            self.dry_run = true;
        }
        self.checked()
    }

    fn checked(mut self) -> ApiResult<Self> {
        // kube treats a negative grace period as one second.
        if let Some(g) = self.grace_period_seconds.as_mut()
            && *g < 0
        {
            *g = 1;
        }
        match self.propagation_policy.as_deref() {
            None | Some("Orphan" | "Background" | "Foreground") => Ok(self),
            Some(other) => Err(ApiError::bad_request(format!(
                "unsupported propagationPolicy {other:?}; supported: Orphan, Background, Foreground"
            ))),
        }
    }

    /// The garbage collector's finalizers after this delete, from `current` ones (kube's
    /// `deletionFinalizersForGarbageCollection`: an explicit policy replaces them, no policy
    /// keeps them).
    pub(super) fn gc_finalizers(&self, current: &[String]) -> Vec<String> {
        let (orphan, foreground) = match self.propagation_policy.as_deref() {
            Some("Orphan") => (true, false),
            Some("Foreground") => (false, true),
            Some(_) => (false, false),
            None => return current.to_vec(),
        };
        let mut out: Vec<String> = current
            .iter()
            .filter(|f| !matches!(f.as_str(), ORPHAN | FOREGROUND))
            .cloned()
            .collect();
        if orphan {
            out.push(ORPHAN.to_string());
        }
        if foreground {
            out.push(FOREGROUND.to_string());
        }
        out
    }
}

/// The garbage collector's finalizer that orphans dependents.
const ORPHAN: &str = "orphan";
/// The garbage collector's finalizer that deletes dependents first.
const FOREGROUND: &str = "foregroundDeletion";

/// DELETE one object.
pub(super) async fn delete(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Response<Body>> {
    let opts = DeleteOptions::parse(ctx, body)?;
    let obj = delete_named(ctx, ctx.name(), &opts).await?;
    Ok(answer(ctx, StatusCode::OK, obj))
}

/// Deletes the object `name` of the request's resource (in its namespace) per `opts`: the
/// object as deleted, or as marked for a deletion that finishes later.
pub(super) async fn delete_named(
    ctx: &Ctx<'_>,
    name: &str,
    opts: &DeleteOptions,
) -> ApiResult<Value> {
    let r = ctx.resource();
    check_deletable(r, name)?;
    for _ in 0..RETRIES {
        let current = ctx
            .storage
            .get(r, ctx.namespace(), name)
            .await?
            .ok_or_else(|| ApiError::not_found(r, name))?;
        check_preconditions(r, name, &current, opts)?;
        if let Some(obj) = delete_once(ctx, r, name, current, opts).await? {
            return Ok(obj);
        }
    }
    Err(ApiError::stale(r, name))
}

/// Refuses deleting what may never be deleted (the immortal namespaces).
fn check_deletable(r: &ResourceInfo, name: &str) -> ApiResult<()> {
    if object::is_namespace(r) && IMMORTAL_NAMESPACES.contains(&name) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
        ));
    }
    Ok(())
}

/// What graceful deletion (pods only) makes of a delete.
#[derive(Debug, PartialEq, Eq)]
enum Grace {
    /// The kind has none, or a deletion without grace is under way: delete now unless
    /// finalizers wait.
    None,
    /// A graceful deletion at least as short is already under way: nothing changes.
    Pending,
    /// The deletion is marked with this many seconds (0: delete now unless finalizers wait).
    Period(i64),
}

/// One attempt; `None` when the object changed and the caller should retry.
async fn delete_once(
    ctx: &Ctx<'_>,
    r: &ResourceInfo,
    name: &str,
    current: Stored,
    opts: &DeleteOptions,
) -> ApiResult<Option<Value>> {
    if object::is_namespace(r) {
        return super::namespace::delete_once(ctx, name, current, opts).await;
    }
    let ns = ctx.namespace();
    let mut obj = current.obj.clone();
    let was_terminating = object::is_terminating(&obj);
    let now = jiff::Timestamp::now();
    let grace = match pod_grace(r, &mut obj, opts, now) {
        Grace::Pending => return Ok(Some(current.obj)),
        grace => grace,
    };
    let mut finalizers = object::finalizers(&obj);
    if !was_terminating {
        finalizers = opts.gc_finalizers(&finalizers);
        if crate::crds::is_definitions(r) {
            crate::crds::begin_deletion(&mut obj, &mut finalizers);
        }
    }
    let period = match grace {
        Grace::Period(p) => p,
        _ => 0,
    };
    if finalizers.is_empty() && period == 0 {
        if opts.dry_run {
            return Ok(Some(obj));
        }
        return match ctx.storage.delete(r, ns, name, current.revision).await? {
            Write::Done(_) => Ok(Some(obj)),
            Write::Conflict(None) => Err(ApiError::not_found(r, name)),
            Write::Conflict(Some(_)) => Ok(None),
        };
    }
    // Kept for now: the finalizers' owners (or the node agent, for a pod within its grace
    // period) finish the deletion.
    if grace == Grace::None {
        mark_as_deleting(&mut obj, now);
    }
    let meta = meta_mut(&mut obj);
    if finalizers.is_empty() {
        meta.remove("finalizers");
    } else {
        meta.insert("finalizers".into(), json!(finalizers));
    }
    if opts.dry_run {
        return Ok(Some(obj));
    }
    match ctx
        .storage
        .update(r, ns, name, &obj, current.revision)
        .await?
    {
        Write::Done(stored) => Ok(Some(stored.obj)),
        Write::Conflict(None) => Err(ApiError::not_found(r, name)),
        Write::Conflict(Some(_)) => Ok(None),
    }
}

/// kube's `rest.BeforeDelete` with the pod strategy: a pod not yet being deleted is marked
/// with its grace period (the request's, else `terminationGracePeriodSeconds`, else 30; 0
/// for a pod on no node or one that has finished, which then goes at once, as kube does); a
/// pod already within a grace period may only have it shortened.
fn pod_grace(
    r: &ResourceInfo,
    obj: &mut Value,
    opts: &DeleteOptions,
    now: jiff::Timestamp,
) -> Grace {
    if r.kind != "Pod" || !r.group.is_empty() {
        return Grace::None;
    }
    if object::is_terminating(obj) {
        let current = obj["metadata"]["deletionGracePeriodSeconds"]
            .as_i64()
            .unwrap_or(0);
        if current == 0 {
            return Grace::None;
        }
        return match opts.grace_period_seconds {
            Some(shorter) if shorter < current => {
                let asked_at = obj["metadata"]["deletionTimestamp"]
                    .as_str()
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .and_then(|t| t.checked_sub(jiff::SignedDuration::from_secs(current)).ok())
                    .unwrap_or(now);
                set_deletion(obj, asked_at, shorter);
                Grace::Period(shorter)
            }
            _ => Grace::Pending,
        };
    }
    let period = pod_grace_period(obj, opts);
    set_deletion(obj, now, period);
    bump_generation(obj);
    Grace::Period(period)
}

/// The grace period of a pod's first delete (kube's pod `CheckGracefulDelete`).
fn pod_grace_period(pod: &Value, opts: &DeleteOptions) -> i64 {
    let scheduled = pod["spec"]["nodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty());
    let finished = matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    );
    if !scheduled || finished {
        return 0;
    }
    opts.grace_period_seconds
        .or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_i64())
        .unwrap_or(30)
        .max(0)
}

/// Sets `deletionTimestamp` to `from` plus `grace` seconds and `deletionGracePeriodSeconds`.
fn set_deletion(obj: &mut Value, from: jiff::Timestamp, grace: i64) {
    let when = from
        .checked_add(jiff::SignedDuration::from_secs(grace))
        .unwrap_or(from);
    let meta = meta_mut(obj);
    meta.insert("deletionTimestamp".into(), json!(timestamp(when)));
    meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
}

/// kube's `markAsDeleting` (an object without graceful deletion that finalizers keep):
/// deleted as of now (or earlier), grace 0, generation bumped on the first delete.
fn mark_as_deleting(obj: &mut Value, now: jiff::Timestamp) {
    let existing = obj["metadata"]["deletionTimestamp"]
        .as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    if existing.is_none() && !object::is_terminating(obj) {
        bump_generation(obj);
    }
    let meta = meta_mut(obj);
    if existing.is_none_or(|t| t > now) {
        meta.insert("deletionTimestamp".into(), json!(timestamp(now)));
    }
    meta.insert("deletionGracePeriodSeconds".into(), json!(0));
}

/// A first delete bumps a tracked `metadata.generation`, as kube does.
fn bump_generation(obj: &mut Value) {
    if let Some(g) = obj["metadata"]["generation"].as_i64().filter(|g| *g > 0) {
        meta_mut(obj).insert("generation".into(), json!(g + 1));
    }
}

/// kube's timestamp form, second precision.
pub(super) fn timestamp(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
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

/// DELETE a collection: every object the selectors match, one by one as a delete of each
/// would (an object gone meanwhile is skipped; any other failure ends the request).
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
        match delete_named(ctx, object::name(&obj), &opts).await {
            Ok(obj) => deleted.push(obj),
            Err(err) if err.code == StatusCode::NOT_FOUND => {}
            Err(err) => return Err(err),
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
