//! SPDY/3 header blocks: name/value pairs (a 32-bit count, then each name and value as a
//! 32-bit length and bytes; several values of one name joined by NUL), compressed by one
//! zlib stream per direction for the whole session, with the SPDY/3 preset dictionary.
//!
//! Decompression keeps deflate's 32 KiB window itself, with the dictionary preloaded, and
//! reads the zlib header (whose `FDICT` names the dictionary) by hand: `miniz_oxide` refuses
//! preset dictionaries in its zlib mode. Compression writes a zlib stream without a preset
//! dictionary (peers accept either: Go's `zlib.NewReaderDict` uses the dictionary only when
//! the stream's header asks for it), each block ended with a sync flush.

use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params,
};
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};

use super::SpdyError;
use super::dictionary::{DICTIONARY, adler32};

/// A header block's pairs, names lower-case, in their order on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// The value of `name` (all its values joined by NUL, as on the wire).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The largest decompressed header block accepted.
const MAX_BLOCK: usize = 64 * 1024;
/// Deflate's window, the most a back-reference reaches.
const WINDOW: usize = 32 * 1024;

/// Where the zlib header of the incoming stream stands.
#[derive(Debug)]
enum ZlibHeader {
    /// Not complete: the bytes seen so far.
    Pending(Vec<u8>),
    /// Read; the rest is deflate data.
    Done,
}

/// The receiving side: one zlib stream across every header block of a session.
pub struct HeaderDecoder {
    inflater: Box<DecompressorOxide>,
    window: Box<[u8]>,
    pos: usize,
    header: ZlibHeader,
}

impl Default for HeaderDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDecoder {
    /// A decoder at the start of a session.
    pub fn new() -> Self {
        let mut window = vec![0u8; WINDOW].into_boxed_slice();
        window[..DICTIONARY.len()].copy_from_slice(&DICTIONARY);
        Self {
            inflater: Box::default(),
            window,
            pos: DICTIONARY.len(),
            header: ZlibHeader::Pending(Vec::new()),
        }
    }

    /// Decompresses and parses the next header block (`compressed`, as one frame carries it).
    pub fn decode(&mut self, compressed: &[u8]) -> Result<Headers, SpdyError> {
        let raw = self.inflate(compressed)?;
        parse_pairs(&raw)
    }

    /// The zlib header, then the deflate data through the window.
    fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        if let ZlibHeader::Pending(seen) = &mut self.header {
            while seen.len() < 2 && !input.is_empty() {
                seen.push(input[0]);
                input = &input[1..];
            }
            if seen.len() >= 2 {
                let (cmf, flg) = (seen[0], seen[1]);
                if cmf & 0x0f != 8
                    || cmf >> 4 > 7
                    || (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0
                {
                    return Err(SpdyError::Compression("bad zlib header".into()));
                }
                let needed = if flg & 0x20 != 0 { 6 } else { 2 };
                while seen.len() < needed && !input.is_empty() {
                    seen.push(input[0]);
                    input = &input[1..];
                }
                if seen.len() == needed {
                    if needed == 6 {
                        let id = u32::from_be_bytes([seen[2], seen[3], seen[4], seen[5]]);
                        if id != adler32(&DICTIONARY) {
                            return Err(SpdyError::Compression(format!(
                                "the header stream names dictionary {id:#010x}, not SPDY/3's"
                            )));
                        }
                    }
                    self.header = ZlibHeader::Done;
                }
            }
        }
        let mut out = Vec::new();
        while !input.is_empty() || self.pos == WINDOW {
            if self.pos == WINDOW {
                self.pos = 0;
            }
            let (status, read, written) = decompress(
                &mut self.inflater,
                input,
                &mut self.window,
                self.pos,
                inflate_flags::TINFL_FLAG_HAS_MORE_INPUT,
            );
            out.extend_from_slice(&self.window[self.pos..self.pos + written]);
            self.pos += written;
            input = &input[read..];
            if out.len() > MAX_BLOCK {
                return Err(SpdyError::Compression(format!(
                    "a header block inflates to more than {MAX_BLOCK} bytes"
                )));
            }
            match status {
                TINFLStatus::NeedsMoreInput => break,
                TINFLStatus::HasMoreOutput => continue,
                TINFLStatus::Done => {
                    return Err(SpdyError::Compression(
                        "the header stream ended (it must last the session)".into(),
                    ));
                }
                failed => {
                    return Err(SpdyError::Compression(format!(
                        "header block does not inflate: {failed:?}"
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// The sending side: one zlib stream across every header block of a session.
pub struct HeaderEncoder {
    deflater: Box<CompressorOxide>,
}

impl Default for HeaderEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderEncoder {
    /// An encoder at the start of a session.
    pub fn new() -> Self {
        // Level 6, a zlib header (positive window bits), the default strategy.
        let flags = create_comp_flags_from_zip_params(6, 15, 0);
        Self {
            deflater: Box::new(CompressorOxide::new(flags)),
        }
    }

    /// `headers` as the next compressed header block.
    pub fn encode(&mut self, headers: &Headers) -> Vec<u8> {
        let raw = serialize_pairs(headers);
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut chunk = [0u8; 1024];
        let mut input = raw.as_slice();
        loop {
            let (status, read, written) =
                compress(&mut self.deflater, input, &mut chunk, TDEFLFlush::Sync);
            out.extend_from_slice(&chunk[..written]);
            input = &input[read..];
            // A sync flush is complete once it leaves room in the output.
            if status != TDEFLStatus::Okay || (input.is_empty() && written < chunk.len()) {
                break;
            }
        }
        out
    }
}

/// A block's pairs from its decompressed bytes.
fn parse_pairs(raw: &[u8]) -> Result<Headers, SpdyError> {
    let mut rest = raw;
    let mut take = |n: usize| -> Result<&[u8], SpdyError> {
        if rest.len() < n {
            return Err(SpdyError::Protocol("a header block is cut short".into()));
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let count = read_u32(take(4)?) as usize;
    let mut pairs = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let len = read_u32(take(4)?) as usize;
        let name = text(take(len)?)?;
        if name.is_empty() {
            return Err(SpdyError::Protocol("a header has an empty name".into()));
        }
        let len = read_u32(take(4)?) as usize;
        let value = text(take(len)?)?;
        pairs.push((name.to_ascii_lowercase(), value));
    }
    Ok(Headers(pairs))
}

/// The uncompressed bytes of `headers`.
fn serialize_pairs(headers: &Headers) -> Vec<u8> {
    let mut raw = Vec::new();
    raw.extend_from_slice(&(headers.0.len() as u32).to_be_bytes());
    for (name, value) in &headers.0 {
        raw.extend_from_slice(&(name.len() as u32).to_be_bytes());
        raw.extend_from_slice(name.as_bytes());
        raw.extend_from_slice(&(value.len() as u32).to_be_bytes());
        raw.extend_from_slice(value.as_bytes());
    }
    raw
}

fn read_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fn text(bytes: &[u8]) -> Result<String, SpdyError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| SpdyError::Protocol("a header is not UTF-8".into()))
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
    fn blocks_round_trip_across_one_stream() {
        let mut encoder = HeaderEncoder::new();
        let mut decoder = HeaderDecoder::new();
        let blocks = [
            headers(&[]),
            headers(&[
                ("streamtype", "error"),
                ("port", "8080"),
                ("requestid", "0"),
            ]),
            headers(&[("streamtype", "data"), ("port", "8080"), ("requestid", "0")]),
            headers(&[("x", &"y".repeat(40_000))]),
            headers(&[("streamtype", "data"), ("port", "8080"), ("requestid", "1")]),
        ];
        for block in &blocks {
            let wire = encoder.encode(block);
            assert_eq!(&decoder.decode(&wire).unwrap(), block);
        }
    }

    #[test]
    fn broken_blocks_are_errors_not_panics() {
        let mut decoder = HeaderDecoder::new();
        assert!(decoder.decode(&[0x00, 0x01]).is_err());
        let mut decoder = HeaderDecoder::new();
        // A zlib header naming another dictionary.
        assert!(decoder.decode(&[0x78, 0xbb, 0, 0, 0, 1, 0]).is_err());
        // A truncated pair list inside a valid stream.
        let mut encoder = HeaderEncoder::new();
        let mut wire = Vec::new();
        {
            let raw = [0u8, 0, 0, 5, 0, 0, 0, 9];
            let mut chunk = [0u8; 256];
            let (_, _, n) = compress(&mut encoder.deflater, &raw, &mut chunk, TDEFLFlush::Sync);
            wire.extend_from_slice(&chunk[..n]);
        }
        let mut decoder = HeaderDecoder::new();
        assert!(matches!(decoder.decode(&wire), Err(SpdyError::Protocol(_))));
        // Garbage after a good start.
        let mut decoder = HeaderDecoder::new();
        assert!(
            decoder
                .decode(&[0x78, 0x9c, 0xff, 0xff, 0xff, 0xff])
                .is_err()
        );
    }
}
