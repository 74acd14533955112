//! The request and response types of the [`Store`](crate::Store) trait, modelled on etcd v3's.

/// A store revision. Revisions start at 1 for the first write; 0 means "none" or "current".
pub type Revision = i64;

/// A lease identifier; 0 means "no lease".
pub type LeaseId = i64;

/// One key and its value as of some revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The value; empty in a delete event.
    pub value: Vec<u8>,
    /// Revision of the put that created the key (since its last deletion).
    pub create_revision: Revision,
    /// Revision of the last write to the key.
    pub mod_revision: Revision,
    /// Number of puts since the key was created; 0 for a deleted key.
    pub version: i64,
    /// Lease the key is attached to, 0 for none.
    pub lease: LeaseId,
}

/// A set of keys: one key, a prefix, or a half-open interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRange {
    /// Exactly this key.
    Key(Vec<u8>),
    /// Every key that starts with these bytes (all keys for an empty prefix).
    Prefix(Vec<u8>),
    /// Keys `k` with `start <= k < end`.
    Range {
        /// First key, inclusive.
        start: Vec<u8>,
        /// End key, exclusive.
        end: Vec<u8>,
    },
    /// Every key greater than or equal to this one.
    From(Vec<u8>),
}

impl KeyRange {
    /// Exactly `key`.
    pub fn key(key: impl Into<Vec<u8>>) -> Self {
        Self::Key(key.into())
    }

    /// Every key starting with `prefix`.
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> Self {
        Self::Prefix(prefix.into())
    }

    /// The first key of the range (inclusive).
    pub fn start(&self) -> &[u8] {
        match self {
            Self::Key(k) | Self::Prefix(k) | Self::From(k) => k,
            Self::Range { start, .. } => start,
        }
    }

    /// The exclusive end of the range; `None` means unbounded.
    pub fn end(&self) -> Option<Vec<u8>> {
        match self {
            Self::Key(k) => {
                let mut end = k.clone();
                end.push(0);
                Some(end)
            }
            Self::Prefix(p) => prefix_end(p),
            Self::Range { end, .. } => Some(end.clone()),
            Self::From(_) => None,
        }
    }

    /// Whether `key` lies in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        match self {
            Self::Key(k) => k == key,
            Self::Prefix(p) => key.starts_with(p),
            Self::Range { start, end } => key >= start.as_slice() && key < end.as_slice(),
            Self::From(start) => key >= start.as_slice(),
        }
    }
}

/// The smallest key greater than every key starting with `prefix`; `None` when there is none
/// (the prefix is empty or all `0xff`), meaning "to the end of the keyspace".
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A read of a key range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeRequest {
    /// Which keys.
    pub range: KeyRange,
    /// Read as of this revision; 0 reads the current state.
    pub revision: Revision,
    /// Return at most this many keys (in key order); 0 means no limit.
    pub limit: usize,
    /// Return only the count, no key-values.
    pub count_only: bool,
}

impl RangeRequest {
    /// Read `range` at the current revision, without limit.
    pub fn new(range: KeyRange) -> Self {
        Self {
            range,
            revision: 0,
            limit: 0,
            count_only: false,
        }
    }

    /// Read as of `revision` instead of the current state.
    pub fn at_revision(mut self, revision: Revision) -> Self {
        self.revision = revision;
        self
    }

    /// Return at most `limit` keys.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Count the keys instead of returning them.
    pub fn count_only(mut self) -> Self {
        self.count_only = true;
        self
    }
}

/// The answer to a [`RangeRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeResponse {
    /// The keys found, in key order (empty when `count_only`).
    pub kvs: Vec<KeyValue>,
    /// How many keys match, ignoring the limit.
    pub count: i64,
    /// Whether the limit cut off more keys.
    pub more: bool,
    /// The store's current revision when the read was served (as etcd's response header).
    pub revision: Revision,
}

/// What a [`Compare`] looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompareTarget {
    /// The key's version (0 when absent).
    Version(i64),
    /// The key's create revision (0 when absent).
    CreateRevision(Revision),
    /// The key's mod revision (0 when absent).
    ModRevision(Revision),
    /// The key's value (a compare on an absent key's value is always false).
    Value(Vec<u8>),
    /// The key's lease (0 when absent or unleased).
    Lease(LeaseId),
}

/// How a [`Compare`] relates the stored field to the given one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    /// stored == given
    Equal,
    /// stored != given
    NotEqual,
    /// stored > given
    Greater,
    /// stored < given
    Less,
}

/// One condition of a [`Txn`], on a single key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compare {
    /// The key compared.
    pub key: Vec<u8>,
    /// The field and the value to compare it with.
    pub target: CompareTarget,
    /// The relation that must hold.
    pub op: CompareOp,
}

impl Compare {
    /// The key does not exist.
    pub fn absent(key: impl Into<Vec<u8>>) -> Self {
        Self {
            key: key.into(),
            target: CompareTarget::Version(0),
            op: CompareOp::Equal,
        }
    }

    /// The key's mod revision equals `revision`.
    pub fn mod_revision(key: impl Into<Vec<u8>>, revision: Revision) -> Self {
        Self {
            key: key.into(),
            target: CompareTarget::ModRevision(revision),
            op: CompareOp::Equal,
        }
    }

    /// A compare of any target with any relation.
    pub fn new(key: impl Into<Vec<u8>>, target: CompareTarget, op: CompareOp) -> Self {
        Self {
            key: key.into(),
            target,
            op,
        }
    }
}

/// One operation of a [`Txn`] branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Write a value.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The new value.
        value: Vec<u8>,
        /// Attach the key to this lease (0: none, detaching any previous lease).
        lease: LeaseId,
    },
    /// Delete every key in the range.
    Delete(KeyRange),
    /// Read, seeing the writes of earlier operations in the same transaction.
    Range(RangeRequest),
}

impl Op {
    /// A put without lease.
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self::Put {
            key: key.into(),
            value: value.into(),
            lease: 0,
        }
    }

    /// A put attached to `lease` (0: none).
    pub fn put_with_lease(
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        lease: LeaseId,
    ) -> Self {
        Self::Put {
            key: key.into(),
            value: value.into(),
            lease,
        }
    }

    /// A delete of one key.
    pub fn delete(key: impl Into<Vec<u8>>) -> Self {
        Self::Delete(KeyRange::Key(key.into()))
    }

    /// A read of one key.
    pub fn get(key: impl Into<Vec<u8>>) -> Self {
        Self::Range(RangeRequest::new(KeyRange::Key(key.into())))
    }
}

/// An atomic transaction: if every compare holds, run `success`, else run `failure`.
/// All writes of the chosen branch share one new revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Txn {
    /// Conditions, all of which must hold for `success` to run.
    pub compares: Vec<Compare>,
    /// Operations when every compare holds.
    pub success: Vec<Op>,
    /// Operations when any compare fails.
    pub failure: Vec<Op>,
}

/// The result of one [`Op`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpResponse {
    /// A put; `prev` is the value it replaced.
    Put {
        /// The key-value before the put, if the key existed.
        prev: Option<KeyValue>,
    },
    /// A delete; `prev` lists what was deleted.
    Delete {
        /// The deleted key-values.
        prev: Vec<KeyValue>,
    },
    /// A read.
    Range(RangeResponse),
}

/// The answer to a [`Txn`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnResponse {
    /// Whether every compare held (the `success` branch ran).
    pub succeeded: bool,
    /// The store's revision after the transaction (the new revision if it wrote).
    pub revision: Revision,
    /// One response per operation of the branch that ran.
    pub responses: Vec<OpResponse>,
}

/// The outcome of a compare-and-swap helper such as [`Store::create`](crate::Store::create).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CasOutcome {
    /// The write happened at this revision.
    Written(Revision),
    /// The condition failed; this is the key's current value (`None`: absent).
    Conflict(Option<KeyValue>),
}

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The key was created or updated.
    Put,
    /// The key was deleted (or its lease expired).
    Delete,
}

/// One change seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// The key-value after the change; for a delete only `key` and `mod_revision` are set.
    pub kv: KeyValue,
    /// The key-value before the change, when the watch asked for it and it is retained.
    pub prev_kv: Option<KeyValue>,
}

/// A watch on a key range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchRequest {
    /// Which keys.
    pub range: KeyRange,
    /// First revision to deliver; 0 means "changes after now".
    pub start_revision: Revision,
    /// Whether events carry the previous key-value.
    pub prev_kv: bool,
}

impl WatchRequest {
    /// Watch `range` for changes after now, with previous values.
    pub fn new(range: KeyRange) -> Self {
        Self {
            range,
            start_revision: 0,
            prev_kv: true,
        }
    }

    /// Start from `revision` (inclusive) instead of now.
    pub fn from_revision(mut self, revision: Revision) -> Self {
        self.start_revision = revision;
        self
    }
}

/// A batch of watch events, in revision order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchResponse {
    /// The store revision this batch brings the watcher up to.
    pub revision: Revision,
    /// The events, ordered by revision (several may share one revision).
    pub events: Vec<Event>,
}
