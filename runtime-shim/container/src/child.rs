//! The new process: a plan built in kmicro (where allocating is fine) and the code that runs
//! it in the child between `clone` and `execve`.
//!
//! kmicro is a multi-threaded tokio process. After `clone` without `CLONE_VM` the child is a
//! copy of kmicro with one thread; locks held by other threads (the allocator's among them)
//! stay locked forever. So the child does only what is async-signal-safe: raw system calls on
//! strings and arrays the plan prepared (`CString`s, pointer arrays), no allocation, no
//! locks, no glibc wrappers that coordinate threads (`setuid` and friends in glibc signal all
//! threads; rustix's raw per-thread calls are used instead). Errors go back to kmicro as
//! three numbers on a close-on-exec pipe; end-of-file on that pipe means `execve` succeeded.

use std::ffi::{CStr, CString, c_char, c_int};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use rustix::io::Errno;

/// One step of setting up the filesystem, in order.
#[derive(Debug)]
pub(crate) enum Op {
    /// `mount(2)`.
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
    },
    /// `mkdir(2)`; an existing directory is fine.
    Mkdir { path: CString, mode: u32 },
    /// `mknod(2)` of a device.
    Mknod { path: CString, mode: u32, dev: u64 },
    /// `symlink(2)`; an existing entry is fine.
    Symlink { target: CString, link: CString },
    /// `pivot_root` into `rootfs` and detach the old root.
    PivotRoot { rootfs: CString },
    /// Hide a path: bind `/dev/null` over a file, a read-only tmpfs over a directory.
    Mask { path: CString },
    /// Make a path read-only (bind it onto itself, remount read-only); missing is fine.
    ReadOnly { path: CString },
    /// Remount `/` read-only (readOnlyRootFilesystem).
    ReadOnlyRoot,
    /// `chdir(2)`.
    Chdir { path: CString },
}

impl Op {
    /// How the step reads in an error message.
    pub(crate) fn describe(&self) -> String {
        let s = |c: &CString| c.to_string_lossy().into_owned();
        match self {
            Op::Mount {
                source,
                target,
                fstype,
                ..
            } => format!(
                "mount {} on {} ({})",
                source.as_ref().map(s).unwrap_or_default(),
                s(target),
                fstype
                    .as_ref()
                    .map(s)
                    .unwrap_or_else(|| "bind/remount".into())
            ),
            Op::Mkdir { path, .. } => format!("mkdir {}", s(path)),
            Op::Mknod { path, .. } => format!("mknod {}", s(path)),
            Op::Symlink { link, .. } => format!("symlink {}", s(link)),
            Op::PivotRoot { rootfs } => format!("pivot_root {}", s(rootfs)),
            Op::Mask { path } => format!("mask {}", s(path)),
            Op::ReadOnly { path } => format!("read-only {}", s(path)),
            Op::ReadOnlyRoot => "remount / read-only".into(),
            Op::Chdir { path } => format!("chdir {}", s(path)),
        }
    }
}

/// Everything the child needs, prepared by kmicro.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// `cgroup.procs` files opened for writing; the child writes `0` (itself) to each.
    pub cgroup_procs: Vec<OwnedFd>,
    /// Namespaces to join with `setns`, with their `CLONE_NEW*` type.
    pub namespaces: Vec<(OwnedFd, c_int)>,
    /// Filesystem steps.
    pub ops: Vec<Op>,
    /// `setrlimit` calls.
    pub rlimits: Vec<(c_int, libc::rlimit)>,
    /// Capabilities kept (bounding set; effective and permitted for uid 0).
    pub cap_mask: u64,
    /// The highest capability the kernel knows.
    pub last_cap: u32,
    /// The user, group and supplementary groups.
    pub uid: u32,
    /// See `uid`.
    pub gid: u32,
    /// See `uid`.
    pub groups: Vec<rustix::process::Gid>,
    /// `PR_SET_NO_NEW_PRIVS`.
    pub no_new_privs: bool,
    /// File descriptors to place: (kmicro's fd, number in the child).
    pub fds: Vec<(OwnedFd, RawFd)>,
    /// Give the program a terminal of the container's own: after the filesystem steps a pty
    /// is opened on the container's devpts instance (`/dev/pts/ptmx`, so the program's
    /// terminal is `/dev/pts/N` inside the container), its slave becomes fds 0–2 and the
    /// controlling terminal (after `setsid`), and the master goes back to kmicro over the
    /// report socket.
    pub controlling_tty: bool,
    /// With `controlling_tty`: the fd number at which the child itself keeps a copy of the
    /// master (so the terminal outlives kmicro; a new kmicro takes it with `pidfd_getfd`).
    pub pty_keeper: Option<RawFd>,
    /// Candidate paths of the program (the `PATH` search done in advance).
    pub programs: Vec<CString>,
    /// `argv` strings (kept alive for the pointers).
    pub argv: Vec<CString>,
    /// `envp` strings (kept alive for the pointers).
    pub envp: Vec<CString>,
}

/// What went wrong in the child: which phase, which item of it, errno.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failure {
    pub phase: u32,
    pub index: u32,
    pub errno: i32,
}

pub(crate) const PHASE_CGROUP: u32 = 1;
pub(crate) const PHASE_SETNS: u32 = 2;
pub(crate) const PHASE_OP: u32 = 3;
pub(crate) const PHASE_RLIMIT: u32 = 4;
pub(crate) const PHASE_BOUNDING: u32 = 5;
pub(crate) const PHASE_GROUPS: u32 = 6;
pub(crate) const PHASE_GID: u32 = 7;
pub(crate) const PHASE_UID: u32 = 8;
pub(crate) const PHASE_CAPS: u32 = 9;
pub(crate) const PHASE_NNP: u32 = 10;
pub(crate) const PHASE_FDS: u32 = 11;
pub(crate) const PHASE_TTY: u32 = 12;
pub(crate) const PHASE_EXEC: u32 = 13;
pub(crate) const PHASE_PTY: u32 = 14;
/// Not a failure: the report that carries the terminal's master (`SCM_RIGHTS`).
pub(crate) const REPORT_PTY_MASTER: u32 = 100;

impl Plan {
    /// The failed step in words.
    pub(crate) fn describe(&self, f: Failure) -> String {
        let i = f.index as usize;
        match f.phase {
            PHASE_CGROUP => "joining the cgroup".into(),
            PHASE_SETNS => "joining the sandbox's namespaces (setns)".into(),
            PHASE_OP => self
                .ops
                .get(i)
                .map(Op::describe)
                .unwrap_or_else(|| format!("filesystem step {i}")),
            PHASE_RLIMIT => format!("setrlimit #{i}"),
            PHASE_BOUNDING => format!("dropping capability {i} from the bounding set"),
            PHASE_GROUPS => "setgroups".into(),
            PHASE_GID => format!("setresgid {}", self.gid),
            PHASE_UID => format!("setresuid {}", self.uid),
            PHASE_CAPS => "capset".into(),
            PHASE_NNP => "PR_SET_NO_NEW_PRIVS".into(),
            PHASE_FDS => "placing stdio".into(),
            PHASE_TTY => "setsid/TIOCSCTTY".into(),
            PHASE_PTY => match f.index {
                0 => "opening /dev/pts/ptmx in the container".into(),
                1 => "unlocking the container's pty".into(),
                2 => "opening the container's pty slave (TIOCGPTPEER)".into(),
                3 => "handing the pty master to kmicro".into(),
                _ => "placing the container's pty".into(),
            },
            PHASE_EXEC => format!(
                "execve {}",
                self.programs
                    .get(i)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_else(|| self
                        .argv
                        .first()
                        .map(|a| a.to_string_lossy().into_owned())
                        .unwrap_or_default())
            ),
            _ => format!("phase {}", f.phase),
        }
    }
}

fn fail(phase: u32, index: usize, e: Errno) -> Failure {
    Failure {
        phase,
        index: index as u32,
        errno: e.raw_os_error(),
    }
}

fn errno_of(rc: c_int) -> Result<(), Errno> {
    if rc == -1 {
        Err(Errno::from_raw_os_error(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        ))
    } else {
        Ok(())
    }
}

fn ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

/// `mount(2)` through glibc's plain system-call wrapper.
#[allow(unsafe_code)]
fn sys_mount(
    source: *const c_char,
    target: &CStr,
    fstype: *const c_char,
    flags: libc::c_ulong,
    data: *const c_char,
) -> Result<(), Errno> {
    // SAFETY: every pointer is null or a NUL-terminated string the plan keeps alive.
    errno_of(unsafe { libc::mount(source, target.as_ptr(), fstype, flags, data.cast()) })
}

fn run_op(op: &Op) -> Result<(), Errno> {
    use rustix::fs::{CWD, FileType, Mode};
    match op {
        Op::Mount {
            source,
            target,
            fstype,
            flags,
            data,
        } => sys_mount(ptr(source), target, ptr(fstype), *flags, ptr(data)),
        Op::Mkdir { path, mode } => {
            match rustix::fs::mkdirat(CWD, path.as_c_str(), Mode::from_raw_mode(*mode)) {
                Err(Errno::EXIST) => Ok(()),
                r => r,
            }
        }
        Op::Mknod { path, mode, dev } => {
            match rustix::fs::mknodat(
                CWD,
                path.as_c_str(),
                FileType::from_raw_mode(*mode),
                Mode::from_raw_mode(*mode & 0o7777),
                *dev,
            ) {
                Err(Errno::EXIST) => Ok(()),
                r => r,
            }?;
            // mknod honours the umask; devices are 0666 whatever kmicro's umask is.
            rustix::fs::chmod(path.as_c_str(), Mode::from_raw_mode(*mode & 0o7777))
        }
        Op::Symlink { target, link } => {
            match rustix::fs::symlinkat(target.as_c_str(), CWD, link.as_c_str()) {
                Err(Errno::EXIST) => Ok(()),
                r => r,
            }
        }
        Op::PivotRoot { rootfs } => {
            rustix::process::chdir(rootfs.as_c_str())?;
            rustix::process::pivot_root(c".", c".")?;
            // The old root is stacked under the new one at "."; it is a slave of the host's
            // mounts (see the propagation step), so detaching it does not reach the host.
            rustix::mount::unmount(c".", rustix::mount::UnmountFlags::DETACH)?;
            rustix::process::chdir(c"/")
        }
        Op::Mask { path } => {
            match sys_mount(
                c"/dev/null".as_ptr(),
                path,
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ) {
                Ok(()) | Err(Errno::NOENT) => Ok(()),
                Err(Errno::NOTDIR) => sys_mount(
                    c"tmpfs".as_ptr(),
                    path,
                    c"tmpfs".as_ptr(),
                    libc::MS_RDONLY,
                    std::ptr::null(),
                ),
                Err(e) => Err(e),
            }
        }
        Op::ReadOnly { path } => {
            match sys_mount(
                path.as_ptr(),
                path,
                std::ptr::null(),
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            ) {
                Err(Errno::NOENT) => return Ok(()),
                r => r?,
            }
            sys_mount(
                std::ptr::null(),
                path,
                std::ptr::null(),
                libc::MS_BIND
                    | libc::MS_REMOUNT
                    | libc::MS_RDONLY
                    | libc::MS_NOSUID
                    | libc::MS_NODEV
                    | libc::MS_NOEXEC,
                std::ptr::null(),
            )
        }
        Op::ReadOnlyRoot => sys_mount(
            std::ptr::null(),
            c"/",
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
            std::ptr::null(),
        ),
        Op::Chdir { path } => rustix::process::chdir(path.as_c_str()),
    }
}

#[allow(unsafe_code)]
fn write_all_raw(fd: RawFd, buf: &[u8]) -> Result<(), Errno> {
    // SAFETY: `fd` is open for the whole child (the plan owns it); the borrow ends here.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let mut off = 0;
    while off < buf.len() {
        match rustix::io::write(fd, &buf[off..]) {
            Ok(n) => off += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `fcntl(F_DUPFD_CLOEXEC)`, `dup2`, `close_range`, signal resets, `execve`, `prctl`: the
/// libc calls here are plain system-call wrappers.
#[allow(unsafe_code)]
mod raw {
    use super::*;

    pub(super) fn dup_above(fd: RawFd, floor: RawFd) -> Result<RawFd, Errno> {
        // SAFETY: fcntl on an fd the plan owns; the new fd is close-on-exec.
        let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, floor) };
        errno_of(r).map(|()| r)
    }

    pub(super) fn dup2(from: RawFd, to: RawFd) -> Result<(), Errno> {
        // SAFETY: dup2 between descriptor numbers; the target is ours to replace.
        errno_of(unsafe { libc::dup2(from, to) })
    }

    pub(super) fn cloexec_from(first: RawFd) {
        // SAFETY: marks every fd from `first` close-on-exec; a kernel without
        // CLOSE_RANGE_CLOEXEC (before 5.11) refuses and nothing changes.
        unsafe {
            libc::syscall(
                libc::SYS_close_range,
                first as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC as libc::c_uint,
            );
        }
    }

    pub(super) fn reset_signals() {
        // SAFETY: sigemptyset/sigprocmask/signal are async-signal-safe; ignored signals
        // (kmicro ignores SIGPIPE, as every Rust program) would stay ignored across execve.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            for sig in 1..libc::SIGRTMIN() {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::signal(sig, libc::SIG_DFL);
                }
            }
        }
    }

    pub(super) fn drop_bounding(cap: u32) -> Result<(), Errno> {
        // SAFETY: prctl with integer arguments.
        match errno_of(unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) })
        {
            Err(Errno::INVAL) => Ok(()),
            r => r,
        }
    }

    pub(super) fn clear_ambient() {
        // SAFETY: prctl with integer arguments; kernels without ambient sets refuse, fine.
        unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                0,
                0,
                0,
            );
        }
    }

    pub(super) fn no_new_privs() -> Result<(), Errno> {
        // SAFETY: prctl with integer arguments.
        errno_of(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
    }

    pub(super) fn setrlimit(res: c_int, lim: &libc::rlimit) -> Result<(), Errno> {
        // SAFETY: `lim` points to a valid rlimit.
        errno_of(unsafe { libc::setrlimit(res as _, lim) })
    }

    pub(super) fn setns(fd: RawFd, nstype: c_int) -> Result<(), Errno> {
        // SAFETY: setns on an fd the plan owns.
        errno_of(unsafe { libc::setns(fd, nstype) })
    }

    /// `execve`; returns only on failure.
    pub(super) fn execve(path: &CStr, argv: &[*const c_char], envp: &[*const c_char]) -> Errno {
        // SAFETY: argv and envp are null-terminated arrays of pointers to strings the plan
        // keeps alive.
        unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

/// Runs the plan in the freshly cloned child; returns only on failure.
///
/// `argv`/`envp` are the null-terminated pointer arrays of `plan.argv`/`plan.envp`, built by
/// kmicro before `clone`; `report` is the child's end of the report socket (the terminal's
/// master is sent on it).
pub(crate) fn run(
    plan: &Plan,
    argv: &[*const c_char],
    envp: &[*const c_char],
    report: BorrowedFd<'_>,
) -> Failure {
    match setup(plan, report) {
        Err(f) => f,
        Ok(()) => {
            let mut first = None;
            for (i, p) in plan.programs.iter().enumerate() {
                let e = raw::execve(p, argv, envp);
                if e != Errno::NOENT && e != Errno::NOTDIR && first.is_none() {
                    first = Some(fail(PHASE_EXEC, i, e));
                }
            }
            first.unwrap_or(fail(
                PHASE_EXEC,
                plan.programs.len().saturating_sub(1),
                Errno::NOENT,
            ))
        }
    }
}

fn setup(plan: &Plan, report: BorrowedFd<'_>) -> Result<(), Failure> {
    for (i, fd) in plan.cgroup_procs.iter().enumerate() {
        // "0" is the writing process itself, whatever its pid in its namespace.
        write_all_raw(fd.as_raw_fd(), b"0").map_err(|e| fail(PHASE_CGROUP, i, e))?;
    }
    for (i, (fd, nstype)) in plan.namespaces.iter().enumerate() {
        raw::setns(fd.as_raw_fd(), *nstype).map_err(|e| fail(PHASE_SETNS, i, e))?;
    }
    for (i, op) in plan.ops.iter().enumerate() {
        run_op(op).map_err(|e| fail(PHASE_OP, i, e))?;
    }
    for (i, (res, lim)) in plan.rlimits.iter().enumerate() {
        raw::setrlimit(*res, lim).map_err(|e| fail(PHASE_RLIMIT, i, e))?;
    }
    // A session of its own: kmicro's terminal (Ctrl-C) and process group stay kmicro's.
    rustix::process::setsid().map_err(|e| fail(PHASE_TTY, 0, e))?;
    place_fds(plan)?;
    if plan.controlling_tty {
        place_pty(plan, report)?;
        // fd 0 is the terminal just placed.
        rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())
            .map_err(|e| fail(PHASE_TTY, 1, e))?;
    }
    raw::reset_signals();
    for cap in 0..=plan.last_cap {
        if plan.cap_mask & (1u64 << cap) == 0 {
            raw::drop_bounding(cap).map_err(|e| fail(PHASE_BOUNDING, cap as usize, e))?;
        }
    }
    rustix::thread::set_thread_groups(&plan.groups).map_err(|e| fail(PHASE_GROUPS, 0, e))?;
    let gid = rustix::process::Gid::from_raw(plan.gid);
    rustix::thread::set_thread_res_gid(gid, gid, gid).map_err(|e| fail(PHASE_GID, 0, e))?;
    let uid = rustix::process::Uid::from_raw(plan.uid);
    rustix::thread::set_thread_res_uid(uid, uid, uid).map_err(|e| fail(PHASE_UID, 0, e))?;
    // uid 0 keeps exactly the container's set; any other user has lost every capability with
    // setresuid (no keep-caps) and gets none at execve (no ambient set), as under runc.
    let kept = if plan.uid == 0 { plan.cap_mask } else { 0 };
    let set = rustix::thread::CapabilitySet::from_bits_retain(kept);
    rustix::thread::set_capabilities(
        None,
        rustix::thread::CapabilitySets {
            effective: set,
            permitted: set,
            inheritable: rustix::thread::CapabilitySet::empty(),
        },
    )
    .map_err(|e| fail(PHASE_CAPS, 0, e))?;
    raw::clear_ambient();
    if plan.no_new_privs {
        raw::no_new_privs().map_err(|e| fail(PHASE_NNP, 0, e))?;
    }
    Ok(())
}

/// Opens a pty on the devpts instance mounted at the (new) root's `/dev/pts`, sends its
/// master to kmicro, and places the slave as fds 0–2 (owned by the program's user, as under
/// runc) and the master at `plan.pty_keeper`. No allocation: the control message lives on
/// the stack.
fn place_pty(plan: &Plan, report: BorrowedFd<'_>) -> Result<(), Failure> {
    use rustix::fs::{Mode, OFlags};
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    use rustix::pty::OpenptFlags;
    let master = rustix::fs::open(
        c"/dev/pts/ptmx",
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail(PHASE_PTY, 0, e))?;
    rustix::pty::unlockpt(&master).map_err(|e| fail(PHASE_PTY, 1, e))?;
    let slave = rustix::pty::ioctl_tiocgptpeer(
        &master,
        OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
    )
    .map_err(|e| fail(PHASE_PTY, 2, e))?;
    if plan.uid != 0 {
        rustix::fs::fchown(&slave, Some(rustix::fs::Uid::from_raw(plan.uid)), None)
            .map_err(|e| fail(PHASE_PTY, 4, e))?;
    }
    let mut record = [0u8; 12];
    record[..4].copy_from_slice(&REPORT_PTY_MASTER.to_ne_bytes());
    let mut space = [std::mem::MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [master.as_fd()];
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(fail(PHASE_PTY, 3, Errno::NOBUFS));
    }
    loop {
        match rustix::net::sendmsg(
            report,
            &[std::io::IoSlice::new(&record)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Ok(_) => break,
            Err(Errno::INTR) => {}
            Err(e) => return Err(fail(PHASE_PTY, 3, e)),
        }
    }
    for to in 0..3 {
        raw::dup2(slave.as_raw_fd(), to).map_err(|e| fail(PHASE_PTY, 4, e))?;
    }
    if let Some(keeper) = plan.pty_keeper {
        raw::dup2(master.as_raw_fd(), keeper).map_err(|e| fail(PHASE_PTY, 4, e))?;
    }
    Ok(())
}

/// Moves kmicro's fds to their numbers in the child. Every source is first duplicated above
/// all sources and targets (close-on-exec), so placing one never clobbers another.
fn place_fds(plan: &Plan) -> Result<(), Failure> {
    let floor = plan
        .fds
        .iter()
        .flat_map(|(fd, to)| [fd.as_raw_fd(), *to])
        .max()
        .unwrap_or(2)
        + 1;
    let mut high = [0 as RawFd; 8];
    for (i, (fd, _)) in plan.fds.iter().enumerate().take(high.len()) {
        high[i] =
            raw::dup_above(fd.as_fd().as_raw_fd(), floor).map_err(|e| fail(PHASE_FDS, i, e))?;
    }
    for (i, (_, to)) in plan.fds.iter().enumerate().take(high.len()) {
        raw::dup2(high[i], *to).map_err(|e| fail(PHASE_FDS, i, e))?;
    }
    // Whatever else kmicro had open without close-on-exec does not reach the container.
    let last = plan.fds.iter().map(|(_, to)| *to).max().unwrap_or(2);
    raw::cloexec_from(last + 1);
    Ok(())
}
