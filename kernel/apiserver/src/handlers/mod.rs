//! The verbs on resources: one module per group of verbs, all over [`Storage`]; `custom` holds
//! what custom resources do differently.

mod apply;
mod binding;
mod custom;
mod delete;
mod eviction;
mod fields;
mod managed;
pub(crate) mod module;
mod namespace;
mod pod_exec;
mod pod_log;
mod port_forward;
mod protobuf;
mod read;
mod review;
mod scale;
mod strategic;
mod token;
mod watch;
mod write;

pub(crate) use write::random_suffix;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, header};
use kmicro_apimachinery::registry::{self, ResourceInfo};
use kmicro_apimachinery::selector::{FieldSelector, LabelSelector};
use serde_json::Value;

use crate::auth::{Authenticator, User};
use crate::authz::Authorizer;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::render::Format;
use crate::response::{self, Body};
use crate::route::{ResourceRequest, Verb};
use crate::storage::Storage;
use crate::warning::Warnings;

/// Everything a handler needs about one request.
pub(crate) struct Ctx<'a> {
    /// Object storage.
    pub storage: &'a Storage,
    /// Who is asking (after impersonation).
    pub user: &'a User,
    /// The authorizer (access reviews ask it).
    pub authorizer: &'a Authorizer,
    /// The authenticator (token reviews ask it; token requests sign with it).
    pub authenticator: &'a Authenticator,
    /// What is asked for.
    pub rr: &'a ResourceRequest,
    /// Query parameters.
    pub query: &'a Query,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Object or Table answers.
    pub format: Format,
    /// Becomes true when the server stops; long-running requests end then.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// Warnings for the client, sent as `Warning` headers with the answer.
    pub warnings: Warnings,
    /// The kernel's module supervisor, once registered (module logs, built-in sources).
    pub module_host: Option<std::sync::Arc<dyn crate::module_host::ModuleHost>>,
    /// The node agent's pod logs, once registered.
    pub pod_log_host: Option<std::sync::Arc<dyn crate::pod_log_host::PodLogHost>>,
    /// The ranges Services' cluster IPs and node ports come from.
    pub service_ranges: &'a crate::service_alloc::ServiceRanges,
    /// The node agent's exec and attach, once registered.
    pub pod_exec_host: Option<std::sync::Arc<dyn crate::pod_exec_host::PodExecHost>>,
    /// The connection's upgrade, when it can be upgraded (HTTP/1.1 from the network).
    /// The node agent's port forwarding, once registered.
    pub port_forward_host: Option<std::sync::Arc<dyn crate::port_forward_host::PodPortForwardHost>>,
    pub upgrade: Option<hyper::upgrade::OnUpgrade>,
}

impl Ctx<'_> {
    /// The resource.
    pub fn resource(&self) -> &'static ResourceInfo {
        self.rr.resource
    }

    /// The namespace in the path.
    pub fn namespace(&self) -> Option<&str> {
        self.rr.namespace.as_deref()
    }

    /// The object name in the path ("" for collections).
    pub fn name(&self) -> &str {
        self.rr.name.as_deref().unwrap_or("")
    }

    /// The request's content type, without parameters.
    pub fn content_type(&self) -> String {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default()
    }

    /// The label and field selectors of a list, watch or deletecollection.
    pub fn selectors(&self) -> ApiResult<Selectors> {
        let label = match &self.query.label_selector {
            Some(s) => LabelSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?,
            None => LabelSelector::parse("").map_err(|e| ApiError::bad_request(e.to_string()))?,
        };
        let field = match &self.query.field_selector {
            Some(s) => FieldSelector::parse(s, self.resource())
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
            None => FieldSelector::parse("", self.resource())
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
        };
        Ok(Selectors { label, field })
    }
}

/// A list's selectors.
pub(crate) struct Selectors {
    label: LabelSelector,
    field: FieldSelector,
}

impl Selectors {
    /// Whether the object passes both.
    pub fn matches(&self, obj: &Value) -> bool {
        self.label.matches_object(obj) && self.field.matches(obj)
    }

    /// Whether neither selects anything.
    pub fn is_empty(&self) -> bool {
        self.label.is_empty() && self.field.is_empty()
    }
}

/// Runs a resource request.
pub(crate) async fn dispatch(ctx: &Ctx<'_>, body: Bytes) -> ApiResult<Response<Body>> {
    if *ctx.resource() == registry::LEGACY_BINDINGS {
        // Routing lets only create through.
        return binding::create(ctx, &body).await;
    }
    custom::check(ctx)?;
    if ctx.resource().is_virtual() {
        // Routing lets only create through.
        return review::create(ctx, &body).await;
    }
    if matches!(ctx.rr.verb, Verb::Create | Verb::Update | Verb::Patch) {
        managed::manager(ctx)?;
    }
    if ctx.rr.verb == Verb::Patch {
        apply::check_patch_options(ctx)?;
        if ctx.content_type() == apply::APPLY_PATCH
            && ctx.rr.subresource.as_deref() != Some("scale")
        {
            return apply::apply(ctx, &body).await;
        }
    }
    if ctx.resource().group.is_empty()
        && ctx.resource().plural == "pods"
        && ctx.rr.verb == Verb::Get
        && ctx.rr.subresource.as_deref() == Some("log")
    {
        return pod_log::get(ctx).await;
    }
    if ctx.resource().group.is_empty() && ctx.resource().plural == "pods" {
        match ctx.rr.subresource.as_deref() {
            Some("exec") => return pod_exec::connect(ctx, pod_exec::Kind::Exec).await,
            Some("attach") => return pod_exec::connect(ctx, pod_exec::Kind::Attach).await,
            // Routing lets only `create` through (a GET upgrade or a POST).
            Some("portforward") => return port_forward::connect(ctx).await,
            _ => {}
        }
    }
    if module::is_modules(ctx.resource()) {
        match (ctx.rr.verb, ctx.rr.subresource.as_deref()) {
            (Verb::Get, Some("source")) => return module::get_source(ctx).await,
            (Verb::Update, Some("source")) => return module::put_source(ctx, body).await,
            (Verb::Get, Some("log")) => return module::get_log(ctx).await,
            (Verb::Delete | Verb::DeleteCollection | Verb::Update | Verb::Patch, _) => {
                // A Module gone or pointed elsewhere may leave a component nothing refers to.
                let answer = dispatch_verb(ctx, body).await;
                if answer.is_ok() && !ctx.query.dry_run {
                    module::collect_garbage(ctx).await;
                }
                return answer;
            }
            _ => {}
        }
    }
    dispatch_verb(ctx, body).await
}

/// Runs a verb on objects (or their `status` and `scale`).
async fn dispatch_verb(ctx: &Ctx<'_>, body: Bytes) -> ApiResult<Response<Body>> {
    match (ctx.rr.verb, ctx.rr.subresource.as_deref()) {
        (Verb::Create, Some("token")) => token::create(ctx, &body).await,
        (Verb::Get, Some("scale")) => scale::get(ctx).await,
        (Verb::Update, Some("scale")) => scale::update(ctx, &body).await,
        (Verb::Patch, Some("scale")) => scale::patch(ctx, &body).await,
        (Verb::Create, Some("binding")) => binding::create(ctx, &body).await,
        (Verb::Create, Some("eviction")) => eviction::create(ctx, &body).await,
        (Verb::Update, Some("finalize")) => namespace::finalize(ctx, &body).await,
        (Verb::Get, _) => read::get(ctx).await,
        (Verb::List, _) => read::list(ctx).await,
        (Verb::Watch, _) => watch::watch(ctx).await,
        (Verb::Create, _) => write::create(ctx, &body).await,
        (Verb::Update, _) => write::update(ctx, &body).await,
        (Verb::Patch, _) => write::patch(ctx, &body).await,
        (Verb::Delete, _) => delete::delete(ctx, &body).await,
        (Verb::DeleteCollection, _) => delete::delete_collection(ctx, &body).await,
    }
}

/// A JSON answer of an object (or its Table).
pub(crate) fn answer(ctx: &Ctx<'_>, status: StatusCode, obj: Value) -> Response<Body> {
    response::json(
        status,
        &crate::render::object(&ctx.printer(), obj, ctx.format, ctx.query),
    )
}

/// Parses the object body of a create or update: JSON, or protobuf for built-in kinds;
/// other media types are 415.
pub(crate) fn object_body(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Value> {
    match ctx.content_type().as_str() {
        "" | "application/json" | "*/*" => parse_body(body),
        kmicro_protobuf::MEDIA_TYPE => protobuf::object(ctx, body),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// Parses a JSON body.
pub(crate) fn parse_body(body: &[u8]) -> ApiResult<Value> {
    if body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("couldn't decode the request body as JSON: {e}"))
    })
}
