//! What the runtime gets for an image: its config and its layers, ready for the rootfs crate.
//! This is the contract between the image store and root filesystem unpacking.

use std::path::PathBuf;

use crate::digest::Digest;
use crate::error::Error;
use crate::manifest::{Compression, ConfigFile, ImageConfig};
use crate::platform::Platform;
use crate::store::{ImageStore, blobs};

/// An image as a container runtime needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeImage {
    /// The image ID (the config's digest).
    pub id: Digest,
    /// The manifest's digest (what `imageID` in a pod's container status shows, as
    /// `name@digest`).
    pub manifest_digest: Digest,
    /// The image's names.
    pub names: Vec<String>,
    /// Names by digest (`docker.io/library/busybox@sha256:…`).
    pub repo_digests: Vec<String>,
    /// The platform it is for.
    pub platform: Platform,
    /// Entrypoint, command, environment, working dir, user, ports, labels, stop signal.
    pub config: ImageConfig,
    /// The layers, base first: unpack them in this order.
    pub layers: Vec<RuntimeLayer>,
}

/// One layer of a [`RuntimeImage`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeLayer {
    /// The blob in the store: read-only, as pulled (compressed unless `compression` is `None`).
    /// It stays while the image is in the store; the caller must not modify it.
    pub path: PathBuf,
    /// The blob's digest (of the compressed bytes).
    pub digest: Digest,
    /// Its media type as the manifest says.
    pub media_type: String,
    /// How to decompress it before reading the tar.
    pub compression: Compression,
    /// The digest of the uncompressed tar, from the config's `rootfs.diff_ids`: a cache key for
    /// an unpacked layer, and what the unpacker may verify.
    pub diff_id: Digest,
    /// The blob's size in bytes.
    pub size: u64,
}

impl ImageStore {
    /// The image `reference` names (see [`find`](Self::find)) with its config and layers, and
    /// records it as used. Errors: [`Error::NotFound`], [`Error::MissingBlob`] when a layer is
    /// gone, [`Error::DigestMismatch`] when the stored config was altered.
    pub fn runtime_image(&self, reference: &str) -> Result<RuntimeImage, Error> {
        let record = self.get(reference)?;
        let config_path = self.blob_path(&record.config_digest);
        let bytes = blobs::read_verified(&config_path, &record.config_digest)?;
        let config = ConfigFile::parse(&bytes, &record.config_digest)?;
        let mut layers = Vec::with_capacity(record.layers.len());
        for layer in &record.layers {
            let path = self.blob_path(&layer.digest);
            if !blobs::present(&path, Some(layer.size)) {
                return Err(Error::MissingBlob {
                    digest: layer.digest.clone(),
                    path,
                });
            }
            layers.push(RuntimeLayer {
                path,
                digest: layer.digest.clone(),
                media_type: layer.media_type.clone(),
                compression: layer.compression,
                diff_id: layer.diff_id.clone(),
                size: layer.size,
            });
        }
        if let Err(err) = self.touch(&record.manifest_digest) {
            tracing::warn!("recording the use of {}: {err}", record.manifest_digest);
        }
        Ok(RuntimeImage {
            id: record.config_digest,
            manifest_digest: record.manifest_digest,
            names: record.names,
            repo_digests: record.repo_digests,
            platform: record.platform,
            config: config.config,
            layers,
        })
    }
}
