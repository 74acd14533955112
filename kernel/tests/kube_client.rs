//! The `kube` crate (kube-rs) against `kmicro run`: list, watch, create, patch, conflicts.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

async fn client(cluster: &common::Cluster) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(&cluster.kubeconfig).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    kube::Client::try_from(config).expect("client")
}

fn configmap(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([("app".into(), "kube-rs".into())])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("a".into(), "1".into())])),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_lists_watches_creates_patches_and_conflicts() {
    let cluster = common::Cluster::start();
    let client = client(&cluster).await;

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"kube-system".to_string()), "{names:?}");

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let list = cms.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.clone().unwrap();
    let mut events = cms
        .watch(&WatchParams::default().timeout(20), &rv)
        .await
        .unwrap()
        .boxed();

    let created = cms
        .create(&PostParams::default(), &configmap("rs"))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    let duplicate = cms
        .create(&PostParams::default(), &configmap("rs"))
        .await
        .unwrap_err();
    assert!(
        matches!(&duplicate, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{duplicate:?}"
    );

    let patch = serde_json::json!({"data": {"b": "2"}});
    let patched = cms
        .patch("rs", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap().len(), 2);

    let mut stale = created.clone();
    stale.data = Some(BTreeMap::from([("c".into(), "3".into())]));
    let conflict = cms
        .replace("rs", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(&conflict, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict"),
        "{conflict:?}"
    );

    let selected = cms
        .list(&ListParams::default().labels("app=kube-rs"))
        .await
        .unwrap();
    assert_eq!(selected.items.len(), 1);
    let paged = cms.list(&ListParams::default().limit(1)).await.unwrap();
    assert_eq!(paged.items.len(), 1);

    cms.delete("rs", &Default::default()).await.unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(15), events.try_next())
            .await
            .expect("a watch event in time")
            .unwrap()
            .expect("the watch is still open");
        match event {
            WatchEvent::Added(cm) if cm.metadata.name.as_deref() == Some("rs") => {
                kinds.push("ADDED")
            }
            WatchEvent::Modified(cm) if cm.metadata.name.as_deref() == Some("rs") => {
                kinds.push("MODIFIED")
            }
            WatchEvent::Deleted(cm) if cm.metadata.name.as_deref() == Some("rs") => {
                kinds.push("DELETED")
            }
            WatchEvent::Error(e) => panic!("watch error: {e:?}"),
            _ => {}
        }
    }
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_from_old_and_recent_versions_see_every_change_in_order() {
    let cluster = common::Cluster::start();
    let client = client(&cluster).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    // Start the shared watch cache of configmaps, then write more than it keeps.
    let first = cms
        .create(&PostParams::default(), &configmap("c-000"))
        .await
        .unwrap();
    let first_rv = first.metadata.resource_version.unwrap();
    let _warm = cms
        .watch(&WatchParams::default().timeout(5), &first_rv)
        .await
        .unwrap();
    for i in 1..300 {
        cms.create(&PostParams::default(), &configmap(&format!("c-{i:03}")))
            .await
            .unwrap();
    }
    let recent_rv = cms
        .get("c-289")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for (from, expected) in [(first_rv, 299), (recent_rv, 10)] {
        let mut events = cms
            .watch(&WatchParams::default().timeout(20), &from)
            .await
            .unwrap()
            .boxed();
        let mut names = Vec::new();
        while names.len() < expected {
            let event = tokio::time::timeout(Duration::from_secs(15), events.try_next())
                .await
                .expect("a watch event in time")
                .unwrap()
                .expect("the watch is still open");
            match event {
                WatchEvent::Added(cm) => names.push(cm.metadata.name.unwrap()),
                other => panic!("unexpected {other:?}"),
            }
        }
        let want: Vec<String> = (300 - expected..300).map(|i| format!("c-{i:03}")).collect();
        assert_eq!(names, want, "every change after {from}, in order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_lists_and_initial_watch_events_span_store_pages() {
    let cluster = common::Cluster::start();
    let client = client(&cluster).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    const N: usize = 1200;
    let results = futures::stream::iter((0..N).map(|i| {
        let cms = cms.clone();
        async move {
            cms.create(&PostParams::default(), &configmap(&format!("big-{i:04}")))
                .await
        }
    }))
    .buffer_unordered(16)
    .collect::<Vec<_>>()
    .await;
    assert!(results.iter().all(Result::is_ok));

    // Besides them, `kube-root-ca.crt`, which every namespace has.
    let total = N + 1;
    let all = cms.list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), total);
    let names: Vec<String> = all
        .items
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "lists are in key order");

    let mut paged = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default().limit(500);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let page = cms.list(&params).await.unwrap();
        if paged.is_empty() {
            assert_eq!(
                page.metadata.remaining_item_count,
                Some((total - 500) as i64)
            );
        }
        paged.extend(page.items.into_iter().map(|c| c.metadata.name.unwrap()));
        match page.metadata.continue_ {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    assert_eq!(paged, names, "paging yields the same list");

    let mut events = cms
        .watch(&WatchParams::default().timeout(20), "0")
        .await
        .unwrap()
        .boxed();
    let mut added = 0;
    while added < total {
        match tokio::time::timeout(Duration::from_secs(15), events.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            WatchEvent::Added(_) => added += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_one_resource_seen_through_two_api_groups() {
    use k8s_openapi::api::core::v1::{Event as CoreEvent, ObjectReference};
    use k8s_openapi::api::events::v1::Event as NewEvent;
    let cluster = common::Cluster::start();
    let client = client(&cluster).await;
    let new_api: Api<NewEvent> = Api::namespaced(client.clone(), "default");
    let core_api: Api<CoreEvent> = Api::namespaced(client.clone(), "default");

    let event = NewEvent {
        metadata: kube::api::ObjectMeta {
            name: Some("pulled".into()),
            ..Default::default()
        },
        event_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
            k8s_openapi::jiff::Timestamp::now(),
        )),
        regarding: Some(ObjectReference {
            kind: Some("Pod".into()),
            name: Some("web".into()),
            namespace: Some("default".into()),
            ..Default::default()
        }),
        note: Some("Successfully pulled image".into()),
        reason: Some("Pulled".into()),
        reporting_controller: Some("kmicro.io/agent".into()),
        reporting_instance: Some("node-1".into()),
        action: Some("Pull".into()),
        type_: Some("Normal".into()),
        ..Default::default()
    };
    new_api
        .create(&PostParams::default(), &event)
        .await
        .unwrap();

    let core = core_api.get("pulled").await.unwrap();
    assert_eq!(core.message.as_deref(), Some("Successfully pulled image"));
    assert_eq!(core.involved_object.name.as_deref(), Some("web"));
    assert_eq!(core.reporting_component.as_deref(), Some("kmicro.io/agent"));
    let listed = core_api
        .list(&ListParams::default().fields("involvedObject.name=web"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);

    let back = new_api.get("pulled").await.unwrap();
    assert_eq!(back.note.as_deref(), Some("Successfully pulled image"));
    assert_eq!(back.regarding.and_then(|r| r.name).as_deref(), Some("web"));
    core_api
        .delete("pulled", &Default::default())
        .await
        .unwrap();
    assert!(new_api.get_opt("pulled").await.unwrap().is_none());
}

/// Merge patches without a resourceVersion race each other and all land: a write that loses
/// the race is applied again to the new object (kube's GuaranteedUpdate), never a 409. A
/// patch that pins a resourceVersion still fails once the object moved on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_merge_patches_all_land_and_pinned_ones_conflict() {
    let cluster = common::Cluster::start_api_only();
    let client = client(&cluster).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = cms
        .create(&PostParams::default(), &configmap("raced"))
        .await
        .unwrap();

    let patches = (0..32).map(|i| {
        let cms = cms.clone();
        async move {
            let patch = serde_json::json!({"data": {format!("k{i}"): i.to_string()}});
            cms.patch("raced", &PatchParams::default(), &Patch::Merge(&patch))
                .await
        }
    });
    for result in futures::future::join_all(patches).await {
        result.unwrap();
    }
    let data = cms.get("raced").await.unwrap().data.unwrap();
    for i in 0..32 {
        assert_eq!(data.get(&format!("k{i}")), Some(&i.to_string()), "{data:?}");
    }

    let stale = serde_json::json!({
        "metadata": {"resourceVersion": created.metadata.resource_version},
        "data": {"late": "1"},
    });
    let err = cms
        .patch("raced", &PatchParams::default(), &Patch::Merge(&stale))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(status) if status.code == 409),
        "{err:?}"
    );
}
