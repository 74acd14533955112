//! A container's stdio: named FIFOs in its state directory that outlive kmicro, or a
//! pseudo-terminal; pipes for exec sessions.
//!
//! FIFOs: `stdout` and `stderr` (and `stdin`) in `<state-dir>/containers/<id>/`. kmicro opens
//! the read ends; the container gets the write ends as fds 1 and 2 **and keeps a read end of
//! each open itself** — fds 3 (stdout) and 4 (stderr), opened `O_RDONLY|O_NONBLOCK` and
//! inherited across `execve`. A FIFO with a reader never gives its writer `EPIPE`/`SIGPIPE`,
//! so while kmicro is away (restart, crash) writes only block once the pipe is full
//! (`F_SETPIPE_SZ`, 1 MiB by default), and the next kmicro re-opens the FIFOs and reads on
//! from where the last one stopped. With `stdin` (and not `stdin_once`) the container also
//! keeps a writer of its stdin FIFO as fd 5, so stdin never reaches end-of-file because kmicro
//! went away. With a tty, fds 0–2 are the terminal — a pty of the container's own devpts
//! instance, opened by the child (`child::Plan::controlling_tty`), so the program sees
//! `/dev/pts/N` — and fd 3 is a copy of the terminal's master, which a new kmicro takes back
//! with `pidfd_getfd`. Exec sessions get their terminal the same way.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use rustix::fs::{CWD, Mode, OFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::unix::pipe;

use crate::error::{Error, Result};

/// The fd number of the container's own reader of its stdout FIFO (of the pty master with a tty).
pub const KEEPER_STDOUT_FD: RawFd = 3;
/// The fd number of the container's own reader of its stderr FIFO.
pub const KEEPER_STDERR_FD: RawFd = 4;
/// The fd number of the container's own writer of its stdin FIFO.
pub const KEEPER_STDIN_FD: RawFd = 5;

/// kmicro's ends of a container's or exec session's stdio.
#[derive(Debug, Default)]
pub struct Stdio {
    /// The program's stdout (none with a tty).
    pub stdout: Option<pipe::Receiver>,
    /// The program's stderr (none with a tty).
    pub stderr: Option<pipe::Receiver>,
    /// The program's stdin, when asked for (none with a tty: write to the terminal).
    pub stdin: Option<pipe::Sender>,
    /// The terminal's master side, with a tty.
    pub tty: Option<Pty>,
}

/// Fds the parent keeps until the child is started, and what the child gets.
pub(crate) struct Prepared {
    pub ours: Stdio,
    /// (fd, number in the child).
    pub child: Vec<(OwnedFd, RawFd)>,
    /// A terminal: the child opens it in the container's devpts (see `child::Plan`).
    pub controlling_tty: bool,
    /// With a terminal, where the child keeps its own copy of the master.
    pub pty_keeper: Option<RawFd>,
}

fn open(path: &Path, flags: OFlags) -> Result<OwnedFd> {
    rustix::fs::open(path, flags | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::io("open", path, e.into()))
}

fn mkfifo(path: &Path) -> Result<()> {
    match rustix::fs::mkfifoat(CWD, path, Mode::from_raw_mode(0o600)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(Error::io("mkfifo", path, e.into())),
    }
}

fn receiver(fd: OwnedFd, path: &Path) -> Result<pipe::Receiver> {
    pipe::Receiver::from_owned_fd(fd).map_err(|e| Error::io("register FIFO", path, e))
}

fn sender(fd: OwnedFd, path: &Path) -> Result<pipe::Sender> {
    pipe::Sender::from_owned_fd(fd).map_err(|e| Error::io("register FIFO", path, e))
}

/// kmicro's reader of FIFO `path` (never blocks; end-of-file once no writer is left).
pub(crate) fn open_reader(path: &Path) -> Result<pipe::Receiver> {
    receiver(open(path, OFlags::RDONLY | OFlags::NONBLOCK)?, path)
}

/// kmicro's writer of FIFO `path` (needs a reader: the container's stdin).
pub(crate) fn open_writer(path: &Path) -> Result<pipe::Sender> {
    sender(open(path, OFlags::WRONLY | OFlags::NONBLOCK)?, path)
}

/// Creates the container's FIFOs (or pty) in `dir` and opens every end.
pub(crate) fn prepare_container(
    dir: &Path,
    stdin: bool,
    stdin_once: bool,
    tty: bool,
    pipe_size: usize,
) -> Result<Prepared> {
    let mut child = Vec::new();
    let mut ours = Stdio::default();
    if tty {
        // The child opens the terminal in the container's devpts and keeps a master at
        // KEEPER_STDOUT_FD; kmicro's master comes back from `spawn`.
        return Ok(Prepared {
            ours,
            child,
            controlling_tty: true,
            pty_keeper: Some(KEEPER_STDOUT_FD),
        });
    }
    if stdin {
        let path = dir.join("stdin");
        mkfifo(&path)?;
        let read = open(&path, OFlags::RDONLY | OFlags::NONBLOCK)?;
        // The container reads with ordinary blocking reads.
        rustix::fs::fcntl_setfl(&read, OFlags::RDONLY)
            .map_err(|e| Error::io("fcntl", &path, e.into()))?;
        let ours_w = open(&path, OFlags::WRONLY | OFlags::NONBLOCK)?;
        if !stdin_once {
            child.push((open(&path, OFlags::WRONLY)?, KEEPER_STDIN_FD));
        }
        child.push((read, 0));
        ours.stdin = Some(sender(ours_w, &path)?);
    } else {
        child.push((open(Path::new("/dev/null"), OFlags::RDONLY)?, 0));
    }
    for (name, target, keeper_fd) in [
        ("stdout", 1, KEEPER_STDOUT_FD),
        ("stderr", 2, KEEPER_STDERR_FD),
    ] {
        let path = dir.join(name);
        mkfifo(&path)?;
        let reader = open(&path, OFlags::RDONLY | OFlags::NONBLOCK)?;
        let keeper = open(&path, OFlags::RDONLY | OFlags::NONBLOCK)?;
        // Readers exist, so opening for writing does not block.
        let writer = open(&path, OFlags::WRONLY)?;
        if let Err(e) = rustix::pipe::fcntl_setpipe_size(&writer, pipe_size) {
            tracing::debug!(path = %path.display(), error = %e, "F_SETPIPE_SZ refused; default pipe size");
        }
        child.push((writer, target));
        child.push((keeper, keeper_fd));
        let rx = receiver(reader, &path)?;
        if target == 1 {
            ours.stdout = Some(rx);
        } else {
            ours.stderr = Some(rx);
        }
    }
    Ok(Prepared {
        ours,
        child,
        controlling_tty: false,
        pty_keeper: None,
    })
}

/// Pipes (or a pty) for an exec session; nothing outlives kmicro.
pub(crate) fn prepare_exec(stdin: bool, tty: bool) -> Result<Prepared> {
    let mut child = Vec::new();
    let mut ours = Stdio::default();
    if tty {
        // The child opens the terminal in the container's devpts (it has joined the
        // container's mount namespace); kmicro's master comes back from `spawn`.
        return Ok(Prepared {
            ours,
            child,
            controlling_tty: true,
            pty_keeper: None,
        });
    }
    let pipe = || {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| Error::sys("pipe for exec stdio", e))
    };
    if stdin {
        let (r, w) = pipe()?;
        child.push((r, 0));
        ours.stdin =
            Some(pipe::Sender::from_owned_fd(w).map_err(|e| Error::sys("register pipe", e))?);
    } else {
        child.push((open(Path::new("/dev/null"), OFlags::RDONLY)?, 0));
    }
    for target in [1, 2] {
        let (r, w) = pipe()?;
        child.push((w, target));
        let rx = pipe::Receiver::from_owned_fd(r).map_err(|e| Error::sys("register pipe", e))?;
        if target == 1 {
            ours.stdout = Some(rx);
        } else {
            ours.stderr = Some(rx);
        }
    }
    Ok(Prepared {
        ours,
        child,
        controlling_tty: false,
        pty_keeper: None,
    })
}

/// Registers an owned fd with tokio's reactor (inside a tokio runtime).
#[allow(unsafe_code)]
pub(crate) fn register(fd: OwnedFd, what: &'static str) -> Result<AsyncFd<OwnedFd>> {
    // SAFETY: the OwnedFd owns its descriptor, which stays open and the same until the
    // AsyncFd (and with it the OwnedFd) is dropped.
    unsafe { AsyncFd::register(fd) }.map_err(|e| Error::sys(what, e))
}

/// The master side of a container's or exec session's terminal: read the program's output,
/// write its input, resize it.
#[derive(Debug)]
pub struct Pty {
    fd: AsyncFd<OwnedFd>,
}

impl Pty {
    pub(crate) fn new(master: OwnedFd) -> Result<Pty> {
        rustix::io::ioctl_fionbio(&master, true).map_err(|e| Error::sys("pty non-blocking", e))?;
        Ok(Pty {
            fd: register(master, "register pty")?,
        })
    }

    /// Another handle on the same terminal (a duplicate of the master fd), so that one task
    /// can read the program's output while others write its input or resize it
    /// (`kubectl attach` to a container with a tty).
    pub fn try_clone(&self) -> Result<Pty> {
        let master = self
            .fd
            .get_ref()
            .try_clone()
            .map_err(|e| Error::sys("dup the pty master", e))?;
        Pty::new(master)
    }

    /// Sets the terminal's size (`TIOCSWINSZ`; the program gets `SIGWINCH`).
    pub fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        rustix::termios::tcsetwinsize(
            self.fd.get_ref(),
            rustix::termios::Winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            },
        )
        .map_err(|e| Error::sys("TIOCSWINSZ", e))
    }

    /// The terminal's size as (columns, rows).
    pub fn size(&self) -> Result<(u16, u16)> {
        let w = rustix::termios::tcgetwinsize(self.fd.get_ref())
            .map_err(|e| Error::sys("TIOCGWINSZ", e))?;
        Ok((w.ws_col, w.ws_row))
    }

    /// The master's raw fd (for callers that poll it themselves).
    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.get_ref().as_raw_fd()
    }
}

impl AsyncRead for Pty {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| {
                rustix::io::read(fd.get_ref().as_fd(), unfilled).map_err(io::Error::from)
            }) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // EIO: every slave fd is closed (the program ended): end-of-file.
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Poll::Ready(Ok(())),
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Pty {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard
                .try_io(|fd| rustix::io::write(fd.get_ref().as_fd(), data).map_err(io::Error::from))
            {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
