//! Running CNI plugin binaries: found once in the plugin directories, each call a process
//! with the `CNI_*` environment and its configuration on stdin, its result (or CNI's JSON
//! error) read from stdout, killed when it outlives the timeout.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::{Error, Result};

/// The directories searched when the environment has no `PATH` (plugins run `iptables`).
const FALLBACK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A CNI operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CniCommand {
    Add,
    Del,
    Check,
}

impl CniCommand {
    pub fn as_str(self) -> &'static str {
        match self {
            CniCommand::Add => "ADD",
            CniCommand::Del => "DEL",
            CniCommand::Check => "CHECK",
        }
    }
}

/// The per-call environment.
#[derive(Debug, Clone)]
pub(crate) struct Invocation<'a> {
    pub command: CniCommand,
    /// `CNI_CONTAINERID`.
    pub container_id: &'a str,
    /// `CNI_NETNS` (empty when the namespace is gone, as the spec allows for DEL).
    pub netns: Option<&'a Path>,
    /// `CNI_IFNAME`.
    pub ifname: &'a str,
    /// `CNI_ARGS`.
    pub args: &'a str,
}

/// The plugin binaries, located.
#[derive(Debug, Clone)]
pub(crate) struct Plugins {
    found: BTreeMap<String, PathBuf>,
    cni_path: OsString,
    timeout: Duration,
}

impl Plugins {
    /// Finds each plugin type in the first directory that holds it as an executable file.
    pub fn locate<'t>(
        dirs: &[PathBuf],
        types: impl IntoIterator<Item = &'t str>,
        timeout: Duration,
    ) -> Result<Self> {
        let mut found = BTreeMap::new();
        for t in types {
            if found.contains_key(t) {
                continue;
            }
            let path = dirs
                .iter()
                .map(|d| d.join(t))
                .find(|p| is_executable(p))
                .ok_or_else(|| Error::PluginNotFound {
                    plugin: t.to_string(),
                    dirs: dirs.to_vec(),
                })?;
            found.insert(t.to_string(), path);
        }
        let cni_path = std::env::join_paths(dirs).map_err(|e| {
            Error::config(
                "plugin_dirs",
                format!("cannot be joined into CNI_PATH: {e}"),
            )
        })?;
        Ok(Plugins {
            found,
            cni_path,
            timeout,
        })
    }

    /// Runs plugin `plugin` for one call; `Ok(Some(result))` when it printed a result.
    pub fn exec(
        &self,
        plugin: &str,
        inv: &Invocation<'_>,
        stdin: Vec<u8>,
    ) -> Result<Option<Value>> {
        let path = self
            .found
            .get(plugin)
            .ok_or_else(|| Error::PluginNotFound {
                plugin: plugin.to_string(),
                dirs: Vec::new(),
            })?;
        let command = inv.command.as_str();
        let started = Instant::now();
        let mut cmd = Command::new(path);
        cmd.env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", inv.container_id)
            .env(
                "CNI_NETNS",
                inv.netns.map(Path::as_os_str).unwrap_or_default(),
            )
            .env("CNI_IFNAME", inv.ifname)
            .env("CNI_ARGS", inv.args)
            .env("CNI_PATH", &self.cni_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if std::env::var_os("PATH").is_none() {
            cmd.env("PATH", FALLBACK_PATH);
        }
        let output = run_with_timeout(cmd, stdin, self.timeout).map_err(|e| match e {
            RunError::Io(source) => Error::io("run CNI plugin", path, source),
            RunError::TimedOut => Error::PluginTimeout {
                plugin: plugin.to_string(),
                command,
                seconds: self.timeout.as_secs(),
            },
        })?;
        tracing::debug!(
            plugin,
            command,
            container_id = inv.container_id,
            ifname = inv.ifname,
            status = %output.status,
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "CNI plugin ran"
        );
        interpret(plugin, inv.command, &output)
    }
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A plugin's answer: its result on success, CNI's error (or stderr) on failure.
fn interpret(plugin: &str, command: CniCommand, output: &Output) -> Result<Option<Value>> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stdout = stdout.trim();
    if output.status.success() {
        if stdout.is_empty() {
            return Ok(None);
        }
        let value: Value = serde_json::from_str(stdout).map_err(|e| Error::BadResult {
            plugin: plugin.to_string(),
            command: command.as_str(),
            reason: format!("not JSON ({e}): {}", clip(stdout)),
        })?;
        return Ok(Some(value));
    }
    let parsed: Option<Value> = serde_json::from_str(stdout).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let code = parsed
        .as_ref()
        .and_then(|v| v.get("code"))
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let msg = field("msg").unwrap_or_else(|| {
        let what = if stderr.trim().is_empty() {
            stdout
        } else {
            stderr.trim()
        };
        format!("{} {}", output.status, clip(what))
            .trim()
            .to_string()
    });
    Err(Error::Plugin {
        plugin: plugin.to_string(),
        command: command.as_str(),
        code,
        msg,
        details: field("details").unwrap_or_default(),
    })
}

fn clip(s: &str) -> String {
    const MAX: usize = 2000;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

enum RunError {
    Io(std::io::Error),
    TimedOut,
}

/// Spawns `cmd`, feeds it `stdin` and collects its output on a helper thread; kills it
/// through a pidfd (no pid-reuse race) when `timeout` passes first. A plugin that leaves a
/// child holding its stdout open is reaped by the helper thread once that child ends.
fn run_with_timeout(
    mut cmd: Command,
    stdin: Vec<u8>,
    timeout: Duration,
) -> Result<Output, RunError> {
    let mut child = cmd.spawn().map_err(RunError::Io)?;
    let pidfd = rustix::process::Pid::from_child(&child);
    let pidfd = rustix::process::pidfd_open(pidfd, rustix::process::PidfdFlags::empty()).ok();
    let mut input = child.stdin.take();
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("cni-plugin".into())
        .spawn(move || {
            if let Some(mut pipe) = input.take() {
                // A plugin that exits without reading gives EPIPE; its output tells why.
                let _ = pipe.write_all(&stdin);
            }
            let _ = tx.send(child.wait_with_output());
        })
        .map_err(RunError::Io)?;
    match rx.recv_timeout(timeout) {
        Ok(out) => out.map_err(RunError::Io),
        Err(_) => {
            if let Some(fd) = &pidfd {
                let _ = rustix::process::pidfd_send_signal(fd, rustix::process::Signal::KILL);
            }
            Err(RunError::TimedOut)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    fn output(code: i32, stdout: &str, stderr: &str) -> Output {
        Output {
            status: ExitStatus::from_raw(code << 8),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn cni_json_error_is_named() {
        let out = output(
            1,
            r#"{"cniVersion":"1.0.0","code":11,"msg":"failed to allocate for range 0","details":"no IP addresses available in range set: 10.42.0.1-10.42.0.254"}"#,
            "",
        );
        let err = interpret("host-local", CniCommand::Add, &out).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CNI plugin host-local ADD failed (code 11): failed to allocate for range 0: \
             no IP addresses available in range set: 10.42.0.1-10.42.0.254"
        );
    }

    #[test]
    fn non_json_failure_uses_stderr() {
        let out = output(2, "", "panic: boom\n");
        let err = interpret("bridge", CniCommand::Del, &out).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CNI plugin bridge DEL failed: exit status: 2 panic: boom"
        );
    }

    #[test]
    fn success_parses_or_is_empty() {
        assert_eq!(
            interpret("bridge", CniCommand::Del, &output(0, "  \n", "")).unwrap(),
            None
        );
        let v = interpret("bridge", CniCommand::Add, &output(0, r#"{"ips":[]}"#, ""))
            .unwrap()
            .unwrap();
        assert_eq!(v["ips"], serde_json::json!([]));
        let err = interpret("bridge", CniCommand::Add, &output(0, "garbage", "")).unwrap_err();
        assert!(matches!(err, Error::BadResult { .. }), "{err}");
    }

    #[test]
    fn locate_names_missing_plugin_and_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let err = Plugins::locate(
            &[dir.path().to_path_buf()],
            ["nosuchplugin"],
            Duration::from_secs(1),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"nosuchplugin\""), "{text}");
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
    }

    /// A plugin that hangs is killed at the timeout; one that fails writes CNI's error.
    #[test]
    fn hung_plugin_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("hang");
        std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let plugins = Plugins::locate(
            &[dir.path().to_path_buf()],
            ["hang"],
            Duration::from_millis(300),
        )
        .unwrap();
        let inv = Invocation {
            command: CniCommand::Add,
            container_id: "c1",
            netns: None,
            ifname: "eth0",
            args: "",
        };
        let started = Instant::now();
        let err = plugins.exec("hang", &inv, b"{}".to_vec()).unwrap_err();
        assert!(matches!(err, Error::PluginTimeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
