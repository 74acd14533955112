//! kmicro's built-in controllers, as one module: one set of watch caches shared by every
//! controller, and one reconcile entry that hands each key to the controller it names.
//!
//! Each controller lives in its own module with a `KIND` (the key kind it reconciles), a
//! `reconcile(&Caches, &Key)` and, in `caches`, the mappings that queue its keys when
//! objects change.

mod caches;

use kmicro_module_sdk::{Action, Descriptor, Error, Key, Module, Setup, module};

use crate::caches::Caches;

/// The module: the shared caches.
struct Controllers {
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
        match key.kind.as_str() {
            other => Err(Error::msg(format!(
                "no controller reconciles {other:?} keys"
            ))),
        }
    }
}

module!(Controllers);
