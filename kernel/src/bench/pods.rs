//! `kmicro bench pods`: container starts through kmicro's own runtime, against `runc run` on
//! the same root filesystem.
//!
//! Each kmicro run is start → wait → delete of `/bin/true` in a pod sandbox made once (as a
//! pod's containers and restarts are); the "with sandbox" figure also makes and removes the
//! pod's network, IPC and UTS namespaces every run, as `runc run` of a default `runc spec`
//! bundle does. Each runc run creates, starts, waits for and deletes the container. Both run
//! one after the other, each after two warm-ups, and report medians.
//!
//! Then (unless `--pods 0`) a `kmicro run` child with the same busybox tree as an image in
//! its airgap directory runs pods through the API: create → `Running` per pod and kmicro's
//! RSS added per idle pod (`bench::pod_cluster`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::ValueEnum;
use kmicro_container::{ContainerSpec, ExitStatus, Runtime, SandboxSpec};
use serde_json::json;

use super::summary::Latencies;

/// Runs not counted, before the measured ones.
const WARMUP: usize = 2;

/// Arguments of `kmicro bench pods`.
#[derive(Debug, clap::Args)]
pub struct PodsBenchArgs {
    /// Also start the same container through this peer, on the same root filesystem, and
    /// report the ratio kmicro/peer.
    #[arg(long, value_enum)]
    pub vs: Option<Peer>,
    /// Measured starts of each kind (after two warm-ups).
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Print one JSON object with the figures as the last line.
    #[arg(long)]
    pub json: bool,
    /// Where the root filesystem and state are made; defaults to the system temp dir.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Pods run through a `kmicro run` child (create → Running, RSS per idle pod); 0 skips
    /// that part.
    #[arg(long, default_value_t = 20)]
    pub pods: usize,
}

/// A runtime to compare with.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Peer {
    /// `runc run` (runc from PATH).
    Runc,
}

/// Runs the benchmark.
pub async fn run(args: PodsBenchArgs) -> anyhow::Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("kmicro-bench-pods-")
        .tempdir_in(&parent)
        .with_context(|| format!("making a directory in {}", parent.display()))?;
    let rootfs = dir.path().join("rootfs");
    busybox_rootfs(&rootfs).context("making a busybox root filesystem from /bin/busybox")?;

    eprintln!(
        "kmicro: {} starts of /bin/true in one pod sandbox …",
        args.runs
    );
    let cgroup_root = format!("kmicro-bench-{}", std::process::id());
    let runtime = Runtime::new(dir.path().join("state"), &cgroup_root)
        .context("starting the container runtime")?;
    let (in_sandbox, with_sandbox) = kmicro_starts(&runtime, &rootfs, args.runs).await;
    for group in runtime.cgroup_layout().dirs(Path::new(&cgroup_root)) {
        let _ = std::fs::remove_dir(group.join("pods"));
        let _ = std::fs::remove_dir(&group);
    }
    let (mut in_sandbox, mut with_sandbox) = (in_sandbox?, with_sandbox?);

    let mut peer = match args.vs {
        Some(Peer::Runc) => {
            eprintln!("runc: {} runs of /bin/true …", args.runs);
            Some(runc_starts(dir.path(), &rootfs, args.runs)?)
        }
        None => None,
    };

    let kmicro_ms = in_sandbox.percentile_ms(50.0);
    let kmicro_sandbox_ms = with_sandbox.percentile_ms(50.0);
    println!(
        "container start of /bin/true (start, wait, delete), median of {}:",
        args.runs
    );
    println!("  kmicro, in a pod sandbox      {kmicro_ms:8.2} ms");
    println!("  kmicro, with a new sandbox    {kmicro_sandbox_ms:8.2} ms");
    let mut figures = json!({
        "runs": args.runs,
        "shim_start_ms_p50": kmicro_ms,
        "shim_start_with_sandbox_ms_p50": kmicro_sandbox_ms,
    });
    if let Some(peer) = peer.as_mut() {
        let runc_ms = peer.percentile_ms(50.0);
        let ratio = kmicro_ms / runc_ms;
        let ratio_with_sandbox = kmicro_sandbox_ms / runc_ms;
        println!("  runc run                      {runc_ms:8.2} ms");
        println!(
            "  ratio kmicro/runc             {ratio:8.2}   (with a new sandbox {ratio_with_sandbox:.2}; target <= 0.5)"
        );
        figures["runc_run_ms_p50"] = json!(runc_ms);
        figures["ratio"] = json!(ratio);
        figures["ratio_with_sandbox"] = json!(ratio_with_sandbox);
    }
    if args.pods > 0 {
        eprintln!(
            "kmicro run: {} pods, each created and waited for until Running …",
            args.pods
        );
        let cluster = super::pod_cluster::measure(dir.path(), &rootfs, args.pods).await?;
        println!(
            "pods through the API (image present), {} pods:",
            cluster.pods
        );
        println!(
            "  created → Running, p50        {:8.2} ms (target <= 100)",
            cluster.pod_running_ms_p50
        );
        println!(
            "  created → Running, p90        {:8.2} ms",
            cluster.pod_running_ms_p90
        );
        println!(
            "  kmicro RSS per idle pod       {:8.0} KiB (target <= 1024)",
            cluster.rss_per_pod_kib
        );
        println!(
            "  CNI setup per pod, p50        {:8.2} ms",
            cluster.cni_setup_ms_p50
        );
        figures["pods"] = json!(cluster.pods);
        figures["pod_running_ms_p50"] = json!(cluster.pod_running_ms_p50);
        figures["pod_running_ms_p90"] = json!(cluster.pod_running_ms_p90);
        figures["rss_per_pod_kib"] = json!(cluster.rss_per_pod_kib);
        figures["cni_setup_ms_p50"] = json!(cluster.cni_setup_ms_p50);
    }
    if args.json {
        println!("{figures}");
    }
    Ok(())
}

/// Starts in one sandbox, then starts each in a sandbox of its own.
async fn kmicro_starts(
    runtime: &Runtime,
    rootfs: &Path,
    runs: usize,
) -> (anyhow::Result<Latencies>, anyhow::Result<Latencies>) {
    let spec = |i: usize| ContainerSpec {
        id: format!("bench-{i}"),
        name: "bench".into(),
        rootfs: rootfs.to_path_buf(),
        args: vec!["/bin/true".into()],
        env: vec!["PATH=/bin".into()],
        ..Default::default()
    };
    let sandbox_spec = |i: usize| SandboxSpec {
        id: format!("pod-{i}"),
        pod_uid: format!("pod-uid-{i}"),
        hostname: "bench".into(),
        ..Default::default()
    };
    let in_sandbox = async {
        let sandbox = runtime.create_sandbox(&sandbox_spec(usize::MAX))?;
        let mut latencies = Latencies::default();
        for i in 0..WARMUP + runs {
            let began = Instant::now();
            let result = start_wait_delete(runtime, &sandbox, &spec(i)).await;
            if i >= WARMUP {
                latencies.push(began.elapsed());
            }
            if let Err(e) = result {
                let _ = runtime.remove_sandbox(sandbox.id());
                return Err(e);
            }
        }
        runtime.remove_sandbox(sandbox.id())?;
        Ok(latencies)
    }
    .await;
    let with_sandbox = async {
        let mut latencies = Latencies::default();
        for i in 0..WARMUP + runs {
            let began = Instant::now();
            let sandbox = runtime.create_sandbox(&sandbox_spec(i))?;
            let result = start_wait_delete(runtime, &sandbox, &spec(runs + WARMUP + i)).await;
            runtime.remove_sandbox(sandbox.id())?;
            result?;
            if i >= WARMUP {
                latencies.push(began.elapsed());
            }
        }
        Ok(latencies)
    }
    .await;
    (in_sandbox, with_sandbox)
}

async fn start_wait_delete(
    runtime: &Runtime,
    sandbox: &kmicro_container::Sandbox,
    spec: &ContainerSpec,
) -> anyhow::Result<()> {
    let container = runtime.start(sandbox, spec).await?;
    let exit = runtime.wait(&container.id).await?;
    runtime.delete(&container.id).await?;
    if exit.status != ExitStatus::Exited(0) {
        bail!("/bin/true in container {} ended {:?}", container.id, exit);
    }
    Ok(())
}

/// `runc run` of a `runc spec` bundle (terminal off, `/bin/true`) on `rootfs`.
fn runc_starts(dir: &Path, rootfs: &Path, runs: usize) -> anyhow::Result<Latencies> {
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(&bundle)?;
    let status = Command::new("runc")
        .arg("spec")
        .current_dir(&bundle)
        .status()
        .context("running `runc spec` (is runc installed?)")?;
    if !status.success() {
        bail!("runc spec: {status}");
    }
    let path = bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)
        .with_context(|| format!("{}: not JSON", path.display()))?;
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = json!(["/bin/true"]);
    config["root"]["path"] = json!(rootfs);
    std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
    let state = dir.join("runc-state");
    let mut latencies = Latencies::default();
    for i in 0..WARMUP + runs {
        let began = Instant::now();
        let status = Command::new("runc")
            .arg("--root")
            .arg(&state)
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(format!("kmicro-bench-{}-{i}", std::process::id()))
            .status()
            .context("running `runc run`")?;
        let took: Duration = began.elapsed();
        if !status.success() {
            bail!("runc run {i}: {status}");
        }
        if i >= WARMUP {
            latencies.push(took);
        }
    }
    Ok(latencies)
}

/// A root filesystem of busybox (static) and its applets, with `/etc/passwd` and `/etc/group`.
fn busybox_rootfs(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("bin"))?;
    std::fs::copy("/bin/busybox", dir.join("bin/busybox"))?;
    let list = Command::new("/bin/busybox").arg("--list-full").output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let target = dir.join(applet);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if !target.exists() {
            std::os::unix::fs::symlink("/bin/busybox", &target)?;
        }
    }
    std::fs::create_dir_all(dir.join("etc"))?;
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    std::fs::write(dir.join("etc/group"), "root:x:0:\n")
}
