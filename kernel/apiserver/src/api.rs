//! One request, end to end: route, read the body, authenticate, authorize, dispatch, answer.
//!
//! Requests come over the network ([`Api::handle`]) or from inside the process
//! ([`Api::handle_local`], the module sandbox's API calls); both take one path and differ only
//! in how the body is read and in who the caller is (authenticated from the request, or
//! given).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::json;

use crate::auth::{self, Authenticator, User};
use crate::authz::{self, Authorizer};
use crate::discovery;
use crate::error::{ApiError, ApiResult};
use crate::handlers::{self, Ctx};
use crate::impersonation;
use crate::module_host::{HostSlot, ModuleHost};
use crate::openapi::OpenApi;
use crate::pod_exec_host::{PodExecHost, PodExecSlot};
use crate::pod_log_host::{PodLogHost, PodLogSlot};
use crate::port_forward_host::{PodPortForwardHost, PortForwardSlot};
use crate::query::Query;
use crate::render::Format;
use crate::response::{self, Body};
use crate::route::{self, Route, RouteError, Verb};
use crate::service_alloc::ServiceRanges;
use crate::storage::Storage;
use crate::warning::Warnings;

/// The largest request body accepted (kube-apiserver's limit).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Read requests served at once before 429 (kube-apiserver's `--max-requests-inflight`).
const MAX_READS_IN_FLIGHT: usize = 400;
/// Writes served at once before 429 (`--max-mutating-requests-inflight`).
const MAX_WRITES_IN_FLIGHT: usize = 200;

/// The API: storage, who may do what, and the server's identity settings.
pub struct Api {
    storage: Arc<Storage>,
    authenticator: Authenticator,
    authorizer: Arc<Authorizer>,
    server_address: String,
    openapi: OpenApi,
    ready: AtomicBool,
    reads_in_flight: AtomicUsize,
    writes_in_flight: AtomicUsize,
    stopping: tokio::sync::watch::Sender<bool>,
    module_host: HostSlot,
    pod_log_host: PodLogSlot,
    service_ranges: ServiceRanges,
    pod_exec_host: PodExecSlot,
    port_forward_host: PortForwardSlot,
    advertise_address: Option<std::net::IpAddr>,
}

impl Api {
    /// An API over `storage`, accepting the credentials `authenticator` knows besides client
    /// certificates; `server_address` (`host:port`) is what discovery advertises. Starts the
    /// authorizer's informers, so it must run inside the tokio runtime.
    pub fn new(storage: Storage, authenticator: Authenticator, server_address: String) -> Self {
        let storage = Arc::new(storage);
        Self {
            authorizer: Authorizer::start(storage.store().clone()),
            storage,
            authenticator,
            server_address,
            openapi: OpenApi::new(),
            ready: AtomicBool::new(false),
            reads_in_flight: AtomicUsize::new(0),
            writes_in_flight: AtomicUsize::new(0),
            stopping: tokio::sync::watch::channel(false).0,
            module_host: HostSlot::default(),
            pod_log_host: PodLogSlot::default(),
            service_ranges: ServiceRanges::default(),
            pod_exec_host: PodExecSlot::default(),
            port_forward_host: PortForwardSlot::default(),
            advertise_address: None,
        }
    }

    /// The address `default/kubernetes`'s Endpoints and EndpointSlice list (with the API
    /// port), kept right from `bootstrap` on (kube-apiserver's `--advertise-address`); none
    /// are written without one.
    pub fn with_advertise_address(mut self, address: std::net::IpAddr) -> Self {
        self.advertise_address = Some(address);
        self
    }

    /// Services' cluster IPs and node ports come from `ranges` (default: k3s's 10.43.0.0/16
    /// and 30000–32767).
    pub fn with_service_ranges(mut self, ranges: ServiceRanges) -> Self {
        self.service_ranges = ranges;
        self
    }

    /// The object storage.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Makes the cluster ready to serve: the default namespaces, the default RBAC policy
    /// (reconciled), the authorizer's policy loaded, the ClusterRole aggregation and the
    /// ServiceAccount controller running with every namespace's `default` account present;
    /// module components no Module refers to deleted.
    pub async fn bootstrap(&self) -> ApiResult<()> {
        crate::bootstrap::ensure_defaults(&self.storage).await?;
        let api_port = self
            .server_address
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or(6443);
        crate::service_alloc::ensure_kubernetes_service(
            &self.storage,
            &self.service_ranges,
            api_port,
        )
        .await?;
        if let Some(address) = self.advertise_address {
            crate::kubernetes_endpoints::ensure(&self.storage, address, api_port).await?;
            crate::kubernetes_endpoints::spawn(&self.storage, address, api_port);
        }
        authz::bootstrap::ensure_policy(&self.storage).await?;
        self.authorizer.wait_synced().await;
        authz::aggregation::spawn(&self.authorizer, &self.storage);
        crate::service_accounts::ensure_all(&self.storage).await?;
        crate::service_accounts::spawn(&self.storage);
        // Components left behind by an interrupted upload or deletion.
        let modules = kmicro_apimachinery::registry::find(
            kmicro_apimachinery::module::GROUP,
            kmicro_apimachinery::module::VERSION,
            kmicro_apimachinery::module::PLURAL,
        )
        .expect("modules are built in");
        crate::module_blobs::collect_garbage(self.storage.store().as_ref(), modules).await?;
        Ok(())
    }

    /// The authorizer.
    pub fn authorizer(&self) -> &Authorizer {
        &self.authorizer
    }

    /// Tells long-running requests (watches) to end: the server is stopping.
    pub fn begin_shutdown(&self) {
        self.ready.store(false, Ordering::SeqCst);
        self.stopping.send_replace(true);
    }

    /// Marks the API ready (`/readyz` answers ok from then on).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    /// Registers the kernel's module supervisor: from then on module logs and the sources of
    /// built-in modules are served (503 before).
    pub fn set_module_host(&self, host: Arc<dyn ModuleHost>) {
        self.module_host.set(host);
    }

    /// Registers the node agent's pod logs: from then on `pods/log` is served (503 before).
    pub fn set_pod_log_host(&self, host: Arc<dyn PodLogHost>) {
        self.pod_log_host.set(host);
    }

    /// Registers the node agent's exec and attach: from then on `pods/exec` and `pods/attach`
    /// are served (503 before).
    pub fn set_pod_exec_host(&self, host: Arc<dyn PodExecHost>) {
        self.pod_exec_host.set(host);
    }

    /// Registers the node agent's port forwarding: from then on `pods/portforward` is
    /// served (503 before).
    pub fn set_pod_port_forward_host(&self, host: Arc<dyn PodPortForwardHost>) {
        self.port_forward_host.set(host);
    }

    /// Answers one request. `cert_user` is who the connection's client certificate names.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        cert_user: Option<User>,
    ) -> Response<Body> {
        let (parts, incoming) = req.into_parts();
        let routed = self.route(&parts);
        // The body is read before anything can fail: an answer sent while a request body is
        // still arriving is lost on some HTTP/2 clients.
        let body = read_body(incoming, body_limit(&routed)).await;
        self.answer(parts, routed, body, Caller::Network(cert_user))
            .await
    }

    /// Answers a request made inside the process (by the module sandbox) as `user`: the same
    /// routing, authorization, in-flight limits, admission and handlers as a request over
    /// the network, but no TLS, no authentication and no impersonation. A watch streams its
    /// events in the body as over HTTP.
    pub async fn handle_local(&self, req: Request<Bytes>, user: User) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let routed = self.route(&parts);
        let body = if body.len() > body_limit(&routed) {
            Err(too_large())
        } else {
            Ok(body)
        };
        self.answer(parts, routed, body, Caller::Local(user)).await
    }

    /// Answers a routed request whose body has been read, and logs it.
    async fn answer(
        &self,
        parts: http::request::Parts,
        routed: ApiResult<(Query, Route)>,
        body: ApiResult<Bytes>,
        caller: Caller,
    ) -> Response<Body> {
        let started = std::time::Instant::now();
        let local = matches!(caller, Caller::Local(_));
        let req = Request::from_parts(parts, ());
        let resp = match self.run(&req, routed, body, caller).await {
            Ok(resp) => resp,
            Err(err) => response::error(&err),
        };
        tracing::debug!(method = %req.method(), path = req.uri().path(), local, status = resp.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request");
        resp
    }

    /// The query and route of a request.
    fn route(&self, parts: &http::request::Parts) -> ApiResult<(Query, Route)> {
        let query = Query::parse(parts.uri.query())?;
        let route = route::route(
            &parts.method,
            parts.uri.path(),
            query.watch,
            self.storage.resources(),
        )
        .map_err(|e| match e {
            RouteError::NotFound => ApiError::path_not_found(),
            RouteError::MethodNotAllowed => ApiError::method_not_allowed(),
        })?;
        Ok((query, route))
    }

    async fn run(
        &self,
        req: &Request<()>,
        routed: ApiResult<(Query, Route)>,
        body: ApiResult<Bytes>,
        caller: Caller,
    ) -> ApiResult<Response<Body>> {
        let (query, route) = routed?;
        let resources = self.storage.resources();
        // Who is asking, as whom, and whether they may (authz::request maps any route).
        let user = match caller {
            Caller::Network(cert_user) => {
                let user = self
                    .authenticator
                    .authenticate(cert_user.as_ref(), req.headers(), &self.storage)
                    .await?;
                if user.is_anonymous() && !matches!(route, Route::Version | Route::Health(_)) {
                    return Err(auth::unauthorized());
                }
                impersonation::apply(user, req.headers(), &self.authorizer)?
            }
            Caller::Local(user) => user,
        };
        let action = authz::request::action(&route, req.method(), req.uri().path());
        self.authorizer.authorize(&user, &action)?;
        match &route {
            Route::Version => return Ok(response::json(StatusCode::OK, &version())),
            Route::Health(check) => return Ok(self.health(check)),
            _ => {}
        }
        let accept = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let aggregated = discovery::wants_aggregated(&accept);
        match route {
            Route::CoreVersions if aggregated => Ok(response::json_with_type(
                StatusCode::OK,
                &discovery::aggregated(true, &resources.all()),
                discovery::AGGREGATED_V2,
            )),
            Route::CoreVersions => Ok(response::json(
                StatusCode::OK,
                &discovery::core_versions(&self.server_address),
            )),
            Route::CoreResources => Ok(response::json(
                StatusCode::OK,
                &discovery::resource_list("", "v1", &resources.all()),
            )),
            Route::Groups if aggregated => Ok(response::json_with_type(
                StatusCode::OK,
                &discovery::aggregated(false, &resources.all()),
                discovery::AGGREGATED_V2,
            )),
            Route::Groups => Ok(response::json(
                StatusCode::OK,
                &discovery::groups(&resources.all()),
            )),
            Route::Group(g) => discovery::group_document(&g, &resources.all())
                .map(|doc| response::json(StatusCode::OK, &doc))
                .ok_or_else(ApiError::path_not_found),
            Route::GroupResources(g, v) => Ok(response::json(
                StatusCode::OK,
                &discovery::resource_list(&g, &v, &resources.all()),
            )),
            Route::OpenApiV3Index => self.openapi.v3_index(resources).await,
            Route::OpenApiV3(path) => {
                self.openapi
                    .v3(resources, &path, query.hash.as_deref(), req.headers())
                    .await
            }
            Route::OpenApiV2 => self.openapi.v2(resources, req.headers()).await,
            Route::Resource(rr) => {
                let _slot = self.admit(rr.verb)?;
                let ctx = Ctx {
                    storage: &self.storage,
                    user: &user,
                    authorizer: &self.authorizer,
                    authenticator: &self.authenticator,
                    rr: &rr,
                    query: &query,
                    headers: req.headers(),
                    format: Format::from_accept(&accept),
                    stopping: self.stopping.subscribe(),
                    warnings: Warnings::default(),
                    module_host: self.module_host.get(),
                    pod_log_host: self.pod_log_host.get(),
                    service_ranges: &self.service_ranges,
                    pod_exec_host: self.pod_exec_host.get(),
                    port_forward_host: self.port_forward_host.get(),
                    upgrade: req.extensions().get::<hyper::upgrade::OnUpgrade>().cloned(),
                };
                let mut resp = handlers::dispatch(&ctx, body?)
                    .await
                    .unwrap_or_else(|err| response::error(&err));
                ctx.warnings.write_to(resp.headers_mut());
                Ok(resp)
            }
            Route::Version | Route::Health(_) => Err(ApiError::path_not_found()),
        }
    }

    /// Takes an in-flight slot for a request (watches are long-running and exempt), or
    /// refuses it with 429 when the server is saturated.
    fn admit(&self, verb: Verb) -> ApiResult<Option<InFlight<'_>>> {
        let (counter, limit) = match verb {
            Verb::Watch => return Ok(None),
            Verb::Get | Verb::List => (&self.reads_in_flight, MAX_READS_IN_FLIGHT),
            _ => (&self.writes_in_flight, MAX_WRITES_IN_FLIGHT),
        };
        if counter.fetch_add(1, Ordering::SeqCst) >= limit {
            counter.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests, please try again later.",
            ));
        }
        Ok(Some(InFlight(counter)))
    }

    fn health(&self, check: &str) -> Response<Body> {
        let ready = self.ready.load(Ordering::SeqCst);
        if check.starts_with("readyz") && !ready {
            return response::text(
                StatusCode::SERVICE_UNAVAILABLE,
                "[-]kmicro-bootstrap failed: not finished\nreadyz check failed",
            );
        }
        response::text(StatusCode::OK, "ok")
    }
}

/// An in-flight slot, released on drop.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Who a request comes from.
enum Caller {
    /// A connection, with the user its client certificate names (if any); the request's
    /// credentials and impersonation headers say the rest.
    Network(Option<User>),
    /// Code in this process, acting as this user.
    Local(User),
}

/// The largest body the routed request may have: [`MAX_BODY`], more for module sources.
fn body_limit(routed: &ApiResult<(Query, Route)>) -> usize {
    match routed {
        Ok((_, Route::Resource(rr))) => {
            handlers::module::body_limit(rr.resource, rr.subresource.as_deref()).unwrap_or(MAX_BODY)
        }
        _ => MAX_BODY,
    }
}

/// 413 for a body over the limit.
fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        "the server has received a request that is too large",
    )
}

/// Reads a request body. More than `limit` bytes is 413; the excess is read and discarded
/// (up to a bound) so the client still sees the answer.
async fn read_body(mut body: Incoming, limit: usize) -> ApiResult<Bytes> {
    let mut buf = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len();
        if total <= limit {
            buf.extend_from_slice(&data);
        } else if total > limit.saturating_mul(4).max(DISCARD_LIMIT) {
            break;
        }
    }
    if total > limit {
        return Err(too_large());
    }
    Ok(Bytes::from(buf))
}

/// How much of an oversized body is read (and dropped) before giving up on the client.
const DISCARD_LIMIT: usize = 64 * MAX_BODY;

/// `/version`: Kubernetes 1.35 with a `+kmicro` suffix.
fn version() -> serde_json::Value {
    json!({
        "major": "1",
        "minor": "35",
        "gitVersion": format!("v1.35.0+kmicro.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("linux/{}", match std::env::consts::ARCH { "x86_64" => "amd64", "aarch64" => "arm64", "arm" => "arm", other => other }),
    })
}
