//! The OCI and Docker v2 JSON documents the store reads: manifests, indexes (manifest lists),
//! image configs, and the layer media types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::Error;
use crate::platform::Platform;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker v2 schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker v2 manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker uncompressed layer (docker-archive layers; not sent by registries).
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// OCI uncompressed layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// The manifest media types a pull accepts, best first.
pub const ACCEPTED_MANIFESTS: &[&str] = &[
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
];

/// How a layer blob is compressed. The store keeps layers as pulled; unpacking is the rootfs
/// crate's job, which decompresses by this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// The compression a layer media type declares: the OCI and Docker v2 layer types, their
    /// non-distributable/foreign variants included. Other types are refused.
    pub fn of_media_type(media_type: &str) -> Result<Self, Error> {
        let base = media_type
            .replace(".nondistributable.", ".")
            .replace(".foreign.", ".");
        match base.as_str() {
            OCI_LAYER_TAR | DOCKER_LAYER_TAR => Ok(Self::None),
            OCI_LAYER_GZIP | DOCKER_LAYER_GZIP => Ok(Self::Gzip),
            OCI_LAYER_ZSTD | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Ok(Self::Zstd),
            _ => Err(Error::UnsupportedMediaType {
                what: "layer".to_owned(),
                media_type: media_type.to_owned(),
            }),
        }
    }

    /// The compression a blob's first bytes show (gzip and zstd magic numbers).
    pub fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }
}

/// A content descriptor.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image manifest (OCI or Docker v2 schema 2).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Index {
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

impl Index {
    /// The entry for `platform`: the best-ranked (exact variant first, then older compatible
    /// ones), the first of equals. Entries without a platform, and attestation manifests
    /// (`unknown/unknown`), are skipped.
    pub fn choose(&self, platform: &Platform, reference: &str) -> Result<&Descriptor, Error> {
        self.manifests
            .iter()
            .filter_map(|d| {
                let candidate = d.platform.as_ref()?;
                platform.rank(candidate).map(|rank| (rank, d))
            })
            .min_by_key(|(rank, _)| *rank)
            .map(|(_, d)| d)
            .ok_or_else(|| Error::NoMatchingPlatform {
                reference: reference.to_owned(),
                platform: platform.to_string(),
                available: self
                    .manifests
                    .iter()
                    .map(|d| {
                        d.platform
                            .as_ref()
                            .map_or("(none)".to_owned(), Platform::to_string)
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// A manifest document, told apart by its media type or, when it has none (umoci writes
/// none), by its shape.
pub(crate) enum Document {
    Manifest(Manifest),
    Index(Index),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    schema_version: u32,
    #[serde(default)]
    media_type: String,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

impl Document {
    /// Parses a manifest or index; errors name its digest.
    pub fn parse(bytes: &[u8], digest: &Digest) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidManifest {
            digest: digest.clone(),
            reason,
        };
        let probe: Probe = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if probe.schema_version != 2 {
            return Err(invalid(format!(
                "schemaVersion {} (only 2 is supported)",
                probe.schema_version
            )));
        }
        let is_index = match probe.media_type.as_str() {
            OCI_INDEX | DOCKER_MANIFEST_LIST => true,
            OCI_MANIFEST | DOCKER_MANIFEST => false,
            "" if probe.manifests.is_some() => true,
            "" if probe.config.is_some() => false,
            "" => return Err(invalid("neither a manifest nor an index".to_owned())),
            other => {
                return Err(Error::UnsupportedMediaType {
                    what: format!("manifest {digest}"),
                    media_type: other.to_owned(),
                });
            }
        };
        if is_index {
            serde_json::from_slice(bytes)
                .map(Document::Index)
                .map_err(|e| invalid(e.to_string()))
        } else {
            let mut manifest: Manifest =
                serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
            if manifest.media_type.is_empty() {
                manifest.media_type = OCI_MANIFEST.to_owned();
            }
            Ok(Document::Manifest(manifest))
        }
    }
}

/// What the runtime needs from an image's config (`config` in the config JSON). Field names
/// follow the OCI image spec; absent fields are empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `Entrypoint`: the command's first part; a pod's `command` replaces it.
    #[serde(rename = "Entrypoint", default, deserialize_with = "null_as_default")]
    pub entrypoint: Vec<String>,
    /// `Cmd`: arguments after the entrypoint; a pod's `args` replace them (and a pod's
    /// `command` drops them).
    #[serde(rename = "Cmd", default, deserialize_with = "null_as_default")]
    pub cmd: Vec<String>,
    /// `Env`: `NAME=value` strings, in order.
    #[serde(rename = "Env", default, deserialize_with = "null_as_default")]
    pub env: Vec<String>,
    /// `WorkingDir`; `None` when empty (the runtime then uses `/`).
    #[serde(rename = "WorkingDir", default, deserialize_with = "empty_as_none")]
    pub working_dir: Option<String>,
    /// `User`: `uid`, `uid:gid`, `name` or `name:group`; `None` when empty (root).
    #[serde(rename = "User", default, deserialize_with = "empty_as_none")]
    pub user: Option<String>,
    /// `ExposedPorts` keys (`80/tcp`), sorted.
    #[serde(rename = "ExposedPorts", default, deserialize_with = "keys_of_map")]
    pub exposed_ports: Vec<String>,
    /// `Labels`.
    #[serde(rename = "Labels", default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// `StopSignal` (`SIGTERM` when `None`).
    #[serde(rename = "StopSignal", default, deserialize_with = "empty_as_none")]
    pub stop_signal: Option<String>,
}

/// The parts of an image config file the store reads.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct ConfigFile {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub config: ImageConfig,
    pub rootfs: RootFs,
}

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

impl ConfigFile {
    /// Parses a config blob; errors name its digest.
    pub fn parse(bytes: &[u8], digest: &Digest) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::InvalidConfig {
            digest: digest.clone(),
            reason: e.to_string(),
        })
    }

    /// The platform the config declares.
    pub fn platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone().filter(|v| !v.is_empty()),
        }
    }
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn empty_as_none<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<String>::deserialize(deserializer)?.filter(|s| !s.is_empty()))
}

fn keys_of_map<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let map = Option::<BTreeMap<String, serde::de::IgnoredAny>>::deserialize(deserializer)?;
    Ok(map.unwrap_or_default().into_keys().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_and_compression() {
        assert_eq!(
            Compression::of_media_type(OCI_LAYER_GZIP).unwrap(),
            Compression::Gzip
        );
        assert_eq!(
            Compression::of_media_type(OCI_LAYER_ZSTD).unwrap(),
            Compression::Zstd
        );
        assert_eq!(
            Compression::of_media_type(DOCKER_LAYER_GZIP).unwrap(),
            Compression::Gzip
        );
        assert_eq!(
            Compression::of_media_type("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")
                .unwrap(),
            Compression::Gzip
        );
        assert_eq!(
            Compression::of_media_type(OCI_LAYER_TAR).unwrap(),
            Compression::None
        );
        assert!(Compression::of_media_type("application/x-wasm").is_err());
    }

    #[test]
    fn config_with_nulls() {
        let json = br#"{"architecture":"amd64","os":"linux","config":{"Env":null,"Cmd":["sh"],"ExposedPorts":{"80/tcp":{}},"WorkingDir":""},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let config = ConfigFile::parse(json, &Digest::of(json)).unwrap();
        assert_eq!(config.config.cmd, ["sh"]);
        assert!(config.config.env.is_empty());
        assert_eq!(config.config.exposed_ports, ["80/tcp"]);
        assert_eq!(config.config.working_dir, None);
    }
}
