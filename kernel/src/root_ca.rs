//! kube-controller-manager's root-ca-cert-publisher: every namespace has a ConfigMap
//! `kube-root-ca.crt` whose `ca.crt` is the CA that signs the API server's serving
//! certificate (what a pod's service-account volume mounts as `ca.crt`). Created when a
//! namespace appears, re-created when deleted, put back when edited (its data and its
//! `kubernetes.io/description` annotation; other fields are left as they are).
//!
//! It runs in the kernel rather than as a Wasm module because the CA is the kernel's
//! (`kmicro-pki`) and modules get no key material; it still works only through the API, as
//! the kernel's user: it lists and watches namespaces and the ConfigMaps of that name, and
//! creates or updates them.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use kmicro_apiserver::Api;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::informer::{self, Change};
use crate::modules::kernel_user;
use crate::modules::local::{LocalClient, LocalError, encode};

/// The ConfigMap's name.
pub const CONFIG_MAP: &str = "kube-root-ca.crt";
/// Its key holding the PEM bundle.
pub const KEY: &str = "ca.crt";
/// The annotation kube sets on it.
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
/// kube's text of that annotation.
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// How long a failed watch or sync waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// Starts the publisher of `ca_pem` through `api`; it runs until the task is aborted.
pub fn spawn(api: Arc<Api>, ca_pem: String) -> tokio::task::JoinHandle<()> {
    let client = LocalClient::new(api, kernel_user());
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let publisher = Arc::new(Publisher { client, ca_pem });
    let namespaces = tokio::spawn(informer::follow(
        publisher.client.clone(),
        "/api/v1/namespaces".to_string(),
        namespaces_of(tx.clone(), |obj| obj["metadata"]["name"].as_str()),
    ));
    let config_maps = tokio::spawn(informer::follow(
        publisher.client.clone(),
        format!(
            "/api/v1/configmaps?fieldSelector={}",
            encode(&format!("metadata.name={CONFIG_MAP}"))
        ),
        namespaces_of(tx, |obj| obj["metadata"]["namespace"].as_str()),
    ));
    tokio::spawn(async move {
        publisher.sync_loop(rx).await;
        namespaces.abort();
        config_maps.abort();
    })
}

struct Publisher {
    client: LocalClient,
    ca_pem: String,
}

/// An informer callback sending the namespace `namespace_of` finds in every object listed or
/// changed (a delete too: the ConfigMap may need to come back); it stops when `tx` is closed.
fn namespaces_of(
    tx: mpsc::UnboundedSender<String>,
    namespace_of: fn(&Value) -> Option<&str>,
) -> impl FnMut(Change) -> ControlFlow<()> {
    move |change| {
        let objects = match &change {
            Change::Listed(items) => items.iter().collect(),
            Change::Applied(obj) | Change::Deleted(obj) => vec![obj],
        };
        for ns in objects.into_iter().filter_map(namespace_of) {
            if tx.send(ns.to_string()).is_err() {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

impl Publisher {
    /// Syncs each namespace sent; failed ones are tried again after [`RETRY`].
    async fn sync_loop(&self, mut rx: mpsc::UnboundedReceiver<String>) {
        let mut failed: BTreeSet<String> = BTreeSet::new();
        loop {
            let next = if failed.is_empty() {
                rx.recv().await
            } else {
                match tokio::time::timeout(RETRY, rx.recv()).await {
                    Ok(next) => next,
                    Err(_) => {
                        for ns in std::mem::take(&mut failed) {
                            self.sync_or_remember(&ns, &mut failed).await;
                        }
                        continue;
                    }
                }
            };
            let Some(ns) = next else { return };
            failed.remove(&ns);
            self.sync_or_remember(&ns, &mut failed).await;
        }
    }

    async fn sync_or_remember(&self, ns: &str, failed: &mut BTreeSet<String>) {
        if let Err(err) = self.sync(ns).await {
            tracing::warn!(namespace = %ns, %err, "publishing the root CA failed");
            failed.insert(ns.to_string());
        }
    }

    /// Makes namespace `ns`'s ConfigMap hold the CA (nothing for a namespace that is gone or
    /// going).
    async fn sync(&self, ns: &str) -> Result<(), LocalError> {
        let ns_path = format!(
            "/api/v1/namespaces/{}",
            crate::modules::local::encode_segment(ns)
        );
        let namespace = match self.get(&ns_path).await? {
            Some(n) => n,
            None => return Ok(()),
        };
        if namespace["metadata"]["deletionTimestamp"].is_string()
            || namespace["status"]["phase"] == "Terminating"
        {
            return Ok(());
        }
        let path = format!("{ns_path}/configmaps/{CONFIG_MAP}");
        match self.get(&path).await? {
            None => {
                let body = json!({
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {
                        "name": CONFIG_MAP,
                        "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION},
                    },
                    "data": {KEY: self.ca_pem},
                });
                match self
                    .write(Method::POST, &format!("{ns_path}/configmaps"), &body)
                    .await
                {
                    // Created meanwhile (its event brings it back here), or the namespace
                    // went away or is terminating: nothing to retry.
                    Err(e) if e.code == 409 || e.code == 404 || e.code == 403 => Ok(()),
                    other => other,
                }
            }
            Some(mut cm) => {
                let data_ok = cm["data"] == json!({KEY: self.ca_pem});
                let described = cm["metadata"]["annotations"][DESCRIPTION_ANNOTATION]
                    .as_str()
                    .is_some_and(|d| !d.is_empty());
                if data_ok && described {
                    return Ok(());
                }
                cm["data"] = json!({KEY: self.ca_pem});
                if !cm["metadata"]["annotations"].is_object() {
                    cm["metadata"]["annotations"] = json!({});
                }
                cm["metadata"]["annotations"][DESCRIPTION_ANNOTATION] = json!(DESCRIPTION);
                match self.write(Method::PUT, &path, &cm).await {
                    // Changed or deleted meanwhile: its event brings it back here.
                    Err(e) if e.code == 409 || e.code == 404 => Ok(()),
                    other => other,
                }
            }
        }
    }

    async fn get(&self, path: &str) -> Result<Option<Value>, LocalError> {
        match self
            .client
            .send(Method::GET, path, None, Bytes::new())
            .await
        {
            Ok(body) => Ok(serde_json::from_slice(&body).ok()),
            Err(e) if e.code == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn write(&self, method: Method, path: &str, body: &Value) -> Result<(), LocalError> {
        let body = Bytes::from(serde_json::to_vec(body).unwrap_or_default());
        self.client
            .send(method, path, Some("application/json"), body)
            .await
            .map(|_| ())
    }
}
