//! What the cluster's names resolve to, kept from API state: Services (cluster IPs, ports,
//! headless, ExternalName) and the endpoints of their EndpointSlices. [`Records::lookup`]
//! answers a question about a name in the cluster domain as CoreDNS's `kubernetes` plugin
//! does (the DNS specification for Kubernetes): `svc.ns.svc.zone`, `host.svc.ns.svc.zone`,
//! `_port._proto.svc.ns.svc.zone`, `a-b-c-d.ns.pod.zone`, and reverse lookups of cluster
//! addresses.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How long answers may be cached (CoreDNS's default for the cluster zone).
pub const TTL: u32 = 5;

/// A Service as DNS sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceEntry {
    /// Its cluster IPs (empty when headless or ExternalName).
    pub cluster_ips: Vec<IpAddr>,
    /// `clusterIP: None`.
    pub headless: bool,
    /// `spec.externalName` of an ExternalName Service.
    pub external_name: Option<String>,
    /// Its ports.
    pub ports: Vec<PortEntry>,
}

/// A named port of a Service or an EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortEntry {
    /// The port's name (SRV records need one).
    pub name: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The port number.
    pub port: u16,
}

/// One endpoint of an EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointEntry {
    /// Its address.
    pub ip: IpAddr,
    /// `endpoints[].hostname` (a StatefulSet pod's name under its headless Service).
    pub hostname: Option<String>,
    /// `conditions.ready` (absent counts as ready).
    pub ready: bool,
}

/// An EndpointSlice as DNS sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SliceEntry {
    /// The Service it belongs to (`kubernetes.io/service-name`).
    pub service: String,
    /// Its endpoints.
    pub endpoints: Vec<EndpointEntry>,
    /// Its ports (the headless Service's SRV records use them).
    pub ports: Vec<PortEntry>,
}

/// A record of an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// An IPv4 address of `name`.
    A(String, Ipv4Addr),
    /// An IPv6 address of `name`.
    Aaaa(String, Ipv6Addr),
    /// `name` is an alias of `target`.
    Cname(String, String),
    /// A service location.
    Srv {
        /// `_port._proto.svc.ns.svc.zone`.
        name: String,
        /// The port.
        port: u16,
        /// The host serving it.
        target: String,
        /// Records of that host (the additional section).
        addresses: Vec<IpAddr>,
    },
    /// `name` (in `in-addr.arpa`/`ip6.arpa`) names `target`.
    Ptr(String, String),
}

/// What a question gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The name exists; these records answer (empty: no records of the type asked).
    Answer(Vec<Record>),
    /// The name does not exist in the cluster zone.
    NxDomain,
    /// Not a cluster name: forward it.
    NotCluster,
}

/// The record types [`Records::lookup`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryType {
    /// A.
    A,
    /// AAAA.
    Aaaa,
    /// SRV.
    Srv,
    /// PTR.
    Ptr,
    /// Any other type: the name's existence only.
    Other,
}

/// Cluster state for DNS, keyed by namespace and name.
#[derive(Clone, Debug, Default)]
pub struct Records {
    services: BTreeMap<(String, String), ServiceEntry>,
    slices: BTreeMap<(String, String), SliceEntry>,
}

impl Records {
    /// Sets (or replaces) Service `ns/name`.
    pub fn set_service(&mut self, ns: &str, name: &str, entry: ServiceEntry) {
        self.services.insert((ns.into(), name.into()), entry);
    }

    /// Removes Service `ns/name`.
    pub fn remove_service(&mut self, ns: &str, name: &str) {
        self.services.remove(&(ns.to_string(), name.to_string()));
    }

    /// Sets (or replaces) EndpointSlice `ns/name`.
    pub fn set_slice(&mut self, ns: &str, name: &str, entry: SliceEntry) {
        self.slices.insert((ns.into(), name.into()), entry);
    }

    /// Removes EndpointSlice `ns/name`.
    pub fn remove_slice(&mut self, ns: &str, name: &str) {
        self.slices.remove(&(ns.to_string(), name.to_string()));
    }

    /// Forgets everything (before a fresh list).
    pub fn clear(&mut self) {
        self.services.clear();
        self.slices.clear();
    }

    /// Answers `qtype` questions about `qname` (any case, with or without the final dot)
    /// in `zone` (`cluster.local`).
    pub fn lookup(&self, zone: &str, qname: &str, qtype: QueryType) -> Lookup {
        let name = qname.trim_end_matches('.').to_ascii_lowercase();
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        if let Some(reverse) = name
            .strip_suffix(".in-addr.arpa")
            .and_then(parse_reverse_v4)
        {
            return self.reverse(&zone, &name, reverse, qtype);
        }
        let Some(inner) = name
            .strip_suffix(&zone)
            .and_then(|rest| rest.strip_suffix('.'))
        else {
            return if name == zone {
                Lookup::Answer(Vec::new())
            } else {
                Lookup::NotCluster
            };
        };
        let labels: Vec<&str> = inner.split('.').collect();
        match labels.as_slice() {
            ["svc"] | ["pod"] => Lookup::Answer(Vec::new()),
            [_ns, "svc"] | [_ns, "pod"] => Lookup::Answer(Vec::new()),
            [svc, ns, "svc"] => self.service(&zone, &name, ns, svc, qtype),
            [port, proto, svc, ns, "svc"] if port.starts_with('_') && proto.starts_with('_') => {
                self.srv(&zone, &name, ns, svc, &port[1..], &proto[1..], qtype)
            }
            [host, svc, ns, "svc"] => self.endpoint(&name, ns, svc, host, qtype),
            [dashed, _ns, "pod"] => match parse_dashed(dashed) {
                Some(ip) => Lookup::Answer(address_records(&name, &[ip], qtype)),
                None => Lookup::NxDomain,
            },
            _ => Lookup::NxDomain,
        }
    }

    fn service(&self, zone: &str, name: &str, ns: &str, svc: &str, qtype: QueryType) -> Lookup {
        let Some(entry) = self.services.get(&(ns.to_string(), svc.to_string())) else {
            return Lookup::NxDomain;
        };
        if let Some(external) = &entry.external_name {
            return Lookup::Answer(vec![Record::Cname(name.to_string(), external.clone())]);
        }
        let addresses = if entry.headless {
            self.ready_endpoints(ns, svc).map(|e| e.ip).collect()
        } else {
            entry.cluster_ips.clone()
        };
        match qtype {
            QueryType::Srv => {
                // SRV at the service's own name: one per named port (as CoreDNS does).
                let records = self
                    .ports_of(ns, svc, entry)
                    .iter()
                    .flat_map(|p| {
                        let srv = format!("_{}._{}.{name}", p.name, p.protocol.to_lowercase());
                        self.srv_records(zone, &srv, ns, svc, entry, p.port)
                    })
                    .collect();
                Lookup::Answer(records)
            }
            _ => Lookup::Answer(address_records(name, &addresses, qtype)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn srv(
        &self,
        zone: &str,
        name: &str,
        ns: &str,
        svc: &str,
        port_name: &str,
        proto: &str,
        qtype: QueryType,
    ) -> Lookup {
        let Some(entry) = self.services.get(&(ns.to_string(), svc.to_string())) else {
            return Lookup::NxDomain;
        };
        let Some(port) = self
            .ports_of(ns, svc, entry)
            .into_iter()
            .find(|p| p.name == port_name && p.protocol.eq_ignore_ascii_case(proto))
        else {
            return Lookup::NxDomain;
        };
        if qtype != QueryType::Srv {
            return Lookup::Answer(Vec::new());
        }
        Lookup::Answer(self.srv_records(zone, name, ns, svc, entry, port.port))
    }

    /// SRV records for port `port` of a Service: its own name for a cluster IP, each ready
    /// endpoint's name when headless.
    fn srv_records(
        &self,
        zone: &str,
        name: &str,
        ns: &str,
        svc: &str,
        entry: &ServiceEntry,
        port: u16,
    ) -> Vec<Record> {
        if entry.headless {
            self.ready_endpoints(ns, svc)
                .map(|e| Record::Srv {
                    name: name.to_string(),
                    port,
                    target: format!("{}.{svc}.{ns}.svc.{zone}", endpoint_label(e)),
                    addresses: vec![e.ip],
                })
                .collect()
        } else {
            vec![Record::Srv {
                name: name.to_string(),
                port,
                target: format!("{svc}.{ns}.svc.{zone}"),
                addresses: entry.cluster_ips.clone(),
            }]
        }
    }

    fn endpoint(&self, name: &str, ns: &str, svc: &str, host: &str, qtype: QueryType) -> Lookup {
        let Some(entry) = self.services.get(&(ns.to_string(), svc.to_string())) else {
            return Lookup::NxDomain;
        };
        if !entry.headless {
            return Lookup::NxDomain;
        }
        let addresses: Vec<IpAddr> = self
            .ready_endpoints(ns, svc)
            .filter(|e| endpoint_label(e) == host)
            .map(|e| e.ip)
            .collect();
        if addresses.is_empty() {
            return Lookup::NxDomain;
        }
        Lookup::Answer(address_records(name, &addresses, qtype))
    }

    fn reverse(&self, zone: &str, name: &str, ip: Ipv4Addr, qtype: QueryType) -> Lookup {
        let ip = IpAddr::V4(ip);
        let mut targets = Vec::new();
        for ((ns, svc), entry) in &self.services {
            if entry.cluster_ips.contains(&ip) {
                targets.push(format!("{svc}.{ns}.svc.{zone}"));
            }
        }
        for ((ns, _), slice) in &self.slices {
            let headless = self
                .services
                .get(&(ns.clone(), slice.service.clone()))
                .is_some_and(|s| s.headless);
            for e in slice.endpoints.iter().filter(|e| e.ip == ip && e.ready) {
                if headless {
                    targets.push(format!(
                        "{}.{}.{ns}.svc.{zone}",
                        endpoint_label(e),
                        slice.service
                    ));
                }
            }
        }
        if targets.is_empty() {
            return Lookup::NotCluster;
        }
        targets.dedup();
        if qtype != QueryType::Ptr {
            return Lookup::Answer(Vec::new());
        }
        Lookup::Answer(
            targets
                .into_iter()
                .map(|t| Record::Ptr(name.to_string(), t))
                .collect(),
        )
    }

    fn ready_endpoints<'a>(
        &'a self,
        ns: &'a str,
        svc: &'a str,
    ) -> impl Iterator<Item = &'a EndpointEntry> + 'a {
        self.slices
            .iter()
            .filter(move |((slice_ns, _), s)| slice_ns == ns && s.service == svc)
            .flat_map(|(_, s)| s.endpoints.iter().filter(|e| e.ready))
    }

    /// A headless Service's ports as its slices publish them, else the Service's.
    fn ports_of(&self, ns: &str, svc: &str, entry: &ServiceEntry) -> Vec<PortEntry> {
        let mut ports = entry.ports.clone();
        if entry.headless {
            for ((slice_ns, _), s) in &self.slices {
                if slice_ns == ns && s.service == svc {
                    for p in &s.ports {
                        if !ports.contains(p) {
                            ports.push(p.clone());
                        }
                    }
                }
            }
        }
        ports.retain(|p| !p.name.is_empty());
        ports
    }
}

/// An endpoint's label under its Service: its hostname, else its address with dashes.
fn endpoint_label(e: &EndpointEntry) -> String {
    match &e.hostname {
        Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
        _ => e.ip.to_string().replace(['.', ':'], "-"),
    }
}

fn address_records(name: &str, addresses: &[IpAddr], qtype: QueryType) -> Vec<Record> {
    addresses
        .iter()
        .filter_map(|ip| match (ip, qtype) {
            (IpAddr::V4(v4), QueryType::A) => Some(Record::A(name.to_string(), *v4)),
            (IpAddr::V6(v6), QueryType::Aaaa) => Some(Record::Aaaa(name.to_string(), *v6)),
            _ => None,
        })
        .collect()
}

/// `1-2-3-4` → 1.2.3.4.
fn parse_dashed(label: &str) -> Option<IpAddr> {
    label
        .replace('-', ".")
        .parse::<Ipv4Addr>()
        .ok()
        .map(IpAddr::V4)
}

/// `4.3.2.1` (of `4.3.2.1.in-addr.arpa`) → 1.2.3.4.
fn parse_reverse_v4(labels: &str) -> Option<Ipv4Addr> {
    let parts: Vec<u8> = labels
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [d, c, b, a] => Some(Ipv4Addr::new(*a, *b, *c, *d)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = "cluster.local";

    fn port(name: &str, port: u16) -> PortEntry {
        PortEntry {
            name: name.into(),
            protocol: "TCP".into(),
            port,
        }
    }

    fn endpoint(ip: &str, hostname: Option<&str>, ready: bool) -> EndpointEntry {
        EndpointEntry {
            ip: ip.parse().unwrap(),
            hostname: hostname.map(String::from),
            ready,
        }
    }

    fn cluster() -> Records {
        let mut r = Records::default();
        r.set_service(
            "default",
            "kubernetes",
            ServiceEntry {
                cluster_ips: vec!["10.43.0.1".parse().unwrap()],
                ports: vec![port("https", 443)],
                ..Default::default()
            },
        );
        r.set_service(
            "default",
            "web",
            ServiceEntry {
                cluster_ips: vec!["10.43.12.7".parse().unwrap()],
                ports: vec![port("http", 80)],
                ..Default::default()
            },
        );
        r.set_service(
            "db",
            "pg",
            ServiceEntry {
                headless: true,
                ports: vec![port("sql", 5432)],
                ..Default::default()
            },
        );
        r.set_slice(
            "db",
            "pg-abcde",
            SliceEntry {
                service: "pg".into(),
                endpoints: vec![
                    endpoint("10.42.0.5", Some("pg-0"), true),
                    endpoint("10.42.0.6", None, true),
                    endpoint("10.42.0.7", Some("pg-2"), false),
                ],
                ports: vec![port("sql", 5432)],
            },
        );
        r.set_service(
            "default",
            "ext",
            ServiceEntry {
                external_name: Some("db.example.com".into()),
                ..Default::default()
            },
        );
        r
    }

    fn a(name: &str, ip: &str) -> Record {
        Record::A(name.into(), ip.parse().unwrap())
    }

    #[test]
    fn services_resolve_to_their_cluster_ip() {
        let r = cluster();
        let name = "kubernetes.default.svc.cluster.local";
        assert_eq!(
            r.lookup(ZONE, &format!("{name}."), QueryType::A),
            Lookup::Answer(vec![a(name, "10.43.0.1")])
        );
        assert_eq!(
            r.lookup(ZONE, "WEB.Default.svc.cluster.local", QueryType::A),
            Lookup::Answer(vec![a("web.default.svc.cluster.local", "10.43.12.7")])
        );
        // The name exists, without IPv6 records.
        assert_eq!(
            r.lookup(ZONE, name, QueryType::Aaaa),
            Lookup::Answer(vec![])
        );
        assert_eq!(
            r.lookup(ZONE, "nope.default.svc.cluster.local", QueryType::A),
            Lookup::NxDomain
        );
        assert_eq!(
            r.lookup(ZONE, "example.com", QueryType::A),
            Lookup::NotCluster
        );
        assert_eq!(
            r.lookup(ZONE, "default.svc.cluster.local", QueryType::A),
            Lookup::Answer(vec![])
        );
    }

    #[test]
    fn headless_services_resolve_to_ready_endpoints() {
        let r = cluster();
        let name = "pg.db.svc.cluster.local";
        assert_eq!(
            r.lookup(ZONE, name, QueryType::A),
            Lookup::Answer(vec![a(name, "10.42.0.5"), a(name, "10.42.0.6")])
        );
        let host = "pg-0.pg.db.svc.cluster.local";
        assert_eq!(
            r.lookup(ZONE, host, QueryType::A),
            Lookup::Answer(vec![a(host, "10.42.0.5")])
        );
        let dashed = "10-42-0-6.pg.db.svc.cluster.local";
        assert_eq!(
            r.lookup(ZONE, dashed, QueryType::A),
            Lookup::Answer(vec![a(dashed, "10.42.0.6")])
        );
        assert_eq!(
            r.lookup(ZONE, "pg-2.pg.db.svc.cluster.local", QueryType::A),
            Lookup::NxDomain,
            "not ready"
        );
    }

    #[test]
    fn srv_records_name_the_port_and_its_host() {
        let r = cluster();
        let name = "_http._tcp.web.default.svc.cluster.local";
        assert_eq!(
            r.lookup(ZONE, name, QueryType::Srv),
            Lookup::Answer(vec![Record::Srv {
                name: name.into(),
                port: 80,
                target: "web.default.svc.cluster.local".into(),
                addresses: vec!["10.43.12.7".parse().unwrap()],
            }])
        );
        let name = "_sql._tcp.pg.db.svc.cluster.local";
        let Lookup::Answer(records) = r.lookup(ZONE, name, QueryType::Srv) else {
            panic!()
        };
        let targets: Vec<&str> = records
            .iter()
            .map(|rec| match rec {
                Record::Srv { target, .. } => target.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            targets,
            [
                "pg-0.pg.db.svc.cluster.local",
                "10-42-0-6.pg.db.svc.cluster.local"
            ]
        );
        assert_eq!(
            r.lookup(
                ZONE,
                "_nope._tcp.web.default.svc.cluster.local",
                QueryType::Srv
            ),
            Lookup::NxDomain
        );
    }

    #[test]
    fn pods_external_names_and_reverse_lookups() {
        let r = cluster();
        let pod = "10-42-0-9.default.pod.cluster.local";
        assert_eq!(
            r.lookup(ZONE, pod, QueryType::A),
            Lookup::Answer(vec![a(pod, "10.42.0.9")])
        );
        assert_eq!(
            r.lookup(ZONE, "x-y.default.pod.cluster.local", QueryType::A),
            Lookup::NxDomain
        );
        assert_eq!(
            r.lookup(ZONE, "ext.default.svc.cluster.local", QueryType::A),
            Lookup::Answer(vec![Record::Cname(
                "ext.default.svc.cluster.local".into(),
                "db.example.com".into()
            )])
        );
        assert_eq!(
            r.lookup(ZONE, "1.0.43.10.in-addr.arpa.", QueryType::Ptr),
            Lookup::Answer(vec![Record::Ptr(
                "1.0.43.10.in-addr.arpa".into(),
                "kubernetes.default.svc.cluster.local".into()
            )])
        );
        assert_eq!(
            r.lookup(ZONE, "5.0.42.10.in-addr.arpa", QueryType::Ptr),
            Lookup::Answer(vec![Record::Ptr(
                "5.0.42.10.in-addr.arpa".into(),
                "pg-0.pg.db.svc.cluster.local".into()
            )])
        );
        assert_eq!(
            r.lookup(ZONE, "8.8.8.8.in-addr.arpa", QueryType::Ptr),
            Lookup::NotCluster
        );
    }

    #[test]
    fn removed_objects_stop_resolving() {
        let mut r = cluster();
        r.remove_service("default", "web");
        assert_eq!(
            r.lookup(ZONE, "web.default.svc.cluster.local", QueryType::A),
            Lookup::NxDomain
        );
        r.remove_slice("db", "pg-abcde");
        assert_eq!(
            r.lookup(ZONE, "pg.db.svc.cluster.local", QueryType::A),
            Lookup::Answer(vec![])
        );
    }
}
