//! RBAC semantics without I/O: what kube's RBAC authorizer and its controllers decide, given
//! the roles and bindings.
//!
//! - [`action`]: what a request asks to do (kube's authorizer attributes);
//! - [`rule`]: policy rules, whether one allows an action (`RuleAllows`) and whether a set
//!   covers another (`Covers`);
//! - [`subject`]: which users a binding's subjects name;
//! - [`aggregate`]: the rules of an aggregated ClusterRole;
//! - [`policy`]: the bootstrap roles and bindings every cluster starts with;
//! - [`node`]: the role and binding of one node's agent (kmicro's stand-in for kube's Node
//!   authorizer);
//! - [`reconcile`]: merging the bootstrap policy into what a cluster already has.

pub mod action;
pub mod aggregate;
pub mod node;
pub mod policy;
pub mod reconcile;
pub mod rule;
pub mod subject;

pub use action::{Action, NonResourceAction, ResourceAction};
pub use rule::Rule;
pub use subject::SubjectKey;

/// The annotation that lets the bootstrap reconciliation update a default role or binding
/// (`"false"` keeps the user's version).
pub const AUTOUPDATE: &str = "rbac.authorization.kubernetes.io/autoupdate";

/// The group whose members are authorized for everything, whatever the roles say.
pub const MASTERS: &str = "system:masters";
