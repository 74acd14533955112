//! The store conformance suite: the behaviour every backend must have, written once.
//!
//! Each case takes a fresh, empty store. A backend's test file supplies a fixture function and
//! invokes [`conformance_tests!`], which generates one `#[tokio::test]` per case. Cases never
//! assume absolute revision numbers (etcd starts at 1, redb at 0): only their differences.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kmicro_store::{
    CasOutcome, Compare, CompareOp, CompareTarget, EventKind, KeyRange, KeyValue, Op, OpResponse,
    RangeRequest, Revision, Store, StoreError, Txn, WatchRequest, WatchResponse, WatchStream,
};

/// A store under test and whatever keeps it alive (a temp dir, an etcd process).
pub struct Fixture {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Dropped after the test.
    pub guard: Box<dyn std::any::Any + Send>,
}

/// Generates the suite's tests for a backend: `conformance_tests!(make_fixture)`, where
/// `make_fixture` is an `async fn() -> Fixture`.
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::conformance_cases!(
            $make;
            revisions_are_global_and_per_key,
            deletes_are_revisions_and_reset_the_version,
            range_by_prefix_interval_limit_and_count,
            range_at_a_past_revision,
            create_if_absent,
            update_if_revision,
            delete_if_revision,
            txn_writes_share_one_revision,
            txn_compare_targets_follow_etcd,
            txn_rejects_bad_requests_without_writing,
            txn_range_sees_earlier_writes,
            delete_range_removes_every_key_in_one_revision,
            watch_replays_history_in_order_with_prev_values,
            watch_from_now_sees_only_later_changes,
            watch_filters_by_range,
            watch_has_no_gaps_under_concurrent_writers,
            watch_from_a_compacted_revision_fails,
            compaction_keeps_the_latest_value_of_every_key,
            compact_rejects_old_and_future_revisions,
            lease_revoke_deletes_attached_keys,
            lease_expiry_deletes_keys_and_emits_delete_events,
            lease_keep_alive_and_unknown_leases,
            put_without_lease_detaches_the_key,
            slow_watcher_never_blocks_writers,
        );
    };
}

/// Implementation detail of [`conformance_tests!`].
#[macro_export]
macro_rules! conformance_cases {
    ($make:path; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture = $make().await;
                conformance::$case(fixture.store.as_ref()).await;
                drop(fixture);
            }
        )+
    };
}

const WAIT: Duration = Duration::from_secs(15);

/// Awaits `f`, failing the test after [`WAIT`].
async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn range(store: &dyn Store, req: RangeRequest) -> kmicro_store::RangeResponse {
    store.range(req).await.expect("range")
}

fn keys(kvs: &[KeyValue]) -> Vec<String> {
    kvs.iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

/// Reads the next non-empty response of a watch.
async fn next_response(watch: &mut WatchStream) -> WatchResponse {
    within("a watch event", watch.next())
        .await
        .expect("watch ended")
        .expect("watch failed")
}

/// Reads watch events until `n` have arrived.
async fn next_events(watch: &mut WatchStream, n: usize) -> Vec<kmicro_store::Event> {
    let mut events = Vec::new();
    while events.len() < n {
        events.extend(next_response(watch).await.events);
    }
    assert_eq!(events.len(), n, "more events than expected: {events:?}");
    events
}

pub async fn revisions_are_global_and_per_key(store: &dyn Store) {
    let r0 = store.current_revision().await.unwrap();
    assert_eq!(store.put(b"/a", b"1").await.unwrap(), r0 + 1);
    assert_eq!(store.put(b"/b", b"1").await.unwrap(), r0 + 2);
    assert_eq!(store.put(b"/a", b"2").await.unwrap(), r0 + 3);
    assert_eq!(store.current_revision().await.unwrap(), r0 + 3);
    let a = store.get(b"/a").await.unwrap().expect("/a exists");
    assert_eq!(a.value, b"2");
    assert_eq!(a.create_revision, r0 + 1);
    assert_eq!(a.mod_revision, r0 + 3);
    assert_eq!(a.version, 2);
    assert_eq!(a.lease, 0);
    let b = store.get(b"/b").await.unwrap().unwrap();
    assert_eq!(
        (b.create_revision, b.mod_revision, b.version),
        (r0 + 2, r0 + 2, 1)
    );
    assert_eq!(store.get(b"/missing").await.unwrap(), None);
}

pub async fn deletes_are_revisions_and_reset_the_version(store: &dyn Store) {
    let r0 = store.current_revision().await.unwrap();
    store.put(b"/k", b"v1").await.unwrap();
    store.put(b"/k", b"v2").await.unwrap();
    let prev = store
        .delete(b"/k")
        .await
        .unwrap()
        .expect("the deleted value");
    assert_eq!(prev.value, b"v2");
    assert_eq!(store.current_revision().await.unwrap(), r0 + 3);
    assert_eq!(store.get(b"/k").await.unwrap(), None);
    // Deleting a missing key writes nothing and does not advance the revision.
    assert_eq!(store.delete(b"/k").await.unwrap(), None);
    assert_eq!(store.current_revision().await.unwrap(), r0 + 3);
    store.put(b"/k", b"v3").await.unwrap();
    let k = store.get(b"/k").await.unwrap().unwrap();
    assert_eq!((k.create_revision, k.version), (r0 + 4, 1));
}

pub async fn range_by_prefix_interval_limit_and_count(store: &dyn Store) {
    for key in ["/p/3", "/p/1", "/p/5", "/p/2", "/p/4", "/q/1", "/p"] {
        store.put(key.as_bytes(), b"x").await.unwrap();
    }
    let all = range(store, RangeRequest::new(KeyRange::prefix("/p/"))).await;
    assert_eq!(keys(&all.kvs), ["/p/1", "/p/2", "/p/3", "/p/4", "/p/5"]);
    assert_eq!((all.count, all.more), (5, false));
    assert_eq!(all.revision, store.current_revision().await.unwrap());

    let page = range(
        store,
        RangeRequest::new(KeyRange::prefix("/p/")).with_limit(2),
    )
    .await;
    assert_eq!(keys(&page.kvs), ["/p/1", "/p/2"]);
    assert_eq!((page.count, page.more), (5, true));

    // The next page starts after the last key, as kube-apiserver's continue tokens do.
    let next = range(
        store,
        RangeRequest::new(KeyRange::Range {
            start: b"/p/2\0".to_vec(),
            end: b"/p0".to_vec(),
        })
        .with_limit(2),
    )
    .await;
    assert_eq!(keys(&next.kvs), ["/p/3", "/p/4"]);
    assert_eq!((next.count, next.more), (3, true));

    let counted = range(store, RangeRequest::new(KeyRange::prefix("/")).count_only()).await;
    assert!(counted.kvs.is_empty());
    assert_eq!(counted.count, 7);

    let from = range(store, RangeRequest::new(KeyRange::From(b"/p/5".to_vec()))).await;
    assert_eq!(keys(&from.kvs), ["/p/5", "/q/1"]);

    let everything = range(store, RangeRequest::new(KeyRange::prefix(""))).await;
    assert_eq!(everything.count, 7);
    let one = range(store, RangeRequest::new(KeyRange::key("/p"))).await;
    assert_eq!(keys(&one.kvs), ["/p"]);
}

pub async fn range_at_a_past_revision(store: &dyn Store) {
    let r1 = store.put(b"/a", b"1").await.unwrap();
    let r2 = store.put(b"/a", b"2").await.unwrap();
    store.delete(b"/a").await.unwrap();
    let r3 = store.current_revision().await.unwrap();
    let r4 = store.put(b"/b", b"1").await.unwrap();

    let at = |rev| RangeRequest::new(KeyRange::prefix("/")).at_revision(rev);
    let v1 = range(store, at(r1)).await;
    assert_eq!(keys(&v1.kvs), ["/a"]);
    assert_eq!(v1.kvs[0].value, b"1");
    assert_eq!(
        v1.revision, r4,
        "the header revision is the store's current revision"
    );
    assert_eq!(range(store, at(r2)).await.kvs[0].value, b"2");
    assert!(range(store, at(r3)).await.kvs.is_empty());
    assert_eq!(keys(&range(store, at(r4)).await.kvs), ["/b"]);
    assert_eq!(range(store, at(r2).count_only()).await.count, 1);

    match store.range(at(r4 + 10)).await {
        Err(StoreError::FutureRevision { requested, .. }) => assert_eq!(requested, r4 + 10),
        other => panic!("expected FutureRevision, got {other:?}"),
    }
}

pub async fn create_if_absent(store: &dyn Store) {
    let rev = match store.create(b"/obj", b"first", 0).await.unwrap() {
        CasOutcome::Written(rev) => rev,
        other => panic!("create of a new key failed: {other:?}"),
    };
    match store.create(b"/obj", b"second", 0).await.unwrap() {
        CasOutcome::Conflict(Some(current)) => {
            assert_eq!(current.value, b"first");
            assert_eq!(current.mod_revision, rev);
        }
        other => panic!("expected a conflict with the current value, got {other:?}"),
    }
    assert_eq!(store.current_revision().await.unwrap(), rev);
}

pub async fn update_if_revision(store: &dyn Store) {
    let r1 = store.put(b"/obj", b"v1").await.unwrap();
    let r2 = match store.update(b"/obj", b"v2", r1, 0).await.unwrap() {
        CasOutcome::Written(rev) => rev,
        other => panic!("update at the right revision failed: {other:?}"),
    };
    match store.update(b"/obj", b"stale", r1, 0).await.unwrap() {
        CasOutcome::Conflict(Some(current)) => {
            assert_eq!(current.value, b"v2");
            assert_eq!(current.mod_revision, r2);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    match store.update(b"/gone", b"x", r1, 0).await.unwrap() {
        CasOutcome::Conflict(None) => {}
        other => panic!("update of a missing key must conflict with None, got {other:?}"),
    }
}

pub async fn delete_if_revision(store: &dyn Store) {
    let r1 = store.put(b"/obj", b"v1").await.unwrap();
    let r2 = store.put(b"/obj", b"v2").await.unwrap();
    match store.delete_if(b"/obj", r1).await.unwrap() {
        CasOutcome::Conflict(Some(current)) => assert_eq!(current.mod_revision, r2),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(
        store.delete_if(b"/obj", r2).await.unwrap(),
        CasOutcome::Written(_)
    ));
    assert_eq!(store.get(b"/obj").await.unwrap(), None);
}

pub async fn txn_writes_share_one_revision(store: &dyn Store) {
    let r0 = store.current_revision().await.unwrap();
    store.put(b"/old", b"x").await.unwrap();
    let resp = store
        .txn(Txn {
            compares: vec![],
            success: vec![Op::put("/x", "1"), Op::put("/y", "1"), Op::delete("/old")],
            failure: vec![],
        })
        .await
        .unwrap();
    assert!(resp.succeeded);
    assert_eq!(resp.revision, r0 + 2);
    for key in [&b"/x"[..], b"/y"] {
        assert_eq!(store.get(key).await.unwrap().unwrap().mod_revision, r0 + 2);
    }
    assert!(matches!(&resp.responses[2], OpResponse::Delete { prev } if prev.len() == 1));
}

pub async fn txn_compare_targets_follow_etcd(store: &dyn Store) {
    let r1 = store.put(b"/k", b"b").await.unwrap();
    store.put(b"/k", b"b").await.unwrap();
    let holds = |cmp: Compare| async move {
        store
            .txn(Txn {
                compares: vec![cmp],
                ..Txn::default()
            })
            .await
            .unwrap()
            .succeeded
    };
    use CompareOp::*;
    use CompareTarget::*;
    assert!(holds(Compare::new("/k", Version(2), Equal)).await);
    assert!(holds(Compare::new("/k", Version(1), Greater)).await);
    assert!(holds(Compare::new("/k", Version(3), Less)).await);
    assert!(holds(Compare::new("/k", CreateRevision(r1), Equal)).await);
    assert!(holds(Compare::new("/k", ModRevision(r1), NotEqual)).await);
    assert!(holds(Compare::new("/k", Value(b"b".to_vec()), Equal)).await);
    assert!(holds(Compare::new("/k", Value(b"a".to_vec()), Greater)).await);
    assert!(holds(Compare::new("/k", Lease(0), Equal)).await);
    // An absent key has version, revisions and lease 0, and no value to compare.
    assert!(holds(Compare::absent("/none")).await);
    assert!(holds(Compare::new("/none", ModRevision(0), Equal)).await);
    assert!(!holds(Compare::new("/none", Value(Vec::new()), Equal)).await);
    assert!(!holds(Compare::new("/none", Value(Vec::new()), NotEqual)).await);
    assert!(!holds(Compare::absent("/k")).await);
}

pub async fn txn_rejects_bad_requests_without_writing(store: &dyn Store) {
    let r0 = store.put(b"/k", b"v").await.unwrap();
    let bad = [
        Txn {
            success: vec![Op::put("/a", "1"), Op::put("/a", "2")],
            ..Txn::default()
        },
        Txn {
            success: vec![Op::put("/b", "1"), Op::put("", "2")],
            ..Txn::default()
        },
        Txn {
            success: vec![
                Op::put("/c", "1"),
                Op::put_with_lease(b"/d".to_vec(), b"1".to_vec(), 424242),
            ],
            ..Txn::default()
        },
    ];
    for txn in bad {
        assert!(
            store.txn(txn.clone()).await.is_err(),
            "{txn:?} must be refused"
        );
    }
    assert_eq!(store.current_revision().await.unwrap(), r0);
    for key in [&b"/a"[..], b"/b", b"/c", b"/d"] {
        assert_eq!(store.get(key).await.unwrap(), None);
    }
}

pub async fn txn_range_sees_earlier_writes(store: &dyn Store) {
    let resp = store
        .txn(Txn {
            success: vec![Op::put("/n", "1"), Op::get("/n")],
            ..Txn::default()
        })
        .await
        .unwrap();
    match &resp.responses[1] {
        OpResponse::Range(r) => assert_eq!(r.kvs[0].value, b"1"),
        other => panic!("expected a range response, got {other:?}"),
    }
}

pub async fn delete_range_removes_every_key_in_one_revision(store: &dyn Store) {
    for key in ["/d/1", "/d/2", "/d/3", "/e/1"] {
        store.put(key.as_bytes(), b"x").await.unwrap();
    }
    let r0 = store.current_revision().await.unwrap();
    let mut watch = store
        .watch(WatchRequest::new(KeyRange::prefix("/")))
        .await
        .unwrap();
    let resp = store
        .txn(Txn {
            success: vec![Op::Delete(KeyRange::prefix("/d/"))],
            ..Txn::default()
        })
        .await
        .unwrap();
    assert_eq!(resp.revision, r0 + 1);
    assert!(matches!(&resp.responses[0], OpResponse::Delete { prev } if prev.len() == 3));
    let events = next_events(&mut watch, 3).await;
    assert!(
        events
            .iter()
            .all(|e| e.kind == EventKind::Delete && e.kv.mod_revision == r0 + 1)
    );
    assert_eq!(
        keys(
            &range(store, RangeRequest::new(KeyRange::prefix("/")))
                .await
                .kvs
        ),
        ["/e/1"]
    );
}

pub async fn watch_replays_history_in_order_with_prev_values(store: &dyn Store) {
    let r1 = store.put(b"/w/a", b"1").await.unwrap();
    store.put(b"/w/a", b"2").await.unwrap();
    store.put(b"/w/b", b"1").await.unwrap();
    store.delete(b"/w/a").await.unwrap();
    let mut watch = store
        .watch(WatchRequest::new(KeyRange::prefix("/w/")).from_revision(r1))
        .await
        .unwrap();
    let events = next_events(&mut watch, 4).await;
    let revs: Vec<Revision> = events.iter().map(|e| e.kv.mod_revision).collect();
    assert_eq!(revs, [r1, r1 + 1, r1 + 2, r1 + 3]);
    assert_eq!(events[0].kind, EventKind::Put);
    assert_eq!(events[0].prev_kv, None);
    assert_eq!(events[1].kv.value, b"2");
    assert_eq!(events[1].kv.version, 2);
    assert_eq!(events[1].prev_kv.as_ref().unwrap().value, b"1");
    assert_eq!(events[3].kind, EventKind::Delete);
    assert_eq!(events[3].kv.key, b"/w/a");
    assert_eq!(events[3].prev_kv.as_ref().unwrap().value, b"2");

    // Replay continues seamlessly into live events.
    let live = store.put(b"/w/c", b"1").await.unwrap();
    assert_eq!(next_events(&mut watch, 1).await[0].kv.mod_revision, live);

    // Without prev_kv, events carry no previous values.
    let mut bare = store
        .watch(WatchRequest {
            prev_kv: false,
            ..WatchRequest::new(KeyRange::prefix("/w/")).from_revision(r1)
        })
        .await
        .unwrap();
    assert!(
        next_events(&mut bare, 5)
            .await
            .iter()
            .all(|e| e.prev_kv.is_none())
    );
}

pub async fn watch_from_now_sees_only_later_changes(store: &dyn Store) {
    store.put(b"/n/before", b"x").await.unwrap();
    let mut watch = store
        .watch(WatchRequest::new(KeyRange::prefix("/n/")))
        .await
        .unwrap();
    let rev = store.put(b"/n/after", b"y").await.unwrap();
    let events = next_events(&mut watch, 1).await;
    assert_eq!(events[0].kv.key, b"/n/after");
    assert_eq!(events[0].kv.mod_revision, rev);
}

pub async fn watch_filters_by_range(store: &dyn Store) {
    let mut one_key = store
        .watch(WatchRequest::new(KeyRange::key("/f/x")))
        .await
        .unwrap();
    let mut interval = store
        .watch(WatchRequest::new(KeyRange::Range {
            start: b"/f/b".to_vec(),
            end: b"/f/d".to_vec(),
        }))
        .await
        .unwrap();
    for key in ["/f/a", "/f/b", "/f/c", "/f/d", "/f/x", "/f/xy"] {
        store.put(key.as_bytes(), b"1").await.unwrap();
    }
    let got = next_events(&mut one_key, 1).await;
    assert_eq!(got[0].kv.key, b"/f/x");
    let got = next_events(&mut interval, 2).await;
    assert_eq!(
        keys(&got.into_iter().map(|e| e.kv).collect::<Vec<_>>()),
        ["/f/b", "/f/c"]
    );
    // Nothing else arrives.
    store.put(b"/f/x", b"2").await.unwrap();
    assert_eq!(next_events(&mut one_key, 1).await[0].kv.version, 2);
}

pub async fn watch_has_no_gaps_under_concurrent_writers(store: &dyn Store) {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 50;
    let start = store.current_revision().await.unwrap() + 1;
    let mut watch = store
        .watch(WatchRequest::new(KeyRange::prefix("/c/")).from_revision(start))
        .await
        .unwrap();
    let writes = (0..WRITERS).map(|w| async move {
        for i in 0..PER_WRITER {
            let key = format!("/c/{w}/{i}");
            store.put(key.as_bytes(), b"v").await.unwrap();
        }
    });
    futures::future::join_all(writes).await;
    let events = next_events(&mut watch, WRITERS * PER_WRITER).await;
    let revs: Vec<Revision> = events.iter().map(|e| e.kv.mod_revision).collect();
    let expected: Vec<Revision> = (start..start + (WRITERS * PER_WRITER) as Revision).collect();
    assert_eq!(revs, expected, "every revision exactly once, in order");
}

pub async fn watch_from_a_compacted_revision_fails(store: &dyn Store) {
    let r1 = store.put(b"/x", b"1").await.unwrap();
    store.put(b"/x", b"2").await.unwrap();
    let r3 = store.put(b"/x", b"3").await.unwrap();
    store.compact(r3).await.unwrap();
    assert_eq!(store.compact_revision().await.unwrap(), r3);
    let watched = match store
        .watch(WatchRequest::new(KeyRange::prefix("/")).from_revision(r1))
        .await
    {
        Err(err) => Err(err),
        Ok(mut stream) => within("the compaction error", stream.next())
            .await
            .expect("a compacted watch must report it")
            .map(|_| ()),
    };
    match watched {
        Err(StoreError::Compacted {
            compact_revision, ..
        }) => assert_eq!(compact_revision, r3),
        other => panic!("expected Compacted, got {other:?}"),
    }
    match store
        .range(RangeRequest::new(KeyRange::key("/x")).at_revision(r1))
        .await
    {
        Err(StoreError::Compacted {
            compact_revision, ..
        }) => assert_eq!(compact_revision, r3),
        other => panic!("expected Compacted, got {other:?}"),
    }
    // The compact revision itself is still readable and watchable.
    let at = range(
        store,
        RangeRequest::new(KeyRange::key("/x")).at_revision(r3),
    )
    .await;
    assert_eq!(at.kvs[0].value, b"3");
    let mut from_compact = store
        .watch(WatchRequest::new(KeyRange::prefix("/")).from_revision(r3))
        .await
        .unwrap();
    assert_eq!(
        next_events(&mut from_compact, 1).await[0].kv.mod_revision,
        r3
    );
}

pub async fn compaction_keeps_the_latest_value_of_every_key(store: &dyn Store) {
    let mut expected = BTreeMap::new();
    for i in 0..300 {
        let key = format!("/k/{}", i % 37);
        let value = format!("v{i}");
        store.put(key.as_bytes(), value.as_bytes()).await.unwrap();
        expected.insert(key, value);
    }
    for i in (0..37).step_by(5) {
        let key = format!("/k/{i}");
        store.delete(key.as_bytes()).await.unwrap();
        expected.remove(&key);
    }
    let before = store.current_revision().await.unwrap();
    store.put(b"/k/after", b"x").await.unwrap();
    store.compact(before).await.unwrap();
    // Writes keep working while compaction proceeds.
    store.put(b"/k/later", b"y").await.unwrap();
    expected.insert("/k/after".into(), "x".into());
    expected.insert("/k/later".into(), "y".into());

    let now = range(store, RangeRequest::new(KeyRange::prefix("/k/"))).await;
    let got: BTreeMap<String, String> = now
        .kvs
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(&kv.key).into_owned(),
                String::from_utf8_lossy(&kv.value).into_owned(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    let at_compact = range(
        store,
        RangeRequest::new(KeyRange::prefix("/k/")).at_revision(before),
    )
    .await;
    assert_eq!(at_compact.count as usize, expected.len() - 2);
}

pub async fn compact_rejects_old_and_future_revisions(store: &dyn Store) {
    store.put(b"/a", b"1").await.unwrap();
    let r2 = store.put(b"/a", b"2").await.unwrap();
    store.compact(r2).await.unwrap();
    assert!(matches!(
        store.compact(r2 - 1).await,
        Err(StoreError::Compacted { .. })
    ));
    assert!(matches!(
        store.compact(r2 + 100).await,
        Err(StoreError::FutureRevision { .. })
    ));
}

pub async fn lease_revoke_deletes_attached_keys(store: &dyn Store) {
    let lease = store.lease_grant(Duration::from_secs(60)).await.unwrap();
    for key in ["/l/1", "/l/2"] {
        store
            .txn(Txn {
                success: vec![Op::put_with_lease(
                    key.as_bytes().to_vec(),
                    b"x".to_vec(),
                    lease,
                )],
                ..Txn::default()
            })
            .await
            .unwrap();
    }
    store.put(b"/l/3", b"unleased").await.unwrap();
    assert_eq!(store.get(b"/l/1").await.unwrap().unwrap().lease, lease);
    let r0 = store.current_revision().await.unwrap();
    store.lease_revoke(lease).await.unwrap();
    assert_eq!(
        store.current_revision().await.unwrap(),
        r0 + 1,
        "one revision for all keys"
    );
    assert_eq!(
        keys(
            &range(store, RangeRequest::new(KeyRange::prefix("/l/")))
                .await
                .kvs
        ),
        ["/l/3"]
    );
    assert!(matches!(
        store.lease_revoke(lease).await,
        Err(StoreError::LeaseNotFound(id)) if id == lease
    ));
}

pub async fn lease_expiry_deletes_keys_and_emits_delete_events(store: &dyn Store) {
    let lease = store.lease_grant(Duration::from_secs(2)).await.unwrap();
    let mut watch = store
        .watch(WatchRequest::new(KeyRange::prefix("/ttl/")))
        .await
        .unwrap();
    store
        .txn(Txn {
            success: vec![Op::put_with_lease(
                b"/ttl/event".to_vec(),
                b"x".to_vec(),
                lease,
            )],
            ..Txn::default()
        })
        .await
        .unwrap();
    let events = next_events(&mut watch, 2).await;
    assert_eq!(events[0].kind, EventKind::Put);
    assert_eq!(events[1].kind, EventKind::Delete);
    assert_eq!(events[1].kv.key, b"/ttl/event");
    assert_eq!(store.get(b"/ttl/event").await.unwrap(), None);
}

pub async fn lease_keep_alive_and_unknown_leases(store: &dyn Store) {
    let lease = store.lease_grant(Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        store.lease_keep_alive(lease).await.unwrap(),
        Duration::from_secs(30)
    );
    assert!(matches!(
        store.lease_keep_alive(987654).await,
        Err(StoreError::LeaseNotFound(987654))
    ));
    let put = store
        .txn(Txn {
            success: vec![Op::put_with_lease(b"/x".to_vec(), b"x".to_vec(), 987654)],
            ..Txn::default()
        })
        .await;
    assert!(
        matches!(put, Err(StoreError::LeaseNotFound(987654))),
        "{put:?}"
    );
    assert!(store.lease_grant(Duration::ZERO).await.is_err());
}

pub async fn put_without_lease_detaches_the_key(store: &dyn Store) {
    let lease = store.lease_grant(Duration::from_secs(60)).await.unwrap();
    store
        .txn(Txn {
            success: vec![Op::put_with_lease(b"/d".to_vec(), b"1".to_vec(), lease)],
            ..Txn::default()
        })
        .await
        .unwrap();
    store.put(b"/d", b"2").await.unwrap();
    store.lease_revoke(lease).await.unwrap();
    let d = store
        .get(b"/d")
        .await
        .unwrap()
        .expect("a detached key outlives the lease");
    assert_eq!((d.value.as_slice(), d.lease), (&b"2"[..], 0));
}

pub async fn slow_watcher_never_blocks_writers(store: &dyn Store) {
    const WRITES: usize = 3000;
    let start = store.current_revision().await.unwrap() + 1;
    let mut watch = store
        .watch(WatchRequest::new(KeyRange::prefix("/s/")))
        .await
        .unwrap();
    let value = vec![b'x'; 1024];
    // Nobody reads the watch while these writes run; they must all complete promptly.
    within("writes while a watcher is stalled", async {
        for i in 0..WRITES {
            store
                .put(format!("/s/{i}").as_bytes(), &value)
                .await
                .unwrap();
        }
    })
    .await;
    // Whatever the watcher then gets is gap-free; it either catches up or is cancelled.
    let mut expected = start;
    loop {
        match within("the stalled watcher", watch.next()).await {
            Some(Ok(resp)) => {
                for e in resp.events {
                    assert_eq!(e.kv.mod_revision, expected, "a gap in the watch");
                    expected += 1;
                }
                if expected == start + WRITES as Revision {
                    break;
                }
            }
            Some(Err(StoreError::WatchCancelled(_))) => break,
            Some(Err(err)) => panic!("unexpected watch error: {err}"),
            None => panic!("the watch ended without an error"),
        }
    }
}
