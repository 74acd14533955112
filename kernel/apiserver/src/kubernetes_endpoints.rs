//! kube-apiserver's endpoint reconciler for one server: the Endpoints and the EndpointSlice
//! `default/kubernetes` list the advertise address and the API port (`https`), written at
//! start and put back whenever someone changes or deletes them. The Endpoints carry
//! `endpointslice.kubernetes.io/skip-mirror: "true"` and the slice
//! `kubernetes.io/service-name: kubernetes`, as kube-apiserver writes them (no managed-by:
//! the EndpointSlice controller leaves them alone).
//!
//! They are written to storage directly, as the server's own: the advertise address may be a
//! loopback address (test clusters bound to 127.0.0.1), which kube's validation refuses
//! for user writes only.

use std::net::IpAddr;
use std::sync::{Arc, Weak};

use kmicro_apimachinery::registry::{self, ResourceInfo};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::error::ApiResult;
use crate::informer::{self, Change};
use crate::storage::{Storage, Write};

/// The Service, Endpoints and EndpointSlice name.
pub const NAME: &str = "kubernetes";
/// Their namespace.
pub const NAMESPACE: &str = "default";
/// The label that keeps the EndpointSlice mirroring controller off the Endpoints.
pub const SKIP_MIRROR_LABEL: &str = "endpointslice.kubernetes.io/skip-mirror";
/// The label tying an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn endpoints() -> &'static ResourceInfo {
    registry::find("", "v1", "endpoints").expect("built in")
}

fn slices() -> &'static ResourceInfo {
    registry::find("discovery.k8s.io", "v1", "endpointslices").expect("built in")
}

/// What the Endpoints should hold: `(labels, subsets)`.
fn wanted_endpoints(address: IpAddr, port: u16) -> (Value, Value) {
    (
        json!({SKIP_MIRROR_LABEL: "true"}),
        json!([{
            "addresses": [{"ip": address.to_string()}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }]),
    )
}

/// What the EndpointSlice should hold: `(labels, addressType, endpoints, ports)`.
fn wanted_slice(address: IpAddr, port: u16) -> (Value, &'static str, Value, Value) {
    let family = if address.is_ipv4() { "IPv4" } else { "IPv6" };
    (
        json!({SERVICE_NAME_LABEL: NAME}),
        family,
        json!([{"addresses": [address.to_string()], "conditions": {"ready": true}}]),
        json!([{"name": "https", "port": port, "protocol": "TCP"}]),
    )
}

/// Makes both objects list `address`:`port`, creating or correcting them.
pub async fn ensure(storage: &Storage, address: IpAddr, port: u16) -> ApiResult<()> {
    let (labels, subsets) = wanted_endpoints(address, port);
    put(storage, endpoints(), "Endpoints", "v1", |obj| {
        let changed = obj["metadata"]["labels"] != labels || obj["subsets"] != subsets;
        obj["metadata"]["labels"] = labels.clone();
        obj["subsets"] = subsets.clone();
        changed
    })
    .await?;
    let (labels, family, eps, ports) = wanted_slice(address, port);
    put(
        storage,
        slices(),
        "EndpointSlice",
        "discovery.k8s.io/v1",
        |obj| {
            let changed = obj["metadata"]["labels"] != labels
                || obj["addressType"] != family
                || obj["endpoints"] != eps
                || obj["ports"] != ports;
            obj["metadata"]["labels"] = labels.clone();
            obj["addressType"] = json!(family);
            obj["endpoints"] = eps.clone();
            obj["ports"] = ports.clone();
            changed
        },
    )
    .await
}

/// Creates the object, or updates it when `fix` changed it; retried on conflicts.
async fn put(
    storage: &Storage,
    r: &ResourceInfo,
    kind: &str,
    api_version: &str,
    fix: impl Fn(&mut Value) -> bool,
) -> ApiResult<()> {
    for _ in 0..5 {
        let write = match storage.get(r, Some(NAMESPACE), NAME).await? {
            Some(current) => {
                let mut obj = current.obj.clone();
                if !fix(&mut obj) {
                    return Ok(());
                }
                storage
                    .update(r, Some(NAMESPACE), NAME, &obj, current.revision)
                    .await?
            }
            None => {
                let mut obj = json!({
                    "apiVersion": api_version,
                    "kind": kind,
                    "metadata": {
                        "name": NAME,
                        "namespace": NAMESPACE,
                        "uid": uuid::Uuid::new_v4().to_string(),
                        "creationTimestamp": crate::object::now_rfc3339(),
                    },
                });
                fix(&mut obj);
                storage.create(r, Some(NAMESPACE), NAME, &obj).await?
            }
        };
        if let Write::Done(_) = write {
            tracing::info!(kind, "default/kubernetes endpoints written");
            return Ok(());
        }
    }
    tracing::warn!(
        kind,
        "default/kubernetes endpoints: lost to concurrent writers; retried on their next change"
    );
    Ok(())
}

/// Keeps both objects right until the storage goes away: any change to either brings them
/// back.
pub fn spawn(storage: &Arc<Storage>, address: IpAddr, port: u16) {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    for r in [endpoints(), slices()] {
        let key = r.key(Some(NAMESPACE), NAME);
        let tx = tx.clone();
        informer::spawn(storage.store().clone(), r, move |change| {
            let ours = match change {
                Change::Reset(_) => true,
                Change::Put(k, _) | Change::Delete(k) => k == key,
            };
            if ours {
                let _ = tx.send(());
            }
        });
    }
    let storage: Weak<Storage> = Arc::downgrade(storage);
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            while rx.try_recv().is_ok() {}
            let Some(storage) = storage.upgrade() else {
                return;
            };
            if let Err(err) = ensure(&storage, address, port).await {
                tracing::warn!(error = %err.message, "could not write the default/kubernetes endpoints");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_objects() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let (labels, subsets) = wanted_endpoints(ip, 6443);
        assert_eq!(labels[SKIP_MIRROR_LABEL], "true");
        assert_eq!(subsets[0]["addresses"][0]["ip"], "127.0.0.1");
        assert_eq!(subsets[0]["ports"][0]["port"], 6443);
        let (labels, family, eps, ports) = wanted_slice("fd00::1".parse().unwrap(), 7443);
        assert_eq!(labels[SERVICE_NAME_LABEL], "kubernetes");
        assert_eq!(family, "IPv6");
        assert_eq!(eps[0]["conditions"]["ready"], true);
        assert_eq!(ports[0]["name"], "https");
    }
}
