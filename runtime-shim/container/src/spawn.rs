//! `clone3` of a child that runs a [`Plan`], with a pidfd, and the report of its set-up.

use std::ffi::c_char;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};

use rustix::io::Errno;
use rustix::process::Pid;

use crate::child::{self, Failure, Plan};
use crate::error::{Error, Result};

/// A started process: its pid (in kmicro's namespace), a pidfd, and with a terminal the
/// master of the pty the child opened in the container's devpts.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    pub pty: Option<OwnedFd>,
}

/// `struct clone_args` (version 0, 64 bytes), the same on every architecture.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}

/// Clones like `fork` (own copy of memory, same stack position) with `flags` and a pidfd.
/// Returns `Some((pid, pidfd))` in kmicro, `None` in the child.
#[allow(unsafe_code)]
fn clone_with_pidfd(flags: u64) -> Result<Option<(Pid, OwnedFd)>, Errno> {
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    // SAFETY: clone3 without CLONE_VM and without a stack gives the child a copy of the
    // address space, as fork does; the child only runs `child::run` (async-signal-safe) and
    // exits. The pidfd is written into `pidfd` in the parent.
    let mut ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if ret == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        // Kernels before 5.3 (or seccomp profiles that hide clone3): clone(2). The pidfd
        // pointer is the third argument on every architecture.
        // SAFETY: as above; flags without CLONE_VM and a null stack make clone act as fork.
        ret = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (flags | libc::CLONE_PIDFD as u64 | libc::SIGCHLD as u64) as libc::c_ulong,
                0usize,
                &mut pidfd as *mut libc::c_int,
                0usize,
                0usize,
            )
        };
    }
    match ret {
        -1 => Err(Errno::from_raw_os_error(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        )),
        0 => Ok(None),
        pid => {
            // SAFETY: the kernel returned a fresh pidfd that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            Ok(Some((Pid::from_raw(pid as i32).ok_or(Errno::SRCH)?, fd)))
        }
    }
}

#[allow(unsafe_code)]
fn exit_child(code: i32) -> ! {
    // SAFETY: _exit ends the child without running kmicro's atexit handlers or destructors.
    unsafe { libc::_exit(code) }
}

/// Starts a child in new namespaces `flags` (`CLONE_NEW*`) that runs `plan` and `execve`s.
/// Returns when the program runs (its `execve` closed the report pipe), or with the step that
/// failed. `id` names the container in errors.
pub(crate) fn spawn(id: &str, plan: &Plan, flags: u64) -> Result<Spawned> {
    if plan.fds.len() > 8 {
        return Err(Error::invalid("fds", "at most 8 descriptors can be placed"));
    }
    let to_ptrs = |v: &[std::ffi::CString]| -> Vec<*const c_char> {
        v.iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let argv = to_ptrs(&plan.argv);
    let envp = to_ptrs(&plan.envp);
    // A socket, not a pipe: the child sends the terminal's master back with SCM_RIGHTS.
    // Records of 12 bytes; end-of-file (the child's end closed by execve) means success.
    let (report_r, report_w) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::sys("socket pair for the set-up report", e))?;
    let (pid, pidfd) = match clone_with_pidfd(flags) {
        Err(e) => return Err(Error::sys("clone3", e)),
        Ok(None) => {
            let f = child::run(plan, &argv, &envp, report_w.as_fd());
            let mut buf = [0u8; 12];
            buf[..4].copy_from_slice(&f.phase.to_ne_bytes());
            buf[4..8].copy_from_slice(&f.index.to_ne_bytes());
            buf[8..].copy_from_slice(&f.errno.to_ne_bytes());
            let _ = rustix::net::send(&report_w, &buf, rustix::net::SendFlags::NOSIGNAL);
            exit_child(127);
        }
        Ok(Some(p)) => p,
    };
    drop(report_w);
    let mut pty = None;
    let buf = loop {
        match read_report(&report_r) {
            Ok(Report::Exec) => return Ok(Spawned { pid, pidfd, pty }),
            Ok(Report::PtyMaster(fd)) => pty = Some(fd),
            Ok(Report::Failure(buf)) => break buf,
            Err(e) => {
                // The child's state is unknown: end it rather than leave it half set up.
                let _ = rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL);
                let _ = rustix::process::waitid(
                    rustix::process::WaitId::PidFd(pidfd.as_fd()),
                    rustix::process::WaitIdOptions::EXITED,
                );
                return Err(Error::sys("read the set-up report", e));
            }
        }
    };
    // The child failed and exits 127: reap it, then say what failed.
    let _ = rustix::process::waitid(
        rustix::process::WaitId::PidFd(pidfd.as_fd()),
        rustix::process::WaitIdOptions::EXITED,
    );
    let word = |i: usize| u32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    let f = Failure {
        phase: word(0),
        index: word(4),
        errno: word(8) as i32,
    };
    Err(Error::Setup {
        id: id.to_string(),
        step: plan.describe(f),
        source: std::io::Error::from_raw_os_error(f.errno),
    })
}

/// One record from the child.
enum Report {
    /// End-of-file: `execve` succeeded.
    Exec,
    /// The terminal's master.
    PtyMaster(OwnedFd),
    /// A failure's phase, index and errno.
    Failure([u8; 12]),
}

fn read_report(socket: &OwnedFd) -> Result<Report, Errno> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut buf = [0u8; 12];
    let mut space = [std::mem::MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let n = loop {
        match rustix::net::recvmsg(
            socket,
            &mut [std::io::IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(r) => break r.bytes,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    };
    let mut fd = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            for received in fds {
                fd.get_or_insert(received);
            }
        }
    }
    if n == 0 {
        return Ok(Report::Exec);
    }
    if n != buf.len() {
        return Err(Errno::PROTO);
    }
    let phase = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if phase == child::REPORT_PTY_MASTER {
        return fd.map(Report::PtyMaster).ok_or(Errno::PROTO);
    }
    Ok(Report::Failure(buf))
}
