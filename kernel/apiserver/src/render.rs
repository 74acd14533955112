//! Answer bodies: plain objects and lists, or Tables when kubectl asks for them.

use std::sync::Arc;

use bytes::Bytes;
use kmicro_apimachinery::crd::CustomResource;
use kmicro_apimachinery::registry::ResourceInfo;
use kmicro_apimachinery::table::{self, IncludeObject};
use serde_json::{Value, json};

use crate::query::Query;

/// How the client wants objects rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Objects as they are.
    Object,
    /// `meta.k8s.io/v1` Tables (server-side printing).
    Table,
}

impl Format {
    /// Chooses from the Accept header: a Table when any accepted media range asks for one.
    pub fn from_accept(accept: &str) -> Self {
        let table = accept.split(',').any(|range| {
            let params: Vec<String> = range
                .split(';')
                .map(|p| p.trim().replace(' ', ""))
                .collect();
            params.iter().any(|p| p == "as=Table")
                && params.iter().any(|p| p == "g=meta.k8s.io")
                && params.iter().any(|p| p == "v=v1" || p == "v=v1beta1")
        });
        if table { Format::Table } else { Format::Object }
    }
}

/// How a resource's objects print in Tables: kube's printer of a built-in resource, or the
/// printer columns of a custom resource version.
#[derive(Clone, Debug)]
pub enum Printer {
    /// A built-in resource.
    Builtin(&'static ResourceInfo),
    /// A served custom resource version.
    Custom(Arc<CustomResource>),
}

impl Printer {
    /// The resource printed.
    pub fn resource(&self) -> &'static ResourceInfo {
        match self {
            Printer::Builtin(r) => r,
            Printer::Custom(c) => c.info(),
        }
    }

    fn table(&self, objects: &[Value], include: IncludeObject, now: jiff::Timestamp) -> Value {
        match self {
            Printer::Builtin(r) => table::table(r, objects, include, now),
            Printer::Custom(c) => c.table(objects, include, now),
        }
    }
}

fn include(query: &Query) -> IncludeObject {
    match query.include_object.as_deref() {
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        _ => IncludeObject::Metadata,
    }
}

/// Writes a list answer (`<Kind>List` or a Table) piece by piece, so a large list is never
/// held in memory whole. JSON members are written items first and `metadata` last, because
/// the continue token is known only once the last item is read.
pub struct ListWriter {
    printer: Printer,
    format: Format,
    include: IncludeObject,
    now: jiff::Timestamp,
    first: bool,
}

impl ListWriter {
    /// A writer for lists of the resource `printer` prints, in `format`.
    pub fn new(printer: Printer, format: Format, query: &Query) -> Self {
        Self {
            printer,
            format,
            include: include(query),
            now: jiff::Timestamp::now(),
            first: true,
        }
    }

    /// The opening, up to the first item.
    pub fn head(&self) -> Bytes {
        let r = self.printer.resource();
        Bytes::from(match self.format {
            Format::Object => format!(
                "{{\"kind\":{},\"apiVersion\":{},\"items\":[",
                Value::from(r.list_kind()),
                Value::from(r.api_version())
            ),
            Format::Table => {
                let columns =
                    self.printer.table(&[], self.include, self.now)["columnDefinitions"].take();
                format!(
                    "{{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"columnDefinitions\":{columns},\"rows\":["
                )
            }
        })
    }

    /// The next items (or their rows), comma-separated from what came before.
    pub fn items(&mut self, items: &[Value]) -> Bytes {
        let mut out = Vec::new();
        let mut push = |out: &mut Vec<u8>, v: &Value| {
            if !self.first {
                out.push(b',');
            }
            self.first = false;
            let _ = serde_json::to_writer(&mut *out, v);
        };
        match self.format {
            Format::Object => items.iter().for_each(|item| push(&mut out, item)),
            Format::Table => {
                let mut t = self.printer.table(items, self.include, self.now);
                if let Value::Array(rows) = t["rows"].take() {
                    rows.iter().for_each(|row| push(&mut out, row));
                }
            }
        }
        Bytes::from(out)
    }

    /// The closing: the list's metadata.
    pub fn tail(
        &self,
        revision: i64,
        continue_token: Option<&str>,
        remaining: Option<i64>,
    ) -> Bytes {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if let Some(token) = continue_token {
            metadata["continue"] = json!(token);
        }
        if let Some(remaining) = remaining {
            metadata["remainingItemCount"] = json!(remaining);
        }
        Bytes::from(format!("],\"metadata\":{metadata}}}"))
    }
}

/// One object, or a one-row Table.
pub fn object(printer: &Printer, obj: Value, format: Format, query: &Query) -> Value {
    match format {
        Format::Object => obj,
        Format::Table => {
            let rv = obj["metadata"]["resourceVersion"].clone();
            let mut t = printer.table(
                std::slice::from_ref(&obj),
                include(query),
                jiff::Timestamp::now(),
            );
            t["metadata"] = json!({"resourceVersion": rv});
            t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_accept_header_selects_tables() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(Format::from_accept(kubectl), Format::Table);
        assert_eq!(Format::from_accept("application/json"), Format::Object);
        assert_eq!(Format::from_accept("*/*"), Format::Object);
    }
}
