//! The on-disk layout of the redb store: tables, meta keys and the record encoding.
//!
//! Tables (all written only by the writer thread, in one redb transaction per group commit):
//!
//! | table | key | value | holds |
//! | --- | --- | --- | --- |
//! | `kmicro_meta` | name | i64 | `format`, `revision`, `compact_revision`, `lease_seq` |
//! | `kmicro_current` | key | record | the live value of every existing key |
//! | `kmicro_history` | (key, revision) | record | every retained version, tombstones included |
//! | `kmicro_log` | (revision, index) | key | which keys each revision wrote, for watch replay |
//! | `kmicro_leases` | lease id | TTL seconds | granted leases |
//! | `kmicro_lease_keys` | (lease id, key) | () | keys attached to each lease |
//!
//! Invariants, true after every commit:
//! - `revision` is the highest revision in `kmicro_log` (or 0 before the first write);
//! - `kmicro_current[k]` equals the newest `kmicro_history[(k, _)]` entry when that entry is a
//!   put, and `k` is absent from `kmicro_current` when it is a tombstone;
//! - every `kmicro_log` entry at or above `compact_revision` has its `kmicro_history` entry;
//!   entries below it are removed by compaction, which may lag (it runs in chunks) but is
//!   resumed on open;
//! - `kmicro_lease_keys` holds `(l, k)` exactly when `kmicro_current[k]` has lease `l`.
//!
//! A record is a 33-byte header (`tag`, then `create_revision`, `mod_revision`, `version`,
//! `lease` as little-endian i64) followed by the value. Tag 1 is a put, tag 2 a tombstone.

use redb::TableDefinition;

use crate::StoreError;
use crate::types::KeyValue;

/// Store-wide counters, by name.
pub(super) const META: TableDefinition<&str, i64> = TableDefinition::new("kmicro_meta");
/// Live key → record.
pub(super) const CURRENT: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kmicro_current");
/// (key, mod revision) → record.
pub(super) const HISTORY: TableDefinition<(&[u8], i64), &[u8]> =
    TableDefinition::new("kmicro_history");
/// (revision, index within the revision) → key.
pub(super) const LOG: TableDefinition<(i64, u32), &[u8]> = TableDefinition::new("kmicro_log");
/// Lease id → TTL in seconds.
pub(super) const LEASES: TableDefinition<i64, i64> = TableDefinition::new("kmicro_leases");
/// (lease id, key) → ().
pub(super) const LEASE_KEYS: TableDefinition<(i64, &[u8]), ()> =
    TableDefinition::new("kmicro_lease_keys");

/// Meta key: the on-disk format version.
pub(super) const META_FORMAT: &str = "format";
/// Meta key: the current revision.
pub(super) const META_REVISION: &str = "revision";
/// Meta key: the compact revision.
pub(super) const META_COMPACT: &str = "compact_revision";
/// Meta key: the last lease id handed out.
pub(super) const META_LEASE_SEQ: &str = "lease_seq";

/// The format this build reads and writes.
pub(super) const FORMAT_VERSION: i64 = 1;

const TAG_PUT: u8 = 1;
const TAG_TOMBSTONE: u8 = 2;
const HEADER_LEN: usize = 1 + 4 * 8;

/// A decoded record: a key-value, or the tombstone left by a delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Record {
    /// The key exists with this value.
    Put(KeyValue),
    /// The key was deleted at `kv.mod_revision`.
    Tombstone(KeyValue),
}

/// Encodes a live key-value (its key is stored in the table key, not here).
pub(super) fn encode_put(kv: &KeyValue) -> Vec<u8> {
    encode(TAG_PUT, kv)
}

/// Encodes the tombstone of a delete at `revision`.
pub(super) fn encode_tombstone(revision: i64) -> Vec<u8> {
    encode(
        TAG_TOMBSTONE,
        &KeyValue {
            mod_revision: revision,
            ..KeyValue::default()
        },
    )
}

fn encode(tag: u8, kv: &KeyValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + kv.value.len());
    out.push(tag);
    for field in [kv.create_revision, kv.mod_revision, kv.version, kv.lease] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    out.extend_from_slice(&kv.value);
    out
}

/// Decodes the record stored for `key`.
pub(super) fn decode(key: &[u8], bytes: &[u8]) -> Result<Record, StoreError> {
    let corrupt = |what: &str| {
        StoreError::backend(
            "decoding a stored record",
            format!("{what} (key {:?})", String::from_utf8_lossy(key)),
        )
    };
    if bytes.len() < HEADER_LEN {
        return Err(corrupt("record shorter than its header"));
    }
    let field = |i: usize| {
        let start = 1 + i * 8;
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&bytes[start..start + 8]);
        i64::from_le_bytes(raw)
    };
    let kv = KeyValue {
        key: key.to_vec(),
        value: bytes[HEADER_LEN..].to_vec(),
        create_revision: field(0),
        mod_revision: field(1),
        version: field(2),
        lease: field(3),
    };
    match bytes[0] {
        TAG_PUT => Ok(Record::Put(kv)),
        TAG_TOMBSTONE => Ok(Record::Tombstone(kv)),
        other => Err(corrupt(&format!("unknown record tag {other}"))),
    }
}

impl Record {
    /// The key-value if this is a put.
    pub(super) fn into_live(self) -> Option<KeyValue> {
        match self {
            Record::Put(kv) => Some(kv),
            Record::Tombstone(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_round_trips() {
        let kv = KeyValue {
            key: b"/registry/pods/default/a".to_vec(),
            value: b"{}".to_vec(),
            create_revision: 3,
            mod_revision: 9,
            version: 4,
            lease: 77,
        };
        assert_eq!(decode(&kv.key, &encode_put(&kv)).unwrap(), Record::Put(kv));
    }

    #[test]
    fn tombstone_round_trips() {
        match decode(b"k", &encode_tombstone(12)).unwrap() {
            Record::Tombstone(kv) => assert_eq!(kv.mod_revision, 12),
            other => panic!("expected a tombstone, got {other:?}"),
        }
    }

    #[test]
    fn short_or_unknown_records_are_errors_not_panics() {
        assert!(decode(b"k", &[1, 2, 3]).is_err());
        let mut bad = encode_tombstone(1);
        bad[0] = 9;
        assert!(decode(b"k", &bad).is_err());
    }
}
