//! The proxy's and servicelb's users and their RBAC: `system:kube-proxy` bound to kube's
//! `system:node-proxier` ClusterRole (read Services, EndpointSlices, Endpoints and Nodes;
//! write Events), and `system:kmicro:servicelb` bound to `kmicro:servicelb` (read Services,
//! write their status, write Events), written by the kernel at start.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use kmicro_apimachinery::rbac::{Action, ResourceAction};
use kmicro_apiserver::auth::User;
use serde_json::{Value, json};

use crate::modules::local::{LocalClient, LocalError, encode_segment};

/// The proxy's user name (kube-proxy's).
pub const PROXY_USER: &str = "system:kube-proxy";
/// The ClusterRole and binding giving it its rights (kube's bootstrap names).
pub const PROXY_ROLE: &str = "system:node-proxier";
/// servicelb's user name.
pub const SERVICELB_USER: &str = "system:kmicro:servicelb";
/// servicelb's ClusterRole and binding.
pub const SERVICELB_ROLE: &str = "kmicro:servicelb";

const MANAGER: &str = "kmicro-service-proxy";
/// How long the authorizer may take to see a new binding.
const AUTHORIZER_WAIT: Duration = Duration::from_secs(5);

/// The user `name`, in `system:authenticated`.
pub fn user(name: &str) -> User {
    User::new(name.to_string(), vec!["system:authenticated".to_string()])
}

/// Writes both roles and bindings (server-side apply as `admin`), then waits briefly until
/// the authorizer lets the proxy list Services.
pub async fn ensure(admin: &LocalClient) -> Result<(), LocalError> {
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| json!({"apiGroups": groups, "resources": resources, "verbs": verbs});
    let proxier = vec![
        rule(&[""], &["endpoints", "services"], &["list", "watch"]),
        rule(&[""], &["nodes"], &["get", "list", "watch"]),
        rule(
            &["", "events.k8s.io"],
            &["events"],
            &["create", "patch", "update"],
        ),
        rule(
            &["discovery.k8s.io"],
            &["endpointslices"],
            &["list", "watch"],
        ),
    ];
    let servicelb = vec![
        rule(&[""], &["services"], &["get", "list", "watch"]),
        rule(&[""], &["services/status"], &["update", "patch"]),
        rule(
            &["", "events.k8s.io"],
            &["events"],
            &["create", "patch", "update"],
        ),
    ];
    write_role(admin, PROXY_ROLE, PROXY_USER, proxier).await?;
    write_role(admin, SERVICELB_ROLE, SERVICELB_USER, servicelb).await?;
    let action = Action::Resource(ResourceAction {
        verb: "list".into(),
        namespace: String::new(),
        group: String::new(),
        resource: "services".into(),
        subresource: String::new(),
        name: String::new(),
    });
    let deadline = Instant::now() + AUTHORIZER_WAIT;
    for name in [PROXY_USER, SERVICELB_USER] {
        while admin
            .api()
            .authorizer()
            .authorize(&user(name), &action)
            .is_err()
        {
            if Instant::now() > deadline {
                tracing::warn!(user = name, "the authorizer does not see the binding yet");
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    Ok(())
}

async fn write_role(
    admin: &LocalClient,
    name: &str,
    user: &str,
    rules: Vec<Value>,
) -> Result<(), LocalError> {
    let labels = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": labels},
        "rules": rules,
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    });
    for (collection, body) in [("clusterroles", role), ("clusterrolebindings", binding)] {
        let path = format!(
            "/apis/rbac.authorization.k8s.io/v1/{collection}/{}?fieldManager={MANAGER}&force=true",
            encode_segment(name)
        );
        admin
            .send(
                Method::PATCH,
                &path,
                Some("application/apply-patch+yaml"),
                Bytes::from(body.to_string()),
            )
            .await?;
    }
    Ok(())
}
