//! The messages whose JSON is not an object of their fields: their Go types marshal
//! themselves (`Time`, `MicroTime`, `IntOrString`, `Quantity`, `RawExtension`, `FieldsV1`,
//! `ExtraValue`). Each decoder reads the message's fields and writes what Go's `MarshalJSON`
//! writes for the value that kube's protobuf decoder makes of them.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;

use crate::DecodeError;
use crate::wire::{Fields, WireValue};

/// Seconds from the Unix epoch back to Go's zero time, 0001-01-01T00:00:00Z (`IsZero`).
const GO_ZERO_TIME: i64 = -62_135_596_800;

/// `meta/v1.Time`: kube keeps only the seconds ("our JSON only handled seconds"); an empty
/// message or the zero time is `null`.
pub(crate) fn time(bytes: &[u8]) -> Result<Option<Value>, DecodeError> {
    let Some((seconds, _nanos)) = timestamp(bytes)? else {
        return Ok(None);
    };
    format_time(seconds, 0, false)
}

/// `meta/v1.MicroTime`: nanoseconds truncated toward zero to microseconds, then written with
/// six fractional digits (`RFC3339Micro`); an empty message or the zero time is `null`.
pub(crate) fn micro_time(bytes: &[u8]) -> Result<Option<Value>, DecodeError> {
    let Some((seconds, nanos)) = timestamp(bytes)? else {
        return Ok(None);
    };
    let nanos = i64::from(nanos);
    format_time(seconds, nanos - nanos % 1000, true)
}

/// The {seconds = 1, nanos = 2} of a timestamp message; `None` when the message is empty.
fn timestamp(bytes: &[u8]) -> Result<Option<(i64, i32)>, DecodeError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let (mut seconds, mut nanos) = (0i64, 0i32);
    for item in Fields::new(bytes) {
        match item? {
            (1, WireValue::Varint(v)) => seconds = v as i64,
            (2, WireValue::Varint(v)) => nanos = v as i32,
            (1 | 2, other) => return Err(wrong_wire_type("Timestamp", other)),
            _ => {}
        }
    }
    Ok(Some((seconds, nanos)))
}

/// RFC 3339 in UTC, as Go writes `t.UTC().Format(time.RFC3339)` (`…Micro` with `micro`).
fn format_time(seconds: i64, nanos: i64, micro: bool) -> Result<Option<Value>, DecodeError> {
    let out_of_range = || DecodeError::malformed(format!("time out of range: {seconds}s"));
    let seconds = seconds
        .checked_add(nanos.div_euclid(1_000_000_000))
        .ok_or_else(out_of_range)?;
    let nanos = nanos.rem_euclid(1_000_000_000) as i32;
    if seconds == GO_ZERO_TIME && nanos == 0 {
        return Ok(None);
    }
    let t = Timestamp::new(seconds, nanos)
        .map_err(|_| out_of_range())?
        .to_zoned(TimeZone::UTC)
        .datetime();
    if t.year() < 0 {
        return Err(out_of_range());
    }
    let date = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    Ok(Some(Value::String(if micro {
        format!("{date}.{:06}Z", t.subsec_nanosecond() / 1000)
    } else {
        format!("{date}Z")
    })))
}

/// `intstr.IntOrString` {type = 1, intVal = 2, strVal = 3}: the number when type is 0 (also
/// for an empty message, the zero value), the string when 1.
pub(crate) fn int_or_string(bytes: &[u8]) -> Result<Value, DecodeError> {
    let (mut kind, mut int_val, mut str_val) = (0i64, 0i32, String::new());
    for item in Fields::new(bytes) {
        match item? {
            (1, WireValue::Varint(v)) => kind = v as i64,
            (2, WireValue::Varint(v)) => int_val = v as i32,
            (3, WireValue::Bytes(b)) => str_val = String::from_utf8_lossy(b).into_owned(),
            (1..=3, other) => return Err(wrong_wire_type("IntOrString", other)),
            _ => {}
        }
    }
    match kind {
        0 => Ok(Value::from(int_val)),
        1 => Ok(Value::String(str_val)),
        other => Err(DecodeError::malformed(format!(
            "impossible IntOrString.Type {other}"
        ))),
    }
}

/// `resource.Quantity` {string = 1}: the string, checked and canonicalised later exactly as a
/// JSON body's is; an empty message is the zero Quantity, `"0"`.
pub(crate) fn quantity(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut s = None;
    for item in Fields::new(bytes) {
        match item? {
            (1, WireValue::Bytes(b)) => s = Some(String::from_utf8_lossy(b).into_owned()),
            (1, other) => return Err(wrong_wire_type("Quantity", other)),
            _ => {}
        }
    }
    Ok(Value::String(s.unwrap_or_else(|| "0".to_string())))
}

/// `runtime.RawExtension` and `meta/v1.FieldsV1` {raw = 1}: `raw` holds JSON, written in
/// place; no (or empty) `raw` is `null`. Raw bytes that are not JSON are refused: Go would
/// fail to write the object as JSON.
pub(crate) fn raw_json(bytes: &[u8]) -> Result<Option<Value>, DecodeError> {
    let mut raw: &[u8] = &[];
    for item in Fields::new(bytes) {
        match item? {
            (1, WireValue::Bytes(b)) => raw = b,
            (1, other) => return Err(wrong_wire_type("RawExtension", other)),
            _ => {}
        }
    }
    if raw.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(raw)
        .map(Some)
        .map_err(|e| DecodeError::malformed(format!("raw is not JSON: {e}")))
}

/// A named `[]string` {items = 1 (repeated)}: the list.
pub(crate) fn string_list(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut items = Vec::new();
    for item in Fields::new(bytes) {
        match item? {
            (1, WireValue::Bytes(b)) => {
                items.push(Value::String(String::from_utf8_lossy(b).into_owned()))
            }
            (1, other) => return Err(wrong_wire_type("ExtraValue", other)),
            _ => {}
        }
    }
    Ok(Value::Array(items))
}

fn wrong_wire_type(message: &str, value: WireValue<'_>) -> DecodeError {
    DecodeError::malformed(format!(
        "proto: wrong wireType = {} for a field of {message}",
        value.wire_type()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A {seconds, nanos} message.
    fn ts(seconds: i64, nanos: i32) -> Vec<u8> {
        let mut out = vec![0x08];
        push_varint(&mut out, seconds as u64);
        out.push(0x10);
        push_varint(&mut out, nanos as i64 as u64);
        out
    }

    fn push_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    #[test]
    fn time_keeps_seconds_only_and_zero_is_null() {
        let t = time(&ts(1_704_164_645, 999_999_999)).unwrap();
        assert_eq!(t, Some(Value::from("2024-01-02T03:04:05Z")));
        assert_eq!(time(&[]).unwrap(), None);
        assert_eq!(time(&ts(GO_ZERO_TIME, 0)).unwrap(), None);
        assert_eq!(
            time(&ts(0, 0)).unwrap(),
            Some(Value::from("1970-01-01T00:00:00Z"))
        );
        assert!(time(&ts(i64::MAX, 0)).is_err());
        assert!(time(&ts(i64::MIN, 0)).is_err());
    }

    #[test]
    fn micro_time_truncates_to_microseconds() {
        let t = micro_time(&ts(1_704_164_645, 123_456_789)).unwrap();
        assert_eq!(t, Some(Value::from("2024-01-02T03:04:05.123456Z")));
        let t = micro_time(&ts(1_704_164_645, 0)).unwrap();
        assert_eq!(t, Some(Value::from("2024-01-02T03:04:05.000000Z")));
        // Negative nanoseconds borrow from the seconds, as Go's time.Unix does.
        let t = micro_time(&ts(1_704_164_645, -1_000)).unwrap();
        assert_eq!(t, Some(Value::from("2024-01-02T03:04:04.999999Z")));
        assert_eq!(micro_time(&[]).unwrap(), None);
    }

    #[test]
    fn int_or_string_by_type() {
        assert_eq!(int_or_string(&[]).unwrap(), Value::from(0));
        assert_eq!(int_or_string(&[0x10, 0x50]).unwrap(), Value::from(80));
        let s = [0x08, 0x01, 0x1a, 0x03, b'5', b'0', b'%'];
        assert_eq!(int_or_string(&s).unwrap(), Value::from("50%"));
        assert!(int_or_string(&[0x08, 0x02]).is_err());
        assert!(int_or_string(&[0x12, 0x00]).is_err());
    }

    #[test]
    fn quantity_raw_json_and_string_lists() {
        assert_eq!(quantity(&[]).unwrap(), Value::from("0"));
        assert_eq!(
            quantity(&[0x0a, 0x04, b'5', b'0', b'0', b'm']).unwrap(),
            Value::from("500m")
        );
        let raw = [&[0x0a, 0x07][..], br#"{"a":1}"#].concat();
        assert_eq!(raw_json(&raw).unwrap(), Some(serde_json::json!({"a": 1})));
        assert_eq!(raw_json(&[]).unwrap(), None);
        assert!(raw_json(&[0x0a, 0x01, b'{']).is_err());
        let list = [0x0a, 0x01, b'a', 0x0a, 0x00];
        assert_eq!(string_list(&list).unwrap(), serde_json::json!(["a", ""]));
    }
}
