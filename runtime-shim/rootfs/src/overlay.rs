//! overlayfs mounts: options within the kernel's one-page limit, mount, unmount, and telling
//! whether a directory is a mount point.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{MountFlags, UnmountFlags};

/// `mount(2)` copies at most one page of options, its final NUL included (4 KiB pages on
/// both x86_64 and armv7).
const OPTIONS_LIMIT: usize = 4095;

/// The options of one overlay mount, with the descriptors its `/proc/self/fd` lower paths
/// refer to (kept open until the mount is made).
pub(crate) struct OverlayOptions {
    pub(crate) options: String,
    _lower_fds: Vec<OwnedFd>,
}

/// Where the writable part of a mount lives.
pub(crate) struct Upper<'a> {
    pub(crate) upper: &'a Path,
    pub(crate) work: &'a Path,
}

/// Builds the options for `lowers` (top layer first). Lower directories are named by their
/// absolute paths while those fit in one page (so `/proc/self/mountinfo` stays readable);
/// otherwise by `/proc/self/fd/<n>` of a descriptor opened on each (17 bytes instead of a
/// 100-byte path, about 230 layers per page, more than overlayfs's 500-layer bound allows
/// images to need in practice; containerd gets the same effect with relative paths after a
/// `chdir`, which a multi-threaded process cannot do). `None` when even that does not fit.
pub(crate) fn options(
    lowers: &[PathBuf],
    upper: Option<Upper<'_>>,
    index_off: bool,
) -> io::Result<Option<OverlayOptions>> {
    let mut tail = String::new();
    if let Some(upper) = &upper {
        tail.push_str(&format!(
            ",upperdir={},workdir={}",
            upper.upper.display(),
            upper.work.display()
        ));
    }
    if index_off {
        tail.push_str(",index=off");
    }
    let absolute: Vec<String> = lowers.iter().map(|l| l.display().to_string()).collect();
    let options = format!("lowerdir={}{tail}", absolute.join(":"));
    if options.len() <= OPTIONS_LIMIT {
        return Ok(Some(OverlayOptions {
            options,
            _lower_fds: Vec::new(),
        }));
    }
    let mut fds = Vec::with_capacity(lowers.len());
    let mut names = Vec::with_capacity(lowers.len());
    for lower in lowers {
        let fd = rustix::fs::open(
            lower,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        names.push(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        fds.push(fd);
    }
    let options = format!("lowerdir={}{tail}", names.join(":"));
    if options.len() > OPTIONS_LIMIT {
        return Ok(None);
    }
    Ok(Some(OverlayOptions {
        options,
        _lower_fds: fds,
    }))
}

/// Mounts an overlay at `target`.
pub(crate) fn mount(target: &Path, options: &OverlayOptions, read_only: bool) -> io::Result<()> {
    let data = CString::new(options.options.as_str())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in mount options"))?;
    let flags = if read_only {
        MountFlags::RDONLY
    } else {
        MountFlags::empty()
    };
    rustix::mount::mount("overlay", target, "overlay", flags, data.as_c_str())?;
    Ok(())
}

/// Unmounts `target`; lazily (`MNT_DETACH`) when it is busy. Not mounted is not an error.
pub(crate) fn unmount(target: &Path) -> io::Result<()> {
    match rustix::mount::unmount(target, UnmountFlags::empty()) {
        Ok(()) | Err(Errno::INVAL) | Err(Errno::NOENT) => Ok(()),
        Err(Errno::BUSY) => {
            tracing::info!(target = %target.display(), "busy; unmounting lazily");
            rustix::mount::unmount(target, UnmountFlags::DETACH)?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether `path` is a mount point: its device differs from its parent's (an overlay has a
/// device of its own). A missing path is not one.
pub(crate) fn is_mount_point(path: &Path) -> io::Result<bool> {
    let stat = match rustix::fs::lstat(path) {
        Ok(stat) => stat,
        Err(Errno::NOENT) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let parent = path.parent().unwrap_or(Path::new("/"));
    let parent_stat = rustix::fs::lstat(parent)?;
    Ok(stat.st_dev != parent_stat.st_dev)
}

/// Whether the file system at `path` is mounted read-only.
pub(crate) fn is_read_only(path: &Path) -> io::Result<bool> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(stat.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
}

/// Whether overlayfs indexes by default on this kernel (`index=on`), which ties lower
/// directories to the first upper they were used with; kmicro shares lowers between many
/// containers, so it asks for `index=off` then, as Docker does.
pub(crate) fn index_on_by_default() -> bool {
    std::fs::read("/sys/module/overlay/parameters/index")
        .map(|v| v.first() == Some(&b'Y'))
        .unwrap_or(false)
}

/// Characters that overlayfs's option parser treats specially.
pub(crate) fn has_special_characters(path: &Path) -> bool {
    path.as_os_str()
        .as_bytes()
        .iter()
        .any(|b| matches!(b, b',' | b':' | b'\\' | b'=' | b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lower_lists_switch_to_descriptors() {
        let dir = tempfile::tempdir().unwrap();
        let mut lowers = Vec::new();
        for i in 0..60 {
            let lower = dir.path().join(format!("{i:0>64}"));
            std::fs::create_dir(&lower).unwrap();
            lowers.push(lower);
        }
        let short = options(&lowers[..3], None, false).unwrap().unwrap();
        assert!(
            short
                .options
                .starts_with(&format!("lowerdir={}:", lowers[0].display()))
        );
        let long = options(&lowers, None, true).unwrap().unwrap();
        assert!(long.options.starts_with("lowerdir=/proc/self/fd/"));
        assert!(long.options.ends_with(",index=off"));
        assert_eq!(long.options.matches("/proc/self/fd/").count(), 60);
        assert!(long.options.len() <= OPTIONS_LIMIT);
    }
}
