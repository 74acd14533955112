//! Each module's permissions as RBAC objects: a ClusterRole `system:module:<name>` with the
//! module's effective rules, bound to user `system:module:<name>`. The sandbox refuses calls
//! outside the rules itself; the role makes the API server agree, and makes
//! `kubectl auth can-i --as system:module:<name>` tell the truth.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use kmicro_apimachinery::rbac::{Action, ResourceAction};
use kmicro_sandbox::PolicyRule;
use serde_json::json;

use super::local::{LocalClient, LocalError, encode_segment};

const ROLES: &str = "/apis/rbac.authorization.k8s.io/v1/clusterroles";
const BINDINGS: &str = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";
/// The field manager of the supervisor's writes.
const MANAGER: &str = "kmicro-module-supervisor";

/// The name of module `module`'s role, binding and user.
pub fn subject(module: &str) -> String {
    format!("system:module:{module}")
}

/// Writes (server-side apply) module `module`'s role with `rules` and its binding, then waits
/// (briefly) until the authorizer, fed by informers, allows the first of them.
pub async fn ensure(
    admin: &LocalClient,
    module: &str,
    rules: &[PolicyRule],
) -> Result<(), LocalError> {
    let name = subject(module);
    let labels = json!({ "modules.kmicro.io/module": module });
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": labels},
        "rules": rules.iter().map(|r| json!({
            "apiGroups": r.api_groups, "resources": r.resources, "verbs": r.verbs,
        })).collect::<Vec<_>>(),
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}],
    });
    apply(admin, ROLES, &name, &role).await?;
    apply(admin, BINDINGS, &name, &binding).await?;
    wait_until_allowed(admin, module, rules).await;
    Ok(())
}

/// How long the authorizer may take to see a new binding.
const AUTHORIZER_WAIT: Duration = Duration::from_secs(5);

async fn wait_until_allowed(admin: &LocalClient, module: &str, rules: &[PolicyRule]) {
    let Some(action) = rules.iter().find_map(first_action) else {
        return;
    };
    let user = super::host_api::module_user(module);
    let deadline = Instant::now() + AUTHORIZER_WAIT;
    while admin.api().authorizer().authorize(&user, &action).is_err() {
        if Instant::now() > deadline {
            tracing::warn!(
                module,
                "the authorizer does not see the module's binding yet"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The first concrete request `rule` allows, to check the binding took effect.
fn first_action(rule: &PolicyRule) -> Option<Action> {
    let concrete = |items: &[String]| items.iter().find(|i| i.as_str() != "*").cloned();
    let resource = concrete(&rule.resources)?;
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r.to_string(), s.to_string()),
        None => (resource, String::new()),
    };
    Some(Action::Resource(ResourceAction {
        verb: concrete(&rule.verbs)?,
        namespace: String::new(),
        group: rule.api_groups.first().cloned().unwrap_or_default(),
        resource,
        subresource,
        name: String::new(),
    }))
}

/// Deletes module `module`'s role and binding (absent ones are fine).
pub async fn remove(admin: &LocalClient, module: &str) -> Result<(), LocalError> {
    let name = encode_segment(&subject(module));
    for collection in [BINDINGS, ROLES] {
        match admin
            .send(
                Method::DELETE,
                &format!("{collection}/{name}"),
                None,
                Bytes::new(),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn apply(
    admin: &LocalClient,
    collection: &str,
    name: &str,
    body: &serde_json::Value,
) -> Result<(), LocalError> {
    let path = format!(
        "{collection}/{}?fieldManager={MANAGER}&force=true",
        encode_segment(name)
    );
    admin
        .send(
            Method::PATCH,
            &path,
            Some("application/apply-patch+yaml"),
            Bytes::from(body.to_string()),
        )
        .await
        .map(|_| ())
}
