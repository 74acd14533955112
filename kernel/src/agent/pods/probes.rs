//! Liveness, readiness and startup probes: one task per probe of a running instance, with
//! kubelet's timing (`initialDelaySeconds`, `periodSeconds`, `timeoutSeconds`) and
//! thresholds (`successThreshold`, `failureThreshold`). Handlers: `exec` (through the
//! runtime, inside the container), `httpGet` and `tcpSocket` to the pod's IP — or, for a pod
//! without a routable IP, to its loopback from a thread inside its network namespace.
//! Each failed attempt is an `Unhealthy` event; a crossed threshold is reported to the worker.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kmicro_container::ExecSpec;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};

use super::Shared;
use super::events::{self, EventType};
use super::worker::WorkerEvent;
use crate::agent::transport::Transport;

/// Which probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// Restarts the container when it fails.
    Liveness,
    /// Decides readiness.
    Readiness,
    /// Holds the other two back until it succeeds; restarts the container when it fails.
    Startup,
}

impl ProbeKind {
    fn label(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Startup => "Startup",
        }
    }
}

/// Where a probe runs.
#[derive(Clone)]
pub struct Target {
    /// The pod.
    pub pod: Arc<Pod>,
    /// The container.
    pub container: Container,
    /// The running instance.
    pub id: String,
    /// The instance's environment (exec probes get it).
    pub env: Vec<String>,
    /// The pod's IP, when it has one.
    pub pod_ip: Option<IpAddr>,
    /// The pod's network namespace, for pods without a routable IP.
    pub netns: Option<PathBuf>,
}

/// Starts `kind`'s probe of `target`; liveness and readiness wait until `started` is true.
pub fn spawn<T: Transport>(
    shared: Arc<Shared<T>>,
    target: Target,
    kind: ProbeKind,
    probe: Probe,
    mut started: watch::Receiver<bool>,
    tx: mpsc::UnboundedSender<WorkerEvent>,
) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        let secs =
            |v: Option<i32>, default: i32| Duration::from_secs(v.unwrap_or(default).max(0) as u64);
        let period = secs(probe.period_seconds, 10).max(Duration::from_secs(1));
        let timeout = secs(probe.timeout_seconds, 1).max(Duration::from_secs(1));
        let success_threshold = probe.success_threshold.unwrap_or(1).max(1);
        let failure_threshold = probe.failure_threshold.unwrap_or(3).max(1);
        if kind != ProbeKind::Startup && started.wait_for(|s| *s).await.is_err() {
            return;
        }
        tokio::time::sleep(secs(probe.initial_delay_seconds, 0)).await;
        let (mut successes, mut failures) = (0, 0);
        let mut reported: Option<bool> = None;
        loop {
            let outcome = run_once(&shared, &target, &probe, timeout).await;
            match outcome {
                Ok(()) => {
                    failures = 0;
                    successes += 1;
                    if successes >= success_threshold && reported != Some(true) {
                        reported = Some(true);
                        let _ = tx.send(WorkerEvent::Probe {
                            id: target.id.clone(),
                            kind,
                            success: true,
                            message: String::new(),
                        });
                        if kind == ProbeKind::Startup {
                            return;
                        }
                    }
                }
                Err(message) => {
                    successes = 0;
                    failures += 1;
                    events::record(
                        &shared,
                        &target.pod,
                        Some((&target.container.name, false)),
                        EventType::Warning,
                        "Unhealthy",
                        format!("{} probe failed: {message}", kind.label()),
                    );
                    if failures >= failure_threshold && reported != Some(false) {
                        reported = Some(false);
                        let _ = tx.send(WorkerEvent::Probe {
                            id: target.id.clone(),
                            kind,
                            success: false,
                            message,
                        });
                    }
                }
            }
            tokio::time::sleep(period).await;
        }
    })
    .abort_handle()
}

/// One attempt: `Ok` or the failure's message as kubelet words it.
async fn run_once<T: Transport>(
    shared: &Arc<Shared<T>>,
    target: &Target,
    probe: &Probe,
    timeout: Duration,
) -> Result<(), String> {
    if let Some(exec) = &probe.exec {
        return exec_probe(
            shared,
            target,
            exec.command.clone().unwrap_or_default(),
            timeout,
        )
        .await;
    }
    let (port, http) = if let Some(h) = &probe.http_get {
        (&h.port, Some(h))
    } else if let Some(t) = &probe.tcp_socket {
        (&t.port, None)
    } else if probe.grpc.is_some() {
        return Err("gRPC probes are not supported by kmicro's node agent yet".into());
    } else {
        return Err("the probe has no handler".into());
    };
    let port = resolve_port(port, &target.container, |name| {
        format!(
            "unable to find port {name:?} in container {:?}",
            target.container.name
        )
    })?;
    let host_ip = http
        .and_then(|h| h.host.as_deref())
        .or_else(|| probe.tcp_socket.as_ref().and_then(|t| t.host.as_deref()))
        .and_then(|h| h.parse::<IpAddr>().ok());
    let (ip, netns) = match (host_ip, target.pod_ip) {
        (Some(ip), _) => (ip, None),
        (None, Some(ip)) => (ip, None),
        (None, None) => (IpAddr::V4(Ipv4Addr::LOCALHOST), target.netns.clone()),
    };
    let addr = SocketAddr::new(ip, port);
    let request = http.map(|h| {
        if h.scheme.as_deref() == Some("HTTPS") {
            return Err("HTTPS probes are not supported by kmicro's node agent yet".to_string());
        }
        let path = h.path.clone().unwrap_or_else(|| "/".into());
        let mut text = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-probe/1.32\r\nAccept: */*\r\nConnection: close\r\n"
        );
        for header in h.http_headers.iter().flatten() {
            text.push_str(&format!("{}: {}\r\n", header.name, header.value));
        }
        text.push_str("\r\n");
        Ok(text)
    });
    let request = request.transpose()?;
    let work = move || connect_and_ask(addr, request, timeout);
    match netns {
        Some(ns) => tokio::task::spawn_blocking(move || super::network::in_netns(&ns, work))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?,
        None => tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| e.to_string())?,
    }
}

/// Connects to `addr` and, for HTTP, sends `request` and checks the status (200–399).
fn connect_and_ask(
    addr: SocketAddr,
    request: Option<String>,
    timeout: Duration,
) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
        if request.is_some() {
            format!("Get \"http://{addr}\": dial tcp {addr}: connect: {e}")
        } else {
            format!("dial tcp {addr}: connect: {e}")
        }
    })?;
    let Some(request) = request else {
        return Ok(());
    };
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("Get \"http://{addr}\": {e}"))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = stream.read(&mut buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut {
                format!("Get \"http://{addr}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)")
            } else {
                format!("Get \"http://{addr}\": {e}")
            }
        })?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("Get \"http://{addr}\": malformed HTTP response"))?;
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!("HTTP probe failed with statuscode: {code}"))
    }
}

/// A probe's or hook's port: a number, or the name of one of the container's ports;
/// `missing` words the error for a name the container lacks (kubelet words it differently
/// for probes and hooks).
pub(super) fn resolve_port(
    port: &IntOrString,
    container: &Container,
    missing: impl FnOnce(&str) -> String,
) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("invalid port {n}")),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .ok_or_else(|| missing(name)),
    }
}

/// Runs `command` in the container; exit 0 is success.
async fn exec_probe<T: Transport>(
    shared: &Arc<Shared<T>>,
    target: &Target,
    command: Vec<String>,
    timeout: Duration,
) -> Result<(), String> {
    let spec = ExecSpec {
        args: command.clone(),
        env: target.env.clone(),
        cwd: None,
        tty: false,
        stdin: false,
    };
    let mut process = shared
        .runtime
        .exec(&target.id, &spec)
        .await
        .map_err(|e| format!("exec {command:?}: {e}"))?;
    let read_all = async {
        let mut out = Vec::new();
        if let Some(stdout) = process.stdio.stdout.as_mut() {
            let _ = stdout.take(10 * 1024).read_to_end(&mut out).await;
        }
        if let Some(stderr) = process.stdio.stderr.as_mut() {
            let _ = stderr.take(10 * 1024).read_to_end(&mut out).await;
        }
        out
    };
    let output = match tokio::time::timeout(timeout, read_all).await {
        Ok(out) => out,
        Err(_) => {
            let _ = process.kill(9);
            Vec::new()
        }
    };
    let status = tokio::time::timeout(timeout, process.wait()).await;
    match status {
        Err(_) => {
            let _ = process.kill(9);
            Err(format!("command {command:?} timed out"))
        }
        Ok(Err(e)) => Err(format!("exec {command:?}: {e}")),
        Ok(Ok(status)) => match status.code() {
            Some(0) => Ok(()),
            code => {
                let text = String::from_utf8_lossy(&output).trim_end().to_string();
                if text.is_empty() {
                    Err(format!(
                        "command {command:?} exited with {}",
                        code.unwrap_or(-1)
                    ))
                } else {
                    Err(text)
                }
            }
        },
    }
}
