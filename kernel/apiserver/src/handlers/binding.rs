//! `pods/<name>/binding` and the legacy `bindings` collection: a Binding assigns a pod that is
//! on no node yet to a node, as kube's BindingREST does (`assignPod`): `spec.nodeName` set,
//! the Binding's annotations copied onto the pod, condition `PodScheduled=True`; the Binding's
//! `uid` and `resourceVersion` are preconditions on the pod. Nothing of the Binding is stored.

use http::{Response, StatusCode};
use k8s_openapi::api::core::v1::Binding;
use kmicro_apimachinery::registry;
use kmicro_apimachinery::status::Cause;
use serde_json::{Value, json};

use super::{Ctx, object_body, write};
use crate::error::{ApiError, ApiResult};
use crate::object::{self, meta_mut};
use crate::response::{self, Body};
use crate::storage::Write;

/// How often the pod write is retried when the pod changes underneath it.
const RETRIES: usize = 5;

/// POST a Binding (to `pods/<name>/binding`, or to `bindings` naming the pod in its metadata).
pub(super) async fn create(ctx: &Ctx<'_>, body: &[u8]) -> ApiResult<Response<Body>> {
    let mut body = object_body(ctx, body)?;
    write::check_type(&registry::LEGACY_BINDINGS, &mut body)?;
    write::check_namespace(ctx, &mut body)?;
    let binding: Binding = serde_json::from_value(body).map_err(|e| {
        ApiError::bad_request(format!(
            "Binding in version \"v1\" cannot be handled as a Binding: {e}"
        ))
    })?;
    let name = binding.metadata.name.clone().unwrap_or_default();
    match ctx.rr.name.as_deref() {
        Some(in_url) if in_url != name => {
            return Err(ApiError::bad_request(
                "name in URL does not match name in Binding object",
            ));
        }
        None if name.is_empty() => return Err(ApiError::bad_request("Name parameter required.")),
        _ => {}
    }
    let causes = validate(&binding);
    if !causes.is_empty() {
        return Err(ApiError::invalid_other("", "Binding", &name, causes));
    }
    assign(ctx, &name, &binding).await?;
    Ok(response::json(
        StatusCode::CREATED,
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }),
    ))
}

/// kube's `ValidatePodBinding`: a target node is named, of kind `Node` if any.
fn validate(binding: &Binding) -> Vec<Cause> {
    let mut causes = Vec::new();
    let kind = binding.target.kind.as_deref().unwrap_or("");
    if !kind.is_empty() && kind != "Node" {
        causes.push(Cause::new(
            "FieldValueNotSupported",
            "target.kind",
            format!("Unsupported value: {kind:?}: supported values: \"Node\", \"<empty>\""),
        ));
    }
    if binding.target.name.as_deref().unwrap_or("").is_empty() {
        causes.push(Cause::required("target.name"));
    }
    causes
}

/// Writes the binding onto pod `name`, retrying when the pod changes meanwhile.
async fn assign(ctx: &Ctx<'_>, name: &str, binding: &Binding) -> ApiResult<()> {
    let pods = registry::find("", "v1", "pods").expect("pods are built in");
    let ns = ctx.namespace();
    for _ in 0..RETRIES {
        let current = ctx
            .storage
            .get(pods, ns, name)
            .await?
            .ok_or_else(|| ApiError::not_found(pods, name))?;
        let mut pod = current.obj.clone();
        bind(&mut pod, binding, current.revision, jiff::Timestamp::now()).map_err(|refusal| {
            match refusal {
                Refusal::Precondition(why) => ApiError::conflict(pods, name, &why),
                Refusal::Binding(why) => binding_conflict(name, &why),
            }
        })?;
        if ctx.query.dry_run {
            return Ok(());
        }
        match ctx
            .storage
            .update(pods, ns, name, &pod, current.revision)
            .await?
        {
            Write::Done(_) => {
                tracing::debug!(pod = %name, node = %binding.target.name.as_deref().unwrap_or(""), "pod bound");
                return Ok(());
            }
            Write::Conflict(None) => return Err(ApiError::not_found(pods, name)),
            Write::Conflict(Some(_)) => continue,
        }
    }
    Err(ApiError::stale(pods, name))
}

/// Why a binding was refused.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// The Binding's uid or resourceVersion does not match the pod (a conflict on `pods`).
    Precondition(String),
    /// The pod cannot be bound (a conflict on `pods/binding`).
    Binding(String),
}

/// kube's `setPodNodeAndMetadata` on the pod JSON (at `revision`): refuses a pod being
/// deleted, already on a node or with scheduling gates; else sets the node, copies the
/// annotations and sets `PodScheduled=True` (its transition time kept if it was already true;
/// reason and message cleared).
fn bind(
    pod: &mut Value,
    binding: &Binding,
    revision: i64,
    now: jiff::Timestamp,
) -> Result<(), Refusal> {
    if let Some(uid) = binding.metadata.uid.as_deref().filter(|u| !u.is_empty()) {
        let actual = object::meta_str(pod, "uid").unwrap_or("");
        if uid != actual {
            return Err(Refusal::Precondition(format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
            )));
        }
    }
    if let Some(rv) = binding
        .metadata
        .resource_version
        .as_deref()
        .filter(|rv| !rv.is_empty())
        && rv != revision.to_string()
    {
        return Err(Refusal::Precondition(format!(
            "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {revision}"
        )));
    }
    let name = object::name(pod).to_string();
    if object::is_terminating(pod) {
        return Err(Refusal::Binding(format!(
            "pod {name} is being deleted, cannot be assigned to a host"
        )));
    }
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
    if !node.is_empty() {
        return Err(Refusal::Binding(format!(
            "pod {name} is already assigned to node {node:?}"
        )));
    }
    if pod["spec"]["schedulingGates"]
        .as_array()
        .is_some_and(|g| !g.is_empty())
    {
        return Err(Refusal::Binding(format!(
            "pod {name} has non-empty .spec.schedulingGates"
        )));
    }
    pod["spec"]["nodeName"] = json!(binding.target.name.as_deref().unwrap_or(""));
    if let Some(annotations) = binding
        .metadata
        .annotations
        .as_ref()
        .filter(|a| !a.is_empty())
    {
        let meta = meta_mut(pod);
        let slot = meta.entry("annotations").or_insert_with(|| json!({}));
        if !slot.is_object() {
            *slot = json!({});
        }
        for (key, value) in annotations {
            slot[key] = json!(value);
        }
    }
    set_scheduled(pod, now);
    Ok(())
}

/// kube's `UpdatePodCondition` with `PodScheduled=True`.
fn set_scheduled(pod: &mut Value, now: jiff::Timestamp) {
    let status = &mut pod["status"];
    if !status.is_object() {
        *status = json!({});
    }
    let conditions = &mut status["conditions"];
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let list = conditions.as_array_mut().expect("made an array above");
    let existing = list.iter().position(|c| c["type"] == "PodScheduled");
    let transition = match existing.map(|i| &list[i]) {
        Some(old) if old["status"] == "True" => old["lastTransitionTime"].clone(),
        _ => json!(super::delete::timestamp(now)),
    };
    let condition = json!({
        "type": "PodScheduled",
        "status": "True",
        "lastProbeTime": null,
        "lastTransitionTime": transition,
    });
    match existing {
        Some(i) => list[i] = condition,
        None => list.push(condition),
    }
}

/// 409 on `pods/binding`, as kube words a refused binding.
fn binding_conflict(name: &str, why: &str) -> ApiError {
    let mut err = ApiError::new(
        StatusCode::CONFLICT,
        "Conflict",
        format!("Operation cannot be fulfilled on pods/binding \"{name}\": {why}"),
    );
    err.details = Some(json!({"name": name, "group": "", "kind": "pods/binding"}));
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(node: &str) -> Binding {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "annotations": {"scheduler.example/score": "7"}},
            "target": {"kind": "Node", "name": node},
        }))
        .unwrap()
    }

    fn pending_pod() -> Value {
        json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "annotations": {"keep": "me"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            "status": {"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes are available", "lastProbeTime": null,
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }]},
        })
    }

    fn now() -> jiff::Timestamp {
        "2026-02-03T04:05:06Z".parse().unwrap()
    }

    #[test]
    fn binding_sets_the_node_annotations_and_scheduled_condition() {
        let mut pod = pending_pod();
        bind(&mut pod, &binding("n1"), 7, now()).unwrap();
        assert_eq!(pod["spec"]["nodeName"], "n1");
        assert_eq!(
            pod["metadata"]["annotations"],
            json!({"keep": "me", "scheduler.example/score": "7"})
        );
        assert_eq!(
            pod["status"]["conditions"],
            json!([{
                "type": "PodScheduled", "status": "True", "lastProbeTime": null,
                "lastTransitionTime": "2026-02-03T04:05:06Z",
            }])
        );
        // A pod without status gets the condition too.
        let mut pod = json!({"metadata": {"name": "web"}, "spec": {}});
        bind(&mut pod, &binding("n1"), 7, now()).unwrap();
        assert_eq!(pod["status"]["conditions"][0]["status"], "True");
    }

    #[test]
    fn bound_deleted_and_gated_pods_are_refused() {
        let mut pod = pending_pod();
        pod["spec"]["nodeName"] = json!("n1");
        // Even to the same node, as kube refuses it.
        for node in ["n1", "n2"] {
            assert_eq!(
                bind(&mut pod.clone(), &binding(node), 7, now()),
                Err(Refusal::Binding(
                    "pod web is already assigned to node \"n1\"".into()
                ))
            );
        }
        let mut pod = pending_pod();
        pod["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(
            bind(&mut pod, &binding("n1"), 7, now()),
            Err(Refusal::Binding(
                "pod web is being deleted, cannot be assigned to a host".into()
            ))
        );
        let mut pod = pending_pod();
        pod["spec"]["schedulingGates"] = json!([{"name": "wait"}]);
        assert!(matches!(
            bind(&mut pod, &binding("n1"), 7, now()),
            Err(Refusal::Binding(_))
        ));
    }

    #[test]
    fn uid_and_resource_version_are_preconditions() {
        let mut b = binding("n1");
        b.metadata.uid = Some("u-2".into());
        assert_eq!(
            bind(&mut pending_pod(), &b, 7, now()),
            Err(Refusal::Precondition(
                "Precondition failed: UID in precondition: u-2, UID in object meta: u-1".into()
            ))
        );
        b.metadata.uid = Some("u-1".into());
        b.metadata.resource_version = Some("6".into());
        assert!(matches!(
            bind(&mut pending_pod(), &b, 7, now()),
            Err(Refusal::Precondition(_))
        ));
        b.metadata.resource_version = Some("7".into());
        assert!(bind(&mut pending_pod(), &b, 7, now()).is_ok());
    }

    #[test]
    fn targets_must_name_a_node() {
        let mut b = binding("");
        b.target.kind = Some("Pod".into());
        let causes = validate(&b);
        assert_eq!(
            causes
                .iter()
                .map(|c| (c.field.as_str(), c.reason.as_str()))
                .collect::<Vec<_>>(),
            vec![
                ("target.kind", "FieldValueNotSupported"),
                ("target.name", "FieldValueRequired")
            ]
        );
        assert!(validate(&binding("n1")).is_empty());
    }
}
