//! create, update and patch (of objects and their status).

use http::{Response, StatusCode};
use kmicro_apimachinery::admission;
use kmicro_apimachinery::registry::{self, ResourceInfo};
use kmicro_apimachinery::rules::RulesError;
use kmicro_apimachinery::status::Cause;
use serde_json::{Value, json};

use super::strategic::{self, StrategicPatch};
use super::{Ctx, answer, fields, managed, object_body, parse_body};
use crate::error::{ApiError, ApiResult};
use crate::object::{self, meta_mut};
use crate::response::Body;
use crate::service_alloc;
use crate::storage::{Stored, TxnExtra, Write};

/// How often a patch (or apply) is retried when the object changes underneath it. kube retries without
/// bound; this only stops a livelock, far above what contention on one object reaches.
pub(super) const PATCH_RETRIES: usize = 100;

/// POST: create an object.
pub(super) async fn create(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Response<Body>> {
    let r = ctx.resource();
    let mut obj = object_body(ctx, body)?;
    check_type(r, &mut obj)?;
    fields::check_object(ctx, body, &mut obj)?;
    check_namespace(ctx, &mut obj)?;
    if object::resource_version(&obj).is_some() {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    resolve_name(r, &mut obj)?;
    let name = object::name(&obj).to_string();
    insert(ctx, &name, obj, Track::Update).await
}

/// Who records a write's managedFields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Track {
    /// An update: the request's field manager is credited with what the write changes.
    Update,
    /// An apply, whose managedFields are already on the object.
    Applied,
}

/// Stores a new object named `name` (namespace open, server fields, the kind's rules,
/// managedFields per `track`), or answers what would be stored under `dryRun`.
pub(super) async fn insert(
    ctx: &Ctx<'_>,
    name: &str,
    mut obj: Value,
    track: Track,
) -> ApiResult<Response<Body>> {
    let r = ctx.resource();
    if let Some(ns) = ctx.namespace() {
        ensure_namespace_open(ctx, ns).await?;
    }
    stamp_new(r, &mut obj);
    admission::mutate(r, None, &mut obj);
    if crate::service_accounts::admission::applies(r, None)
        && let Some(ns) = ctx.namespace()
    {
        crate::service_accounts::admission::admit_create(ctx.storage, r, ns, name, &mut obj)
            .await?;
    }
    let mut obj = prepare(r, name, super::custom::prepare_create(ctx, obj))?;
    if track == Track::Update {
        managed::record_update(ctx, &managed::manager(ctx)?, None, &mut obj);
    }
    crate::authz::escalation::check(ctx.authorizer, ctx.user, r, &obj)?;
    if !is_service(r) {
        if ctx.query.dry_run {
            return Ok(answer(ctx, StatusCode::CREATED, obj));
        }
        return match ctx.storage.create(r, ctx.namespace(), name, &obj).await? {
            Write::Done(stored) => Ok(answer(ctx, StatusCode::CREATED, stored.obj)),
            Write::Conflict(_) => Err(ApiError::already_exists(r, name)),
        };
    }
    // A Service's cluster IP and node ports are reserved in its create's transaction; one
    // lost to a concurrent create is chosen again.
    for _ in 0..ALLOCATION_RETRIES {
        let mut obj = obj.clone();
        let extra =
            service_alloc::allocate(ctx.storage, ctx.service_ranges, r, &mut obj, None).await?;
        if ctx.query.dry_run {
            return Ok(answer(ctx, StatusCode::CREATED, obj));
        }
        match ctx
            .storage
            .create_with(r, ctx.namespace(), name, &obj, extra)
            .await?
        {
            Write::Done(stored) => return Ok(answer(ctx, StatusCode::CREATED, stored.obj)),
            Write::Conflict(Some(_)) => return Err(ApiError::already_exists(r, name)),
            Write::Conflict(None) => continue,
        }
    }
    Err(ApiError::conflict(
        r,
        name,
        "its cluster IP or node ports were taken concurrently; try again",
    ))
}

/// How often a Service's create chooses again after losing its values to a concurrent one.
const ALLOCATION_RETRIES: usize = 5;

/// Whether `r` is the core Service kind (its writes allocate).
fn is_service(r: &ResourceInfo) -> bool {
    r.group.is_empty() && r.kind == "Service"
}

/// PUT: replace an object (or its status).
pub(super) async fn update(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Response<Body>> {
    let mut obj = object_body(ctx, body)?;
    check_type(ctx.resource(), &mut obj)?;
    fields::check_object(ctx, body, &mut obj)?;
    check_namespace(ctx, &mut obj)?;
    check_name(ctx, &obj)?;
    let current = get_current(ctx).await?;
    let expected = match object::resource_version(&obj) {
        Some(rv) => rv.map_err(ApiError::bad_request)?,
        None => current.revision,
    };
    if expected != current.revision {
        return Err(ApiError::stale(ctx.resource(), ctx.name()));
    }
    let (status, obj) = replace(ctx, &current, obj).await?;
    Ok(answer(ctx, status, obj))
}

/// PATCH: apply a JSON merge patch, JSON patch or strategic merge patch to an object (or its
/// status).
pub(super) async fn patch(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Response<Body>> {
    let patch = Patch::parse(ctx.resource(), &ctx.content_type(), body)?;
    for _ in 0..PATCH_RETRIES {
        let current = get_current(ctx).await?;
        let mut patched = patch.apply(&current.obj)?;
        fields::check_patched(ctx, &patch, body, &mut patched)?;
        // A resourceVersion in the patch is a precondition; otherwise the patch applies to
        // whatever is current. Either way a write that loses a race is tried again on the
        // new object, as kube's GuaranteedUpdate does: the patched object always carries the
        // current resourceVersion unless the patch set another, so a pinned patch then fails
        // as stale above.
        let pinned = match object::resource_version(&patched) {
            Some(rv) => Some(rv.map_err(ApiError::bad_request)?),
            None => None,
        };
        if pinned.is_some_and(|rv| rv != current.revision) {
            return Err(ApiError::stale(ctx.resource(), ctx.name()));
        }
        check_type(ctx.resource(), &mut patched)?;
        match replace(ctx, &current, patched).await {
            Err(err) if err.reason == "Conflict" => continue,
            other => return other.map(|(status, obj)| answer(ctx, status, obj)),
        }
    }
    Err(ApiError::stale(ctx.resource(), ctx.name()))
}

/// A parsed patch body.
pub(super) enum Patch {
    /// RFC 7386.
    Merge(Value),
    /// RFC 6902.
    Json(json_patch::Patch),
    /// Strategic merge patch (built-in kinds).
    Strategic(StrategicPatch),
}

impl Patch {
    /// Parses a patch of the given content type on `resource`.
    pub(super) fn parse(
        resource: &ResourceInfo,
        content_type: &str,
        body: &[u8],
    ) -> ApiResult<Self> {
        match content_type {
            "application/merge-patch+json" => Ok(Patch::Merge(parse_body(body)?)),
            "application/json-patch+json" => serde_json::from_slice(body)
                .map(Patch::Json)
                .map_err(|e| ApiError::bad_request(format!("the JSON patch is invalid: {e}"))),
            strategic::CONTENT_TYPE => StrategicPatch::parse(resource, body).map(Patch::Strategic),
            _ => Err(ApiError::unsupported_patch_type(strategic::patch_types(
                resource,
            ))),
        }
    }

    /// The patched document.
    pub(super) fn apply(&self, doc: &Value) -> ApiResult<Value> {
        let mut out = doc.clone();
        match self {
            Patch::Merge(p) => json_patch::merge(&mut out, p),
            Patch::Json(p) => json_patch::patch(&mut out, p).map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid",
                    format!("the JSON patch could not be applied: {e}"),
                )
            })?,
            Patch::Strategic(p) => out = p.apply(&out)?,
        }
        Ok(out)
    }
}

/// Reads the object the request addresses, or 404.
pub(super) async fn get_current(ctx: &Ctx<'_>) -> ApiResult<Stored> {
    ctx.storage
        .get(ctx.resource(), ctx.namespace(), ctx.name())
        .await?
        .ok_or_else(|| ApiError::not_found(ctx.resource(), ctx.name()))
}

/// Writes `new` over `current` with update semantics: server fields kept, status or spec
/// protected depending on the subresource, generation bumped on spec changes, validated,
/// compare-and-swapped at `current`'s revision. An object being deleted whose last finalizer
/// goes away is deleted.
pub(super) async fn replace(
    ctx: &Ctx<'_>,
    current: &Stored,
    new: Value,
) -> ApiResult<(StatusCode, Value)> {
    replace_tracked(ctx, current, new, Track::Update).await
}

/// [`replace`], with managedFields recorded per `track`.
pub(super) async fn replace_tracked(
    ctx: &Ctx<'_>,
    current: &Stored,
    new: Value,
    track: Track,
) -> ApiResult<(StatusCode, Value)> {
    match replace_with(ctx, current, new, track, TxnExtra::default()).await? {
        Replaced::Done(status, obj) => Ok((status, obj)),
        Replaced::ExtraFailed => Err(ApiError::stale(ctx.resource(), ctx.name())),
    }
}

/// What [`replace_with`] did.
pub(super) enum Replaced {
    /// Written (or nothing to write, or a dry run): the status and the object.
    Done(StatusCode, Value),
    /// The object was unchanged but a compare of the extra part failed; nothing was written.
    ExtraFailed,
}

/// [`replace_tracked`] whose store write also checks and writes `extra`, in one transaction.
pub(super) async fn replace_with(
    ctx: &Ctx<'_>,
    current: &Stored,
    new: Value,
    track: Track,
    extra: TxnExtra,
) -> ApiResult<Replaced> {
    let r = ctx.resource();
    let name = ctx.name();
    // An apply's managedFields are final, whatever part of the object the endpoint keeps.
    let applied_fields = match track {
        Track::Applied => Some(new["metadata"]["managedFields"].clone()),
        Track::Update => None,
    };
    let mut new = match ctx.rr.subresource.as_deref() {
        Some("status") => with_status_of(&current.obj, &new),
        _ if r.status => with_status_of(&new, &current.obj),
        _ => new,
    };
    admission::mutate(r, ctx.rr.subresource.as_deref(), &mut new);
    keep_server_fields(&mut new, &current.obj);
    let mut new = prepare(
        r,
        name,
        super::custom::prepare_update(ctx, new, &current.obj),
    )?;
    crate::authz::escalation::check(ctx.authorizer, ctx.user, r, &new)?;
    match applied_fields {
        Some(fields) => {
            meta_mut(&mut new).insert("managedFields".into(), fields);
        }
        None => {
            managed::record_update(ctx, &managed::manager(ctx)?, Some(&current.obj), &mut new);
        }
    }
    if ctx.query.dry_run {
        return Ok(Replaced::Done(StatusCode::OK, new));
    }
    if object::should_delete_during_update(r, &new, &current.obj) {
        return match ctx
            .storage
            .delete(r, ctx.namespace(), name, current.revision)
            .await?
        {
            Write::Done(_) => Ok(Replaced::Done(StatusCode::OK, new)),
            Write::Conflict(_) => Err(ApiError::stale(r, name)),
        };
    }
    if without_rv(&new) == without_rv(&current.obj) {
        return Ok(Replaced::Done(StatusCode::OK, current.obj.clone()));
    }
    let mut extra = extra;
    if is_service(r) && ctx.rr.subresource.is_none() {
        let more = service_alloc::allocate(
            ctx.storage,
            ctx.service_ranges,
            r,
            &mut new,
            Some(&current.obj),
        )
        .await?;
        extra.compares.extend(more.compares);
        extra.ops.extend(more.ops);
    }
    let extra_compares = !extra.compares.is_empty();
    match ctx
        .storage
        .update_with(r, ctx.namespace(), name, &new, current.revision, extra)
        .await?
    {
        Write::Done(stored) => Ok(Replaced::Done(StatusCode::OK, stored.obj)),
        Write::Conflict(None) => Err(ApiError::not_found(r, name)),
        Write::Conflict(Some(now)) if extra_compares && now.revision == current.revision => {
            Ok(Replaced::ExtraFailed)
        }
        Write::Conflict(Some(_)) => Err(ApiError::stale(r, name)),
    }
}

fn without_rv(obj: &Value) -> Value {
    let mut obj = obj.clone();
    meta_mut(&mut obj).remove("resourceVersion");
    obj
}

/// `base` with the `status` of `source`.
fn with_status_of(base: &Value, source: &Value) -> Value {
    let mut out = base.clone();
    if let Some(map) = out.as_object_mut() {
        match source.get("status") {
            Some(status) => map.insert("status".into(), status.clone()),
            None => map.remove("status"),
        };
    }
    out
}

/// Carries the fields only the server sets from the stored object, and bumps `generation`
/// when the spec changed.
fn keep_server_fields(new: &mut Value, current: &Value) {
    let generation = current["metadata"]["generation"].as_i64();
    let spec_changed = new.get("spec") != current.get("spec");
    let meta = meta_mut(new);
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        match current["metadata"].get(field) {
            Some(v) => meta.insert(field.into(), v.clone()),
            None => meta.remove(field),
        };
    }
    meta.remove("generation");
    if let Some(generation) = generation {
        let next = if spec_changed {
            generation + 1
        } else {
            generation
        };
        meta.insert("generation".into(), json!(next));
    }
}

/// Turns the rules' verdict into the object or the API error.
fn prepare(r: &ResourceInfo, name: &str, result: Result<Value, RulesError>) -> ApiResult<Value> {
    result.map_err(|err| match err {
        RulesError::Decode(message) => ApiError::bad_request(message),
        RulesError::Invalid(causes) => ApiError::invalid(r, name, causes),
    })
}

/// Checks (or fills in) `kind` and `apiVersion` against the endpoint.
pub(super) fn check_type(r: &ResourceInfo, obj: &mut Value) -> ApiResult<()> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    let api_version = r.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), json!(api_version));
        }
        Some(v) if v == api_version => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), json!(r.kind));
        }
        Some(k) if k == r.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                r.kind
            )));
        }
    }
    Ok(())
}

/// Fills `metadata.namespace` from the path, refusing a different one.
pub(super) fn check_namespace(ctx: &Ctx<'_>, obj: &mut Value) -> ApiResult<()> {
    let in_body = object::meta_str(obj, "namespace").unwrap_or("").to_string();
    match ctx.namespace() {
        Some(ns) if in_body.is_empty() => {
            meta_mut(obj).insert("namespace".into(), json!(ns));
        }
        Some(ns) if in_body != ns => {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        None if !in_body.is_empty() && !ctx.resource().namespaced => {
            meta_mut(obj).remove("namespace");
        }
        _ => {}
    }
    Ok(())
}

/// Refuses a body whose name differs from the URL's.
pub(super) fn check_name(ctx: &Ctx<'_>, obj: &Value) -> ApiResult<()> {
    let in_body = object::name(obj);
    if !in_body.is_empty() && in_body != ctx.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({in_body}) does not match the name on the URL ({})",
            ctx.name()
        )));
    }
    Ok(())
}

/// Sets `metadata.name` from `generateName` when only that is given.
fn resolve_name(r: &ResourceInfo, obj: &mut Value) -> ApiResult<()> {
    if !object::name(obj).is_empty() {
        return Ok(());
    }
    let Some(prefix) = object::meta_str(obj, "generateName")
        .map(str::to_string)
        .filter(|p| !p.is_empty())
    else {
        return Err(ApiError::invalid(
            r,
            "",
            vec![Cause::new(
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            )],
        ));
    };
    let name = format!("{prefix}{}", random_suffix());
    meta_mut(obj).insert("name".into(), json!(name));
    Ok(())
}

/// Five characters from kube's alphabet for generated names (no vowels, no look-alikes).
pub(crate) fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// Whether kube-apiserver tracks `metadata.generation` for a kind (its strategy sets it on
/// create and bumps it when the spec changes); kmicro does for Modules too.
fn tracks_generation(r: &ResourceInfo) -> bool {
    matches!(
        (r.group, r.kind),
        ("", "Pod")
            | ("apps", _)
            | ("batch", _)
            | ("policy", "PodDisruptionBudget")
            | ("networking.k8s.io", "Ingress" | "NetworkPolicy")
            | ("modules.kmicro.io", "Module")
    ) && r.kind != "ControllerRevision"
}

/// Sets the fields the server owns on a new object and resets what a create may not set.
fn stamp_new(r: &ResourceInfo, obj: &mut Value) {
    let tracked = tracks_generation(r);
    let meta = meta_mut(obj);
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(object::now_rfc3339()));
    for field in [
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "generation",
    ] {
        meta.remove(field);
    }
    if tracked {
        meta.insert("generation".into(), json!(1));
    }
    // Status on create (empty, or Pending for pods) is the kind's rule: `rules::prepare_create`.
}

/// Refuses creates in a namespace that does not exist or is being deleted.
async fn ensure_namespace_open(ctx: &Ctx<'_>, ns: &str) -> ApiResult<()> {
    let namespaces = registry::find("", "v1", "namespaces").expect("namespaces are built in");
    match ctx.storage.get(namespaces, None, ns).await? {
        None => Err(ApiError::not_found(namespaces, ns)),
        Some(stored) if object::is_terminating(&stored.obj) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                crate::error::qualified(ctx.resource()),
                object::name(&stored.obj)
            ),
        )),
        Some(_) => Ok(()),
    }
}
