//! Image records: one small JSON file per image (`images/<manifest hex>.json`), written to a
//! temporary file and renamed, so a reader sees the old or the new record, never half of one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::Error;
use crate::manifest::Compression;
use crate::platform::Platform;

/// One image in the store: a platform-specific manifest and the names that point at it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Tagged names, normalised (`docker.io/library/busybox:latest`); empty for an image whose
    /// names moved to newer images (listed as `<none>`).
    pub names: Vec<String>,
    /// Names by digest (`docker.io/library/busybox@sha256:…`, the index's digest for a
    /// multi-arch image, else the manifest's).
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// The digest of the platform-specific manifest: the record's identity.
    pub manifest_digest: Digest,
    /// The manifest's media type (OCI or Docker v2).
    pub manifest_media_type: String,
    /// Digests of multi-arch indexes this manifest was chosen from.
    #[serde(default)]
    pub index_digests: Vec<Digest>,
    /// The config's digest: the image ID (`crictl images` shows its first 13 characters).
    pub config_digest: Digest,
    /// The platform the config declares.
    pub platform: Platform,
    /// The layers, base first.
    pub layers: Vec<LayerRecord>,
    /// Manifest, config and layer blobs, in bytes as stored (compressed layers).
    pub size: u64,
    /// When the image was last pulled or looked up for a container (Unix seconds).
    pub last_used: u64,
    /// Pinned images (airgap imports, as k3s pins them) survive [`gc`](crate::ImageStore::gc).
    #[serde(default)]
    pub pinned: bool,
}

/// A layer of an image record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// The blob's (compressed) digest.
    pub digest: Digest,
    /// Its media type as the manifest says.
    pub media_type: String,
    /// Its compression.
    pub compression: Compression,
    /// The blob's size in bytes.
    pub size: u64,
    /// The digest of the uncompressed tar (the config's `rootfs.diff_ids` entry).
    pub diff_id: Digest,
}

impl ImageRecord {
    /// Every blob the image needs.
    pub fn blobs(&self) -> impl Iterator<Item = &Digest> {
        [&self.manifest_digest, &self.config_digest]
            .into_iter()
            .chain(self.layers.iter().map(|l| &l.digest))
    }
}

pub(crate) fn record_path(images_dir: &Path, manifest: &Digest) -> PathBuf {
    images_dir.join(format!("{}.json", manifest.hex()))
}

pub(crate) fn load_all(images_dir: &Path) -> Result<Vec<ImageRecord>, Error> {
    let entries = std::fs::read_dir(images_dir).map_err(Error::io("listing", images_dir))?;
    let mut records = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io("listing", images_dir))?;
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        match load(&path) {
            Ok(Some(record)) => records.push(record),
            Ok(None) => {}
            Err(err) => return Err(err),
        }
    }
    records.sort_by(|a, b| a.manifest_digest.cmp(&b.manifest_digest));
    Ok(records)
}

/// Reads one record; `None` when it is gone (removed meanwhile).
pub(crate) fn load(path: &Path) -> Result<Option<ImageRecord>, Error> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("reading", path)(e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::CorruptStore {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

pub(crate) fn save(images_dir: &Path, record: &ImageRecord) -> Result<(), Error> {
    let path = record_path(images_dir, &record.manifest_digest);
    let bytes = serde_json::to_vec_pretty(record).map_err(|e| Error::Internal(e.to_string()))?;
    write_atomically(&path, &bytes)
}

pub(crate) fn delete(images_dir: &Path, manifest: &Digest) -> Result<(), Error> {
    let path = record_path(images_dir, manifest);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("removing", path)(e)),
    }
}

/// Writes a file through a temporary file in the same directory, synced, then renamed.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(Error::io("creating a temporary file in", dir))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .map_err(Error::io("writing", file.path().to_owned()))?;
    file.persist(path)
        .map_err(|e| Error::io("renaming a temporary file to", path)(e.error))?;
    Ok(())
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
