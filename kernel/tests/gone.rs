//! Compacted resourceVersions are 410 Gone through the API: a watch from before the
//! compaction gets an ERROR event with an Expired Status, and a continue token from before it
//! is refused. The test compacts the datastore itself, through an external etcd.

#![cfg(feature = "etcd")]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kmicro_store::Store;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

fn configmap(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".into(), "v".into())])),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_versions_are_410_for_watches_and_continue_tokens() {
    let etcd = kmicro_store::etcd::LocalEtcd::start().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = etcd.endpoint().replace("http://", "etcd://");
    let cluster = common::Cluster::start_with(
        &tmp.path().join("data"),
        common::free_port(),
        &["--datastore-endpoint", &endpoint],
    );
    let kubeconfig = Kubeconfig::read_from(&cluster.kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");

    let first = cms
        .create(&PostParams::default(), &configmap("first"))
        .await
        .unwrap();
    let old_rv = first.metadata.resource_version.unwrap();
    // More writes than the API server's watch cache keeps.
    for i in 0..300 {
        cms.create(&PostParams::default(), &configmap(&format!("cm-{i:03}")))
            .await
            .unwrap();
    }
    let page = cms.list(&ListParams::default().limit(10)).await.unwrap();
    let token = page.metadata.continue_.unwrap();
    // A write after the list, so that compacting to now drops the list's revision.
    cms.create(&PostParams::default(), &configmap("later"))
        .await
        .unwrap();

    let store = kmicro_store::EtcdStore::connect(&[etcd.endpoint()])
        .await
        .unwrap();
    let current = store.current_revision().await.unwrap();
    store.compact(current).await.unwrap();

    let mut events = cms
        .watch(&WatchParams::default().timeout(10), &old_rv)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(10), events.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(WatchEvent::Error(status)) => {
            assert_eq!(status.code, 410, "{status:?}");
            assert_eq!(status.reason, "Expired", "{status:?}");
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }

    match cms
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 410, "{status:?}");
            assert_eq!(status.reason, "Expired", "{status:?}");
        }
        other => panic!("expected 410 for a compacted continue token, got {other:?}"),
    }
    // A fresh list and watch work.
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    assert!(
        cms.watch(&WatchParams::default().timeout(1), &rv)
            .await
            .is_ok()
    );
}
