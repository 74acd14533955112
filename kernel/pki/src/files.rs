//! File handling: private directories, optional reads and crash-safe (atomic) writes.
//!
//! Every file is written the same way: into a fresh temporary file in the target's own
//! directory (created `0600`, then given its final mode), fsynced, renamed over the target and
//! the directory fsynced. A crash leaves either the old file or the new one, never a torn one.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::PkiError;

/// Mode of private keys and token files.
pub(crate) const PRIVATE: u32 = 0o600;
/// Mode of certificates (public, but in a private directory anyway).
pub(crate) const PUBLIC: u32 = 0o644;

/// Creates `dir` (and missing parents) and sets its mode to `mode`, also when it existed.
pub(crate) fn ensure_private_dir(dir: &Path, mode: u32) -> Result<(), PkiError> {
    create_dirs(dir, mode)?;
    fs::set_permissions(dir, Permissions::from_mode(mode))
        .map_err(|e| PkiError::io(dir, "set the mode of", e))
}

/// Creates `dir` and missing parents with `mode` (existing directories are left alone).
pub(crate) fn create_dirs(dir: &Path, mode: u32) -> Result<(), PkiError> {
    DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(|e| PkiError::io(dir, "create directory", e))
}

/// Reads a UTF-8 file; `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, PkiError> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| PkiError::invalid_file(path, "is not UTF-8 text")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PkiError::io(path, "read", e)),
    }
}

/// The parent directory of `path` (`.` for a bare file name).
pub(crate) fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Replaces `path` with `contents` atomically and durably; the file gets exactly `mode`.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    if mode & !0o7777 != 0 {
        return Err(PkiError::InvalidArgument(format!(
            "file mode {mode:#o} for {} is not a permission mode",
            path.display()
        )));
    }
    let Some(name) = path.file_name() else {
        return Err(PkiError::InvalidArgument(format!(
            "{} does not name a file",
            path.display()
        )));
    };
    let dir = parent_of(path);
    let tmp = temp_path(dir, &name.to_string_lossy());
    if let Err(e) = write_temp(&tmp, contents, mode) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(PkiError::io(path, "replace", e));
    }
    sync_dir(dir)
}

fn temp_path(dir: &Path, name: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

fn write_temp(tmp: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    // Created 0600 so the contents are never readable by others, whatever the final mode.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE)
        .open(tmp)
        .map_err(|e| PkiError::io(tmp, "create", e))?;
    // The umask may have narrowed the mode at creation; set it exactly.
    file.set_permissions(Permissions::from_mode(mode))
        .map_err(|e| PkiError::io(tmp, "set the mode of", e))?;
    file.write_all(contents)
        .map_err(|e| PkiError::io(tmp, "write", e))?;
    file.sync_all().map_err(|e| PkiError::io(tmp, "fsync", e))
}

fn sync_dir(dir: &Path) -> Result<(), PkiError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| PkiError::io(dir, "fsync directory", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_exact_mode_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomic(&path, b"one", 0o640).unwrap();
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn bad_mode_and_missing_directory_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(&dir.path().join("f"), b"", 0o10000).unwrap_err();
        assert!(matches!(err, PkiError::InvalidArgument(_)), "{err}");
        let missing = dir.path().join("no/such/dir/f");
        let err = write_atomic(&missing, b"", 0o600).unwrap_err();
        assert!(err.to_string().contains("no/such/dir"), "{err}");
    }

    #[test]
    fn read_optional_distinguishes_missing_from_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_optional(&dir.path().join("absent")).unwrap().is_none());
        let bin = dir.path().join("bin");
        fs::write(&bin, [0xff, 0xfe]).unwrap();
        let err = read_optional(&bin).unwrap_err();
        assert!(err.to_string().contains("bin"), "{err}");
    }
}
