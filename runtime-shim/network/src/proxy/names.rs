//! Chain names: a per-instance prefix, then a kind and a hash of what the chain serves, at
//! most 28 characters (iptables' limit).

/// iptables' longest chain name.
pub(crate) const MAX_CHAIN: usize = 28;

/// A stable 64-bit FNV-1a hash of `parts` (separated, so `("ab","c")` ≠ `("a","bc")`), as
/// lower-case hex.
pub fn hash_hex(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0u8)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The chain prefix of the kmicro instance whose pod bridge is `bridge` (bridges are unique
/// per host, so prefixes are): `KM` and six hex digits of the bridge name's hash, then `-`.
pub fn chain_prefix(bridge: &str) -> String {
    format!("KM{}-", &hash_hex(&[bridge])[..6])
}

/// A per-object chain name: `<prefix><kind>-<hash>`, the hash cut to fit [`MAX_CHAIN`].
pub(crate) fn object_chain(prefix: &str, kind: &str, parts: &[&str]) -> String {
    let head = format!("{prefix}{kind}-");
    let room = MAX_CHAIN.saturating_sub(head.len()).clamp(4, 16);
    format!("{head}{}", &hash_hex(parts)[..room])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_differ_per_bridge_and_names_fit() {
        let a = chain_prefix("kmt-3");
        assert_eq!(a.len(), 9);
        assert!(a.starts_with("KM") && a.ends_with('-'));
        assert_ne!(a, chain_prefix("kmt-30"));
        assert_eq!(a, chain_prefix("kmt-3"));
        let c = object_chain(&a, "SEP", &["default", "web", "", "tcp", "10.0.0.1:80"]);
        assert!(c.len() <= MAX_CHAIN, "{c}");
        assert!(c.starts_with(&format!("{a}SEP-")));
        assert_ne!(hash_hex(&["ab", "c"]), hash_hex(&["a", "bc"]));
    }
}
