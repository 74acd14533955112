//! `serviceaccounts/token`: the TokenRequest API (`kubectl create token NAME --duration`).
//! The answer carries a signed service-account token for the account, bound to a pod or
//! secret when the request names one; nothing is stored.

use http::{Response, StatusCode};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestStatus};
use kmicro_apimachinery::rbac::subject;
use kmicro_apimachinery::registry;
use kmicro_apimachinery::status::Cause;
use serde_json::json;

use super::{Ctx, object_body};
use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::response::{self, Body};
use crate::service_accounts::tokens::{Claims, ISSUER, KubernetesClaim, ObjectClaim};

/// A token's lifetime when the request names none (kube's default).
const DEFAULT_SECONDS: i64 = 3600;
/// The shortest lifetime kube issues.
const MIN_SECONDS: i64 = 600;
/// The longest (2^32 seconds).
const MAX_SECONDS: i64 = 1 << 32;

/// POST `…/serviceaccounts/NAME/token`.
pub(super) async fn create(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Response<Body>> {
    let Some(tokens) = &ctx.authenticator.service_accounts else {
        return Err(ApiError::internal(
            "this server has no service-account token key",
        ));
    };
    let (ns, name) = (ctx.namespace().unwrap_or(""), ctx.name());
    let sa = ctx
        .storage
        .get(ctx.resource(), Some(ns), name)
        .await?
        .ok_or_else(|| ApiError::not_found(ctx.resource(), name))?;
    let mut body = object_body(ctx, body)?;
    // What a client says the status is does not matter (a protobuf body carries an empty one).
    if let Some(map) = body.as_object_mut() {
        map.remove("status");
    }
    let mut request: TokenRequest = serde_json::from_value(body).map_err(|e| {
        ApiError::bad_request(format!(
            "TokenRequest in version \"v1\" cannot be handled as a TokenRequest: {e}"
        ))
    })?;
    let spec = &mut request.spec;
    if spec.audiences.is_empty() {
        spec.audiences = vec![ISSUER.to_string()];
    }
    let seconds = *spec.expiration_seconds.get_or_insert(DEFAULT_SECONDS);
    if seconds < MIN_SECONDS {
        return Err(invalid(
            name,
            Cause::new(
                "FieldValueInvalid",
                "spec.expirationSeconds",
                format!(
                    "Invalid value: {seconds}: may not specify a duration less than 10 minutes"
                ),
            ),
        ));
    }
    if seconds > MAX_SECONDS {
        return Err(invalid(
            name,
            Cause::new(
                "FieldValueTooLong",
                "spec.expirationSeconds",
                "Too long: may not specify a duration larger than 2^32 seconds",
            ),
        ));
    }
    let mut claim = KubernetesClaim {
        namespace: ns.to_string(),
        serviceaccount: ObjectClaim {
            name: name.to_string(),
            uid: object::meta_str(&sa.obj, "uid").unwrap_or("").to_string(),
        },
        pod: None,
        secret: None,
    };
    if let Some(bound) = &spec.bound_object_ref {
        let (plural, kind) = match (
            bound.api_version.as_deref().unwrap_or("v1"),
            bound.kind.as_deref().unwrap_or(""),
        ) {
            ("v1", "Pod") => ("pods", "Pod"),
            ("v1", "Secret") => ("secrets", "Secret"),
            (v, k) => {
                return Err(ApiError::bad_request(format!(
                    "cannot bind token to object of type {v}, Kind={k}"
                )));
            }
        };
        let r = registry::find("", "v1", plural).expect("core resources are built in");
        let bound_name = bound.name.clone().unwrap_or_default();
        let object = ctx
            .storage
            .get(r, Some(ns), &bound_name)
            .await?
            .ok_or_else(|| ApiError::not_found(r, &bound_name))?;
        if kind == "Pod" {
            let pod_sa = object.obj["spec"]["serviceAccountName"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or("default");
            if pod_sa != name {
                return Err(ApiError::bad_request(format!(
                    "cannot bind token for serviceaccount {name:?} to pod running with different serviceaccount name."
                )));
            }
        }
        let uid = object::meta_str(&object.obj, "uid")
            .unwrap_or("")
            .to_string();
        if bound
            .uid
            .as_deref()
            .is_some_and(|want| !want.is_empty() && want != uid)
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {kind} {bound_name:?}: the UID in the bound object reference ({}) does not match the UID in record. The object might have been deleted and then recreated",
                    bound.uid.as_deref().unwrap_or("")
                ),
            ));
        }
        let claimed = Some(ObjectClaim {
            name: bound_name,
            uid,
        });
        if kind == "Pod" {
            claim.pod = claimed;
        } else {
            claim.secret = claimed;
        }
    }
    let now = jiff::Timestamp::now().as_second();
    let claims = Claims {
        aud: spec.audiences.clone(),
        exp: now + seconds,
        iat: now,
        iss: ISSUER.to_string(),
        jti: uuid::Uuid::new_v4().to_string(),
        kubernetes: claim,
        nbf: now,
        sub: subject::service_account_user(ns, name),
    };
    let token = tokens.issue(&claims)?;
    let expires = jiff::Timestamp::from_second(claims.exp)
        .map_err(|e| ApiError::internal(format!("token expiry: {e}")))?;
    request.metadata.name = Some(name.to_string());
    request.metadata.namespace = Some(ns.to_string());
    request.status = Some(TokenRequestStatus {
        token,
        expiration_timestamp: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(expires),
    });
    let mut answer = serde_json::to_value(&request)
        .map_err(|e| ApiError::internal(format!("encoding the TokenRequest: {e}")))?;
    answer["metadata"]["creationTimestamp"] = json!(null);
    Ok(response::json(StatusCode::CREATED, &answer))
}

/// kube's 422 for a TokenRequest.
fn invalid(name: &str, cause: Cause) -> ApiError {
    let mut err = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        format!(
            "TokenRequest.authentication.k8s.io {name:?} is invalid: {}: {}",
            cause.field, cause.message
        ),
    );
    err.details = Some(json!({
        "name": name,
        "group": "authentication.k8s.io",
        "kind": "TokenRequest",
        "causes": [cause],
    }));
    err
}
