//! Tables of custom resources: a `Name` column, then the version's `additionalPrinterColumns`
//! (each a JSONPath into the object, with its type, format, description and priority), or kube's
//! default `Age` column when the version has none, as kube-apiserver's custom resource table
//! convertor prints them.

use serde_json::{Value, json};

use super::{IncludeObject, assemble, docs, human_duration, row, util};
use crate::crd::jsonpath::JsonPath;
use crate::gofmt;

/// One printer column of a custom resource version.
#[derive(Clone, Debug, PartialEq)]
pub struct PrinterColumn {
    /// Header (`Replicas`).
    pub name: String,
    /// `integer`, `number`, `string`, `boolean` or `date`.
    pub ty: String,
    /// An OpenAPI format, or empty.
    pub format: String,
    /// The description, or kube's text naming the JSONPath.
    pub description: String,
    /// 0: always shown; more: shown by `kubectl get -o wide`.
    pub priority: i32,
    /// Where the value is; `None` when the path does not parse (the cells are empty).
    pub path: Option<JsonPath>,
}

impl PrinterColumn {
    /// A column as a CustomResourceDefinition declares it; `description` empty when unset.
    pub fn new(
        name: &str,
        ty: &str,
        format: &str,
        description: &str,
        priority: i32,
        json_path: &str,
    ) -> Self {
        let description = if description.is_empty() {
            format!("Custom resource definition column (in JSONPath format): {json_path}")
        } else {
            description.to_string()
        };
        Self {
            name: name.to_string(),
            ty: ty.to_string(),
            format: format.to_string(),
            description,
            priority,
            path: JsonPath::parse(json_path).ok(),
        }
    }

    /// kube's column for versions without printer columns.
    fn age() -> Self {
        Self {
            description: docs::CREATION_TIMESTAMP.to_string(),
            ..Self::new("Age", "date", "", "", 0, ".metadata.creationTimestamp")
        }
    }

    /// The cell of `object` in this column.
    fn cell(&self, object: &Value, now: jiff::Timestamp) -> Value {
        let Some(value) = self
            .path
            .as_ref()
            .and_then(|p| p.find(object).into_iter().next())
        else {
            return Value::Null;
        };
        match (self.ty.as_str(), value) {
            (_, Value::Null) => Value::Null,
            ("string", v) => Value::String(gofmt::value(v)),
            ("integer", Value::Number(n)) => match n.as_i64() {
                Some(i) => json!(i),
                None => n.as_f64().map_or(Value::Null, |f| json!(f as i64)),
            },
            ("number", Value::Number(n)) => n.as_f64().map_or(Value::Null, |f| json!(f)),
            ("boolean", Value::Bool(b)) => json!(b),
            ("date", Value::String(s)) => match s.parse::<jiff::Timestamp>() {
                // Go's zero time, 0001-01-01T00:00:00Z.
                Ok(t) if t.as_second() == -62_135_596_800 => json!("<unknown>"),
                Ok(t) => json!(human_duration(now.duration_since(t))),
                Err(_) => json!("<invalid>"),
            },
            _ => Value::Null,
        }
    }
}

/// The `Table` of custom resources with these printer columns (none: kube's `Age`).
pub fn table(
    columns: &[PrinterColumn],
    objects: &[Value],
    include: IncludeObject,
    now: jiff::Timestamp,
) -> Value {
    let default = [PrinterColumn::age()];
    let columns = if columns.is_empty() {
        &default[..]
    } else {
        columns
    };
    let mut definitions = vec![json!({
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": docs::NAME,
        "priority": 0,
    })];
    definitions.extend(columns.iter().map(|c| {
        json!({
            "name": c.name,
            "type": c.ty,
            "format": c.format,
            "description": c.description,
            "priority": c.priority,
        })
    }));
    let rows = objects
        .iter()
        .map(|object| {
            let mut cells = vec![util::name(object)];
            cells.extend(columns.iter().map(|c| c.cell(object, now)));
            row(cells, None, object, include)
        })
        .collect();
    assemble(definitions, rows)
}
