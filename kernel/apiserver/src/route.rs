//! Mapping a request path and method to what it asks for.

use http::Method;
use kmicro_apimachinery::registry::{self, ResourceInfo};

use crate::resources::Resources;

/// What a request is for.
#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    /// `/version`
    Version,
    /// `/healthz`, `/livez`, `/readyz` (and their sub-checks).
    Health(String),
    /// `/api`
    CoreVersions,
    /// `/api/v1`
    CoreResources,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/apis/<group>/<version>`
    GroupResources(String, String),
    /// `/openapi/v3`: the index of the OpenAPI v3 documents.
    OpenApiV3Index,
    /// `/openapi/v3/<path>`: one OpenAPI v3 document (`api/v1`, `apis/apps/v1`, …).
    OpenApiV3(String),
    /// `/openapi/v2`: the Swagger 2.0 document.
    OpenApiV2,
    /// A request on a resource.
    Resource(ResourceRequest),
}

/// The verbs of resource requests (kube's authorization verbs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// Read one object.
    Get,
    /// Read a collection.
    List,
    /// Stream changes to a collection (or one object).
    Watch,
    /// POST to a collection.
    Create,
    /// PUT an object.
    Update,
    /// PATCH an object.
    Patch,
    /// DELETE an object.
    Delete,
    /// DELETE a collection.
    DeleteCollection,
}

impl Verb {
    /// The verb's name in discovery and authorization.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

/// A request on a resource, a collection or a subresource.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceRequest {
    /// The resource.
    pub resource: &'static ResourceInfo,
    /// The namespace in the path, if any.
    pub namespace: Option<String>,
    /// The object's name, for requests on one object.
    pub name: Option<String>,
    /// `status` or `scale`.
    pub subresource: Option<String>,
    /// The verb.
    pub verb: Verb,
}

/// Why a path or method was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No such endpoint (404).
    NotFound,
    /// The endpoint exists but not for this method (405).
    MethodNotAllowed,
}

/// Routes `path` (no query) for `method` to one of the served `resources`; `watch` is the
/// `watch` query parameter.
pub fn route(
    method: &Method,
    path: &str,
    watch: bool,
    resources: &Resources,
) -> Result<Route, RouteError> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segments.as_slice() {
        ["version"] => Ok(Route::Version),
        [first, rest @ ..] if matches!(*first, "healthz" | "livez" | "readyz") => {
            Ok(Route::Health(format!(
                "{first}{}",
                rest.iter().map(|s| format!("/{s}")).collect::<String>()
            )))
        }
        ["api"] => Ok(Route::CoreVersions),
        ["api", "v1"] => Ok(Route::CoreResources),
        ["api", "v1", rest @ ..] => resource_route(method, "", "v1", rest, watch, resources),
        ["apis"] => Ok(Route::Groups),
        ["apis", group] => Ok(Route::Group((*group).to_string())),
        ["apis", group, version] => {
            if resources.group_versions().contains(&(*group, *version)) {
                Ok(Route::GroupResources(
                    (*group).to_string(),
                    (*version).to_string(),
                ))
            } else {
                Err(RouteError::NotFound)
            }
        }
        ["apis", group, version, rest @ ..] => {
            resource_route(method, group, version, rest, watch, resources)
        }
        ["openapi", ..] if *method != Method::GET => Err(RouteError::MethodNotAllowed),
        ["openapi", "v3"] => Ok(Route::OpenApiV3Index),
        ["openapi", "v3", rest @ ..] => Ok(Route::OpenApiV3(rest.join("/"))),
        ["openapi", "v2"] => Ok(Route::OpenApiV2),
        _ => Err(RouteError::NotFound),
    }
}

fn resource_route(
    method: &Method,
    group: &str,
    version: &str,
    rest: &[&str],
    watch: bool,
    resources: &Resources,
) -> Result<Route, RouteError> {
    // `namespaces/<ns>/<resource>…` unless it is the namespace object itself.
    let (namespace, rest) = match rest {
        ["namespaces", ns, resource, tail @ ..]
            if !(group.is_empty() && matches!(*resource, "status" | "finalize")) =>
        {
            (Some((*ns).to_string()), {
                let mut v = vec![*resource];
                v.extend_from_slice(tail);
                v
            })
        }
        other => (None, other.to_vec()),
    };
    let (plural, name, subresource) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some((*name).to_string()), None),
        [plural, name, sub] => (*plural, Some((*name).to_string()), Some((*sub).to_string())),
        _ => return Err(RouteError::NotFound),
    };
    let resource = match resources.find(group, version, plural) {
        Some(resource) => resource,
        // `POST /api/v1/namespaces/<ns>/bindings`: the Binding names the pod.
        None if (group, version) == ("", "v1") && plural == registry::LEGACY_BINDINGS.plural => {
            &registry::LEGACY_BINDINGS
        }
        None => return Err(RouteError::NotFound),
    };
    // A cluster-scoped resource never has a namespace; a namespaced one is addressed without a
    // namespace only to list or watch across all namespaces (checked below).
    if !resource.namespaced && namespace.is_some()
        || resource.namespaced && namespace.is_none() && name.is_some()
    {
        return Err(RouteError::NotFound);
    }
    // Subresources with verbs of their own (`serviceaccounts/token`: create only).
    let other = match subresource.as_deref() {
        None => None,
        Some("status") if resource.status => None,
        Some("scale") if resource.scale => None,
        Some(sub) => Some(
            resource
                .other_subresources()
                .iter()
                .find(|o| o.name == sub)
                .ok_or(RouteError::NotFound)?,
        ),
    };
    let verb = match (method, name.is_some(), subresource.is_some()) {
        (&Method::POST, true, true) if other.is_some() => Verb::Create,
        // A connect subresource's WebSocket upgrade (kube-apiserver 1.30+).
        (&Method::GET, true, true) if other.is_some_and(|o| o.is_connect()) => Verb::Create,
        (&Method::GET, true, _) if watch => Verb::Watch,
        (&Method::GET, true, _) => Verb::Get,
        (&Method::GET, false, _) if watch => Verb::Watch,
        (&Method::GET, false, _) => Verb::List,
        (&Method::POST, false, false) => Verb::Create,
        (&Method::PUT, true, _) => Verb::Update,
        (&Method::PATCH, true, _) => Verb::Patch,
        (&Method::DELETE, true, false) => Verb::Delete,
        (&Method::DELETE, false, false) => Verb::DeleteCollection,
        _ => return Err(RouteError::MethodNotAllowed),
    };
    if resource.namespaced && namespace.is_none() && !matches!(verb, Verb::List | Verb::Watch) {
        return Err(RouteError::NotFound);
    }
    // Virtual resources (access and token reviews) and such subresources: their verbs only.
    let verbs = other.map_or(resource.verbs(), |o| o.verbs);
    if !verbs.contains(&verb.as_str()) {
        return Err(RouteError::MethodNotAllowed);
    }
    Ok(Route::Resource(ResourceRequest {
        resource,
        namespace,
        name,
        subresource,
        verb,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Routes among the built-in resources.
    fn route(method: &Method, path: &str, watch: bool) -> Result<Route, RouteError> {
        super::route(method, path, watch, &Resources::new())
    }

    fn resource(method: Method, path: &str) -> ResourceRequest {
        match route(&method, path, false) {
            Ok(Route::Resource(r)) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn namespaced_and_cluster_paths() {
        let r = resource(Method::GET, "/api/v1/namespaces/default/pods/web");
        assert_eq!(
            (
                r.resource.plural,
                r.namespace.as_deref(),
                r.name.as_deref(),
                r.verb
            ),
            ("pods", Some("default"), Some("web"), Verb::Get)
        );
        let r = resource(Method::GET, "/api/v1/pods");
        assert_eq!((r.namespace, r.verb), (None, Verb::List));
        let r = resource(Method::GET, "/api/v1/namespaces/kube-system");
        assert_eq!(
            (r.resource.plural, r.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let r = resource(Method::PUT, "/api/v1/namespaces/kube-system/status");
        assert_eq!(
            (r.resource.plural, r.subresource.as_deref()),
            ("namespaces", Some("status"))
        );
        let r = resource(
            Method::PATCH,
            "/apis/apps/v1/namespaces/default/deployments/web/scale",
        );
        assert_eq!(
            (r.subresource.as_deref(), r.verb),
            (Some("scale"), Verb::Patch)
        );
        let r = resource(Method::DELETE, "/api/v1/namespaces/default/configmaps");
        assert_eq!(r.verb, Verb::DeleteCollection);
    }

    #[test]
    fn refusals() {
        assert_eq!(
            route(&Method::GET, "/api/v1/namespaces/default/nodes/n1", false),
            Err(RouteError::NotFound)
        );
        assert_eq!(
            route(
                &Method::GET,
                "/api/v1/namespaces/default/pods/web/scale",
                false
            ),
            Err(RouteError::NotFound)
        );
        assert_eq!(
            route(&Method::GET, "/apis/nope/v1/things", false),
            Err(RouteError::NotFound)
        );
        assert_eq!(
            route(&Method::POST, "/api/v1/namespaces/default/pods/web", false),
            Err(RouteError::MethodNotAllowed)
        );
        assert_eq!(
            route(
                &Method::GET,
                "/api/v1/namespaces/default/pods/web/log/extra",
                false
            ),
            Err(RouteError::NotFound)
        );
    }

    #[test]
    fn reviews_and_token_requests_are_create_only() {
        let r = resource(
            Method::POST,
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        );
        assert_eq!(r.verb, Verb::Create);
        assert_eq!(
            route(
                &Method::GET,
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                false
            ),
            Err(RouteError::MethodNotAllowed)
        );
        let r = resource(
            Method::POST,
            "/api/v1/namespaces/default/serviceaccounts/builder/token",
        );
        assert_eq!(
            (r.verb, r.subresource.as_deref()),
            (Verb::Create, Some("token"))
        );
        assert_eq!(
            route(
                &Method::GET,
                "/api/v1/namespaces/default/serviceaccounts/builder/token",
                false
            ),
            Err(RouteError::MethodNotAllowed)
        );
    }

    #[test]
    fn port_forward_upgrades_are_creates() {
        let path = "/api/v1/namespaces/default/pods/web/portforward";
        // kubectl's WebSocket GET, authorized as kube-apiserver 1.30+ does; the SPDY POST.
        for method in [Method::GET, Method::POST] {
            let r = resource(method, path);
            assert_eq!(
                (r.subresource.as_deref(), r.verb),
                (Some("portforward"), Verb::Create)
            );
        }
        assert!(matches!(
            route(&Method::PUT, path, false),
            Err(RouteError::MethodNotAllowed)
        ));
    }

    #[test]
    fn bindings_evictions_and_finalize() {
        let r = resource(Method::POST, "/api/v1/namespaces/default/pods/web/binding");
        assert_eq!(
            (r.resource.plural, r.subresource.as_deref(), r.verb),
            ("pods", Some("binding"), Verb::Create)
        );
        let r = resource(Method::POST, "/api/v1/namespaces/default/pods/web/eviction");
        assert_eq!(
            (r.subresource.as_deref(), r.verb),
            (Some("eviction"), Verb::Create)
        );
        let r = resource(Method::POST, "/api/v1/namespaces/default/bindings");
        assert_eq!(
            (r.resource.kind, r.namespace.as_deref(), r.name, r.verb),
            ("Binding", Some("default"), None, Verb::Create)
        );
        let r = resource(Method::PUT, "/api/v1/namespaces/gone/finalize");
        assert_eq!(
            (
                r.resource.plural,
                r.name.as_deref(),
                r.subresource.as_deref(),
                r.verb
            ),
            ("namespaces", Some("gone"), Some("finalize"), Verb::Update)
        );
        for (method, path) in [
            (Method::GET, "/api/v1/namespaces/default/pods/web/binding"),
            (Method::PUT, "/api/v1/namespaces/default/pods/web/eviction"),
            (Method::GET, "/api/v1/namespaces/default/bindings"),
            (Method::DELETE, "/api/v1/namespaces/default/bindings"),
            (Method::GET, "/api/v1/namespaces/gone/finalize"),
        ] {
            assert_eq!(
                route(&method, path, false),
                Err(RouteError::MethodNotAllowed),
                "{method} {path}"
            );
        }
        assert_eq!(
            route(&Method::POST, "/api/v1/bindings", false),
            Err(RouteError::NotFound)
        );
        assert_eq!(
            route(
                &Method::POST,
                "/apis/apps/v1/namespaces/default/bindings",
                false
            ),
            Err(RouteError::NotFound)
        );
    }

    #[test]
    fn watch_and_discovery() {
        assert_eq!(
            route(&Method::GET, "/api/v1/namespaces/default/pods", true).map(|r| matches!(
                r,
                Route::Resource(ResourceRequest {
                    verb: Verb::Watch,
                    ..
                })
            )),
            Ok(true)
        );
        assert_eq!(
            route(&Method::GET, "/apis/apps/v1", false),
            Ok(Route::GroupResources("apps".into(), "v1".into()))
        );
        assert_eq!(
            route(&Method::GET, "/readyz", false),
            Ok(Route::Health("readyz".into()))
        );
    }

    #[test]
    fn openapi() {
        assert_eq!(
            route(&Method::GET, "/openapi/v3", false),
            Ok(Route::OpenApiV3Index)
        );
        assert_eq!(
            route(&Method::GET, "/openapi/v3/apis/apps/v1", false),
            Ok(Route::OpenApiV3("apis/apps/v1".into()))
        );
        assert_eq!(
            route(&Method::GET, "/openapi/v2", false),
            Ok(Route::OpenApiV2)
        );
        assert_eq!(
            route(&Method::POST, "/openapi/v2", false),
            Err(RouteError::MethodNotAllowed)
        );
        assert_eq!(
            route(&Method::GET, "/openapi/v4", false),
            Err(RouteError::NotFound)
        );
    }
}
