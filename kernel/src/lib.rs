//! The kmicro kernel: the native supervisor behind the `kmicro` binary.
//!
//! Today it holds the command line ([`cli`]) and the benchmarks ([`bench`]); the API server,
//! the module sandbox host and the node agent join it as they are built (see ARCHITECTURE.md).

pub mod bench;
pub mod cli;
mod logging;
