//! The kmicro kernel: the native supervisor behind the `kmicro` binary.
//!
//! It holds the command line ([`cli`]), `kmicro run` ([`run`]), the node agent ([`agent`]),
//! `kmicro module` ([`module_cmd`], over the API client in `client`), `kmicro images`
//! ([`images_cmd`], over the node's image store) and the benchmarks
//! ([`bench`]); the module sandbox host joins it as it is built (see ARCHITECTURE.md). The
//! root CA publisher (`root_ca`) keeps every namespace's `kube-root-ca.crt` ConfigMap; cluster DNS (`cluster_dns`) serves
//! the cluster's names.

pub mod agent;
pub mod bench;
pub mod cli;
mod client;
mod cluster_dns;
pub mod components;
pub mod images_cmd;
mod informer;
mod logging;
mod memory;
pub mod module_cmd;
mod modules;
mod root_ca;
pub mod run;
mod service_proxy;
