//! The byte stream a SPDY session runs over: the binary messages of a WebSocket (kubectl's
//! tunnel, subprotocol `SPDY/3.1+portforward.k8s.io`) or the upgraded connection itself
//! (`Upgrade: SPDY/3.1`), split into a receiving and a sending half.

use std::io;

use bytes::{Bytes, BytesMut};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

type Io = TokioIo<Upgraded>;

/// The largest WebSocket message accepted (kubectl's messages carry at most a 32 KiB copy
/// buffer plus framing).
const MAX_MESSAGE: usize = 2 << 20;

/// The receiving half.
pub(crate) enum Incoming {
    /// WebSocket messages.
    WebSocket(SplitStream<WebSocketStream<Io>>),
    /// Raw bytes.
    Raw(ReadHalf<Io>),
}

/// The sending half.
pub(crate) enum Outgoing {
    /// Each write one binary message.
    WebSocket(SplitSink<WebSocketStream<Io>, Message>),
    /// Raw bytes.
    Raw(WriteHalf<Io>),
}

/// The halves of a WebSocket over an upgraded connection (the handshake was the HTTP
/// exchange).
pub(crate) async fn websocket(upgraded: Upgraded) -> (Incoming, Outgoing) {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let ws =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
    let (sink, stream) = ws.split();
    (Incoming::WebSocket(stream), Outgoing::WebSocket(sink))
}

/// The halves of an upgraded connection carrying SPDY directly.
pub(crate) fn raw(upgraded: Upgraded) -> (Incoming, Outgoing) {
    let (read, write) = tokio::io::split(TokioIo::new(upgraded));
    (Incoming::Raw(read), Outgoing::Raw(write))
}

impl Incoming {
    /// The next bytes of the stream; `None` once the peer closed it.
    pub(crate) async fn next(&mut self) -> io::Result<Option<Bytes>> {
        match self {
            Incoming::WebSocket(stream) => loop {
                match stream.next().await {
                    None | Some(Ok(Message::Close(_))) => return Ok(None),
                    Some(Ok(Message::Binary(bytes))) => return Ok(Some(bytes)),
                    Some(Ok(Message::Text(_))) => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "a text message in a SPDY tunnel (binary only)",
                        ));
                    }
                    // Pings are answered by the WebSocket layer.
                    Some(Ok(_)) => continue,
                    Some(Err(err)) => return Err(io::Error::other(err)),
                }
            },
            Incoming::Raw(read) => {
                let mut buf = BytesMut::with_capacity(32 * 1024);
                match read.read_buf(&mut buf).await? {
                    0 => Ok(None),
                    _ => Ok(Some(buf.freeze())),
                }
            }
        }
    }
}

impl Outgoing {
    /// Sends `bytes` (one message on a WebSocket).
    pub(crate) async fn send(&mut self, bytes: Bytes) -> io::Result<()> {
        match self {
            Outgoing::WebSocket(sink) => sink
                .send(Message::Binary(bytes))
                .await
                .map_err(io::Error::other),
            Outgoing::Raw(write) => {
                write.write_all(&bytes).await?;
                write.flush().await
            }
        }
    }

    /// Ends the stream (a WebSocket close, or the connection's write side shut).
    pub(crate) async fn close(&mut self) {
        match self {
            Outgoing::WebSocket(sink) => {
                let _ = sink.send(Message::Close(None)).await;
                let _ = sink.close().await;
            }
            Outgoing::Raw(write) => {
                let _ = write.shutdown().await;
            }
        }
    }
}
