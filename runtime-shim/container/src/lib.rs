//! kmicro's native container runtime: pod sandboxes and containers run from kmicro's own
//! process, with no per-pod helper process.
//!
//! # How a container starts
//!
//! [`Runtime::start`] builds a plan in kmicro (every path, argument and environment string as
//! a `CString`, every fd opened, the cgroup created with its limits, mount points created in
//! the rootfs) and then `clone3`s a child with `CLONE_NEWNS|CLONE_NEWPID` and `CLONE_PIDFD`.
//! The child joins its cgroup (writes `0` to each `cgroup.procs`), `setns`es into the
//! sandbox's network/IPC/UTS namespaces, mounts `/proc`, `/dev` (tmpfs with the standard
//! devices, `pts`, the pod's `shm`, `mqueue`), `/sys`, volumes and the pod's `/etc` files,
//! `pivot_root`s, masks and write-protects runc's default paths, sets rlimits, drops the
//! bounding set, switches user and groups, sets its capabilities and `no_new_privs`, places
//! its stdio and `execve`s. kmicro learns of a failed step through a close-on-exec pipe.
//!
//! **Why `clone` and not a re-exec of a helper:** kmicro is a multi-threaded tokio process,
//! so after `clone` only async-signal-safe work is allowed in the child. The plan makes that
//! easy to keep (nothing is allocated or locked after `clone`; only raw system calls run —
//! see [`child`](crate) module docs), and it saves what a re-exec costs: loading and starting
//! a fresh process image of kmicro (tens of MB of mappings, dynamic linking, a new runtime)
//! per container, which alone would eat most of the budget of half of `runc run`'s time.
//! `kmicro bench pods --vs runc` measures the result against `runc run` on the same rootfs.
//!
//! # What outlives kmicro
//!
//! Containers are children of kmicro ([`Runtime::new`] makes it a child subreaper) and keep
//! running when it stops or is killed. `<state-dir>/containers/<id>/state.json` records the
//! pid and its start time (from `/proc/<pid>/stat`, so a reused pid is not mistaken for the
//! container), the cgroup and the spec; [`Runtime::adopt_all`] takes them back with a pidfd.
//! An adopted container's exit code cannot be reaped by the new kmicro: it is
//! [`ExitStatus::Unknown`], while OOM kills still come from the cgroup's counter.
//! stdout/stderr are FIFOs in the state directory; the container keeps a reader of each
//! itself (fd 3 = [`KEEPER_STDOUT_FD`], fd 4 = [`KEEPER_STDERR_FD`], opened
//! `O_RDONLY|O_NONBLOCK` before `execve`; fd 5 = [`KEEPER_STDIN_FD`] a writer of its stdin FIFO
//! unless `stdin_once`), so its writes never get `EPIPE` while kmicro is away: they block
//! once the 1 MiB pipe is full, and the next kmicro re-opens the FIFOs and reads on. With a
//! tty, fd 3 is a copy of the terminal's master, taken back with `pidfd_getfd`.
//!
//! # What the caller does
//!
//! The caller merges the Pod with the image config ([`ContainerSpec`] docs), builds the rootfs,
//! prepares volume sources and the pod's `/etc/hosts`/`resolv.conf`/`hostname`, writes the
//! log files from the stdio readers, and does graceful stops (SIGTERM, grace, SIGKILL).
//!
//! # Limits
//!
//! No seccomp profile, AppArmor or SELinux; no device control on cgroup v2 (needs an eBPF
//! program); no user namespaces; `/sys/fs/cgroup` is not mounted in containers. Linux 5.4 or
//! newer (`clone3`/`CLONE_PIDFD`, `waitid(P_PIDFD)`, `pidfd_getfd` from 5.6 for adopting
//! terminals).

pub mod caps;
pub mod cgroup;
mod child;
mod error;
mod process;
pub mod rootfs;
mod runtime;
mod sandbox;
mod spawn;
mod spec;
mod state;
mod stdio;

pub use cgroup::{CgroupLayout, ContainerCgroup};
pub use error::{Error, Result};
pub use runtime::{Container, ContainerInfo, DEFAULT_PIPE_SIZE, ExecProcess, Runtime};
pub use sandbox::Sandbox;
pub use spec::{
    BindMount, ContainerSpec, ExecSpec, Resources, Rlimit, RlimitResource, SandboxSpec, User,
};
pub use state::{Exit, ExitStatus, proc_start_ticks};
pub use stdio::{KEEPER_STDERR_FD, KEEPER_STDIN_FD, KEEPER_STDOUT_FD, Pty, Stdio};
