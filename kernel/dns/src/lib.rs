//! kmicro's cluster DNS (k3s ships CoreDNS for this): names under the cluster zone answered
//! from API state kept by the caller in [`Records`] (Services, headless endpoints, pods,
//! reverse lookups), other names forwarded to the host's resolvers. One small task per
//! socket inside kmicro's process; no state of its own beyond the records.

pub mod records;
pub mod server;

pub use records::{
    EndpointEntry, Lookup, PortEntry, QueryType, Record, Records, ServiceEntry, SliceEntry,
};
pub use server::{DnsConfig, DnsServer, upstreams_from_resolv_conf};
