//! Airgap import, as k3s does it: image archives — an OCI image layout (`skopeo copy …
//! oci-archive:`, docker 25+ `docker save`) or a docker-archive (`docker save`,
//! `skopeo copy … docker-archive:`: manifest.json, repositories, layer tars), plain or
//! gzip/zstd-compressed — are read in one pass; every file lands in a temporary file of the
//! store, hashed on the way; then the manifests are read, every digest checked, and the blobs
//! the images need are renamed into place. Imported images are pinned (GC keeps them).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;

use crate::assemble::{self, Naming};
use crate::digest::Digest;
use crate::error::Error;
use crate::manifest::{
    self, Compression, ConfigFile, DOCKER_CONFIG, DOCKER_MANIFEST, Descriptor, Document, Manifest,
};
use crate::platform::Platform;
use crate::reference::ImageRef;
use crate::store::records::write_atomically;
use crate::store::{ImageRecord, ImageStore, blobs};

/// What [`ImageStore::import_dir`] did.
#[derive(Debug, Default)]
pub struct ImportDirReport {
    /// Archives imported, with the images each held.
    pub imported: Vec<(PathBuf, Vec<ImageRecord>)>,
    /// Archives skipped: imported before, with the same size and modification time.
    pub skipped: Vec<PathBuf>,
    /// Archives that failed, with why (the others are still imported).
    pub failed: Vec<(PathBuf, Error)>,
}

/// A file of the archive, in a temporary file of the store.
struct Member {
    file: Option<NamedTempFile>,
    digest: Digest,
    size: u64,
}

/// The archive's files by normalised path, and its symlinks.
struct Contents {
    archive: PathBuf,
    files: HashMap<String, Member>,
    links: HashMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct OciIndexFile {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// Annotation with the full image name (containerd, docker 25+).
const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// Annotation with a tag or a full name (OCI).
const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Default, Serialize, Deserialize)]
struct ImportLog {
    #[serde(default)]
    files: BTreeMap<String, ImportedFile>,
}

#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct ImportedFile {
    size: u64,
    mtime_ns: u128,
}

impl ImageStore {
    /// Imports every image of an archive (see the module docs), resolving multi-arch indexes
    /// for this machine's platform. Returns the images recorded.
    pub fn import_archive(&self, path: &Path) -> Result<Vec<ImageRecord>, Error> {
        self.import_archive_for(path, &Platform::current())
    }

    /// [`import_archive`](Self::import_archive), resolving indexes for `platform`.
    pub fn import_archive_for(
        &self,
        path: &Path,
        platform: &Platform,
    ) -> Result<Vec<ImageRecord>, Error> {
        let _content = self.content_shared()?;
        let mut contents = self.read_archive(path)?;
        let images = if contents.files.contains_key("index.json") {
            self.import_oci_layout(&mut contents, platform)?
        } else if contents.files.contains_key("manifest.json") {
            self.import_docker_archive(&mut contents)?
        } else {
            return Err(Error::Archive {
                path: path.to_owned(),
                reason: "neither index.json (OCI image layout) nor manifest.json (docker-archive)"
                    .to_owned(),
            });
        };
        if images.is_empty() {
            return Err(Error::Archive {
                path: path.to_owned(),
                reason: "no image in it".to_owned(),
            });
        }
        tracing::info!(archive = %path.display(), images = images.len(), "imported");
        Ok(images)
    }

    /// Imports every `*.tar`, `*.tar.gz`, `*.tgz`, `*.tar.zst` and `*.tar.zstd` in `dir`
    /// (the agent calls it at start on `<data-dir>/agent/images/`), skipping archives
    /// imported before with the same size and modification time. A missing dir imports
    /// nothing; one bad archive does not stop the others.
    pub fn import_dir(&self, dir: &Path) -> Result<ImportDirReport, Error> {
        let mut report = ImportDirReport::default();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
            Err(e) => return Err(Error::io("listing", dir)(e)),
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                [".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd"]
                    .iter()
                    .any(|ext| name.ends_with(ext))
                    && p.is_file()
            })
            .collect();
        paths.sort();
        let log_path = self.root().join("imports.json");
        for path in paths {
            let stamp = match stamp(&path) {
                Ok(stamp) => stamp,
                Err(err) => {
                    report.failed.push((path, err));
                    continue;
                }
            };
            let key = path.to_string_lossy().into_owned();
            if read_log(&log_path)?.files.get(&key) == Some(&stamp) {
                tracing::debug!(archive = %path.display(), "already imported");
                report.skipped.push(path);
                continue;
            }
            match self.import_archive(&path) {
                Ok(images) => {
                    let _meta = self.meta_lock()?;
                    let mut log = read_log(&log_path)?;
                    log.files.insert(key, stamp);
                    let bytes = serde_json::to_vec_pretty(&log)
                        .map_err(|e| Error::Internal(e.to_string()))?;
                    write_atomically(&log_path, &bytes)?;
                    report.imported.push((path, images));
                }
                Err(err) => {
                    tracing::warn!("importing {}: {err}", path.display());
                    report.failed.push((path, err));
                }
            }
        }
        Ok(report)
    }

    /// Reads the archive once: every regular file into a hashed temporary file.
    fn read_archive(&self, path: &Path) -> Result<Contents, Error> {
        let file = File::open(path).map_err(Error::io("opening", path))?;
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        let head = reader.fill_buf().map_err(Error::io("reading", path))?;
        let compression = Compression::sniff(head);
        let decompressed: Box<dyn Read> = match compression {
            Compression::None => Box::new(reader),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
            Compression::Zstd => Box::new(
                ruzstd::decoding::StreamingDecoder::new(reader).map_err(|e| Error::Archive {
                    path: path.to_owned(),
                    reason: format!("zstd: {e}"),
                })?,
            ),
        };
        let archive_error = |e: std::io::Error| Error::Archive {
            path: path.to_owned(),
            reason: format!("reading the tar: {e}"),
        };
        let mut archive = tar::Archive::new(decompressed);
        let mut contents = Contents {
            archive: path.to_owned(),
            files: HashMap::new(),
            links: HashMap::new(),
        };
        for entry in archive.entries().map_err(archive_error)? {
            let mut entry = entry.map_err(archive_error)?;
            let entry_path = entry.path().map_err(archive_error)?.into_owned();
            let Some(name) = normalise(&entry_path) else {
                continue;
            };
            let kind = entry.header().entry_type();
            if kind.is_file() {
                let mut writer = self.blob_writer()?;
                writer
                    .copy_from(&mut entry, path)
                    .map_err(|e| Error::Archive {
                        path: path.to_owned(),
                        reason: format!("reading {name}: {e}"),
                    })?;
                let (file, digest, size) = writer.into_parts();
                contents.files.insert(
                    name,
                    Member {
                        file: Some(file),
                        digest,
                        size,
                    },
                );
            } else if kind.is_symlink() || kind.is_hard_link() {
                let Some(target) = entry.link_name().map_err(archive_error)? else {
                    continue;
                };
                let base = if kind.is_symlink() {
                    Path::new(&name)
                        .parent()
                        .unwrap_or(Path::new(""))
                        .join(target)
                } else {
                    target.into_owned()
                };
                if let Some(target) = normalise(&base) {
                    contents.links.insert(name, target);
                }
            }
        }
        Ok(contents)
    }

    fn import_oci_layout(
        &self,
        contents: &mut Contents,
        platform: &Platform,
    ) -> Result<Vec<ImageRecord>, Error> {
        let index_bytes = contents.read("index.json")?;
        let index: OciIndexFile =
            serde_json::from_slice(&index_bytes).map_err(|e| Error::Archive {
                path: contents.archive.clone(),
                reason: format!("index.json: {e}"),
            })?;
        // docker 25+ archives also carry manifest.json: its RepoTags name images by config.
        let docker_names = match contents.files.contains_key("manifest.json") {
            true => docker_manifest(contents)?
                .into_iter()
                .map(|e| (e.config, e.repo_tags.unwrap_or_default()))
                .collect(),
            false => Vec::new(),
        };
        let mut images = Vec::new();
        for top in &index.manifests {
            let mut names: Vec<String> = Vec::new();
            for key in [CONTAINERD_NAME, OCI_REF_NAME] {
                if let Some(name) = top.annotations.get(key).and_then(|n| full_name(n)) {
                    names.push(name);
                    break;
                }
            }
            let bytes = contents.read_blob(&top.digest)?;
            let (manifest_digest, manifest_bytes, index_digest) =
                match Document::parse(&bytes, &top.digest)? {
                    Document::Manifest(_) => (top.digest.clone(), bytes, None),
                    Document::Index(nested) => {
                        let present = manifest::Index {
                            manifests: nested
                                .manifests
                                .iter()
                                .filter(|d| contents.has_blob(&d.digest))
                                .cloned()
                                .collect(),
                        };
                        let reference = names
                            .first()
                            .cloned()
                            .unwrap_or_else(|| top.digest.to_string());
                        let chosen = present.choose(platform, &reference)?.clone();
                        let bytes = contents.read_blob(&chosen.digest)?;
                        (chosen.digest, bytes, Some(top.digest.clone()))
                    }
                };
            let Document::Manifest(manifest) = Document::parse(&manifest_bytes, &manifest_digest)?
            else {
                return Err(Error::InvalidManifest {
                    digest: manifest_digest,
                    reason: "an index inside an index".to_owned(),
                });
            };
            if names.is_empty() {
                for (config_file, tags) in &docker_names {
                    if config_file.trim_start_matches("blobs/sha256/")
                        == manifest.config.digest.hex()
                    {
                        names.extend(tags.iter().filter_map(|t| full_name(t)));
                    }
                }
            }
            if names.is_empty() {
                tracing::warn!(
                    archive = %contents.archive.display(),
                    manifest = %manifest_digest,
                    "image without a name (no {CONTAINERD_NAME} or full {OCI_REF_NAME} annotation): reachable by digest only"
                );
            }
            let index_digests: Vec<Digest> = index_digest.into_iter().collect();
            let record = self.import_image(
                contents,
                &manifest,
                &manifest_digest,
                manifest_bytes.len() as u64,
                names,
                index_digests,
            )?;
            images.push(record);
        }
        Ok(images)
    }

    fn import_docker_archive(&self, contents: &mut Contents) -> Result<Vec<ImageRecord>, Error> {
        let entries = docker_manifest(contents)?;
        let mut images = Vec::new();
        for entry in entries {
            let config = contents.member(&entry.config)?;
            let config_digest = config.digest.clone();
            let config_size = config.size;
            if let Some(hex) = entry
                .config
                .strip_suffix(".json")
                .map(|n| n.rsplit('/').next().unwrap_or(n))
                && hex.len() == 64
                && hex != config_digest.hex()
            {
                return Err(Error::DigestMismatch {
                    what: format!("{} in {}", entry.config, contents.archive.display()),
                    expected: Digest::parse(&format!("sha256:{hex}"))?,
                    actual: config_digest,
                });
            }
            let config_bytes = contents.read(&entry.config)?;
            let config_file = ConfigFile::parse(&config_bytes, &config_digest)?;
            let mut layers = Vec::new();
            for (i, layer_path) in entry.layers.iter().enumerate() {
                let member = contents.member(layer_path)?;
                let (digest, size) = (member.digest.clone(), member.size);
                let compression = contents.sniff(layer_path)?;
                if compression == Compression::None
                    && let Some(diff_id) = config_file.rootfs.diff_ids.get(i)
                    && *diff_id != digest
                {
                    return Err(Error::DigestMismatch {
                        what: format!(
                            "layer {layer_path} in {} (its config's diff_id)",
                            contents.archive.display()
                        ),
                        expected: diff_id.clone(),
                        actual: digest,
                    });
                }
                layers.push(Descriptor {
                    media_type: match compression {
                        Compression::None => manifest::DOCKER_LAYER_TAR,
                        Compression::Gzip => manifest::DOCKER_LAYER_GZIP,
                        Compression::Zstd => manifest::OCI_LAYER_ZSTD,
                    }
                    .to_owned(),
                    digest,
                    size,
                    platform: None,
                    annotations: BTreeMap::new(),
                });
            }
            let manifest = Manifest {
                schema_version: 2,
                media_type: DOCKER_MANIFEST.to_owned(),
                config: Descriptor {
                    media_type: DOCKER_CONFIG.to_owned(),
                    digest: config_digest,
                    size: config_size,
                    platform: None,
                    annotations: BTreeMap::new(),
                },
                layers,
            };
            let manifest_bytes =
                serde_json::to_vec(&manifest).map_err(|e| Error::Internal(e.to_string()))?;
            let manifest_digest = Digest::of(&manifest_bytes);
            let mut writer = self.blob_writer()?;
            writer.write(&manifest_bytes)?;
            writer.commit(Some(&manifest_digest), None, "generated manifest")?;
            let names = entry
                .repo_tags
                .unwrap_or_default()
                .iter()
                .filter_map(|t| full_name(t))
                .collect();
            let record = self.import_image(
                contents,
                &manifest,
                &manifest_digest,
                manifest_bytes.len() as u64,
                names,
                Vec::new(),
            )?;
            images.push(record);
        }
        Ok(images)
    }

    /// Moves an image's blobs into place (config and layers: from the archive, or already in
    /// the store) and records it, pinned.
    fn import_image(
        &self,
        contents: &mut Contents,
        manifest: &Manifest,
        manifest_digest: &Digest,
        manifest_size: u64,
        names: Vec<String>,
        index_digests: Vec<Digest>,
    ) -> Result<ImageRecord, Error> {
        for descriptor in std::iter::once(&manifest.config).chain(&manifest.layers) {
            contents.place(self, &descriptor.digest, Some(descriptor.size))?;
        }
        contents.place(self, manifest_digest, None)?;
        let config_bytes = blobs::read_verified(
            &self.blob_path(&manifest.config.digest),
            &manifest.config.digest,
        )?;
        let config = ConfigFile::parse(&config_bytes, &manifest.config.digest)?;
        let repo_digests = match index_digests.first() {
            Some(index) => names
                .iter()
                .filter_map(|n| ImageRef::parse(n).ok())
                .map(|r| r.with_digest_name(index))
                .collect(),
            None => Vec::new(),
        };
        let record = assemble::record(
            manifest,
            manifest_digest,
            manifest_size,
            &config,
            Naming {
                names,
                repo_digests,
                index_digests,
                pinned: true,
            },
        )?;
        self.commit(record)
    }
}

impl Contents {
    fn resolve(&self, name: &str) -> Result<String, Error> {
        let mut name = name.trim_start_matches("./").to_owned();
        for _ in 0..16 {
            match self.links.get(&name) {
                Some(target) => name = target.clone(),
                None => return Ok(name),
            }
        }
        Err(Error::Archive {
            path: self.archive.clone(),
            reason: format!("{name}: too many levels of links"),
        })
    }

    fn member(&self, name: &str) -> Result<&Member, Error> {
        let resolved = self.resolve(name)?;
        self.files.get(&resolved).ok_or_else(|| Error::Archive {
            path: self.archive.clone(),
            reason: format!("{name} is missing"),
        })
    }

    fn has_blob(&self, digest: &Digest) -> bool {
        self.files.contains_key(&blob_name(digest))
    }

    /// A file's content (small files: JSON documents).
    fn read(&self, name: &str) -> Result<Vec<u8>, Error> {
        let member = self.member(name)?;
        match &member.file {
            Some(file) => {
                std::fs::read(file.path()).map_err(Error::io("reading", file.path().to_owned()))
            }
            None => Err(Error::Internal(format!(
                "{name} was already moved into the store"
            ))),
        }
    }

    /// A blob of an OCI layout, checked against its digest (its file name).
    fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, Error> {
        let name = blob_name(digest);
        let member = self.member(&name)?;
        if member.digest != *digest {
            return Err(Error::DigestMismatch {
                what: format!("{name} in {}", self.archive.display()),
                expected: digest.clone(),
                actual: member.digest.clone(),
            });
        }
        self.read(&name)
    }

    fn sniff(&self, name: &str) -> Result<Compression, Error> {
        let member = self.member(name)?;
        let Some(file) = &member.file else {
            return Err(Error::Internal(format!(
                "{name} was already moved into the store"
            )));
        };
        let mut head = [0u8; 4];
        let mut reader =
            File::open(file.path()).map_err(Error::io("opening", file.path().to_owned()))?;
        let n = reader
            .read(&mut head)
            .map_err(Error::io("reading", file.path().to_owned()))?;
        Ok(Compression::sniff(&head[..n]))
    }

    /// Moves the archive's file with `digest` into the store (by digest: an OCI layout's
    /// `blobs/sha256/<hex>`, or any docker-archive file with that content), unless the store
    /// has it already.
    fn place(
        &mut self,
        store: &ImageStore,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<(), Error> {
        let target = store.blob_path(digest);
        if blobs::present(&target, size) {
            return Ok(());
        }
        let name = blob_name(digest);
        let key = if self.files.get(&name).is_some_and(|m| m.file.is_some()) {
            Some(name.clone())
        } else {
            self.files
                .iter()
                .find(|(_, m)| m.digest == *digest && m.file.is_some())
                .map(|(k, _)| k.clone())
        };
        let Some(key) = key else {
            return Err(Error::Archive {
                path: self.archive.clone(),
                reason: format!("blob {digest} is missing"),
            });
        };
        let member = self
            .files
            .get_mut(&key)
            .ok_or_else(|| Error::Internal(key.clone()))?;
        if member.digest != *digest {
            return Err(Error::DigestMismatch {
                what: format!("{key} in {}", self.archive.display()),
                expected: digest.clone(),
                actual: member.digest.clone(),
            });
        }
        if let Some(expected) = size
            && expected != member.size
        {
            return Err(Error::SizeMismatch {
                what: format!("{key} in {}", self.archive.display()),
                digest: digest.clone(),
                expected,
                actual: member.size,
            });
        }
        let Some(file) = member.file.take() else {
            return Err(Error::Internal(format!(
                "{key} was already moved into the store"
            )));
        };
        blobs::place(file, store.blobs_dir(), digest.clone(), member.size)?;
        Ok(())
    }
}

fn docker_manifest(contents: &Contents) -> Result<Vec<DockerManifestEntry>, Error> {
    let bytes = contents.read("manifest.json")?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Archive {
        path: contents.archive.clone(),
        reason: format!("manifest.json: {e}"),
    })
}

fn blob_name(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// A full image name from an archive's tag or annotation (`busybox:latest`,
/// `docker.io/library/busybox:1.36`); `None` for a bare tag (`latest`) or a bad name.
fn full_name(text: &str) -> Option<String> {
    if !text.contains([':', '/']) {
        return None;
    }
    let parsed = ImageRef::parse(text).ok()?;
    parsed.tagged_name()
}

/// A tar path as a relative path without `.` and `..` (`None` when it escapes or is empty).
fn normalise(path: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?.to_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn stamp(path: &Path) -> Result<ImportedFile, Error> {
    let meta = std::fs::metadata(path).map_err(Error::io("reading the metadata of", path))?;
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok(ImportedFile {
        size: meta.len(),
        mtime_ns,
    })
}

fn read_log(path: &Path) -> Result<ImportLog, Error> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::CorruptStore {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ImportLog::default()),
        Err(e) => Err(Error::io("reading", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_archives() {
        assert_eq!(
            full_name("busybox:latest").as_deref(),
            Some("docker.io/library/busybox:latest")
        );
        assert_eq!(full_name("latest"), None);
        assert_eq!(
            full_name("example.com/a/b").as_deref(),
            Some("example.com/a/b:latest")
        );
        assert_eq!(normalise(Path::new("./a/../b/c")).as_deref(), Some("b/c"));
        assert_eq!(normalise(Path::new("../x")), None);
    }
}
