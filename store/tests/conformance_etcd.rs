//! The conformance suite against a real etcd, one fresh server per test.

#![cfg(feature = "etcd")]

mod conformance;

use std::sync::Arc;

use conformance::Fixture;
use kmicro_store::EtcdStore;
use kmicro_store::etcd::LocalEtcd;

async fn etcd_fixture() -> Fixture {
    let etcd = LocalEtcd::start().await.expect("start etcd");
    let store = EtcdStore::connect(&[etcd.endpoint()])
        .await
        .expect("connect to etcd");
    Fixture {
        store: Arc::new(store),
        guard: Box::new(etcd),
    }
}

conformance_tests!(etcd_fixture);
