//! The service proxy's rules applied to this host's real tables (needs root and
//! `iptables-restore`; a prefix of its own, so it never touches another instance).

use std::net::Ipv4Addr;
use std::process::Command;

use kmicro_network::Protocol;
use kmicro_network::proxy::{
    Endpoint, ProxyConfig, ProxyState, ServiceKey, ServicePort, SessionAffinity, apply,
    chain_prefix, remove,
};

fn save(table: &str) -> String {
    let out = Command::new("iptables-save")
        .args(["-t", table])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn lines_with(table: &str, needle: &str) -> usize {
    save(table).lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn apply_twice_then_remove() {
    let prefix = chain_prefix(&format!("proxy-host-test-{}", std::process::id()));
    let config = ProxyConfig::new(prefix.clone(), "10.250.7.0/24".parse().unwrap());
    let mut state = ProxyState::default();
    let key = |name: &str| ServiceKey {
        namespace: "default".into(),
        name: name.into(),
        port_name: "http".into(),
        protocol: Protocol::Tcp,
    };
    state.services.insert(
        key("web"),
        ServicePort {
            cluster_ip: Some(Ipv4Addr::new(10, 250, 8, 10)),
            port: 80,
            node_port: Some(30777),
            host_ports: vec![],
            external_local: false,
            affinity: SessionAffinity::ClientIp {
                timeout_seconds: 30,
            },
            endpoints: vec![
                Endpoint {
                    ip: Ipv4Addr::new(10, 250, 7, 2),
                    port: 8080,
                },
                Endpoint {
                    ip: Ipv4Addr::new(10, 250, 7, 3),
                    port: 8080,
                },
            ],
        },
    );
    let mut empty = state.services[&key("web")].clone();
    empty.cluster_ip = Some(Ipv4Addr::new(10, 250, 8, 11));
    empty.endpoints.clear();
    state.services.insert(key("empty"), empty);

    apply(&config, &state).unwrap();
    apply(&config, &state).unwrap();
    let jump = format!("-j {prefix}SERVICES");
    assert_eq!(
        save("nat")
            .lines()
            .filter(|l| l.starts_with("-A PREROUTING") && l.ends_with(&jump))
            .count(),
        1
    );
    assert_eq!(
        save("filter")
            .lines()
            .filter(|l| l.starts_with("-A FORWARD") && l.ends_with(&jump))
            .count(),
        1
    );
    assert_eq!(lines_with("nat", "--probability 0.5"), 1);
    assert_eq!(lines_with("nat", "--to-destination 10.250.7.2:8080"), 1);
    assert_eq!(lines_with("filter", "-d 10.250.8.11/32"), 1);

    // The Service goes away: its chains go with it.
    state.services.remove(&key("web"));
    apply(&config, &state).unwrap();
    assert_eq!(lines_with("nat", "10.250.7.2"), 0);
    assert_eq!(lines_with("nat", &format!(":{prefix}SEP-")), 0);

    remove(&prefix).unwrap();
    remove(&prefix).unwrap();
    assert_eq!(lines_with("nat", &prefix), 0);
    assert_eq!(lines_with("filter", &prefix), 0);
}
