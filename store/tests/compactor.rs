//! Scheduled compaction keeps a bounded window of history, on every backend.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kmicro_store::{CompactionPolicy, RedbConfig, RedbStore, Store, spawn_compactor};

async fn compacts_on_schedule_keeping_history(store: Arc<dyn Store>) {
    for i in 0..60 {
        store
            .put(format!("/c/{}", i % 7).as_bytes(), b"v")
            .await
            .unwrap();
    }
    let current = store.current_revision().await.unwrap();
    let policy = CompactionPolicy {
        interval: Duration::from_millis(200),
        retain: 10,
    };
    let task = spawn_compactor(store.clone(), policy);
    let deadline = Instant::now() + Duration::from_secs(15);
    while store.compact_revision().await.unwrap() != current - 10 {
        assert!(
            Instant::now() < deadline,
            "no scheduled compaction happened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
    // The retained window is still readable; the revision before it is not.
    assert!(
        store
            .range(
                kmicro_store::RangeRequest::new(kmicro_store::KeyRange::prefix("/c/"))
                    .at_revision(current - 10)
            )
            .await
            .is_ok()
    );
    assert!(matches!(
        store
            .range(
                kmicro_store::RangeRequest::new(kmicro_store::KeyRange::prefix("/c/"))
                    .at_revision(current - 11)
            )
            .await,
        Err(kmicro_store::StoreError::Compacted { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_compacts_on_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(RedbConfig::new(dir.path().join("state.redb")))
        .await
        .unwrap();
    compacts_on_schedule_keeping_history(Arc::new(store)).await;
}

#[cfg(feature = "etcd")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_compacts_on_schedule() {
    let etcd = kmicro_store::etcd::LocalEtcd::start().await.unwrap();
    let store = kmicro_store::EtcdStore::connect(&[etcd.endpoint()])
        .await
        .unwrap();
    compacts_on_schedule_keeping_history(Arc::new(store)).await;
}
