//! The two ways a write changes managedFields: an update records what it changed; an apply
//! merges a configuration, owns exactly what it sets, removes what it stopped setting, and
//! stops at conflicts with other managers.

use serde_json::Value;

use super::fields::{Comparison, compare, field_set};
use super::managed::{ManagedFields, Manager, Operation, Requested};
use super::merge::{merge, remove};
use super::path::{PathElement, display};
use super::set::FieldSet;
use crate::schema::{SchemaRef, SchemaSet};

/// The manager kube credits with an object's fields when the first apply meets an object
/// that has no managedFields.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// Which part of an object a write may change, so which fields it can own (kube's reset
/// fields of each registry strategy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The whole object (kinds without a status subresource; the scale subresource).
    Whole,
    /// Everything but `status` (the main resource of a kind with a status subresource).
    NotStatus,
    /// Only `status` (the status subresource).
    Status,
}

impl Scope {
    fn filter(self, set: &FieldSet) -> FieldSet {
        let mut status = FieldSet::default();
        status.insert(&[PathElement::field("status")]);
        match self {
            Scope::Whole => set.clone(),
            Scope::NotStatus => set.without_subtrees(&status),
            Scope::Status => set.only_field("status"),
        }
    }

    fn filter_comparison(self, cmp: Comparison) -> Comparison {
        Comparison {
            added: self.filter(&cmp.added),
            modified: self.filter(&cmp.modified),
            removed: self.filter(&cmp.removed),
        }
    }
}

/// One write: against which schema, by whom, on what part of the object, at what time.
pub struct Write<'a> {
    /// The schemas.
    pub schemas: &'a SchemaSet,
    /// The kind's schema (`schemas.any()` for a kind without one).
    pub kind: SchemaRef,
    /// The writer's name, API version and subresource (its operation is the caller's).
    pub manager: &'a str,
    /// The request's API version (`apps/v1`).
    pub api_version: &'a str,
    /// The subresource written, or "".
    pub subresource: &'a str,
    /// What the write may change.
    pub scope: Scope,
    /// Now, in RFC 3339, for the entry's time.
    pub now: &'a str,
}

impl Write<'_> {
    fn manager(&self, operation: Operation) -> Manager {
        Manager {
            name: self.manager.to_string(),
            operation,
            api_version: self.api_version.to_string(),
            subresource: self.subresource.to_string(),
        }
    }

    /// The fields a change set gives its writer: no server-owned metadata, only its scope.
    fn owned(&self, set: &FieldSet) -> FieldSet {
        self.scope.filter(&set.difference(&server_fields()))
    }
}

/// One field another manager owns with a different value than an apply sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager, as kube names it (`"kubectl" with subresource "scale" using apps/v1`).
    pub manager: String,
    /// The field (`.spec.replicas`).
    pub field: String,
}

/// Why an apply failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Other managers own fields the configuration changes (409 Conflict without `force`).
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The configuration is not a valid object of its kind (kube: 500, "failed to create
    /// typed patch object").
    #[error("{0}")]
    Malformed(String),
    /// The configuration sets managedFields (400).
    #[error("metadata.managedFields must be nil")]
    ManagedFieldsSet,
}

/// kube's message for apply conflicts: one conflict inline, several grouped by manager.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager, only.field
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for manager in managers {
        lines.push(format!("conflicts with {manager}:"));
        for c in conflicts.iter().filter(|c| c.manager == manager) {
            lines.push(format!("- {}", c.field));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Records an update (create, update, patch) in `new`'s managedFields: the writer owns what
/// it changed from `live` (`None` for a create); others lose what it changed or removed.
///
/// `new` is the object about to be stored; the managedFields it carries are the client's:
/// absent or invalid ones keep the stored entries, `[]` or `[{}]` reset them, valid ones
/// replace them. Subresource writes always keep the stored entries.
pub fn record_update(write: &Write<'_>, live: Option<&Value>, new: &mut Value) {
    let stored = || {
        live.and_then(|l| ManagedFields::read(l).ok())
            .unwrap_or_default()
    };
    let mut managed = if write.subresource.is_empty() {
        match ManagedFields::requested(new) {
            Requested::Keep => stored(),
            Requested::Reset => ManagedFields::default(),
            Requested::Set(set) => set,
        }
    } else {
        stored()
    };
    let manager = write.manager(Operation::Update);
    update_fields(write, &manager, &mut managed, live, new);
    managed.tidy();
    managed.write(new);
}

/// The update bookkeeping shared by updates and the first apply to an untracked object.
fn update_fields(
    write: &Write<'_>,
    manager: &Manager,
    managed: &mut ManagedFields,
    live: Option<&Value>,
    new: &Value,
) {
    let cmp = write
        .scope
        .filter_comparison(compare(write.schemas, write.kind, live, new));
    let changed = cmp.added.union(&cmp.modified);
    for entry in &mut managed.entries {
        if entry.manager.api_version == write.api_version {
            entry.fields = entry.fields.difference(&changed).difference(&cmp.removed);
        }
    }
    let owned = write.owned(&changed);
    if !owned.is_empty() {
        let previous = managed
            .get(manager)
            .map(|e| e.fields.clone())
            .unwrap_or_default();
        managed.set(manager, previous.union(&owned), Some(write.now.to_string()));
    }
    managed.entries.retain(|e| !e.fields.is_empty());
}

/// Applies `config` over `live` (`None`: the object does not exist yet) and returns the
/// object to store, its managedFields updated. Without `force`, a field another manager owns
/// that the configuration changes is a conflict; with it, the applier takes the field over.
pub fn apply(
    write: &Write<'_>,
    live: Option<&Value>,
    config: &Value,
    force: bool,
) -> Result<Value, ApplyError> {
    if config
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(|m| !m.is_null())
    {
        return Err(ApplyError::ManagedFieldsSet);
    }
    let mut managed = live
        .and_then(|l| ManagedFields::read(l).ok())
        .unwrap_or_default();
    if let Some(live) = live
        && managed.entries.is_empty()
    {
        let before = Manager {
            name: BEFORE_FIRST_APPLY.into(),
            ..write.manager(Operation::Update)
        };
        update_fields(write, &before, &mut managed, None, live);
    }
    let schemas = write.schemas;
    let mut merged = merge(schemas, write.kind, live, config).map_err(ApplyError::Malformed)?;
    let applied =
        write.owned(&field_set(schemas, write.kind, config).map_err(ApplyError::Malformed)?);
    let applier = write.manager(Operation::Apply);
    let last = managed.get(&applier).cloned();
    managed.set(&applier, applied.clone(), None);

    // What this manager applied before and no manager (itself included) owns now goes.
    if let Some(last) = &last {
        for path in last.fields.paths() {
            if !managed.entries.iter().any(|e| e.fields.owns(&path)) {
                remove(&mut merged, &path);
            }
        }
    }

    let all = compare(schemas, write.kind, live, &merged);
    let changed_anything =
        !(all.added.is_empty() && all.modified.is_empty() && all.removed.is_empty());
    let cmp = write.scope.filter_comparison(all);
    let changed = cmp.added.union(&cmp.modified);
    let mut conflicts = Vec::new();
    for entry in managed.entries.iter_mut().filter(|e| !applier.is(e)) {
        if entry.manager.api_version != write.api_version {
            continue;
        }
        let contested = entry.fields.intersection(&changed);
        conflicts.extend(contested.paths().iter().map(|p| Conflict {
            manager: entry.manager.describe(),
            field: display(p),
        }));
        entry.fields = entry.fields.difference(&contested).difference(&cmp.removed);
    }
    if !force && !conflicts.is_empty() {
        return Err(ApplyError::Conflicts(conflicts));
    }
    let time = if changed_anything {
        Some(write.now.to_string())
    } else {
        last.and_then(|l| l.time)
    };
    managed.set(&applier, applied, time);
    managed.tidy();
    managed.write(&mut merged);
    Ok(merged)
}

/// Metadata the server owns, which no manager is credited with (kube's stripped fields).
fn server_fields() -> FieldSet {
    let mut set = FieldSet::default();
    set.insert(&[PathElement::field("apiVersion")]);
    set.insert(&[PathElement::field("kind")]);
    set.insert(&[PathElement::field("metadata")]);
    for field in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.insert(&[PathElement::field("metadata"), PathElement::field(field)]);
    }
    set
}
