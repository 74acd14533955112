//! The names and conditions of CustomResourceDefinitions: what kube's naming and establishing
//! controllers write into `status` (`acceptedNames`, `NamesAccepted`, `Established`).
//!
//! A requested name is accepted when it is the one already accepted, or when no other
//! definition of the same group has accepted it: plural, singular and short names share one
//! namespace, kinds and list kinds another. A conflicting name keeps the previously accepted
//! one and makes `NamesAccepted` false with kube's reason (`PluralConflict`, …) and message
//! (`"foos" is already in use`). Once the names are accepted the definition is established (the
//! API server serves it from then on); an established definition stays established.

use std::collections::HashSet;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionCondition, CustomResourceDefinitionNames,
    CustomResourceDefinitionStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The condition saying whether the names are accepted.
pub const NAMES_ACCEPTED: &str = "NamesAccepted";
/// The condition saying whether the resource is served.
pub const ESTABLISHED: &str = "Established";
/// The condition saying the definition and its objects are being deleted.
pub const TERMINATING: &str = "Terminating";

/// Names with kube's defaults (singular: the lower-case kind; list kind: the kind and `List`).
pub fn with_defaults(names: &CustomResourceDefinitionNames) -> CustomResourceDefinitionNames {
    let mut names = names.clone();
    if names.singular.as_deref().unwrap_or("").is_empty() {
        names.singular = Some(names.kind.to_lowercase());
    }
    if names.list_kind.as_deref().unwrap_or("").is_empty() && !names.kind.is_empty() {
        names.list_kind = Some(format!("{}List", names.kind));
    }
    names
}

/// The accepted names (`status.acceptedNames`; empty when none are).
pub fn accepted(crd: &CustomResourceDefinition) -> CustomResourceDefinitionNames {
    crd.status
        .as_ref()
        .and_then(|s| s.accepted_names.clone())
        .unwrap_or_default()
}

/// The condition of `type_`, if set.
pub fn condition<'a>(
    crd: &'a CustomResourceDefinition,
    type_: &str,
) -> Option<&'a CustomResourceDefinitionCondition> {
    crd.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Whether the condition of `type_` is `True`.
pub fn condition_true(crd: &CustomResourceDefinition, type_: &str) -> bool {
    condition(crd, type_).is_some_and(|c| c.status == "True")
}

/// Sets a condition, keeping its transition time when its status does not change.
pub fn set_condition(
    status: &mut CustomResourceDefinitionStatus,
    mut new: CustomResourceDefinitionCondition,
) {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            if existing.status == new.status {
                new.last_transition_time = existing.last_transition_time.clone();
            }
            *existing = new;
        }
        None => conditions.push(new),
    }
}

/// A condition stamped `now`.
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
) -> CustomResourceDefinitionCondition {
    CustomResourceDefinitionCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_transition_time: Some(Time(now.round(jiff::Unit::Second).unwrap_or(now))),
        observed_generation: None,
    }
}

/// The status the naming and establishing controllers give `crd`, given every other
/// definition (those of other groups are ignored).
pub fn reconcile(
    crd: &CustomResourceDefinition,
    others: &[&CustomResourceDefinition],
    now: jiff::Timestamp,
) -> CustomResourceDefinitionStatus {
    let name = crd.metadata.name.as_deref().unwrap_or("");
    let mut used_resources: HashSet<String> = HashSet::new();
    let mut used_kinds: HashSet<String> = HashSet::new();
    for other in others {
        if other.spec.group != crd.spec.group || other.metadata.name.as_deref() == Some(name) {
            continue;
        }
        let a = accepted(other);
        used_resources.insert(a.plural.clone());
        used_resources.extend(a.singular.clone());
        used_resources.extend(a.short_names.clone().unwrap_or_default());
        used_kinds.insert(a.kind.clone());
        used_kinds.extend(a.list_kind.clone());
    }
    used_resources.remove("");
    used_kinds.remove("");
    let want = with_defaults(&crd.spec.names);
    let have = accepted(crd);
    let mut names = have.clone();
    let mut conflict: Option<(&str, String)> = None;
    let fresh =
        |want: &str, have: &str, used: &HashSet<String>| want == have || !used.contains(want);
    let in_use = |n: &str| format!("{n:?} is already in use");
    if fresh(&want.plural, &have.plural, &used_resources) {
        names.plural = want.plural.clone();
    } else {
        conflict = Some(("PluralConflict", in_use(&want.plural)));
    }
    let (want_singular, have_singular) = (
        want.singular.clone().unwrap_or_default(),
        have.singular.clone().unwrap_or_default(),
    );
    if fresh(&want_singular, &have_singular, &used_resources) {
        names.singular = want.singular.clone();
    } else {
        conflict = Some(("SingularConflict", in_use(&want_singular)));
    }
    if want.short_names != have.short_names {
        let have_short = have.short_names.clone().unwrap_or_default();
        let taken = want
            .short_names
            .iter()
            .flatten()
            .find(|s| !have_short.contains(s) && used_resources.contains(*s));
        match taken {
            Some(s) => conflict = Some(("ShortNamesConflict", in_use(s))),
            None => names.short_names = want.short_names.clone(),
        }
    }
    if fresh(&want.kind, &have.kind, &used_kinds) {
        names.kind = want.kind.clone();
    } else {
        conflict = Some(("KindConflict", in_use(&want.kind)));
    }
    let (want_list, have_list) = (
        want.list_kind.clone().unwrap_or_default(),
        have.list_kind.clone().unwrap_or_default(),
    );
    if fresh(&want_list, &have_list, &used_kinds) {
        names.list_kind = want.list_kind.clone();
    } else {
        conflict = Some(("ListKindConflict", in_use(&want_list)));
    }
    names.categories = want.categories.clone();

    let mut status = crd.status.clone().unwrap_or_default();
    status.accepted_names = Some(names);
    let accepted = conflict.is_none();
    let (reason, message) = conflict.unwrap_or(("NoConflicts", "no conflicts found".to_string()));
    let state = if accepted { "True" } else { "False" };
    set_condition(
        &mut status,
        new_condition(NAMES_ACCEPTED, state, reason, &message, now),
    );
    let established = condition_true(crd, ESTABLISHED);
    if accepted && !established {
        set_condition(
            &mut status,
            new_condition(
                ESTABLISHED,
                "True",
                "InitialNamesAccepted",
                "the initial names have been accepted",
                now,
            ),
        );
    } else if !accepted && condition(crd, ESTABLISHED).is_none() {
        set_condition(
            &mut status,
            new_condition(
                ESTABLISHED,
                "False",
                "NotAccepted",
                "not all names are accepted",
                now,
            ),
        );
    }
    status
}
