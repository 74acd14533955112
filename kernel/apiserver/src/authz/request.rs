//! What a routed request asks to do, in the authorizer's terms (kube's `RequestInfo`):
//! resource requests by verb, group, resource, subresource, namespace and name; every other
//! path (discovery, `/version`, health, OpenAPI) as a non-resource action with the
//! lower-cased HTTP method as its verb.

use http::Method;
use kmicro_apimachinery::rbac::{Action, NonResourceAction, ResourceAction};

use crate::route::{ResourceRequest, Route};

/// The action of a request routed to `route`, made with `method` on `path`.
pub fn action(route: &Route, method: &Method, path: &str) -> Action {
    match route {
        Route::Resource(rr) => resource_action(rr),
        _ => Action::NonResource(NonResourceAction {
            verb: method.as_str().to_ascii_lowercase(),
            path: path.to_string(),
        }),
    }
}

/// The action of a resource request.
pub fn resource_action(rr: &ResourceRequest) -> Action {
    Action::Resource(ResourceAction {
        verb: rr.verb.as_str().to_string(),
        namespace: rr.namespace.clone().unwrap_or_default(),
        group: rr.resource.group.to_string(),
        resource: rr.resource.plural.to_string(),
        subresource: rr.subresource.clone().unwrap_or_default(),
        name: rr.name.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route;

    #[test]
    fn resource_and_non_resource_requests() {
        let path = "/apis/apps/v1/namespaces/default/deployments/web/scale";
        let r = route::route(&Method::PATCH, path, false).unwrap();
        let Action::Resource(a) = action(&r, &Method::PATCH, path) else {
            panic!("a resource request");
        };
        assert_eq!(
            (
                a.verb.as_str(),
                a.group.as_str(),
                a.resource.as_str(),
                a.subresource.as_str()
            ),
            ("patch", "apps", "deployments", "scale")
        );
        assert_eq!((a.namespace.as_str(), a.name.as_str()), ("default", "web"));
        let r = route::route(&Method::GET, "/apis", false).unwrap();
        assert_eq!(
            action(&r, &Method::GET, "/apis"),
            Action::NonResource(NonResourceAction {
                verb: "get".into(),
                path: "/apis".into()
            })
        );
    }
}
