//! The kmicro kernel: the native supervisor behind the `kmicro` binary.
//!
//! It holds the command line ([`cli`]), `kmicro run` ([`run`]), `kmicro module`
//! ([`module_cmd`], over the API client in `client`) and the benchmarks ([`bench`]);
//! the module sandbox host and the node agent join it as they are built (see ARCHITECTURE.md).

pub mod bench;
pub mod cli;
mod client;
mod logging;
mod memory;
pub mod module_cmd;
pub mod run;
