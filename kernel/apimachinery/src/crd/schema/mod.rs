//! A CustomResourceDefinition version's `openAPIV3Schema`, compiled once into a tree that does
//! to custom resources what kube-apiserver's structural schema does: prune unknown fields
//! ([`Schema::prune`]), apply defaults ([`Schema::apply_defaults`]) and validate values
//! ([`Schema::validate`]).
//!
//! The tree mirrors the schema: one [`Node`] per schema object, with its value checks (enum,
//! bounds, lengths, pattern, format, required, item and property counts) and the nested
//! value-validation schemas (`allOf`, `anyOf`, `oneOf`, `not`), which carry checks but no
//! structure. The schema is assumed valid (CustomResourceDefinition validation checked it);
//! compiling never panics on one that is not, it answers [`CompileError`].

mod default;
mod format;
mod prune;
mod trail;
mod validate;

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use serde_json::Value;

pub use trail::{Seg, Trail};
pub use validate::Finding;

/// A schema that could not be compiled (one CustomResourceDefinition validation refuses).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CompileError(pub String);

/// The compiled schema of one version of a custom resource.
#[derive(Debug)]
pub struct Schema {
    root: Node,
}

impl Schema {
    /// Compiles a version's `openAPIV3Schema`.
    pub fn compile(props: &JSONSchemaProps) -> Result<Self, CompileError> {
        Ok(Self {
            root: Node::compile(props)?,
        })
    }
}

/// Prunes `value`, a value of `node` (not a whole resource).
pub(crate) fn prune_value_of(node: &Node, value: &mut Value) {
    prune::prune_value(value, node);
}

/// Validates `value`, a value of `node` (not a whole resource), naming problems from it.
pub(crate) fn validate_value_of(node: &Node, value: &Value) -> Vec<Finding> {
    validate::value(node, value)
}

/// A JSON type a schema can declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Type {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
}

impl Type {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "object" => Self::Object,
            "array" => Self::Array,
            "string" => Self::String,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            _ => return None,
        })
    }

    /// The name in schemas and messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Object => "object",
            Self::Array => "array",
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
        }
    }
}

/// What a map (an object without `properties`) holds under any key.
#[derive(Debug)]
pub(crate) enum Additional {
    /// `additionalProperties` absent or `false`: no keys beyond the properties.
    None,
    /// `additionalProperties: true`: anything.
    Any,
    /// `additionalProperties: {schema}`.
    Schema(Box<Node>),
}

/// `x-kubernetes-list-type`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ListType {
    /// Replaced as a whole; duplicates allowed.
    Atomic,
    /// Scalars, each at most once.
    Set,
    /// Objects, unique by these keys.
    Map(Vec<String>),
}

/// A `pattern` with its compiled regular expression.
#[derive(Debug)]
pub(crate) struct Pattern {
    pub(crate) source: String,
    pub(crate) regex: regex::Regex,
}

/// The value checks of one schema node.
#[derive(Debug, Default)]
pub(crate) struct Checks {
    pub(crate) enumeration: Vec<Value>,
    pub(crate) maximum: Option<f64>,
    pub(crate) exclusive_maximum: bool,
    pub(crate) minimum: Option<f64>,
    pub(crate) exclusive_minimum: bool,
    pub(crate) multiple_of: Option<f64>,
    pub(crate) max_length: Option<i64>,
    pub(crate) min_length: Option<i64>,
    pub(crate) pattern: Option<Pattern>,
    pub(crate) format: Option<String>,
    pub(crate) max_items: Option<i64>,
    pub(crate) min_items: Option<i64>,
    pub(crate) max_properties: Option<i64>,
    pub(crate) min_properties: Option<i64>,
    pub(crate) required: Vec<String>,
    pub(crate) all_of: Vec<Node>,
    pub(crate) any_of: Vec<Node>,
    pub(crate) one_of: Vec<Node>,
    pub(crate) not: Option<Box<Node>>,
}

/// One schema node.
#[derive(Debug)]
pub(crate) struct Node {
    /// The declared type; `None` for int-or-string, untyped preserve-unknown nodes and the
    /// nested value-validation schemas.
    pub(crate) ty: Option<Type>,
    pub(crate) nullable: bool,
    pub(crate) int_or_string: bool,
    pub(crate) preserve_unknown: bool,
    pub(crate) embedded: bool,
    pub(crate) properties: BTreeMap<String, Node>,
    pub(crate) additional: Additional,
    pub(crate) items: Option<Box<Node>>,
    pub(crate) default: Option<Value>,
    pub(crate) list: ListType,
    pub(crate) checks: Checks,
}

impl Node {
    /// Compiles one schema object and everything below it.
    pub(crate) fn compile(p: &JSONSchemaProps) -> Result<Self, CompileError> {
        let ty = match p.type_.as_deref() {
            None | Some("") => None,
            Some(t) => Some(
                Type::parse(t).ok_or_else(|| CompileError(format!("unsupported type {t:?}")))?,
            ),
        };
        let mut properties = BTreeMap::new();
        for (name, prop) in p.properties.iter().flatten() {
            properties.insert(name.clone(), Node::compile(prop)?);
        }
        let additional = match &p.additional_properties {
            None | Some(JSONSchemaPropsOrBool::Bool(false)) => Additional::None,
            Some(JSONSchemaPropsOrBool::Bool(true)) => Additional::Any,
            Some(JSONSchemaPropsOrBool::Schema(s)) => {
                Additional::Schema(Box::new(Node::compile(s)?))
            }
        };
        let items = match &p.items {
            None => None,
            Some(JSONSchemaPropsOrArray::Schema(s)) => Some(Box::new(Node::compile(s)?)),
            Some(JSONSchemaPropsOrArray::Schemas(_)) => {
                return Err(CompileError(
                    "items must be a schema object and not an array".into(),
                ));
            }
        };
        let list = match p.x_kubernetes_list_type.as_deref() {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map(p.x_kubernetes_list_map_keys.clone().unwrap_or_default()),
            _ => ListType::Atomic,
        };
        let pattern = match &p.pattern {
            None => None,
            Some(source) => Some(Pattern {
                source: source.clone(),
                regex: regex::Regex::new(source).map_err(|e| CompileError(e.to_string()))?,
            }),
        };
        let nested = |list: &Option<Vec<JSONSchemaProps>>| -> Result<Vec<Node>, CompileError> {
            list.iter().flatten().map(Node::compile).collect()
        };
        let checks = Checks {
            enumeration: p.enum_.iter().flatten().map(|v| v.0.clone()).collect(),
            maximum: p.maximum,
            exclusive_maximum: p.exclusive_maximum.unwrap_or(false),
            minimum: p.minimum,
            exclusive_minimum: p.exclusive_minimum.unwrap_or(false),
            multiple_of: p.multiple_of,
            max_length: p.max_length,
            min_length: p.min_length,
            pattern,
            format: p.format.clone().filter(|f| !f.is_empty()),
            max_items: p.max_items,
            min_items: p.min_items,
            max_properties: p.max_properties,
            min_properties: p.min_properties,
            required: p.required.clone().unwrap_or_default(),
            all_of: nested(&p.all_of)?,
            any_of: nested(&p.any_of)?,
            one_of: nested(&p.one_of)?,
            not: match &p.not {
                Some(n) => Some(Box::new(Node::compile(n)?)),
                None => None,
            },
        };
        Ok(Self {
            ty,
            nullable: p.nullable.unwrap_or(false),
            int_or_string: p.x_kubernetes_int_or_string.unwrap_or(false),
            preserve_unknown: p.x_kubernetes_preserve_unknown_fields.unwrap_or(false),
            embedded: p.x_kubernetes_embedded_resource.unwrap_or(false),
            properties,
            additional,
            items,
            default: p.default.as_ref().map(|d| d.0.clone()),
            list,
            checks,
        })
    }

    /// The schema of the value under `key` of an object of this node, if it has one.
    pub(crate) fn child(&self, key: &str) -> Option<&Node> {
        match self.properties.get(key) {
            Some(prop) => Some(prop),
            None => match &self.additional {
                Additional::Schema(node) => Some(node),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests;
