//! get and list.

use http::{Response, StatusCode};

use super::{Ctx, answer};
use crate::error::{ApiError, ApiResult};
use crate::object::parse_resource_version;
use crate::render::ListWriter;
use crate::response::{self, Body};
use crate::storage::ListOptions;

/// GET one object.
pub(super) async fn get(ctx: &Ctx<'_>) -> ApiResult<Response<Body>> {
    let stored = ctx
        .storage
        .get(ctx.resource(), ctx.namespace(), ctx.name())
        .await?
        .ok_or_else(|| ApiError::not_found(ctx.resource(), ctx.name()))?;
    Ok(answer(ctx, StatusCode::OK, stored.obj))
}

/// The revision a list reads at, from `resourceVersion` and `resourceVersionMatch`.
pub(super) async fn list_revision(ctx: &Ctx<'_>) -> ApiResult<i64> {
    let q = ctx.query;
    let rv = match q.resource_version.as_deref() {
        None | Some("") => return Ok(0),
        Some(rv) => parse_resource_version(rv).map_err(ApiError::bad_request)?,
    };
    if q.continue_token.is_some() && rv != 0 {
        return Err(ApiError::bad_request(
            "specifying resource version is not allowed when using continue",
        ));
    }
    match q.resource_version_match.as_deref() {
        Some("Exact") if rv == 0 => Err(ApiError::bad_request(
            "resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"",
        )),
        Some("Exact") => Ok(rv),
        None | Some("") | Some("NotOlderThan") => {
            wait_for_revision(ctx, rv).await?;
            Ok(0)
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "unsupported resourceVersionMatch {other:?}"
        ))),
    }
}

/// Waits (up to 3 s, as kube-apiserver does) until the store reaches `rv`.
async fn wait_for_revision(ctx: &Ctx<'_>, rv: i64) -> ApiResult<()> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let current = ctx.storage.store().current_revision().await?;
        if current >= rv {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::from(kmicro_store::StoreError::FutureRevision {
                requested: rv,
                current,
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// GET a collection, streamed a store page at a time.
pub(super) async fn list(ctx: &Ctx<'_>) -> ApiResult<Response<Body>> {
    let selectors = ctx.selectors()?;
    let opts = ListOptions {
        limit: ctx.query.limit,
        continue_token: ctx.query.continue_token.clone(),
        revision: list_revision(ctx).await?,
    };
    let r = ctx.resource();
    let prefix = r.namespace_prefix(ctx.namespace());
    let mut cursor = ctx
        .storage
        .list_cursor(r, &prefix, &opts, !selectors.is_empty())?;
    let filter = move |obj: &serde_json::Value| selectors.matches(obj);
    // The first page is read before answering, so its errors (410, 400) are a Status.
    let first = cursor.next_items(&filter).await?;
    let mut writer = ListWriter::new(ctx.printer(), ctx.format, ctx.query);
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move {
        let _ = tx.send(writer.head()).await;
        let _ = tx.send(writer.items(&first)).await;
        drop(first);
        while !cursor.is_done() {
            match cursor.next_items(&filter).await {
                Ok(items) => {
                    if tx.send(writer.items(&items)).await.is_err() {
                        return;
                    }
                }
                Err(err) => {
                    // The answer is already under way: cut it short; the client sees a broken
                    // body, never a partial list that looks whole.
                    tracing::warn!(error = %err.message, "list failed while streaming");
                    return;
                }
            }
        }
        let _ = tx
            .send(writer.tail(
                cursor.revision(),
                cursor.continue_token(),
                cursor.remaining(),
            ))
            .await;
    });
    Ok(response::stream(rx))
}
