//! A `kmicro run` started for a test, and a kubectl pointed at it.

#![allow(dead_code)]

pub mod busybox;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running `kmicro run` on loopback with its own data dir.
pub struct Cluster {
    pub child: Child,
    pub data_dir: PathBuf,
    pub port: u16,
    pub kubeconfig: PathBuf,
    cache_dir: PathBuf,
    /// The pod network the harness gave it (released on drop).
    net: Option<TestNet>,
    _tmp: Option<tempfile::TempDir>,
}

/// The kubectl binaries tests that exercise several versions run: the machine's (1.32, a
/// dispatcher that runs its built-in 1.32 against a 1.35 server) and 1.35
/// (`tests/install-deps.sh` puts it there).
pub const KUBECTLS: &[&str] = &["kubectl", "/opt/kmicro-test-tools/v35/kubectl/kubectl"];

/// One kubectl binary pointed at a cluster, with a discovery cache of its own.
pub struct Kubectl<'a> {
    /// The kubectl binary (one of [`KUBECTLS`]).
    pub binary: &'a str,
    /// The cluster it talks to.
    pub cluster: &'a Cluster,
    cache: tempfile::TempDir,
}

impl<'a> Kubectl<'a> {
    /// `binary` against `cluster`; the binary must exist.
    pub fn new(binary: &'a str, cluster: &'a Cluster) -> Self {
        assert!(
            binary == "kubectl" || Path::new(binary).exists(),
            "{binary} is missing: run tests/install-deps.sh"
        );
        Self {
            binary,
            cluster,
            cache: tempfile::tempdir().unwrap(),
        }
    }

    /// The command for `args`, flags first (after a `--` in `args` comes a container's
    /// command).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.binary);
        cmd.arg("--kubeconfig")
            .arg(&self.cluster.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args);
        cmd
    }

    /// Runs kubectl with `stdin` as its input.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        run_with_stdin(&mut self.command(args), stdin)
    }

    /// Runs kubectl, failing the test if it fails; returns stdout.
    pub fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "{} {args:?} failed:\n{}",
            self.binary,
            output_text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl expecting failure; returns stdout and stderr.
    pub fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(
            !out.status.success(),
            "{} {args:?} should have failed:\n{}",
            self.binary,
            output_text(&out)
        );
        output_text(&out)
    }
}

/// Runs `cmd` with `stdin` as its input (none: no input) and collects its output.
fn run_with_stdin(cmd: &mut Command, stdin: Option<&str>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("run {:?}: {e}", cmd.get_program()));
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

/// A command's stdout followed by its stderr.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    /// Starts a cluster in a fresh temp dir and waits until it is ready.
    pub fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let mut cluster = Self::start_in(&data_dir, free_port());
        cluster._tmp = Some(tmp);
        cluster
    }

    /// Starts a cluster in a fresh temp dir without the scheduler and controller modules: the
    /// API server alone, for tests of API semantics that controllers acting on the same
    /// objects (a Deployment's status, its pods) would disturb — as kube-apiserver is tested
    /// without kube-controller-manager.
    pub fn start_api_only() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let mut cluster = Self::start_with(
            &data_dir,
            free_port(),
            &["--disable-scheduler", "--disable-controller-manager"],
        );
        cluster._tmp = Some(tmp);
        cluster
    }

    /// Starts a cluster on `data_dir` (kept) and waits until it is ready.
    pub fn start_in(data_dir: &Path, port: u16) -> Self {
        Self::start_with(data_dir, port, &[])
    }

    /// Starts a cluster on `data_dir` with extra `kmicro run` flags and waits until it is ready.
    pub fn start_with(data_dir: &Path, port: u16, extra: &[&str]) -> Self {
        let child = spawn(data_dir, port, extra);
        let mut cluster = Self {
            child,
            data_dir: data_dir.to_path_buf(),
            port,
            kubeconfig: data_dir.join("kubeconfig.yaml"),
            cache_dir: data_dir.with_extension("kubecache"),
            net: TestNet::recorded(data_dir),
            _tmp: None,
        };
        cluster.wait_ready();
        cluster
    }

    /// Waits for `/readyz`; fails at once, with the end of kmicro's log, if it exits first.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.kubeconfig.exists() {
                let out = self.kubectl(&["get", "--raw", "/readyz"]);
                if out.status.success() {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "kmicro exited ({status}) before it was ready; its log ends:\n{}",
                    log_tail(&self.data_dir)
                );
            }
            assert!(
                Instant::now() < deadline,
                "kmicro did not become ready in 30 s; its log ends:\n{}",
                log_tail(&self.data_dir)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs kubectl against the cluster.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with_stdin(args, None)
    }

    /// Runs kubectl with `stdin` as its input.
    pub fn kubectl_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.run_kubectl("kubectl", &self.cache_dir, args, stdin, &[])
    }

    /// Runs the kubectl binary `bin` (another version than the machine's) with `stdin`; it
    /// gets a cache dir of its own, so it fetches discovery and OpenAPI itself.
    pub fn kubectl_bin(&self, bin: &str, args: &[&str], stdin: Option<&str>) -> Output {
        self.kubectl_at(bin, args, stdin, &[])
    }

    /// Runs the kubectl binary `bin` with `stdin` and extra environment; any binary but the
    /// machine's gets a cache dir of its own.
    pub fn kubectl_at(
        &self,
        bin: &str,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> Output {
        let cache = if bin == "kubectl" {
            self.cache_dir.clone()
        } else {
            self.cache_dir
                .with_extension(format!("kubecache{}", bin.replace('/', "_")))
        };
        self.run_kubectl(bin, &cache, args, stdin, env)
    }

    fn run_kubectl(
        &self,
        bin: &str,
        cache_dir: &Path,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> Output {
        // Flags first: after a `--` in `args` comes a container's command.
        let mut cmd = Command::new(bin);
        cmd.arg("--cache-dir")
            .arg(cache_dir)
            .args(args)
            .envs(env.iter().copied())
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", cache_dir);
        run_with_stdin(&mut cmd, stdin)
    }

    /// Runs kubectl and returns stdout, failing the test if kubectl fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl with stdin and returns stdout, failing the test if kubectl fails.
    pub fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        let out = self.kubectl_with_stdin(args, Some(stdin));
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl_with_stdin(args, stdin);
        assert!(
            !out.status.success(),
            "kubectl {args:?} should have failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// The API server's URL.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Keeps `tmp` (holding the data dir) until the cluster is dropped.
    pub fn keep_temp_dir(&mut self, tmp: tempfile::TempDir) {
        self._tmp = Some(tmp);
    }

    /// SIGKILLs the process.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Containers outlive kmicro (as with k3s): the test's are killed here, and what the
        // runtime mounted under the data dir is unmounted so the temp dir can go.
        kill_cgroup(&cgroup_root(&self.data_dir));
        unmount_under(&self.data_dir);
        if let Some(net) = self.net {
            net.release();
        }
    }
}

/// The cgroup root of the test cluster on `data_dir`: one per data dir, so clusters running at
/// once (and the machine's own kmicro) never share one.
pub fn cgroup_root(data_dir: &Path) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data_dir.as_os_str().as_encoded_bytes() {
        hash = (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("kmicro-test-{hash:016x}")
}

/// The directories of cgroup `root` in every hierarchy mounted under `/sys/fs/cgroup`.
pub fn cgroup_dirs(root: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let base = Path::new("/sys/fs/cgroup");
    if base.join(root).is_dir() {
        out.push(base.join(root));
    }
    for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
        let dir = entry.path().join(root);
        if dir.is_dir() && !out.contains(&dir) {
            out.push(dir);
        }
    }
    out
}

/// Every process in cgroup `root` (any hierarchy, any depth).
pub fn cgroup_pids(root: &str) -> Vec<i32> {
    fn walk(dir: &Path, out: &mut Vec<i32>) {
        if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                walk(&entry.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    for dir in cgroup_dirs(root) {
        walk(&dir, &mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Kills every process of cgroup `root` and removes its cgroups.
pub fn kill_cgroup(root: &str) {
    for _ in 0..50 {
        let pids = cgroup_pids(root);
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            let _ = Command::new("kill")
                .args(["-9", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    fn remove(dir: &Path) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                remove(&entry.path());
            }
        }
        let _ = std::fs::remove_dir(dir);
    }
    for dir in cgroup_dirs(root) {
        remove(&dir);
    }
}

/// Unmounts (lazily) everything mounted under `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        let _ = Command::new("umount").arg("-l").arg(&point).status();
    }
}

/// The hard eviction thresholds of test clusters whose flags set none: low enough that no
/// machine running the tests is under pressure. Test machines' disks may be nearly full, and
/// with kubelet's defaults (`nodefs.available<10%`) such a node reports DiskPressure, gets the
/// `node.kubernetes.io/disk-pressure` taint and has nothing scheduled on it: tests of other
/// things would then depend on the machine's disk. The node agent's own tests
/// (`node_agent.rs`) check pressure explicitly, against `df`, with the thresholds they set.
pub const TEST_EVICTION_HARD: &str = "eviction-hard=memory.available<1Mi,nodefs.available<1Mi";

/// Starts `kmicro run` (with extra flags) without waiting. Unless `extra` passes a
/// `--kubelet-arg`, the cluster gets [`TEST_EVICTION_HARD`].
pub fn spawn(data_dir: &Path, port: u16, extra: &[&str]) -> Child {
    let sets_kubelet_args = extra
        .iter()
        .any(|a| *a == "--kubelet-arg" || a.starts_with("--kubelet-arg="));
    let sets_cgroup_root = extra
        .iter()
        .any(|a| *a == "--cgroup-root" || a.starts_with("--cgroup-root="));
    let sets = |flags: &[&str]| {
        extra.iter().any(|a| {
            flags
                .iter()
                .any(|f| a == f || a.starts_with(&format!("{f}=")))
        })
    };
    let sets_network = sets(&["--cni-bridge", "--cluster-cidr"]);
    let sets_services = sets(&[
        "--service-cidr",
        "--service-node-port-range",
        "--cluster-dns",
    ]);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kmicro"));
    cmd.args([
        "run",
        "--bind-address",
        "127.0.0.1",
        "--https-listen-port",
        &port.to_string(),
        "--data-dir",
    ])
    .arg(data_dir);
    if !sets_kubelet_args {
        cmd.args(["--kubelet-arg", TEST_EVICTION_HARD]);
    }
    if !sets_cgroup_root {
        cmd.args(["--cgroup-root", &cgroup_root(data_dir)]);
    }
    if !sets_network || !sets_services {
        let net = TestNet::for_data_dir(data_dir);
        if !sets_network {
            cmd.args(["--cni-bridge", &net.bridge(), "--cluster-cidr", &net.cidr()]);
        }
        if !sets_services {
            cmd.args([
                "--service-cidr",
                &net.service_cidr(),
                "--service-node-port-range",
                &net.node_port_range(),
                "--cluster-dns",
                &net.cluster_dns().to_string(),
            ]);
        }
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(data_dir))
        .expect("open the kmicro log");
    cmd.args(extra)
        .env("KMICRO_LOG_LEVEL", "warn")
        // The node agent runs pods now: an image it does not have would be pulled from its
        // registry. Tests send nothing off the machine, so registries other than loopback
        // ones are reached through a proxy that is not there (the pull fails at once).
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdout(Stdio::null())
        // A file, not a pipe: nobody reads a test cluster's stderr as it runs, and a full
        // pipe would stop kmicro at its next log line.
        .stderr(log)
        .spawn()
        .expect("start kmicro run")
}

/// Where `spawn` appends the stderr of the `kmicro run` on `data_dir` (beside it, so it
/// outlives restarts and is gone with the temp dir).
pub fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.with_extension("kmicro.log")
}

/// The last 40 lines of the log of the `kmicro run` on `data_dir`.
pub fn log_tail(data_dir: &Path) -> String {
    let text = std::fs::read_to_string(log_path(data_dir)).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Where test clusters claim their pod networks: one file per index, holding the claiming
/// process's pid (`/run` is a tmpfs, emptied at boot).
const TEST_NET_CLAIMS: &str = "/run/kmicro-test-nets";

/// A test cluster's own pod network, so clusters running at once (in this process, in other
/// test processes, or a real cluster on the machine) never share a bridge, a subnet or an
/// iptables rule: bridge `kmt-<N>` (which also names the CNI network, so the plugins' rules
/// carry `name: "kmt-<N>"`, and the service proxy's chains its prefix), cluster CIDR
/// `10.244.<N>.0/24`, service CIDR `10.96.<N>.0/24` with the cluster DNS at `10.96.<N>.10`
/// (on interface `kmt-<N>-dns`), node ports `30000 + 40·N` … `+ 39`. `N` is claimed by a file in
/// [`TEST_NET_CLAIMS`]; a subnet that any route of the machine overlaps is never taken. The
/// index is recorded beside the data dir, so a cluster started again on it (a restart) gets
/// the same network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestNet {
    /// `N`.
    pub index: u8,
}

impl TestNet {
    /// The bridge.
    pub fn bridge(&self) -> String {
        format!("kmt-{}", self.index)
    }

    /// The cluster CIDR (and node subnet).
    pub fn cidr(&self) -> String {
        format!("10.244.{}.0/24", self.index)
    }

    /// The service CIDR (`--service-cidr`).
    pub fn service_cidr(&self) -> String {
        format!("10.96.{}.0/24", self.index)
    }

    /// The first node port of the cluster's slice (`--service-node-port-range`).
    pub fn first_node_port(&self) -> u16 {
        30000 + 40 * u16::from(self.index)
    }

    /// `--service-node-port-range`: 40 ports of its own.
    pub fn node_port_range(&self) -> String {
        let first = self.first_node_port();
        format!("{first}-{}", first + 39)
    }

    /// The cluster DNS address (in the service CIDR).
    pub fn cluster_dns(&self) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::new(10, 96, self.index, 10)
    }

    /// The interface kmicro puts the cluster DNS address on (`<bridge>-dns`).
    pub fn dns_interface(&self) -> String {
        format!("{}-dns", self.bridge())
    }

    /// The service proxy's chain prefix for this network's bridge.
    pub fn chain_prefix(&self) -> String {
        kmicro_network::proxy::chain_prefix(&self.bridge())
    }

    /// The bridge's address, the pods' gateway.
    pub fn gateway(&self) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::new(10, 244, self.index, 1)
    }

    /// Whether `ip` lies in the subnet.
    pub fn contains(&self, ip: std::net::Ipv4Addr) -> bool {
        let o = ip.octets();
        o[0] == 10 && o[1] == 244 && o[2] == self.index
    }

    fn record_path(data_dir: &Path) -> PathBuf {
        data_dir.with_extension("testnet")
    }

    fn claim_path(index: u8) -> PathBuf {
        Path::new(TEST_NET_CLAIMS).join(index.to_string())
    }

    /// The network recorded for `data_dir`, if one was claimed.
    pub fn recorded(data_dir: &Path) -> Option<TestNet> {
        let text = std::fs::read_to_string(Self::record_path(data_dir)).ok()?;
        Some(TestNet {
            index: text.trim().parse().ok()?,
        })
    }

    /// The network of the cluster on `data_dir`: the recorded one, else a newly claimed one.
    pub fn for_data_dir(data_dir: &Path) -> TestNet {
        if let Some(net) = Self::recorded(data_dir) {
            let _ = std::fs::write(Self::claim_path(net.index), std::process::id().to_string());
            return net;
        }
        std::fs::create_dir_all(TEST_NET_CLAIMS).unwrap();
        // One claimer at a time, across threads and test processes: a claim is created, then
        // its owner written, and a stale one is cleaned up before it is taken; unlocked, a
        // claimer reading a claim still empty took it for a dead owner's, and several
        // clusters got one network.
        let lock = std::fs::File::create(Path::new(TEST_NET_CLAIMS).join(".lock")).unwrap();
        lock.lock().unwrap();
        let routes = host_ipv4_routes();
        let start = (std::process::id() % 256) as u8;
        for i in 0..=255u8 {
            let index = start.wrapping_add(i);
            let net = TestNet { index };
            let claim = Self::claim_path(index);
            if let Ok(owner) = std::fs::read_to_string(&claim) {
                let alive = owner
                    .trim()
                    .parse::<u32>()
                    .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                if alive {
                    continue;
                }
                // Left by a test process that died: its bridge and rules go first.
                net.clean_up();
                let _ = std::fs::remove_file(&claim);
            }
            let base = u32::from(std::net::Ipv4Addr::new(10, 244, index, 0));
            if routes
                .iter()
                .any(|(net, len)| overlaps(*net, *len, base, 24))
            {
                continue;
            }
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&claim);
            let Ok(mut file) = created else {
                continue;
            };
            use std::io::Write;
            file.write_all(std::process::id().to_string().as_bytes())
                .unwrap();
            std::fs::write(Self::record_path(data_dir), index.to_string()).unwrap();
            return net;
        }
        panic!("no free test pod network in 10.244.0.0/16");
    }

    /// Removes the bridge and every iptables rule of the network, then the claim.
    pub fn release(&self) {
        self.clean_up();
        let _ = std::fs::remove_file(Self::claim_path(self.index));
    }

    /// Removes the bridge, the service proxy's chains and the plugins' iptables rules of this network (kmicro-network's
    /// `remove_network`: the bridge is also the CNI network's name).
    pub fn clean_up(&self) {
        if let Err(err) = kmicro_network::remove_network(&self.bridge(), &self.bridge()) {
            eprintln!("removing test network {}: {err}", self.bridge());
        }
        if let Err(err) = kmicro_network::proxy::remove(&self.chain_prefix()) {
            eprintln!(
                "removing test network {}'s service rules: {err}",
                self.bridge()
            );
        }
        // A cluster killed with SIGKILL leaves its cluster DNS interface behind.
        if Path::new("/sys/class/net")
            .join(self.dns_interface())
            .exists()
        {
            let _ = Command::new("ip")
                .args(["link", "del", &self.dns_interface()])
                .status();
        }
    }
}

/// The machine's IPv4 routes (every table) as (network, prefix length).
fn host_ipv4_routes() -> Vec<(u32, u8)> {
    let out = Command::new("ip")
        .args(["-4", "route", "show", "table", "all"])
        .output()
        .expect("run ip route");
    let mut routes = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut words = line.split_whitespace();
        let mut first = words.next().unwrap_or("");
        if matches!(
            first,
            "unicast"
                | "local"
                | "broadcast"
                | "multicast"
                | "throw"
                | "unreachable"
                | "prohibit"
                | "blackhole"
                | "nat"
                | "anycast"
        ) {
            first = words.next().unwrap_or("");
        }
        if first == "default" {
            continue; // 0.0.0.0/0 overlaps everything; it is not a subnet of this machine
        }
        let (addr, len) = first.split_once('/').unwrap_or((first, "32"));
        if let (Ok(addr), Ok(len)) = (addr.parse::<std::net::Ipv4Addr>(), len.parse::<u8>()) {
            routes.push((u32::from(addr), len.min(32)));
        }
    }
    routes
}

/// Whether two IPv4 networks share an address.
fn overlaps(a: u32, a_len: u8, b: u32, b_len: u8) -> bool {
    let len = a_len.min(b_len);
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    a & mask == b & mask
}
