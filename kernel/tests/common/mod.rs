//! A `kmicro run` started for a test, and a kubectl pointed at it.

#![allow(dead_code)]

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
        let cluster = Self {
            child,
            data_dir: data_dir.to_path_buf(),
            port,
            kubeconfig: data_dir.join("kubeconfig.yaml"),
            cache_dir: data_dir.with_extension("kubecache"),
            _tmp: None,
        };
        cluster.wait_ready();
        cluster
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.kubeconfig.exists() {
                let out = self.kubectl(&["get", "--raw", "/readyz"]);
                if out.status.success() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "kmicro did not become ready");
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
    cmd.args(extra)
        .env("KMICRO_LOG_LEVEL", "warn")
        // The node agent runs pods now: an image it does not have would be pulled from its
        // registry. Tests send nothing off the machine, so registries other than loopback
        // ones are reached through a proxy that is not there (the pull fails at once).
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kmicro run")
}
