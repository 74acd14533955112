//! Building an image record from a manifest and its config (shared by pulls and imports).

use crate::digest::Digest;
use crate::error::Error;
use crate::manifest::{Compression, ConfigFile, Manifest};
use crate::store::records::now;
use crate::store::{ImageRecord, LayerRecord};

/// Names and flags of a record being built.
pub(crate) struct Naming {
    pub names: Vec<String>,
    pub repo_digests: Vec<String>,
    pub index_digests: Vec<Digest>,
    pub pinned: bool,
}

/// The record of `manifest` (whose bytes have `manifest_digest` and `manifest_size`), with
/// the config parsed from `config_bytes`. Checks that every layer has a supported media type
/// and a diff_id.
pub(crate) fn record(
    manifest: &Manifest,
    manifest_digest: &Digest,
    manifest_size: u64,
    config: &ConfigFile,
    naming: Naming,
) -> Result<ImageRecord, Error> {
    if config.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(Error::InvalidManifest {
            digest: manifest_digest.clone(),
            reason: format!(
                "{} layers but its config {} lists {} diff_ids",
                manifest.layers.len(),
                manifest.config.digest,
                config.rootfs.diff_ids.len()
            ),
        });
    }
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for (layer, diff_id) in manifest.layers.iter().zip(&config.rootfs.diff_ids) {
        let compression = Compression::of_media_type(&layer.media_type).map_err(|_| {
            Error::UnsupportedMediaType {
                what: format!("layer {} of manifest {manifest_digest}", layer.digest),
                media_type: layer.media_type.clone(),
            }
        })?;
        layers.push(LayerRecord {
            digest: layer.digest.clone(),
            media_type: layer.media_type.clone(),
            compression,
            size: layer.size,
            diff_id: diff_id.clone(),
        });
    }
    let size = manifest_size + manifest.config.size + layers.iter().map(|l| l.size).sum::<u64>();
    Ok(ImageRecord {
        names: naming.names,
        repo_digests: naming.repo_digests,
        manifest_digest: manifest_digest.clone(),
        manifest_media_type: manifest.media_type.clone(),
        index_digests: naming.index_digests,
        config_digest: manifest.config.digest.clone(),
        platform: config.platform(),
        layers,
        size,
        last_used: now(),
        pinned: naming.pinned,
    })
}
