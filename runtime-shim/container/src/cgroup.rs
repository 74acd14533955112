//! Container cgroups on cgroup v1 and v2: creation with limits, placement, OOM counters,
//! removal.
//!
//! A small layer of its own rather than `cgroups-rs`: cgroups-rs 0.4/0.5 depend on `zbus`
//! (a D-Bus stack with its own executor) unconditionally, which does not fit a 16 MiB binary,
//! 0.3 brings a second `nix` and the full `regex`; and its v2 root is fixed at
//! `/sys/fs/cgroup`, so the v2 writes cannot be exercised against another mount. What a
//! container needs is a handful of files per controller, written here.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::spec::Resources;

/// The v1 controllers a container is placed in (others stay at kmicro's group).
const V1_CONTROLLERS: [&str; 5] = ["cpu", "cpuacct", "memory", "pids", "devices"];
/// The v2 controllers enabled down to a container's group, when the hierarchy has them.
const V2_CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];

/// Where the cgroup hierarchies are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgroupLayout {
    /// cgroup v1 (or hybrid): one mount point per controller (co-mounted controllers share one).
    V1 {
        /// Controller name → its hierarchy's mount point.
        mounts: BTreeMap<String, PathBuf>,
    },
    /// cgroup v2 (unified): one hierarchy.
    V2 {
        /// Its mount point.
        mount: PathBuf,
    },
}

impl CgroupLayout {
    /// The layout of this machine: v2 when `/sys/fs/cgroup` is a cgroup2 mount, else the v1
    /// controller mounts found in `/proc/self/mountinfo`.
    pub fn detect() -> Result<Self> {
        let text = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| Error::io("read", "/proc/self/mountinfo", e))?;
        let mut mounts = BTreeMap::new();
        for line in text.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let Some(point) = left.split(' ').nth(4) else {
                continue;
            };
            let mut r = right.split(' ');
            let fstype = r.next().unwrap_or("");
            let _source = r.next();
            let superopts = r.next().unwrap_or("");
            if fstype == "cgroup2" && point == "/sys/fs/cgroup" {
                return Ok(CgroupLayout::V2 {
                    mount: PathBuf::from(point),
                });
            }
            if fstype == "cgroup" {
                for opt in superopts.split(',') {
                    if V1_CONTROLLERS.contains(&opt) {
                        mounts
                            .entry(opt.to_string())
                            .or_insert_with(|| PathBuf::from(point));
                    }
                }
            }
        }
        if mounts.is_empty() {
            return Err(Error::Cgroup {
                path: "/sys/fs/cgroup".into(),
                reason: "neither a cgroup2 mount nor cgroup v1 controllers found".into(),
            });
        }
        Ok(CgroupLayout::V1 { mounts })
    }

    /// Is this the unified hierarchy?
    pub fn is_v2(&self) -> bool {
        matches!(self, CgroupLayout::V2 { .. })
    }

    /// The distinct directories of group `rel` (one per v1 hierarchy, one on v2).
    pub fn dirs(&self, rel: &Path) -> Vec<PathBuf> {
        match self {
            CgroupLayout::V2 { mount } => vec![mount.join(rel)],
            CgroupLayout::V1 { mounts } => {
                let mut dirs: Vec<PathBuf> = mounts.values().map(|m| m.join(rel)).collect();
                dirs.sort();
                dirs.dedup();
                dirs
            }
        }
    }

    fn controller_dir(&self, controller: &str, rel: &Path) -> Option<PathBuf> {
        match self {
            CgroupLayout::V2 { mount } => Some(mount.join(rel)),
            CgroupLayout::V1 { mounts } => mounts.get(controller).map(|m| m.join(rel)),
        }
    }
}

/// One container's cgroup (the same relative path in every hierarchy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerCgroup {
    /// The hierarchies.
    pub layout: CgroupLayout,
    /// The group's path relative to each hierarchy's root (`kmicro/pods/<pod>/<container>`).
    pub rel: PathBuf,
}

fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(|e| Error::io("write", path, e))
}

fn mkdir_all(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(|e| Error::io("create cgroup", path, e))
}

/// kubelet's `MilliCPUToShares`.
pub fn cpu_shares(milli: u64) -> u64 {
    (milli * 1024 / 1000).clamp(2, 262_144)
}

/// cgroup v1 shares → v2 weight (the conversion of runc and the kernel documentation).
pub fn cpu_weight(shares: u64) -> u64 {
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// The CFS quota for a limit in millicores (at least 1 ms, as kubelet).
pub fn cpu_quota(milli: u64, period_us: u64) -> u64 {
    (milli * period_us / 1000).max(1000)
}

/// The device rules of an unprivileged container (v1 `devices.allow` lines after
/// `devices.deny a`): create any node, use only the standard ones.
const DEVICE_ALLOW: [&str; 11] = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

impl ContainerCgroup {
    /// Creates the group (and its ancestors), enables v2 controllers down to it and writes the
    /// limits. `restrict_devices` applies the standard device allow-list (v1; v2 needs an eBPF
    /// program, not done).
    pub fn create(
        layout: &CgroupLayout,
        rel: PathBuf,
        res: &Resources,
        restrict_devices: bool,
    ) -> Result<Self> {
        let cg = ContainerCgroup {
            layout: layout.clone(),
            rel,
        };
        match layout {
            CgroupLayout::V2 { mount } => {
                let mut dir = mount.clone();
                for comp in cg.rel.components() {
                    let available =
                        fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
                    let enabled =
                        fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
                    let want: Vec<String> = V2_CONTROLLERS
                        .iter()
                        .filter(|c| available.split_whitespace().any(|a| a == **c))
                        .filter(|c| !enabled.split_whitespace().any(|a| a == **c))
                        .map(|c| format!("+{c}"))
                        .collect();
                    if !want.is_empty() {
                        write(&dir.join("cgroup.subtree_control"), &want.join(" "))?;
                    }
                    dir.push(comp);
                    match fs::create_dir(&dir) {
                        Ok(()) => {}
                        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(Error::io("create cgroup", &dir, e)),
                    }
                }
            }
            CgroupLayout::V1 { .. } => {
                for dir in layout.dirs(&cg.rel) {
                    mkdir_all(&dir)?;
                }
            }
        }
        cg.apply(res, restrict_devices)?;
        Ok(cg)
    }

    fn need(&self, controller: &str, file: &str) -> Result<PathBuf> {
        let dir = self
            .layout
            .controller_dir(controller, &self.rel)
            .ok_or_else(|| Error::Cgroup {
                path: self.rel.clone(),
                reason: format!("no {controller} controller mounted"),
            })?;
        let path = dir.join(file);
        if !path.exists() {
            return Err(Error::Cgroup {
                path: dir,
                reason: format!("{file} missing: the {controller} controller is not enabled here"),
            });
        }
        Ok(path)
    }

    fn apply(&self, res: &Resources, restrict_devices: bool) -> Result<()> {
        let v2 = self.layout.is_v2();
        let period = res.cpu_period_us.unwrap_or(100_000);
        if let Some(milli) = res.cpu_request_millis {
            let shares = cpu_shares(milli);
            if v2 {
                write(
                    &self.need("cpu", "cpu.weight")?,
                    &cpu_weight(shares).to_string(),
                )?;
            } else {
                write(&self.need("cpu", "cpu.shares")?, &shares.to_string())?;
            }
        }
        if let Some(milli) = res.cpu_limit_millis {
            let quota = cpu_quota(milli, period);
            if v2 {
                write(&self.need("cpu", "cpu.max")?, &format!("{quota} {period}"))?;
            } else {
                write(&self.need("cpu", "cpu.cfs_period_us")?, &period.to_string())?;
                write(&self.need("cpu", "cpu.cfs_quota_us")?, &quota.to_string())?;
            }
        }
        if let Some(bytes) = res.memory_limit_bytes {
            if v2 {
                write(&self.need("memory", "memory.max")?, &bytes.to_string())?;
                // As kubelet without swap support: no swap for the container.
                if let Ok(p) = self.need("memory", "memory.swap.max") {
                    write(&p, "0")?;
                }
            } else {
                write(
                    &self.need("memory", "memory.limit_in_bytes")?,
                    &bytes.to_string(),
                )?;
            }
        }
        if let Some(n) = res.pids_limit {
            write(&self.need("pids", "pids.max")?, &n.to_string())?;
        }
        if restrict_devices
            && !v2
            && let Some(dir) = self.layout.controller_dir("devices", &self.rel)
        {
            write(&dir.join("devices.deny"), "a")?;
            for rule in DEVICE_ALLOW {
                write(&dir.join("devices.allow"), rule)?;
            }
        }
        Ok(())
    }

    /// The `cgroup.procs` file of every hierarchy the container joins.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.layout
            .dirs(&self.rel)
            .into_iter()
            .map(|d| d.join("cgroup.procs"))
            .collect()
    }

    /// How many times the kernel's OOM killer killed a process of this group (v1
    /// `memory.oom_control`'s `oom_kill`, v2 `memory.events`'s `oom_kill`); 0 when the
    /// counter is not available.
    pub fn oom_kills(&self) -> u64 {
        let file = if self.layout.is_v2() {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        let Some(dir) = self.layout.controller_dir("memory", &self.rel) else {
            return 0;
        };
        fs::read_to_string(dir.join(file))
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|v| v.trim().parse().ok())
                })
            })
            .unwrap_or(0)
    }

    /// The processes in the group (from its first hierarchy).
    pub fn pids(&self) -> Vec<i32> {
        self.procs_files()
            .first()
            .and_then(|f| fs::read_to_string(f).ok())
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Kills every process left in the group (`cgroup.kill` on v2 when present, else
    /// SIGKILL to each member until none remains or a second has passed).
    pub fn kill_all(&self) {
        if self.layout.is_v2() {
            let f = self.layout.dirs(&self.rel)[0].join("cgroup.kill");
            if f.exists() && fs::write(&f, "1").is_ok() {
                return;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let pids = self.pids();
            if pids.is_empty() || Instant::now() > deadline {
                return;
            }
            for pid in pids {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Removes the group from every hierarchy (waiting up to a second for exiting members),
    /// then the pod's group when it is empty.
    pub fn remove(&self) -> Result<()> {
        for dir in self.layout.dirs(&self.rel) {
            let deadline = Instant::now() + Duration::from_secs(1);
            loop {
                match fs::remove_dir(&dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == ErrorKind::NotFound => break,
                    Err(e)
                        if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(e) => return Err(Error::io("remove cgroup", &dir, e)),
                }
            }
            if let Some(parent) = dir.parent() {
                // The pod's group goes with its last container; busy or not empty means
                // another container still uses it.
                let _ = fs::remove_dir(parent);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_kubelet() {
        assert_eq!(cpu_shares(100), 102);
        assert_eq!(cpu_shares(0), 2);
        assert_eq!(cpu_weight(1024), 39);
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(262_144), 10_000);
        assert_eq!(cpu_quota(500, 100_000), 50_000);
        assert_eq!(cpu_quota(1, 100_000), 1000);
    }

    /// A fake v2 hierarchy in a temp dir: the files a kernel would create.
    fn fake_v2(root: &Path, rel: &Path) {
        fs::write(
            root.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        fs::write(root.join("cgroup.subtree_control"), "").unwrap();
        let mut dir = root.to_path_buf();
        for c in rel.components() {
            dir.push(c);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
            fs::write(dir.join("cgroup.subtree_control"), "").unwrap();
            for f in [
                "cpu.weight",
                "cpu.max",
                "memory.max",
                "memory.swap.max",
                "pids.max",
            ] {
                fs::write(dir.join(f), "").unwrap();
            }
        }
    }

    #[test]
    fn v2_writes_limits_and_enables_controllers() {
        let tmp = tempfile::tempdir().unwrap();
        let rel = PathBuf::from("kmicro/pods/p1/c1");
        fake_v2(tmp.path(), &rel);
        let layout = CgroupLayout::V2 {
            mount: tmp.path().to_path_buf(),
        };
        let res = Resources {
            cpu_request_millis: Some(250),
            cpu_limit_millis: Some(500),
            cpu_period_us: None,
            memory_limit_bytes: Some(16 << 20),
            pids_limit: Some(10),
        };
        let cg = ContainerCgroup::create(&layout, rel.clone(), &res, true).unwrap();
        let dir = tmp.path().join(&rel);
        let read = |f: &str| fs::read_to_string(dir.join(f)).unwrap();
        assert_eq!(read("cpu.weight"), cpu_weight(cpu_shares(250)).to_string());
        assert_eq!(read("cpu.max"), "50000 100000");
        assert_eq!(read("memory.max"), (16u64 << 20).to_string());
        assert_eq!(read("memory.swap.max"), "0");
        assert_eq!(read("pids.max"), "10");
        assert_eq!(
            fs::read_to_string(tmp.path().join("cgroup.subtree_control")).unwrap(),
            "+cpu +memory +pids"
        );
        assert_eq!(
            fs::read_to_string(tmp.path().join("kmicro/pods/p1/cgroup.subtree_control")).unwrap(),
            "+cpu +memory +pids"
        );
        assert_eq!(cg.procs_files(), vec![dir.join("cgroup.procs")]);
        fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        assert_eq!(cg.oom_kills(), 1);
    }

    #[test]
    fn v2_missing_controller_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("cgroup.controllers"), "hugetlb\n").unwrap();
        let layout = CgroupLayout::V2 {
            mount: tmp.path().to_path_buf(),
        };
        let res = Resources {
            memory_limit_bytes: Some(1 << 20),
            ..Default::default()
        };
        let err = ContainerCgroup::create(&layout, "k/c".into(), &res, false).unwrap_err();
        assert!(err.to_string().contains("memory.max missing"), "{err}");
    }

    #[test]
    fn v1_writes_each_controller() {
        let tmp = tempfile::tempdir().unwrap();
        let mut mounts = BTreeMap::new();
        for c in ["cpu", "memory", "pids", "devices"] {
            mounts.insert(c.to_string(), tmp.path().join(c));
        }
        mounts.insert("cpuacct".into(), tmp.path().join("cpu"));
        let rel = PathBuf::from("k/p/c");
        for c in ["cpu", "memory", "pids", "devices"] {
            let d = tmp.path().join(c).join(&rel);
            fs::create_dir_all(&d).unwrap();
            for f in [
                "cpu.shares",
                "cpu.cfs_period_us",
                "cpu.cfs_quota_us",
                "memory.limit_in_bytes",
                "pids.max",
            ] {
                fs::write(d.join(f), "").unwrap();
            }
        }
        let layout = CgroupLayout::V1 { mounts };
        let res = Resources {
            cpu_request_millis: Some(1000),
            cpu_limit_millis: Some(2000),
            cpu_period_us: Some(50_000),
            memory_limit_bytes: Some(1 << 30),
            pids_limit: Some(64),
        };
        let cg = ContainerCgroup::create(&layout, rel.clone(), &res, true).unwrap();
        let read =
            |c: &str, f: &str| fs::read_to_string(tmp.path().join(c).join(&rel).join(f)).unwrap();
        assert_eq!(read("cpu", "cpu.shares"), "1024");
        assert_eq!(read("cpu", "cpu.cfs_period_us"), "50000");
        assert_eq!(read("cpu", "cpu.cfs_quota_us"), "100000");
        assert_eq!(
            read("memory", "memory.limit_in_bytes"),
            (1u64 << 30).to_string()
        );
        assert_eq!(read("pids", "pids.max"), "64");
        // Files are overwritten per rule (the kernel appends); the last rule is what remains.
        assert_eq!(read("devices", "devices.allow"), "c 136:* rwm");
        assert_eq!(
            cg.procs_files().len(),
            4,
            "cpu and cpuacct share a hierarchy"
        );
    }
}
