//! Opening the database file: create it fresh, or check that an existing file is a kmicro
//! store of a format this build understands. A file that is anything else is reported, naming
//! the file, and left untouched.

use std::path::Path;
use std::time::Duration;

use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, StorageError, TableHandle};

use super::apply::{Counters, Tables, compaction_pending};
use super::reader::Ctx;
use super::schema::{FORMAT_VERSION, LEASES, LOG, META, META_FORMAT};
use crate::types::LeaseId;
use crate::{Result, StoreError};

/// An open, checked database and what the writer needs to resume.
pub(super) struct Opened {
    pub db: Database,
    pub counters: Counters,
    pub leases: Vec<(LeaseId, Duration)>,
    pub compaction_pending: bool,
}

/// Opens or creates the store file at `path`.
pub(super) fn open(path: &Path, cache_size: usize) -> Result<Opened> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| corrupt(path, format!("cannot create its directory: {e}")))?;
    }
    let fresh = match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(corrupt(path, "is a directory, not a store file".into()));
        }
        Ok(meta) => meta.len() == 0,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(corrupt(path, format!("cannot read it: {e}"))),
    };
    let mut builder = Database::builder();
    builder.set_cache_size(cache_size);
    // Verify every page's checksum on open: a damaged file is then an error, never a panic or
    // a silently wrong answer.
    builder.set_check_integrity_on_open(true);
    let db = if fresh {
        builder.create(path)
    } else {
        builder.open(path)
    }
    .map_err(|e| open_error(path, e))?;
    let counters = initialize_or_check(path, &db)?;
    let rtx = db.begin_read().ctx("reading the store")?;
    let log = rtx.open_table(LOG).ctx("reading the revision log")?;
    let compaction_pending = compaction_pending(&log, &counters)?;
    let mut leases = Vec::new();
    for item in rtx
        .open_table(LEASES)
        .ctx("reading leases")?
        .iter()
        .ctx("reading leases")?
    {
        let (id, ttl) = item.ctx("reading leases")?;
        leases.push((id.value(), Duration::from_secs(ttl.value().max(0) as u64)));
    }
    drop(log);
    drop(rtx);
    Ok(Opened {
        db,
        counters,
        leases,
        compaction_pending,
    })
}

/// Creates the tables of a fresh store, or checks the format of an existing one.
fn initialize_or_check(path: &Path, db: &Database) -> Result<Counters> {
    let wtx = db.begin_write().ctx("opening the store")?;
    let tables: Vec<String> = wtx
        .list_tables()
        .ctx("opening the store")?
        .map(|t| t.name().to_string())
        .collect();
    let has_meta = tables.iter().any(|t| t == META.name());
    if !has_meta && !tables.is_empty() {
        return Err(corrupt(
            path,
            format!(
                "is a redb database but not a kmicro store (its tables: {})",
                tables.join(", ")
            ),
        ));
    }
    let counters = {
        let mut t = Tables::open(&wtx)?;
        if has_meta {
            let format = t.format()?;
            if format != Some(FORMAT_VERSION) {
                return Err(corrupt(
                    path,
                    format!(
                        "has store format {}, but this kmicro reads format {FORMAT_VERSION}",
                        format.map_or("(none)".to_string(), |f| f.to_string())
                    ),
                ));
            }
            t.counters()?
        } else {
            t.set_format(FORMAT_VERSION)?;
            let counters = Counters::default();
            t.save(&counters)?;
            counters
        }
    };
    wtx.commit().ctx("initializing the store")?;
    Ok(counters)
}

fn corrupt(path: &Path, reason: String) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        reason,
    }
}

fn open_error(path: &Path, err: DatabaseError) -> StoreError {
    match err {
        DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
            path: path.to_path_buf(),
        },
        DatabaseError::Storage(StorageError::Io(e)) => {
            corrupt(path, format!("is not a kmicro store: {e}"))
        }
        other => corrupt(
            path,
            format!("is not a kmicro store or is damaged: {other}"),
        ),
    }
}

impl Tables<'_> {
    fn format(&self) -> Result<Option<i64>> {
        Ok(self
            .meta()
            .get(META_FORMAT)
            .ctx("reading store metadata")?
            .map(|v| v.value()))
    }

    fn set_format(&mut self, format: i64) -> Result<()> {
        self.meta_mut()
            .insert(META_FORMAT, format)
            .ctx("writing store metadata")?;
        Ok(())
    }

    fn counters(&self) -> Result<Counters> {
        Counters::load(self.meta())
    }
}
