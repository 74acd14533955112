//! What the node agent reports about this machine: who it is and what it has ([`HostInfo`],
//! read once at start), how much of it is free ([`Usage`], read at every status round), and
//! its address ([`net`]). Everything comes from `/proc`, `/sys`, `/etc` and a few system
//! calls; a source that is missing (a board without DMI, a container without
//! `/etc/machine-id`) leaves its field empty rather than failing.

mod net;
pub(crate) mod parse;

use std::path::Path;

pub(crate) use net::first_ipv4;

/// Facts about the machine that do not change while kmicro runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostInfo {
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// The firmware's system UUID (`/sys/class/dmi/id/product_uuid`), empty without DMI.
    pub system_uuid: String,
    /// `/proc/sys/kernel/random/boot_id`.
    pub boot_id: String,
    /// The kernel release (`uname -r`).
    pub kernel_version: String,
    /// `PRETTY_NAME` of `/etc/os-release`.
    pub os_image: String,
    /// The CPU architecture as Go names it (`amd64`, `arm64`, `arm`).
    pub architecture: &'static str,
    /// CPUs this process may use (affinity and cgroup quota included).
    pub cpus: usize,
    /// `MemTotal`, in bytes.
    pub memory_bytes: u64,
    /// Huge pages reserved, per page size: `(page size, bytes reserved)`.
    pub hugepages: Vec<(u64, u64)>,
}

impl HostInfo {
    /// Reads the facts (blocking file reads; call from a blocking context).
    pub fn read() -> Self {
        let meminfo = read_trimmed("/proc/meminfo");
        Self {
            machine_id: read_trimmed("/etc/machine-id"),
            system_uuid: read_trimmed("/sys/class/dmi/id/product_uuid"),
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
            kernel_version: rustix::system::uname()
                .release()
                .to_string_lossy()
                .into_owned(),
            os_image: ["/etc/os-release", "/usr/lib/os-release"]
                .iter()
                .find_map(|p| parse::os_release_pretty_name(&read_trimmed(p)))
                .unwrap_or_else(|| "Linux".to_string()),
            architecture: go_arch(std::env::consts::ARCH),
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            memory_bytes: parse::meminfo_bytes(&meminfo, "MemTotal").unwrap_or(0),
            hugepages: hugepages(),
        }
    }
}

/// How much of the machine is free now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// `MemAvailable`, in bytes (unknown when `/proc/meminfo` cannot be read).
    pub memory_available: Option<u64>,
    /// The data dir's file system: total and available to unprivileged users, in bytes.
    pub filesystem: Option<FilesystemUsage>,
    /// The data dir's file system's inodes (unknown where it does not count them, as btrfs).
    pub inodes: Option<InodeUsage>,
    /// Process ids: the most the kernel hands out and how many tasks exist.
    pub pids: Option<PidUsage>,
}

/// Space on one file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilesystemUsage {
    /// Total size, in bytes.
    pub capacity: u64,
    /// Free space available to unprivileged users, in bytes.
    pub available: u64,
}

/// Inodes of one file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InodeUsage {
    /// Inodes in all.
    pub total: u64,
    /// Inodes free.
    pub free: u64,
}

/// Process ids in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PidUsage {
    /// The smaller of `kernel.pid_max` and `kernel.threads-max`.
    pub max: u64,
    /// Tasks (processes and threads) that exist.
    pub used: u64,
}

impl Usage {
    /// Reads current usage, the file system being the one holding `data_dir` (blocking).
    pub fn read(data_dir: &Path) -> Self {
        let memory_available = parse::meminfo_bytes(&read_trimmed("/proc/meminfo"), "MemAvailable");
        let (filesystem, inodes) = match rustix::fs::statvfs(data_dir) {
            Ok(vfs) => (
                Some(FilesystemUsage {
                    capacity: vfs.f_blocks.saturating_mul(vfs.f_frsize),
                    available: vfs.f_bavail.saturating_mul(vfs.f_frsize),
                }),
                (vfs.f_files > 0).then_some(InodeUsage {
                    total: vfs.f_files,
                    free: vfs.f_ffree,
                }),
            ),
            Err(err) => {
                tracing::debug!(%err, dir = %data_dir.display(), "statvfs failed");
                (None, None)
            }
        };
        let limit = |path: &str| read_trimmed(path).parse::<u64>().ok();
        let max = match (
            limit("/proc/sys/kernel/pid_max"),
            limit("/proc/sys/kernel/threads-max"),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let used = parse::loadavg_tasks(&read_trimmed("/proc/loadavg"));
        Self {
            memory_available,
            filesystem,
            inodes,
            pids: max.zip(used).map(|(max, used)| PidUsage { max, used }),
        }
    }
}

/// Go's name of a Rust target architecture (what `GOARCH` and kube's labels say).
pub fn go_arch(rust_arch: &'static str) -> &'static str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        other => other,
    }
}

/// Reserved huge pages per page size, from `/sys/kernel/mm/hugepages/hugepages-<n>kB`.
fn hugepages() -> Vec<(u64, u64)> {
    let Ok(entries) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut sizes: Vec<(u64, u64)> = entries
        .flatten()
        .filter_map(|entry| {
            let size = parse::hugepage_dir_size(entry.file_name().to_str()?)?;
            let pages: u64 = read_trimmed(entry.path().join("nr_hugepages"))
                .parse()
                .unwrap_or(0);
            Some((size, pages.saturating_mul(size)))
        })
        .collect();
    sizes.sort_unstable();
    sizes
}

/// A file's text without surrounding white space; empty when it cannot be read.
fn read_trimmed(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_has_facts() {
        let host = HostInfo::read();
        assert!(host.cpus >= 1);
        assert!(host.memory_bytes > 0);
        assert!(!host.kernel_version.is_empty());
        assert!(!host.boot_id.is_empty());
        assert_eq!(host.architecture, go_arch(std::env::consts::ARCH));
        let usage = Usage::read(Path::new("/"));
        assert!(
            usage
                .memory_available
                .is_some_and(|m| m <= host.memory_bytes)
        );
        let fs = usage.filesystem.unwrap();
        assert!(fs.available <= fs.capacity && fs.capacity > 0);
        // Inodes are counted by most file systems (btrfs reports none).
        if let Some(inodes) = usage.inodes {
            assert!(inodes.free <= inodes.total && inodes.total > 0);
        }
        let pids = usage.pids.unwrap();
        assert!(pids.used > 0 && pids.used < pids.max);
    }

    #[test]
    fn go_architectures() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        assert_eq!(go_arch("arm"), "arm");
    }
}
