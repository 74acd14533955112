//! Rendering values inside error messages the way kube-apiserver (Go) renders them, so that
//! our messages are byte-for-byte the ones clients already know.

use std::fmt::Write as _;

use serde_json::Value;

/// A string quoted as Go's `%q` (`strconv.Quote`) quotes it: `"a\"b"`, `"\x01"`, `"\u200b"`.
///
/// Go keeps every printable rune and escapes the rest; Rust has no Unicode "printable" table,
/// so non-printable runes are recognised by approximation: control characters, whitespace
/// other than the ASCII space, private-use code points and the common format characters.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// Whether Go's `strconv.IsPrint` holds for `c` (approximated; see [`go_quote`]).
pub(crate) fn go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32,
        0xad
        | 0x600..=0x605
        | 0x61c
        | 0x6dd
        | 0x70f
        | 0x180e
        | 0x200b..=0x200f
        | 0x202a..=0x202e
        | 0x2060..=0x206f
        | 0xd800..=0xf8ff
        | 0xfeff
        | 0xfff9..=0xfffb
        | 0xe0001
        | 0xe0020..=0xe007f
        | 0xf0000..)
}

/// A list of strings as Go's `json.Marshal` writes a `[]string` (`null` for none, as Go
/// writes a nil slice), with its HTML-safe escaping of `<`, `>` and `&`.
pub(crate) fn go_json_strings(values: &[String]) -> String {
    if values.is_empty() {
        return "null".to_string();
    }
    let json = serde_json::to_string(values).unwrap_or_default();
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Several error messages joined as apimachinery's `utilerrors.Aggregate` joins them: one
/// message alone as is, several (duplicates dropped) as `[a, b]`. `None` for no error.
pub(crate) fn aggregate(messages: Vec<String>) -> Option<String> {
    let mut unique: Vec<String> = Vec::with_capacity(messages.len());
    for m in messages {
        if !unique.contains(&m) {
            unique.push(m);
        }
    }
    match unique.len() {
        0 => None,
        1 => unique.pop(),
        _ => Some(format!("[{}]", unique.join(", "))),
    }
}

/// The Go type kube-apiserver decodes a JSON value into, as `reflect.TypeOf(v)` prints it
/// (`%!s(<nil>)` for null, the way `%s` prints a nil type).
pub(crate) fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "%!s(<nil>)",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("abc"), r#""abc""#);
        assert_eq!(go_quote(""), r#""""#);
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\u{0}\u{1}\u{7f}"), r#""\x00\x01\x7f""#);
        assert_eq!(
            go_quote("\t\n\r\u{b}\u{c}\u{7}\u{8}"),
            r#""\t\n\r\v\f\a\b""#
        );
        assert_eq!(go_quote("é ü 日本"), "\"é ü 日本\"");
        assert_eq!(
            go_quote("\u{a0}\u{200b}\u{feff}"),
            r#""\u00a0\u200b\ufeff""#
        );
        assert_eq!(go_quote("\u{85}"), r#""\u0085""#);
        assert_eq!(go_quote("\u{f0000}"), r#""\U000f0000""#);
    }

    #[test]
    fn json_lists_like_go() {
        assert_eq!(go_json_strings(&[]), "null");
        assert_eq!(
            go_json_strings(&["a".to_string(), "<&>".to_string()]),
            r#"["a","\u003c\u0026\u003e"]"#
        );
    }

    #[test]
    fn aggregates_like_apimachinery() {
        assert_eq!(aggregate(vec![]), None);
        assert_eq!(aggregate(vec!["a".into()]), Some("a".into()));
        assert_eq!(aggregate(vec!["a".into(), "a".into()]), Some("a".into()));
        assert_eq!(
            aggregate(vec!["a".into(), "b".into(), "a".into()]),
            Some("[a, b]".into())
        );
    }

    #[test]
    fn values_print_like_go() {
        let v =
            serde_json::json!({"b": [1, "x", null, true], "a": {"c": 1.5}, "d": 1e6, "e": 1.5e-7});
        assert_eq!(
            crate::gofmt::value(&v),
            "map[a:map[c:1.5] b:[1 x <nil> true] d:1e+06 e:1.5e-07]"
        );
        assert_eq!(crate::gofmt::float(123456.5), "123456.5");
        assert_eq!(crate::gofmt::float(-1234567.5), "-1.2345675e+06");
        assert_eq!(crate::gofmt::float(0.0001), "0.0001");
        assert_eq!(go_type(&serde_json::json!(1)), "int64");
        assert_eq!(go_type(&serde_json::json!(1.0)), "float64");
        assert_eq!(go_type(&serde_json::json!(null)), "%!s(<nil>)");
    }
}
