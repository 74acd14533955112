//! What survives kmicro: `<state-dir>/containers/<id>/state.json`, and the `/proc` facts that
//! tell a live container from a reused pid.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::cgroup::ContainerCgroup;
use crate::error::{Error, Result};
use crate::spec::ContainerSpec;

/// How a container's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitStatus {
    /// It exited with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
    /// It ended while another kmicro was its parent (or none was): the code is lost. The agent
    /// reports it as kubelet does an unknown status (`ContainerStatusUnknown`).
    Unknown,
}

impl ExitStatus {
    /// The code Kubernetes shows: the exit code, or 128 + the signal number; `None` when
    /// unknown.
    pub fn code(self) -> Option<i32> {
        match self {
            ExitStatus::Exited(c) => Some(c),
            ExitStatus::Signaled(s) => Some(128 + s),
            ExitStatus::Unknown => None,
        }
    }
}

/// A container's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// The exit code or signal.
    pub status: ExitStatus,
    /// The kernel's OOM killer killed a process of the container's cgroup (`OOMKilled`).
    pub oom_killed: bool,
    /// When kmicro saw it end.
    pub finished_at: SystemTime,
}

/// The state file of one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ContainerState {
    pub id: String,
    pub sandbox_id: String,
    /// The pid in kmicro's (the host's) pid namespace.
    pub pid: i32,
    /// `/proc/<pid>/stat` field 22 (start time in clock ticks since boot): a reused pid has
    /// another.
    pub start_ticks: u64,
    /// The container has a PID namespace of its own (not hostPID).
    pub own_pid_ns: bool,
    pub cgroup: ContainerCgroup,
    pub created_at: SystemTime,
    pub spec: ContainerSpec,
    pub exit: Option<Exit>,
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a crash of kmicro leaves
/// the old or the new content, never a torn one. Not fsync'd: it guards against kmicro dying,
/// not the machine (after a power loss no container runs anyway), and an fsync costs
/// milliseconds on every start and exit.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io("rename", path, e))
}

impl ContainerState {
    pub(crate) fn path(dir: &Path) -> PathBuf {
        dir.join("state.json")
    }

    pub(crate) fn save(&self, dir: &Path) -> Result<()> {
        let path = Self::path(dir);
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::State {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&path, &json)
    }

    pub(crate) fn load(dir: &Path) -> Result<Self> {
        let path = Self::path(dir);
        let bytes = fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::State {
            path,
            reason: e.to_string(),
        })
    }
}

/// The start time of process `pid` (`/proc/<pid>/stat` field 22), or `None` when no such
/// process exists.
pub fn proc_start_ticks(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_ticks(&stat)
}

fn parse_start_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: fields resume after the
    // last ')'. Field 3 is the first after it, so field 22 is the 20th.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The state letter of process `pid` (`R`, `S`, `Z`, …).
pub(crate) fn proc_state(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().next()?.chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_ticks_after_odd_names() {
        let stat =
            "1234 (a) b) (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100";
        assert_eq!(parse_start_ticks(stat), Some(987654));
        assert!(proc_start_ticks(std::process::id() as i32).is_some());
        assert_eq!(ExitStatus::Signaled(9).code(), Some(137));
        assert_eq!(ExitStatus::Unknown.code(), None);
    }
}
