//! Logging into the kernel's `tracing`, tagged with the module's name.

use crate::bindings::kmicro::module::log as host;
use crate::bindings::kmicro::module::types::Level;

/// Logs at `trace`.
pub fn trace(message: &str) {
    host::log(Level::Trace, message);
}

/// Logs at `debug`.
pub fn debug(message: &str) {
    host::log(Level::Debug, message);
}

/// Logs at `info`.
pub fn info(message: &str) {
    host::log(Level::Info, message);
}

/// Logs at `warn`.
pub fn warn(message: &str) {
    host::log(Level::Warn, message);
}

/// Logs at `error`.
pub fn error(message: &str) {
    host::log(Level::Error, message);
}

/// `info!("…", args)`: formats and logs at `info`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(&format!($($arg)*)) };
}

/// `warn!("…", args)`: formats and logs at `warn`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(&format!($($arg)*)) };
}

/// `debug!("…", args)`: formats and logs at `debug`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::debug(&format!($($arg)*)) };
}

/// `error!("…", args)`: formats and logs at `error`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(&format!($($arg)*)) };
}
