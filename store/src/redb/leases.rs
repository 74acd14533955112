//! Lease deadlines. The lease table on disk holds each lease's TTL; deadlines live only in
//! memory and restart at a full TTL when the store opens, as etcd restarts them when a new
//! leader takes over. A background task revokes expired leases through the writer.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::writer::{Message, Request};
use crate::types::LeaseId;
use crate::{Result, StoreError};

/// How often expired leases are looked for.
const EXPIRY_TICK: Duration = Duration::from_millis(250);

/// The deadline of every live lease.
#[derive(Default)]
pub(super) struct LeaseClock {
    leases: Mutex<HashMap<LeaseId, Lease>>,
}

struct Lease {
    ttl: Duration,
    deadline: Instant,
}

impl LeaseClock {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LeaseId, Lease>> {
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the clock of a lease granted (or found on open) with `ttl`.
    pub(super) fn granted(&self, id: LeaseId, ttl: Duration) {
        let deadline = Instant::now() + ttl;
        self.lock().insert(id, Lease { ttl, deadline });
    }

    /// Forgets a revoked lease.
    pub(super) fn revoked(&self, id: LeaseId) {
        self.lock().remove(&id);
    }

    /// Restarts a lease's clock; returns its TTL.
    pub(super) fn keep_alive(&self, id: LeaseId) -> Result<Duration> {
        let mut leases = self.lock();
        let lease = leases.get_mut(&id).ok_or(StoreError::LeaseNotFound(id))?;
        lease.deadline = Instant::now() + lease.ttl;
        Ok(lease.ttl)
    }

    /// Removes and returns the leases whose deadline has passed.
    fn take_expired(&self, now: Instant) -> Vec<LeaseId> {
        let mut leases = self.lock();
        let expired: Vec<LeaseId> = leases
            .iter()
            .filter(|(_, l)| l.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            leases.remove(id);
        }
        expired
    }
}

/// Revokes expired leases until the writer goes away.
pub(super) fn spawn_expiry(
    clock: std::sync::Arc<LeaseClock>,
    writer: mpsc::Sender<Message>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EXPIRY_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for id in clock.take_expired(Instant::now()) {
                let (reply, answer) = oneshot::channel();
                let msg = Message::Request(Request::LeaseRevoke(id, reply));
                if writer.send(msg).await.is_err() {
                    return;
                }
                match answer.await {
                    Ok(Ok(())) => tracing::debug!(lease = id, "lease expired"),
                    Ok(Err(StoreError::LeaseNotFound(_))) => {}
                    Ok(Err(err)) => {
                        tracing::warn!(lease = id, %err, "revoking an expired lease failed")
                    }
                    Err(_) => return,
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_pushes_the_deadline_and_expiry_takes_each_lease_once() {
        let clock = LeaseClock::default();
        clock.granted(7, Duration::from_secs(10));
        assert_eq!(clock.keep_alive(7).unwrap(), Duration::from_secs(10));
        assert!(clock.take_expired(Instant::now()).is_empty());
        let later = Instant::now() + Duration::from_secs(11);
        assert_eq!(clock.take_expired(later), vec![7]);
        assert!(clock.take_expired(later).is_empty());
        assert!(matches!(
            clock.keep_alive(7),
            Err(StoreError::LeaseNotFound(7))
        ));
    }
}
