//! The DNS server asked by the real `dig` (Debian's bind9-dnsutils) on 127.0.0.1, over UDP
//! and TCP; names outside the cluster go to an upstream that is a second server on loopback
//! (nothing leaves the machine).

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, RwLock};

use kmicro_dns::{
    DnsConfig, DnsServer, EndpointEntry, PortEntry, Records, ServiceEntry, SliceEntry,
};
use tokio::net::{TcpListener, UdpSocket};

/// Starts a server on a free loopback port (UDP and TCP); answers its address.
async fn start(zone: &str, records: Records, upstreams: Vec<SocketAddr>) -> SocketAddr {
    // A port free for both UDP and TCP: the UDP one chosen, TCP tried on it (again if taken).
    let (udp, tcp, addr) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        if let Ok(tcp) = TcpListener::bind(addr).await {
            break (udp, tcp, addr);
        }
    };
    let server = DnsServer::new(
        DnsConfig {
            zone: zone.into(),
            upstreams,
        },
        Arc::new(RwLock::new(records)),
    );
    tokio::spawn(server.clone().serve_udp(udp));
    tokio::spawn(server.serve_tcp(tcp));
    addr
}

async fn dig(server: SocketAddr, args: &[&str]) -> String {
    let mut cmd = Command::new("dig");
    cmd.arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+time=2", "+tries=1"])
        .args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("dig (Debian package bind9-dnsutils) must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn records() -> Records {
    let mut r = Records::default();
    let tcp = |name: &str, port| PortEntry {
        name: name.into(),
        protocol: "TCP".into(),
        port,
    };
    r.set_service(
        "default",
        "web",
        ServiceEntry {
            cluster_ips: vec!["10.43.12.7".parse().unwrap()],
            ports: vec![tcp("http", 80)],
            ..Default::default()
        },
    );
    r.set_service(
        "db",
        "pg",
        ServiceEntry {
            headless: true,
            ..Default::default()
        },
    );
    let endpoints = (0..40)
        .map(|i| EndpointEntry {
            ip: format!("10.42.1.{i}").parse().unwrap(),
            hostname: Some(format!("pg-{i}")),
            ready: true,
        })
        .collect();
    r.set_slice(
        "db",
        "pg-x",
        SliceEntry {
            service: "pg".into(),
            endpoints,
            ports: vec![tcp("sql", 5432)],
        },
    );
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_resolves_cluster_names_and_forwards_the_rest() {
    // The "host's resolver": a server for another zone.
    let mut outside = Records::default();
    outside.set_service(
        "www",
        "example",
        ServiceEntry {
            cluster_ips: vec!["192.0.2.10".parse().unwrap()],
            ..Default::default()
        },
    );
    let upstream = start("example.test", outside, vec![]).await;
    let server = start("cluster.local", records(), vec![upstream]).await;

    let short = dig(server, &["+short", "web.default.svc.cluster.local", "A"]).await;
    assert_eq!(short.trim(), "10.43.12.7");

    let full = dig(server, &["nope.default.svc.cluster.local", "A"]).await;
    assert!(full.contains("status: NXDOMAIN"), "{full}");
    assert!(
        full.contains("SOA"),
        "negative answers carry the SOA: {full}"
    );
    assert!(full.contains("flags: qr aa rd ra"), "{full}");

    let srv = dig(
        server,
        &["+short", "_http._tcp.web.default.svc.cluster.local", "SRV"],
    )
    .await;
    assert_eq!(srv.trim(), "0 100 80 web.default.svc.cluster.local.");

    let ptr = dig(server, &["+short", "-x", "10.43.12.7"]).await;
    assert_eq!(ptr.trim(), "web.default.svc.cluster.local.");

    // Forwarded: the upstream's answer, as it gave it.
    let forwarded = dig(server, &["+short", "example.www.svc.example.test", "A"]).await;
    assert_eq!(forwarded.trim(), "192.0.2.10");

    // 40 headless endpoints do not fit 512 bytes of UDP: truncated, then dig retries on TCP.
    let many = dig(server, &["+short", "pg.db.svc.cluster.local", "A"]).await;
    assert_eq!(many.lines().count(), 40, "{many}");
    let tcp = dig(
        server,
        &["+tcp", "+short", "pg-7.pg.db.svc.cluster.local", "A"],
    )
    .await;
    assert_eq!(tcp.trim(), "10.42.1.7");
}

#[test]
fn resolvers_come_from_resolv_conf() {
    let text = "# comment\nsearch example.com\nnameserver 192.0.2.1\nnameserver fe80::1%eth0\noptions ndots:2\nnameserver bad\n";
    assert_eq!(
        kmicro_dns::upstreams_from_resolv_conf(text),
        vec![
            "192.0.2.1:53".parse::<SocketAddr>().unwrap(),
            "[fe80::1]:53".parse().unwrap()
        ]
    );
}
