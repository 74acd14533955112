//! What the scheduler and controller modules need of the API server, driven through the
//! `kube` crate (as the modules' SDK speaks to it) against `kmicro run`: pod bindings, the
//! DefaultTolerationSeconds admission, evictions under PodDisruptionBudgets, kube's namespace
//! deletion with `finalize` and `status`, graceful pod deletion and deletecollection.

mod common;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};

async fn client(cluster: &common::Cluster) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(&cluster.kubeconfig).expect("read kubeconfig");
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("kubeconfig");
    // The answers themselves are under test: no retrying of 429s behind the test's back.
    config.default_retry = false;
    kube::Client::try_from(config).expect("client")
}

/// A request with a JSON body, answered as JSON (or the API error).
async fn raw(client: &kube::Client, method: &str, path: &str, body: &Value) -> kube::Result<Value> {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .unwrap();
    client.request::<Value>(req).await
}

/// The API error of a failed request: code, reason and message.
fn api_error<T: std::fmt::Debug>(result: kube::Result<T>) -> Box<kube::core::Status> {
    match result {
        Err(kube::Error::Api(status)) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn pod(name: &str, labels: Value, spec_extra: Value) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "busybox"}]});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), spec_extra.as_object()) {
        spec.extend(extra.clone());
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }))
    .unwrap()
}

/// Waits (up to 15 s) for `check` to hold.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_are_bound_with_kubes_rules_and_get_default_tolerations() {
    let cluster = common::Cluster::start_api_only();
    let client = client(&cluster).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    // DefaultTolerationSeconds: both taints tolerated for 300 s unless the pod says otherwise.
    let web = pods
        .create(&PostParams::default(), &pod("web", json!({}), json!({})))
        .await
        .unwrap();
    let tolerations = serde_json::to_value(web.spec.unwrap().tolerations).unwrap();
    assert_eq!(
        tolerations,
        json!([
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        ])
    );
    let own = pod(
        "own",
        json!({}),
        json!({"tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]}),
    );
    let own = pods.create(&PostParams::default(), &own).await.unwrap();
    let keys: Vec<(String, Option<i64>)> = own
        .spec
        .unwrap()
        .tolerations
        .unwrap()
        .into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.toleration_seconds))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("node.kubernetes.io/not-ready".to_string(), Some(5)),
            ("node.kubernetes.io/unreachable".to_string(), Some(300)),
        ]
    );

    // pods/binding: the node, the binding's annotations, PodScheduled=True; answered 201.
    let binding = json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": "web", "uid": web.metadata.uid, "annotations": {"example.com/by": "test"}},
        "target": {"kind": "Node", "name": "n1"},
    });
    let status: Value = pods
        .create_subresource("binding", "web", &PostParams::default(), &binding)
        .await
        .unwrap();
    assert_eq!(status["status"], "Success");
    assert_eq!(status["code"], 201);
    let bound = serde_json::to_value(pods.get("web").await.unwrap()).unwrap();
    assert_eq!(bound["spec"]["nodeName"], "n1");
    assert_eq!(bound["metadata"]["annotations"]["example.com/by"], "test");
    let scheduled = bound["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "PodScheduled")
        .unwrap();
    assert_eq!(scheduled["status"], "True");

    // Bound already (to any node): 409 on pods/binding.
    let mut again = binding.clone();
    again["target"]["name"] = json!("n2");
    let err = api_error(
        pods.create_subresource::<_, Value>("binding", "web", &PostParams::default(), &again)
            .await,
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        err.message,
        "Operation cannot be fulfilled on pods/binding \"web\": pod web is already assigned to node \"n1\""
    );
    // A uid precondition that fails is a conflict on the pod; a missing pod is 404; a name
    // other than the URL's is 400; a target without a name is invalid.
    let mut stale = binding.clone();
    stale["metadata"] = json!({"name": "own", "uid": "not-its-uid"});
    let err = api_error(
        pods.create_subresource::<_, Value>("binding", "own", &PostParams::default(), &stale)
            .await,
    );
    assert_eq!(err.code, 409);
    assert!(
        err.message
            .contains("Precondition failed: UID in precondition: not-its-uid"),
        "{}",
        err.message
    );
    let mut missing = binding.clone();
    missing["metadata"] = json!({"name": "nope"});
    let err = api_error(
        pods.create_subresource::<_, Value>("binding", "nope", &PostParams::default(), &missing)
            .await,
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "pods \"nope\" not found")
    );
    let err = api_error(
        pods.create_subresource::<_, Value>("binding", "own", &PostParams::default(), &binding)
            .await,
    );
    assert_eq!(err.code, 400);
    let mut nameless = binding.clone();
    nameless["metadata"] = json!({"name": "own"});
    nameless["target"] = json!({"kind": "Node"});
    let err = api_error(
        pods.create_subresource::<_, Value>("binding", "own", &PostParams::default(), &nameless)
            .await,
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));

    // The legacy collection takes the same Binding, naming the pod in its metadata.
    let mut legacy = binding.clone();
    legacy["metadata"] = json!({"name": "own"});
    let status = raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/bindings",
        &legacy,
    )
    .await
    .unwrap();
    assert_eq!(status["code"], 201);
    assert_eq!(
        pods.get("own")
            .await
            .unwrap()
            .spec
            .unwrap()
            .node_name
            .as_deref(),
        Some("n1")
    );
    let err = api_error(
        raw(
            &client,
            "GET",
            "/api/v1/namespaces/default/bindings",
            &json!({}),
        )
        .await,
    );
    assert_eq!(err.code, 405);

    // The OpenAPI documents describe the new endpoints (with kube's Binding, Eviction and
    // Namespace bodies), so clients that validate against them find them.
    let get = |path: &str| {
        http::Request::get(path.to_string())
            .body(Vec::new())
            .unwrap()
    };
    let v3: Value = client.request(get("/openapi/v3/api/v1")).await.unwrap();
    let v2: Value = client.request(get("/openapi/v2")).await.unwrap();
    for path in [
        "/api/v1/namespaces/{namespace}/pods/{name}/binding",
        "/api/v1/namespaces/{namespace}/pods/{name}/eviction",
        "/api/v1/namespaces/{name}/finalize",
    ] {
        assert!(v3["paths"].get(path).is_some(), "v3 lacks {path}");
        assert!(v2["paths"].get(path).is_some(), "v2 lacks {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evictions_honour_pod_disruption_budgets() {
    let cluster = common::Cluster::start_api_only();
    let client = client(&cluster).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let running = Patch::Merge(json!({"status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
    }}));
    for name in ["web-1", "web-2", "web-3", "web-4"] {
        pods.create(
            &PostParams::default(),
            &pod(name, json!({"app": "web"}), json!({})),
        )
        .await
        .unwrap();
        pods.patch_status(name, &PatchParams::default(), &running)
            .await
            .unwrap();
    }
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
    }))
    .unwrap();
    budgets.create(&PostParams::default(), &pdb).await.unwrap();
    let budget_status = |allowed: i64| {
        Patch::Merge(json!({"status": {
            "observedGeneration": 1, "disruptionsAllowed": allowed,
            "currentHealthy": 2, "desiredHealthy": 2, "expectedPods": 3,
        }}))
    };
    budgets
        .patch_status("web", &PatchParams::default(), &budget_status(0))
        .await
        .unwrap();

    // No disruption allowed: 429 with the budget's cause, and the pod stays.
    let err = api_error(pods.evict("web-1", &EvictParams::default()).await);
    assert_eq!((err.code, err.reason.as_str()), (429, "TooManyRequests"));
    assert_eq!(
        err.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    let causes = &err.details.as_ref().unwrap().causes;
    assert_eq!(causes[0].reason, "DisruptionBudget");
    assert_eq!(
        causes[0].message,
        "The disruption budget web needs 2 healthy pods and has 2 currently"
    );
    pods.get("web-1").await.unwrap();

    // One allowed: the eviction takes it and deletes the pod (not bound: at once).
    budgets
        .patch_status("web", &PatchParams::default(), &budget_status(1))
        .await
        .unwrap();
    let status = pods.evict("web-1", &EvictParams::default()).await.unwrap();
    assert_eq!(status.code, 201);
    assert_eq!(api_error(pods.get("web-1").await).code, 404);
    let budget = serde_json::to_value(budgets.get("web").await.unwrap()).unwrap();
    assert_eq!(budget["status"]["disruptionsAllowed"], 0);
    assert!(
        budget["status"]["disruptedPods"]["web-1"].is_string(),
        "{budget}"
    );
    assert_eq!(
        budget["status"]["conditions"][0]["type"],
        "DisruptionAllowed"
    );
    assert_eq!(budget["status"]["conditions"][0]["status"], "False");
    // The budget is used up again.
    assert_eq!(
        api_error(pods.evict("web-2", &EvictParams::default()).await).code,
        429
    );

    // A budget whose status lags its spec: 429 until the disruption controller catches up.
    budgets
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"minAvailable": 1}})),
        )
        .await
        .unwrap();
    let err = api_error(pods.evict("web-2", &EvictParams::default()).await);
    assert_eq!(err.code, 429);
    assert!(
        err.details.unwrap().causes[0]
            .message
            .contains("still being processed")
    );

    // An unready pod does not count as healthy: it goes without taking a disruption when the
    // budget has its healthy pods anyway.
    budgets
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"observedGeneration": 2}})),
        )
        .await
        .unwrap();
    let unready =
        Patch::Merge(json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}));
    pods.patch_status("web-4", &PatchParams::default(), &unready)
        .await
        .unwrap();
    assert_eq!(
        api_error(pods.evict("web-3", &EvictParams::default()).await).code,
        429
    );
    pods.evict("web-4", &EvictParams::default()).await.unwrap();
    assert_eq!(api_error(pods.get("web-4").await).code, 404);

    // Pending pods need no budget; the Eviction's DeleteOptions apply (a bound pod keeps its
    // grace period; dry run leaves it alone).
    pods.create(
        &PostParams::default(),
        &pod("pending", json!({"app": "web"}), json!({})),
    )
    .await
    .unwrap();
    let bind = json!({"metadata": {"name": "pending"}, "target": {"name": "n1"}});
    pods.create_subresource::<_, Value>("binding", "pending", &PostParams::default(), &bind)
        .await
        .unwrap();
    let path = "/api/v1/namespaces/default/pods/pending/eviction";
    let eviction = |options: Value| json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "pending"}, "deleteOptions": options});
    raw(&client, "POST", path, &eviction(json!({"dryRun": ["All"]})))
        .await
        .unwrap();
    assert!(
        pods.get("pending")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );
    let status = raw(
        &client,
        "POST",
        path,
        &eviction(json!({"gracePeriodSeconds": 7})),
    )
    .await
    .unwrap();
    assert_eq!(status["status"], "Success");
    let going = pods.get("pending").await.unwrap();
    assert!(going.metadata.deletion_timestamp.is_some());
    assert_eq!(going.metadata.deletion_grace_period_seconds, Some(7));
    // The name must be the URL's; pods that do not exist are 404.
    let err = api_error(
        raw(
            &client,
            "POST",
            "/api/v1/namespaces/default/pods/web-2/eviction",
            &eviction(json!(null)),
        )
        .await,
    );
    assert_eq!(err.code, 400);
    let err = api_error(pods.evict("absent", &EvictParams::default()).await);
    assert_eq!(err.code, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_wait_for_their_finalizers_and_go_on_finalize() {
    let cluster = common::Cluster::start_api_only();
    let client = client(&cluster).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let hold: Namespace = serde_json::from_value(json!({
        "metadata": {"name": "hold"},
        "spec": {"finalizers": ["example.com/hold"]},
    }))
    .unwrap();
    namespaces
        .create(&PostParams::default(), &hold)
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "hold");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();

    namespaces
        .delete("hold", &DeleteParams::default())
        .await
        .unwrap();
    let ns = serde_json::to_value(namespaces.get("hold").await.unwrap()).unwrap();
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert!(ns["metadata"]["deletionTimestamp"].is_string());
    // Deleting again while spec.finalizers remain is kube's conflict.
    let err = api_error(namespaces.delete("hold", &DeleteParams::default()).await);
    assert_eq!(err.code, 409);
    assert!(
        err.message
            .contains("The system is ensuring all content is removed from this namespace"),
        "{}",
        err.message
    );

    // The interim namespace cleanup empties it and drops only its own `kubernetes` finalizer.
    eventually(
        "the namespace's contents and `kubernetes` finalizer to go",
        || async {
            let ns = namespaces.get("hold").await.unwrap();
            let finalizers = ns.spec.and_then(|s| s.finalizers).unwrap_or_default();
            finalizers == ["example.com/hold"]
                && cms
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .items
                    .is_empty()
        },
    )
    .await;

    // namespaces/status: conditions written; the phase must match the deletion.
    let ns = namespaces.get("hold").await.unwrap();
    let mut with_condition = serde_json::to_value(&ns).unwrap();
    with_condition["status"]["conditions"] = json!([{
        "type": "NamespaceFinalizersRemaining", "status": "True", "reason": "SomeFinalizersRemain",
        "message": "Some content in the namespace has finalizers remaining: example.com/hold",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }]);
    let written = raw(
        &client,
        "PUT",
        "/api/v1/namespaces/hold/status",
        &with_condition,
    )
    .await
    .unwrap();
    assert_eq!(
        written["status"]["conditions"][0]["type"],
        "NamespaceFinalizersRemaining"
    );
    assert_eq!(written["spec"]["finalizers"], json!(["example.com/hold"]));
    let mut ns = namespaces.get("hold").await.unwrap();
    ns.status.as_mut().unwrap().phase = Some("Active".into());
    let err = api_error(
        namespaces
            .replace_status("hold", &PostParams::default(), &ns)
            .await,
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));

    // finalize: only spec.finalizers counts; a bad name is invalid; emptied, the namespace goes.
    let err = api_error(
        raw(
            &client,
            "PUT",
            "/api/v1/namespaces/hold/finalize",
            &json!({"metadata": {"name": "hold"}, "spec": {"finalizers": ["custom"]}}),
        )
        .await,
    );
    assert_eq!(err.code, 422);
    let finalized = raw(
        &client,
        "PUT",
        "/api/v1/namespaces/hold/finalize",
        &json!({"metadata": {"name": "hold", "labels": {"ignored": "yes"}}, "spec": {"finalizers": []}}),
    )
    .await
    .unwrap();
    assert!(
        finalized["metadata"]["labels"].get("ignored").is_none(),
        "{finalized}"
    );
    assert_eq!(api_error(namespaces.get("hold").await).code, 404);

    // A namespace finalized before its delete has nothing to wait for: it goes at once.
    let quick: Namespace = serde_json::from_value(json!({"metadata": {"name": "quick"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &quick)
        .await
        .unwrap();
    let kept = raw(
        &client,
        "PUT",
        "/api/v1/namespaces/quick/finalize",
        &json!({"metadata": {"name": "quick"}, "spec": {"finalizers": []}}),
    )
    .await
    .unwrap();
    assert_eq!(kept["status"]["phase"], "Active");
    namespaces
        .delete("quick", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_error(namespaces.get("quick").await).code, 404);

    // Orphan propagation leaves the garbage collector's finalizer: the namespace waits for it
    // after its content is gone, and an update that removes it deletes the namespace.
    let orphan: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "orphan"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &orphan)
        .await
        .unwrap();
    namespaces
        .delete("orphan", &DeleteParams::orphan())
        .await
        .unwrap();
    eventually("the orphan namespace to lose `kubernetes`", || async {
        let ns = namespaces.get("orphan").await.unwrap();
        ns.spec
            .and_then(|s| s.finalizers)
            .unwrap_or_default()
            .is_empty()
    })
    .await;
    let ns = namespaces.get("orphan").await.unwrap();
    assert_eq!(ns.metadata.finalizers, Some(vec!["orphan".to_string()]));
    namespaces
        .patch(
            "orphan",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    assert_eq!(api_error(namespaces.get("orphan").await).code, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_on_no_node_go_at_once_and_bound_ones_wait_for_their_grace() {
    let cluster = common::Cluster::start_api_only();
    let client = client(&cluster).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for name in ["unbound", "bound", "held"] {
        let mut p = pod(name, json!({"app": "grace"}), json!({}));
        if name == "held" {
            p.metadata.finalizers = Some(vec!["example.com/hold".into()]);
        }
        pods.create(&PostParams::default(), &p).await.unwrap();
    }
    for name in ["bound", "held"] {
        let bind = json!({"metadata": {"name": name}, "target": {"name": "gone-node"}});
        pods.create_subresource::<_, Value>("binding", name, &PostParams::default(), &bind)
            .await
            .unwrap();
    }

    // On no node: deleted at once, as kube does.
    pods.delete("unbound", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_error(pods.get("unbound").await).code, 404);

    // On a node whose agent is gone: Terminating with its 30 s grace; a status update does
    // not end it; a later delete may only shorten it; 0 ends it.
    pods.delete("bound", &DeleteParams::default())
        .await
        .unwrap();
    let first = pods.get("bound").await.unwrap();
    assert_eq!(first.metadata.deletion_grace_period_seconds, Some(30));
    let first_at = first.metadata.deletion_timestamp.clone().unwrap().0;
    pods.patch_status(
        "bound",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running"}})),
    )
    .await
    .unwrap();
    pods.delete(
        "bound",
        &DeleteParams {
            grace_period_seconds: Some(60),
            ..DeleteParams::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        pods.get("bound")
            .await
            .unwrap()
            .metadata
            .deletion_grace_period_seconds,
        Some(30)
    );
    pods.delete(
        "bound",
        &DeleteParams {
            grace_period_seconds: Some(5),
            ..DeleteParams::default()
        },
    )
    .await
    .unwrap();
    let shortened = pods.get("bound").await.unwrap();
    assert_eq!(shortened.metadata.deletion_grace_period_seconds, Some(5));
    let moved = first_at.duration_since(shortened.metadata.deletion_timestamp.unwrap().0);
    assert_eq!(moved.as_secs(), 25);
    pods.delete(
        "bound",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(api_error(pods.get("bound").await).code, 404);

    // Finalizers keep even a forced delete; removing the last one ends the pod.
    pods.delete(
        "held",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        },
    )
    .await
    .unwrap();
    let held = pods.get("held").await.unwrap();
    assert_eq!(held.metadata.deletion_grace_period_seconds, Some(0));
    pods.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(api_error(pods.get("held").await).code, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletecollection_deletes_what_the_selector_matches() {
    let cluster = common::Cluster::start_api_only();
    let client = client(&cluster).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for (name, app) in [("x1", "x"), ("x2", "x"), ("x3", "x"), ("y1", "y")] {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": app}}}))
                .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let deleted = cms
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("app=x"),
        )
        .await
        .unwrap()
        .left()
        .expect("the deleted list");
    let mut names: Vec<String> = deleted
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    names.sort();
    assert_eq!(names, ["x1", "x2", "x3"]);
    let left: Vec<String> = cms
        .list(&ListParams::default().labels("app"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, ["y1"]);

    // Pods: the unbound one goes, the bound one starts its grace period; dry run keeps all.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for name in ["p1", "p2"] {
        pods.create(
            &PostParams::default(),
            &pod(name, json!({"app": "batch"}), json!({})),
        )
        .await
        .unwrap();
    }
    let bind = json!({"metadata": {"name": "p2"}, "target": {"name": "n1"}});
    pods.create_subresource::<_, Value>("binding", "p2", &PostParams::default(), &bind)
        .await
        .unwrap();
    let selected = ListParams::default().labels("app=batch");
    pods.delete_collection(&DeleteParams::default().dry_run(), &selected)
        .await
        .unwrap();
    assert_eq!(pods.list(&selected).await.unwrap().items.len(), 2);
    pods.delete_collection(&DeleteParams::default(), &selected)
        .await
        .unwrap();
    let left = pods.list(&selected).await.unwrap().items;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].metadata.name.as_deref(), Some("p2"));
    assert!(left[0].metadata.deletion_timestamp.is_some());

    // Namespaces refuse the immortal ones, in a collection too.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let err = api_error(
        namespaces
            .delete_collection(
                &DeleteParams::default(),
                &ListParams::default().fields("metadata.name=default"),
            )
            .await,
    );
    assert_eq!(err.code, 403);
}
