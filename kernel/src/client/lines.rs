//! Splitting a streamed body (a watch, a followed log) into lines across chunk boundaries.

use bytes::{Bytes, BytesMut};

/// Splits a body into its lines (one JSON event each for a watch), across chunk boundaries.
#[derive(Default)]
pub(crate) struct Lines {
    pending: BytesMut,
}

impl Lines {
    /// Adds a chunk; returns the lines it completed, without their newlines (empty lines are
    /// skipped).
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<Bytes> {
        self.pending.extend_from_slice(chunk);
        let mut lines = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line = self.pending.split_to(end + 1).freeze();
            if line.len() > 1 {
                lines.push(line.slice(..end));
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_span_chunks() {
        let mut lines = Lines::default();
        assert!(lines.push(b"{\"a\":").is_empty());
        let got = lines.push(b"1}\n\n{\"b\":2}\n{\"c\"");
        assert_eq!(
            got,
            vec![Bytes::from("{\"a\":1}"), Bytes::from("{\"b\":2}")]
        );
        assert_eq!(lines.push(b":3}\n"), vec![Bytes::from("{\"c\":3}")]);
        assert!(lines.pending.is_empty());
    }
}
