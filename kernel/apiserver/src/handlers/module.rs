//! The subresources of Modules: `source` (the component's bytes, read and replaced whole)
//! and `log` (the module's log lines, from the kernel's [`ModuleHost`]).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use kmicro_apimachinery::registry::ResourceInfo;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::Ctx;
use super::write::{Replaced, Track, get_current, replace_with};
use crate::error::{ApiError, ApiResult};
use crate::module_blobs::{self, MAX_COMPONENT};
use crate::module_host::{ModuleHost, ModuleLog};
use crate::response::{self, Body};
use crate::storage::TxnExtra;

/// The media type of components.
pub(crate) const WASM: &str = "application/wasm";

/// How often an upload starts over when garbage collection removed its blob meanwhile.
const UPLOAD_ATTEMPTS: usize = 3;

/// Whether `r` is the Module resource.
pub(crate) fn is_modules(r: &ResourceInfo) -> bool {
    r.group == kmicro_apimachinery::module::GROUP && r.plural == kmicro_apimachinery::module::PLURAL
}

/// The largest body a request may have: components are larger than objects.
pub(crate) fn body_limit(r: &ResourceInfo, subresource: Option<&str>) -> Option<usize> {
    (is_modules(r) && subresource == Some("source")).then_some(MAX_COMPONENT)
}

/// `GET modules/<name>/source`: the bytes of `spec.source`, as `application/wasm`.
pub(super) async fn get_source(ctx: &Ctx<'_>) -> ApiResult<Response<Body>> {
    let current = get_current(ctx).await?;
    let source = &current.obj["spec"]["source"];
    let name = ctx.name();
    let bytes = if source["builtin"] == json!(true) {
        let host = host(ctx)?;
        host.builtin_source(name)
            .ok_or_else(|| not_found(format!("kmicro has no built-in module named {name:?}")))?
    } else if let Some(digest) = source["digest"].as_str() {
        module_blobs::read(ctx.storage.store().as_ref(), digest)
            .await?
            .ok_or_else(|| {
                not_found(format!(
                    "the component {digest} of module {name:?} is not stored"
                ))
            })?
    } else {
        return Err(not_found(format!(
            "module {name:?} has no source yet: PUT its component to modules/{name}/source"
        )));
    };
    let mut resp = Response::new(response::full(bytes));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(WASM));
    Ok(resp)
}

/// `PUT modules/<name>/source`: stores the component in the body and points
/// `spec.source.digest` at it (a new generation); answers the Module.
pub(super) async fn put_source(ctx: &Ctx<'_>, body: Bytes) -> ApiResult<Response<Body>> {
    match ctx.content_type().as_str() {
        WASM | "application/octet-stream" => {}
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                format!(
                    "the body of a module's source is a WebAssembly component sent as {WASM} or application/octet-stream, not {other:?}"
                ),
            ));
        }
    }
    module_blobs::check_component(&body).map_err(|why| {
        ApiError::bad_request(format!("the body is not a WebAssembly component: {why}"))
    })?;
    let digest = module_blobs::digest_of(&body);
    for _ in 0..UPLOAD_ATTEMPTS {
        let current = get_current(ctx).await?;
        let new = with_digest(&current.obj, &digest);
        if ctx.query.dry_run {
            return match replace_with(ctx, &current, new, Track::Update, TxnExtra::default())
                .await?
            {
                Replaced::Done(status, obj) => Ok(super::answer(ctx, status, obj)),
                Replaced::ExtraFailed => Err(ApiError::stale(ctx.resource(), ctx.name())),
            };
        }
        let staged = module_blobs::stage(ctx.storage.store().as_ref(), &body).await?;
        let extra = TxnExtra {
            compares: staged.compares,
            ops: staged.ops,
        };
        match replace_with(ctx, &current, new, Track::Update, extra).await? {
            Replaced::Done(status, obj) => {
                tracing::info!(module = ctx.name(), %digest, bytes = body.len(), "module source replaced");
                collect_garbage(ctx).await;
                return Ok(super::answer(ctx, status, obj));
            }
            Replaced::ExtraFailed => {
                tracing::debug!(
                    module = ctx.name(),
                    "the stored component moved during the upload; again"
                );
            }
        }
    }
    Err(ApiError::stale(ctx.resource(), ctx.name()))
}

/// The Module `obj` with its source replaced by `digest`.
fn with_digest(obj: &Value, digest: &str) -> Value {
    let mut new = obj.clone();
    new["spec"]["source"] = json!({ "digest": digest });
    new
}

/// Deletes the blobs no Module refers to any more; a failure is logged (the next
/// collection retries).
pub(crate) async fn collect_garbage(ctx: &Ctx<'_>) {
    if let Err(err) =
        module_blobs::collect_garbage(ctx.storage.store().as_ref(), ctx.resource()).await
    {
        tracing::warn!(error = %err.message, "collecting unreferenced module components failed");
    }
}

/// `GET modules/<name>/log[?follow=true][&tailLines=N]`: the module's log lines as text;
/// when following, the answer streams until the client goes, the module is unloaded or the
/// server stops.
pub(super) async fn get_log(ctx: &Ctx<'_>) -> ApiResult<Response<Body>> {
    // 404 for a Module that does not exist, before asking the host.
    get_current(ctx).await?;
    let host = host(ctx)?;
    let name = ctx.name();
    let ModuleLog { lines, follow } = host
        .logs(name, ctx.query.tail_lines, ctx.query.follow)
        .ok_or_else(|| {
            not_found(format!(
                "module {name:?} has no log: it has not been loaded"
            ))
        })?;
    let mut text = String::new();
    for line in &lines {
        text.push_str(line);
        text.push('\n');
    }
    let Some(mut follow) = follow.filter(|_| ctx.query.follow) else {
        return Ok(response::text(StatusCode::OK, text));
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let mut stopping = ctx.stopping.clone();
    tokio::spawn(async move {
        if !text.is_empty() && tx.send(Bytes::from(text)).await.is_err() {
            return;
        }
        loop {
            let line = tokio::select! {
                _ = stopping.wait_for(|stop| *stop) => return,
                _ = tx.closed() => return,
                line = follow.recv() => line,
            };
            let chunk = match line {
                Ok(line) => format!("{line}\n"),
                Err(RecvError::Lagged(n)) => {
                    format!("[kmicro: {n} log lines dropped: the reader fell behind]\n")
                }
                Err(RecvError::Closed) => return,
            };
            if tx.send(Bytes::from(chunk)).await.is_err() {
                return;
            }
        }
    });
    let mut resp = response::stream(rx);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(resp)
}

/// The registered module host, or 503 while none is.
fn host(ctx: &Ctx<'_>) -> ApiResult<std::sync::Arc<dyn ModuleHost>> {
    ctx.module_host.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the module supervisor is not running: module logs and built-in sources are not available",
        )
    })
}

fn not_found(message: String) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NotFound", message)
}
