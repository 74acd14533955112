//! The kmicro kernel: the native supervisor behind the `kmicro` binary.
//!
//! It holds the command line ([`cli`]), `kmicro run` ([`run`]), the node agent ([`agent`]),
//! `kmicro module` ([`module_cmd`], over the API client in `client`) and the benchmarks
//! ([`bench`]); the module sandbox host joins it as it is built (see ARCHITECTURE.md).

pub mod agent;
pub mod bench;
pub mod cli;
mod client;
mod logging;
mod memory;
pub mod module_cmd;
mod modules;
pub mod run;
