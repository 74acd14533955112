//! Rotated log files: `<n>.log` becomes `<n>.log.<UTC time>`, and the oldest go.
//!
//! kubelet suffixes `20060102-150405` because it rotates at most every 10 seconds; the writer
//! here rotates as it writes, so the suffix carries nanoseconds too
//! (`20161006-001709.669794202`): the names sort as text in the order they were made.

use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

/// The name a log file gets when it is rotated at `time`.
pub(crate) fn rotated_name(path: &Path, time: Timestamp) -> PathBuf {
    let suffix = time.strftime("%Y%m%d-%H%M%S.%9f").to_string();
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// The rotated files of the log at `path`, oldest first.
pub fn rotated_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(Vec::new());
    };
    let mut prefix = name.to_owned();
    prefix.push(".");
    let prefix = prefix.to_string_lossy().into_owned();
    let mut rotated: Vec<PathBuf> = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if let Some(suffix) = file_name.strip_prefix(&prefix)
            && is_rotation_suffix(suffix)
        {
            rotated.push(entry.path());
        }
    }
    rotated.sort();
    Ok(rotated)
}

/// `YYYYMMDD-HHMMSS` with an optional `.fraction`: other files (`.tmp`, `.gz`) are not ours.
fn is_rotation_suffix(suffix: &str) -> bool {
    let (seconds, fraction) = suffix.split_once('.').unwrap_or((suffix, ""));
    let bytes = seconds.as_bytes();
    bytes.len() == 15
        && bytes[8] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 8 || b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// Deletes the oldest rotated files of `path` so that at most `keep` remain.
pub(crate) fn prune(path: &Path, keep: usize) -> io::Result<()> {
    let rotated = rotated_files(path)?;
    let excess = rotated.len().saturating_sub(keep);
    for old in &rotated[..excess] {
        match std::fs::remove_file(old) {
            Ok(()) => tracing::debug!(file = %old.display(), "removed an old rotated log"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_in_time_order_and_others_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("0.log");
        let early: Timestamp = "2016-10-06T00:17:09.000000005Z".parse().unwrap();
        let late: Timestamp = "2016-10-06T00:17:09.1Z".parse().unwrap();
        let (a, b) = (rotated_name(&log, early), rotated_name(&log, late));
        assert_eq!(a.file_name().unwrap(), "0.log.20161006-001709.000000005");
        for path in [&b, &a, &log] {
            std::fs::write(path, b"").unwrap();
        }
        std::fs::write(dir.path().join("0.log.tmp"), b"").unwrap();
        std::fs::write(dir.path().join("10.log.20161006-001709"), b"").unwrap();
        let kubelet = dir.path().join("0.log.20150101-000000");
        std::fs::write(&kubelet, b"").unwrap();
        assert_eq!(
            rotated_files(&log).unwrap(),
            [kubelet.clone(), a.clone(), b.clone()]
        );
        prune(&log, 1).unwrap();
        assert_eq!(rotated_files(&log).unwrap(), [b]);
        assert!(log.exists());
    }
}
