//! Answer bodies: plain objects and lists, or Tables when kubectl asks for them.

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

fn include(query: &Query) -> IncludeObject {
    match query.include_object.as_deref() {
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        _ => IncludeObject::Metadata,
    }
}

/// A list answer: `<Kind>List` or a Table.
pub fn list(
    r: &ResourceInfo,
    items: Vec<Value>,
    revision: i64,
    continue_token: Option<String>,
    remaining: Option<i64>,
    format: Format,
    query: &Query,
) -> Value {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
    }
    if let Some(remaining) = remaining {
        metadata["remainingItemCount"] = json!(remaining);
    }
    match format {
        Format::Table => {
            let mut t = table::table(r, &items, include(query), jiff::Timestamp::now());
            t["metadata"] = metadata;
            t
        }
        Format::Object => json!({
            "kind": r.list_kind(),
            "apiVersion": r.api_version(),
            "metadata": metadata,
            "items": items,
        }),
    }
}

/// One object, or a one-row Table.
pub fn object(r: &ResourceInfo, obj: Value, format: Format, query: &Query) -> Value {
    match format {
        Format::Object => obj,
        Format::Table => {
            let rv = obj["metadata"]["resourceVersion"].clone();
            let mut t = table::table(
                r,
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
