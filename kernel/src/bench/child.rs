//! A `kmicro run` started by a benchmark as a child process: its own temp data dir, loopback
//! port and share of the host ([`ChildHost`]), its memory read from `/proc`, and a stop and
//! clean-up that always happen.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rustix::process::{Pid, Signal, kill_process};

use super::child_host::ChildHost;

/// How long a SIGTERM'd child gets before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The child's log, kept in its temp dir; its tail goes into errors.
const LOG_FILE: &str = "kmicro-run.log";

/// A running `kmicro run` on `127.0.0.1`. Dropping it kills the process (if still running),
/// reaps it, releases its share of the host, then removes its temp dir.
pub(crate) struct ChildServer {
    /// `None` once stopped and reaped.
    child: Option<Child>,
    /// How it exited, if it did so by itself.
    exit: Option<String>,
    pid: u32,
    port: u16,
    data_dir: PathBuf,
    host: ChildHost,
    /// Declared last: removed after the process is gone.
    dir: tempfile::TempDir,
}

/// The error of a child that exited by itself: its exit status and the end of its log.
#[derive(Debug)]
pub(crate) struct Exited {
    status: String,
    log_tail: String,
}

impl std::fmt::Display for Exited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "kmicro run exited ({}); its log ends:\n{}",
            self.status, self.log_tail
        )
    }
}

impl std::error::Error for Exited {}

/// How the child stopped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stopped {
    /// From SIGTERM to exit (or to the kill).
    pub(crate) elapsed: Duration,
    /// Whether it had to be killed after [`STOP_TIMEOUT`].
    pub(crate) killed: bool,
}

impl ChildServer {
    /// Starts this very binary as `kmicro run` in a fresh temp dir under `parent`, on a free
    /// loopback port, without the service proxy (the child would share the default bridge
    /// name, and so the iptables chains, of a real kmicro on the machine). Does not wait for
    /// readiness (see [`ChildServer::kubeconfig`]).
    pub(crate) fn start(parent: &Path, cache_mib: u16) -> anyhow::Result<Self> {
        Self::start_with(parent, cache_mib, &[], |_| Ok(()))
    }

    /// Like [`ChildServer::start`], with extra `kmicro run` flags and `prepare` run on the
    /// data dir before the start (to put image archives in `agent/images/`, say).
    pub(crate) fn start_with(
        parent: &Path,
        cache_mib: u16,
        extra: &[&str],
        prepare: impl FnOnce(&Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("finding the kmicro binary")?;
        let dir = tempfile::Builder::new()
            .prefix("kmicro-bench-api-")
            .tempdir_in(parent)
            .with_context(|| format!("creating a directory in {}", parent.display()))?;
        let data_dir = dir.path().join("data");
        let port = free_port()?;
        let log_path = dir.path().join(LOG_FILE);
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        prepare(&data_dir)?;
        let host = ChildHost::new()?;
        let child = Command::new(&exe)
            .arg("run")
            .args(["--bind-address", "127.0.0.1"])
            .args(["--https-listen-port", &port.to_string()])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--datastore-cache-mib", &cache_mib.to_string()])
            .args(host.flags())
            .args(extra)
            .envs(host.env())
            .env("KMICRO_LOG_LEVEL", "warn")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} run", exe.display()))?;
        Ok(Self {
            pid: child.id(),
            child: Some(child),
            exit: None,
            port,
            data_dir,
            host,
            dir,
        })
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The port it was told to listen on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Where it writes its admin kubeconfig.
    pub(crate) fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("kubeconfig.yaml")
    }

    /// Fails with [`Exited`] if the child has exited (or was stopped).
    pub(crate) fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(child) = self.child.as_mut() {
            match child.try_wait().context("checking on kmicro run")? {
                None => return Ok(()),
                Some(status) => {
                    self.child = None;
                    self.exit = Some(status.to_string());
                }
            }
        }
        Err(Exited {
            status: self.exit.clone().unwrap_or_else(|| "stopped".into()),
            log_tail: self.log_tail(),
        }
        .into())
    }

    /// The child's whole stderr so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(LOG_FILE)).unwrap_or_default()
    }

    /// The last lines of the child's stderr.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(LOG_FILE)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The child's resident memory now (`VmRSS`), in MiB.
    pub(crate) fn rss_mib(&self) -> anyhow::Result<f64> {
        self.status_kib("VmRSS").map(kib_to_mib)
    }

    /// The child's peak resident memory so far (`VmHWM`), in MiB.
    pub(crate) fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        self.status_kib("VmHWM").map(kib_to_mib)
    }

    fn status_kib(&self, field: &str) -> anyhow::Result<u64> {
        let path = format!("/proc/{}/status", self.pid);
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        status_field_kib(&status, field).with_context(|| format!("no {field} in {path}"))
    }

    /// SIGTERM, then SIGKILL if it has not exited after [`STOP_TIMEOUT`]; reaps it.
    pub(crate) async fn stop(&mut self) -> anyhow::Result<Stopped> {
        let Some(mut child) = self.child.take() else {
            let status = self.exit.as_deref().unwrap_or("stopped");
            bail!("kmicro run had already exited ({status})");
        };
        let started = Instant::now();
        if let Some(pid) = Pid::from_raw(self.pid as i32) {
            // It may have exited already; the wait below tells.
            let _ = kill_process(pid, Signal::TERM);
        }
        loop {
            if child
                .try_wait()
                .context("waiting for kmicro run")?
                .is_some()
            {
                return Ok(Stopped {
                    elapsed: started.elapsed(),
                    killed: false,
                });
            }
            if started.elapsed() > STOP_TIMEOUT {
                let _ = child.kill();
                child.wait().context("reaping kmicro run")?;
                return Ok(Stopped {
                    elapsed: started.elapsed(),
                    killed: true,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.host.release(&self.data_dir);
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// A `Field:   123 kB` line of `/proc/<pid>/status`, in KiB.
fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Starts a `kmicro run` child in `parent`, runs `measure` on it (Ctrl-C interrupts it), then
/// stops it. When `measure` fails because the child died, the error carries its exit and log
/// (once); either way the child is stopped, reaped and its temp dir removed.
pub(crate) async fn measure_child<T>(
    parent: &Path,
    cache_mib: u16,
    measure: impl AsyncFnOnce(&mut ChildServer) -> anyhow::Result<T>,
) -> anyhow::Result<(T, Stopped)> {
    measure_started(&mut ChildServer::start(parent, cache_mib)?, measure).await
}

/// [`measure_child`] on a child already started (one from [`ChildServer::start_with`]); the
/// caller drops it, so it can clean up what the child left in its data dir first.
pub(crate) async fn measure_started<T>(
    server: &mut ChildServer,
    measure: impl AsyncFnOnce(&mut ChildServer) -> anyhow::Result<T>,
) -> anyhow::Result<(T, Stopped)> {
    eprintln!(
        "started kmicro run (pid {}) on 127.0.0.1:{}",
        server.pid(),
        server.port()
    );
    let measured = tokio::select! {
        measured = measure(server) => measured,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let figures = match measured {
        Ok(figures) => figures,
        Err(err) => {
            let reported = err.chain().any(|e| e.is::<Exited>());
            if !reported && let Err(exited) = server.check_alive() {
                return Err(anyhow::anyhow!("{err:#}\n{exited:#}"));
            }
            let _ = server.stop().await;
            return Err(err);
        }
    };
    let stopped = server.stop().await?;
    Ok((figures, stopped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_status_fields() {
        let status = "Name:\tkmicro\nVmHWM:\t   20480 kB\nVmRSS:\t   15640 kB\n";
        assert_eq!(status_field_kib(status, "VmRSS"), Some(15640));
        assert_eq!(status_field_kib(status, "VmHWM"), Some(20480));
        assert_eq!(status_field_kib(status, "VmSwap"), None);
        assert_eq!(status_field_kib("VmRSSX:\t1 kB\n", "VmRSS"), None);
    }

    #[test]
    fn own_rss_is_readable() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(status_field_kib(&status, "VmRSS").unwrap() > 0);
    }
}
