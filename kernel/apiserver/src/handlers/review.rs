//! The virtual review resources: created, answered, never stored.
//!
//! `authorization.k8s.io/v1`: SelfSubjectAccessReview (`kubectl auth can-i`),
//! SubjectAccessReview, LocalSubjectAccessReview and SelfSubjectRulesReview
//! (`kubectl auth can-i --list`), answered by the same authorizer as every request.
//! `authentication.k8s.io/v1`: SelfSubjectReview (`kubectl auth whoami`) and TokenReview.

use std::collections::BTreeMap;

use http::{Response, StatusCode};
use k8s_openapi::api::authentication::v1::{
    SelfSubjectReview, SelfSubjectReviewStatus, TokenReview, TokenReviewStatus, UserInfo,
};
use k8s_openapi::api::authorization::v1::{
    LocalSubjectAccessReview, NonResourceAttributes, NonResourceRule, ResourceAttributes,
    ResourceRule, SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview,
    SubjectAccessReviewStatus, SubjectRulesReviewStatus,
};
use kmicro_apimachinery::rbac::{Action, NonResourceAction, ResourceAction};
use kmicro_apimachinery::status::Cause;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Ctx, object_body};
use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::response::{self, Body};
use crate::service_accounts::tokens::ISSUER;

/// POST of a review: decodes it, fills its status, answers 201 with it.
pub(super) async fn create(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Response<Body>> {
    let obj = object_body(ctx, body)?;
    match ctx.resource().kind {
        "SelfSubjectAccessReview" => {
            let mut review: SelfSubjectAccessReview = decode(ctx, obj)?;
            let action = access_action(
                ctx,
                review.spec.resource_attributes.as_ref(),
                review.spec.non_resource_attributes.as_ref(),
            )?;
            review.status = Some(access_status(ctx, ctx.user, &action));
            created(&review)
        }
        "SubjectAccessReview" => {
            let mut review: SubjectAccessReview = decode(ctx, obj)?;
            let spec = &review.spec;
            let action = access_action(
                ctx,
                spec.resource_attributes.as_ref(),
                spec.non_resource_attributes.as_ref(),
            )?;
            let user = reviewed_user(ctx, &spec.user, &spec.groups, &spec.uid, &spec.extra)?;
            review.status = Some(access_status(ctx, &user, &action));
            created(&review)
        }
        "LocalSubjectAccessReview" => {
            let mut review: LocalSubjectAccessReview = decode(ctx, obj)?;
            let spec = &review.spec;
            let ns = ctx.namespace().unwrap_or("");
            if spec.non_resource_attributes.is_some() {
                return Err(invalid(
                    ctx,
                    Cause::new(
                        "FieldValueInvalid",
                        "spec.nonResourceAttributes",
                        "Invalid value: \"\": disallowed on this kind of request",
                    ),
                ));
            }
            if let Some(attrs) = &spec.resource_attributes
                && attrs.namespace.as_deref().unwrap_or("") != ns
            {
                return Err(invalid(
                    ctx,
                    Cause::invalid(
                        "spec.resourceAttributes.namespace",
                        attrs.namespace.as_deref().unwrap_or(""),
                        "must match metadata.namespace",
                    ),
                ));
            }
            let action = access_action(ctx, spec.resource_attributes.as_ref(), None)?;
            let user = reviewed_user(ctx, &spec.user, &spec.groups, &spec.uid, &spec.extra)?;
            review.status = Some(access_status(ctx, &user, &action));
            created(&review)
        }
        "SelfSubjectRulesReview" => {
            let mut review: SelfSubjectRulesReview = decode(ctx, obj)?;
            let ns = review.spec.namespace.clone().unwrap_or_default();
            review.status = Some(rules_status(ctx, &ns));
            created(&review)
        }
        "SelfSubjectReview" => {
            let mut review: SelfSubjectReview = decode(ctx, obj)?;
            review.status = Some(SelfSubjectReviewStatus {
                user_info: Some(user_info(ctx.user)),
            });
            created(&review)
        }
        "TokenReview" => {
            let mut review: TokenReview = decode(ctx, obj)?;
            let token = review.spec.token.clone().unwrap_or_default();
            if token.is_empty() {
                return Err(invalid(
                    ctx,
                    Cause::new(
                        "FieldValueRequired",
                        "spec.token",
                        "Required value: token must not be empty",
                    ),
                ));
            }
            let user = ctx
                .authenticator
                .authenticate_token(&token, ctx.storage)
                .await?;
            let audiences = review
                .spec
                .audiences
                .clone()
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| vec![ISSUER.to_string()]);
            review.status = Some(match user {
                Some(user) => TokenReviewStatus {
                    authenticated: Some(true),
                    user: Some(user_info(&user)),
                    audiences: Some(audiences),
                    error: None,
                },
                None => TokenReviewStatus {
                    authenticated: Some(false),
                    ..Default::default()
                },
            });
            created(&review)
        }
        other => Err(ApiError::internal(format!("no review handler for {other}"))),
    }
}

/// Decodes a review body as its kind, without its status (400 on type errors, as for every
/// kind).
fn decode<T: DeserializeOwned>(ctx: &Ctx<'_>, mut obj: serde_json::Value) -> ApiResult<T> {
    let r = ctx.resource();
    if let Some(map) = obj.as_object_mut() {
        map.insert("apiVersion".into(), r.api_version().into());
        map.insert("kind".into(), r.kind.into());
        // The status is the answer: whatever the client sent (a protobuf body carries an
        // empty one) is replaced.
        map.remove("status");
    }
    serde_json::from_value(obj).map_err(|e| {
        ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {e}",
            kind = r.kind,
            version = r.version
        ))
    })
}

fn created<T: Serialize>(review: &T) -> ApiResult<Response<Body>> {
    let value = serde_json::to_value(review)
        .map_err(|e| ApiError::internal(format!("encoding the review: {e}")))?;
    Ok(response::json(StatusCode::CREATED, &value))
}

/// 422 for a review.
fn invalid(ctx: &Ctx<'_>, cause: Cause) -> ApiError {
    ApiError::invalid(ctx.resource(), "", vec![cause])
}

/// The action a review asks about: exactly one of resource and non-resource attributes.
fn access_action(
    ctx: &Ctx<'_>,
    resource: Option<&ResourceAttributes>,
    non_resource: Option<&NonResourceAttributes>,
) -> ApiResult<Action> {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    match (resource, non_resource) {
        (Some(r), None) => Ok(Action::Resource(ResourceAction {
            verb: s(&r.verb),
            namespace: s(&r.namespace),
            group: s(&r.group),
            resource: s(&r.resource),
            subresource: s(&r.subresource),
            name: s(&r.name),
        })),
        (None, Some(n)) => Ok(Action::NonResource(NonResourceAction {
            verb: s(&n.verb),
            path: s(&n.path),
        })),
        (Some(_), Some(_)) => Err(invalid(
            ctx,
            Cause::new(
                "FieldValueInvalid",
                "spec.nonResourceAttributes",
                "Invalid value: \"\": cannot be specified in combination with resourceAttributes",
            ),
        )),
        (None, None) => Err(invalid(
            ctx,
            Cause::new(
                "FieldValueRequired",
                "spec.resourceAttributes",
                "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
            ),
        )),
    }
}

/// The user a (Local)SubjectAccessReview asks about, as given (no groups added).
fn reviewed_user(
    ctx: &Ctx<'_>,
    name: &Option<String>,
    groups: &Option<Vec<String>>,
    uid: &Option<String>,
    extra: &Option<BTreeMap<String, Vec<String>>>,
) -> ApiResult<User> {
    let name = name.clone().unwrap_or_default();
    let groups = groups.clone().unwrap_or_default();
    if name.is_empty() && groups.is_empty() {
        return Err(invalid(
            ctx,
            Cause::invalid(
                "spec.user",
                "",
                "at least one of user or group must be specified",
            ),
        ));
    }
    Ok(User {
        name,
        uid: uid.clone().unwrap_or_default(),
        groups,
        extra: extra.clone().unwrap_or_default(),
    })
}

fn access_status(ctx: &Ctx<'_>, user: &User, action: &Action) -> SubjectAccessReviewStatus {
    let decision = ctx.authorizer.decide(user, action);
    let text = |s: String| (!s.is_empty()).then_some(s);
    SubjectAccessReviewStatus {
        allowed: decision.allowed,
        denied: None,
        reason: text(decision.reason),
        evaluation_error: text(decision.evaluation_error),
    }
}

fn rules_status(ctx: &Ctx<'_>, namespace: &str) -> SubjectRulesReviewStatus {
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    for rule in ctx.authorizer.rules_for(ctx.user, namespace) {
        if rule.is_non_resource() {
            non_resource_rules.push(NonResourceRule {
                verbs: rule.verbs.clone(),
                non_resource_urls: some(&rule.non_resource_urls),
            });
        } else {
            resource_rules.push(ResourceRule {
                verbs: rule.verbs.clone(),
                api_groups: some(&rule.api_groups),
                resources: some(&rule.resources),
                resource_names: some(&rule.resource_names),
            });
        }
    }
    SubjectRulesReviewStatus {
        resource_rules,
        non_resource_rules,
        incomplete: false,
        evaluation_error: None,
    }
}

fn user_info(user: &User) -> UserInfo {
    UserInfo {
        username: Some(user.name.clone()),
        uid: (!user.uid.is_empty()).then(|| user.uid.clone()),
        groups: Some(user.groups.clone()),
        extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
    }
}
