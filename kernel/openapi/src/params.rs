//! The parameters of API operations: path parameters and kube's query parameters, grouped the
//! way kube-apiserver declares them per verb (each group sorted by name, as kube writes them).

use std::borrow::Cow;

/// Where a parameter goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// A `{name}` segment of the path.
    Path,
    /// The query string.
    Query,
}

impl Location {
    /// The OpenAPI `in` value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Location::Path => "path",
            Location::Query => "query",
        }
    }
}

/// A parameter's value type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParamType {
    /// A string.
    String,
    /// An integer.
    Integer,
    /// `true` or `false`.
    Boolean,
}

impl ParamType {
    /// The OpenAPI `type` value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Boolean => "boolean",
        }
    }
}

/// One parameter of an operation or a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Param {
    /// Its name.
    pub name: &'static str,
    /// Path or query.
    pub location: Location,
    /// Its value type.
    pub kind: ParamType,
    /// What it does.
    pub description: Cow<'static, str>,
}

impl Param {
    /// Whether the parameter must be given (path parameters must).
    pub(crate) fn required(&self) -> bool {
        self.location == Location::Path
    }
}

const fn query(name: &'static str, kind: ParamType, description: &'static str) -> Param {
    Param {
        name,
        location: Location::Query,
        kind,
        description: Cow::Borrowed(description),
    }
}

const ALLOW_WATCH_BOOKMARKS: Param = query(
    "allowWatchBookmarks",
    ParamType::Boolean,
    "Requests watch events of type BOOKMARK. The server sends them at its discretion; clients must not rely on their timing. Ignored unless this is a watch.",
);
const CONTINUE: Param = query(
    "continue",
    ParamType::String,
    "The continue token of a previous list answer, to fetch its next page; the other parameters must be the same as in that request. An expired token is answered 410 Gone. Not supported with watch.",
);
const DRY_RUN: Param = query(
    "dryRun",
    ParamType::String,
    "When present, the request is fully processed but nothing is persisted. The only valid value is All.",
);
const FIELD_MANAGER: Param = query(
    "fieldManager",
    ParamType::String,
    "The name of the actor making the change, as recorded in managedFields: at most 128 printable characters.",
);
const FIELD_MANAGER_PATCH: Param = query(
    "fieldManager",
    ParamType::String,
    "The name of the actor making the change, as recorded in managedFields: at most 128 printable characters. Required for apply patches (application/apply-patch+yaml), optional for the other patch types.",
);
const FIELD_SELECTOR: Param = query(
    "fieldSelector",
    ParamType::String,
    "A selector restricting the objects by their fields. Defaults to everything.",
);
const FIELD_VALIDATION: Param = query(
    "fieldValidation",
    ParamType::String,
    "What to do with unknown or duplicate fields in the request body: Ignore (drop them silently), Warn (drop them and say so in a Warning header; the default), or Strict (fail the request with BadRequest, naming every such field).",
);
const FORCE: Param = query(
    "force",
    ParamType::Boolean,
    "Forces an apply patch: the applier takes over fields that conflict with other managers. Must be unset for the other patch types.",
);
const GRACE_PERIOD_SECONDS: Param = query(
    "gracePeriodSeconds",
    ParamType::Integer,
    "Seconds to wait before the object is deleted; zero deletes at once. When unset, the kind's default applies.",
);
const IGNORE_STORE_READ_ERROR: Param = query(
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    ParamType::Boolean,
    "If true, an object that cannot be read from storage (it cannot be decoded) is removed anyway, skipping finalizers and preconditions. Unsafe: use only when nothing else works. Defaults to false.",
);
const LABEL_SELECTOR: Param = query(
    "labelSelector",
    ParamType::String,
    "A selector restricting the objects by their labels. Defaults to everything.",
);
const LIMIT: Param = query(
    "limit",
    ParamType::Integer,
    "The most objects one list answer holds; when more exist, the answer's metadata.continue fetches the next page. Pages together show one consistent snapshot. Not supported with watch.",
);
const ORPHAN_DEPENDENTS: Param = query(
    "orphanDependents",
    ParamType::Boolean,
    "Deprecated: use propagationPolicy. Whether the dependents are orphaned. Either this or propagationPolicy may be set, not both.",
);
const PRETTY: Param = query(
    "pretty",
    ParamType::String,
    "If 'true', the output is pretty printed.",
);
const PROPAGATION_POLICY: Param = query(
    "propagationPolicy",
    ParamType::String,
    "Whether and how dependents are garbage collected: Orphan (leave them), Background (delete them after the owner), or Foreground (delete them before the owner).",
);
const RESOURCE_VERSION: Param = query(
    "resourceVersion",
    ParamType::String,
    "Constrains which resource version the request is served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions.",
);
const RESOURCE_VERSION_MATCH: Param = query(
    "resourceVersionMatch",
    ParamType::String,
    "How resourceVersion applies to a list: Exact or NotOlderThan. Recommended whenever resourceVersion is set. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions.",
);
const SEND_INITIAL_EVENTS: Param = query(
    "sendInitialEvents",
    ParamType::Boolean,
    "With watch=true: the stream begins with a synthetic ADDED event per existing object, then a BOOKMARK annotated \"k8s.io/initial-events-end\": \"true\" at the resource version of that state. Requires resourceVersionMatch=NotOlderThan.",
);
const TIMEOUT_SECONDS: Param = query(
    "timeoutSeconds",
    ParamType::Integer,
    "Timeout for the list or watch call, whatever the activity.",
);
const WATCH: Param = query(
    "watch",
    ParamType::Boolean,
    "Watch for changes to the described resources and stream them as added, modified and deleted events. Specify resourceVersion.",
);

/// `pretty`, on every path.
pub(crate) fn pretty() -> Param {
    PRETTY
}

/// The `{name}` path parameter of one `kind`.
pub(crate) fn name(kind: &str) -> Param {
    Param {
        name: "name",
        location: Location::Path,
        kind: ParamType::String,
        description: Cow::Owned(format!("name of the {kind}")),
    }
}

/// The `{namespace}` path parameter.
pub(crate) fn namespace() -> Param {
    Param {
        name: "namespace",
        location: Location::Path,
        kind: ParamType::String,
        description: Cow::Borrowed("The namespace of the objects; a namespace name."),
    }
}

/// The parameters of list and watch.
pub(crate) fn list() -> Vec<Param> {
    vec![
        ALLOW_WATCH_BOOKMARKS,
        CONTINUE,
        FIELD_SELECTOR,
        LABEL_SELECTOR,
        LIMIT,
        RESOURCE_VERSION,
        RESOURCE_VERSION_MATCH,
        SEND_INITIAL_EVENTS,
        TIMEOUT_SECONDS,
        WATCH,
    ]
}

/// The parameters of create (POST) and replace (PUT).
pub(crate) fn write() -> Vec<Param> {
    vec![DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION]
}

/// The parameters of PATCH.
pub(crate) fn patch() -> Vec<Param> {
    vec![DRY_RUN, FIELD_MANAGER_PATCH, FIELD_VALIDATION, FORCE]
}

/// The parameters of deleting one object.
pub(crate) fn delete() -> Vec<Param> {
    vec![
        DRY_RUN,
        GRACE_PERIOD_SECONDS,
        IGNORE_STORE_READ_ERROR,
        ORPHAN_DEPENDENTS,
        PROPAGATION_POLICY,
    ]
}

/// The parameters of deleting a collection: a delete's and a list's, without the watch ones.
pub(crate) fn delete_collection() -> Vec<Param> {
    vec![
        CONTINUE,
        DRY_RUN,
        FIELD_SELECTOR,
        GRACE_PERIOD_SECONDS,
        IGNORE_STORE_READ_ERROR,
        LABEL_SELECTOR,
        LIMIT,
        ORPHAN_DEPENDENTS,
        PROPAGATION_POLICY,
        RESOURCE_VERSION,
        RESOURCE_VERSION_MATCH,
        SEND_INITIAL_EVENTS,
        TIMEOUT_SECONDS,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_sorted_and_unique() {
        for group in [list(), write(), patch(), delete(), delete_collection()] {
            let names: Vec<&str> = group.iter().map(|p| p.name).collect();
            assert!(names.is_sorted_by(|a, b| a < b), "{names:?}");
        }
        assert!(name("Pod").required() && !pretty().required());
    }
}
