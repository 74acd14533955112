//! Server-side printing: the `meta.k8s.io/v1` `Table` that `kubectl get` asks for with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, and prints column by column.
//!
//! The columns and cells are kube-apiserver 1.35's (its `pkg/printers/internalversion` printers,
//! which the API server always runs in wide mode: the priority-1 columns are in every table and
//! kubectl hides them unless `-o wide`). Each printer reads the object as JSON and never fails:
//! a missing field prints as kube prints the field's zero value, after the defaults
//! kube-apiserver applies when it decodes a stored object (a Deployment without `replicas` shows
//! `0/1`).
//!
//! Printers are grouped by API group, one file each: `pod` and `core_v1` (core/v1), `events`
//! (core/v1 and `events.k8s.io`), `storage` (volumes, claims, storage classes), `apps`, `batch`,
//! `networking` (with `discovery.k8s.io`), `rbac`, `others` (coordination, policy, scheduling) and `modules` (kmicro's
//! `modules.kmicro.io`).

mod apps;
mod batch;
mod core_v1;
pub mod custom;
mod docs;
mod events;
mod modules;
mod networking;
mod others;
mod pod;
mod rbac;
mod storage;
mod util;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};

use crate::registry::ResourceInfo;

/// What each row carries besides its cells: the `includeObject` query parameter of a Table
/// request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// `None`: rows carry cells only.
    None,
    /// `Metadata` (the default): each row carries a `PartialObjectMetadata` with the object's
    /// metadata, which kubectl reads for the NAMESPACE column of `-A`.
    #[default]
    Metadata,
    /// `Object`: each row carries the whole object.
    Object,
}

impl std::str::FromStr for IncludeObject {
    type Err = String;

    /// The `includeObject` query value: `None`, `Metadata`, `Object`, or empty for the default.
    /// Anything else is an error whose text is kube's 400 message.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "None" => Ok(Self::None),
            "Metadata" | "" => Ok(Self::Metadata),
            "Object" => Ok(Self::Object),
            other => Err(format!("unrecognized includeObject value: {other:?}")),
        }
    }
}

/// The `Table` of `objects` (items of `resource`) as kube-apiserver 1.35 prints them, at time
/// `now` (ages and durations are relative to it).
///
/// The result is `{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{},
/// "columnDefinitions":[…],"rows":[{"cells":[…],"object":…}]}`; the caller fills
/// `metadata.resourceVersion` and `metadata.continue`. Resources kube prints with the default
/// table convertor (LimitRange) get its `Name` and `Created At` columns; a resource this module
/// does not know (a custom resource) gets the custom-resource default, `Name` and `Age` (a
/// custom resource with printer columns prints through [`custom::table`]).
pub fn table(
    resource: &ResourceInfo,
    objects: &[Value],
    include: IncludeObject,
    now: jiff::Timestamp,
) -> Value {
    let Some(printer) = printer_for(resource) else {
        return custom::table(&[], objects, include, now);
    };
    let columns: Vec<Value> = printer.columns.iter().map(Column::to_json).collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let conditions = printer.conditions.and_then(|f| f(object));
            row((printer.cells)(object, now), conditions, object, include)
        })
        .collect();
    assemble(columns, rows)
}

/// A `Table` of these columns and rows.
fn assemble(columns: Vec<Value>, rows: Vec<Value>) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// One row: its cells, its conditions if any, and what `include` asks of the object.
fn row(
    cells: Vec<Value>,
    conditions: Option<Value>,
    object: &Value,
    include: IncludeObject,
) -> Value {
    let mut row = Map::new();
    row.insert("cells".into(), Value::Array(cells));
    if let Some(conditions) = conditions {
        row.insert("conditions".into(), conditions);
    }
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            row.insert("object".into(), partial_object_metadata(object));
        }
        IncludeObject::Object => {
            row.insert("object".into(), object.clone());
        }
    }
    Value::Object(row)
}

/// kube's `duration.HumanDuration`: a duration with two or three significant figures, as AGE
/// cells show it (`5s`, `3m20s`, `45m`, `5h30m`, `20h`, `3d4h`, `45d`, `2y`, `3y120d`, `9y`).
///
/// Less than two seconds in the future (clock skew) prints `0s`; further in the future prints
/// `<invalid>`.
pub fn human_duration(d: jiff::SignedDuration) -> String {
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// One column of a table (a `TableColumnDefinition`).
pub(crate) struct Column {
    /// Header, as kube spells it (`Nominated Node`); kubectl upper-cases it.
    name: &'static str,
    /// OpenAPI type: `string`, `integer`, `boolean` or `date`.
    ty: &'static str,
    /// `name` for the column holding the object's name, else empty.
    format: &'static str,
    /// What the column shows.
    description: &'static str,
    /// 0: always shown; 1: shown by `kubectl get -o wide`.
    priority: u8,
}

impl Column {
    /// A priority-0 column.
    pub(crate) const fn new(
        name: &'static str,
        ty: &'static str,
        description: &'static str,
    ) -> Self {
        Self {
            name,
            ty,
            format: "",
            description,
            priority: 0,
        }
    }

    /// A priority-1 column (`-o wide`).
    pub(crate) const fn wide(
        name: &'static str,
        ty: &'static str,
        description: &'static str,
    ) -> Self {
        Self {
            name,
            ty,
            format: "",
            description,
            priority: 1,
        }
    }

    /// This column with `format: name`.
    pub(crate) const fn named(self) -> Self {
        Self {
            format: "name",
            ..self
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.ty,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// The `Name` column every printer starts with.
pub(crate) const NAME: Column = Column::new("Name", "string", docs::NAME).named();
/// The `Age` column of kube's printers (a `string` holding a [`human_duration`]).
pub(crate) const AGE: Column = Column::new("Age", "string", docs::CREATION_TIMESTAMP);

/// How one resource prints.
pub(crate) struct Printer {
    /// Column definitions, in cell order.
    pub(crate) columns: &'static [Column],
    /// The cells of one object's row, one per column.
    pub(crate) cells: fn(&Value, jiff::Timestamp) -> Vec<Value>,
    /// The row's `conditions`, for the resources whose printer sets them (pods).
    pub(crate) conditions: Option<fn(&Value) -> Option<Value>>,
}

impl Printer {
    /// A printer whose rows have no conditions.
    pub(crate) const fn new(
        columns: &'static [Column],
        cells: fn(&Value, jiff::Timestamp) -> Vec<Value>,
    ) -> Self {
        Self {
            columns,
            cells,
            conditions: None,
        }
    }
}

/// The printer of a resource: kube's dedicated one, else the default for built-in groups; `None`
/// for a custom resource, which prints with its definition's columns (see [`custom`]).
fn printer_for(resource: &ResourceInfo) -> Option<&'static Printer> {
    let found = match resource.group {
        "" => core_v1::printer(resource.plural)
            .or_else(|| pod::printer(resource.plural))
            .or_else(|| events::printer(resource.plural))
            .or_else(|| storage::printer(resource.plural)),
        "apps" => apps::printer(resource.plural),
        "batch" => batch::printer(resource.plural),
        "events.k8s.io" => events::printer_events_k8s_io(resource.plural),
        "networking.k8s.io" | "discovery.k8s.io" => {
            networking::printer(resource.group, resource.plural)
        }
        "storage.k8s.io" => storage::printer_storage_k8s_io(resource.plural),
        "rbac.authorization.k8s.io" => rbac::printer(resource.plural),
        "modules.kmicro.io" => modules::printer(resource.plural),
        _ => others::printer(resource.group, resource.plural),
    };
    match found {
        None if is_builtin_group(resource.group) => Some(&DEFAULT),
        found => found,
    }
}

/// Whether a group is served by kube-apiserver itself (its resources without a printer use the
/// generic default table convertor) rather than defined by a CustomResourceDefinition.
fn is_builtin_group(group: &str) -> bool {
    !group.contains('.') || group.ends_with(".k8s.io")
}

/// kube-apiserver's default table convertor (`rest.NewDefaultTableConvertor`), used by built-in
/// resources that have no printer, such as LimitRange: the name and the creation time in
/// RFC 3339, UTC.
static DEFAULT: Printer = Printer::new(
    &[
        NAME,
        Column::new("Created At", "date", docs::CREATION_TIMESTAMP),
    ],
    |o, _| {
        let created = util::time(o, &["metadata", "creationTimestamp"])
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
        vec![util::name(o), created.into()]
    },
);

/// `{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":…}` of an object.
fn partial_object_metadata(object: &Value) -> Value {
    let metadata = match object.get("metadata") {
        Some(m @ Value::Object(_)) => m.clone(),
        _ => Value::Object(Map::new()),
    };
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
    })
}
