//! The watches every controller shares, and which keys a change of each kind queues.

use kmicro_module_sdk::{Error, Rule, Setup};

/// The caches of everything the controllers read.
pub struct Caches {}

impl Caches {
    /// Registers the watches.
    pub fn watch(_setup: &mut Setup) -> Result<Self, Error> {
        Ok(Self {})
    }
}

/// The API access the controllers need.
pub fn permissions() -> Vec<Rule> {
    Vec::new()
}
