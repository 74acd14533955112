//! The sandbox's view of the API: every module call becomes an in-process request to the API
//! server, made as user `system:module:<name>` (group `system:modules`), so RBAC, admission
//! and validation treat a module like any other client.

use bytes::Bytes;
use futures::StreamExt;
use http::Method;
use kmicro_apiserver::auth::User;
use kmicro_sandbox::{
    ApiCall, ApiError, DeleteOptions, HostApi, ListOptions, PatchType, PolicyRule, RawEventType,
    RawWatchEvent, ResourceRef, WatchStream, WriteOptions,
};

use super::local::{LocalClient, LocalError, encode, encode_segment};

/// The group every module user is in.
pub const MODULES_GROUP: &str = "system:modules";

/// The user module `name` acts as.
pub fn module_user(name: &str) -> User {
    User::new(
        format!("system:module:{name}"),
        vec![MODULES_GROUP.to_string()],
    )
}

/// [`HostApi`] over the in-process API.
pub struct ModuleApi {
    client: LocalClient,
}

impl ModuleApi {
    /// Module calls through `client` (whose own user is replaced by each module's).
    pub fn new(client: LocalClient) -> Self {
        Self { client }
    }
}

#[async_trait::async_trait]
impl HostApi for ModuleApi {
    async fn authorize(&self, module: &str, rules: &[PolicyRule]) -> Result<(), ApiError> {
        super::rbac::ensure(&self.client, module, rules)
            .await
            .map_err(to_api_error)
    }

    async fn call(&self, module: &str, call: ApiCall) -> Result<String, ApiError> {
        let client = self.client.as_user(module_user(module));
        let (method, path, content_type, body) = request_of(module, call);
        let answer = client
            .send(method, &path, content_type, Bytes::from(body))
            .await
            .map_err(to_api_error)?;
        String::from_utf8(answer.to_vec())
            .map_err(|_| ApiError::internal("the API answered with a body that is not UTF-8"))
    }

    async fn watch(
        &self,
        module: &str,
        res: &ResourceRef,
        options: &ListOptions,
        resource_version: &str,
    ) -> Result<WatchStream, ApiError> {
        let client = self.client.as_user(module_user(module));
        let mut query = list_query(options);
        query.push(("watch", "1".to_string()));
        query.push(("allowWatchBookmarks", "true".to_string()));
        query.push(("resourceVersion", resource_version.to_string()));
        let path = with_query(collection_path(res), &query);
        let chunks = client.stream(&path).await.map_err(to_api_error)?;
        Ok(Box::pin(watch_events(chunks)))
    }
}

/// Splits a watch answer's chunks into events (one JSON object per line).
fn watch_events(
    chunks: impl futures::Stream<Item = Bytes> + Send + 'static,
) -> impl futures::Stream<Item = RawWatchEvent> + Send + 'static {
    chunks
        .scan(Vec::<u8>::new(), |pending, chunk| {
            pending.extend_from_slice(&chunk);
            let mut events = Vec::new();
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if let Some(event) = parse_event(&line) {
                    events.push(event);
                }
            }
            futures::future::ready(Some(futures::stream::iter(events)))
        })
        .flatten()
}

/// One watch line: `{"type": "ADDED", "object": {…}}`.
fn parse_event(line: &[u8]) -> Option<RawWatchEvent> {
    #[derive(serde::Deserialize)]
    struct Line<'a> {
        #[serde(rename = "type")]
        type_: &'a str,
        #[serde(borrow)]
        object: &'a serde_json::value::RawValue,
    }
    let line: Line = serde_json::from_slice(line).ok()?;
    let type_ = match line.type_ {
        "ADDED" => RawEventType::Added,
        "MODIFIED" => RawEventType::Modified,
        "DELETED" => RawEventType::Deleted,
        "BOOKMARK" => RawEventType::Bookmark,
        _ => RawEventType::Error,
    };
    Some(RawWatchEvent {
        type_,
        object: line.object.get().to_string(),
    })
}

fn to_api_error(e: LocalError) -> ApiError {
    ApiError::new(e.code, &e.reason, e.message)
}

/// Method, path with query, content type and body of one call.
fn request_of(module: &str, call: ApiCall) -> (Method, String, Option<&'static str>, String) {
    const JSON: Option<&str> = Some("application/json");
    match call {
        ApiCall::Get {
            res,
            name,
            subresource,
        } => (
            Method::GET,
            object_path(&res, &name, subresource.as_deref()),
            None,
            String::new(),
        ),
        ApiCall::List { res, options } => (
            Method::GET,
            with_query(collection_path(&res), &list_query(&options)),
            None,
            String::new(),
        ),
        ApiCall::Create { res, body, options } => (
            Method::POST,
            with_query(collection_path(&res), &write_query(module, &options, false)),
            JSON,
            body,
        ),
        ApiCall::CreateSubresource {
            res,
            name,
            subresource,
            body,
            options,
        } => (
            Method::POST,
            with_query(
                object_path(&res, &name, Some(&subresource)),
                &write_query(module, &options, false),
            ),
            JSON,
            body,
        ),
        ApiCall::Update {
            res,
            name,
            subresource,
            body,
            options,
        } => (
            Method::PUT,
            with_query(
                object_path(&res, &name, subresource.as_deref()),
                &write_query(module, &options, false),
            ),
            JSON,
            body,
        ),
        ApiCall::Patch {
            res,
            name,
            subresource,
            patch_type,
            body,
            options,
        } => {
            let (content_type, apply) = match patch_type {
                PatchType::Json => ("application/json-patch+json", false),
                PatchType::Merge => ("application/merge-patch+json", false),
                PatchType::Strategic => ("application/strategic-merge-patch+json", false),
                PatchType::Apply => ("application/apply-patch+yaml", true),
            };
            (
                Method::PATCH,
                with_query(
                    object_path(&res, &name, subresource.as_deref()),
                    &write_query(module, &options, apply),
                ),
                Some(content_type),
                body,
            )
        }
        ApiCall::Delete { res, name, options } => (
            Method::DELETE,
            object_path(&res, &name, None),
            JSON,
            delete_body(&options),
        ),
    }
}

fn collection_path(res: &ResourceRef) -> String {
    let mut path = if res.group.is_empty() {
        format!("/api/{}", encode(&res.version))
    } else {
        format!("/apis/{}/{}", encode(&res.group), encode(&res.version))
    };
    if let Some(ns) = &res.namespace {
        path.push_str("/namespaces/");
        path.push_str(&encode_segment(ns));
    }
    path.push('/');
    path.push_str(&encode_segment(&res.resource));
    path
}

fn object_path(res: &ResourceRef, name: &str, subresource: Option<&str>) -> String {
    let mut path = collection_path(res);
    path.push('/');
    path.push_str(&encode_segment(name));
    if let Some(sub) = subresource {
        path.push('/');
        path.push_str(&encode_segment(sub));
    }
    path
}

fn list_query(options: &ListOptions) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(s) = &options.label_selector {
        query.push(("labelSelector", s.clone()));
    }
    if let Some(s) = &options.field_selector {
        query.push(("fieldSelector", s.clone()));
    }
    if let Some(limit) = options.limit {
        query.push(("limit", limit.to_string()));
    }
    if let Some(token) = &options.continue_token {
        query.push(("continue", token.clone()));
    }
    query
}

fn write_query(module: &str, options: &WriteOptions, apply: bool) -> Vec<(&'static str, String)> {
    let mut query = vec![(
        "fieldManager",
        options
            .field_manager
            .clone()
            .unwrap_or_else(|| module.to_string()),
    )];
    if options.dry_run {
        query.push(("dryRun", "All".to_string()));
    }
    if apply && options.force {
        query.push(("force", "true".to_string()));
    }
    query
}

fn delete_body(options: &DeleteOptions) -> String {
    let mut body = serde_json::json!({"kind": "DeleteOptions", "apiVersion": "v1"});
    if let Some(p) = &options.propagation_policy {
        body["propagationPolicy"] = p.clone().into();
    }
    if let Some(g) = options.grace_period_seconds {
        body["gracePeriodSeconds"] = g.into();
    }
    if options.precondition_uid.is_some() || options.precondition_resource_version.is_some() {
        let mut pre = serde_json::Map::new();
        if let Some(uid) = &options.precondition_uid {
            pre.insert("uid".into(), uid.clone().into());
        }
        if let Some(rv) = &options.precondition_resource_version {
            pre.insert("resourceVersion".into(), rv.clone().into());
        }
        body["preconditions"] = pre.into();
    }
    body.to_string()
}

fn with_query(mut path: String, query: &[(&str, String)]) -> String {
    for (i, (key, value)) in query.iter().enumerate() {
        path.push(if i == 0 { '?' } else { '&' });
        path.push_str(key);
        path.push('=');
        path.push_str(&encode(value));
    }
    path
}
