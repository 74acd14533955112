//! The components uploaded to `modules/<name>/source`, kept in the store under their SHA-256
//! (one copy per digest) and garbage-collected once no Module refers to them.
//!
//! Layout (outside `/registry/`, so no watch cache or list ever sees it):
//! - `/kmicro/modules/blobs/<hex>`: the manifest, JSON `{size, chunks, complete, started}`;
//! - `/kmicro/modules/chunks/<hex>/<index, 5 digits>`: the bytes, in chunks of
//!   [`CHUNK_SIZE`], each written in its own transaction (so each fits an etcd request).
//!
//! An upload writes a pending manifest, then the chunks, then — in the one transaction that
//! also writes the Module's new `spec.source.digest` — the complete manifest, compared at the
//! revision it had when the upload wrote (or found) it. Garbage collection deletes a manifest
//! and its chunks in one transaction compared at the manifest's revision as of the list of
//! Modules it decided from. So a collection racing an upload either loses (the upload rewrote
//! the manifest since) or makes the upload's final transaction fail (the manifest moved), which
//! then starts over; a Module never ends up naming a blob that a collection removed under it.
//! (A digest written into a Module by a plain update, not an upload, is not protected: the
//! source subresource is how components get in.)

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kmicro_apimachinery::module;
use kmicro_apimachinery::registry::ResourceInfo;
use kmicro_store::{Compare, CompareOp, CompareTarget, KeyRange, Op, RangeRequest, Store, Txn};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::object;

/// Manifests, by hex digest.
const MANIFESTS: &str = "/kmicro/modules/blobs/";
/// Chunks, by hex digest and index.
const CHUNKS: &str = "/kmicro/modules/chunks/";
/// The size of one stored chunk: well inside etcd's default 1.5 MiB request limit.
pub const CHUNK_SIZE: usize = 512 * 1024;
/// The largest component accepted.
pub const MAX_COMPONENT: usize = 16 * 1024 * 1024;
/// How long an unfinished upload's blob is left alone by garbage collection.
const PENDING_GRACE: Duration = Duration::from_secs(600);

/// A blob's manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    /// Bytes in all.
    size: u64,
    /// Number of chunks.
    chunks: u32,
    /// Whether a Module was ever made to refer to it (the upload finished).
    complete: bool,
    /// When its upload started (RFC 3339).
    started: String,
}

/// A digest's hex part, checked.
fn hex_of(digest: &str) -> ApiResult<&str> {
    if !module::is_valid_digest(digest) {
        return Err(ApiError::bad_request(format!(
            "{digest:?} is not a sha256 digest"
        )));
    }
    Ok(&digest["sha256:".len()..])
}

fn manifest_key(hex: &str) -> String {
    format!("{MANIFESTS}{hex}")
}

fn chunk_prefix(hex: &str) -> String {
    format!("{CHUNKS}{hex}/")
}

fn chunk_key(hex: &str, index: usize) -> String {
    format!("{CHUNKS}{hex}/{index:05}")
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    let hash = ring::digest::digest(&ring::digest::SHA256, bytes);
    let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Checks that `bytes` are a WebAssembly component (not a core module): the magic `\0asm`,
/// then the component encoding's version 13 (`0x0d 0x00`) and layer 1 (`0x01 0x00`).
pub fn check_component(bytes: &[u8]) -> Result<(), String> {
    let Some(header) = bytes.get(..8) else {
        return Err(format!(
            "{} bytes is too short for a WebAssembly binary",
            bytes.len()
        ));
    };
    if &header[..4] != b"\0asm" {
        return Err("it does not start with the WebAssembly magic \\0asm".into());
    }
    let version = u16::from_le_bytes([header[4], header[5]]);
    let layer = u16::from_le_bytes([header[6], header[7]]);
    match (layer, version) {
        (1, 0x0d) => Ok(()),
        (1, other) => Err(format!(
            "it is a component of encoding version {other}; kmicro reads version 13"
        )),
        (0, _) => Err(
            "it is a core WebAssembly module, not a component: build for wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
                .into(),
        ),
        (other, _) => Err(format!("unknown WebAssembly layer {other}")),
    }
}

/// A blob written (or found) for an upload, ready to be committed with the Module's update.
pub struct Staged {
    /// `sha256:<hex>`.
    pub digest: String,
    /// What the final transaction must find: the manifest as the upload left it.
    pub compares: Vec<Compare>,
    /// What the final transaction writes besides the Module: the complete manifest.
    pub ops: Vec<Op>,
}

/// Stores `bytes` under their digest unless a complete copy is there already; returns what
/// the transaction that points a Module at it must compare and write.
pub async fn stage(store: &dyn Store, bytes: &Bytes) -> ApiResult<Staged> {
    let digest = digest_of(bytes);
    let hex = digest["sha256:".len()..].to_string();
    let key = manifest_key(&hex);
    let chunks = bytes.len().div_ceil(CHUNK_SIZE);
    let complete = Manifest {
        size: bytes.len() as u64,
        chunks: chunks as u32,
        complete: true,
        started: object::now_rfc3339(),
    };
    let existing = store.get(key.as_bytes()).await?;
    let found = existing.and_then(|kv| {
        let manifest: Manifest = serde_json::from_slice(&kv.value).ok()?;
        (manifest.complete && manifest.size == complete.size).then_some((kv.mod_revision, manifest))
    });
    let (revision, manifest) = match found {
        Some(found) => found,
        None => {
            let pending = Manifest {
                complete: false,
                ..complete.clone()
            };
            let revision = store.put(key.as_bytes(), &encode(&pending)?).await?;
            for (index, chunk) in bytes.chunks(CHUNK_SIZE).enumerate() {
                store.put(chunk_key(&hex, index).as_bytes(), chunk).await?;
            }
            (revision, complete)
        }
    };
    Ok(Staged {
        digest,
        compares: vec![Compare::mod_revision(key.as_bytes(), revision)],
        ops: vec![Op::put(key.as_bytes(), encode(&manifest)?)],
    })
}

fn encode(manifest: &Manifest) -> ApiResult<Vec<u8>> {
    serde_json::to_vec(manifest)
        .map_err(|e| ApiError::internal(format!("encoding a manifest: {e}")))
}

/// The bytes stored under `digest`, or `None` when there is no complete copy.
pub async fn read(store: &dyn Store, digest: &str) -> ApiResult<Option<Bytes>> {
    let hex = hex_of(digest)?;
    let Some(kv) = store.get(manifest_key(hex).as_bytes()).await? else {
        return Ok(None);
    };
    let manifest: Manifest = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("the manifest of {digest} is damaged: {e}")))?;
    if !manifest.complete {
        return Ok(None);
    }
    // Read at the manifest's revision or later: chunks never change while it exists.
    let range = store
        .range(RangeRequest::new(KeyRange::prefix(chunk_prefix(hex))))
        .await?;
    let mut out = BytesMut::with_capacity(manifest.size as usize);
    for kv in &range.kvs {
        out.extend_from_slice(&kv.value);
    }
    if range.kvs.len() != manifest.chunks as usize || out.len() as u64 != manifest.size {
        return Err(ApiError::internal(format!(
            "the stored component {digest} is incomplete: {} of {} bytes in {} of {} chunks",
            out.len(),
            manifest.size,
            range.kvs.len(),
            manifest.chunks
        )));
    }
    Ok(Some(out.freeze()))
}

/// Deletes every blob no Module refers to (leaving unfinished uploads younger than ten
/// minutes alone); returns how many it deleted.
pub async fn collect_garbage(store: &dyn Store, modules: &ResourceInfo) -> ApiResult<usize> {
    let listed = store
        .range(RangeRequest::new(KeyRange::prefix(modules.key_prefix())))
        .await?;
    let referenced: Vec<String> = listed
        .kvs
        .iter()
        .filter_map(|kv| serde_json::from_slice::<serde_json::Value>(&kv.value).ok())
        .filter_map(|obj| {
            obj["spec"]["source"]["digest"]
                .as_str()
                .and_then(|d| d.strip_prefix("sha256:"))
                .map(str::to_string)
        })
        .collect();
    let manifests = store
        .range(RangeRequest::new(KeyRange::prefix(MANIFESTS)).at_revision(listed.revision))
        .await?;
    let now = jiff::Timestamp::now();
    let mut deleted = 0;
    for kv in manifests.kvs {
        let key = String::from_utf8_lossy(&kv.key).into_owned();
        let hex = &key[MANIFESTS.len()..];
        if referenced.iter().any(|r| r == hex) {
            continue;
        }
        let manifest: Option<Manifest> = serde_json::from_slice(&kv.value).ok();
        let young = manifest.as_ref().is_some_and(|m| {
            !m.complete
                && m.started
                    .parse::<jiff::Timestamp>()
                    .is_ok_and(|t| now.duration_since(t).unsigned_abs() < PENDING_GRACE)
        });
        if young {
            continue;
        }
        let txn = Txn {
            compares: vec![Compare::new(
                kv.key.clone(),
                CompareTarget::ModRevision(kv.mod_revision),
                CompareOp::Equal,
            )],
            success: vec![
                Op::delete(kv.key.clone()),
                Op::Delete(KeyRange::prefix(chunk_prefix(hex))),
            ],
            failure: vec![],
        };
        if store.txn(txn).await?.succeeded {
            tracing::info!(digest = %format!("sha256:{hex}"), "deleted a component no Module refers to");
            deleted += 1;
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kmicro_apimachinery::registry;
    use kmicro_store::redb::{RedbConfig, RedbStore};

    use super::*;

    /// A minimal component header followed by `len` filler bytes.
    fn component(len: usize, fill: u8) -> Bytes {
        let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
        bytes.resize(8 + len, fill);
        Bytes::from(bytes)
    }

    async fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(RedbConfig::new(dir.path().join("s.redb")))
            .await
            .unwrap();
        (dir, Arc::new(store))
    }

    #[test]
    fn components_are_told_from_core_modules_and_garbage() {
        assert!(check_component(&component(0, 0)).is_ok());
        let core = check_component(b"\0asm\x01\x00\x00\x00").unwrap_err();
        assert!(core.contains("core WebAssembly module"), "{core}");
        assert!(check_component(b"\0asm").unwrap_err().contains("too short"));
        assert!(
            check_component(b"\x7fELF\x02\x01\x01\x00")
                .unwrap_err()
                .contains("magic")
        );
        assert!(
            check_component(b"\0asm\x0c\x00\x01\x00")
                .unwrap_err()
                .contains("version 12")
        );
    }

    #[tokio::test]
    async fn blobs_round_trip_in_chunks_and_are_collected_when_unreferenced() {
        let (_dir, store) = store().await;
        let modules = registry::find("modules.kmicro.io", "v1alpha1", "modules").unwrap();
        let bytes = component(CHUNK_SIZE * 2 + 17, 7);
        let staged = stage(store.as_ref(), &bytes).await.unwrap();
        assert_eq!(staged.digest, digest_of(&bytes));
        // Not readable until committed.
        assert_eq!(read(store.as_ref(), &staged.digest).await.unwrap(), None);
        let module_key = modules.key(None, "m");
        let module = serde_json::json!({"spec": {"source": {"digest": staged.digest}}});
        let mut success = vec![Op::put(module_key.as_bytes(), module.to_string())];
        success.extend(staged.ops);
        let txn = Txn {
            compares: staged.compares,
            success,
            failure: vec![],
        };
        assert!(store.txn(txn).await.unwrap().succeeded);
        assert_eq!(
            read(store.as_ref(), &staged.digest).await.unwrap(),
            Some(bytes.clone())
        );
        // Referenced: kept.
        assert_eq!(collect_garbage(store.as_ref(), modules).await.unwrap(), 0);
        // Staging the same bytes again writes no new chunks and finds the complete copy.
        let again = stage(store.as_ref(), &bytes).await.unwrap();
        assert_eq!(again.digest, staged.digest);
        // Unreferenced: deleted, chunks and all.
        store.delete(module_key.as_bytes()).await.unwrap();
        assert_eq!(collect_garbage(store.as_ref(), modules).await.unwrap(), 1);
        assert_eq!(read(store.as_ref(), &staged.digest).await.unwrap(), None);
        let left = store
            .range(RangeRequest::new(KeyRange::prefix("/kmicro/modules/")).count_only())
            .await
            .unwrap();
        assert_eq!(left.count, 0);
    }

    #[tokio::test]
    async fn a_collection_during_an_upload_makes_its_commit_fail() {
        let (_dir, store) = store().await;
        let modules = registry::find("modules.kmicro.io", "v1alpha1", "modules").unwrap();
        let bytes = component(100, 1);
        let staged = stage(store.as_ref(), &bytes).await.unwrap();
        // A young pending upload is left alone …
        assert_eq!(collect_garbage(store.as_ref(), modules).await.unwrap(), 0);
        // … but if it is removed anyway (here by hand), the commit does not go through.
        let hex = &staged.digest["sha256:".len()..];
        store.delete(manifest_key(hex).as_bytes()).await.unwrap();
        let txn = Txn {
            compares: staged.compares,
            success: staged.ops,
            failure: vec![],
        };
        assert!(!store.txn(txn).await.unwrap().succeeded);
    }
}
