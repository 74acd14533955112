//! Value validation of custom resources: kube-openapi's schema checks as kube-apiserver reports
//! them (field errors named by the value's path, messages `<path> in body …`), then the two
//! structural checks kube adds: embedded resources (`apiVersion`, `kind`, `metadata`) and the
//! uniqueness of `x-kubernetes-list-type` `set` and `map` lists.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Map, Value};

use super::{Node, Schema, Trail, format};
use crate::gofmt;
use crate::rules::field::{Bad, Errors, Path};
use crate::rules::meta::{self, NameRule};
use crate::status::Cause;
use crate::text::go_quote;

/// One problem, with where it is (so an update can tell whether it was already there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The value the problem is about.
    pub at: Trail,
    /// The field error.
    pub cause: Cause,
}

impl Schema {
    /// Validates a pruned, defaulted custom resource: the schema's value checks, then embedded
    /// resources, then set and map lists. The root's `metadata` is the caller's to validate.
    pub fn validate(&self, obj: &Value) -> Vec<Finding> {
        value(&self.root, obj)
    }
}

/// Validates a value of `node` that is not a whole resource (a default).
pub(crate) fn value(node: &Node, value: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    let root = Trail::root();
    check(node, value, &root, &mut out);
    embedded(node, value, &root, &mut out);
    lists(node, value, &root, &mut out);
    out
}

/// Records the field errors `f` reports at `at`.
fn report(out: &mut Vec<Finding>, at: &Trail, f: impl FnOnce(&mut Errors, &Path)) {
    let mut errs = Errors::default();
    f(&mut errs, &Path::new(&at.to_string()));
    out.extend(errs.0.into_iter().map(|cause| Finding {
        at: at.clone(),
        cause,
    }));
}

/// The JSON type of a value, as kube-openapi names the type of decoded data.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The types a node accepts (none: anything).
fn expected(node: &Node) -> Vec<&'static str> {
    if node.int_or_string {
        vec!["integer", "string"]
    } else {
        node.ty.map(|t| vec![t.name()]).unwrap_or_default()
    }
}

/// Whether `value` has one of the `expected` types (an integral number is an integer, an
/// integer is a number).
fn type_ok(expected: &[&str], value: &Value) -> bool {
    let actual = json_type(value);
    expected.is_empty()
        || expected.contains(&actual)
        || (actual == "integer" && expected.contains(&"number"))
        || (actual == "number"
            && expected.contains(&"integer")
            && value.as_f64().is_some_and(|f| f.fract() == 0.0))
}

/// kube-openapi's validators of one value, in its order: type, composition, string, format,
/// number, array, enum, object.
fn check(node: &Node, value: &Value, at: &Trail, out: &mut Vec<Finding>) {
    let name = at.to_string();
    let types = expected(node);
    if value.is_null() {
        if !types.is_empty() && !node.nullable {
            report(out, at, |e, p| {
                e.type_invalid(
                    p,
                    "null",
                    &format!(
                        "{name} in body must be of type {}: \"null\"",
                        types.join(",")
                    ),
                )
            });
        }
        return;
    }
    if !type_ok(&types, value) {
        let actual = json_type(value);
        report(out, at, |e, p| {
            e.type_invalid(
                p,
                actual,
                &format!(
                    "{name} in body must be of type {}: {}",
                    types.join(","),
                    go_quote(actual)
                ),
            )
        });
        return;
    }
    compositions(node, value, at, &name, out);
    let c = &node.checks;
    match value {
        Value::String(s) => string_checks(node, s, at, &name, out),
        Value::Number(n) => {
            let v = n.as_f64().unwrap_or(0.0);
            if let Some(factor) = c.multiple_of
                && factor != 0.0
                && !is_multiple(v, factor)
            {
                invalid(
                    out,
                    at,
                    value,
                    &format!(
                        "{name} in body should be a multiple of {}",
                        gofmt::float(factor)
                    ),
                );
            }
            if let Some(max) = c.maximum {
                if c.exclusive_maximum && v >= max {
                    invalid(
                        out,
                        at,
                        value,
                        &format!("{name} in body should be less than {}", gofmt::float(max)),
                    );
                } else if v > max {
                    invalid(
                        out,
                        at,
                        value,
                        &format!(
                            "{name} in body should be less than or equal to {}",
                            gofmt::float(max)
                        ),
                    );
                }
            }
            if let Some(min) = c.minimum {
                if c.exclusive_minimum && v <= min {
                    invalid(
                        out,
                        at,
                        value,
                        &format!(
                            "{name} in body should be greater than {}",
                            gofmt::float(min)
                        ),
                    );
                } else if v < min {
                    invalid(
                        out,
                        at,
                        value,
                        &format!(
                            "{name} in body should be greater than or equal to {}",
                            gofmt::float(min)
                        ),
                    );
                }
            }
        }
        Value::Array(items) => {
            let len = items.len();
            if let Some(max) = c.max_items
                && len as i64 > max
            {
                report(out, at, |e, p| e.too_many(p, len, max as usize));
            }
            if let Some(min) = c.min_items
                && (len as i64) < min
            {
                report(out, at, |e, p| {
                    e.invalid(
                        p,
                        len,
                        &format!("{name} in body should have at least {min} items"),
                    )
                });
            }
            if let Some(item) = &node.items {
                for (i, v) in items.iter().enumerate() {
                    check(item, v, &at.index(i), out);
                }
            }
        }
        _ => {}
    }
    if !c.enumeration.is_empty() && !c.enumeration.iter().any(|e| json_eq(e, value)) {
        let supported: Vec<String> = c
            .enumeration
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        let supported: Vec<&str> = supported.iter().map(String::as_str).collect();
        report(out, at, |e, p| {
            e.not_supported(p, Bad::value(value), &supported)
        });
    }
    if let Value::Object(map) = value {
        object_checks(node, map, at, &name, out);
    }
}

/// Whether `v` is a multiple of `factor`, allowing for binary rounding (`0.3` of `0.1`).
fn is_multiple(v: f64, factor: f64) -> bool {
    let q = v / factor;
    (q - q.round()).abs() <= 1e-9 * q.abs().max(1.0)
}

fn invalid(out: &mut Vec<Finding>, at: &Trail, value: &Value, detail: &str) {
    report(out, at, |e, p| e.invalid(p, Bad::value(value), detail));
}

fn string_checks(node: &Node, s: &str, at: &Trail, name: &str, out: &mut Vec<Finding>) {
    let c = &node.checks;
    let chars = s.chars().count() as i64;
    if let Some(max) = c.max_length
        && chars > max
    {
        report(out, at, |e, p| e.too_long(p, max as usize));
    }
    if let Some(min) = c.min_length
        && chars < min
    {
        report(out, at, |e, p| {
            e.invalid(
                p,
                s,
                &format!("{name} in body should be at least {min} chars long"),
            )
        });
    }
    if let Some(pattern) = &c.pattern
        && !pattern.regex.is_match(s)
    {
        report(out, at, |e, p| {
            e.invalid(
                p,
                s,
                &format!("{name} in body should match '{}'", pattern.source),
            )
        });
    }
    if let Some(f) = &c.format
        && !format::valid(f, s)
    {
        report(out, at, |e, p| {
            e.type_invalid(
                p,
                s,
                &format!("{name} in body must be of type {f}: {}", go_quote(s)),
            )
        });
    }
}

fn object_checks(
    node: &Node,
    map: &Map<String, Value>,
    at: &Trail,
    name: &str,
    out: &mut Vec<Finding>,
) {
    let c = &node.checks;
    let len = map.len();
    if let Some(max) = c.max_properties
        && len as i64 > max
    {
        report(out, at, |e, p| e.too_many(p, len, max as usize));
    }
    if let Some(min) = c.min_properties
        && (len as i64) < min
    {
        report(out, at, |e, p| {
            e.invalid(
                p,
                "",
                &format!("{name} in body should have at least {min} properties"),
            )
        });
    }
    for key in &c.required {
        if !map.contains_key(key) {
            report(out, &at.key(key), |e, p| e.required(p, ""));
        }
    }
    for (key, v) in map {
        if let Some(child) = node.child(key) {
            check(child, v, &at.key(key), out);
        }
    }
}

/// `allOf`, `anyOf`, `oneOf` and `not`.
fn compositions(node: &Node, value: &Value, at: &Trail, name: &str, out: &mut Vec<Finding>) {
    let c = &node.checks;
    let run = |sub: &Node| {
        let mut found = Vec::new();
        check(sub, value, at, &mut found);
        found
    };
    let composite = |out: &mut Vec<Finding>, message: String| {
        report(out, at, |e, p| e.invalid(p, "", &message));
    };
    if !c.all_of.is_empty() {
        let mut valid = 0;
        for sub in &c.all_of {
            let found = run(sub);
            valid += usize::from(found.is_empty());
            out.extend(found);
        }
        if valid != c.all_of.len() {
            let none = if valid == 0 { ". None validated" } else { "" };
            composite(
                out,
                format!("{name} in body must validate all the schemas (allOf){none}"),
            );
        }
    }
    if !c.any_of.is_empty() {
        let results: Vec<Vec<Finding>> = c.any_of.iter().map(run).collect();
        if !results.iter().any(Vec::is_empty) {
            composite(
                out,
                format!("{name} in body must validate at least one schema (anyOf)"),
            );
            if let Some(best) = results.into_iter().min_by_key(Vec::len) {
                out.extend(best);
            }
        }
    }
    if !c.one_of.is_empty() {
        let results: Vec<Vec<Finding>> = c.one_of.iter().map(run).collect();
        let valid = results.iter().filter(|r| r.is_empty()).count();
        if valid != 1 {
            let detail = if valid == 0 {
                ". Found none valid".to_string()
            } else {
                format!(". Found {valid} valid alternatives")
            };
            composite(
                out,
                format!("{name} in body must validate one and only one schema (oneOf){detail}"),
            );
            if valid == 0
                && let Some(best) = results.into_iter().min_by_key(Vec::len)
            {
                out.extend(best);
            }
        }
    }
    if let Some(not) = &c.not
        && run(not).is_empty()
    {
        composite(
            out,
            format!("{name} in body must not validate the schema (not)"),
        );
    }
}

/// JSON equality with numbers compared by value (`1` equals `1.0`), as enum checks compare.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Embedded resources below `at` (kube's `schemaobjectmeta.Validate`): `apiVersion` and `kind`
/// required and well-formed, `metadata` valid `ObjectMeta`.
fn embedded(node: &Node, value: &Value, at: &Trail, out: &mut Vec<Finding>) {
    match value {
        Value::Object(map) => {
            if node.embedded {
                embedded_resource(map, at, out);
            }
            for (key, v) in map {
                if node.embedded && super::prune::RESOURCE_FIELDS.contains(&key.as_str()) {
                    continue;
                }
                if let Some(child) = node.child(key) {
                    embedded(child, v, &at.key(key), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = &node.items {
                for (i, v) in items.iter().enumerate() {
                    embedded(item, v, &at.index(i), out);
                }
            }
        }
        _ => {}
    }
}

fn embedded_resource(map: &Map<String, Value>, at: &Trail, out: &mut Vec<Finding>) {
    for key in ["apiVersion", "kind"] {
        if !map.contains_key(key) {
            report(out, &at.key(key), |e, p| e.required(p, "must not be empty"));
        }
    }
    if let Some(v) = map.get("apiVersion") {
        let at = at.key("apiVersion");
        match v.as_str() {
            None => report(out, &at, |e, p| {
                e.invalid(p, Bad::value(v), "must be a string")
            }),
            Some("") => report(out, &at, |e, p| e.invalid(p, "", "must not be empty")),
            Some(s) if s.matches('/').count() > 1 => report(out, &at, |e, p| {
                e.invalid(p, s, &format!("unexpected GroupVersion string: {s}"))
            }),
            Some(_) => {}
        }
    }
    if let Some(v) = map.get("kind") {
        let at = at.key("kind");
        match v.as_str() {
            None => report(out, &at, |e, p| {
                e.invalid(p, Bad::value(v), "must be a string")
            }),
            Some("") => report(out, &at, |e, p| e.invalid(p, "", "must not be empty")),
            Some(kind) => {
                let msgs = crate::names::is_dns1035_label(&kind.to_lowercase());
                if !msgs.is_empty() {
                    report(out, &at, |e, p| {
                        e.invalid(
                            p,
                            kind,
                            &format!(
                                "may have mixed case, but should otherwise match: {}",
                                msgs.join(",")
                            ),
                        )
                    });
                }
            }
        }
    }
    if let Some(v) = map.get("metadata") {
        let at = at.key("metadata");
        match serde_json::from_value::<ObjectMeta>(v.clone()) {
            Err(err) => report(out, &at, |e, p| {
                e.invalid(p, Bad::value(v), &err.to_string())
            }),
            Ok(mut m) => {
                if m.name.as_deref().unwrap_or("").is_empty() {
                    m.name = Some("fakename".into());
                }
                let namespaced = !m.namespace.as_deref().unwrap_or("").is_empty();
                let mut errs = Errors::default();
                meta::validate_object_meta(&m, namespaced, NameRule::PathSegment, &mut errs);
                // ObjectMeta validation names fields from `metadata`; here it sits at `at`.
                let prefix = at.to_string();
                for mut cause in errs.0 {
                    let rest = cause.field.strip_prefix("metadata").unwrap_or(&cause.field);
                    cause.field = format!("{prefix}{rest}");
                    out.push(Finding {
                        at: at.clone(),
                        cause,
                    });
                }
            }
        }
    }
}

/// `x-kubernetes-list-type: set` lists hold each value once; `map` lists each key once.
fn lists(node: &Node, value: &Value, at: &Trail, out: &mut Vec<Finding>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if let Some(child) = node.child(key) {
                    lists(child, v, &at.key(key), out);
                }
            }
        }
        Value::Array(items) => {
            match &node.list {
                super::ListType::Set => {
                    for (i, item) in items.iter().enumerate() {
                        if items[..i].iter().any(|earlier| json_eq(earlier, item)) {
                            report(out, &at.index(i), |e, p| e.duplicate(p, Bad::value(item)));
                        }
                    }
                }
                super::ListType::Map(keys) => {
                    let key_of = |item: &Value| -> Map<String, Value> {
                        keys.iter()
                            .filter_map(|k| item.get(k).map(|v| (k.clone(), v.clone())))
                            .collect()
                    };
                    for (i, item) in items.iter().enumerate() {
                        let key = key_of(item);
                        if items[..i].iter().any(|earlier| key_of(earlier) == key) {
                            report(out, &at.index(i), |e, p| e.duplicate(p, Bad::json(&key)));
                        }
                    }
                }
                super::ListType::Atomic => {}
            }
            if let Some(item) = &node.items {
                for (i, v) in items.iter().enumerate() {
                    lists(item, v, &at.index(i), out);
                }
            }
        }
        _ => {}
    }
}
