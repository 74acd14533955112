//! A module's standard output and error: split into lines for its log.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::context::ModuleContext;
use crate::logs::{LogLevel, LogSource, MAX_LINE_BYTES};

/// Bytes the guest may write at once.
const WRITE_BUDGET: usize = 64 << 10;

/// The guest's stdout or stderr. Every stream the guest opens on it shares one line buffer.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    ctx: Arc<ModuleContext>,
    source: LogSource,
    pending: Arc<Mutex<Vec<u8>>>,
}

impl GuestOutput {
    pub(crate) fn new(ctx: Arc<ModuleContext>, source: LogSource) -> GuestOutput {
        GuestOutput {
            ctx,
            source,
            pending: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn level(&self) -> LogLevel {
        if self.source == LogSource::Stderr {
            LogLevel::Warn
        } else {
            LogLevel::Info
        }
    }

    /// Adds bytes; logs each complete line (and a line grown too long).
    fn write_bytes(&self, bytes: &[u8]) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for &b in bytes {
            if b == b'\n' {
                self.emit(&mut pending);
            } else {
                pending.push(b);
                if pending.len() >= MAX_LINE_BYTES {
                    self.emit(&mut pending);
                }
            }
        }
    }

    fn emit(&self, pending: &mut Vec<u8>) {
        let line = String::from_utf8_lossy(pending);
        let line = line.strip_suffix('\r').unwrap_or(&line);
        self.ctx.guest_log(self.level(), self.source, line);
        pending.clear();
    }

    /// Logs an unfinished last line.
    pub(crate) fn flush_partial(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if !pending.is_empty() {
            self.emit(&mut pending);
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
