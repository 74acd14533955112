//! Field selectors: the grammar of the `fieldSelector` query parameter, and the fields each
//! resource lets clients select on, as kube-apiserver 1.35 has them.
//!
//! kube-apiserver decides two things per kind, in two places, and this module keeps both:
//!
//! 1. which field labels a request may name, and under which canonical name (the kind's
//!    field-label conversion function in `pkg/apis/<group>/<version>/conversion.go`; kinds
//!    without one accept only `metadata.name` and `metadata.namespace`, whatever their
//!    scope);
//! 2. what value each canonical field has in an object (the registry strategy's
//!    `ToSelectableFields`; a field that is accepted but never set there reads as `""`).

use std::fmt;

use serde_json::Value;

use super::SelectorError;
use crate::registry::ResourceInfo;
use crate::text::go_quote;

/// Where the value of a selectable field comes from in an object's JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// A string at a dotted path; `""` when absent.
    Str(&'static str),
    /// A boolean at a dotted path, printed `true`/`false`; `false` when absent.
    Bool(&'static str),
    /// An integer at a dotted path; `0` when absent.
    Int(&'static str),
    /// The first non-empty string among dotted paths; `""` when none.
    FirstOf(&'static [&'static str]),
    /// A pod's primary IP: `status.podIP`, else `status.podIPs[0].ip`, else `""`.
    PodIp,
    /// Accepted by the API but never populated upstream: always `""`.
    Unset,
}

impl Source {
    fn value(self, obj: &Value) -> String {
        match self {
            Source::Str(path) => scalar(lookup(obj, path), ""),
            Source::Bool(path) => scalar(lookup(obj, path), "false"),
            Source::Int(path) => scalar(lookup(obj, path), "0"),
            Source::FirstOf(paths) => paths
                .iter()
                .map(|p| scalar(lookup(obj, p), ""))
                .find(|v| !v.is_empty())
                .unwrap_or_default(),
            Source::PodIp => {
                let ip = scalar(lookup(obj, "status.podIP"), "");
                if !ip.is_empty() {
                    return ip;
                }
                let first = lookup(obj, "status.podIPs")
                    .and_then(|ips| ips.get(0))
                    .and_then(|ip| ip.get("ip"));
                scalar(first, "")
            }
            Source::Unset => String::new(),
        }
    }
}

/// The value at a dotted path of object keys.
fn lookup<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(obj, |v, key| v.get(key))
}

/// A JSON scalar as text (`missing` for an absent, null or non-scalar value).
fn scalar(v: Option<&Value>, missing: &str) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => missing.to_string(),
    }
}

/// One field label a resource accepts.
#[derive(Debug, PartialEq, Eq)]
struct Field {
    /// The label as a client writes it.
    label: &'static str,
    /// The label it stands for (differs for aliases such as pods' `spec.host`).
    canonical: &'static str,
    source: Source,
}

const fn field(label: &'static str, source: Source) -> Field {
    Field {
        label,
        canonical: label,
        source,
    }
}

const fn alias(label: &'static str, canonical: &'static str, source: Source) -> Field {
    Field {
        label,
        canonical,
        source,
    }
}

/// How a resource words the refusal of a field it does not accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// `field label not supported: X` (most kinds with their own conversion function).
    NotSupported,
    /// `field label "X" not supported for Job` (batch/v1 Job).
    Job,
    /// `"X" is not a known field selector: only "metadata.name", "metadata.namespace"`
    /// (every kind without its own conversion function).
    Default,
}

impl Refusal {
    fn message(self, label: &str) -> String {
        match self {
            Refusal::NotSupported => format!("field label not supported: {label}"),
            Refusal::Job => format!("field label {} not supported for Job", go_quote(label)),
            Refusal::Default => format!(
                "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                go_quote(label)
            ),
        }
    }
}

/// The fields one resource accepts.
struct Rules {
    fields: &'static [Field],
    refusal: Refusal,
}

impl Rules {
    fn find(&self, label: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.label == label)
    }
}

const NAME: Field = field("metadata.name", Source::Str("metadata.name"));
const NAMESPACE: Field = field("metadata.namespace", Source::Str("metadata.namespace"));

/// Kinds without a conversion function, namespaced.
static DEFAULT_NAMESPACED: Rules = Rules {
    fields: &[NAME, NAMESPACE],
    refusal: Refusal::Default,
};

/// Kinds without a conversion function, cluster-scoped: `metadata.namespace` is still
/// accepted, but such objects have no namespace field to select on, so it reads as `""`.
static DEFAULT_CLUSTER: Rules = Rules {
    fields: &[NAME, field("metadata.namespace", Source::Unset)],
    refusal: Refusal::Default,
};

/// core/v1 Pod.
static PODS: Rules = Rules {
    fields: &[
        NAME,
        NAMESPACE,
        field("spec.nodeName", Source::Str("spec.nodeName")),
        field("spec.restartPolicy", Source::Str("spec.restartPolicy")),
        field("spec.schedulerName", Source::Str("spec.schedulerName")),
        field(
            "spec.serviceAccountName",
            Source::Str("spec.serviceAccountName"),
        ),
        field("spec.hostNetwork", Source::Bool("spec.hostNetwork")),
        field("status.phase", Source::Str("status.phase")),
        field("status.podIP", Source::PodIp),
        field("status.podIPs", Source::Unset),
        field(
            "status.nominatedNodeName",
            Source::Str("status.nominatedNodeName"),
        ),
        // Old v1 clients' name for spec.nodeName.
        alias("spec.host", "spec.nodeName", Source::Str("spec.nodeName")),
    ],
    refusal: Refusal::NotSupported,
};

/// core/v1 Node (cluster-scoped; no `metadata.namespace`).
static NODES: Rules = Rules {
    fields: &[
        NAME,
        field("spec.unschedulable", Source::Bool("spec.unschedulable")),
    ],
    refusal: Refusal::NotSupported,
};

/// core/v1 Namespace (no `metadata.namespace`).
static NAMESPACES: Rules = Rules {
    fields: &[NAME, field("status.phase", Source::Str("status.phase"))],
    refusal: Refusal::NotSupported,
};

/// core/v1 Secret.
static SECRETS: Rules = Rules {
    fields: &[NAME, NAMESPACE, field("type", Source::Str("type"))],
    refusal: Refusal::NotSupported,
};

/// core/v1 Service.
static SERVICES: Rules = Rules {
    fields: &[
        NAME,
        NAMESPACE,
        field("spec.clusterIP", Source::Str("spec.clusterIP")),
        field("spec.type", Source::Str("spec.type")),
    ],
    refusal: Refusal::NotSupported,
};

/// core/v1 ReplicationController.
static REPLICATION_CONTROLLERS: Rules = Rules {
    fields: &[
        NAME,
        NAMESPACE,
        field("status.replicas", Source::Int("status.replicas")),
    ],
    refusal: Refusal::NotSupported,
};

/// core/v1 Event.
static CORE_EVENTS: Rules = Rules {
    fields: &[
        NAME,
        NAMESPACE,
        field("involvedObject.kind", Source::Str("involvedObject.kind")),
        field(
            "involvedObject.namespace",
            Source::Str("involvedObject.namespace"),
        ),
        field("involvedObject.name", Source::Str("involvedObject.name")),
        field("involvedObject.uid", Source::Str("involvedObject.uid")),
        field(
            "involvedObject.apiVersion",
            Source::Str("involvedObject.apiVersion"),
        ),
        field(
            "involvedObject.resourceVersion",
            Source::Str("involvedObject.resourceVersion"),
        ),
        field(
            "involvedObject.fieldPath",
            Source::Str("involvedObject.fieldPath"),
        ),
        field("reason", Source::Str("reason")),
        field("reportingComponent", Source::Str("reportingComponent")),
        field(
            "source",
            Source::FirstOf(&["source.component", "reportingComponent"]),
        ),
        field("type", Source::Str("type")),
    ],
    refusal: Refusal::NotSupported,
};

/// events.k8s.io/v1 Event: its own spellings, mapped to the core Event's field names.
static EVENTS_V1: Rules = Rules {
    fields: &[
        NAME,
        NAMESPACE,
        field("reason", Source::Str("reason")),
        alias(
            "regarding.kind",
            "involvedObject.kind",
            Source::Str("regarding.kind"),
        ),
        alias(
            "regarding.namespace",
            "involvedObject.namespace",
            Source::Str("regarding.namespace"),
        ),
        alias(
            "regarding.name",
            "involvedObject.name",
            Source::Str("regarding.name"),
        ),
        alias(
            "regarding.uid",
            "involvedObject.uid",
            Source::Str("regarding.uid"),
        ),
        alias(
            "regarding.apiVersion",
            "involvedObject.apiVersion",
            Source::Str("regarding.apiVersion"),
        ),
        alias(
            "regarding.resourceVersion",
            "involvedObject.resourceVersion",
            Source::Str("regarding.resourceVersion"),
        ),
        alias(
            "regarding.fieldPath",
            "involvedObject.fieldPath",
            Source::Str("regarding.fieldPath"),
        ),
        alias(
            "reportingController",
            "reportingComponent",
            Source::Str("reportingController"),
        ),
        field(
            "source",
            Source::FirstOf(&["deprecatedSource.component", "reportingController"]),
        ),
        field("type", Source::Str("type")),
    ],
    refusal: Refusal::NotSupported,
};

/// batch/v1 Job: `status.successful` is the count in `status.succeeded`.
static JOBS: Rules = Rules {
    fields: &[
        NAME,
        NAMESPACE,
        field("status.successful", Source::Int("status.succeeded")),
    ],
    refusal: Refusal::Job,
};

/// certificates.k8s.io/v1 CertificateSigningRequest (cluster-scoped).
static CSRS: Rules = Rules {
    fields: &[
        NAME,
        field("spec.signerName", Source::Str("spec.signerName")),
    ],
    refusal: Refusal::NotSupported,
};

/// The rules of a resource, by API group and plural name.
fn rules(resource: &ResourceInfo) -> &'static Rules {
    match (resource.group, resource.plural) {
        ("", "pods") => &PODS,
        ("", "nodes") => &NODES,
        ("", "namespaces") => &NAMESPACES,
        ("", "secrets") => &SECRETS,
        ("", "services") => &SERVICES,
        ("", "replicationcontrollers") => &REPLICATION_CONTROLLERS,
        ("", "events") => &CORE_EVENTS,
        ("events.k8s.io", "events") => &EVENTS_V1,
        ("batch", "jobs") => &JOBS,
        ("certificates.k8s.io", "certificatesigningrequests") => &CSRS,
        _ if resource.namespaced => &DEFAULT_NAMESPACED,
        _ => &DEFAULT_CLUSTER,
    }
}

/// The field labels a resource accepts in a field selector, as clients write them (aliases
/// included).
pub fn supported_fields(resource: &ResourceInfo) -> Vec<&'static str> {
    rules(resource).fields.iter().map(|f| f.label).collect()
}

/// The value a field selector compares for `field` (as a client writes it) in an object of
/// `resource`, or `None` when the resource does not accept that field.
///
/// A field missing from the object has the value kube gives it: `""` for strings (an
/// unscheduled pod's `spec.nodeName`), `false` for booleans, `0` for counts.
pub fn field_value(resource: &ResourceInfo, obj: &Value, field: &str) -> Option<String> {
    rules(resource).find(field).map(|f| f.source.value(obj))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldOp {
    Equals,
    NotEquals,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct FieldRequirement {
    field: &'static Field,
    op: FieldOp,
    value: String,
}

/// A field selector checked against one resource: `field=value` / `field==value` /
/// `field!=value` terms, all of which must hold. The empty selector matches everything.
///
/// Its `Display` is kube's string form after aliases are resolved (`spec.host=n` prints as
/// `spec.nodeName=n`), terms sorted, values escaped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses a field selector as apimachinery's `fields.ParseSelector` does and checks each
    /// field against what `resource` accepts, as kube-apiserver does before listing.
    ///
    /// Terms are separated by unescaped commas; each splits at its first `!=`, `==` or `=`.
    /// Nothing is trimmed (`a = b` names the field `a `). In values, `\,` `\=` and `\\` stand
    /// for `,` `=` and `\`; any other escape, or an unescaped `=`, is an error. Empty terms
    /// are skipped, so `""` and `","` select everything.
    pub fn parse(s: &str, resource: &ResourceInfo) -> Result<Self, SelectorError> {
        let mut terms = split_terms(s);
        terms.sort_unstable();
        let mut parsed = Vec::with_capacity(terms.len());
        for term in terms {
            if term.is_empty() {
                continue;
            }
            let Some((lhs, op, rhs)) = split_term(term) else {
                return Err(SelectorError::InvalidFieldSelector(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                )));
            };
            parsed.push((lhs, op, unescape(rhs)?));
        }
        let rules = rules(resource);
        let mut requirements = Vec::with_capacity(parsed.len());
        for (lhs, op, value) in parsed {
            let Some(field) = rules.find(lhs) else {
                return Err(SelectorError::UnsupportedField {
                    field: lhs.to_string(),
                    message: rules.refusal.message(lhs),
                });
            };
            requirements.push(FieldRequirement { field, op, value });
        }
        Ok(Self { requirements })
    }

    /// Whether the selector has no term, and so matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object (of the resource the selector was parsed for) satisfies every term.
    pub fn matches(&self, obj: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let value = r.field.source.value(obj);
            match r.op {
                FieldOp::Equals => value == r.value,
                FieldOp::NotEquals => value != r.value,
            }
        })
    }

    /// The value the selector requires a field to equal, if one of its `=` terms names that
    /// field (by its canonical name): lets a caller narrow a list, e.g. to one
    /// `metadata.name`, before matching.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.op == FieldOp::Equals && r.field.canonical == field)
            .map(|r| r.value.as_str())
    }
}

/// kube's string form: `field=value` and `field!=value` terms joined with `,`, canonical
/// field names, values escaped.
impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = match r.op {
                FieldOp::Equals => "=",
                FieldOp::NotEquals => "!=",
            };
            write!(f, "{}{op}{}", r.field.canonical, escape(&r.value))?;
        }
        Ok(())
    }
}

/// Splits at commas not preceded by a backslash (escapes are kept in the terms).
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Splits a term at the first `!=`, `==` or `=`, into field, operator and raw value.
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        if let Some(value) = rest.strip_prefix("!=") {
            return Some((&term[..i], FieldOp::NotEquals, value));
        }
        if let Some(value) = rest.strip_prefix("==") {
            return Some((&term[..i], FieldOp::Equals, value));
        }
        if let Some(value) = rest.strip_prefix('=') {
            return Some((&term[..i], FieldOp::Equals, value));
        }
    }
    None
}

/// Undoes `\\`, `\,` and `\=` in a value; refuses other escapes and bare `,` or `=`.
fn unescape(raw: &str) -> Result<String, SelectorError> {
    let invalid =
        |m: String| SelectorError::InvalidFieldSelector(format!("invalid field selector: {m}"));
    let mut out = String::with_capacity(raw.len());
    let mut escaped = false;
    for c in raw.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(invalid(format!("invalid escape sequence: \\{c}")));
            }
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' || c == '=' {
            // Go prints the rune as its number.
            return Err(invalid(format!(
                "unescaped character in value: {}",
                c as u32
            )));
        } else {
            out.push(c);
        }
    }
    if escaped {
        return Err(invalid("invalid escape sequence: \\".to_string()));
    }
    Ok(out)
}

/// Escapes `\`, `,` and `=` in a value so that it parses back.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
#[path = "field_tests.rs"]
mod tests;
