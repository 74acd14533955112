//! `pods/portforward` as kubectl 1.32 speaks it: the connection is upgraded — to a
//! WebSocket with subprotocol `SPDY/3.1+portforward.k8s.io` (a `GET`), or, kubectl's
//! fallback, straight to SPDY (`POST` with `Upgrade: SPDY/3.1`) — and a SPDY/3.1 session
//! ([`session`]) runs over it, each forwarded connection reaching the pod through the node
//! agent's [`PodPortForwardHost`].

mod session;
mod transport;

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use hyper::upgrade::OnUpgrade;

use crate::error::ApiError;
use crate::port_forward_host::{PodPortForwardHost, PortForwardTarget};
use crate::response::{self, Body};

/// The WebSocket subprotocol of kubectl's SPDY tunnel.
pub const WEBSOCKET_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The stream protocol of a plain SPDY upgrade (`X-Stream-Protocol-Version`).
pub const SPDY_PROTOCOL: &str = "portforward.k8s.io";

/// How the client asked to upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upgrade {
    /// A WebSocket, answered with this `Sec-WebSocket-Accept`.
    WebSocket {
        /// The accept key.
        accept: String,
    },
    /// SPDY directly.
    Spdy {
        /// Whether the client named `portforward.k8s.io` (echoed back then).
        versioned: bool,
    },
}

/// The upgrade a request asks for, or kube's error for one it cannot have.
pub fn negotiate(headers: &HeaderMap) -> Result<Upgrade, ApiError> {
    let values = |name: header::HeaderName| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let connection_upgrade = values(header::CONNECTION)
        .iter()
        .any(|v| v.eq_ignore_ascii_case("upgrade"));
    let upgrade = values(header::UPGRADE);
    if !connection_upgrade || upgrade.is_empty() {
        return Err(ApiError::bad_request("Upgrade request required"));
    }
    if crate::websocket::is_websocket(headers) {
        let handshake = crate::websocket::handshake(headers, &[WEBSOCKET_PROTOCOL])?;
        return Ok(Upgrade::WebSocket {
            accept: handshake.accept,
        });
    }
    if upgrade.iter().any(|v| v.eq_ignore_ascii_case("SPDY/3.1")) {
        let offered = values(header::HeaderName::from_static("x-stream-protocol-version"));
        if !offered.is_empty() && !offered.iter().any(|p| p == SPDY_PROTOCOL) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!(
                    "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports [\"{SPDY_PROTOCOL}\"]"
                ),
            ));
        }
        return Ok(Upgrade::Spdy {
            versioned: !offered.is_empty(),
        });
    }
    Err(ApiError::bad_request(format!(
        "unsupported upgrade {upgrade:?} (WebSocket or SPDY/3.1)"
    )))
}

/// The `101 Switching Protocols` answer; once hyper has sent it the session runs on the
/// upgraded connection until the client goes or `stopping` turns true.
pub fn start(
    upgrade: Upgrade,
    on_upgrade: OnUpgrade,
    target: PortForwardTarget,
    host: Arc<dyn PodPortForwardHost>,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> Response<Body> {
    let mut resp = Response::new(response::full(bytes::Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    match &upgrade {
        Upgrade::WebSocket { accept } => {
            h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            if let Ok(accept) = HeaderValue::from_str(accept) {
                h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
            }
            h.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(WEBSOCKET_PROTOCOL),
            );
        }
        Upgrade::Spdy { versioned } => {
            h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
            if *versioned {
                h.insert(
                    "x-stream-protocol-version",
                    HeaderValue::from_static(SPDY_PROTOCOL),
                );
            }
        }
    }
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(err) => {
                tracing::debug!(%err, "port-forward: the connection was not upgraded");
                return;
            }
        };
        let (incoming, outgoing) = match upgrade {
            Upgrade::WebSocket { .. } => transport::websocket(upgraded).await,
            Upgrade::Spdy { .. } => transport::raw(upgraded),
        };
        tracing::debug!(namespace = %target.namespace, pod = %target.name, "port-forward session started");
        session::run(incoming, outgoing, target, host, stopping).await;
        tracing::debug!("port-forward session ended");
    });
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn upgrades_are_negotiated_as_kube_does() {
        let ws = headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-protocol", "SPDY/3.1+portforward.k8s.io"),
        ]);
        assert_eq!(
            negotiate(&ws).unwrap(),
            Upgrade::WebSocket {
                accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into()
            }
        );
        let other = headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "x"),
            ("sec-websocket-protocol", "v4.channel.k8s.io"),
        ]);
        assert_eq!(negotiate(&other).unwrap_err().code, StatusCode::BAD_REQUEST);
        let spdy = headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "SPDY/3.1"),
            ("x-stream-protocol-version", "portforward.k8s.io"),
        ]);
        assert_eq!(negotiate(&spdy).unwrap(), Upgrade::Spdy { versioned: true });
        let wrong = headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "SPDY/3.1"),
            ("x-stream-protocol-version", "v5.channel.k8s.io"),
        ]);
        assert_eq!(negotiate(&wrong).unwrap_err().code, StatusCode::FORBIDDEN);
        assert_eq!(
            negotiate(&HeaderMap::new()).unwrap_err().message,
            "Upgrade request required"
        );
    }
}
