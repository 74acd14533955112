//! Removing images and collecting garbage: records first, then blobs no record references.

use std::collections::HashSet;

use crate::digest::Digest;
use crate::error::Error;
use crate::reference::ImageRef;
use crate::store::lock::{self, Mode};
use crate::store::{ImageStore, records};

/// What [`ImageStore::remove`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoveReport {
    /// Names taken off images.
    pub untagged: Vec<String>,
    /// Images (manifest digests) whose record went.
    pub deleted: Vec<Digest>,
    /// Bytes of blobs freed now (0 when a pull or import was running: the next GC frees them).
    pub freed_bytes: u64,
}

/// What [`ImageStore::gc`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Images removed: their first name, or their manifest digest when unnamed.
    pub removed_images: Vec<String>,
    /// Blobs deleted.
    pub removed_blobs: usize,
    /// Bytes freed (blobs and leftover temporary files).
    pub freed_bytes: u64,
}

impl ImageStore {
    /// Removes what `reference` names. A tagged name (`busybox:1.36`) is taken off its image,
    /// and the image goes when it has no tagged name left; a digest, a name by digest or an
    /// image ID removes the image with all its names. Blobs no image uses any more are freed.
    pub fn remove(&self, reference: &str) -> Result<RemoveReport, Error> {
        let mut report = RemoveReport::default();
        {
            let _meta = self.meta_lock()?;
            let Some(mut record) = self.find(reference)? else {
                return Err(Error::NotFound {
                    reference: reference.to_owned(),
                });
            };
            let tagged = ImageRef::parse(reference.trim())
                .ok()
                .filter(|r| r.digest.is_none())
                .and_then(|r| r.tagged_name())
                .filter(|name| record.names.contains(name));
            match tagged {
                Some(name) => {
                    record.names.retain(|n| *n != name);
                    report.untagged.push(name);
                    if record.names.is_empty() {
                        records::delete(&self.inner.images, &record.manifest_digest)?;
                        report.deleted.push(record.manifest_digest.clone());
                    } else {
                        records::save(&self.inner.images, &record)?;
                    }
                }
                None => {
                    report.untagged = record.names.clone();
                    records::delete(&self.inner.images, &record.manifest_digest)?;
                    report.deleted.push(record.manifest_digest.clone());
                }
            }
        }
        if !report.deleted.is_empty() {
            match lock::try_lock(&self.inner.content_lock, Mode::Exclusive)? {
                Some(_content) => {
                    let _meta = self.meta_lock()?;
                    let (_, bytes) = self.delete_unreferenced_blobs()?;
                    report.freed_bytes = bytes;
                }
                None => tracing::info!(
                    "a pull or import is running: unused blobs stay until the next GC"
                ),
            }
        }
        Ok(report)
    }

    /// Garbage collection: removes every image that is neither in use (`in_use`: references
    /// of running containers, resolved as [`find`](Self::find) does; unknown ones are
    /// ignored) nor pinned, then every blob no remaining image references (layers shared with
    /// a kept image stay), and leftover temporary files. Waits for running pulls and imports.
    pub fn gc<S: AsRef<str>>(&self, in_use: &[S]) -> Result<GcReport, Error> {
        self.collect(in_use, u64::MAX, 0)
    }

    /// Garbage collection under disk pressure, as kubelet's image GC does it: removes the
    /// least recently used images that are neither in use nor pinned nor used within the last
    /// `min_age_secs`, one at a time, until at least `want_bytes` are freed (or none is left
    /// to remove); then leftover temporary files.
    pub fn free_space<S: AsRef<str>>(
        &self,
        in_use: &[S],
        want_bytes: u64,
        min_age_secs: u64,
    ) -> Result<GcReport, Error> {
        self.collect(in_use, want_bytes, min_age_secs)
    }

    /// Removes candidate images, least recently used first, until `want_bytes` are freed.
    fn collect<S: AsRef<str>>(
        &self,
        in_use: &[S],
        want_bytes: u64,
        min_age_secs: u64,
    ) -> Result<GcReport, Error> {
        let _content = lock::lock(&self.inner.content_lock, Mode::Exclusive)?;
        let _meta = self.meta_lock()?;
        let all = self.list()?;
        let mut keep: HashSet<Digest> = HashSet::new();
        for reference in in_use {
            match super::resolve::find(&all, reference.as_ref()) {
                Ok(Some(record)) => {
                    keep.insert(record.manifest_digest);
                }
                Ok(None) => {}
                Err(err) => tracing::warn!(
                    "gc: in-use reference {:?} ignored: {err}",
                    reference.as_ref()
                ),
            }
        }
        let newest = records::now().saturating_sub(min_age_secs);
        let mut candidates: Vec<_> = all
            .iter()
            .filter(|r| !r.pinned && !keep.contains(&r.manifest_digest))
            .filter(|r| min_age_secs == 0 || r.last_used <= newest)
            .collect();
        candidates.sort_by_key(|r| r.last_used);
        let mut report = GcReport::default();
        for record in candidates {
            if report.freed_bytes >= want_bytes {
                break;
            }
            records::delete(&self.inner.images, &record.manifest_digest)?;
            report.removed_images.push(
                record
                    .names
                    .first()
                    .cloned()
                    .unwrap_or_else(|| record.manifest_digest.to_string()),
            );
            if want_bytes != u64::MAX {
                // Count as we go: layers shared with a kept image free nothing.
                let (count, bytes) = self.delete_unreferenced_blobs()?;
                report.removed_blobs += count;
                report.freed_bytes += bytes;
            }
        }
        let (count, bytes) = self.delete_unreferenced_blobs()?;
        report.removed_blobs += count;
        report.freed_bytes += bytes;
        report.freed_bytes += self.clear_tmp()?;
        tracing::info!(
            images = report.removed_images.len(),
            blobs = report.removed_blobs,
            freed = report.freed_bytes,
            "image garbage collection"
        );
        Ok(report)
    }

    /// Deletes blobs no record references. Callers hold the content lock exclusively and the
    /// meta lock.
    fn delete_unreferenced_blobs(&self) -> Result<(usize, u64), Error> {
        let referenced: HashSet<String> = self
            .list()?
            .iter()
            .flat_map(|r| r.blobs().map(|d| d.hex().to_owned()).collect::<Vec<_>>())
            .collect();
        let dir = self.blobs_dir();
        let mut count = 0;
        let mut bytes = 0;
        for entry in std::fs::read_dir(dir).map_err(Error::io("listing", dir))? {
            let entry = entry.map_err(Error::io("listing", dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if referenced.contains(name) {
                continue;
            }
            let path = entry.path();
            let size = entry.metadata().map_or(0, |m| m.len());
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    count += 1;
                    bytes += size;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("removing", path)(e)),
            }
        }
        Ok((count, bytes))
    }

    /// Deletes leftover temporary files (of pulls or imports that died). Callers hold the
    /// content lock exclusively: no pull or import is running.
    fn clear_tmp(&self) -> Result<u64, Error> {
        let dir = self.tmp_dir();
        let mut bytes = 0;
        for entry in std::fs::read_dir(dir).map_err(Error::io("listing", dir))? {
            let entry = entry.map_err(Error::io("listing", dir))?;
            let path = entry.path();
            bytes += entry.metadata().map_or(0, |m| m.len());
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if let Err(e) = removed
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(Error::io("removing", path)(e));
            }
        }
        Ok(bytes)
    }
}
