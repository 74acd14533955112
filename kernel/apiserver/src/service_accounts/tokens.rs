//! Service-account tokens: issuing them (the TokenRequest API) and authenticating them.
//!
//! A token is an ES256 JWT with kube's claims: `iss`, `sub`
//! (`system:serviceaccount:<ns>:<name>`), `aud`, `exp`, `iat`, `nbf`, `jti`, and
//! `kubernetes.io` naming the namespace, the service account (name and uid) and the object
//! the token is bound to (a pod or a secret), if any. A token authenticates while its
//! signature, issuer, audience and lifetime check out and its service account (and bound
//! object) still exist with the uids it names; a token that did is trusted for 10 s without
//! checking again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use kmicro_apimachinery::rbac::subject;
use kmicro_apimachinery::registry;
use kmicro_pki::ServiceAccountKey;
use serde::{Deserialize, Serialize};

use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::storage::Storage;

/// kube's default issuer, which is also the default (and API server's) audience.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// Clock skew tolerated on `nbf` and `iat`.
const SKEW: i64 = 60;

/// A name and uid, as the `kubernetes.io` claim names objects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectClaim {
    /// The object's name.
    pub name: String,
    /// The object's uid.
    pub uid: String,
}

/// The `kubernetes.io` claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaim {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account.
    pub serviceaccount: ObjectClaim,
    /// The pod the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectClaim>,
    /// The secret the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectClaim>,
}

/// A token's claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Audiences.
    pub aud: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Issuer.
    pub iss: String,
    /// The token's id (`credential-id` in the user's extra).
    pub jti: String,
    /// What the token is for.
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaim,
    /// Not before.
    pub nbf: i64,
    /// The service account's user name.
    pub sub: String,
}

/// How long a token that authenticated is trusted without checking it again (kube-apiserver
/// caches successful token authentications for 10 s too): a deleted account's token may work
/// that much longer, and a client's requests cost one hash lookup instead of a signature
/// check and store reads each.
const CACHE_TTL: Duration = Duration::from_secs(10);
/// Tokens remembered at most (the cache is emptied when full).
const CACHE_ENTRIES: usize = 256;

/// Issues and checks service-account tokens.
pub struct ServiceAccountTokens {
    key: ServiceAccountKey,
    /// Recently authenticated tokens: who they are and until when that is trusted.
    cache: Mutex<HashMap<String, (User, Instant)>>,
}

impl ServiceAccountTokens {
    /// Tokens signed by `key`.
    pub fn new(key: ServiceAccountKey) -> Self {
        Self {
            key,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A signed token carrying `claims`.
    pub fn issue(&self, claims: &Claims) -> ApiResult<String> {
        let bytes = serde_json::to_vec(claims)
            .map_err(|e| ApiError::internal(format!("encoding token claims: {e}")))?;
        self.key
            .sign(&bytes)
            .map_err(|e| ApiError::internal(e.to_string()))
    }

    /// Who `token` authenticates as, or `None` when it is not a valid token of this server.
    pub async fn authenticate(&self, token: &str, storage: &Storage) -> ApiResult<Option<User>> {
        let now = Instant::now();
        if let Some((user, until)) = self.cache_lock().get(token)
            && *until > now
        {
            return Ok(Some(user.clone()));
        }
        let Some((user, expires)) = self.check(token, storage).await? else {
            return Ok(None);
        };
        let mut cache = self.cache_lock();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        let until = now + CACHE_TTL.min(Duration::from_secs(expires.max(0) as u64));
        cache.insert(token.to_string(), (user.clone(), until));
        Ok(Some(user))
    }

    fn cache_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (User, Instant)>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The full check of a token: who it is and how many seconds it has left.
    async fn check(&self, token: &str, storage: &Storage) -> ApiResult<Option<(User, i64)>> {
        let Some(claims) = self
            .key
            .verify(token)
            .and_then(|bytes| serde_json::from_slice::<Claims>(&bytes).ok())
        else {
            return Ok(None);
        };
        let now = jiff::Timestamp::now().as_second();
        if claims.iss != ISSUER
            || !claims.aud.iter().any(|a| a == ISSUER)
            || now >= claims.exp
            || claims.nbf > now + SKEW
            || claims.iat > now + SKEW
        {
            return Ok(None);
        }
        let k = &claims.kubernetes;
        if claims.sub != subject::service_account_user(&k.namespace, &k.serviceaccount.name)
            || !exists(storage, "serviceaccounts", &k.namespace, &k.serviceaccount).await?
        {
            return Ok(None);
        }
        let mut extra = BTreeMap::new();
        if let Some(pod) = &k.pod {
            if !exists(storage, "pods", &k.namespace, pod).await? {
                return Ok(None);
            }
            extra.insert(
                "authentication.kubernetes.io/pod-name".to_string(),
                vec![pod.name.clone()],
            );
            extra.insert(
                "authentication.kubernetes.io/pod-uid".to_string(),
                vec![pod.uid.clone()],
            );
        }
        if let Some(secret) = &k.secret
            && !exists(storage, "secrets", &k.namespace, secret).await?
        {
            return Ok(None);
        }
        extra.insert(
            "authentication.kubernetes.io/credential-id".to_string(),
            vec![format!("JTI={}", claims.jti)],
        );
        let mut user = User::new(claims.sub, subject::service_account_groups(&k.namespace));
        user.uid = k.serviceaccount.uid.clone();
        user.extra = extra;
        Ok(Some((user, claims.exp - now)))
    }
}

/// Whether the core object `plural` named by `claim` exists in `namespace` with the claimed
/// uid and is not being deleted.
async fn exists(
    storage: &Storage,
    plural: &str,
    namespace: &str,
    claim: &ObjectClaim,
) -> ApiResult<bool> {
    let r = registry::find("", "v1", plural).expect("core resources are built in");
    Ok(match storage.get(r, Some(namespace), &claim.name).await? {
        Some(stored) => {
            object::meta_str(&stored.obj, "uid") == Some(claim.uid.as_str())
                && !object::is_terminating(&stored.obj)
        }
        None => false,
    })
}
