//! A module's log: every line goes to `tracing` (target `kmicro::module`, field `module`) and
//! into a bounded ring that `kmicro module logs [-f]` reads.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Longest line kept; longer lines are cut (at a character boundary) and marked with `…`.
pub const MAX_LINE_BYTES: usize = 4096;

/// Severity of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LogLevel {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
}

/// Who wrote a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogSource {
    /// The module, through the `log` import.
    Module,
    /// The module's standard output.
    Stdout,
    /// The module's standard error.
    Stderr,
    /// The sandbox about the module (starts, failures, restarts, swaps).
    Host,
}

/// One line of a module's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When it was written.
    pub time: SystemTime,
    /// Severity.
    pub level: LogLevel,
    /// Who wrote it.
    pub source: LogSource,
    /// The text.
    pub message: String,
}

/// The last lines of one module, and a feed of new ones.
#[derive(Debug)]
pub(crate) struct LogRing {
    module: String,
    capacity: usize,
    lines: Mutex<VecDeque<LogLine>>,
    feed: broadcast::Sender<LogLine>,
}

impl LogRing {
    /// A ring keeping `capacity` lines.
    pub(crate) fn new(module: &str, capacity: usize) -> LogRing {
        let (feed, _) = broadcast::channel(256);
        LogRing {
            module: module.to_string(),
            capacity: capacity.max(1),
            lines: Mutex::new(VecDeque::new()),
            feed,
        }
    }

    /// Records a line: `tracing`, the ring, the feed.
    pub(crate) fn push(&self, level: LogLevel, source: LogSource, message: &str) {
        let message = clip_line(message);
        let module = self.module.as_str();
        match level {
            LogLevel::Trace => {
                tracing::trace!(target: "kmicro::module", module, ?source, "{message}")
            }
            LogLevel::Debug => {
                tracing::debug!(target: "kmicro::module", module, ?source, "{message}")
            }
            LogLevel::Info => {
                tracing::info!(target: "kmicro::module", module, ?source, "{message}")
            }
            LogLevel::Warn => {
                tracing::warn!(target: "kmicro::module", module, ?source, "{message}")
            }
            LogLevel::Error => {
                tracing::error!(target: "kmicro::module", module, ?source, "{message}")
            }
        }
        let line = LogLine {
            time: SystemTime::now(),
            level,
            source,
            message,
        };
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == self.capacity {
            lines.pop_front();
        }
        lines.push_back(line.clone());
        // Sent under the lock, so a subscriber (also under it) sees every line exactly once.
        let _ = self.feed.send(line);
    }

    /// The lines kept, and a receiver of every later line.
    pub(crate) fn snapshot(&self) -> (Vec<LogLine>, broadcast::Receiver<LogLine>) {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        (lines.iter().cloned().collect(), self.feed.subscribe())
    }
}

/// `message` cut to [`MAX_LINE_BYTES`].
fn clip_line(message: &str) -> String {
    if message.len() <= MAX_LINE_BYTES {
        return message.to_string();
    }
    let mut end = MAX_LINE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_last_lines_and_feeds_new_ones() {
        let ring = LogRing::new("m", 3);
        for i in 0..5 {
            ring.push(LogLevel::Info, LogSource::Module, &format!("line {i}"));
        }
        let (lines, mut feed) = ring.snapshot();
        let texts: Vec<_> = lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(texts, ["line 2", "line 3", "line 4"]);
        ring.push(LogLevel::Warn, LogSource::Stderr, "next");
        let next = feed.try_recv().unwrap();
        assert_eq!(
            (next.message.as_str(), next.level, next.source),
            ("next", LogLevel::Warn, LogSource::Stderr)
        );
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        let line = clip_line(&"é".repeat(MAX_LINE_BYTES));
        assert!(line.len() <= MAX_LINE_BYTES + '…'.len_utf8());
        assert!(line.ends_with('…'));
    }
}
