//! The JSONPath subset of `additionalPrinterColumns` (kube's `k8s.io/client-go/util/jsonpath`
//! as custom resource tables use it): fields (`.spec.replicas`, `['a.b']`), indexes (`[0]`,
//! `[-1]`), wildcards (`[*]`, `.*`) and filters (`[?(@.type=="Ready")]`, `[?(@.ready)]`).
//! Missing keys yield no result rather than an error.

use serde_json::Value;

/// A parsed path.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonPath(Vec<Step>);

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    Wildcard,
    Filter(Filter),
}

#[derive(Clone, Debug, PartialEq)]
struct Filter {
    /// The path under `@`.
    path: Vec<String>,
    /// The comparison; none: the path exists (and is not false or null).
    compare: Option<(Op, Value)>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Why a path does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unrecognized JSONPath {0:?}")]
pub struct ParseError(String);

impl JsonPath {
    /// Parses a column's `jsonPath` (with or without the surrounding `{…}`).
    pub fn parse(src: &str) -> Result<Self, ParseError> {
        let err = || ParseError(src.to_string());
        let s = src.trim();
        let s = s
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or(s);
        let chars: Vec<char> = s.chars().collect();
        let mut steps = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    i += 1;
                    let start = i;
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        i += 1;
                    }
                    let name: String = chars[start..i].iter().collect();
                    match name.as_str() {
                        "" if i >= chars.len() && steps.is_empty() => {}
                        "" => return Err(err()),
                        "*" => steps.push(Step::Wildcard),
                        _ => steps.push(Step::Field(name)),
                    }
                }
                '[' => {
                    let close = find_close(&chars, i).ok_or_else(err)?;
                    let inner: String = chars[i + 1..close].iter().collect();
                    steps.push(bracket(inner.trim()).ok_or_else(err)?);
                    i = close + 1;
                }
                _ if i == 0 => {
                    // `metadata.name` without the leading dot.
                    let start = i;
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        i += 1;
                    }
                    steps.push(Step::Field(chars[start..i].iter().collect()));
                }
                _ => return Err(err()),
            }
        }
        Ok(Self(steps))
    }

    /// Every value the path selects in `root`, in order.
    pub fn find<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        let mut current = vec![root];
        for step in &self.0 {
            let mut next = Vec::new();
            for v in current {
                match step {
                    Step::Field(name) => next.extend(v.get(name)),
                    Step::Index(i) => {
                        if let Value::Array(items) = v {
                            let len = items.len() as i64;
                            let at = if *i < 0 { len + i } else { *i };
                            if (0..len).contains(&at) {
                                next.push(&items[at as usize]);
                            }
                        }
                    }
                    Step::Wildcard => match v {
                        Value::Array(items) => next.extend(items.iter()),
                        Value::Object(map) => next.extend(map.values()),
                        _ => {}
                    },
                    Step::Filter(filter) => {
                        if let Value::Array(items) = v {
                            next.extend(items.iter().filter(|item| filter.matches(item)));
                        }
                    }
                }
            }
            current = next;
        }
        current
    }
}

/// The index of the `]` closing the `[` at `open`, skipping quoted text.
fn find_close(chars: &[char], open: usize) -> Option<usize> {
    let mut quote = None;
    for (i, c) in chars.iter().enumerate().skip(open + 1) {
        match (quote, c) {
            (Some(q), c) if *c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(*c),
            (None, ']') => return Some(i),
            _ => {}
        }
    }
    None
}

fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    for q in ['\'', '"'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return Some(inner.to_string());
        }
    }
    None
}

fn bracket(inner: &str) -> Option<Step> {
    if inner == "*" {
        return Some(Step::Wildcard);
    }
    if let Some(key) = unquote(inner) {
        return Some(Step::Field(key));
    }
    if let Ok(i) = inner.parse::<i64>() {
        return Some(Step::Index(i));
    }
    let expr = inner.strip_prefix('?')?.trim();
    let expr = expr.strip_prefix('(')?.strip_suffix(')')?.trim();
    let ops = [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    let (lhs, compare) = match ops
        .iter()
        .find_map(|(sym, op)| expr.find(sym).map(|at| (at, *sym, *op)))
    {
        Some((at, sym, op)) => {
            let rhs = expr[at + sym.len()..].trim();
            let literal = match unquote(rhs) {
                Some(s) => Value::String(s),
                None => serde_json::from_str(rhs).ok()?,
            };
            (expr[..at].trim(), Some((op, literal)))
        }
        None => (expr, None),
    };
    let path = lhs.strip_prefix('@')?;
    let path: Vec<String> = path
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Some(Step::Filter(Filter { path, compare }))
}

impl Filter {
    fn matches(&self, item: &Value) -> bool {
        let found = self.path.iter().try_fold(item, |v, k| v.get(k));
        match (&self.compare, found) {
            (None, Some(v)) => !matches!(v, Value::Null | Value::Bool(false)),
            (None, None) => false,
            (Some((op, literal)), Some(v)) => compare(*op, v, literal),
            (Some((op, _)), None) => *op == Op::Ne,
        }
    }
}

fn compare(op: Op, v: &Value, literal: &Value) -> bool {
    let ordering = match (v, literal) {
        (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match op {
        Op::Eq => ordering.map_or(v == literal, |o| o.is_eq()),
        Op::Ne => ordering.map_or(v != literal, |o| o.is_ne()),
        Op::Lt => ordering.is_some_and(|o| o.is_lt()),
        Op::Le => ordering.is_some_and(|o| o.is_le()),
        Op::Gt => ordering.is_some_and(|o| o.is_gt()),
        Op::Ge => ordering.is_some_and(|o| o.is_ge()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn first(path: &str, v: &Value) -> Option<Value> {
        JsonPath::parse(path)
            .unwrap()
            .find(v)
            .first()
            .map(|v| (*v).clone())
    }

    #[test]
    fn printer_column_paths() {
        let obj = json!({
            "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
            "spec": {"replicas": 3, "ports": [{"port": 80}, {"port": 443}]},
            "status": {"conditions": [
                {"type": "Synced", "status": "True"},
                {"type": "Ready", "status": "False"},
            ]},
        });
        assert_eq!(first(".spec.replicas", &obj), Some(json!(3)));
        assert_eq!(first("{.spec.replicas}", &obj), Some(json!(3)));
        assert_eq!(first(".spec.ports[1].port", &obj), Some(json!(443)));
        assert_eq!(first(".spec.ports[-1].port", &obj), Some(json!(443)));
        assert_eq!(first(".spec.ports[*].port", &obj), Some(json!(80)));
        assert_eq!(
            first(".metadata.labels['app.kubernetes.io/name']", &obj),
            Some(json!("web"))
        );
        assert_eq!(
            first(r#".status.conditions[?(@.type=="Ready")].status"#, &obj),
            Some(json!("False"))
        );
        assert_eq!(first(".spec.missing", &obj), None);
        assert_eq!(first(".", &obj), Some(obj.clone()));
        assert!(JsonPath::parse(".spec[").is_err());
    }
}
