//! `pods/portforward` refusals, as `Status` errors, before any upgrade (the sessions
//! themselves are tested with the real kubectl in the kernel's `pods` tests).

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use kmicro_apiserver::auth::{Authenticator, User};
use kmicro_apiserver::{Api, Storage};
use kmicro_store::{RedbConfig, RedbStore, Store};
use serde_json::{Value, json};

fn admin() -> User {
    User::new("admin".into(), vec!["system:masters".into()])
}

async fn call(api: &Api, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        // What kubectl's tunnel sends (the upgrade itself needs a network connection).
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_VERSION, "13")
        .header(header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
        .header(
            header::SEC_WEBSOCKET_PROTOCOL,
            "SPDY/3.1+portforward.k8s.io",
        );
    let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let resp = api.handle_local(req.body(body).unwrap(), admin()).await;
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_refusals_are_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        RedbStore::open(RedbConfig::new(dir.path().join("s.redb")))
            .await
            .unwrap(),
    );
    let api = Api::new(
        Storage::new(store),
        Authenticator::default(),
        "127.0.0.1:6443".into(),
    );
    api.bootstrap().await.unwrap();
    let pods = "/api/v1/namespaces/default/pods";
    let pf = |name: &str, query: &str| format!("{pods}/{name}/portforward{query}");
    let pod = |name: &str, node: Option<&str>| {
        let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        if let Some(node) = node {
            p["spec"]["nodeName"] = json!(node);
        }
        p
    };

    let (code, status) = call(&api, Method::GET, &pf("absent", ""), None).await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (StatusCode::NOT_FOUND, Some("NotFound"))
    );

    let (code, _) = call(&api, Method::POST, pods, Some(pod("unbound", None))).await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, status) = call(&api, Method::GET, &pf("unbound", ""), None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(
        status["message"],
        "pod unbound does not have a host assigned"
    );

    let (code, status) = call(&api, Method::GET, &pf("unbound", "?ports=http"), None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["message"], "unable to parse \"http\" as a port");

    let (code, _) = call(&api, Method::POST, pods, Some(pod("web", Some("n1")))).await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, status) = call(&api, Method::GET, &pf("web", "?ports=8080"), None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(
        status["message"],
        "unable to forward port because pod is not running. Current status=Pending"
    );

    let (_, mut running) = call(&api, Method::GET, &format!("{pods}/web"), None).await;
    running["status"] = json!({"phase": "Running"});
    let (code, _) = call(
        &api,
        Method::PUT,
        &format!("{pods}/web/status"),
        Some(running),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    // In-process requests have no connection to upgrade.
    let (code, status) = call(&api, Method::GET, &pf("web", "?ports=8080"), None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(status["message"], "Upgrade request required");

    let (code, status) = call(&api, Method::PUT, &pf("web", ""), None).await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("MethodNotAllowed"))
    );

    // Discovery lists the subresource with kube's verbs.
    let (_, list) = call(&api, Method::GET, "/api/v1", None).await;
    let entry = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pods/portforward")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(entry["kind"], "PodPortForwardOptions", "{list}");
    assert_eq!(entry["verbs"], json!(["create", "get"]));
}
