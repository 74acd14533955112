//! The envelope of a protobuf body: the magic `k8s\0`, then a `runtime.Unknown` holding the
//! type (`typeMeta`) and the object's own message (`raw`).

use crate::wire::{Fields, WireValue};
use crate::{DecodeError, MEDIA_TYPE};

/// The four bytes every Kubernetes protobuf body starts with.
const MAGIC: &[u8; 4] = b"k8s\0";

/// A `runtime.Unknown` {typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2,
/// contentEncoding = 3, contentType = 4}.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Unknown<'a> {
    /// `typeMeta.apiVersion` ("" when not sent).
    pub api_version: String,
    /// `typeMeta.kind` ("" when not sent).
    pub kind: String,
    /// The object's message.
    pub raw: &'a [u8],
}

/// Opens the envelope of `body`, as kube's protobuf serializer does (same messages).
pub(crate) fn open(body: &[u8]) -> Result<Unknown<'_>, DecodeError> {
    let data = match body.strip_prefix(MAGIC) {
        _ if body.is_empty() => return Err(DecodeError::malformed("empty data")),
        Some([]) => return Err(DecodeError::malformed("empty body")),
        Some(data) => data,
        None => {
            return Err(DecodeError::malformed(format!(
                "provided data does not appear to be a protobuf message, expected prefix {:?}",
                MAGIC
            )));
        }
    };
    let mut unknown = Unknown::default();
    let (mut encoding, mut content_type) = (String::new(), String::new());
    for item in Fields::new(data) {
        match item? {
            (1, WireValue::Bytes(type_meta)) => {
                for item in Fields::new(type_meta) {
                    match item? {
                        (1, WireValue::Bytes(v)) => unknown.api_version = text(v),
                        (2, WireValue::Bytes(v)) => unknown.kind = text(v),
                        (1 | 2, _) => return Err(wrong_wire_type("typeMeta")),
                        _ => {}
                    }
                }
            }
            (2, WireValue::Bytes(raw)) => unknown.raw = raw,
            (3, WireValue::Bytes(v)) => encoding = text(v),
            (4, WireValue::Bytes(v)) => content_type = text(v),
            (1..=4, _) => return Err(wrong_wire_type("Unknown")),
            _ => {}
        }
    }
    // kube ignores both and reads `raw` as protobuf; refusing says why instead of failing on
    // bytes that are something else.
    if !encoding.is_empty() {
        return Err(DecodeError::malformed(format!(
            "unsupported contentEncoding {encoding:?} in the protobuf envelope"
        )));
    }
    if !(content_type.is_empty() || content_type == MEDIA_TYPE) {
        return Err(DecodeError::malformed(format!(
            "unsupported contentType {content_type:?} in the protobuf envelope"
        )));
    }
    Ok(unknown)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn wrong_wire_type(message: &str) -> DecodeError {
    DecodeError::malformed(format!("proto: wrong wireType for a field of {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A length-delimited field (payloads under 128 bytes).
    fn ld(tag: u8, payload: &[u8]) -> Vec<u8> {
        [&[tag << 3 | 2, payload.len() as u8][..], payload].concat()
    }

    #[test]
    fn opens_an_envelope() {
        let type_meta = [ld(1, b"v1"), ld(2, b"ConfigMap")].concat();
        let body = [
            &b"k8s\0"[..],
            &ld(1, &type_meta),
            &ld(2, &[0x0a, 0x00]),
            &ld(3, b""),
            &ld(4, MEDIA_TYPE.as_bytes()),
            &ld(9, b"an unknown field"),
        ]
        .concat();
        let u = open(&body).unwrap();
        assert_eq!(u.api_version, "v1");
        assert_eq!(u.kind, "ConfigMap");
        assert_eq!(u.raw, &[0x0a, 0x00]);
    }

    #[test]
    fn refuses_what_is_not_an_envelope() {
        let cases: [(&[u8], &str); 6] = [
            (b"", "empty data"),
            (b"k8s\0", "empty body"),
            (
                b"{\"kind\":\"Pod\"}",
                "does not appear to be a protobuf message",
            ),
            (b"k8s\0\x0a\x05ab", "unexpected EOF"),
            (b"k8s\0\x1a\x04gzip", "contentEncoding"),
            (b"k8s\0\x22\x10application/json", "contentType"),
        ];
        for (body, message) in cases {
            let err = open(body).unwrap_err().to_string();
            assert!(err.contains(message), "{body:?}: {err}");
        }
    }
}
