//! Container lifecycle hooks (`postStart`, `preStop`) as kubelet runs them: `exec` inside the
//! container (its environment, no time limit of its own), `httpGet` to the pod's IP (or
//! `host`) on a port given by number or by the name of one of the container's ports, with
//! its path and headers, over HTTP or HTTPS (the server's certificate not verified, as
//! kubelet's hook client), and `sleep`. As under kubelet, an HTTP hook fails only when no
//! response comes (the status code is not looked at). Failures are worded as kubelet's
//! `FailedPostStartHook`/`FailedPreStopHook` event messages.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{HTTPGetAction, LifecycleHandler};
use kmicro_container::ExecSpec;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

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
    let https = match http.scheme.as_deref() {
        None | Some("") | Some("HTTP") => false,
        Some("HTTPS") => true,
        Some(other) => return Err(format!("unsupported scheme {other:?}")),
    };
    let port = super::probes::resolve_port(&http.port, &target.container, |name| {
        format!(
            "couldn't find port: {name:?} in {:?}",
            target.container.name
        )
    })?;
    let host = match http.host.as_deref().filter(|h| !h.is_empty()) {
        Some(h) => h.to_string(),
        None => target
            .pod_ip
            .map(|ip| ip.to_string())
            .ok_or_else(|| "the pod has no IP address yet".to_string())?,
    };
    let url = format!(
        "{}://{}/{}",
        if https { "https" } else { "http" },
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
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("Get {url:?}: dial tcp {addr}: connect: {e}"))?;
    let request = request(http, &authority(&host, port));
    if !https {
        return exchange(stream, &request, &url).await;
    }
    let name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|e| format!("Get {url:?}: {e}"))?;
    let tls = tls_connector()
        .map_err(|e| format!("Get {url:?}: {e}"))?
        .connect(name, stream)
        .await
        .map_err(|e| format!("Get {url:?}: {e}"))?;
    exchange(tls, &request, &url).await
}

/// Writes `request` and reads the response's head (then drains the body, as kubelet
/// discards it); only a response that is no HTTP is an error.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &str,
    url: &str,
) -> Result<(), String> {
    stream
        .write_all(request.as_bytes())
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
    let _ = tokio::io::copy(&mut stream.take(1024 * 1024), &mut tokio::io::sink()).await;
    Ok(())
}

/// A TLS client that accepts any server certificate (kubelet's hook client sets
/// `InsecureSkipVerify`); the handshake's signatures are still checked.
fn tls_connector() -> Result<tokio_rustls::TlsConnector, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Accepts every server certificate.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
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
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

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

    fn target(ip: IpAddr) -> Target {
        Target {
            pod: Arc::new(Default::default()),
            container: k8s_openapi::api::core::v1::Container {
                name: "c".into(),
                ports: Some(vec![k8s_openapi::api::core::v1::ContainerPort {
                    name: Some("tls".into()),
                    container_port: 0,
                    ..Default::default()
                }]),
                ..Default::default()
            },
            id: "id".into(),
            env: Vec::new(),
            pod_ip: Some(ip),
            netns: None,
        }
    }

    #[tokio::test]
    async fn https_hooks_speak_tls_without_verifying_the_server() {
        let tmp = tempfile::tempdir().unwrap();
        let pki = kmicro_pki::Pki::load_or_create(&kmicro_pki::PkiConfig {
            dir: tmp.path().to_path_buf(),
            sans: Vec::new(),
        })
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config().unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            while !got.ends_with(b"\r\n\r\n") {
                let n = tls.read(&mut buf).await.unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            tls.write_all(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
            tls.shutdown().await.unwrap();
            String::from_utf8(got).unwrap()
        });
        let http = HTTPGetAction {
            path: Some("/bye".into()),
            port: IntOrString::Int(port.into()),
            scheme: Some("HTTPS".into()),
            ..Default::default()
        };
        // Any status is a success (kubelet does not look at it).
        run_http(&target("127.0.0.1".parse().unwrap()), &http)
            .await
            .unwrap();
        assert!(server.await.unwrap().starts_with("GET /bye HTTP/1.1\r\n"));

        // Plain HTTP to nothing: the connect error, as kubelet's client words it.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let http = HTTPGetAction {
            path: Some("/x".into()),
            port: IntOrString::Int(port.into()),
            ..Default::default()
        };
        let err = run_http(&target("127.0.0.1".parse().unwrap()), &http)
            .await
            .unwrap_err();
        assert!(
            err.starts_with(&format!(
                "Get \"http://127.0.0.1:{port}/x\": dial tcp 127.0.0.1:{port}: connect: "
            )),
            "{err}"
        );
        // A named port the container lacks.
        let http = HTTPGetAction {
            port: IntOrString::String("web".into()),
            ..Default::default()
        };
        assert_eq!(
            run_http(&target("127.0.0.1".parse().unwrap()), &http)
                .await
                .unwrap_err(),
            "couldn't find port: \"web\" in \"c\""
        );
    }
}
