//! Label selectors: the string grammar of the `labelSelector` query parameter and the
//! `metav1.LabelSelector` object, with kube's validation of keys and values.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use super::SelectorError;
use crate::text::{aggregate, go_json_strings, go_quote};

/// How a [`Requirement`] relates a label to its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key=value`: the label is present and equal to the value.
    Equals,
    /// `key==value`: the same as [`Operator::Equals`], kept apart so it prints back as written.
    DoubleEquals,
    /// `key!=value`: the label is absent or differs from the value.
    NotEquals,
    /// `key in (a,b)`: the label is present with one of the values.
    In,
    /// `key notin (a,b)`: the label is absent or has none of the values.
    NotIn,
    /// `key`: the label is present.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
    /// `key>3`: the label is present and, read as an integer, greater than the value.
    GreaterThan,
    /// `key<3`: the label is present and, read as an integer, less than the value.
    LessThan,
}

/// One condition of a label selector on one label key. A selector matches when all of its
/// requirements do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values (none for [`Operator::Exists`] and [`Operator::DoesNotExist`]); sorted and
    /// without duplicates when parsed from a string, as given when built from an object.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a set of labels, given by a lookup function, satisfies this requirement.
    fn matches_with<'a>(&self, get: &impl Fn(&str) -> Option<&'a str>) -> bool {
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                get(&self.key).is_some_and(has)
            }
            Operator::NotIn | Operator::NotEquals => !get(&self.key).is_some_and(has),
            Operator::Exists => get(&self.key).is_some(),
            Operator::DoesNotExist => get(&self.key).is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(label) = get(&self.key).and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let [bound] = self.values.as_slice() else {
                    return false;
                };
                let Ok(bound) = bound.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    label > bound
                } else {
                    label < bound
                }
            }
        }
    }

    /// Builds a requirement, checking it as apimachinery's `labels.NewRequirement` does; the
    /// error is its message (field paths `key`, `values`, `values[i]`, `values[i][key]`).
    fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, String> {
        let mut errs = Vec::new();
        let key_errs = crate::names::is_qualified_name(key);
        if !key_errs.is_empty() {
            errs.push(invalid("key", key, &key_errs.join("; ")));
        }
        match operator {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    errs.push(format!(
                        "values: Invalid value: {}: for 'in', 'notin' operators, values set can't be empty",
                        go_json_strings(&values)
                    ));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if values.len() != 1 {
                    errs.push(format!(
                        "values: Invalid value: {}: exact-match compatibility requires one single value",
                        go_json_strings(&values)
                    ));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    errs.push(format!(
                        "values: Invalid value: {}: values set must be empty for exists and does not exist",
                        go_json_strings(&values)
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(format!(
                        "values: Invalid value: {}: for 'Gt', 'Lt' operators, exactly one value is required",
                        go_json_strings(&values)
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(invalid(
                            &format!("values[{i}]"),
                            v,
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
        }
        for (i, v) in values.iter().enumerate() {
            let value_errs = crate::names::is_label_value(v);
            if !value_errs.is_empty() {
                errs.push(invalid(
                    &format!("values[{i}][{key}]"),
                    v,
                    &value_errs.join("; "),
                ));
            }
        }
        match aggregate(errs) {
            Some(message) => Err(message),
            None => Ok(Self {
                key: key.to_string(),
                operator,
                values,
            }),
        }
    }
}

/// kube's canonical form: `key=v`, `key==v`, `key!=v`, `key in (a,b)`, `key notin (a,b)`,
/// `key`, `!key`, `key>3`, `key<3`, several values printed sorted.
impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            Operator::Exists => return f.write_str(&self.key),
            Operator::DoesNotExist => return write!(f, "!{}", self.key),
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
        };
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        let values = if self.values.len() == 1 {
            self.values[0].clone()
        } else {
            let mut sorted = self.values.clone();
            sorted.sort();
            sorted.join(",")
        };
        if set {
            write!(f, "{}{op}({values})", self.key)
        } else {
            write!(f, "{}{op}{values}", self.key)
        }
    }
}

/// A label selector: requirements on an object's labels, all of which must hold. The empty
/// selector matches everything.
///
/// Built from the query-parameter string with [`LabelSelector::parse`], or from a
/// `metav1.LabelSelector` object with [`LabelSelector::from_json`]. Its `Display` is kube's
/// canonical string (requirements sorted by key), as in a Scale's `status.selector`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses the label selector grammar of kube's `labels.Parse`:
    ///
    /// ```text
    /// selector    ::= requirement | requirement "," selector
    /// requirement ::= [!] KEY [ ("in" | "notin") "(" VALUES ")" | ("=" | "==" | "!=" | ">" | "<") VALUE ]
    /// ```
    ///
    /// Whitespace (space, tab, CR, LF) separates tokens. Keys are `[prefix/]name` with a DNS
    /// subdomain prefix (≤ 253) and a name of ≤ 63 of `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`;
    /// values are empty or ≤ 63 of the same; `>`/`<` take an integer. The empty string (or
    /// only whitespace) selects everything. Errors read as kube-apiserver's, e.g.
    /// `unable to parse requirement: found '', expected: identifier`.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut parser = Parser {
            tokens: lex(s),
            pos: 0,
        };
        let mut requirements = parser
            .parse()
            .map_err(SelectorError::InvalidLabelSelector)?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements })
    }

    /// Builds the selector a `metav1.LabelSelector` object describes (as
    /// `metav1.LabelSelectorAsSelector` does): each `matchLabels` entry is `key=value`, each
    /// `matchExpressions` entry uses `In`, `NotIn`, `Exists` or `DoesNotExist`. An object with
    /// neither (`{}`) selects everything.
    ///
    /// `sel` must be a JSON object: a `null` selector means different things in different
    /// places (nothing, for most), so callers decide what it means before calling this.
    pub fn from_json(sel: &Value) -> Result<Self, SelectorError> {
        let bad = |m: &str| SelectorError::InvalidLabelSelector(m.to_string());
        let Some(obj) = sel.as_object() else {
            return Err(bad("label selector must be a JSON object"));
        };
        let mut requirements = Vec::new();
        match obj.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (key, value) in labels {
                    let Some(value) = value.as_str() else {
                        return Err(bad("matchLabels values must be strings"));
                    };
                    let r = Requirement::new(key, Operator::Equals, vec![value.to_string()])
                        .map_err(SelectorError::InvalidLabelSelector)?;
                    requirements.push(r);
                }
            }
            Some(_) => return Err(bad("matchLabels must be an object")),
        }
        match obj.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(exprs)) => {
                for expr in exprs {
                    requirements.push(expression(expr)?);
                }
            }
            Some(_) => return Err(bad("matchExpressions must be an array")),
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements })
    }

    /// Whether the selector has no requirement, and so matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether a set of labels satisfies every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let get = |k: &str| labels.get(k).map(String::as_str);
        self.requirements.iter().all(|r| r.matches_with(&get))
    }

    /// Whether an object's `metadata.labels` satisfy every requirement. An object without
    /// labels has none; a label whose value is not a string counts as absent.
    pub fn matches_object(&self, obj: &Value) -> bool {
        let labels = obj.get("metadata").and_then(|m| m.get("labels"));
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.requirements.iter().all(|r| r.matches_with(&get))
    }
}

/// One `matchExpressions` entry as a requirement.
fn expression(expr: &Value) -> Result<Requirement, SelectorError> {
    let bad = |m: &str| SelectorError::InvalidLabelSelector(m.to_string());
    if !expr.is_object() {
        return Err(bad("matchExpressions entries must be objects"));
    }
    let text = |field: &str| match expr.get(field) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s.as_str()),
        Some(_) => Err(bad(&format!("matchExpressions {field} must be a string"))),
    };
    let key = text("key")?;
    let operator = match text("operator")? {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => {
            return Err(bad(&format!(
                "{} is not a valid label selector operator",
                go_quote(other)
            )));
        }
    };
    let values = match expr.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(vs)) => vs
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("matchExpressions values must be strings"))?,
        Some(_) => return Err(bad("matchExpressions values must be an array")),
    };
    Requirement::new(key, operator, values).map_err(SelectorError::InvalidLabelSelector)
}

/// kube's canonical string: the requirements, sorted by key, joined with `,`; empty for
/// the selector that matches everything.
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// The same as [`LabelSelector::parse`].
impl FromStr for LabelSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

// ---------------------------------------------------------------------------------------
// Validation of keys and values (apimachinery's `IsLabelKey` / `IsLabelValue`).

// ---------------------------------------------------------------------------------------
// The lexer and parser, following the grammar and messages of apimachinery's `labels.Parse`.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    End,
    ClosePar,
    Comma,
    Bang,
    DoubleEquals,
    Equals,
    GreaterThan,
    Ident,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    tok: Tok,
    /// The text of the token (`""` for the end of the input), quoted in error messages.
    text: &'a str,
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits the input into tokens, ending with one `End`. As in kube's lexer, a NUL byte at
/// the start of a token ends the input, and one right after a token is skipped.
fn lex(s: &str) -> Vec<Token<'_>> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut tokens = Vec::new();
    loop {
        while pos < b.len() && is_whitespace(b[pos]) {
            pos += 1;
        }
        if pos >= b.len() || b[pos] == 0 {
            tokens.push(Token {
                tok: Tok::End,
                text: "",
            });
            return tokens;
        }
        let start = pos;
        let tok = if is_special(b[pos]) {
            let two = b.get(pos..pos + 2);
            if two == Some(b"!=") || two == Some(b"==") {
                pos += 2;
                if two == Some(b"!=") {
                    Tok::NotEquals
                } else {
                    Tok::DoubleEquals
                }
            } else {
                pos += 1;
                match b[start] {
                    b'=' => Tok::Equals,
                    b'!' => Tok::Bang,
                    b'(' => Tok::OpenPar,
                    b')' => Tok::ClosePar,
                    b',' => Tok::Comma,
                    b'>' => Tok::GreaterThan,
                    _ => Tok::LessThan,
                }
            }
        } else {
            while pos < b.len() && b[pos] != 0 && !is_special(b[pos]) && !is_whitespace(b[pos]) {
                pos += 1;
            }
            match &s[start..pos] {
                "in" => Tok::In,
                "notin" => Tok::NotIn,
                _ => Tok::Ident,
            }
        };
        // Token boundaries are ASCII bytes, so this slice is on character boundaries.
        let text = &s[start..pos];
        if pos < b.len() && b[pos] == 0 {
            pos += 1;
        }
        tokens.push(Token { tok, text });
    }
}

/// Where the parser is: reading a key and operator, or reading values (where `in` and
/// `notin` are ordinary identifiers).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn in_context(token: Token<'a>, ctx: Context) -> Token<'a> {
        match token.tok {
            Tok::In | Tok::NotIn if ctx == Context::Values => Token {
                tok: Tok::Ident,
                text: token.text,
            },
            _ => token,
        }
    }

    /// The current token, not consumed. Past the end, the final `End`.
    fn peek(&self, ctx: Context) -> Token<'a> {
        let i = self.pos.min(self.tokens.len() - 1);
        Self::in_context(self.tokens[i], ctx)
    }

    /// The current token, consumed.
    fn next(&mut self, ctx: Context) -> Token<'a> {
        let token = self.peek(ctx);
        self.pos += 1;
        token
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let t = self.peek(Context::Values);
            match t.tok {
                Tok::Ident | Tok::Bang => {
                    let r = self
                        .requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(r);
                    let t = self.next(Context::Values);
                    match t.tok {
                        Tok::End => return Ok(requirements),
                        Tok::Comma => {
                            let t2 = self.peek(Context::Values);
                            if t2.tok != Tok::Ident && t2.tok != Tok::Bang {
                                return Err(format!(
                                    "found '{}', expected: identifier after ','",
                                    t2.text
                                ));
                            }
                        }
                        _ => {
                            return Err(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                t.text
                            ));
                        }
                    }
                }
                Tok::End => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        t.text
                    ));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let (key, unary) = self.key_and_unary_operator()?;
        if let Some(op) = unary {
            return Requirement::new(key, op, Vec::new());
        }
        let op = self.operator()?;
        let values = match op {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => self.exact_value()?,
        };
        Requirement::new(key, op, values.into_iter().map(str::to_string).collect())
    }

    /// `[!] KEY`, and the operator when it is already known: `DoesNotExist` after `!`,
    /// `Exists` for a lone key.
    fn key_and_unary_operator(&mut self) -> Result<(&'a str, Option<Operator>), String> {
        let mut op = None;
        let mut t = self.next(Context::Values);
        if t.tok == Tok::Bang {
            op = Some(Operator::DoesNotExist);
            t = self.next(Context::Values);
        }
        if t.tok != Tok::Ident {
            return Err(format!("found '{}', expected: identifier", t.text));
        }
        let errs = crate::names::is_qualified_name(t.text);
        if !errs.is_empty() {
            return Err(invalid("<nil>", t.text, &errs.join("; ")));
        }
        if matches!(self.peek(Context::Values).tok, Tok::End | Tok::Comma) && op.is_none() {
            op = Some(Operator::Exists);
        }
        Ok((t.text, op))
    }

    fn operator(&mut self) -> Result<Operator, String> {
        let t = self.next(Context::KeyAndOperator);
        Ok(match t.tok {
            Tok::In => Operator::In,
            Tok::Equals => Operator::Equals,
            Tok::DoubleEquals => Operator::DoubleEquals,
            Tok::GreaterThan => Operator::GreaterThan,
            Tok::LessThan => Operator::LessThan,
            Tok::NotIn => Operator::NotIn,
            Tok::NotEquals => Operator::NotEquals,
            _ => {
                return Err(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    t.text
                ));
            }
        })
    }

    /// `( VALUES )`. An empty list, or an empty place in it, is the empty value.
    fn value_set(&mut self) -> Result<BTreeSet<&'a str>, String> {
        let t = self.next(Context::Values);
        if t.tok != Tok::OpenPar {
            return Err(format!("found '{}' expected: '('", t.text));
        }
        let t = self.peek(Context::Values);
        match t.tok {
            Tok::Ident | Tok::Comma => {
                let set = self.value_list()?;
                if self.next(Context::Values).tok != Tok::ClosePar {
                    return Err(format!("found '{}', expected: ')'", t.text));
                }
                Ok(set)
            }
            Tok::ClosePar => {
                self.next(Context::Values);
                Ok(BTreeSet::from([""]))
            }
            _ => Err(format!(
                "found '{}', expected: ',', ')' or identifier",
                t.text
            )),
        }
    }

    /// Comma-separated, possibly empty, values up to (not including) the closing `)`.
    fn value_list(&mut self) -> Result<BTreeSet<&'a str>, String> {
        let mut set = BTreeSet::new();
        loop {
            let t = self.next(Context::Values);
            match t.tok {
                Tok::Ident => {
                    set.insert(t.text);
                    let t2 = self.peek(Context::Values);
                    match t2.tok {
                        Tok::Comma => continue,
                        Tok::ClosePar => return Ok(set),
                        _ => return Err(format!("found '{}', expected: ',' or ')'", t2.text)),
                    }
                }
                Tok::Comma => {
                    if set.is_empty() {
                        set.insert("");
                    }
                    match self.peek(Context::Values).tok {
                        Tok::ClosePar => {
                            set.insert("");
                            return Ok(set);
                        }
                        Tok::Comma => {
                            set.insert("");
                        }
                        _ => {}
                    }
                }
                _ => return Err(format!("found '{}', expected: ',', or identifier", t.text)),
            }
        }
    }

    /// The one value after `=`, `==`, `!=`, `>` or `<`; empty when none follows.
    fn exact_value(&mut self) -> Result<BTreeSet<&'a str>, String> {
        if matches!(self.peek(Context::Values).tok, Tok::End | Tok::Comma) {
            return Ok(BTreeSet::from([""]));
        }
        let t = self.next(Context::Values);
        if t.tok == Tok::Ident {
            Ok(BTreeSet::from([t.text]))
        } else {
            Err(format!("found '{}', expected: identifier", t.text))
        }
    }
}

/// kube's field-error text for an invalid value.
fn invalid(path: &str, value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {}: {detail}", go_quote(value))
}

#[cfg(test)]
#[path = "label_tests.rs"]
mod tests;
