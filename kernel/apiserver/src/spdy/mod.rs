//! SPDY/3.1 as Kubernetes' streaming protocols use it (`kubectl port-forward` over a
//! WebSocket tunnel or a plain upgrade): frames ([`frame`]) and compressed header blocks
//! ([`header_block`]). No I/O: the session that drives them is `port_forward`.

pub mod dictionary;
pub mod frame;
pub mod header_block;

pub use frame::{Frame, FrameReader, FrameWriter};
pub use header_block::Headers;

/// Why a SPDY byte stream cannot be read on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpdyError {
    /// The peer broke the framing or the header block format.
    #[error("SPDY protocol error: {0}")]
    Protocol(String),
    /// A header block does not decompress.
    #[error("SPDY header compression error: {0}")]
    Compression(String),
}
