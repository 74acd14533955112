//! The etcd v3 backend: [`EtcdStore`] maps the [`Store`] trait onto an etcd cluster, and
//! [`LocalEtcd`] runs a throwaway etcd server for tests and benchmarks.
//!
//! The store's model is etcd's, so most operations are one etcd request. The exceptions:
//!
//! - etcd has no RPC that reports the compact revision. [`Store::compact_revision`] first
//!   reads at revision 1 (one cheap request); if that is not compacted the answer is 0.
//!   Otherwise it opens a watch from revision 1, which etcd cancels with its compact revision
//!   (within about 100 ms, etcd's watcher sync interval). A compaction at revision 1 discards
//!   nothing and reads as 0.
//! - [`StoreError::Compacted`] and [`StoreError::FutureRevision`] carry the store's compact or
//!   current revision, which etcd's errors do not include; they are looked up when the error
//!   happens.
//! - [`Store::lease_keep_alive`] takes two keep-alive round trips on one stream, because
//!   etcd-client keeps the TTL of the first answer to itself.

mod convert;
mod local;
mod watch;

use std::time::Duration;

use async_trait::async_trait;
use etcd_client as etcd;
use futures::{StreamExt, stream};

pub use local::LocalEtcd;

use self::convert::{Failure, classify, etcd_range, get_options, range_response};
use crate::store::{Store, WatchStream};
use crate::types::{
    KeyRange, LeaseId, RangeRequest, RangeResponse, Revision, Txn, TxnResponse, WatchRequest,
};
use crate::{Result, StoreError};

/// The key read to probe whether a revision is compacted (etcd checks the revision before it
/// looks at the key, and rejects the empty key).
const PROBE_KEY: &[u8] = b"\0";

/// The largest gRPC message the store accepts from etcd (kube-apiserver's limit): a list of
/// a whole resource type can be far above gRPC's default of 4 MiB.
const MAX_MESSAGE_SIZE: usize = i32::MAX as usize;

/// A store backed by an etcd v3 cluster (etcd 3.4 or later).
pub struct EtcdStore {
    kv: etcd::KvClient,
    watch: etcd::WatchClient,
    lease: etcd::LeaseClient,
}

impl EtcdStore {
    /// Connects to etcd at `endpoints` (`http://host:port`). The connection is made lazily:
    /// this fails only for malformed endpoints, and the first operation reports an unreachable
    /// etcd.
    pub async fn connect(endpoints: &[String]) -> Result<Self> {
        // HTTP/2 pings detect a dead etcd under a long-lived watch. Only while requests are
        // open: etcd's server counts pings on an idle connection as abuse and hangs up.
        let options = etcd::ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(30), Duration::from_secs(10))
            .with_keep_alive_while_idle(false);
        let client = etcd::Client::connect(endpoints, Some(options))
            .await
            .map_err(|e| StoreError::backend("connecting to etcd", e))?;
        Ok(Self {
            kv: client
                .kv_client()
                .max_decoding_message_size(MAX_MESSAGE_SIZE),
            watch: client
                .watch_client()
                .max_decoding_message_size(MAX_MESSAGE_SIZE),
            lease: client.lease_client(),
        })
    }

    /// Connects to the etcd named by a k3s-style datastore endpoint: `etcd://host:port`,
    /// `http://host:port`, or several of either separated by commas.
    ///
    /// Only plain HTTP is supported for now; `https://` endpoints (TLS with client
    /// certificates) are rejected with [`StoreError::InvalidArgument`] until TLS support lands.
    pub async fn from_url(url: &str) -> Result<Self> {
        Self::connect(&endpoints_from_url(url)?).await
    }

    /// Whether reads at `revision` fail because it is compacted. A future revision is not
    /// compacted.
    async fn compacted_at(&self, revision: Revision) -> Result<bool> {
        let options = etcd::GetOptions::new()
            .with_revision(revision)
            .with_count_only();
        match self.kv.clone().get(PROBE_KEY, Some(options)).await {
            Ok(_) => Ok(false),
            Err(err) => match classify(&err) {
                Failure::Compacted => Ok(true),
                Failure::FutureRevision => Ok(false),
                _ => Err(StoreError::backend("probing etcd's compaction", err)),
            },
        }
    }

    /// Opens a watch. When its start revision is known to be compacted, waits for etcd's
    /// cancellation and returns the [`StoreError::Compacted`] it carries.
    async fn open_watch(&self, req: &WatchRequest, compacted: bool) -> Result<WatchStream> {
        let mut events = watch::open(self.watch.clone(), req).await?;
        if !compacted {
            return Ok(events);
        }
        match events.next().await {
            Some(Err(err)) => Err(err),
            first => Ok(Box::pin(stream::iter(first).chain(events))),
        }
    }

    /// The store error for an etcd error. `revision` and `lease` are what the request asked
    /// for, reported by `Compacted`, `FutureRevision` and `LeaseNotFound`.
    async fn failure(
        &self,
        context: &'static str,
        err: etcd::Error,
        revision: Revision,
        lease: LeaseId,
    ) -> StoreError {
        match classify(&err) {
            Failure::Compacted => match self.compact_revision().await {
                Ok(compact_revision) => StoreError::Compacted {
                    requested: revision,
                    compact_revision,
                },
                Err(lookup) => lookup,
            },
            Failure::FutureRevision => match self.current_revision().await {
                Ok(current) => StoreError::FutureRevision {
                    requested: revision,
                    current,
                },
                Err(lookup) => lookup,
            },
            Failure::LeaseNotFound => StoreError::LeaseNotFound(lease),
            Failure::InvalidArgument(message) => StoreError::InvalidArgument(message),
            Failure::Other => StoreError::backend(context, err),
        }
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        let (key, end) = etcd_range(&req.range);
        let options = get_options(&req, end);
        match self.kv.clone().get(key, Some(options)).await {
            Ok(resp) => Ok(range_response(resp, 0)),
            Err(err) => Err(self.failure("range", err, req.revision, 0).await),
        }
    }

    /// Runs the transaction as one etcd transaction. If etcd rejects it for a compacted or
    /// future revision, the error names the revision of its first historical read; for an
    /// unknown lease, the lease of its first leased put.
    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        let revision = convert::txn_read_revision(&txn);
        let lease = convert::txn_lease(&txn);
        match self.kv.clone().txn(convert::txn(txn)).await {
            Ok(resp) => convert::txn_response(resp),
            Err(err) => Err(self.failure("txn", err, revision, lease).await),
        }
    }

    /// Watches through etcd. Returns once etcd has created the watch. A watch from a compacted
    /// revision fails here with [`StoreError::Compacted`]; only if the compaction races with
    /// this call does the stream report it instead, as its first and only item.
    async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
        let compacted = req.start_revision > 0 && self.compacted_at(req.start_revision).await?;
        self.open_watch(&req, compacted).await
    }

    /// Compacts with etcd's ordinary (non-physical) compaction; etcd finishes it in the
    /// background. Compacting at or below the compact revision fails with `Compacted`.
    async fn compact(&self, revision: Revision) -> Result<()> {
        match self.kv.clone().compact(revision, None).await {
            Ok(_) => Ok(()),
            Err(err) => Err(self.failure("compact", err, revision, 0).await),
        }
    }

    /// See the [module docs](self) for how this is read from etcd.
    async fn compact_revision(&self) -> Result<Revision> {
        if !self.compacted_at(1).await? {
            return Ok(0);
        }
        let probe = WatchRequest {
            range: KeyRange::Key(PROBE_KEY.to_vec()),
            start_revision: 1,
            prev_kv: false,
        };
        match self.open_watch(&probe, true).await {
            Err(StoreError::Compacted {
                compact_revision, ..
            }) => Ok(compact_revision),
            Err(err) => Err(err),
            Ok(_) => Err(StoreError::backend(
                "reading etcd's compact revision",
                "etcd did not cancel a watch from a compacted revision",
            )),
        }
    }

    /// Grants an etcd lease of `ttl` rounded up to whole seconds. etcd raises TTLs below its
    /// minimum (1.5 × the election timeout, 2 s with default settings) to that minimum.
    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId> {
        let seconds = ttl_seconds(ttl)?;
        let resp = match self.lease.clone().grant(seconds, None).await {
            Ok(resp) => resp,
            Err(err) => return Err(self.failure("lease grant", err, 0, 0).await),
        };
        match resp.error() {
            "" => Ok(resp.id()),
            error => Err(StoreError::backend("lease grant", error)),
        }
    }

    async fn lease_revoke(&self, id: LeaseId) -> Result<()> {
        match self.lease.clone().revoke(id).await {
            Ok(_) => Ok(()),
            Err(err) => Err(self.failure("lease revoke", err, 0, id).await),
        }
    }

    async fn lease_keep_alive(&self, id: LeaseId) -> Result<Duration> {
        const CONTEXT: &str = "lease keep-alive";
        match renew(self.lease.clone(), id).await {
            Ok(Some(ttl)) => match u64::try_from(ttl) {
                Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
                _ => Err(StoreError::LeaseNotFound(id)),
            },
            Ok(None) => Err(StoreError::backend(
                CONTEXT,
                "etcd closed the keep-alive stream",
            )),
            Err(err) => Err(self.failure(CONTEXT, err, 0, id).await),
        }
    }
}

/// Renews a lease and returns its TTL in seconds (0 or less: the lease does not exist), or
/// `None` if etcd closed the stream. etcd-client's keep-alive consumes etcd's first answer
/// and keeps only whether the lease exists, so the TTL comes from a second keep-alive.
async fn renew(mut client: etcd::LeaseClient, id: LeaseId) -> Result<Option<i64>, etcd::Error> {
    let (mut keeper, mut answers) = client.keep_alive(id).await?;
    keeper.keep_alive().await?;
    Ok(answers.message().await?.map(|answer| answer.ttl()))
}

/// A lease TTL in whole seconds, rounded up; at least one second.
fn ttl_seconds(ttl: Duration) -> Result<i64> {
    let seconds = ttl
        .as_secs()
        .saturating_add(u64::from(ttl.subsec_nanos() > 0));
    if seconds == 0 {
        return Err(StoreError::InvalidArgument(
            "a lease TTL must be positive".to_owned(),
        ));
    }
    i64::try_from(seconds)
        .map_err(|_| StoreError::InvalidArgument(format!("lease TTL {ttl:?} is too large")))
}

/// The endpoints of a k3s-style datastore URL: comma-separated `etcd://host:port`,
/// `http://host:port` or `host:port`.
fn endpoints_from_url(url: &str) -> Result<Vec<String>> {
    url.split(',').map(|part| endpoint(part.trim())).collect()
}

/// One endpoint of a datastore URL, as `http://host:port`.
fn endpoint(part: &str) -> Result<String> {
    let invalid = |why: &str| StoreError::InvalidArgument(format!("etcd endpoint {part:?}: {why}"));
    if part.starts_with("https://") {
        return Err(invalid("TLS is not supported yet; use http://"));
    }
    let address = part
        .strip_prefix("etcd://")
        .or_else(|| part.strip_prefix("http://"))
        .unwrap_or(part)
        .trim_end_matches('/');
    if address.is_empty() || address.contains('/') {
        return Err(invalid("expected etcd://host:port or http://host:port"));
    }
    Ok(format!("http://{address}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datastore_urls() {
        let endpoints = endpoints_from_url("etcd://10.0.0.1:2379,10.0.0.2:2379").unwrap();
        assert_eq!(endpoints, ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]);
        let endpoints = endpoints_from_url("http://127.0.0.1:2379/").unwrap();
        assert_eq!(endpoints, ["http://127.0.0.1:2379"]);
        for bad in [
            "https://h:2379",
            "",
            "etcd://",
            "unix:///run/etcd.sock",
            "a:1,",
        ] {
            assert!(
                matches!(endpoints_from_url(bad), Err(StoreError::InvalidArgument(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn ttls_round_up_to_whole_seconds() {
        assert_eq!(ttl_seconds(Duration::from_millis(1)).unwrap(), 1);
        assert_eq!(ttl_seconds(Duration::from_millis(1500)).unwrap(), 2);
        assert_eq!(ttl_seconds(Duration::from_secs(10)).unwrap(), 10);
        assert!(matches!(
            ttl_seconds(Duration::ZERO),
            Err(StoreError::InvalidArgument(_))
        ));
        assert!(ttl_seconds(Duration::MAX).is_err());
    }
}
