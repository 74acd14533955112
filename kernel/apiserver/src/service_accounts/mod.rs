//! ServiceAccounts: every namespace has a `default` one (kube's serviceaccounts controller,
//! run by the API server until controllers run as modules), their tokens ([`tokens`]) and
//! kube's ServiceAccount admission plugin on pod creates ([`admission`]).
//!
//! The controller follows namespaces and service accounts: a namespace that appears, or
//! whose `default` account is deleted, gets one (unless the namespace is going away).

pub mod admission;
pub mod tokens;

use std::sync::{Arc, Weak};

use kmicro_apimachinery::registry::{self, ResourceInfo};
use serde_json::json;
use tokio::sync::mpsc;

use crate::error::ApiResult;
use crate::informer::{self, Change};
use crate::object;
use crate::storage::Storage;

/// The name of every namespace's default account.
pub const DEFAULT: &str = "default";

fn namespaces() -> &'static ResourceInfo {
    registry::find("", "v1", "namespaces").expect("namespaces are built in")
}

fn service_accounts() -> &'static ResourceInfo {
    registry::find("", "v1", "serviceaccounts").expect("service accounts are built in")
}

/// Creates the `default` account of every namespace that lacks one.
pub async fn ensure_all(storage: &Storage) -> ApiResult<()> {
    let ns = namespaces();
    let (items, _) = storage
        .list_all(ns, &ns.key_prefix(), &|obj| !object::is_terminating(obj))
        .await?;
    for item in items {
        ensure(storage, object::name(&item)).await?;
    }
    Ok(())
}

/// Creates the `default` account of namespace `ns` if it lacks one and is not going away.
pub async fn ensure(storage: &Storage, ns: &str) -> ApiResult<()> {
    match storage.get(namespaces(), None, ns).await? {
        Some(stored) if !object::is_terminating(&stored.obj) => {}
        _ => return Ok(()),
    }
    let sa = json!({
        "kind": "ServiceAccount",
        "apiVersion": "v1",
        "metadata": {
            "name": DEFAULT,
            "namespace": ns,
            "uid": uuid::Uuid::new_v4().to_string(),
            "creationTimestamp": object::now_rfc3339(),
        },
    });
    // Already there is fine: the create is conditional.
    storage
        .create(service_accounts(), Some(ns), DEFAULT, &sa)
        .await?;
    Ok(())
}

/// Runs the controller until the API server goes away.
pub fn spawn(storage: &Arc<Storage>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let ns_tx = tx.clone();
    informer::spawn(storage.store().clone(), namespaces(), move |change| {
        let names: Vec<String> = match change {
            Change::Reset(all) => all
                .into_iter()
                .map(|(_, o)| object::name(&o).to_string())
                .collect(),
            Change::Put(_, o) if !object::is_terminating(&o) => vec![object::name(&o).to_string()],
            _ => Vec::new(),
        };
        for name in names {
            let _ = ns_tx.send(name);
        }
    });
    let prefix = service_accounts().key_prefix();
    informer::spawn(storage.store().clone(), service_accounts(), move |change| {
        if let Change::Delete(key) = change
            && let Some((ns, DEFAULT)) = key.strip_prefix(&prefix).and_then(|k| k.split_once('/'))
        {
            let _ = tx.send(ns.to_string());
        }
    });
    let storage: Weak<Storage> = Arc::downgrade(storage);
    tokio::spawn(async move {
        while let Some(ns) = rx.recv().await {
            let Some(storage) = storage.upgrade() else {
                return;
            };
            if let Err(err) = ensure(&storage, &ns).await {
                tracing::warn!(namespace = %ns, error = %err.message, "could not create the default service account");
            }
        }
    });
}
