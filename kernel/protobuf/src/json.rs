//! Messages to JSON, field by field as the table says (see [`Card`] for what Go writes).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use crate::DecodeError;
use crate::schema::Msg;
use crate::table::{self, Card, Field, Shape, Ty};
use crate::well_known;
use crate::wire::{Fields, WireValue};

/// How many JSON values a body may decode to per byte, beyond [`BASE_VALUES`]. A Go client
/// sends at least two bytes for every value it decodes to, so one per byte is ample; a
/// crafted body of empty elements, each of which would stand for a whole zero-valued object,
/// is refused instead of making far more JSON than a JSON body of its size could.
const VALUES_PER_BYTE: usize = 1;

/// The JSON values every body may decode to, whatever its size.
const BASE_VALUES: usize = 4096;

/// The number of JSON values a decoding may still make.
struct Budget(usize);

impl Budget {
    fn spend(&mut self) -> Result<(), DecodeError> {
        self.0 = self.0.checked_sub(1).ok_or_else(|| {
            DecodeError::malformed("the body decodes to more than its size allows")
        })?;
        Ok(())
    }
}

/// Decodes a message that is a JSON object (every kind's top-level message is).
pub(crate) fn object(msg: Msg, bytes: &[u8]) -> Result<Map<String, Value>, DecodeError> {
    let b = &mut Budget(BASE_VALUES.saturating_add(bytes.len().saturating_mul(VALUES_PER_BYTE)));
    match message(b, msg, bytes)? {
        Some(Value::Object(map)) => Ok(map),
        _ => Err(DecodeError::malformed(
            "the kind's message is not an object",
        )),
    }
}

/// Decodes one message; `None` is Go's `null` (a zero `Time`, a nil `RawExtension`).
/// Recursion is bounded by the table, which has no cycles (a test checks), not by the body.
fn message(b: &mut Budget, msg: Msg, bytes: &[u8]) -> Result<Option<Value>, DecodeError> {
    b.spend()?;
    match table::shape(msg) {
        Shape::Struct(fields) => struct_fields(b, fields, bytes).map(|o| Some(Value::Object(o))),
        Shape::Time => well_known::time(bytes),
        Shape::MicroTime => well_known::micro_time(bytes),
        Shape::IntOrString => well_known::int_or_string(bytes).map(Some),
        Shape::Quantity => well_known::quantity(bytes).map(Some),
        Shape::RawJson => well_known::raw_json(bytes),
        Shape::StringList => well_known::string_list(bytes).map(Some),
    }
}

fn struct_fields(
    b: &mut Budget,
    fields: &'static [Field],
    bytes: &[u8],
) -> Result<Map<String, Value>, DecodeError> {
    let mut sent: Vec<Vec<WireValue<'_>>> = vec![Vec::new(); fields.len()];
    for item in Fields::new(bytes) {
        let (tag, value) = item?;
        // Fields this table does not know are skipped, as kube's generated decoders do.
        if let Ok(i) = fields.binary_search_by_key(&tag, |f| f.tag) {
            sent[i].push(value);
        }
    }
    let mut out = Map::new();
    for (field, values) in fields.iter().zip(&sent) {
        write_field(b, &mut out, field, values)?;
    }
    Ok(out)
}

fn write_field(
    b: &mut Budget,
    out: &mut Map<String, Value>,
    field: &Field,
    values: &[WireValue<'_>],
) -> Result<(), DecodeError> {
    let value = match (field.card, field.ty) {
        (Card::Repeated, ty) => list(b, field, ty, values)?,
        (Card::Map, ty) => map(b, field, ty, values)?,
        (Card::Inline, Ty::Message(msg)) => {
            let merged = merged_bytes(field, values)?;
            if let Some(Value::Object(members)) = message(b, msg, &merged)? {
                // A member of the outer struct wins over an inlined one of the same name.
                for (key, value) in members {
                    out.entry(key).or_insert(value);
                }
            }
            None
        }
        (Card::Optional, Ty::Message(_)) if values.is_empty() => None,
        (_, Ty::Message(msg)) => message(b, msg, &merged_bytes(field, values)?)?,
        (card, ty) => {
            let sent = values.last().map(|v| scalar(field, ty, *v)).transpose()?;
            match card {
                Card::Optional => sent,
                Card::OmitEmpty => sent.filter(|v| !is_zero(v)),
                _ => Some(sent.unwrap_or_else(|| zero(ty))),
            }
        }
    };
    if let Some(value) = value {
        b.spend()?;
        out.insert(field.json.to_string(), value);
    }
    Ok(())
}

/// A repeated field: each occurrence is one element, or for numbers and booleans possibly a
/// packed run of them.
fn list(
    b: &mut Budget,
    field: &Field,
    ty: Ty,
    values: &[WireValue<'_>],
) -> Result<Option<Value>, DecodeError> {
    let mut items = Vec::with_capacity(values.len());
    for &value in values {
        match (ty, value) {
            (Ty::Message(msg), value) => {
                let bytes = bytes_of(field, value)?;
                items.push(message(b, msg, bytes)?.unwrap_or(Value::Null));
            }
            (Ty::Int32 | Ty::Int64 | Ty::Bool, WireValue::Bytes(mut packed)) => {
                while !packed.is_empty() {
                    b.spend()?;
                    let v = crate::wire::varint(&mut packed)?;
                    items.push(scalar(field, ty, WireValue::Varint(v))?);
                }
            }
            (ty, value) => {
                b.spend()?;
                items.push(scalar(field, ty, value)?);
            }
        }
    }
    Ok((!items.is_empty()).then_some(Value::Array(items)))
}

/// A map field: each occurrence is an entry message {1: key, 2: value}; a later entry for the
/// same key wins, and a missing value is the value type's zero.
fn map(
    b: &mut Budget,
    field: &Field,
    ty: Ty,
    values: &[WireValue<'_>],
) -> Result<Option<Value>, DecodeError> {
    let mut entries = Map::new();
    for value in values {
        b.spend()?;
        let mut key = String::new();
        let mut entry_value = None;
        for item in Fields::new(bytes_of(field, *value)?) {
            match item? {
                (1, v) => key = string(field, v)?,
                (2, v) => entry_value = Some(v),
                _ => {}
            }
        }
        let value = match (ty, entry_value) {
            (Ty::Message(msg), v) => {
                let bytes = v.map(|v| bytes_of(field, v)).transpose()?.unwrap_or(&[]);
                message(b, msg, bytes)?.unwrap_or(Value::Null)
            }
            (ty, Some(v)) => scalar(field, ty, v)?,
            (ty, None) => zero(ty),
        };
        entries.insert(key, value);
    }
    Ok((!entries.is_empty()).then_some(Value::Object(entries)))
}

/// Every occurrence of a singular message field, concatenated: protobuf merges them.
fn merged_bytes<'a>(
    field: &Field,
    values: &[WireValue<'a>],
) -> Result<std::borrow::Cow<'a, [u8]>, DecodeError> {
    match values {
        [] => Ok(std::borrow::Cow::Borrowed(&[])),
        [one] => bytes_of(field, *one).map(std::borrow::Cow::Borrowed),
        many => {
            let mut all = Vec::new();
            for value in many {
                all.extend_from_slice(bytes_of(field, *value)?);
            }
            Ok(std::borrow::Cow::Owned(all))
        }
    }
}

fn scalar(field: &Field, ty: Ty, value: WireValue<'_>) -> Result<Value, DecodeError> {
    Ok(match (ty, value) {
        (Ty::String, v) => Value::String(string(field, v)?),
        (Ty::Bytes, v) => Value::String(STANDARD.encode(bytes_of(field, v)?)),
        // Go truncates a varint to the field's width.
        (Ty::Int32, WireValue::Varint(v)) => Value::from(v as i32),
        (Ty::Int64, WireValue::Varint(v)) => Value::from(v as i64),
        (Ty::Bool, WireValue::Varint(v)) => Value::Bool(v != 0),
        (_, v) => return Err(wrong_wire_type(field, v)),
    })
}

fn string(field: &Field, value: WireValue<'_>) -> Result<String, DecodeError> {
    Ok(String::from_utf8_lossy(bytes_of(field, value)?).into_owned())
}

fn bytes_of<'a>(field: &Field, value: WireValue<'a>) -> Result<&'a [u8], DecodeError> {
    match value {
        WireValue::Bytes(b) => Ok(b),
        v => Err(wrong_wire_type(field, v)),
    }
}

fn wrong_wire_type(field: &Field, value: WireValue<'_>) -> DecodeError {
    DecodeError::malformed(format!(
        "proto: wrong wireType = {} for field {}",
        value.wire_type(),
        if field.json.is_empty() {
            "(inline)"
        } else {
            field.json
        }
    ))
}

/// Go's zero value of a scalar type, as JSON.
fn zero(ty: Ty) -> Value {
    match ty {
        Ty::String | Ty::Bytes => Value::String(String::new()),
        Ty::Int32 | Ty::Int64 => Value::from(0),
        Ty::Bool => Value::Bool(false),
        Ty::Message(_) => Value::Null,
    }
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Bool(b) => !b,
        _ => false,
    }
}
