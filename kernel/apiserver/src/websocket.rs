//! WebSocket upgrades of HTTP/1.1 requests (RFC 6455): the handshake is checked and answered
//! here (`101 Switching Protocols` with the accept key and the chosen subprotocol); once hyper
//! hands over the connection, `tokio-tungstenite` does the framing.

use base64::Engine as _;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::error::{ApiError, ApiResult};
use crate::response::{self, Body};

/// The GUID RFC 6455 appends to the client's key.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The largest message accepted from a client (kubectl sends stdin in 32 KiB pieces).
const MAX_MESSAGE: usize = 1 << 20;

/// An upgraded connection speaking WebSocket.
pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// A checked handshake, ready to be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// `Sec-WebSocket-Accept`.
    pub accept: String,
    /// The subprotocol chosen.
    pub protocol: &'static str,
}

/// Whether the request asks for a WebSocket (`Upgrade: websocket`).
pub fn is_websocket(headers: &HeaderMap) -> bool {
    has_token(headers, header::UPGRADE, "websocket")
}

/// Checks a WebSocket upgrade request and chooses the first of `supported` (in the server's
/// order of preference) that the client offers in `Sec-WebSocket-Protocol`. A request that is
/// not a valid version-13 handshake, or offers none of `supported`, is a 400.
pub fn handshake(headers: &HeaderMap, supported: &[&'static str]) -> ApiResult<Handshake> {
    if !is_websocket(headers) || !has_token(headers, header::CONNECTION, "upgrade") {
        return Err(ApiError::bad_request(
            "unable to upgrade: missing upgrade headers in request",
        ));
    }
    let version = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if version.trim() != "13" {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade: unsupported WebSocket version {version:?} (13 is supported)"
        )));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| {
            base64::engine::general_purpose::STANDARD
                .decode(k)
                .is_ok_and(|raw| raw.len() == 16)
        })
        .ok_or_else(|| {
            ApiError::bad_request("unable to upgrade: Sec-WebSocket-Key is not 16 bytes in base64")
        })?;
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let protocol = supported
        .iter()
        .find(|p| offered.contains(p))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unable to upgrade: requested protocol(s) are not supported: [{}]; supports [{}]",
                offered.join(" "),
                supported.join(" ")
            ))
        })?;
    Ok(Handshake {
        accept: accept_key(key),
        protocol,
    })
}

/// `Sec-WebSocket-Accept` for `key`: base64 of SHA-1 of the key and RFC 6455's GUID.
pub fn accept_key(key: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.as_bytes());
    ctx.update(ACCEPT_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(ctx.finish())
}

/// The `101 Switching Protocols` answer to `handshake`.
pub fn switching_protocols(handshake: &Handshake) -> Response<Body> {
    let mut resp = Response::new(response::full(bytes::Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = resp.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&handshake.accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    headers.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(handshake.protocol),
    );
    resp
}

/// The connection once hyper has sent the 101: a server-side WebSocket.
pub async fn accept(upgrade: OnUpgrade) -> Result<Socket, hyper::Error> {
    let upgraded = upgrade.await?;
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(MAX_MESSAGE);
    config.max_frame_size = Some(MAX_MESSAGE);
    Ok(WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await)
}

/// Whether header `name` holds `token` in its comma-separated values (case-insensitive).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(protocols: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        h.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        for p in protocols {
            h.append(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_str(p).unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_rfc_example_key_is_accepted() {
        // RFC 6455, section 1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn the_servers_preferred_protocol_is_chosen() {
        let supported = &["v5.channel.k8s.io", "v4.channel.k8s.io"];
        let h = handshake(
            &request(&["v4.channel.k8s.io, v5.channel.k8s.io"]),
            supported,
        )
        .unwrap();
        assert_eq!(h.protocol, "v5.channel.k8s.io");
        assert_eq!(h.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let h = handshake(
            &request(&["base64.channel.k8s.io", "v4.channel.k8s.io"]),
            supported,
        )
        .unwrap();
        assert_eq!(h.protocol, "v4.channel.k8s.io");
        let err = handshake(&request(&["channel.k8s.io"]), supported).unwrap_err();
        assert_eq!(err.code, StatusCode::BAD_REQUEST);
        assert!(err.message.contains("not supported: [channel.k8s.io]"));
    }

    #[test]
    fn broken_handshakes_are_refused() {
        let supported = &["v5.channel.k8s.io"];
        let mut h = request(&["v5.channel.k8s.io"]);
        h.remove(header::CONNECTION);
        assert!(handshake(&h, supported).is_err());
        let mut h = request(&["v5.channel.k8s.io"]);
        h.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        assert!(handshake(&h, supported).is_err());
        let mut h = request(&["v5.channel.k8s.io"]);
        h.insert(header::SEC_WEBSOCKET_KEY, HeaderValue::from_static("short"));
        assert!(handshake(&h, supported).is_err());
        assert!(!is_websocket(&HeaderMap::new()));
    }
}
