//! Container lifecycle hooks (`postStart`, `preStop`) as kubelet runs them: `exec` inside the
//! container (its environment, no time limit of its own), `httpGet` to the pod's IP (or
//! `host`) on a port given by number or by the name of one of the container's ports, with
//! its path and headers, and `sleep`. As under kubelet, an HTTP hook fails only when no
//! response comes (the status code is not looked at). Failures are worded as kubelet's
//! `FailedPostStartHook`/`FailedPreStopHook` event messages.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{HTTPGetAction, LifecycleHandler};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kmicro_container::ExecSpec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Shared;
use super::probes::Target;
use crate::agent::transport::Transport;

/// Runs `handler` for `target`'s container; `Err` is kubelet's event message for the failure
/// (`pod_label` is kubelet's `name_namespace(uid)`).
pub async fn run<T: Transport>(
    shared: &Arc<Shared<T>>,
    target: &Target,
    handler: &LifecycleHandler,
    pod_label: &str,
) -> Result<(), String> {
    let container = &target.container.name;
    if let Some(exec) = &handler.exec {
        let command = exec.command.clone().unwrap_or_default();
        return run_exec(shared, target, &command).await.map_err(|(err, output)| {
            format!(
                "Exec lifecycle hook ([{}]) for Container {container:?} in Pod {pod_label:?} failed - error: {err}, message: {output:?}",
                command.join(" ")
            )
        });
    }
    if let Some(http) = &handler.http_get {
        return run_http(target, http).await.map_err(|err| {
            format!(
                "HTTP lifecycle hook ({}) for Container {container:?} in Pod {pod_label:?} failed - error: {err}",
                http.path.as_deref().unwrap_or("")
            )
        });
    }
    if let Some(sleep) = &handler.sleep {
        if sleep.seconds < 0 {
            return Err(format!(
                "Sleep lifecycle hook ({}) for Container {container:?} in Pod {pod_label:?} failed - error: invalid sleep duration",
                sleep.seconds
            ));
        }
        tokio::time::sleep(Duration::from_secs(sleep.seconds as u64)).await;
        return Ok(());
    }
    Err(format!(
        "Cannot run handler: invalid handler: {}",
        serde_json::to_string(handler).unwrap_or_default()
    ))
}

/// Runs `command` in the container: `Err((error, output))` unless it exits 0.
async fn run_exec<T: Transport>(
    shared: &Arc<Shared<T>>,
    target: &Target,
    command: &[String],
) -> Result<(), (String, String)> {
    let spec = ExecSpec {
        args: command.to_vec(),
        env: target.env.clone(),
        cwd: None,
        tty: false,
        stdin: false,
    };
    let mut process = shared
        .runtime
        .exec(&target.id, &spec)
        .await
        .map_err(|e| (e.to_string(), String::new()))?;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let out = async {
        if let Some(s) = process.stdio.stdout.as_mut() {
            let _ = s.take(16 * 1024).read_to_end(&mut stdout).await;
        }
    };
    let err = async {
        if let Some(s) = process.stdio.stderr.as_mut() {
            let _ = s.take(16 * 1024).read_to_end(&mut stderr).await;
        }
    };
    tokio::join!(out, err);
    let status = process
        .wait()
        .await
        .map_err(|e| (e.to_string(), String::new()))?;
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    match status.code() {
        Some(0) => Ok(()),
        code => {
            let mut output = String::from_utf8_lossy(&stdout).into_owned();
            output.push_str(&stderr);
            Err((
                format!(
                    "command '{}' exited with {}: {stderr}",
                    command.join(" "),
                    code.unwrap_or(-1)
                ),
                output,
            ))
        }
    }
}

/// The hook's port: a number, or the name of one of the container's ports.
fn port(target: &Target, port: &IntOrString) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("invalid port {n}")),
        IntOrString::String(name) => target
            .container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .ok_or_else(|| {
                format!(
                    "couldn't find port: {name:?} in {:?}",
                    target.container.name
                )
            }),
    }
}

/// The request line and headers of an HTTP hook.
fn request(http: &HTTPGetAction, authority: &str) -> String {
    let path = http.path.clone().unwrap_or_default();
    let path = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    let mut text = format!("GET {path} HTTP/1.1\r\n");
    let given = |name: &str| {
        http.http_headers
            .iter()
            .flatten()
            .any(|h| h.name.eq_ignore_ascii_case(name))
    };
    if !given("host") {
        text.push_str(&format!("Host: {authority}\r\n"));
    }
    if !given("user-agent") {
        text.push_str("User-Agent: kube-lifecycle/1.35\r\n");
    }
    if !given("accept") {
        text.push_str("Accept: */*\r\n");
    }
    for header in http.http_headers.iter().flatten() {
        text.push_str(&format!("{}: {}\r\n", header.name, header.value));
    }
    text.push_str("Connection: close\r\n\r\n");
    text
}

/// Sends the hook's GET and reads the response's status line.
async fn run_http(target: &Target, http: &HTTPGetAction) -> Result<(), String> {
    if http.scheme.as_deref() == Some("HTTPS") {
        return Err("HTTPS lifecycle hooks are not supported by kmicro's node agent yet".into());
    }
    let port = port(target, &http.port)?;
    let host = match http.host.as_deref().filter(|h| !h.is_empty()) {
        Some(h) => h.to_string(),
        None => target
            .pod_ip
            .map(|ip| ip.to_string())
            .ok_or_else(|| "the pod has no IP address yet".to_string())?,
    };
    let url = format!(
        "http://{}/{}",
        authority(&host, port),
        http.path.as_deref().unwrap_or("").trim_start_matches('/')
    );
    let addr = match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("Get {url:?}: dial tcp: lookup {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("Get {url:?}: dial tcp: lookup {host}: no such host"))?,
    };
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("Get {url:?}: dial tcp {addr}: connect: {e}"))?;
    stream
        .write_all(request(http, &authority(&host, port)).as_bytes())
        .await
        .map_err(|e| format!("Get {url:?}: {e}"))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("Get {url:?}: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    if !head.starts_with(b"HTTP/") {
        return Err(format!("Get {url:?}: malformed HTTP response"));
    }
    // The body is read to its end, as kubelet discards it.
    let _ = tokio::io::copy(&mut stream.take(1024 * 1024), &mut tokio::io::sink()).await;
    Ok(())
}

fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::HTTPHeader;

    #[test]
    fn requests_carry_the_path_and_headers() {
        let http = HTTPGetAction {
            path: Some("cgi-bin/hook".into()),
            port: IntOrString::Int(80),
            http_headers: Some(vec![HTTPHeader {
                name: "X-Hook".into(),
                value: "pre-stop".into(),
            }]),
            ..Default::default()
        };
        let text = request(&http, "10.0.0.2:80");
        assert!(text.starts_with("GET /cgi-bin/hook HTTP/1.1\r\nHost: 10.0.0.2:80\r\n"));
        assert!(text.contains("X-Hook: pre-stop\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        let with_host = HTTPGetAction {
            http_headers: Some(vec![HTTPHeader {
                name: "host".into(),
                value: "web".into(),
            }]),
            ..http
        };
        let text = request(&with_host, "10.0.0.2:80");
        assert!(!text.contains("Host: 10.0.0.2"), "{text}");
        assert!(text.contains("host: web\r\n"));
        assert_eq!(authority("fd00::1", 80), "[fd00::1]:80");
    }
}
