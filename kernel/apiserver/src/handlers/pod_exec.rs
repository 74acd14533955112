//! `pods/exec` and `pods/attach`: the request checked with kube-apiserver's rules and
//! messages, the session started by the node agent ([`PodExecHost`]), the connection
//! upgraded to a WebSocket and the streams carried over it in the channel protocol of
//! [`remotecommand`](crate::remotecommand) until the program ends (its exit code on the
//! status channel), the client goes or the server stops.

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{Response, StatusCode, header};
use kmicro_apimachinery::rbac::Action;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::Ctx;
use super::pod_log::choose_container;
use super::write::get_current;
use crate::authz::request::resource_action;
use crate::error::{ApiError, ApiResult};
use crate::pod_exec_host::{OutputStream, PodExecError, PodExecRequest, PodSession};
use crate::remotecommand::{self, ClientFrame, Outcome, channel};
use crate::response::Body;
use crate::route::Verb;
use crate::websocket::{self, Socket};

/// How long output may keep coming after the program ended (a background process holding
/// the pipes open does not hold the session forever).
const DRAIN: Duration = Duration::from_secs(2);

/// Which subresource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `pods/exec`.
    Exec,
    /// `pods/attach`.
    Attach,
}

/// The stream options of the query (`PodExecOptions`, `PodAttachOptions`).
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    command: Vec<String>,
    container: Option<String>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

impl Options {
    /// Parses the query: `command` repeated, booleans as kube's query conversion reads them.
    fn parse(query: &str) -> ApiResult<Options> {
        let mut o = Options::default();
        for (key, value) in crate::query::pairs(query) {
            let flag = || -> ApiResult<bool> {
                match value.as_str() {
                    "true" | "1" | "True" | "TRUE" | "t" | "T" => Ok(true),
                    "false" | "0" | "False" | "FALSE" | "f" | "F" | "" => Ok(false),
                    other => Err(ApiError::bad_request(format!(
                        "invalid value for {key}: {other:?}"
                    ))),
                }
            };
            match key.as_str() {
                "command" => o.command.push(value.clone()),
                "container" => o.container = Some(value.clone()).filter(|c| !c.is_empty()),
                "stdin" => o.stdin = flag()?,
                "stdout" => o.stdout = flag()?,
                "stderr" => o.stderr = flag()?,
                "tty" => o.tty = flag()?,
                _ => {}
            }
        }
        Ok(o)
    }
}

/// Answers `GET` (WebSocket) or `POST` (SPDY, refused) on `pods/<name>/exec|attach`.
pub(super) async fn connect(ctx: &Ctx<'_>, kind: Kind) -> ApiResult<Response<Body>> {
    // kube 1.35 (`AuthorizePodWebsocketUpgradeCreatePermission`, on by default): the
    // WebSocket's GET is authorized as `get`, and must be allowed `create` too, as a
    // POST would be.
    if ctx.rr.verb == Verb::Get {
        let Action::Resource(mut action) = resource_action(ctx.rr) else {
            unreachable!("a resource request has a resource action");
        };
        action.verb = "create".to_string();
        ctx.authorizer
            .authorize(ctx.user, &Action::Resource(action))?;
    }
    let mut options = Options::parse(&ctx.query.raw)?;
    let pod = get_current(ctx).await?.obj;
    let name = ctx.name();
    let container = choose_container(&pod, name, options.container.as_deref())?;
    if pod["spec"]["nodeName"].as_str().unwrap_or("").is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let phase = pod["status"]["phase"].as_str().unwrap_or("");
    if matches!(phase, "Succeeded" | "Failed") {
        let what = match kind {
            Kind::Exec => "exec into",
            Kind::Attach => "attach to",
        };
        return Err(ApiError::bad_request(format!(
            "cannot {what} a container in a completed pod; current phase is {phase}"
        )));
    }
    if kind == Kind::Exec && options.command.is_empty() {
        return Err(ApiError::bad_request(
            "you must specify at least one command for the container",
        ));
    }
    if options.tty {
        // A terminal merges stderr into stdout, as kubelet does.
        options.stderr = false;
    }
    if !options.stdin && !options.stdout && !options.stderr {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    if !websocket::is_websocket(ctx.headers) {
        let spdy = ctx
            .headers
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("spdy"));
        return Err(ApiError::bad_request(if spdy {
            "unable to upgrade: SPDY is not supported by this server; connect with a WebSocket (v5.channel.k8s.io)"
        } else {
            "Upgrade request required"
        }));
    }
    let handshake = websocket::handshake(ctx.headers, remotecommand::PROTOCOLS)?;
    let upgrade = ctx.upgrade.clone().ok_or_else(|| {
        ApiError::bad_request(
            "unable to upgrade: this connection cannot be upgraded (use HTTP/1.1)",
        )
    })?;
    let host = ctx.pod_exec_host.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the node agent is not running: exec and attach are not available",
        )
    })?;
    let request = PodExecRequest {
        pod,
        container,
        command: options.command,
        stdin: options.stdin,
        stdout: options.stdout,
        stderr: options.stderr,
        tty: options.tty,
    };
    let started = match kind {
        Kind::Exec => host.exec(request).await,
        Kind::Attach => host.attach(request).await,
    };
    let session = match started {
        Ok(session) => session,
        // As kubelet: a process that cannot be started is reported on the status channel
        // of the upgraded connection (kubectl prints it and exits 1).
        Err(e) if e.code == StatusCode::INTERNAL_SERVER_ERROR => PodSession {
            stdin: None,
            stdout: None,
            stderr: None,
            resize: None,
            end: Box::pin(std::future::ready(Outcome::Failed(e.message))),
        },
        Err(e) => return Err(host_error(e)),
    };
    let protocol = handshake.protocol;
    let stopping = ctx.stopping.clone();
    tokio::spawn(async move {
        match websocket::accept(upgrade).await {
            Ok(socket) => carry(socket, protocol, session, stopping).await,
            Err(err) => tracing::debug!(%err, "the WebSocket upgrade did not complete"),
        }
    });
    Ok(websocket::switching_protocols(&handshake))
}

/// The host's refusal as a `Status`.
fn host_error(e: PodExecError) -> ApiError {
    match e.code {
        StatusCode::NOT_FOUND => ApiError::new(e.code, "NotFound", e.message),
        StatusCode::BAD_REQUEST => ApiError::bad_request(e.message),
        StatusCode::SERVICE_UNAVAILABLE => ApiError::new(e.code, "ServiceUnavailable", e.message),
        _ => ApiError::internal(e.message),
    }
}

/// Carries a session over `socket` until the program ends (then the rest of its output, its
/// status and a close), the client goes away or the server stops.
async fn carry(
    socket: Socket,
    protocol: &'static str,
    session: PodSession,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let (mut sink, mut incoming) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(16);
    let writer = tokio::spawn(async move {
        while let Some(message) = out_rx.recv().await {
            if sink.send(message).await.is_err() {
                return;
            }
        }
        // A normal closure (1000): kubectl reads it as the end of every stream, while a
        // close without a code (1005) is an error to it.
        let normal = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        let _ = sink.send(Message::Close(Some(normal))).await;
        let _ = sink.close().await;
    });
    let mut outputs = Vec::new();
    for (ch, stream) in [
        (channel::STDOUT, session.stdout),
        (channel::STDERR, session.stderr),
    ] {
        if let Some(stream) = stream {
            outputs.push(tokio::spawn(forward(ch, stream, out_tx.clone())));
        }
    }
    let mut stdin = session.stdin;
    let resize = session.resize;
    let mut end = session.end;
    let outcome = loop {
        tokio::select! {
            outcome = &mut end => break Some(outcome),
            _ = stopped(&mut stopping) => {
                break Some(Outcome::Failed("the API server is stopping".into()));
            }
            message = incoming.next() => match message {
                Some(Ok(Message::Binary(data))) => match remotecommand::decode(protocol, &data) {
                    Ok(ClientFrame::Stdin(bytes)) => {
                        if let Some(tx) = &stdin
                            && !bytes.is_empty()
                            && tx.send(Bytes::copy_from_slice(bytes)).await.is_err()
                        {
                            stdin = None;
                        }
                    }
                    Ok(ClientFrame::Resize(size)) => {
                        if let Some(resize) = &resize {
                            resize(size);
                        }
                    }
                    Ok(ClientFrame::Close(channel::STDIN)) => stdin = None,
                    Ok(ClientFrame::Close(_)) => {}
                    Err(err) => tracing::debug!(%err, "a client message was ignored"),
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
                Some(Ok(_)) => {}
            },
        }
    };
    drop(stdin);
    match outcome {
        Some(outcome) => {
            let drained = async {
                for task in &mut outputs {
                    let _ = task.await;
                }
            };
            if tokio::time::timeout(DRAIN, drained).await.is_err() {
                tracing::debug!("output still open after the program ended; closing the session");
            }
            for task in &outputs {
                task.abort();
            }
            let _ = out_tx
                .send(Message::Binary(
                    remotecommand::status_message(&outcome).into(),
                ))
                .await;
        }
        None => {
            // The client went away: the session's process (exec) ends with the session.
            for task in &outputs {
                task.abort();
            }
        }
    }
    drop(end);
    drop(out_tx);
    let _ = writer.await;
}

/// Resolves once the server stops (never, should the sender go).
async fn stopped(stopping: &mut tokio::sync::watch::Receiver<bool>) {
    if stopping.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Sends the chunks of one output on `channel` until it ends or the socket goes.
async fn forward(ch: u8, mut stream: OutputStream, tx: mpsc::Sender<Message>) {
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) if bytes.is_empty() => {}
            Ok(bytes) => {
                let message = Message::Binary(remotecommand::encode(ch, &bytes).into());
                if tx.send(message).await.is_err() {
                    return;
                }
            }
            Err(err) => {
                tracing::debug!(%err, channel = ch, "reading a session's output failed");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_as_kubectl_sends_them() {
        let o = Options::parse(
            "command=sh&command=-c&command=echo+hi%3B+exit+3&container=main&stdin=true&stdout=true&tty=true",
        )
        .unwrap();
        assert_eq!(o.command, ["sh", "-c", "echo hi; exit 3"]);
        assert_eq!(o.container.as_deref(), Some("main"));
        assert!(o.stdin && o.stdout && o.tty && !o.stderr);
        assert!(Options::parse("stdin=maybe").is_err());
    }
}
