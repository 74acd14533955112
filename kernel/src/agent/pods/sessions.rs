//! `kubectl exec` and `kubectl attach`: the API server's [`PodExecHost`] hook over the running
//! containers the workers record here.
//!
//! Exec runs a process through `kmicro-container` in the container's namespaces and cgroup,
//! as its user, with its environment (as the worker built it; an instance adopted after a
//! restart gets the default `PATH` only) and working directory, on pipes or a terminal.
//! Attach reads the container's output as its log writer records it (followed from the
//! current end, so nothing is read twice and the log stays whole), writes to the container's
//! stdin — the FIFO writer (or terminal) the agent keeps open for the container's whole life —
//! and resizes its terminal. With `stdinOnce` the first attach that closes its stdin closes
//! the container's.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use http::StatusCode;
use kmicro_apiserver::pod_exec_host::{Outcome, OutputStream, TerminalSize};
use kmicro_apiserver::{PodExecError, PodExecHost, PodExecRequest, PodSession};
use kmicro_container::{ExecProcess, ExecSpec, Exit, ExitStatus, Pty};
use kmicro_cri_logs::{LogFollow, ReadOptions, Stream, read_logs};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Chunks of the client's stdin waiting for the program.
const STDIN_QUEUE: usize = 16;
/// How much of a program's output is read at once.
const READ_CHUNK: usize = 32 * 1024;

/// What runs processes in containers: the pod manager's runtime, type-erased.
pub trait Runner: Send + Sync {
    /// Starts `spec` in container `id`.
    fn exec(
        self: Arc<Self>,
        id: String,
        spec: ExecSpec,
    ) -> BoxFuture<'static, kmicro_container::Result<ExecProcess>>;

    /// Waits for container `id` to end.
    fn wait(self: Arc<Self>, id: String) -> BoxFuture<'static, kmicro_container::Result<Exit>>;
}

/// What a worker records of a running container instance.
pub struct RunningContainer {
    /// The runtime's id of the instance.
    pub id: String,
    /// Its environment (exec sessions get it).
    pub env: Vec<String>,
    /// The writer of its stdin FIFO (`stdin: true` without a tty).
    pub stdin: Option<tokio::net::unix::pipe::Sender>,
    /// `stdinOnce`.
    pub stdin_once: bool,
    /// Two more handles on its terminal (`tty: true`): input, and resizes.
    pub tty: Option<(Pty, Pty)>,
    /// Its current log file.
    pub log: PathBuf,
    /// Its log writer's progress, while it writes.
    pub follow: Option<LogFollow>,
}

/// A container's input, shared by the attach sessions; `None` once closed (`stdinOnce`).
type SharedInput = Arc<tokio::sync::Mutex<Option<Input>>>;

/// Where input for a container goes.
enum Input {
    Fifo(tokio::net::unix::pipe::Sender),
    Tty(Pty),
}

impl Input {
    async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Input::Fifo(w) => w.write_all(data).await,
            Input::Tty(w) => w.write_all(data).await,
        }
    }
}

/// One running container as sessions see it.
#[derive(Clone)]
struct Entry {
    id: String,
    env: Vec<String>,
    input: Option<SharedInput>,
    stdin_once: bool,
    resize: Option<Arc<Pty>>,
    log: PathBuf,
    follow: Option<LogFollow>,
}

#[derive(Default)]
struct Inner {
    runner: RwLock<Option<Weak<dyn Runner>>>,
    /// By pod uid, then container name.
    pods: Mutex<HashMap<String, HashMap<String, Entry>>>,
}

/// The running containers of every pod, for exec and attach: written by the workers, read
/// by the API server through [`PodExecHost`].
#[derive(Clone, Default)]
pub struct SessionRegistry(Arc<Inner>);

impl std::fmt::Debug for SessionRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionRegistry")
    }
}

impl SessionRegistry {
    /// Sets what runs exec processes (the pod manager, once its runtime is open).
    pub fn set_runner(&self, runner: Weak<dyn Runner>) {
        *self
            .0
            .runner
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(runner);
    }

    fn runner(&self) -> Option<Arc<dyn Runner>> {
        self.0
            .runner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(Weak::upgrade)
    }

    /// Container `name` of pod `uid` runs as `running`.
    pub fn running(&self, uid: &str, name: &str, running: RunningContainer) {
        let (input, resize) = match (running.stdin, running.tty) {
            (_, Some((input, resize))) => (Some(Input::Tty(input)), Some(Arc::new(resize))),
            (Some(fifo), None) => (Some(Input::Fifo(fifo)), None),
            (None, None) => (None, None),
        };
        let entry = Entry {
            id: running.id,
            env: running.env,
            input: input.map(|i| Arc::new(tokio::sync::Mutex::new(Some(i)))),
            stdin_once: running.stdin_once,
            resize,
            log: running.log,
            follow: running.follow,
        };
        self.pods()
            .entry(uid.to_string())
            .or_default()
            .insert(name.to_string(), entry);
    }

    /// Instance `id` of container `name` of pod `uid` ended.
    pub fn stopped(&self, uid: &str, name: &str, id: &str) {
        let mut pods = self.pods();
        if let Some(containers) = pods.get_mut(uid)
            && containers.get(name).is_some_and(|e| e.id == id)
        {
            containers.remove(name);
        }
    }

    /// Forgets pod `uid`.
    pub fn remove(&self, uid: &str) {
        self.pods().remove(uid);
    }

    fn pods(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<String, Entry>>> {
        self.0.pods.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The running instance of the request's container, or kubelet's 404.
    fn entry(&self, request: &PodExecRequest) -> Result<Entry, PodExecError> {
        self.pods()
            .get(request.pod_uid())
            .and_then(|c| c.get(&request.container))
            .cloned()
            .ok_or_else(|| not_found(&request.container))
    }
}

/// kubelet's answer for a container that does not run.
fn not_found(container: &str) -> PodExecError {
    PodExecError {
        code: StatusCode::NOT_FOUND,
        message: format!("container not found ({container:?})"),
    }
}

impl PodExecHost for SessionRegistry {
    fn exec(
        &self,
        request: PodExecRequest,
    ) -> BoxFuture<'static, Result<PodSession, PodExecError>> {
        let found = self.entry(&request);
        let runner = self.runner();
        async move {
            let entry = found?;
            let runner = runner.ok_or_else(|| PodExecError {
                code: StatusCode::SERVICE_UNAVAILABLE,
                message: "the node's container runtime is not ready".into(),
            })?;
            let spec = ExecSpec {
                args: request.command.clone(),
                env: entry.env.clone(),
                cwd: None,
                tty: request.tty,
                stdin: request.stdin,
            };
            let mut process = runner.exec(entry.id.clone(), spec).await.map_err(|err| {
                match err {
                    kmicro_container::Error::NotRunning(_) | kmicro_container::Error::NotFound(_) => {
                        not_found(&request.container)
                    }
                    err => PodExecError {
                        code: StatusCode::INTERNAL_SERVER_ERROR,
                        message: format!("error executing command in container: {err}"),
                    },
                }
            })?;
            tracing::debug!(pod = request.pod_name(), container = %request.container, command = ?request.command, pid = process.pid, "exec started");
            let stdio = std::mem::take(&mut process.stdio);
            let mut session = PodSession {
                stdin: None,
                stdout: None,
                stderr: None,
                resize: None,
                end: Box::pin(exec_end(ExecGuard(Some(process)))),
            };
            if let Some(tty) = stdio.tty {
                let clone = || {
                    tty.try_clone().map_err(|e| PodExecError {
                        code: StatusCode::INTERNAL_SERVER_ERROR,
                        message: format!("error executing command in container: {e}"),
                    })
                };
                let input = clone()?;
                let resize = clone()?;
                if request.stdin {
                    session.stdin = Some(copy_into(input));
                }
                session.resize = Some(resizer(Arc::new(resize)));
                session.stdout = Some(read_stream(tty));
                return Ok(session);
            }
            session.stdin = stdio.stdin.map(copy_into);
            session.stdout = stdio.stdout.map(read_stream);
            session.stderr = stdio.stderr.map(read_stream);
            Ok(session)
        }
        .boxed()
    }

    fn attach(
        &self,
        request: PodExecRequest,
    ) -> BoxFuture<'static, Result<PodSession, PodExecError>> {
        let found = self.entry(&request);
        let runner = self.runner();
        async move {
            let entry = found?;
            let runner = runner.ok_or_else(|| PodExecError {
                code: StatusCode::SERVICE_UNAVAILABLE,
                message: "the node's container runtime is not ready".into(),
            })?;
            let follow = |stream: Stream| -> OutputStream {
                let options = ReadOptions {
                    follow: true,
                    tail_lines: Some(0),
                    stream: Some(stream),
                    ..ReadOptions::default()
                };
                Box::pin(read_logs(entry.log.clone(), options, entry.follow.clone()))
            };
            let stdin = match (&entry.input, request.stdin) {
                (Some(input), true) => Some(attach_input(Arc::clone(input), entry.stdin_once)),
                _ => None,
            };
            let id = entry.id.clone();
            Ok(PodSession {
                stdin,
                stdout: request.stdout.then(|| follow(Stream::Stdout)),
                stderr: (request.stderr && !request.tty).then(|| follow(Stream::Stderr)),
                resize: entry.resize.clone().filter(|_| request.tty).map(resizer),
                end: Box::pin(async move {
                    // kubelet reports success when an attached container ends.
                    match runner.wait(id).await {
                        Ok(_) => Outcome::Exited(0),
                        Err(err) => Outcome::Failed(format!("waiting for the container: {err}")),
                    }
                }),
            })
        }
        .boxed()
    }
}

/// An exec process that is killed (and reaped) if its session ends before it does.
struct ExecGuard(Option<ExecProcess>);

impl Drop for ExecGuard {
    fn drop(&mut self) {
        if let Some(process) = self.0.take() {
            let _ = process.kill(libc::SIGKILL);
            tokio::spawn(async move {
                let _ = process.wait().await;
            });
        }
    }
}

/// The outcome of an exec process: its exit code (a signal as 128 + its number, as
/// containerd reports it).
async fn exec_end(mut guard: ExecGuard) -> Outcome {
    let Some(process) = guard.0.as_ref() else {
        return Outcome::Failed("the exec process is gone".into());
    };
    let status = process.wait().await;
    guard.0 = None;
    match status {
        Ok(ExitStatus::Exited(code)) => Outcome::Exited(code),
        Ok(ExitStatus::Signaled(signal)) => Outcome::Exited(128 + signal),
        Ok(ExitStatus::Unknown) => Outcome::Failed("the exec process's end is unknown".into()),
        Err(err) => Outcome::Failed(format!("waiting for the exec process: {err}")),
    }
}

/// A sender whose chunks are written to `writer`; the writer is dropped (the program's stdin
/// ends) when the sender is.
fn copy_into(mut writer: impl AsyncWrite + Unpin + Send + 'static) -> mpsc::Sender<Bytes> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(STDIN_QUEUE);
    tokio::spawn(async move {
        while let Some(chunk) = rx.recv().await {
            if let Err(err) = writer.write_all(&chunk).await {
                tracing::debug!(%err, "writing an exec session's stdin failed");
                return;
            }
        }
    });
    tx
}

/// A sender whose chunks go to a container's shared input; when it is dropped a `stdinOnce`
/// container's stdin is closed for good.
fn attach_input(input: SharedInput, stdin_once: bool) -> mpsc::Sender<Bytes> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(STDIN_QUEUE);
    tokio::spawn(async move {
        while let Some(chunk) = rx.recv().await {
            let mut guard = input.lock().await;
            let Some(writer) = guard.as_mut() else {
                return;
            };
            if let Err(err) = writer.write_all(&chunk).await {
                tracing::debug!(%err, "writing to an attached container's stdin failed");
                return;
            }
        }
        if stdin_once {
            input.lock().await.take();
        }
    });
    tx
}

/// Resizes of a terminal; a failure is logged.
fn resizer(pty: Arc<Pty>) -> Box<dyn Fn(TerminalSize) + Send + Sync> {
    Box::new(move |size: TerminalSize| {
        if let Err(err) = pty.resize(size.width, size.height) {
            tracing::debug!(%err, "resizing a terminal failed");
        }
    })
}

/// The chunks read from `reader` until its end.
fn read_stream(reader: impl AsyncRead + Unpin + Send + 'static) -> OutputStream {
    use tokio::io::AsyncReadExt;
    Box::pin(futures::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let mut buf = vec![0u8; READ_CHUNK];
        match reader.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(reader)))
            }
            Err(err) => Some((Err(err), None)),
        }
    }))
}
