//! Test harness: every test runs in a private "host" — the test binary re-executes itself
//! for one test under `unshare --net --mount --propagation private`, with a tmpfs over
//! `/run` (iptables' lock, `ip netns` files) — so the bridge, veths, iptables rules and
//! sysctls the plugins make live and die with that namespace, never on the real host.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use kmicro_network::{NetworkConfig, PodRef};

const INNER: &str = "KMICRO_NETWORK_TEST_DIR";
const OUTER_NETNS: &str = "KMICRO_NETWORK_TEST_OUTER_NETNS";

/// Runs `body` (given a scratch directory) inside a fresh network and mount namespace.
/// `name` is the test function's name, as libtest filters it.
pub fn private_host(name: &str, body: impl FnOnce(&Path)) {
    if let Ok(dir) = std::env::var(INNER) {
        enter_inner(name);
        body(Path::new(&dir));
        return;
    }
    assert!(
        rustix::process::geteuid().is_root(),
        "these tests create network namespaces, bridges and iptables rules: run as root"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("unshare")
        .args(["--net", "--mount", "--propagation", "private", "--"])
        .arg(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(INNER, dir.path())
        .env(OUTER_NETNS, netns_id("/proc/self/ns/net"))
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "inner test {name} failed: {}",
        out.status
    );
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "inner run did not run exactly {name}"
    );
}

fn netns_id(path: &str) -> String {
    std::fs::read_link(path).unwrap().display().to_string()
}

/// In the re-executed test: refuse to run in the host's namespace, then make `/run`
/// private and bring `lo` up.
fn enter_inner(name: &str) {
    let outer = std::env::var(OUTER_NETNS).unwrap();
    let here = netns_id("/proc/self/ns/net");
    assert_ne!(here, outer, "{name}: still in the outer network namespace");
    run(
        "mount",
        &["-t", "tmpfs", "-o", "mode=755", "kmicro-test-run", "/run"],
    );
    run("ip", &["link", "set", "lo", "up"]);
}

/// Runs a program, panics with its stderr when it fails; its stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A pod network namespace file (`ip netns add` under the private `/run`).
pub fn make_netns(name: &str) -> PathBuf {
    run("ip", &["netns", "add", name]);
    PathBuf::from(format!("/run/netns/{name}"))
}

/// The config the tests use: k3s's defaults, state under `dir`.
pub fn config(dir: &Path) -> NetworkConfig {
    NetworkConfig::new(dir.join("network"))
}

/// A pod named `name` with sandbox id `sb-<name>`.
pub fn pod(name: &str) -> PodRef {
    PodRef {
        namespace: "default".into(),
        name: name.into(),
        uid: format!("uid-{name}"),
        sandbox_id: format!("sb-{name}"),
    }
}

/// Runs `f` on a thread moved into the network namespace `netns`.
pub fn in_netns<T: Send + 'static>(
    netns: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    let file = std::fs::File::open(netns).unwrap();
    std::thread::spawn(move || {
        rustix::thread::move_into_link_name_space(
            file.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("setns");
        f()
    })
}

/// A TCP server inside `netns` on `port` (all addresses) answering `accepts` connections
/// with `reply`; returns once it listens.
pub fn serve(netns: &Path, port: u16, accepts: usize, reply: &'static str) -> JoinHandle<()> {
    let (tx, rx) = mpsc::channel();
    let h = in_netns(netns, move || {
        let l = TcpListener::bind(("0.0.0.0", port)).unwrap();
        tx.send(()).unwrap();
        for _ in 0..accepts {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(reply.as_bytes()).unwrap();
        }
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("server listening");
    h
}

/// Connects to `addr` (from `netns`, or from the test's host namespace) and reads the reply.
pub fn fetch(netns: Option<&Path>, addr: SocketAddr) -> std::io::Result<String> {
    let go = move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        let mut buf = String::new();
        s.read_to_string(&mut buf)?;
        Ok(buf)
    };
    match netns {
        Some(ns) => in_netns(ns, go).join().unwrap(),
        None => go(),
    }
}

/// The `nat` table as `iptables-save` prints it.
pub fn nat_rules() -> String {
    run("iptables-save", &["-t", "nat"])
}

/// Whether host-local holds `ip` (its reservation file in the IPAM dir).
pub fn ipam_holds(config: &NetworkConfig, ip: std::net::Ipv4Addr) -> bool {
    config
        .ipam_dir()
        .join(&config.network_name)
        .join(ip.to_string())
        .exists()
}

/// Runs a command inside `netns` (`nsenter --net=`).
pub fn run_in(netns: &Path, program: &str, args: &[&str]) -> String {
    let net = format!("--net={}", netns.display());
    let mut all = vec![net.as_str(), "--", program];
    all.extend_from_slice(args);
    run("nsenter", &all)
}
