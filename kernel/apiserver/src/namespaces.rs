//! Finishing namespace deletions: what kube's namespace controller does, done by the API
//! server until the controllers run as modules. A namespace marked Terminating loses its
//! contents and then itself, in one store transaction, a moment after the delete (as the
//! controller would react), so that a `kubectl delete -f` listing the namespace first can
//! still delete the objects after it.

use std::time::Duration;

use kmicro_apimachinery::registry;
use kmicro_store::{KeyRange, Op, Txn};

use crate::error::ApiResult;
use crate::object;
use crate::storage::Storage;

/// How long after the delete the namespace's contents go.
const DELAY: Duration = Duration::from_secs(1);

/// Removes the contents of namespace `ns` (objects of every namespaced resource served then,
/// custom ones included), then `ns`, in the background.
pub fn finish_deletion(storage: Storage, ns: String) {
    tokio::spawn(async move {
        tokio::time::sleep(DELAY).await;
        let namespaces = registry::find("", "v1", "namespaces").expect("namespaces are built in");
        let mut prefixes: Vec<String> = storage
            .resources()
            .all()
            .into_iter()
            .filter(|r| r.namespaced)
            .map(|r| r.namespace_prefix(Some(&ns)))
            .collect();
        prefixes.sort();
        prefixes.dedup();
        let mut ops: Vec<Op> = prefixes
            .into_iter()
            .map(|p| Op::Delete(KeyRange::prefix(p)))
            .collect();
        ops.push(Op::delete(namespaces.key(None, &ns)));
        if let Err(err) = storage
            .store()
            .txn(Txn {
                success: ops,
                ..Txn::default()
            })
            .await
        {
            tracing::warn!(namespace = %ns, %err, "could not finish deleting the namespace; it is retried at the next start");
        }
    });
}

/// Resumes the deletions of namespaces left Terminating by a previous run.
pub async fn resume_deletions(storage: &Storage) -> ApiResult<()> {
    let namespaces = registry::find("", "v1", "namespaces").expect("namespaces are built in");
    let (items, _) = storage
        .list_all(
            namespaces,
            &namespaces.key_prefix(),
            &object::is_terminating,
        )
        .await?;
    for ns in items {
        finish_deletion(storage.clone(), object::name(&ns).to_string());
    }
    Ok(())
}
