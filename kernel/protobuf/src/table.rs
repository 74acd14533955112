//! The shape of the generated field table ([`crate::schema`]) and lookups in it.
//!
//! A protobuf message says which fields were sent but not how Kubernetes writes them as JSON:
//! that is Go's `encoding/json` applied to the Go struct the message decodes into. [`Card`]
//! records, per field, what the Go type and its `json:` tag make of it, so a body decoded here
//! is the object a JSON body from the same client would have been.

use crate::schema::{KINDS, MESSAGES, Msg};

/// How a message becomes JSON.
#[derive(Clone, Copy)]
pub(crate) enum Shape {
    /// An object of its fields, sorted by tag.
    Struct(&'static [Field]),
    /// `meta/v1.Time` {seconds, nanos}: RFC 3339 to the second (kube drops the nanoseconds on
    /// decoding); the zero time is `null`.
    Time,
    /// `meta/v1.MicroTime` {seconds, nanos}: RFC 3339 with six fractional digits; zero is `null`.
    MicroTime,
    /// `intstr.IntOrString` {type, intVal, strVal}: a number (type 0) or a string (type 1).
    IntOrString,
    /// `resource.Quantity` {string}: the string (`"0"` when empty, as a zero Quantity).
    Quantity,
    /// `runtime.RawExtension` and `meta/v1.FieldsV1` {raw}: `raw` is JSON, embedded as is;
    /// absent is `null`.
    RawJson,
    /// A named `[]string` (authentication's and authorization's `ExtraValue`) {items}: the list.
    StringList,
}

/// One field of a [`Shape::Struct`] message.
pub(crate) struct Field {
    /// The protobuf field number.
    pub tag: u32,
    /// The JSON member name (empty for [`Card::Inline`]).
    pub json: &'static str,
    /// The value type (of each element for [`Card::Repeated`], of each value for [`Card::Map`]).
    pub ty: Ty,
    /// How the Go field is written in JSON.
    pub card: Card,
}

impl Field {
    /// A table entry.
    pub(crate) const fn new(tag: u32, json: &'static str, ty: Ty, card: Card) -> Self {
        Self {
            tag,
            json,
            ty,
            card,
        }
    }
}

/// A protobuf value type. The table holds no `double` or `float` field; generating one that
/// does fails to compile until this enum and the decoder learn it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    /// `string`: a JSON string (invalid UTF-8 replaced by U+FFFD, as Go's JSON encoder does).
    String,
    /// `bytes`: a base64 JSON string (Go writes `[]byte` so).
    Bytes,
    /// `int32` (varint, truncated to 32 bits as Go does).
    Int32,
    /// `int64` (varint).
    Int64,
    /// `bool` (varint, non-zero is true).
    Bool,
    /// An embedded message.
    Message(Msg),
}

/// What Go's JSON encoder does with a field, given its Go type and `json:` tag. A Go client
/// encodes every value field (non-pointer) in protobuf even when it is zero, so presence in the
/// body alone does not say whether the JSON would hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Card {
    /// A pointer: written when sent (zero included), left out otherwise.
    Optional,
    /// A scalar value with `omitempty`: written when sent and not zero.
    OmitEmpty,
    /// A value without `omitempty`, or any struct value (Go never omits a struct): always
    /// written, as its zero value when not sent (`""`, `0`, `false`, `{}`); a zero `Time` or a
    /// nil `RawExtension`, which Go writes as `null`, is left out.
    Always,
    /// An embedded struct with `json:",inline"`: its members are written into this object.
    Inline,
    /// A slice: a list when it has elements, left out when empty (Go writes `null` or nothing,
    /// which every reader takes as absent).
    Repeated,
    /// A `map[string]…`: an object when it has entries, left out when empty.
    Map,
}

/// A kind whose bodies can be decoded.
pub(crate) struct Kind {
    /// API group ("" for core).
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Its message.
    pub msg: Msg,
}

/// The message of a kind, if the table has it.
pub(crate) fn kind_message(group: &str, version: &str, kind: &str) -> Option<Msg> {
    KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.kind == kind)
        .map(|k| k.msg)
}

/// How a message becomes JSON.
pub(crate) fn shape(msg: Msg) -> Shape {
    MESSAGES[msg as usize]
}
