//! The service proxy's packet path, kube-proxy's iptables mode in spirit: Services and their
//! ready endpoints ([`ProxyState`]) become `nat` and `filter` rules ([`Ruleset`]) that the
//! kernel applies to every packet, with no userspace copy.
//!
//! - `nat`: `PREROUTING` and `OUTPUT` jump to `<P>SERVICES`, which sends each cluster IP and
//!   port to its service chain (`<P>SVC-…`) and traffic to any local address to
//!   `<P>NODEPORTS` (node ports and servicelb's host ports, through `<P>EXT-…`). A service
//!   chain picks an endpoint chain (`<P>SEP-…`, a DNAT) at random with `statistic`, or by
//!   client IP with `recent` under `sessionAffinity: ClientIP`. Packets that must be
//!   masqueraded get a mark (`<P>MARK-MASQ`), and `POSTROUTING` → `<P>POSTROUTING`
//!   masquerades them: traffic from outside the pod network to a cluster IP, a pod reaching
//!   itself (hairpin), node-port traffic under `externalTrafficPolicy: Cluster`, and
//!   host-originated node-port traffic (127.0.0.1 included) under `Local`.
//! - `filter`: `<P>SERVICES` (from `INPUT`, `FORWARD`, `OUTPUT`) rejects new connections to
//!   services with no ready endpoint, rather than letting them time out; `<P>FORWARD`
//!   accepts marked and established service traffic when the host's `FORWARD` policy drops.
//!
//! `<P>` is a per-instance prefix ([`chain_prefix`]), so two kmicro instances on one host
//! never touch each other's rules. [`apply`] rewrites only those chains and the jumps to them,
//! in one `iptables-restore --noflush` per table; [`remove`] deletes them.

mod apply;
mod model;
mod names;
mod rules;

pub use apply::{apply, prepare_host, remove};
pub use model::{Endpoint, ProxyConfig, ProxyState, ServiceKey, ServicePort, SessionAffinity};
pub use names::{chain_prefix, hash_hex};
pub use rules::Ruleset;
