//! SPDY/3.1 frames on the wire: an 8-byte header (control bit, version and type, or a
//! stream id for data; flags; 24-bit length), then the payload.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::SpdyError;
use super::header_block::{HeaderDecoder, HeaderEncoder, Headers};

/// The protocol version in control frames.
pub const VERSION: u16 = 3;
/// `FLAG_FIN`: the sender's half of the stream ends with this frame.
pub const FLAG_FIN: u8 = 0x01;
/// `FLAG_UNIDIRECTIONAL` of SYN_STREAM: the receiver may not send on the stream.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;

/// RST_STREAM status codes used here.
pub mod rst {
    /// `PROTOCOL_ERROR`.
    pub const PROTOCOL_ERROR: u32 = 1;
    /// `INVALID_STREAM`: a frame for a stream that is not open.
    pub const INVALID_STREAM: u32 = 2;
    /// `REFUSED_STREAM`: the stream was not processed.
    pub const REFUSED_STREAM: u32 = 3;
    /// `CANCEL`: the stream is no longer needed.
    pub const CANCEL: u32 = 5;
    /// `STREAM_IN_USE`: a SYN_STREAM for a stream id already open.
    pub const STREAM_IN_USE: u32 = 8;
}

/// GOAWAY status codes.
pub mod goaway {
    /// A normal session end.
    pub const OK: u32 = 0;
    /// The peer broke the protocol.
    pub const PROTOCOL_ERROR: u32 = 1;
    /// This end failed.
    pub const INTERNAL_ERROR: u32 = 2;
}

/// The largest frame payload accepted: kubectl's copies move 32 KiB at a time; anything
/// far larger is refused rather than buffered.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// One frame, header blocks decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// DATA.
    Data {
        /// The stream.
        stream_id: u32,
        /// `FLAG_FIN`.
        fin: bool,
        /// The payload.
        data: Bytes,
    },
    /// SYN_STREAM: the peer opens a stream.
    SynStream {
        /// The new stream (odd from clients).
        stream_id: u32,
        /// The stream it belongs to (0 for none).
        associated_to: u32,
        /// Priority, 0 (highest) to 7.
        priority: u8,
        /// `FLAG_FIN`: the opener sends nothing more.
        fin: bool,
        /// `FLAG_UNIDIRECTIONAL`.
        unidirectional: bool,
        /// Its headers.
        headers: Headers,
    },
    /// SYN_REPLY: the answer to a SYN_STREAM.
    SynReply {
        /// The stream.
        stream_id: u32,
        /// `FLAG_FIN`.
        fin: bool,
        /// Its headers.
        headers: Headers,
    },
    /// RST_STREAM: the stream ends at once.
    RstStream {
        /// The stream.
        stream_id: u32,
        /// Why ([`rst`]).
        status: u32,
    },
    /// SETTINGS: `(flags, id, value)` entries.
    Settings(Vec<(u8, u32, u32)>),
    /// PING: answered with the same id.
    Ping(u32),
    /// GOAWAY: no new streams; the session ends.
    GoAway {
        /// The last stream the sender handled.
        last_good_stream_id: u32,
        /// Why ([`goaway`]).
        status: u32,
    },
    /// HEADERS: more headers of a stream.
    Headers {
        /// The stream.
        stream_id: u32,
        /// `FLAG_FIN`.
        fin: bool,
        /// The headers.
        headers: Headers,
    },
    /// WINDOW_UPDATE (SPDY/3.1 flow control).
    WindowUpdate {
        /// The stream (0 for the session).
        stream_id: u32,
        /// Bytes added to the window.
        delta: u32,
    },
    /// A control frame type this end does not know; skipped, as the draft requires.
    Unknown(u16),
}

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// Reads frames from a byte stream that arrives in pieces of any size.
pub struct FrameReader {
    buf: BytesMut,
    headers: HeaderDecoder,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameReader {
    /// A reader at the start of a session.
    pub fn new() -> Self {
        Self {
            buf: BytesMut::new(),
            headers: HeaderDecoder::new(),
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, if the bytes so far hold one. An error breaks the session
    /// (the header stream's state is lost with it).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, SpdyError> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let word = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        let flags = self.buf[4];
        let length = u32::from_be_bytes([0, self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if length > MAX_PAYLOAD {
            return Err(SpdyError::Protocol(format!(
                "a frame of {length} bytes (at most {MAX_PAYLOAD} are accepted)"
            )));
        }
        if self.buf.len() < 8 + length {
            return Ok(None);
        }
        self.buf.advance(8);
        let payload = self.buf.split_to(length).freeze();
        if word & 0x8000_0000 == 0 {
            return Ok(Some(Frame::Data {
                stream_id: word & 0x7fff_ffff,
                fin: flags & FLAG_FIN != 0,
                data: payload,
            }));
        }
        let version = ((word >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(SpdyError::Protocol(format!(
                "SPDY version {version} (only 3 is spoken)"
            )));
        }
        let kind = (word & 0xffff) as u16;
        self.control(kind, flags, payload).map(Some)
    }

    fn control(&mut self, kind: u16, flags: u8, mut p: Bytes) -> Result<Frame, SpdyError> {
        let fin = flags & FLAG_FIN != 0;
        let need = |p: &Bytes, n: usize, what: &str| {
            if p.len() < n {
                Err(SpdyError::Protocol(format!("a {what} frame is too short")))
            } else {
                Ok(())
            }
        };
        Ok(match kind {
            SYN_STREAM => {
                need(&p, 10, "SYN_STREAM")?;
                let stream_id = p.get_u32() & 0x7fff_ffff;
                let associated_to = p.get_u32() & 0x7fff_ffff;
                let priority = p.get_u8() >> 5;
                let _slot = p.get_u8();
                Frame::SynStream {
                    stream_id,
                    associated_to,
                    priority,
                    fin,
                    unidirectional: flags & FLAG_UNIDIRECTIONAL != 0,
                    headers: self.headers.decode(&p)?,
                }
            }
            SYN_REPLY | HEADERS => {
                need(&p, 4, "SYN_REPLY or HEADERS")?;
                let stream_id = p.get_u32() & 0x7fff_ffff;
                let headers = self.headers.decode(&p)?;
                if kind == SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        fin,
                        headers,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        fin,
                        headers,
                    }
                }
            }
            RST_STREAM => {
                need(&p, 8, "RST_STREAM")?;
                Frame::RstStream {
                    stream_id: p.get_u32() & 0x7fff_ffff,
                    status: p.get_u32(),
                }
            }
            SETTINGS => {
                need(&p, 4, "SETTINGS")?;
                let count = p.get_u32() as usize;
                if p.len() != count.saturating_mul(8) {
                    return Err(SpdyError::Protocol(
                        "a SETTINGS frame's length does not match its entries".into(),
                    ));
                }
                let mut entries = Vec::with_capacity(count);
                for _ in 0..count {
                    let head = p.get_u32();
                    entries.push(((head >> 24) as u8, head & 0x00ff_ffff, p.get_u32()));
                }
                Frame::Settings(entries)
            }
            PING => {
                need(&p, 4, "PING")?;
                Frame::Ping(p.get_u32())
            }
            GOAWAY => {
                need(&p, 4, "GOAWAY")?;
                let last_good_stream_id = p.get_u32() & 0x7fff_ffff;
                // SPDY/2 peers leave the status out.
                let status = if p.len() >= 4 {
                    p.get_u32()
                } else {
                    goaway::OK
                };
                Frame::GoAway {
                    last_good_stream_id,
                    status,
                }
            }
            WINDOW_UPDATE => {
                need(&p, 8, "WINDOW_UPDATE")?;
                Frame::WindowUpdate {
                    stream_id: p.get_u32() & 0x7fff_ffff,
                    delta: p.get_u32() & 0x7fff_ffff,
                }
            }
            other => Frame::Unknown(other),
        })
    }
}

/// Writes frames, compressing header blocks with the session's one zlib stream.
#[derive(Default)]
pub struct FrameWriter {
    headers: HeaderEncoder,
}

impl FrameWriter {
    /// A writer at the start of a session.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `frame` to `out`. Frames of unknown type are not written.
    pub fn write(&mut self, frame: &Frame, out: &mut BytesMut) {
        match frame {
            Frame::Data {
                stream_id,
                fin,
                data,
            } => {
                out.put_u32(stream_id & 0x7fff_ffff);
                put_flags_length(out, u8::from(*fin), data.len());
                out.extend_from_slice(data);
            }
            Frame::SynStream {
                stream_id,
                associated_to,
                priority,
                fin,
                unidirectional,
                headers,
            } => {
                let block = self.headers.encode(headers);
                let flags = u8::from(*fin)
                    | if *unidirectional {
                        FLAG_UNIDIRECTIONAL
                    } else {
                        0
                    };
                control(out, SYN_STREAM, flags, 10 + block.len());
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32(associated_to & 0x7fff_ffff);
                out.put_u8((priority & 7) << 5);
                out.put_u8(0);
                out.extend_from_slice(&block);
            }
            Frame::SynReply {
                stream_id,
                fin,
                headers,
            }
            | Frame::Headers {
                stream_id,
                fin,
                headers,
            } => {
                let kind = if matches!(frame, Frame::SynReply { .. }) {
                    SYN_REPLY
                } else {
                    HEADERS
                };
                let block = self.headers.encode(headers);
                control(out, kind, u8::from(*fin), 4 + block.len());
                out.put_u32(stream_id & 0x7fff_ffff);
                out.extend_from_slice(&block);
            }
            Frame::RstStream { stream_id, status } => {
                control(out, RST_STREAM, 0, 8);
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32(*status);
            }
            Frame::Settings(entries) => {
                control(out, SETTINGS, 0, 4 + 8 * entries.len());
                out.put_u32(entries.len() as u32);
                for (flags, id, value) in entries {
                    out.put_u32(u32::from(*flags) << 24 | (id & 0x00ff_ffff));
                    out.put_u32(*value);
                }
            }
            Frame::Ping(id) => {
                control(out, PING, 0, 4);
                out.put_u32(*id);
            }
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => {
                control(out, GOAWAY, 0, 8);
                out.put_u32(last_good_stream_id & 0x7fff_ffff);
                out.put_u32(*status);
            }
            Frame::WindowUpdate { stream_id, delta } => {
                control(out, WINDOW_UPDATE, 0, 8);
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32(delta & 0x7fff_ffff);
            }
            Frame::Unknown(_) => {}
        }
    }
}

fn control(out: &mut BytesMut, kind: u16, flags: u8, length: usize) {
    out.put_u16(0x8000 | VERSION);
    out.put_u16(kind);
    put_flags_length(out, flags, length);
}

fn put_flags_length(out: &mut BytesMut, flags: u8, length: usize) {
    out.put_u32(u32::from(flags) << 24 | (length as u32 & 0x00ff_ffff));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        Headers(
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn every_frame_round_trips_byte_by_byte() {
        let frames = vec![
            Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 3,
                fin: true,
                unidirectional: false,
                headers: headers(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]),
            },
            Frame::SynReply {
                stream_id: 1,
                fin: false,
                headers: headers(&[]),
            },
            Frame::Data {
                stream_id: 3,
                fin: false,
                data: Bytes::from(vec![7u8; 70_000]),
            },
            Frame::Data {
                stream_id: 3,
                fin: true,
                data: Bytes::new(),
            },
            Frame::RstStream {
                stream_id: 3,
                status: rst::CANCEL,
            },
            Frame::Settings(vec![(0, 4, 100), (1, 7, 65536)]),
            Frame::Ping(1),
            Frame::GoAway {
                last_good_stream_id: 3,
                status: goaway::OK,
            },
            Frame::Headers {
                stream_id: 5,
                fin: true,
                headers: headers(&[("a", "b\0c")]),
            },
            Frame::WindowUpdate {
                stream_id: 0,
                delta: 1 << 20,
            },
        ];
        let mut writer = FrameWriter::new();
        let mut wire = BytesMut::new();
        for frame in &frames {
            writer.write(frame, &mut wire);
        }
        let mut reader = FrameReader::new();
        let mut read = Vec::new();
        for byte in wire.iter() {
            reader.push(&[*byte]);
            while let Some(frame) = reader.next_frame().unwrap() {
                read.push(frame);
            }
        }
        assert_eq!(read, frames);
    }

    /// Hex to bytes.
    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The first frames kubectl 1.32.4 sent through its WebSocket tunnel for one forwarded
    /// connection to port 8080 (captured from a `kubectl port-forward` against kmicro):
    /// the error stream (its header block opens the zlib stream, naming the SPDY/3
    /// dictionary), its FIN, the data stream (compressed against the first block), a request,
    /// a reset.
    #[test]
    fn frames_from_a_real_kubectl_decode() {
        let wire = hex(concat!(
            "800300010000003e0000000100000000000078f9e3c6a7c202253a060606ce2248fc6482d22da301",
            "38e59514a526e6420b17d65450d0430aea22709eb030b03000000000ffff0000000101000000",
            "800300010000001c00000003000000000000826a46550a2a8712b1a844b302000000ffff",
            "0000000300000027474554202f696e6465782e68746d6c20485454502f312e300d0a486f73743a",
            "20706f640d0a0d0a",
            "80030003000000080000000300000005",
        ));
        let mut reader = FrameReader::new();
        // kubectl writes each field as its own WebSocket message: the bytes come in pieces.
        for piece in wire.chunks(5) {
            reader.push(piece);
        }
        let mut frames = Vec::new();
        while let Some(mut frame) = reader.next_frame().unwrap() {
            // Go writes a header map in no particular order.
            if let Frame::SynStream { headers, .. } = &mut frame {
                headers.0.sort();
            }
            frames.push(frame);
        }
        let stream_headers =
            |kind: &str| headers(&[("port", "8080"), ("requestid", "0"), ("streamtype", kind)]);
        assert_eq!(
            frames,
            vec![
                Frame::SynStream {
                    stream_id: 1,
                    associated_to: 0,
                    priority: 0,
                    fin: false,
                    unidirectional: false,
                    headers: stream_headers("error"),
                },
                Frame::Data {
                    stream_id: 1,
                    fin: true,
                    data: Bytes::new()
                },
                Frame::SynStream {
                    stream_id: 3,
                    associated_to: 0,
                    priority: 0,
                    fin: false,
                    unidirectional: false,
                    headers: stream_headers("data"),
                },
                Frame::Data {
                    stream_id: 3,
                    fin: false,
                    data: Bytes::from_static(b"GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n"),
                },
                Frame::RstStream {
                    stream_id: 3,
                    status: rst::CANCEL
                },
            ]
        );
    }

    #[test]
    fn unknown_control_frames_are_skipped_and_bad_ones_refused() {
        let mut reader = FrameReader::new();
        reader.push(&[0x80, 3, 0, 10, 0, 0, 0, 2, 0xaa, 0xbb]);
        reader.push(&[0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 9]);
        assert_eq!(reader.next_frame().unwrap(), Some(Frame::Unknown(10)));
        assert_eq!(reader.next_frame().unwrap(), Some(Frame::Ping(9)));
        assert_eq!(reader.next_frame().unwrap(), None);
        // SPDY/2.
        reader.push(&[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 9]);
        assert!(reader.next_frame().is_err());
        // Too large.
        let mut reader = FrameReader::new();
        reader.push(&[0, 0, 0, 1, 0, 0xff, 0xff, 0xff]);
        assert!(reader.next_frame().is_err());
        // A RST_STREAM too short.
        let mut reader = FrameReader::new();
        reader.push(&[0x80, 3, 0, 3, 0, 0, 0, 4, 0, 0, 0, 1]);
        assert!(reader.next_frame().is_err());
    }
}
