//! What a benchmark's `kmicro run` child gets of the host, so that it never touches a real
//! cluster's on this machine nor leaves anything behind: its own cgroup root, its own pod
//! network (bridge `kmb-<pid>-<n>` on a free /24 of `10.245.0.0/16`), and a proxy that goes
//! nowhere for registry pulls (a benchmark's pods name images such as
//! `registry.k8s.io/pause` that must fail here rather than reach the internet). It runs no
//! service proxy and no cluster DNS: they would take k3s's service CIDR in the host's tables
//! and its DNS address (10.43.0.10) on the host, as a real kmicro's do; no benchmark measures
//! them. [`ChildHost::release`]
//! kills the pods' processes, unmounts their root filesystems and removes the network.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context;

/// Where pulls of a child go: a closed loopback port, so they fail at once, locally.
const NOWHERE_PROXY: &str = "http://127.0.0.1:9";

/// Children started by this process so far (names and subnets stay distinct).
static STARTED: AtomicU32 = AtomicU32::new(0);

/// A child cluster's share of the host.
#[derive(Debug)]
pub(crate) struct ChildHost {
    cgroup_root: String,
    bridge: String,
    subnet: String,
}

impl ChildHost {
    /// Picks the next child's names and a /24 not routed on this machine.
    pub(crate) fn new() -> anyhow::Result<Self> {
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        Ok(Self {
            cgroup_root: format!("kmicro-bench-{pid}-{n}"),
            bridge: format!("kmb-{pid}-{n}"),
            subnet: free_subnet(n).context("finding a free /24 in 10.245.0.0/16")?,
        })
    }

    /// The `kmicro run` flags that give the child this share.
    pub(crate) fn flags(&self) -> Vec<String> {
        [
            "--cgroup-root",
            &self.cgroup_root,
            "--cni-bridge",
            &self.bridge,
            "--cluster-cidr",
            &self.subnet,
            "--disable-kube-proxy",
            "--disable",
            "coredns",
        ]
        .map(String::from)
        .to_vec()
    }

    /// The environment that sends the child's registry pulls nowhere.
    pub(crate) fn env(&self) -> [(&'static str, &'static str); 2] {
        [
            ("HTTPS_PROXY", NOWHERE_PROXY),
            ("HTTP_PROXY", NOWHERE_PROXY),
        ]
    }

    /// Removes what the child's pods left once the child is gone: their processes, the
    /// mounts under `data_dir`, the bridge and its rules.
    pub(crate) fn release(&self, data_dir: &Path) {
        kill_cgroup(&self.cgroup_root);
        unmount_under(data_dir);
        if let Err(err) = kmicro_network::remove_network(&self.bridge, &self.bridge) {
            tracing::warn!(%err, bridge = %self.bridge, "removing a benchmark's pod network");
        }
    }
}

/// The first `10.245.N.0/24` from the `skip`-th on that no IPv4 route of this machine
/// (`/proc/net/route`) overlaps (earlier children of this process may not have routed theirs
/// yet).
fn free_subnet(skip: u32) -> anyhow::Result<String> {
    let table = std::fs::read_to_string("/proc/net/route").context("reading /proc/net/route")?;
    let routes: Vec<(u32, u32)> = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The file prints the address's bytes (network order) read as a native integer.
            Some((
                u32::from_be_bytes(dest.to_ne_bytes()),
                u32::from_be_bytes(mask.to_ne_bytes()),
            ))
        })
        .filter(|(_, mask)| *mask != 0)
        .collect();
    (skip.min(255)..=255u32)
        .map(|n| (10 << 24) | (245 << 16) | (n << 8))
        .find(|net| {
            routes.iter().all(|(dest, mask)| {
                let common = mask & 0xffff_ff00;
                dest & common != net & common
            })
        })
        .map(|net| format!("{}/24", std::net::Ipv4Addr::from(net)))
        .context("every /24 of 10.245.0.0/16 is routed on this machine")
}

/// Kills what runs in cgroup `root` (every hierarchy) and removes its cgroups: the pods'
/// containers, which outlive the stopped child.
fn kill_cgroup(root: &str) {
    fn walk(dir: &Path, pids: &mut Vec<i32>, dirs: &mut Vec<PathBuf>) {
        if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                walk(&entry.path(), pids, dirs);
            }
        }
        dirs.push(dir.to_path_buf());
    }
    for _ in 0..50 {
        let (mut pids, mut dirs) = (Vec::new(), Vec::new());
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let top = hierarchy.path().join(root);
            if top.is_dir() {
                walk(&top, &mut pids, &mut dirs);
            }
        }
        let top = Path::new("/sys/fs/cgroup").join(root);
        if top.join("cgroup.procs").exists() {
            walk(&top, &mut pids, &mut dirs);
        }
        if pids.is_empty() {
            for dir in dirs {
                let _ = std::fs::remove_dir(dir);
            }
            return;
        }
        for pid in pids {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Unmounts (detached) what the runtime mounted under `dir`, deepest first.
fn unmount_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        let _ = rustix::mount::unmount(&point, rustix::mount::UnmountFlags::DETACH);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_get_distinct_names_and_bench_subnets() {
        let (a, b) = (ChildHost::new().unwrap(), ChildHost::new().unwrap());
        assert_ne!(a.bridge, b.bridge);
        assert_ne!(a.cgroup_root, b.cgroup_root);
        for host in [&a, &b] {
            assert!(host.bridge.len() <= 15, "{}", host.bridge);
            assert!(
                host.subnet.starts_with("10.245.") && host.subnet.ends_with(".0/24"),
                "{}",
                host.subnet
            );
        }
    }
}
