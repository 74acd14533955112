//! One port-forward session: the SPDY streams kubectl opens, paired by `requestid` (an
//! `error` stream the client half-closes at once and a `data` stream), and for each pair a
//! connection to the pod's port, copied both ways. Kubelet's rules: every SYN_STREAM gets a
//! SYN_REPLY; a connection that fails is reported as text on the error stream, then both
//! streams are closed; when the pod closes the connection the data stream gets FIN (the
//! client then resets it) and the error stream is closed; a reset data stream closes the
//! connection. PINGs are answered; GOAWAY is sent when the server stops.
//!
//! No flow control is enforced: kubectl's SPDY library (spdystream) neither honours nor
//! sends WINDOW_UPDATE, so a sender that waited for window would stall after 64 KiB.
//! Back-pressure comes from the transport instead: frames to the client go through one
//! bounded queue, bytes to the pod through a bounded queue per stream.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::transport::{Incoming, Outgoing};
use crate::port_forward_host::{PodPortForwardHost, PortForwardTarget};
use crate::spdy::frame::{goaway, rst};
use crate::spdy::{Frame, FrameReader, FrameWriter, Headers};

/// How long the second stream of a pair may take to arrive (kubelet's stream creation
/// timeout).
const PAIR_TIMEOUT: Duration = Duration::from_secs(30);
/// After the pod closed its side, how long the client's side may go on.
const LINGER: Duration = Duration::from_secs(1);
/// Streams open at once in one session; more are refused.
const MAX_STREAMS: usize = 256;
/// Frames waiting for the transport.
const OUT_QUEUE: usize = 32;
/// Chunks waiting for the pod, per stream.
const TO_POD_QUEUE: usize = 8;
/// The most bytes put in one outgoing message.
const BATCH: usize = 64 * 1024;
/// The most bytes read from the pod per DATA frame.
const CHUNK: usize = 32 * 1024;

/// Serves the session until the client goes, breaks the protocol, or `stopping` turns true.
pub(crate) async fn run(
    incoming: Incoming,
    outgoing: Outgoing,
    target: PortForwardTarget,
    host: Arc<dyn PodPortForwardHost>,
    stopping: watch::Receiver<bool>,
) {
    let (out, out_rx) = mpsc::channel(OUT_QUEUE);
    let writer = tokio::spawn(write_frames(out_rx, outgoing));
    let (done, done_rx) = mpsc::unbounded_channel();
    let mut session = Session {
        target: Arc::new(target),
        host,
        out,
        done,
        streams: HashMap::new(),
        pairs: HashMap::new(),
        last_stream_id: 0,
        forwarders: JoinSet::new(),
    };
    let ending = session.serve(incoming, done_rx, stopping).await;
    if let Some(status) = ending {
        let _ = session
            .out
            .send(Frame::GoAway {
                last_good_stream_id: session.last_stream_id,
                status,
            })
            .await;
    }
    let Session {
        out, forwarders, ..
    } = session;
    drop(forwarders);
    drop(out);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

/// Sends queued frames, several to a message when they are ready together, then closes
/// the transport once every sender is gone.
async fn write_frames(mut frames: mpsc::Receiver<Frame>, mut outgoing: Outgoing) {
    let mut writer = FrameWriter::new();
    while let Some(frame) = frames.recv().await {
        let mut buf = BytesMut::new();
        writer.write(&frame, &mut buf);
        while buf.len() < BATCH {
            match frames.try_recv() {
                Ok(frame) => writer.write(&frame, &mut buf),
                Err(_) => break,
            }
        }
        if let Err(err) = outgoing.send(buf.freeze()).await {
            tracing::debug!(%err, "port-forward: the client connection broke");
            return;
        }
    }
    outgoing.close().await;
}

/// What a stream is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Error,
    Data,
}

/// An open stream, as the reading side knows it.
struct Stream {
    request: String,
    kind: Kind,
    /// Data streams: bytes for the pod, until the client's FIN.
    to_pod: Option<mpsc::Sender<Bytes>>,
    /// Data streams: set when the client resets the stream.
    reset: Option<watch::Sender<bool>>,
    /// Whether a forwarder reads `to_pod` yet.
    forwarding: bool,
}

/// A request's streams: waiting for each other, then forwarding.
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
    /// The data stream's port and the forwarder's ends of its queues, until it starts.
    waiting: Option<(u16, mpsc::Receiver<Bytes>, watch::Receiver<bool>)>,
    forwarding: bool,
    since: Instant,
}

struct Session {
    target: Arc<PortForwardTarget>,
    host: Arc<dyn PodPortForwardHost>,
    out: mpsc::Sender<Frame>,
    done: mpsc::UnboundedSender<String>,
    streams: HashMap<u32, Stream>,
    pairs: HashMap<String, Pair>,
    last_stream_id: u32,
    forwarders: JoinSet<()>,
}

/// Why handling a frame ends the session.
enum End {
    /// The peer said GOAWAY.
    GoneAway,
    /// The peer broke the protocol (GOAWAY with this status is sent).
    Broken(u32),
    /// The transport is gone.
    Closed,
}

impl Session {
    /// Reads frames until the session ends; the GOAWAY status to send, if one is due.
    async fn serve(
        &mut self,
        mut incoming: Incoming,
        mut done: mpsc::UnboundedReceiver<String>,
        mut stopping: watch::Receiver<bool>,
    ) -> Option<u32> {
        let mut reader = FrameReader::new();
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        let stop = signalled(&mut stopping);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                bytes = incoming.next() => {
                    let bytes = match bytes {
                        Ok(Some(bytes)) => bytes,
                        Ok(None) => return None,
                        Err(err) => {
                            tracing::debug!(%err, "port-forward: reading from the client failed");
                            return None;
                        }
                    };
                    reader.push(&bytes);
                    loop {
                        let frame = match reader.next_frame() {
                            Ok(Some(frame)) => frame,
                            Ok(None) => break,
                            Err(err) => {
                                tracing::debug!(%err, "port-forward: a bad frame ends the session");
                                return Some(goaway::PROTOCOL_ERROR);
                            }
                        };
                        match self.handle(frame).await {
                            Ok(()) => {}
                            Err(End::GoneAway | End::Closed) => return None,
                            Err(End::Broken(status)) => return Some(status),
                        }
                    }
                }
                Some(request) = done.recv() => self.finish(&request),
                _ = tick.tick() => {
                    if self.expire().await.is_err() {
                        return None;
                    }
                    while self.forwarders.try_join_next().is_some() {}
                }
                _ = &mut stop => return Some(goaway::OK),
            }
        }
    }

    async fn send(&self, frame: Frame) -> Result<(), End> {
        self.out.send(frame).await.map_err(|_| End::Closed)
    }

    async fn reset(&self, stream_id: u32, status: u32) -> Result<(), End> {
        self.send(Frame::RstStream { stream_id, status }).await
    }

    async fn handle(&mut self, frame: Frame) -> Result<(), End> {
        match frame {
            Frame::SynStream {
                stream_id,
                fin,
                headers,
                ..
            } => self.open(stream_id, fin, &headers).await,
            Frame::Data {
                stream_id,
                fin,
                data,
            } => self.data(stream_id, fin, data).await,
            Frame::RstStream { stream_id, .. } => {
                self.client_reset(stream_id);
                Ok(())
            }
            // Client pings have odd ids; even ones would answer pings of ours.
            Frame::Ping(id) if !id.is_multiple_of(2) => self.send(Frame::Ping(id)).await,
            Frame::GoAway { .. } => Err(End::GoneAway),
            // Replies, headers, settings, window updates and unknown frames change nothing
            // here (their header blocks were decoded, keeping the zlib stream in step).
            _ => Ok(()),
        }
    }

    /// A SYN_STREAM: checked, answered, and paired with its request's other stream.
    async fn open(&mut self, stream_id: u32, fin: bool, headers: &Headers) -> Result<(), End> {
        if stream_id.is_multiple_of(2) || stream_id <= self.last_stream_id {
            if self.streams.contains_key(&stream_id) {
                return self.reset(stream_id, rst::STREAM_IN_USE).await;
            }
            // Stream ids of a client are odd and increase.
            return Err(End::Broken(goaway::PROTOCOL_ERROR));
        }
        self.last_stream_id = stream_id;
        if self.streams.len() >= MAX_STREAMS {
            return self.reset(stream_id, rst::REFUSED_STREAM).await;
        }
        let kind = match headers.get("streamtype") {
            Some("error") => Kind::Error,
            Some("data") => Kind::Data,
            other => {
                tracing::debug!(?other, "port-forward: a stream of unknown type refused");
                return self.reset(stream_id, rst::PROTOCOL_ERROR).await;
            }
        };
        // Without `requestid` (clients before Kubernetes 1.6) the data stream follows its
        // error stream, two ids later.
        let request = match headers.get("requestid") {
            Some(id) => id.to_string(),
            None if kind == Kind::Data => stream_id.saturating_sub(2).to_string(),
            None => stream_id.to_string(),
        };
        let taken = self.pairs.get(&request).is_some_and(|p| match kind {
            Kind::Error => p.error.is_some(),
            Kind::Data => p.data.is_some(),
        });
        if taken {
            return self.reset(stream_id, rst::PROTOCOL_ERROR).await;
        }
        self.send(Frame::SynReply {
            stream_id,
            fin: false,
            headers: Headers::default(),
        })
        .await?;
        let pair = self.pairs.entry(request.clone()).or_insert_with(|| Pair {
            error: None,
            data: None,
            waiting: None,
            forwarding: false,
            since: Instant::now(),
        });
        let mut stream = Stream {
            request: request.clone(),
            kind,
            to_pod: None,
            reset: None,
            forwarding: false,
        };
        match kind {
            Kind::Error => pair.error = Some(stream_id),
            Kind::Data => {
                let port = headers.get("port").unwrap_or("");
                let (tx, rx) = mpsc::channel(TO_POD_QUEUE);
                let (reset_tx, reset_rx) = watch::channel(false);
                // 0 stands for a port that does not parse; the forwarder reports it.
                let port = port.parse::<u16>().unwrap_or(0);
                pair.data = Some(stream_id);
                pair.waiting = Some((port, rx, reset_rx));
                stream.to_pod = (!fin).then_some(tx);
                stream.reset = Some(reset_tx);
            }
        }
        self.streams.insert(stream_id, stream);
        let Some(pair) = self.pairs.get_mut(&request) else {
            return Ok(());
        };
        let (Some(error), Some(data)) = (pair.error, pair.data) else {
            return Ok(());
        };
        let Some((port, to_pod, reset)) = pair.waiting.take() else {
            return Ok(());
        };
        pair.forwarding = true;
        if let Some(stream) = self.streams.get_mut(&data) {
            stream.forwarding = true;
        }
        let forward = Forward {
            target: Arc::clone(&self.target),
            host: Arc::clone(&self.host),
            out: self.out.clone(),
            error,
            data,
            port,
            raw_port: headers.get("port").unwrap_or("").to_string(),
        };
        let done = self.done.clone();
        self.forwarders.spawn(async move {
            forward.run(to_pod, reset).await;
            let _ = done.send(request);
        });
        Ok(())
    }

    /// A DATA frame from the client: for the pod when it is a data stream.
    async fn data(&mut self, stream_id: u32, fin: bool, data: Bytes) -> Result<(), End> {
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            // A stream already finished or reset: nothing to do.
            return Ok(());
        };
        if stream.kind == Kind::Data
            && !data.is_empty()
            && let Some(to_pod) = &stream.to_pod
        {
            if stream.forwarding {
                // Waits while the pod is slow to read (back-pressure on the session).
                let _ = to_pod.send(data).await;
            } else if to_pod.try_send(data).is_err() {
                // Data before the pair is complete beyond what can be held.
                self.client_reset(stream_id);
                return self.reset(stream_id, rst::PROTOCOL_ERROR).await;
            }
        }
        if fin && let Some(stream) = self.streams.get_mut(&stream_id) {
            stream.to_pod = None;
        }
        Ok(())
    }

    /// The client reset a stream: a data stream's forwarder stops; a stream still waiting
    /// for its pair is forgotten.
    fn client_reset(&mut self, stream_id: u32) {
        let Some(stream) = self.streams.remove(&stream_id) else {
            return;
        };
        if let Some(reset) = &stream.reset {
            reset.send_replace(true);
        }
        let Some(pair) = self.pairs.get_mut(&stream.request) else {
            return;
        };
        if pair.forwarding {
            return;
        }
        match stream.kind {
            Kind::Error => pair.error = None,
            Kind::Data => {
                pair.data = None;
                pair.waiting = None;
            }
        }
        if pair.error.is_none() && pair.data.is_none() {
            self.pairs.remove(&stream.request);
        }
    }

    /// A forwarder finished: its request's streams are forgotten.
    fn finish(&mut self, request: &str) {
        if let Some(pair) = self.pairs.remove(request) {
            for id in [pair.error, pair.data].into_iter().flatten() {
                self.streams.remove(&id);
            }
        }
    }

    /// Pairs still incomplete after [`PAIR_TIMEOUT`]: reported and closed.
    async fn expire(&mut self) -> Result<(), End> {
        let now = Instant::now();
        let stale: Vec<String> = self
            .pairs
            .iter()
            .filter(|(_, p)| !p.forwarding && now - p.since > PAIR_TIMEOUT)
            .map(|(request, _)| request.clone())
            .collect();
        for request in stale {
            let Some(pair) = self.pairs.remove(&request) else {
                continue;
            };
            if let Some(error) = pair.error {
                self.streams.remove(&error);
                self.send(Frame::Data {
                    stream_id: error,
                    fin: true,
                    data: Bytes::from(format!(
                        "timed out waiting for the data stream of request {request}"
                    )),
                })
                .await?;
            }
            if let Some(data) = pair.data {
                self.streams.remove(&data);
                self.reset(data, rst::CANCEL).await?;
            }
        }
        Ok(())
    }
}

/// One forwarded connection: a pair's streams and the pod's port.
struct Forward {
    target: Arc<PortForwardTarget>,
    host: Arc<dyn PodPortForwardHost>,
    out: mpsc::Sender<Frame>,
    error: u32,
    data: u32,
    port: u16,
    raw_port: String,
}

impl Forward {
    async fn run(self, to_pod: mpsc::Receiver<Bytes>, mut reset: watch::Receiver<bool>) {
        let connected = if self.port == 0 {
            Err(format!("invalid port {:?}", self.raw_port))
        } else {
            tokio::select! {
                conn = self.host.connect(&self.target, self.port) => conn.map_err(|e| e.to_string()),
                _ = signalled(&mut reset) => {
                    self.close_error_stream().await;
                    return;
                }
            }
        };
        match connected {
            Ok(conn) => self.copy(conn, to_pod, reset).await,
            Err(err) => {
                let t = &self.target;
                let message = format!(
                    "error forwarding port {} to pod {}/{}, uid {}: {err}",
                    self.raw_port, t.namespace, t.name, t.uid
                );
                tracing::debug!(%message, "port-forward");
                let _ = self
                    .out
                    .send(Frame::Data {
                        stream_id: self.error,
                        fin: true,
                        data: Bytes::from(message),
                    })
                    .await;
                self.close_data_stream().await;
            }
        }
    }

    /// Copies both ways until the pod closes (then the client has [`LINGER`] to finish),
    /// or the client resets the data stream.
    async fn copy(
        &self,
        conn: tokio::net::TcpStream,
        mut to_pod: mpsc::Receiver<Bytes>,
        mut reset: watch::Receiver<bool>,
    ) {
        let (mut from_pod, mut into_pod) = conn.into_split();
        let up = async {
            while let Some(chunk) = to_pod.recv().await {
                if into_pod.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            // The client sends nothing more.
            let _ = into_pod.shutdown().await;
        };
        let down = async {
            let mut buf = BytesMut::new();
            loop {
                buf.reserve(CHUNK);
                match from_pod.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => {
                        let data = buf.split().freeze();
                        let frame = Frame::Data {
                            stream_id: self.data,
                            fin: false,
                            data,
                        };
                        if self.out.send(frame).await.is_err() {
                            return false;
                        }
                    }
                }
            }
        };
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        // Armed once the pod has closed its side.
        let linger = tokio::time::sleep(LINGER);
        tokio::pin!(linger);
        let mut was_reset = false;
        while !(up_done && down_done) {
            tokio::select! {
                _ = &mut up, if !up_done => up_done = true,
                open = &mut down, if !down_done => {
                    down_done = true;
                    if !open {
                        return;
                    }
                    self.close_data_stream().await;
                    linger.as_mut().reset(tokio::time::Instant::now() + LINGER);
                }
                _ = signalled(&mut reset) => {
                    was_reset = true;
                    break;
                }
                _ = &mut linger, if down_done => break,
            }
        }
        if !was_reset && !down_done {
            self.close_data_stream().await;
        }
        self.close_error_stream().await;
    }

    /// FIN on the data stream.
    async fn close_data_stream(&self) {
        let _ = self
            .out
            .send(Frame::Data {
                stream_id: self.data,
                fin: true,
                data: Bytes::new(),
            })
            .await;
    }

    /// FIN on the error stream: nothing went wrong.
    async fn close_error_stream(&self) {
        let _ = self
            .out
            .send(Frame::Data {
                stream_id: self.error,
                fin: true,
                data: Bytes::new(),
            })
            .await;
    }
}

/// Resolves once `flag` is true or its sender is gone (nothing borrowed is held after).
async fn signalled(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}
