//! Names derived from content: the `pod-template-hash` of Deployments and DaemonSets and the
//! hashes of ControllerRevisions.
//!
//! kube hashes a Go struct's deep printing (`hashutil.DeepHashObject`, spew's format), which is
//! Go-specific and cannot be reproduced from Rust types. kmicro hashes the canonical JSON of
//! the same object instead (keys in sorted order, as `serde_json::Value` prints them) with the
//! same FNV functions and the same collision-count handling, and encodes the number with
//! kube's `rand.SafeEncodeString`. Names therefore have kube's shape (`web-7d9c8f5b6`) and are
//! stable across restarts and versions of kmicro, but differ from the names kube would pick
//! for the same template. Nothing relies on the exact value: kubectl and the controllers
//! compare templates, not hashes.

use kmicro_module_sdk::k8s_openapi::api::core::v1::PodTemplateSpec;
use kmicro_module_sdk::serde_json;

/// The alphabet of kube's `SafeEncodeString`: no vowels (no words), no confusable characters.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// 32-bit FNV-1a of `bytes`, continuing from `state`.
fn fnv1a(mut state: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        state ^= u32::from(b);
        state = state.wrapping_mul(FNV_PRIME);
    }
    state
}

/// 32-bit FNV-1 of `bytes`, continuing from `state`.
fn fnv1(mut state: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        state = state.wrapping_mul(FNV_PRIME);
        state ^= u32::from(b);
    }
    state
}

/// kube's `rand.SafeEncodeString`: each character mapped into [`SAFE_ALPHABET`].
pub fn safe_encode(s: &str) -> String {
    s.chars()
        .map(|c| SAFE_ALPHABET[(c as usize) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// The canonical JSON of a value: object keys sorted, no whitespace.
pub fn canonical_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_value(value)
        .and_then(|v| serde_json::to_vec(&v))
        .unwrap_or_default()
}

/// The `pod-template-hash` of `template` (kube's `controller.ComputeHash`): FNV-1a of the
/// template, then of the collision count as kube writes it (eight bytes, the count in the
/// first four, little-endian).
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut state = fnv1a(FNV_OFFSET, &canonical_json(template));
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(count as u32).to_le_bytes());
        state = fnv1a(state, &bytes);
    }
    safe_encode(&state.to_string())
}

/// The hash of a ControllerRevision's data (kube's `history.HashControllerRevision`): FNV-1
/// of the raw data, then of the collision count in decimal.
pub fn revision_hash(data: &[u8], collision_count: Option<i32>) -> String {
    let mut state = fnv1(FNV_OFFSET, data);
    if let Some(count) = collision_count {
        state = fnv1(state, count.to_string().as_bytes());
    }
    safe_encode(&state.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn fnv_matches_reference_vectors() {
        // Published FNV-1a / FNV-1 32-bit test vectors.
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0x811c9dc5);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xe40c292c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0xbf9cf968);
        assert_eq!(fnv1(FNV_OFFSET, b"a"), 0x050c5d7e);
        assert_eq!(fnv1(FNV_OFFSET, b"foobar"), 0x31f0b262);
    }

    #[test]
    fn safe_encoding_is_kubes() {
        // '0' is 48: 48 % 27 = 21 → '4'; '9' is 57 → 3 → 'f'.
        assert_eq!(safe_encode("09"), "4f");
        assert!(
            safe_encode(&u32::MAX.to_string())
                .bytes()
                .all(|b| SAFE_ALPHABET.contains(&b))
        );
    }

    fn template(app: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_string(), app.to_string())].into()),
                ..ObjectMeta::default()
            }),
            spec: None,
        }
    }

    #[test]
    fn template_hash_is_stable_and_content_sensitive() {
        let a = template_hash(&template("web"), None);
        assert_eq!(a, template_hash(&template("web"), None));
        assert_ne!(a, template_hash(&template("api"), None));
        assert_ne!(a, template_hash(&template("web"), Some(1)));
        assert_ne!(
            template_hash(&template("web"), Some(1)),
            template_hash(&template("web"), Some(2))
        );
        assert!(a.len() >= 6 && a.len() <= 10, "{a}");
    }

    #[test]
    fn revision_hash_includes_collision_count() {
        assert_ne!(revision_hash(b"{}", None), revision_hash(b"{}", Some(0)));
        assert_eq!(revision_hash(b"{}", Some(3)), revision_hash(b"{}", Some(3)));
    }
}
