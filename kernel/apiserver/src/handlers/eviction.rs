//! `pods/<name>/eviction`: a `policy/v1` (or `v1beta1`) Eviction deletes the pod with the
//! Eviction's DeleteOptions when the pod's PodDisruptionBudget allows a disruption, as kube's
//! EvictionREST does: a pod that is finished, pending or already being deleted goes at once;
//! otherwise the one budget selecting it must allow a disruption (429 when
//! `status.disruptionsAllowed` is 0 or the budget's status is behind its spec), which the
//! eviction takes (`disruptionsAllowed` decremented, the pod recorded in `disruptedPods`)
//! before deleting. An unready pod goes without taking from the budget when the budget is
//! healthy anyway (or its `unhealthyPodEvictionPolicy` is `AlwaysAllow`), provided the pod has
//! not changed since it was read.

use http::{Response, StatusCode};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kmicro_apimachinery::registry::{self, ResourceInfo};
use kmicro_apimachinery::rules;
use serde_json::{Value, json};

use super::delete::{DeleteOptions, delete_named, timestamp};
use super::{Ctx, object_body};
use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::response::{self, Body};
use crate::storage::{Stored, Write};

/// How often a step is retried when the pod or the budget changes underneath it.
const RETRIES: usize = 5;

/// More unconfirmed evictions than this in a budget's `disruptedPods` refuse further ones.
const MAX_DISRUPTED_PODS: usize = 2000;

/// POST an Eviction.
pub(super) async fn create(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Response<Body>> {
    let eviction = eviction_body(ctx, body)?;
    let name = ctx.name();
    let base = DeleteOptions {
        dry_run: ctx.query.dry_run,
        ..Default::default()
    };
    let original = base.with_body(eviction.get("deleteOptions").unwrap_or(&Value::Null))?;
    let rv_given = original.precondition_rv.is_some();

    // A pod that has finished, has not started or is already going needs no budget.
    let mut attempt = 0;
    let pod = loop {
        attempt += 1;
        let pod = ctx
            .storage
            .get(ctx.resource(), ctx.namespace(), name)
            .await?
            .ok_or_else(|| ApiError::not_found(ctx.resource(), name))?;
        if !can_ignore_budget(&pod.obj) {
            break pod;
        }
        let mut opts = original.clone();
        if enforces_resource_version(&pod.obj) && !rv_given {
            opts.precondition_rv = Some(pod.revision.to_string());
        }
        match delete_named(ctx, name, &opts).await {
            Ok(_) => return Ok(success()),
            Err(err) if is_conflict(&err) && !rv_given && attempt < RETRIES => continue,
            Err(err) => return Err(err),
        }
    };

    let mut opts = original.clone();
    let mut pinned_to = None;
    let budgets = budgets_of(ctx, &pod.obj).await?;
    match budgets.as_slice() {
        [] => {}
        [(stored, budget)] => {
            let budget_name = object::name(&stored.obj).to_string();
            if unready_may_go(budget, is_ready(&pod.obj)) {
                opts.precondition_rv = Some(pod.revision.to_string());
                pinned_to = Some(budget_name);
            } else {
                take_disruption(ctx, stored.clone(), name, original.dry_run).await?;
            }
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
    }
    match delete_named(ctx, name, &opts).await {
        Ok(_) => Ok(success()),
        Err(err) if is_conflict(&err) && !rv_given && pinned_to.is_some() => Err(
            budget_still_processing(pinned_to.as_deref().unwrap_or_default()),
        ),
        Err(err) => Err(err),
    }
}

/// The Eviction in the body: JSON (no protobuf form yet), `policy/v1` or `policy/v1beta1`,
/// naming the pod of the URL.
fn eviction_body(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Value> {
    let mut eviction = object_body(ctx, body)?;
    let Some(map) = eviction.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), json!("policy/v1"));
        }
        Some("policy/v1" | "policy/v1beta1") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({other}) does not match the expected API version (policy/v1)"
            )));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("" | "Eviction") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({other}) does not match the expected kind (Eviction)"
            )));
        }
    }
    if object::name(&eviction) != ctx.name() {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    Ok(eviction)
}

/// kube's answer to an eviction that went through.
fn success() -> Response<Body> {
    response::json(
        StatusCode::CREATED,
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }),
    )
}

fn is_conflict(err: &ApiError) -> bool {
    err.code == StatusCode::CONFLICT && err.reason == "Conflict"
}

/// A pod that has finished, is still pending or is already being deleted is evicted without
/// asking its budget (it disrupts nothing more).
fn can_ignore_budget(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed" | "Pending")
    ) || object::is_terminating(pod)
}

/// Whether evicting the pod without its budget must still find the pod unchanged (a pending
/// pod that becomes ready meanwhile would count against its budget).
fn enforces_resource_version(pod: &Value) -> bool {
    !matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    ) && !object::is_terminating(pod)
}

/// Whether the pod's `Ready` condition is `True`.
fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Whether an unready pod may go without taking a disruption from `budget`: always under
/// `unhealthyPodEvictionPolicy: AlwaysAllow`, else when the budget has the healthy pods it
/// wants without it (`IfHealthyBudget`, the default).
fn unready_may_go(budget: &PodDisruptionBudget, ready: bool) -> bool {
    if ready {
        return false;
    }
    let always = budget
        .spec
        .as_ref()
        .and_then(|s| s.unhealthy_pod_eviction_policy.as_deref())
        == Some("AlwaysAllow");
    let status = budget.status.as_ref();
    let current = status.map_or(0, |s| s.current_healthy);
    let desired = status.map_or(0, |s| s.desired_healthy);
    always || (current >= desired && desired > 0)
}

/// The budgets in the pod's namespace whose selector selects it (a budget with no selector,
/// an empty one or one that cannot be evaluated selects nothing).
async fn budgets_of(ctx: &Ctx<'_>, pod: &Value) -> ApiResult<Vec<(Stored, PodDisruptionBudget)>> {
    let budgets = pdb_resource();
    let prefix = budgets.namespace_prefix(ctx.namespace());
    let (items, _) = ctx.storage.list_all(budgets, &prefix, &|_| true).await?;
    let labels: Option<std::collections::BTreeMap<String, String>> =
        serde_json::from_value(pod["metadata"]["labels"].clone()).ok();
    let mut out = Vec::new();
    for obj in items {
        let Ok(budget) = serde_json::from_value::<PodDisruptionBudget>(obj.clone()) else {
            continue;
        };
        if selects(&budget, labels.as_ref()) {
            let revision = object::resource_version(&obj)
                .and_then(Result::ok)
                .unwrap_or_default();
            out.push((Stored { obj, revision }, budget));
        }
    }
    Ok(out)
}

fn selects(
    budget: &PodDisruptionBudget,
    labels: Option<&std::collections::BTreeMap<String, String>>,
) -> bool {
    let Some(selector) = budget.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return false;
    };
    let empty = selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|e| e.is_empty());
    !empty && rules::selector_matches_labels(selector, labels)
}

/// Takes one disruption from the budget for pod `pod` (kube's `checkAndDecrement`), re-reading
/// the budget when it changes meanwhile; nothing is written under dry run.
async fn take_disruption(
    ctx: &Ctx<'_>,
    mut stored: Stored,
    pod: &str,
    dry_run: bool,
) -> ApiResult<()> {
    let budgets = pdb_resource();
    let name = object::name(&stored.obj).to_string();
    for _ in 0..RETRIES {
        let mut budget = stored.obj.clone();
        check_and_decrement(&mut budget, pod, jiff::Timestamp::now())?;
        if dry_run {
            return Ok(());
        }
        match ctx
            .storage
            .update(budgets, ctx.namespace(), &name, &budget, stored.revision)
            .await?
        {
            Write::Done(_) => return Ok(()),
            Write::Conflict(None) => return Err(ApiError::not_found(budgets, &name)),
            Write::Conflict(Some(now)) => stored = now,
        }
    }
    Err(ApiError::new(
        StatusCode::GATEWAY_TIMEOUT,
        "Timeout",
        format!("couldn't update PodDisruptionBudget {name:?} due to conflicts"),
    ))
}

/// Checks that the budget (JSON, as stored) allows a disruption and takes it: one less
/// `disruptionsAllowed` (the `DisruptionAllowed` condition turning False at 0), and the pod in
/// `disruptedPods` as of `now`, so the disruption controller does not count it as available.
fn check_and_decrement(budget: &mut Value, pod: &str, now: jiff::Timestamp) -> ApiResult<()> {
    let name = object::name(budget).to_string();
    let status = &budget["status"];
    let generation = budget["metadata"]["generation"].as_i64().unwrap_or(0);
    let observed = status["observedGeneration"].as_i64().unwrap_or(0);
    if observed < generation {
        return Err(budget_still_processing(&name));
    }
    let allowed = status["disruptionsAllowed"].as_i64().unwrap_or(0);
    if allowed < 0 {
        return Err(budget_forbidden(
            &name,
            "pdb disruptions allowed is negative",
        ));
    }
    if status["disruptedPods"]
        .as_object()
        .is_some_and(|d| d.len() > MAX_DISRUPTED_PODS)
    {
        return Err(budget_forbidden(
            &name,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        return Err(too_many_requests(
            &format!(
                "The disruption budget {name} needs {} healthy pods and has {} currently",
                status["desiredHealthy"].as_i64().unwrap_or(0),
                status["currentHealthy"].as_i64().unwrap_or(0)
            ),
            0,
        ));
    }
    let status = &mut budget["status"];
    status["disruptionsAllowed"] = json!(allowed - 1);
    if allowed - 1 == 0 {
        set_disruption_allowed_false(status, observed, now);
    }
    if !status["disruptedPods"].is_object() {
        status["disruptedPods"] = json!({});
    }
    status["disruptedPods"][pod] = json!(timestamp(now));
    Ok(())
}

/// The `DisruptionAllowed=False` (`InsufficientPods`) condition, as kube's
/// `UpdateDisruptionAllowedCondition` sets it when the last disruption is taken.
fn set_disruption_allowed_false(status: &mut Value, observed: i64, now: jiff::Timestamp) {
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    let list = status["conditions"]
        .as_array_mut()
        .expect("made an array above");
    let existing = list.iter().position(|c| c["type"] == "DisruptionAllowed");
    let transition = match existing.map(|i| &list[i]) {
        Some(old) if old["status"] == "False" => old["lastTransitionTime"].clone(),
        _ => json!(timestamp(now)),
    };
    let condition = json!({
        "type": "DisruptionAllowed",
        "status": "False",
        "reason": "InsufficientPods",
        "message": "",
        "observedGeneration": observed,
        "lastTransitionTime": transition,
    });
    match existing {
        Some(i) => list[i] = condition,
        None => list.push(condition),
    }
}

/// 429 with kube's `DisruptionBudget` cause; `retry_after` seconds, if any, in the details.
fn too_many_requests(cause: &str, retry_after: u32) -> ApiError {
    let mut err = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Cannot evict pod as it would violate the pod's disruption budget.",
    );
    let mut details = json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]});
    if retry_after > 0 {
        details["retryAfterSeconds"] = json!(retry_after);
    }
    err.details = Some(details);
    err
}

/// 429 for a budget whose status has not caught up with its spec (retry in 10 s).
fn budget_still_processing(name: &str) -> ApiError {
    too_many_requests(
        &format!("The disruption budget {name} is still being processed by the server."),
        10,
    )
}

/// 403 on the budget, as kube words it.
fn budget_forbidden(name: &str, why: &str) -> ApiError {
    let mut err = ApiError::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        format!("poddisruptionbudget.policy {name:?} is forbidden: {why}"),
    );
    err.details = Some(json!({"name": name, "group": "policy", "kind": "poddisruptionbudget"}));
    err
}

fn pdb_resource() -> &'static ResourceInfo {
    registry::find("policy", "v1", "poddisruptionbudgets").expect("budgets are built in")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        "2026-02-03T04:05:06Z".parse().unwrap()
    }

    fn budget(allowed: i64) -> Value {
        json!({
            "metadata": {"name": "web-pdb", "namespace": "default", "generation": 2},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
            "status": {
                "observedGeneration": 2, "disruptionsAllowed": allowed,
                "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3,
            },
        })
    }

    fn typed(budget: &Value) -> PodDisruptionBudget {
        serde_json::from_value(budget.clone()).unwrap()
    }

    #[test]
    fn a_disruption_is_taken_and_recorded() {
        let mut b = budget(2);
        check_and_decrement(&mut b, "web-1", now()).unwrap();
        assert_eq!(b["status"]["disruptionsAllowed"], 1);
        assert_eq!(
            b["status"]["disruptedPods"],
            json!({"web-1": "2026-02-03T04:05:06Z"})
        );
        assert!(b["status"].get("conditions").is_none());
        // The last one turns DisruptionAllowed False.
        check_and_decrement(&mut b, "web-2", now()).unwrap();
        assert_eq!(b["status"]["disruptionsAllowed"], 0);
        assert_eq!(b["status"]["conditions"][0]["reason"], "InsufficientPods");
        assert_eq!(b["status"]["conditions"][0]["status"], "False");
        assert_eq!(b["status"]["disruptedPods"].as_object().unwrap().len(), 2);
    }

    #[test]
    fn no_disruption_left_is_429_with_the_budget_cause() {
        let err = check_and_decrement(&mut budget(0), "web-1", now()).unwrap_err();
        assert_eq!(err.code, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            err.message,
            "Cannot evict pod as it would violate the pod's disruption budget."
        );
        assert_eq!(
            err.details.unwrap(),
            json!({"causes": [{
                "reason": "DisruptionBudget",
                "message": "The disruption budget web-pdb needs 2 healthy pods and has 3 currently",
            }]})
        );
    }

    #[test]
    fn stale_negative_and_overfull_budgets_are_refused() {
        let mut stale = budget(1);
        stale["metadata"]["generation"] = json!(3);
        let err = check_and_decrement(&mut stale, "p", now()).unwrap_err();
        assert_eq!(err.code, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(err.details.unwrap()["retryAfterSeconds"], 10);
        let err = check_and_decrement(&mut budget(-1), "p", now()).unwrap_err();
        assert_eq!(err.code, StatusCode::FORBIDDEN);
        let mut full = budget(1);
        let many: serde_json::Map<String, Value> = (0..=MAX_DISRUPTED_PODS)
            .map(|i| (format!("p{i}"), json!("2026-01-01T00:00:00Z")))
            .collect();
        full["status"]["disruptedPods"] = Value::Object(many);
        let err = check_and_decrement(&mut full, "p", now()).unwrap_err();
        assert_eq!(err.code, StatusCode::FORBIDDEN);
    }

    #[test]
    fn budgets_select_by_labels_and_empty_selectors_select_nothing() {
        let labels = std::collections::BTreeMap::from([("app".to_string(), "web".to_string())]);
        assert!(selects(&typed(&budget(1)), Some(&labels)));
        assert!(!selects(&typed(&budget(1)), None));
        let mut empty = budget(1);
        empty["spec"]["selector"] = json!({});
        assert!(!selects(&typed(&empty), Some(&labels)));
        let mut none = budget(1);
        none["spec"].as_object_mut().unwrap().remove("selector");
        assert!(!selects(&typed(&none), Some(&labels)));
    }

    #[test]
    fn which_pods_skip_the_budget() {
        let running = json!({"metadata": {}, "status": {"phase": "Running"}});
        assert!(!can_ignore_budget(&running));
        assert!(enforces_resource_version(&running));
        for phase in ["Succeeded", "Failed"] {
            let pod = json!({"metadata": {}, "status": {"phase": phase}});
            assert!(can_ignore_budget(&pod));
            assert!(!enforces_resource_version(&pod));
        }
        let pending = json!({"metadata": {}, "status": {"phase": "Pending"}});
        assert!(can_ignore_budget(&pending));
        assert!(enforces_resource_version(&pending));
        let going = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Running"}});
        assert!(can_ignore_budget(&going) && !enforces_resource_version(&going));
    }

    #[test]
    fn unready_pods_go_when_the_budget_is_healthy_or_always_allows() {
        let b = budget(0);
        assert!(unready_may_go(&typed(&b), false));
        assert!(!unready_may_go(&typed(&b), true));
        let mut short = budget(0);
        short["status"]["currentHealthy"] = json!(1);
        assert!(!unready_may_go(&typed(&short), false));
        short["spec"]["unhealthyPodEvictionPolicy"] = json!("AlwaysAllow");
        assert!(unready_may_go(&typed(&short), false));
        let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(is_ready(&ready));
        assert!(!is_ready(&json!({"status": {}})));
    }
}
