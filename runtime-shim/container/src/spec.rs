//! What the caller asks for: sandboxes, containers, exec sessions.
//!
//! The caller (the node agent) has already merged the Pod with the image config: `args` is
//! the command and arguments to run (image `Entrypoint`/`Cmd` with the Pod's `command`/`args`),
//! `env` the full environment, `cwd` the working directory, and `user` numeric ids (names
//! resolved against the image's `/etc/passwd` by the caller). This crate does no merging.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A pod sandbox: the namespaces a pod's containers share.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// The sandbox id (`[A-Za-z0-9_.-]`, at most 64 characters).
    pub id: String,
    /// The pod's uid: the pod's cgroup is `<cgroup-root>/pods/<pod_uid>`.
    pub pod_uid: String,
    /// The hostname set in the pod's UTS namespace (ignored with `host_network`, as kubelet).
    pub hostname: String,
    /// `hostNetwork`: containers stay in the host's network and UTS namespaces.
    pub host_network: bool,
    /// `hostIPC`: containers stay in the host's IPC namespace and see the host's `/dev/shm`.
    pub host_ipc: bool,
    /// `hostPID`: containers get no PID namespace of their own.
    pub host_pid: bool,
    /// Size of the pod's shared `/dev/shm` in bytes (default 64 MiB, as Docker and containerd).
    pub shm_size: Option<u64>,
}

/// A user and groups, numeric.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// Supplementary groups (`supplementalGroups`, `fsGroup`, the image user's groups).
    pub additional_gids: Vec<u32>,
}

/// A bind mount into the container (a volume, prepared by the agent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindMount {
    /// The host file or directory.
    pub source: PathBuf,
    /// The absolute path inside the container (created, as a file or directory like the
    /// source, when missing; symbolic links in the image are resolved inside the rootfs).
    pub target: String,
    /// Mount read-only.
    pub read_only: bool,
}

/// A resource limit (`setrlimit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    /// The resource, by its OCI name: `RLIMIT_NOFILE`, `RLIMIT_NPROC`, `RLIMIT_CORE`, … (the
    /// `RLIMIT_` prefix is optional).
    pub resource: RlimitResource,
    /// The soft limit.
    pub soft: u64,
    /// The hard limit.
    pub hard: u64,
}

/// The resources `setrlimit` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum RlimitResource {
    Cpu,
    Fsize,
    Data,
    Stack,
    Core,
    Rss,
    Nproc,
    Nofile,
    Memlock,
    As,
    Locks,
    Sigpending,
    Msgqueue,
    Nice,
    Rtprio,
    Rttime,
}

/// Cgroup resources of one container, from its requests and limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// CPU request in millicores: `cpu.shares` (v1) or `cpu.weight` (v2), as kubelet computes
    /// them (shares = milli × 1024 / 1000, at least 2).
    pub cpu_request_millis: Option<u64>,
    /// CPU limit in millicores: the CFS quota over `cpu_period_us`.
    pub cpu_limit_millis: Option<u64>,
    /// The CFS period in microseconds (default 100 000).
    pub cpu_period_us: Option<u64>,
    /// Memory limit in bytes (`memory.limit_in_bytes` / `memory.max`).
    pub memory_limit_bytes: Option<u64>,
    /// Maximum number of processes (`pids.max`).
    pub pids_limit: Option<u64>,
}

/// A container to start in a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// The container id (`[A-Za-z0-9_.-]`, at most 64 characters), chosen by the caller.
    pub id: String,
    /// The container's name in the pod (informational; listed back by [`crate::Runtime::list`]).
    pub name: String,
    /// The root filesystem directory, ready (the overlay snapshot).
    pub rootfs: PathBuf,
    /// The program and its arguments, already merged with the image config. `args[0]` without
    /// a `/` is looked up in the `PATH` of `env` inside the rootfs.
    pub args: Vec<String>,
    /// The full environment, `KEY=VALUE`.
    pub env: Vec<String>,
    /// The working directory inside the container (absolute; `/` when empty; created when
    /// missing, as runc does).
    pub cwd: String,
    /// The user and groups the process runs as.
    pub user: User,
    /// Bind mounts (volumes), mounted in the order given after sorting by target depth.
    pub mounts: Vec<BindMount>,
    /// The pod's `/etc/hosts` file on the host.
    pub etc_hosts: Option<PathBuf>,
    /// The pod's `/etc/resolv.conf` file on the host.
    pub etc_resolv_conf: Option<PathBuf>,
    /// The pod's `/etc/hostname` file on the host.
    pub etc_hostname: Option<PathBuf>,
    /// `readOnlyRootFilesystem`.
    pub read_only_rootfs: bool,
    /// `privileged`: all capabilities, `/sys` read-write, the host's devices, no masked paths.
    pub privileged: bool,
    /// Capabilities added to the default set (`NET_ADMIN` or `CAP_NET_ADMIN`; `ALL`).
    pub cap_add: Vec<String>,
    /// Capabilities dropped from the default set (`ALL` drops every one, then `cap_add` counts).
    pub cap_drop: Vec<String>,
    /// `allowPrivilegeEscalation: false`: `PR_SET_NO_NEW_PRIVS`.
    pub no_new_privileges: bool,
    /// Resource limits (`setrlimit`); unset ones are inherited from kmicro.
    pub rlimits: Vec<Rlimit>,
    /// Cgroup resources.
    pub resources: Resources,
    /// Open a stdin FIFO (`stdin: true`).
    pub stdin: bool,
    /// `stdinOnce`: the container sees end-of-file on stdin when kmicro's writer closes
    /// (otherwise the container keeps a writer of its own, so stdin never ends — not even while
    /// kmicro restarts).
    pub stdin_once: bool,
    /// `tty`: the process gets a pseudo-terminal as stdin, stdout and stderr.
    pub tty: bool,
    /// Free-form labels kept in the state file and listed back (the agent's bookkeeping).
    pub annotations: BTreeMap<String, String>,
}

/// A process to run inside a running container (`kubectl exec`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSpec {
    /// The program and its arguments (`args[0]` without `/` is looked up in `env`'s `PATH`).
    pub args: Vec<String>,
    /// The full environment (the caller merges the container's environment, as CRI does).
    pub env: Vec<String>,
    /// The working directory (the container's when `None`).
    pub cwd: Option<String>,
    /// Run on a new pseudo-terminal (`-t`).
    pub tty: bool,
    /// Give the process a stdin pipe (`-i`).
    pub stdin: bool,
}
