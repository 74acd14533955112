//! The kmicro kernel: the native supervisor behind the `kmicro` binary.
//!
//! It holds the command line ([`cli`]), `kmicro run` ([`run`]) and the benchmarks ([`bench`]);
//! the module sandbox host and the node agent join it as they are built (see ARCHITECTURE.md).

pub mod bench;
pub mod cli;
mod logging;
mod memory;
pub mod run;
