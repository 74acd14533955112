//! kmicro's built-in controllers, as one module: one set of watch caches shared by every
//! controller, and one reconcile entry that hands each key to the controller it names.
//!
//! Each controller lives in its own module with a `KIND` (the key kind it reconciles), a
//! `reconcile(&Caches, &Key)` and, in `caches`, the mappings that queue its keys when
//! objects change.
//!
//! Lifecycle controllers: [`gc`] (garbage collection by owner references), [`namespace`]
//! (namespace deletion), [`serviceaccount`] (default accounts), [`job`], [`cronjob`] (with
//! [`cron`] schedules), [`endpoints`] (Endpoints and EndpointSlices) and [`nodelifecycle`]
//! (node health, taints and evictions).
//!
//! Workloads: [`replicaset`], [`deployment`], [`daemonset`] and [`statefulset`], sharing the
//! helpers of [`workload`] (pod rules, controller references, hashes, revision history).

mod caches;
pub mod cron;
pub mod cronjob;
pub mod endpoints;
pub mod gc;
pub mod job;
pub mod namespace;
pub mod nodelifecycle;
pub mod serviceaccount;
// Workloads.
pub mod daemonset;
pub mod deployment;
pub mod replicaset;
pub mod statefulset;
pub mod workload;

use kmicro_module_sdk::{Action, Descriptor, Error, Key, Module, Setup};

use crate::caches::Caches;

/// The module: the shared caches. Public so that the host build (unit tests), which has no
/// component exports, still sees every controller as reachable.
pub struct Controllers {
    caches: Caches,
}

impl Module for Controllers {
    fn describe() -> Descriptor {
        Descriptor {
            version: env!("CARGO_PKG_VERSION").to_string(),
            permissions: caches::permissions(),
        }
    }

    fn init(
        _config: &kmicro_module_sdk::serde_json::Value,
        setup: &mut Setup,
    ) -> Result<Self, Error> {
        Ok(Self {
            caches: Caches::watch(setup)?,
        })
    }

    fn reconcile(&mut self, key: &Key) -> Result<Action, Error> {
        let caches = &self.caches;
        match key.kind.as_str() {
            // Lifecycle controllers.
            namespace::KIND => namespace::reconcile(caches, key),
            serviceaccount::KIND => serviceaccount::reconcile(caches, key),
            job::KIND => job::reconcile(caches, key),
            cronjob::KIND => cronjob::reconcile(caches, key),
            endpoints::KIND => endpoints::reconcile(caches, key),
            nodelifecycle::KIND => nodelifecycle::reconcile(caches, key),
            kind if gc::handles(kind) => gc::reconcile(&caches.gc, key),
            // Workloads.
            replicaset::KIND => replicaset::reconcile(caches, key),
            deployment::KIND => deployment::reconcile(caches, key),
            daemonset::KIND => daemonset::reconcile(caches, key),
            statefulset::KIND => statefulset::reconcile(caches, key),
            other => Err(Error::msg(format!(
                "no controller reconciles {other:?} keys"
            ))),
        }
    }
}

kmicro_module_sdk::module!(Controllers);
