//! Pod sandboxes: the network, IPC and UTS namespaces a pod's containers share, kept alive
//! by bind mounts (as `ip netns` does) instead of a pause process, and the pod's `/dev/shm`.
//!
//! The namespaces are made by a short-lived **thread** rather than a child process:
//! `unshare(CLONE_NEWNET|CLONE_NEWIPC|CLONE_NEWUTS)` is allowed per thread in a multi-threaded
//! process (only user and mount namespaces need a single-threaded caller), the thread sets the
//! hostname, bind-mounts `/proc/thread-self/ns/{net,ipc,uts}` onto files under
//! `<state-dir>/sandboxes/<id>/ns/` and exits. No fork of kmicro, no async-signal-safety rules,
//! and the namespaces live on through the mounts.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rootfs::cstr;
use crate::spec::SandboxSpec;

/// A created sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sandbox {
    /// What it was created from.
    pub spec: SandboxSpec,
    /// Its state directory (`<state-dir>/sandboxes/<id>`).
    pub dir: PathBuf,
}

impl Sandbox {
    /// The id.
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// The network namespace file to hand to CNI (`None` with `hostNetwork`).
    pub fn netns_path(&self) -> Option<PathBuf> {
        (!self.spec.host_network).then(|| self.dir.join("ns/net"))
    }

    /// The IPC namespace file (`None` with `hostIPC`).
    pub fn ipcns_path(&self) -> Option<PathBuf> {
        (!self.spec.host_ipc).then(|| self.dir.join("ns/ipc"))
    }

    /// The UTS namespace file (`None` with `hostNetwork`, whose pods keep the host's name).
    pub fn utsns_path(&self) -> Option<PathBuf> {
        (!self.spec.host_network).then(|| self.dir.join("ns/uts"))
    }

    /// The pod's `/dev/shm` (a tmpfs of the sandbox, or the host's with `hostIPC`).
    pub fn shm_path(&self) -> PathBuf {
        if self.spec.host_ipc {
            PathBuf::from("/dev/shm")
        } else {
            self.dir.join("shm")
        }
    }
}

pub(crate) fn validate_id(field: &str, id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > 64
        || id.starts_with('.')
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(Error::invalid(
            field,
            format!("{id:?}: 1–64 characters of [A-Za-z0-9_.-], not starting with '.'"),
        ));
    }
    Ok(())
}

fn json_path(dir: &Path) -> PathBuf {
    dir.join("sandbox.json")
}

/// Creates the sandbox's namespaces and state under `root` (`<state-dir>/sandboxes`).
pub(crate) fn create(root: &Path, spec: &SandboxSpec) -> Result<Sandbox> {
    validate_id("sandbox id", &spec.id)?;
    validate_id("pod_uid", &spec.pod_uid)?;
    if spec.hostname.len() > 64 {
        return Err(Error::invalid("hostname", "longer than 64 bytes"));
    }
    let dir = root.join(&spec.id);
    match fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::AlreadyExists {
                kind: "sandbox",
                id: spec.id.clone(),
            });
        }
        Err(e) => return Err(Error::io("create", &dir, e)),
    }
    let sandbox = Sandbox {
        spec: spec.clone(),
        dir: dir.clone(),
    };
    let made = (|| -> Result<()> {
        fs::create_dir(dir.join("ns")).map_err(|e| Error::io("create", dir.join("ns"), e))?;
        let mut kinds = Vec::new();
        if !spec.host_network {
            kinds.push("net");
            kinds.push("uts");
        }
        if !spec.host_ipc {
            kinds.push("ipc");
            let shm = dir.join("shm");
            fs::create_dir(&shm).map_err(|e| Error::io("create", &shm, e))?;
            let size = spec.shm_size.unwrap_or(64 << 20);
            rustix::mount::mount(
                c"shm",
                cstr(&shm)?.as_c_str(),
                c"tmpfs",
                rustix::mount::MountFlags::NOSUID
                    | rustix::mount::MountFlags::NODEV
                    | rustix::mount::MountFlags::NOEXEC,
                cstr(format!("mode=1777,size={size}"))?.as_c_str(),
            )
            .map_err(|e| Error::io("mount tmpfs", &shm, e.into()))?;
        }
        if !kinds.is_empty() {
            make_namespaces(&dir, &kinds, &spec.hostname)?;
        }
        let json = serde_json::to_vec_pretty(&sandbox).map_err(|e| Error::State {
            path: json_path(&dir),
            reason: e.to_string(),
        })?;
        crate::state::write_atomic(&json_path(&dir), &json)
    })();
    if let Err(e) = made {
        let _ = remove_dir(&dir);
        return Err(e);
    }
    Ok(sandbox)
}

/// On a fresh thread: unshare, set the hostname, bind the namespace files. The thread ends,
/// so nothing else ever runs in those namespaces by accident.
fn make_namespaces(dir: &Path, kinds: &[&'static str], hostname: &str) -> Result<()> {
    use rustix::thread::UnshareFlags;
    let mut flags = UnshareFlags::empty();
    let mut targets = Vec::new();
    for kind in kinds {
        flags |= match *kind {
            "net" => UnshareFlags::NEWNET,
            "uts" => UnshareFlags::NEWUTS,
            _ => UnshareFlags::NEWIPC,
        };
        let target = dir.join("ns").join(kind);
        fs::File::create(&target).map_err(|e| Error::io("create", &target, e))?;
        targets.push((*kind, target));
    }
    let hostname = hostname.to_string();
    std::thread::Builder::new()
        .name("kmicro-sandbox".into())
        .spawn(move || -> Result<()> {
            #[allow(unsafe_code)]
            // SAFETY: only this thread's namespaces change (no CLONE_FS/CLONE_FILES/NEWNS/
            // NEWUSER), and the thread ends right after; no other code runs on it.
            unsafe { rustix::thread::unshare_unsafe(flags) }
                .map_err(|e| Error::sys("unshare the sandbox namespaces", e))?;
            if flags.contains(UnshareFlags::NEWUTS) && !hostname.is_empty() {
                rustix::system::sethostname(hostname.as_bytes())
                    .map_err(|e| Error::sys("sethostname", e))?;
            }
            for (kind, target) in &targets {
                let source = format!("/proc/thread-self/ns/{kind}");
                rustix::mount::mount_bind(source.as_str(), target.as_path())
                    .map_err(|e| Error::io("bind-mount namespace", target, e.into()))?;
            }
            Ok(())
        })
        .map_err(|e| Error::sys("spawn the sandbox thread", e))?
        .join()
        .map_err(|_| Error::sys("sandbox thread", std::io::Error::other("panicked")))?
}

/// Reads a sandbox's state.
pub(crate) fn load(root: &Path, id: &str) -> Result<Sandbox> {
    validate_id("sandbox id", id)?;
    let path = json_path(&root.join(id));
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::SandboxNotFound(id.to_string()));
        }
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| Error::State {
        path,
        reason: e.to_string(),
    })
}

/// Unmounts and deletes a sandbox's namespaces, shm and directory.
pub(crate) fn remove(root: &Path, id: &str) -> Result<()> {
    validate_id("sandbox id", id)?;
    let dir = root.join(id);
    if !dir.exists() {
        return Err(Error::SandboxNotFound(id.to_string()));
    }
    remove_dir(&dir)
}

fn remove_dir(dir: &Path) -> Result<()> {
    for kind in ["net", "uts", "ipc"] {
        let p = dir.join("ns").join(kind);
        if p.exists() {
            match rustix::mount::unmount(p.as_path(), rustix::mount::UnmountFlags::DETACH) {
                Ok(()) | Err(rustix::io::Errno::INVAL) => {}
                Err(e) => return Err(Error::io("unmount", &p, e.into())),
            }
        }
    }
    let shm = dir.join("shm");
    if shm.exists() {
        match rustix::mount::unmount(shm.as_path(), rustix::mount::UnmountFlags::DETACH) {
            Ok(()) | Err(rustix::io::Errno::INVAL) => {}
            Err(e) => return Err(Error::io("unmount", &shm, e.into())),
        }
    }
    fs::remove_dir_all(dir).map_err(|e| Error::io("remove", dir, e))
}

/// Every sandbox under `root`.
pub(crate) fn list(root: &Path) -> Result<Vec<Sandbox>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("list", root, e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        match load(root, &name) {
            Ok(s) => out.push(s),
            Err(e) => tracing::warn!(sandbox = %name, error = %e, "skipping unreadable sandbox"),
        }
    }
    out.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
    Ok(out)
}
