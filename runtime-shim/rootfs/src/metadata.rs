//! An entry's ownership, mode, times and extended attributes: read from its tar and PAX
//! headers, applied to what was created.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use rustix::fs::{AtFlags, Gid, Mode, Timespec, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;

use crate::error::{LayerError, Refusal};

/// PAX records holding extended attributes, as GNU tar and Go's `archive/tar` write them.
const PAX_XATTR: &[u8] = b"SCHILY.xattr.";
/// Extended attributes that only the whiteout markers may set: overlayfs reads them from lower
/// layers (opaque directories, redirects, metacopy), so an archive must not bring its own.
const OVERLAY_XATTR: &[u8] = b"trusted.overlay.";

/// What an entry's headers say about it besides its name and type.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Permission bits with setuid, setgid and sticky.
    pub(crate) mode: u32,
    pub(crate) mtime: (i64, u32),
    pub(crate) xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) device: (u32, u32),
}

fn bad(field: &'static str) -> impl Fn(io::Error) -> Refusal {
    move |e| Refusal::BadHeader {
        field,
        message: e.to_string(),
    }
}

impl Metadata {
    /// Reads the header and the entry's PAX records (which win over the header).
    pub(crate) fn read<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Metadata, Refusal> {
        let header = entry.header();
        let mut uid = header.uid().map_err(bad("uid"))?;
        let mut gid = header.gid().map_err(bad("gid"))?;
        let mode = header.mode().map_err(bad("mode"))? & 0o7777;
        let mut mtime = (
            i64::try_from(header.mtime().map_err(bad("mtime"))?).unwrap_or(i64::MAX),
            0,
        );
        let device = if header.entry_type().is_character_special()
            || header.entry_type().is_block_special()
        {
            (
                header.device_major().map_err(bad("devmajor"))?.unwrap_or(0),
                header.device_minor().map_err(bad("devminor"))?.unwrap_or(0),
            )
        } else {
            (0, 0)
        };
        let mut xattrs = Vec::new();
        if let Some(records) = entry.pax_extensions().map_err(bad("pax records"))? {
            for record in records {
                let record = record.map_err(bad("pax records"))?;
                let key = record.key_bytes();
                let value = record.value_bytes();
                if let Some(name) = key.strip_prefix(PAX_XATTR) {
                    xattrs.push((name.to_vec(), value.to_vec()));
                    continue;
                }
                match key {
                    b"uid" => uid = parse_decimal("uid", value)?,
                    b"gid" => gid = parse_decimal("gid", value)?,
                    b"mtime" => mtime = parse_pax_time(value)?,
                    _ => {}
                }
            }
        }
        let id = |field, value: u64| {
            u32::try_from(value).map_err(|_| Refusal::IdOutOfRange { field, value })
        };
        Ok(Metadata {
            uid: id("uid", uid)?,
            gid: id("gid", gid)?,
            mode,
            mtime,
            xattrs,
            device,
        })
    }

    /// Both times set to the entry's modification time.
    pub(crate) fn times(&self) -> Timestamps {
        let time = Timespec {
            tv_sec: self.mtime.0,
            tv_nsec: i64::from(self.mtime.1),
        };
        Timestamps {
            last_access: time,
            last_modification: time,
        }
    }

    /// Owner, mode and extended attributes of an open file or directory (in that order:
    /// `chown` clears setuid bits and file capabilities).
    pub(crate) fn apply_to_fd(&self, fd: BorrowedFd<'_>, entry: &str) -> Result<(), LayerError> {
        rustix::fs::fchown(fd, Some(uid(self.uid)), Some(gid(self.gid)))
            .map_err(entry_error(entry, "chown"))?;
        rustix::fs::fchmod(fd, Mode::from_raw_mode(self.mode))
            .map_err(entry_error(entry, "chmod"))?;
        for (name, value) in self.settable_xattrs(entry) {
            let result = rustix::fs::fsetxattr(fd, name, value, XattrFlags::empty());
            tolerate_unsupported(result, entry, name).map_err(entry_error(entry, "set xattr"))?;
        }
        Ok(())
    }

    /// The same for a symbolic link, device or FIFO named `name` in `parent` (`path` is its
    /// full path, used for the attributes: there is no `lsetxattrat`). The mode is not set on
    /// symbolic links, which have none.
    pub(crate) fn apply_to_name(
        &self,
        parent: impl AsFd,
        name: &[u8],
        path: &Path,
        set_mode: bool,
        entry: &str,
    ) -> Result<(), LayerError> {
        let parent = parent.as_fd();
        rustix::fs::chownat(
            parent,
            name,
            Some(uid(self.uid)),
            Some(gid(self.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(entry_error(entry, "chown"))?;
        if set_mode {
            // Not a symbolic link (the caller just created this node), so following is moot.
            rustix::fs::chmodat(
                parent,
                name,
                Mode::from_raw_mode(self.mode),
                AtFlags::empty(),
            )
            .map_err(entry_error(entry, "chmod"))?;
        }
        for (xattr, value) in self.settable_xattrs(entry) {
            let result = rustix::fs::lsetxattr(path, xattr, value, XattrFlags::empty());
            tolerate_unsupported(result, entry, xattr).map_err(entry_error(entry, "set xattr"))?;
        }
        rustix::fs::utimensat(parent, name, &self.times(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(entry_error(entry, "set times"))
    }

    fn settable_xattrs<'a>(
        &'a self,
        entry: &'a str,
    ) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        self.xattrs.iter().filter_map(move |(name, value)| {
            if name.starts_with(OVERLAY_XATTR) {
                tracing::warn!(
                    entry,
                    xattr = %String::from_utf8_lossy(name),
                    "ignoring an overlayfs attribute carried by the archive"
                );
                return None;
            }
            Some((name.as_slice(), value.as_slice()))
        })
    }
}

/// Attributes the file system cannot hold are skipped with a warning, as Docker does.
fn tolerate_unsupported(
    result: rustix::io::Result<()>,
    entry: &str,
    name: &[u8],
) -> rustix::io::Result<()> {
    match result {
        Err(Errno::OPNOTSUPP) => {
            tracing::warn!(
                entry,
                xattr = %String::from_utf8_lossy(name),
                "the file system does not support this extended attribute; skipped"
            );
            Ok(())
        }
        other => other,
    }
}

pub(crate) fn entry_error<'a>(
    entry: &'a str,
    op: &'static str,
) -> impl Fn(Errno) -> LayerError + 'a {
    move |e| LayerError::Entry {
        entry: entry.to_owned(),
        op,
        source: e.into(),
    }
}

fn uid(value: u32) -> Uid {
    Uid::from_raw(value)
}

fn gid(value: u32) -> Gid {
    Gid::from_raw(value)
}

fn parse_decimal(field: &'static str, value: &[u8]) -> Result<u64, Refusal> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Refusal::BadHeader {
            field,
            message: format!("{:?} is not a number", String::from_utf8_lossy(value)),
        })
}

/// A PAX time: decimal seconds with an optional fraction, possibly negative.
fn parse_pax_time(value: &[u8]) -> Result<(i64, u32), Refusal> {
    let invalid = || Refusal::BadHeader {
        field: "mtime",
        message: format!("{:?} is not a time", String::from_utf8_lossy(value)),
    };
    let text = std::str::from_utf8(value).map_err(|_| invalid())?;
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let seconds: i64 = whole.parse().map_err(|_| invalid())?;
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let digits: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(9)
        .collect();
    let nanos: u32 = digits.parse().map_err(|_| invalid())?;
    Ok(match (negative, nanos) {
        (false, _) => (seconds, nanos),
        (true, 0) => (-seconds, 0),
        (true, _) => (-seconds - 1, 1_000_000_000 - nanos),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time(b"1700000000").unwrap(), (1_700_000_000, 0));
        assert_eq!(
            parse_pax_time(b"1700000000.5").unwrap(),
            (1_700_000_000, 500_000_000)
        );
        assert_eq!(parse_pax_time(b"1.1234567891").unwrap(), (1, 123_456_789));
        assert_eq!(parse_pax_time(b"-1.25").unwrap(), (-2, 750_000_000));
        assert!(parse_pax_time(b"x").is_err());
        assert!(parse_pax_time(b"1.x").is_err());
    }
}
