//! kmicro's Kubernetes API server: the REST API kubectl and client libraries use, over
//! [`kmicro_store`].
//!
//! A request flows [`server`] (TLS, HTTP) → [`api`] (route, [`auth`]enticate,
//! [`impersonation`], [`authz`] (RBAC), body) →
//! `handlers` (the verbs) → [`storage`] (objects as JSON in the store). Kubernetes semantics
//! that need no I/O (resources, selectors, tables, defaulting, validation) come from
//! `kmicro-apimachinery`; the OpenAPI documents ([`openapi`]) from `kmicro-openapi`. The
//! served resources ([`resources`]) are the built-in ones plus those of accepted
//! CustomResourceDefinitions, which [`crds`] keeps up to date.

pub mod api;
pub mod auth;
pub mod authz;
pub mod bootstrap;
pub mod crds;
pub mod discovery;
pub mod error;
mod handlers;
pub mod impersonation;
pub mod informer;
pub mod kubernetes_endpoints;
pub mod module_blobs;
pub mod module_host;
pub mod namespaces;
pub mod object;
pub mod openapi;
pub mod pod_exec_host;
pub mod pod_log_host;
pub mod port_forward;
pub mod port_forward_host;
pub mod query;
pub mod remotecommand;
pub mod render;
pub mod resources;
pub mod response;
pub mod route;
pub mod server;
pub mod service_accounts;
pub mod service_alloc;
pub mod spdy;
pub mod storage;
pub mod warning;
pub mod watch_cache;
pub mod websocket;

pub use api::Api;
pub use module_host::{ModuleHost, ModuleLog};
pub use pod_exec_host::{PodExecError, PodExecHost, PodExecRequest, PodSession};
pub use pod_log_host::{PodLogError, PodLogHost, PodLogRequest, PodLogStream};
pub use port_forward_host::{PodPortForwardHost, PortForwardTarget};
pub use server::Server;
pub use storage::Storage;
