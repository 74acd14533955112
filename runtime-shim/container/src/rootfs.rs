//! The container's filesystem plan: paths resolved inside the rootfs, mount points created,
//! and the ordered mount steps (`/proc`, `/dev`, `/sys`, volumes, `/etc` files, pivot_root,
//! masked and read-only paths).

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use crate::child::Op;
use crate::error::{Error, Result};
use crate::spec::BindMount;

/// `/proc` and `/sys` entries hidden from unprivileged containers (runc's defaults).
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// `/proc` entries read-only in unprivileged containers (runc's defaults).
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The devices of an unprivileged container: name, major, minor.
const DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

pub(crate) fn cstr(p: impl AsRef<Path>) -> Result<CString> {
    CString::new(p.as_ref().as_os_str().as_bytes()).map_err(|_| {
        Error::invalid(
            "path",
            format!("{} contains a NUL byte", p.as_ref().display()),
        )
    })
}

/// Resolves the container path `path` inside `root` as the container would see it: symbolic
/// links are followed relative to `root` (an absolute link target starts again at `root`,
/// `..` stops at `root`), so no image content can point a mount outside the rootfs. Missing
/// components are kept as written.
pub fn secure_join(root: &Path, path: &str) -> Result<PathBuf> {
    let mut pending: Vec<PathBuf> = Path::new(path)
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(PathBuf::from(n)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect();
    let mut resolved: Vec<PathBuf> = Vec::new();
    let mut links = 0;
    while let Some(comp) = pending.pop() {
        if comp.as_os_str() == ".." {
            resolved.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&comp);
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(Error::invalid(
                        "path",
                        format!("{path}: too many symbolic links inside {}", root.display()),
                    ));
                }
                let target =
                    fs::read_link(&candidate).map_err(|e| Error::io("readlink", &candidate, e))?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(n) => pending.push(PathBuf::from(n)),
                        Component::ParentDir => pending.push(PathBuf::from("..")),
                        _ => {}
                    }
                }
            }
            _ => resolved.push(comp),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&resolved);
    Ok(out)
}

/// Creates a mount point: a directory, or (for a file source) an empty file with its parent
/// directories.
fn make_mount_point(host_target: &Path, dir: bool) -> Result<()> {
    if dir {
        return fs::create_dir_all(host_target)
            .map_err(|e| Error::io("create mount point", host_target, e));
    }
    if let Some(parent) = host_target.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io("create mount point", parent, e))?;
    }
    if !host_target.exists() {
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(host_target)
            .map_err(|e| Error::io("create mount point", host_target, e))?;
    }
    Ok(())
}

fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<Op> {
    let c = |s: &str| cstr(s);
    Ok(Op::Mount {
        source: source.map(c).transpose()?,
        target: cstr(target)?,
        fstype: fstype.map(c).transpose()?,
        flags,
        data: data.map(c).transpose()?,
    })
}

/// What shapes a container's filesystem.
pub(crate) struct FsSpec<'a> {
    pub rootfs: &'a Path,
    pub mounts: &'a [BindMount],
    pub etc_files: Vec<(&'static str, &'a Path)>,
    /// The pod's `/dev/shm` (a tmpfs of the sandbox, or the host's for hostIPC).
    pub shm: &'a Path,
    pub read_only_rootfs: bool,
    pub privileged: bool,
    pub cwd: &'a str,
}

/// Builds the filesystem steps of a new container (run in its new mount namespace).
/// Mount points inside the rootfs are created here, in kmicro, with paths resolved by
/// [`secure_join`].
pub(crate) fn plan(fs_spec: &FsSpec<'_>) -> Result<Vec<Op>> {
    let root = fs_spec.rootfs;
    if !root.is_dir() {
        return Err(Error::invalid(
            "rootfs",
            format!("{} is not a directory", root.display()),
        ));
    }
    let nosuid_nodev_noexec = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let mut ops = vec![
        // Nothing done in here propagates to the host; host unmounts still reach us.
        Op::Mount {
            source: None,
            target: c"/".into(),
            fstype: None,
            flags: libc::MS_REC | libc::MS_SLAVE,
            data: None,
        },
        // pivot_root needs the new root to be a mount point.
        mount(
            Some(&root.to_string_lossy()),
            root,
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        )?,
    ];
    for d in ["proc", "dev", "sys"] {
        let p = secure_join(root, d)?;
        make_mount_point(&p, true)?;
    }
    ops.push(mount(
        Some("proc"),
        &secure_join(root, "/proc")?,
        Some("proc"),
        nosuid_nodev_noexec,
        None,
    )?);
    let dev = secure_join(root, "/dev")?;
    ops.push(mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?);
    for d in ["pts", "shm", "mqueue"] {
        ops.push(Op::Mkdir {
            path: cstr(dev.join(d))?,
            mode: 0o755,
        });
    }
    if fs_spec.privileged {
        let mut made_dirs = std::collections::BTreeSet::new();
        for (path, mode, rdev) in host_devices()? {
            let rel = path.strip_prefix("/dev").unwrap_or(&path);
            let target = dev.join(rel);
            let mut parents: Vec<&Path> = target
                .ancestors()
                .skip(1)
                .take_while(|p| *p != dev)
                .collect();
            parents.reverse();
            for parent in parents {
                if made_dirs.insert(parent.to_path_buf()) {
                    ops.push(Op::Mkdir {
                        path: cstr(parent)?,
                        mode: 0o755,
                    });
                }
            }
            ops.push(Op::Mknod {
                path: cstr(&target)?,
                mode,
                dev: rdev,
            });
        }
    } else {
        for (name, major, minor) in DEVICES {
            ops.push(Op::Mknod {
                path: cstr(dev.join(name))?,
                mode: libc::S_IFCHR | 0o666,
                dev: libc::makedev(major, minor),
            });
        }
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
        ("ptmx", "pts/ptmx"),
    ] {
        ops.push(Op::Symlink {
            target: cstr(target)?,
            link: cstr(dev.join(link))?,
        });
    }
    ops.push(mount(
        Some("devpts"),
        &dev.join("pts"),
        Some("devpts"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?);
    ops.push(mount(
        Some(&fs_spec.shm.to_string_lossy()),
        &dev.join("shm"),
        None,
        libc::MS_BIND,
        None,
    )?);
    ops.push(mount(
        Some("mqueue"),
        &dev.join("mqueue"),
        Some("mqueue"),
        nosuid_nodev_noexec,
        None,
    )?);
    let sys_ro = if fs_spec.privileged {
        0
    } else {
        libc::MS_RDONLY
    };
    ops.push(mount(
        Some("sysfs"),
        &secure_join(root, "/sys")?,
        Some("sysfs"),
        nosuid_nodev_noexec | sys_ro,
        None,
    )?);

    // Volumes, parents before children; then the pod's /etc files.
    let mut binds: Vec<(PathBuf, String, bool)> = fs_spec
        .mounts
        .iter()
        .map(|m| (m.source.clone(), m.target.clone(), m.read_only))
        .collect();
    binds.sort_by_key(|(_, t, _)| Path::new(t).components().count());
    for (name, src) in &fs_spec.etc_files {
        binds.push((
            src.to_path_buf(),
            format!("/etc/{name}"),
            fs_spec.read_only_rootfs,
        ));
    }
    for (i, (source, target, read_only)) in binds.iter().enumerate() {
        if !target.starts_with('/') {
            return Err(Error::invalid(
                format!("mounts[{i}].target"),
                format!("{target} is not an absolute path"),
            ));
        }
        let meta = fs::metadata(source).map_err(|e| Error::io("stat mount source", source, e))?;
        let host_target = secure_join(root, target)?;
        if host_target.starts_with(&dev) && host_target != dev {
            // `/dev` is the child's own tmpfs (`/dev/termination-log`, a volume under
            // `/dev`): the mount point is made there, by the child, after that mount.
            let mut parents: Vec<&Path> = host_target
                .ancestors()
                .skip(1)
                .take_while(|p| *p != dev)
                .collect();
            parents.reverse();
            for parent in parents {
                ops.push(Op::Mkdir {
                    path: cstr(parent)?,
                    mode: 0o755,
                });
            }
            ops.push(if meta.is_dir() {
                Op::Mkdir {
                    path: cstr(&host_target)?,
                    mode: 0o755,
                }
            } else {
                Op::Mknod {
                    path: cstr(&host_target)?,
                    mode: libc::S_IFREG | 0o644,
                    dev: 0,
                }
            });
        } else {
            make_mount_point(&host_target, meta.is_dir())?;
        }
        ops.push(mount(
            Some(&source.to_string_lossy()),
            &host_target,
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        )?);
        if *read_only {
            ops.push(Op::Mount {
                source: None,
                target: cstr(&host_target)?,
                fstype: None,
                flags: libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC,
                data: None,
            });
        }
    }

    let cwd = if fs_spec.cwd.is_empty() {
        "/"
    } else {
        fs_spec.cwd
    };
    if !cwd.starts_with('/') {
        return Err(Error::invalid(
            "cwd",
            format!("{cwd} is not an absolute path"),
        ));
    }
    make_mount_point(&secure_join(root, cwd)?, true)?;

    ops.push(Op::PivotRoot {
        rootfs: cstr(root)?,
    });
    if !fs_spec.privileged {
        for p in MASKED_PATHS {
            ops.push(Op::Mask { path: cstr(p)? });
        }
        for p in READONLY_PATHS {
            ops.push(Op::ReadOnly { path: cstr(p)? });
        }
    }
    if fs_spec.read_only_rootfs {
        ops.push(Op::ReadOnlyRoot);
    }
    ops.push(Op::Chdir { path: cstr(cwd)? });
    Ok(ops)
}

/// The host's devices for a privileged container: every character and block device under
/// `/dev` (three levels), except the terminal and IPC instances a container has its own of.
fn host_devices() -> Result<Vec<(PathBuf, u32, u64)>> {
    let mut out = Vec::new();
    let mut stack = vec![(PathBuf::from("/dev"), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if depth == 0
                && ["pts", "shm", "mqueue", "console", "ptmx", "fd", "core"]
                    .iter()
                    .any(|n| name.as_bytes() == n.as_bytes())
            {
                continue;
            }
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = meta.file_type();
            if ft.is_dir() && depth < 2 {
                stack.push((path, depth + 1));
            } else if ft.is_char_device() || ft.is_block_device() {
                out.push((path, meta.mode(), meta.rdev()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_stay_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("real/etc")).unwrap();
        symlink("/real/etc", root.join("etc")).unwrap();
        symlink("../../../../../../host", root.join("real/up")).unwrap();
        symlink("/", root.join("real/abs")).unwrap();
        assert_eq!(
            secure_join(root, "/etc/hosts").unwrap(),
            root.join("real/etc/hosts")
        );
        assert_eq!(
            secure_join(root, "/real/up/x").unwrap(),
            root.join("host/x")
        );
        assert_eq!(
            secure_join(root, "/real/abs/../../x").unwrap(),
            root.join("x")
        );
        assert_eq!(secure_join(root, "a/../../b").unwrap(), root.join("b"));
        symlink("loop", root.join("loop")).unwrap();
        assert!(secure_join(root, "/loop/x").is_err());
    }
}
