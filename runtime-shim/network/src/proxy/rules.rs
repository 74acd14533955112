//! The rules for a [`ProxyState`], and the `iptables-restore` scripts that install them in
//! place of the instance's previous ones (or remove them). Pure: no I/O.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::model::{Endpoint, ProxyConfig, ProxyState, ServiceKey, ServicePort, SessionAffinity};
use super::names::object_chain;

/// One table's part of the rules: the instance's chains with their rules, and the jumps to
/// them from the built-in chains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableRules {
    /// The table (`nat`, `filter`).
    pub table: &'static str,
    /// The instance's chains, each declared once.
    pub chains: Vec<String>,
    /// `(built-in chain, rule spec)`: inserted at the head of the built-in chain.
    pub jumps: Vec<(&'static str, String)>,
    /// `(chain, rule spec)`: appended in order.
    pub rules: Vec<(String, String)>,
}

impl TableRules {
    fn new(table: &'static str) -> Self {
        TableRules {
            table,
            ..TableRules::default()
        }
    }

    fn chain(&mut self, name: &str) {
        if !self.chains.iter().any(|c| c == name) {
            self.chains.push(name.to_string());
        }
    }

    fn rule(&mut self, chain: &str, spec: impl Into<String>) {
        self.rules.push((chain.to_string(), spec.into()));
    }

    /// The `iptables-restore --noflush` script that turns the table described by `save`
    /// (`iptables-save -t <table>`) into one holding these rules and no other rules of the
    /// instance (`prefix`): its old jumps deleted, its chains flushed (declaring a chain
    /// flushes it) and refilled, its chains no longer needed deleted. Applying it twice
    /// leaves the same table.
    pub fn restore_script(&self, prefix: &str, save: &str) -> String {
        let existing = our_chains(prefix, save);
        let stale: Vec<&String> = existing
            .iter()
            .filter(|c| !self.chains.contains(c))
            .collect();
        let mut s = format!("*{}\n", self.table);
        for c in self.chains.iter().chain(stale.iter().copied()) {
            let _ = writeln!(s, ":{c} - [0:0]");
        }
        for line in our_jumps(prefix, save) {
            let _ = writeln!(s, "-D {line}");
        }
        // Inserted in reverse so they end up in the listed order at the chain's head.
        for (chain, spec) in self.jumps.iter().rev() {
            let _ = writeln!(s, "-I {chain} 1 {spec}");
        }
        for (chain, spec) in &self.rules {
            let _ = writeln!(s, "-A {chain} {spec}");
        }
        for c in stale {
            let _ = writeln!(s, "-X {c}");
        }
        s.push_str("COMMIT\n");
        s
    }
}

/// The script removing every chain of the instance (`prefix`) from `table`, described by
/// `save`, with the jumps to them; `None` when there is nothing to remove.
pub fn removal_script(table: &str, prefix: &str, save: &str) -> Option<String> {
    let chains = our_chains(prefix, save);
    let jumps = our_jumps(prefix, save);
    if chains.is_empty() && jumps.is_empty() {
        return None;
    }
    let mut s = format!("*{table}\n");
    for c in &chains {
        let _ = writeln!(s, ":{c} - [0:0]");
    }
    for line in jumps {
        let _ = writeln!(s, "-D {line}");
    }
    for c in &chains {
        let _ = writeln!(s, "-X {c}");
    }
    s.push_str("COMMIT\n");
    Some(s)
}

/// The chains of `save` whose names start with `prefix`.
fn our_chains(prefix: &str, save: &str) -> BTreeSet<String> {
    save.lines()
        .filter_map(|l| l.strip_prefix(':')?.split(' ').next())
        .filter(|c| c.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// The rules (without `-A `) of chains not the instance's that jump to one of its chains.
fn our_jumps<'a>(prefix: &str, save: &'a str) -> Vec<&'a str> {
    save.lines()
        .filter_map(|l| l.strip_prefix("-A "))
        .filter(|rule| {
            let chain = rule.split(' ').next().unwrap_or("");
            let target = rule
                .rsplit_once(" -j ")
                .and_then(|(_, t)| t.split(' ').next())
                .unwrap_or("");
            !chain.starts_with(prefix) && target.starts_with(prefix)
        })
        .collect()
}

/// The instance's rules in both tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruleset {
    /// The `nat` table: portals, node ports, load balancing, DNAT, masquerade.
    pub nat: TableRules,
    /// The `filter` table: rejects for services without endpoints, forwarding accepts.
    pub filter: TableRules,
}

impl Ruleset {
    /// The rules for `state` under `config`.
    pub fn build(config: &ProxyConfig, state: &ProxyState) -> Ruleset {
        let p = &config.prefix;
        let names = Fixed::new(p);
        let mark = format!("{0:#x}/{0:#x}", config.masquerade_bit);
        let mut nat = TableRules::new("nat");
        let mut filter = TableRules::new("filter");

        for c in [
            &names.services,
            &names.nodeports,
            &names.postrouting,
            &names.mark_masq,
        ] {
            nat.chain(c);
        }
        nat.jumps.push((
            "PREROUTING",
            format!(
                "-m comment --comment \"kmicro service portals\" -j {}",
                names.services
            ),
        ));
        nat.jumps.push((
            "OUTPUT",
            format!(
                "-m comment --comment \"kmicro service portals\" -j {}",
                names.services
            ),
        ));
        nat.jumps.push((
            "POSTROUTING",
            format!(
                "-m comment --comment \"kmicro service masquerade\" -j {}",
                names.postrouting
            ),
        ));
        nat.rule(
            &names.mark_masq,
            format!("-j MARK --or-mark {:#x}", config.masquerade_bit),
        );
        nat.rule(
            &names.postrouting,
            format!("-m mark ! --mark {mark} -j RETURN"),
        );
        nat.rule(
            &names.postrouting,
            format!("-j MARK --xor-mark {:#x}", config.masquerade_bit),
        );
        nat.rule(&names.postrouting, "-j MASQUERADE --random-fully");

        for c in [&names.services, &names.forward] {
            filter.chain(c);
        }
        for builtin in ["INPUT", "FORWARD", "OUTPUT"] {
            filter.jumps.push((
                builtin,
                format!(
                    "-m conntrack --ctstate NEW -m comment --comment \"kmicro services without endpoints\" -j {}",
                    names.services
                ),
            ));
        }
        filter.jumps.push((
            "FORWARD",
            format!(
                "-m comment --comment \"kmicro service forwarding\" -j {}",
                names.forward
            ),
        ));
        filter.rule(&names.forward, format!("-m mark --mark {mark} -j ACCEPT"));
        for dir in ["-s", "-d"] {
            filter.rule(
                &names.forward,
                format!(
                    "{dir} {} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                    config.cluster_cidr
                ),
            );
        }

        for (key, port) in &state.services {
            let Some(_) = port.cluster_ip else {
                continue; // headless: DNS answers with the endpoints, no proxying
            };
            if port.endpoints.is_empty() {
                reject_rules(&mut filter, &names, key, port);
            } else {
                service_rules(&mut nat, config, &names, key, port);
            }
        }
        // Last, so cluster IPs that are local addresses take their own rules first.
        nat.rule(
            &names.services,
            format!(
                "-m addrtype --dst-type LOCAL -m comment --comment \"kmicro node ports\" -j {}",
                names.nodeports
            ),
        );
        Ruleset { nat, filter }
    }
}

/// The fixed chains of an instance.
struct Fixed {
    prefix: String,
    services: String,
    nodeports: String,
    postrouting: String,
    mark_masq: String,
    forward: String,
}

impl Fixed {
    fn new(p: &str) -> Self {
        Fixed {
            prefix: p.to_string(),
            services: format!("{p}SERVICES"),
            nodeports: format!("{p}NODEPORTS"),
            postrouting: format!("{p}POSTROUTING"),
            mark_masq: format!("{p}MARK-MASQ"),
            forward: format!("{p}FORWARD"),
        }
    }
}

fn key_parts(key: &ServiceKey) -> [&str; 4] {
    [
        &key.namespace,
        &key.name,
        &key.port_name,
        key.protocol.as_str(),
    ]
}

/// The node port and host ports of `port`.
fn external_ports(port: &ServicePort) -> impl Iterator<Item = u16> + '_ {
    port.node_port
        .into_iter()
        .chain(port.host_ports.iter().copied())
}

fn reject_rules(filter: &mut TableRules, names: &Fixed, key: &ServiceKey, port: &ServicePort) {
    let proto = key.protocol.as_str();
    let Some(ip) = port.cluster_ip else { return };
    filter.rule(
        &names.services,
        format!(
            "-d {ip}/32 -p {proto} -m {proto} --dport {} -m comment --comment \"{key} has no endpoints\" -j REJECT --reject-with icmp-port-unreachable",
            port.port
        ),
    );
    for ext in external_ports(port) {
        filter.rule(
            &names.services,
            format!(
                "-m addrtype --dst-type LOCAL -p {proto} -m {proto} --dport {ext} -m comment --comment \"{key} has no endpoints\" -j REJECT --reject-with icmp-port-unreachable"
            ),
        );
    }
}

fn service_rules(
    nat: &mut TableRules,
    config: &ProxyConfig,
    names: &Fixed,
    key: &ServiceKey,
    port: &ServicePort,
) {
    let p = &names.prefix;
    let proto = key.protocol.as_str();
    let parts = key_parts(key);
    let svc = object_chain(p, "SVC", &parts);
    nat.chain(&svc);
    if let Some(ip) = port.cluster_ip {
        nat.rule(
            &names.services,
            format!(
                "-d {ip}/32 -p {proto} -m {proto} --dport {} -m comment --comment \"{key} cluster IP\" -j {svc}",
                port.port
            ),
        );
        nat.rule(
            &svc,
            format!(
                "! -s {} -d {ip}/32 -p {proto} -m {proto} --dport {} -j {}",
                config.cluster_cidr, port.port, names.mark_masq
            ),
        );
    }
    let mut ext_ports = external_ports(port).peekable();
    if ext_ports.peek().is_some() {
        let ext = object_chain(p, "EXT", &parts);
        nat.chain(&ext);
        for n in ext_ports {
            nat.rule(
                &names.nodeports,
                format!(
                    "-p {proto} -m {proto} --dport {n} -m comment --comment \"{key}\" -j {ext}"
                ),
            );
        }
        if port.external_local {
            // The client's address is kept, but traffic from this host (127.0.0.1 too)
            // must be masqueraded for replies to find their way back.
            nat.rule(
                &ext,
                format!(
                    "-m addrtype --src-type LOCAL -m comment --comment \"masquerade traffic from the node\" -j {}",
                    names.mark_masq
                ),
            );
        } else {
            nat.rule(&ext, format!("-j {}", names.mark_masq));
        }
        nat.rule(&ext, format!("-j {svc}"));
    }

    let mut endpoints: Vec<Endpoint> = port.endpoints.clone();
    endpoints.sort();
    endpoints.dedup();
    let chains: Vec<String> = endpoints
        .iter()
        .map(|e| {
            let ep = format!("{}:{}", e.ip, e.port);
            object_chain(p, "SEP", &[parts[0], parts[1], parts[2], parts[3], &ep])
        })
        .collect();
    if let SessionAffinity::ClientIp { timeout_seconds } = port.affinity {
        for sep in &chains {
            nat.rule(
                &svc,
                format!(
                    "-m recent --name {sep} --mask 255.255.255.255 --rsource --rcheck --seconds {timeout_seconds} --reap -j {sep}"
                ),
            );
        }
    }
    let n = chains.len();
    for (i, sep) in chains.iter().enumerate() {
        let left = n - i;
        if left > 1 {
            nat.rule(
                &svc,
                format!(
                    "-m statistic --mode random --probability {:.10} -j {sep}",
                    1.0 / left as f64
                ),
            );
        } else {
            nat.rule(&svc, format!("-j {sep}"));
        }
    }
    for (e, sep) in endpoints.iter().zip(&chains) {
        nat.chain(sep);
        // Hairpin: a pod reaching itself through the Service.
        nat.rule(sep, format!("-s {}/32 -j {}", e.ip, names.mark_masq));
        let affinity = match port.affinity {
            SessionAffinity::ClientIp { .. } => {
                format!("-m recent --name {sep} --mask 255.255.255.255 --rsource --set ")
            }
            SessionAffinity::None => String::new(),
        };
        nat.rule(
            sep,
            format!(
                "-p {proto} -m {proto} {affinity}-j DNAT --to-destination {}:{}",
                e.ip, e.port
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::pod::Protocol;

    fn key(name: &str) -> ServiceKey {
        ServiceKey {
            namespace: "default".into(),
            name: name.into(),
            port_name: String::new(),
            protocol: Protocol::Tcp,
        }
    }

    fn ep(last: u8, port: u16) -> Endpoint {
        Endpoint {
            ip: Ipv4Addr::new(10, 244, 3, last),
            port,
        }
    }

    fn port(ip: [u8; 4], endpoints: Vec<Endpoint>) -> ServicePort {
        ServicePort {
            cluster_ip: Some(Ipv4Addr::from(ip)),
            port: 80,
            node_port: None,
            host_ports: Vec::new(),
            external_local: false,
            affinity: SessionAffinity::None,
            endpoints,
        }
    }

    fn config() -> ProxyConfig {
        ProxyConfig::new("KMabc123-", "10.244.3.0/24".parse().unwrap())
    }

    fn rules_of<'a>(t: &'a TableRules, chain: &str) -> Vec<&'a str> {
        t.rules
            .iter()
            .filter(|(c, _)| c == chain)
            .map(|(_, r)| r.as_str())
            .collect()
    }

    fn svc_chain(t: &TableRules) -> String {
        t.chains
            .iter()
            .find(|c| c.starts_with("KMabc123-SVC-"))
            .cloned()
            .unwrap()
    }

    #[test]
    fn three_endpoints_spread_evenly() {
        let mut state = ProxyState::default();
        state.services.insert(
            key("web"),
            port([10, 96, 3, 20], vec![ep(4, 8080), ep(2, 8080), ep(3, 8080)]),
        );
        let r = Ruleset::build(&config(), &state);
        let svc = svc_chain(&r.nat);
        assert!(svc.len() <= 28);
        let services = rules_of(&r.nat, "KMabc123-SERVICES");
        assert_eq!(
            services[0],
            format!(
                "-d 10.96.3.20/32 -p tcp -m tcp --dport 80 -m comment --comment \"default/web cluster IP\" -j {svc}"
            )
        );
        // The node-port catch-all comes last.
        assert!(services.last().unwrap().contains("--dst-type LOCAL"));
        let lines = rules_of(&r.nat, &svc);
        assert!(lines[0].starts_with("! -s 10.244.3.0/24 -d 10.96.3.20/32"));
        assert!(lines[1].contains("--probability 0.3333333333 -j KMabc123-SEP-"));
        assert!(lines[2].contains("--probability 0.5000000000 -j KMabc123-SEP-"));
        assert!(lines[3].starts_with("-j KMabc123-SEP-"));
        assert_eq!(lines.len(), 4);
        // Endpoint chains: hairpin masquerade, then the DNAT, in address order.
        let sep = lines[1].rsplit(' ').next().unwrap();
        assert_eq!(
            rules_of(&r.nat, sep),
            [
                "-s 10.244.3.2/32 -j KMabc123-MARK-MASQ",
                "-p tcp -m tcp -j DNAT --to-destination 10.244.3.2:8080"
            ]
        );
        assert!(r.filter.rules.iter().all(|(_, s)| !s.contains("REJECT")));
    }

    #[test]
    fn client_ip_affinity_uses_recent_with_the_timeout() {
        let mut p = port([10, 96, 3, 21], vec![ep(2, 80), ep(3, 80)]);
        p.affinity = SessionAffinity::ClientIp {
            timeout_seconds: 60,
        };
        let mut state = ProxyState::default();
        state.services.insert(key("sticky"), p);
        let r = Ruleset::build(&config(), &state);
        let svc = svc_chain(&r.nat);
        let lines = rules_of(&r.nat, &svc);
        let sep = lines[1].rsplit(' ').next().unwrap().to_string();
        assert_eq!(
            lines[1],
            format!(
                "-m recent --name {sep} --mask 255.255.255.255 --rsource --rcheck --seconds 60 --reap -j {sep}"
            )
        );
        assert!(lines[3].contains("--probability 0.5"));
        assert!(rules_of(&r.nat, &sep)[1].contains(&format!("-m recent --name {sep} ")));
        assert!(rules_of(&r.nat, &sep)[1].contains("--set -j DNAT"));
    }

    #[test]
    fn no_endpoints_rejects_in_filter_and_no_nat() {
        let mut p = port([10, 96, 3, 22], vec![]);
        p.node_port = Some(30123);
        let mut state = ProxyState::default();
        state.services.insert(key("empty"), p);
        let r = Ruleset::build(&config(), &state);
        assert!(!r.nat.chains.iter().any(|c| c.contains("SVC-")));
        let rejects = rules_of(&r.filter, "KMabc123-SERVICES");
        assert_eq!(rejects.len(), 2);
        assert!(rejects[0].starts_with("-d 10.96.3.22/32 -p tcp -m tcp --dport 80 "));
        assert!(rejects[0].ends_with("-j REJECT --reject-with icmp-port-unreachable"));
        assert!(
            rejects[1].starts_with("-m addrtype --dst-type LOCAL -p tcp -m tcp --dport 30123 ")
        );
    }

    #[test]
    fn node_ports_masquerade_by_policy() {
        let mut cluster = port([10, 96, 3, 23], vec![ep(2, 80)]);
        cluster.node_port = Some(30100);
        cluster.host_ports = vec![8088];
        let mut local = port([10, 96, 3, 24], vec![ep(3, 80)]);
        local.node_port = Some(30101);
        local.external_local = true;
        let mut state = ProxyState::default();
        state.services.insert(key("cluster"), cluster);
        state.services.insert(key("local"), local);
        let r = Ruleset::build(&config(), &state);
        let np = rules_of(&r.nat, "KMabc123-NODEPORTS");
        assert_eq!(np.len(), 3, "{np:?}");
        let ext_of = |port: u16| {
            np.iter()
                .find(|l| l.contains(&format!("--dport {port} ")))
                .unwrap()
                .rsplit(' ')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(ext_of(30100), ext_of(8088));
        let cluster_ext = rules_of(&r.nat, &ext_of(30100));
        assert_eq!(cluster_ext[0], "-j KMabc123-MARK-MASQ");
        let local_ext = rules_of(&r.nat, &ext_of(30101));
        assert!(local_ext[0].starts_with("-m addrtype --src-type LOCAL "));
        assert!(local_ext[1].starts_with("-j KMabc123-SVC-"));
        // 127.0.0.1 is a LOCAL destination: the catch-all covers it.
        assert!(
            rules_of(&r.nat, "KMabc123-SERVICES")
                .last()
                .unwrap()
                .starts_with("-m addrtype --dst-type LOCAL ")
        );
        assert!(rules_of(&r.nat, "KMabc123-POSTROUTING").contains(&"-j MASQUERADE --random-fully"));
    }

    #[test]
    fn headless_services_get_nothing() {
        let mut p = port([0, 0, 0, 0], vec![ep(2, 80)]);
        p.cluster_ip = None;
        let mut state = ProxyState::default();
        state.services.insert(key("headless"), p);
        let r = Ruleset::build(&config(), &state);
        assert!(
            r.nat
                .rules
                .iter()
                .all(|(_, s)| !s.contains("default/headless"))
        );
        assert_eq!(r.nat.chains.len(), 4);
    }

    const SAVE: &str = "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
        :KMabc123-SERVICES - [0:0]\n:KMabc123-SVC-0000000000000 - [0:0]\n:KMother0-SERVICES - [0:0]\n\
        -A PREROUTING -m comment --comment \"kmicro service portals\" -j KMabc123-SERVICES\n\
        -A PREROUTING -m comment --comment \"kmicro service portals\" -j KMother0-SERVICES\n\
        -A OUTPUT -m comment --comment \"kmicro service portals\" -j KMabc123-SERVICES\n\
        -A KMabc123-SERVICES -j KMabc123-SVC-0000000000000\nCOMMIT\n";

    #[test]
    fn restore_replaces_jumps_once_and_drops_stale_chains() {
        let r = Ruleset::build(&config(), &ProxyState::default());
        let script = r.nat.restore_script("KMabc123-", SAVE);
        let count = |needle: &str| script.lines().filter(|l| l.starts_with(needle)).count();
        // Old jumps deleted, each new one inserted once.
        assert_eq!(count("-D PREROUTING"), 1);
        assert_eq!(count("-D OUTPUT"), 1);
        assert_eq!(count("-I PREROUTING 1 "), 1);
        assert_eq!(count("-I OUTPUT 1 "), 1);
        assert_eq!(count("-I POSTROUTING 1 "), 1);
        // The other instance is not touched.
        assert!(!script.contains("KMother0"));
        // The stale service chain is flushed and deleted, the kept ones declared (flushed).
        assert!(script.contains(":KMabc123-SVC-0000000000000 - [0:0]\n"));
        assert!(script.contains("-X KMabc123-SVC-0000000000000\n"));
        assert!(!script.contains("-X KMabc123-SERVICES"));
        assert!(script.starts_with("*nat\n") && script.ends_with("COMMIT\n"));
        // Declarations precede their use.
        let declared = script.find(":KMabc123-SERVICES").unwrap();
        assert!(declared < script.find("-I PREROUTING").unwrap());
    }

    #[test]
    fn removal_touches_only_the_instance() {
        let script = removal_script("nat", "KMabc123-", SAVE).unwrap();
        assert_eq!(
            script,
            "*nat\n:KMabc123-SERVICES - [0:0]\n:KMabc123-SVC-0000000000000 - [0:0]\n\
             -D PREROUTING -m comment --comment \"kmicro service portals\" -j KMabc123-SERVICES\n\
             -D OUTPUT -m comment --comment \"kmicro service portals\" -j KMabc123-SERVICES\n\
             -X KMabc123-SERVICES\n-X KMabc123-SVC-0000000000000\nCOMMIT\n"
        );
        assert_eq!(removal_script("nat", "KMnone00-", SAVE), None);
    }
}
