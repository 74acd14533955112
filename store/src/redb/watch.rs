//! A redb watch: replay of retained history up to the moment the watcher joined the hub,
//! then live events from the hub.

use std::sync::Arc;

use futures::stream;
use redb::{Database, ReadableDatabase};

use super::reader::{self, Ctx};
use super::schema::{HISTORY, LOG};
use super::snapshot_revisions;
use crate::store::WatchStream;
use crate::types::{Revision, WatchRequest, WatchResponse};
use crate::watch_hub::Subscription;
use crate::{Result, StoreError};

/// Events replayed per step, so a long replay does not hold a read transaction (and memory)
/// for the whole history at once.
const REPLAY_CHUNK: usize = 512;

enum Phase {
    /// Replaying revisions `next..=until` from storage.
    Replay { next: Revision, until: Revision },
    /// Forwarding live events.
    Live,
    /// Ended (after an error, or when the store closed).
    Done,
}

struct State {
    db: Arc<Database>,
    req: WatchRequest,
    sub: Subscription,
    phase: Phase,
}

/// The stream of a watch on `req` from `start`, whose live side is `sub`.
pub(super) fn stream(
    db: Arc<Database>,
    req: WatchRequest,
    start: Revision,
    sub: Subscription,
) -> WatchStream {
    let until = sub.joined_after;
    let state = State {
        db,
        req,
        sub,
        phase: Phase::Replay { next: start, until },
    };
    Box::pin(stream::unfold(state, step))
}

async fn step(mut state: State) -> Option<(Result<WatchResponse>, State)> {
    loop {
        match state.phase {
            Phase::Replay { next, until } if next <= until => {
                match replay_chunk(&state, next, until).await {
                    Ok((events, after)) => {
                        state.phase = Phase::Replay { next: after, until };
                        if let Some(last) = events.last() {
                            let revision = last.kv.mod_revision;
                            return Some((Ok(WatchResponse { revision, events }), state));
                        }
                    }
                    Err(err) => {
                        state.phase = Phase::Done;
                        return Some((Err(err), state));
                    }
                }
            }
            Phase::Replay { .. } => state.phase = Phase::Live,
            Phase::Live => {
                if let Some(resp) = state.sub.rx.recv().await {
                    return Some((Ok(resp), state));
                }
                state.phase = Phase::Done;
                let reason = state.sub.cancelled()?;
                return Some((Err(StoreError::WatchCancelled(reason)), state));
            }
            Phase::Done => return None,
        }
    }
}

async fn replay_chunk(
    state: &State,
    next: Revision,
    until: Revision,
) -> Result<(Vec<crate::types::Event>, Revision)> {
    let db = state.db.clone();
    let range = state.req.range.clone();
    let prev_kv = state.req.prev_kv;
    tokio::task::spawn_blocking(move || {
        let rtx = db.begin_read().ctx("starting a read")?;
        let revs = snapshot_revisions(&rtx)?;
        if next < revs.compact {
            return Err(StoreError::Compacted {
                requested: next,
                compact_revision: revs.compact,
            });
        }
        let log = rtx.open_table(LOG).ctx("reading the revision log")?;
        let history = rtx.open_table(HISTORY).ctx("reading history")?;
        reader::replay(&log, &history, (next, until), &range, prev_kv, REPLAY_CHUNK)
    })
    .await
    .map_err(|e| StoreError::backend("replaying history", e))?
}
