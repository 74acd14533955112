//! The protobuf wire format: a bounds-checked reader of (field number, value) pairs.

use crate::DecodeError;

/// One encoded value, by wire type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireValue<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: strings, bytes, messages, packed lists.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

impl WireValue<'_> {
    /// The wire type number, for messages.
    pub(crate) fn wire_type(&self) -> u8 {
        match self {
            WireValue::Varint(_) => 0,
            WireValue::Fixed64(_) => 1,
            WireValue::Bytes(_) => 2,
            WireValue::Fixed32(_) => 5,
        }
    }
}

/// The fields of one message, in the order sent. Unknown fields are the caller's to skip.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    /// The fields encoded in `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn next_field(&mut self) -> Result<(u32, WireValue<'a>), DecodeError> {
        let key = varint(&mut self.buf)?;
        let wire_type = (key & 7) as u8;
        let number = key >> 3;
        if number == 0 {
            return Err(DecodeError::malformed(format!(
                "proto: illegal tag 0 (wire type {wire_type})"
            )));
        }
        // Field numbers stop at 2^29 - 1; a larger one is some field we do not know.
        let number = u32::try_from(number).unwrap_or(u32::MAX);
        let value = match wire_type {
            0 => WireValue::Varint(varint(&mut self.buf)?),
            1 => WireValue::Fixed64(u64::from_le_bytes(take_array(&mut self.buf)?)),
            2 => {
                let len = varint(&mut self.buf)?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|len| *len <= self.buf.len())
                    .ok_or_else(unexpected_eof)?;
                let (bytes, rest) = self.buf.split_at(len);
                self.buf = rest;
                WireValue::Bytes(bytes)
            }
            5 => WireValue::Fixed32(u32::from_le_bytes(take_array(&mut self.buf)?)),
            // 3 and 4 are the deprecated groups, which no Kubernetes message uses.
            other => {
                return Err(DecodeError::malformed(format!(
                    "proto: illegal wireType {other}"
                )));
            }
        };
        Ok((number, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, WireValue<'a>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let item = self.next_field();
        if item.is_err() {
            self.buf = &[];
        }
        Some(item)
    }
}

/// Reads one base-128 varint (at most ten bytes; bits past 64 are dropped, as Go does).
pub(crate) fn varint(buf: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&byte, rest) = buf.split_first().ok_or_else(unexpected_eof)?;
        *buf = rest;
        value |= u64::from(byte & 0x7f).wrapping_shl(7 * i);
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(DecodeError::malformed("proto: integer overflow"))
}

fn take_array<const N: usize>(buf: &mut &[u8]) -> Result<[u8; N], DecodeError> {
    let (head, rest) = buf.split_first_chunk::<N>().ok_or_else(unexpected_eof)?;
    *buf = rest;
    Ok(*head)
}

fn unexpected_eof() -> DecodeError {
    DecodeError::malformed("unexpected EOF")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_decode_and_overflow_is_refused() {
        assert_eq!(varint(&mut &[0x96, 0x01][..]).unwrap(), 150);
        let minus_one = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(varint(&mut &minus_one[..]).unwrap(), u64::MAX);
        assert!(varint(&mut &[0xff; 11][..]).is_err());
        assert!(varint(&mut &[0x80][..]).is_err());
        assert!(varint(&mut &[][..]).is_err());
    }

    #[test]
    fn fields_of_every_wire_type() {
        let buf = [
            0x08, 0x2a, // 1: varint 42
            0x11, 1, 0, 0, 0, 0, 0, 0, 0, // 2: fixed64 1
            0x1a, 0x02, b'h', b'i', // 3: bytes "hi"
            0x25, 2, 0, 0, 0, // 4: fixed32 2
        ];
        let fields: Vec<_> = Fields::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            fields,
            vec![
                (1, WireValue::Varint(42)),
                (2, WireValue::Fixed64(1)),
                (3, WireValue::Bytes(b"hi")),
                (4, WireValue::Fixed32(2)),
            ]
        );
    }

    #[test]
    fn malformed_input_is_an_error_then_the_end() {
        for bad in [
            &[0x1a, 0x05, b'a'][..],               // length past the end
            &[0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f], // huge length
            &[0x00, 0x01],                         // field 0
            &[0x0b],                               // a group
            &[0x11, 1, 2],                         // short fixed64
            &[0x08],                               // varint missing
        ] {
            let mut fields = Fields::new(bad);
            assert!(fields.next().unwrap().is_err(), "{bad:?}");
            assert!(fields.next().is_none());
        }
    }
}
