//! Who is asking (authentication).
//!
//! In order: a client certificate verified by the TLS layer against the client CA; a bearer
//! token from the static token file; a service-account token (a JWT this server signed, see
//! [`crate::service_accounts::tokens`]). A request with none of them is anonymous
//! (`system:anonymous` in `system:unauthenticated`), which the API answers only on its public
//! endpoints (`/version`, health) and with 401 elsewhere; a presented but invalid token is
//! always 401. Who may do what is [`crate::authz`]'s business.

use std::collections::BTreeMap;

use http::{HeaderMap, StatusCode, header};
use kmicro_pki::TokenFile;

use crate::error::{ApiError, ApiResult};
use crate::service_accounts::tokens::ServiceAccountTokens;
use crate::storage::Storage;

/// An authenticated user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    /// The user name (`system:admin`).
    pub name: String,
    /// A unique id, when the authenticator knows one (a service account's uid).
    pub uid: String,
    /// Groups, including `system:authenticated`.
    pub groups: Vec<String>,
    /// Extra attributes (`authentication.kubernetes.io/pod-name`, …).
    pub extra: BTreeMap<String, Vec<String>>,
}

/// The group every authenticated user is in.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The user name of requests without credentials.
pub const ANONYMOUS: &str = "system:anonymous";
/// The group of requests without credentials.
pub const UNAUTHENTICATED: &str = "system:unauthenticated";

impl User {
    /// A user from a verified identity, adding `system:authenticated`.
    pub fn new(name: String, mut groups: Vec<String>) -> Self {
        if !groups.iter().any(|g| g == AUTHENTICATED) {
            groups.push(AUTHENTICATED.into());
        }
        Self {
            name,
            groups,
            ..Self::default()
        }
    }

    /// Who a request without credentials is.
    pub fn anonymous() -> Self {
        Self {
            name: ANONYMOUS.into(),
            groups: vec![UNAUTHENTICATED.into()],
            ..Self::default()
        }
    }

    /// Whether this is the anonymous user.
    pub fn is_anonymous(&self) -> bool {
        self.name == ANONYMOUS
    }
}

/// The credentials the server accepts besides client certificates.
#[derive(Default)]
pub struct Authenticator {
    /// Static bearer tokens.
    pub tokens: Option<TokenFile>,
    /// Service-account tokens.
    pub service_accounts: Option<ServiceAccountTokens>,
}

impl Authenticator {
    /// Authenticates a request: the connection's client certificate wins; otherwise a bearer
    /// token; otherwise anonymous. A presented but unknown or invalid token is 401.
    pub async fn authenticate(
        &self,
        cert_user: Option<&User>,
        headers: &HeaderMap,
        storage: &Storage,
    ) -> ApiResult<User> {
        if let Some(user) = cert_user {
            return Ok(user.clone());
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Ok(User::anonymous());
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(unauthorized)?;
        self.authenticate_token(token, storage)
            .await?
            .ok_or_else(unauthorized)
    }

    /// Who `token` belongs to (`None` when it is not valid): a static token, or a
    /// service-account token that verifies and whose service account (and bound object)
    /// still exist.
    pub async fn authenticate_token(
        &self,
        token: &str,
        storage: &Storage,
    ) -> ApiResult<Option<User>> {
        if let Some(identity) = self.tokens.as_ref().and_then(|t| t.authenticate(token)) {
            return Ok(Some(User::new(identity.user, identity.groups)));
        }
        match &self.service_accounts {
            Some(sa) if kmicro_pki::looks_like_jwt(token) => sa.authenticate(token, storage).await,
            _ => Ok(None),
        }
    }
}

/// 401 Unauthorized.
pub fn unauthorized() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
}
