//! Who is asking (authentication) and whether they may (authorization).
//!
//! Authentication: a client certificate verified by the TLS layer against the client CA, or a
//! bearer token from the static token file. Requests with neither are anonymous and get 401,
//! except on the public endpoints. Authorization, until RBAC lands: members of
//! `system:masters` may do anything; everyone else gets 403.

use http::{HeaderMap, StatusCode, header};
use kmicro_pki::TokenFile;

use crate::error::{ApiError, qualified};
use crate::route::ResourceRequest;

/// An authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user name (`system:admin`).
    pub name: String,
    /// Groups, including `system:authenticated`.
    pub groups: Vec<String>,
}

impl User {
    /// A user from a verified identity, adding `system:authenticated`.
    pub fn new(name: String, mut groups: Vec<String>) -> Self {
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".into());
        }
        Self { name, groups }
    }
}

/// The group whose members are authorized for everything.
pub const MASTERS: &str = "system:masters";

/// Authenticates a request: the connection's client certificate wins; otherwise a bearer
/// token. `Ok(None)` means anonymous; a presented but unknown token is 401.
pub fn authenticate(
    cert_user: Option<&User>,
    headers: &HeaderMap,
    tokens: Option<&TokenFile>,
) -> Result<Option<User>, ApiError> {
    if let Some(user) = cert_user {
        return Ok(Some(user.clone()));
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    match (token, tokens) {
        (Some(token), Some(tokens)) => match tokens.authenticate(token) {
            Some(identity) => Ok(Some(User::new(identity.user, identity.groups))),
            None => Err(unauthorized()),
        },
        _ => Err(unauthorized()),
    }
}

/// 401 Unauthorized.
pub fn unauthorized() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
}

/// Decides whether `user` may make the request; the error is kube's 403.
pub fn authorize(user: &User, req: &ResourceRequest) -> Result<(), ApiError> {
    if user.groups.iter().any(|g| g == MASTERS) {
        return Ok(());
    }
    let resource = match &req.subresource {
        Some(sub) => format!("{}/{sub}", req.resource.plural),
        None => req.resource.plural.to_string(),
    };
    let mut message = format!(
        "{} is forbidden: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\"",
        match &req.name {
            Some(name) => format!("{} \"{name}\"", qualified(req.resource)),
            None => qualified(req.resource),
        },
        user.name,
        req.verb.as_str(),
        req.resource.group,
    );
    match &req.namespace {
        Some(ns) => message.push_str(&format!(" in the namespace \"{ns}\"")),
        None if !req.resource.namespaced => {}
        None => message.push_str(" at the cluster scope"),
    }
    Err(ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Verb;
    use kmicro_apimachinery::registry;

    #[test]
    fn only_masters_are_authorized_and_the_message_is_kubes() {
        let admin = User::new("system:admin".into(), vec![MASTERS.into()]);
        let bob = User::new("bob".into(), vec![]);
        let req = ResourceRequest {
            resource: registry::find("", "v1", "configmaps").unwrap(),
            namespace: Some("default".into()),
            name: None,
            subresource: None,
            verb: Verb::List,
        };
        assert!(authorize(&admin, &req).is_ok());
        let err = authorize(&bob, &req).unwrap_err();
        assert_eq!(err.code, StatusCode::FORBIDDEN);
        assert_eq!(
            err.message,
            "configmaps is forbidden: User \"bob\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\""
        );
    }

    #[test]
    fn certificates_win_and_unknown_tokens_are_401() {
        let admin = User::new("system:admin".into(), vec![MASTERS.into()]);
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Bearer nope".parse().unwrap());
        assert_eq!(
            authenticate(Some(&admin), &headers, None).unwrap(),
            Some(admin.clone())
        );
        assert_eq!(
            authenticate(None, &headers, None).unwrap_err().code,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(authenticate(None, &HeaderMap::new(), None).unwrap(), None);
    }
}
