//! Generated documents kept (compressed) until the served API changes.
//!
//! Each call names the API being served; the cache compares its fingerprint with the one the
//! kept documents were generated from and regenerates on a difference. So a change of the
//! served resources (custom resources coming and going) needs no explicit invalidation, and
//! a stale document is never served.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::document::Document;
use crate::error::GenerateError;
use crate::served::{Fingerprint, ServedApi};
use crate::v3::V3Documents;
use crate::{v2, v3};

/// The OpenAPI documents of a server, generated on first use.
///
/// Generation takes a while (tens of milliseconds on a PC, longer on a board) and holds a lock
/// meanwhile, so concurrent callers wait for one run instead of each doing it; call from a
/// thread that may block.
#[derive(Default)]
pub struct Cache {
    v3: Mutex<Option<Kept<V3Documents>>>,
    v2: Mutex<Option<Kept<Document>>>,
}

/// Documents with the fingerprint of the API they describe.
struct Kept<T> {
    fingerprint: Fingerprint,
    documents: Arc<T>,
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The OpenAPI 3.0 documents of `api`.
    pub fn v3(&self, api: &ServedApi<'_>) -> Result<Arc<V3Documents>, GenerateError> {
        kept_or_generated(&self.v3, api, v3::generate, |docs| {
            ("v3", docs.json_len(), docs.gzip_len())
        })
    }

    /// The Swagger 2.0 document of `api`.
    pub fn v2(&self, api: &ServedApi<'_>) -> Result<Arc<Document>, GenerateError> {
        kept_or_generated(&self.v2, api, v2::generate, |doc| {
            ("v2", doc.json_len(), doc.gzip().len())
        })
    }
}

/// The kept documents if they describe `api`, else newly generated ones (logged with their
/// version, JSON and compressed sizes as `describe` tells them).
fn kept_or_generated<T>(
    slot: &Mutex<Option<Kept<T>>>,
    api: &ServedApi<'_>,
    generate: impl FnOnce(&ServedApi<'_>) -> Result<T, GenerateError>,
    describe: impl FnOnce(&T) -> (&'static str, usize, usize),
) -> Result<Arc<T>, GenerateError> {
    let fingerprint = api.fingerprint();
    let mut slot = lock(slot);
    if let Some(kept) = slot.as_ref()
        && kept.fingerprint == fingerprint
    {
        return Ok(kept.documents.clone());
    }
    // Drop the old documents before generating the new ones: peak memory is one set.
    *slot = None;
    let started = std::time::Instant::now();
    let documents = Arc::new(generate(api)?);
    let (version, json_bytes, gzip_bytes) = describe(&documents);
    tracing::info!(
        version,
        json_bytes,
        gzip_bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "generated the OpenAPI documents"
    );
    *slot = Some(Kept {
        fingerprint,
        documents: documents.clone(),
    });
    Ok(documents)
}

/// Locks a slot; a panic during an earlier generation left it empty or whole, so a poisoned
/// lock is still usable.
fn lock<T>(slot: &Mutex<T>) -> MutexGuard<'_, T> {
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::served::Resource;

    #[test]
    fn documents_are_kept_until_the_served_api_changes() {
        let pods = Resource {
            group: "",
            version: "v1",
            kind: "Pod",
            plural: "pods",
            namespaced: true,
            status: true,
            scale: false,
            strategic_merge_patch: true,
            create_only: false,
            subresources: &[],
        };
        let configmaps = Resource {
            kind: "ConfigMap",
            plural: "configmaps",
            status: false,
            ..pods
        };
        let one = [pods];
        let two = [pods, configmaps];
        let cache = Cache::new();
        let api = |resources| ServedApi {
            resources,
            extra_schemas: &[],
        };
        let first = cache.v3(&api(&one)).unwrap();
        assert!(Arc::ptr_eq(&first, &cache.v3(&api(&one)).unwrap()));
        let second = cache.v3(&api(&two)).unwrap();
        assert!(!Arc::ptr_eq(&first, &second));
        assert_ne!(
            first.get("api/v1").unwrap().hash(),
            second.get("api/v1").unwrap().hash()
        );
        let v2 = cache.v2(&api(&one)).unwrap();
        assert!(Arc::ptr_eq(&v2, &cache.v2(&api(&one)).unwrap()));
    }
}
