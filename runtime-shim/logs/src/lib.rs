//! kmicro's container logs, as the kubelet keeps them so that `kubectl logs` works as in
//! Kubernetes: CRI-format files (`<pod-log-dir>/<container>/<restart-count>.log`, records
//! like `2016-10-06T00:17:09.669794202Z stdout F text`) written from a container's stdout
//! and stderr with size-based rotation, and read back for `pods/log` (`follow`, `tailLines`,
//! `sinceSeconds`/`sinceTime`, `timestamps`, `limitBytes`) across rotated files.
//!
//! ```no_run
//! use futures::StreamExt;
//! use kmicro_cri_logs::{LogConfig, LogWriter, ReadOptions, read_logs};
//!
//! # async fn demo(stdout: tokio::net::unix::pipe::Receiver, stderr: tokio::net::unix::pipe::Receiver) -> Result<(), kmicro_cri_logs::Error> {
//! let writer = LogWriter::spawn("/var/log/pods/default_web_1234/app/0.log", stdout, stderr, LogConfig::default())?;
//! let options = ReadOptions::from_query("follow=true&tailLines=10", jiff::Timestamp::now())?;
//! let mut lines = read_logs(writer.path(), options, Some(writer.follow()));
//! while let Some(chunk) = lines.next().await {
//!     print!("{}", String::from_utf8_lossy(&chunk.expect("read")));
//! }
//! # Ok(()) }
//! ```

mod error;
mod format;
mod query;
mod reader;
mod rotation;
mod tail;
mod writer;

pub use error::{Error, Result};
pub use format::{MAX_RECORD_CONTENT, Stream};
pub use reader::{LogStream, ReadOptions, read_logs};
pub use rotation::rotated_files;
pub use writer::{LogConfig, LogFollow, LogWriter, WriteStats, pipe_reader};
