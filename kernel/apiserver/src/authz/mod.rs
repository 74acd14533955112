//! Authorization: kube's RBAC authorizer, with members of `system:masters` allowed
//! everything (kube's privileged-group authorizer).
//!
//! The policy is held in memory ([`index::PolicyIndex`]), fed by one informer per RBAC
//! resource, so a decision never reads the store. Aggregated ClusterRoles get their rules
//! from [`aggregation`]; the default roles and bindings come from [`bootstrap`].

pub mod aggregation;
pub mod bootstrap;
pub mod escalation;
pub(crate) mod index;
pub mod request;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use http::StatusCode;
use kmicro_apimachinery::rbac::{Action, MASTERS, Rule};
use kmicro_apimachinery::registry;
use kmicro_store::Store;
use serde_json::json;
use tokio::sync::Notify;

use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::informer;
use index::{PolicyIndex, PolicyKind};

/// What the authorizer decided, with kube's reason texts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Whether the action is allowed.
    pub allowed: bool,
    /// Why (`RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to Group "z"`), or "".
    pub reason: String,
    /// Bindings naming roles that do not exist (`RBAC: clusterrole… "x" not found`), or "".
    pub evaluation_error: String,
}

/// The RBAC authorizer.
pub struct Authorizer {
    index: RwLock<PolicyIndex>,
    /// One bit per [`PolicyKind`] listed at least once.
    synced: AtomicU8,
    synced_changed: Notify,
    /// Woken whenever a ClusterRole changes (the aggregation reacts).
    cluster_roles_changed: Arc<Notify>,
}

impl Authorizer {
    /// An authorizer whose policy follows the store (one informer per RBAC resource).
    pub fn start(store: Arc<dyn Store>) -> Arc<Self> {
        let authorizer = Arc::new(Self {
            index: RwLock::new(PolicyIndex::default()),
            synced: AtomicU8::new(0),
            synced_changed: Notify::new(),
            cluster_roles_changed: Arc::new(Notify::new()),
        });
        for (bit, kind) in PolicyKind::ALL.into_iter().enumerate() {
            let r = registry::find("rbac.authorization.k8s.io", "v1", kind.plural())
                .expect("RBAC resources are built in");
            let weak = Arc::downgrade(&authorizer);
            informer::spawn(store.clone(), r, move |change| {
                let Some(this) = weak.upgrade() else { return };
                let reset = matches!(change, informer::Change::Reset(_));
                this.index
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .apply(kind, change);
                if reset {
                    this.synced.fetch_or(1 << bit, Ordering::SeqCst);
                    this.synced_changed.notify_waiters();
                }
                if kind == PolicyKind::ClusterRole {
                    this.cluster_roles_changed.notify_one();
                }
            });
        }
        authorizer
    }

    /// Waits until every RBAC resource has been listed once.
    pub async fn wait_synced(&self) {
        let all = (1u8 << PolicyKind::ALL.len()) - 1;
        loop {
            let changed = self.synced_changed.notified();
            if self.synced.load(Ordering::SeqCst) == all {
                return;
            }
            changed.await;
        }
    }

    /// Decides whether `user` may do `action`.
    pub fn decide(&self, user: &User, action: &Action) -> Decision {
        if user.groups.iter().any(|g| g == MASTERS) {
            return Decision {
                allowed: true,
                ..Decision::default()
            };
        }
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        let (allowed_by, missing) = index.visit(
            &user.name,
            &user.groups,
            action.namespace(),
            &mut |rule: &Rule| rule.allows(action),
        );
        let evaluation_error = match missing.len() {
            0 => String::new(),
            1 => format!("RBAC: {}", missing[0]),
            _ => format!("RBAC: [{}]", missing.join(", ")),
        };
        match allowed_by {
            Some(by) => Decision {
                allowed: true,
                reason: format!("RBAC: allowed by {}", by.describe(&user.name, &user.groups)),
                evaluation_error,
            },
            None => Decision {
                allowed: false,
                reason: String::new(),
                evaluation_error,
            },
        }
    }

    /// Allows `action` for `user` or refuses it with kube's 403. Unlike [`Self::decide`] it
    /// builds no reason text on the way to a yes: this runs on every request.
    pub fn authorize(&self, user: &User, action: &Action) -> ApiResult<()> {
        if user.groups.iter().any(|g| g == MASTERS) {
            return Ok(());
        }
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        let (allowed_by, _) = index.visit(
            &user.name,
            &user.groups,
            action.namespace(),
            &mut |rule: &Rule| rule.allows(action),
        );
        if allowed_by.is_some() {
            return Ok(());
        }
        drop(index);
        Err(forbidden(
            user,
            action,
            &self.decide(user, action).evaluation_error,
        ))
    }

    /// Every rule that applies to `user` in `namespace` (a SelfSubjectRulesReview).
    pub fn rules_for(&self, user: &User, namespace: &str) -> Vec<Rule> {
        let mut rules = Vec::new();
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        index.visit(&user.name, &user.groups, namespace, &mut |rule: &Rule| {
            rules.push(rule.clone());
            false
        });
        rules
    }

    /// Calls `f` with the policy (for the aggregation).
    pub(crate) fn with_index<T>(&self, f: impl FnOnce(&PolicyIndex) -> T) -> T {
        f(&self.index.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Woken when a ClusterRole changes.
    pub(crate) fn cluster_roles_changed(&self) -> Arc<Notify> {
        self.cluster_roles_changed.clone()
    }
}

/// A name quoted as Go's `%q` prints it (the same as JSON for the names RBAC allows).
pub(crate) fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A 403 with `message` and the details kube gives a refused write of `r` named `name`.
pub fn forbidden_with(message: String, r: &registry::ResourceInfo, name: &str) -> ApiError {
    let mut err = ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message);
    err.details = Some(json!({"name": name, "group": r.group, "kind": r.plural}));
    err
}

/// kube's 403 for `user` refused `action`, `reason` appended when there is one.
pub fn forbidden(user: &User, action: &Action, reason: &str) -> ApiError {
    let mut message = format!(
        "{}: {}",
        action.forbidden_prefix(),
        action.denied_message(&user.name)
    );
    if !reason.is_empty() {
        message.push_str(": ");
        message.push_str(reason);
    }
    let mut err = ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message);
    err.details = Some(match action {
        Action::Resource(r) if r.name.is_empty() => json!({"group": r.group, "kind": r.resource}),
        Action::Resource(r) => json!({"name": r.name, "group": r.group, "kind": r.resource}),
        Action::NonResource(_) => json!({}),
    });
    err
}

#[cfg(test)]
mod tests;
