//! The content store: blobs by digest, image records, the locks that make it safe for two
//! processes, and the operations on images (list, resolve, remove, pin, GC).
//!
//! Layout under the root the caller gives (the agent uses `<data-dir>/agent/images-store`):
//!
//! ```text
//! blobs/sha256/<hex>     manifests, configs and layers, as pulled (layers stay compressed)
//! images/<hex>.json      one record per image (named by its manifest digest)
//! imports.json           airgap archives already imported (path, size, mtime, digest)
//! tmp/                   blobs being written (deleted by GC when no pull or import runs)
//! meta.lock content.lock flock locks (see `lock`)
//! ```

pub(crate) mod blobs;
mod gc;
pub(crate) mod lock;
pub(crate) mod records;
mod resolve;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use gc::{GcReport, RemoveReport};
pub use records::{ImageRecord, LayerRecord};

use crate::digest::Digest;
use crate::error::Error;
use lock::{LockGuard, Mode};

/// The image store at a root directory. Cheap to clone; every clone (and every other process
/// opening the same root) sees the same images.
#[derive(Clone, Debug)]
pub struct ImageStore {
    inner: Arc<Paths>,
}

#[derive(Debug)]
struct Paths {
    root: PathBuf,
    blobs: PathBuf,
    images: PathBuf,
    tmp: PathBuf,
    meta_lock: PathBuf,
    content_lock: PathBuf,
}

impl ImageStore {
    /// Opens (creating when missing) the store under `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, Error> {
        let root = root.into();
        let paths = Paths {
            blobs: root.join("blobs").join("sha256"),
            images: root.join("images"),
            tmp: root.join("tmp"),
            meta_lock: root.join("meta.lock"),
            content_lock: root.join("content.lock"),
            root,
        };
        for dir in [&paths.blobs, &paths.images, &paths.tmp] {
            std::fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
        }
        Ok(Self {
            inner: Arc::new(paths),
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Where the blob with `digest` lives (whether or not it is present).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.inner.blobs.join(digest.hex())
    }

    /// Every image, ordered by manifest digest.
    pub fn list(&self) -> Result<Vec<ImageRecord>, Error> {
        records::load_all(&self.inner.images)
    }

    /// The image a reference names: a name (`busybox`, `docker.io/library/busybox:1.36`), a
    /// name by digest (`busybox@sha256:…`, index or manifest digest), a digest
    /// (`sha256:…`: image ID, manifest or index digest) or an unambiguous image ID prefix
    /// (`3f57d9401f8d`). `None` when no image matches.
    pub fn find(&self, reference: &str) -> Result<Option<ImageRecord>, Error> {
        resolve::find(&self.list()?, reference)
    }

    /// Like [`find`](Self::find), with [`Error::NotFound`] when nothing matches.
    pub fn get(&self, reference: &str) -> Result<ImageRecord, Error> {
        self.find(reference)?.ok_or_else(|| Error::NotFound {
            reference: reference.to_owned(),
        })
    }

    /// Pins or unpins an image (pinned images survive GC).
    pub fn set_pinned(&self, reference: &str, pinned: bool) -> Result<(), Error> {
        let _meta = self.meta_lock()?;
        let mut record = self.get(reference)?;
        record.pinned = pinned;
        records::save(&self.inner.images, &record)
    }

    /// Records the image as used now (done by pulls and [`runtime_image`](Self::runtime_image)).
    pub fn touch(&self, manifest: &Digest) -> Result<(), Error> {
        let _meta = self.meta_lock()?;
        let path = records::record_path(&self.inner.images, manifest);
        if let Some(mut record) = records::load(&path)? {
            record.last_used = records::now();
            records::save(&self.inner.images, &record)?;
        }
        Ok(())
    }

    pub(crate) fn tmp_dir(&self) -> &Path {
        &self.inner.tmp
    }

    pub(crate) fn blobs_dir(&self) -> &Path {
        &self.inner.blobs
    }

    pub(crate) fn meta_lock(&self) -> Result<LockGuard, Error> {
        lock::lock(&self.inner.meta_lock, Mode::Exclusive)
    }

    /// Held while blobs are written and not yet referenced by a record.
    pub(crate) fn content_shared(&self) -> Result<LockGuard, Error> {
        lock::lock(&self.inner.content_lock, Mode::Shared)
    }

    pub(crate) fn blob_writer(&self) -> Result<blobs::BlobWriter, Error> {
        blobs::BlobWriter::new(&self.inner.tmp, &self.inner.blobs)
    }

    /// Records an image (all its blobs present): its names move to it from any other image;
    /// an existing record of the same manifest keeps its names and gains these.
    pub(crate) fn commit(&self, new: ImageRecord) -> Result<ImageRecord, Error> {
        for digest in new.blobs() {
            let path = self.blob_path(digest);
            if !blobs::present(&path, None) {
                return Err(Error::MissingBlob {
                    digest: digest.clone(),
                    path,
                });
            }
        }
        let _meta = self.meta_lock()?;
        let all = self.list()?;
        for mut other in all.iter().cloned() {
            if other.manifest_digest == new.manifest_digest {
                continue;
            }
            let before = other.names.len();
            other.names.retain(|n| !new.names.contains(n));
            if other.names.len() != before {
                tracing::debug!(image = %other.manifest_digest, "names moved to {}", new.manifest_digest);
                records::save(&self.inner.images, &other)?;
            }
        }
        let merged = match all
            .into_iter()
            .find(|r| r.manifest_digest == new.manifest_digest)
        {
            Some(mut existing) => {
                for name in new.names {
                    if !existing.names.contains(&name) {
                        existing.names.push(name);
                    }
                }
                for name in new.repo_digests {
                    if !existing.repo_digests.contains(&name) {
                        existing.repo_digests.push(name);
                    }
                }
                for index in new.index_digests {
                    if !existing.index_digests.contains(&index) {
                        existing.index_digests.push(index);
                    }
                }
                existing.pinned |= new.pinned;
                existing.last_used = new.last_used;
                existing
            }
            None => new,
        };
        records::save(&self.inner.images, &merged)?;
        Ok(merged)
    }
}
