//! The API objects cluster DNS needs besides its records: its own RBAC (a user with a
//! ClusterRole like k3s's `system:coredns`) and `kube-system/kube-dns` as k3s ships it (the
//! Service at the cluster DNS address, no selector, and its Endpoints and EndpointSlice
//! naming that address), written by server-side apply as the kernel's user and put back
//! whenever they are deleted or edited.

use std::net::Ipv4Addr;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use kmicro_apimachinery::rbac::{Action, ResourceAction};
use kmicro_apiserver::auth::User;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::informer::{Change, follow};
use crate::modules::local::{LocalClient, LocalError, encode};

/// The user the record follower acts as, and its role's and binding's name.
pub const DNS_USER: &str = "system:kmicro-dns";
/// The Service's (and its Endpoints' and EndpointSlice's) name.
pub const SERVICE: &str = "kube-dns";
/// Its namespace.
pub const NAMESPACE: &str = "kube-system";
/// The field manager of these writes.
const MANAGER: &str = "kmicro-cluster-dns";
/// The EndpointSlice's managed-by label value (not the endpoints controller's, which leaves
/// it alone).
pub const MANAGED_BY: &str = "cluster-dns.kmicro.io";
/// How long the authorizer may take to see the new binding.
const AUTHORIZER_WAIT: Duration = Duration::from_secs(5);
/// How long a failed write waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// The user DNS reads the API as.
pub fn dns_user() -> User {
    User::new(DNS_USER.to_string(), Vec::new())
}

/// Writes the DNS user's ClusterRole (k3s's `system:coredns` rules) and binding through
/// `admin`, then waits (briefly) until the authorizer lets it watch Services.
pub async fn grant(admin: &LocalClient) -> Result<(), LocalError> {
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": DNS_USER, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "rules": [
            {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
        ],
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": DNS_USER, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": DNS_USER},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": DNS_USER}],
    });
    apply(
        admin,
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        DNS_USER,
        &role,
    )
    .await?;
    apply(
        admin,
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        DNS_USER,
        &binding,
    )
    .await?;
    let action = Action::Resource(ResourceAction {
        verb: "watch".into(),
        namespace: String::new(),
        group: String::new(),
        resource: "services".into(),
        subresource: String::new(),
        name: String::new(),
    });
    let deadline = Instant::now() + AUTHORIZER_WAIT;
    while admin
        .api()
        .authorizer()
        .authorize(&dns_user(), &action)
        .is_err()
    {
        if Instant::now() > deadline {
            tracing::warn!("the authorizer does not see the cluster DNS binding yet");
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// The three objects of `kube-system/kube-dns` for a server at `address`, with their
/// collections.
pub fn kube_dns_objects(address: Ipv4Addr) -> [(&'static str, Value); 3] {
    let labels = json!({
        "k8s-app": "kube-dns",
        "kubernetes.io/cluster-service": "true",
        "kubernetes.io/name": "CoreDNS",
    });
    let ip = address.to_string();
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
            ],
        },
    });
    let endpoints = json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": labels},
        "subsets": [{
            "addresses": [{"ip": ip}],
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
            ],
        }],
    });
    let mut slice_labels = labels;
    slice_labels["kubernetes.io/service-name"] = json!(SERVICE);
    slice_labels["endpointslice.kubernetes.io/managed-by"] = json!(MANAGED_BY);
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": slice_labels},
        "addressType": "IPv4",
        "endpoints": [{
            "addresses": [ip],
            "conditions": {"ready": true, "serving": true, "terminating": false},
        }],
        "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
        ],
    });
    [
        ("/api/v1/namespaces/kube-system/services", service),
        ("/api/v1/namespaces/kube-system/endpoints", endpoints),
        (
            "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices",
            slice,
        ),
    ]
}

/// Keeps `kube-system/kube-dns` (Service, Endpoints, EndpointSlice) as
/// [`kube_dns_objects`] says, through `admin`, until the task is aborted.
pub async fn keep_kube_dns(admin: LocalClient, address: Ipv4Addr) {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let mut watchers = Vec::new();
    for (collection, _) in kube_dns_objects(address) {
        let tx = tx.clone();
        let path = format!(
            "{collection}?fieldSelector={}",
            encode(&format!("metadata.name={SERVICE}"))
        );
        // Any change (a list too: the object may be missing) means a look at all three.
        watchers.push(tokio::spawn(follow(
            admin.clone(),
            path,
            move |_: Change| {
                if tx.send(()).is_ok() {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(())
                }
            },
        )));
    }
    drop(tx);
    let _abort = AbortAll(watchers);
    loop {
        if let Err(err) = reconcile(&admin, address).await {
            tracing::warn!(%err, "keeping kube-system/kube-dns failed; retrying");
            tokio::time::sleep(RETRY).await;
            continue;
        }
        if rx.recv().await.is_none() {
            return;
        }
        // A burst of events (our own writes among them) needs one pass.
        while rx.try_recv().is_ok() {}
    }
}

struct AbortAll(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortAll {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Writes each of the three objects that is missing or differs from what it should be.
async fn reconcile(admin: &LocalClient, address: Ipv4Addr) -> Result<(), LocalError> {
    for (collection, desired) in kube_dns_objects(address) {
        let path = format!("{collection}/{SERVICE}");
        let actual = match admin.send(Method::GET, &path, None, Bytes::new()).await {
            Ok(body) => Some(serde_json::from_slice::<Value>(&body).unwrap_or_default()),
            Err(e) if e.code == 404 => None,
            Err(e) => return Err(e),
        };
        if let Some(actual) = &actual
            && contains(actual, &desired)
        {
            continue;
        }
        // A Service with another cluster IP (the address changed since it was made): the
        // IP is immutable, so it is made again.
        let other_ip = actual.as_ref().is_some_and(|a| {
            desired["spec"]["clusterIP"].is_string()
                && a["spec"]["clusterIP"] != desired["spec"]["clusterIP"]
        });
        if other_ip {
            tracing::info!(
                "kube-system/kube-dns has another cluster IP; replacing it with {address}"
            );
            match admin.send(Method::DELETE, &path, None, Bytes::new()).await {
                Ok(_) => {}
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        apply(admin, collection, SERVICE, &desired).await?;
    }
    Ok(())
}

/// Whether `actual` holds everything `desired` says (objects: each key; arrays: the same
/// length, element by element; scalars: equal).
fn contains(actual: &Value, desired: &Value) -> bool {
    match (actual, desired) {
        (Value::Object(a), Value::Object(d)) => d
            .iter()
            .all(|(k, dv)| a.get(k).is_some_and(|av| contains(av, dv))),
        (Value::Array(a), Value::Array(d)) => {
            a.len() == d.len() && a.iter().zip(d).all(|(av, dv)| contains(av, dv))
        }
        _ => actual == desired,
    }
}

/// Server-side apply of `body` as `collection/name`, forcing conflicts.
async fn apply(
    admin: &LocalClient,
    collection: &str,
    name: &str,
    body: &Value,
) -> Result<(), LocalError> {
    let path = format!(
        "{collection}/{}?fieldManager={MANAGER}&force=true",
        crate::modules::local::encode_segment(name)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_ignores_fields_the_server_adds() {
        let [(_, service), _, _] = kube_dns_objects(Ipv4Addr::new(10, 43, 0, 10));
        let mut served = service.clone();
        served["metadata"]["uid"] = json!("u");
        served["spec"]["sessionAffinity"] = json!("None");
        assert!(contains(&served, &service));
        served["spec"]["ports"][0]["port"] = json!(54);
        assert!(!contains(&served, &service));
        served["spec"]["ports"] = json!([]);
        assert!(!contains(&served, &service));
    }
}
