//! Pods attached through the real CNI plugins (`/usr/lib/cni`), each test in its own
//! private network and mount namespace (see `common`). Root only.

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use kmicro_network::{Error, PodNetwork, PortMapping, Protocol};

fn tcp(host_port: u16, container_port: u16) -> PortMapping {
    PortMapping {
        host_port,
        container_port,
        protocol: Protocol::Tcp,
        host_ip: None,
    }
}

fn addr(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip, port))
}

#[test]
fn two_pods_talk_and_host_ports_work() {
    private_host("two_pods_talk_and_host_ports_work", |dir| {
        // A "node IP" on the test host, besides the bridge's.
        // (A veth pair: this kernel has no dummy module.)
        run(
            "ip",
            &[
                "link",
                "add",
                "node0",
                "type",
                "veth",
                "peer",
                "name",
                "node0-peer",
            ],
        );
        run("ip", &["addr", "add", "192.0.2.10/24", "dev", "node0"]);
        run("ip", &["link", "set", "node0", "up"]);
        run("ip", &["link", "set", "node0-peer", "up"]);
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "0").unwrap();

        let cfg = config(dir);
        let net = PodNetwork::new(cfg.clone()).unwrap();
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
            "1\n",
            "new() turns on forwarding"
        );
        let conflist: serde_json::Value =
            serde_json::from_slice(&std::fs::read(cfg.conflist_path()).unwrap()).unwrap();
        assert_eq!(conflist["plugins"][0]["type"], "bridge");

        let (a, b) = (pod("a"), pod("b"));
        let (ns_a, ns_b) = (make_netns("a"), make_netns("b"));
        let ip_a = net.setup(&a, &ns_a, &[tcp(18080, 8080)]).unwrap();
        let ip_b = net.setup(&b, &ns_b, &[]).unwrap();
        println!("pod a {ip_a:?}, pod b {ip_b:?}");
        assert_ne!(ip_a.ip, ip_b.ip);
        for ip in [ip_a, ip_b] {
            assert!(cfg.node_subnet.contains(ip.ip), "{ip:?}");
            assert_eq!(ip.prefix_len, 24);
            assert_eq!(ip.gateway, Some(Ipv4Addr::new(10, 42, 0, 1)));
            assert!(ipam_holds(&cfg, ip.ip));
        }

        // lo up, eth0 with the address, default route via the bridge.
        let lo = run_in(&ns_a, "ip", &["-o", "link", "show", "lo"]);
        assert!(lo.contains(",UP"), "{lo}");
        let eth0 = run_in(&ns_a, "ip", &["-o", "-4", "addr", "show", "eth0"]);
        assert!(eth0.contains(&format!("inet {}/24", ip_a.ip)), "{eth0}");
        let routes = run_in(&ns_a, "ip", &["route", "show", "default"]);
        assert!(
            routes.contains("default via 10.42.0.1 dev eth0"),
            "{routes}"
        );
        let bridge = run("ip", &["-o", "-4", "addr", "show", "cni0"]);
        assert!(bridge.contains("inet 10.42.0.1/24"), "{bridge}");

        // Inside a pod, loopback works.
        let lo_srv = serve(&ns_a, 7000, 1, "lo-ok");
        assert_eq!(
            fetch(Some(&ns_a), addr(Ipv4Addr::LOCALHOST, 7000)).unwrap(),
            "lo-ok"
        );
        lo_srv.join().unwrap();

        // Pod a reaches pod b over TCP.
        let srv_b = serve(&ns_b, 9000, 1, "hello from b");
        assert_eq!(
            fetch(Some(&ns_a), addr(ip_b.ip, 9000)).unwrap(),
            "hello from b"
        );
        srv_b.join().unwrap();

        // hostPort 18080 → a:8080, from the host at 127.0.0.1 (portmap's snat plus the
        // route_localnet it sets on the bridge), at the node IP, and from pod b.
        let route_localnet =
            std::fs::read_to_string("/proc/sys/net/ipv4/conf/cni0/route_localnet").unwrap();
        assert_eq!(route_localnet.trim(), "1");
        let srv_a = serve(&ns_a, 8080, 3, "hello from a");
        assert_eq!(
            fetch(None, addr(Ipv4Addr::LOCALHOST, 18080)).unwrap(),
            "hello from a"
        );
        let node_ip = Ipv4Addr::new(192, 0, 2, 10);
        assert_eq!(fetch(None, addr(node_ip, 18080)).unwrap(), "hello from a");
        assert_eq!(
            fetch(Some(&ns_b), addr(node_ip, 18080)).unwrap(),
            "hello from a"
        );
        srv_a.join().unwrap();
        assert!(nat_rules().contains("--dport 18080"));

        assert_eq!(net.check(&a).unwrap(), ip_a);
        let names: Vec<_> = net
            .attachments()
            .unwrap()
            .into_iter()
            .map(|x| (x.pod.name, x.pod_ip))
            .collect();
        assert_eq!(names, [("a".to_string(), ip_a), ("b".to_string(), ip_b)]);

        // Teardown removes the hostPort and masquerade rules, the veth and the address.
        net.teardown(&a, &ns_a).unwrap();
        let nat = nat_rules();
        assert!(!nat.contains("--dport 18080"), "{nat}");
        assert!(!nat.contains(&format!("-s {}/32", ip_a.ip)), "{nat}");
        assert!(!ipam_holds(&cfg, ip_a.ip));
        let links = run_in(&ns_a, "ip", &["-o", "link"]);
        assert!(!links.contains("eth0"), "{links}");
        assert!(fetch(None, addr(Ipv4Addr::LOCALHOST, 18080)).is_err());
        assert!(net.attachment("sb-a").unwrap().is_none());
        assert!(matches!(net.check(&a), Err(Error::NotAttached { .. })));
        // A second teardown is fine.
        net.teardown(&a, &ns_a).unwrap();
        // Pod b is untouched.
        assert_eq!(net.check(&b).unwrap(), ip_b);
        net.teardown(&b, &ns_b).unwrap();
        assert!(net.attachments().unwrap().is_empty());
    });
}

#[test]
fn released_addresses_are_reused_and_dead_namespaces_detach() {
    private_host(
        "released_addresses_are_reused_and_dead_namespaces_detach",
        |dir| {
            let mut cfg = config(dir);
            // Room for one pod only (.2, between the gateway .1 and the broadcast .3): another
            // pod gets an address only after a teardown released it.
            cfg.node_subnet = "10.42.5.0/30".parse().unwrap();
            let net = PodNetwork::new(cfg.clone()).unwrap();
            let (p1, p2, p3) = (pod("p1"), pod("p2"), pod("p3"));
            let (n1, n2, n3) = (make_netns("p1"), make_netns("p2"), make_netns("p3"));
            let ip1 = net.setup(&p1, &n1, &[tcp(18081, 80)]).unwrap();
            let err = net.setup(&p2, &n2, &[]).unwrap_err();
            println!("second pod in a full /30: {err}");
            assert!(
                err.to_string().contains("CNI plugin bridge ADD failed"),
                "{err}"
            );
            assert!(net.attachment("sb-p2").unwrap().is_none());

            // The namespace disappears before teardown (the sandbox was removed first).
            run("ip", &["netns", "delete", "p1"]);
            net.teardown(&p1, &n1).unwrap();
            net.teardown(&p1, &n1).unwrap();
            assert!(!ipam_holds(&cfg, ip1.ip));
            // No hostPort rule and (kmicro's sweep, as bridge cannot see the address) no
            // masquerade rule left.
            let nat = nat_rules();
            assert!(!nat.contains("--dport 18081"), "{nat}");
            assert!(!nat.contains("sb-p1"), "{nat}");
            let ip3 = net.setup(&p3, &n3, &[]).unwrap();
            assert_eq!(ip3.ip, ip1.ip, "the released address is handed out again");
            net.teardown(&p3, &n3).unwrap();
        },
    );
}

#[test]
fn restart_keeps_attachments() {
    private_host("restart_keeps_attachments", |dir| {
        let cfg = config(dir);
        let (a, b) = (pod("a"), pod("b"));
        let (ns_a, ns_b) = (make_netns("a"), make_netns("b"));
        let ip_a = {
            let net = PodNetwork::new(cfg.clone()).unwrap();
            net.setup(&a, &ns_a, &[tcp(18082, 8080)]).unwrap()
        };
        // kmicro restarts: a new PodNetwork over the same state.
        let net = PodNetwork::new(cfg.clone()).unwrap();
        let rec = net.attachment("sb-a").unwrap().expect("recorded");
        assert_eq!(rec.pod_ip, ip_a);
        assert_eq!(rec.port_mappings, [tcp(18082, 8080)]);
        assert_eq!(net.check(&a).unwrap(), ip_a);
        // Setting up the same sandbox again returns its address, changes nothing.
        assert_eq!(net.setup(&a, &ns_a, &[tcp(18082, 8080)]).unwrap(), ip_a);
        let dnat_rules = nat_rules().matches("--dport 18082 -j DNAT").count();
        assert_eq!(dnat_rules, 1);
        // A new pod gets another address: host-local's state survived.
        let ip_b = net.setup(&b, &ns_b, &[]).unwrap();
        assert_ne!(ip_b.ip, ip_a.ip);
        // The same sandbox with other ports is attached anew with them.
        let ip_a2 = net.setup(&a, &ns_a, &[tcp(18083, 8080)]).unwrap();
        let nat = nat_rules();
        assert!(!nat.contains("--dport 18082"), "{nat}");
        assert!(nat.contains("--dport 18083"), "{nat}");
        // Teardown after the restart uses the recorded result.
        net.teardown(&a, &ns_a).unwrap();
        net.teardown(&b, &ns_b).unwrap();
        assert!(!ipam_holds(&cfg, ip_a2.ip));
        assert!(!ipam_holds(&cfg, ip_b.ip));
        assert!(!nat_rules().contains("--dport 1808"));
    });
}

/// portmap replaced by one that fails after bridge succeeded: setup reports portmap's CNI
/// error and leaves nothing behind.
#[test]
fn failed_setup_cleans_up() {
    private_host("failed_setup_cleans_up", |dir| {
        let plugins = dir.join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        for p in ["bridge", "host-local", "loopback"] {
            std::os::unix::fs::symlink(Path::new("/usr/lib/cni").join(p), plugins.join(p)).unwrap();
        }
        let failing = r#"#!/bin/sh
cat >/dev/null
if [ "$CNI_COMMAND" = ADD ]; then
  echo '{"cniVersion":"1.0.0","code":999,"msg":"injected failure","details":"for the test"}'
  exit 1
fi
"#;
        std::fs::write(plugins.join("portmap"), failing).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            plugins.join("portmap"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let mut cfg = config(dir);
        cfg.plugin_dirs = vec![plugins];
        let net = PodNetwork::new(cfg.clone()).unwrap();
        let p = pod("p");
        let ns = make_netns("p");
        let err = net.setup(&p, &ns, &[tcp(18084, 80)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CNI plugin portmap ADD failed (code 999): injected failure: for the test"
        );
        assert!(net.attachment("sb-p").unwrap().is_none());
        let held: Vec<_> = std::fs::read_dir(cfg.ipam_dir().join("cbr0"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("10."))
            .collect();
        assert!(held.is_empty(), "addresses still held: {held:?}");
        let links = run_in(&ns, "ip", &["-o", "link"]);
        assert!(!links.contains("eth0"), "{links}");
        let host_links = run("ip", &["-o", "link"]);
        assert!(!host_links.contains("veth"), "{host_links}");
        let nat = nat_rules();
        assert!(!nat.contains("10.42.0."), "{nat}");
    });
}

/// The agent may attach several pods at once: the plugins lock their own state.
#[test]
fn concurrent_setups_get_distinct_addresses() {
    private_host("concurrent_setups_get_distinct_addresses", |dir| {
        let cfg = config(dir);
        let net = std::sync::Arc::new(PodNetwork::new(cfg.clone()).unwrap());
        let names = ["c0", "c1", "c2", "c3"];
        let threads: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let (net, p, ns) = (net.clone(), pod(name), make_netns(name));
                std::thread::spawn(move || {
                    net.setup(&p, &ns, &[tcp(18200 + i as u16, 80)]).unwrap()
                })
            })
            .collect();
        let mut ips: Vec<_> = threads.into_iter().map(|t| t.join().unwrap().ip).collect();
        ips.sort();
        ips.dedup();
        assert_eq!(ips.len(), names.len(), "{ips:?}");
        let nat = nat_rules();
        for i in 0..names.len() {
            assert!(nat.contains(&format!("--dport {}", 18200 + i)), "{nat}");
        }
        for name in names {
            net.teardown(&pod(name), Path::new(&format!("/run/netns/{name}")))
                .unwrap();
        }
        assert!(ips.iter().all(|ip| !ipam_holds(&cfg, *ip)));
    });
}

#[test]
fn bad_requests_are_refused_before_any_plugin_runs() {
    private_host("bad_requests_are_refused_before_any_plugin_runs", |dir| {
        let net = PodNetwork::new(config(dir)).unwrap();
        let ns = make_netns("x");
        let err = net
            .setup(&pod("x"), Path::new("/run/netns/nope"), &[])
            .unwrap_err();
        assert!(
            err.to_string().contains("not a network namespace file"),
            "{err}"
        );
        let err = net.setup(&pod("x"), &ns, &[tcp(0, 80)]).unwrap_err();
        assert!(
            err.to_string().contains("port_mappings[0].host_port"),
            "{err}"
        );
        let mut bad = pod("x");
        bad.sandbox_id = "../../etc".into();
        assert!(net.setup(&bad, &ns, &[]).is_err());
        assert!(
            run("ip", &["-o", "link"])
                .lines()
                .all(|l| !l.contains("cni0"))
        );
    });
}

/// The figure: median setup and teardown time of one pod, without and with a hostPort
/// (portmap runs only for pods with hostPorts).
/// `cargo test -p kmicro-network --test pod_network timing -- --nocapture`.
#[test]
fn setup_and_teardown_timing() {
    private_host("setup_and_teardown_timing", |dir| {
        let net = PodNetwork::new(config(dir)).unwrap();
        // The first pod creates the bridge and the shared chains: measured apart.
        let warm = pod("warm");
        let warm_ns = make_netns("warm");
        let t = Instant::now();
        net.setup(&warm, &warm_ns, &[tcp(18090, 80)]).unwrap();
        let first = t.elapsed();
        let t = Instant::now();
        net.check(&warm).unwrap();
        let check = t.elapsed();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "first setup (creates cni0): {:.1} ms; check: {:.1} ms",
            ms(first),
            ms(check)
        );
        const N: usize = 11;
        for with_port in [false, true] {
            let (mut setups, mut teardowns) = (Vec::new(), Vec::new());
            for i in 0..N {
                let name = format!("t{}-{i}", u8::from(with_port));
                let (p, ns) = (pod(&name), make_netns(&name));
                let ports = if with_port {
                    vec![tcp(18100 + i as u16, 80)]
                } else {
                    vec![]
                };
                let t = Instant::now();
                net.setup(&p, &ns, &ports).unwrap();
                setups.push(t.elapsed());
                let t = Instant::now();
                net.teardown(&p, &ns).unwrap();
                teardowns.push(t.elapsed());
            }
            setups.sort();
            teardowns.sort();
            println!(
                "pod network, {N} pods {}: setup median {:.1} ms, teardown median {:.1} ms",
                if with_port {
                    "with 1 hostPort (loopback, bridge/host-local, portmap)"
                } else {
                    "without hostPorts (loopback, bridge/host-local)"
                },
                ms(setups[N / 2]),
                ms(teardowns[N / 2]),
            );
        }
        net.teardown(&warm, &warm_ns).unwrap();
    });
}
