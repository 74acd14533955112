//! Image garbage collection as kubelet does it: when the file system holding the image store
//! is used at or above `image-gc-high-threshold` percent, the least recently used images that
//! no pod on the node uses (and that are older than `image-minimum-gc-age`, and not pinned
//! airgap imports) are removed until usage is back to `image-gc-low-threshold` percent; then
//! the unpacked layers no remaining image needs go too. Checked at start and every
//! [`GC_PERIOD`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kmicro_images::ImageStore;
use kmicro_rootfs::{Digest, Snapshotter, chain_ids};

/// How often usage is checked (kubelet's `ImageGCPeriod`).
pub const GC_PERIOD: Duration = Duration::from_secs(5 * 60);

/// When image garbage collection runs and how much it frees (kubelet's flags of the same
/// names, set with `--kubelet-arg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageGcPolicy {
    /// Usage (percent of the file system) at or above which images are collected; 100 turns
    /// collection off.
    pub high_threshold_percent: u8,
    /// Usage collection brings the file system down to.
    pub low_threshold_percent: u8,
    /// Images used more recently than this are never collected.
    pub minimum_age: Duration,
}

impl Default for ImageGcPolicy {
    /// kubelet's defaults: 85 %, 80 %, 2 minutes.
    fn default() -> Self {
        Self {
            high_threshold_percent: 85,
            low_threshold_percent: 80,
            minimum_age: Duration::from_secs(120),
        }
    }
}

impl ImageGcPolicy {
    /// Bytes to free on a file system of `capacity` bytes with `available` bytes free, as
    /// kubelet computes it: nothing below the high threshold, else what brings usage down to
    /// the low threshold.
    pub fn bytes_to_free(&self, capacity: u64, available: u64) -> Option<u64> {
        if capacity == 0 || self.high_threshold_percent >= 100 {
            return None;
        }
        let used = capacity.saturating_sub(available);
        let usage_percent = used as u128 * 100 / capacity as u128;
        if usage_percent < u128::from(self.high_threshold_percent) {
            return None;
        }
        let low = u128::from(self.low_threshold_percent.min(100));
        let allowed_free = capacity as u128 * (100 - low) / 100;
        let want = allowed_free.saturating_sub(u128::from(available));
        Some(u64::try_from(want).unwrap_or(u64::MAX).max(1))
    }
}

/// The image references `pods` use (containers, init and ephemeral containers).
pub fn images_in_use<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> Vec<String> {
    let mut images = Vec::new();
    for pod in pods {
        let Some(spec) = &pod.spec else { continue };
        let containers = spec.containers.iter().filter_map(|c| c.image.clone());
        let init = spec
            .init_containers
            .iter()
            .flatten()
            .filter_map(|c| c.image.clone());
        let ephemeral = spec
            .ephemeral_containers
            .iter()
            .flatten()
            .filter_map(|c| c.image.clone());
        images.extend(containers.chain(init).chain(ephemeral));
    }
    images.sort();
    images.dedup();
    images
}

/// One check: collects when the image store's file system is over the high threshold.
/// Blocking (file system work); answers what was freed, if anything was collected.
pub fn check(
    store: &ImageStore,
    snapshots: &Arc<Snapshotter>,
    in_use: &[String],
    policy: &ImageGcPolicy,
) -> anyhow::Result<Option<Freed>> {
    let (capacity, available) = usage(store.root())?;
    let Some(want) = policy.bytes_to_free(capacity, available) else {
        return Ok(None);
    };
    tracing::info!(
        capacity,
        available,
        want,
        "disk usage over the image GC high threshold: collecting images"
    );
    let report = store.free_space(in_use, want, policy.minimum_age.as_secs())?;
    let mut keep: Vec<Digest> = Vec::new();
    for image in store.list()? {
        let diff_ids: Vec<&str> = image.layers.iter().map(|l| l.diff_id.as_str()).collect();
        keep.extend(chain_ids(&diff_ids)?);
    }
    let layers = snapshots.gc(&keep)?;
    let freed = Freed {
        images: report.removed_images,
        bytes: report.freed_bytes,
        layers: layers.removed.len(),
        wanted: want,
    };
    if freed.bytes < want {
        tracing::warn!(
            wanted = want,
            freed = freed.bytes,
            "failed to garbage collect the required amount of images: attempted to free {want} bytes, but only found {} bytes eligible to free",
            freed.bytes
        );
    }
    Ok(Some(freed))
}

/// What one collection freed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Freed {
    /// Images removed.
    pub images: Vec<String>,
    /// Bytes of image blobs freed.
    pub bytes: u64,
    /// Unpacked layers removed.
    pub layers: usize,
    /// Bytes that were wanted.
    pub wanted: u64,
}

/// Capacity and available bytes of the file system holding `path`.
fn usage(path: &Path) -> anyhow::Result<(u64, u64)> {
    let stat = rustix::fs::statvfs(path)
        .map_err(|e| anyhow::anyhow!("statvfs {}: {e}", path.display()))?;
    let fragment = stat.f_frsize.max(1);
    Ok((stat.f_blocks * fragment, stat.f_bavail * fragment))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_freed_below_the_high_threshold() {
        let policy = ImageGcPolicy::default();
        assert_eq!(policy.bytes_to_free(1000, 151), None, "84.9 % used");
        assert_eq!(policy.bytes_to_free(0, 0), None);
        let off = ImageGcPolicy {
            high_threshold_percent: 100,
            ..policy
        };
        assert_eq!(off.bytes_to_free(1000, 0), None);
    }

    #[test]
    fn over_the_high_threshold_usage_comes_down_to_the_low_one() {
        let policy = ImageGcPolicy::default();
        // 90 % used: 20 % must be free, 10 % is.
        assert_eq!(policy.bytes_to_free(1000, 100), Some(100));
        // Exactly at the high threshold.
        assert_eq!(policy.bytes_to_free(1000, 150), Some(50));
        let everything = ImageGcPolicy {
            high_threshold_percent: 0,
            low_threshold_percent: 0,
            minimum_age: Duration::ZERO,
        };
        assert_eq!(everything.bytes_to_free(1000, 400), Some(600));
        // Even an empty file system asks for something, so unused images go.
        assert_eq!(everything.bytes_to_free(1000, 1000), Some(1));
    }

    #[test]
    fn images_in_use_cover_every_kind_of_container() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "spec": {
                "containers": [{"name": "a", "image": "busybox:1"}, {"name": "b", "image": "web:2"}],
                "initContainers": [{"name": "i", "image": "busybox:1"}],
                "ephemeralContainers": [{"name": "e", "image": "debug:3"}],
            }
        }))
        .unwrap();
        assert_eq!(
            images_in_use([&pod]),
            ["busybox:1", "debug:3", "web:2"].map(String::from)
        );
    }
}
