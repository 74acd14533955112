//! The CRI log format: one record per line,
//! `2016-10-06T00:17:09.669794202Z stdout F text`: an RFC 3339 UTC time with nanoseconds, the
//! stream, `P` for a partial line or `F` for the end of one, then the content.

use std::io::Write;

use jiff::Timestamp;

/// Lines longer than this are written as partial records of this size (as containerd does).
pub const MAX_RECORD_CONTENT: usize = 16 * 1024;

/// Which output of the container a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The name in the log file and in kube's `stream` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }

    fn parse(text: &[u8]) -> Option<Stream> {
        match text {
            b"stdout" => Some(Stream::Stdout),
            b"stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }
}

/// Whether a record ends its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// A piece of a longer line; more follows.
    Partial,
    /// The end of a line (or a whole line).
    Full,
}

/// Appends one record, newline included, to `out`.
pub(crate) fn write_record(
    out: &mut Vec<u8>,
    time: &str,
    stream: Stream,
    tag: Tag,
    content: &[u8],
) {
    out.extend_from_slice(time.as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(match tag {
        Tag::Partial => b" P ",
        Tag::Full => b" F ",
    });
    out.extend_from_slice(content);
    out.push(b'\n');
}

/// A record's length with its newline, for the rotation check before writing it.
pub(crate) fn record_len(time: &str, stream: Stream, content: &[u8]) -> usize {
    time.len() + 1 + stream.as_str().len() + 3 + content.len() + 1
}

/// The time as the file has it: fixed nine fractional digits (kubelet's and containerd's
/// `2006-01-02T15:04:05.000000000Z07:00`), so records sort as text.
pub(crate) fn file_time(time: Timestamp) -> String {
    let mut text = Vec::with_capacity(30);
    // Writing to a Vec cannot fail.
    let _ = write!(text, "{time:.9}");
    String::from_utf8(text).unwrap_or_default()
}

/// One parsed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub(crate) time: Timestamp,
    pub(crate) stream: Stream,
    pub(crate) tag: Tag,
    pub(crate) content: &'a [u8],
}

/// Parses one record (without its newline), as kubelet's `parseCRILog` does: the tag may
/// carry more `:`-separated parts after `P`/`F`. `None` for a malformed line.
pub(crate) fn parse_record(line: &[u8]) -> Option<Record<'_>> {
    let mut parts = line.splitn(4, |&b| b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let stream = Stream::parse(parts.next()?)?;
    let tag = match parts.next()?.split(|&b| b == b':').next()? {
        b"P" => Tag::Partial,
        b"F" => Tag::Full,
        _ => return None,
    };
    let content = parts.next().unwrap_or_default();
    Some(Record {
        time,
        stream,
        tag,
        content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let time: Timestamp = "2016-10-06T00:17:09.669794202Z".parse().unwrap();
        let text = file_time(time);
        assert_eq!(text, "2016-10-06T00:17:09.669794202Z");
        assert_eq!(
            file_time("2016-10-06T00:17:09Z".parse().unwrap()),
            "2016-10-06T00:17:09.000000000Z"
        );
        let mut out = Vec::new();
        write_record(&mut out, &text, Stream::Stderr, Tag::Partial, b"a b c");
        assert_eq!(out, b"2016-10-06T00:17:09.669794202Z stderr P a b c\n");
        assert_eq!(out.len(), record_len(&text, Stream::Stderr, b"a b c"));
        let record = parse_record(&out[..out.len() - 1]).unwrap();
        assert_eq!(
            record,
            Record {
                time,
                stream: Stream::Stderr,
                tag: Tag::Partial,
                content: b"a b c"
            }
        );
    }

    #[test]
    fn parsing_like_kubelet() {
        let record = parse_record(b"2016-10-06T00:17:09.669794202Z stdout F").unwrap();
        assert_eq!(record.content, b"");
        let record = parse_record(b"2016-10-06T00:17:09.669794202Z stdout F:x y").unwrap();
        assert_eq!((record.tag, record.content), (Tag::Full, &b"y"[..]));
        assert!(parse_record(b"not a time stdout F x").is_none());
        assert!(parse_record(b"2016-10-06T00:17:09Z stdin F x").is_none());
        assert!(parse_record(b"2016-10-06T00:17:09Z stdout X x").is_none());
    }
}
