//! The etcd backend's mapping of the store API onto etcd, checked against a real etcd.
//! (Behaviour common to every backend is the conformance suite's business.)

#![cfg(feature = "etcd")]

use std::time::Duration;

use futures::StreamExt;
use kmicro_store::etcd::LocalEtcd;
use kmicro_store::{
    CasOutcome, EtcdStore, EventKind, KeyRange, RangeRequest, Store, StoreError, WatchRequest,
    WatchResponse, WatchStream,
};

/// A fresh etcd and a store connected to it.
async fn etcd() -> (LocalEtcd, EtcdStore) {
    let etcd = LocalEtcd::start().await.expect("start etcd");
    let store = EtcdStore::connect(&[etcd.endpoint()])
        .await
        .expect("connect to etcd");
    (etcd, store)
}

/// The next batch of a watch, failing the test if none comes within 5 s.
async fn next(watch: &mut WatchStream) -> kmicro_store::Result<WatchResponse> {
    tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("a watch response within 5 s")
        .expect("the watch stream is still open")
}

/// The keys of a range answer, as strings.
fn keys(resp: &kmicro_store::RangeResponse) -> Vec<String> {
    let keys = resp.kvs.iter().map(|kv| String::from_utf8_lossy(&kv.key));
    keys.map(String::from).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_then_get_reports_revisions_and_versions() {
    let (_etcd, store) = etcd().await;
    let first = store.put(b"k", b"v1").await.unwrap();
    let second = store.put(b"k", b"v2").await.unwrap();
    assert_eq!(second, first + 1);

    let kv = store.get(b"k").await.unwrap().expect("k exists");
    assert_eq!(kv.value, b"v2");
    assert_eq!((kv.create_revision, kv.mod_revision), (first, second));
    assert_eq!((kv.version, kv.lease), (2, 0));
    assert_eq!(store.current_revision().await.unwrap(), second);
    assert_eq!(store.get(b"missing").await.unwrap(), None);

    let deleted = store.delete(b"k").await.unwrap().expect("k was deleted");
    assert_eq!(deleted.value, b"v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_map_prefix_limit_more_and_count() {
    let (_etcd, store) = etcd().await;
    for key in ["p/a", "p/b", "p/c", "q"] {
        store.put(key.as_bytes(), b"x").await.unwrap();
    }
    let revision = store.current_revision().await.unwrap();

    let req = RangeRequest::new(KeyRange::prefix(*b"p/")).with_limit(2);
    let page = store.range(req).await.unwrap();
    assert_eq!(keys(&page), ["p/a", "p/b"]);
    assert_eq!((page.count, page.more, page.revision), (3, true, revision));

    let req = RangeRequest::new(KeyRange::prefix(*b"p/")).count_only();
    let counted = store.range(req).await.unwrap();
    assert_eq!((counted.count, counted.kvs.len()), (3, 0));

    let all = store.range(RangeRequest::new(KeyRange::prefix(*b""))).await;
    assert_eq!(keys(&all.unwrap()), ["p/a", "p/b", "p/c", "q"]);
    let span = KeyRange::Range {
        start: b"p/b".to_vec(),
        end: b"q".to_vec(),
    };
    let span = store.range(RangeRequest::new(span)).await.unwrap();
    assert_eq!(keys(&span), ["p/b", "p/c"]);
    let from = KeyRange::From(b"p/c".to_vec());
    let from = store.range(RangeRequest::new(from)).await.unwrap();
    assert_eq!(keys(&from), ["p/c", "q"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_conflict_returns_the_current_value() {
    let (_etcd, store) = etcd().await;
    let CasOutcome::Written(revision) = store.create(b"k", b"first", 0).await.unwrap() else {
        panic!("the first create must write");
    };
    match store.create(b"k", b"second", 0).await.unwrap() {
        CasOutcome::Conflict(Some(kv)) => {
            assert_eq!(kv.value, b"first");
            assert_eq!(kv.mod_revision, revision);
        }
        other => panic!("expected a conflict with the current value, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_if_checks_the_mod_revision() {
    let (_etcd, store) = etcd().await;
    let old = store.put(b"k", b"v1").await.unwrap();
    let current = store.put(b"k", b"v2").await.unwrap();

    match store.delete_if(b"k", old).await.unwrap() {
        CasOutcome::Conflict(Some(kv)) => assert_eq!(kv.mod_revision, current),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let outcome = store.delete_if(b"k", current).await.unwrap();
    assert_eq!(outcome, CasOutcome::Written(current + 1));
    assert_eq!(store.get(b"k").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_revision_delivers_history_with_prev_kv() {
    let (_etcd, store) = etcd().await;
    store.put(b"k", b"v1").await.unwrap();
    let second = store.put(b"k", b"v2").await.unwrap();
    store.put(b"other", b"x").await.unwrap();
    let deleted = store.delete(b"k").await.unwrap().expect("k existed");

    let req = WatchRequest::new(KeyRange::key(*b"k")).from_revision(second);
    let mut watch = store.watch(req).await.unwrap();
    let mut events = Vec::new();
    while events.len() < 2 {
        events.extend(next(&mut watch).await.unwrap().events);
    }
    assert_eq!(events[0].kind, EventKind::Put);
    assert_eq!(events[0].kv.value, b"v2");
    assert_eq!(events[0].prev_kv.as_ref().unwrap().value, b"v1");
    assert_eq!(events[1].kind, EventKind::Delete);
    assert_eq!(events[1].kv.key, b"k");
    assert_eq!(events[1].kv.mod_revision, second + 2);
    assert_eq!(events[1].prev_kv.as_ref(), Some(&deleted));

    // A watch from now sees a write made as soon as watch() has returned.
    let mut live = store
        .watch(WatchRequest::new(KeyRange::prefix(*b"live/")))
        .await;
    let revision = store.put(b"live/a", b"1").await.unwrap();
    let batch = next(live.as_mut().unwrap()).await.unwrap();
    assert_eq!(batch.events[0].kv.mod_revision, revision);
    assert_eq!(batch.events[0].prev_kv, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_compacted_revision_fails_with_the_compact_revision() {
    let (_etcd, store) = etcd().await;
    assert_eq!(store.compact_revision().await.unwrap(), 0);
    let first = store.put(b"k", b"v1").await.unwrap();
    let kept = store.put(b"k", b"v2").await.unwrap();
    store.put(b"k", b"v3").await.unwrap();
    store.compact(kept).await.unwrap();
    assert_eq!(store.compact_revision().await.unwrap(), kept);

    let req = WatchRequest::new(KeyRange::key(*b"k")).from_revision(first);
    match store.watch(req).await {
        Err(StoreError::Compacted {
            requested,
            compact_revision,
        }) => assert_eq!((requested, compact_revision), (first, kept)),
        Err(other) => panic!("expected Compacted, got {other}"),
        Ok(_) => panic!("expected Compacted, got a stream"),
    }
    // The compact revision itself is still watchable.
    let req = WatchRequest::new(KeyRange::key(*b"k")).from_revision(kept);
    let mut watch = store.watch(req).await.unwrap();
    assert_eq!(next(&mut watch).await.unwrap().events[0].kv.value, b"v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_compactions_at_unavailable_revisions_fail() {
    let (_etcd, store) = etcd().await;
    let first = store.put(b"k", b"v1").await.unwrap();
    let current = store.put(b"k", b"v2").await.unwrap();
    store.compact(current).await.unwrap();

    let old = RangeRequest::new(KeyRange::key(*b"k")).at_revision(first);
    match store.range(old).await {
        Err(StoreError::Compacted {
            requested,
            compact_revision,
        }) => assert_eq!((requested, compact_revision), (first, current)),
        other => panic!("expected Compacted, got {other:?}"),
    }
    let future = RangeRequest::new(KeyRange::key(*b"k")).at_revision(current + 10);
    match store.range(future).await {
        Err(StoreError::FutureRevision {
            requested,
            current: now,
        }) => {
            assert_eq!((requested, now), (current + 10, current));
        }
        other => panic!("expected FutureRevision, got {other:?}"),
    }
    assert!(matches!(
        store.compact(first).await,
        Err(StoreError::Compacted { requested, compact_revision })
            if requested == first && compact_revision == current
    ));
    assert!(matches!(
        store.compact(current + 1).await,
        Err(StoreError::FutureRevision { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_lease_deletes_its_keys() {
    let (_etcd, store) = etcd().await;
    let lease = store.lease_grant(Duration::from_secs(60)).await.unwrap();
    let outcome = store.create(b"leased", b"v", lease).await.unwrap();
    assert!(matches!(outcome, CasOutcome::Written(_)));
    assert_eq!(store.get(b"leased").await.unwrap().unwrap().lease, lease);
    let ttl = store.lease_keep_alive(lease).await.unwrap();
    assert_eq!(ttl, Duration::from_secs(60));

    store.lease_revoke(lease).await.unwrap();
    assert_eq!(store.get(b"leased").await.unwrap(), None);
    assert!(matches!(
        store.create(b"again", b"v", lease).await,
        Err(StoreError::LeaseNotFound(id)) if id == lease
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_leases_and_bad_ttls_are_reported() {
    let (_etcd, store) = etcd().await;
    assert!(matches!(
        store.lease_keep_alive(0x1234).await,
        Err(StoreError::LeaseNotFound(0x1234))
    ));
    assert!(matches!(
        store.lease_revoke(0x1234).await,
        Err(StoreError::LeaseNotFound(0x1234))
    ));
    assert!(matches!(
        store.lease_grant(Duration::ZERO).await,
        Err(StoreError::InvalidArgument(_))
    ));
    // etcd raises a TTL below its minimum (2 s with default election settings).
    let lease = store.lease_grant(Duration::from_millis(10)).await.unwrap();
    let ttl = store.lease_keep_alive(lease).await.unwrap();
    assert!(ttl >= Duration::from_secs(1), "{ttl:?}");
}

/// etcd's count of live watchers, from its Prometheus metrics.
async fn etcd_watchers(endpoint: &str) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = endpoint.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut body = String::new();
    conn.read_to_string(&mut body).await.unwrap();
    let line = body
        .lines()
        .find(|l| l.starts_with("etcd_debugging_mvcc_watcher_total "))
        .expect("etcd reports etcd_debugging_mvcc_watcher_total");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_watch_cancels_it_in_etcd() {
    let (etcd, store) = etcd().await;
    let watch = store.watch(WatchRequest::new(KeyRange::key(*b"k"))).await;
    assert_eq!(etcd_watchers(&etcd.endpoint()).await, 1);
    drop(watch);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while etcd_watchers(&etcd.endpoint()).await != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "etcd kept the watcher"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_etcd_is_killed_on_drop() {
    let (etcd, _store) = etcd().await;
    assert!(etcd.endpoint().starts_with("http://127.0.0.1:"));
    let proc_dir = format!("/proc/{}", etcd.pid());
    assert!(std::path::Path::new(&proc_dir).exists());
    drop(etcd);
    assert!(!std::path::Path::new(&proc_dir).exists());
}
