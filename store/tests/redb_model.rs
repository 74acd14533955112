//! Model-based test of the redb backend: long random sequences of puts, deletes,
//! compare-and-swaps, multi-key transactions, compactions and reopens, checked after every
//! step against a plain in-memory model of etcd's semantics — ranges at every revision and
//! watches from every retained revision included.

use std::collections::BTreeMap;
use std::path::Path;

use futures::StreamExt;
use kmicro_store::{
    CasOutcome, Compare, EventKind, KeyRange, KeyValue, Op, RangeRequest, RedbConfig, RedbStore,
    Revision, Store, StoreError, Txn, WatchRequest,
};

/// A tiny deterministic generator (xorshift64*), so failures replay from their seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

type State = BTreeMap<Vec<u8>, KeyValue>;

/// etcd's semantics, the obvious way: a full snapshot per revision and the events of each.
struct Model {
    snapshots: Vec<State>,
    events: Vec<Vec<(EventKind, Vec<u8>)>>,
    compact: Revision,
}

impl Model {
    fn new() -> Self {
        Self {
            snapshots: vec![State::new()],
            events: vec![Vec::new()],
            compact: 0,
        }
    }

    fn revision(&self) -> Revision {
        (self.snapshots.len() - 1) as Revision
    }

    fn current(&self) -> &State {
        self.snapshots.last().unwrap()
    }

    /// Applies one revision's writes (puts: Some(value), deletes: None); no-op deletes drop out.
    fn commit(&mut self, writes: &[(Vec<u8>, Option<Vec<u8>>)]) {
        let rev = self.revision() + 1;
        let mut next = self.current().clone();
        let mut events = Vec::new();
        for (key, value) in writes {
            match value {
                Some(value) => {
                    let prev = next.get(key);
                    let kv = KeyValue {
                        key: key.clone(),
                        value: value.clone(),
                        create_revision: prev.map_or(rev, |p| p.create_revision),
                        mod_revision: rev,
                        version: prev.map_or(1, |p| p.version + 1),
                        lease: 0,
                    };
                    next.insert(key.clone(), kv);
                    events.push((EventKind::Put, key.clone()));
                }
                None => {
                    if next.remove(key).is_some() {
                        events.push((EventKind::Delete, key.clone()));
                    }
                }
            }
        }
        if !events.is_empty() {
            self.snapshots.push(next);
            self.events.push(events);
        }
    }
}

fn key(rng: &mut Rng) -> Vec<u8> {
    format!("/m/{}", rng.below(12)).into_bytes()
}

async fn open(path: &Path) -> RedbStore {
    let mut config = RedbConfig::new(path);
    config.cache_size = 1 << 20;
    RedbStore::open(config).await.unwrap()
}

async fn check(store: &RedbStore, model: &Model, rng: &mut Rng) {
    assert_eq!(store.current_revision().await.unwrap(), model.revision());
    assert_eq!(store.compact_revision().await.unwrap(), model.compact);
    // A range at a random revision.
    let rev = rng.below(model.revision() as u64 + 1) as Revision;
    let got = store
        .range(RangeRequest::new(KeyRange::prefix("/m/")).at_revision(rev))
        .await;
    if rev > 0 && rev < model.compact {
        assert!(matches!(got, Err(StoreError::Compacted { .. })), "{got:?}");
    } else {
        // Revision 0 asks for the current state.
        let at = if rev == 0 { model.revision() } else { rev };
        let want: Vec<KeyValue> = model.snapshots[at as usize].values().cloned().collect();
        assert_eq!(got.unwrap().kvs, want, "range at revision {rev}");
    }
    // A watch from a random retained revision replays exactly the model's events.
    let from = model.compact.max(1) + rng.below(8) as Revision;
    if from <= model.revision() {
        let mut watch = store
            .watch(WatchRequest::new(KeyRange::prefix("/m/")).from_revision(from))
            .await
            .unwrap();
        let want: Vec<(Revision, EventKind, Vec<u8>)> = (from..=model.revision())
            .flat_map(|r| {
                model.events[r as usize]
                    .iter()
                    .map(move |(kind, key)| (r, *kind, key.clone()))
            })
            .collect();
        let mut got = Vec::new();
        while got.len() < want.len() {
            let resp = watch.next().await.unwrap().unwrap();
            got.extend(
                resp.events
                    .into_iter()
                    .map(|e| (e.kv.mod_revision, e.kind, e.kv.key)),
            );
        }
        assert_eq!(got, want, "watch from {from}");
    }
}

async fn run(seed: u64, steps: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let mut store = open(&path).await;
    let mut model = Model::new();
    let mut rng = Rng(seed);
    for step in 0..steps {
        match rng.below(100) {
            0..=34 => {
                let (k, v) = (key(&mut rng), format!("v{step}").into_bytes());
                store.put(&k, &v).await.unwrap();
                model.commit(&[(k, Some(v))]);
            }
            35..=49 => {
                let k = key(&mut rng);
                store.delete(&k).await.unwrap();
                model.commit(&[(k, None)]);
            }
            50..=64 => {
                // Compare-and-swap at the current or a stale revision.
                let k = key(&mut rng);
                let current = model.current().get(&k).map_or(0, |kv| kv.mod_revision);
                let expect = if rng.below(2) == 0 {
                    current
                } else {
                    current.max(1) - 1
                };
                let v = format!("cas{step}").into_bytes();
                let outcome = store.update(&k, &v, expect, 0).await.unwrap();
                if expect == current {
                    assert!(matches!(outcome, CasOutcome::Written(_)), "{outcome:?}");
                    model.commit(&[(k, Some(v))]);
                } else {
                    assert!(matches!(outcome, CasOutcome::Conflict(_)), "{outcome:?}");
                }
            }
            65..=79 => {
                // A transaction writing two distinct keys and deleting a third in one revision.
                let mut keys = Vec::new();
                while keys.len() < 3 {
                    let k = key(&mut rng);
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                let v = format!("t{step}").into_bytes();
                store
                    .txn(Txn {
                        compares: vec![Compare::new(
                            keys[0].clone(),
                            kmicro_store::CompareTarget::Version(0),
                            kmicro_store::CompareOp::Greater,
                        )],
                        success: vec![
                            Op::put(keys[0].clone(), v.clone()),
                            Op::put(keys[1].clone(), v.clone()),
                            Op::delete(keys[2].clone()),
                        ],
                        failure: vec![Op::put(keys[1].clone(), v.clone())],
                    })
                    .await
                    .unwrap();
                if model.current().contains_key(&keys[0]) {
                    model.commit(&[
                        (keys[0].clone(), Some(v.clone())),
                        (keys[1].clone(), Some(v)),
                        (keys[2].clone(), None),
                    ]);
                } else {
                    model.commit(&[(keys[1].clone(), Some(v))]);
                }
            }
            80..=89 => {
                if model.revision() > model.compact {
                    let span = (model.revision() - model.compact) as u64;
                    let to = model.compact + 1 + rng.below(span) as Revision;
                    store.compact(to).await.unwrap();
                    model.compact = to;
                }
            }
            90..=93 => {
                store.close().await.unwrap();
                store = open(&path).await;
            }
            _ => check(&store, &model, &mut rng).await,
        }
    }
    check(&store, &model, &mut rng).await;
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_histories_match_the_model() {
    for seed in [1, 2, 3, 0x5eed, 0xdead_beef] {
        run(seed, 600).await;
    }
}
