//! The runtime: sandboxes and containers under one state directory, their exits, adoption
//! after a kmicro restart.

use std::collections::HashMap;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustix::process::{Pid, PidfdFlags, Signal, WaitId, WaitIdOptions};
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::cgroup::{CgroupLayout, ContainerCgroup};
use crate::child::Plan;
use crate::error::{Error, Result};
use crate::sandbox::{self, Sandbox, validate_id};
use crate::spawn::spawn;
use crate::spec::{ContainerSpec, SandboxSpec};
use crate::state::{ContainerState, Exit, ExitStatus, proc_start_ticks};
use crate::stdio::{self, KEEPER_STDOUT_FD, Pty, Stdio};
use crate::{process, rootfs};

/// Default size of a container's stdout/stderr pipes (`F_SETPIPE_SZ`): what a container may
/// write while no kmicro reads before its writes block.
pub const DEFAULT_PIPE_SIZE: usize = 1 << 20;

/// Runs pod sandboxes and containers from this process.
///
/// Dropping it leaves every container running (their pidfds and FIFO readers close);
/// another `Runtime` on the same state directory takes them back with
/// [`Runtime::adopt_all`].
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    state_dir: PathBuf,
    cgroup_root: PathBuf,
    layout: CgroupLayout,
    pipe_size: usize,
    containers: Mutex<HashMap<String, Arc<Tracked>>>,
    watchers: Mutex<Vec<AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for w in self
            .watchers
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
        {
            w.abort();
        }
    }
}

/// One known container.
struct Tracked {
    dir: PathBuf,
    state: Mutex<ContainerState>,
    /// `None` once the process is gone (exited before adoption).
    pidfd: Option<Arc<AsyncFd<OwnedFd>>>,
    exit: watch::Receiver<Option<Exit>>,
    adopted: bool,
}

/// A started (or adopted) container: its process and kmicro's ends of its stdio.
#[derive(Debug)]
pub struct Container {
    /// The container id.
    pub id: String,
    /// The sandbox it runs in.
    pub sandbox_id: String,
    /// Its process id in kmicro's pid namespace.
    pub pid: i32,
    /// Taken back by [`Runtime::adopt_all`] rather than started by this runtime: its exit code
    /// may be [`ExitStatus::Unknown`].
    pub adopted: bool,
    /// stdout/stderr FIFO readers, stdin writer, or the terminal.
    pub stdio: Stdio,
}

/// What [`Runtime::list`] reports of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// The container id.
    pub id: String,
    /// The name given in its spec.
    pub name: String,
    /// Its sandbox.
    pub sandbox_id: String,
    /// Its pid in kmicro's pid namespace.
    pub pid: i32,
    /// When it was started.
    pub created_at: SystemTime,
    /// Its end, once it ended.
    pub exit: Option<Exit>,
    /// Whether it was adopted after a restart.
    pub adopted: bool,
    /// The spec's annotations.
    pub annotations: std::collections::BTreeMap<String, String>,
    /// The spec's environment (`KEY=value`): what processes run in it by exec get, as CRI
    /// merges it; kept in the state file, so an adopted container has it too.
    pub env: Vec<String>,
}

/// A process started by [`Runtime::exec`].
#[derive(Debug)]
pub struct ExecProcess {
    /// Its pid in kmicro's pid namespace.
    pub pid: i32,
    /// Pipes or the terminal.
    pub stdio: Stdio,
    pidfd: AsyncFd<OwnedFd>,
}

impl ExecProcess {
    /// Waits for the process to end and reaps it.
    pub async fn wait(&self) -> Result<ExitStatus> {
        loop {
            let mut guard = self
                .pidfd
                .readable()
                .await
                .map_err(|e| Error::sys("wait for the exec process", e))?;
            match reap(self.pidfd.get_ref())? {
                Some(s) => return Ok(s),
                None => guard.clear_ready(),
            }
        }
    }

    /// Sends `signal` to the process.
    pub fn kill(&self, signal: i32) -> Result<()> {
        send_signal(self.pidfd.get_ref(), signal)
    }
}

fn send_signal(pidfd: &OwnedFd, signal: i32) -> Result<()> {
    let sig = Signal::from_named_raw(signal)
        .ok_or_else(|| Error::invalid("signal", format!("{signal} is not a signal")))?;
    match rustix::process::pidfd_send_signal(pidfd, sig) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(Error::sys("pidfd_send_signal", e)),
    }
}

/// Reaps an exited child through its pidfd: `Some(status)` when it ended, `None` when it still
/// runs, [`ExitStatus::Unknown`] when it is not ours to reap (adopted after a restart).
fn reap(pidfd: &OwnedFd) -> Result<Option<ExitStatus>> {
    match rustix::process::waitid(
        WaitId::PidFd(pidfd.as_fd()),
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
    ) {
        Ok(Some(st)) => {
            if let Some(code) = st.exit_status() {
                Ok(Some(ExitStatus::Exited(code)))
            } else if let Some(sig) = st.terminating_signal() {
                Ok(Some(ExitStatus::Signaled(sig)))
            } else {
                Ok(None)
            }
        }
        Ok(None) => Ok(None),
        Err(rustix::io::Errno::CHILD) => Ok(Some(ExitStatus::Unknown)),
        Err(e) => Err(Error::sys("waitid", e)),
    }
}

impl Runtime {
    /// A runtime keeping its state under `state_dir` (`containers/`, `sandboxes/`) and its
    /// cgroups under `cgroup_root` (a path relative to each hierarchy's root, e.g. `kmicro`;
    /// containers go to `<cgroup_root>/pods/<pod-uid>/<container-id>`), on this machine's
    /// cgroup layout. Makes this process a child subreaper, so orphans of containers without
    /// a PID namespace of their own become kmicro's children rather than init's.
    pub fn new(state_dir: impl Into<PathBuf>, cgroup_root: impl Into<PathBuf>) -> Result<Runtime> {
        Self::with_layout(state_dir, cgroup_root, CgroupLayout::detect()?)
    }

    /// Like [`Runtime::new`] on a given cgroup layout (a v2 hierarchy mounted elsewhere, say).
    pub fn with_layout(
        state_dir: impl Into<PathBuf>,
        cgroup_root: impl Into<PathBuf>,
        layout: CgroupLayout,
    ) -> Result<Runtime> {
        let state_dir = state_dir.into();
        let cgroup_root = cgroup_root.into();
        if cgroup_root.is_absolute()
            || cgroup_root
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(Error::invalid(
                "cgroup_root",
                format!(
                    "{} must be a relative path without '..'",
                    cgroup_root.display()
                ),
            ));
        }
        for d in ["containers", "sandboxes"] {
            let p = state_dir.join(d);
            fs::create_dir_all(&p).map_err(|e| Error::io("create", &p, e))?;
        }
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .map_err(|e| Error::sys("PR_SET_CHILD_SUBREAPER", e))?;
        Ok(Runtime {
            inner: Arc::new(Inner {
                state_dir,
                cgroup_root,
                layout,
                pipe_size: DEFAULT_PIPE_SIZE,
                containers: Mutex::new(HashMap::new()),
                watchers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The cgroup layout in use.
    pub fn cgroup_layout(&self) -> &CgroupLayout {
        &self.inner.layout
    }

    fn sandboxes_dir(&self) -> PathBuf {
        self.inner.state_dir.join("sandboxes")
    }

    fn container_dir(&self, id: &str) -> PathBuf {
        self.inner.state_dir.join("containers").join(id)
    }

    /// Creates a pod sandbox: its network, IPC and UTS namespaces (unless host ones are asked
    /// for), kept as bind mounts under `<state-dir>/sandboxes/<id>/ns/`, the hostname, and the
    /// pod's `/dev/shm`.
    pub fn create_sandbox(&self, spec: &SandboxSpec) -> Result<Sandbox> {
        let s = sandbox::create(&self.sandboxes_dir(), spec)?;
        tracing::debug!(sandbox = %spec.id, "sandbox created");
        Ok(s)
    }

    /// A sandbox by id.
    pub fn sandbox(&self, id: &str) -> Result<Sandbox> {
        sandbox::load(&self.sandboxes_dir(), id)
    }

    /// Every sandbox.
    pub fn sandboxes(&self) -> Result<Vec<Sandbox>> {
        sandbox::list(&self.sandboxes_dir())
    }

    /// Unmounts and deletes a sandbox. Its containers should be deleted first; a running one
    /// keeps the namespaces alive but they are no longer reachable by path.
    pub fn remove_sandbox(&self, id: &str) -> Result<()> {
        sandbox::remove(&self.sandboxes_dir(), id)
    }

    /// Starts a container in `sandbox`: returns when its program runs (`execve` done), or
    /// with the step that failed. Must be called from within a tokio runtime.
    pub async fn start(&self, sandbox: &Sandbox, spec: &ContainerSpec) -> Result<Container> {
        validate_id("container id", &spec.id)?;
        let dir = self.container_dir(&spec.id);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::AlreadyExists {
                    kind: "container",
                    id: spec.id.clone(),
                });
            }
            Err(e) => return Err(Error::io("create", &dir, e)),
        }
        let inner = self.inner.clone();
        let sandbox = sandbox.clone();
        let spec = spec.clone();
        let dir2 = dir.clone();
        let started =
            tokio::task::spawn_blocking(move || start_blocking(&inner, &sandbox, &spec, &dir2))
                .await
                .map_err(|e| Error::sys("start task", std::io::Error::other(e.to_string())))?;
        let (state, pidfd, stdio) = match started {
            Ok(s) => s,
            Err((e, cgroup)) => {
                if let Some(cg) = cgroup {
                    cg.kill_all();
                    let _ = cg.remove();
                }
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let pidfd = Arc::new(stdio::register(pidfd, "register pidfd")?);
        let container = Container {
            id: state.id.clone(),
            sandbox_id: state.sandbox_id.clone(),
            pid: state.pid,
            adopted: false,
            stdio,
        };
        tracing::debug!(container = %state.id, pid = state.pid, "container started");
        self.track(dir, state, Some(pidfd), false);
        Ok(container)
    }

    fn track(
        &self,
        dir: PathBuf,
        state: ContainerState,
        pidfd: Option<Arc<AsyncFd<OwnedFd>>>,
        adopted: bool,
    ) {
        let (tx, rx) = watch::channel(state.exit);
        let id = state.id.clone();
        let tracked = Arc::new(Tracked {
            dir,
            state: Mutex::new(state),
            pidfd: pidfd.clone(),
            exit: rx,
            adopted,
        });
        if let Some(pidfd) = pidfd {
            let t = tracked.clone();
            let task = tokio::spawn(async move {
                let exit = watch_exit(&t, &pidfd).await;
                let _ = tx.send(Some(exit));
            });
            let mut watchers = self
                .inner
                .watchers
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            watchers.retain(|w| !w.is_finished());
            watchers.push(task.abort_handle());
        }
        self.inner
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tracked);
    }

    fn get(&self, id: &str) -> Result<Arc<Tracked>> {
        self.inner
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound(id.to_string()))
    }

    /// Waits for a container to end.
    pub async fn wait(&self, id: &str) -> Result<Exit> {
        let mut rx = self.get(id)?.exit.clone();
        let exit = rx
            .wait_for(|e| e.is_some())
            .await
            .map_err(|_| Error::NotRunning(id.to_string()))?;
        exit.ok_or_else(|| Error::NotRunning(id.to_string()))
    }

    /// The container's end, if it ended.
    pub fn exit(&self, id: &str) -> Result<Option<Exit>> {
        Ok(*self.get(id)?.exit.borrow())
    }

    /// Sends `signal` to the container's process (the agent's graceful stop sends SIGTERM,
    /// waits the grace period, then SIGKILL). In a PID namespace of its own, SIGKILL to its
    /// first process ends every process of the container.
    pub fn kill(&self, id: &str, signal: i32) -> Result<()> {
        let t = self.get(id)?;
        if t.exit.borrow().is_some() {
            return Err(Error::NotRunning(id.to_string()));
        }
        let pidfd = t
            .pidfd
            .as_ref()
            .ok_or_else(|| Error::NotRunning(id.to_string()))?;
        send_signal(pidfd.get_ref(), signal)
    }

    /// Deletes a container: kills what still runs in its cgroup, removes the cgroup and its
    /// state directory (FIFOs included).
    pub async fn delete(&self, id: &str) -> Result<()> {
        let t = self.get(id)?;
        if t.exit.borrow().is_none()
            && let Some(pidfd) = &t.pidfd
        {
            send_signal(pidfd.get_ref(), libc::SIGKILL)?;
            self.wait(id).await?;
        }
        let cgroup = t
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .cgroup
            .clone();
        let dir = t.dir.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            cgroup.kill_all();
            cgroup.remove()?;
            fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))
        })
        .await
        .map_err(|e| Error::sys("delete task", std::io::Error::other(e.to_string())))??;
        self.inner
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        Ok(())
    }

    /// Every container this runtime knows (started or adopted, running or ended, not deleted).
    pub fn list(&self) -> Vec<ContainerInfo> {
        let map = self
            .inner
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<ContainerInfo> = map
            .values()
            .map(|t| {
                let s = t.state.lock().unwrap_or_else(|p| p.into_inner());
                ContainerInfo {
                    id: s.id.clone(),
                    name: s.spec.name.clone(),
                    sandbox_id: s.sandbox_id.clone(),
                    pid: s.pid,
                    created_at: s.created_at,
                    exit: *t.exit.borrow(),
                    adopted: t.adopted,
                    annotations: s.spec.annotations.clone(),
                    env: s.spec.env.clone(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// After a restart: takes back every container in the state directory not known yet.
    /// A live one (same pid *and* start time) gets a pidfd, its FIFOs re-opened (output goes
    /// on where the last kmicro stopped reading) or its terminal master copied back with
    /// `pidfd_getfd`; one that ended while kmicro was away is reported ended, its code
    /// [`ExitStatus::Unknown`] but OOM kills read from its cgroup.
    pub async fn adopt_all(&self) -> Result<Vec<Container>> {
        let root = self.inner.state_dir.join("containers");
        let entries = fs::read_dir(&root).map_err(|e| Error::io("list", &root, e))?;
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if self.get(&id).is_ok() {
                continue;
            }
            let dir = entry.path();
            let mut state = match ContainerState::load(&dir) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(container = %id, error = %e, "not adopted: unreadable state");
                    continue;
                }
            };
            let pidfd = if state.exit.is_some() {
                None
            } else {
                open_if_same(state.pid, state.start_ticks)
            };
            let mut stdio = Stdio::default();
            match &pidfd {
                Some(fd) => {
                    stdio = reopen_stdio(&dir, &state, fd)?;
                }
                None if state.exit.is_none() => {
                    let exit = Exit {
                        status: ExitStatus::Unknown,
                        oom_killed: state.cgroup.oom_kills() > 0,
                        finished_at: SystemTime::now(),
                    };
                    state.exit = Some(exit);
                    state.save(&dir)?;
                }
                None => {}
            }
            let pidfd = match pidfd {
                Some(fd) => Some(Arc::new(stdio::register(fd, "register pidfd")?)),
                None => None,
            };
            tracing::info!(container = %id, pid = state.pid, running = pidfd.is_some(), "container adopted");
            out.push(Container {
                id: state.id.clone(),
                sandbox_id: state.sandbox_id.clone(),
                pid: state.pid,
                adopted: true,
                stdio,
            });
            self.track(dir, state, pidfd, true);
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Runs a process inside a running container (`kubectl exec`): its PID, mount, network,
    /// IPC and UTS namespaces, its cgroup, its user, capabilities and no-new-privileges, with
    /// pipes or a terminal.
    pub async fn exec(&self, id: &str, exec: &crate::spec::ExecSpec) -> Result<ExecProcess> {
        let t = self.get(id)?;
        if t.exit.borrow().is_some() || t.pidfd.is_none() {
            return Err(Error::NotRunning(id.to_string()));
        }
        let state = t.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let exec = exec.clone();
        let id = id.to_string();
        let (pid, pidfd, stdio) =
            tokio::task::spawn_blocking(move || exec_blocking(&id, &state, &exec))
                .await
                .map_err(|e| Error::sys("exec task", std::io::Error::other(e.to_string())))??;
        Ok(ExecProcess {
            pid,
            stdio,
            pidfd: stdio::register(pidfd, "register pidfd")?,
        })
    }
}

/// A pidfd for `pid` if it is still the process started at `start_ticks` (checked again after
/// opening, so a pid reused in between is not taken for the container).
fn open_if_same(pid: i32, start_ticks: u64) -> Option<OwnedFd> {
    if proc_start_ticks(pid) != Some(start_ticks) || crate::state::proc_state(pid) == Some('Z') {
        return None;
    }
    let fd = rustix::process::pidfd_open(Pid::from_raw(pid)?, PidfdFlags::empty()).ok()?;
    (proc_start_ticks(pid) == Some(start_ticks)).then_some(fd)
}

fn reopen_stdio(dir: &Path, state: &ContainerState, pidfd: &OwnedFd) -> Result<Stdio> {
    let mut stdio = Stdio::default();
    if state.spec.tty {
        let master = rustix::process::pidfd_getfd(
            pidfd,
            KEEPER_STDOUT_FD,
            rustix::process::PidfdGetfdFlags::empty(),
        )
        .map_err(|e| Error::sys("pidfd_getfd of the terminal master", e))?;
        stdio.tty = Some(Pty::new(master)?);
        return Ok(stdio);
    }
    stdio.stdout = Some(stdio::open_reader(&dir.join("stdout"))?);
    stdio.stderr = Some(stdio::open_reader(&dir.join("stderr"))?);
    if state.spec.stdin {
        // With stdinOnce and no writer of its own, the container's stdin ended with the last
        // kmicro; opening still works while it holds the reader.
        stdio.stdin = stdio::open_writer(&dir.join("stdin")).ok();
    }
    Ok(stdio)
}

async fn watch_exit(t: &Tracked, pidfd: &AsyncFd<OwnedFd>) -> Exit {
    let status = loop {
        match pidfd.readable().await {
            Ok(mut guard) => match reap(pidfd.get_ref()) {
                Ok(Some(s)) => break s,
                Ok(None) => guard.clear_ready(),
                Err(e) => {
                    tracing::warn!(error = %e, "waitid on a container failed");
                    break ExitStatus::Unknown;
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "polling a container's pidfd failed");
                break ExitStatus::Unknown;
            }
        }
    };
    let mut state = t.state.lock().unwrap_or_else(|p| p.into_inner());
    let exit = Exit {
        status,
        oom_killed: state.cgroup.oom_kills() > 0,
        finished_at: SystemTime::now(),
    };
    state.exit = Some(exit);
    if let Err(e) = state.save(&t.dir) {
        tracing::warn!(container = %state.id, error = %e, "could not record the container's exit");
    }
    tracing::debug!(container = %state.id, ?exit, "container ended");
    exit
}

type Started = (ContainerState, OwnedFd, Stdio);

fn start_blocking(
    inner: &Inner,
    sandbox: &Sandbox,
    spec: &ContainerSpec,
    dir: &Path,
) -> Result<Started, (Error, Option<ContainerCgroup>)> {
    let rel = inner
        .cgroup_root
        .join("pods")
        .join(&sandbox.spec.pod_uid)
        .join(&spec.id);
    let cgroup = ContainerCgroup::create(&inner.layout, rel, &spec.resources, !spec.privileged)
        .map_err(|e| (e, None))?;
    let r = start_in_cgroup(inner, sandbox, spec, dir, &cgroup);
    r.map_err(|e| (e, Some(cgroup)))
}

fn start_in_cgroup(
    inner: &Inner,
    sandbox: &Sandbox,
    spec: &ContainerSpec,
    dir: &Path,
    cgroup: &ContainerCgroup,
) -> Result<Started> {
    let mut plan = Plan::default();
    process::set_command(&mut plan, &spec.args, &spec.env)?;
    process::set_security(&mut plan, spec)?;
    plan.cgroup_procs = process::open_cgroup_procs(&cgroup.procs_files())?;
    for (path, nstype) in [
        (sandbox.netns_path(), libc::CLONE_NEWNET),
        (sandbox.ipcns_path(), libc::CLONE_NEWIPC),
        (sandbox.utsns_path(), libc::CLONE_NEWUTS),
    ] {
        if let Some(path) = path {
            plan.namespaces.push((process::open_ns(&path)?, nstype));
        }
    }
    let mut etc_files: Vec<(&'static str, &Path)> = Vec::new();
    if let Some(p) = &spec.etc_hosts {
        etc_files.push(("hosts", p));
    }
    if let Some(p) = &spec.etc_resolv_conf {
        etc_files.push(("resolv.conf", p));
    }
    if let Some(p) = &spec.etc_hostname {
        etc_files.push(("hostname", p));
    }
    let shm = sandbox.shm_path();
    plan.ops = rootfs::plan(&rootfs::FsSpec {
        rootfs: &spec.rootfs,
        mounts: &spec.mounts,
        etc_files,
        shm: &shm,
        read_only_rootfs: spec.read_only_rootfs,
        privileged: spec.privileged,
        cwd: &spec.cwd,
    })?;
    let mut prepared =
        stdio::prepare_container(dir, spec.stdin, spec.stdin_once, spec.tty, inner.pipe_size)?;
    plan.fds = prepared.child;
    plan.controlling_tty = prepared.controlling_tty;
    plan.pty_keeper = prepared.pty_keeper;
    let mut flags = libc::CLONE_NEWNS as u64;
    if !sandbox.spec.host_pid {
        flags |= libc::CLONE_NEWPID as u64;
    }
    let created_at = SystemTime::now();
    let spawned = spawn(&spec.id, &plan, flags)?;
    // kmicro keeps none of the child's ends (the FIFO writers above all).
    drop(plan);
    if let Err(e) = take_pty(&mut prepared.ours, spec.tty, spawned.pty) {
        let _ = rustix::process::pidfd_send_signal(&spawned.pidfd, Signal::KILL);
        let _ =
            rustix::process::waitid(WaitId::PidFd(spawned.pidfd.as_fd()), WaitIdOptions::EXITED);
        return Err(e);
    }
    let pid = spawned.pid.as_raw_nonzero().get();
    let state = ContainerState {
        id: spec.id.clone(),
        sandbox_id: sandbox.spec.id.clone(),
        pid,
        start_ticks: proc_start_ticks(pid).unwrap_or(0),
        own_pid_ns: !sandbox.spec.host_pid,
        cgroup: cgroup.clone(),
        created_at,
        spec: spec.clone(),
        exit: None,
    };
    if let Err(e) = state.save(dir) {
        let _ = rustix::process::pidfd_send_signal(&spawned.pidfd, Signal::KILL);
        let _ =
            rustix::process::waitid(WaitId::PidFd(spawned.pidfd.as_fd()), WaitIdOptions::EXITED);
        return Err(e);
    }
    Ok((state, spawned.pidfd, prepared.ours))
}

fn exec_blocking(
    id: &str,
    state: &ContainerState,
    exec: &crate::spec::ExecSpec,
) -> Result<(i32, OwnedFd, Stdio)> {
    let mut plan = Plan::default();
    process::set_command(&mut plan, &exec.args, &exec.env)?;
    process::set_security(&mut plan, &state.spec)?;
    plan.cgroup_procs = process::open_cgroup_procs(&state.cgroup.procs_files())?;
    let ns =
        |kind: &str| process::open_ns(&PathBuf::from(format!("/proc/{}/ns/{kind}", state.pid)));
    // Joined in this order; the mount namespace last (its setns also moves root and cwd).
    for (kind, nstype) in [
        ("net", libc::CLONE_NEWNET),
        ("ipc", libc::CLONE_NEWIPC),
        ("uts", libc::CLONE_NEWUTS),
        ("mnt", libc::CLONE_NEWNS),
    ] {
        plan.namespaces.push((ns(kind)?, nstype));
    }
    let pid_ns = if state.own_pid_ns {
        Some(ns("pid")?)
    } else {
        None
    };
    // The container may have ended while the namespaces were opened: then they are not its.
    if proc_start_ticks(state.pid) != Some(state.start_ticks) {
        return Err(Error::NotRunning(id.to_string()));
    }
    let cwd = exec.cwd.clone().unwrap_or_else(|| {
        if state.spec.cwd.is_empty() {
            "/".into()
        } else {
            state.spec.cwd.clone()
        }
    });
    plan.ops = vec![crate::child::Op::Chdir {
        path: rootfs::cstr(&cwd)?,
    }];
    let mut prepared = stdio::prepare_exec(exec.stdin, exec.tty)?;
    plan.fds = prepared.child;
    plan.controlling_tty = prepared.controlling_tty;
    plan.pty_keeper = prepared.pty_keeper;
    let exec_id = format!("{id} (exec)");
    // The PID namespace is joined by a thread of its own just before it clones: setns of a
    // PID namespace only applies to children, and this thread ends right after.
    let spawned = std::thread::scope(|s| {
        s.spawn(|| -> Result<crate::spawn::Spawned> {
            if let Some(fd) = &pid_ns {
                rustix::thread::move_into_link_name_space(
                    fd.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::ProcessID),
                )
                .map_err(|e| Error::sys("setns into the container's PID namespace", e))?;
            }
            spawn(&exec_id, &plan, 0)
        })
        .join()
        .map_err(|_| Error::sys("exec thread", std::io::Error::other("panicked")))?
    })?;
    drop(plan);
    if let Err(e) = take_pty(&mut prepared.ours, exec.tty, spawned.pty) {
        let _ = rustix::process::pidfd_send_signal(&spawned.pidfd, Signal::KILL);
        let _ =
            rustix::process::waitid(WaitId::PidFd(spawned.pidfd.as_fd()), WaitIdOptions::EXITED);
        return Err(e);
    }
    Ok((
        spawned.pid.as_raw_nonzero().get(),
        spawned.pidfd,
        prepared.ours,
    ))
}

/// Puts the terminal master the child sent into `ours` (a terminal was asked for and none
/// came back: an error).
fn take_pty(ours: &mut Stdio, tty: bool, master: Option<OwnedFd>) -> Result<()> {
    match (tty, master) {
        (true, Some(master)) => {
            ours.tty = Some(Pty::new(master)?);
            Ok(())
        }
        (true, None) => Err(Error::sys(
            "receive the terminal's master",
            std::io::Error::other("the child sent none"),
        )),
        (false, _) => Ok(()),
    }
}
