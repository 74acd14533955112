//! The kmicro kernel: CLI and supervisor.
