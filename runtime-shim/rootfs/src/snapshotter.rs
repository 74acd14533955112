//! The snapshotter: unpacked layers keyed by chain ID, and one overlay per container.
//!
//! Layout under the root (the agent uses `<data-dir>/agent/snapshots`):
//!
//! ```text
//! layers/<chain-id hex>/       one unpacked layer: an overlayfs lower directory
//! containers/<id>/rootfs       the container's overlay mount point
//! containers/<id>/upper, work  its writable layer (absent when read-only)
//! containers/<id>/lowers       the chain IDs it mounts, bottom first (kept from GC)
//! tmp/                         layers being unpacked, and removed ones being deleted
//! empty/                       an empty lower for read-only mounts of a single layer
//! ```

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rustix::fs::{Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use crate::digest::{Digest, chain_ids};
use crate::error::{Error, LayerError, Result};
use crate::extract::{self, UnpackStats};
use crate::layer::{LayerSource, open_uncompressed};
use crate::overlay;

/// A container's root filesystem as [`Snapshotter::prepare`] left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rootfs {
    /// The merged overlay: the container's `/`.
    pub path: PathBuf,
    /// Mounted read-only, without an upper layer.
    pub read_only: bool,
    /// It was mounted already (after a kmicro restart): the container keeps its upper layer.
    pub reused: bool,
}

/// What [`Snapshotter::gc`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Chain IDs of the layers removed.
    pub removed: Vec<Digest>,
    /// How many layers remain.
    pub kept: usize,
}

/// Unpacked layers and container root filesystems under one directory.
///
/// Calls block on file system work: from async code, run them on a blocking thread. `unpack`,
/// `prepare` and `remove` may run concurrently; `gc` waits for them and they for it.
#[derive(Debug)]
pub struct Snapshotter {
    root: PathBuf,
    layers: PathBuf,
    containers: PathBuf,
    tmp: PathBuf,
    empty: PathBuf,
    index_off: bool,
    lock: RwLock<()>,
    counter: AtomicU64,
}

impl Snapshotter {
    /// Opens (creating when missing) the snapshotter at `root`, removing what an interrupted
    /// unpack left in `tmp/`.
    pub fn open(root: impl AsRef<Path>) -> Result<Snapshotter> {
        let root = root.as_ref();
        create_dir(root)?;
        let root = std::fs::canonicalize(root).map_err(io_error("resolve", root))?;
        if overlay::has_special_characters(&root) {
            return Err(Error::InvalidRoot {
                path: root,
                reason: "overlayfs mount options cannot hold `,`, `:`, `=`, `\\` or newlines",
            });
        }
        let snapshotter = Snapshotter {
            layers: root.join("layers"),
            containers: root.join("containers"),
            tmp: root.join("tmp"),
            empty: root.join("empty"),
            root,
            index_off: overlay::index_on_by_default(),
            lock: RwLock::new(()),
            counter: AtomicU64::new(0),
        };
        for dir in [
            &snapshotter.layers,
            &snapshotter.containers,
            &snapshotter.tmp,
            &snapshotter.empty,
        ] {
            create_dir(dir)?;
        }
        snapshotter.clean_tmp()?;
        Ok(snapshotter)
    }

    /// The root directory (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory an unpacked layer with this chain ID lives in.
    pub fn layer_dir(&self, chain_id: &Digest) -> PathBuf {
        self.layers.join(chain_id.hex())
    }

    /// Unpacks the layers of one image (bottom layer first), each only if no image unpacked it
    /// before, and returns their directories in the same order: the overlay lower directories
    /// for [`prepare`](Self::prepare).
    ///
    /// Each layer is written into a temporary directory while its uncompressed digest is
    /// computed, checked against its `diff_id`, synced, then renamed into place; on any error
    /// (a refused entry, a digest mismatch, a read error) nothing of it stays.
    pub fn unpack(&self, layers: &[LayerSource]) -> Result<Vec<PathBuf>> {
        let _shared = self.lock.read().unwrap_or_else(|e| e.into_inner());
        let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
        let chains = chain_ids(&diff_ids)?;
        let mut dirs = Vec::with_capacity(layers.len());
        for (index, (layer, chain)) in layers.iter().zip(&chains).enumerate() {
            let dir = self.layer_dir(chain);
            if !is_dir(&dir)? {
                self.unpack_one(layer, chain, &dir)
                    .map_err(|error| Error::Layer {
                        index,
                        diff_id: layer.diff_id.clone(),
                        path: layer.path.clone(),
                        error: Box::new(error),
                    })?;
            }
            dirs.push(dir);
        }
        Ok(dirs)
    }

    fn unpack_one(
        &self,
        layer: &LayerSource,
        chain: &Digest,
        dir: &Path,
    ) -> Result<(), LayerError> {
        let started = Instant::now();
        let expected = Digest::parse(&layer.diff_id).map_err(|e| LayerError::Commit {
            op: "parse diff_id",
            source: io::Error::other(e),
        })?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .tmp
            .join(format!("{}-{}-{n}", chain.hex(), std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&tmp)
            .map_err(commit_error("create temporary directory"))?;
        let result = self.fill(layer, &expected, &tmp).and_then(|stats| {
            commit(&tmp, dir)?;
            Ok(stats)
        });
        match result {
            Ok(stats) => {
                tracing::info!(
                    chain_id = %chain,
                    diff_id = %expected,
                    entries = stats.entries,
                    bytes = stats.tar_bytes,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "unpacked layer"
                );
                Ok(())
            }
            Err(error) => {
                if let Err(e) = std::fs::remove_dir_all(&tmp)
                    && e.kind() != io::ErrorKind::NotFound
                {
                    tracing::warn!(path = %tmp.display(), error = %e, "cannot remove a failed unpack");
                }
                Err(error)
            }
        }
    }

    fn fill(
        &self,
        layer: &LayerSource,
        expected: &Digest,
        tmp: &Path,
    ) -> Result<UnpackStats, LayerError> {
        let file = File::open(&layer.path).map_err(LayerError::Open)?;
        let input = open_uncompressed(file, layer.compression).map_err(LayerError::Read)?;
        let root_fd = rustix::fs::open(
            tmp,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| LayerError::Commit {
            op: "open temporary directory",
            source: e.into(),
        })?;
        let (actual, stats) = extract::unpack(input, tmp, root_fd)?;
        if &actual != expected {
            return Err(LayerError::DigestMismatch {
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(stats)
    }

    /// Mounts the container's root filesystem at `<root>/containers/<id>/rootfs`: an overlay of
    /// `lowers` (as [`unpack`](Self::unpack) returned them, bottom layer first) with a
    /// per-container upper layer, or none when `read_only`. Already mounted (after a kmicro
    /// restart) means reuse: the container keeps its upper layer.
    pub fn prepare(
        &self,
        container_id: &str,
        lowers: &[PathBuf],
        read_only: bool,
    ) -> Result<Rootfs> {
        check_container_id(container_id)?;
        let _shared = self.lock.read().unwrap_or_else(|e| e.into_inner());
        if lowers.is_empty() {
            return Err(Error::NoLayers {
                id: container_id.to_owned(),
            });
        }
        let chains = lowers
            .iter()
            .map(|lower| self.chain_id_of(lower))
            .collect::<Result<Vec<_>>>()?;
        let dir = self.containers.join(container_id);
        let rootfs = dir.join("rootfs");
        let fresh = !is_dir(&dir)?;
        let result = self.mount(container_id, &dir, lowers, &chains, read_only);
        if result.is_err()
            && fresh
            && let Err(e) = std::fs::remove_dir_all(&dir)
        {
            tracing::warn!(path = %dir.display(), error = %e, "cannot clean up after a failed prepare");
        }
        let reused = result?;
        Ok(Rootfs {
            path: rootfs,
            read_only,
            reused,
        })
    }

    /// Mounts the overlay unless it is mounted already; true when it was.
    fn mount(
        &self,
        container_id: &str,
        dir: &Path,
        lowers: &[PathBuf],
        chains: &[Digest],
        read_only: bool,
    ) -> Result<bool> {
        let rootfs = dir.join("rootfs");
        create_dir(dir)?;
        create_dir(&rootfs)?;
        if overlay::is_mount_point(&rootfs).map_err(io_error("stat", &rootfs))? {
            let mounted_read_only =
                overlay::is_read_only(&rootfs).map_err(io_error("statvfs", &rootfs))?;
            if mounted_read_only != read_only {
                return Err(Error::MountedDifferently {
                    id: container_id.to_owned(),
                    mounted_read_only,
                });
            }
            tracing::debug!(container = container_id, "root filesystem already mounted");
            return Ok(true);
        }
        write_lowers(dir, chains)?;
        let mut top_first: Vec<PathBuf> = lowers.iter().rev().cloned().collect();
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        let writable = if read_only {
            if top_first.len() == 1 {
                // overlayfs needs two lowers when there is no upper.
                top_first.push(self.empty.clone());
            }
            None
        } else {
            create_dir(&upper)?;
            create_dir(&work)?;
            // The merged root takes the upper directory's owner and mode: give it the top
            // layer's, so `/` is not 0700 root-only for a container running as another user.
            if let Some(top) = top_first.first() {
                let meta = std::fs::metadata(top).map_err(io_error("stat", top))?;
                std::os::unix::fs::chown(&upper, Some(meta.uid()), Some(meta.gid()))
                    .map_err(io_error("chown", &upper))?;
                std::fs::set_permissions(&upper, meta.permissions())
                    .map_err(io_error("chmod", &upper))?;
            }
            Some(overlay::Upper {
                upper: &upper,
                work: &work,
            })
        };
        let options = overlay::options(&top_first, writable, self.index_off)
            .map_err(io_error("open lower directories of", &rootfs))?
            .ok_or_else(|| Error::TooManyLayers {
                id: container_id.to_owned(),
                layers: lowers.len(),
            })?;
        overlay::mount(&rootfs, &options, read_only).map_err(|source| Error::Mount {
            target: rootfs.clone(),
            options: options.options.clone(),
            source,
        })?;
        tracing::info!(
            container = container_id,
            layers = lowers.len(),
            read_only,
            "root filesystem mounted"
        );
        Ok(false)
    }

    /// Unmounts the container's root filesystem (lazily when busy) and deletes its directory,
    /// upper layer included. Removing a container that is not there is not an error.
    pub fn remove(&self, container_id: &str) -> Result<()> {
        check_container_id(container_id)?;
        let dir = self.containers.join(container_id);
        let rootfs = dir.join("rootfs");
        // Stacked mounts (should someone have mounted over ours) come off one by one.
        for _ in 0..16 {
            if !overlay::is_mount_point(&rootfs).map_err(io_error("stat", &rootfs))? {
                break;
            }
            overlay::unmount(&rootfs).map_err(|source| Error::Unmount {
                target: rootfs.clone(),
                source,
            })?;
        }
        // Never delete through a mount: that would delete the layers' files.
        if overlay::is_mount_point(&rootfs).map_err(io_error("stat", &rootfs))? {
            return Err(Error::Unmount {
                target: rootfs,
                source: io::Error::other("still mounted"),
            });
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("remove", &dir)(e)),
        }
        tracing::info!(container = container_id, "root filesystem removed");
        Ok(())
    }

    /// The containers that have a root filesystem here (mounted or not), for the agent to
    /// adopt or remove after a restart.
    pub fn containers(&self) -> Result<Vec<String>> {
        let mut ids = list_dir(&self.containers)?;
        ids.sort();
        Ok(ids)
    }

    /// The chain IDs of the unpacked layers.
    pub fn layers(&self) -> Result<Vec<Digest>> {
        let mut chains: Vec<Digest> = list_dir(&self.layers)?
            .iter()
            .filter_map(|name| Digest::from_hex(name))
            .collect();
        chains.sort();
        Ok(chains)
    }

    /// Removes every unpacked layer whose chain ID is not in `keep` and that no prepared
    /// container mounts, and whatever interrupted unpacks left behind.
    pub fn gc(&self, keep: &[Digest]) -> Result<GcReport> {
        let _exclusive = self.lock.write().unwrap_or_else(|e| e.into_inner());
        let mut kept: BTreeSet<Digest> = keep.iter().cloned().collect();
        for id in list_dir(&self.containers)? {
            let file = self.containers.join(&id).join("lowers");
            match std::fs::read_to_string(&file) {
                Ok(text) => kept.extend(text.lines().filter_map(Digest::from_hex)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("read", &file)(e)),
            }
        }
        let mut report = GcReport::default();
        for name in list_dir(&self.layers)? {
            match Digest::from_hex(&name) {
                Some(chain) if kept.contains(&chain) => report.kept += 1,
                chain => {
                    // Out of `layers/` first, in one step, then deleted at leisure.
                    let from = self.layers.join(&name);
                    let n = self.counter.fetch_add(1, Ordering::Relaxed);
                    let to = self.tmp.join(format!("gc-{name}-{n}"));
                    std::fs::rename(&from, &to).map_err(io_error("move out", &from))?;
                    std::fs::remove_dir_all(&to).map_err(io_error("remove", &to))?;
                    tracing::info!(layer = %name, "removed unused layer");
                    report.removed.extend(chain);
                }
            }
        }
        self.clean_tmp()?;
        Ok(report)
    }

    fn chain_id_of(&self, lower: &Path) -> Result<Digest> {
        let not_a_layer = || Error::NotALayer {
            path: lower.to_owned(),
        };
        if lower.parent() != Some(self.layers.as_path()) {
            return Err(not_a_layer());
        }
        let chain = lower
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(Digest::from_hex)
            .ok_or_else(not_a_layer)?;
        if !is_dir(lower)? {
            return Err(not_a_layer());
        }
        Ok(chain)
    }

    fn clean_tmp(&self) -> Result<()> {
        for name in list_dir(&self.tmp)? {
            let path = self.tmp.join(name);
            tracing::info!(path = %path.display(), "removing a leftover of an interrupted unpack");
            std::fs::remove_dir_all(&path).map_err(io_error("remove", &path))?;
        }
        Ok(())
    }
}

/// Makes the unpacked layer durable, then moves it into place. Another unpack of the same
/// layer that finished first wins; ours is then dropped by the caller's cleanup.
fn commit(tmp: &Path, dir: &Path) -> Result<(), LayerError> {
    let fd = rustix::fs::open(
        tmp,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| LayerError::Commit {
        op: "open unpacked layer",
        source: e.into(),
    })?;
    rustix::fs::syncfs(&fd).map_err(|e| LayerError::Commit {
        op: "sync unpacked layer",
        source: e.into(),
    })?;
    let renamed = match rustix::fs::renameat_with(
        rustix::fs::CWD,
        tmp,
        rustix::fs::CWD,
        dir,
        RenameFlags::NOREPLACE,
    ) {
        // File systems without RENAME_NOREPLACE: a plain rename fails on a non-empty target.
        Err(Errno::INVAL) => rustix::fs::rename(tmp, dir),
        other => other,
    };
    match renamed {
        Ok(()) => Ok(()),
        Err(Errno::EXIST | Errno::NOTEMPTY) => {
            std::fs::remove_dir_all(tmp).map_err(commit_error("drop duplicate unpack"))
        }
        Err(e) => Err(LayerError::Commit {
            op: "rename into place",
            source: e.into(),
        }),
    }
}

fn write_lowers(dir: &Path, chains: &[Digest]) -> Result<()> {
    let mut text = String::new();
    for chain in chains {
        text.push_str(chain.hex());
        text.push('\n');
    }
    let tmp = dir.join("lowers.tmp");
    let path = dir.join("lowers");
    std::fs::write(&tmp, text).map_err(io_error("write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_error("rename", &path))
}

fn check_container_id(id: &str) -> Result<()> {
    let invalid = |reason| Error::InvalidContainerId {
        id: id.to_owned(),
        reason,
    };
    if id.is_empty() || id.len() > 128 {
        return Err(invalid("must be 1 to 128 characters"));
    }
    if id == "." || id == ".." {
        return Err(invalid("must not be `.` or `..`"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(invalid(
            "only letters, digits, `-`, `_` and `.` are allowed",
        ));
    }
    Ok(())
}

fn create_dir(path: &Path) -> Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && is_dir(path)? => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(path)
            .map_err(io_error("create directory", path)),
        Err(e) => Err(io_error("create directory", path)(e)),
    }
}

fn is_dir(path: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => Ok(meta.is_dir()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error("stat", path)(e)),
    }
}

fn list_dir(path: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io_error("list", path))? {
        let entry = entry.map_err(io_error("list", path))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

fn io_error<'a>(op: &'static str, path: &'a Path) -> impl Fn(io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

fn commit_error(op: &'static str) -> impl Fn(io::Error) -> LayerError {
    move |source| LayerError::Commit { op, source }
}
