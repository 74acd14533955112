//! The control plane's modules in the kernel: the sandbox, its view of the API, and the
//! supervisor that keeps it in line with the Module objects.

pub(crate) mod compile;
mod host_api;
pub(crate) mod local;
mod rbac;
mod supervisor;
mod unpack;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use kmicro_apiserver::Api;
use kmicro_apiserver::auth::User;
use kmicro_apiserver::module_host::{ModuleHost, ModuleLog};
use kmicro_sandbox::{Sandbox, SandboxSettings};

use local::LocalClient;
use supervisor::Supervisor;

/// The user the kernel's own in-process calls are made as.
pub fn kernel_user() -> User {
    User::new(
        "system:kmicro".to_string(),
        vec!["system:masters".to_string()],
    )
}

/// Starts the sandbox and the supervisor: registers the built-in Modules (but those named in
/// `disabled`, which are not run even when their Module exists), loads every Module (the
/// built-ins from artifacts unpacked into `<data-dir>/server/modules`), and
/// answers the API's questions about module logs and built-in sources.
pub async fn start(
    api: Arc<Api>,
    data_dir: &Path,
    disabled: &[&str],
) -> anyhow::Result<Arc<Supervisor>> {
    let admin = LocalClient::new(Arc::clone(&api), kernel_user());
    let sandbox = Sandbox::new(
        Arc::new(host_api::ModuleApi::new(admin.clone())),
        SandboxSettings::default(),
    )
    .context("starting the module sandbox")?;
    let disabled = disabled.iter().map(|name| name.to_string()).collect();
    let artifact_dir = data_dir.join("server").join("modules");
    let compiled = compile::CompiledArtifacts::new(artifact_dir.join("uploaded"))
        .with_context(|| format!("preparing {}", artifact_dir.join("uploaded").display()))?;
    let supervisor = Supervisor::new(
        Arc::new(sandbox),
        admin,
        kmicro_builtin_modules::all(),
        artifact_dir,
        compiled,
        disabled,
    );
    api.set_module_host(Arc::new(Hook(Arc::clone(&supervisor))));
    supervisor
        .ensure_builtins()
        .await
        .map_err(|e| anyhow::anyhow!("registering the built-in modules: {e}"))?;
    supervisor.spawn();
    Ok(supervisor)
}

/// The API's hook into the modules: logs and built-in sources.
struct Hook(Arc<Supervisor>);

impl ModuleHost for Hook {
    fn builtin_source(&self, name: &str) -> Option<Bytes> {
        kmicro_builtin_modules::all()
            .iter()
            .find(|b| b.name == name)
            .and_then(|b| match b.wasm() {
                Ok(wasm) => Some(Bytes::from(wasm)),
                Err(e) => {
                    tracing::error!(module = name, error = %e, "the embedded component does not decompress");
                    None
                }
            })
    }

    fn logs(&self, name: &str, tail: Option<usize>, follow: bool) -> Option<ModuleLog> {
        let (lines, receiver) = self.0.sandbox().logs(name).ok()?;
        let skip = tail.map_or(0, |t| lines.len().saturating_sub(t));
        let lines = lines.iter().skip(skip).map(format_line).collect();
        let follow = follow.then(|| forward(receiver));
        Some(ModuleLog { lines, follow })
    }
}

/// Re-sends the sandbox's log lines as text lines.
fn forward(
    mut lines: tokio::sync::broadcast::Receiver<kmicro_sandbox::LogLine>,
) -> tokio::sync::broadcast::Receiver<String> {
    let (tx, rx) = tokio::sync::broadcast::channel(256);
    tokio::spawn(async move {
        loop {
            match lines.recv().await {
                Ok(line) => {
                    if tx.send(format_line(&line)).is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    rx
}

/// One log line as `kmicro module logs` prints it: time (RFC 3339, UTC), level, source when
/// not the module's own `log` import, message.
fn format_line(line: &kmicro_sandbox::LogLine) -> String {
    let time = jiff::Timestamp::try_from(line.time)
        .map(|t| t.round(jiff::Unit::Millisecond).unwrap_or(t).to_string())
        .unwrap_or_default();
    let level = format!("{:?}", line.level).to_uppercase();
    let source = match line.source {
        kmicro_sandbox::LogSource::Module => "",
        kmicro_sandbox::LogSource::Stdout => "[stdout] ",
        kmicro_sandbox::LogSource::Stderr => "[stderr] ",
        kmicro_sandbox::LogSource::Host => "[kmicro] ",
    };
    format!("{time} {level:<5} {source}{}", line.message)
}
