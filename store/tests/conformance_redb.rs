//! The conformance suite against the embedded redb backend.

mod conformance;

use std::sync::Arc;

use conformance::Fixture;
use kmicro_store::{RedbConfig, RedbStore};

async fn redb_fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStore::open(RedbConfig::new(dir.path().join("state.redb")))
        .await
        .expect("open redb store");
    Fixture {
        store: Arc::new(store),
        guard: Box::new(dir),
    }
}

conformance_tests!(redb_fixture);
