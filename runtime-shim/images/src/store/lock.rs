//! Advisory `flock` locks on files in the store, so that two processes (the `kmicro images`
//! CLI and a running `kmicro run`) and two threads of one process (each lock opens its own file
//! description) exclude each other.
//!
//! Two locks: `meta.lock` (exclusive, held briefly around every change of image records) and
//! `content.lock` (shared while blobs are written and not yet referenced by a record — pulls and
//! imports —, exclusive while unreferenced blobs are deleted — GC and removal).

use std::fs::{File, OpenOptions};
use std::path::Path;

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use crate::error::Error;

/// A held lock; released when dropped (the file is closed).
#[derive(Debug)]
pub(crate) struct LockGuard {
    _file: File,
}

/// Shared or exclusive.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    Shared,
    Exclusive,
}

/// Takes the lock, waiting for it.
pub(crate) fn lock(path: &Path, mode: Mode) -> Result<LockGuard, Error> {
    let operation = match mode {
        Mode::Shared => FlockOperation::LockShared,
        Mode::Exclusive => FlockOperation::LockExclusive,
    };
    acquire(path, operation)?
        .ok_or_else(|| Error::Internal(format!("blocking flock of {} would block", path.display())))
}

/// Takes the lock if nobody holds a conflicting one; `None` when somebody does.
pub(crate) fn try_lock(path: &Path, mode: Mode) -> Result<Option<LockGuard>, Error> {
    let operation = match mode {
        Mode::Shared => FlockOperation::NonBlockingLockShared,
        Mode::Exclusive => FlockOperation::NonBlockingLockExclusive,
    };
    acquire(path, operation)
}

fn acquire(path: &Path, operation: FlockOperation) -> Result<Option<LockGuard>, Error> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(Error::io("opening lock file", path))?;
    loop {
        match flock(&file, operation) {
            Ok(()) => return Ok(Some(LockGuard { _file: file })),
            Err(Errno::INTR) => continue,
            Err(Errno::WOULDBLOCK) => return Ok(None),
            Err(errno) => {
                return Err(Error::Io {
                    action: "locking",
                    path: path.to_owned(),
                    source: errno.into(),
                });
            }
        }
    }
}
