//! What a request asks to do: kube's authorizer attributes, without the user.

use crate::text::go_quote as q;

/// An action on a resource (or a collection, or a subresource).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceAction {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`, or
    /// a special verb (`impersonate`, `bind`, `escalate`, …).
    pub verb: String,
    /// The namespace ("" at the cluster scope).
    pub namespace: String,
    /// The API group ("" for core).
    pub group: String,
    /// The resource's plural name.
    pub resource: String,
    /// The subresource ("" for none).
    pub subresource: String,
    /// The object's name ("" for collections).
    pub name: String,
}

/// An action on a path that is not a resource (`/healthz`, `/api`, `/openapi/v3`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NonResourceAction {
    /// The lower-cased HTTP method (`get`, `post`, …).
    pub verb: String,
    /// The request path.
    pub path: String,
}

/// Any action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// On a resource.
    Resource(ResourceAction),
    /// On a non-resource path.
    NonResource(NonResourceAction),
}

impl Action {
    /// The verb.
    pub fn verb(&self) -> &str {
        match self {
            Action::Resource(r) => &r.verb,
            Action::NonResource(n) => &n.verb,
        }
    }

    /// The namespace the action is in ("" for cluster-scope and non-resource actions).
    pub fn namespace(&self) -> &str {
        match self {
            Action::Resource(r) => &r.namespace,
            Action::NonResource(_) => "",
        }
    }

    /// kube's forbidden message for a user who may not do this, without the leading
    /// `<resource> is forbidden: ` (see [`Action::forbidden_prefix`]).
    pub fn denied_message(&self, user: &str) -> String {
        match self {
            Action::NonResource(n) => {
                format!("User {} cannot {} path {}", q(user), n.verb, q(&n.path))
            }
            Action::Resource(r) => {
                let resource = if r.subresource.is_empty() {
                    r.resource.clone()
                } else {
                    format!("{}/{}", r.resource, r.subresource)
                };
                let scope = if r.namespace.is_empty() {
                    "at the cluster scope".to_string()
                } else {
                    format!("in the namespace {}", q(&r.namespace))
                };
                format!(
                    "User {} cannot {} resource {} in API group {} {scope}",
                    q(user),
                    r.verb,
                    q(&resource),
                    q(&r.group)
                )
            }
        }
    }

    /// What kube's `NewForbidden` puts before the message: `forbidden`,
    /// `configmaps`, `deployments.apps "web"`, then ` is forbidden`.
    pub fn forbidden_prefix(&self) -> String {
        match self {
            Action::NonResource(_) => "forbidden".to_string(),
            Action::Resource(r) => {
                let qualified = if r.group.is_empty() {
                    r.resource.clone()
                } else {
                    format!("{}.{}", r.resource, r.group)
                };
                if r.name.is_empty() {
                    format!("{qualified} is forbidden")
                } else {
                    format!("{qualified} {} is forbidden", q(&r.name))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_messages_are_kubes() {
        let list = Action::Resource(ResourceAction {
            verb: "list".into(),
            namespace: "default".into(),
            resource: "configmaps".into(),
            ..Default::default()
        });
        assert_eq!(
            format!("{}: {}", list.forbidden_prefix(), list.denied_message("x")),
            "configmaps is forbidden: User \"x\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\""
        );
        let get = Action::Resource(ResourceAction {
            verb: "get".into(),
            group: "apps".into(),
            resource: "deployments".into(),
            subresource: "scale".into(),
            name: "web".into(),
            ..Default::default()
        });
        assert_eq!(
            format!("{}: {}", get.forbidden_prefix(), get.denied_message("x")),
            "deployments.apps \"web\" is forbidden: User \"x\" cannot get resource \"deployments/scale\" in API group \"apps\" at the cluster scope"
        );
        let path = Action::NonResource(NonResourceAction {
            verb: "get".into(),
            path: "/api".into(),
        });
        assert_eq!(
            format!("{}: {}", path.forbidden_prefix(), path.denied_message("x")),
            "forbidden: User \"x\" cannot get path \"/api\""
        );
    }
}
