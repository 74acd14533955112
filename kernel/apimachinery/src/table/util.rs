//! Reading objects as JSON, and the formatting helpers kube's printers share (ages, label maps,
//! label selectors, container lists).

use serde_json::{Map, Value};

use super::human_duration;

static NULL: Value = Value::Null;

/// The value at `path`, or null when any step is missing.
pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for key in path {
        match cur.get(key) {
            Some(next) => cur = next,
            None => return &NULL,
        }
    }
    cur
}

/// The string at `path`, or `""` (Go's zero value).
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    at(v, path).as_str().unwrap_or("")
}

/// The string at `path` if it is set (a Go `*string`).
pub(crate) fn opt_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).as_str()
}

/// The integer at `path` if it is set (a Go `*int32`).
pub(crate) fn opt_int(v: &Value, path: &[&str]) -> Option<i64> {
    let v = at(v, path);
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

/// The integer at `path`, or 0.
pub(crate) fn int_at(v: &Value, path: &[&str]) -> i64 {
    opt_int(v, path).unwrap_or(0)
}

/// The boolean at `path` if it is set (a Go `*bool`).
pub(crate) fn opt_bool(v: &Value, path: &[&str]) -> Option<bool> {
    at(v, path).as_bool()
}

/// The boolean at `path`, or false.
pub(crate) fn bool_at(v: &Value, path: &[&str]) -> bool {
    opt_bool(v, path).unwrap_or(false)
}

/// The array at `path`, or an empty slice.
pub(crate) fn arr_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path).as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// The object (map) at `path`, if any.
pub(crate) fn map_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    at(v, path).as_object()
}

/// The number of keys of the map at `path`.
pub(crate) fn map_len(v: &Value, path: &[&str]) -> i64 {
    map_at(v, path).map_or(0, |m| m.len() as i64)
}

/// Whether the field at `path` is set (present and not null): a Go pointer that is not nil.
pub(crate) fn is_set(v: &Value, path: &[&str]) -> bool {
    !at(v, path).is_null()
}

/// The object's name, as a cell.
pub(crate) fn name(o: &Value) -> Value {
    str_at(o, &["metadata", "name"]).into()
}

/// The annotation `key` of an object, if set.
pub(crate) fn annotation<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    map_at(o, &["metadata", "annotations"])?.get(key)?.as_str()
}

/// Whether the object is being deleted (`metadata.deletionTimestamp` is set).
pub(crate) fn deleting(o: &Value) -> bool {
    is_set(o, &["metadata", "deletionTimestamp"])
}

/// The time at `path` (RFC 3339, as `metav1.Time` and `metav1.MicroTime` are written), or
/// `None` when it is missing, unparsable or Go's zero time.
pub(crate) fn time(v: &Value, path: &[&str]) -> Option<jiff::Timestamp> {
    let t: jiff::Timestamp = at(v, path).as_str()?.parse().ok()?;
    // 0001-01-01T00:00:00Z, the zero `time.Time`, which kube treats as unset.
    (t.as_second() != -62_135_596_800 || t.subsec_nanosecond() != 0).then_some(t)
}

/// kube's `translateTimestampSince`: the [`human_duration`] from `t` to `now`, or `<unknown>`.
pub(crate) fn since(t: Option<jiff::Timestamp>, now: jiff::Timestamp) -> String {
    match t {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".into(),
    }
}

/// The AGE cell of an object.
pub(crate) fn age(o: &Value, now: jiff::Timestamp) -> Value {
    since(time(o, &["metadata", "creationTimestamp"]), now).into()
}

/// kube's `labels.FormatLabels`: `k1=v1,k2=v2` sorted by key, or `<none>`.
pub(crate) fn format_labels(map: Option<&Map<String, Value>>) -> String {
    let mut pairs: Vec<(&str, String)> = map
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), scalar(v)))
        .collect();
    if pairs.is_empty() {
        return "<none>".into();
    }
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A JSON scalar as text (strings without quotes).
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A `metav1.LabelSelector` as kube's `LabelSelectorAsSelector(…).String()`: requirements sorted
/// by key, `k=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`. Null and empty selectors print as
/// the empty string; a malformed one (unknown operator, wrong number of values) is an error.
pub(crate) fn selector_string(sel: &Value) -> Result<String, ()> {
    let mut reqs: Vec<(String, String)> = Vec::new();
    for (k, v) in sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        reqs.push((k.clone(), format!("{k}={}", scalar(v))));
    }
    for expr in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = str_at(expr, &["key"]);
        let mut values: Vec<String> = arr_at(expr, &["values"]).iter().map(scalar).collect();
        values.sort();
        let text = match str_at(expr, &["operator"]) {
            "In" | "NotIn" if values.is_empty() => return Err(()),
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" | "DoesNotExist" if !values.is_empty() => return Err(()),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return Err(()),
        };
        reqs.push((key.to_string(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reqs
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(","))
}

/// kube's `metav1.FormatLabelSelector`: the selector, `<none>` when it selects everything or
/// nothing, `<error>` when malformed.
pub(crate) fn format_label_selector(sel: &Value) -> String {
    match selector_string(sel) {
        Ok(s) if s.is_empty() => "<none>".into(),
        Ok(s) => s,
        Err(()) => "<error>".into(),
    }
}

/// kube's `layoutContainerCells`: the containers' names and images, each comma-separated.
pub(crate) fn containers(containers: &[Value]) -> (Value, Value) {
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, &["image"])).collect();
    (names.join(",").into(), images.join(",").into())
}

/// `True` or `False`, as kube's `printBool`.
pub(crate) fn print_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// An `IntOrString` as text (`intstr.String()`).
pub(crate) fn int_or_string(v: &Value) -> String {
    scalar(v)
}

/// kube's `listWithMoreString`: `a,b,c + 2 more...`, or `<unset>` for an empty list.
pub(crate) fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let joined = list.join(",");
    if more {
        return format!("{joined} + {} more...", count - max);
    }
    if joined.is_empty() {
        return "<unset>".into();
    }
    joined
}

/// The items of `items`, sorted and deduplicated (kube's `sets.String.List()`).
pub(crate) fn sorted_set(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = items.into_iter().collect();
    v.sort();
    v.dedup();
    v
}
