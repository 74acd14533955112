//! In-process API calls (`Api::handle_local`) and the Module subresources, on a real store.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use kmicro_apiserver::auth::{Authenticator, User};
use kmicro_apiserver::response::Body;
use kmicro_apiserver::{Api, ModuleHost, ModuleLog, Storage};
use kmicro_store::{KeyRange, RangeRequest, RedbConfig, RedbStore, Store};
use serde_json::{Value, json};
use tokio::sync::broadcast;

struct Cluster {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    api: Arc<Api>,
}

async fn cluster() -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        RedbStore::open(RedbConfig::new(dir.path().join("s.redb")))
            .await
            .unwrap(),
    );
    let api = Arc::new(Api::new(
        Storage::new(store.clone()),
        Authenticator::default(),
        "127.0.0.1:6443".into(),
    ));
    api.bootstrap().await.unwrap();
    Cluster {
        _dir: dir,
        store,
        api,
    }
}

fn admin() -> User {
    User::new("admin".into(), vec!["system:masters".into()])
}

fn module_user(name: &str) -> User {
    User::new(
        format!("system:module:{name}"),
        vec!["system:modules".into()],
    )
}

fn request(
    method: Method,
    path: &str,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Request<Bytes> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap()
}

async fn call(api: &Api, user: User, req: Request<Bytes>) -> (StatusCode, Bytes) {
    let resp = api.handle_local(req, user).await;
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, body)
}

async fn json_call(
    api: &Api,
    user: User,
    method: Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let body = if body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(body.to_string())
    };
    let (status, bytes) = call(api, user, request(method, path, "application/json", body)).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The next chunk of a streamed body, within a few seconds.
async fn next_chunk(body: &mut Body) -> Option<Bytes> {
    let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("a chunk within 5 s")?;
    Some(frame.unwrap().into_data().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_requests_are_authorized_as_their_user() {
    let c = cluster().await;
    let path = "/api/v1/namespaces/default/configmaps";
    let (status, answer) = json_call(
        &c.api,
        module_user("scheduler"),
        Method::GET,
        path,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["reason"], "Forbidden");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("User \"system:module:scheduler\" cannot list resource \"configmaps\""),
        "{answer}"
    );
    // Bind the modules' group to a role that may list config maps.
    let role = json!({"metadata": {"name": "cm-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]});
    let (status, _) = json_call(
        &c.api,
        admin(),
        Method::POST,
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        role,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let binding = json!({"metadata": {"name": "modules-read-cm"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cm-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:modules"}]});
    let (status, _) = json_call(
        &c.api,
        admin(),
        Method::POST,
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        binding,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // The authorizer follows bindings through informers: within moments.
    let mut last = StatusCode::FORBIDDEN;
    for _ in 0..100 {
        let (status, answer) = json_call(
            &c.api,
            module_user("scheduler"),
            Method::GET,
            path,
            Value::Null,
        )
        .await;
        last = status;
        if status == StatusCode::OK {
            assert_eq!(answer["kind"], "ConfigMapList");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(last, StatusCode::OK);
    // Still nothing more than the binding grants.
    let (status, _) = json_call(
        &c.api,
        module_user("scheduler"),
        Method::POST,
        path,
        json!({"metadata": {"name": "x"}}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Impersonation headers mean nothing to a local request.
    let mut req = request(
        Method::POST,
        path,
        "application/json",
        json!({"metadata": {"name": "x"}}).to_string(),
    );
    req.headers_mut()
        .insert("Impersonate-User", "admin".parse().unwrap());
    req.headers_mut()
        .insert("Impersonate-Group", "system:masters".parse().unwrap());
    assert_eq!(
        call(&c.api, module_user("scheduler"), req).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_watch_streams_events() {
    let c = cluster().await;
    let resp = c
        .api
        .handle_local(
            request(
                Method::GET,
                "/api/v1/namespaces/default/configmaps?watch=1",
                "",
                "",
            ),
            admin(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let (status, _) = json_call(
        &c.api,
        admin(),
        Method::POST,
        "/api/v1/namespaces/default/configmaps",
        json!({"metadata": {"name": "seen"}, "data": {"a": "b"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut text = String::new();
    while !text.contains('\n') {
        let chunk = next_chunk(&mut body).await.expect("the watch is open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let event: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(event["type"], "ADDED");
    assert_eq!(event["object"]["metadata"]["name"], "seen");
}

/// A minimal component header and `len` bytes of `fill`.
fn component(len: usize, fill: u8) -> Vec<u8> {
    let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
    bytes.resize(8 + len, fill);
    bytes
}

const MODULES: &str = "/apis/modules.kmicro.io/v1alpha1/modules";

async fn blob_keys(store: &dyn Store) -> usize {
    store
        .range(RangeRequest::new(KeyRange::prefix("/kmicro/modules/blobs/")).count_only())
        .await
        .unwrap()
        .count as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_sources_round_trip_and_unreferenced_ones_are_collected() {
    let c = cluster().await;
    let (status, created) = json_call(
        &c.api,
        admin(),
        Method::POST,
        MODULES,
        json!({"metadata": {"name": "echo"}, "spec": {"config": {"greeting": "hi"}}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["metadata"]["generation"], 1);
    let source = format!("{MODULES}/echo/source");
    // No source yet.
    let (status, _) = call(&c.api, admin(), request(Method::GET, &source, "", "")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A 5 MiB component: more than an object body may be.
    let first = component(5 << 20, 1);
    let (status, answer) = call(
        &c.api,
        admin(),
        request(Method::PUT, &source, "application/wasm", first.clone()),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let module: Value = serde_json::from_slice(&answer).unwrap();
    let digest = module["spec"]["source"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(digest, kmicro_apiserver::module_blobs::digest_of(&first));
    assert_eq!(module["metadata"]["generation"], 2);
    assert_eq!(module["spec"]["config"], json!({"greeting": "hi"}));
    let resp = c
        .api
        .handle_local(request(Method::GET, &source, "", ""), admin())
        .await;
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/wasm");
    let read = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(read == first, "the source reads back byte-identical");
    assert_eq!(blob_keys(c.store.as_ref()).await, 1);

    // Refusals: not a component, a wrong media type, too large.
    let (status, answer) = call(
        &c.api,
        admin(),
        request(
            Method::PUT,
            &source,
            "application/wasm",
            &b"\0asm\x01\x00\x00\x00"[..],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&answer).contains("core WebAssembly module"));
    let (status, _) = call(
        &c.api,
        admin(),
        request(Method::PUT, &source, "application/json", component(4, 0)),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = call(
        &c.api,
        admin(),
        request(
            Method::PUT,
            &source,
            "application/wasm",
            component(17 << 20, 0),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // A module may not upload sources unless RBAC says so.
    let (status, _) = call(
        &c.api,
        module_user("echo"),
        request(Method::PUT, &source, "application/wasm", component(4, 0)),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A second module with the same bytes shares the copy.
    json_call(
        &c.api,
        admin(),
        Method::POST,
        MODULES,
        json!({"metadata": {"name": "twin"}}),
    )
    .await;
    let (status, _) = call(
        &c.api,
        admin(),
        request(
            Method::PUT,
            &format!("{MODULES}/twin/source"),
            "application/octet-stream",
            first.clone(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(blob_keys(c.store.as_ref()).await, 1);

    // Replacing echo's source keeps the shared copy (twin refers to it) and adds one.
    let second = component(1000, 2);
    let (status, _) = call(
        &c.api,
        admin(),
        request(Method::PUT, &source, "application/wasm", second.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(blob_keys(c.store.as_ref()).await, 2);
    // Deleting twin leaves the first copy unreferenced: collected.
    let (status, _) = json_call(
        &c.api,
        admin(),
        Method::DELETE,
        &format!("{MODULES}/twin"),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(blob_keys(c.store.as_ref()).await, 1);
    let (_, read) = call(&c.api, admin(), request(Method::GET, &source, "", "")).await;
    assert!(read == second);
    // And deleting echo, the last one.
    json_call(
        &c.api,
        admin(),
        Method::DELETE,
        &format!("{MODULES}/echo"),
        Value::Null,
    )
    .await;
    assert_eq!(blob_keys(c.store.as_ref()).await, 0);
    let chunks = c
        .store
        .range(RangeRequest::new(KeyRange::prefix("/kmicro/modules/")).count_only())
        .await
        .unwrap();
    assert_eq!(chunks.count, 0);
}

/// A module host with one module's log and one built-in module.
struct TestHost {
    lines: Vec<String>,
    follow: Mutex<Option<broadcast::Sender<String>>>,
}

impl ModuleHost for TestHost {
    fn builtin_source(&self, name: &str) -> Option<Bytes> {
        (name == "scheduler").then(|| Bytes::from(component(3, 9)))
    }

    fn logs(&self, name: &str, tail: Option<usize>, follow: bool) -> Option<ModuleLog> {
        if name != "echo" {
            return None;
        }
        let skip = tail.map_or(0, |n| self.lines.len().saturating_sub(n));
        Some(ModuleLog {
            lines: self.lines[skip..].to_vec(),
            follow: follow
                .then(|| {
                    self.follow
                        .lock()
                        .unwrap()
                        .as_ref()
                        .map(|tx| tx.subscribe())
                })
                .flatten(),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_logs_and_builtin_sources_come_from_the_host() {
    let c = cluster().await;
    for body in [
        json!({"metadata": {"name": "echo"}}),
        json!({"metadata": {"name": "scheduler"}, "spec": {"source": {"builtin": true}}}),
    ] {
        assert_eq!(
            json_call(&c.api, admin(), Method::POST, MODULES, body)
                .await
                .0,
            StatusCode::CREATED
        );
    }
    let log = format!("{MODULES}/echo/log");
    // No host registered yet: 503 with a clear Status.
    let (status, answer) = json_call(&c.api, admin(), Method::GET, &log, Value::Null).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("supervisor is not running"),
        "{answer}"
    );
    let (status, _) = call(
        &c.api,
        admin(),
        request(Method::GET, &format!("{MODULES}/scheduler/source"), "", ""),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    let (tx, _) = broadcast::channel(16);
    let host = Arc::new(TestHost {
        lines: vec!["one".into(), "two".into(), "three".into()],
        follow: Mutex::new(Some(tx.clone())),
    });
    c.api.set_module_host(host.clone());
    let (_, text) = call(
        &c.api,
        admin(),
        request(Method::GET, &format!("{log}?tailLines=2"), "", ""),
    )
    .await;
    assert_eq!(text, "two\nthree\n");
    let (_, source) = call(
        &c.api,
        admin(),
        request(Method::GET, &format!("{MODULES}/scheduler/source"), "", ""),
    )
    .await;
    assert!(source == component(3, 9));
    // A Module the host has no log of.
    let (status, _) = call(
        &c.api,
        admin(),
        request(Method::GET, &format!("{MODULES}/scheduler/log"), "", ""),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Following: kept lines, then new ones as they come, until the module is unloaded.
    let resp = c
        .api
        .handle_local(
            request(
                Method::GET,
                &format!("{log}?follow=true&tailLines=1"),
                "",
                "",
            ),
            admin(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let mut body = resp.into_body();
    assert_eq!(next_chunk(&mut body).await.unwrap(), "three\n");
    tx.send("four".into()).unwrap();
    assert_eq!(next_chunk(&mut body).await.unwrap(), "four\n");
    drop(tx);
    host.follow.lock().unwrap().take();
    assert_eq!(
        next_chunk(&mut body).await,
        None,
        "the stream ends with the module"
    );
}
