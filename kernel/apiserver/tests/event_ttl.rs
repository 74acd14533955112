//! Events expire after an hour: they are written with a store lease, shared per minute.

use std::sync::Arc;
use std::time::Duration;

use kmicro_apimachinery::registry;
use kmicro_apiserver::Storage;
use kmicro_store::{RedbConfig, RedbStore, Store};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_carry_a_one_hour_lease_and_other_objects_none() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        RedbStore::open(RedbConfig::new(dir.path().join("s.redb")))
            .await
            .unwrap(),
    );
    let storage = Storage::new(store.clone());
    let events = registry::find("", "v1", "events").unwrap();
    let configmaps = registry::find("", "v1", "configmaps").unwrap();
    for name in ["e1", "e2"] {
        let event = json!({"metadata": {"name": name, "namespace": "default"}, "reason": "Test"});
        storage
            .create(events, Some("default"), name, &event)
            .await
            .unwrap();
    }
    let cm = json!({"metadata": {"name": "c", "namespace": "default"}});
    storage
        .create(configmaps, Some("default"), "c", &cm)
        .await
        .unwrap();

    let e1 = store
        .get(events.key(Some("default"), "e1").as_bytes())
        .await
        .unwrap()
        .unwrap();
    let e2 = store
        .get(events.key(Some("default"), "e2").as_bytes())
        .await
        .unwrap()
        .unwrap();
    assert_ne!(e1.lease, 0, "events are leased");
    assert_eq!(
        e1.lease, e2.lease,
        "events of the same minute share a lease"
    );
    let ttl = store.lease_keep_alive(e1.lease).await.unwrap();
    assert!(
        ttl >= Duration::from_secs(3600) && ttl <= Duration::from_secs(3660),
        "{ttl:?}"
    );
    let c = store
        .get(configmaps.key(Some("default"), "c").as_bytes())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.lease, 0);

    // When the lease ends, the events go and the configmap stays.
    store.lease_revoke(e1.lease).await.unwrap();
    assert!(
        storage
            .get(events, Some("default"), "e1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        storage
            .get(configmaps, Some("default"), "c")
            .await
            .unwrap()
            .is_some()
    );
}
