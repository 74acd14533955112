//! The writer: a container's stdout and stderr into its CRI log file, rotated by size.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::format::{self, MAX_RECORD_CONTENT, Stream, Tag};
use crate::rotation;

/// How big a log file may grow and how many are kept: kubelet's `containerLogMaxSize` and
/// `containerLogMaxFiles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Rotate before a record would take the file past this size (default 10 MiB).
    pub max_size: u64,
    /// Files kept per log, the one being written included (default 5, at least 2).
    pub max_files: usize,
    /// How often written data is synced to disk (`fdatasync`; default 5 s). Writes reach the
    /// file (and readers) at once; syncing is what this spaces out.
    pub sync_interval: Duration,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            max_size: 10 * 1024 * 1024,
            max_files: 5,
            sync_interval: Duration::from_secs(5),
        }
    }
}

/// What a writer did, when its container's streams ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Records written (a long line is several).
    pub records: u64,
    /// Bytes written to log files.
    pub bytes: u64,
    /// Rotations done.
    pub rotations: u64,
    /// Bytes of output lost because the file could not be written (a full disk).
    pub dropped: u64,
}

/// Lets a reader wait for new records and learn when the writer is done (see
/// [`read_logs`](crate::read_logs)): a counter bumped on every write and rotation, closed when
/// the container's streams have ended and everything is written.
#[derive(Debug, Clone)]
pub struct LogFollow(pub(crate) watch::Receiver<u64>);

/// A running writer for one container's log file (`<pod-log-dir>/<container>/<restart>.log`).
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    follow: watch::Receiver<u64>,
    task: JoinHandle<WriteStats>,
}

/// Bytes asked of a stream per read: a busy container's many lines go out in one write.
const READ_SIZE: usize = 32 * 1024;

impl LogWriter {
    /// Starts copying `stdout` and `stderr` into the log at `path` (appending, so a writer
    /// started again after a kmicro restart continues the same file), until both end. For a
    /// TTY container, pass [`tokio::io::empty()`] as `stderr`. Records of both streams are
    /// written in the order their lines were read, stamped with the time they were read.
    ///
    /// Must be called within a tokio runtime. A file that cannot be written later (full disk)
    /// does not stop the copy: the container must never block on its output; what was lost is
    /// counted and logged.
    pub fn spawn<O, E>(
        path: impl Into<PathBuf>,
        stdout: O,
        stderr: E,
        config: LogConfig,
    ) -> Result<LogWriter>
    where
        O: AsyncRead + Unpin + Send + 'static,
        E: AsyncRead + Unpin + Send + 'static,
    {
        let path = path.into();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
        }
        let file = open_log(&path)?;
        let size = file.metadata().map_err(Error::io("stat", &path))?.len();
        let (tx, rx) = watch::channel(0);
        let sink = Sink {
            path: path.clone(),
            file,
            size,
            out: Vec::with_capacity(READ_SIZE * 2),
            config: LogConfig {
                max_files: config.max_files.max(2),
                ..config
            },
            changed: tx,
            dirty: false,
            syncing: None,
            stats: WriteStats::default(),
            failing: false,
        };
        let task = tokio::spawn(copy(stdout, stderr, sink));
        Ok(LogWriter {
            path,
            follow: rx,
            task,
        })
    }

    /// The log file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle for followers of this log.
    pub fn follow(&self) -> LogFollow {
        LogFollow(self.follow.clone())
    }

    /// Waits until both streams have ended and everything is written and synced.
    pub async fn wait(self) -> WriteStats {
        match self.task.await {
            Ok(stats) => stats,
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "log writer task failed");
                WriteStats::default()
            }
        }
    }
}

/// A pipe or FIFO read end (as the runtime holds a container's stdout or stderr) as an async
/// reader for [`LogWriter::spawn`].
pub fn pipe_reader(fd: OwnedFd) -> io::Result<tokio::net::unix::pipe::Receiver> {
    tokio::net::unix::pipe::Receiver::from_owned_fd(fd)
}

fn open_log(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .map_err(Error::io("open", path))
}

/// One stream's unfinished line.
#[derive(Default)]
struct Pending {
    line: Vec<u8>,
    open: bool,
}

async fn copy<O, E>(mut stdout: O, mut stderr: E, mut sink: Sink) -> WriteStats
where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    let mut buffers = (vec![0u8; READ_SIZE], vec![0u8; READ_SIZE]);
    let mut pending = [
        Pending {
            open: true,
            ..Pending::default()
        },
        Pending {
            open: true,
            ..Pending::default()
        },
    ];
    let mut sync = tokio::time::interval(sink.config.sync_interval);
    sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while pending[0].open || pending[1].open {
        let (stream, result) = tokio::select! {
            result = stdout.read(&mut buffers.0), if pending[0].open => (Stream::Stdout, result),
            result = stderr.read(&mut buffers.1), if pending[1].open => (Stream::Stderr, result),
            _ = sync.tick() => {
                sink.start_sync();
                continue;
            }
        };
        let time = format::file_time(Timestamp::now());
        let data = match stream {
            Stream::Stdout => &buffers.0,
            Stream::Stderr => &buffers.1,
        };
        let state = &mut pending[stream.index()];
        match result {
            Ok(0) => {
                state.open = false;
                if !state.line.is_empty() {
                    let line = std::mem::take(&mut state.line);
                    sink.record(&time, stream, Tag::Full, &line);
                }
            }
            Ok(n) => split_lines(&data[..n], state, &time, stream, &mut sink),
            Err(e) => {
                tracing::warn!(path = %sink.path.display(), stream = stream.as_str(), error = %e, "reading container output failed; stream closed");
                state.open = false;
            }
        }
        sink.write_out();
    }
    sink.finish().await
}

/// Turns what one read brought into records: complete lines as `F` (a trailing `\r` of a
/// `\r\n` ending dropped, as Go's `ReadLine` does for containerd), lines beyond 16 KiB as `P`
/// pieces, and the unfinished rest kept for the next read.
fn split_lines(data: &[u8], state: &mut Pending, time: &str, stream: Stream, sink: &mut Sink) {
    let mut rest = data;
    while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
        state.line.extend_from_slice(&rest[..newline]);
        rest = &rest[newline + 1..];
        if state.line.last() == Some(&b'\r') {
            state.line.pop();
        }
        let line = std::mem::take(&mut state.line);
        let mut content = line.as_slice();
        while content.len() > MAX_RECORD_CONTENT {
            sink.record(time, stream, Tag::Partial, &content[..MAX_RECORD_CONTENT]);
            content = &content[MAX_RECORD_CONTENT..];
        }
        sink.record(time, stream, Tag::Full, content);
        state.line = line;
        state.line.clear();
    }
    state.line.extend_from_slice(rest);
    let mut cut = 0;
    while state.line.len() - cut > MAX_RECORD_CONTENT {
        sink.record(
            time,
            stream,
            Tag::Partial,
            &state.line[cut..cut + MAX_RECORD_CONTENT],
        );
        cut += MAX_RECORD_CONTENT;
    }
    state.line.drain(..cut);
}

/// The log file and what is waiting to go into it.
struct Sink {
    path: PathBuf,
    file: File,
    size: u64,
    out: Vec<u8>,
    config: LogConfig,
    changed: watch::Sender<u64>,
    dirty: bool,
    syncing: Option<JoinHandle<()>>,
    stats: WriteStats,
    /// The last write failed (logged once until a write succeeds again).
    failing: bool,
}

impl Sink {
    /// Adds a record, rotating first when it would take the file past its size.
    fn record(&mut self, time: &str, stream: Stream, tag: Tag, content: &[u8]) {
        let len = format::record_len(time, stream, content) as u64;
        let used = self.size + self.out.len() as u64;
        if used > 0 && used + len > self.config.max_size {
            self.write_out();
            self.rotate();
        }
        format::write_record(&mut self.out, time, stream, tag, content);
        self.stats.records += 1;
    }

    /// Writes what is buffered: one `write` for everything one read brought.
    fn write_out(&mut self) {
        if self.out.is_empty() {
            return;
        }
        match self.file.write_all(&self.out) {
            Ok(()) => {
                self.size += self.out.len() as u64;
                self.stats.bytes += self.out.len() as u64;
                self.dirty = true;
                if self.failing {
                    tracing::info!(path = %self.path.display(), "log writes work again");
                    self.failing = false;
                }
            }
            Err(e) => {
                self.stats.dropped += self.out.len() as u64;
                if !self.failing {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot write the container log; output is dropped");
                    self.failing = true;
                }
                // What part was written is unknown: take the size from the file.
                if let Ok(meta) = self.file.metadata() {
                    self.size = meta.len();
                }
            }
        }
        self.out.clear();
        self.changed.send_modify(|n| *n += 1);
    }

    /// `<n>.log` → `<n>.log.<time>`, a new `<n>.log`, the oldest rotated files deleted.
    fn rotate(&mut self) {
        let rotated = rotation::rotated_name(&self.path, Timestamp::now());
        if let Err(e) = std::fs::rename(&self.path, &rotated) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot rotate the container log");
            return;
        }
        match open_log(&self.path) {
            Ok(file) => {
                let old = std::mem::replace(&mut self.file, file);
                // The rotated file's data goes to disk off this task.
                tokio::task::spawn_blocking(move || old.sync_data());
                self.size = 0;
                self.dirty = false;
                self.stats.rotations += 1;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot open a new log after rotation; writing on in the rotated file");
            }
        }
        if let Err(e) = rotation::prune(&self.path, self.config.max_files - 1) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove old rotated logs");
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// Syncs written data on a blocking thread, unless a sync is still running.
    fn start_sync(&mut self) {
        if !self.dirty || self.syncing.as_ref().is_some_and(|s| !s.is_finished()) {
            return;
        }
        match self.file.try_clone() {
            Ok(file) => {
                let path = self.path.clone();
                self.syncing = Some(tokio::task::spawn_blocking(move || {
                    if let Err(e) = file.sync_data() {
                        tracing::warn!(path = %path.display(), error = %e, "cannot sync the container log");
                    }
                }));
                self.dirty = false;
            }
            Err(e) => tracing::warn!(error = %e, "cannot sync the container log"),
        }
    }

    async fn finish(mut self) -> WriteStats {
        self.write_out();
        if let Some(running) = self.syncing.take() {
            let _ = running.await;
        }
        let file = self.file;
        let path = self.path.clone();
        let synced = tokio::task::spawn_blocking(move || file.sync_data()).await;
        if let Ok(Err(e)) = synced {
            tracing::warn!(path = %path.display(), error = %e, "cannot sync the container log");
        }
        tracing::debug!(path = %self.path.display(), stats = ?self.stats, "container log closed");
        // Dropping the sender tells followers that the log is complete.
        drop(self.changed);
        self.stats
    }
}
