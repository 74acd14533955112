//! The node's right to do its job: its ClusterRole and ClusterRoleBinding
//! (`kmicro_apimachinery::rbac::node`) written before the agent starts, and a wait until the
//! authorizer, fed by informers, allows the node its first request.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use kmicro_apimachinery::rbac::node::{NODES_GROUP, node_user};
use kmicro_apimachinery::rbac::{Action, ResourceAction};
use kmicro_apiserver::Api;
use kmicro_apiserver::auth::User;

/// How long the authorizer may take to see the binding before the agent starts anyway (its
/// requests are retried).
const AUTHORIZER_WAIT: Duration = Duration::from_secs(5);

/// The user the agent of node `node` acts as.
pub fn agent_user(node: &str) -> User {
    User::new(node_user(node), vec![NODES_GROUP.to_string()])
}

/// Ensures node `node` may register and heartbeat, and waits until the authorizer agrees.
pub async fn grant(api: &Api, node: &str) -> anyhow::Result<()> {
    kmicro_apiserver::authz::bootstrap::ensure_node_agent(api.storage(), node)
        .await
        .map_err(|e| anyhow!(e.message))?;
    let user = agent_user(node);
    let action = Action::Resource(ResourceAction {
        verb: "get".into(),
        namespace: String::new(),
        group: String::new(),
        resource: "nodes".into(),
        subresource: String::new(),
        name: node.to_string(),
    });
    let deadline = Instant::now() + AUTHORIZER_WAIT;
    while api.authorizer().authorize(&user, &action).is_err() {
        if Instant::now() > deadline {
            tracing::warn!(node, "the authorizer does not see the node's binding yet");
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}
