//! A small client of the Kubernetes API for kmicro's own commands (`kmicro module …`, the
//! benchmarks): kubeconfig files ([`kubeconfig`]), one HTTP/2 connection over rustls
//! ([`connection`]) and line splitting of streamed answers ([`lines`]).

pub(crate) mod connection;
pub(crate) mod kubeconfig;
pub(crate) mod lines;

pub(crate) use connection::{Answer, ApiClient};
pub(crate) use kubeconfig::Kubeconfig;
pub(crate) use lines::Lines;
