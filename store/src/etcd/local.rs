//! A throwaway single-member etcd server, for tests and benchmarks.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tempfile::TempDir;
use tokio::time::Instant;

use super::EtcdStore;
use crate::store::Store;
use crate::{Result, StoreError};

/// Error context of everything that goes wrong while starting etcd.
const STARTING: &str = "starting etcd";

/// How long etcd gets to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// How many times a start is tried when etcd finds its ports taken.
const START_ATTEMPTS: usize = 3;

/// How many of etcd's last stderr lines an error reports.
const STDERR_TAIL: usize = 20;

/// The last lines etcd wrote to stderr.
type Tail = Arc<Mutex<VecDeque<String>>>;

/// An `etcd` process started from `PATH`, listening on two free loopback ports, with its data
/// in a directory of its own. Settings are etcd's durable defaults (every commit is fsynced);
/// logging is reduced to errors. The process is killed and reaped when this is dropped.
pub struct LocalEtcd {
    child: Child,
    endpoint: String,
    stderr: Tail,
    stderr_reader: Option<JoinHandle<()>>,
    /// Dropped after the process is killed (fields drop after `Drop::drop`).
    temp_dir: Option<TempDir>,
}

impl LocalEtcd {
    /// Starts etcd with its data in a new temporary directory, removed on drop, and waits until
    /// it answers requests.
    pub async fn start() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("kmicro-etcd-")
            .tempdir()
            .map_err(|e| StoreError::backend(STARTING, e))?;
        let mut etcd = Self::start_in(dir.path()).await?;
        etcd.temp_dir = Some(dir);
        Ok(etcd)
    }

    /// Starts etcd with its data in `dir` (created if missing, kept on drop) and waits until it
    /// answers requests. `dir` may hold the data of an earlier `LocalEtcd`, which etcd then
    /// reopens.
    pub async fn start_in(dir: &Path) -> Result<Self> {
        let mut attempt = 1;
        loop {
            match Self::launch(dir).await {
                Err(err) if attempt < START_ATTEMPTS && port_taken(&err) => attempt += 1,
                result => return result,
            }
        }
    }

    /// The client URL, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// The etcd process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One attempt to start etcd on fresh ports.
    async fn launch(dir: &Path) -> Result<Self> {
        let (client_port, peer_port) =
            free_ports().map_err(|e| StoreError::backend(STARTING, e))?;
        let mut child = spawn(dir, client_port, peer_port)?;
        let stderr = Tail::default();
        let stderr_reader = child.stderr.take().and_then(|s| read_tail(s, &stderr));
        let mut etcd = Self {
            child,
            endpoint: format!("http://127.0.0.1:{client_port}"),
            stderr,
            stderr_reader,
            temp_dir: None,
        };
        etcd.wait_ready().await?;
        Ok(etcd)
    }

    /// Waits until etcd serves a linearizable read (so it has elected itself leader), or fails
    /// with etcd's last stderr lines if it exits or does not answer in time.
    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let store = EtcdStore::connect(&[self.endpoint()]).await?;
        loop {
            let last_error = match tokio::time::timeout(
                Duration::from_secs(1),
                store.current_revision(),
            )
            .await
            {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(err)) => err.to_string(),
                Err(_) => "request timed out".to_owned(),
            };
            match self.child.try_wait() {
                Ok(Some(status)) => return Err(self.failed(&format!("etcd exited ({status})"))),
                Ok(None) => {}
                Err(err) => return Err(self.failed(&format!("cannot check on etcd: {err}"))),
            }
            if Instant::now() >= deadline {
                let why = format!("etcd did not answer within {START_TIMEOUT:?} ({last_error})");
                return Err(self.failed(&why));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A start failure: `why`, then etcd's last stderr lines.
    fn failed(&mut self, why: &str) -> StoreError {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            // etcd has exited: let the reader reach the end of its stderr.
            if let Some(reader) = self.stderr_reader.take() {
                let _ = reader.join();
            }
        }
        let tail = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        let lines: Vec<&str> = tail.iter().map(String::as_str).collect();
        let message = if lines.is_empty() {
            why.to_owned()
        } else {
            format!("{why}; etcd's stderr ends with:\n{}", lines.join("\n"))
        };
        StoreError::backend(STARTING, message)
    }
}

impl Drop for LocalEtcd {
    fn drop(&mut self) {
        // Errors mean the process is already gone, which is what is wanted.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two distinct free loopback ports (the system picks them; both are held while the second
/// is picked, then released for etcd).
fn free_ports() -> std::io::Result<(u16, u16)> {
    let client = TcpListener::bind("127.0.0.1:0")?;
    let peer = TcpListener::bind("127.0.0.1:0")?;
    Ok((client.local_addr()?.port(), peer.local_addr()?.port()))
}

/// Whether a start failed because another process took one of the ports first.
fn port_taken(err: &StoreError) -> bool {
    matches!(err, StoreError::Backend { message, .. } if message.contains("address already in use"))
}

/// Spawns etcd as a single-member cluster with its data in `dir`.
fn spawn(dir: &Path, client_port: u16, peer_port: u16) -> Result<Child> {
    let client_url = format!("http://127.0.0.1:{client_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let mut command = Command::new("etcd");
    command
        .args(["--name", "default", "--data-dir"])
        .arg(dir)
        .args(["--listen-client-urls", &client_url])
        .args(["--advertise-client-urls", &client_url])
        .args(["--listen-peer-urls", &peer_url])
        .args(["--initial-advertise-peer-urls", &peer_url])
        .arg("--initial-cluster")
        .arg(format!("default={peer_url}"))
        .args([
            "--logger",
            "zap",
            "--log-outputs",
            "stderr",
            "--log-level",
            "error",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(arch) = UNSUPPORTED_ARCH {
        // etcd 3.4 refuses to run on these architectures unless told to.
        command.env("ETCD_UNSUPPORTED_ARCH", arch);
    }
    command.spawn().map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => StoreError::backend(
            STARTING,
            "etcd not found on PATH; install the etcd-server package",
        ),
        _ => StoreError::backend(STARTING, err),
    })
}

/// etcd's name for this architecture, where etcd 3.4 only runs with `ETCD_UNSUPPORTED_ARCH`.
const UNSUPPORTED_ARCH: Option<&str> = if cfg!(target_arch = "aarch64") {
    Some("arm64")
} else if cfg!(target_arch = "arm") {
    Some("arm")
} else {
    None
};

/// Keeps the last [`STDERR_TAIL`] lines of etcd's stderr in `tail`, on a thread that drains
/// the pipe until etcd exits (so etcd never blocks on a full pipe). `None` if no thread could
/// be started.
fn read_tail(stderr: ChildStderr, tail: &Tail) -> Option<JoinHandle<()>> {
    let tail = Arc::clone(tail);
    let drain = move || {
        for line in BufReader::new(stderr).split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).into_owned();
            let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
            if tail.len() == STDERR_TAIL {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    };
    std::thread::Builder::new()
        .name("etcd-stderr".to_owned())
        .spawn(drain)
        .ok()
}
