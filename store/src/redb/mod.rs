//! The embedded backend: one redb file under the data dir.
//!
//! One writer thread owns every write (see [`writer`]): it batches concurrent requests into
//! group commits, each durable before any of its writes is acknowledged. Reads run on redb's
//! MVCC read transactions in parallel with it. [`schema`] documents the file layout and its
//! invariants.

mod apply;
mod leases;
mod open;
mod reader;
mod schema;
mod watch;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use self::leases::LeaseClock;
use self::reader::{Ctx, Revisions};
use self::schema::{CURRENT, HISTORY};
use self::writer::{Message, Request};
use crate::store::{Store, WatchStream};
use crate::types::{
    LeaseId, RangeRequest, RangeResponse, Revision, Txn, TxnResponse, WatchRequest,
};
use crate::watch_hub::WatchHub;
use crate::{Result, StoreError};

/// Settings of a [`RedbStore`].
#[derive(Clone, Debug)]
pub struct RedbConfig {
    /// The database file (its directory is created if missing).
    pub path: PathBuf,
    /// Bytes of page cache redb may use: the store's main memory cost.
    pub cache_size: usize,
    /// The most requests one group commit takes.
    pub max_batch: usize,
    /// How many undelivered responses a watcher may have before it is cancelled.
    pub watch_buffer: usize,
}

impl RedbConfig {
    /// Defaults sized for a small board: 4 MiB of cache, batches of up to 256 writes, 1024
    /// queued responses per watcher.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cache_size: 4 << 20,
            max_batch: 256,
            watch_buffer: 1024,
        }
    }
}

/// Row counts of a [`RedbStore`], for operators and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedbStats {
    /// Keys that exist now.
    pub keys: u64,
    /// Retained versions of keys (tombstones included).
    pub history_versions: u64,
    /// Revision-log rows (writes since the compact revision, plus any compaction backlog).
    pub log_entries: u64,
    /// Granted leases.
    pub leases: u64,
}

/// The embedded store: a redb file with etcd semantics.
pub struct RedbStore {
    /// Taken out by [`RedbStore::close`], so the file is released once readers finish.
    db: std::sync::Mutex<Option<Arc<Database>>>,
    writer: mpsc::Sender<Message>,
    writer_thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    expiry: JoinHandle<()>,
    hub: Arc<WatchHub>,
    leases: Arc<LeaseClock>,
}

impl RedbStore {
    /// Opens the store at `config.path`, creating it if the file does not exist (or is empty).
    /// A file that is not a kmicro store, or is damaged, is an error naming the file; it is
    /// never overwritten. Must be called inside a tokio runtime.
    pub async fn open(config: RedbConfig) -> Result<Self> {
        let path = config.path.clone();
        let opened = tokio::task::spawn_blocking(move || open::open(&path, config.cache_size))
            .await
            .map_err(|e| StoreError::backend("opening the store", e))??;
        let db = Arc::new(opened.db);
        let hub = Arc::new(WatchHub::new(opened.counters.revision, config.watch_buffer));
        let leases = Arc::new(LeaseClock::default());
        for (id, ttl) in opened.leases {
            leases.granted(id, ttl);
        }
        let (tx, rx) = mpsc::channel(config.max_batch.max(1) * 4);
        let writer = writer::Writer {
            db: db.clone(),
            counters: opened.counters,
            compaction_pending: opened.compaction_pending,
            hub: hub.clone(),
            leases: leases.clone(),
            max_batch: config.max_batch.max(1),
        };
        let writer_thread = std::thread::Builder::new()
            .name("kmicro-store-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::backend("starting the store writer", e))?;
        let expiry = leases::spawn_expiry(leases.clone(), tx.clone());
        Ok(Self {
            db: std::sync::Mutex::new(Some(db)),
            writer: tx,
            writer_thread: std::sync::Mutex::new(Some(writer_thread)),
            expiry,
            hub,
            leases,
        })
    }

    /// The open database, or `Closed`.
    fn database(&self) -> Result<Arc<Database>> {
        self.db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or(StoreError::Closed)
    }

    /// Commits everything queued, stops the writer and releases the file (once no watch
    /// stream still holds it). Later requests fail with [`StoreError::Closed`].
    pub async fn close(&self) -> Result<()> {
        self.expiry.abort();
        self.db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let _ = self.writer.send(Message::Shutdown).await;
        let thread = self
            .writer_thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|e| StoreError::backend("stopping the store writer", e))?
                .map_err(|_| StoreError::backend("stopping the store writer", "writer panicked"))?;
        }
        Ok(())
    }

    /// Counts the rows of each table, as of now.
    pub async fn stats(&self) -> Result<RedbStats> {
        self.read(|rtx| {
            use redb::ReadableTableMetadata;
            const CTX: &str = "counting store rows";
            Ok(RedbStats {
                keys: rtx.open_table(CURRENT).ctx(CTX)?.len().ctx(CTX)?,
                history_versions: rtx.open_table(HISTORY).ctx(CTX)?.len().ctx(CTX)?,
                log_entries: rtx.open_table(schema::LOG).ctx(CTX)?.len().ctx(CTX)?,
                leases: rtx.open_table(schema::LEASES).ctx(CTX)?.len().ctx(CTX)?,
            })
        })
        .await
    }

    /// Queues a request for the writer and waits for its answer.
    async fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T>>) -> Request,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Message::Request(make(reply)))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `read` on a fresh read transaction, off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&redb::ReadTransaction) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.database()?;
        tokio::task::spawn_blocking(move || {
            let rtx = db.begin_read().ctx("starting a read")?;
            read(&rtx)
        })
        .await
        .map_err(|e| StoreError::backend("reading the store", e))?
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        self.expiry.abort();
        let _ = self.writer.try_send(Message::Shutdown);
    }
}

/// The counters as a read transaction sees them.
fn snapshot_revisions(rtx: &redb::ReadTransaction) -> Result<Revisions> {
    let meta = rtx.open_table(schema::META).ctx("reading store metadata")?;
    let counters = apply::Counters::load(&meta)?;
    Ok(Revisions {
        current: counters.revision,
        compact: counters.compact,
    })
}

#[async_trait]
impl Store for RedbStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        self.read(move |rtx| {
            let revs = snapshot_revisions(rtx)?;
            let current = rtx.open_table(CURRENT).ctx("reading keys")?;
            let history = rtx.open_table(HISTORY).ctx("reading history")?;
            reader::range(&current, &history, &req, revs)
        })
        .await
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        self.request(|reply| Request::Txn(txn, reply)).await
    }

    async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
        let sub = self.hub.subscribe(&req);
        let start = if req.start_revision > 0 {
            req.start_revision
        } else {
            sub.joined_after + 1
        };
        let revs = self.read(snapshot_revisions).await?;
        if start < revs.compact {
            return Err(StoreError::Compacted {
                requested: start,
                compact_revision: revs.compact,
            });
        }
        Ok(watch::stream(self.database()?, req, start, sub))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.request(|reply| Request::Compact(revision, reply))
            .await
    }

    async fn compact_revision(&self) -> Result<Revision> {
        Ok(self.read(snapshot_revisions).await?.compact)
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.read(snapshot_revisions).await?.current)
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId> {
        self.request(|reply| Request::LeaseGrant(ttl, reply)).await
    }

    async fn lease_revoke(&self, id: LeaseId) -> Result<()> {
        self.request(|reply| Request::LeaseRevoke(id, reply)).await
    }

    async fn lease_keep_alive(&self, id: LeaseId) -> Result<Duration> {
        self.leases.keep_alive(id)
    }

    async fn close(&self) -> Result<()> {
        RedbStore::close(self).await
    }
}
