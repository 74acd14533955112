//! The reader behind `pods/log`: a container's log across its rotated files, as `kubectl logs`
//! asks for it, as an async stream of bytes.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

use crate::format::{Record, Stream, Tag, parse_record};
use crate::rotation::rotated_files;
use crate::tail::tail_start;
use crate::writer::LogFollow;

/// What to read, as kube's `PodLogOptions` says (`previous` and `container` choose the file:
/// the caller's business).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Keep streaming new lines until the log is closed (needs a [`LogFollow`]).
    pub follow: bool,
    /// Only the last this many lines.
    pub tail_lines: Option<u64>,
    /// Only lines written at or after this time (`sinceTime`, or now less `sinceSeconds`).
    pub since: Option<Timestamp>,
    /// Prefix each line with its RFC 3339 time (nanoseconds, trailing zeros trimmed) and a
    /// space.
    pub timestamps: bool,
    /// Stop after this many bytes of output.
    pub limit_bytes: Option<u64>,
    /// Only this stream (kube's `stream` parameter); both when `None`.
    pub stream: Option<Stream>,
}

/// The output of [`read_logs`]: chunks of log content, partial lines joined. Dropping it stops
/// the reading.
#[derive(Debug)]
pub struct LogStream {
    receiver: mpsc::Receiver<io::Result<Bytes>>,
    task: tokio::task::AbortHandle,
}

impl futures::Stream for LogStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx)
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Output is sent in chunks of about this size.
const CHUNK: usize = 32 * 1024;
const READ_SIZE: usize = 64 * 1024;
/// A follower also looks at the file this often, should a change notice be missed.
const POLL: Duration = Duration::from_secs(1);

/// Reads the log whose current file is `path` (`<n>.log`; its rotated files first). With
/// `options.follow` and a `follow` handle from the running writer, keeps streaming lines as
/// they are written, across rotations, until the writer is done; without a handle (the
/// container has exited) the log is read to its end. Must be called within a tokio runtime.
pub fn read_logs(
    path: impl Into<PathBuf>,
    options: ReadOptions,
    follow: Option<LogFollow>,
) -> LogStream {
    let (sender, receiver) = mpsc::channel(4);
    let path = path.into();
    let follow = if options.follow { follow } else { None };
    let task = tokio::spawn(async move {
        let mut output = Output::new(&options, sender.clone());
        let result = read(&path, &options, follow, &mut output).await;
        if let Err(error) = result {
            tracing::debug!(path = %path.display(), %error, "reading a container log failed");
            let _ = sender.send(Err(error)).await;
        }
    });
    LogStream {
        receiver,
        task: task.abort_handle(),
    }
}

async fn read(
    path: &Path,
    options: &ReadOptions,
    follow: Option<LogFollow>,
    output: &mut Output,
) -> io::Result<()> {
    // Opened once, up front: the descriptors pin the files the tail is counted in, whatever
    // rotation does meanwhile.
    let current_path = path.to_owned();
    let (lines, stream) = (options.tail_lines, options.stream);
    let (files, has_current, first, offset) = tokio::task::spawn_blocking(move || {
        let mut paths = rotated_files(&current_path)?;
        paths.push(current_path.clone());
        let mut files = Vec::with_capacity(paths.len());
        let mut has_current = false;
        for path in &paths {
            match std::fs::File::open(path) {
                Ok(file) => {
                    has_current = *path == current_path;
                    files.push(file);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let (first, offset) = match lines {
            Some(lines) => tail_start(&files, lines, stream)?,
            None => (0, 0),
        };
        Ok((files, has_current, first, offset))
    })
    .await
    .map_err(io::Error::other)??;
    let mut offset = offset;
    let mut readers = Vec::with_capacity(files.len());
    for file in files.into_iter().skip(first) {
        readers.push(FileReader::new(tokio::fs::File::from_std(file), offset).await?);
        offset = 0;
    }
    let mut current = if has_current { readers.pop() } else { None };
    for mut rotated in readers {
        rotated.read_to_end(output).await?;
        output.flush().await?;
        if output.done() {
            return Ok(());
        }
    }
    let mut current = match current.take() {
        Some(reader) => reader,
        None => match tokio::fs::File::open(path).await {
            Ok(file) => FileReader::new(file, 0).await?,
            Err(e) if e.kind() == io::ErrorKind::NotFound && follow.is_none() => return Ok(()),
            Err(e) => return Err(e),
        },
    };
    let Some(LogFollow(mut changes)) = follow else {
        current.read_to_end(output).await?;
        return output.flush().await;
    };
    let mut writer_done = false;
    loop {
        current.read_to_end(output).await?;
        // Rotated since the last look: the rest of the old file, any file rotated after it,
        // then the new current file.
        if let Some(newer) = current.rotated_away(path)? {
            // The writer's last writes to the old file came before its rename, which we saw.
            current.read_to_end(output).await?;
            for file in newer {
                let mut reader = match tokio::fs::File::open(&file).await {
                    Ok(f) => FileReader::new(f, 0).await?,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                reader.read_to_end(output).await?;
            }
            current = match tokio::fs::File::open(path).await {
                Ok(file) => FileReader::new(file, 0).await?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => current,
                Err(e) => return Err(e),
            };
            current.read_to_end(output).await?;
        }
        output.flush().await?;
        if output.done() || writer_done {
            return Ok(());
        }
        tokio::select! {
            changed = changes.changed() => {
                // The writer is done and everything is written: one more pass to the end.
                writer_done = changed.is_err();
            }
            _ = tokio::time::sleep(POLL) => {}
            _ = output.sender.closed() => return Ok(()),
        }
    }
}

/// One open log file read forward record by record.
struct FileReader {
    file: tokio::fs::File,
    /// Bytes read after the last newline: a record still being written.
    carry: Vec<u8>,
    buffer: Vec<u8>,
    identity: (u64, u64),
}

impl FileReader {
    async fn new(mut file: tokio::fs::File, offset: u64) -> io::Result<FileReader> {
        let meta = file.metadata().await?;
        if offset > 0 {
            file.seek(io::SeekFrom::Start(offset)).await?;
        }
        Ok(FileReader {
            file,
            carry: Vec::new(),
            buffer: vec![0; READ_SIZE],
            identity: (meta.dev(), meta.ino()),
        })
    }

    /// Feeds every complete record up to the current end of the file to `output`.
    async fn read_to_end(&mut self, output: &mut Output) -> io::Result<()> {
        loop {
            if output.done() {
                return Ok(());
            }
            let n = self.file.read(&mut self.buffer).await?;
            if n == 0 {
                return Ok(());
            }
            let data = &self.buffer[..n];
            let Some(last_newline) = data.iter().rposition(|&b| b == b'\n') else {
                self.carry.extend_from_slice(data);
                continue;
            };
            let mut complete = std::mem::take(&mut self.carry);
            complete.extend_from_slice(&data[..=last_newline]);
            self.carry.extend_from_slice(&data[last_newline + 1..]);
            for line in complete.split(|&b| b == b'\n') {
                if line.is_empty() {
                    continue;
                }
                match parse_record(line) {
                    Some(record) => output.record(record),
                    None => tracing::debug!("skipping a malformed log line"),
                }
            }
            if output.buffered() >= CHUNK {
                output.flush().await?;
            }
        }
    }

    /// When the log at `path` is no longer this file: the rotated files made after this one
    /// (oldest first; this one excluded).
    fn rotated_away(&self, path: &Path) -> io::Result<Option<Vec<PathBuf>>> {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if (meta.dev(), meta.ino()) == self.identity {
            return Ok(None);
        }
        let rotated = rotated_files(path)?;
        let mine = rotated.iter().position(|file| {
            std::fs::metadata(file).is_ok_and(|m| (m.dev(), m.ino()) == self.identity)
        });
        Ok(Some(match mine {
            Some(index) => rotated[index + 1..].to_vec(),
            // Ours is gone (pruned): what is left is all newer.
            None => rotated,
        }))
    }
}

/// What the client gets: filtered, partial lines joined, optionally stamped, limited.
struct Output {
    sender: mpsc::Sender<io::Result<Bytes>>,
    buffer: BytesMut,
    since: Option<Timestamp>,
    stream: Option<Stream>,
    timestamps: bool,
    remaining: Option<u64>,
    /// Per stream: the time and content of a line whose end has not been read yet.
    partial: [Option<(Timestamp, Vec<u8>)>; 2],
}

impl Output {
    fn new(options: &ReadOptions, sender: mpsc::Sender<io::Result<Bytes>>) -> Output {
        Output {
            sender,
            buffer: BytesMut::with_capacity(CHUNK),
            since: options.since,
            stream: options.stream,
            timestamps: options.timestamps,
            remaining: options.limit_bytes,
            partial: [None, None],
        }
    }

    fn done(&self) -> bool {
        self.remaining == Some(0)
    }

    fn buffered(&self) -> usize {
        self.buffer.len()
    }

    fn record(&mut self, record: Record<'_>) {
        if self.stream.is_some_and(|s| s != record.stream) || self.done() {
            return;
        }
        let slot = &mut self.partial[record.stream.index()];
        if record.tag == Tag::Partial {
            slot.get_or_insert_with(|| (record.time, Vec::new()))
                .1
                .extend_from_slice(record.content);
            return;
        }
        let (time, head) = slot.take().unwrap_or((record.time, Vec::new()));
        if self.since.is_some_and(|since| time < since) {
            return;
        }
        if self.timestamps {
            self.emit(format!("{time} ").as_bytes());
        }
        self.emit(&head);
        self.emit(record.content);
        self.emit(b"\n");
    }

    fn emit(&mut self, bytes: &[u8]) {
        let take = match self.remaining {
            Some(remaining) => bytes
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX)),
            None => bytes.len(),
        };
        self.buffer.extend_from_slice(&bytes[..take]);
        if let Some(remaining) = &mut self.remaining {
            *remaining -= take as u64;
        }
    }

    /// Sends what is buffered; a gone client ends the reading.
    async fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = self.buffer.split().freeze();
        self.sender
            .send(Ok(chunk))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the log reader went away"))
    }
}
