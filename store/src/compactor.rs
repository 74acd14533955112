//! Scheduled compaction: keep a bounded window of history, as kube-apiserver and k3s do.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::store::Store;
use crate::types::Revision;

/// How much history a store keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// How often to compact.
    pub interval: Duration,
    /// How many revisions of history to keep behind the current one.
    pub retain: Revision,
}

impl Default for CompactionPolicy {
    /// Every five minutes, keeping the last 1000 revisions (what k3s's kine keeps).
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(300),
            retain: 1000,
        }
    }
}

/// Runs [`compact_once`] every `policy.interval` until the task is aborted.
pub fn spawn_compactor(store: Arc<dyn Store>, policy: CompactionPolicy) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(policy.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick fires at once; start one interval later
        loop {
            tick.tick().await;
            match compact_once(store.as_ref(), policy.retain).await {
                Ok(Some(rev)) => tracing::debug!(revision = rev, "compacted store history"),
                Ok(None) => {}
                Err(err) => tracing::warn!(%err, "scheduled compaction failed"),
            }
        }
    })
}

/// Compacts `store` so that `retain` revisions of history remain; returns the revision it
/// compacted to, or `None` when there was nothing old enough to drop.
pub async fn compact_once(store: &dyn Store, retain: Revision) -> crate::Result<Option<Revision>> {
    let current = store.current_revision().await?;
    let target = current - retain.max(0);
    if target <= store.compact_revision().await? {
        return Ok(None);
    }
    store.compact(target).await?;
    Ok(Some(target))
}
